#!/usr/bin/env python3
"""Mixed-traffic soak of mosquitto_wsgw (issue 15): one broker with the plugin,
every dialect at once, in waves.

A wave runs for WAVE seconds: websockets.do listeners that ACK every emit
(HTTP emits with require-ack, device publishes), op clients that pub/sub among
themselves and go away without a close while QoS 1 messages come for them,
then resume; Telegraphy clients with a permanent subscription that do the same
and RECONNECT; Comet subscribers in rooms that get HTTP Publish and Broadcast;
clients of every dialect that connect and vanish without a close; slow readers
(websockets.do listeners on a flooded channel that stop reading for seconds,
then read again and vanish). The broker restarts every RESTART_EVERY waves.

After every wave, once the detached sessions have expired: the broker's VmRSS
is back within MARGIN_KB of its baseline (the highest RSS of the first
WARMUP_WAVES waves since it started: the warm-up fills malloc's arenas, lws's
pools and the hash tables, and on a loaded machine one wave may not finish it); no resumed session lost a QoS 1 message (each one came, in order);
the presence tree is empty (no retained entry under wsgw/presence/). At the
end (and at every restart) the broker log has no sanitizer report.

  tests/soak/soak.py [--minutes M | --waves N] [--wave S] [--restart-every R]
                     [--margin-kb K] [--no-rss]
WSGW_PLUGIN is the plugin (as for the integration tests); WSGW_PRELOAD a
sanitizer runtime to preload into mosquitto (scripts/soak.sh sets both). The
integration suite runs a short version (tests/integration/test_core_soak.py,
test_mixed_traffic_soak). Exit status 0 when every check held."""
import argparse
import asyncio
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import jwt  # noqa: E402

import wsgw  # noqa: E402
from opclient import OpClient, mesg  # noqa: E402
from teleclient import TeleClient, issue_token  # noqa: E402

JWT_SECRET = "soak-jwt-secret-0123456789abcdef"
TG_SECRET = "soak-tg-secret-0123456789abcdef"
SERVICE = "soak-service-token-0123456789"
SESSION_EXPIRY = 4          # s: op and Telegraphy sessions outlive their socket this long (a loaded machine needs the room)
OPTS = {"op_anonymous": "true", "jwt_hs256_secret": JWT_SECRET, "session_expiry": str(SESSION_EXPIRY),
        "telegraphy_token_secret": TG_SECRET, "telegraphy_events": "soak.event",
        "comet_service_token": SERVICE, "wsdo_ack_timeout": "5"}
# Waves of a broker process whose highest RSS is its baseline; the later ones
# are judged. (With one, a 30-minute run on a loaded machine failed at its
# 43rd wave: a process's first wave reached 10.6 MB where every other process's
# reached 11.4-11.9 MB, and its third wave, at 11.7 MB, was "over" it.)
WARMUP_WAVES = 2
# Growth allowed over the baseline (the RSS after a broker's warm-up): a
# page here and there, malloc's heap top moving; a leak of a few hundred bytes
# per client or message passes it within a few waves (a wave sees thousands).
MARGIN_KB = 1024
# Under a sanitizer the allocator keeps freed blocks in quarantine and RSS says
# little: the broker log is the check then, and RSS is only reported.
SANITIZED = bool(os.environ.get("WSGW_PRELOAD"))


def token(sub):
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 3600}, JWT_SECRET, algorithm="HS256")


def vmrss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Stats:
    def __init__(self):
        self.n = {}

    def add(self, key, k=1):
        self.n[key] = self.n.get(key, 0) + k

    def total(self):
        return sum(v for k, v in self.n.items() if k.startswith("msg."))


async def until(stop, coro_fn, pause=0.0):
    """coro_fn() again and again until the wave's end."""
    while not stop.is_set():
        await coro_fn()
        if pause:
            await asyncio.sleep(pause)


# ---------------------------------------------------------------- websockets.do

