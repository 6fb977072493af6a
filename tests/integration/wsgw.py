"""Helpers for the mosquitto_wsgw integration tests: a real broker with the
plugin, WebSocket listeners, HTTP emits and MQTT devices.

Everything talks to 127.0.0.1 only and every wait is bounded.
"""
import asyncio
import base64
import http.client as httpclient
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

import paho.mqtt.client as mqtt
import pytest
import websockets
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

PLUGIN = os.environ.get("WSGW_PLUGIN", "/work/main/build/mosquitto_wsgw.so")
MOSQUITTO = os.environ.get("WSGW_MOSQUITTO", "/usr/sbin/mosquitto")
# ASan, LSan, UBSan (build-asan, scripts/test.sh), TSan (build-tsan, scripts/tsan.sh)
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "FATAL: ThreadSanitizer")

CLIENT_ID_RE = re.compile(r"^client_[A-Za-z0-9]{8}$")
EVENT_ID_RE = re.compile(r"^evt_.{8}$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def frame_shape_problems(frame, own_id=None):
    """What is wrong with a server frame according to the contract (empty = fine)."""
    if not isinstance(frame, dict):
        return [f"not a JSON object: {frame!r}"]
    problems = [f"missing {k}" for k in ("type", "payload", "eventID", "clientID", "latency")
                if k not in frame]
    if "eventID" in frame and not (isinstance(frame["eventID"], str)
                                   and EVENT_ID_RE.match(frame["eventID"])):
        problems.append(f"bad eventID {frame['eventID']!r}")
    if "latency" in frame and not (is_number(frame["latency"]) and frame["latency"] >= 0):
        problems.append(f"bad latency {frame['latency']!r}")
    if own_id is not None and frame.get("clientID") != own_id:
        problems.append(f"clientID {frame.get('clientID')!r} is not the receiver {own_id!r}")
    return problems


def has_id(cid):
    """Frame predicate: a presence frame about `cid`."""
    return lambda f: isinstance(f.get("payload"), dict) and f["payload"].get("clientID") == cid


def members(connected):
    """The members of a CONNECTED frame as sorted {clientID, presence} dicts."""
    return sorted(({"clientID": m["clientID"], "presence": m["presence"]}
                   for m in connected["payload"]["members"]), key=lambda m: m["clientID"])


# --------------------------------------------------------------------------- broker

# WSGW_TEST_OPTS="k=v,k=v": plugin options for every broker of the run, under the
# options a test sets itself. ctest runs some files twice this way.
EXTRA_OPTS = dict(kv.split("=", 1) for kv in os.environ.get("WSGW_TEST_OPTS", "").split(",") if "=" in kv)



def lws_version():
    """libwebsockets' (major, minor) as pkg-config reports it, or (0, 0)."""
    try:
        out = subprocess.run(["pkg-config", "--modversion", "libwebsockets"], capture_output=True,
                             text=True, timeout=10).stdout
        return tuple(int(x) for x in out.split(".")[:2])
    except (OSError, ValueError):
        return (0, 0)


async def close_ws(ws, closed):
    """Closes a client WebSocket (a close frame, or an abort after 2 s) and
    waits for its reader to see the end (the asyncio.Event closed)."""
    try:
        await asyncio.wait_for(ws.close(), 2)
    except (asyncio.TimeoutError, OSError, websockets.WebSocketException):
        ws.transport.abort()
    await closed.wait()

class Broker:
    """One mosquitto process with the plugin, in its own temp dir."""

    def __init__(self, persistence=False, acl=None, plugin=True, env=None, broker_conf=(),
                 passwords=None, **opts):
        self.dir = tempfile.mkdtemp(prefix="wsgw-")  # short: unix socket paths are limited
        self.mqtt_port = self.ws_port = None
        self._pick_ports()
        self.sock = os.path.join(self.dir, "gw.sock")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.log_path = os.path.join(self.dir, "broker.log")
        self.persistence, self.acl, self.plugin = persistence, acl, plugin
        self.passwords = passwords  # {username: password}: a password_file
        self.env = env or {}  # extra environment for the broker process
        self.broker_conf = list(broker_conf)  # extra mosquitto.conf lines
        self.opts = {"broker_socket": self.sock, "listen_port": "<ws_port>",
                     "listen_address": "127.0.0.1", "gateway_id": "test-gw"}
        self.opts.update(EXTRA_OPTS)  # a whole run in another mode (tests/CMakeLists.txt)
        self.opts.update(opts)
        self.opts = {k: v for k, v in self.opts.items() if v is not None}
        self.proc = None
        self.stopped_by_harness = False
        self.runs = 0
        self.mqtt_clients = []

    def _pick_ports(self):
        ports = set()
        while len(ports) < 2:
            ports.add(free_port())
        self.mqtt_port, self.ws_port = sorted(ports)

    @property
    def prefix(self):
        """URL prefix of the dialect (wsdo_mount without trailing slash)."""
        return str(self.opts.get("wsdo_mount", "/")).rstrip("/")

    def write_conf(self, plugin):
        lines = [f"listener {self.mqtt_port} 127.0.0.1", f"listener 0 {self.sock}",
                 "allow_anonymous true", "log_dest stderr", "log_type all"]
        if os.geteuid() == 0:
            lines.append("user root")  # mosquitto would otherwise drop to 'mosquitto'
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/",
                      "autosave_interval 1"]
        else:
            lines.append("persistence false")
        lines += self.broker_conf
        if self.passwords:
            pw_path = os.path.join(self.dir, "passwd")
            open(pw_path, "w").close()
            for user, pw in self.passwords.items():
                subprocess.run(["mosquitto_passwd", "-b", pw_path, user, pw], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            lines.append(f"password_file {pw_path}")
        if self.acl is not None:
            acl_path = os.path.join(self.dir, "acl")
            with open(acl_path, "w") as f:
                f.write(self.acl)
            lines.append(f"acl_file {acl_path}")
        if plugin:
            lines.append(f"plugin {PLUGIN}")
            ports = {"<ws_port>": self.ws_port, "<mqtt_port>": self.mqtt_port}
            lines += [f"plugin_opt_{k} {ports.get(v, v)}" for k, v in self.opts.items()]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, wait=True, plugin=None):
        plugin = self.plugin if plugin is None else plugin
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        for attempt in range(3):
            self._spawn(plugin)
            if not wait:
                return self
            try:
                self.wait_ready(plugin)
                return self
            except AssertionError:
                # another process took a port between free_port() and the broker's bind
                log = self.log()
                if self.runs > 1 or attempt == 2 or not ("Address already in use" in log or
                                                         "(-1 98)" in log):
                    raise
                self.stop()
                self.note("port taken: retrying with other ports")
                self.runs = 0
                self._pick_ports()

    def _spawn(self, plugin):
        self.write_conf(plugin)
        if "libtsan" in os.environ.get("WSGW_PRELOAD", ""):
            with open(self.conf) as f:
                if any(line.startswith("connection ") for line in f):
                    # Mosquitto 2.0.11's bridge dies (SIGSEGV) at its first
                    # connect with libtsan preloaded, without the plugin too.
                    pytest.skip("a bridge under ThreadSanitizer: mosquitto's bridge crashes there")
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        env = dict(os.environ)
        if os.environ.get("WSGW_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["WSGW_PRELOAD"]
        env.update(self.env)
        self.runs += 1
        self.stopped_by_harness = False
        with open(self.log_path, "ab") as log:
            log.write(f"===== harness: start #{self.runs} (plugin={plugin}) =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdout=log,
                                         stderr=log, env=env, cwd=self.dir)

    def wait_ready(self, plugin=True, timeout=10.0):
        deadline = time.monotonic() + timeout
        ports = [self.mqtt_port] + ([self.ws_port] if plugin else [])
        last = "ports not open"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"broker exited with {self.proc.returncode}:\n{self.log()}")
            if all(port_open(p) for p in ports):
                if not plugin:
                    return
                # the HTTP side may be up before the core MQTT session: probe an emit
                try:
                    r = http_request(self.ws_port, "GET", f"{self.prefix}/__probe__/emit?probe=1",
                                     timeout=2)
                    if r.status == 200:
                        return
                    last = f"probe emit answered {r.status} {r.raw[:200]!r}"
                except OSError as e:
                    last = f"probe emit failed: {e!r}"
            time.sleep(0.05)
        raise AssertionError(f"broker not ready after {timeout}s ({last}):\n{self.log()}")

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def note(self, text):
        with open(self.log_path, "ab") as log:
            log.write(f"===== harness: {text} =====\n".encode())

    def unexpected_exit(self):
        """The exit code if the broker exited without the harness stopping it, else None."""
        if self.proc is None or self.stopped_by_harness:
            return None
        return self.proc.poll()

    def _drop_mqtt_clients(self):
        for c in self.mqtt_clients:
            c.close()
        self.mqtt_clients = []

    def stop(self, timeout=15):
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        self._drop_mqtt_clients()
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.stopped_by_harness = True
        self.note("SIGTERM")
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.note(f"SIGKILL after {timeout}s of SIGTERM")
            self.proc.kill()
            rc = self.proc.wait()
        return rc

    def kill9(self):
        self._drop_mqtt_clients()
        self.stopped_by_harness = True
        self.note("kill -9")
        self.proc.kill()
        self.proc.wait()

    def restart(self, plugin=None):
        self.stop()
        return self.start(plugin=plugin)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=300):
        return "\n".join(self.log().splitlines()[-lines:])

    def sanitizer_errors(self):
        return [m for m in SANITIZER_MARKERS if m in self.log()]

    def cleanup(self):
        if not os.environ.get("WSGW_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- conveniences ------------------------------------------------------------

    def path(self, chan, route):
        return f"{self.prefix}/{chan}/{route}"

    async def listen(self, chan, **kw):
        return await Listener.open(self.ws_port, self.path(chan, "listen"), **kw)

    async def listeners(self, chan, n, **kw):
        """Open n listeners one after the other; return once the first one has seen
        every later one join (so the gateway's presence mirror knows all of them)."""
        ls = []
        for _ in range(n):
            ls.append(await self.listen(chan, **kw))
        for other in ls[1:]:
            await ls[0].recv_type("PRESENCE:JOINED", 5, has_id(other.id))
        return ls

    async def emit_get(self, chan, params=(), **kw):
        q = urllib.parse.urlencode(params)
        return await http(self.ws_port, "GET", self.path(chan, "emit") + (f"?{q}" if q else ""),
                          **kw)

    async def emit_post(self, chan, value, params=(), raw=None, **kw):
        q = urllib.parse.urlencode(params)
        body = raw if raw is not None else json.dumps(value).encode()
        return await http(self.ws_port, "POST", self.path(chan, "emit") + (f"?{q}" if q else ""),
                          body=body, headers={"Content-Type": "application/json"}, **kw)

    def mqtt(self, **kw):
        c = Mqtt(self.mqtt_port, **kw)
        self.mqtt_clients.append(c)
        return c

    def mosquitto_pub(self, topic, message, *args):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.mqtt_port),
                        "-q", "1", "-t", topic, "-m", message, *args],
                       check=True, timeout=10)


