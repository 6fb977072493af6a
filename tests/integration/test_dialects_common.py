"""What every dialect must do alike, parametrized over the dialects: one small
adapter each says how to connect and join a channel and how its error frames
look; where dialects differ by design today (a close code, the form of an
error), the adapter holds its own expected value."""
import asyncio
import json
import re
import time

import jwt as pyjwt
import pytest

import wsgw
from jsonws import JsonWsClient

SECRET = "common-secret-0123456789abcdef"
TCP_BROKER = dict(broker_socket=None, broker_host="127.0.0.1", broker_port="<mqtt_port>")


def new_uid():
    return f"u{time.monotonic_ns()}"


def hs256(sub):
    return pyjwt.encode({"sub": sub, "exp": int(time.time()) + 300}, SECRET, algorithm="HS256")


class Client(JsonWsClient):
    """Every frame in order in unread (no request/response filing)."""

    def response_id(self, frame):
        return None


class Dialect:
    """The adapter: subclasses set name, opts (plugin options), path (the mount
    to connect to), noise (a harmless frame, sent to hit the rate limit), and
    define join() and error_code(); the rest are the values every dialect
    shares unless it says otherwise. join() sets c.uid (the id its presence
    entry carries) and c.broker_user (the username of its broker session)."""
    name = None
    opts = {}
    path = None
    noise = None
    too_large_close = 1009   # the same in every dialect today
    unavailable = "BROKER_UNAVAILABLE"   # the error of a lost broker session
    idle_opts = {"idle_timeout": 1}      # options that end a silent client after ~1 s
    idle_error, idle_close = "IDLE_TIMEOUT", 1001
    presence_filter = None   # where its presence entries are; None: it has none

    def holds(self, entry, c):
        """True if the presence entry (parsed payload) is c's."""
        return entry.get("clientID") == c.uid

    def start(self, start_gateway, **kw):
        return start_gateway(**{**self.opts, **kw})

    async def ready(self, gw):
        """A client connected and in a channel (broker subscriptions in place)."""
        c = await Client.open(gw, self.path)
        await self.join(c)
        return c

    async def join(self, c):
        """Connect and join a channel on the open client c."""
        raise NotImplementedError

    def error_code(self, frame):
        """The error code of an error frame, else None."""
        raise NotImplementedError

    async def error(self, c, timeout=5, want=None):
        """The code of the first error frame (of code `want` when given)."""
        f = await c.take(lambda f: self.error_code(f) is not None and
                         (want is None or self.error_code(f) == want), timeout, "error frame")
        return self.error_code(f)


class Wsdo(Dialect):
    name = "wsdo"
    path = "/common/listen"
    presence_filter = "wsgw/presence/wsdo/common/+"
    noise = '{"type":"PONG"}'

    async def join(self, c):
        f = await c.take(lambda f: f.get("type") == "CONNECTED", 5, "CONNECTED")
        c.uid, c.broker_user = f["clientID"], "wsdo"

    def error_code(self, f):
        return f["payload"].get("code") if f.get("type") == "ERROR" else None


class Op(Dialect):
    name = "op"
    opts = {"jwt_hs256_secret": SECRET}
    path = "/pubsub"
    presence_filter = "wsgw/presence/op/com/common/room/+"
    unavailable = "session:503"
    noise = '{"op":"sub","type":"request","id":"n","topics":["com.common.room"]}'

    async def join(self, c):
        c.uid = c.broker_user = new_uid()
        await c.ws.send(json.dumps({"op": "connect", "type": "request", "id": "c",
                                    "auth": {"provider": "jwt", "access_token": hs256(c.uid)}}))
        f = await c.take(lambda f: f.get("id") == "c", 5, "connect reply")
        assert f["type"] == "success", f
        await c.ws.send(json.dumps({"op": "sub", "type": "request", "id": "s",
                                    "topics": ["com.common.room"]}))
        f = await c.take(lambda f: f.get("id") == "s", 5, "sub reply")
        assert f["type"] == "success", f

    def holds(self, entry, c):
        return entry.get("presence", {}).get("id") == c.uid

    def error_code(self, f):
        # op errors carry an HTTP-like number; the gateway's own codes start the
        # message ("SHUTDOWN: ..."), a lost session is op "session" with 503
        if f.get("type") != "error":
            return None
        m = re.match(r"([A-Z_]+): ", f.get("message", ""))
        return m.group(1) if m else f"{f.get('op')}:{f.get('code')}"


