"""Hostile HTTP clients: pipelined requests on one socket, bodies that trickle in,
and more connections than the gateway may hold (caps, and the descriptors kept for
the broker)."""
import asyncio
import json
import os
import socket
import stat
import subprocess
import time

import paho.mqtt.client as mqtt

import wsgw
from wsgw import MOSQUITTO


def post(path, body, extra=b""):
    body = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n".encode()
            + extra + b"\r\n" + body)


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def parse_responses(data):
    """The HTTP/1.1 responses in data, in order: [(status, headers, json body)]."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete response head: {data[:200]!r}"
        lines = head.decode("latin1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        n = int(headers["content-length"])
        assert len(rest) >= n, f"short body: {rest!r}"
        out.append((status, headers, json.loads(rest[:n]) if n else None))
        data = rest[n:]
    return out


def exchange(port, payload, expect, timeout=5):
    """Sends payload in one write; reads until `expect` responses arrived (or the
    server closed). Returns (responses, closed_by_server)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        data, closed = b"", False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
            try:
                if len(parse_responses(data)) >= expect:
                    # then see whether the server closes
                    deadline = min(deadline, time.monotonic() + 1)
            except (AssertionError, KeyError, ValueError):
                pass
        return parse_responses(data), closed


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gateway_is_idle(gw, seconds=1.0):
    t0 = cpu_seconds(gw.proc.pid)
    time.sleep(seconds)
    used = cpu_seconds(gw.proc.pid) - t0
    assert used < 0.3 * seconds, f"the broker used {used:.2f}s of CPU in {seconds}s at rest"


async def test_pipelined_requests(start_gateway):
    """Requests written back to back on one socket, with bodies or not, are each
    answered once and in order (the gateway's own HTTP/1.1 front, plugin/front.c),
    and each emit is published once."""
    gw = start_gateway()
    dev = gw.mqtt()
    dev.subscribe("wsgw/wsdo/#")
    time.sleep(0.3)
    emit = gw.path("pipe", "emit")

    # POST + POST in one write
    rs, closed = await asyncio.to_thread(exchange, gw.ws_port, post(emit, {"n": 1}) + post(emit, {"n": 2}), 2)
    assert [r[0] for r in rs] == [200, 200], rs
    assert not closed, "a keep-alive connection was closed"

    # GET + GET + 404 + POST: every one answered, in order
    payload = get(emit + "?n=3") + get(emit + "?n=4") + get("/nope/x/y") + post(emit, {"n": 5})
    rs, closed = await asyncio.to_thread(exchange, gw.ws_port, payload, 4)
    assert [r[0] for r in rs] == [200, 200, 404, 200], rs
    assert rs[2][2] == {"error": "NOT_FOUND"}, rs

    # 404 + 404 (the second with a body)
    rs, closed = await asyncio.to_thread(exchange, gw.ws_port, get("/a/b/c") + post("/a/b/c", {"x": 1}), 2)
    assert [r[0] for r in rs] == [404, 404], rs

    # two Comet publishes with bodies: two answers (401: no token)
    rs, _ = await asyncio.to_thread(
        exchange, gw.ws_port,
        post("/comet/Comet/Publish", {"uid": "u"}) + post("/comet/Comet/Publish", {"uid": "u"}), 2)
    assert [r[0] for r in rs] == [401, 401], rs

    # the request that asks to close is the last one answered
    payload = post(emit, {"n": 6}, b"Connection: close\r\n") + post(emit, {"n": 7})
    rs, closed = await asyncio.to_thread(exchange, gw.ws_port, payload, 1)
    assert [r[0] for r in rs] == [200] and rs[0][1]["connection"] == "close" and closed, rs

    # each emit answered 200 reached MQTT exactly once, in order
    await asyncio.sleep(1)
    got = [m.json() for m in dev.all if m.topic == "wsgw/wsdo/pipe"]
    assert got == [{"n": 1}, {"n": 2}, {"n": "3"}, {"n": "4"}, {"n": 5}, {"n": 6}], got

    # keep-alive requests with bodies sent one after the other are all served
    with socket.create_connection(("127.0.0.1", gw.ws_port), timeout=5) as s:
        for i in range(5):
            s.sendall(post(emit, {"k": i}))
            data = b""
            while not data.endswith(b"}"):
                data += s.recv(4096)
            assert parse_responses(data)[0][0] == 200, data

    # the gateway is not spinning, still serves others, and stops on SIGTERM
    await asyncio.to_thread(gateway_is_idle, gw)
    listener = await gw.listen("pipe")
    r = await gw.emit_get("pipe", {"after": "1"})
    assert r.status == 200, r
    assert (await listener.recv_type("DATA"))["payload"] == {"after": "1"}
    await listener.close()
    t0 = time.monotonic()
    rc = gw.stop(timeout=5)
    assert time.monotonic() - t0 < 5 and rc == 0, f"SIGTERM: rc {rc} after {time.monotonic() - t0:.1f}s"


async def test_pipelined_request_behind_a_pending_reply(start_gateway):
    """A POST whose reply waits for acks (require-ack) with a GET queued behind it on
    the socket: the gateway does not spin meanwhile, the POST keeps its own reply
    (408 after the ack timeout), then the GET is served."""
    gw = start_gateway(wsdo_ack_timeout=2)
    l = await gw.listen("ack")
    payload = post(gw.path("ack", "emit") + "?require-ack=true", {"x": 1}) + get(gw.path("ack", "emit") + "?y=2")
    exchanging = asyncio.create_task(asyncio.to_thread(exchange, gw.ws_port, payload, 2))
    await asyncio.sleep(0.3)
    await asyncio.to_thread(gateway_is_idle, gw, 1.2)
    rs, _ = await exchanging
    assert [r[0] for r in rs] == [408, 200], rs
    assert rs[0][2]["error"] == "ACK_TIMEOUT", rs
    frames = [(await l.recv_type("DATA"))["payload"] for _ in range(2)]
    assert frames == [{"x": 1}, {"y": "2"}], frames