# --------------------------------------------------------------------------- HTTP

class Response:
    def __init__(self, status, headers, raw, elapsed):
        self.status, self.headers, self.raw, self.elapsed = status, headers, raw, elapsed
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<HTTP {self.status} {self.raw[:300]!r} after {self.elapsed:.2f}s>"


def http_request(port, method, path, body=None, headers=None, timeout=10):
    t0 = time.monotonic()
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        raw = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, raw,
                        time.monotonic() - t0)
    finally:
        conn.close()


async def http(port, method, path, **kw):
    return await asyncio.to_thread(http_request, port, method, path, **kw)


# --------------------------------------------------------------------------- WebSocket

OPEN_LISTENERS = []  # closed by conftest after each test


class Listener:
    """A websockets.do listener. Incoming frames are buffered; recv_type() takes the
    first unread frame of a type (so PINGs and other frames are skipped, not lost)."""

    def __init__(self, ws, auto_pong):
        self.ws, self.auto_pong = ws, auto_pong
        self.frames = []     # every frame received, in order (parsed JSON or raw)
        self.unread = []
        self.close_code = None
        self.closed = asyncio.Event()
        self._new = asyncio.Event()
        self.id = None
        self.connected = None
        self._task = asyncio.create_task(self._reader())

    @classmethod
    async def open(cls, port, path, *, origin=None, auto_pong=False, wait_connected=True,
                   timeout=5):
        ws = await websockets.connect(f"ws://127.0.0.1:{port}{path}", origin=origin,
                                      ping_interval=None, compression=None, open_timeout=timeout,
                                      close_timeout=1, max_size=None)
        self = cls(ws, auto_pong)
        OPEN_LISTENERS.append(self)
        if wait_connected:
            self.connected = await self.recv_type("CONNECTED", timeout)
            self.id = self.connected["clientID"]
        return self

    async def _reader(self):
        try:
            async for msg in self.ws:
                try:
                    frame = json.loads(msg)
                except (ValueError, TypeError):
                    frame = {"type": "<unparsable>", "raw": msg}
                if not isinstance(frame, dict):
                    frame = {"type": "<not an object>", "raw": frame}
                self.frames.append(frame)
                self.unread.append(frame)
                self._new.set()
                if self.auto_pong and frame.get("type") == "PING":
                    await self.send({"type": "PONG", "payload": {}})
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            self._new.set()

    def take_now(self, type_, pred=None):
        """The first unread frame of that type (consumed), or None: does not wait."""
        for i, f in enumerate(self.unread):
            if f.get("type") == type_ and (pred is None or pred(f)):
                return self.unread.pop(i)
        return None

    def describe(self, last=12):
        shown = [json.dumps(f)[:300] for f in self.frames[-last:]]
        return (f"listener {self.id}: close_code={self.close_code}, "
                f"{len(self.frames)} frames, last: " + "\n  ".join([""] + shown))

    async def recv_type(self, type_, timeout=3.0, pred=None):
        deadline = time.monotonic() + timeout
        while True:
            self._new.clear()
            frame = self.take_now(type_, pred)
            if frame is not None:
                return frame
            left = deadline - time.monotonic()
            if self.closed.is_set() or left <= 0:
                why = "connection closed" if self.closed.is_set() else f"timeout {timeout}s"
                raise AssertionError(f"no {type_} frame ({why}); {self.describe()}")
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def expect_no_frame(self, type_, within=1.0, pred=None):
        await asyncio.sleep(within)
        frame = self.take_now(type_, pred)
        assert frame is None, f"unexpected {type_} frame {frame}; {self.describe()}"

    async def recv_error(self, code, timeout=3.0):
        f = await self.recv_type("ERROR", timeout)
        assert f["payload"].get("code") == code, f"expected ERROR {code}, got {f}"
        assert isinstance(f["payload"].get("message"), str), f
        return f

    async def wait_member(self, member_id, timeout=3.0):
        """Return once `member_id` is a member: listed in CONNECTED or JOINED since."""
        if all(m["clientID"] != member_id for m in members(self.connected)):
            await self.recv_type("PRESENCE:JOINED", timeout, has_id(member_id))

    async def send(self, obj):
        await self.ws.send(json.dumps(obj))

    async def send_raw(self, data):
        await self.ws.send(data)

    async def wait_closed(self, timeout=5.0):
        try:
            await asyncio.wait_for(self.closed.wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"connection not closed within {timeout}s; {self.describe()}")
        return self.close_code

    async def close(self):
        await close_ws(self.ws, self.closed)


