"""A client of the "op" pub/sub dialect for the integration tests: requests
are answered by id; pushes (mesg, pres) and errors without an id are kept in
order for take()."""
import asyncio
import itertools
import json
import time

import websockets

import wsgw

_ids = itertools.count(1)


class OpClient:
    def __init__(self, ws):
        self.ws = ws
        self.replies = {}      # id -> frame
        self.unread = []       # pushes and id-less frames
        self.frames = []
        self.close_code = None
        self.closed = asyncio.Event()
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._reader())

    @classmethod
    async def open(cls, gw, path="/pubsub"):
        ws = await websockets.connect(f"ws://127.0.0.1:{gw.ws_port}{path}", ping_interval=None,
                                      close_timeout=1, max_size=None)
        c = cls(ws)
        wsgw.OPEN_LISTENERS.append(c)   # closed after the test like listeners
        return c

    async def _reader(self):
        try:
            async for msg in self.ws:
                f = json.loads(msg)
                self.frames.append(f)
                if f.get("type") in ("success", "error") and "id" in f:
                    self.replies[f["id"]] = f
                else:
                    self.unread.append(f)
                self._new.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            self._new.set()

    def describe(self):
        return f"op client: close_code={self.close_code}, frames: " + "\n  ".join(
            [""] + [json.dumps(f)[:300] for f in self.frames[-12:]])

    async def _wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            self._new.clear()
            r = pred()
            if r is not None:
                return r
            left = deadline - time.monotonic()
            if left <= 0 or self.closed.is_set():
                raise AssertionError(f"no {what} within {timeout}s; {self.describe()}")
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def request(self, op, timeout=5, **fields):
        rid = f"req-{next(_ids)}"
        await self.ws.send(json.dumps({"op": op, "type": "request", "id": rid, **fields}))
        return await self._wait(lambda: self.replies.pop(rid, None), timeout, f"reply to {op} {rid}")

    async def send_raw(self, data):
        await self.ws.send(data)

    def take_now(self, pred):
        for i, f in enumerate(self.unread):
            if pred(f):
                return self.unread.pop(i)
        return None

    async def take(self, pred, timeout=3, what="push"):
        return await self._wait(lambda: self.take_now(pred), timeout, what)

    async def expect_none(self, pred, within=1.0, what="push"):
        await asyncio.sleep(within)
        f = self.take_now(pred)
        assert f is None, f"unexpected {what}: {f}; {self.describe()}"

    async def connect(self, provider="none", token="", timeout=5, **auth):
        return await self.request("connect", timeout=timeout,
                                  auth={"provider": provider, "access_token": token, **auth})

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 2)
        except (asyncio.TimeoutError, OSError, websockets.WebSocketException):
            self.ws.transport.abort()
        await self.closed.wait()

    def abort(self):
        self.ws.transport.abort()


def mesg(topic):
    return lambda f: f.get("op") == "mesg" and f.get("topics") == [topic]


def pres(kind, topic, user_id=None):
    return lambda f: (f.get("op") == "pres" and f.get("type") == kind and f.get("topics") == [topic]
                      and (user_id is None or (f.get("sender") or {}).get("id") == user_id))
