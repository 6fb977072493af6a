"""Connection bursts and the start of the gateway (docs/ARCHITECTURE.md, "Connecting
to the broker"): many clients opening broker sessions at once all get in, in the
default mode (one broker session per client), and clients arriving before the
gateway's own broker session is up are told to retry (503 NOT_READY), never
accepted into a session that cannot work."""
import asyncio
import json
import os
import shutil
import socket
import tempfile
import threading
import time

import pytest

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


@pytest.mark.parametrize("connect_max", [None, "64"], ids=["paced", "backlog_overflows"])
async def test_wsdo_listen_burst_all_get_in(start_gateway, connect_max):
    # 64 connects in flight overflow the unix socket's backlog of 10: the EAGAINs
    # are retried, and everyone still gets in.
    gw = start_gateway(broker_connect_max=connect_max, **DEFAULT_MODE)
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



async def test_comet_subscribe_burst_all_get_in(start_gateway):
    from test_comet_dialect import Comet, hs, SECRET, SERVICE, api
    gw = start_gateway(jwt_hs256_secret=SECRET, comet_service_token=SERVICE)
    clients = await asyncio.gather(*(Comet.open(gw) for _ in range(BURST)))
    # every socket sends AUTH at once: BURST broker sessions open together
    await asyncio.gather(*(c.auth(hs(f"u{i}")) for i, c in enumerate(clients)))
    results = await asyncio.gather(*(c.recv("HB", 20) for c in clients), return_exceptions=True)
    bad = [r for r in results if isinstance(r, BaseException)]
    assert not bad, f"{len(bad)} of {BURST} Comet sessions did not get in, e.g. {bad[:3]}"
    r = await api(gw, "Publish", {"uid": f"u{BURST - 1}", "evt": "last"})
    assert r.status == 200, r
    assert await clients[-1].push(5) == "last"

# --------------------------------------------------------------------------- start

COMET_SECRET = "burst-test-secret-0123456789abcdef"
COMET_SERVICE = "burst-svc-token"
COMET_SUB = "/comet/Comet/Subscribe"


def slow_start_acl(users=10000):
    """An ACL file that lets everything through and takes the broker a while to parse
    (~0.5 s here): mosquitto loads it after the plugin's init, before it opens its
    listeners, so the gateway's port is open well before the broker can be reached."""
    lines = ["topic readwrite #", "pattern readwrite #"]
    for i in range(users):
        lines += [f"user slowstart{i}", f"topic read slowstart/{i}"]
    return "\n".join(lines) + "\n"


