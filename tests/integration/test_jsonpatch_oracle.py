"""mapping/jsonpatch.c against Debian's python3-jsonpatch (1.32, on jsonpointer 2.3) as an
oracle, over many seeded random cases, through tests/unit/jsonpatch_tool (its path in
WSGW_JSONPATCH_TOOL, which tests/CMakeLists.txt sets; else build/tests/jsonpatch_tool).

- apply: the same success or failure, and the same document on success.
- diff: our diff of (old, new), applied by python-jsonpatch, gives new exactly; python's
  make_patch(old, new), applied by us, gives what python's own apply of it gives.

Where python-jsonpatch departs from RFC 6901/6902 we follow the RFCs. Each such place is a
named fix below, applied to python-jsonpatch only when the two disagree: the case counts
as explained when the fixed oracle agrees, and the test fails on any disagreement that no
fix explains. The fixes:
- index: an array index has no leading zero ("01", "00"), RFC 6901 section 4; jsonpointer
  2.3 matches the index pattern at the start only and takes "01" as 1.
- string: a pointer does not go into a string (JSON Pointer's values are objects and
  arrays); jsonpointer takes "/s/0" as the first character of s.
- bool: test compares true/false only with themselves (RFC 6902 4.6 lists "literals"
  apart from numbers); Python's == has True == 1 and False == 0.0.
- move_child: a move into its own child is an error whatever the parent (RFC 6902 4.4);
  python-jsonpatch checks it only when the value sits in an object.
- root_from: "from": "" names the whole document (RFC 6901): copying it works, moving it
  into a child is moving into its own child; python-jsonpatch fails on subobj[None].
- dash_member: "-" is special in arrays only (RFC 6902 4.1); an object's member "-" can
  be replaced like any other, where python-jsonpatch refuses "-" in any replace.
- root_add: an add at "" replaces the whole document (RFC 6902 4.1) whatever it is;
  python-jsonpatch compares None with the length when the document is an array.
"""
import contextlib
import copy
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence

import pytest

if not sys.executable.startswith("/usr/bin/"):
    pytest.skip("Debian's python3-jsonpatch is the oracle: run with /usr/bin/python3",
                allow_module_level=True)
jsonpatch = pytest.importorskip("jsonpatch")
jsonpointer = pytest.importorskip("jsonpointer")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.environ.get("WSGW_JSONPATCH_TOOL", os.path.join(ROOT, "build", "tests", "jsonpatch_tool"))
SEED = int(os.environ.get("JSONPATCH_ORACLE_SEED", "6902"))
APPLY_CASES = 20000
DIFF_CASES = 5000

KEYS = ["a", "b", "c", "id", "name", "a/b", "m~n", "", "-", "0", "01", "é", "~1"]
STRINGS = ["", "x", "abc", "online", "1", "~/"]


