"""The gateway's identities and what it believes from MQTT (docs/SECURITY.md):
every client id the gateway uses is refused to anyone without its credentials,
and plain clients cannot forge acks, presence or claims in its members' names;
conf/acl.example closes the rest; installs without ACLs are unaffected, also
after a SIGHUP reload."""
import asyncio
import json
import os
import re
import signal

import wsgw
from opclient import OpClient, mesg
from test_op_basic import token, SECRET
from contentclient import ContentClient
from wsgw import connack_code, members, retained, topic_is

NOT_AUTHORIZED = 135
DEV_USER, DEV_PASSWORD = "dev", "dev-secret"
ACL_EXAMPLE = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "conf", "acl.example")).read()


def logged_ids(gw, prefix):
    """Client ids the broker logged as connected, starting with prefix."""
    ids = []
    for line in gw.log().splitlines():
        if "New client connected" in line and f" as {prefix}" in line:
            ids.append(line.split(" as ")[1].split(" ")[0])
    return ids


def publish_raw(dev, topic, payload, retain=False):
    """Publish QoS 1 without asserting success (the broker may refuse it)."""
    info = dev.c.publish(topic, payload if isinstance(payload, (str, bytes)) else json.dumps(payload),
                         qos=1, retain=retain)
    info.wait_for_publish(5)


async def test_reserved_ids_are_refused_to_others(start_gateway):
    # a listener with a broker session of its own (the shared ones are tried below too)
    gw = start_gateway(passwords={DEV_USER: DEV_PASSWORD}, jwt_hs256_secret=SECRET, wsdo_shared_sessions=0)
    listener = await gw.listen("lobby")
    op = await OpClient.open(gw)
    assert (await op.connect("jwt", token("olga")))["type"] == "success"
    assert (await op.request("sub", topics=["com.app.pins"]))["type"] == "success"
    op_ids = logged_ids(gw, "wsgw-op-")
    assert len(op_ids) == 1, gw.log_tail(40)
    # the listener's MQTT id is the reserved prefix + its clientID
    assert logged_ids(gw, f"wsgw-{listener.id}"), gw.log_tail(40)

    reserved = ["wsgw-core-test-gw", f"wsgw-{listener.id}", op_ids[0], "wsgw-test-gw-shared-1",
                "wsgw-comet-eve", "wsgw-tg-0123456789abcdef", "wsgw-"]
    logins = [(None, None), (DEV_USER, DEV_PASSWORD), (DEV_USER, "wrong"), ("wsgw", "x"),
              ("wsdo", None)]
    for cid in reserved:
        for user, pw in logins:
            assert connack_code(gw.mqtt_port, cid, user, pw) == NOT_AUTHORIZED, (cid, user)
    # the core username stays reserved under any id; other devices log in as before
    assert connack_code(gw.mqtt_port, "dev-1", "wsgw", "x") == NOT_AUTHORIZED
    assert connack_code(gw.mqtt_port, "dev-2") == 0
    assert connack_code(gw.mqtt_port, "dev-3", DEV_USER, DEV_PASSWORD) == 0
    assert "client ids starting with \"wsgw-\" are the gateway's" in gw.log()

    # nothing was taken over: the listener and the op user keep their sessions
    r = await gw.emit_get("lobby", {"n": "1"})
    assert r.status == 200, r
    assert (await listener.recv_type("DATA"))["payload"] == {"n": "1"}
    assert listener.take_now("ERROR") is None, listener.describe()
    gw.mosquitto_pub("wsgw/op/com/app/pins", '{"pin":1234}')
    assert (await op.take(mesg("com.app.pins")))["data"] == {"pin": 1234}


