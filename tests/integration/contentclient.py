"""A client of the content sync dialect (docs/protocols/content-sync.md) for the
integration tests: requests are answered by id (result or error frames with
that id); notifications and id-less errors are kept in order for take()."""
import itertools
import json

from jsonws import JsonWsClient

_ids = itertools.count(1)


class ContentClient(JsonWsClient):
    @classmethod
    async def open(cls, gw, path="/content"):
        return await super().open(gw, path)

    def response_id(self, f):
        if f.get("type") in ("result", "error") and f.get("id") is not None:
            return f["id"]
        return None

    async def request(self, cls, data=None, timeout=5, rid=None):
        rid = rid if rid is not None else f"r{next(_ids)}"
        frame = {"type": "request", "id": rid, "cls": cls}
        if data is not None:
            frame["data"] = data
        await self.ws.send(json.dumps(frame))
        return await self.response(rid, timeout, f"reply to {cls} {rid}")

    async def login(self, username, password, **kw):
        return await self.request("login", {"username": username, "password": password}, **kw)

    async def get(self, key, ver=None, subscribe=False, **kw):
        return await self.request("get_content", {"key": key, "ver": ver, "subscribe": subscribe}, **kw)

    async def patch(self, key, ver, patch, **kw):
        return await self.request("patch_content", {"key": key, "ver": ver, "patch": patch}, **kw)


def notify(cls, key=None):
    """A predicate for a notification of cls (about key, if given)."""
    def pred(f):
        if f.get("type") != "notify" or f.get("cls") != cls:
            return False
        if key is None:
            return True
        if cls == "changed":
            return any(e.get("key") == key for e in f.get("data", []))
        return key in f.get("data", [])
    return pred


def apply_patch(doc, patch):
    """RFC 6902 in Python (jsonpatch, Debian's python3-jsonpatch)."""
    import jsonpatch
    return jsonpatch.apply_patch(doc, patch)
