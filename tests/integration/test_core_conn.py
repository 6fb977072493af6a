"""The connection layer of the core: the listener binds exactly listen_address,
long Origin headers fail closed, slow consumers are bounded per client and
gateway-wide (max_queue_bytes, max_total_queue_bytes), and WebSocket pings keep
passive clients alive in every dialect while clients that ignore them go."""
import asyncio
import os
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

import wsgw
from opclient import OpClient
from teleclient import TeleClient
from test_comet_dialect import SECRET as COMET_SECRET, SUB as COMET_SUB, Comet, hs
from wsgw import RawWS, handshake_status, has_id, ws_frame


# --------------------------------------------------------------------------- helpers

def connects(host, port, family=socket.AF_INET):
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect((host, port))
        return True
    except OSError:
        return False


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def listen_line(gw, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(r"wsgw [^:]*: listening on (.*?), broker via", gw.log())
        if m:
            return m.group(1)
        assert time.monotonic() < deadline, f"no startup line in the log:\n{gw.log()[-2000:]}"
        time.sleep(0.05)


def raw_send_text(raw, text, mask=True):
    raw.sock.sendall(ws_frame(1, text.encode(), mask=mask))


def read_until_closed(raw, timeout):
    """Reads every frame (never answering pings) until the server ends the
    connection: (opcodes seen, text payloads, close code, seconds it took)."""
    t0 = time.monotonic()
    ops, texts, code = [], [], None
    raw.sock.settimeout(timeout)
    try:
        while time.monotonic() - t0 < timeout:
            op, payload = raw.read_frame()
            ops.append(op)
            if op == 1:
                texts.append(payload.decode())
            elif op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                break
    except (EOFError, ConnectionResetError, socket.timeout):
        pass
    return ops, texts, code, time.monotonic() - t0


# --------------------------------------------------------------------------- 11.4 listener

async def test_listen_ipv4_literal_is_exact(start_gateway):
    gw = start_gateway()                        # the harness sets listen_address 127.0.0.1
    assert connects("127.0.0.1", gw.ws_port)
    assert not connects("127.0.0.2", gw.ws_port), "127.0.0.2 reached a 127.0.0.1 listener"
    if has_ipv6_loopback():
        assert not connects("::1", gw.ws_port, socket.AF_INET6), "::1 reached a 127.0.0.1 listener"
    assert listen_line(gw) == f"127.0.0.1:{gw.ws_port} (IPv4 only)"


async def test_listen_interface_name(start_gateway):
    gw = start_gateway(listen_address="lo")
    assert connects("127.0.0.1", gw.ws_port)
    assert not connects("127.0.0.2", gw.ws_port)
    assert listen_line(gw) == f"127.0.0.1:{gw.ws_port} (IPv4 only, interface lo)"
    assert (await gw.listen("if")).id


async def test_listen_ipv6_literal(start_gateway):
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    gw = start_gateway(listen_address="::1", wait=False)
    deadline = time.monotonic() + 10
    while not connects("::1", gw.ws_port, socket.AF_INET6):
        assert time.monotonic() < deadline and gw.proc.poll() is None, gw.log()[-2000:]
        await asyncio.sleep(0.1)
    assert not connects("127.0.0.1", gw.ws_port), "127.0.0.1 reached a ::1 listener"
    assert listen_line(gw) == f"[::1]:{gw.ws_port} (IPv6 only)"

    def upgrade():
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(("::1", gw.ws_port))
            return wsgw.ws_handshake(s, gw.ws_port, "/v6/listen")[0]
    assert await asyncio.to_thread(upgrade) == 101


@pytest.mark.parametrize("addr, words", [
    ("nosuchif0", "neither an IPv4 or IPv6 address nor the name of an interface"),
    ("198.51.100.7", "cannot listen on 198.51.100.7"),      # not an address of this host
])
async def test_listen_address_refused(start_gateway, addr, words):
    # mosquitto 2.0 leaks its config when a plugin fails to start (test_core_config.py)
    asan = (os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    gw = start_gateway(listen_address=addr, wait=False, env={"ASAN_OPTIONS": asan})
    rc = gw.wait_exit(10)
    assert rc not in (None, 0), f"broker still running with listen_address {addr}"
    assert words in gw.log(), gw.log()[-2000:]
    assert "not started" in gw.log()


# --------------------------------------------------------------------------- 11.8 Origin

async def test_long_origin_fails_closed(start_gateway):
    gw = start_gateway(origins="https://a.example")
    path = gw.path("o", "listen")
    for n in (1023, 1024, 3000):
        long_origin = "https://a.example" + "x" * (n - len("https://a.example"))
        assert await handshake_status(gw.ws_port, path, origin=long_origin) == 403, n
        r = await gw.emit_get("o", {"x": "1"}, headers={"Origin": long_origin})
        assert r.status == 403 and r.json == {"error": "ORIGIN_NOT_ALLOWED"}, (n, r)
    assert await handshake_status(gw.ws_port, path, origin="https://a.example") == 101


async def test_long_origin_without_allow_list(start_gateway):
    gw = start_gateway()
    assert await handshake_status(gw.ws_port, gw.path("o", "listen"),
                                  origin="https://" + "y" * 3000) == 101


# --------------------------------------------------------------------------- 11.8 queues

async def test_slow_consumer_holds_at_most_max_queue_bytes(start_gateway):
    """What a client that never reads gets before it is cut: its kernel buffers and
    the gateway's queue together stay near max_queue_bytes (the kernel's send buffer
    autotuned to ~4 MB before)."""
    limit = 65536
    gw = start_gateway(max_queue_bytes=limit)
    normal = await gw.listen("q")
    stuck = await asyncio.to_thread(RawWS, gw.ws_port, gw.path("q", "listen"), 4096)
    stuck_id = (await asyncio.to_thread(stuck.read_json))["clientID"]
    await normal.recv_type("PRESENCE:JOINED", 3, has_id(stuck_id))
    for n in range(1, 2001):
        r = await gw.emit_post("q", {"i": n, "pad": "x" * 1000})
        assert r.status == 200, (n, r)
        if n % 10 == 0 and normal.take_now("PRESENCE:LEFT", has_id(stuck_id)):
            break
    else:
        raise AssertionError(f"stuck client still a member after {n} messages")
    total, code = await asyncio.to_thread(stuck.drain, 10)
    # the client's own receive buffer (4 KB asked, the kernel doubles it and more
    # for the window) comes on top of what the server side held
    assert total < limit + 32768, f"a stuck client with max_queue_bytes {limit} got {total} bytes"
    m = re.search(r"closing a slow \S+ client \(max_queue_bytes\): (\d+) frames, (\d+) bytes queued",
                  gw.log())
    assert m, gw.log()[-3000:]
    frames, queued = int(m.group(1)), int(m.group(2))
    assert frames > 0 and frames * 1000 < queued <= limit // 2, m.group(0)
    assert code in (None, 1008)
    for i in range(1, n + 1):
        assert (await normal.recv_type("DATA", 5))["payload"]["i"] == i


async def test_total_queue_cap_cuts_largest(start_gateway):
    gw = start_gateway(max_queue_bytes=4 * 1048576, max_total_queue_bytes=131072)
    normal = await gw.listen("t")
    stuck, ids = [], []
    for _ in range(3):
        raw = await asyncio.to_thread(RawWS, gw.ws_port, gw.path("t", "listen"), 4096)
        stuck.append(raw)
        ids.append((await asyncio.to_thread(raw.read_json))["clientID"])
    for cid in ids:
        await normal.wait_member(cid, 3)
    left = set()
    for n in range(1, 3001):
        r = await gw.emit_post("t", {"i": n, "pad": "x" * 4000})
        assert r.status == 200, (n, r)
        if n % 10 == 0:
            for cid in ids:
                if normal.take_now("PRESENCE:LEFT", has_id(cid)):
                    left.add(cid)
            if len(left) == 3:
                break
    else:
        raise AssertionError(f"only {len(left)} of 3 stuck clients cut after {n} messages")
    log = gw.log()
    cuts = re.findall(r"closing a slow \S+ client \((max_\w+)\): \d+ frames, (\d+) bytes queued, "
                      r"(\d+) bytes queued for all clients", log)
    assert len(cuts) == 3 and all(c[0] == "max_total_queue_bytes" for c in cuts), cuts
    # each cut client held well under its own limit (2 MiB of queue): the gateway-wide
    # cap decided, and the queue cut was the largest one
    assert all(int(c[1]) <= 131072 and int(c[2]) <= 131072 + 8192 for c in cuts), cuts
    for raw in stuck:
        await asyncio.to_thread(raw.drain, 10)
    for i in range(1, n + 1):
        assert (await normal.recv_type("DATA", 5))["payload"]["i"] == i
    assert not normal.closed.is_set()


# --------------------------------------------------------------------------- 12.4 pings

PING_OPTS = dict(idle_timeout=2, ws_ping_interval=0.5)


async def _raw_is_cut_for_silence(gw, path, first_text=None):
    raw = await asyncio.to_thread(RawWS, gw.ws_port, path)
    if first_text:
        raw_send_text(raw, first_text)
    ops, texts, code, took = await asyncio.to_thread(read_until_closed, raw, 8)
    assert ops.count(9) >= 2, f"the gateway sent {ops.count(9)} pings: {ops}"
    assert 1.5 < took < 5, f"a client ignoring pings was cut after {took:.1f}s"
    return texts, code


async def test_pings_keep_wsdo_listener(start_gateway):
    gw = start_gateway(wsdo_ping_interval=100, **PING_OPTS)
    passive = await gw.listen("p")                       # answers pings, sends nothing
    texts, code = await _raw_is_cut_for_silence(gw, gw.path("p", "listen"))
    assert any('"IDLE_TIMEOUT"' in t and "no pong" in t for t in texts), texts
    assert code == 1001
    await asyncio.sleep(2.5)
    assert not passive.closed.is_set(), passive.describe()
    r = await gw.emit_get("p", {"still": "here"})
    assert (await passive.recv_type("DATA", 3))["payload"] == {"still": "here"}
    assert "no pong to the gateway's pings" in gw.log()


async def test_pings_keep_op_client(start_gateway):
    gw = start_gateway(op_anonymous="true", **PING_OPTS)
    c = await OpClient.open(gw)
    r = await c.connect("none")
    assert r["type"] == "success", r
    texts, code = await _raw_is_cut_for_silence(gw, "/pubsub")
    assert any("IDLE_TIMEOUT" in t for t in texts), texts
    assert code == 1001
    await asyncio.sleep(4.5 - 3)
    assert not c.closed.is_set(), c.describe()
    r = await c.request("sub", topics=["still"])
    assert r["type"] == "success", r


async def test_pings_keep_telegraphy_client(start_gateway):
    gw = start_gateway(telegraphy_auth="false", **PING_OPTS)
    c = await TeleClient.open(gw)
    r = await c.connect("")
    assert r["success"] is True, r
    texts, code = await _raw_is_cut_for_silence(gw, "/telegraphy")
    assert any("IDLE_TIMEOUT" in t for t in texts), texts
    assert code == 1001
    await asyncio.sleep(1.5)
    assert not c.closed.is_set(), c.describe()


async def test_pings_keep_comet_client(start_gateway):
    gw = start_gateway(jwt_hs256_secret=COMET_SECRET, comet_hb_idle=1, comet_hb_drop=2,
                       ws_ping_interval=0.5)
    c = await Comet.subscribe(gw, hs("alice"))           # answers pings, never answers HB
    auth = '{"t":"AUTH","auth":{"token":"%s"}}' % hs("bob")
    texts, code = await _raw_is_cut_for_silence(gw, COMET_SUB, auth)
    assert any("HEARTBEAT_TIMEOUT" in t for t in texts), texts
    await asyncio.sleep(1.5)
    assert not c.closed.is_set(), c.describe()


async def test_pings_off(start_gateway):
    """ws_ping_interval 0: no pings, and idle_timeout judges frames alone."""
    gw = start_gateway(idle_timeout=1.5, ws_ping_interval=0, wsdo_ping_interval=100)
    raw = await asyncio.to_thread(RawWS, gw.ws_port, gw.path("n", "listen"))
    ops, texts, code, took = await asyncio.to_thread(read_until_closed, raw, 6)
    assert 9 not in ops, ops
    assert code == 1001 and any("IDLE_TIMEOUT" in t for t in texts), (ops, texts)
    passive = await gw.listen("n")
    assert await passive.wait_closed(4) == 1001


# --------------------------------------------------------------------------- 11.8 masking

# RFC 6455 5.1: a server must close the connection on an unmasked client frame
# (the gateway's own front reads the frames: plugin/front.c).
async def test_unmasked_frame_is_refused(start_gateway):
    gw = start_gateway(ws_ping_interval=0)
    raw = await asyncio.to_thread(RawWS, gw.ws_port, gw.path("m", "listen"))
    await asyncio.to_thread(raw.read_json)                # CONNECTED
    raw_send_text(raw, '{"type":"PONG","payload":{}}', mask=False)
    ops, texts, code, took = await asyncio.to_thread(read_until_closed, raw, 3)
    assert code == 1002, (ops, texts, code)