KEEPALIVE_TOOL = os.environ.get("WSGW_KEEPALIVE_TOOL",
                                os.path.join(os.path.dirname(__file__), "..", "..", "build", "tests",
                                             "http_keepalive"))


async def test_keepalive_posts_one_after_another_are_all_served(start_gateway):
    """Keep-alive POSTs, each sent the moment the previous reply is in (no
    pipelining): every one is a 200. (When lws read the requests, a check for
    pipelining raced a quick client's next request: a 503 about once in 6,000.)"""
    gw = start_gateway()
    r = await asyncio.to_thread(subprocess.run, [KEEPALIVE_TOOL, str(gw.ws_port), gw.path("ka", "emit"), "8", "4"],
                                capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert int(r.stdout.split()[1]) > 1000, r.stdout   # enough requests to meet the race


def _trickle(port, path, total, interval, limit):
    """POSTs a body of `total` bytes, one byte every `interval` seconds; returns
    (seconds until the server answered or closed, what it sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n".encode())
        s.settimeout(interval)
        t0, data = time.monotonic(), b""
        while time.monotonic() - t0 < limit:
            try:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
                continue
            except socket.timeout:
                pass
            except ConnectionResetError:
                break
            try:
                s.sendall(b" ")
            except OSError:
                break
        return time.monotonic() - t0, data


async def test_slow_body_times_out(start_gateway):
    # lws restarts its own timeout (handshake_timeout) with every piece of a body:
    # a byte a second would keep the connection for good without http_body_timeout.
    gw = start_gateway(http_body_timeout=2, handshake_timeout=5)
    took, data = await asyncio.to_thread(_trickle, gw.ws_port, gw.path("slow", "emit"), 1000, 0.7, 12)
    assert 1.5 < took < 4, f"slow body: {took:.1f}s, {data[:200]!r}"
    rs = parse_responses(data)
    assert rs[0][0] == 408 and rs[0][2]["error"] == "REQUEST_TIMEOUT", rs
    assert rs[0][1]["connection"] == "close", rs
    r = await gw.emit_post("slow", {"still": "ok"})
    assert r.status == 200, r


def _open_idle(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(s)
    return socks


def _refused(socks, wait=1.0):
    """How many of the sockets the server answered with 503 TOO_MANY_CONNECTIONS
    and closed."""
    time.sleep(wait)
    n = 0
    for s in socks:
        s.settimeout(0.05)
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            n += 1
            continue
        if not data or b"TOO_MANY_CONNECTIONS" in data:
            n += 1
    return n


def _mqtt_connects(port):
    c = mqtt.Client(client_id="plain-device", protocol=mqtt.MQTTv5)
    rc = c.connect("127.0.0.1", port, 5)
    ok = rc == 0
    c.disconnect()
    return ok


async def test_idle_connections_are_capped(start_gateway):
    gw = start_gateway(max_http_connections=20, max_connections=5)
    socks = await asyncio.to_thread(_open_idle, gw.ws_port, 40)
    try:
        refused = await asyncio.to_thread(_refused, socks)
        assert 19 <= refused <= 21, f"{refused} of 40 idle connections refused with a cap of 20"
        assert "refusing connections (max_http_connections)" in gw.log()
        assert await asyncio.to_thread(_mqtt_connects, gw.mqtt_port)
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 3
    while True:   # the gateway notices the closes, then serves again
        r = await gw.emit_get("cap", {"x": "1"})
        if r.status == 200:
            break
        assert time.monotonic() < deadline, r
        await asyncio.sleep(0.2)
    # WebSockets are capped by max_connections; their handshakes by max_http_connections
    ls = [await gw.listen("cap") for _ in range(5)]
    assert len(ls) == 5


async def test_descriptor_reserve(start_gateway, tmp_path, monkeypatch):
    """Under a low RLIMIT_NOFILE, a flood of idle connections leaves the broker's
    own descriptors alone: MQTT clients still connect."""
    wrapper = tmp_path / "mosquitto-lowfd"
    wrapper.write_text(f"#!/bin/sh\nulimit -n 400\nexec {MOSQUITTO} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(wsgw, "MOSQUITTO", str(wrapper))
    gw = start_gateway(fd_reserve=150)
    log = gw.log()
    assert "lowered to max_connections" in log, log
    socks = await asyncio.to_thread(_open_idle, gw.ws_port, 300)
    try:
        refused = await asyncio.to_thread(_refused, socks)
        assert refused >= 40, f"only {refused} of 300 refused under a limit of 400 - 150"
        assert "refusing connections" in gw.log()
        # the broker can still take MQTT clients
        clients = [mqtt.Client(client_id=f"dev{i}", protocol=mqtt.MQTTv5) for i in range(50)]
        for c in clients:
            assert c.connect("127.0.0.1", gw.mqtt_port, 5) == 0
        for c in clients:
            c.disconnect()
        assert "Unable to accept new connection" not in gw.log()
    finally:
        for s in socks:
            s.close()
