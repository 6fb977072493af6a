"""The broker with the plugin under valgrind, through start, traffic of every
kind and shutdown: no invalid access and no leak (mosquitto_plugin_cleanup
must free everything). Slow, so it runs when WSGW_VALGRIND=1 (scripts/test.sh
sets it for the normal build; the ASan build covers the same paths)."""
import asyncio
import os
import re
import shutil
import stat

import pytest

import wsgw

pytestmark = pytest.mark.skipif(os.environ.get("WSGW_VALGRIND") != "1" or not shutil.which("valgrind")
                                or os.environ.get("WSGW_PRELOAD"),
                                reason="set WSGW_VALGRIND=1 (non-sanitizer build) to run")


# the broker's own leak that shared websockets.do sessions meet (the file says which)
SUPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "valgrind.supp")


@pytest.fixture
def valgrind_broker(start_gateway, monkeypatch, tmp_path):
    vlog = tmp_path / "valgrind.log"
    wrapper = tmp_path / "mosquitto-vg"
    wrapper.write_text("#!/bin/sh\n"
                       f"exec valgrind --error-exitcode=99 --leak-check=full "
                       f"--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect "
                       f"--suppressions={SUPP} "
                       f"--num-callers=30 --log-file={vlog} {wsgw.MOSQUITTO} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(wsgw, "MOSQUITTO", str(wrapper))
    b = start_gateway(wait=False, wsdo_ping_interval=0.3, wsdo_ping_timeout=0.5,
                      wsdo_ack_timeout=0.5, op_anonymous="true")
    b.wait_ready(timeout=90)
    return b, vlog


async def test_no_leak_or_invalid_access_through_shutdown(valgrind_broker):
    b, vlog = valgrind_broker
    l1 = await b.listen("vg", auto_pong=True)
    l2 = await b.listen("vg")
    await l1.wait_member(l2.id, 10)
    await l2.send({"type": "PRESENCE", "payload": {"k": "v"}})
    await l2.send_raw("{broken")
    await l2.recv_error("BAD_JSON", 10)
    await l2.send_raw(b"\x00binary")
    await l2.recv_error("BINARY_UNSUPPORTED", 10)
    r = await b.emit_get("vg", [("a", "1")], timeout=30)
    assert r.status == 200, r
    d = await l2.recv_type("DATA", 10)
    r = await b.emit_get("vg", [("b", "2"), ("require-ack", "true")], timeout=30)
    assert r.status == 408, r          # nobody acked
    await l2.recv_error("PING_TIMEOUT", 10)   # l2 never answers PING
    b.mosquitto_pub("wsgw/wsdo/vg", "device says hi")
    assert (await l1.recv_type("DATA", 10, lambda f: f["payload"] == "device says hi"))
    # the op dialect: a session left detached for resume, one still open
    from opclient import OpClient
    o1, o2 = await OpClient.open(b), await OpClient.open(b)
    assert (await o1.connect("none", timeout=20))["type"] == "success"
    assert (await o2.connect("none", timeout=20))["type"] == "success"
    assert (await o1.request("sub", topics=["vg.room", "vg.room/presence"], timeout=20))["type"] == "success"
    assert (await o2.request("sub", topics=["vg.room"], timeout=20))["type"] == "success"
    assert (await o2.request("pub", topics=["vg.room"], data={"x": 1}, timeout=20))["type"] == "success"
    await o1.take(lambda f: f.get("op") == "mesg", 10)
    await o2.send_raw("not json")
    o2.abort()
    await o1.take(lambda f: f.get("op") == "pres" and f.get("type") == "leave", 10)
    # an emit left waiting and a listener still open when the broker stops
    pending = asyncio.create_task(b.emit_get("vg", [("c", "3"), ("require-ack", "true"),
                                                    ("clients", l1.id)], timeout=30))
    await l1.recv_type("DATA", 10, lambda f: f["payload"] == {"c": "3"})
    rc = await asyncio.to_thread(b.stop, 60)
    await asyncio.gather(pending, return_exceptions=True)
    report = vlog.read_text()
    summary = re.findall(r"(definitely|indirectly) lost: ([\d,]+) bytes", report)
    assert rc == 0, f"mosquitto under valgrind exited {rc}:\n{report[-6000:]}"
    no_leaks = "All heap blocks were freed" in report or (summary and all(n == "0" for _, n in summary))
    assert no_leaks, report[-6000:]
    assert "ERROR SUMMARY: 0 errors" in report, report[-6000:]
