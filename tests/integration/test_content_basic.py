"""The content sync dialect (docs/protocols/content-sync.md): login, logout,
bad input, get_content, watches and patch_content, with MQTT devices on the
same documents."""
import asyncio
import json

import wsgw
from contentclient import ContentClient, notify, apply_patch

USERS = {"alice": "pw-a", "bob": "pw-b", "eve": "pw-e"}
ROOT = "wsgw/content"


def gateway(start_gateway, **kw):
    return start_gateway(passwords=USERS, **kw)


async def logged_in(gw, user="alice"):
    c = await ContentClient.open(gw)
    r = await c.login(user, USERS[user])
    assert r["type"] == "result" and r["status"] == 200, r
    return c


def key(t, i):
    return {"type": t, "id": i}


async def test_login_reply_and_bad_credentials(start_gateway):
    gw = gateway(start_gateway, content_config='{"media_server":"http://m.example"}')
    c = await ContentClient.open(gw)
    r = await c.login("alice", "wrong")
    assert r["type"] == "error" and r["status"] == 401 and r["cls"] == "login", r
    assert r["data"]["code"] == 4010130 and isinstance(r["data"]["msg"], str), r
    r = await c.login("nobody", "x")
    assert r["status"] == 401 and r["data"]["code"] == 4010130, r
    r = await c.login("wsgw", "x")          # the core username is the gateway's
    assert r["status"] == 401 and r["data"]["code"] == 4010130, r
    r = await c.login("alice", "pw-a")
    assert r["type"] == "result" and r["status"] == 200 and r["cls"] == "login", r
    d = r["data"]
    assert isinstance(d["session"], str) and d["session"]
    assert d["self"] == key("user", "alice") and d["rooms"] == key("rooms", "alice"), d
    assert d["fav"] == key("fav", "alice") and d["root"] == key("index", "root"), d
    assert d["home"] == key("unit", "alice"), d
    assert d["config"] == {"media_server": "http://m.example"}, d
    r = await c.login("alice", "pw-a")
    assert r["type"] == "error" and r["status"] == 400, r
    r = await c.request("logout")
    assert r == {"type": "result", "id": r["id"], "cls": "logout", "status": 200}, r
    r = await c.get(key("user", "alice"))
    assert r["type"] == "error" and r["status"] == 401 and r["data"]["code"] == 4010100, r
    # the templates are options
    gw2 = gateway(start_gateway, content_home="house:{username}.h", content_fav="none")
    c2 = await ContentClient.open(gw2)
    r = await c2.login("bob", "pw-b")
    assert r["data"]["home"] == key("house", "bob.h") and r["data"]["config"] == {}, r
    assert "fav" not in r["data"], r   # "none" leaves the key out (mosquitto takes no empty value)


async def test_bad_frames_answer_errors_and_keep_the_socket(start_gateway):
    gw = gateway(start_gateway, content_max_frame=4096)
    c = await ContentClient.open(gw)
    r = await c.get(key("user", 1))
    assert r["type"] == "error" and r["status"] == 401 and r["data"]["code"] == 4010100, r
    await c.login("alice", "pw-a")

    async def raw(text):
        await c.send_raw(text)
        return await c.take(lambda f: f.get("type") == "error", what="error")

    r = await raw("{not json")
    assert r["status"] == 400 and r["data"]["code"] == 4000010 and r["id"] is None, r
    r = await raw("[1,2]")
    assert r["status"] == 400 and r["data"]["code"] == 4000020, r
    r = await c.request("dance", {})
    assert r["status"] == 400 and r["data"]["code"] == 4000030 and r["cls"] == "dance", r
    r = await c.request("get_content", {"key": {"type": "user"}})
    assert r["status"] == 400 and r["data"]["code"] == 4000040, r
    r = await c.request("get_content", {"key": {"type": "us er", "id": 1}})
    assert r["data"]["code"] == 4000040, r
    r = await c.request("get_content", {"key": key("user", 1), "subscribe": "yes"})
    assert r["data"]["code"] == 4000020 and "subscribe" in r["data"]["msg"], r
    r = await c.request("patch_content", {"key": key("user", 1), "ver": None})
    assert r["data"]["code"] == 4000020 and "patch" in r["data"]["msg"], r
    r = await c.request("login", {"username": 5, "password": "x"}, rid=17)
    assert r["id"] == 17 and r["status"] == 400, r
    r = await raw(json.dumps({"type": "request", "id": "big", "cls": "get_content",
                              "data": {"key": key("user", "x" * 10000)}}))
    assert r["status"] == 413 and r["data"]["code"] == 4130010 and r["id"] is None, r
    r = await c.get(key("user", "nothing-here"))
    assert r["type"] == "error" and r["status"] == 404 and r["data"]["code"] == 4040420, r
    assert c.close_code is None
    # over the core's max_frame_size: the 413, then the core closes (1009)
    r = await raw("[" + "1," * 40000 + "1]")
    assert r["status"] == 413 and r["data"]["code"] == 4130010, r
    await asyncio.wait_for(c.closed.wait(), 5)
    assert c.close_code == 1009


