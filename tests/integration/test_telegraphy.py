"""The Telegraphy dialect (docs/protocols/telegraphy.md)."""
import asyncio
import json
import time
import uuid

import jwt as pyjwt

import wsgw

from teleclient import TeleClient, issue_token

SECRET = "tg-secret-0123456789abcdef"


def gateway(start_gateway, **opts):
    opts.setdefault("telegraphy_token_secret", SECRET)
    opts.setdefault("telegraphy_events", "chat.message,chat.typing,orders.new")
    return start_gateway(**opts)


def signed(user="alice", exp_in=60, jti=True, secret=SECRET):
    claims = {"sub": user, "exp": int(time.time()) + exp_in}
    if jti:
        claims["jti"] = uuid.uuid4().hex
    return pyjwt.encode(claims, secret, algorithm="HS256")


async def connected(gw, token=None, **kw):
    c = await TeleClient.open(gw, **kw)
    if token is None:
        token = (await issue_token(gw, SECRET, user="alice")).json["auth_token"]
    r = await c.connect(token)
    assert r["success"] is True and r["status"] == "CONNECTED" and r["id"] == 0, r
    return c, r["data"]["session_token"]


async def test_token_endpoint_and_single_use(start_gateway):
    gw = gateway(start_gateway)
    r = await issue_token(gw, SECRET, auth=False)
    assert r.status == 401, r
    r = await issue_token(gw, "wrong-secret-of-same-len--")
    assert r.status == 401, r
    r = await issue_token(gw, SECRET, user="bad/user")
    assert r.status == 400, r
    r = await issue_token(gw, SECRET, user="alice", ttl=30)
    assert r.status == 200 and r.json["expires_in"] == 30 and len(r.json["auth_token"]) >= 20, r
    token = r.json["auth_token"]
    c, session = await connected(gw, token)
    assert isinstance(session, str) and session
    again = await TeleClient.open(gw)
    r = await again.connect(token)                      # reused: refused and closed
    assert r["success"] is False and r["status"] == "INVALID_TOKEN" and r["id"] == 0, r
    await asyncio.wait_for(again.closed.wait(), 3)
    assert again.close_code == 4003
    g = await __import__("wsgw").http(gw.ws_port, "GET", "/telegraphy/tokens")
    assert g.status == 405


async def test_signed_tokens(start_gateway):
    gw = gateway(start_gateway)
    tok = signed("bob")
    c, _ = await connected(gw, tok)
    for bad in (tok,                                  # seen before
                signed(jti=False),                    # no jti
                signed(exp_in=-120),                  # expired (beyond jwt_leeway)
                signed(exp_in=3 * 86400),             # too long-lived
                signed(secret="another-secret-000000")):
        c2 = await TeleClient.open(gw)
        r = await c2.connect(bad)
        assert r["status"] == "INVALID_TOKEN" and r["success"] is False, (bad, r)
        await asyncio.wait_for(c2.closed.wait(), 3)


async def test_empty_token_only_without_user_auth(start_gateway):
    gw = gateway(start_gateway)
    c = await TeleClient.open(gw)
    r = await c.connect("")
    assert r["status"] == "INVALID_TOKEN", r
    gw2 = gateway(start_gateway, telegraphy_auth="false")
    c2 = await TeleClient.open(gw2)
    r = await c2.connect("")
    assert r["status"] == "CONNECTED", r


async def test_connect_deadline(start_gateway):
    gw = gateway(start_gateway, telegraphy_connect_timeout=0.5)
    c = await TeleClient.open(gw)
    await asyncio.wait_for(c.closed.wait(), 4)
    assert any(f.get("status") == "NOT_CONNECTED" for f in c.frames), c.describe()