class Telegraphy(Dialect):
    name = "telegraphy"
    opts = {"telegraphy_auth": "false", "telegraphy_events": "chat.message"}
    path = "/telegraphy"
    unavailable = "UNAVAILABLE"
    noise = '{"message":"NOPE"}'

    async def join(self, c):
        c.uid, c.broker_user = None, "telegraphy"
        await c.ws.send(json.dumps({"message": "CONNECT", "id": 0, "args": {"auth_token": ""}}))
        f = await c.take(lambda f: f.get("id") == 0, 5, "CONNECT reply")
        assert f["status"] == "CONNECTED", f
        await c.ws.send(json.dumps({"message": "SUBSCRIBE", "id": 1,
                                    "args": {"event_name": "chat.message"}}))
        f = await c.take(lambda f: f.get("id") == 1, 5, "SUBSCRIBE reply")
        assert f["status"] == "SUBSCRIBED", f

    def error_code(self, f):
        return f.get("status") if f.get("success") is False else None


class Comet(Dialect):
    name = "comet"
    opts = {"jwt_hs256_secret": SECRET}
    path = "/comet/Comet/Subscribe"
    presence_filter = "wsgw/presence/comet/world/+"
    # Comet's own heartbeat policy, not idle_timeout, ends a silent client
    idle_opts = {"comet_hb_idle": 0.5, "comet_hb_drop": 1}
    idle_error, idle_close = "HEARTBEAT_TIMEOUT", 4000
    noise = '{"t":"HB"}'

    async def join(self, c):
        c.uid, c.broker_user = new_uid(), "comet"
        await c.ws.send(json.dumps({"t": "AUTH", "auth": {"token": hs256(c.uid)},
                                    "join": {"rid": "room"}}))
        await c.take(lambda f: f.get("t") == "HB", 5, "first HB")

    def error_code(self, f):
        return f["error"].get("code") if isinstance(f.get("error"), dict) else None


class Content(Dialect):
    name = "content"
    opts = {"passwords": {"carl": "pw-c"}}
    path = "/content"
    presence_filter = "wsgw/presence/content/carl/+"
    noise = '{"type":"request","id":"n","cls":"nope"}'

    async def join(self, c):
        c.uid = c.broker_user = "carl"
        await c.ws.send(json.dumps({"type": "request", "id": "l", "cls": "login",
                                    "data": {"username": "carl", "password": "pw-c"}}))
        f = await c.take(lambda f: f.get("id") == "l", 5, "login reply")
        assert f["type"] == "result" and f["status"] == 200, f

    def holds(self, entry, c):
        return entry.get("presence", {}).get("user") == c.uid

    def error_code(self, f):
        # the gateway's own codes start the msg of an id-less error ("SHUTDOWN: ...")
        if f.get("type") != "error" or f.get("id") is not None:
            return None
        m = re.match(r"([A-Z_]+): ", f.get("data", {}).get("msg", ""))
        return m.group(1) if m else str(f["data"].get("code"))


DIALECTS = [Wsdo(), Op(), Telegraphy(), Comet(), Content()]
by_name = pytest.mark.parametrize("d", DIALECTS, ids=[d.name for d in DIALECTS])


@by_name
async def test_broker_stop_is_shutdown(start_gateway, d):
    # a stop reads as SHUTDOWN (1001), not as a lost broker session
    gw = d.start(start_gateway)
    clients = [await d.ready(gw) for _ in range(4)]
    assert await asyncio.to_thread(gw.stop) == 0
    for c in clients:
        await asyncio.wait_for(c.closed.wait(), 3)
        errors = [d.error_code(f) for f in c.frames if d.error_code(f) is not None]
        assert errors == ["SHUTDOWN"] and c.close_code == 1001, c.describe()


