"""Connection bursts and the start of the gateway (docs/ARCHITECTURE.md, "Connecting
to the broker"): many clients opening broker sessions at once all get in, in the
default mode (one broker session per client), and clients arriving before the
gateway's own broker session is up are told to retry (503 NOT_READY), never
accepted into a session that cannot work."""
import asyncio
import json
import socket
import time

import websockets

import wsgw
from opclient import OpClient

BURST = 200
DEFAULT_MODE = {"wsdo_shared_sessions": "0"}   # one broker session per listener


async def test_op_connect_burst_all_get_in(start_gateway):
    gw = start_gateway(op_anonymous="true", **DEFAULT_MODE)
    clients = await asyncio.gather(*(OpClient.open(gw) for _ in range(BURST)))
    # Every socket is open: now all of them ask for a broker session at once.
    replies = await asyncio.gather(*(c.connect("none", timeout=20) for c in clients))
    bad = [r for r in replies if r.get("type") != "success"]
    assert not bad, f"{len(bad)} of {BURST} op connects failed, e.g. {bad[:3]}"
    # and they work: one publish reaches a subscriber among them
    r = await clients[0].request("sub", topics=["burst"])
    assert r["type"] == "success", r
    r = await clients[-1].request("pub", topics=["burst"], data={"n": 1})
    assert r["type"] == "success", r
    f = await clients[0].take(lambda f: f.get("op") == "mesg", 5)
    assert f["data"] == {"n": 1}, f


async def test_wsdo_listen_burst_all_get_in(start_gateway):
    gw = start_gateway(**DEFAULT_MODE)
    # One channel each, so that presence adds no N^2 frames to the burst.
    results = await asyncio.gather(*(gw.listen(f"b{i}", timeout=20) for i in range(BURST)),
                                   return_exceptions=True)
    bad = [r for r in results if not isinstance(r, wsgw.Listener)]
    assert not bad, f"{len(bad)} of {BURST} listeners did not get in, e.g. {bad[:3]}"
    assert len({l.id for l in results}) == BURST
    # every one of them has a working broker session
    gw.mqtt().publish("wsgw/wsdo/b7", {"v": 7})
    assert (await results[7].recv_type("DATA", 5))["payload"] == {"v": 7}
    r = await gw.emit_get(f"b{BURST - 1}", {"last": "1"})
    assert r.status == 200, r
    assert (await results[-1].recv_type("DATA", 5))["payload"] == {"last": "1"}
