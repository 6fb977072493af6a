"""plugin_opt_trusted_proxies: Forwarded / X-Forwarded-For name the client
only when the connection comes from a trusted proxy (mapping/proxy.c); the
address they give is the one logs and Telegraphy's same-host RECONNECT use."""
import asyncio
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time

import pytest
import websockets

import wsgw
from teleclient import TeleClient, issue_token
from test_web_tls import Pki

SECRET = "tg-secret-0123456789abcdef"


def header_kw(headers):
    """Request headers for websockets.connect: websockets 14 (Debian 13) took
    the legacy client's extra_headers as additional_headers."""
    new = int(websockets.__version__.split(".")[0]) >= 14
    return {"additional_headers" if new else "extra_headers": headers or {}}


def gateway(start_gateway, **opts):
    return start_gateway(telegraphy_token_secret=SECRET, telegraphy_events="chat.message", **opts)


async def tele(gw, headers=None, local_host=None):
    kw = {"local_addr": (local_host, 0)} if local_host else {}
    ws = await websockets.connect(f"ws://127.0.0.1:{gw.ws_port}/telegraphy", ping_interval=None,
                                  close_timeout=1, **header_kw(headers), **kw)
    c = TeleClient(ws)
    wsgw.OPEN_LISTENERS.append(c)
    return c


async def session_of(gw, headers=None, local_host=None):
    """A Telegraphy session connected, then dropped: its session token."""
    c = await tele(gw, headers, local_host)
    token = (await issue_token(gw, SECRET, user="alice")).json["auth_token"]
    r = await c.connect(token)
    assert r["status"] == "CONNECTED", r
    c.abort()
    await c.closed.wait()
    return r["data"]["session_token"]


async def reconnect(gw, session, headers=None, local_host=None):
    c = await tele(gw, headers, local_host)
    r = await c.call("RECONNECT", {"session_token": session})
    c.abort()
    await c.closed.wait()
    return r["status"]


