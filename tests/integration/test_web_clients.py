"""The browser snippets of docs/clients/ in headless Chromium, against a real broker
with the plugin: each one does its dialect's chores (PING/HB answers, ACKs, reply
matching, the Telegraphy id sequence) and comes back by itself after the broker
restarts. And the demo page, screenshot included."""
import asyncio
import contextlib
import json
import os
import time

import jwt
import browser
from contentclient import ContentClient as PyContent
from wsgw import http

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENTS = os.path.join(ROOT, "docs", "clients")
SECRET = "clients-test-secret-0123456789abcdef"



def page_html(snippet, script):
    """A page on the test's own origin (not the gateway's) that loads the snippets
    and runs script; script pushes what it sees onto window.log."""
    return f"""<!doctype html><meta charset="utf-8">
<script src="retry.js"></script><script src="{snippet}"></script>
<script>
window.log = [];
function note(kind, value) {{ window.log.push({{kind, value, t: Date.now()}}); }}
{script}
</script>"""


def site(snippet, script):
    """A PageServer with the page and the snippets it loads."""
    pages = {"/index.html": page_html(snippet, script)}
    for name in ("retry.js", snippet):
        with open(os.path.join(CLIENTS, name), "rb") as f:
            pages["/" + name] = ("text/javascript", f.read())
    return browser.PageServer(pages)


class Tab:
    """A page with the polling helpers these tests need."""

    def __init__(self, page):
        self.page = page

    async def eval(self, expr):
        return await self.page.eval(expr)

    async def wait_for(self, expr, timeout=15):
        deadline = time.monotonic() + timeout
        while not await self.page.eval(f"!!({expr})"):
            if time.monotonic() > deadline:
                log = await self.page.eval("JSON.stringify(window.log || null)")
                raise AssertionError(f"not true after {timeout}s: {expr}\npage log: {log}")
            await asyncio.sleep(0.05)

    async def screenshot(self, path):
        return await self.page.screenshot(path)


@contextlib.asynccontextmanager
async def open_tab(url):
    browser.require_chromium()
    async with browser.Browser() as b:
        page = await b.new_page()
        await page.goto(url)
        yield Tab(page)


@contextlib.asynccontextmanager
async def site_tab(snippet, script):
    """The snippet's page, served from an origin of its own, open in a tab."""
    with site(snippet, script) as s:
        async with open_tab(s.url("/index.html")) as tab:
            yield tab


async def kinds(page, kind):
    return [e["value"] for e in await page.eval("window.log") if e["kind"] == kind]


async def wait_kind(page, kind, n=1, timeout=15):
    await page.wait_for(f"window.log.filter(e => e.kind === {json.dumps(kind)}).length >= {n}",
                        timeout=timeout)
    return await kinds(page, kind)


async def test_wsdo_snippet(start_gateway, tmp_path):
    gw = start_gateway(wsdo_ping_interval="0.5", wsdo_ping_timeout="1")
    base = f"http://127.0.0.1:{gw.ws_port}/"
    async with site_tab("wsdo.js", f"""
      const ch = window.ch = new WsdoChannel({json.dumps(base)}, "room1", {{
        onReady: (m) => note("ready", [...m.keys()]),
        onData: (p) => note("data", p),
        onMembers: (m) => note("members", [...m.keys()]),
        onClose: (ev) => note("close", ev.code),
      }});""") as page:
        await wait_kind(page, "ready")
        me = await page.eval("window.ch.clientID")
        # PINGs every 0.5 s with a 1 s deadline: the snippet's PONGs keep it in
        await asyncio.sleep(3)
        assert await kinds(page, "close") == []
        # an MQTT device's message, and a require-ack emit the snippet ACKs by itself
        gw.mosquitto_pub("wsgw/wsdo/room1", '{"n":1}')
        assert (await wait_kind(page, "data"))[0] == {"n": 1}
        r = await http(gw.ws_port, "GET", f"/room1/emit?n=2&require-ack=true&clients={me}")
        assert r.status == 200 and r.json["acked"] == [me], r
        # another member comes and goes
        other = await gw.listen("room1", auto_pong=True)
        await page.wait_for(f"window.ch.members.has({json.dumps(other.id)})")
        await other.close()
        await page.wait_for(f"!window.ch.members.has({json.dumps(other.id)})")
        # the broker restarts: the snippet comes back by itself and gets messages again
        gw.restart()
        await wait_kind(page, "ready", 2, timeout=30)
        assert await kinds(page, "close"), "no close seen across the restart"
        gw.mosquitto_pub("wsgw/wsdo/room1", '{"n":3}')
        await page.wait_for("window.log.some(e => e.kind === 'data' && e.value.n === 3)")


