"""Presence: frames to listeners, retained MQTT entries, devices, cuts, restarts."""
import asyncio
import os
import time

import pytest

from wsgw import RawWS, entry_of, final_state, has_id, holders, members, retained, topic_is


def presence_topic(chan, cid="+"):
    return f"wsgw/presence/wsdo/{chan}/{cid}"


def file_contains(path, data):
    try:
        with open(path, "rb") as f:
            return data in f.read()
    except FileNotFoundError:
        return False


def check_entry(m, cid, presence, ttl):
    entry = m.json()
    assert entry["clientID"] == cid and entry["presence"] == presence, m
    assert entry["gateway"] == "test-gw" and entry["boot"] and entry["since"] is not None, m
    assert m.expiry is not None and 0 < m.expiry <= ttl, f"message expiry: {m}"
    return entry


async def test_presence_between_listeners_and_mqtt(start_gateway):
    gw = start_gateway(presence_ttl=30)
    a = await gw.listen("lobby")
    b = await gw.listen("lobby")
    joined = await a.recv_type("PRESENCE:JOINED", 3, has_id(b.id))
    assert joined["payload"] == {"clientID": b.id, "presence": {}}, joined
    assert members(b.connected) == [{"clientID": a.id, "presence": {}}]

    device = gw.mqtt()
    device.subscribe(presence_topic("lobby"))
    boots, topics = set(), {}
    for listener in (a, b):
        # The entry sits on a slot of this gateway, the member id in the payload.
        m = await device.take(entry_of("wsgw/presence/wsdo/lobby/", listener.id),
                              what=f"retained entry of {listener.id}")
        boots.add(check_entry(m, listener.id, {}, 30)["boot"])
        topics[listener.id] = m.topic
    assert len(boots) == 1, f"two members of one gateway run with different boots: {boots}"

    await a.send({"type": "PRESENCE", "payload": {"name": "x"}})
    for listener in (a, b):
        u = await listener.recv_type("PRESENCE:UPDATED", 3, has_id(a.id))
        assert u["payload"] == {"clientID": a.id, "presence": {"name": "x"}}, u
    m = await device.take(topic_is(topics[a.id]), what="updated entry")
    check_entry(m, a.id, {"name": "x"}, 30)

    await b.close()
    left = await a.recv_type("PRESENCE:LEFT", 3, has_id(b.id))
    assert left["payload"]["clientID"] == b.id, left
    m = await device.take(topic_is(topics[b.id]), what="cleared entry")
    assert m.payload == b"" and m.retain, m
    assert holders(await retained(gw, presence_topic("lobby"))) == {a.id: topics[a.id]}


async def test_device_presence(start_gateway):
    gw = start_gateway()
    a = await gw.listen("field")
    device = gw.mqtt()
    device.publish(presence_topic("field", "sensor1"), {"presence": {"kind": "sensor"}},
                   retain=True)
    sensor = {"clientID": "sensor1", "presence": {"kind": "sensor"}}
    joined = await a.recv_type("PRESENCE:JOINED", 3, has_id("sensor1"))
    assert joined["payload"] == sensor, joined
    b = await gw.listen("field")
    assert sensor in members(b.connected), b.connected

    device.publish(presence_topic("field", "sensor1"), "", retain=True)
    for listener in (a, b):
        await listener.recv_type("PRESENCE:LEFT", 3, has_id("sensor1"))


@pytest.mark.parametrize("rst", [True, False], ids=["rst", "fin"])
async def test_tcp_cut_without_close_frame(start_gateway, rst):
    gw = start_gateway()
    a = await gw.listen("cut")
    raw = await asyncio.to_thread(RawWS, gw.ws_port, gw.path("cut", "listen"))
    hello = await asyncio.to_thread(raw.read_json)
    assert hello["type"] == "CONNECTED", hello
    await a.recv_type("PRESENCE:JOINED", 3, has_id(hello["clientID"]))
    raw.cut(rst=rst)
    await a.recv_type("PRESENCE:LEFT", 5, has_id(hello["clientID"]))
    assert hello["clientID"] not in holders(await retained(gw, presence_topic("cut")))


