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
import shutil
import socket

import pytest

import wsgw
from wsgw import RawWS


SIZES = [10, 200, 30000, 65400, 70000, 140000, 500] * 2   # 612 KB


async def queued_frames_arrive(stuck, emit):
    """stuck: a RawWS that has read nothing yet; emit(i, value): an emit's status."""
    assert (await asyncio.to_thread(stuck.read_json))["type"] == "CONNECTED"
    # the client reads nothing while these are emitted: its 4 KB receive buffer
    # and the gateway's send buffer fill, the rest waits in the gateway's queue
    for i, n in enumerate(SIZES):
        status = await emit(i, {"i": i, "pad": "x" * n})
        assert status == 200, (i, status)
    lengths = set()
    for i, n in enumerate(SIZES):
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


async def test_queued_frames_arrive_whole_and_in_order(start_gateway):
    gw = start_gateway(max_frame_size=262144)   # max_queue_bytes 1 MB: about half of it is the kernel's
    stuck = await asyncio.to_thread(RawWS, gw.ws_port, gw.path("b", "listen"), 4096, 10)

    async def emit(i, value):
        return (await gw.emit_post("b", value)).status
    await queued_frames_arrive(stuck, emit)


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")
async def test_queued_frames_over_tls(start_gateway):
    # the batch is one raw lws write: over TLS it is encrypted like any other
    from test_web_tls import Pki, client_ctx, https, tls_gateway
    pki = Pki()
    try:
        pki.server = pki.issue("server", "localhost", 0x1001)
        pki.client = pki.issue("client", "a client", 0x2002, server=False)
        gw = tls_gateway(start_gateway, pki, max_frame_size=262144)
        ctx = client_ctx(pki)

        def open_stuck():
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.settimeout(10)
            raw.connect(("127.0.0.1", gw.ws_port))
            sock = ctx.wrap_socket(raw, server_hostname="localhost")
            status, buf = wsgw.ws_handshake(sock, gw.ws_port, gw.path("b", "listen"))
            assert status == 101, status
            stuck = RawWS.__new__(RawWS)
            stuck.sock, stuck.buf = sock, buf
            return stuck
        stuck = await asyncio.to_thread(open_stuck)

        async def emit(i, value):
            return (await asyncio.to_thread(https, gw, ctx, "POST", gw.path("b", "emit"),
                                            json.dumps(value).encode(),
                                            {"Content-Type": "application/json"}))[0]
        await queued_frames_arrive(stuck, emit)
    finally:
        pki.cleanup()