async def test_op_snippet(start_gateway, tmp_path):
    gw = start_gateway(op_anonymous="true")
    url = f"ws://127.0.0.1:{gw.ws_port}/pubsub"
    async with site_tab("op.js", f"""
      const c = window.c = new OpClient({json.dumps(url)}, async () => ({{provider: "none"}}), {{
        onReady: (user, recovered) => note("ready", {{user, recovered}}),
        onMessage: (topics, data) => note("mesg", {{topics, data}}),
      }});
      (async () => {{
        await new Promise((r) => {{ const t = setInterval(() => {{ if (c.session) {{ clearInterval(t); r(); }} }}, 20); }});
        const r = await c.sub(["news.today"]);
        note("sub", r.topics);
        try {{ await c.request({{op: "pub", topics: ["news.today"]}}); }} catch (e) {{ note("puberr", e.code); }}
      }})();""") as page:
        await wait_kind(page, "ready")
        assert await wait_kind(page, "sub") == [["news.today"]]
        assert await wait_kind(page, "puberr") == [400]    # pub without data: an error matched to its request
        gw.mosquitto_pub("wsgw/op/news/today", '{"x":1}')
        m = (await wait_kind(page, "mesg"))[0]
        assert m == {"topics": ["news.today"], "data": {"x": 1}}, m
        # the broker restart ends the gateway's sessions: resume gets 410, the
        # snippet connects anew and subscribes its topics again
        gw.restart()
        ready = await wait_kind(page, "ready", 2, timeout=30)
        assert ready[1]["recovered"] is False, ready
        await asyncio.sleep(0.5)
        gw.mosquitto_pub("wsgw/op/news/today", '{"x":2}')
        await page.wait_for("window.log.some(e => e.kind === 'mesg' && e.value.data.x === 2)")


async def test_telegraphy_snippet(start_gateway, tmp_path):
    gw = start_gateway(telegraphy_auth="false")
    url = f"ws://127.0.0.1:{gw.ws_port}/telegraphy"
    async with site_tab("telegraphy.js", f"""
      const c = window.c = new TelegraphyClient({json.dumps(url)}, async () => "", {{
        onReady: (again) => note("ready", again),
        onEvent: (name, data) => note("event", {{name, data}}),
      }});
      (async () => {{
        await new Promise((r) => {{ const t = setInterval(() => {{ if (c.sessionToken) {{ clearInterval(t); r(); }} }}, 20); }});
        for (const e of ["chat.message", "chat.typing", "orders.new"]) note("sub", (await c.subscribe(e)).status);
      }})();""") as page:
        await wait_kind(page, "ready")
        # three SUBSCRIBEs after CONNECT (ids 0, 1, 2, 3): any id out of sequence would be INVALID_ID
        assert await wait_kind(page, "sub", 3) == ["SUBSCRIBED"] * 3
        gw.mosquitto_pub("wsgw/telegraphy/orders/new", '{"id":7}')
        e = (await wait_kind(page, "event"))[0]
        assert e == {"name": "orders.new", "data": {"id": 7}}, e
        # a WebSocket cut without a broker restart: RECONNECT keeps the session
        await page.eval("window.c.ws.close(4999), true")
        assert (await wait_kind(page, "ready", 2))[1] is True
        # a broker restart: the gateway no longer holds the session (INVALID_SESSION,
        # 4003), the snippet CONNECTs anew and subscribes again
        gw.restart()
        await wait_kind(page, "ready", 3, timeout=30)
        await asyncio.sleep(0.5)
        gw.mosquitto_pub("wsgw/telegraphy/chat/message", '{"t":"hi"}')
        await page.wait_for("window.log.some(e => e.kind === 'event' && e.value.name === 'chat.message')")


def comet_token(sub):
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