async def close_all_listeners():
    ls = list(OPEN_LISTENERS)
    OPEN_LISTENERS.clear()
    await asyncio.gather(*(l.close() for l in ls), return_exceptions=True)


def ws_frame(opcode, payload, fin=True, rsv=0, mask=True):
    """A client frame as a raw socket sends it; mask=False makes the unmasked frame
    RFC 6455 forbids, rsv sets reserved bits (0x40, 0x20, 0x10)."""
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_handshake_head(sock, port, path, origin=None):
    """Send a WebSocket upgrade on `sock`; return (HTTP status, {header: value} with
    lower-case names, bytes after the head). Done by hand: the status of a refusal
    is wanted even if its status line says HTTP/1.0, which the websockets client
    will not parse."""
    key = base64.b64encode(os.urandom(16)).decode()
    extra = f"Origin: {origin}\r\n" if origin else ""
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")
                 .encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert len(parts) >= 2 and parts[1].isdigit(), f"no HTTP response to the upgrade: {buf!r}"
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(parts[1]), headers, rest


def ws_handshake(sock, port, path, origin=None):
    """Send a WebSocket upgrade on `sock`; return (HTTP status, bytes after the head)."""
    status, _, rest = ws_handshake_head(sock, port, path, origin)
    return status, rest


