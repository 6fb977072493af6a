"""Scale-out: three brokers, each with the plugin, B and C bridged to A with
MQTT v5 bridges (docs/SCALING.md). Presence, emits, ?clients= and acks must work
across them exactly as on one broker."""
import asyncio

import pytest

import wsgw
from wsgw import has_id, members


# The hub trusts what its spokes' bridges forward (presence, acks) only from
# the bridge username, which has a password there (docs/SECURITY.md).
BRIDGE_USER, BRIDGE_PASSWORD = "bridge", "bridge-secret"
HUB = dict(passwords={BRIDGE_USER: BRIDGE_PASSWORD}, bridge_usernames=BRIDGE_USER)


class BridgedBroker(wsgw.Broker):
    """A broker whose conf ends with a bridge to `hub`."""

    def __init__(self, hub, name, **opts):
        super().__init__(gateway_id=f"gw-{name}", **opts)
        self.hub, self.name = hub, name

    def write_conf(self, plugin):
        super().write_conf(plugin)
        with open(self.conf, "a") as f:
            f.write(f"connection {self.name}-to-hub\n"
                    f"address 127.0.0.1:{self.hub.mqtt_port}\n"
                    "topic wsgw/# both 1\n"
                    "bridge_protocol_version mqttv50\n"
                    "cleansession true\n"
                    "try_private true\n"
                    f"remote_username {BRIDGE_USER}\n"
                    f"remote_password {BRIDGE_PASSWORD}\n")


@pytest.fixture
def cluster(start_gateway, request):
    a = start_gateway(gateway_id="gw-a", **HUB)
    b, c = BridgedBroker(a, "b"), BridgedBroker(a, "c")
    request.node.wsgw_brokers.extend([b, c])
    b.start()
    c.start()
    return a, b, c


async def wait_bridged(a, b):
    """Until a message published on b reaches a subscriber on a (bridge up)."""
    d = a.mqtt()
    d.subscribe("wsgw/probe/#")
    for i in range(100):
        b.mosquitto_pub(f"wsgw/probe/{i}", "x")
        if d.take_now(lambda m: m.topic == f"wsgw/probe/{i}"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("bridge did not come up")


async def test_presence_crosses_bridges(cluster):
    a, b, c = cluster
    await wait_bridged(a, b)
    await wait_bridged(a, c)
    la = await a.listen("lobby")
    lb = await b.listen("lobby")
    await la.recv_type("PRESENCE:JOINED", 5, has_id(lb.id))
    assert [m["clientID"] for m in members(lb.connected)] == [la.id]
    # lb's entry travels b -> a -> c; la seeing it says nothing of the a -> c hop
    # (a loaded host once had lc connect first): wait until c's broker holds it.
    dc = c.mqtt()
    dc.subscribe("wsgw/presence/#")
    await dc.take(lambda m: lb.id.encode() in m.payload, 5, f"{lb.id}'s presence entry on c")
    lc = await c.listen("lobby")
    # c sees both, through a (b -> a -> c)
    assert sorted(m["clientID"] for m in members(lc.connected)) == sorted([la.id, lb.id])
    await lb.recv_type("PRESENCE:JOINED", 5, has_id(lc.id))
    await lb.send({"type": "PRESENCE", "payload": {"name": "bee"}})
    upd = await lc.recv_type("PRESENCE:UPDATED", 5, has_id(lb.id))
    assert upd["payload"]["presence"] == {"name": "bee"}
    await lb.close()
    await la.recv_type("PRESENCE:LEFT", 5, has_id(lb.id))
    await lc.recv_type("PRESENCE:LEFT", 5, has_id(lb.id))


async def test_emit_and_device_across_bridges(cluster):
    a, b, c = cluster
    await wait_bridged(a, b)
    await wait_bridged(a, c)
    lb = await b.listen("news")
    lc = await c.listen("news")
    r = await a.emit_post("news", {"n": 1})
    assert r.status == 200, r
    for l in (lb, lc):
        d = await l.recv_type("DATA", 5)
        assert d["payload"] == {"n": 1} and d["eventID"] == r.json["eventID"]
    # a device on c's MQTT listener reaches the listener on b
    c.mosquitto_pub("wsgw/wsdo/news", '{"from":"device"}')
    d = await lb.recv_type("DATA", 5, lambda f: f["payload"] == {"from": "device"})
    assert d["requires_ack"] is False


async def test_targeted_require_ack_across_bridges(cluster):
    a, b, c = cluster
    await wait_bridged(a, b)
    await wait_bridged(a, c)
    la = await a.listen("ops")
    lb = await b.listen("ops")
    lc = await c.listen("ops")
    await la.wait_member(lb.id, 5)
    await la.wait_member(lc.id, 5)
    # emit on a, targeted at the member on c, which acks through the bridges
    task = asyncio.create_task(a.emit_get("ops", [("x", "1"), ("clients", lc.id),
                                                   ("require-ack", "true")]))
    d = await lc.recv_type("DATA", 5)
    assert d["requires_ack"] is True
    await lc.send({"type": "ACK", "payload": {"eventID": d["eventID"]}})
    r = await task
    assert r.status == 200, r
    assert r.json["clients"] == [lc.id] and r.json["acked"] == [lc.id]
    await la.expect_no_frame("DATA", 0.5)
    await lb.expect_no_frame("DATA", 0.1)
    # ?clients=N picks among members of every broker: N=3 is all of them
    r = await a.emit_get("ops", [("y", "2"), ("clients", "3")])
    assert r.status == 200 and sorted(r.json["clients"]) == sorted([la.id, lb.id, lc.id]), r
    for l in (la, lb, lc):
        assert (await l.recv_type("DATA", 5))["payload"] == {"y": "2"}