async def wsdo_acking(gw, stop, st, wave, n=4, device=None):
    """n listeners that ACK every DATA; emits with require-ack must be acked by
    all of them; device publishes reach them too."""
    chan = f"soak-ack-{wave}"
    ls = await gw.listeners(chan, n, auto_pong=True)
    ids = sorted(li.id for li in ls)
    acking = asyncio.Event()

    async def acker(li):
        while not acking.is_set():
            try:
                f = await li.recv_type("DATA", 0.5)
            except AssertionError:
                if li.closed.is_set():
                    raise
                continue
            if f.get("requires_ack"):
                await li.send({"type": "ACK", "payload": {"eventID": f["eventID"]}})
                st.add("msg.wsdo_ack")
            else:
                st.add("msg.wsdo_data")
    tasks = [asyncio.create_task(acker(li)) for li in ls]
    i = 0
    try:
        while not stop.is_set():
            r = await gw.emit_get(chan, {"n": str(i), "require-ack": "true"}, timeout=10)
            assert r.status == 200 and sorted(r.json["acked"]) == ids, f"emit {i} to {chan}: {r}; {ls[0].describe()}"
            st.add("msg.wsdo_emit")
            if device is not None and i % 4 == 0:
                await asyncio.to_thread(device.publish, f"wsgw/wsdo/{chan}", {"dev": i})
                st.add("msg.wsdo_device")
            i += 1
            await asyncio.sleep(0.03)   # the ACKs stay under rate_limit (100 frames/s per client)
    finally:
        acking.set()
        for r in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(r, BaseException):
                raise r
    for li in ls:
        await li.close()


async def wsdo_vanish(gw, st, i):
    li = await gw.listen(f"soak-vanish-{i % 3}")
    li.ws.transport.abort()
    await li.closed.wait()
    st.add("vanish.wsdo")


def _slow_reader(port, path, pause):
    """A listener that reads nothing for `pause` s (its receive buffer small),
    then reads what comes for a while and vanishes without a close. The
    gateway may drop it when its queue passes max_queue_bytes: that is fine."""
    import socket
    raw = wsgw.RawWS(port, path, rcvbuf=4096)
    time.sleep(pause)
    got = 0
    raw.sock.settimeout(0.3)
    deadline = time.monotonic() + 2
    try:
        while time.monotonic() < deadline:
            chunk = raw.sock.recv(65536)
            if not chunk:
                break
            got += len(chunk)
    except (socket.timeout, OSError):
        pass
    raw.cut()
    return got


async def wsdo_slow(gw, stop, st, wave, pause):
    """Slow readers on a channel that emits flood with 2 kB values."""
    chan = f"soak-flood-{wave}"
    blob = "x" * 2048

    async def flood():
        i = 0
        while not stop.is_set():
            r = await gw.emit_post(chan, {"n": i, "blob": blob}, timeout=10)
            assert r.status == 200, r
            st.add("msg.wsdo_flood")
            i += 1
            await asyncio.sleep(0.01)

    async def readers():
        while not stop.is_set():
            got = await asyncio.gather(*(asyncio.to_thread(_slow_reader, gw.ws_port, gw.path(chan, "listen"), pause)
                                         for _ in range(3)))
            st.add("slow_readers", len(got))
            st.add("slow_bytes", sum(got))
    await asyncio.gather(flood(), readers())


async def take_sent(next_n, sent, st, what):
    """Reads until every number of sent came, in order. QoS 1 is at least
    once: a message the broker sent before the socket went, whose PUBACK the
    gateway had not sent yet, comes again after the resume (counted as
    duplicates); a number of sent missing is a loss."""
    got = []
    while len(got) < len(sent):
        try:
            n = await next_n()
        except AssertionError as e:
            raise AssertionError(f"{what} lost QoS 1 messages: sent {sent}, got {got}: {e}"[:3000])
        if n < sent[0] or n in got:
            st.add("duplicates")
            continue
        got.append(n)
        assert got == sent[:len(got)], f"{what}: out of order: sent {sent}, got {got}"