async def test_user_password_session_carries_a_tag(start_gateway):
    # op's mqtt provider: the session logs in with the user's own password, and
    # its id carries a tag only the gateway can make, bound to the username.
    gw = start_gateway(passwords={"mia": "s3cret", DEV_USER: DEV_PASSWORD})
    op = await OpClient.open(gw)
    assert (await op.connect("mqtt", "s3cret", username="mia"))["type"] == "success"
    assert (await op.request("sub", topics=["com.app.pins"]))["type"] == "success"
    ids = logged_ids(gw, "wsgw-op-")
    assert len(ids) == 1 and re.fullmatch(r"wsgw-op-[A-Za-z0-9]{16}~[0-9a-f]{16}", ids[0]), ids
    cid = ids[0]
    untagged = cid.split("~")[0]
    wrong_tag = cid[:-1] + ("0" if cid[-1] != "0" else "1")
    for try_id, user, pw in ((cid, None, None), (cid, DEV_USER, DEV_PASSWORD),
                             (untagged, "mia", "s3cret"), (wrong_tag, "mia", "s3cret"),
                             (cid, "mia", None)):
        assert connack_code(gw.mqtt_port, try_id, user, pw) == NOT_AUTHORIZED, (try_id, user)
    gw.mosquitto_pub("wsgw/op/com/app/pins", '{"pin":1234}')
    assert (await op.take(mesg("com.app.pins")))["data"] == {"pin": 1234}


async def test_content_session_carries_a_tag(start_gateway):
    # content sync logs in with the user's own password, like op's mqtt provider:
    # its session id carries the same tag, and nobody else can take it.
    gw = start_gateway(passwords={"mia": "s3cret", DEV_USER: DEV_PASSWORD})
    c = await ContentClient.open(gw)
    assert (await c.login("mia", "s3cret"))["status"] == 200
    ids = logged_ids(gw, "wsgw-ct-")
    assert len(ids) == 1 and re.fullmatch(r"wsgw-ct-[A-Za-z0-9]+~[0-9a-f]{16}", ids[0]), (ids, gw.log_tail(40))
    cid = ids[0]
    for try_id, user, pw in ((cid, None, None), (cid, DEV_USER, DEV_PASSWORD),
                             (cid.split("~")[0], "mia", "s3cret"), (cid, "mia", None)):
        assert connack_code(gw.mqtt_port, try_id, user, pw) == NOT_AUTHORIZED, (try_id, user)
    # the feed session of the document cache is reserved too
    assert connack_code(gw.mqtt_port, "wsgw-content-test-gw", DEV_USER, DEV_PASSWORD) == NOT_AUTHORIZED
    # and mia's session is still hers
    r = await c.request("get_content", {"key": {"type": "note", "id": 1}})
    assert r["status"] == 404 and r["data"]["code"] == 4040420, r


async def test_forged_ack_does_not_count(start_gateway):
    gw = start_gateway(wsdo_ack_timeout=1.5)
    listener = await gw.listen("orders")
    thief = gw.mqtt()
    thief.subscribe("wsgw/wsdo/orders")
    emit = asyncio.create_task(gw.emit_get("orders", {"x": "1", "require-ack": "true"}))
    m = await thief.take(topic_is("wsgw/wsdo/orders"))
    evt = m.user["eventID"]
    publish_raw(thief, f"wsgw/wsdo/orders/ack/{evt}", {"clientID": listener.id, "eventID": evt})
    r = await emit
    assert r.status == 408, r
    assert r.json["acked"] == [] and r.json["missing"] == [listener.id], r
    assert f"denied {thief.c._client_id.decode()}'s publish on wsgw/wsdo/orders/ack/{evt}" in gw.log()
    # the listener's own ACK still counts
    emit = asyncio.create_task(gw.emit_get("orders", {"x": "2", "require-ack": "true"}))
    f = await listener.recv_type("DATA", pred=lambda f: f["payload"] == {"x": "2"})
    await listener.send({"type": "ACK", "payload": {"eventID": f["eventID"]}})
    r = await emit
    assert r.status == 200 and r.json["acked"] == [listener.id], r