@pytest.mark.parametrize("ttl", [3, 30])
async def test_restart_after_kill_clears_stale_presence(start_gateway, ttl):
    gw = start_gateway(persistence=True, presence_ttl=ttl)
    old = await gw.listen("r")
    await asyncio.sleep(2)
    db = os.path.join(gw.dir, "mosquitto.db")
    for _ in range(30):  # autosave_interval 1: the entry must reach the disk before kill -9
        if file_contains(db, old.id.encode()):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("precondition: presence entry not autosaved to mosquitto.db")
    gw.kill9()
    gw.start()
    device = gw.mqtt()
    device.subscribe(presence_topic("r"))
    await asyncio.sleep(4)
    assert old.id not in holders(final_state(device.all)), device.all
    assert old.id not in holders(await retained(gw, presence_topic("r")))
    new = await gw.listen("r")
    assert members(new.connected) == [], new.connected


async def test_presence_from_other_gateway_expires(start_gateway):
    gw = start_gateway()
    ghost = {"clientID": "ghost", "presence": {"k": 1}, "gateway": "other-gw", "boot": "b0",
             "since": int(time.time())}
    gw.mqtt().publish(presence_topic("g", "ghost"), ghost, retain=True, expiry=2)
    t0 = time.monotonic()
    a = await gw.listen("g")
    assert {"clientID": "ghost", "presence": {"k": 1}} in members(a.connected), a.connected
    await a.recv_type("PRESENCE:LEFT", 6, has_id("ghost"))
    assert time.monotonic() - t0 >= 1.5, "PRESENCE:LEFT before the entry expired"
    b = await gw.listen("g")
    assert members(b.connected) == [{"clientID": a.id, "presence": {}}], b.connected


async def test_graceful_shutdown_clears_presence(start_gateway):
    # Each listener's own broker session has a will; a shared session has not
    # (see test_wsdo_shared.py for what it does instead).
    gw = start_gateway(persistence=True, wsdo_shared_sessions="0")
    a = await gw.listen("bye")
    device = gw.mqtt()
    device.subscribe(presence_topic("bye"))
    await device.take(entry_of("wsgw/presence/wsdo/bye/", a.id), what="presence entry")
    rc = gw.stop()
    await a.wait_closed(2)
    gw.start(plugin=False)  # plain broker on the same persistence: what did shutdown leave?
    assert await retained(gw, presence_topic("bye")) == {}
    assert rc == 0, f"broker exit code {rc}"


async def test_slots_are_reused_and_a_late_clear_heals(start_gateway):
    # Entries sit on this gateway's lowest free slot of the channel, so the
    # broker's retain tree (which never frees a node) does not grow per
    # connection; the member id stays the payload's clientID.
    gw = start_gateway(passwords={"bridge": "bridge-pw"}, bridge_usernames="bridge")
    device = gw.mqtt()
    device.subscribe(presence_topic("slot"))
    a = await gw.listen("slot")
    t = (await device.take(entry_of("wsgw/presence/wsdo/slot/", a.id), what="a's entry")).topic
    assert t.rsplit("/", 1)[1] != a.id, t
    await a.close()
    await device.take(lambda m: m.topic == t and not m.payload, what="a's entry cleared")
    b = await gw.listen("slot")
    m = await device.take(entry_of("wsgw/presence/wsdo/slot/", b.id), what="b's entry")
    assert m.topic == t, f"the slot was not reused: {m.topic} after {t}"
    # A clear arriving late (a will of the slot's previous holder, here forwarded
    # by a trusted bridge: a plain device may not write a gateway's slot) is
    # healed at once.
    watcher = await gw.listen("slot")
    assert members(watcher.connected) == [{"clientID": b.id, "presence": {}}]
    device.publish(t, "", retain=True)
    await watcher.expect_no_frame("PRESENCE:LEFT", 0.5)
    gw.mqtt(username="bridge", password="bridge-pw").publish(t, "", retain=True)
    await watcher.recv_type("PRESENCE:LEFT", 3, has_id(b.id))
    await watcher.recv_type("PRESENCE:JOINED", 3, has_id(b.id))
    assert holders(await retained(gw, presence_topic("slot")))[b.id] == t