PUMP = {"name": "pump", "on": False, "notes": "n" * 200}
PUMP2 = {"name": "pump", "on": True, "rpm": 10, "notes": "n" * 200}


async def test_device_document_read_and_watch(start_gateway):
    gw = gateway(start_gateway)
    gw.mosquitto_pub(f"{ROOT}/unit/7", json.dumps(PUMP), "-r")
    c = await logged_in(gw)
    r = await c.get(key("unit", 7), subscribe=True)
    assert r["type"] == "result" and r["status"] == 200 and r["cls"] == "get_content", r
    d = r["data"]
    assert d["key"] == key("unit", 7) and d["content"] == PUMP, d
    ver = d["ver"]
    assert isinstance(ver, list) and ver[0] == "mqtt" and isinstance(ver[1], int), ver
    await c.take(notify("subscribe", key("unit", 7)), what="notify subscribe")
    # the string "7" is the same key; current ver: 204
    r = await c.get(key("unit", "7"), ver=ver)
    assert r["status"] == 204 and "data" not in r, r
    # a device writes a new document: the watcher gets it as a patch
    gw.mosquitto_pub(f"{ROOT}/unit/7", json.dumps(PUMP2), "-r")
    n = await c.take(notify("changed", key("unit", 7)), what="changed")
    e = n["data"][0]
    assert e["content"] is True and e["children"] is False and e["ver"] != ver, n
    assert apply_patch(PUMP, e["patch"]) == PUMP2, e
    # an old ver gets 206 from the history
    r = await c.get(key("unit", 7), ver=ver)
    assert r["status"] == 206, r
    assert apply_patch(PUMP, r["data"]["patch"]) == PUMP2, r
    # an unknown ver gets the whole document
    r = await c.get(key("unit", 7), ver=["elsewhere", 5])
    assert r["status"] == 200 and r["data"]["content"]["rpm"] == 10, r
    # deleted: the watch ends
    gw.mosquitto_pub(f"{ROOT}/unit/7", "", "-r")
    await c.take(notify("revoke", key("unit", 7)), what="notify revoke")
    r = await c.get(key("unit", 7))
    assert r["status"] == 404, r


