"""Emits (HTTP -> listeners and devices), device publishes, require-ack, clients=."""
import asyncio
import json
import time

from wsgw import EVENT_ID_RE, topic_is


def assert_json_reply(r, status):
    assert r.status == status, r
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    assert isinstance(r.json, dict), r


async def data_frames(listeners, within=1.0):
    """{listener id: DATA frame} for the listeners that get a DATA within `within` s."""
    async def one(listener):
        try:
            return listener.id, await listener.recv_type("DATA", within)
        except AssertionError:
            return listener.id, None
    got = await asyncio.gather(*(one(listener) for listener in listeners))
    return {cid: f for cid, f in got if f is not None}


async def test_get_emit_broadcast(start_gateway):
    gw = start_gateway()
    ls = await gw.listeners("news", 3)
    r = await gw.emit_get("news", {"hello": "world"})
    assert_json_reply(r, 200)
    assert EVENT_ID_RE.match(r.json["eventID"]), r
    assert r.json["clients"] is None and r.json["unknown"] == [], r
    for listener in ls:
        f = await listener.recv_type("DATA")
        assert f["payload"] == {"hello": "world"}, f
        assert f["eventID"] == r.json["eventID"], f
        assert f["requires_ack"] is False, f


async def test_post_emit_any_json_value(start_gateway):
    gw = start_gateway()
    ls = await gw.listeners("vals", 2)
    for value in ({"a": {"b": [1, 2.5, None, True]}, "s": "\u00e9\u6f22"}, [1, 2], "str", 42,
                  True):
        r = await gw.emit_post("vals", value)
        assert_json_reply(r, 200)
        for listener in ls:
            f = await listener.recv_type("DATA")
            assert f["payload"] == value and type(f["payload"]) is type(value), (value, f)
            assert f["eventID"] == r.json["eventID"], f


async def test_device_publish_reaches_listeners(start_gateway):
    gw = start_gateway()
    ls = await gw.listeners("dev", 2)
    for message, expected in (('{"t":1}', {"t": 1}), ("hello", "hello")):
        gw.mosquitto_pub("wsgw/wsdo/dev", message)
        for listener in ls:
            f = await listener.recv_type("DATA")
            assert f["payload"] == expected, (message, f)
            assert f["requires_ack"] is False and EVENT_ID_RE.match(f["eventID"]), f

    device = gw.mqtt()
    device.publish("wsgw/wsdo/dev", b"\xff\xfe not utf-8")  # dropped
    device.publish("wsgw/wsdo/dev", {"after": 1}, user={"eventID": "evt_dev00001"})
    for listener in ls:
        f = await listener.recv_type("DATA")
        assert f["payload"] == {"after": 1}, f"non-UTF-8 publish was not dropped: {f}"
        assert f["eventID"] == "evt_dev00001", f


async def test_emit_reaches_devices(start_gateway):
    gw = start_gateway()
    device = gw.mqtt()
    device.subscribe("wsgw/wsdo/dev")
    value = {"a": [1, 2], "b": "c"}
    for r, expected in ((await gw.emit_post("dev", value), value),
                        (await gw.emit_get("dev", {"hello": "world"}), {"hello": "world"})):
        assert_json_reply(r, 200)
        m = await device.take(topic_is("wsgw/wsdo/dev"))
        assert json.loads(m.payload) == expected, m
        assert m.user.get("eventID") == r.json["eventID"], m
        assert "requires_ack" not in m.user, m


async def test_require_ack(start_gateway):
    gw = start_gateway(wsdo_ack_timeout=1.5)
    a, b = await gw.listeners("orders", 2)
    device = gw.mqtt()
    device.subscribe("wsgw/wsdo/orders/ack/+")

    async def emit_and_ack(ackers):
        emit = asyncio.create_task(gw.emit_get("orders", {"x": "1", "require-ack": "true"}))
        t0 = time.monotonic()
        frames = {listener.id: await listener.recv_type("DATA") for listener in (a, b)}
        for f in frames.values():
            assert f["payload"] == {"x": "1"} and f["requires_ack"] is True, f
        assert len({f["eventID"] for f in frames.values()}) == 1, frames
        for listener in ackers:
            evt = frames[listener.id]["eventID"]
            await listener.send({"type": "ACK", "payload": {"eventID": evt}})
        return await emit, time.monotonic() - t0, frames[a.id]["eventID"]

    r, _, evt = await emit_and_ack([a, b])
    assert_json_reply(r, 200)
    assert r.json["eventID"] == evt and sorted(r.json["acked"]) == sorted([a.id, b.id]), r
    acks = [(await device.take(topic_is(f"wsgw/wsdo/orders/ack/{evt}"), what="ACK publish")).json()
            for _ in (a, b)]
    assert sorted(acks, key=lambda p: p["clientID"]) == \
        [{"clientID": cid, "eventID": evt} for cid in sorted([a.id, b.id])], acks

    r, elapsed, evt = await emit_and_ack([a])
    assert_json_reply(r, 408)
    assert r.json == {"error": "ACK_TIMEOUT", "eventID": evt, "acked": [a.id],
                      "missing": [b.id]}, r
    assert 1.2 <= elapsed <= 3.5, f"408 after {elapsed:.2f}s, wsdo_ack_timeout is 1.5"

    r = await gw.emit_get("nobody", {"x": "1", "require-ack": "true"})
    assert_json_reply(r, 200)
    assert r.json["acked"] == [] and r.elapsed < 1.0, r


