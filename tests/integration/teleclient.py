"""A Telegraphy client for the integration tests: management messages with
sequential ids, responses matched by id, EVENT frames buffered."""
import asyncio
import json
import time
import urllib.parse

import websockets

import wsgw


class TeleClient:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.responses = {}
        self.unread = []          # events and id-less responses
        self.frames = []
        self.close_code = None
        self.closed = asyncio.Event()
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._reader())

    @classmethod
    async def open(cls, gw, path="/telegraphy", local_host=None):
        kw = {"local_addr": (local_host, 0)} if local_host else {}
        ws = await websockets.connect(f"ws://127.0.0.1:{gw.ws_port}{path}", ping_interval=None,
                                      close_timeout=1, **kw)
        c = cls(ws)
        wsgw.OPEN_LISTENERS.append(c)
        return c

    async def _reader(self):
        try:
            async for msg in self.ws:
                f = json.loads(msg)
                self.frames.append(f)
                if "success" in f and "id" in f:
                    self.responses[f["id"]] = f
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
        return f"telegraphy client: close_code={self.close_code}, frames: " + "\n  ".join(
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

    async def send(self, message, args=None, id=None, **top):
        if id is None:
            id = self.next_id
            self.next_id += 1
        frame = {"message": message, "id": id, **top}
        if args is not None:
            frame["args"] = args
        await self.ws.send(json.dumps(frame))
        return id

    async def call(self, message, args=None, timeout=5, **kw):
        id = await self.send(message, args, **kw)
        return await self._wait(lambda: self.responses.pop(id, None), timeout, f"response to {message} #{id}")

    async def connect(self, token):
        return await self.call("CONNECT", {"auth_token": token})

    async def subscribe(self, event, filters=None, permanent=False, lazy=False):
        args = {"event_name": event, "permanent": permanent, "lazy": lazy}
        if filters is not None:
            args["filters"] = filters
        return await self.call("SUBSCRIBE", args)

    async def event(self, name=None, timeout=3):
        return await self._wait(lambda: self._take_event(name), timeout, f"EVENT {name}")

    def _take_event(self, name):
        for i, f in enumerate(self.unread):
            if "event" in f and (name is None or f["event"] == name):
                return self.unread.pop(i)
        return None

    async def no_event(self, within=0.7):
        await asyncio.sleep(within)
        assert self._take_event(None) is None, self.describe()

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 2)
        except (asyncio.TimeoutError, OSError, websockets.WebSocketException):
            self.ws.transport.abort()
        await self.closed.wait()

    def abort(self):
        self.ws.transport.abort()


async def issue_token(gw, secret, user=None, ttl=None, auth=True):
    body = {}
    if user:
        body["user"] = user
    if ttl:
        body["ttl"] = ttl
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = f"Bearer {secret}"
    return await wsgw.http(gw.ws_port, "POST", "/telegraphy/tokens", body=json.dumps(body).encode(),
                           headers=headers)
