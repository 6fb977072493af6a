"""The "op" pub/sub dialect (docs/protocols/op-pubsub.md): connect, sub,
unsub, pub, pushes and MQTT interop."""
import asyncio
import json
import os
import subprocess
import time

import jwt as pyjwt

import wsgw
from opclient import OpClient, mesg, pres

SECRET = "op-test-secret-0123456789"


def token(sub, name=None, exp_in=300, **claims):
    body = {"sub": sub, "exp": int(time.time()) + exp_in, **claims}
    if name:
        body["name"] = name
    return pyjwt.encode(body, SECRET, algorithm="HS256")


def gateway(start_gateway, **opts):
    return start_gateway(op_anonymous="true", jwt_hs256_secret=SECRET,
                         op_provider_facebook="jwt", **opts)


async def test_connect_providers(start_gateway):
    gw = gateway(start_gateway)
    c = await OpClient.open(gw)
    r = await c.connect("jwt", token("u1", "Bob"))
    assert r["op"] == "connect" and r["type"] == "success", r
    assert r["user"] == {"id": "u1", "name": "Bob"} and isinstance(r["session"], str) and r["session"]
    # a provider name bound to the jwt verifier
    c2 = await OpClient.open(gw)
    r = await c2.connect("facebook", token("u2"))
    assert r["type"] == "success" and r["user"] == {"id": "u2", "name": "u2"}, r
    # anonymous
    c3 = await OpClient.open(gw)
    r = await c3.connect("none")
    assert r["type"] == "success" and r["user"]["id"].startswith("anon-"), r
    # failures: error shape with code 401 and the request id; the socket stays
    c4 = await OpClient.open(gw)
    for provider, tok in (("jwt", token("u3", exp_in=-100)), ("jwt", "not.a.jwt"),
                          ("jwt", pyjwt.encode({"sub": "x", "exp": int(time.time()) + 60}, "wrong",
                                               algorithm="HS256")),
                          ("google", token("u3")), ("jwt", token("wsgw"))):
        r = await c4.connect(provider, tok)
        assert r["type"] == "error" and r["code"] == 401 and r["op"] == "connect", (provider, r)
        assert isinstance(r["message"], str)
    r = await c4.connect("jwt", token("u3"))
    assert r["type"] == "success", r
    r = await c4.connect("jwt", token("u3"))
    assert r["type"] == "error" and r["code"] == 409, r


async def test_anonymous_is_off_by_default(start_gateway):
    gw = start_gateway()
    c = await OpClient.open(gw)
    r = await c.connect("none")
    assert r["type"] == "error" and r["code"] == 401, r


async def test_requests_before_connect_and_bad_input(start_gateway):
    gw = gateway(start_gateway)
    c = await OpClient.open(gw)
    r = await c.request("sub", topics=["com.app.room1"])
    assert r["type"] == "error" and r["code"] == 401 and r["op"] == "sub", r
    await c.connect("jwt", token("u1"))
    cases = [
        ({"op": "sub", "topics": []}, 400),
        ({"op": "sub", "topics": "com.app.room1"}, 400),
        ({"op": "sub", "topics": ["com..room"]}, 400),
        ({"op": "sub", "topics": ["com.app.+"]}, 400),
        ({"op": "sub", "topics": ["$SYS.x"]}, 400),
        ({"op": "pub", "topics": ["com.app.room1"]}, 400),          # no data
        ({"op": "pub", "topics": ["com.app.room1/presence"], "data": 1}, 400),
        ({"op": "dance", "topics": ["a"]}, 400),
        ({"op": 7}, 400),
    ]
    for i, (frame, code) in enumerate(cases):
        frame = {"type": "request", "id": f"bad-{i}", **frame}
        await c.send_raw(json.dumps(frame))
        f = await c.response(f"bad-{i}", 3, f"reply to {frame}")
        assert f["type"] == "error" and f["code"] == code, (frame, f)
    # trailing commas as in the seed's examples are not JSON
    await c.send_raw('{"op": "sub", "id": "tc", "topics": ["a",],}')
    f = await c.take(lambda f: f.get("type") == "error")
    assert f["code"] == 400
    await c.send_raw("[1, 2]")
    f = await c.take(lambda f: f.get("type") == "error")
    assert f["code"] == 400
    # still serving
    r = await c.request("sub", topics=["com.app.ok"])
    assert r["type"] == "success"


