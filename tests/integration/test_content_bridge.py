"""Content sync across two bridged brokers, each with its gateway: documents
and their vers cross the bridge; the last write wins per document
(docs/protocols/content-sync.md, "Bridged brokers")."""
import asyncio
import json

import wsgw
from contentclient import ContentClient, notify, apply_patch
from test_content_basic import USERS, ROOT, key
from test_core_bridge import BRIDGE_USER, BRIDGE_PASSWORD, BridgedBroker, wait_bridged

DOC = {"title": "shared", "n": 0, "pad": "p" * 200}


async def login(gw, user):
    c = await ContentClient.open(gw)
    r = await c.login(user, USERS[user])
    assert r["status"] == 200, r
    return c


async def until_ver(c, k, ver, what):
    for _ in range(100):
        r = await c.get(k)
        if r["status"] == 200 and r["data"]["ver"] == ver:
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: {r}")


async def test_documents_cross_the_bridge(start_gateway, request):
    a = start_gateway(gateway_id="gw-a", passwords={BRIDGE_USER: BRIDGE_PASSWORD, **USERS},
                      bridge_usernames=BRIDGE_USER)
    b = BridgedBroker(a, "b", passwords=USERS)
    request.node.wsgw_brokers.append(b)
    b.start()
    await wait_bridged(a, b)
    k = key("doc", "x1")
    a.mosquitto_pub(f"{ROOT}/doc/x1", json.dumps(DOC), "-r")
    ca = await login(a, "alice")
    cb = await login(b, "bob")
    r = await ca.get(k)
    v0 = r["data"]["ver"]
    rb = await until_ver(cb, k, v0, "the device's document on b")   # the same hash ver on both
    assert rb["data"]["content"] == DOC
    r = await cb.get(k, subscribe=True)
    # a patch through a's gateway: b's watcher gets it, with a's ver
    r = await ca.patch(k, v0, [{"op": "replace", "path": "/n", "value": 1}])
    assert r["status"] == 200, r
    v1 = r["data"]["ver"]
    assert v1[0] == "gw-a"
    n = await cb.take(notify("changed", k), timeout=5, what="changed on b")
    e = n["data"][0]
    assert e["ver"] == v1 and apply_patch(DOC, e["patch"])["n"] == 1, n
    # b's client with the old ver: a conflict on b too
    r = await cb.patch(k, v0, [{"op": "replace", "path": "/n", "value": 99}])
    assert r["status"] == 409 and r["data"]["code"] == 4090630, r
    # the later write wins on both brokers
    r = await cb.patch(k, v1, [{"op": "replace", "path": "/n", "value": 2}])
    assert r["status"] == 200, r
    v2 = r["data"]["ver"]
    assert v2[0] == "gw-b"
    r = await until_ver(ca, k, v2, "b's write on a")
    assert r["data"]["content"]["n"] == 2
    for broker in (a, b):
        state = await wsgw.retained(broker, f"{ROOT}/doc/x1", settle=0.5)
        assert json.loads(state[f"{ROOT}/doc/x1"])["n"] == 2, (broker.name if hasattr(broker, "name") else "a", state)
    # a child added on b is listed on a
    r = await ca.request("get_children", {"key": k, "ver": None, "page": 1, "subscribe": True})
    assert r["data"]["total"] == 0
    r = await cb.request("add_child", {"key": k, "obj": {"key": {"type": "note"}, "text": "from b"}})
    assert r["status"] == 200, r
    n = await ca.take(notify("changed", k), timeout=5, what="children changed on a")
    assert n["data"][0]["children"] is True and n["data"][0]["total"] == 1, n