# ---------------------------------------------------------------- op

async def op_pubsub(gw, stop, st, wave, i):
    """Two op clients on one topic: pub from one reaches the other."""
    topic = f"soak.w{wave}.pair{i}"
    a, b = await OpClient.open(gw), await OpClient.open(gw)
    for c, who in ((a, "a"), (b, "b")):
        r = await c.connect("jwt", token(f"op-{wave}-{i}-{who}"))
        assert r["type"] == "success", r
        r = await c.request("sub", topics=[topic])
        assert r["type"] == "success", r
    n = 0
    while not stop.is_set():
        r = await a.request("pub", topics=[topic], data={"n": n})
        assert r["type"] == "success", r
        f = await b.take(lambda f: f.get("op") == "mesg" and f.get("data") == {"n": n}, 5)
        assert f["topics"] == [topic], f
        st.add("msg.op_pub")
        n += 1
        await asyncio.sleep(0.02)
    await a.close()
    await b.close()


async def op_resume(gw, stop, st, wave, i, device):
    """An op client whose socket dies; QoS 1 messages come while it is away;
    resume must bring every one, in order."""
    topic = f"soak.w{wave}.r{i}"
    mqtt_topic = "wsgw/op/" + topic.replace(".", "/")
    c = await OpClient.open(gw)
    r = await c.connect("jwt", token(f"opr-{wave}-{i}"))
    assert r["type"] == "success", r
    session = r["session"]
    assert (await c.request("sub", topics=[topic]))["type"] == "success"
    k = 0
    while not stop.is_set():
        c.abort()
        await c.closed.wait()
        await asyncio.sleep(0.2)
        sent = list(range(k, k + 5))
        for n in sent:
            await asyncio.to_thread(device.publish, mqtt_topic, {"n": n}, False, 1)
        k += len(sent)
        c = await OpClient.open(gw)
        r = await c.request("resume", session=session)
        assert r["type"] == "success" and r["recovered"] is True, f"op resume: {r}"
        session = r["session"]
        await take_sent(lambda: _op_n(c, topic), sent, st, "op resume")
        st.add("msg.op_qos1", len(sent))
        st.add("resume.op")
    await c.close()


async def _op_n(c, topic):
    return (await c.take(mesg(topic), 5))["data"]["n"]


async def op_vanish(gw, st, i):
    c = await OpClient.open(gw)
    r = await c.connect("none")
    assert r["type"] == "success", r
    await c.request("sub", topics=[f"soak.vanish{i % 3}"])
    c.abort()
    await c.closed.wait()
    st.add("vanish.op")


# ---------------------------------------------------------------- Telegraphy

async def tele_connected(gw, user):
    c = await TeleClient.open(gw)
    t = await issue_token(gw, TG_SECRET, user=user)
    assert t.status == 200, t
    r = await c.connect(t.json["auth_token"])
    assert r["success"] is True and r["status"] == "CONNECTED", r
    return c, r["data"]["session_token"]


async def tele_reconnect(gw, stop, st, wave, i, device):
    """A permanent subscription (filtered to this client), events from MQTT
    while connected and while away; RECONNECT brings the missed ones."""
    c, session = await tele_connected(gw, f"tg-{wave}-{i}")
    flt = {"c": f"{wave}-{i}"}
    r = await c.subscribe("soak.event", filters=flt, permanent=True)
    assert r["status"] == "SUBSCRIBED", r
    k = 0
    while not stop.is_set():
        await asyncio.to_thread(device.publish, "wsgw/telegraphy/soak/event", {**flt, "n": k}, False, 1)
        await take_sent(lambda: _tele_n(c), [k], st, "Telegraphy")
        st.add("msg.tele_event")
        k += 1
        last = c.next_id
        c.abort()
        await c.closed.wait()
        await asyncio.sleep(0.2)
        sent = list(range(k, k + 3))
        for n in sent:
            await asyncio.to_thread(device.publish, "wsgw/telegraphy/soak/event", {**flt, "n": n}, False, 1)
        k += len(sent)
        c = await TeleClient.open(gw)
        c.next_id = last + 1
        r = await c.call("RECONNECT", {"session_token": session})
        assert r["status"] == "CONNECTED" and r["data"]["recovered"] is True, f"RECONNECT: {r}"
        session = r["data"]["session_token"]
        await take_sent(lambda: _tele_n(c), sent, st, "Telegraphy RECONNECT")
        st.add("msg.tele_qos1", len(sent))
        st.add("resume.tele")
    await c.close()