async def test_comet_snippet(start_gateway, tmp_path):
    gw = start_gateway(jwt_hs256_secret=SECRET, comet_hb_idle="1", comet_hb_drop="2.5",
                       comet_service_token="svc")
    url = f"ws://127.0.0.1:{gw.ws_port}/comet/Comet/Subscribe"
    tokens = [comet_token("alice") for _ in range(4)]
    async with site_tab("comet.js", f"""
      const tokens = {json.dumps(tokens)};
      const c = window.c = new CometClient({json.dumps(url)}, async () => tokens.shift(), "r1", {{
        onReady: () => note("ready", true),
        onPush: (evt) => note("push", evt),
      }});""") as page:
        await wait_kind(page, "ready")
        # server HBs after 1 s of silence, dropped after 2.5 s: the snippet answers them
        await asyncio.sleep(5)
        assert len(await kinds(page, "ready")) == 1, "the session was dropped and came back"
        hdr = {"Authorization": "Bearer svc", "Content-Type": "application/json"}
        r = await http(gw.ws_port, "POST", "/comet/Comet/Broadcast",
                       body=json.dumps({"rid": "r1", "evt": {"hello": 1}}).encode(), headers=hdr)
        assert r.status == 200, r
        assert (await wait_kind(page, "push"))[0] == {"hello": 1}
        gw.restart()
        await wait_kind(page, "ready", 2, timeout=30)
        r = await http(gw.ws_port, "POST", "/comet/Comet/Publish",
                       body=json.dumps({"uid": "alice", "evt": {"n": 2}}).encode(), headers=hdr)
        assert r.status == 200, r
        await page.wait_for("window.log.some(e => e.kind === 'push' && e.value.n === 2)")


def count_blobs(png_path, rgb, min_pixels, max_pixels):
    """Connected areas of exactly colour rgb in the screenshot with min_pixels to
    max_pixels pixels: the demo's member dots (14 px circles, ~150 px), not the
    anti-aliased letters of the same colour."""
    from PIL import Image
    img = Image.open(png_path).convert("RGB")
    w, h = img.size
    px = img.load()
    seen = set()
    n = 0
    for y in range(h):
        for x in range(w):
            if (x, y) in seen or px[x, y] != rgb:
                continue
            stack, size = [(x, y)], 0
            seen.add((x, y))
            while stack:
                cx, cy = stack.pop()
                size += 1
                for nx, ny in ((cx + 1, cy), (cx - 1, cy), (cx, cy + 1), (cx, cy - 1)):
                    if 0 <= nx < w and 0 <= ny < h and (nx, ny) not in seen and px[nx, ny] == rgb:
                        seen.add((nx, ny))
                        stack.append((nx, ny))
            if min_pixels <= size <= max_pixels:
                n += 1
    return n


async def test_demo_page(start_gateway, tmp_path):
    gw = start_gateway(demo_enable="true")
    async with open_tab(f"http://127.0.0.1:{gw.ws_port}/demo/?channel=lobby") as page:
        await page.wait_for("document.getElementById('status').textContent === 'live'")
        a = await gw.listen("lobby", auto_pong=True)
        b = await gw.listen("lobby", auto_pong=True)
        await page.wait_for("document.getElementById('count').textContent === '2'")
        gw.mosquitto_pub("wsgw/wsdo/lobby", '{"text":"from a device"}')
        await page.wait_for("document.getElementById('messages').textContent.includes('from a device')")
        # the page's own send: an emit from the page reaches the listeners
        await page.eval("document.getElementById('text').value = 'from the page';"
                        "document.querySelector('#send button').click(); true")
        f = await a.recv_type("DATA", pred=lambda f: f["payload"].get("text") == "from the page")
        assert f["payload"]["from"] == await page.eval("document.getElementById('me').textContent"), f
        png = await page.screenshot(str(tmp_path / "demo.png"))
        # what the screenshot must show: one green dot per member (the two listeners)
        assert count_blobs(png, (0x2e, 0x7d, 0x32), 100, 260) == 2
        await b.close()
        await page.wait_for("document.getElementById('count').textContent === '1'")