async def test_patch_reaches_devices_with_the_ver_property(start_gateway):
    gw = gateway(start_gateway)   # (a "user" document would get connected: test_content_presence.py)
    dev = gw.mqtt()
    dev.publish(f"{ROOT}/profile/alice", {"first_name": "Al", "presence": "online", "bio": "b" * 200}, retain=True)
    dev.subscribe(f"{ROOT}/profile/alice")
    await dev.take(wsgw.topic_is(f"{ROOT}/profile/alice"))
    c = await logged_in(gw)
    w = await logged_in(gw, "bob")
    r = await w.get(key("profile", "alice"), subscribe=True)
    v0 = r["data"]["ver"]
    r = await c.get(key("profile", "alice"))
    assert r["data"]["ver"] == v0
    r = await c.patch(key("profile", "alice"), v0, [{"op": "replace", "path": "/presence", "value": "busy"},
                                                  {"op": "add", "path": "/status", "value": "Not Here"}])
    assert r["type"] == "result" and r["status"] == 200 and r["cls"] == "patch_content", r
    v1 = r["data"]["ver"]
    assert v1[0] == "test-gw" and isinstance(v1[1], int) and v1 != v0, r
    m = await dev.take(lambda m: m.topic == f"{ROOT}/profile/alice" and m.payload and m.json().get("presence") == "busy")
    assert m.json() == {"first_name": "Al", "presence": "busy", "bio": "b" * 200, "status": "Not Here"}, m
    assert json.loads(m.user["wsgw-ver"]) == v1 and m.retain, m
    n = await w.take(notify("changed", key("profile", "alice")), what="changed")
    assert n["data"][0]["ver"] == v1
    assert apply_patch({"first_name": "Al", "presence": "online", "bio": "b" * 200}, n["data"][0]["patch"])["status"] == "Not Here"
    # stale ver: 409, nothing changes
    r = await c.patch(key("profile", "alice"), v0, [{"op": "remove", "path": "/status"}])
    assert r["type"] == "error" and r["status"] == 409 and r["data"]["code"] == 4090630, r
    # null ver: whatever is current (the seed's read receipt: one op object)
    r = await c.patch(key("profile", "alice"), None, {"op": "add", "path": "/read", "value": True})
    assert r["status"] == 200, r
    v2 = r["data"]["ver"]
    # a bad patch names the failing operation; nothing changes
    r = await c.patch(key("profile", "alice"), v2, [{"op": "add", "path": "/x", "value": 1},
                                                  {"op": "remove", "path": "/nope"}])
    assert r["status"] == 400 and r["data"]["code"] == 4000050 and "1" in r["data"]["msg"], r
    r = await c.patch(key("profile", "alice"), v2, [{"op": "test", "path": "/read", "value": False}])
    assert r["status"] == 409 and r["data"]["code"] == 4090640, r
    r = await c.patch(key("profile", "nobody"), None, [{"op": "add", "path": "/x", "value": 1}])
    assert r["status"] == 404 and r["data"]["code"] == 4040420, r
    r = await c.get(key("profile", "alice"))
    assert r["data"]["ver"] == v2 and "x" not in r["data"]["content"], r
    # a device that sets wsgw-ver itself: the gateway takes it
    dev.publish(f"{ROOT}/profile/alice", {"first_name": "Al"}, retain=True, user={"wsgw-ver": '["dev1",5]'})
    for _ in range(50):
        r = await c.get(key("profile", "alice"))
        if r["data"]["ver"] == ["dev1", 5]:
            break
        await asyncio.sleep(0.05)
    assert r["data"]["ver"] == ["dev1", 5] and r["data"]["content"] == {"first_name": "Al"}, r


async def test_acl_refusals_are_403(start_gateway):
    acl = ("user alice\ntopic readwrite wsgw/content/#\n"
           "user eve\ntopic read wsgw/content/public/#\n"
           "user wsgw\ntopic readwrite wsgw/#\ntopic readwrite $SYS/#\n")
    gw = gateway(start_gateway, acl=acl)
    gw.mosquitto_pub(f"{ROOT}/public/1", json.dumps({"a": 1}), "-r", "-u", "alice", "-P", "pw-a")
    gw.mosquitto_pub(f"{ROOT}/secret/1", json.dumps({"s": 1}), "-r", "-u", "alice", "-P", "pw-a")
    e = await logged_in(gw, "eve")
    # Mosquitto's acl_file grants the SUBSCRIBE and withholds the message: a
    # document the user may not read is one it cannot see (a refused SUBACK,
    # as dynamic security gives, is 403)
    r = await e.get(key("secret", 1))
    assert r["type"] == "error" and r["status"] == 404 and r["data"]["code"] == 4040420, r
    r = await e.get(key("public", 1), subscribe=True)
    assert r["status"] == 200 and r["data"]["content"] == {"a": 1}, r
    v = r["data"]["ver"]
    r = await e.patch(key("public", 1), v, [{"op": "replace", "path": "/a", "value": 2}])
    assert r["type"] == "error" and r["status"] == 403 and r["data"]["code"] == 4030100, r
    # the refused write is rolled back: the ver is the broker's again
    r = await e.get(key("public", 1), ver=v)
    assert r["status"] == 204, r
    r = await e.patch(key("public", 1), v, [{"op": "replace", "path": "/a", "value": 3}])
    assert r["status"] == 403, r
    r = await e.request("add_child", {"key": key("public", 1), "obj": {"key": {"type": "note"}, "t": 1}})
    assert r["type"] == "error" and r["status"] == 403 and r["data"]["code"] == 4030100, r


