"""What every dialect must do alike, parametrized over the dialects: one small
adapter each says how to connect and join a channel and how its error frames
look; where dialects differ by design today (a close code, the form of an
error), the adapter holds its own expected value."""
import asyncio
import json
import time

import jwt as pyjwt
import pytest

import wsgw
from jsonws import JsonWsClient

SECRET = "common-secret-0123456789abcdef"


class Client(JsonWsClient):
    """Every frame in order in unread (no request/response filing)."""

    def response_id(self, frame):
        return None


class Dialect:
    name = None
    opts = {}
    path = None
    too_large_close = 1009   # the same in every dialect today

    def start(self, start_gateway, **kw):
        return start_gateway(**{**self.opts, **kw})

    async def ready(self, gw):
        """A client connected and in a channel (broker subscriptions in place)."""
        c = await Client.open(gw, self.path)
        await self.join(c)
        return c

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
    noise = '{"type":"PONG"}'

    async def join(self, c):
        await c.take(lambda f: f.get("type") == "CONNECTED", 5, "CONNECTED")

    def error_code(self, f):
        return f["payload"].get("code") if f.get("type") == "ERROR" else None


class Op(Dialect):
    name = "op"
    opts = {"op_anonymous": "true"}
    path = "/pubsub"
    noise = '{"op":"sub","type":"request","id":"n","topics":["com.common.room"]}'

    async def join(self, c):
        await c.ws.send(json.dumps({"op": "connect", "type": "request", "id": "c",
                                    "auth": {"provider": "none"}}))
        f = await c.take(lambda f: f.get("id") == "c", 5, "connect reply")
        assert f["type"] == "success", f
        await c.ws.send(json.dumps({"op": "sub", "type": "request", "id": "s",
                                    "topics": ["com.common.room"]}))
        f = await c.take(lambda f: f.get("id") == "s", 5, "sub reply")
        assert f["type"] == "success", f

    def error_code(self, f):
        # op errors carry an HTTP-like number; the word is the message's start
        if f.get("type") != "error":
            return None
        return f.get("message", "").split(":")[0].split(" ")[0]


class Telegraphy(Dialect):
    name = "telegraphy"
    opts = {"telegraphy_auth": "false", "telegraphy_events": "chat.message"}
    path = "/telegraphy"
    noise = '{"message":"NOPE"}'

    async def join(self, c):
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
    noise = '{"t":"HB"}'

    async def join(self, c):
        tok = pyjwt.encode({"sub": f"u{time.monotonic_ns()}", "exp": int(time.time()) + 300},
                           SECRET, algorithm="HS256")
        await c.ws.send(json.dumps({"t": "AUTH", "auth": {"token": tok}, "join": {"rid": "room"}}))
        await c.take(lambda f: f.get("t") == "HB", 5, "first HB")

    def error_code(self, f):
        return f["error"].get("code") if isinstance(f.get("error"), dict) else None


DIALECTS = [Wsdo(), Op(), Telegraphy(), Comet()]
by_name = pytest.mark.parametrize("d", DIALECTS, ids=[d.name for d in DIALECTS])


@by_name
async def test_broker_stop_is_shutdown(start_gateway, d):
    # a stop reads as SHUTDOWN (1001), not as a lost broker session
    gw = d.start(start_gateway)
    clients = [await d.ready(gw) for _ in range(3)]
    assert await asyncio.to_thread(gw.stop) == 0
    for c in clients:
        assert await d.error(c) == "SHUTDOWN", c.describe()
        await asyncio.wait_for(c.closed.wait(), 5)
        assert c.close_code == 1001, c.describe()


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