def run_tool(cases):
    """Our results for a list of case objects, in order."""
    if not os.path.exists(TOOL):
        pytest.fail(f"tool not built: {TOOL} (build it or set WSGW_JSONPATCH_TOOL)")
    text = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)
    p = subprocess.run([TOOL], input=text.encode(), capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    out = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(out) == len(cases)
    return out


def same(a, b):
    """Exactly the same JSON value: true is not 1, 1 is not 1.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def rfc_equal(a, b):
    """RFC 6902 4.6: numbers by value, literals only equal themselves."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(rfc_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(rfc_equal(x, y) for x, y in zip(a, b))
    return a == b


# ---- python-jsonpatch, and its RFC fixes ----

FIXES = ("index", "string", "bool", "move_child", "root_from", "root_add", "dash_member")
_orig_get_part = jsonpointer.JsonPointer.__dict__["get_part"]
_orig_move = jsonpatch.MoveOperation.apply
_orig_copy = jsonpatch.CopyOperation.apply
_orig_test = jsonpatch.TestOperation.apply
_orig_add = jsonpatch.AddOperation.apply
_orig_replace = jsonpatch.ReplaceOperation.apply


def _get_part(fixes):
    def get_part(cls, doc, part):
        if "string" in fixes and isinstance(doc, str):
            raise jsonpointer.JsonPointerException("a string has no members")
        if "index" in fixes and isinstance(doc, Sequence) and not isinstance(doc, str) \
                and part != "-" and not re.fullmatch("0|[1-9][0-9]*", str(part)):
            raise jsonpointer.JsonPointerException(f"'{part}' is not an array index")
        return _orig_get_part.__func__(cls, doc, part)
    return classmethod(get_part)


def _move(fixes):
    def apply(self, obj):
        frm = self.operation.get("from")
        if isinstance(frm, str):
            fp = jsonpointer.JsonPointer(frm)
            if "root_from" in fixes and frm == "" and self.location == "":
                return obj
            inside = len(self.pointer.parts) > len(fp.parts) and \
                self.pointer.parts[:len(fp.parts)] == fp.parts
            if inside and ("move_child" in fixes or ("root_from" in fixes and frm == "")):
                fp.resolve(obj)  # "from" must exist first
                raise jsonpatch.JsonPatchConflict("a value cannot move into its own child")
        return _orig_move(self, obj)
    return apply


def _copy(fixes):
    def apply(self, obj):
        if "root_from" in fixes and self.operation.get("from") == "":
            return jsonpatch.AddOperation({"op": "add", "path": self.location,
                                           "value": copy.deepcopy(obj)}).apply(obj)
        return _orig_copy(self, obj)
    return apply


def _test(fixes):
    def apply(self, obj):
        if "bool" not in fixes:
            return _orig_test(self, obj)
        try:
            val = self.pointer.resolve(obj)
        except jsonpointer.JsonPointerException as ex:
            raise jsonpatch.JsonPatchTestFailed(str(ex))
        if "value" not in self.operation:
            raise jsonpatch.InvalidJsonPatch("no value")
        if isinstance(val, jsonpointer.EndOfList) or not rfc_equal(val, self.operation["value"]):
            raise jsonpatch.JsonPatchTestFailed("differs")
        return obj
    return apply


def _add(fixes):
    def apply(self, obj):
        if "root_add" in fixes and self.location == "" and "value" in self.operation:
            return self.operation["value"]
        return _orig_add(self, obj)
    return apply


def _replace(fixes):
    def apply(self, obj):
        if "dash_member" in fixes and "value" in self.operation:
            subobj, part = self.pointer.to_last(obj)
            if part == "-" and isinstance(subobj, Mapping):
                if part not in subobj:
                    raise jsonpatch.JsonPatchConflict("no member '-'")
                subobj[part] = self.operation["value"]
                return obj
        return _orig_replace(self, obj)
    return apply


@contextlib.contextmanager
def fixed(fixes):
    jsonpointer.JsonPointer.get_part = _get_part(fixes)
    jsonpatch.MoveOperation.apply = _move(fixes)
    jsonpatch.CopyOperation.apply = _copy(fixes)
    jsonpatch.TestOperation.apply = _test(fixes)
    jsonpatch.AddOperation.apply = _add(fixes)
    jsonpatch.ReplaceOperation.apply = _replace(fixes)
    try:
        yield
    finally:
        jsonpointer.JsonPointer.get_part = _orig_get_part
        jsonpatch.MoveOperation.apply = _orig_move
        jsonpatch.CopyOperation.apply = _orig_copy
        jsonpatch.TestOperation.apply = _orig_test
        jsonpatch.AddOperation.apply = _orig_add
        jsonpatch.ReplaceOperation.apply = _orig_replace


def py_apply(doc, patch, fixes=()):
    """(True, result) or (False, exception text)."""
    with fixed(set(fixes)):
        try:
            # copies: python-jsonpatch puts the patch's own values into the document
            return True, jsonpatch.apply_patch(copy.deepcopy(doc), copy.deepcopy(patch))
        except Exception as ex:  # TypeError, KeyError too: all are a refusal
            return False, f"{type(ex).__name__}: {ex}"


def agrees(ours, py):
    ok, val = py
    if ours["ok"] != ok:
        return False
    return not ok or same(ours["doc"], val)


# ---- random documents and patches ----

class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def scalar(self):
        r = self.r
        k = r.randrange(9)
        if k == 0:
            return None
        if k == 1:
            return r.random() < 0.5
        if k == 2:
            return r.randrange(4)
        if k == 3:
            return r.randrange(-2**63, 2**63)
        if k == 4:
            return r.randrange(100) / 4
        if k == 5:
            return float(r.randrange(3))
        return r.choice(STRINGS)

    def value(self, depth):
        r = self.r
        if depth <= 0 or r.randrange(3) == 0:
            return self.scalar()
        n = r.randrange(6)
        if r.random() < 0.5:
            return [self.value(depth - 1) for _ in range(n)]
        return {r.choice(KEYS): self.value(depth - 1) for _ in range(n)}

    def page(self):
        r = self.r
        return [{"key": {"type": "user", "id": r.randrange(1000)}, "display_name": r.choice(KEYS),
                 "picture": None, "presence": r.choice(["online", "away", "offline"]),
                 "connected": r.random() < 0.5} for _ in range(r.randrange(1, 30))]

    def doc(self):
        d = self.page() if self.r.randrange(4) == 0 else self.value(4)
        return d if isinstance(d, (dict, list)) else {"a": d}

    def container(self, v):
        r = self.r
        while r.randrange(3):
            kids = [c for c in (v if isinstance(v, list) else v.values()) if isinstance(c, (dict, list))]
            if not kids:
                break
            v = r.choice(kids)
        return v

    def mutate(self, v):
        r = self.r
        for _ in range(r.randrange(1, 5)):
            c = self.container(v)
            if isinstance(c, list):
                k = r.randrange(4)
                if k == 0:
                    c.insert(r.randrange(len(c) + 1), self.value(2))
                elif k == 1 and c:
                    c.pop(r.randrange(len(c)))
                elif k == 2 and c:
                    c[r.randrange(len(c))] = self.value(2)
                elif c:
                    i, j = r.randrange(len(c)), r.randrange(len(c))
                    c[i], c[j] = c[j], c[i]
            else:
                key = r.choice(KEYS)
                if r.randrange(3) == 0:
                    c.pop(key, None)
                else:
                    c[key] = self.value(2)

    def pointer(self, doc):
        """Mostly a path into doc; sometimes past it, into a string, or not a pointer."""
        r = self.r
        if r.randrange(25) == 0:
            return r.choice(["bad", "/a~2", "/~", "#/a"])
        segs, v = [], doc
        while len(segs) < 8 and r.randrange(4):
            if isinstance(v, list):
                i = r.randrange(len(v) + 2)
                k = r.randrange(12)
                seg = "-" if k == 0 else ("0%d" % i if k == 1 else str(i))
                v = v[i] if i < len(v) and seg != "-" else None
            elif isinstance(v, dict) and v and r.randrange(5):
                seg = r.choice(list(v))
                v = v[seg]
            elif isinstance(v, str) and v and r.randrange(2):
                seg = str(r.randrange(len(v)))
                v = None
            else:
                seg = r.choice(KEYS)
                v = v.get(seg) if isinstance(v, dict) else None
            segs.append(seg)
            if v is None and r.randrange(2):
                break
        return "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segs)

    def tested(self, doc, path):
        """A value for a test at path: what is there, or a look-alike, or anything."""
        r = self.r
        try:
            at = jsonpointer.resolve_pointer(doc, path)
        except Exception:
            at = None
        if isinstance(at, jsonpointer.EndOfList):
            at = None
        k = r.randrange(6)
        if k <= 2:
            return copy.deepcopy(at)
        if k == 3:
            return swap_numbers(at)
        return self.value(2)

    def patch(self, doc):
        r = self.r
        ops = []
        for _ in range(r.randrange(5)):
            op = r.choice(["add", "remove", "replace", "move", "copy", "test"] + (["nope"] if r.randrange(20) == 0 else []))
            o = {"op": op, "path": self.pointer(doc)}
            if op in ("move", "copy"):
                o["from"] = "" if r.randrange(20) == 0 else self.pointer(doc)
            if op == "test":
                o["value"] = self.tested(doc, o["path"])
            elif r.randrange(15):
                o["value"] = self.value(2)
            ops.append(o)
        return ops


def swap_numbers(v):
    """v with true/false as 1/0 and whole numbers as the other kind of number."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int) and abs(v) < 2**53:
        return float(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [swap_numbers(x) for x in v]
    if isinstance(v, dict):
        return {k: swap_numbers(x) for k, x in v.items()}
    return v


def explain(doc, patch, ours):
    """The fixes that make python-jsonpatch agree, or None."""
    if not agrees(ours, py_apply(doc, patch, FIXES)):
        return None
    for f in FIXES:
        if agrees(ours, py_apply(doc, patch, [f])):
            return f
    needed = [f for f in FIXES if not agrees(ours, py_apply(doc, patch, [g for g in FIXES if g != f]))]
    return "+".join(needed) or "any of several"


def test_apply_against_python_jsonpatch():
    g = Gen(SEED)
    cases = []
    for _ in range(APPLY_CASES):
        doc = g.doc()
        cases.append({"doc": doc, "patch": g.patch(doc)})
    results = run_tool(cases)
    explained, bad, ok = {}, [], 0
    for c, ours in zip(cases, results):
        ok += ours["ok"]
        if ours["ok"] is False:
            assert ours["error"] and ours["code"] not in ("input", "nomem", "limit"), ours
            assert -1 <= ours["index"] < len(c["patch"]), ours
        if agrees(ours, py_apply(c["doc"], c["patch"])):
            continue
        why = explain(c["doc"], c["patch"], ours)
        if why is None:
            bad.append((c, ours, py_apply(c["doc"], c["patch"])))
        else:
            explained[why] = explained.get(why, 0) + 1
    print(f"\n{APPLY_CASES} random patches (seed {SEED}): {ok} applied, {APPLY_CASES - ok} refused; "
          f"disagreements explained by an RFC fix: {explained or 'none'}")
    assert not bad, "%d unexplained disagreements, first: %s" % (len(bad), json.dumps(bad[0], default=str))
    # the random cases reach every kind of outcome
    assert APPLY_CASES // 10 < ok < APPLY_CASES * 9 // 10


def test_error_index_and_all_or_nothing():
    """Every refusal names the failing operation: the prefix before it applies, the
    prefix up to it does not (python-jsonpatch gives no index: we check ours by itself)."""
    g = Gen(SEED + 1)
    cases, refused = [], []
    for _ in range(3000):
        doc = g.doc()
        cases.append({"doc": doc, "patch": g.patch(doc)})
    for c, ours in zip(cases, run_tool(cases)):
        if not ours["ok"] and ours["index"] >= 0:
            refused.append((c, ours))
    checks = []
    for c, ours in refused:
        i = ours["index"]
        checks.append({"doc": c["doc"], "patch": c["patch"][:i]})
        checks.append({"doc": c["doc"], "patch": c["patch"][:i + 1]})
    res = run_tool(checks)
    for k, (c, ours) in enumerate(refused):
        before, upto = res[2 * k], res[2 * k + 1]
        assert before["ok"], (c, ours, before)
        assert not upto["ok"] and upto["index"] == ours["index"] and upto["code"] == ours["code"], (c, ours, upto)
    assert len(refused) > 500


def test_diff_against_python_jsonpatch():
    g = Gen(SEED + 2)
    pairs = []
    for _ in range(DIFF_CASES):
        old = g.doc()
        new = copy.deepcopy(old)
        g.mutate(new)
        pairs.append((old, new))
    ours = run_tool([{"old": a, "new": b} for a, b in pairs])
    py_wrong, fixed_ops, back = 0, 0, []
    our_ops = py_ops = 0
    for (old, new), d in zip(pairs, ours):
        assert d["ok"], d
        our_ops += len(d["patch"])
        ok, got = py_apply(old, d["patch"])
        if not (ok and same(got, new)):
            # only where python-jsonpatch departs from the RFCs (a member "-")
            ok, got = py_apply(old, d["patch"], FIXES)
            fixed_ops += 1
        assert ok and same(got, new), json.dumps([old, new, d["patch"], got])
        # python's diff, applied by both
        p = jsonpatch.make_patch(old, new).patch
        py_ops += len(p)
        ok, got = py_apply(old, p)
        if not ok or not same(got, new):
            py_wrong += 1  # python's diff is wrong here (True == 1, 1 == 1.0 are "no change" to it)
        back.append({"doc": old, "patch": p})
    for c, ours_r in zip(back, run_tool(back)):
        py = py_apply(c["doc"], c["patch"])
        assert agrees(ours_r, py) or explain(c["doc"], c["patch"], ours_r), json.dumps([c, ours_r, py])
    print(f"\n{DIFF_CASES} random changes (seed {SEED + 2}): our diffs {our_ops} operations, "
          f"python's {py_ops}; ours needed an RFC fix of python-jsonpatch in {fixed_ops} cases, "
          f"python's diff was wrong in {py_wrong}")