def upgrade(port, path):
    """A WebSocket upgrade by hand: (status, {header: value}, body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        status, headers, body = wsgw.ws_handshake_head(sock, port, path)
        if status != 101:
            n = int(headers.get("content-length", "0"))
            while len(body) < n:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                body += chunk
        return status, headers, body


def assert_not_ready(status, headers, body, what):
    assert status == 503, f"{what}: {status} {body!r}"
    assert headers.get("retry-after") == "1", f"{what}: no Retry-After: {headers}"
    err = json.loads(body)
    assert err["error"] == "NOT_READY" and isinstance(err["message"], str), f"{what}: {body!r}"


async def test_clients_at_start_get_not_ready_or_a_working_session(start_gateway):
    """From the moment the gateway's port opens, every attempt is either refused with
    503 NOT_READY (and Retry-After) or served completely: a Comet session that is told
    it is subscribed gets the Events published right after, and the API works."""
    from test_comet_dialect import Comet, hs, SECRET, SERVICE, api
    gw = start_gateway(wait=False, acl=slow_start_acl(), jwt_hs256_secret=SECRET,
                       comet_service_token=SERVICE)
    deadline = time.monotonic() + 20
    while not wsgw.port_open(gw.ws_port):
        assert gw.proc.poll() is None, gw.log()
        assert time.monotonic() < deadline, "the gateway's port did not open"
        await asyncio.sleep(0.005)
    not_ready = 0
    while True:
        assert time.monotonic() < deadline, f"still not ready after 20 s ({not_ready} refusals)"
        status, headers, body = await asyncio.to_thread(upgrade, gw.ws_port, COMET_SUB)
        if status == 101:
            break
        assert_not_ready(status, headers, body, "upgrade")
        r = await api(gw, "Publish", {"uid": "early", "evt": "x"})
        if r.status != 200:
            assert_not_ready(r.status, r.headers, r.raw, "Publish")
        r = await gw.emit_get("early", {"x": "1"})
        if r.status != 200:
            assert_not_ready(r.status, r.headers, r.raw, "emit")
        not_ready += 1
        await asyncio.sleep(0.01)
    # The first session accepted works at once: Events by MQTT and by the API arrive.
    c = await Comet.subscribe(gw, hs("first"))
    gw.mosquitto_pub("wsgw/comet/event", json.dumps({"uid": "first", "evt": "by mqtt"}))
    assert await c.push(5) == "by mqtt"
    r = await api(gw, "Publish", {"uid": "first", "evt": "by api"})
    assert r.status == 200, r
    assert await c.push(5) == "by api"
    # The port opened before the broker's listeners (slow_start_acl): the gate was used.
    assert not_ready > 0, "no NOT_READY seen: the test did not catch the start"
    assert "gateway ready: accepting clients" in gw.log()


class StingyBroker:
    """A unix-socket MQTT 'broker' that serves the first connection (the gateway's core
    session: CONNACK, SUBACKs, PUBACKs) and never accepts another: later sessions sit in its
    backlog (then get EAGAIN) and never see a CONNACK."""

    def __init__(self, path):
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(2)
        self.conn = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.srv.settimeout(0.2)
        while not self.stop.is_set() and self.conn is None:
            try:
                self.conn, _ = self.srv.accept()
            except socket.timeout:
                pass
        if self.conn is None:
            return
        self.conn.settimeout(0.2)
        buf = b""
        while not self.stop.is_set():
            try:
                chunk = self.conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while True:
                # fixed header, remaining length (variable byte integer)
                if len(buf) < 2:
                    break
                n, mult, i = 0, 1, 1
                while i < len(buf) and buf[i] & 0x80:
                    n += (buf[i] & 0x7F) * mult
                    mult *= 128
                    i += 1
                if i >= len(buf):
                    break
                n += buf[i] * mult
                if len(buf) < i + 1 + n:
                    break
                first, body, buf = buf[0], buf[i + 1:i + 1 + n], buf[i + 1 + n:]
                kind = first >> 4
                if kind == 1:                      # CONNECT -> CONNACK, success
                    self.conn.sendall(b"\x20\x03\x00\x00\x00")
                elif kind == 8:                    # SUBSCRIBE -> SUBACK granting QoS 1
                    self.conn.sendall(b"\x90\x04" + body[:2] + b"\x00\x01")
                elif kind == 3 and first & 0x06:   # QoS 1 PUBLISH -> PUBACK
                    tlen = int.from_bytes(body[:2], "big")
                    self.conn.sendall(b"\x40\x02" + body[2 + tlen:4 + tlen])
                elif kind == 12:                   # PINGREQ
                    self.conn.sendall(b"\xd0\x00")

    def close(self):
        self.stop.set()
        self.thread.join(2)
        if self.conn:
            self.conn.close()
        self.srv.close()


async def test_broker_connect_timeout_fails_the_session(start_gateway):
    """Sessions the broker never answers fail after broker_connect_timeout, whether
    their connect was sent (no CONNACK) or still waiting in the queue: the client gets
    the error of a lost broker session, and the gateway goes on."""
    fake_dir = tempfile.mkdtemp(prefix="wsgw-fake-")
    fake = StingyBroker(os.path.join(fake_dir, "b.sock"))
    try:
        gw = start_gateway(broker_socket=fake.path, broker_connect_timeout="1",
                           broker_connect_max="4", **DEFAULT_MODE)
        t0 = time.monotonic()
        ls = await asyncio.gather(*(gw.listen(f"t{i}", wait_connected=False) for i in range(12)))
        for l in ls:
            err = await l.recv_type("ERROR", 6)
            assert err["payload"]["code"] == "BROKER_UNAVAILABLE", err
            assert await l.wait_closed(3) == 1011
        took = time.monotonic() - t0
        assert 1.0 <= took < 6, f"the sessions failed after {took:.1f} s, not broker_connect_timeout (1 s)"
        assert "not connected within broker_connect_timeout" in gw.log()
        assert "no CONNACK from the broker within broker_connect_timeout" in gw.log()
        # the gateway still serves what does not need a client session
        assert (await gw.emit_get("t0", {"x": "1"})).status == 200
    finally:
        fake.close()
        shutil.rmtree(fake_dir, ignore_errors=True)