async def test_forged_presence_and_claims_are_refused(start_gateway):
    gw = start_gateway()
    listener = await gw.listen("room")
    before = await retained(gw, "wsgw/presence/wsdo/room/+", 0.5)
    slot = wsgw.holders(before)[listener.id]          # the listener's entry: a slot of this gateway
    thief = gw.mqtt()
    entry = {"clientID": "client_Fake0001", "presence": {"name": "admin"}}
    forged = {
        "wsgw/presence/wsdo/room/client_Fake0001": entry,        # a listener id as the topic
        "wsgw/presence/wsdo/room/dev9": entry,                   # a listener id in the payload
        "wsgw/presence/wsdo/room/0123456789ab-7": {"clientID": "dev10", "presence": {}},  # a slot
        "wsgw/presence/comet/world/0123456789ab-8": {"clientID": "eve", "presence": {}},
        "wsgw/presence/content/alice/ct-Fake0001": {"clientID": "ct-Fake0001",   # content: "alice" online
                                                     "presence": {"user": "alice"}},
        slot: b"",                                               # a forged leave
    }
    for topic, payload in forged.items():
        publish_raw(thief, topic, payload, retain=True)
    publish_raw(thief, "wsgw/comet/claim/eve", {"uid": "eve", "gateway": "x", "boot": "y",
                                                "birth": 1, "nonce": "z"})
    # a device's own presence works as documented
    publish_raw(thief, "wsgw/presence/wsdo/room/sensor1", {"presence": {"kind": "sensor"}},
                retain=True)
    second = await gw.listen("room")
    await second.wait_member("sensor1")
    ids = [m["clientID"] for m in members(second.connected)]
    assert listener.id in ids and "client_Fake0001" not in ids and "dev10" not in ids, ids
    await second.expect_no_frame("PRESENCE:JOINED", 0.3, wsgw.has_id("client_Fake0001"))
    assert listener.take_now("PRESENCE:LEFT") is None, listener.describe()
    entries = await retained(gw, "wsgw/presence/#", 0.5)
    assert wsgw.holders(entries).get(listener.id) == slot, entries
    for topic in forged:
        if topic != slot:
            assert topic not in entries, (topic, entries)
    log = gw.log()
    for topic in list(forged) + ["wsgw/comet/claim/eve"]:
        assert f"publish on {topic}: only the gateway writes that" in log, topic


async def test_acl_example_closes_the_rest(start_gateway):
    gw = start_gateway(acl=ACL_EXAMPLE)
    listener = await gw.listen("plant")
    device = gw.mqtt(client_id="sensor7")
    # devices work: channel messages, their own presence
    device.publish("wsgw/wsdo/plant", {"temp": 21})
    assert (await listener.recv_type("DATA"))["payload"] == {"temp": 21}
    device.publish("wsgw/presence/wsdo/plant/sensor7", {"presence": {}}, retain=True)
    await listener.wait_member("sensor7")
    # but not in another device's name, nor the Telegraphy registry, nor a listener's
    publish_raw(device, "wsgw/presence/wsdo/plant/sensor8", {"presence": {}}, retain=True)
    publish_raw(device, "wsgw/registry/telegraphy/evil", b"1", retain=True)
    publish_raw(device, "wsgw/presence/wsdo/plant/client_Fake0001", {"presence": {}}, retain=True)
    publish_raw(device, "wsgw/presence/comet/world/eve", {"clientID": "eve"}, retain=True)
    entries = await retained(gw, "wsgw/#", 0.5)
    assert "wsgw/presence/wsdo/plant/sensor7" in entries, entries
    assert wsgw.holders(entries).get(listener.id, "").startswith("wsgw/presence/wsdo/plant/"), \
        entries                                                           # listeners' ACLs
    for t in ("wsgw/presence/wsdo/plant/sensor8", "wsgw/registry/telegraphy/evil",
              "wsgw/presence/wsdo/plant/client_Fake0001", "wsgw/presence/comet/world/eve"):
        assert t not in entries, (t, entries)
    # the core user's emits
    r = await gw.emit_get("plant", {"n": "1"})
    assert r.status == 200, r
    assert (await listener.recv_type("DATA"))["payload"] == {"n": "1"}


async def reload(gw):
    n = gw.log().count("Reloading config")
    gw.proc.send_signal(signal.SIGHUP)
    for _ in range(50):
        if gw.log().count("Reloading config") > n:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("no reload")
    await asyncio.sleep(0.3)