async def _tele_n(c):
    return (await c.event("soak.event", 5))["data"]["n"]


async def tele_vanish(gw, st, i):
    c, _ = await tele_connected(gw, f"tgv-{i}")
    c.abort()
    await c.closed.wait()
    st.add("vanish.tele")


# ---------------------------------------------------------------- Comet

async def comet_api(gw, method, body):
    r = await wsgw.http(gw.ws_port, "POST", f"/comet/Comet/{method}", body=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json", "Authorization": f"Bearer {SERVICE}"},
                        timeout=10)
    assert r.status == 200 and r.json == {}, f"Comet {method}: {r}"


async def comet_open(gw, uid, rid):
    from test_comet_dialect import Comet
    return await Comet.subscribe(gw, token(uid), join=rid)


async def comet_traffic(gw, stop, st, wave, n=3):
    """n subscribers in one room: a Publish to each uid, a Broadcast to the room."""
    rid = f"soak-room-{wave}"
    uids = [f"cm-{wave}-{i}" for i in range(n)]
    subs = [await comet_open(gw, uid, rid) for uid in uids]
    k = 0
    while not stop.is_set():
        for uid, s in zip(uids, subs):
            await comet_api(gw, "Publish", {"uid": uid, "evt": {"to": uid, "k": k}})
            evt = await s.push(5)
            assert evt == {"to": uid, "k": k}, evt
            st.add("msg.comet_publish")
        await comet_api(gw, "Broadcast", {"rid": rid, "evt": {"room": rid, "k": k}})
        for s in subs:
            evt = await s.push(5)
            assert evt == {"room": rid, "k": k}, evt
            st.add("msg.comet_broadcast")
        k += 1
        await asyncio.sleep(0.02)
    for s in subs:
        await s.close()


async def comet_vanish(gw, st, i):
    s = await comet_open(gw, f"cmv-{i}", f"soak-vroom-{i % 3}")
    s.ws.transport.abort()
    await s.closed.wait()
    st.add("vanish.comet")


async def vanishers(gw, stop, st):
    i = 0
    while not stop.is_set():
        await asyncio.gather(wsdo_vanish(gw, st, i), op_vanish(gw, st, i), tele_vanish(gw, st, i),
                             comet_vanish(gw, st, i))
        i += 1
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------- waves

