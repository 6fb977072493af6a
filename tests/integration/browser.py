"""Headless Chromium for the integration tests: Debian's `chromium` package,
driven over the DevTools protocol (CDP) with python3-websockets, which the
suite uses anyway. No chromedriver and no selenium: the protocol is the same on
Debian 12 and 13 (Chromium 1xx), and nothing is downloaded.

    async with browser.Browser() as b:          # Browser(args=["--ignore-certificate-errors"])
        page = await b.new_page()
        await page.goto(server.url("/index.html"))
        value = await page.eval("fetch('http://...').then(r => r.json())")
        await page.screenshot("/tmp/shot.png")

PageServer serves pages from another origin (a python http.server on a port of
its own: another port is another origin). A test that needs the browser calls
require_chromium() first: without chromium it is skipped, loudly (a warning in
pytest's summary and a line on stderr); scripts/setup.sh --test installs it, so
CI runs them. WSGW_CHROMIUM names another binary."""
import asyncio
import base64
import http.server
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings

import websockets

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT = 60  # seconds for the browser to open its DevTools endpoint (a loaded 2-core machine running ASan brokers once took over 20)


def chromium_path():
    """The Chromium binary, or None."""
    want = os.environ.get("WSGW_CHROMIUM")
    if want:
        return shutil.which(want) or (want if os.access(want, os.X_OK) else None)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium():
    """The Chromium binary; skips the calling test, loudly, if there is none."""
    import pytest
    path = chromium_path()
    if not path:
        msg = ("CHROMIUM IS NOT INSTALLED: browser test SKIPPED "
               "(scripts/setup.sh --test installs Debian's chromium; WSGW_CHROMIUM names another)")
        print(f"\n!!! {msg} !!!", file=sys.stderr)
        warnings.warn(msg)
        pytest.skip(msg)
    return path


class JSError(Exception):
    """An exception thrown (or a promise rejected) in the page."""


class CDPError(Exception):
    """An error answer of the DevTools protocol."""


class Browser:
    """One headless Chromium process with a throw-away profile."""

    def __init__(self, args=()):
        self.args = list(args)
        self.proc = None
        self.ws = None
        self.profile = None
        self._ids = itertools.count(1)
        self._pending = {}   # id -> future
        self._waiters = []   # (session, method, future)
        self._reader = None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def start(self):
        exe = chromium_path()
        assert exe, "no chromium (see require_chromium)"
        self.profile = tempfile.mkdtemp(prefix="wsgw-chromium-")
        cmd = [exe, "--headless=new", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
               "--disable-extensions", "--disable-background-networking", "--disable-sync",
               "--password-store=basic", "--use-mock-keychain", "--window-size=1024,768",
               f"--user-data-dir={self.profile}", "--remote-debugging-port=0"]
        if os.geteuid() == 0:
            cmd.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
        cmd += self.args + ["about:blank"]
        self.log_path = os.path.join(self.profile, "chromium.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        # Chromium writes the port and the browser target's path here once it listens.
        active = os.path.join(self.profile, "DevToolsActivePort")
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"chromium exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with open(active) as f:
                    lines = f.read().split()
                if len(lines) >= 2:
                    break
            except FileNotFoundError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"chromium opened no DevTools port in {START_TIMEOUT}s:\n{self.log()}")
            await asyncio.sleep(0.05)
        self.ws = await websockets.connect(f"ws://127.0.0.1:{lines[0]}{lines[1]}", max_size=None,
                                           ping_interval=None)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except (OSError, AttributeError):
            return ""

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg:
                    fut = self._pending.pop(msg["id"], None)
                    if fut and not fut.done():
                        if "error" in msg:
                            fut.set_exception(CDPError(msg["error"]))
                        else:
                            fut.set_result(msg.get("result", {}))
                    continue
                for w in list(self._waiters):
                    session, method, fut = w
                    if method == msg.get("method") and session == msg.get("sessionId"):
                        self._waiters.remove(w)
                        if not fut.done():
                            fut.set_result(msg.get("params", {}))
        except websockets.WebSocketException:
            pass
        finally:
            for fut in list(self._pending.values()) + [w[2] for w in self._waiters]:
                if not fut.done():
                    fut.set_exception(CDPError("the browser connection closed"))

    async def send(self, method, params=None, session=None, timeout=15):
        """One CDP command (on a page's session, if given); its result."""
        mid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[mid] = fut
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        await self.ws.send(json.dumps(msg))
        return await asyncio.wait_for(fut, timeout)

    def expect(self, method, session=None):
        """A future for the next event `method` (of a page's session)."""
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((session, method, fut))
        return fut

    async def new_page(self):
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        page = Page(self, target["targetId"], attached["sessionId"])
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        return page

    async def close(self):
        if self.ws:
            try:
                await asyncio.wait_for(self.send("Browser.close"), 5)
            except (CDPError, asyncio.TimeoutError, websockets.WebSocketException):
                pass
            await self.ws.close()
        if self._reader:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One tab."""

    def __init__(self, browser, target_id, session):
        self.browser, self.target_id, self.session = browser, target_id, session

    async def send(self, method, params=None, timeout=15):
        return await self.browser.send(method, params, self.session, timeout)

    async def goto(self, url, timeout=15):
        """Navigates and waits for the load event."""
        loaded = self.browser.expect("Page.loadEventFired", self.session)
        r = await self.send("Page.navigate", {"url": url})
        if r.get("errorText"):
            raise AssertionError(f"navigation to {url} failed: {r['errorText']}")
        await asyncio.wait_for(loaded, timeout)

    async def eval(self, expression, timeout=15):
        """The value of a JavaScript expression (a promise is awaited), as JSON
        makes it; JSError if it throws or rejects."""
        r = await self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                 "returnByValue": True, "timeout": int(timeout * 1000)},
                            timeout=timeout + 5)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise JSError(d.get("exception", {}).get("description") or d.get("text"))
        return r["result"].get("value")

    async def screenshot(self, path):
        r = await self.send("Page.captureScreenshot", {"format": "png"})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))
        return path

    async def close(self):
        await self.browser.send("Target.closeTarget", {"targetId": self.target_id})


class PageServer:
    """Serves pages {path: text or (content_type, bytes)} on 127.0.0.1 from a
    thread; each server is an origin of its own (its port). Use as a context
    manager, or call close()."""

    def __init__(self, pages):
        self.pages = dict(pages)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                page = outer.pages.get(self.path.split("?")[0])
                if page is None:
                    self.send_error(404)
                    return
                ctype, body = page if isinstance(page, tuple) else ("text/html; charset=utf-8", page)
                body = body.encode() if isinstance(body, str) else body
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return self.origin + path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
