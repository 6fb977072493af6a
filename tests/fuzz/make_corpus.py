#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<harness>/ (committed; run
again after adding golden or unit cases). Seeds come from the golden cases
(tests/golden/*/<case>/input and the frames and bodies of the seq-*
sequences), from the string literals of the unit tests, and, for the wire
format and the tokens, from inputs built here the way the gateway's peers
build them. Each harness's first byte picks its entry point (see the
harness's comment); the seeds carry it. File names are the SHA-1 of the
content, as libFuzzer names its own."""
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOLDEN = os.path.join(ROOT, "tests", "golden")
UNIT = os.path.join(ROOT, "tests", "unit")

corpus = {}


def add(harness, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > 4096:
        return
    corpus.setdefault(harness, set()).add(bytes(data))


def c_literals(path):
    """The string literals of a C file, unescaped, adjacent ones joined."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"(?:\s*"((?:[^"\\\n]|\\.)*)")*', text):
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(0))
        out.append(b"".join(unescape(p) for p in parts))
    return out


def unescape(s):
    out = bytearray()
    i = 0
    raw = s.encode("utf-8")
    simple = {ord("n"): 10, ord("t"): 9, ord("r"): 13, ord("\\"): 92, ord('"'): 34,
              ord("'"): 39, ord("a"): 7, ord("b"): 8, ord("f"): 12, ord("v"): 11, ord("?"): 63}
    while i < len(raw):
        c = raw[i]
        if c != 92 or i + 1 == len(raw):
            out.append(c)
            i += 1
            continue
        n = raw[i + 1]
        if n in simple:
            out.append(simple[n])
            i += 2
        elif n == ord("x"):
            m = re.match(rb"[0-9a-fA-F]{1,2}", raw[i + 2:])
            out.append(int(m.group(0), 16))
            i += 2 + len(m.group(0))
        elif ord("0") <= n <= ord("7"):
            m = re.match(rb"[0-7]{1,3}", raw[i + 1:])
            out.append(int(m.group(0), 8) & 0xFF)
            i += 1 + len(m.group(0))
        else:
            out.append(n)
            i += 2
    return bytes(out)


def golden_inputs(dialect):
    d = os.path.join(GOLDEN, dialect)
    for case in sorted(os.listdir(d)):
        p = os.path.join(d, case, "input")
        if os.path.exists(p):
            yield open(p, "rb").read()


def sequences(dialect):
    d = os.path.join(GOLDEN, dialect)
    for case in sorted(os.listdir(d)):
        p = os.path.join(d, case, "sequence")
        if os.path.exists(p):
            for line in open(p, encoding="utf-8"):
                yield line.rstrip("\n").split(" ", 3)


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def json_literals(path):
    for s in c_literals(path):
        if s[:1] in (b"{", b"["):
            yield s


# ---- the dialects ----
for s in golden_inputs("wsdo"):
    add("wsdo", b"\0" + s)
for s in json_literals(os.path.join(UNIT, "test_wsdo_proto.c")):
    add("wsdo", b"\0" + s)
for w in sequences("wsdo"):
    if w[0] == "ws-send" and len(w) >= 3:
        add("wsdo", b"\0" + " ".join(w[2:]).encode())
    if w[0] == "ws-connect" and len(w) >= 3:
        add("wsdo", b"\2" + w[2].lstrip("/").encode())
    if w[0] == "http" and len(w) >= 3:
        path, _, query = w[2].partition("?")
        add("wsdo", b"\2" + path.lstrip("/").encode())
        lines = "\n".join(query.split("&")) if query else ""
        body = w[3] if len(w) > 3 else ""
        add("wsdo", b"\1" + (b"\1" if w[1] == "POST" else b"\0") + f"{lines}\n\n{body}".encode())
for q, post, body in [("clients=2", 1, '{"a":1}'), ("clients=client_abcdefgh,client_12345678", 1, "[1,2]"),
                      ("require-ack=true\nmsg=hi", 0, ""), ("clients=0", 0, ""), ("x=\xff", 0, "")]:
    add("wsdo", b"\1" + bytes([post]) + f"{q}\n\n{body}".encode("latin-1"))
for p in ["lobby/listen", "lobby/emit/", "a/b/listen", "$sys/listen", "/listen", "lobby"]:
    add("wsdo", b"\2" + p.encode())

for s in golden_inputs("op"):
    add("op", b"\0" + s)
for s in json_literals(os.path.join(UNIT, "test_op_proto.c")):
    add("op", b"\0" + s)
for w in sequences("op"):
    if w[0] == "ws-send" and len(w) >= 3:
        add("op", b"\0" + " ".join(w[2:]).encode())
for t in ["com.myapp.room1", "com.myapp.chats/me", "com.myapp.room1/presence", "a..b", "com.app/x/me\0alice",
          "me", ".a", "com.app.room/presence/presence",
          "com.qpp/x/me\0a\x01ce"]:   # a user id that cannot be a level (found by fuzzing)
    add("op", b"\1" + t.encode())

for s in golden_inputs("telegraphy"):
    add("tele", b"\0" + s)
for s in json_literals(os.path.join(UNIT, "test_tele_proto.c")):
    add("tele", b"\0" + s)
    add("tele", b"\3" + s)
for w in sequences("telegraphy"):
    if w[0] == "ws-send" and len(w) >= 3:
        add("tele", b"\0" + " ".join(w[2:]).encode())
for n in ["chat.message", "chat.*", "chat.**", "a.*.b", "$x", "a..b", "a/b"]:
    add("tele", b"\1" + n.encode())
for p in ["chat/message", "a/+/b", "a//b", "x"]:
    add("tele", b"\2" + p.encode())
add("tele", b'\3{"room":"a","user.id":1}\0{"room":"a","user":{"id":1}}')

for s in golden_inputs("comet"):
    add("comet", b"\0" + s)
for s in json_literals(os.path.join(UNIT, "test_comet_proto.c")):
    add("comet", b"\0" + s)
    add("comet", b"\2" + s)
    add("comet", b"\3" + s)
    add("comet", b"\4" + s)
    for r in range(4):
        add("comet", b"\1" + bytes([r]) + s)
routes = {"Subscribe": 0, "Publish": 1, "Broadcast": 2, "DumpSession": 3}
for w in sequences("comet"):
    if w[0] == "ws-send" and len(w) >= 3:
        add("comet", b"\0" + " ".join(w[2:]).encode())
    if w[0] == "http" and len(w) >= 3:
        sub = w[2].split("/comet/", 1)[-1]
        add("comet", b"\6" + sub.encode())
        method = sub.rsplit("/", 1)[-1]
        if method in routes:
            add("comet", b"\1" + bytes([routes[method]]) + (w[3] if len(w) > 3 else "").encode())
    if w[0] == "mqtt-pub" and len(w) >= 3:
        body = " ".join(w[2:]).encode()
        add("comet", b"\2" + body)
        add("comet", b"\3" + body)
for h in ["Bearer abc.def.ghi", "bearer  tok  ", "Basic xyz", "Bearer"]:
    add("comet", b"\5" + h.encode())
for c in ['{"uid":"alice","gateway":"gw:1","boot":"b1","birth":1700000000000,"nonce":"0123456789abcdef"}',
          '{"uid":"","gateway":"","boot":"","birth":-1,"nonce":""}',
          '{"uid":"a","gateway":"g","boot":"b","birth":1.5,"nonce":"n"}']:
    add("comet", b"\4" + c.encode())
for c in [b'{"type":"service"}', b'{"scopes":["a","service"]}', b'{"scopes":"service"}', b'{"sub":"x"}']:
    add("comet", b"\5Bearer " + b64(b'{"alg":"HS256"}') + b"." + b64(c) + b".sig")
for p in ["Comet/Subscribe", "subscribe", "Comet/Publish/", "broadcast", "dumpsession", "Comet/Nope"]:
    add("comet", b"\6" + p.encode())
for p in [b"plain text", b"", b"\xff\xfe", b"12345678901234567890123"]:
    add("comet", b"\3" + p)

for s in golden_inputs("content"):
    add("content", b"\0" + s)
for s in json_literals(os.path.join(UNIT, "test_content_proto.c")):
    add("content", b"\0" + s)
    if s.startswith(b"["):
        add("content", b"\2" + s)
for t in [("wsgw", "content", "wsgw/content/room/42"), ("wsgw", "content", "wsgw/content/room/42/children/msg/1,a"),
          ("", "content", "content/user/bob"), ("a/b", "c/d", "a/b/c/d/msg/007"), ("wsgw", "content", "wsgw/content/room/a,,b"),
          ("wsgw", "content", "wsgw/content/room/42/kids/msg/1")]:
    add("content", b"\1" + "\0".join(t).encode())
for v in ['["gw1",1764650000123]', ' [ "mqtt" , 12345 ] ', '[2342,21342134]', '["",1]', '["a",9007199254740992]']:
    add("content", b"\2" + v.encode())
add("content", b"\3\0" + json.dumps([
    [{"type": "user", "id": 32131}, {"display_name": "Abadi Bouzouf"}, True],
    [{"type": "user", "id": "87324"}, {"display_name": "betani", "presence": "busy"}, False],
    [{"type": "room", "id": 5}, {"display_name": "Abadi Bouzouf", "connected": True}, False],
    [{"type": "user", "id": 7}, {"display_name": 12}, True],
    [{"type": "msg", "id": [1, "a"]}, {"key": {"type": "x", "id": 1}}, False]]).encode())
add("content", b"\3\x07" + b'[[{"type":"u","id":1},{},true],[{"type":"u","id":1},{},false]]')
add("content", b"\4\3" + bytes([4, 8, 12, 7, 3, 6, 16, 4, 2, 2, 0x83, 0xff, 20]))
add("content", b"\4\0" + bytes([4, 3, 2, 0x87]))
for t in ["user:{username}\0bob", "index:root\0x", "pair:{username},{username}\0a", "fav:{username}:fav\0b b", "user\0bob"]:
    add("content", b"\5" + t.encode())


# ---- JSON and text ----
for d in ("wsdo", "op", "telegraphy", "comet"):
    for s in golden_inputs(d):
        add("jsonutil", s)
for f in ("test_jsonutil.c",):
    for s in c_literals(os.path.join(UNIT, f)):
        add("jsonutil", s)
for s in [b"eyJhIjoxfQ", b"_-_-", b"abc", b"a", b"\xc3\xa9", b"\xed\xa0\x80", b"\xc0\xaf", b"[1\0,2]"]:
    add("jsonutil", s)


# ---- tokens ----
HS = b"fuzz-hs256-secret-0123456789abcd"
claims = [s for s in json_literals(os.path.join(UNIT, "test_jwtauth.c")) if s.startswith(b"{")]
claims += [b'{"sub":"alice","name":"Alice","exp":1700000060}',
           b'{"sub":"svc","iss":"https://issuer.example","aud":["x","wsgw"],"exp":1700000060,"nbf":1}',
           b'{"sub":"bob","preferred_username":"Bob","aud":"wsgw","exp":1.7e9}']
for c in claims:
    for hdr in (b'{"alg":"HS256","typ":"JWT"}', b'{"alg":"RS256","typ":"JWT"}'):
        for sel in (1, 1 | 2 | 4 | 8, 1 | 32):
            rs = 16 if b"RS256" in hdr else 0
            add("jwtauth", bytes([sel | rs]) + hdr + b"\0" + c)
    hp = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(c)
    add("jwtauth", b"\0" + hp + b"." + b64(hmac.new(HS, hp, hashlib.sha256).digest()))
for hdr in [b'{"alg":"none"}', b'{"alg":"HS256","alg":"none"}', b'{"alg":"HS384"}', b"[]"]:
    add("jwtauth", b"\1" + hdr + b"\0" + b'{"sub":"x"}')
add("jwtauth", b"\0a.b.c")

ST = b"fuzz-stoken-secret-0123456789abc"
texts = [s for s in json_literals(os.path.join(UNIT, "test_stoken.c")) if s.startswith(b"{")]
texts += [b'{"c":"op-abc","e":1800000000,"b":"127.0.0.1"}', b'{"c":"x","e":1,"b":""}',
          b'{"c":"x","e":1800000000}', b'{"c":"x","c":"y","e":1800000000,"b":""}']
for t in texts:
    add("stoken", b"\1" + t)
    add("stoken", b"\1" + t + b"\0127.0.0.1")
    p1 = b64(t)
    add("stoken", b"\0" + p1 + b"." + b64(hmac.new(ST, p1, hashlib.sha256).digest()))
add("stoken", b"\0abc.def")


# ---- topics ----
for s in c_literals(os.path.join(UNIT, "test_topic.c")):
    add("topic", s)
for a, b in [("wsgw/presence", "wsgw/presence/wsdo/lobby/c1"), ("", "a/b"), ("wsdo/+", "wsdo/x"),
             ("#", "$SYS/x"), ("a/#", "a"), ("lobby", "0123456789ab-17"), ("gw1", "ffffffffffff-2147483647"),
             ("+/+", "/x"), ("a/b/c", "a/b/c")]:
    add("topic", a.encode() + b"\0" + b.encode())


# ---- presence payloads ----
payloads = [s for s in c_literals(os.path.join(UNIT, "test_mirror.c")) if s.startswith(b"{")]
for i, p in enumerate(payloads):
    p = p[:255]
    rec = bytes([(i % 3) | (i % 4) << 2 | (i % 8) << 4, i % 5, i % 3, len(p)]) + p
    add("mirror", rec)
    # the same slot: an update, then an empty payload (a leave), then expiry
    add("mirror", rec + rec + bytes([rec[0], 0, 1, 0]) + bytes([3, 0, 200, 0]))
seq = b""
for i, p in enumerate(payloads[:12]):
    p = p[:255]
    seq += bytes([(i & 1) | (i % 4) << 2 | (i % 8) << 4, 3, 5, len(p)]) + p
add("mirror", seq + bytes([3, 0, 255, 0]))


# ---- JSON Patch and Pointer (content sync) ----
def jdump(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()


NOLIM = b"\0\0"   # the limit bytes: the defaults
SMALL = b"\x34\x10"   # 5 operations, depth 3, 65 values
d = os.path.join(GOLDEN, "jsonpatch")
for case in sorted(os.listdir(d)):
    inp = json.loads(open(os.path.join(d, case, "input"), encoding="utf-8").read())
    doc, patch = jdump(inp["doc"]), jdump(inp["patch"])
    for lim in (NOLIM, SMALL):
        add("jsonpatch", b"\0" + lim + doc + b"\0" + patch)
    out = os.path.join(d, case, "output")
    if os.path.exists(out):
        add("jsonpatch", b"\1" + NOLIM + doc + b"\0" + jdump(json.loads(open(out, encoding="utf-8").read())["doc"]))
    for op in inp["patch"] if isinstance(inp["patch"], list) else [inp["patch"]]:
        if isinstance(op, dict) and isinstance(op.get("path"), str):
            add("jsonpatch", b"\2" + NOLIM + op["path"].encode() + b"\0" + doc)
lits = c_literals(os.path.join(UNIT, "test_jsonpatch.c"))
docs = [s for s in lits if s[:1] in (b"{", b"[")]
for a, b in zip(docs, docs[1:]):
    add("jsonpatch", b"\0" + NOLIM + a + b"\0" + b)
    add("jsonpatch", b"\1" + NOLIM + a + b"\0" + b)
for s in lits:
    if s[:1] == b"/" or s == b"":
        add("jsonpatch", b"\2" + NOLIM + s + b"\0" + b'{"a":{"b":[1,2,{"c":3}]},"":0,"~/":[]}')
add("jsonpatch", b"\2\x30\0" + b"/a/b/c/d/e" + b"\0" + b'{"a":{"b":{"c":{"d":{"e":1}}}}}')
add("jsonpatch", b"\0" + SMALL + b'{"a":[1,2,3]}\0[{"op":"copy","from":"","path":"/b"},{"op":"copy","from":"","path":"/c"}]')


# ---- MQTT 5 wire format ----
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mstr(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(s)) + s


def props(*ps):
    body = b"".join(ps)
    return varint(len(body)) + body


def pkt(type_, flags, body):
    return bytes([type_ << 4 | flags]) + varint(len(body)) + body


P_EXPIRY = b"\x02" + struct.pack(">I", 60)
P_SID = b"\x0b" + varint(300)
P_SESS = b"\x11" + struct.pack(">I", 3600)
P_RMAX = b"\x21" + struct.pack(">H", 20)
P_USER = b"\x26" + mstr("wsgw-sender") + mstr("op-1")
P_CTYPE = b"\x03" + mstr("application/json")
P_CLIENT = b"\x12" + mstr("auto-1")
P_CORR = b"\x09" + mstr(b"\x00\x01")
P_BYTE = b"\x24\x01"
packets = [
    pkt(2, 0, b"\x00\x00" + props()),
    pkt(2, 0, b"\x01\x00" + props(P_SESS, P_RMAX, P_CLIENT, P_USER, P_BYTE)),
    pkt(2, 0, b"\x00\x87" + props()),
    pkt(3, 0, mstr("wsgw/wsdo/lobby") + props() + b'{"a":1}'),
    pkt(3, 1, mstr("wsgw/presence/x/c1") + props(P_EXPIRY) + b"{}"),
    pkt(3, 2, mstr("a/b") + b"\x00\x07" + props(P_SID, P_USER, P_CTYPE, P_CORR) + b"payload"),
    pkt(3, 4, mstr("q2") + b"\x00\x08" + props(P_SID, b"\x0b" + varint(1)) + b""),
    pkt(3, 6, mstr("bad") + b"\x00\x01" + props()),
    pkt(4, 0, b"\x00\x05"),
    pkt(4, 0, b"\x00\x05\x10"),
    pkt(4, 0, b"\x00\x05\x00" + props(b"\x1f" + mstr("reason"))),
    pkt(9, 0, b"\x00\x02" + props() + b"\x00\x01\x80"),
    pkt(11, 0, b"\x00\x03" + props(P_USER) + b"\x00\x11"),
    pkt(13, 0, b""),
    pkt(14, 0, b""),
    pkt(14, 0, b"\x8e" + props(b"\x1c" + mstr("other"))),
]
for p in packets:
    add("mqttw", p)
    add("mqttw", p[:max(1, len(p) // 2)])
add("mqttw", b"".join(packets))
add("mqttw", b"\x30\xff\xff\xff\xff\x7f")
add("mqttw", b"\x30\x80\x80\x80\x80")
add("mqttw", pkt(3, 0, mstr("t") + props() + b"x" * 200) + pkt(13, 0, b""))


# ---- trusted proxies: network NUL Forwarded NUL X-Forwarded-For NUL X-Forwarded-Proto ----
for net, fwd, xff, proto in [
        ("10.0.0.0/8", "for=198.51.100.1;proto=https", "", ""),
        ("2001:db8::/32", 'for="[2001:db8:cafe::17]:4711";proto=http, for=10.0.0.9', "", ""),
        ("127.0.0.1", "", "6.6.6.6, 198.51.100.1, 10.1.1.1", "https"),
        ("0.0.0.0/0", "for=unknown;by=_hidden", "[::1]:80, 10.0.0.1:8080", "http, https"),
        ("::/0", 'for=x;ext="a,b\\"c"', "::ffff:127.0.0.1", "HTTPS"),
        ("10.0.0.1/8", "for=", "garbage,,", "gopher")]:
    add("proxy", "\0".join((net, fwd, xff, proto)))
for s in c_literals(os.path.join(UNIT, "test_proxy.c")):
    add("proxy", s)


# Corpora whose seeds were written by hand (as files, not above): kept as they are.
HAND_WRITTEN = ("http1", "wsframe")


def main():
    out = os.path.join(HERE, "corpus")
    for h in HAND_WRITTEN:
        d = os.path.join(out, h)
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, name), "rb") as f:
                add(h, f.read())
    if os.path.isdir(out):
        shutil.rmtree(out)
    for h, seeds in sorted(corpus.items()):
        d = os.path.join(out, h)
        os.makedirs(d)
        for s in seeds:
            with open(os.path.join(d, hashlib.sha1(s).hexdigest()), "wb") as f:
                f.write(s)
        print(f"{h}: {len(seeds)} seeds", file=sys.stderr)


main()
