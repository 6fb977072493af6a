#!/usr/bin/env python3
"""Checks the layering of plugin/ (HACKING.md, "Layers") on the real build.

How: every plugin/*.c and mapping/*.c of the build's compile_commands.json is
compiled once more, with the build's own flags (so the same #ifdefs and
headers) plus -O0 -fcallgraph-info, into a scratch directory. gcc writes one
.ci file (VCG text) per translation unit: a node per function the unit
defines (a static one is titled "<path>:<name>", an external one "<name>")
and per function it calls (drawn as an ellipse), and an edge per call site.
-O0 keeps every static function as a node of its own (nothing is inlined
away) and every call as a call; a call through a pointer (an ops table, a
dialect's callbacks, an lws callback) is an edge to gcc's "__indirect_call"
and is no edge between files. A direct call from file A to a function that
file B defines (externally) is the file edge A -> B.

It fails on
  (a) a circle of file edges (a strongly connected set of two or more files);
  (b) a call from a file to a file of a higher layer (LAYERS below);
  (c) two files of plugin/ that each define a static function of the same name;
and on a plugin/*.c file that LAYERS does not place (place new files there).

Usage: check_layers.py BUILD_DIR   (configured with CMAKE_EXPORT_COMPILE_COMMANDS,
which the top CMakeLists.txt sets). Needs gcc (-fcallgraph-info is gcc's):
without one it exits 77, which ctest reports as skipped. --graph prints the
file edges with one example call each."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

# Bottom to top; a file may call files of its own layer and below
# (HACKING.md, "Layers").
# plugin/config.c sits with the pure code: it is built into wsgw_pure with
# mapping/, does no I/O, and every layer reads the options through it
# (config_origin_allowed from route.c). Reading the registry's option tables
# is data, no call; a call from it to a dialect would show here as upward.
LAYERS = [
    ("L0 pure", ["mapping/*", "plugin/config.c"]),
    ("L1 utilities", ["plugin/util.c", "plugin/log.c", "plugin/auth.c", "plugin/metrics.c"]),
    ("L2 link", ["plugin/link_api.c", "plugin/link.c", "plugin/mux.c"]),
    ("L3 transport", ["plugin/front.c", "plugin/transport.c", "plugin/route.c", "plugin/peer.c", "plugin/session.c", "plugin/http.c"]),
    ("L4 services", ["plugin/core.c", "plugin/presence.c", "plugin/keys.c"]),
    ("L5 dialect kit", ["plugin/kit_*"]),
    ("L6 dialects", ["plugin/wsdo.c", "plugin/op.c", "plugin/telegraphy.c", "plugin/comet.c", "plugin/demo.c",
                     "plugin/content.c", "plugin/content_docs.c",
                     "plugin/dialects.c"]),
    ("L7 top", ["plugin/gateway.c", "plugin/plugin.c"]),
]

SKIP = 77


def layer_of(rel):
    for i, (_, pats) in enumerate(LAYERS):
        for p in pats:
            if p.endswith("*"):
                d, pre = os.path.split(p[:-1])
                if os.path.dirname(rel) == d and os.path.basename(rel).startswith(pre):
                    return i
            elif rel == p:
                return i
    return None


def compile_ci(entry, root, scratch, gcc):
    """Compiles one unit with -fcallgraph-info; returns the .ci path."""
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = os.path.join(scratch, os.path.relpath(entry["file"], root).replace("/", "__") + ".o")
    cmd, skip = [gcc], False
    launchers = 2 if os.path.basename(args[0]) in ("ccache", "sccache") else 1
    for a in args[launchers:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if a in ("-MD", "-MMD") or a.startswith("-fsanitize"):
            continue
        cmd.append(a)
    cmd += ["-O0", "-fcallgraph-info", "-o", out]
    r = subprocess.run(cmd, cwd=entry["directory"], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"check_layers: cannot compile {entry['file']}:\n{r.stderr}")
    ci = out[:-2] + ".ci"
    if not os.path.exists(ci):
        sys.exit(f"check_layers: gcc wrote no {ci}")
    return ci


NODE = re.compile(r'^node: \{ title: "([^"]*)" label: "([^"]*)"(.*)\}$')
EDGE = re.compile(r'^edge: \{ sourcename: "([^"]*)" targetname: "([^"]*)"(?: label: "([^"]*)")?')


def parse_ci(path):
    """(defined: {title: (name, static, file)}, calls: [(source title, target title, where)])"""
    defined, calls = {}, []
    with open(path) as f:
        for line in f:
            m = NODE.match(line.strip())
            if m:
                title, label, rest = m.groups()
                if "ellipse" not in rest:
                    name, _, where = label.partition("\\n")
                    # static: titled "<path>:<name>"; where: "<path>:<line>:<col>"
                    defined[title] = (name, title != name, where.rsplit(":", 2)[0])
                continue
            m = EDGE.match(line.strip())
            if m:
                calls.append((m.group(1), m.group(2), m.group(3) or ""))
    return defined, calls


def main():
    argv = [a for a in sys.argv[1:] if not a.startswith("--")]
    show_graph = "--graph" in sys.argv
    if len(argv) != 1:
        sys.exit(__doc__)
    build = os.path.abspath(argv[0])
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    gcc = os.environ.get("WSGW_CALLGRAPH_CC") or shutil.which("gcc")
    if not gcc:
        print("check_layers: no gcc (-fcallgraph-info) here: skipped")
        return SKIP
    try:
        with open(os.path.join(build, "compile_commands.json")) as f:
            entries = json.load(f)
    except OSError as e:
        sys.exit(f"check_layers: {e} (configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON)")

    units = {}
    for e in entries:
        rel = os.path.relpath(os.path.abspath(os.path.join(e["directory"], e["file"])), root)
        if re.match(r"^(plugin|mapping)/[^/]+\.c$", rel):
            units[rel] = e
    errors = []
    for rel in sorted(units):
        if rel.startswith("plugin/") and layer_of(rel) is None:
            errors.append(f"{rel}: no layer in tests/tools/check_layers.py LAYERS: place it there")

    owner = {}                    # external function name -> file defining it
    unit_data = {}
    statics = defaultdict(list)   # static function name -> plugin files defining one
    with tempfile.TemporaryDirectory(prefix="wsgw-layers-") as scratch:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            cis = dict(zip(sorted(units), pool.map(lambda rel: compile_ci(units[rel], root, scratch, gcc),
                                                   sorted(units))))
        for rel, e in sorted(units.items()):
            defined, calls = parse_ci(cis[rel])
            unit_data[rel] = (defined, calls)
            for title, (name, static, where) in defined.items():
                if static:
                    # a header's static inline (json_decref) is each unit's own copy
                    if rel.startswith("plugin/") and os.path.abspath(os.path.join(e["directory"], where)) \
                            == os.path.abspath(os.path.join(e["directory"], e["file"])):
                        statics[name].append(rel)
                else:
                    owner[name] = rel

    edges = {}                    # (from file, to file) -> example "caller -> callee (where)"
    for rel, (defined, calls) in unit_data.items():
        for src, dst, where in calls:
            if dst in defined or dst not in owner:
                continue          # within the unit, or a library / indirect call
            to = owner[dst]
            if to == rel:
                continue
            caller = defined.get(src, (src,))[0]
            where = os.path.relpath(where, root) if where.startswith("/") else where
            edges.setdefault((rel, to), f"{caller} -> {dst} ({where})")

    # (b) upward calls
    for (a, b), why in sorted(edges.items()):
        la, lb = layer_of(a), layer_of(b)
        if la is not None and lb is not None and lb > la:
            errors.append(f"upward call {a} [{LAYERS[la][0]}] -> {b} [{LAYERS[lb][0]}]: {why}")

    # (a) circles: strongly connected components (Tarjan) of two or more files
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(units):
        if v not in index:
            strong(v)
    for comp in sccs:
        inside = [f"    {a} -> {b}: {edges[(a, b)]}" for (a, b) in sorted(edges)
                  if a in comp and b in comp]
        errors.append("circle between " + ", ".join(comp) + ":\n" + "\n".join(inside))

    # (c) static functions of the same name in two files
    for name, files in sorted(statics.items()):
        if len(files) > 1:
            errors.append(f"static {name}() in {len(files)} files: {', '.join(sorted(files))}")

    if show_graph:
        for (a, b), why in sorted(edges.items()):
            print(f"{a} -> {b}: {why}")
    for e in errors:
        print("check_layers: " + e)
    if errors:
        print(f"check_layers: {len(errors)} problem(s) in {len(units)} files")
        return 1
    print(f"check_layers: {len(units)} files, {len(edges)} file edges: no circle, no upward call, "
          f"no static name twice")
    return 0


if __name__ == "__main__":
    sys.exit(main())
