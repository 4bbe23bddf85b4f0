#!/usr/bin/env python3
"""Structure checks on the product sources (every .c/.h outside tests/).

1. No include cycles. A module is a .c and its .h (same folder and stem);
   module A depends on B when a file of A includes B's header. A cycle in
   that graph (a strongly connected set of two or more modules) fails.
2. The emulator's layers. In lambda/emulator/ every module sits in the
   folder of its layer and includes only headers of its own layer or of a
   lower one:  base < runtime < core < {doors, mgmt} < app < main.c.
   doors and mgmt are siblings and never include each other. Headers
   outside the emulator (common/, system, generated) are below every layer;
   test helpers (tests/support) are for the selftests and not checked.
3. File sizes: no emulator source over EMULATOR_MAX_LINES lines and no
   product source anywhere over GLOBAL_MAX_LINES; the offenders are
   listed, largest first.

usage: check_layers.py [SOURCE_ROOT]   (default: the tree this file is in)
Exit 0 when all hold, 1 when one fails (every violation is printed).
"""
import os
import re
import sys

# Size limits (3): 800 lines per emulator file, 1,500 per product file.
EMULATOR_MAX_LINES = 800
GLOBAL_MAX_LINES = 1500
# Emulator files still over the limit, each held at its size today so it
# can only shrink: the line goes when its file is split.
OVERSIZE_CEILINGS = {}

# Violations of (1) and (2) tolerated while being removed (none today):
# each is printed as known; one that no longer occurs is reported so its
# line here can go.
KNOWN_CYCLES = []
KNOWN_LAYER_INCLUDES = []

EMULATOR = "lambda/emulator"
# Rank of each layer folder of the emulator; equal ranks are siblings that
# may not include each other. main.c (the folder's own top) is above all.
LAYERS = {"base": 0, "runtime": 1, "core": 2, "doors": 3, "mgmt": 3, "app": 4}
MAIN_RANK = 5

SKIP_DIRS = {"tests", "node_modules", "dist", ".git"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def product_files(root):
    """Relative paths of every .c/.h outside tests/ and build trees."""
    found = []
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        dirs[:] = sorted(d for d in dirs if not (
            (rel == "." and (d in SKIP_DIRS or d.startswith("build")))
            or d in ("node_modules", ".git") or d.startswith(".")))
        for name in sorted(files):
            if name.endswith((".c", ".h")):
                found.append(os.path.normpath(os.path.join(rel, name)))
    return found


def module_of(path):
    return os.path.splitext(path)[0]


def resolve(header, including, headers_by_name):
    """The product header an #include "header" names: one beside the
    including file first, else the only one of that name; None for system,
    generated or test headers."""
    beside = os.path.normpath(os.path.join(os.path.dirname(including), header))
    candidates = headers_by_name.get(os.path.basename(header), [])
    if beside in candidates:
        return beside
    if len(candidates) == 1:
        return candidates[0]
    return None


def include_graph(root, files):
    """{module: {module it includes}} and [(file, header path)] edges."""
    headers_by_name = {}
    for path in files:
        if path.endswith(".h"):
            headers_by_name.setdefault(os.path.basename(path), []).append(path)
    graph = {module_of(p): set() for p in files}
    edges = []
    for path in files:
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for name in INCLUDE.findall(text):
            target = resolve(name, path, headers_by_name)
            if target is None:
                continue
            edges.append((path, target))
            if module_of(target) != module_of(path):
                graph[module_of(path)].add(module_of(target))
    return graph, edges


def cycles(graph):
    """Strongly connected sets of two or more modules (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        # Iterative depth-first search: (node, iterator over its successors).
        work = [(node, iter(sorted(graph[node])))]
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        while work:
            current, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter[0]
                    counter[0] += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[current] = min(low[current], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_rank(path):
    """(layer name, rank) of an emulator file; None outside the emulator;
    (None, None) for an emulator file outside every layer folder."""
    if not path.startswith(EMULATOR + "/"):
        return None
    rest = path[len(EMULATOR) + 1:]
    if rest == "main.c":
        return ("main.c", MAIN_RANK)
    folder = rest.split("/")[0] if "/" in rest else None
    if folder in LAYERS:
        return (folder, LAYERS[folder])
    return (None, None)


def layer_violations(files, edges):
    """[((file, header), message)] of every break of the layer order."""
    problems = []
    for path in files:
        where = layer_rank(path)
        if where == (None, None):
            problems.append(((path, None),
                             "%s: not in a layer folder (%s)" % (path, ", ".join(LAYERS))))
    for path, target in edges:
        source, dest = layer_rank(path), layer_rank(target)
        if source is None or dest is None or source == (None, None) or dest == (None, None):
            continue
        if dest[1] > source[1]:
            problems.append(((path, target), "%s (%s) includes %s from the higher layer %s"
                             % (path, source[0], target, dest[0])))
        elif dest[1] == source[1] and dest[0] != source[0]:
            problems.append(((path, target), "%s (%s) includes %s from its sibling layer %s"
                             % (path, source[0], target, dest[0])))
    return problems


def size_violations(root, files):
    problems = []
    sizes = []
    for path in files:
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            sizes.append((sum(1 for _ in f), path))
    for lines, path in sorted(sizes, reverse=True):
        limit = EMULATOR_MAX_LINES if path.startswith(EMULATOR + "/") else GLOBAL_MAX_LINES
        limit = min(limit, GLOBAL_MAX_LINES)
        limit = max(limit, OVERSIZE_CEILINGS.get(path, 0))
        if lines > limit:
            problems.append("%s: %d lines (limit %d)" % (path, lines, limit))
    return problems


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    root = os.path.abspath(root)
    files = product_files(root)
    if not any(layer_rank(p) for p in files):
        print("check_layers: no emulator sources under %s" % root, file=sys.stderr)
        return 1
    graph, edges = include_graph(root, files)
    failed = False
    found_cycles = cycles(graph)
    for component in found_cycles:
        known = component in KNOWN_CYCLES
        print("include cycle%s: %s" % (" (known)" if known else "", " <-> ".join(component)),
              file=sys.stderr)
        failed = failed or not known
    for component in KNOWN_CYCLES:
        if component not in found_cycles:
            print("note: known cycle %s is gone; remove it from KNOWN_CYCLES"
                  % " <-> ".join(component))
    found_layers = layer_violations(files, edges)
    for pair, problem in found_layers:
        known = pair in KNOWN_LAYER_INCLUDES
        print("layer%s: %s" % (" (known)" if known else "", problem), file=sys.stderr)
        failed = failed or not known
    for pair in KNOWN_LAYER_INCLUDES:
        if pair not in [p for p, _ in found_layers]:
            print("note: known layer include %s -> %s is gone; remove it from "
                  "KNOWN_LAYER_INCLUDES" % pair)
    for problem in size_violations(root, files):
        print("size: %s" % problem, file=sys.stderr)
        failed = True
    print("check_layers: %d product sources, %d includes among them: %s"
          % (len(files), len(edges), "FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