async def test_wsdo_snippet_emit_from_another_origin(start_gateway):
    """emit() is a JSON POST from the page's origin: with that origin in `origins`
    the page reads the reply (CORS); the message reaches the channel."""
    script = """
      window.go = async (base) => {
        const ch = window.ch = new WsdoChannel(base, "room2", {onReady: () => note("ready", 1)});
        await new Promise((r) => { const t = setInterval(() => { if (ch.clientID) { clearInterval(t); r(); } }, 20); });
        note("emit", await ch.emit({n: 5}));
        note("emit", await ch.emit({n: 6}, {clients: [ch.clientID], requireAck: true}));
      };"""
    with site("wsdo.js", script) as s:
        gw = start_gateway(origins=s.origin)
        other = await gw.listen("room2", auto_pong=True)
        async with open_tab(s.url("/index.html")) as page:
            await page.eval(f"go({json.dumps(f'http://127.0.0.1:{gw.ws_port}/')}), true")
            e, acked = await wait_kind(page, "emit", 2)
            assert e["status"] == 200, e
            f = await other.recv_type("DATA", pred=lambda f: f["payload"] == {"n": 5})
            assert f["eventID"] == e["body"]["eventID"], (f, e)
            # to the page itself, with require-ack: the snippet's own ACK answers it
            me = await page.eval("window.ch.clientID")
            assert acked["status"] == 200 and acked["body"]["acked"] == [me], acked


async def test_content_snippet(start_gateway):
    """content.js: watches keep a local copy current from `changed` patches, a write
    with a stale version gets the 409 and a refreshed copy, and after a broker restart
    (persistence on) the snippet logs in again and watches what it watched."""
    gw = start_gateway(passwords={"alice": "pw-a", "bob": "pw-b"}, persistence=True)
    gw.mosquitto_pub("wsgw/content/note/1", '{"title":"a","tags":[]}', "-r")
    url = f"ws://127.0.0.1:{gw.ws_port}/content"
    async with site_tab("content.js", f"""
      const c = window.c = new ContentClient({json.dumps(url)}, async () => ({{username: "alice", password: "pw-a"}}), {{
        onReady: (d) => note("ready", d.self),
        onChange: (key, content) => note("change", content),
      }});
      window.key = {{type: "note", id: 1}};
      window.doc = () => c.docs.get(JSON.stringify(window.key)).content;""") as page:
        await wait_kind(page, "ready")
        assert await page.eval("c.watch(key)") == {"title": "a", "tags": []}
        # a device writes the whole document: the snippet applies the gateway's patch
        gw.mosquitto_pub("wsgw/content/note/1", '{"title":"b","tags":["x"]}', "-r")
        await page.wait_for("JSON.stringify(doc()) === '{\"title\":\"b\",\"tags\":[\"x\"]}'")
        # the snippet writes with the version it has
        await page.eval("c.patch(key, [{op: 'add', path: '/tags/-', value: 'y'}]).then(() => true)")
        assert await page.eval("doc()") == {"title": "b", "tags": ["x", "y"]}
        b = await PyContent.open(gw)
        assert (await b.login("bob", "pw-b"))["status"] == 200
        r = await b.get({"type": "note", "id": 1})
        assert r["data"]["content"] == {"title": "b", "tags": ["x", "y"]}, r
        # bob writes first; the page's write on the version it had is a 409, and its
        # copy is read again
        assert (await b.patch({"type": "note", "id": 1}, r["data"]["ver"],
                              [{"op": "replace", "path": "/title", "value": "bob"}]))["status"] == 200
        await page.wait_for("doc().title === 'bob'")   # the change reached the page
        # make the page's copy old, as if bob's change had not come yet
        await page.eval("Object.assign(c.docs.get(JSON.stringify(key)), "
                        "{ver: ['stale', 1], content: {title: 'old', tags: []}}), true")
        code = await page.eval("c.patch(key, [{op: 'replace', path: '/title', value: 'page'}])"
                               ".then(() => 0, (e) => e.code)")
        assert code == 4090630
        await page.wait_for("doc().title === 'bob'")      # re-read after the 409
        # the broker restarts: the gateway no longer knows the session (4010220), the
        # snippet logs in again and watches the document again
        gw.restart()
        await wait_kind(page, "ready", 2, timeout=30)
        await asyncio.sleep(0.5)
        gw.mosquitto_pub("wsgw/content/note/1", '{"title":"after","tags":[]}', "-r")
        await page.wait_for("doc().title === 'after'")