async def test_twenty_concurrent_patches_one_winner(start_gateway):
    gw = gateway(start_gateway)
    gw.mosquitto_pub(f"{ROOT}/doc/1", json.dumps({"n": 0, "by": []}), "-r")
    clients = [await logged_in(gw, ("alice", "bob", "eve")[i % 3]) for i in range(20)]
    r = await clients[0].get(key("doc", 1))
    v0 = r["data"]["ver"]
    rs = await asyncio.gather(*[c.patch(key("doc", 1), v0, [{"op": "replace", "path": "/n", "value": i},
                                                            {"op": "add", "path": "/by/-", "value": i}])
                                for i, c in enumerate(clients)])
    ok = [i for i, r in enumerate(rs) if r["type"] == "result"]
    assert len(ok) == 1, rs
    assert all(r["status"] == 409 and r["data"]["code"] == 4090630 for i, r in enumerate(rs) if i not in ok), rs
    win = ok[0]
    state = await wsgw.retained(gw, f"{ROOT}/doc/1", settle=0.5)
    assert json.loads(state[f"{ROOT}/doc/1"]) == {"n": win, "by": [win]}, state
    r = await clients[5].get(key("doc", 1))
    assert r["data"]["content"] == {"n": win, "by": [win]} and r["data"]["ver"] == rs[win]["data"]["ver"], r


async def test_restart_with_persistence_keeps_content_and_ver(start_gateway):
    gw = gateway(start_gateway, persistence=True)
    gw.mosquitto_pub(f"{ROOT}/unit/9", json.dumps({"t": 20}), "-r")
    c = await logged_in(gw)
    r = await c.get(key("unit", 9))
    r = await c.patch(key("unit", 9), r["data"]["ver"], [{"op": "replace", "path": "/t", "value": 21}])
    v = r["data"]["ver"]
    await c.close()
    await asyncio.sleep(1.5)   # autosave_interval 1
    gw.restart()
    c = await logged_in(gw)
    r = await c.get(key("unit", 9), ver=v)
    assert r["status"] == 204, r
    r = await c.get(key("unit", 9))
    assert r["data"] == {"key": key("unit", 9), "ver": v, "content": {"t": 21}}, r


async def test_refused_subscribe_is_403(start_gateway, request):
    """Dynamic security refuses the read's SUBSCRIBE (its default denies
    subscriptions to users it does not know; password_file logs them in)."""
    import os
    import pytest
    from test_security_identity import DynsecBroker, DYNSEC_PLUGIN
    if not os.path.exists(DYNSEC_PLUGIN):
        pytest.skip("no mosquitto_dynamic_security.so")
    gw = DynsecBroker(passwords=USERS)
    request.node.wsgw_brokers.append(gw)
    gw.start()
    c = await logged_in(gw)
    r = await c.get(key("unit", 1))
    assert r["type"] == "error" and r["status"] == 403 and r["data"]["code"] == 4030100, r
    r = await c.request("get_children", {"key": key("unit", 1), "ver": None, "page": 1})
    assert r["type"] == "error" and r["status"] == 403 and r["data"]["code"] == 4030100, r


async def test_limits_of_patches_and_documents(start_gateway):
    gw = gateway(start_gateway, content_max_doc=1024)
    gw.mosquitto_pub(f"{ROOT}/doc/big", json.dumps({"a": 1}), "-r")
    c = await logged_in(gw)
    r = await c.get(key("doc", "big"))
    v = r["data"]["ver"]
    r = await c.patch(key("doc", "big"), v, [{"op": "add", "path": "/pad", "value": "x" * 2000}])
    assert r["type"] == "error" and r["status"] == 413 and r["data"]["code"] == 4130010, r
    # over JSON Patch's bound of operations (1000): 413 too; nothing changed
    r = await c.patch(key("doc", "big"), v, [{"op": "test", "path": "/a", "value": 1}] * 1001)
    assert r["type"] == "error" and r["status"] == 413, r
    r = await c.patch(key("doc", "big"), v, [{"op": "move", "from": "/a", "path": "/a/b"}])
    assert r["type"] == "error" and r["status"] == 400 and r["data"]["code"] == 4000050, r
    r = await c.get(key("doc", "big"), ver=v)
    assert r["status"] == 204, r
    r = await c.request("add_child", {"key": key("doc", "big"), "obj": {"key": {"type": "n"}, "p": "x" * 2000}})
    assert r["type"] == "error" and r["status"] == 413, r