def _handshake_status(port, path, origin):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        return ws_handshake(sock, port, path, origin)[0]


async def handshake_status(port, path, origin=None):
    """Try a WebSocket upgrade; return 101 on success, else the refusal's HTTP status."""
    return await asyncio.to_thread(_handshake_status, port, path, origin)


class RawWS:
    """A WebSocket client on a plain blocking socket, for cutting TCP and for not reading."""

    def __init__(self, port, path, rcvbuf=None, timeout=5):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        status, self.buf = ws_handshake(self.sock, port, path)
        assert status == 101, f"handshake refused: {status}"

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def read_frame(self):
        """(opcode, payload) of the next server frame (servers do not mask)."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, payload

    def read_json(self):
        while True:
            op, payload = self.read_frame()
            if op == 1:
                return json.loads(payload)

    def drain(self, timeout):
        """Read until the server ends the connection; return (bytes read, close code or
        None). Raises AssertionError if the connection is still open after `timeout`."""
        deadline, total, data = time.monotonic() + timeout, 0, bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"server did not close the connection within "
                                     f"{timeout}s ({total} bytes read)")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            except socket.timeout:
                continue
            if not chunk:
                break
            total += len(chunk)
            data += chunk[-65536:]
            del data[:-131072]
        code = None
        i = data.rfind(b"\x88\x02")  # a close frame with a 2-byte code, if any
        if i >= 0 and len(data) >= i + 4:
            code = struct.unpack("!H", data[i + 2:i + 4])[0]
        return total, code

    def cut(self, rst=True):
        if rst:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


# --------------------------------------------------------------------------- MQTT

class Msg:
    def __init__(self, m):
        self.topic, self.payload, self.retain = m.topic, m.payload, bool(m.retain)
        props = getattr(m, "properties", None)
        self.user = dict(getattr(props, "UserProperty", []) or [])
        self.expiry = getattr(props, "MessageExpiryInterval", None)

    def json(self):
        return json.loads(self.payload)

    def __repr__(self):
        return (f"<{self.topic} retain={self.retain} user={self.user} expiry={self.expiry} "
                f"{self.payload[:200]!r}>")


def cut_broker_session(gw, username, timeout=5):
    """Ends the broker session of the gateway client logged in as username, as
    a failing network would: the gateway's TCP socket to the broker is destroyed
    (ss -K; the broker sees a reset). Needs broker_socket=None,
    broker_host/broker_port (TCP). A plain client can no longer end a gateway
    session by taking over its client id: those ids are reserved."""
    deadline = time.monotonic() + timeout
    while True:
        ports = [line.split(" from ")[1].split(" as ")[0].rsplit(":", 1)[1]
                 for line in gw.log().splitlines()
                 if "New client connected from 127.0.0.1:" in line and f"u'{username}'" in line]
        if ports or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert ports, f"no broker session of {username} in the log"
    r = subprocess.run(["ss", "-K", "-t", "src", "127.0.0.1", "sport", "=", ports[-1],
                        "dport", "=", str(gw.mqtt_port)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and ports[-1] in r.stdout, (r.stdout, r.stderr)


def connack_code(port, client_id, username=None, password=None, timeout=5):
    """The CONNACK reason code a paho MQTT v5 client gets (0 = accepted, 135 =
    not authorized)."""
    got = []
    done = threading.Event()
    c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
    if username is not None:
        c.username_pw_set(username, password)

    def on_connect(c, u, f, rc, p=None):
        got.append(getattr(rc, "value", rc))
        done.set()
    c.on_connect = on_connect
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    try:
        assert done.wait(timeout), f"no CONNACK for {client_id}"
    finally:
        c.disconnect()
        c.loop_stop()
    return got[0]


class Mqtt:
    """A paho MQTT v5 device. Messages are buffered; take() consumes the first match."""

    def __init__(self, port, client_id=None, username=None, password=None):
        self.c = mqtt.Client(client_id=client_id or f"dev-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        if username:
            self.c.username_pw_set(username, password)
        self.lock = threading.Lock()
        self.all, self.unread = [], []
        self.acks = {}
        self._connected = threading.Event()
        self.c.on_connect = lambda c, u, f, rc, p=None: self._connected.set()
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        assert self._connected.wait(5), "MQTT device could not connect"

    def _on_message(self, c, u, m):
        with self.lock:
            msg = Msg(m)
            self.all.append(msg)
            self.unread.append(msg)

    def _on_subscribe(self, c, u, mid, codes, props=None):
        self.acks[mid] = [getattr(rc, "value", rc) for rc in codes]

    def subscribe(self, topic, qos=1):
        rc, mid = self.c.subscribe(topic, options=SubscribeOptions(qos=qos,
                                                                   retainAsPublished=True))
        deadline = time.monotonic() + 5
        while mid not in self.acks and time.monotonic() < deadline:
            time.sleep(0.01)
        assert mid in self.acks, f"no SUBACK for {topic}"
        assert self.acks[mid][0] < 0x80, f"subscription to {topic} refused: {self.acks[mid]}"

    def publish(self, topic, payload, retain=False, qos=1, expiry=None, user=None):
        props = None
        if expiry is not None or user:
            props = Properties(PacketTypes.PUBLISH)
            if expiry is not None:
                props.MessageExpiryInterval = expiry
            if user:
                props.UserProperty = list(user.items())
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=props)
        info.wait_for_publish(5)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def take_now(self, pred):
        with self.lock:
            for i, m in enumerate(self.unread):
                if pred(m):
                    return self.unread.pop(i)
        return None

    async def take(self, pred, timeout=3.0, what="message"):
        deadline = time.monotonic() + timeout
        while True:
            m = self.take_now(pred)
            if m is not None:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout}s; received: {self.all[-15:]}")
            await asyncio.sleep(0.02)

    async def expect_none(self, pred, within=1.0, what="message"):
        await asyncio.sleep(within)
        m = self.take_now(pred)
        assert m is None, f"unexpected {what}: {m}"

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def topic_is(topic):
    return lambda m: m.topic == topic


def entry_of(topic_filter_prefix, cid):
    """MQTT predicate: a retained presence entry below the prefix held by member cid
    (gateways put entries on reusable slots; the member id is the payload's clientID)."""
    def pred(m):
        if not (m.topic.startswith(topic_filter_prefix) and m.retain and m.payload):
            return False
        try:
            return json.loads(m.payload).get("clientID") == cid
        except ValueError:
            return False
    return pred


def holders(state):
    """{clientID: topic} of a final_state()/retained() dict of presence entries."""
    out = {}
    for topic, payload in state.items():
        try:
            out[json.loads(payload).get("clientID")] = topic
        except ValueError:
            pass
    return out


def final_state(msgs):
    """{topic: payload} left by a sequence of (retained) messages: empty ones delete."""
    state = {}
    for m in msgs:
        if m.payload and m.retain:
            state[m.topic] = m.payload
        else:
            state.pop(m.topic, None)
    return state


async def retained(broker, topic_filter, settle=1.0):
    """{topic: payload} of the retained messages a fresh subscriber to topic_filter
    ends up with after `settle` seconds."""
    d = Mqtt(broker.mqtt_port)
    try:
        d.subscribe(topic_filter)
        await asyncio.sleep(settle)
        return final_state(list(d.all))
    finally:
        d.close()
