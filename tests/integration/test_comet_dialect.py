"""The Comet dialect (docs/protocols/comet.md) against a real broker: WebSocket
subscribe with AUTH (HS256 and RS256 JWTs, refused tokens), rooms, heartbeats,
one session per uid (same broker and across bridged brokers), the HTTP API and
its errors, Events from MQTT, presence for devices, bad input."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import tempfile
import time

import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import wsgw

SECRET = "hs256-test-secret-0123456789abcdef"
SERVICE = "svc-token-9f8e7d6c"
SUB = "/comet/Comet/Subscribe"
PRESENCE = "wsgw/presence/comet/world/"


def _rsa_pair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return priv, pub


RSA_PRIV, RSA_PUB = _rsa_pair()
OTHER_RSA_PRIV, _ = _rsa_pair()
_KEYDIR = tempfile.mkdtemp(prefix="wsgw-comet-keys-")
PUB_PATH = os.path.join(_KEYDIR, "pub.pem")
with open(PUB_PATH, "wb") as _f:
    _f.write(RSA_PUB)


def claims(sub, **kw):
    c = {"sub": sub, "exp": int(time.time()) + 300}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def hs(sub, secret=SECRET, **kw):
    return jwt.encode(claims(sub, **kw), secret, algorithm="HS256")


def rs(sub, key=RSA_PRIV, **kw):
    return jwt.encode(claims(sub, **kw), key, algorithm="RS256")


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header, payload, key=None):
    """A JWT built by hand (for what PyJWT refuses to make): HMAC-SHA256 with key, or
    no signature."""
    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    sig = b64(hmac.new(key, signing.encode(), hashlib.sha256).digest()) if key else ""
    return signing + "." + sig


def gateway(start_gateway, **kw):
    opts = dict(jwt_hs256_secret=SECRET, jwt_rs256_public_key_file=PUB_PATH,
                comet_service_token=SERVICE)
    opts.update(kw)
    return start_gateway(**opts)


# --------------------------------------------------------------------------- clients

class Comet:
    """A Comet subscriber. Frames are kept as received (raw text) and parsed; kind()
    is "ERROR" for error frames, else the frame's t (missing = HB)."""

    def __init__(self, ws):
        self.ws = ws
        self.raw, self.frames, self.unread = [], [], []
        self.close_code = self.close_reason = None
        self.closed = asyncio.Event()
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._reader())

    @classmethod
    async def open(cls, gw, path=SUB):
        ws = await websockets.connect(f"ws://127.0.0.1:{gw.ws_port}{path}", ping_interval=None,
                                      compression=None, open_timeout=5, close_timeout=1,
                                      max_size=None)
        self = cls(ws)
        wsgw.OPEN_LISTENERS.append(self)
        return self

    @classmethod
    async def subscribe(cls, gw, token, join=None, t="AUTH"):
        """Open, AUTH, and wait for the first HB (subscriptions in place)."""
        self = await cls.open(gw)
        await self.auth(token, join, t)
        await self.recv("HB", 5)
        return self

    async def auth(self, token, join=None, t="AUTH"):
        frame = {"t": t, "auth": {"token": token}}
        if join is not None:
            frame["join"] = {"rid": join}
        await self.send(frame)

    async def _reader(self):
        try:
            async for msg in self.ws:
                self.raw.append(msg)
                try:
                    frame = json.loads(msg)
                except ValueError:
                    frame = {"t": "<unparsable>", "raw": msg}
                self.frames.append(frame)
                self.unread.append(frame)
                self._new.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.closed.set()
            self._new.set()

    @staticmethod
    def kind(f):
        if isinstance(f, dict) and "error" in f:
            return "ERROR"
        t = f.get("t", "HB") if isinstance(f, dict) else None
        return {0: "HB", 1: "AUTH", 2: "JOIN", 3: "PUSH"}.get(t, t)

    def take_now(self, kind, pred=None):
        for i, f in enumerate(self.unread):
            if self.kind(f) == kind and (pred is None or pred(f)):
                return self.unread.pop(i)
        return None

    def describe(self):
        return (f"close={self.close_code} {self.close_reason!r}, frames: "
                + " | ".join(r[:200] for r in self.raw[-10:]))

    async def recv(self, kind, timeout=3.0, pred=None):
        deadline = time.monotonic() + timeout
        while True:
            self._new.clear()
            f = self.take_now(kind, pred)
            if f is not None:
                return f
            left = deadline - time.monotonic()
            if self.closed.is_set() or left <= 0:
                why = "closed" if self.closed.is_set() else f"timeout {timeout}s"
                raise AssertionError(f"no {kind} frame ({why}); {self.describe()}")
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def push(self, timeout=3.0):
        return (await self.recv("PUSH", timeout))["push"]["evt"]

    async def error(self, code, timeout=3.0):
        f = await self.recv("ERROR", timeout)
        assert f["error"]["code"] == code, f"expected {code}: {f}; {self.describe()}"
        assert isinstance(f["error"]["message"], str)
        return f["error"]

    async def expect_none(self, kind, within=0.5):
        await asyncio.sleep(within)
        f = self.take_now(kind)
        assert f is None, f"unexpected {kind} frame {f}; {self.describe()}"

    async def send(self, obj):
        await self.ws.send(json.dumps(obj))

    async def send_raw(self, data):
        await self.ws.send(data)

    async def wait_closed(self, timeout=5.0):
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"not closed within {timeout}s; {self.describe()}")
        return self.close_code

    async def refused(self, code, reason=None, close=1008):
        """The connection ends with an error frame `code` (and `reason`) and `close`."""
        err = await self.error(code, 5)
        if reason:
            assert err.get("reason") == reason, err
        assert await self.wait_closed() == close, self.describe()
        return err

    async def close(self):
        await wsgw.close_ws(self.ws, self.closed)