async def test_sub_pub_mesg_with_stamped_sender(start_gateway):
    gw = gateway(start_gateway)
    alice, bob = await OpClient.open(gw), await OpClient.open(gw)
    await alice.connect("jwt", token("alice", "Alice"))
    await bob.connect("jwt", token("bob", "Bob"))
    r = await bob.request("sub", topics=["com.myapp.room1", "com.myapp.chats/me"])
    assert r["type"] == "success" and r["topics"] == ["com.myapp.room1", "com.myapp.chats/me"], r
    assert r["user"] == {"id": "bob", "name": "Bob"}
    r = await alice.request("pub", topics=["com.myapp.room1"],
                            data={"type": "group_chat", "payload": "Hi All"},
                            sender={"id": "mallory", "name": "Mallory"})   # ignored
    assert r == {"op": "pub", "type": "success", "id": r["id"]}, r
    m = await bob.take(mesg("com.myapp.room1"))
    assert m["type"] == "push" and m["data"] == {"type": "group_chat", "payload": "Hi All"}
    assert m["sender"] == {"id": "alice", "name": "Alice"}
    assert isinstance(m["id"], str) and m["id"]
    # "me" is the subscriber's own id: alice writes to bob's inbox by his id
    r = await alice.request("pub", topics=["com.myapp.chats/bob"], data="psst")
    assert r["type"] == "success"
    m = await bob.take(mesg("com.myapp.chats/me"))
    assert m["data"] == "psst" and m["sender"]["id"] == "alice"
    # unsub: no more pushes
    r = await bob.request("unsub", topics=["com.myapp.room1"])
    assert r["type"] == "success" and r["id"]
    await alice.request("pub", topics=["com.myapp.room1"], data=2)
    await bob.expect_none(mesg("com.myapp.room1"), 0.7)



async def test_sender_name_the_broker_would_refuse(start_gateway):
    # Mosquitto drops a session whose PUBLISH carries a user property with a
    # control character; the sender's name goes into one, so such a pub fails
    # alone and the session stays (it used to cost the session: 503, 1011).
    gw = gateway(start_gateway)
    tab, bob = await OpClient.open(gw), await OpClient.open(gw)
    assert (await tab.connect("jwt", token("tab", "Tab\tby")))["type"] == "success"
    await bob.connect("jwt", token("bob", "Bob"))
    assert (await tab.request("sub", topics=["com.myapp.tabs"]))["type"] == "success"
    r = await tab.request("pub", topics=["com.myapp.tabs"], data=1)
    assert r["type"] == "error" and r["op"] == "pub" and r["code"] == 503, r
    assert "control characters" in r["message"], r
    assert (await bob.request("pub", topics=["com.myapp.tabs"], data=2))["type"] == "success"
    m = await tab.take(mesg("com.myapp.tabs"))
    assert m["data"] == 2 and m["sender"] == {"id": "bob", "name": "Bob"}, m

async def test_mqtt_interop(start_gateway):
    gw = gateway(start_gateway)
    c = await OpClient.open(gw)
    await c.connect("jwt", token("carol"))
    await c.request("sub", topics=["com.myapp.sensors"])
    dev = gw.mqtt()
    dev.subscribe("wsgw/op/com/myapp/#")
    # device -> op subscriber
    gw.mosquitto_pub("wsgw/op/com/myapp/sensors", '{"temp": 20}')
    m = await c.take(mesg("com.myapp.sensors"))
    assert m["data"] == {"temp": 20} and m["sender"] is None
    # op publisher -> device, with the sender as v5 user properties
    await c.request("pub", topics=["com.myapp.cmd"], data={"on": True})
    msg = await dev.take(lambda m: m.topic == "wsgw/op/com/myapp/cmd")
    assert json.loads(msg.payload) == {"on": True}
    assert msg.user.get("sender_id") == "carol" and msg.user.get("id")


