"""The gateway's own HTTP/1.1 and WebSocket front (plugin/front.c), from a raw
socket: RFC 6455 framing as a client may send it (fragments with control frames
between them, pings, the close handshake) and what it must not (reserved bits,
unknown opcodes, text that is not UTF-8, a continuation without a message), and
HTTP/1.1 as clients send it (HTTP/1.0 keep-alive, Expect: 100-continue, HEAD) and
must not (a malformed head, a head too large, chunked bodies, dot segments)."""
import json
import socket
import struct
import time

from wsgw import RawWS, ws_frame as frame


def frames_until_close(raw, timeout=4):
    """Every frame until the server's close: [(opcode, payload)], and whether the
    server then ended the TCP connection."""
    out = []
    raw.sock.settimeout(timeout)
    try:
        while True:
            op, payload = raw.read_frame()
            out.append((op, payload))
            if op == 8:
                break
    except (EOFError, ConnectionResetError, socket.timeout):
        return out, False
    try:
        ended = raw.sock.recv(1) == b""
    except ConnectionResetError:
        ended = True
    except socket.timeout:
        ended = False
    return out, ended


def close_code(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def listener(gw, chan="f"):
    raw = RawWS(gw.ws_port, gw.path(chan, "listen"))
    assert raw.read_json()["type"] == "CONNECTED"
    return raw


def error_of(raw):
    while True:
        op, payload = raw.read_frame()
        if op == 1:
            msg = json.loads(payload)
            if msg["type"] == "ERROR":
                return msg["payload"]


# --------------------------------------------------------------------------- WebSocket

def test_fragments_with_a_ping_between_make_one_message(start_gateway):
    gw = start_gateway(ws_ping_interval=0)
    raw = listener(gw)
    # an unknown type, in three fragments, a ping between the first two: the
    # gateway answers the ping at once and the whole message once
    raw.sock.sendall(frame(1, b'{"type"', fin=False) + frame(9, b"are you there")
                     + frame(0, b':"NO_SUCH', fin=False) + frame(0, b'_TYPE"}'))
    op, payload = raw.read_frame()
    assert (op, payload) == (10, b"are you there"), (op, payload)
    err = error_of(raw)
    assert err["code"] == "UNKNOWN_TYPE", err


def test_large_message_in_pieces(start_gateway):
    """A 70,000-byte text message (the 64-bit length form) with its header and
    mask sent a byte at a time, the payload unmasked in pieces as it comes."""
    gw = start_gateway(ws_ping_interval=0, max_frame_size=200000)
    raw = listener(gw)
    text = json.dumps({"type": "NO_SUCH_TYPE", "payload": {"pad": "é" * 35000}}, ensure_ascii=False).encode()
    data = frame(1, text)
    assert data[1] & 0x7F == 127
    for i in range(0, 24):                       # header and mask byte by byte
        raw.sock.sendall(data[i:i + 1])
        time.sleep(0.005)
    for i in range(24, len(data), 7001):         # the rest in odd pieces
        raw.sock.sendall(data[i:i + 7001])
    assert error_of(raw)["code"] == "UNKNOWN_TYPE"


def test_client_close_is_answered_with_its_code(start_gateway):
    gw = start_gateway(ws_ping_interval=0)
    raw = listener(gw)
    raw.sock.sendall(frame(8, struct.pack("!H", 4321) + b"bye"))
    got, ended = frames_until_close(raw)
    assert got[-1][0] == 8 and close_code(got[-1][1]) == 4321, got
    assert ended, "the server kept the TCP connection after the close handshake"


def test_protocol_errors_close_with_1002(start_gateway):
    gw = start_gateway(ws_ping_interval=0)
    cases = {
        "reserved bit": frame(1, b"{}", rsv=0x40),
        "unknown opcode": frame(3, b"{}"),
        "fragmented ping": frame(9, b"x", fin=False),
        "long ping": frame(9, b"x" * 126),
        "continuation without a message": frame(0, b"{}"),
        "new message inside a fragmented one": frame(1, b"{", fin=False) + frame(1, b"}"),
        "unmasked": frame(1, b"{}", mask=False),
        "bad close code": frame(8, struct.pack("!H", 1005)),
        "one-byte close": frame(8, b"\x03"),
    }
    for what, data in cases.items():
        raw = listener(gw)
        raw.sock.sendall(data)
        got, ended = frames_until_close(raw)
        assert got and got[-1][0] == 8 and close_code(got[-1][1]) == 1002, (what, got)
        assert ended, what
    # the gateway still serves
    raw = listener(gw)
    raw.sock.sendall(frame(9, b"ok"))
    assert raw.read_frame() == (10, b"ok")


def test_text_that_is_not_utf8_closes_with_1007(start_gateway):
    gw = start_gateway(ws_ping_interval=0)
    for data in (frame(1, b'{"a":"\xc0\xaf"}'),                      # overlong
                 frame(1, b'{"a":"\xed\xa0\x80"}'),                  # surrogate
                 frame(1, b'{"a":"\xe2\x82', fin=False) + frame(0, b'"}')):   # cut character
        raw = listener(gw)
        raw.sock.sendall(data)
        got, _ = frames_until_close(raw)
        assert got and got[-1][0] == 8 and close_code(got[-1][1]) == 1007, (data, got)
    # a character split across two fragments is fine
    raw = listener(gw)
    raw.sock.sendall(frame(1, b'{"type":"NO_SUCH_TYPE","x":"\xe2\x82', fin=False) + frame(0, b'\xac"}'))
    assert error_of(raw)["code"] == "UNKNOWN_TYPE"


def test_upgrade_with_a_bad_version_or_key(start_gateway):
    gw = start_gateway()
    path = gw.path("f", "listen")
    for headers, status in (("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n", 426),
                            ("Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n", 400),
                            ("Sec-WebSocket-Version: 13\r\n", 400)):
        with socket.create_connection(("127.0.0.1", gw.ws_port), timeout=5) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{headers}\r\n"
                      .encode())
            head = recv_head(s)
            assert head.split()[1] == str(status).encode(), (headers, head)
            if status == 426:
                assert b"sec-websocket-version: 13" in head.lower(), head
    # counted as refused upgrades
    status, _, body = ask(gw.ws_port, b"GET /metrics HTTP/1.1\r\n\r\n")
    assert status == 200
    line = [l for l in body.decode().splitlines() if 'reason="BAD_HANDSHAKE"' in l and 'on="upgrade"' in l]
    assert line and line[0].endswith(" 3"), line