@by_name
async def test_binary_frames_are_refused(start_gateway, d):
    gw = d.start(start_gateway)
    c = await d.ready(gw)
    await c.ws.send(b"\x00\x01binary")
    assert await d.error(c) == "BINARY_UNSUPPORTED", c.describe()
    # refused, not fatal
    await asyncio.sleep(0.3)
    assert not c.closed.is_set(), c.describe()
    assert gw.proc.poll() is None


@by_name
async def test_rate_limited(start_gateway, d):
    gw = d.start(start_gateway, rate_limit="1", rate_burst="3")
    c = await d.ready(gw)
    for _ in range(30):
        await c.ws.send(d.noise)
    assert await d.error(c, want="RATE_LIMITED") == "RATE_LIMITED", c.describe()
    # frames over the rate are refused; the connection stays
    await asyncio.sleep(0.5)
    assert not c.closed.is_set(), c.describe()


@by_name
async def test_frame_too_large(start_gateway, d):
    gw = d.start(start_gateway, max_frame_size="4096")
    c = await d.ready(gw)
    await c.ws.send('{"pad":"' + "x" * 9000 + '"}')
    assert await d.error(c) == "FRAME_TOO_LARGE", c.describe()
    await asyncio.wait_for(c.closed.wait(), 5)
    assert c.close_code == d.too_large_close, c.describe()


@by_name
async def test_lost_broker_session(start_gateway, d):
    # reported after the core's grace (a stopping broker drops sessions first,
    # and SHUTDOWN must win), then closed with 1011
    gw = d.start(start_gateway, **TCP_BROKER)
    c = await d.ready(gw)
    await asyncio.sleep(0.2)
    t0 = time.monotonic()
    await asyncio.to_thread(wsgw.cut_broker_session, gw, c.broker_user)
    assert await d.error(c) == d.unavailable, c.describe()
    dt = time.monotonic() - t0
    await asyncio.wait_for(c.closed.wait(), 5)
    assert c.close_code == 1011, c.describe()
    assert dt >= 0.8, f"reported after {dt:.2f} s, without the grace"
    errors = [f for f in c.frames if d.error_code(f) is not None]
    assert len(errors) == 1, c.describe()


@by_name
async def test_idle_silent_client_is_ended(start_gateway, d):
    # no WebSocket pings: the dialect's own timer judges frames alone
    gw = d.start(start_gateway, ws_ping_interval=0, wsdo_ping_interval=100, **d.idle_opts)
    c = await d.ready(gw)
    t0 = time.monotonic()
    assert await d.error(c) == d.idle_error, c.describe()
    took = time.monotonic() - t0
    await asyncio.wait_for(c.closed.wait(), 5)
    assert c.close_code == d.idle_close, c.describe()
    assert took < 3, f"a silent client was ended after {took:.1f} s"


@by_name
async def test_idle_answered_pings_keep_a_client(start_gateway, d):
    # the client library answers the gateway's WebSocket pings: that is traffic
    gw = d.start(start_gateway, ws_ping_interval=0.3, wsdo_ping_interval=100, **d.idle_opts)
    c = await d.ready(gw)
    await asyncio.sleep(2.5)
    assert not c.closed.is_set(), c.describe()
    assert not [f for f in c.frames if d.error_code(f) is not None], c.describe()


@by_name
async def test_presence_leave_on_dropped_tcp(start_gateway, d):
    if d.presence_filter is None:
        pytest.skip(f"{d.name} has no presence")
    gw = d.start(start_gateway)
    dev = gw.mqtt()
    dev.subscribe(d.presence_filter)
    c = await d.ready(gw)

    def entry(m):
        try:
            return m.retain and m.payload and d.holds(json.loads(m.payload), c)
        except ValueError:
            return False
    held = await dev.take(entry, 5, f"presence entry of {c.uid}")
    c.abort()                                   # no close frame, the TCP connection ends
    await dev.take(lambda m: m.topic == held.topic and not m.payload, 5,
                   f"removal of {held.topic}")
    left = await wsgw.retained(gw, d.presence_filter)
    assert not [t for t, p in left.items() if d.holds(json.loads(p), c)], left
