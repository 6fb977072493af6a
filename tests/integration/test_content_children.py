"""Children in the content sync dialect (docs/protocols/content-sync.md):
add_child, get_children pages and their patches, devices adding links."""
import asyncio
import json

import wsgw
from contentclient import ContentClient, notify, apply_patch
from test_content_basic import USERS, ROOT, gateway, logged_in, key


def entry_keys(items):
    return [e["key"] for e in items]


async def test_add_child_and_pages(start_gateway):
    gw = gateway(start_gateway, content_page_size=3)
    c = await logged_in(gw)
    w = await logged_in(gw, "bob")
    room = key("room", 42)
    r = await w.request("get_children", {"key": room, "ver": None, "view": "oldest", "page": 1,
                                         "subscribe": True})
    assert r["type"] == "result" and r["status"] == 200 and r["cls"] == "get_children", r
    d = r["data"]
    assert d["key"] == room and d["total"] == 0 and d["items"] == [] and d["size"] == 3, d
    assert d["view"] == "oldest" and d["page"] == 1 and d["ver"][0] == "page", d
    await w.take(notify("subscribe", room), what="notify subscribe")
    dev = gw.mqtt()
    dev.subscribe(f"{ROOT}/room/42/children/+/+")
    ids = []
    for i in range(4):
        r = await c.request("add_child", {"key": room, "obj": {"key": {"type": "msg"}, "text": f"hi {i}"}})
        assert r["type"] == "result" and r["status"] == 200 and r["cls"] == "add_child", r
        k = r["data"]["key"]
        assert k["type"] == "msg" and isinstance(k["id"], int) and 0 < k["id"] < 2 ** 53, r
        ids.append(k["id"])
        n = await w.take(notify("changed", room), what="children changed")
        e = n["data"][0]
        assert e["children"] is True and e["content"] is False and e["total"] == i + 1, n
    assert ids == sorted(ids) and len(set(ids)) == 4
    # the device sees the links; the child documents are readable
    m = await dev.take(lambda m: m.topic == f"{ROOT}/room/42/children/msg/{ids[0]}")
    assert m.json() == {"text": "hi 0"} and m.retain, m
    r = await c.get(key("msg", ids[1]))
    assert r["status"] == 200 and r["data"]["content"] == {"text": "hi 1"}, r
    # pages: oldest first, 3 a page
    r = await c.request("get_children", {"key": room, "ver": None, "view": "oldest", "page": 1})
    d = r["data"]
    assert d["total"] == 4 and entry_keys(d["items"]) == [key("msg", i) for i in ids[:3]], d
    assert d["items"][0] == {"key": key("msg", ids[0]), "text": "hi 0"}, d
    v1 = d["ver"]
    r = await c.request("get_children", {"key": room, "ver": v1, "view": "oldest", "page": 1})
    assert r["status"] == 204, r
    r = await c.request("get_children", {"key": room, "ver": None, "view": "newest", "page": 2})
    assert entry_keys(r["data"]["items"]) == [key("msg", ids[0])], r
    # a device adds a link (and its document): a 206 of the page from the last one
    dev.publish(f"{ROOT}/msg/1", {"text": "aaa"}, retain=True)
    dev.publish(f"{ROOT}/room/42/children/msg/1", {"text": "aaa"}, retain=True)
    n = await w.take(notify("changed", room), what="children changed")
    assert n["data"][0]["total"] == 5
    for _ in range(50):
        r = await c.request("get_children", {"key": room, "ver": v1, "view": "oldest", "page": 1})
        if r["status"] != 204:
            break
        await asyncio.sleep(0.05)
    assert r["status"] == 206, r
    old = [{"key": key("msg", ids[0]), "text": "hi 0"}, {"key": key("msg", ids[1]), "text": "hi 1"},
           {"key": key("msg", ids[2]), "text": "hi 2"}]
    new = apply_patch(old, r["data"]["patch"])
    assert entry_keys(new) == [key("msg", 1)] + [key("msg", i) for i in ids[:2]], new
    # asc by display_name
    for uid, name in (("u1", "Carol"), ("u2", "Abe"), ("u3", "Bea")):
        dev.publish(f"{ROOT}/fav/alice/children/user/{uid}", {"display_name": name}, retain=True)
    await asyncio.sleep(0.3)
    r = await c.request("get_children", {"key": key("fav", "alice"), "ver": None, "view": "asc", "page": 1})
    assert [e["display_name"] for e in r["data"]["items"]] == ["Abe", "Bea", "Carol"], r
    assert all(e["connected"] is False and e["presence"] == "offline" for e in r["data"]["items"]), r
    r = await c.request("get_children", {"key": key("fav", "alice"), "ver": None, "view": "desc", "page": 1})
    assert [e["display_name"] for e in r["data"]["items"]] == ["Carol", "Bea", "Abe"], r
    # add_child needs obj.key.type and refuses an id
    r = await c.request("add_child", {"key": room, "obj": {"text": "x"}})
    assert r["type"] == "error" and r["status"] == 400, r
    r = await c.request("add_child", {"key": room, "obj": {"key": {"type": "msg", "id": 5}}})
    assert r["type"] == "error" and r["status"] == 400, r


async def test_max_children_is_413(start_gateway):
    gw = gateway(start_gateway, content_max_children=3)
    dev = gw.mqtt()
    for i in range(4):
        dev.publish(f"{ROOT}/room/1/children/msg/{i}", {"t": i}, retain=True)
    c = await logged_in(gw)
    r = await c.request("get_children", {"key": key("room", 1), "ver": None, "page": 1})
    assert r["type"] == "error" and r["status"] == 413 and r["data"]["code"] == 4130010, r
