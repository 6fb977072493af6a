"""op dialect: resume of a persistent broker session (docs/protocols/op-pubsub.md)."""
import asyncio
import paho.mqtt.client as mqtt

from opclient import OpClient, mesg
from test_op_basic import gateway, token


async def connected(gw, user="rita", topics=("com.app.news",)):
    c = await OpClient.open(gw)
    r = await c.connect("jwt", token(user))
    assert r["type"] == "success", r
    if topics:
        assert (await c.request("sub", topics=list(topics)))["type"] == "success"
    return c, r["session"]


async def test_resume_delivers_what_came_while_away(start_gateway):
    gw = gateway(start_gateway)
    c, session = await connected(gw, topics=("com.app.news", "com.app.news/presence"))
    c.abort()                          # the socket dies; the broker session stays
    await c.closed.wait()
    await asyncio.sleep(0.3)
    for i in range(3):                 # QoS 1 publishes while away
        gw.mosquitto_pub("wsgw/op/com/app/news", f'{{"n": {i}}}')
    c2 = await OpClient.open(gw)
    r = await c2.request("resume", session=session)
    assert r["op"] == "resume" and r["type"] == "success", r
    assert r["recovered"] is True and sorted(r["topics"]) == ["com.app.news", "com.app.news/presence"]
    assert r["user"]["id"] == "rita" and isinstance(r["session"], str)
    got = [(await c2.take(mesg("com.app.news")))["data"]["n"] for _ in range(3)]
    assert got == [0, 1, 2]
    # and it goes on working
    gw.mosquitto_pub("wsgw/op/com/app/news", '{"n": 3}')
    assert (await c2.take(mesg("com.app.news")))["data"] == {"n": 3}
    # the new token resumes too
    c2.abort()
    await c2.closed.wait()
    c3 = await OpClient.open(gw)
    r = await c3.request("resume", session=r["session"])
    assert r["type"] == "success" and r["recovered"] is True, r


async def test_resume_refusals(start_gateway):
    gw = gateway(start_gateway, session_expiry=1)
    c = await OpClient.open(gw)
    r = await c.request("resume", session="forged.token")
    assert r["type"] == "error" and r["code"] == 401, r
    c1, session = await connected(gw)
    await c1.close()
    await asyncio.sleep(1.6)           # past session_expiry
    r = await c.request("resume", session=session)
    assert r["type"] == "error" and r["code"] == 410, r
    # tokens do not cross gateways restarted with a new secret, nor outlive the process state
    c2, session = await connected(gw)
    gw.restart()
    c3 = await OpClient.open(gw)
    r = await c3.request("resume", session=session)
    assert r["type"] == "error" and r["code"] in (401, 410), r


async def test_resume_from_a_second_socket_takes_over(start_gateway):
    gw = gateway(start_gateway)
    old, session = await connected(gw)
    new = await OpClient.open(gw)
    r = await new.request("resume", session=session)
    assert r["type"] == "success", r
    f = await old.take(lambda f: f.get("type") == "error")
    assert f["code"] == 409
    await asyncio.wait_for(old.closed.wait(), 5)
    assert old.close_code == 4001
    gw.mosquitto_pub("wsgw/op/com/app/news", '"to the new one"')
    assert (await new.take(mesg("com.app.news")))["data"] == "to the new one"


async def test_resume_says_when_messages_were_lost(start_gateway):
    # The mqtt provider: the session logs in with the user's own password, so
    # the user herself can wipe it (a gateway id is refused to anyone else).
    gw = gateway(start_gateway, passwords={"mia": "s3cret"})
    c = await OpClient.open(gw)
    r = await c.connect("mqtt", "s3cret", username="mia")
    assert r["type"] == "success", r
    session = r["session"]
    assert (await c.request("sub", topics=["com.app.news"]))["type"] == "success"
    c.abort()
    await c.closed.wait()
    await asyncio.sleep(0.3)
    gw.mosquitto_pub("wsgw/op/com/app/news", '"lost"')
    # Something wipes the broker session while the socket is away (here a
    # clean-start login with the same client id and the user's credentials; in
    # life: the broker's session expiry, or a restart without persistence).
    client_id = next(line.split(" as ")[1].split(" ")[0] for line in gw.log().splitlines()
                     if "New client connected" in line and " as wsgw-op-" in line)
    wipe = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
    wipe.username_pw_set("mia", "s3cret")
    wipe.connect("127.0.0.1", gw.mqtt_port, clean_start=True)
    wipe.loop_start()
    await asyncio.sleep(0.5)
    wipe.disconnect()
    wipe.loop_stop()
    c2 = await OpClient.open(gw)
    r = await c2.request("resume", session=session)
    assert r["type"] == "success" and r["recovered"] is False, r
    assert r["topics"] == ["com.app.news"]
    await c2.expect_none(mesg("com.app.news"), 0.5)       # "lost" is gone, and it says so
    gw.mosquitto_pub("wsgw/op/com/app/news", '"after"')   # subscriptions are back
    assert (await c2.take(mesg("com.app.news")))["data"] == "after"
