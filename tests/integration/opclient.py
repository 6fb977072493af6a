"""A client of the "op" pub/sub dialect for the integration tests: requests
are answered by id; pushes (mesg, pres) and errors without an id are kept in
order for take()."""
import asyncio
import itertools
import json

from jsonws import JsonWsClient

_ids = itertools.count(1)


class OpClient(JsonWsClient):
    @classmethod
    async def open(cls, gw, path="/pubsub"):
        return await super().open(gw, path)

    def response_id(self, f):
        return f["id"] if f.get("type") in ("success", "error") and "id" in f else None

    async def request(self, op, timeout=5, **fields):
        rid = f"req-{next(_ids)}"
        await self.ws.send(json.dumps({"op": op, "type": "request", "id": rid, **fields}))
        return await self.response(rid, timeout, f"reply to {op} {rid}")

    async def expect_none(self, pred, within=1.0, what="push"):
        await asyncio.sleep(within)
        f = self.take_now(pred)
        assert f is None, f"unexpected {what}: {f}; {self.describe()}"

    async def connect(self, provider="none", token="", timeout=5, **auth):
        return await self.request("connect", timeout=timeout,
                                  auth={"provider": provider, "access_token": token, **auth})


def mesg(topic):
    return lambda f: f.get("op") == "mesg" and f.get("topics") == [topic]


def pres(kind, topic, user_id=None):
    return lambda f: (f.get("op") == "pres" and f.get("type") == kind and f.get("topics") == [topic]
                      and (user_id is None or (f.get("sender") or {}).get("id") == user_id))
