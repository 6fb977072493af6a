"""The Comet dialect under valgrind, through start, traffic of every kind and
shutdown: no invalid access and no leak. Slow, so it runs when WSGW_VALGRIND=1
(as test_core_valgrind.py; the ASan build covers the same paths)."""
import asyncio
import os
import re
import shutil
import stat

import pytest

import wsgw
from test_comet_dialect import (PUB_PATH, SECRET, SERVICE, Comet, api, broadcast, dump, hs,
                                publish, rs, wait_dump)

pytestmark = pytest.mark.skipif(os.environ.get("WSGW_VALGRIND") != "1" or not shutil.which("valgrind")
                                or os.environ.get("WSGW_PRELOAD"),
                                reason="set WSGW_VALGRIND=1 (non-sanitizer build) to run")


async def test_comet_no_leak_or_invalid_access(start_gateway, monkeypatch, tmp_path):
    vlog = tmp_path / "valgrind.log"
    wrapper = tmp_path / "mosquitto-vg"
    wrapper.write_text("#!/bin/sh\n"
                       f"exec valgrind --error-exitcode=99 --leak-check=full "
                       f"--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect "
                       f"--num-callers=30 --log-file={vlog} {wsgw.MOSQUITTO} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(wsgw, "MOSQUITTO", str(wrapper))
    b = start_gateway(wait=False, jwt_hs256_secret=SECRET, jwt_rs256_public_key_file=PUB_PATH,
                      comet_service_token=SERVICE, comet_hb_idle=0.3, comet_hb_drop=0.9)
    b.wait_ready(timeout=90)

    a = await Comet.subscribe(b, hs("va"), join="room")
    await Comet.subscribe(b, rs("vb"))
    bad = await Comet.open(b)
    await bad.auth(hs("x", secret="wrong"))
    await bad.refused("UNAUTHORIZED")
    await a.send_raw("{broken")
    await a.error("BAD_JSON", 10)
    await wait_dump(b, lambda d: len(d["world"]) == 2, timeout=20)
    await publish(b, "va", {"n": 1})
    assert await a.push(10) == {"n": 1}
    await broadcast(b, "room", "r")
    assert await a.push(10) == "r"
    b.mosquitto_pub("wsgw/comet/event", '{"uid":"va","evt":"e"}')
    assert await a.push(10) == "e"
    r = await api(b, "Publish", {"uid": "va"})
    assert r.status == 400, r
    r = await api(b, "Publish", {"uid": "va", "evt": 1}, token=hs("user"))
    assert r.status == 403, r
    assert (await dump(b, True))["world"]
    # a replaced session, one dropped for silence, one still open at shutdown
    newer = Comet.subscribe(b, hs("va"))
    a2 = await newer
    await a.refused("REPLACED", close=4001)
    await a2.send({"t": "JOIN", "join": {"rid": "other"}})
    silent = await Comet.subscribe(b, hs("vs"))
    await silent.refused("HEARTBEAT_TIMEOUT", close=4000)
    half = await Comet.open(b)           # never authenticates
    rc = await asyncio.to_thread(b.stop, 60)
    await half.wait_closed(10)
    report = vlog.read_text()
    summary = re.findall(r"(definitely|indirectly) lost: ([\d,]+) bytes", report)
    assert rc == 0, f"mosquitto under valgrind exited {rc}:\n{report[-6000:]}"
    no_leaks = "All heap blocks were freed" in report or (summary and all(n == "0" for _, n in summary))
    assert no_leaks, report[-6000:]
    assert "ERROR SUMMARY: 0 errors" in report, report[-6000:]