async def refused_connect_logs(gw, headers=None, local_host=None):
    """The address the log names for a CONNECT refused from this client."""
    c = await tele(gw, headers, local_host)
    n = len(re.findall(r"telegraphy CONNECT from \S+ refused", gw.log()))
    r = await c.connect("not-a-token")
    assert r["status"] == "INVALID_TOKEN", r
    for _ in range(100):
        found = re.findall(r"telegraphy CONNECT from (\S+) refused", gw.log())
        if len(found) > n:
            return found[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no refusal line:\n{gw.log()[-2000:]}")


async def scheme_logged(gw, headers=None, local_host=None):
    """(address, scheme) of the connect line the gateway logs for a new client."""
    pat = r"Telegraphy client from (\S+) over (\S+)"
    n = len(re.findall(pat, gw.log()))
    c = await tele(gw, headers, local_host)
    try:
        for _ in range(100):
            found = re.findall(pat, gw.log())
            if len(found) > n:
                return found[-1]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no connect line:\n{gw.log()[-2000:]}")
    finally:
        c.abort()
        await c.closed.wait()


async def test_headers_of_an_untrusted_peer_are_ignored(start_gateway):
    gw = gateway(start_gateway, trusted_proxies="10.9.9.9 2001:db8::/32")
    forged = {"X-Forwarded-For": "203.0.113.9", "Forwarded": "for=203.0.113.9"}
    assert await refused_connect_logs(gw, forged) == "127.0.0.1"
    # bound to the real address: a forged header does not move it
    session = await session_of(gw, forged)
    assert await reconnect(gw, session, {"X-Forwarded-For": "198.51.100.1"}) == "CONNECTED"
    # nor what it says about the scheme
    assert await scheme_logged(gw, {"X-Forwarded-Proto": "https"}) == ("127.0.0.1", "ws")
    assert await scheme_logged(gw, {"Forwarded": "for=203.0.113.9;proto=https"}) == ("127.0.0.1", "ws")


async def test_no_list_no_proxy(start_gateway):
    gw = gateway(start_gateway)
    assert await refused_connect_logs(gw, {"X-Forwarded-For": "203.0.113.9"}) == "127.0.0.1"


async def test_trusted_proxy_names_the_client(start_gateway):
    gw = gateway(start_gateway, trusted_proxies="127.0.0.1")
    assert await refused_connect_logs(gw, {"X-Forwarded-For": "203.0.113.9"}) == "203.0.113.9"
    # the right-most address that is no trusted proxy: what the client wrote left of it is not taken
    xff = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 127.0.0.1"}
    assert await refused_connect_logs(gw, xff) == "203.0.113.9"
    assert await refused_connect_logs(gw, {"Forwarded": 'for="[2001:db8::5]:4711";proto=https'}) == "2001:db8::5"
    # from a peer not on the list (127.0.0.2), the same headers count for nothing
    assert await refused_connect_logs(gw, {"X-Forwarded-For": "203.0.113.9"}, "127.0.0.2") == "127.0.0.2"

    # X-Forwarded-Proto (the nearest proxy's, right-most) or Forwarded proto=: what the client used
    assert await scheme_logged(gw, {"X-Forwarded-For": "203.0.113.9"}) == ("203.0.113.9", "ws")
    assert await scheme_logged(gw, {"X-Forwarded-For": "203.0.113.9",
                                    "X-Forwarded-Proto": "http, https"}) == ("203.0.113.9", "wss")
    assert await scheme_logged(gw, {"X-Forwarded-Proto": "https, http"}) == ("127.0.0.1", "ws")
    assert await scheme_logged(gw, {"Forwarded": "for=203.0.113.9;proto=https"}) == ("203.0.113.9", "wss")
    assert await scheme_logged(gw, {"X-Forwarded-Proto": "https"}, "127.0.0.2") == ("127.0.0.2", "ws")

    # same-host RECONNECT: the host is the client behind the proxy
    session = await session_of(gw, {"X-Forwarded-For": "203.0.113.9"})
    assert await reconnect(gw, session, {"X-Forwarded-For": "198.51.100.1"}) == "INVALID_SESSION"
    assert await reconnect(gw, session) == "INVALID_SESSION"        # the proxy's own address
    assert await reconnect(gw, session, {"X-Forwarded-For": "203.0.113.9"},
                           "127.0.0.2") == "INVALID_SESSION"       # a forged header, untrusted peer
    assert await reconnect(gw, session, {"Forwarded": "for=203.0.113.9"}) == "CONNECTED"


async def test_bad_list_is_refused_at_start(start_gateway):
    # (mosquitto 2.0 does not free its configuration when a plugin fails to
    # start: no leak check, as in test_core_config.py)
    asan = (os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    gw = start_gateway(wait=False, env={"ASAN_OPTIONS": asan}, trusted_proxies="127.0.0.1 proxy.example")
    assert gw.wait_exit(10) not in (None, 0)
    assert 'plugin_opt_trusted_proxies: "proxy.example" is not an IPv4 or IPv6 address' in gw.log()


def nginx_in_front(gw, pki, tmp, port):
    """nginx with docs/deploy/nginx.conf on 127.0.0.1:port (TLS, a
    certificate of pki's CA) in front of gw: the process."""
    cert, key = pki.issue("nginx", "localhost", 0x5005)
    with open(os.path.join(os.path.dirname(__file__), "../../docs/deploy/nginx.conf")) as f:
        conf = f.read()
    for old, new in (("server 127.0.0.1:8080;", f"server 127.0.0.1:{gw.ws_port};"),
                     ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
                     ("listen [::]:443 ssl;", ""),
                     ("/etc/letsencrypt/live/gw.example.com/fullchain.pem", cert),
                     ("/etc/letsencrypt/live/gw.example.com/privkey.pem", key)):
        assert old in conf, old
        conf = conf.replace(old, new)
    os.makedirs(os.path.join(tmp, "logs"))
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(conf)
    cmd = ["nginx", "-p", tmp, "-c", os.path.join(tmp, "nginx.conf"),
           "-g", f"daemon off; pid {tmp}/nginx.pid; error_log {tmp}/logs/error.log;"]
    subprocess.run(cmd + ["-t"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not wsgw.port_open(port):
        assert proc.poll() is None and time.monotonic() < deadline, "nginx did not start"
        time.sleep(0.05)
    return proc


@pytest.mark.skipif(not shutil.which("nginx") or not shutil.which("openssl"), reason="needs nginx and openssl")
async def test_behind_nginx(start_gateway):
    # docs/deploy/nginx.conf as it is: clients reach the gateway through nginx
    # from 127.0.0.2 and 127.0.0.3, nginx connects from 127.0.0.1 (trusted)
    gw = gateway(start_gateway, trusted_proxies="127.0.0.1")
    tmp = tempfile.mkdtemp(prefix="wsgw-nginx-")
    pki = Pki()
    port = wsgw.free_port()
    proc = nginx_in_front(gw, pki, tmp, port)
    ctx = ssl.create_default_context(cafile=pki.ca)

    async def via_nginx(local_host, headers=None):
        ws = await websockets.connect(f"wss://127.0.0.1:{port}/telegraphy", ssl=ctx, ping_interval=None,
                                      close_timeout=1, **header_kw(headers),
                                      local_addr=(local_host, 0))
        c = TeleClient(ws)
        wsgw.OPEN_LISTENERS.append(c)
        return c

    try:
        # forged headers: X-Forwarded-For is appended to, Forwarded removed
        c = await via_nginx("127.0.0.2", {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6"})
        r = await c.connect("not-a-token")
        assert r["status"] == "INVALID_TOKEN", r
        deadline = time.monotonic() + 5
        while "telegraphy CONNECT from 127.0.0.2 refused" not in gw.log():
            assert "from 6.6.6.6" not in gw.log() and time.monotonic() < deadline, gw.log()[-2000:]
            await asyncio.sleep(0.05)

        n = gw.log().count("Telegraphy client from 127.0.0.2 over wss")
        c = await via_nginx("127.0.0.2")
        deadline = time.monotonic() + 5
        while gw.log().count("Telegraphy client from 127.0.0.2 over wss") == n:   # X-Forwarded-Proto
            assert time.monotonic() < deadline, gw.log()[-2000:]
            await asyncio.sleep(0.05)
        token = (await issue_token(gw, SECRET, user="alice")).json["auth_token"]
        r = await c.connect(token)
        assert r["status"] == "CONNECTED", r
        session = r["data"]["session_token"]
        c.abort()
        await c.closed.wait()
        for host, want in (("127.0.0.3", "INVALID_SESSION"), ("127.0.0.2", "CONNECTED")):
            c = await via_nginx(host)
            r = await c.call("RECONNECT", {"session_token": session})
            assert r["status"] == want, (host, r)
            c.abort()
            await c.closed.wait()
    finally:
        proc.terminate()
        proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)
        pki.cleanup()
