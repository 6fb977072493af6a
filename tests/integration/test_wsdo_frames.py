"""Listener frames: CONNECTED, frame shape, PING/PONG, errors on bad input."""
import asyncio
import time

import pytest

from wsgw import CLIENT_ID_RE, frame_shape_problems, has_id, is_number, members


async def test_connected_and_frame_shape(start_gateway):
    gw = start_gateway()
    a = await gw.listen("room")
    assert CLIENT_ID_RE.match(a.id), a.connected
    assert members(a.connected) == []
    b = await gw.listen("room")
    assert CLIENT_ID_RE.match(b.id) and b.id != a.id, b.connected
    assert members(b.connected) == [{"clientID": a.id, "presence": {}}]
    await a.recv_type("PRESENCE:JOINED", 3, has_id(b.id))
    assert (await gw.emit_get("room", {"k": "v"})).status == 200
    for listener in (a, b):
        await listener.recv_type("DATA")
        for f in listener.frames:
            assert not frame_shape_problems(f, listener.id), (f, frame_shape_problems(f))


async def test_ping_pong_latency_and_ping_timeout(start_gateway):
    gw = start_gateway(wsdo_ping_interval=0.5, wsdo_ping_timeout=1)
    t0 = time.monotonic()
    good = await gw.listen("p", auto_pong=True)
    mute = await gw.listen("p")
    await good.recv_type("PRESENCE:JOINED", 3, has_id(mute.id))

    await mute.recv_type("PING", 3)
    await mute.recv_error("PING_TIMEOUT", 5)
    assert await mute.wait_closed(3) == 4000
    await good.recv_type("PRESENCE:LEFT", 3, has_id(mute.id))

    await asyncio.sleep(3.5 - (time.monotonic() - t0))
    assert not good.closed.is_set(), good.describe()
    assert not [f for f in good.frames if f["type"] == "ERROR"], good.describe()
    pings = [f for f in good.frames if f["type"] == "PING"]
    assert len(pings) >= 4, good.describe()
    for p in pings:
        assert p["payload"] == {}, p
        assert is_number(p["latency"]) and 0 <= p["latency"] < 1000, p


async def test_bad_input_errors(start_gateway):
    gw = start_gateway(max_frame_size=4096)
    x, y = await gw.listeners("c", 2)

    async def emit_reaches(*listeners):
        r = await gw.emit_get("c", {"n": str(time.monotonic())})
        assert r.status == 200, r
        for listener in listeners:
            f = await listener.recv_type("DATA")
            assert f["eventID"] == r.json["eventID"], f

    await x.send_raw("{broken")
    await x.recv_error("BAD_JSON")
    await emit_reaches(x, y)

    for frame, code in [
        ("[1]", "BAD_MESSAGE"),
        ('{"type":5,"payload":{}}', "BAD_MESSAGE"),
        ('{"payload":{}}', "BAD_MESSAGE"),
        ('{"type":"NOPE","payload":{}}', "UNKNOWN_TYPE"),
        ('{"type":"DATA","payload":{}}', "UNKNOWN_TYPE"),
        ('{"type":"ACK","payload":{"eventID":"evt_12345678"}}', "UNKNOWN_EVENT"),
        ('{"type":"ACK","payload":"evt_12345678"}', "BAD_MESSAGE"),
        ('{"type":"PRESENCE","payload":"x"}', "BAD_MESSAGE"),
        ('{"type":"PRESENCE","payload":[1]}', "BAD_MESSAGE"),
        (b"\x00\x01\x02", "BINARY_UNSUPPORTED"),
    ]:
        await x.send_raw(frame)
        f = await x.recv_type("ERROR")
        assert f["payload"].get("code") == code, f"sent {frame!r}, got {f}"
    await emit_reaches(x, y)

    await x.send_raw('{"type":"PRESENCE","payload":{"pad":"' + "x" * 10000 + '"}}')
    assert await x.wait_closed(5) == 1009, x.describe()
    late_errors = [f["payload"].get("code") for f in x.unread if f["type"] == "ERROR"]
    assert set(late_errors) <= {"FRAME_TOO_LARGE"}, x.describe()

    await emit_reaches(y)
    assert not y.closed.is_set()
    assert not [f for f in y.frames if f["type"] == "ERROR"], y.describe()


@pytest.mark.parametrize("persistence", [False, True], ids=["memory", "persistence"])
async def test_broker_stop_sends_shutdown(start_gateway, persistence):
    gw = start_gateway(persistence=persistence)
    listener = await gw.listen("s")
    assert await asyncio.to_thread(gw.stop) == 0
    await listener.wait_closed(2)
    errors = [f["payload"].get("code") for f in listener.frames if f["type"] == "ERROR"]
    assert errors == ["SHUTDOWN"] and listener.close_code == 1001, listener.describe()
