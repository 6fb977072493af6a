"""Presence in the content sync dialect: a user document's connected follows
the user's live sessions; pages show it (docs/protocols/content-sync.md)."""
import asyncio
import json

from contentclient import ContentClient, notify
from test_content_basic import USERS, ROOT, gateway, logged_in, key


def connected_is(value):
    def pred(f):
        if f.get("type") != "notify" or f.get("cls") != "changed":
            return False
        return any(e["key"] == key("user", "alice") for e in f["data"])
    return pred


async def wait_doc(c, k, pred, what):
    for _ in range(60):
        r = await c.get(k)
        if r["status"] == 200 and pred(r["data"]["content"]):
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: {r}")


async def test_connected_flips_in_the_user_document(start_gateway):
    gw = gateway(start_gateway)
    dev = gw.mqtt()
    dev.publish(f"{ROOT}/user/alice", {"display_name": "Alice", "presence": "busy"}, retain=True)
    dev.publish(f"{ROOT}/fav/bob/children/user/alice", {"display_name": "Alice"}, retain=True)
    dev.subscribe(f"{ROOT}/user/alice")
    b = await logged_in(gw, "bob")
    r = await b.get(key("user", "alice"), subscribe=True)
    assert "connected" not in r["data"]["content"], r
    r = await b.request("get_children", {"key": key("fav", "bob"), "ver": None, "view": "asc_pres_first",
                                         "page": 1, "subscribe": True})
    assert r["data"]["items"][0]["connected"] is False, r
    a = await logged_in(gw, "alice")
    # the user document says so, for watchers and devices
    await b.take(lambda f: f.get("cls") == "changed" and f["data"][0]["key"] == key("user", "alice"),
                 what="changed user")
    r = await wait_doc(b, key("user", "alice"), lambda d: d.get("connected") is True, "connected true")
    assert r["data"]["content"]["presence"] == "busy", r   # the user's own field stays
    await dev.take(lambda m: m.payload and m.json().get("connected") is True, what="device sees connected")
    # the page overlay
    for _ in range(60):
        r = await b.request("get_children", {"key": key("fav", "bob"), "ver": None, "view": "asc_pres_first",
                                             "page": 1})
        if r["data"]["items"][0]["connected"]:
            break
        await asyncio.sleep(0.05)
    assert r["data"]["items"][0]["connected"] is True, r
    # a second session: still connected when one goes
    a2 = await logged_in(gw, "alice")
    await asyncio.sleep(0.3)
    await a.close()
    await asyncio.sleep(0.5)
    r = await b.get(key("user", "alice"))
    assert r["data"]["content"]["connected"] is True, r
    # the last one goes
    r = await a2.request("logout")
    assert r["status"] == 200
    await wait_doc(b, key("user", "alice"), lambda d: d.get("connected") is False, "connected false")
    await dev.take(lambda m: m.payload and m.json().get("connected") is False, what="device sees disconnected")
