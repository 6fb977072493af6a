"""TLS on the gateway's listener (plugin_opt_certfile and friends): a CA, a
server and a client certificate made with openssl at run time; python
websockets over wss:// and http.client over https:// trust that CA."""
import asyncio
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time

import pytest
import websockets

import wsgw
from test_dialects_common import DIALECTS, Client

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


class Pki:
    """A CA and certificates it signs, in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="wsgw-pki-")
        self.ca = self.path("ca.pem")
        # the extensions Python 3.13's default context insists on (VERIFY_X509_STRICT)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=wsgw test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-addext", "subjectKeyIdentifier=hash", cwd=self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, cn, serial, server=True):
        """name.pem and name.key, signed by the CA with this serial."""
        ext = self.path(f"{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
            if server:
                f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=self.dir)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-set_serial", str(serial), "-days", "1", "-extfile", ext, "-out", f"{name}.pem",
                cwd=self.dir)
        return self.path(f"{name}.pem"), self.path(f"{name}.key")

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pki():
    p = Pki()
    p.server = p.issue("server", "localhost", 0x1001)
    p.client = p.issue("client", "a client", 0x2002, server=False)
    yield p
    p.cleanup()


def client_ctx(pki, cert=None, max_version=None):
    ctx = ssl.create_default_context(cafile=pki.ca)
    if cert:
        ctx.load_cert_chain(*cert)
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def https(gw, ctx, method, path, body=None, headers=None):
    """(status, parsed JSON body, the server certificate's serial number)."""
    c = http.client.HTTPSConnection("127.0.0.1", gw.ws_port, context=ctx, timeout=5)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        raw = r.read()
        serial = c.sock.getpeercert()["serialNumber"]
        return r.status, json.loads(raw) if raw else None, serial
    finally:
        c.close()


def tls_gateway(start_gateway, pki, ctx=None, **opts):
    """A gateway with TLS, ready: the probe emit answers 200 over https."""
    cert, key = pki.server
    opts.setdefault("certfile", cert)
    opts.setdefault("keyfile", key)
    gw = start_gateway(wait=False, **opts)
    ctx = ctx or client_ctx(pki, pki.client)
    deadline = time.monotonic() + 10
    while True:
        assert gw.proc.poll() is None, gw.log()
        try:
            if https(gw, ctx, "GET", "/__probe__/emit?probe=1")[0] == 200:
                return gw
        except (OSError, ssl.SSLError, http.client.HTTPException):
            pass
        assert time.monotonic() < deadline, gw.log()[-3000:]
        time.sleep(0.05)


async def wss(gw, ctx, path):
    ws = await websockets.connect(f"wss://127.0.0.1:{gw.ws_port}{path}", ssl=ctx, ping_interval=None,
                                  close_timeout=1, max_size=None)
    c = Client(ws)
    wsgw.OPEN_LISTENERS.append(c)
    return c


def refused_start(start_gateway, **opts):
    """The broker exits at start: its log. (mosquitto 2.0 does not free its
    configuration when a plugin fails to start: no leak check, as in
    test_core_config.py.)"""
    asan = (os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    gw = start_gateway(wait=False, env={"ASAN_OPTIONS": asan}, **opts)
    assert gw.wait_exit(10) not in (None, 0), gw.log()
    return gw.log()


async def test_every_dialect_over_wss_and_emit_over_https(start_gateway, pki):
    opts = {}
    for d in DIALECTS:
        opts.update(d.opts)
    gw = tls_gateway(start_gateway, pki, **opts)
    assert f"listening on 127.0.0.1:{gw.ws_port} (IPv4 only) with TLS: https://, wss://" in gw.log()
    assert "wsgw[transport]: TLS: certificate /CN=localhost, serial 1001" in gw.log()
    ctx = client_ctx(pki)
    for d in DIALECTS:
        c = await wss(gw, ctx, d.path)
        await d.join(c)
    # an emit over https reaches a listener on wss://
    listener = await wss(gw, ctx, "/tls/listen")
    await listener.take(lambda f: f.get("type") == "CONNECTED", 5, "CONNECTED")
    status, reply, serial = await asyncio.to_thread(
        https, gw, ctx, "POST", "/tls/emit", json.dumps({"over": "https"}), {"Content-Type": "application/json"})
    assert status == 200 and reply["eventID"] and serial == "1001", reply
    f = await listener.take(lambda f: f.get("type") == "DATA", 5, "DATA")
    assert f["payload"] == {"over": "https"} and f["eventID"] == reply["eventID"], f


async def test_plain_client_on_the_tls_port_fails(start_gateway, pki):
    gw = tls_gateway(start_gateway, pki)
    with pytest.raises((websockets.WebSocketException, OSError, asyncio.TimeoutError)):
        await asyncio.wait_for(websockets.connect(f"ws://127.0.0.1:{gw.ws_port}/tls/listen",
                                                  open_timeout=3), 5)
    # and the listener still serves TLS clients
    c = await wss(gw, client_ctx(pki), "/tls/listen")
    await c.take(lambda f: f.get("type") == "CONNECTED", 5, "CONNECTED")


async def test_tls_version_is_the_minimum(start_gateway, pki):
    gw = tls_gateway(start_gateway, pki, tls_version="tlsv1.3")
    with pytest.raises(ssl.SSLError):
        await wss(gw, client_ctx(pki, max_version=ssl.TLSVersion.TLSv1_2), "/tls/listen")
    c = await wss(gw, client_ctx(pki), "/tls/listen")
    assert c.ws.transport.get_extra_info("ssl_object").version() == "TLSv1.3"
    # the default, tlsv1.2, takes a TLS 1.2 client
    gw2 = tls_gateway(start_gateway, pki)
    c = await wss(gw2, client_ctx(pki, max_version=ssl.TLSVersion.TLSv1_2), "/tls/listen")
    assert c.ws.transport.get_extra_info("ssl_object").version() == "TLSv1.2"


async def test_require_certificate(start_gateway, pki):
    gw = tls_gateway(start_gateway, pki, cafile=pki.ca, require_certificate="true")
    # no certificate: the handshake (TLS 1.2) or the first read (TLS 1.3) fails
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(pki, max_version=v)
        with pytest.raises((ssl.SSLError, OSError, websockets.WebSocketException)):
            await asyncio.wait_for(wss(gw, ctx, "/tls/listen"), 5)
    # one the CA did not sign: refused as well
    other = Pki()
    try:
        stranger = other.issue("client", "a stranger", 0x3003, server=False)
        with pytest.raises((ssl.SSLError, OSError, websockets.WebSocketException)):
            await asyncio.wait_for(wss(gw, client_ctx(pki, stranger), "/tls/listen"), 5)
    finally:
        other.cleanup()
    c = await wss(gw, client_ctx(pki, pki.client), "/tls/listen")
    await c.take(lambda f: f.get("type") == "CONNECTED", 5, "CONNECTED")


async def test_capath(start_gateway, pki):
    hashed = tempfile.mkdtemp(prefix="wsgw-capath-")
    try:
        shutil.copy(pki.ca, os.path.join(hashed, "ca.pem"))
        subprocess.run(["openssl", "rehash", hashed], check=True, stdout=subprocess.DEVNULL)
        gw = tls_gateway(start_gateway, pki, capath=hashed, require_certificate="true")
        with pytest.raises((ssl.SSLError, OSError, websockets.WebSocketException)):
            await asyncio.wait_for(wss(gw, client_ctx(pki, max_version=ssl.TLSVersion.TLSv1_2), "/tls/listen"), 5)
        c = await wss(gw, client_ctx(pki, pki.client), "/tls/listen")
        await c.take(lambda f: f.get("type") == "CONNECTED", 5, "CONNECTED")
    finally:
        shutil.rmtree(hashed, ignore_errors=True)


async def test_sighup_reloads_the_certificate(start_gateway, pki):
    # certfile and keyfile are read again on SIGHUP: a renewal in place
    live = tempfile.mkdtemp(prefix="wsgw-live-")
    try:
        cert, key = os.path.join(live, "cert.pem"), os.path.join(live, "key.pem")
        shutil.copy(pki.server[0], cert)
        shutil.copy(pki.server[1], key)
        gw = tls_gateway(start_gateway, pki, certfile=cert, keyfile=key)
        ctx = client_ctx(pki)
        assert (await asyncio.to_thread(https, gw, ctx, "GET", "/tls/emit?x=1"))[2] == "1001"
        up = await wss(gw, ctx, "/tls/listen")
        await up.take(lambda f: f.get("type") == "CONNECTED", 5, "CONNECTED")

        renewed = pki.issue("renewed", "localhost", 0x4004)
        shutil.copy(renewed[0], cert)
        shutil.copy(renewed[1], key)
        gw.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while (await asyncio.to_thread(https, gw, ctx, "GET", "/tls/emit?x=1"))[2] != "4004":
            assert time.monotonic() < deadline, gw.log()[-3000:]
            await asyncio.sleep(0.1)
        assert "reload: TLS certificate /CN=localhost, serial 4004" in gw.log()
        # a connection made before the reload goes on
        assert not up.closed.is_set()
        status, reply, _ = await asyncio.to_thread(https, gw, ctx, "GET", "/tls/emit?after=reload")
        f = await up.take(lambda f: f.get("eventID") == reply["eventID"], 5, "the emit after the reload")
        assert f["payload"] == {"after": "reload"}, f

        # a broken renewal (a key of another certificate) is refused: the certificate in use stays
        shutil.copy(pki.client[1], key)
        gw.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reload: the certificate in use stays" not in gw.log():
            assert time.monotonic() < deadline, gw.log()[-3000:]
            await asyncio.sleep(0.05)
        assert "is not the key of the certificate" in gw.log()
        assert (await asyncio.to_thread(https, gw, ctx, "GET", "/tls/emit?x=1"))[2] == "4004"
        assert gw.proc.poll() is None
    finally:
        shutil.rmtree(live, ignore_errors=True)


def test_bad_tls_configuration_is_refused_at_start(start_gateway, pki):
    cert, key = pki.server
    log = refused_start(start_gateway, certfile=cert)
    assert "plugin_opt_certfile and plugin_opt_keyfile go together" in log
    log = refused_start(start_gateway, certfile=pki.path("missing.pem"), keyfile=key)
    assert f"plugin_opt_certfile: cannot read {pki.path('missing.pem')}: No such file or directory" in log
    log = refused_start(start_gateway, certfile=cert, keyfile=pki.client[1])
    assert "is not the key of the certificate in" in log
    log = refused_start(start_gateway, certfile=cert, keyfile=pki.ca)
    assert "holds no PEM private key" in log
    log = refused_start(start_gateway, certfile=cert, keyfile=key, ciphers="NO-SUCH-CIPHER")
    assert 'plugin_opt_ciphers: "NO-SUCH-CIPHER" names no cipher' in log
    log = refused_start(start_gateway, certfile=cert, keyfile=key, require_certificate="true")
    assert "plugin_opt_require_certificate needs plugin_opt_cafile or plugin_opt_capath" in log
    log = refused_start(start_gateway, certfile=cert, keyfile=key, cafile=key, require_certificate="true")
    assert f"plugin_opt_cafile: {key} holds no PEM certificate" in log
    log = refused_start(start_gateway, cafile=pki.ca)
    assert "plugin_opt_cafile is a TLS option" in log
    # an encrypted key: no passphrase prompt, a sentence
    openssl("pkey", "-in", key, "-aes256", "-passout", "pass:secret", "-out", "enc.key", cwd=pki.dir)
    log = refused_start(start_gateway, certfile=cert, keyfile=pki.path("enc.key"))
    assert "encrypted with a passphrase (not supported" in log


def spki_hash(cert_path):
    """base64 of the SHA-256 of the certificate's public key, what Chromium's
    --ignore-certificate-errors-spki-list takes (it has no flag for a CA file)."""
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", cert_path],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         check=True, capture_output=True).stdout
    import base64
    import hashlib
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


async def test_chromium_https_page_over_wss(start_gateway, pki):
    """A page served over https (the gateway's own demo page, with TLS on) connects
    back over wss:// and shows the channel live: what a page on an https site needs
    (ws:// from it would be mixed content). Chromium trusts the test server's key."""
    import browser
    browser.require_chromium()
    gw = tls_gateway(start_gateway, pki, demo_enable="true")
    url = f"https://127.0.0.1:{gw.ws_port}/demo/?channel=secure"
    async with browser.Browser(args=[f"--ignore-certificate-errors-spki-list={spki_hash(pki.server[0])}"]) as b:
        page = await b.new_page()
        await page.goto(url)
        deadline = time.monotonic() + 15
        while await page.eval("document.getElementById('status').textContent") != "live":
            assert time.monotonic() < deadline, await page.eval("document.body.innerText")
            await asyncio.sleep(0.1)
        assert await page.eval("location.protocol") == "https:"
        ws_url = await page.eval("ch.ws.url")
        assert ws_url.startswith("wss://127.0.0.1:"), ws_url
        status, body, _ = https(gw, client_ctx(pki, pki.client), "GET", "/secure/emit?text=over%20tls")
        assert status == 200, body
        deadline = time.monotonic() + 10
        while "over tls" not in await page.eval("document.getElementById('messages').textContent"):
            assert time.monotonic() < deadline, await page.eval("document.body.innerText")
            await asyncio.sleep(0.1)
