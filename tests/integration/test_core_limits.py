"""Limits and guards of the HTTP/WebSocket core: rate limit, Origin allow-list,
max_connections, slow consumers, idle and handshake timeouts."""
import asyncio
import socket
import time

import websockets

from wsgw import RawWS, handshake_status, has_id


async def emit_and_time(gw, chan, listener):
    t0 = time.monotonic()
    r = await gw.emit_get(chan, {"t": str(t0)})
    assert r.status == 200, r
    await listener.recv_type("DATA", 3, lambda f: f["eventID"] == r.json["eventID"])
    return time.monotonic() - t0


async def test_flood_is_rate_limited(start_gateway):
    gw = start_gateway(rate_limit=50, rate_burst=50)
    flooder, calm = await gw.listeners("f", 2)

    async def flood():
        t0 = time.monotonic()
        for i in range(2000):
            await flooder.send_raw('{"type":"PONG","payload":{}}' if i % 2 else "garbage")
            if i % 400 == 399:
                await asyncio.sleep(0.3)
        return time.monotonic() - t0

    flooding = asyncio.create_task(flood())
    delays = []
    while not flooding.done():
        delays.append(await emit_and_time(gw, "f", calm))
        await asyncio.sleep(0.1)
    duration = await flooding
    assert delays and max(delays) < 1.0, f"emits during the flood took {delays}"

    await asyncio.sleep(1)
    limited = [f for f in flooder.frames
               if f["type"] == "ERROR" and f["payload"].get("code") == "RATE_LIMITED"]
    assert 1 <= len(limited) <= duration + 2, \
        f"{len(limited)} RATE_LIMITED errors during a {duration:.1f}s flood"
    assert not flooder.closed.is_set(), flooder.describe()
    await emit_and_time(gw, "f", flooder)
    assert await emit_and_time(gw, "f", await gw.listen("f")) < 1.0


async def test_origin_allow_list(start_gateway):
    gw = start_gateway(origins="https://a.example,https://b.example")
    path = gw.path("o", "listen")
    ls = [await gw.listen("o", origin="https://a.example"),
          await gw.listen("o", origin="https://b.example"),
          await gw.listen("o")]
    for bad in ("https://a.example.evil", "https://a.exampl", "http://a.example"):
        assert await handshake_status(gw.ws_port, path, origin=bad) == 403, bad
    r = await gw.emit_get("o", {"x": "1"}, headers={"Origin": "https://a.example.evil"})
    assert r.status == 403 and r.json == {"error": "ORIGIN_NOT_ALLOWED"}, r
    for headers in ({"Origin": "https://b.example"}, {}):
        r = await gw.emit_get("o", {"x": "1"}, headers=headers)
        assert r.status == 200, (headers, r)
        for listener in ls:
            f = await listener.recv_type("DATA")
            assert f["eventID"] == r.json["eventID"], f


async def test_max_connections(start_gateway):
    gw = start_gateway(max_connections=3)
    ls = [await gw.listen("m") for _ in range(3)]
    assert await handshake_status(gw.ws_port, gw.path("m", "listen")) == 503
    gw.mqtt().publish("wsgw/wsdo/m", {"still": "ok"})
    for listener in ls:
        assert (await listener.recv_type("DATA"))["payload"] == {"still": "ok"}
    await ls[0].close()
    deadline = time.monotonic() + 3
    while True:
        try:
            await gw.listen("m")
            break
        except websockets.InvalidHandshake as e:
            assert time.monotonic() < deadline, f"still refused after a close: {e!r}"
            await asyncio.sleep(0.1)


async def test_slow_consumer_is_disconnected(start_gateway):
    gw = start_gateway(max_queue_bytes=65536)
    normal = await gw.listen("s")
    stuck = await asyncio.to_thread(RawWS, gw.ws_port, gw.path("s", "listen"), 4096)
    stuck_id = (await asyncio.to_thread(stuck.read_json))["clientID"]
    await normal.recv_type("PRESENCE:JOINED", 3, has_id(stuck_id))

    # The kernel buffers several MB for a socket (send buffer autotuning): keep emitting
    # ~4 KB messages until the gateway drops the stuck client, which its peer sees as
    # PRESENCE:LEFT. 2500 messages (~10 MB) is far beyond what the kernel takes.
    for n in range(1, 2501):
        r = await gw.emit_post("s", {"i": n, "pad": "x" * 4000})
        assert r.status == 200, (n, r)
        if n % 20 == 0 and normal.take_now("PRESENCE:LEFT", has_id(stuck_id)):
            break
    else:
        raise AssertionError(f"stuck client still a member after {n} messages of 4 KB")
    for i in range(1, n + 1):
        f = await normal.recv_type("DATA", 5)
        assert f["payload"]["i"] == i, f"normal listener: message {f['payload']['i']}, not {i}"
    total, code = await asyncio.to_thread(stuck.drain, 10)
    assert total < n * 4000, f"stuck client got {total} bytes: nothing was dropped"
    assert code in (None, 1008), f"close code {code}"


async def test_idle_timeout(start_gateway):
    gw = start_gateway(idle_timeout=1, wsdo_ping_interval=100, ws_ping_interval=0)
    quiet = await gw.listen("idle")
    talker = await gw.listen("idle")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.5:          # the talker keeps sending
        await talker.send({"type": "PONG"})
        await asyncio.sleep(0.3)
    await quiet.recv_error("IDLE_TIMEOUT", 1)
    assert await quiet.wait_closed(3) == 1001
    assert not talker.closed.is_set(), talker.describe()
    r = await gw.emit_get("idle", {"still": "here"})
    assert r.status == 200
    assert (await talker.recv_type("DATA", 3))["payload"] == {"still": "here"}


def _silent_connection_lifetime(port, request_head, limit):
    """Seconds until the server closes a connection that sent only request_head."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        sock.sendall(request_head)
        t0 = time.monotonic()
        try:
            while sock.recv(4096):
                pass
        except (socket.timeout, ConnectionResetError):
            if time.monotonic() - t0 >= limit:
                return None
        return time.monotonic() - t0


async def test_handshake_timeout(start_gateway):
    gw = start_gateway(handshake_timeout=1)
    for head in (b"", b"GET /slow/listen HTTP/1.1\r\nHost: x\r\n"):   # unfinished requests
        took = await asyncio.to_thread(_silent_connection_lifetime, gw.ws_port, head, 8)
        assert took is not None and took < 5, f"connection with {head!r} not closed: {took}"
    # the gateway still serves
    l = await gw.listen("slow")
    assert l.id
