"""The gateway's own MQTT sessions to the broker (plugin/link.c, mapping/mqttw.c):
flow control against the broker's receive maximum, packets larger than one read,
bursts of packets in one read, keepalive, and TCP instead of the unix socket."""
import asyncio
import json


async def test_many_emits_in_flight_at_once(start_gateway):
    # Emits arrive several at a time (the HTTP helper's thread pool) while the
    # broker announces a receive maximum of 2: the core session holds the QoS 1
    # PUBLISHes beyond it back until PUBACKs come, as MQTT 5 asks, and every emit
    # is still confirmed and delivered once. (Mosquitto 2.0.11 does not itself
    # refuse QoS 1 beyond the limit; this exercises the hold-back queue.)
    gw = start_gateway(broker_conf=["max_inflight_messages 2"])
    listener = await gw.listen("flow")
    replies = await asyncio.gather(*(gw.emit_post("flow", {"n": i}) for i in range(150)))
    assert [r.status for r in replies] == [200] * 150, [r for r in replies if r.status != 200][:3]
    got = set()
    for _ in range(150):
        got.add((await listener.recv_type("DATA", 5))["payload"]["n"])
    assert got == set(range(150))
    assert "receive maximum" not in gw.log().lower()


async def test_message_larger_than_one_read_arrives_whole(start_gateway):
    gw = start_gateway()
    listener = await gw.listen("big")
    dev = gw.mqtt()
    text = "x" * 300_000
    dev.publish("wsgw/wsdo/big", json.dumps({"s": text}).encode(), qos=1)
    frame = await listener.recv_type("DATA", 5)
    assert frame["payload"] == {"s": text}
    # The session still works after it.
    dev.publish("wsgw/wsdo/big", b'{"after":1}', qos=1)
    assert (await listener.recv_type("DATA", 3))["payload"] == {"after": 1}


async def test_burst_of_messages_arrives_complete_and_in_order(start_gateway):
    gw = start_gateway()
    listener = await gw.listen("burst")
    dev = gw.mqtt()
    for i in range(500):
        dev.publish("wsgw/wsdo/burst", json.dumps({"i": i}).encode(), qos=1)
    seen = [(await listener.recv_type("DATA", 5))["payload"]["i"] for _ in range(500)]
    assert seen == list(range(500))


async def test_idle_session_is_kept_alive(start_gateway):
    # The broker drops a client silent for 1.5 x keepalive (7.5 s here): the
    # gateway's sessions send PINGREQ when they have been quiet for keepalive.
    gw = start_gateway(mqtt_keepalive=5)
    listener = await gw.listen("quiet")
    await asyncio.sleep(9)
    r = await gw.emit_post("quiet", {"still": "here"})
    assert r.status == 200, r
    assert (await listener.recv_type("DATA", 3))["payload"] == {"still": "here"}
    assert listener.take_now("ERROR") is None
    assert "exceeded timeout" not in gw.log()


async def test_sessions_over_tcp(start_gateway):
    # broker_host/broker_port instead of broker_socket: the same sessions over TCP.
    gw = start_gateway(broker_socket=None, broker_host="127.0.0.1", broker_port="<mqtt_port>")
    listener = await gw.listen("tcp")
    assert any("127.0.0.1" in line and "as wsgw-core-test-gw" in line
               for line in gw.log().splitlines()), "the core session did not come over TCP"
    dev = gw.mqtt()
    dev.subscribe("wsgw/wsdo/tcp")
    r = await gw.emit_post("tcp", {"via": "tcp"})
    assert r.status == 200, r
    assert (await listener.recv_type("DATA", 3))["payload"] == {"via": "tcp"}
    await dev.take(lambda m: m.topic == "wsgw/wsdo/tcp")
    dev.publish("wsgw/wsdo/tcp", b'{"from":"device"}', qos=1)
    assert (await listener.recv_type("DATA", 3))["payload"] == {"from": "device"}