async def test_emit_to_some_clients(start_gateway):
    gw = start_gateway()
    ls = await gw.listeners("t", 4)
    ids = sorted(listener.id for listener in ls)
    device = gw.mqtt()
    device.subscribe("wsgw/wsdo/t/#")

    async def check(params, expect_clients=None, expect_unknown=()):
        r = await gw.emit_get("t", {"m": "hi", **params})
        assert_json_reply(r, 200)
        got = await data_frames(ls)
        assert sorted(got) == sorted(r.json["clients"]), (r, sorted(got))
        for f in got.values():
            assert f["payload"] == {"m": "hi"} and f["eventID"] == r.json["eventID"], f
        if expect_clients is not None:
            assert sorted(r.json["clients"]) == sorted(expect_clients), r
        assert r.json["unknown"] == list(expect_unknown), r
        return r

    r = await check({"clients": "2"})
    assert len(r.json["clients"]) == 2 and set(r.json["clients"]) <= set(ids), r
    await check({"clients": "10"}, ids)
    r = await check({"clients": f"{ids[0]},{ids[2]}"}, [ids[0], ids[2]])
    for cid in (ids[0], ids[2]):
        m = await device.take(lambda m, t=f"wsgw/wsdo/t/to/{cid}": m.topic == t and
                              m.user.get("eventID") == r.json["eventID"], what=f"publish to {cid}")
        assert json.loads(m.payload) == {"m": "hi"}, m
    await check({"clients": f"{ids[1]},client_NoSuch00"}, [ids[1]], ["client_NoSuch00"])

    r = await gw.emit_get("t", {"m": "hi", "clients": "client_NoSuch00,client_NoSuch01"})
    assert_json_reply(r, 404)
    assert r.json["error"] == "NO_SUCH_CLIENT", r
    assert await data_frames(ls) == {}


async def test_device_member_targeted_and_acks(start_gateway):
    gw = start_gateway(wsdo_ack_timeout=3)
    device = gw.mqtt()
    device.subscribe("wsgw/wsdo/plant/to/sensor1")
    device.publish("wsgw/presence/wsdo/plant/sensor1", {"presence": {"kind": "sensor"}},
                   retain=True)
    web = await gw.listen("plant")
    await web.wait_member("sensor1")

    emit = asyncio.create_task(gw.emit_get("plant", {"cmd": "on", "clients": "sensor1",
                                                     "require-ack": "true"}))
    m = await device.take(topic_is("wsgw/wsdo/plant/to/sensor1"), what="targeted publish")
    assert m.json() == {"cmd": "on"}, m
    evt = m.user.get("eventID")
    assert evt and EVENT_ID_RE.match(evt) and m.user.get("requires_ack") == "true", m
    device.publish(f"wsgw/wsdo/plant/ack/{evt}", {"clientID": "sensor1"})
    r = await emit
    assert_json_reply(r, 200)
    assert r.json["eventID"] == evt and r.json["clients"] == ["sensor1"], r
    assert r.json["acked"] == ["sensor1"], r
    await web.expect_no_frame("DATA", 0.2)


async def test_clients_n_on_an_empty_channel_answers_at_once(start_gateway):
    # nothing to deliver and no acks to wait for: 200 now, not 408 at wsdo_ack_timeout
    gw = start_gateway()
    for params in ({"x": "1", "clients": "3"},
                   {"x": "1", "clients": "3", "require-ack": "true"}):
        r = await gw.emit_get("empty", params)
        assert_json_reply(r, 200)
        assert r.json["clients"] == [] and r.json["unknown"] == [] and r.elapsed < 0.5, r
        assert EVENT_ID_RE.match(r.json["eventID"]), r
        if "require-ack" in params:
            assert r.json["acked"] == [], r
        else:
            assert "acked" not in r.json, r
