"""Golden frame sequences: every tests/golden/<dialect>/<case>/sequence is
replayed against a real broker with the plugin, one step a line (the format is
in tests/integration/README.md). The pure parsers' cases of the same
directories (`input` + `output`/`error`) are the C driver's
(tests/unit/test_golden.c)."""
import asyncio
import json
import os
import shlex
import time

import jwt as pyjwt
import pytest
import websockets

import wsgw

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden")
CASES = sorted(os.path.relpath(os.path.join(d, "sequence"), GOLDEN)
               for d, _, files in os.walk(GOLDEN) if "sequence" in files)
TIMEOUT = 3.0   # seconds one expect step waits


class Failure(AssertionError):
    pass


def match(pattern, value, env, where="$"):
    """Problems of value against pattern: "*" matches anything, "$name" binds
    name on first sight and must be equal after; objects have the same keys."""
    if isinstance(pattern, str) and pattern == "*":
        return []
    if isinstance(pattern, str) and pattern.startswith("$") and len(pattern) > 1:
        name = pattern[1:]
        if name not in env:
            env[name] = value
            return []
        pattern = env[name]
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not an object"]
        out = [f"{where}.{k}: missing" for k in pattern if k not in value]
        out += [f"{where}.{k}: unexpected" for k in value if k not in pattern]
        for k in pattern:
            if k in value:
                out += match(pattern[k], value[k], env, f"{where}.{k}")
        return out
    if isinstance(pattern, list):
        if not isinstance(value, list) or len(value) != len(pattern):
            return [f"{where}: {value!r} is not a list of {len(pattern)}"]
        return [p for i, (a, b) in enumerate(zip(pattern, value))
                for p in match(a, b, env, f"{where}[{i}]")]
    if type(pattern) is not type(value) or pattern != value:
        return [f"{where}: {value!r}, expected {pattern!r}"]
    return []


def substitute(text, env):
    """$name in text replaced by its bound value (a string as is, else JSON)."""
    for name in sorted(env, key=len, reverse=True):
        v = env[name]
        text = text.replace("$" + name, v if isinstance(v, str) else json.dumps(v))
    return text


class WsClient:
    """A WebSocket whose text frames are queued in order (parsed JSON)."""

    def __init__(self, ws):
        self.ws, self.frames, self.closed = ws, asyncio.Queue(), asyncio.Event()
        self.seen = []
        self.close_code = None
        self.task = asyncio.create_task(self.reader())

    async def reader(self):
        try:
            async for msg in self.ws:
                try:
                    f = json.loads(msg)
                except ValueError:
                    f = {"<unparsable>": msg}
                self.seen.append(f)
                await self.frames.put(f)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()

    async def close(self):
        await wsgw.close_ws(self.ws, self.closed)


