"""The part every request/response dialect client of the tests shares: a
WebSocket whose JSON frames are read in the background, responses filed by id
(the subclass says which frames those are), the rest kept in order."""
import asyncio
import json
import time

import websockets

import wsgw


class JsonWsClient:
    """Subclasses define response_id(frame): the id a frame answers, or None."""

    def __init__(self, ws):
        self.ws = ws
        self.responses = {}    # id -> frame
        self.unread = []       # pushes, events and id-less frames, in order
        self.frames = []
        self.close_code = None
        self.closed = asyncio.Event()
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._reader())

    @classmethod
    async def open(cls, gw, path, local_host=None):
        kw = {"local_addr": (local_host, 0)} if local_host else {}
        ws = await websockets.connect(f"ws://127.0.0.1:{gw.ws_port}{path}", ping_interval=None,
                                      close_timeout=1, max_size=None, **kw)
        c = cls(ws)
        wsgw.OPEN_LISTENERS.append(c)   # closed after the test like listeners
        return c

    def response_id(self, frame):
        raise NotImplementedError

    async def _reader(self):
        try:
            async for msg in self.ws:
                f = json.loads(msg)
                self.frames.append(f)
                rid = self.response_id(f)
                if rid is not None:
                    self.responses[rid] = f
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
        return f"{type(self).__name__}: close_code={self.close_code}, frames: " + "\n  ".join(
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

    async def response(self, rid, timeout, what):
        return await self._wait(lambda: self.responses.pop(rid, None), timeout, what)

    def take_now(self, pred):
        for i, f in enumerate(self.unread):
            if pred(f):
                return self.unread.pop(i)
        return None

    async def take(self, pred, timeout=3, what="push"):
        return await self._wait(lambda: self.take_now(pred), timeout, what)

    async def send_raw(self, data):
        await self.ws.send(data)

    async def close(self):
        await wsgw.close_ws(self.ws, self.closed)

    def abort(self):
        self.ws.transport.abort()