async def test_no_acl_file_devices_unaffected_also_after_reload(start_gateway):
    # The plugin registers an ACL callback; without any ACL source the broker
    # must still allow everything else, as it does without the plugin.
    gw = start_gateway()
    listener = await gw.listen("free")
    a, b = gw.mqtt(), gw.mqtt()
    b.subscribe("anything/#")
    for round_ in range(2):
        a.publish(f"anything/{round_}", b"x")
        await b.take(topic_is(f"anything/{round_}"))
        a.publish("wsgw/wsdo/free", {"round": round_})
        assert (await listener.recv_type("DATA"))["payload"] == {"round": round_}
        publish_raw(a, f"wsgw/presence/wsdo/free/client_Fake000{round_}", {"presence": {}}, retain=True)
        assert f"publish on wsgw/presence/wsdo/free/client_Fake000{round_}" in gw.log()
        if round_ == 0:
            await reload(gw)


async def test_acl_file_still_decides_after_reload(start_gateway):
    # After a SIGHUP the broker registers acl_file's callback again; the
    # plugin's fallback must stay behind it.
    acl = ("topic readwrite open/#\ntopic read closed/#\n\n"
           "user wsgw\ntopic readwrite wsgw/#\n")
    gw = start_gateway(acl=acl)
    a, b = gw.mqtt(), gw.mqtt()
    b.subscribe("open/#")
    b.subscribe("closed/#")
    for round_ in range(2):
        publish_raw(a, f"closed/{round_}", b"x")
        a.publish(f"open/{round_}", b"y")
        await b.take(topic_is(f"open/{round_}"))
        assert not any(m.topic.startswith("closed/") for m in b.all), b.all
        if round_ == 0:
            await reload(gw)


DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


class DynsecBroker(wsgw.Broker):
    """The gateway's plugin first, then dynamic-security with a fixed config:
    the core user may do anything under wsgw/, the op user olga may subscribe
    only com.app.open.* (docs/SECURITY.md)."""

    def write_conf(self, plugin):
        super().write_conf(plugin)
        path = os.path.join(self.dir, "dynsec.json")
        allow = lambda t, topic: {"acltype": t, "topic": topic, "priority": 0, "allow": True}
        config = {
            "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": True,
                                 "subscribe": False, "unsubscribe": True},
            "roles": [
                {"rolename": "core", "acls": [allow("publishClientSend", "wsgw/#"),
                                              allow("publishClientReceive", "wsgw/#"),
                                              allow("subscribePattern", "wsgw/#")]},
                {"rolename": "op-user", "acls": [allow("subscribePattern", "wsgw/op/com/app/open/#"),
                                                 allow("publishClientSend", "wsgw/presence/op/#")]},
            ],
            "clients": [{"username": "wsgw", "roles": [{"rolename": "core"}]},
                        {"username": "olga", "roles": [{"rolename": "op-user"}]}],
            "groups": [],
        }
        with open(path, "w") as f:
            json.dump(config, f)
        with open(self.conf, "a") as f:
            f.write(f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {path}\n")


async def test_dynsec_refuses_an_op_sub(start_gateway, request):
    if not os.path.exists(DYNSEC_PLUGIN):
        import pytest
        pytest.skip("no mosquitto_dynamic_security.so")
    gw = DynsecBroker(jwt_hs256_secret=SECRET)
    request.node.wsgw_brokers.append(gw)
    gw.start()
    op = await OpClient.open(gw)
    assert (await op.connect("jwt", token("olga")))["type"] == "success"
    r = await op.request("sub", topics=["com.app.secret"])
    assert r["type"] == "error" and r["code"] == 403 and "com.app.secret" in r["message"], r
    r = await op.request("sub", topics=["com.app.open.news"])
    assert r["type"] == "success", r
    # the fallback defers to dynsec: an anonymous device it does not know is denied
    d = gw.mqtt()
    publish_raw(d, "anything/x", b"1")
    assert "Denied PUBLISH from " + d.c._client_id.decode() in gw.log()