class Runner:
    def __init__(self, start_gateway, path):
        self.start_gateway, self.path = start_gateway, path
        self.gw, self.ws, self.env, self.mqtt, self.reply = None, {}, {}, None, None
        self.secret = None

    def fail(self, n, step, why):
        raise Failure(f"{self.path}:{n}: {step}\n  {why}")

    def gateway(self, opts=()):
        kw = dict(o.split("=", 1) for o in opts)
        self.secret = kw.get("jwt_hs256_secret") or kw.get("telegraphy_token_secret")
        self.gw = self.start_gateway(**kw)

    async def run(self):
        with open(self.path) as f:
            lines = f.read().split("\n")
        try:
            for n, line in enumerate(lines, 1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                verb, _, rest = line.strip().partition(" ")
                if verb != "gateway" and self.gw is None:
                    self.gateway()
                await self.step(n, line.strip(), verb, rest.strip())
        finally:
            await asyncio.gather(*(c.close() for c in self.ws.values()), return_exceptions=True)

    async def step(self, n, line, verb, rest):
        if verb == "gateway":
            self.gateway(shlex.split(rest))
        elif verb == "jwt":
            name, claims = rest.split(" ", 1)
            body = json.loads(substitute(claims, self.env))
            body.setdefault("exp", int(time.time()) + 300)
            self.env[name] = pyjwt.encode(body, self.secret, algorithm="HS256")
        elif verb == "ws-connect":
            name, path = rest.split(" ", 1)
            ws = await websockets.connect(f"ws://127.0.0.1:{self.gw.ws_port}{path}",
                                          ping_interval=None, compression=None, open_timeout=5,
                                          close_timeout=1, max_size=None)
            self.ws[name] = WsClient(ws)
        elif verb == "ws-send":
            name, text = rest.split(" ", 1)
            await self.ws[name].ws.send(substitute(text, self.env))
        elif verb == "ws-expect":
            name, text = rest.split(" ", 1)
            c = self.ws[name]
            try:
                got = await asyncio.wait_for(c.frames.get(), TIMEOUT)
            except asyncio.TimeoutError:
                self.fail(n, line, f"no frame within {TIMEOUT}s (closed: {c.closed.is_set()}, "
                          f"code {c.close_code}); frames so far: {c.seen[-8:]}")
            problems = match(json.loads(text), got, self.env)
            if problems:
                self.fail(n, line, f"got {json.dumps(got)}: " + "; ".join(problems))
        elif verb == "ws-none":
            name, within = rest.split(" ", 1)
            await asyncio.sleep(float(within))
            c = self.ws[name]
            if not c.frames.empty():
                self.fail(n, line, f"unexpected frame {c.frames.get_nowait()}")
        elif verb == "ws-closed":
            name, code = rest.split(" ", 1)
            c = self.ws[name]
            try:
                await asyncio.wait_for(c.closed.wait(), 5)
            except asyncio.TimeoutError:
                self.fail(n, line, "still open after 5 s")
            if not c.frames.empty():
                self.fail(n, line, f"unread frame before the close: {c.frames.get_nowait()}")
            if c.close_code != int(code):
                self.fail(n, line, f"close code {c.close_code}")
        elif verb == "mqtt-sub":
            if self.mqtt is None:
                self.mqtt = self.gw.mqtt()
            self.mqtt.subscribe(substitute(rest, self.env))
        elif verb == "mqtt-pub":
            topic, payload = rest.split(" ", 1)
            await asyncio.to_thread(self.gw.mosquitto_pub, substitute(topic, self.env),
                                    substitute(payload, self.env))
        elif verb == "mqtt-expect":
            topic, text = rest.split(" ", 1)
            topic = substitute(topic, self.env)
            try:
                m = await self.mqtt.take(lambda m: m.topic == topic, TIMEOUT, f"message on {topic}")
            except AssertionError as e:
                self.fail(n, line, str(e))
            try:
                got = json.loads(m.payload)
            except ValueError:
                got = m.payload.decode("utf-8", "replace")
            problems = match(json.loads(text), got, self.env)
            if problems:
                self.fail(n, line, f"got {m!r}: " + "; ".join(problems))
        elif verb == "http":
            parts = rest.split(" ", 2)
            method, path = parts[0], substitute(parts[1], self.env)
            body = substitute(parts[2], self.env).encode() if len(parts) > 2 else None
            headers = {"Content-Type": "application/json"}
            if self.env.get("bearer"):
                headers["Authorization"] = f"Bearer {self.env['bearer']}"
            # answered at http-expect: steps between run while it waits (an emit
            # with require-ack is answered once the listeners ACK)
            self.reply = asyncio.create_task(wsgw.http(self.gw.ws_port, method, path, body=body,
                                                       headers=headers))
        elif verb == "http-expect":
            status, _, text = rest.partition(" ")
            r = await self.reply
            if r.status != int(status):
                self.fail(n, line, f"got {r!r}")
            if text:
                problems = match(json.loads(text), r.json, self.env)
                if problems:
                    self.fail(n, line, f"got {r!r}: " + "; ".join(problems))
        elif verb == "set":
            name, value = rest.split(" ", 1)
            self.env[name] = value
        else:
            self.fail(n, line, f"unknown step {verb!r}")


@pytest.mark.parametrize("case", CASES, ids=[os.path.dirname(c) for c in CASES])
async def test_sequence(start_gateway, case):
    await Runner(start_gateway, os.path.join(GOLDEN, case)).run()


def test_every_dialect_has_sequences():
    dialects = {c.split(os.sep)[0] for c in CASES}
    assert {"wsdo", "op", "telegraphy", "comet"} <= dialects, dialects