async def test_presence_join_leave_and_retained(start_gateway):
    gw = gateway(start_gateway)
    watcher, a, b = await OpClient.open(gw), await OpClient.open(gw), await OpClient.open(gw)
    await watcher.connect("jwt", token("w"))
    await a.connect("jwt", token("a", "Ann"))
    await b.connect("jwt", token("b"))
    await a.request("sub", topics=["com.app.room"])
    r = await watcher.request("sub", topics=["com.app.room/presence"])
    assert r["type"] == "success"
    j = await watcher.take(pres("join", "com.app.room", "a"))      # current member
    assert j["sender"] == {"id": "a", "name": "Ann"} and j["type"] == "join"
    await b.request("sub", topics=["com.app.room"])
    await watcher.take(pres("join", "com.app.room", "b"))
    # devices see the members as retained messages
    dev = gw.mqtt()
    dev.subscribe("wsgw/presence/op/com/app/room/+")
    await dev.take(lambda m: m.retain and json.loads(m.payload)["presence"]["id"] == "a")
    await b.request("unsub", topics=["com.app.room"])
    await watcher.take(pres("leave", "com.app.room", "b"))
    a.abort()                                   # cut without a close frame
    await watcher.take(pres("leave", "com.app.room", "a"), 5)


async def test_acl_denials_are_errors_with_request_id(start_gateway):
    acl = ("topic readwrite #\n"
           "user wsgw\ntopic readwrite wsgw/#\n"
           "user dave\ntopic readwrite wsgw/op/open/#\ntopic readwrite wsgw/presence/op/#\n")
    gw = gateway(start_gateway, acl=acl)
    c = await OpClient.open(gw)
    await c.connect("jwt", token("dave"))
    r = await c.request("pub", topics=["open.x"], data=1)
    assert r["type"] == "success", r
    r = await c.request("pub", topics=["closed.x"], data=1)
    assert r["type"] == "error" and r["code"] == 403 and r["op"] == "pub" and "closed.x" in r["message"], r


class PasswordBroker(wsgw.Broker):
    """A broker with a password_file: the install's own auth."""

    def write_conf(self, plugin):
        super().write_conf(plugin)
        pw = os.path.join(self.dir, "passwd")
        with open(pw, "w") as f:
            f.write("")
        subprocess.run(["mosquitto_passwd", "-b", pw, "mia", "s3cret"], check=True, timeout=10)
        with open(self.conf, "a") as f:
            f.write(f"password_file {pw}\n")


async def test_mqtt_provider_lets_the_broker_decide(start_gateway, request):
    gw = PasswordBroker(op_anonymous="true")
    request.node.wsgw_brokers.append(gw)
    gw.start()
    c = await OpClient.open(gw)
    r = await c.connect("mqtt", "wrong", username="mia")
    assert r["type"] == "error" and r["code"] == 401, r
    r = await c.connect("mqtt", "s3cret")                  # no username
    assert r["type"] == "error" and r["code"] == 401, r
    r = await c.connect("mqtt", "s3cret", username="mia")
    assert r["type"] == "success" and r["user"] == {"id": "mia", "name": "mia"}, r
    assert (await c.request("sub", topics=["com.app.x"]))["type"] == "success"
    gw.mosquitto_pub("wsgw/op/com/app/x", "1")
    assert (await c.take(mesg("com.app.x")))["data"] == 1
    # the session logged in as mia, under the reserved prefix, its id tagged (~<16 hex>)
    assert "as wsgw-op-" in gw.log() and "u'mia'" in gw.log()


async def test_no_connect_in_time_closes(start_gateway):
    gw = gateway(start_gateway, handshake_timeout=1)
    c = await OpClient.open(gw)
    f = await c.take(lambda f: f.get("type") == "error", 4)
    assert f["code"] == 401
    await asyncio.wait_for(c.closed.wait(), 5)
    assert c.close_code == 1008


async def test_presence_snapshot_comes_after_the_sub_reply(start_gateway):
    gw = gateway(start_gateway)
    a, b, watcher = await OpClient.open(gw), await OpClient.open(gw), await OpClient.open(gw)
    await a.connect("jwt", token("a", "Ann"))
    await b.connect("jwt", token("b", "Ben"))
    await a.request("sub", topics=["com.app.room"])
    await b.request("sub", topics=["com.app.hall"])
    await watcher.connect("jwt", token("w"))
    # a presence topic alone (answered at once), then with a plain topic (answered on SUBACK)
    for topics, member in ((["com.app.room/presence"], "a"),
                           (["com.app.news", "com.app.hall/presence"], "b")):
        plain = topics[-1][:-len("/presence")]
        r = await watcher.request("sub", topics=topics)
        assert r["type"] == "success", r
        await watcher.take(pres("join", plain, member))
        order = [("reply" if f.get("id") == r["id"] else "join") for f in watcher.frames
                 if f.get("id") == r["id"] or pres("join", plain)(f)]
        assert order == ["reply", "join"], watcher.describe()