async def test_ids_and_bad_input(start_gateway):
    gw = gateway(start_gateway)
    c = await TeleClient.open(gw)
    r = await c.call("SUBSCRIBE", {"event_name": "chat.message"})
    assert r["status"] == "NOT_CONNECTED" and r["id"] == 0, r
    c = await TeleClient.open(gw)
    r = await c.call("CONNECT", {"auth_token": signed()}, id=1)
    assert r["status"] == "INVALID_ID", r                  # a new connection starts at 0
    r = await c.call("CONNECT", {"auth_token": signed()}, id=0)
    assert r["status"] == "CONNECTED", r
    c.next_id = 1
    r = await c.subscribe("chat.message")
    assert r["status"] == "SUBSCRIBED" and r["id"] == 1
    r = await c.call("SUBSCRIBE", {"event_name": "orders.new"}, id=1)     # duplicate id
    assert r["status"] == "INVALID_ID" and r["success"] is False, r
    r = await c.call("SUBSCRIBE", {"event_name": "orders.new"}, id=5)     # out of order
    assert r["status"] == "INVALID_ID", r
    c.next_id = 2
    r = await c.call("DANCE", {})
    assert r["status"] == "UNKNOWN_MESSAGE" and r["id"] == 2, r
    await c.ws.send("{not json")
    f = await c.take(lambda x: x.get("status") == "BAD_MESSAGE", 3, "BAD_MESSAGE")
    assert f["success"] is False
    r = await c.call("SUBSCRIBE", {"event_name": 5})
    assert r["status"] == "BAD_MESSAGE", r
    r = await c.call("SUBSCRIBE", {"event_name": "a..b"})
    assert r["status"] == "INVALID_EVENT", r
    r = await c.call("SUBSCRIBE", {"event_name": "chat.message", "filters": [1]})
    assert r["status"] == "BAD_MESSAGE", r
    r = await c.subscribe("orders.new")                   # still serving, in sequence
    assert r["status"] == "SUBSCRIBED", r


async def test_events_filters_wildcards(start_gateway):
    gw = gateway(start_gateway)
    c, _ = await connected(gw)
    assert (await c.subscribe("chat.message", {"room": "a", "user.id": 7}))["status"] == "SUBSCRIBED"
    gw.mosquitto_pub("wsgw/telegraphy/chat/message", json.dumps({"room": "b", "user": {"id": 7}}))
    gw.mosquitto_pub("wsgw/telegraphy/chat/message", json.dumps({"room": "a", "user": {"id": 8}}))
    gw.mosquitto_pub("wsgw/telegraphy/chat/message", json.dumps({"room": "a", "user": {"id": 7}, "t": "hi"}))
    e = await c.event("chat.message")
    assert e == {"event": "chat.message", "data": {"room": "a", "user": {"id": 7}, "t": "hi"}}, e
    await c.no_event()
    # a wildcard subscription names the concrete event
    assert (await c.subscribe("chat.*"))["status"] == "SUBSCRIBED"
    gw.mosquitto_pub("wsgw/telegraphy/chat/typing", '{"who": "bob"}')
    e = await c.event()
    assert e["event"] == "chat.typing" and e["data"] == {"who": "bob"}
    # UNSUBSCRIBE needs the same filters
    r = await c.call("UNSUBSCRIBE", {"event_name": "chat.message", "filters": {"room": "a"}})
    assert r["status"] == "NOT_SUBSCRIBED" and r["success"] is False
    r = await c.call("UNSUBSCRIBE", {"event_name": "chat.*"})
    assert r["status"] == "UNSUBSCRIBED", r
    gw.mosquitto_pub("wsgw/telegraphy/chat/typing", '{"who": "bob"}')
    await c.no_event()


async def test_lazy_and_registry(start_gateway):
    gw = gateway(start_gateway)
    c, _ = await connected(gw)
    r = await c.subscribe("billing.paid")
    assert r["status"] == "UNKNOWN_EVENT" and r["success"] is False, r
    r = await c.subscribe("billing.paid", lazy=True)
    assert r["status"] == "SUBSCRIBED", r
    # a backend registers the event at runtime with a retained message
    dev = gw.mqtt()
    dev.publish("wsgw/registry/telegraphy/billing/refunded", "1", retain=True)
    for _ in range(50):
        r = await c.subscribe("billing.refunded")
        if r["status"] == "SUBSCRIBED":
            break
        await asyncio.sleep(0.1)
    assert r["status"] == "SUBSCRIBED", r
    dev.publish("wsgw/telegraphy/billing/refunded", {"amount": 3})
    assert (await c.event("billing.refunded"))["data"] == {"amount": 3}
    # and unregisters it
    dev.publish("wsgw/registry/telegraphy/billing/refunded", "", retain=True)
    await asyncio.sleep(0.5)
    r = await c.subscribe("billing.refunded", {"x": 1})
    assert r["status"] == "UNKNOWN_EVENT", r


