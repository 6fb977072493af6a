"""A Telegraphy client for the integration tests: management messages with
sequential ids, responses matched by id, EVENT frames buffered."""
import asyncio
import json

import wsgw
from jsonws import JsonWsClient


class TeleClient(JsonWsClient):
    def __init__(self, ws):
        super().__init__(ws)
        self.next_id = 0

    @classmethod
    async def open(cls, gw, path="/telegraphy", local_host=None):
        return await super().open(gw, path, local_host)

    def response_id(self, f):
        return f["id"] if "success" in f and "id" in f else None

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
        return await self.response(id, timeout, f"response to {message} #{id}")

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
        return self.take_now(lambda f: "event" in f and (name is None or f["event"] == name))

    async def no_event(self, within=0.7):
        await asyncio.sleep(within)
        assert self._take_event(None) is None, self.describe()


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