async def wave(gw, n, seconds, st, device, log=print):
    stop = asyncio.Event()
    tasks = [wsdo_acking(gw, stop, st, n, device=device), wsdo_slow(gw, stop, st, n, min(3.0, seconds / 2)),
             comet_traffic(gw, stop, st, n), vanishers(gw, stop, st)]
    tasks += [op_pubsub(gw, stop, st, n, i) for i in range(2)]
    tasks += [op_resume(gw, stop, st, n, i, device) for i in range(2)]
    tasks += [tele_reconnect(gw, stop, st, n, i, device) for i in range(2)]
    running = [asyncio.create_task(t) for t in tasks]
    done, _ = await asyncio.wait(running, timeout=seconds, return_when=asyncio.FIRST_EXCEPTION)
    stop.set()
    results = await asyncio.gather(*running, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        for e in errors[1:]:
            log(f"soak: wave {n}: also: {e!r}"[:2000])
        raise errors[0]
    await wsgw.close_all_listeners()


async def presence_left(gw):
    return await wsgw.retained(gw, "wsgw/presence/#", settle=1.0)


async def soak(gw, waves=None, minutes=None, wave_seconds=20, restart_every=5, margin_kb=MARGIN_KB,
               check_rss=True, log=print):
    """Runs waves on the started broker gw (a wsgw.Broker with OPTS); returns
    a summary dict. Raises AssertionError at the first broken check."""
    st = Stats()
    deadline = time.monotonic() + minutes * 60 if minutes else None
    rows = []
    baseline = None
    n = 0
    k = 0   # waves of the current broker process
    t0 = time.monotonic()
    while (waves is None or n < waves) and (deadline is None or time.monotonic() < deadline):
        if n and restart_every and n % restart_every == 0:
            assert not gw.sanitizer_errors(), "sanitizer report in the broker log:\n" + gw.log_tail()
            gw.restart()
            baseline = None
            k = 0
            log(f"soak: broker restarted (pid {gw.proc.pid})")
        device = wsgw.Mqtt(gw.mqtt_port)
        msgs0 = st.total()
        try:
            await wave(gw, n, wave_seconds, st, device, log)
        finally:
            device.close()
        # the detached sessions (op, Telegraphy) expire, the vanished clients' states go
        await asyncio.sleep(SESSION_EXPIRY + 1.5)
        left = await presence_left(gw)
        assert not left, f"wave {n}: presence entries left: {left}"
        rss = vmrss_kb(gw.proc.pid)
        warming = k < WARMUP_WAVES
        if warming:
            baseline = rss if baseline is None else max(baseline, rss)
        rows.append({"wave": n, "rss_kb": rss, "baseline_kb": baseline, "messages": st.total() - msgs0})
        log(f"soak: wave {n}: {st.total() - msgs0} messages, VmRSS {rss} kB "
            f"({'warm-up, baseline ' + str(baseline) + ' kB' if warming else f'{rss - baseline:+d} kB over the baseline'}), "
            f"{time.monotonic() - t0:.0f} s")
        k += 1
        if check_rss and not SANITIZED and not warming:
            assert rss - baseline <= margin_kb, \
                f"wave {n}: broker RSS {rss} kB is {rss - baseline} kB over its baseline {baseline} kB " \
                f"(margin {margin_kb} kB)"
        n += 1
    assert not gw.sanitizer_errors(), "sanitizer report in the broker log:\n" + gw.log_tail()
    return {"waves": n, "seconds": round(time.monotonic() - t0), "messages": st.total(), "counts": st.n,
            "rows": rows, "margin_kb": margin_kb, "sanitized": SANITIZED}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--waves", type=int)
    ap.add_argument("--wave", type=float, default=20, help="seconds of traffic per wave")
    ap.add_argument("--restart-every", type=int, default=5)
    ap.add_argument("--margin-kb", type=int, default=MARGIN_KB)
    ap.add_argument("--no-rss", action="store_true", help="report RSS, do not judge it")
    a = ap.parse_args()
    if a.minutes is None and a.waves is None:
        a.minutes = 30
    gw = wsgw.Broker(env={"MALLOC_ARENA_MAX": "1"}, **OPTS)
    gw.start()
    ok = False
    try:
        summary = asyncio.run(soak(gw, a.waves, a.minutes, a.wave, a.restart_every, a.margin_kb, not a.no_rss))
        ok = True
    finally:
        gw.stop()
        bad = gw.sanitizer_errors()
        if bad or not ok:
            print(f"soak: broker log kept: {gw.log_path}" + (f" (sanitizer reports: {bad})" if bad else ""))
        else:
            gw.cleanup()
    if bad:
        sys.exit(1)
    print("soak: " + json.dumps({k: v for k, v in summary.items() if k != "rows"}))
    print(f"soak: OK: {summary['waves']} waves, {summary['messages']} messages in {summary['seconds']} s, "
          f"RSS margin {summary['margin_kb']} kB" + (" (not judged: sanitizer build)" if SANITIZED else ""))


if __name__ == "__main__":
    main()
