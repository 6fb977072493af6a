"""CORS on every HTTP endpoint (issue 16): preflights answered from the
endpoint's own methods, Access-Control-Allow-Origin echoing an allowed origin,
Vary: Origin, no CORS headers for a refused origin or without an origins list;
then the same from a real page in headless Chromium (tests/integration/browser.py):
a JSON POST emit from an allowed origin is published and the page reads the
reply, from another origin the fetch fails in the page and nothing is published."""
import asyncio
import json

import browser
import wsgw

GOOD = "https://app.example"
OTHER = "https://evil.example"
SERVICE = "svc-token"

# Every HTTP endpoint with the methods it serves.
ENDPOINTS = [
    ("/lobby/emit", "GET, POST"),
    ("/lobby/listen", "GET"),              # a WebSocket endpoint: its upgrade is a GET
    ("/comet/Comet/Publish", "POST"),
    ("/comet/Comet/Broadcast", "POST"),
    ("/comet/Comet/DumpSession", "POST"),
    ("/telegraphy/tokens", "POST"),
    ("/healthz", "GET"),
    ("/metrics", "GET"),
]


def cors_headers(r):
    return {k: v for k, v in r.headers.items() if k.startswith("access-control-")}


def post_json(gw, path, body, origin):
    """A JSON POST as a page's fetch() sends it (raw bytes, or a value to encode)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return wsgw.http(gw.ws_port, "POST", path, body=raw,
                     headers={"Origin": origin, "Content-Type": "application/json"})


def preflight(gw, path, origin=GOOD, method="POST", headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return wsgw.http(gw.ws_port, "OPTIONS", path, headers=h)


async def test_preflight_of_every_endpoint(start_gateway):
    gw = start_gateway(origins=f"{GOOD},https://other.example", comet_service_token=SERVICE,
                       telegraphy_token_secret="tsecret")
    for path, methods in ENDPOINTS:
        r = await preflight(gw, path, headers="Content-Type, Authorization, X-Requested-With, X-Evil")
        assert r.status == 204, (path, r)
        assert r.raw == b"", (path, r)
        assert r.headers["access-control-allow-origin"] == GOOD, (path, r.headers)
        assert r.headers["access-control-allow-methods"] == methods, (path, r.headers)
        allowed = [h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")]
        assert {"authorization", "content-type", "x-requested-with"} <= set(allowed), (path, allowed)
        assert "x-evil" not in allowed, (path, allowed)
        assert r.headers["access-control-max-age"] == "600", (path, r.headers)
        assert r.headers["vary"] == "Origin", (path, r.headers)
        assert "access-control-allow-credentials" not in r.headers, (path, r.headers)
    # A path no endpoint serves is no preflight success.
    r = await preflight(gw, "/op-nothing-here/x")
    assert r.status == 404 and not cors_headers(r).get("access-control-allow-methods"), r


async def test_refused_origin_gets_403_and_no_cors_headers(start_gateway):
    gw = start_gateway(origins=GOOD)
    dev = gw.mqtt()
    dev.subscribe("wsgw/wsdo/lobby")
    for path, _ in ENDPOINTS:
        r = await preflight(gw, path, origin=OTHER)
        assert r.status == 403 and r.json == {"error": "ORIGIN_NOT_ALLOWED"}, (path, r)
        assert cors_headers(r) == {}, (path, r.headers)
        assert r.headers["vary"] == "Origin"
    r = await post_json(gw, "/lobby/emit", {"x": 1}, OTHER)
    assert r.status == 403 and cors_headers(r) == {}, r
    await dev.expect_none(lambda m: m.topic == "wsgw/wsdo/lobby", within=0.5)


async def test_replies_carry_the_allowed_origin(start_gateway):
    gw = start_gateway(origins=GOOD, cors_max_age=30)
    dev = gw.mqtt()
    dev.subscribe("wsgw/wsdo/lobby")
    r = await post_json(gw, "/lobby/emit", {"hello": "page"}, GOOD)
    assert r.status == 200 and r.json["eventID"], r
    assert r.headers["access-control-allow-origin"] == GOOD and r.headers["vary"] == "Origin", r.headers
    assert "access-control-allow-methods" not in r.headers, r.headers   # preflights only
    assert (await dev.take(lambda m: m.topic == "wsgw/wsdo/lobby")).json() == {"hello": "page"}
    # Errors too: the page can read why.
    r = await post_json(gw, "/lobby/emit", b"{not json", GOOD)
    assert r.status == 400 and r.headers["access-control-allow-origin"] == GOOD, r
    r = await wsgw.http(gw.ws_port, "GET", "/nothing", headers={"Origin": GOOD})
    assert r.status == 404 and r.headers["access-control-allow-origin"] == GOOD, r
    # A request without Origin (not a browser) is served, without CORS headers.
    r = await gw.emit_get("lobby", {"x": "1"})
    assert r.status == 200 and cors_headers(r) == {} and r.headers["vary"] == "Origin", r
    r = await preflight(gw, "/lobby/emit")
    assert r.status == 204 and r.headers["access-control-max-age"] == "30", r.headers


async def test_no_origins_list_means_no_cors(start_gateway):
    # Without a list every origin is served as before, and no reply says a
    # page of another origin may read it; OPTIONS is refused as before.
    gw = start_gateway()
    r = await post_json(gw, "/lobby/emit", {"x": 1}, GOOD)
    assert r.status == 200 and cors_headers(r) == {} and "vary" not in r.headers, r
    r = await preflight(gw, "/lobby/emit")
    assert r.status == 405 and r.headers["allow"] == "GET, POST" and cors_headers(r) == {}, r


async def test_wildcard_origin(start_gateway):
    gw = start_gateway(origins="*")
    r = await preflight(gw, "/lobby/emit", origin=OTHER)
    assert r.status == 204 and r.headers["access-control-allow-origin"] == "*", r.headers
    assert "vary" not in r.headers and "access-control-allow-credentials" not in r.headers, r.headers
    r = await gw.emit_get("lobby", {"x": "1"}, headers={"Origin": "null"})
    assert r.status == 200 and r.headers["access-control-allow-origin"] == "*", r
    assert await wsgw.handshake_status(gw.ws_port, gw.path("w", "listen"), origin=OTHER) == 101


# --------------------------------------------------------------------------- in Chromium

PAGE = "<!doctype html><title>cors</title><body>page</body>"


def emit_js(gw, chan, value):
    return f"""fetch("http://127.0.0.1:{gw.ws_port}/{chan}/emit", {{
        method: "POST", headers: {{"Content-Type": "application/json"}},
        body: JSON.stringify({json.dumps(value)})
    }}).then(async r => ({{ok: true, status: r.status, body: await r.json()}}),
             e => ({{ok: false, error: String(e)}}))"""


async def test_browser_json_emit_from_allowed_origin_and_not_from_another(start_gateway):
    browser.require_chromium()
    with browser.PageServer({"/": PAGE}) as good, browser.PageServer({"/": PAGE}) as other:
        gw = start_gateway(origins=good.origin)
        dev = gw.mqtt()
        dev.subscribe("wsgw/wsdo/#")
        async with browser.Browser() as b:
            page = await b.new_page()
            await page.goto(good.url("/"))
            got = await page.eval(emit_js(gw, "web", {"from": "page"}))
            assert got["ok"] and got["status"] == 200, got
            assert got["body"]["eventID"].startswith("evt_"), got
            m = await dev.take(lambda m: m.topic == "wsgw/wsdo/web", timeout=5)
            assert m.json() == {"from": "page"}
            # The page reads an error reply too.
            bad = await page.eval(f"""fetch("http://127.0.0.1:{gw.ws_port}/web/emit", {{
                method: "POST", headers: {{"Content-Type": "application/json"}}, body: "{{nope"
            }}).then(async r => ({{status: r.status, body: await r.json()}}))""")
            assert bad["status"] == 400 and bad["body"]["error"], bad

            page2 = await b.new_page()
            await page2.goto(other.url("/"))
            got = await page2.eval(emit_js(gw, "web", {"from": "elsewhere"}))
            assert not got["ok"] and "TypeError" in got["error"], got
            await dev.expect_none(lambda m: m.topic == "wsgw/wsdo/web", within=1.0)


async def test_browser_api_call_with_authorization(start_gateway):
    # A Bearer token in Authorization makes the browser preflight the call;
    # the answer lets it through and the page reads Comet's reply.
    browser.require_chromium()
    with browser.PageServer({"/": PAGE}) as good:
        gw = start_gateway(origins=good.origin, comet_service_token=SERVICE)
        dev = gw.mqtt()
        dev.subscribe("wsgw/comet/user/#")
        async with browser.Browser() as b:
            page = await b.new_page()
            await page.goto(good.url("/"))
            got = await page.eval(f"""fetch("http://127.0.0.1:{gw.ws_port}/comet/Comet/Publish", {{
                method: "POST",
                headers: {{"Content-Type": "application/json", "Authorization": "Bearer {SERVICE}"}},
                body: JSON.stringify({{uid: "u1", evt: {{type: "hi"}}}})
            }}).then(async r => ({{status: r.status, body: await r.text()}}), e => ({{error: String(e)}}))""")
            assert got.get("status") == 200, got
            await dev.take(lambda m: m.topic == "wsgw/comet/user/u1", timeout=5)


async def test_browser_refused_websocket_is_1006(start_gateway):
    # What a page learns of an origin refusal of its WebSocket: nothing but a
    # close 1006 (the 403 before the upgrade is not shown to scripts), the same
    # as for a network failure; the operator sees it in /metrics.
    browser.require_chromium()
    with browser.PageServer({"/": PAGE}) as good, browser.PageServer({"/": PAGE}) as other:
        gw = start_gateway(origins=good.origin)
        js = f"""new Promise(res => {{
            const ws = new WebSocket("ws://127.0.0.1:{gw.ws_port}/room/listen");
            ws.onmessage = e => {{ res({{opened: true, first: JSON.parse(e.data).type}}); ws.close(); }};
            ws.onclose = e => res({{opened: false, code: e.code, reason: e.reason}});
        }})"""
        async with browser.Browser() as b:
            page = await b.new_page()
            await page.goto(good.url("/"))
            assert await page.eval(js) == {"opened": True, "first": "CONNECTED"}
            await page.goto(other.url("/"))
            assert await page.eval(js) == {"opened": False, "code": 1006, "reason": ""}
        r = await wsgw.http(gw.ws_port, "GET", "/metrics")
        assert 'wsgw_refused_total{on="upgrade",dialect="websockets.do",reason="ORIGIN_NOT_ALLOWED"} 1' \
            in r.raw.decode(), r.raw.decode()