# --------------------------------------------------------------------------- HTTP/1.1

def recv_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def recv_response(s):
    """(status, headers, body) of one response."""
    data = recv_head(s)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(4096)
        assert chunk, "closed inside a body"
        rest += chunk
    return int(lines[0].split()[1]), headers, rest[:n]


def ask(port, raw_request, timeout=5):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw_request)
        return recv_response(s)


def test_malformed_heads(start_gateway):
    gw = start_gateway()
    emit = gw.path("f", "emit")
    cases = [
        (b"GET " + emit.encode() + b" HTTP/1.1\r\nHost x\r\n\r\n", 400),              # no colon
        (b"GET " + emit.encode() + b" HTTP/1.1\r\nHost : x\r\n\r\n", 400),            # space before colon
        (b"GET " + emit.encode() + b" HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400),          # obs-fold
        (b"GET " + emit.encode() + b" HTTP/2.0\r\n\r\n", 505),
        (b"GET http://x/ HTTP/1.1\r\n\r\n", 400),                                     # not origin-form
        (b"GET /a/../" + emit.encode()[1:] + b" HTTP/1.1\r\n\r\n", 400),              # dot segment
        (b"GET " + emit.encode() + b" HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"POST " + emit.encode() + b" HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411),
        (b"POST " + emit.encode() + b" HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
    ]
    for req, status in cases:
        got, headers, body = ask(gw.ws_port, req)
        assert got == status, (req[:80], got, body)
        assert headers.get("connection") == "close", (req[:80], headers)
        assert json.loads(body)["error"], body


def test_http10_keep_alive_head_and_expect(start_gateway):
    gw = start_gateway()
    emit = gw.path("f", "emit")
    dev = gw.mqtt()
    dev.subscribe("wsgw/wsdo/f")
    time.sleep(0.3)
    with socket.create_connection(("127.0.0.1", gw.ws_port), timeout=5) as s:
        # HTTP/1.0 with keep-alive: kept, and said so
        s.sendall(f"GET {emit}?a=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
        status, headers, _ = recv_response(s)
        assert status == 200 and headers.get("connection") == "keep-alive", headers
        # HEAD: the length of the body it would have, and no body
        s.sendall(f"HEAD {emit} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
        head = recv_head(s)
        assert head.split()[1] == b"405" and head.endswith(b"\r\n\r\n"), head
        # Expect: 100-continue, then the body
        body = b'{"b":2}'
        s.sendall(f"POST {emit} HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        assert recv_head(s).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        status, _, _ = recv_response(s)
        assert status == 200
    # HTTP/1.0 without keep-alive: closed after the reply
    with socket.create_connection(("127.0.0.1", gw.ws_port), timeout=5) as s:
        s.sendall(f"GET {emit}?c=3 HTTP/1.0\r\n\r\n".encode())
        status, headers, _ = recv_response(s)
        assert status == 200 and headers.get("connection") == "close"
        assert s.recv(10) == b""
    time.sleep(0.5)
    assert [m.json() for m in dev.all if m.topic == "wsgw/wsdo/f"] == [{"a": "1"}, {"b": 2}, {"c": "3"}]


def test_query_decoding(start_gateway):
    gw = start_gateway()
    dev = gw.mqtt()
    dev.subscribe("wsgw/wsdo/q")
    time.sleep(0.3)
    status, _, _ = ask(gw.ws_port, f"GET {gw.path('q', 'emit')}?a=x%20y&b=1%2B1&c=p+q&d%3D=e&&f HTTP/1.1\r\n\r\n"
                       .encode())
    assert status == 200
    time.sleep(0.5)
    got = [m.json() for m in dev.all if m.topic == "wsgw/wsdo/q"]
    assert got == [{"a": "x y", "b": "1+1", "c": "p q", "d=": "e", "f": ""}], got
