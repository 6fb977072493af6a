"""reconnect in the content sync dialect: the watches come back, with what
changed while the socket was away (docs/protocols/content-sync.md)."""
import asyncio
import json

from contentclient import ContentClient, notify, apply_patch
from test_content_basic import USERS, ROOT, gateway, logged_in, key

DOC = {"temp": 20, "label": "l" * 200}


async def test_reconnect_restores_watches_and_pushes_changes(start_gateway):
    gw = gateway(start_gateway)
    dev = gw.mqtt()
    dev.publish(f"{ROOT}/unit/5", DOC, retain=True)
    c = await ContentClient.open(gw)
    r = await c.login("alice", "pw-a")
    token = r["data"]["session"]
    r = await c.get(key("unit", 5), subscribe=True)
    v0 = r["data"]["ver"]
    r = await c.request("get_children", {"key": key("room", 3), "ver": None, "page": 1, "subscribe": True})
    assert r["status"] == 200 and r["data"]["total"] == 0, r
    c.abort()
    await asyncio.sleep(0.3)
    dev.publish(f"{ROOT}/unit/5", {**DOC, "temp": 25}, retain=True)
    dev.publish(f"{ROOT}/room/3/children/msg/9", {"text": "while away"}, retain=True)
    await asyncio.sleep(0.3)
    c2 = await ContentClient.open(gw)
    r = await c2.request("reconnect", {"session": token})
    assert r["type"] == "result" and r["status"] == 200 and r["cls"] == "reconnect", r
    await c2.take(notify("subscribe", key("unit", 5)), what="subscribe unit")
    await c2.take(notify("subscribe", key("room", 3)), what="subscribe room")
    n = await c2.take(notify("changed", key("unit", 5)), what="changed unit")
    e = n["data"][0]
    assert e["ver"] != v0 and apply_patch(DOC, e["patch"]) == {**DOC, "temp": 25}, n
    n = await c2.take(notify("changed", key("room", 3)), what="changed room")
    e = n["data"][0]
    assert e["children"] is True and e["total"] == 1, n
    assert apply_patch([], e["patch"]) == [{"key": key("msg", 9), "text": "while away"}], n
    # the watch goes on
    dev.publish(f"{ROOT}/unit/5", {**DOC, "temp": 30}, retain=True)
    n = await c2.take(notify("changed", key("unit", 5)), what="changed unit")
    assert apply_patch({**DOC, "temp": 25}, n["data"][0]["patch"])["temp"] == 30
    # logout ends the watches (revoke), the session and its token
    r = await c2.request("logout")
    assert r["status"] == 200
    n = await c2.take(notify("revoke"), what="revoke at logout")
    assert sorted(json.dumps(k) for k in n["data"]) == sorted(json.dumps(k) for k in (key("unit", 5), key("room", 3))), n
    c3 = await ContentClient.open(gw)
    r = await c3.request("reconnect", {"session": token})
    assert r["type"] == "error" and r["status"] == 401 and r["data"]["code"] == 4010220, r


async def test_unknown_and_expired_sessions(start_gateway):
    gw = gateway(start_gateway, content_session_expiry=1)
    c = await ContentClient.open(gw)
    r = await c.request("reconnect", {"session": "garbage"})
    assert r["type"] == "error" and r["status"] == 401 and r["data"]["code"] == 4010220, r
    r = await c.login("bob", "pw-b")
    token = r["data"]["session"]
    await c.close()
    await asyncio.sleep(2.5)
    c2 = await ContentClient.open(gw)
    r = await c2.request("reconnect", {"session": token})
    assert r["type"] == "error" and r["status"] == 401 and r["data"]["code"] == 4010220, r
    # within the expiry it works, and takes over a socket still open
    r = await c2.login("bob", "pw-b")
    token = r["data"]["session"]
    c3 = await ContentClient.open(gw)
    r = await c3.request("reconnect", {"session": token})
    assert r["status"] == 200, r
    await asyncio.wait_for(c2.closed.wait(), 5)
    assert c2.close_code == 4001