async def test_reconnect_permanent_and_missed_events(start_gateway):
    gw = gateway(start_gateway)
    c, session = await connected(gw)
    assert (await c.subscribe("chat.message", permanent=True))["status"] == "SUBSCRIBED"
    assert (await c.subscribe("orders.new"))["status"] == "SUBSCRIBED"
    last = c.next_id
    c.abort()
    await c.closed.wait()
    await asyncio.sleep(0.3)
    gw.mosquitto_pub("wsgw/telegraphy/chat/message", '{"n": 1}')      # while away
    gw.mosquitto_pub("wsgw/telegraphy/orders/new", '{"o": 1}')         # not permanent: gone
    c2 = await TeleClient.open(gw)
    c2.next_id = last + 99                                               # continues its numbering
    r = await c2.call("RECONNECT", {"session_token": session})
    assert r["success"] is True and r["status"] == "CONNECTED", r
    subs = [{"event_name": "chat.message", "filters": {}, "permanent": True}]
    assert r["data"]["subscriptions"] == subs and r["subscriptions"] == subs and r["message"] == "CONNECTED"
    assert r["data"]["recovered"] is True and r["data"]["session_token"]
    assert (await c2.event("chat.message"))["data"] == {"n": 1}
    await c2.no_event()
    # the seed's own shape: session_token at the top level
    c2.abort()
    await c2.closed.wait()
    c3 = await TeleClient.open(gw)
    r = await c3.call("RECONNECT", id=100, session_token=r["data"]["session_token"])
    assert r["status"] == "CONNECTED" and r["id"] == 100, r


async def test_reconnect_from_another_host_is_refused(start_gateway):
    gw = gateway(start_gateway)
    c, session = await connected(gw)
    c.abort()
    await c.closed.wait()
    other = await TeleClient.open(gw, local_host="127.0.0.2")
    r = await other.call("RECONNECT", {"session_token": session})
    assert r["status"] == "INVALID_SESSION" and r["success"] is False, r
    await asyncio.wait_for(other.closed.wait(), 3)
    same = await TeleClient.open(gw)
    r = await same.call("RECONNECT", {"session_token": session})
    assert r["status"] == "CONNECTED", r


async def events_within(c, within=0.7):
    await asyncio.sleep(within)
    out = []
    while (e := c._take_event(None)) is not None:
        out.append(e)
    return out


async def test_overlapping_subscriptions_one_event_per_message(start_gateway):
    # Mosquitto sends a copy per matching subscription: still one EVENT each
    gw = gateway(start_gateway)
    c, _ = await connected(gw)
    for ev in ("chat.message", "chat.*"):
        assert (await c.subscribe(ev))["status"] == "SUBSCRIBED"
    for ev in ("s.r", "s.*", "s.**"):
        assert (await c.subscribe(ev, lazy=True))["status"] == "SUBSCRIBED"
    dev = gw.mqtt()
    dev.publish("wsgw/telegraphy/chat/message", {"n": 1})
    assert await events_within(c) == [{"event": "chat.message", "data": {"n": 1}}]
    dev.publish("wsgw/telegraphy/s/r", {"n": 2})
    assert await events_within(c) == [{"event": "s.r", "data": {"n": 2}}]
    dev.publish("wsgw/telegraphy/s/r/deep", {"n": 3})                   # s.** alone
    assert await events_within(c) == [{"event": "s.r.deep", "data": {"n": 3}}]
    # two distinct publishes, then two identical ones: two EVENTs each time
    dev.publish("wsgw/telegraphy/s/r", {"n": 4})
    dev.publish("wsgw/telegraphy/chat/message", {"n": 5})
    got = await events_within(c)
    assert sorted(e["data"]["n"] for e in got) == [4, 5], got
    dev.publish("wsgw/telegraphy/s/r", {"same": 1})
    dev.publish("wsgw/telegraphy/s/r", {"same": 1})
    assert await events_within(c) == [{"event": "s.r", "data": {"same": 1}}] * 2
    # dropping the oldest of the overlapping subscriptions keeps one EVENT
    r = await c.call("UNSUBSCRIBE", {"event_name": "s.r"})
    assert r["status"] == "UNSUBSCRIBED", r
    await asyncio.sleep(0.2)
    dev.publish("wsgw/telegraphy/s/r", {"n": 6})
    assert await events_within(c) == [{"event": "s.r", "data": {"n": 6}}]
    # a newer subscription of the same filter as an older one
    assert (await c.subscribe("s.r", lazy=True))["status"] == "SUBSCRIBED"
    dev.publish("wsgw/telegraphy/s/r", {"n": 7})
    assert await events_within(c) == [{"event": "s.r", "data": {"n": 7}}]


