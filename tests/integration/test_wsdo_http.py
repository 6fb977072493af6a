"""HTTP routes: statuses and error bodies, channel names, wsdo_mount."""
import json

from wsgw import handshake_status, http

LONG = "a" * 129
BIG = json.dumps({"pad": "x" * 10000}).encode()
JSON = {"Content-Type": "application/json"}

# (method, path, body, expected status, expected "error" or None)
CASES = [
    ("GET", "/nope", None, 404, "NOT_FOUND"),
    ("GET", "/", None, 404, "NOT_FOUND"),
    ("GET", "/c/emit/more?x=1", None, 404, "NOT_FOUND"),
    ("PUT", "/c/emit", b"{}", 405, "METHOD_NOT_ALLOWED"),
    ("DELETE", "/c/emit", None, 405, "METHOD_NOT_ALLOWED"),
    ("POST", "/c/listen", b"{}", 405, "METHOD_NOT_ALLOWED"),
    ("GET", "/c/listen", None, 426, None),
    ("GET", "/c/emit", None, 400, "NO_PAYLOAD"),
    ("GET", "/c/emit?require-ack=false", None, 400, "NO_PAYLOAD"),
    ("POST", "/c/emit", b"", 400, "NO_PAYLOAD"),
    ("POST", "/c/emit", b"{nope", 400, "BAD_JSON"),
    ("POST", "/c/emit", BIG, 413, "PAYLOAD_TOO_LARGE"),
    ("GET", "/c/emit?x=1&require-ack=maybe", None, 400, "BAD_PARAMETER"),
    ("GET", "/c/emit?x=1&clients=0", None, 400, "BAD_PARAMETER"),
    ("GET", "/c/emit?x=1&clients=10001", None, 400, "BAD_PARAMETER"),
    ("GET", "/c/emit?x=1&clients=abc,", None, 400, "BAD_PARAMETER"),
    ("GET", "/c/emit?x=1&clients=", None, 400, "BAD_PARAMETER"),
    ("GET", "/c/emit?x=1&clients=abc", None, 404, "NO_SUCH_CLIENT"),
    ("GET", "/a%2Bb/emit?x=1", None, 400, "BAD_CHANNEL"),
    ("GET", "/a%23b/emit?x=1", None, 400, "BAD_CHANNEL"),
    ("GET", "/a%2Fb/emit?x=1", None, 400, "BAD_CHANNEL"),
    ("GET", "/a%01b/emit?x=1", None, 400, "BAD_CHANNEL"),
    ("GET", "/$sys/emit?x=1", None, 400, "BAD_CHANNEL"),
    ("GET", "/%24sys/emit?x=1", None, 400, "BAD_CHANNEL"),
    ("GET", f"/{LONG}/emit?x=1", None, 400, "BAD_CHANNEL"),
    ("GET", f"/{LONG[1:]}/emit?x=1", None, 200, None),
    ("GET", "/caf%C3%A9/emit?x=1", None, 200, None),
]


def problems_of(method, path, r, status, error):
    out = []
    if r.status != status:
        out.append(f"status {r.status}, expected {status}")
    if status != 426 and not r.headers.get("content-type", "").startswith("application/json"):
        out.append(f"content-type {r.headers.get('content-type')!r}")
    if error and (not isinstance(r.json, dict) or r.json.get("error") != error):
        out.append(f"body {r.raw[:200]!r}, expected error {error}")
    if error == "BAD_PARAMETER" and not isinstance((r.json or {}).get("message"), str):
        out.append("BAD_PARAMETER without a message")
    if status == 405:
        allow = {m.strip() for m in r.headers.get("allow", "").split(",")}
        wanted = {"GET"} if path.endswith("/listen") else {"GET", "POST"}
        if not wanted <= allow:
            out.append(f"Allow header {r.headers.get('allow')!r}, expected {wanted}")
    return out


async def test_http_errors(start_gateway):
    gw = start_gateway(max_frame_size=4096)
    failures = []
    for method, path, body, status, error in CASES:
        try:
            r = await http(gw.ws_port, method, path, body=body, headers=JSON)
        except OSError as e:
            failures.append(f"{method} {path}: {e!r}")
            continue
        failures += [f"{method} {path[:40]}: {p}"
                     for p in problems_of(method, path, r, status, error)]
    for path in ("/a%2Bb/listen", "/$sys/listen", f"/{LONG}/listen"):
        try:
            got = await handshake_status(gw.ws_port, path)
        except OSError as e:
            got = repr(e)
        if got != 400:
            failures.append(f"WS upgrade {path[:40]}: {got}, expected 400")
    assert not failures, "\n".join(failures)


async def test_wsdo_mount(start_gateway):
    gw = start_gateway(wsdo_mount="/rt")
    listener = await gw.listen("chan")  # /rt/chan/listen
    assert await handshake_status(gw.ws_port, "/chan/listen") == 404
    r = await gw.emit_get("chan", {"a": "b"})  # /rt/chan/emit
    assert r.status == 200, r
    f = await listener.recv_type("DATA")
    assert f["payload"] == {"a": "b"} and f["eventID"] == r.json["eventID"], f
    r = await http(gw.ws_port, "GET", "/chan/emit?a=b")
    assert r.status == 404 and r.json == {"error": "NOT_FOUND"}, r
