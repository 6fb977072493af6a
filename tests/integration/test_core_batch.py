"""Frames queued for a client leave several to a send (plugin/session.c
write_batch: framed by the gateway, written raw). A client that reads nothing
for a while gets every frame afterwards, whole and in order, in each of the
header's length forms (the 16-bit one, the 64-bit one past 65,535 bytes, and
frames too large to join a batch). The emits stay under what max_queue_bytes
lets wait (else the client is cut as slow), and above what the kernel's
buffers take, so frames do wait in the gateway's queue: a header written wrong
by write_batch (tried: the binary opcode) fails this test."""
import asyncio
import json

from wsgw import RawWS


async def test_queued_frames_arrive_whole_and_in_order(start_gateway):
    gw = start_gateway(max_frame_size=262144)   # max_queue_bytes 1 MB: about half of it is the kernel's
    stuck = await asyncio.to_thread(RawWS, gw.ws_port, gw.path("b", "listen"), 4096, 10)
    assert (await asyncio.to_thread(stuck.read_json))["type"] == "CONNECTED"
    # the client reads nothing while these are emitted: its 4 KB receive buffer
    # and the gateway's send buffer fill, the rest waits in the gateway's queue
    sizes = [10, 200, 30000, 65400, 70000, 140000, 500] * 2   # 612 KB
    for i, n in enumerate(sizes):
        r = await gw.emit_post("b", {"i": i, "pad": "x" * n})
        assert r.status == 200, (i, r)
    lengths = set()
    for i, n in enumerate(sizes):
        while True:
            op, payload = await asyncio.to_thread(stuck.read_frame)
            assert op == 1, (i, op)
            lengths.add(len(payload))
            f = json.loads(payload)
            if f["type"] == "DATA":
                break
        assert f["payload"] == {"i": i, "pad": "x" * n}, (i, len(payload))
    # every header form was on the wire
    assert min(lengths) < 65536 <= max(lengths) and any(126 <= n < 65536 for n in lengths)
    stuck.cut()