async def test_overlapping_subscriptions_filters_applied_once(start_gateway):
    gw = gateway(start_gateway)
    c, _ = await connected(gw)
    assert (await c.subscribe("chat.message", {"room": "a"}))["status"] == "SUBSCRIBED"
    assert (await c.subscribe("chat.*", {"room": "b"}))["status"] == "SUBSCRIBED"
    assert (await c.subscribe("chat.message", {"room": "b"}))["status"] == "SUBSCRIBED"
    dev = gw.mqtt()
    for room in ("a", "b", "c"):
        dev.publish("wsgw/telegraphy/chat/message", {"room": room})
    got = await events_within(c)
    assert got == [{"event": "chat.message", "data": {"room": "a"}},
                   {"event": "chat.message", "data": {"room": "b"}}], got


async def test_overlapping_permanent_subscriptions_after_reconnect(start_gateway):
    gw = gateway(start_gateway)
    c, session = await connected(gw)
    for ev in ("chat.message", "chat.*"):
        assert (await c.subscribe(ev, permanent=True))["status"] == "SUBSCRIBED"
    last = c.next_id
    c.abort()
    await c.closed.wait()
    await asyncio.sleep(0.3)
    gw.mosquitto_pub("wsgw/telegraphy/chat/message", '{"n": 1}')      # while away: two copies queued
    c2 = await TeleClient.open(gw)
    c2.next_id = last
    r = await c2.call("RECONNECT", {"session_token": session})
    assert r["status"] == "CONNECTED" and r["data"]["recovered"] is True, r
    assert await events_within(c2, 1.0) == [{"event": "chat.message", "data": {"n": 1}}]
    gw.mosquitto_pub("wsgw/telegraphy/chat/message", '{"n": 2}')
    assert await events_within(c2) == [{"event": "chat.message", "data": {"n": 2}}]


async def test_overlapping_subscriptions_after_the_broker_lost_the_session(start_gateway):
    # The broker connection is cut while attached (UNAVAILABLE, close); the
    # state lives on and RECONNECT opens a new connection to the same broker
    # session (recovered): the overlapping subscriptions still give one EVENT
    # per message. (The broker *wiping* the session, which made the gateway
    # subscribe every filter again, can no longer be caused from outside: a
    # plain client cannot take over a gateway's client id.)
    gw = gateway(start_gateway, broker_socket=None, broker_host="127.0.0.1", broker_port="<mqtt_port>")
    c, session = await connected(gw)
    for ev in ("chat.message", "chat.*", "chat.**"):
        assert (await c.subscribe(ev, permanent=True))["status"] == "SUBSCRIBED"
    last = c.next_id
    await asyncio.sleep(0.2)
    await asyncio.to_thread(wsgw.cut_broker_session, gw, "alice")
    await asyncio.wait_for(c.closed.wait(), 5)
    c2 = await TeleClient.open(gw)
    c2.next_id = last
    r = await c2.call("RECONNECT", {"session_token": session})
    assert r["status"] == "CONNECTED" and r["data"]["recovered"] is True, r
    assert [x["event_name"] for x in r["data"]["subscriptions"]] == ["chat.**", "chat.*", "chat.message"], r
    await asyncio.sleep(0.3)
    gw.mosquitto_pub("wsgw/telegraphy/chat/message", '{"n": 1}')
    assert await events_within(c2) == [{"event": "chat.message", "data": {"n": 1}}]


async def test_subscriptions_per_session_are_capped(start_gateway):
    gw = gateway(start_gateway, max_subscriptions="2")
    c, _ = await connected(gw)
    assert (await c.subscribe("chat.message"))["status"] == "SUBSCRIBED"
    assert (await c.subscribe("chat.message", {"room": "a"}))["status"] == "SUBSCRIBED"
    r = await c.subscribe("chat.typing")
    assert r["success"] is False and r["status"] == "TOO_MANY_SUBSCRIPTIONS", r
    assert "max_subscriptions" in r["data"]["message"], r
    gw.mosquitto_pub("wsgw/telegraphy/chat/typing", '{"who": "bob"}')
    await c.no_event()
    # an existing one may be subscribed again; the connection is kept
    assert (await c.subscribe("chat.message", permanent=True))["status"] == "SUBSCRIBED"
    r = await c.call("UNSUBSCRIBE", {"event_name": "chat.message", "filters": {"room": "a"}})
    assert r["status"] == "UNSUBSCRIBED", r
    assert (await c.subscribe("chat.typing"))["status"] == "SUBSCRIBED"
    gw.mosquitto_pub("wsgw/telegraphy/chat/typing", '{"who": "bob"}')
    assert (await c.event("chat.typing"))["data"] == {"who": "bob"}
