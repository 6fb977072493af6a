"""Raw NUL bytes and invalid JSON from outside (issues 11.6, 12.10), end to end.
Comet:
jansson 2.14 skips a raw NUL after a literal, and the Comet code keeps and slices the
raw text of evt, so a NUL once reached clients (a frame cut at it, read past the
allocation). Now every such text is refused: the API answers 400 with what is wrong,
Events are ignored, and no client gets a frame from them. The other HTTP bodies
(websockets.do emits, Telegraphy's token endpoint) say what is wrong too."""
import json

import wsgw

from test_comet_dialect import Comet, api, broadcast, gateway, hs, rid_of, wait_dump


async def test_nul_never_reaches_a_client(start_gateway):
    gw = gateway(start_gateway)
    a = await Comet.subscribe(gw, hs("ann"), join="den")
    b = await Comet.subscribe(gw, hs("ben"))
    await wait_dump(gw, lambda d: rid_of(d, "ann") == "den" and rid_of(d, "ben") == "")

    # the API: 400 BAD_JSON, with where and what
    for method, body in (("Broadcast", b'{"evt":[3\x00]}'),
                         ("Broadcast", b'{"rid":"den","evt":{"":2\x00}}'),
                         ("Publish", b'{"uid":"ann","evt":null\x00}'),
                         ("Broadcast", b'{"evt":1}\x00')):
        r = await api(gw, method, raw=body)
        assert r.status == 400 and r.json["error"] == "BAD_JSON", (body, r.status, r.raw)
        assert "a raw NUL byte" in r.json["message"], r.json
    r = await api(gw, "Broadcast", raw=b'{"evt":[3\x00]}')
    assert r.json["message"] == "invalid JSON at line 1 column 10: a raw NUL byte", r.json
    # a trailing comma says so, and where; "a JSON object" only for JSON that is not one
    r = await api(gw, "Broadcast", raw=b'{"rid":"","evt":1,}')
    assert r.status == 400 and r.json["error"] == "BAD_JSON", r.raw
    assert r.json["message"] == "invalid JSON at line 1 column 19: string or '}' expected near '}'", r.json
    r = await api(gw, "Broadcast", raw=b'[1]')
    assert r.status == 400 and r.json["message"] == "the body must be a JSON object", r.json

    # MQTT Events with a NUL: ignored (bridged brokers and devices publish here too)
    dev = gw.mqtt()
    dev.publish("wsgw/comet/event", b'{"evt":{"":2\x00}}')
    dev.publish("wsgw/comet/event", b'{"uid":"ann","evt":[3\x00]}')
    dev.publish("wsgw/comet/event", b'{"rid":"den","evt":true\x00}')
    # a push-topic payload with a NUL is not JSON: it goes as a JSON string, never raw
    dev.publish("wsgw/comet/user/ben", b"null\x00")
    evt = await b.push()
    assert evt == "null\x00", b.describe()
    assert "\x00" not in b.raw[-1] and b.raw[-1] == '{"t":"PUSH","push":{"evt":"null\\u0000"}}'

    # uplink frames with a NUL: BAD_JSON with the position, the session is kept
    await a.send_raw('{"t":"JOIN","join":{"rid":"x"}}\x00')
    err = await a.error("BAD_JSON")
    assert err["message"] == "invalid JSON at line 1 column 32: a raw NUL byte", err
    await a.send_raw('{"t":"JOIN","join":{"rid":"x"},}')
    err = await a.error("BAD_JSON")
    assert err["message"].startswith("invalid JSON at line 1 column 32: "), err

    # the next good broadcast is the first PUSH either client sees from all this
    await broadcast(gw, "", {"after": 1})
    assert await a.push() == {"after": 1}
    assert await b.push() == {"after": 1}
    await a.expect_none("PUSH", 0.3)
    await b.expect_none("PUSH", 0.0)
    for f in a.raw + b.raw:
        assert "\x00" not in f, f
        json.loads(f)
    assert rid_of((await api(gw, "DumpSession")).json, "ann") == "den"
    assert gw.proc.poll() is None


async def test_http_bodies_say_what_is_wrong(start_gateway):
    secret = "tg-secret-0123456789abcdef"
    gw = gateway(start_gateway, telegraphy_token_secret=secret)
    ls = await gw.listen("lobby")
    # websockets.do emit: 400 BAD_JSON with the position; nothing reaches the listener
    r = await gw.emit_post("lobby", None, raw=b'{"a":1\x00}')
    assert r.status == 400 and r.json["error"] == "BAD_JSON", r.raw
    assert r.json["message"] == "invalid JSON at line 1 column 7: a raw NUL byte", r.json
    r = await gw.emit_post("lobby", None, raw=b'{"a":[1,2,]}')
    assert r.status == 400 and r.json["message"] == "invalid JSON at line 1 column 11: unexpected token near ']'", r.json
    await ls.expect_no_frame("DATA", 0.3)
    # Telegraphy's token endpoint
    auth = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    for body, want in ((b'{"user":"alice",}', "invalid JSON at line 1 column 17: string or '}' expected near '}'"),
                       (b'{"user":"alice"}\x00', "invalid JSON at line 1 column 17: a raw NUL byte"),
                       (b'{"user":"a","user":"b"}', "invalid JSON at line 1 column 18: duplicate object key near '\"user\"'")):
        r = await wsgw.http(gw.ws_port, "POST", "/telegraphy/tokens", body=body, headers=auth)
        assert r.status == 400 and r.json["error"] == "BAD_REQUEST", (body, r.raw)
        assert r.json["message"] == want, r.json
    r = await wsgw.http(gw.ws_port, "POST", "/telegraphy/tokens", body=b'{"user":"alice"}', headers=auth)
    assert r.status == 200 and r.json["auth_token"], r.raw
    assert gw.proc.poll() is None