async def test_broker_stop_sends_shutdown(start_gateway):
    # the broker drops its sessions just before it stops the plugin: a stop
    # must read as SHUTDOWN (1001), not as a lost session (503, 1011)
    gw = gateway(start_gateway)
    clients = [await OpClient.open(gw) for _ in range(4)]
    for i, c in enumerate(clients):
        assert (await c.connect("jwt", token(f"s{i}")))["type"] == "success"
        assert (await c.request("sub", topics=["com.app.x"]))["type"] == "success"
    assert await asyncio.to_thread(gw.stop) == 0
    for c in clients:
        await asyncio.wait_for(c.closed.wait(), 3)
        errors = [(f["op"], f.get("message", "")) for f in c.unread if f.get("type") == "error"]
        assert len(errors) == 1 and errors[0][0] == "error" and errors[0][1].startswith("SHUTDOWN"), \
            c.describe()
        assert c.close_code == 1001, c.describe()


async def test_lost_session_is_reported_after_the_grace(start_gateway):
    gw = gateway(start_gateway, broker_socket=None, broker_host="127.0.0.1", broker_port="<mqtt_port>")
    c = await OpClient.open(gw)
    assert (await c.connect("jwt", token("lostu")))["type"] == "success"
    await asyncio.sleep(0.2)
    t0 = time.monotonic()
    await asyncio.to_thread(wsgw.cut_broker_session, gw, "lostu")
    await asyncio.wait_for(c.closed.wait(), 5)
    dt = time.monotonic() - t0
    errors = [(f["op"], f["code"]) for f in c.unread if f.get("type") == "error"]
    assert errors == [("session", 503)] and c.close_code == 1011, c.describe()
    assert dt >= 0.8, f"reported after {dt:.2f} s, without the grace"


async def test_mqtt_provider_retry_after_refusal_under_load(start_gateway, request):
    # a refused connect's link must not take the retry's link down with it
    gw = PasswordBroker(op_anonymous="true")
    request.node.wsgw_brokers.append(gw)
    gw.start()

    async def one():
        c = await OpClient.open(gw)
        r = await c.connect("mqtt", "wrong", username="mia")
        assert r["type"] == "error" and r["code"] == 401, r
        r = await c.connect("mqtt", "s3cret", username="mia")
        assert r["type"] == "success", (r, c.describe())
        assert (await c.request("sub", topics=["com.app.x"]))["type"] == "success", c.describe()
        return c

    # waves of 8: the broker's unix listener has a backlog of 10
    for _ in range(30):
        clients = await asyncio.gather(*[one() for _ in range(8)])
        await asyncio.sleep(0.1)
        assert not [c for c in clients if c.closed.is_set()]
        for c in clients:
            await c.ws.close()
    assert "Broken pipe" not in gw.log()


async def test_subscriptions_per_session_are_capped(start_gateway):
    # Every topic costs the broker a retain-tree node for good: max_subscriptions.
    gw = gateway(start_gateway, max_subscriptions="3")
    c = await OpClient.open(gw)
    await c.connect("jwt", token("u1"))
    assert (await c.request("sub", topics=["cap.a", "cap.b/presence"]))["type"] == "success"
    # two more would make four: the whole request is refused, with its id
    r = await c.request("sub", topics=["cap.c", "cap.d", "cap.c"])
    assert r["type"] == "error" and r["code"] == 429 and "max_subscriptions" in r["message"], r
    # nothing of it was subscribed: a device's message on cap.c does not come
    gw.mosquitto_pub("wsgw/op/cap/c", '"x"')
    await c.expect_none(mesg("cap.c"), 0.5)
    # topics it holds already do not count; one more (a duplicate inside counts once) fits
    r = await c.request("sub", topics=["cap.a", "cap.c", "cap.c"])
    assert r["type"] == "success", r
    r = await c.request("sub", topics=["cap.d"])
    assert r["type"] == "error" and r["code"] == 429, r
    # unsubscribing makes room
    assert (await c.request("unsub", topics=["cap.a"]))["type"] == "success"
    assert (await c.request("sub", topics=["cap.d"]))["type"] == "success"
    gw.mosquitto_pub("wsgw/op/cap/d", '"y"')
    await c.take(mesg("cap.d"))