async def api(gw, method, body=None, token=SERVICE, raw=None, http_method="POST", path=None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if raw is None and body is not None:
        raw = json.dumps(body).encode()
    return await wsgw.http(gw.ws_port, http_method, path or f"/comet/Comet/{method}", body=raw,
                           headers=headers)


async def publish(gw, uid, evt, **kw):
    r = await api(gw, "Publish", {"uid": uid, "evt": evt}, **kw)
    assert r.status == 200 and r.json == {}, r
    return r


async def broadcast(gw, rid, evt, **kw):
    r = await api(gw, "Broadcast", {"rid": rid, "evt": evt}, **kw)
    assert r.status == 200 and r.json == {}, r
    return r


async def dump(gw, cluster=None):
    r = await api(gw, "DumpSession", None if cluster is None else {"cluster": cluster})
    assert r.status == 200, r
    return r.json


async def wait_dump(gw, pred, cluster=None, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        d = await dump(gw, cluster)
        if pred(d):
            return d
        if time.monotonic() > deadline:
            raise AssertionError(f"DumpSession never matched: {d}")
        await asyncio.sleep(0.05)


def rooms_of(d):
    return {r["rid"]: sorted(s["uid"] for s in r["room"]) for r in d["rooms"]}


def rid_of(d, uid):
    return next((s["rid"] for s in d["world"] if s["uid"] == uid), None)


async def joined(gw, c, uid, rid):
    await c.send({"t": "JOIN", "join": {"rid": rid}})
    await wait_dump(gw, lambda d: rid_of(d, uid) == rid)


# --------------------------------------------------------------------------- AUTH

async def test_auth_hs256_and_rs256_then_publish(start_gateway):
    gw = gateway(start_gateway)
    a = await Comet.subscribe(gw, hs("alice"))              # t as a name
    b = await Comet.subscribe(gw, rs("bob"), t=1)           # t as a number
    assert a.frames[0] == {"t": "HB", "hb": {}}, a.describe()
    await wait_dump(gw, lambda d: {s["uid"] for s in d["world"]} == {"alice", "bob"})

    # evt is opaque: any JSON value reaches the client byte for byte
    evt_text = '{ "k" : [1, 2.50, "x"], "n": 12345678901234567890 }'
    body = '{"uid":"alice","evt":' + evt_text + '}'
    r = await api(gw, "Publish", raw=body.encode())
    assert r.status == 200 and r.json == {} and r.raw == b"{}", r
    await a.recv("PUSH")
    assert a.raw[-1] == '{"t":"PUSH","push":{"evt":' + evt_text + '}}', a.raw[-1]
    await publish(gw, "bob", "just a string")
    assert await b.push() == "just a string"
    await publish(gw, "nobody", 1)                           # no such uid: still {}
    await a.expect_none("PUSH", 0.3)
    await b.expect_none("PUSH", 0.0)


async def test_refused_tokens(start_gateway):
    gw = gateway(start_gateway, jwt_issuer="comet-issuer")
    now = int(time.time())
    good = claims("mallory", iss="comet-issuer")
    forged_payload = hs("alice", iss="comet-issuer").split(".")
    forged_payload[1] = b64(json.dumps(claims("admin", iss="comet-issuer")).encode())
    cases = [
        (hs("mallory", secret="not-the-secret", iss="comet-issuer"), "SIGNATURE"),
        (rs("mallory", key=OTHER_RSA_PRIV, iss="comet-issuer"), "SIGNATURE"),
        (".".join(forged_payload), "SIGNATURE"),              # payload swapped after signing
        (hs("mallory", iss="comet-issuer", exp=now - 3600), "EXPIRED"),
        (rs("mallory", iss="comet-issuer", exp=now - 3600), "EXPIRED"),
        (hs("mallory", iss="comet-issuer", exp=None), "EXPIRED"),   # exp required
        (hs("mallory", iss="someone-else"), "ISSUER"),
        (rs("mallory", iss="someone-else"), "ISSUER"),
        (hs("mallory"), "ISSUER"),                            # no iss at all
        (hand_made({"alg": "none", "typ": "JWT"}, good), "ALGORITHM"),
        (hand_made({"alg": "HS256", "typ": "JWT"}, good, key=RSA_PUB), None),  # alg confusion
        (hand_made({"alg": "HS512", "typ": "JWT"}, good, key=SECRET.encode()), "ALGORITHM"),
        (hs("", iss="comet-issuer"), "SUBJECT"),
        (hs("a/b", iss="comet-issuer"), "SUBJECT"),
        (hs("$SYS", iss="comet-issuer"), "SUBJECT"),
        ("not-a-jwt", "MALFORMED"),
        ("", "MALFORMED"),
    ]

    async def attempt(token, reason):
        c = await Comet.open(gw)
        await c.auth(token)
        err = await c.refused("UNAUTHORIZED", reason)
        assert not [f for f in c.frames if Comet.kind(f) == "HB"], c.describe()
        return err

    errs = await asyncio.gather(*(attempt(t, r) for t, r in cases))
    # the alg-confusion token (HS256 keyed with the public key) is refused too
    assert errs[10]["reason"] in ("SIGNATURE", "ALGORITHM"), errs[10]
    # the right issuer is accepted, HS256 and RS256
    await Comet.subscribe(gw, hs("ok1", iss="comet-issuer"))
    await Comet.subscribe(gw, rs("ok2", iss="comet-issuer"))
    d = await wait_dump(gw, lambda d: len(d["world"]) == 2)
    assert sorted(s["uid"] for s in d["world"]) == ["ok1", "ok2"]
    assert "AUTH from" in gw.log() and "EXPIRED" in gw.log()


async def test_first_uplink_must_be_auth(start_gateway):
    gw = gateway(start_gateway, handshake_timeout=1)
    for first, code in [({"t": "HB", "hb": {}}, "AUTH_REQUIRED"), ({}, "AUTH_REQUIRED"),
                        ({"t": "JOIN", "join": {"rid": "r"}}, "AUTH_REQUIRED"),
                        ({"t": "PUSH"}, "UNKNOWN_TYPE"), ({"t": 9}, "UNKNOWN_TYPE"),
                        ({"t": "AUTH"}, "UNAUTHORIZED"),
                        ({"t": "AUTH", "auth": {"token": hs("x")}, "join": {"rid": "a/b"}},
                         "BAD_ROOM")]:
        c = await Comet.open(gw)
        await c.send(first)
        await c.refused(code)
    c = await Comet.open(gw)
    await c.send_raw("{not json")
    await c.refused("BAD_JSON")
    # nothing at all: AUTH_TIMEOUT after handshake_timeout
    t0 = time.monotonic()
    c = await Comet.open(gw)
    await c.refused("AUTH_TIMEOUT")
    assert 0.8 < time.monotonic() - t0 < 3, time.monotonic() - t0
    # the /comet/subscribe alias works the same
    c = await Comet.open(gw, "/comet/subscribe")
    await c.auth(hs("alias"))
    await c.recv("HB", 5)


async def test_uplink_forms_and_bad_frames(start_gateway):
    gw = gateway(start_gateway, max_frame_size=8192)
    c = await Comet.subscribe(gw, hs("carol"))
    # HB as number, name, missing t, and "type"; none is answered with an error
    for hb in ({"t": 0}, {"t": "HB", "hb": {}}, {"hb": {}}, {}, {"t": "hb"}, {"type": "HB"}):
        await c.send(hb)
    await c.send({"t": 2, "join": {"rid": "r1"}})            # JOIN as a number
    await wait_dump(gw, lambda d: rid_of(d, "carol") == "r1")
    await c.send({"type": "JOIN", "join": {"rid": "r2"}})    # upstream's field name
    await wait_dump(gw, lambda d: rid_of(d, "carol") == "r2")
    await c.expect_none("ERROR", 0.2)

    for frame, code in [("{broken", "BAD_JSON"), ("[1]", "BAD_MESSAGE"), ("42", "BAD_MESSAGE"),
                        ('{"t":"NOPE"}', "UNKNOWN_TYPE"), ('{"t":3}', "UNKNOWN_TYPE"),
                        ('{"t":1.5}', "BAD_MESSAGE"), ('{"t":"JOIN","join":{"rid":7}}', "BAD_MESSAGE"),
                        ('{"t":"JOIN","join":{"rid":"a/b"}}', "BAD_ROOM"),
                        ('{"t":"JOIN","join":{"rid":"#"}}', "BAD_ROOM"),
                        ('{"t":"AUTH","auth":{"token":"x"}}', "ALREADY_AUTHENTICATED"),
                        ("[" * 3000 + "]" * 3000, "BAD_JSON"),
                        ('{"t":"JOIN","join":{"rid":"\\ud800"}}', "BAD_JSON"),
                        ('{"t":"JOIN","join":{"rid":"' + "r" * 129 + '"}}', "BAD_ROOM"),
                        (b"\x00\x01binary", "BINARY_UNSUPPORTED"),
                        ('{"t":"HB","pad":"' + "\u00e9" * 100 + '"}', None)]:
        await c.send_raw(frame)
        if code:
            err = await c.error(code)
            assert err["message"], err
    await c.expect_none("ERROR", 0.2)
    # still subscribed, still in r2
    assert rid_of(await dump(gw), "carol") == "r2"
    await publish(gw, "carol", {"still": "here"})
    assert await c.push() == {"still": "here"}
    # a room name is any UTF-8 topic level
    await joined(gw, c, "carol", "salle \u00e9t\u00e9 \u623f\u95f4")
    await broadcast(gw, "salle \u00e9t\u00e9 \u623f\u95f4", "bonjour")
    assert await c.push() == "bonjour"
    # too large: error and close 1009
    await c.send_raw('{"t":"HB","pad":"' + "x" * 9000 + '"}')
    await c.error("FRAME_TOO_LARGE")
    assert await c.wait_closed() == 1009
    assert gw.proc.poll() is None


def mutations(seed, n):
    """n frames made by mutating valid uplinks (fixed seed: reproducible)."""
    rnd = random.Random(seed)
    base = ['{"t":"AUTH","auth":{"token":"%s"},"join":{"rid":"r"}}' % hs("fuzz"),
            '{"t":"JOIN","join":{"rid":"room"}}', '{"t":0,"hb":{}}', '{"type":"JOIN"}',
            '{"t":"HB"}', '{}']
    junk = ['"', "\\", "{", "}", "[", "]", ",", ":", "null", "1e999", "-", "\\u0000",
            "\u00e9", "\U0001F600", "/", "+", "#", "$", " ", "true", "\\ud800"]
    out = []
    for _ in range(n):
        f = list(rnd.choice(base))
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(len(f) + 1)
            op = rnd.random()
            if op < 0.4 and f:
                del f[min(i, len(f) - 1)]
            elif op < 0.8:
                f.insert(i, rnd.choice(junk))
            else:
                f[min(i, len(f) - 1):] = f[min(i, len(f) - 1):][::-1]
        out.append("".join(f))
    return out


async def test_fuzzed_frames_never_crash(start_gateway):
    gw = gateway(start_gateway, rate_limit=100000, rate_burst=100000)
    c = await Comet.subscribe(gw, hs("fuzzer"))
    for frame in mutations(1, 400):
        await c.send_raw(frame)
    await c.send({"t": "JOIN", "join": {"rid": "after"}})
    await wait_dump(gw, lambda d: rid_of(d, "fuzzer") == "after")
    await publish(gw, "fuzzer", "alive")
    await c.recv("PUSH", 5, lambda f: f["push"]["evt"] == "alive")
    assert not c.closed.is_set(), c.describe()

    async def first_frame(frame):
        x = await Comet.open(gw)
        await x.send_raw(frame)
        deadline = time.monotonic() + 5
        # either refused (error + close) or accepted (the ready HB)
        while time.monotonic() < deadline and not x.closed.is_set() and not x.frames:
            await asyncio.sleep(0.02)
        assert x.frames, f"no answer to {frame!r}"
        await x.close()

    await asyncio.gather(*(first_frame(f) for f in mutations(2, 40)))
    assert gw.proc.poll() is None


# --------------------------------------------------------------------------- rooms

async def test_rooms_join_leave_noop_and_broadcasts(start_gateway):
    gw = gateway(start_gateway)
    a = await Comet.subscribe(gw, hs("a"), join="r1")         # AUTH carrying join
    b = await Comet.subscribe(gw, rs("b"))
    w = await Comet.subscribe(gw, hs("w"))
    d = await wait_dump(gw, lambda d: len(d["world"]) == 3 and rid_of(d, "a") == "r1")
    birth_a = next(s["birth"] for s in d["world"] if s["uid"] == "a")
    await joined(gw, b, "b", "r1")
    assert rooms_of(await dump(gw)) == {"r1": ["a", "b"]}

    await broadcast(gw, "r1", "to-r1")
    assert await a.push() == "to-r1" and await b.push() == "to-r1"
    await w.expect_none("PUSH", 0.3)

    # JOIN another room leaves the last one
    await joined(gw, b, "b", "r2")
    assert rooms_of(await dump(gw)) == {"r1": ["a"], "r2": ["b"]}
    await broadcast(gw, "r1", "r1-again")
    assert await a.push() == "r1-again"
    await broadcast(gw, "r2", "to-r2")
    assert await b.push() == "to-r2"
    await b.expect_none("PUSH", 0.3)                          # not r1's

    # JOIN the same room: a no-op (still there, same session, nothing else changes)
    await b.send({"t": "JOIN", "join": {"rid": "r2"}})
    await b.expect_none("ERROR", 0.2)
    await broadcast(gw, "r2", "still-r2")
    assert await b.push() == "still-r2"

    # rid "" leaves every room; the world still reaches everyone
    await joined(gw, a, "a", "")
    d = await dump(gw)
    assert rooms_of(d) == {"r2": ["b"]}
    assert next(s["birth"] for s in d["world"] if s["uid"] == "a") == birth_a
    await broadcast(gw, "r1", "nobody-left")
    await broadcast(gw, "", {"world": True})
    for c in (a, b, w):
        assert await c.push() == {"world": True}
    await a.expect_none("PUSH", 0.2)
    r = await api(gw, "Broadcast", {"evt": "no rid = world"})
    assert r.status == 200, r
    for c in (a, b, w):
        assert await c.push() == "no rid = world"


async def test_dump_session_shape(start_gateway):
    gw = gateway(start_gateway)
    assert await dump(gw) == {"world": [], "rooms": []}
    await Comet.subscribe(gw, hs("u1"), join="lobby")
    await asyncio.sleep(0.01)
    await Comet.subscribe(gw, hs("u2"))
    await asyncio.sleep(0.01)
    await Comet.subscribe(gw, hs("u3"), join="lobby")
    d = await wait_dump(gw, lambda d: len(d["world"]) == 3 and len(d["rooms"]) == 1
                        and len(d["rooms"][0]["room"]) == 2)
    assert set(d) == {"world", "rooms"}
    assert [s["uid"] for s in d["world"]] == ["u3", "u2", "u1"]        # newest first
    for s in d["world"]:
        assert set(s) == {"uid", "rid", "birth"}, s
        assert time.strptime(s["birth"], "%Y-%m-%dT%H:%M:%S.%fZ"), s
    assert d["rooms"][0]["rid"] == "lobby"
    assert [s["uid"] for s in d["rooms"][0]["room"]] == ["u3", "u1"]
    assert {s["uid"]: s["rid"] for s in d["world"]} == {"u1": "lobby", "u2": "", "u3": "lobby"}
    # the cluster view adds the gateway of each session; a device's own entry shows too
    dev = gw.mqtt()
    dev.publish(PRESENCE + "device9", {"clientID": "device9", "presence":
                {"uid": "device9", "rid": "lobby", "birth": "2000-01-01T00:00:00.000Z"}},
                retain=True)
    c = await wait_dump(gw, lambda d: len(d["world"]) == 4, cluster=True)
    assert {s["uid"]: s["gateway"] for s in c["world"]} == {
        "u1": "test-gw", "u2": "test-gw", "u3": "test-gw", "device9": None}
    assert len((await dump(gw))["world"]) == 3                        # this gateway's only
    for body in (b"", b"{}", b"  "):
        r = await api(gw, "DumpSession", raw=body)
        assert r.status == 200 and len(r.json["world"]) == 3, r


# --------------------------------------------------------------------------- MQTT side

async def test_events_and_device_publishes(start_gateway):
    gw = gateway(start_gateway)
    a = await Comet.subscribe(gw, hs("ann"), join="den")
    b = await Comet.subscribe(gw, hs("ben"))
    await wait_dump(gw, lambda d: rid_of(d, "ann") == "den" and rid_of(d, "ben") == "")
    # the seed's Event {uid, rid, evt} on wsgw/comet/event, from mosquitto_pub
    gw.mosquitto_pub("wsgw/comet/event", json.dumps({"uid": "ann", "evt": "for ann"}))
    assert await a.push() == "for ann"
    await b.expect_none("PUSH", 0.2)
    gw.mosquitto_pub("wsgw/comet/event", '{"rid":"den","evt":{"n":1.50}}')
    await a.recv("PUSH")
    assert a.raw[-1] == '{"t":"PUSH","push":{"evt":{"n":1.50}}}'
    await b.expect_none("PUSH", 0.2)
    gw.mosquitto_pub("wsgw/comet/event", '{"uid":"","rid":"","evt":[1,2]}')
    assert await a.push() == [1, 2] and await b.push() == [1, 2]
    # bad Events are ignored
    for bad in ("not json", '{"uid":"ann"}', '{"uid":"a/b","evt":1}', "[1]", ""):
        gw.mosquitto_pub("wsgw/comet/event", bad)
    # a device (paho) publishing straight on the push topics
    dev = gw.mqtt()
    dev.publish("wsgw/comet/user/ben", "raw text, not JSON")
    assert await b.push() == "raw text, not JSON"
    dev.publish("wsgw/comet/room/den", {"room": "den"})
    assert await a.push() == {"room": "den"}
    dev.publish("wsgw/comet/world", b"")
    assert await a.push() == "" and await b.push() == ""
    dev.publish("wsgw/comet/user/ben", b"\xff\xfe not utf-8")   # dropped
    # retained messages are not replayed to new subscribers
    dev.publish("wsgw/comet/world", "stale", retain=True)
    await a.recv("PUSH")
    await b.recv("PUSH")
    c = await Comet.subscribe(gw, hs("cy"))
    await c.expect_none("PUSH", 0.3)
    dev.publish("wsgw/comet/world", b"", retain=True)
    await a.expect_none("PUSH", 0.0)
    await b.expect_none("PUSH", 0.0)
    # an HTTP Publish is a plain MQTT message on the user topic
    dev.subscribe("wsgw/comet/#")
    await publish(gw, "ann", {"via": "http"})
    m = await dev.take(lambda m: m.topic == "wsgw/comet/user/ann")
    assert m.json() == {"via": "http"} and not m.retain
    await broadcast(gw, "den", "x")
    await dev.take(lambda m: m.topic == "wsgw/comet/room/den" and m.payload == b'"x"')


async def test_presence_for_devices(start_gateway):
    gw = gateway(start_gateway)
    dev = gw.mqtt()
    dev.subscribe(PRESENCE + "+")
    c = await Comet.subscribe(gw, hs("dana"), join="r")
    # The entry sits on a slot of this gateway; the uid is the payload's clientID.
    m = await dev.take(wsgw.entry_of(PRESENCE, "dana"), 3)
    slot = m.topic
    p = m.json()
    assert m.retain and m.expiry and m.expiry <= 60, m
    assert p["clientID"] == "dana" and p["gateway"] == "test-gw" and p["boot"], p
    assert p["presence"]["uid"] == "dana" and p["presence"]["rid"] == "r", p
    await c.send({"t": "JOIN", "join": {"rid": "s"}})
    m = await dev.take(lambda m: m.topic == slot and m.payload
                       and m.json()["presence"]["rid"] == "s", 3)
    assert m.json()["presence"]["birth"] == p["presence"]["birth"]
    assert wsgw.holders(await wsgw.retained(gw, PRESENCE + "+", 0.3)) == {"dana": slot}
    await c.close()
    await dev.take(lambda m: m.topic == slot and not m.payload, 3)
    assert await wsgw.retained(gw, PRESENCE + "+", 0.3) == {}
    await wait_dump(gw, lambda d: d["world"] == [])


# --------------------------------------------------------------------------- one session per uid

async def test_second_session_replaces_the_first(start_gateway):
    gw = gateway(start_gateway)
    first = await Comet.subscribe(gw, hs("eve"), join="r")
    d = await wait_dump(gw, lambda d: rid_of(d, "eve") == "r")
    birth1 = d["world"][0]["birth"]
    second = await Comet.open(gw)
    await second.auth(rs("eve"))
    await first.refused("REPLACED", close=4001)
    await second.recv("HB", 5)
    d = await wait_dump(gw, lambda d: len(d["world"]) == 1 and d["world"][0]["birth"] != birth1)
    assert d["world"][0]["rid"] == "" and d["rooms"] == []
    await publish(gw, "eve", "to the new one")
    assert await second.push() == "to the new one"
    # the presence entry is the new session's (the old one cleared its own slot)
    await asyncio.sleep(0.2)
    ret = await wsgw.retained(gw, PRESENCE + "+", 0.3)
    assert len(ret) == 1, ret
    assert json.loads(ret[wsgw.holders(ret)["eve"]])["presence"]["birth"] == d["world"][0]["birth"]
    # the MQTT client id is wsgw-comet-<uid>, reserved: a plain client that
    # tries to take it over is refused (it used to end the gateway's session)
    assert wsgw.connack_code(gw.mqtt_port, "wsgw-comet-eve") == 135
    gw.mqtt(client_id="comet-eve")    # the old form is an ordinary id now
    await asyncio.sleep(0.3)
    await publish(gw, "eve", "still here")
    assert await second.push() == "still here"


# Lines before the first `user` apply to anonymous clients (the test devices).
ACL = """topic readwrite #

user comet
topic read wsgw/comet/user/#
topic read wsgw/comet/world
topic read wsgw/comet/room/open
topic readwrite wsgw/presence/comet/#

user wsgw
topic readwrite wsgw/presence/#
topic readwrite wsgw/wsdo/#
topic readwrite wsgw/comet/user/#
topic readwrite wsgw/comet/event
topic readwrite wsgw/comet/claim/#
"""


async def test_acl_applies(start_gateway):
    gw = gateway(start_gateway, acl=ACL)
    c = await Comet.subscribe(gw, hs("ivy"), join="open")
    await wait_dump(gw, lambda d: rid_of(d, "ivy") == "open")
    gw.mosquitto_pub("wsgw/comet/room/open", '"in open"')
    assert await c.push() == "in open"
    # a room the comet user may not read: mosquitto 2.0's acl_file grants the
    # subscription and withholds the messages (a plugin refusing the SUBSCRIBE
    # makes it an error frame and a return to the world: see comet.md)
    await joined(gw, c, "ivy", "secret")
    gw.mosquitto_pub("wsgw/comet/room/secret", '"hidden"')
    await c.expect_none("PUSH", 0.3)
    assert not c.closed.is_set()
    await publish(gw, "ivy", "still fine")
    assert await c.push() == "still fine"
    # the broker refuses the core's publish on the world topic: 403
    r = await api(gw, "Broadcast", {"rid": "", "evt": 1})
    assert r.status == 403 and r.json["error"] == "FORBIDDEN", r
    await c.expect_none("PUSH", 0.3)


# --------------------------------------------------------------------------- heartbeats

async def test_heartbeats(start_gateway):
    gw = gateway(start_gateway, comet_hb_idle=0.4, comet_hb_drop=1.2, idle_timeout=0.5,
                 ws_ping_interval=0)   # pongs would count as uplink (test_core_conn.py)
    t0 = time.monotonic()
    silent = await Comet.subscribe(gw, hs("silent"))
    polite = await Comet.subscribe(gw, hs("polite"))
    busy = await Comet.subscribe(gw, hs("busy"))           # gets pushes, never answers

    async def answer():
        seen = 1
        while not polite.closed.is_set():
            hbs = [f for f in polite.frames if Comet.kind(f) == "HB"]
            if len(hbs) > seen:
                seen = len(hbs)
                await polite.send({"t": "HB", "hb": {}})
            await asyncio.sleep(0.05)

    async def pushes():
        while not busy.closed.is_set():
            await publish(gw, "busy", "tick")
            await asyncio.sleep(0.15)

    tasks = [asyncio.create_task(answer()), asyncio.create_task(pushes())]
    # the silent client is probed (HB after comet_hb_idle), then dropped
    await silent.recv("HB", 1)
    await silent.refused("HEARTBEAT_TIMEOUT", close=4000)
    took = time.monotonic() - t0
    assert 1.0 < took < 2.5, took
    # downlink traffic does not stop the probes when the uplink is silent
    await busy.refused("HEARTBEAT_TIMEOUT", close=4000)
    assert [f for f in busy.frames if Comet.kind(f) == "HB"][1:], busy.describe()
    # a client that answers stays well past comet_hb_drop (and the core's idle_timeout)
    await asyncio.sleep(2.8 - (time.monotonic() - t0))
    assert not polite.closed.is_set(), polite.describe()
    assert len([f for f in polite.frames if Comet.kind(f) == "HB"]) >= 5, polite.describe()
    for t in tasks:
        t.cancel()


# --------------------------------------------------------------------------- HTTP API

async def test_http_api_errors(start_gateway):
    gw = gateway(start_gateway)
    c = await Comet.subscribe(gw, hs("frank"))
    ok = {"uid": "frank", "evt": "e"}

    r = await api(gw, "Publish", ok, token=None)
    assert r.status == 401 and r.json["error"] == "UNAUTHORIZED", r
    for header in ("Basic Zm9vOmJhcg==", "Bearer", "bearer "):
        r = await wsgw.http(gw.ws_port, "POST", "/comet/Comet/Publish", body=json.dumps(ok),
                            headers={"Authorization": header})
        assert r.status == 401, (header, r)
    r = await api(gw, "Publish", ok, token="wrong-token")
    assert r.status == 401 and r.json["error"] == "UNAUTHORIZED", r
    r = await api(gw, "Publish", ok, token=SERVICE + "x")
    assert r.status == 401, r
    r = await api(gw, "Publish", ok, token=hs("svc", type="service", exp=int(time.time()) - 3600))
    assert r.status == 401 and r.json["reason"] == "EXPIRED", r
    r = await api(gw, "Publish", ok, token=hs("svc", secret="forged", type="service"))
    assert r.status == 401 and r.json["reason"] == "SIGNATURE", r
    # a valid user token is not a service token
    r = await api(gw, "Publish", ok, token=hs("frank"))
    assert r.status == 403 and r.json["error"] == "FORBIDDEN", r
    await c.expect_none("PUSH", 0.2)
    # service JWTs: "type":"service" or "service" in "scopes", HS256 or RS256
    await publish(gw, "frank", "svc1", token=hs("backend", type="service"))
    await publish(gw, "frank", "svc2", token=rs("backend", scopes=["x", "service"]))
    assert await c.push() == "svc1" and await c.push() == "svc2"

    for body, code in [(b"{broken", "BAD_JSON"), (b"[]", "BAD_JSON"), (b"", "BAD_JSON"),
                       (b'{"evt":"e"}', "BAD_UID"), (b'{"uid":"","evt":"e"}', "BAD_UID"),
                       (b'{"uid":"a/b","evt":"e"}', "BAD_UID"), (b'{"uid":7,"evt":"e"}', "BAD_UID"),
                       (b'{"uid":"frank"}', "NO_EVT")]:
        r = await api(gw, "Publish", raw=body)
        assert r.status == 400 and r.json["error"] == code, (body, r)
    for body, code in [(b'{"rid":"a+b","evt":1}', "BAD_ROOM"), (b'{"rid":"r"}', "NO_EVT")]:
        r = await api(gw, "Broadcast", raw=body)
        assert r.status == 400 and r.json["error"] == code, (body, r)
    r = await api(gw, "DumpSession", {"cluster": "yes"})
    assert r.status == 400 and r.json["error"] == "BAD_PARAMETER", r

    for path in ("/comet/Comet/Nope", "/comet/Comet", "/comet/", "/comet/Comet/Publish/x"):
        r = await api(gw, None, ok, path=path)
        assert r.status == 404 and r.json["error"] == "NOT_FOUND", (path, r)
    for method in ("GET", "PUT", "DELETE"):
        r = await api(gw, "Publish", ok, http_method=method)
        assert r.status == 405 and r.headers.get("allow") == "POST", (method, r)
        assert r.json["error"] == "METHOD_NOT_ALLOWED", r
    r = await api(gw, "DumpSession", http_method="GET")
    assert r.status == 405, r
    r = await wsgw.http(gw.ws_port, "GET", SUB)
    assert r.status == 426 and r.json["error"] == "UPGRADE_REQUIRED", r
    r = await api(gw, "Subscribe", {})
    assert r.status == 405 and r.headers.get("allow") == "GET", r
    # lower-case aliases of the API
    r = await api(gw, None, ok, path="/comet/publish")
    assert r.status == 200 and r.json == {}, r
    assert await c.push() == "e"
    # WebSocket upgrades: only Subscribe
    assert await wsgw.handshake_status(gw.ws_port, "/comet/Comet/Publish") == 405
    assert await wsgw.handshake_status(gw.ws_port, "/comet/Comet/Nope") == 404
    assert await wsgw.handshake_status(gw.ws_port, SUB) == 101


async def test_http_api_without_service_token(start_gateway):
    gw = gateway(start_gateway, comet_service_token=None)
    r = await api(gw, "DumpSession", token="anything")
    assert r.status == 401, r
    r = await api(gw, "DumpSession", token=hs("svc", type="service"))
    assert r.status == 200 and r.json == {"world": [], "rooms": []}, r


# --------------------------------------------------------------------------- bridged brokers

class BridgedBroker(wsgw.Broker):
    """A broker whose conf ends with a bridge to `hub` (as test_core_bridge.py)."""

    def __init__(self, hub, name, **opts):
        super().__init__(gateway_id=f"gw-{name}", **opts)
        self.hub, self.name = hub, name

    def write_conf(self, plugin):
        super().write_conf(plugin)
        with open(self.conf, "a") as f:
            f.write(f"connection {self.name}-to-hub\n"
                    f"address 127.0.0.1:{self.hub.mqtt_port}\n"
                    "topic wsgw/# both 1\n"
                    "bridge_protocol_version mqttv50\n"
                    "cleansession true\n"
                    "try_private true\n"
                    "remote_username bridge\n"
                    "remote_password bridge-secret\n")


async def wait_bridged(a, b):
    d = a.mqtt()
    d.subscribe("wsgw/probe/#")
    for i in range(100):
        b.mosquitto_pub(f"wsgw/probe/{i}", "x")
        if d.take_now(lambda m: m.topic == f"wsgw/probe/{i}"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("bridge did not come up")


async def test_across_bridged_brokers(start_gateway, request):
    # the hub trusts claims and presence its spoke forwards from the bridge user only
    a = gateway(start_gateway, gateway_id="gw-a", passwords={"bridge": "bridge-secret"},
                bridge_usernames="bridge")
    b = BridgedBroker(a, "b", jwt_hs256_secret=SECRET, jwt_rs256_public_key_file=PUB_PATH,
                      comet_service_token=SERVICE)
    request.node.wsgw_brokers.append(b)
    b.start()
    await wait_bridged(a, b)
    await wait_bridged(b, a)

    # one session per uid across brokers: the newer (on b) replaces the one on a
    old = await Comet.subscribe(a, hs("gina"), join="r")
    await wait_dump(b, lambda d: any(s["uid"] == "gina" for s in d["world"]), cluster=True)
    new = await Comet.subscribe(b, rs("gina"))
    await old.refused("REPLACED", close=4001)
    await wait_dump(b, lambda d: [s["uid"] for s in d["world"]] == ["gina"])
    await wait_dump(a, lambda d: d["world"] == [])
    d = await wait_dump(a, lambda d: [(s["uid"], s["gateway"]) for s in d["world"]]
                        == [("gina", "gw-b")], cluster=True)
    assert d["rooms"] == []

    # Publish and Broadcast on a reach sessions on b
    await publish(a, "gina", "from a")
    assert await new.push() == "from a"
    h = await Comet.subscribe(a, hs("hank"), join="lobby")
    await joined(b, new, "gina", "lobby")
    await wait_dump(a, lambda d: rooms_of(d).get("lobby") == ["gina", "hank"], cluster=True)
    await broadcast(a, "lobby", "room-wide")
    assert await new.push() == "room-wide" and await h.push() == "room-wide"
    await broadcast(b, "", "world-wide")
    assert await new.push() == "world-wide" and await h.push() == "world-wide"
    # an Event published once reaches its uid once, whichever broker it enters by
    a.mosquitto_pub("wsgw/comet/event", '{"uid":"gina","evt":"once"}')
    b.mosquitto_pub("wsgw/comet/event", '{"rid":"lobby","evt":"room-once"}')
    assert sorted([await new.push(), await new.push()]) == ["once", "room-once"]
    assert await h.push() == "room-once"
    await new.expect_none("PUSH", 0.5)
    await h.expect_none("PUSH", 0.0)
    # and back: a newer session on a replaces the one on b
    newer = await Comet.subscribe(a, hs("gina"))
    await new.refused("REPLACED", close=4001)
    await publish(b, "gina", "to a again")
    assert await newer.push() == "to a again"
