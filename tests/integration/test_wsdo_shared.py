"""websockets.do listeners on shared broker sessions (wsdo_shared_sessions N,
the default).

The other websockets.do files run in this mode, and again with a session per
listener (ctest's integration_dedicated_*);
these tests are about what only the shared session does: one broker connection
for many listeners, retained messages routed to the listener that subscribed,
filters given back when the last listener leaves, the loss of the shared
session, and presence after a shutdown without per-listener wills."""
import asyncio
import os

import wsgw
from wsgw import holders, retained

SHARED = {"wsdo_shared_sessions": "4"}


def open_fds(gw):
    return len(os.listdir(f"/proc/{gw.proc.pid}/fd"))


async def fds_per_listener(gw, n):
    before = open_fds(gw)
    ls = [await gw.listen("fds") for _ in range(n)]
    await asyncio.sleep(0.3)
    return (open_fds(gw) - before) / n, ls


async def test_listeners_share_one_broker_connection(start_gateway):
    shared = start_gateway(**SHARED)
    per, ls = await fds_per_listener(shared, 30)
    # Its WebSocket, plus the shared connection (two ends) once.
    assert per <= 1.2, f"{per:.2f} descriptors per shared listener"
    r = await shared.emit_post("fds", {"n": 1})
    assert r.status == 200, r
    for l in ls:
        assert (await l.recv_type("DATA"))["payload"] == {"n": 1}
        await l.expect_no_frame("DATA", 0.3)

    dedicated = start_gateway(wsdo_shared_sessions="0")
    per, _ = await fds_per_listener(dedicated, 10)
    # Its WebSocket, its own MQTT connection and the broker's end of it.
    assert per >= 2.5, f"{per:.2f} descriptors per dedicated listener"


async def test_retained_message_goes_to_the_new_listener_only(start_gateway):
    gw = start_gateway(**SHARED)
    dev = gw.mqtt()
    dev.publish("wsgw/wsdo/ret", b'{"r":1}', retain=True)
    a = await gw.listen("ret")
    assert (await a.recv_type("DATA"))["payload"] == {"r": 1}
    b = await gw.listen("ret")
    assert (await b.recv_type("DATA"))["payload"] == {"r": 1}
    # b's SUBSCRIBE made the broker send the retained message again: not to a.
    await a.expect_no_frame("DATA", 0.7)
    dev.publish("wsgw/wsdo/ret", b'{"r":2}')
    for l in (a, b):
        assert (await l.recv_type("DATA"))["payload"] == {"r": 2}
        await l.expect_no_frame("DATA", 0.3)


async def test_leaving_and_rejoining_a_channel(start_gateway):
    gw = start_gateway(**SHARED)
    a = await gw.listen("rejoin")
    b = await gw.listen("rejoin")
    await b.close()
    assert (await gw.emit_post("rejoin", {"n": 1})).status == 200
    assert (await a.recv_type("DATA"))["payload"] == {"n": 1}
    await a.close()
    # The last listener left: the shared session unsubscribed; a new one subscribes again.
    await asyncio.sleep(0.3)
    c = await gw.listen("rejoin")
    assert (await gw.emit_post("rejoin", {"n": 2})).status == 200
    assert (await c.recv_type("DATA"))["payload"] == {"n": 2}
    await c.expect_no_frame("DATA", 0.3)
    # The direct topic of a listener that left is not delivered to anyone else.
    gw.mqtt().publish(f"wsgw/wsdo/rejoin/to/{a.id}", b'{"x":1}')
    await c.expect_no_frame("DATA", 0.5)


async def test_lost_shared_session_ends_its_listeners(start_gateway):
    # The broker drops a session that sends a packet over max_packet_size: here
    # a's presence update, sent through the shared session. (A plain client can
    # no longer take over the shared session's client id: it is reserved.)
    gw = start_gateway(broker_conf=["max_packet_size 2000"], **SHARED)
    a = await gw.listen("lost")
    b = await gw.listen("lost")
    assert wsgw.connack_code(gw.mqtt_port, "wsgw-test-gw-shared-1") == 135
    await a.send({"type": "PRESENCE", "payload": {"pad": "x" * 3000}})
    for l in (a, b):
        err = await l.recv_type("ERROR", 5)
        assert err["payload"]["code"] == "BROKER_UNAVAILABLE", err
        await l.wait_closed(3)
    # The next listener gets a new shared session.
    c = await gw.listen("lost")
    assert (await gw.emit_post("lost", {"n": 1})).status == 200
    assert (await c.recv_type("DATA"))["payload"] == {"n": 1}


async def test_presence_after_shutdown_expires_and_is_cleared_at_start(start_gateway):
    gw = start_gateway(persistence=True, presence_ttl="30", **SHARED)
    a = await gw.listen("bye")
    await asyncio.sleep(0.5)
    gw.stop()
    await a.wait_closed(2)
    # No per-listener will: the entry outlives the broker, with its expiry.
    gw.start(plugin=False)
    left = await retained(gw, "wsgw/presence/wsdo/bye/+")
    assert list(holders(left)) == [a.id], left
    gw.stop()
    # The same gateway clears what its previous run left, as after a crash.
    gw.start()
    assert await retained(gw, "wsgw/presence/wsdo/bye/+", settle=1.5) == {}
    b = await gw.listen("bye")
    assert b.connected["payload"]["members"] == [], b.connected


async def test_channels_spread_over_the_shared_sessions(start_gateway):
    gw = start_gateway(wsdo_shared_sessions="4")
    await gw.listen("warm-up")
    before = open_fds(gw)
    ls = {f"ch{i}": await gw.listen(f"ch{i}") for i in range(12)}
    await asyncio.sleep(0.3)
    extra = open_fds(gw) - before - len(ls)
    # Each further shared session costs 5 descriptors (its socket, lws's dup, the
    # wake-up pair, the broker's end); 4 sessions at most, more than one in use.
    assert 5 <= extra <= 3 * 5, f"{extra} descriptors beyond the listeners' own"
    for chan, l in ls.items():
        assert (await gw.emit_post(chan, {"c": chan})).status == 200
        assert (await l.recv_type("DATA"))["payload"] == {"c": chan}
    for l in ls.values():
        await l.expect_no_frame("DATA", 0.2)
