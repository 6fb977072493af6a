"""The demo page (demo_enable): off by default, served at demo_mount with the
snippets of docs/clients/ it is made of, config.js pointing at websockets.do."""
import asyncio
import os
import time

from wsgw import http

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def source(name):
    with open(os.path.join(ROOT, "docs", "clients", name), "rb") as f:
        return f.read()


async def test_demo_is_off_by_default(start_gateway):
    gw = start_gateway()
    r = await http(gw.ws_port, "GET", "/demo/")
    assert r.status == 404, r          # websockets.do's 404 for an unknown route
    assert b"<html" not in r.raw


async def test_demo_serves_page_snippets_and_config(start_gateway):
    gw = start_gateway(demo_enable="true")
    for path in ("/demo", "/demo/"):
        r = await http(gw.ws_port, "GET", path)
        assert r.status == 200, r
        assert r.headers["content-type"].startswith("text/html"), r.headers
        assert r.raw == source("demo.html")
    for name in ("retry.js", "wsdo.js"):
        r = await http(gw.ws_port, "GET", "/demo/" + name)
        assert r.status == 200, r
        assert r.headers["content-type"].startswith("text/javascript"), r.headers
        assert r.raw == source(name), name
    r = await http(gw.ws_port, "GET", "/demo/config.js")
    assert r.status == 200 and r.raw == b'window.WSGW_DEMO = {"wsdo":"/"};\n', r
    r = await http(gw.ws_port, "GET", "/demo/nope.js")
    assert r.status == 404 and r.json == {"error": "NOT_FOUND"}, r
    r = await http(gw.ws_port, "POST", "/demo/", body=b"{}")
    assert r.status == 405 and r.headers.get("allow") == "GET", r
    # websockets.do still has every other channel, and "demo" is the page's
    r = await http(gw.ws_port, "GET", "/lobby/emit?x=1")
    assert r.status == 200, r


async def test_demo_config_follows_wsdo_mount(start_gateway):
    gw = start_gateway(demo_enable="true", demo_mount="/try", wsdo_mount="/rt")
    r = await http(gw.ws_port, "GET", "/try/config.js")
    assert r.raw == b'window.WSGW_DEMO = {"wsdo":"/rt/"};\n', r
    # (the harness's readiness probe is a websockets.do emit: wait for the page)
    gw2 = start_gateway(demo_enable="true", wsdo_enable="false", wait=False)
    deadline = time.monotonic() + 10
    while True:
        try:
            r = await http(gw2.ws_port, "GET", "/demo/config.js")
            if r.status != 503:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "gateway not ready"
        await asyncio.sleep(0.1)
    assert r.raw == b'window.WSGW_DEMO = {"wsdo":null};\n', r
