#!/usr/bin/env python3
"""arrival_bench — how close together each tool lands N requests, by the kernel's clock.

For every method (a GET without a body, a POST of {"burst":1} as
application/json), every size N and every tool, start a FRESH rx_server
(tests/bench/rx_server.c) on 127.0.0.1:0, let the tool send ONE burst of N
requests to it and read the server's stamps: for every complete request, the
CLOCK_REALTIME instant the kernel received the segment that completed it
(SO_TIMESTAMPNS on recvmsg). The arrival spread is last - first stamp; no
process's scheduling between the socket and the stamp is in it.

Tools: stampede with 1 and with 4 local agents (--start-mode last-byte where
stampede accepts it for the method, else auto; the start_mode of its --json
summary is recorded), hey, ab, wrk (the server holds its answers until all
N requests are in, so each connection sends exactly one), locust, and the
floor (tests/bench/floor.c): one thread that pre-connects N sockets, writes
every request but its last byte, then writes the N last bytes in one tight
loop. Each run counts the requests that arrived; a tool that did not land
exactly N is marked and is not a "best peer".

Reported per (method, N): median spread over --repeat runs (the order of the
tools rotates every repeat), p50/p99 of the arrival offsets, wall time, and
the ratios stampede / best peer and stampede / floor (< 1: stampede's burst
is tighter). Markdown to stdout, progress to stderr, everything to --out.

Only 127.0.0.1 is ever loaded; every process runs in its own process group
with a timeout and is killed by that group's id when it overruns; every wait
is bounded. A measurement, not a test: not in ctest, asserts nothing.

Usage: arrival_bench.py --bin BUILD/bin [--bench-bin BUILD/bench]
                        [--sizes 100,1000,10000] [--repeat 3] [--methods GET,POST]
                        [--tools stampede-1,stampede-4,hey,ab,wrk,locust,floor]
                        [--out FILE]
Python 3 standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import (DEB_PACKAGES, POST_BODY, POST_TYPE, Bounded, fmt, log, median,
                      peer_argv, percentile, ratio, read_ready_line, write_report)

STAMPEDES = {"stampede-1": 1, "stampede-4": 4}  # tool name -> local agents
PEERS = ["hey", "ab", "wrk", "locust"]
TOOLS = list(STAMPEDES) + PEERS + ["floor"]
METHODS = ["GET", "POST"]
PATH = "/rx/"
MAX_N = 20000  # ab's concurrency cap; the open-file limit is the other bound


def stampede_tool(tool):
    return tool in STAMPEDES


# --- the target ---------------------------------------------------------------


class RxServer:
    """A fresh rx_server on 127.0.0.1:0 that writes its stamps once `n`
    requests have been answered (or when stopped)."""

    def __init__(self, bench_bin, workdir, n, hold, max_seconds):
        self.stamps = os.path.join(workdir, "stamps.txt")
        self.stderr_path = os.path.join(workdir, "rx_server.err")
        self.stderr = open(self.stderr_path, "wb")
        argv = [os.path.join(bench_bin, "rx_server"), "--listen", "127.0.0.1:0",
                "--out", self.stamps, "--expect", str(n), "--max-seconds", str(max_seconds)]
        if hold:
            argv.append("--hold")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr, start_new_session=True)
        text = read_ready_line(self.proc)
        if not text.isdigit():
            self.stop(0)
            raise RuntimeError("rx_server did not start: %r" % text)
        self.port = int(text)
        self.url = "http://127.0.0.1:%d%s" % (self.port, PATH)

    def stop(self, grace_s):
        """Lets it finish on its own for `grace_s` (it exits once every
        expected request is answered), then SIGTERM (it writes its stamps),
        then SIGKILL of its process group."""
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc.stdout.close()
        self.stderr.close()
        with open(self.stderr_path, errors="replace") as text:
            lines = [line.strip() for line in text if "stopped" in line]
        return lines[-1] if lines else None

    def arrivals(self):
        """(stamp_ns, method, user_ns) of every request, in stamp order."""
        found = []
        try:
            with open(self.stamps) as text:
                for line in text:
                    parts = line.split()
                    if len(parts) == 4:
                        found.append((int(parts[0]), parts[1], int(parts[3])))
        except OSError:
            pass
        found.sort()
        return found


def listen_counters():
    """TcpExt ListenOverflows and ListenDrops of this network namespace
    (a SYN dropped on a full accept queue is retried about 1 s later)."""
    try:
        with open("/proc/net/netstat") as text:
            lines = text.read().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return {k: int(table.get(k, 0)) for k in ("ListenOverflows", "ListenDrops")}
    return None


# --- the tools ----------------------------------------------------------------


def stampede_argv(args, agents, url, n, method, start_mode, workdir):
    argv = [os.path.join(args.bin, "stampede"), "run", "--url", url, "-n", str(n),
            "--local-agents", str(agents), "--door", "http", "--json",
            "--db", os.path.join(workdir, "s.db"), "--keys", os.path.join(workdir, "keys"),
            "--start-mode", start_mode]
    if method == "POST":
        argv += ["--method", "POST", "--data", POST_BODY,
                 "--header", "Content-Type: %s" % POST_TYPE]
    return argv


def tool_argv(tool, args, server, n, method, workdir, start_modes):
    """The one-burst invocation of `tool`, and its environment."""
    url = server.url
    post = method == "POST"
    if stampede_tool(tool):
        return stampede_argv(args, STAMPEDES[tool], url, n, method, start_modes[method],
                             workdir), None
    if tool == "floor":
        extra = ["--data", POST_BODY, "--header", "Content-Type: %s" % POST_TYPE] if post else []
        return [os.path.join(args.bench_bin, "floor"), "--port", str(server.port),
                "-n", str(n), "--path", PATH, "--method", method,
                "--max-seconds", str(int(args.timeout))] + extra, None
    # rx_server --hold for wrk: no answer before all N requests are in, so
    # within -d1s every connection sends exactly its first request.
    return peer_argv(tool, n, url, "http://127.0.0.1:%d" % server.port, PATH, method,
                     workdir, args.locust_seconds)


def tool_available(tool, args):
    if stampede_tool(tool):
        return all(os.access(os.path.join(args.bin, b), os.X_OK)
                   for b in ("stampede", "stampede-agent"))
    if tool == "floor":
        return os.access(os.path.join(args.bench_bin, "floor"), os.X_OK)
    if tool == "locust":
        if shutil.which("locust"):
            return True
        done = subprocess.run(["/usr/bin/python3", "-c", "import locust"],
                              capture_output=True, timeout=30)
        return done.returncode == 0
    return shutil.which(tool) is not None


def tool_version(tool, args):
    if stampede_tool(tool):
        done = subprocess.run([os.path.join(args.bin, "stampede"), "--version"],
                              capture_output=True, text=True, timeout=10)
        return done.stdout.strip()
    if tool == "floor":
        return "tests/bench/floor.c, built in %s" % args.bench_bin
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", DEB_PACKAGES[tool]],
                          capture_output=True, text=True, timeout=10)
    return "%s %s" % (DEB_PACKAGES[tool], done.stdout.strip() or "?")


def probe_start_mode(args, method, root):
    """last-byte when stampede accepts it for `method`, else auto (with the
    reason it gave), found with one request against a throwaway rx_server."""
    workdir = tempfile.mkdtemp(prefix="probe-%s-" % method, dir=root)
    server = RxServer(args.bench_bin, workdir, 1, False, 60)
    try:
        child = Bounded(stampede_argv(args, 1, server.url, 1, method, "last-byte", workdir),
                        workdir, os.path.join(workdir, "probe.out"),
                        os.path.join(workdir, "probe.err"))
        child.wait(args.timeout)
    finally:
        server.stop(0)
    if child.returncode == 2:
        with open(os.path.join(workdir, "probe.err"), errors="replace") as text:
            lines = [line.strip() for line in text if line.strip()]
        return "auto", lines[0] if lines else "exit 2"
    return "last-byte", None


# --- one run ------------------------------------------------------------------


def at_target(arrivals, n, method):
    """The burst as rx_server's kernel stamps saw it: the first n arrivals."""
    burst = arrivals[:n]
    stats = {"arrived": len(burst), "arrived_total": len(arrivals),
             "wrong_method": sum(1 for a in burst if a[1] != method)}
    if burst:
        first = burst[0][0]
        offsets = [(a[0] - first) / 1e6 for a in burst]
        users = sorted(a[2] for a in burst)
        stats.update(spread_ms=offsets[-1], p50_offset_ms=percentile(offsets, 50),
                     p99_offset_ms=percentile(offsets, 99),
                     first_ns=first, last_ns=burst[-1][0],
                     # When rx_server parsed them: the kernel spread plus the
                     # server's own queue (a diagnostic only).
                     user_spread_ms=(users[-1] - users[0]) / 1e6)
    else:
        stats.update(spread_ms=None, p50_offset_ms=None, p99_offset_ms=None,
                     first_ns=None, last_ns=None, user_spread_ms=None)
    return stats


def last_json_line(path):
    try:
        with open(path) as text:
            lines = text.read().strip().splitlines()
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def one_run(tool, n, method, args, root, start_modes):
    workdir = tempfile.mkdtemp(prefix="%s-%d-%s-" % (tool, n, method), dir=root)
    run = {"tool": tool, "n": n, "method": method}
    server = RxServer(args.bench_bin, workdir, n, tool == "wrk",
                      int(args.timeout) + 30)
    before = listen_counters()
    try:
        argv, env = tool_argv(tool, args, server, n, method, workdir, start_modes)
        run["argv"] = argv
        child = Bounded(argv, workdir, os.path.join(workdir, "tool.out"),
                        os.path.join(workdir, "tool.err"), env)
        in_time = child.wait(args.timeout)
        run.update(exit_code=child.returncode, timed_out=not in_time, wall_ms=child.wall_ms)
    finally:
        run["rx_server"] = server.stop(3)
    after = listen_counters()
    if before and after:
        run["listen_overflows"] = after["ListenOverflows"] - before["ListenOverflows"]
        run["listen_drops"] = after["ListenDrops"] - before["ListenDrops"]
    run.update(at_target(server.arrivals(), n, method))
    out = last_json_line(os.path.join(workdir, "tool.out"))
    if stampede_tool(tool) and out:
        run["own"] = {k: out.get(k) for k in (
            "start_mode", "spread_ms", "wall_ms", "ok", "errors", "lost", "recorded")}
        run["start_mode"] = out.get("start_mode")
        run["release"] = [a.get("release") for a in out.get("agents") or []]
    if tool == "floor" and out:
        run["floor"] = out
        # The stamps should fall inside the release loop, give or take the
        # last segment's trip through loopback.
        if run["first_ns"] and out.get("release_start_ns"):
            run["floor_first_after_release_us"] = (
                run["first_ns"] - out["release_start_ns"]) / 1e3
            run["floor_last_after_release_end_us"] = (
                run["last_ns"] - out["release_end_ns"]) / 1e3
    run["delivered"] = run["arrived"] == n and run["wrong_method"] == 0
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return run


# --- report ---------------------------------------------------------------------


def summarise(runs):
    keys = ["arrived", "arrived_total", "spread_ms", "p50_offset_ms", "p99_offset_ms",
            "user_spread_ms", "wall_ms", "listen_overflows"]
    m = {k: median([r.get(k) for r in runs]) for k in keys}
    m["arrived_min"] = min((r["arrived"] for r in runs), default=None)
    m["delivered_all"] = bool(runs) and all(r["delivered"] for r in runs)
    m["start_modes"] = sorted({r["start_mode"] or "?" for r in runs if "start_mode" in r})
    m["exit_codes"] = sorted({r["exit_code"] for r in runs}, key=str)
    return m


def stampede_notes(row):
    """One line per stampede run whose agents released late: how many of
    the requests were still connecting or writing at the instant, how far
    past it the release came, and the exit status (6: mis-started)."""
    notes = []
    for i, run in enumerate(row["runs"]):
        releases = [r for r in run.get("release") or [] if r]
        late = sum(r.get("late") or 0 for r in releases)
        worst = max((r.get("start_error_ms") or 0 for r in releases), default=0)
        if late or run["exit_code"] not in (0, None):
            notes.append("%s N=%d %s run %d: exit %s, %d of %d requests not written ahead "
                         "(late) at the instant, released up to %s ms after it" % (
                             row["method"], row["n"], row["tool"], i + 1, run["exit_code"],
                             late, row["n"], fmt(worst, 1)))
    return notes


def markdown(report):
    p = report["params"]
    out = ["## Arrival spread at a server that records kernel receive times\n",
           "Host: %s, %d CPUs. Target: rx_server on 127.0.0.1 (fresh per run), which "
           "stamps every request with the kernel receive time (SO_TIMESTAMPNS) of the "
           "segment that completed it. spread = last − first stamp of the N requests; "
           "median of %d runs. POST: body `%s`, `Content-Type: %s`. arrived: requests "
           "stamped (the smallest of the runs); ✗ marks a tool that did not land exactly "
           "N in every run. stampede's start mode (from its --json) in brackets.\n"
           % (p["host"], p["cpus"], p["repeat"], POST_BODY, POST_TYPE)]
    out.append("| method | N | tool | arrived | spread ms | min–max | p50 off ms "
               "| p99 off ms | wall ms | exit |")
    out.append("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|")
    for row in report["results"]:
        m = row["median"]
        spreads = [r["spread_ms"] for r in row["runs"] if r["spread_ms"] is not None]
        spread_range = ("%s–%s" % (fmt(min(spreads), 2), fmt(max(spreads), 2))
                        if spreads else "–")
        tool = row["tool"]
        if m["start_modes"]:
            tool = "%s (%s)" % (tool, "/".join(m["start_modes"]))
        arrived = fmt(m["arrived_min"]) + ("" if m["delivered_all"] else " ✗")
        out.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row["method"], row["n"], tool, arrived, fmt(m["spread_ms"], 2), spread_range,
            fmt(m["p50_offset_ms"], 2), fmt(m["p99_offset_ms"], 2), fmt(m["wall_ms"], 0),
            "/".join(str(c) for c in m["exit_codes"])))
    out.append("")
    out.append("### Ratios (median spread; < 1: stampede tighter)\n")
    out.append("| method | N | best peer (ms) | stampede-1 / best | stampede-4 / best "
               "| floor (ms) | stampede-1 / floor | stampede-4 / floor |")
    out.append("|---|--:|---|--:|--:|--:|--:|--:|")
    for r in report["ratios"]:
        best = ("%s (%s)" % (r["best_peer"], fmt(r["best_peer_spread_ms"], 2))
                if r["best_peer"] else "–")
        out.append("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
            r["method"], r["n"], best, fmt(r["stampede-1/best"], 2),
            fmt(r["stampede-4/best"], 2), fmt(r["floor_spread_ms"], 2),
            fmt(r["stampede-1/floor"], 2), fmt(r["stampede-4/floor"], 2)))
    out.append("")
    for method, (mode, reason) in sorted(report["start_mode_requested"].items()):
        if reason:
            out.append("stampede %s: `--start-mode last-byte` refused (%s); ran with "
                       "`--start-mode %s`." % (method, reason, mode))
    for row in report["results"]:
        if stampede_tool(row["tool"]):
            out.extend("- " + note for note in stampede_notes(row))
    drops = sorted({(row["method"], row["n"], row["tool"]) for row in report["results"]
                    for run in row["runs"] if run.get("listen_overflows")})
    if drops:
        out.append("Listen-queue overflows (TcpExt ListenOverflows of the network "
                   "namespace, a SYN dropped and retried ~1 s later) during: %s." % ", ".join(
                       "%s N=%d %s" % d for d in drops))
    out.append("wrk: rx_server holds its answers until all N requests are in (--hold), "
               "so within -d1s each connection sends exactly one request.")
    if report.get("missing"):
        out.append("Not measured (not installed): %s." % ", ".join(report["missing"]))
    return "\n".join(out)


def build_facts(args):
    """When the stampede binaries were built and the checkout they were
    probably built from (the tree is the checkout's now, the binaries may
    be older)."""
    facts = {}
    agent = os.path.join(args.bin, "stampede-agent")
    if os.path.exists(agent):
        facts["stampede_built"] = datetime.datetime.fromtimestamp(
            os.stat(agent).st_mtime, datetime.timezone.utc).isoformat(timespec="seconds")
    try:
        done = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)),
                               "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10)
        facts["tree"] = done.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        facts["tree"] = None
    return facts


def raise_nofile():
    """N = 10,000 needs more than the default 1,024 descriptors in every
    process; children inherit the raised limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def read_sysctl(name):
    try:
        with open("/proc/sys/" + name.replace(".", "/")) as text:
            return text.read().strip()
    except OSError:
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="directory of the stampede binaries")
    parser.add_argument("--bench-bin", help="directory of rx_server and floor "
                        "(default: BIN/../bench)")
    parser.add_argument("--sizes", default="100,1000,10000", help="burst sizes N")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--timeout", type=float, default=120, help="per process, s (120)")
    parser.add_argument("--locust-seconds", type=int, default=30,
                        help="locust --run-time, s (30); it quits once N are answered")
    parser.add_argument("--out", help="JSON report")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    args.bench_bin = os.path.abspath(args.bench_bin or os.path.join(args.bin, "..", "bench"))
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        parser.error("--sizes: a list of integers")
    if not sizes or any(n < 1 or n > MAX_N for n in sizes) or not 1 <= args.repeat <= 20:
        parser.error("sizes must be 1..%d, repeat 1..20" % MAX_N)
    if not 1 <= args.timeout <= 600 or not 1 <= args.locust_seconds <= 600:
        parser.error("--timeout and --locust-seconds: 1..600")
    methods = []
    for m in args.methods.split(","):
        if m and m.upper() not in methods:
            methods.append(m.upper())
    if not methods or set(methods) - set(METHODS):
        parser.error("methods: a list of %s" % ", ".join(METHODS))
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error("unknown tools: %s" % ", ".join(sorted(unknown)))
    if not os.access(os.path.join(args.bench_bin, "rx_server"), os.X_OK):
        parser.error("no rx_server in %s (build with make build BUILD=...)" % args.bench_bin)
    missing = [t for t in tools if not tool_available(t, args)]
    tools = [t for t in tools if t not in missing]
    for tool in missing:
        log("arrival_bench: %s is not available; skipped" % tool)

    nofile = raise_nofile()
    need = max(sizes) + 256
    if nofile[0] < need:
        log("arrival_bench: open-file limit %d is below %d: the largest bursts will "
            "lose requests" % (nofile[0], need))

    root = tempfile.mkdtemp(prefix="stampede-arrival-")
    started = time.monotonic()
    load_before = os.getloadavg()
    runs = {(t, n, m): [] for t in tools for n in sizes for m in methods}
    start_modes, requested = {}, {}
    try:
        for method in methods:
            if any(stampede_tool(t) for t in tools):
                mode, reason = probe_start_mode(args, method, root)
            else:
                mode, reason = "last-byte", None
            start_modes[method] = mode
            requested[method] = (mode, reason)
            log("arrival_bench: stampede %s runs with --start-mode %s%s" % (
                method, mode, " (last-byte refused: %s)" % reason if reason else ""))
        for repeat in range(args.repeat):
            order = tools[repeat % len(tools):] + tools[:repeat % len(tools)]
            for method in methods:
                for n in sizes:
                    for tool in order:
                        run = one_run(tool, n, method, args, root, start_modes)
                        runs[(tool, n, method)].append(run)
                        extra = ""
                        if run.get("own"):
                            extra = " start_mode=%s own_spread_ms=%s" % (
                                run.get("start_mode"), fmt(run["own"]["spread_ms"], 3))
                        if run.get("floor"):
                            extra = " release_ms=%s" % fmt(run["floor"].get("release_ms"), 3)
                        log("[%d/%d] %-10s %-4s N=%-5d arrived=%s/%s%s spread_ms=%s "
                            "server_spread_ms=%s wall_ms=%s exit=%s overflows=%s%s%s" % (
                                repeat + 1, args.repeat, tool, method, n, run["arrived"],
                                run["arrived_total"], "" if run["delivered"] else " (NOT N)",
                                fmt(run["spread_ms"], 3), fmt(run["user_spread_ms"], 3),
                                fmt(run["wall_ms"], 0), run["exit_code"],
                                run.get("listen_overflows"),
                                " TIMED OUT" if run["timed_out"] else "", extra))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    results, ratios = [], []
    for method in methods:
        for n in sizes:
            medians = {}
            for tool in tools:
                m = summarise(runs[(tool, n, method)])
                medians[tool] = m
                results.append({"tool": tool, "n": n, "method": method, "median": m,
                                "runs": runs[(tool, n, method)]})
            peers = [(medians[t]["spread_ms"], t) for t in tools
                     if t in PEERS and medians[t]["delivered_all"]
                     and medians[t]["spread_ms"] is not None]
            best = min(peers) if peers else (None, None)

            def spread(tool):
                m = medians.get(tool)
                return m["spread_ms"] if m and m["delivered_all"] else None

            floor = spread("floor")
            ratios.append({
                "method": method, "n": n, "best_peer": best[1], "best_peer_spread_ms": best[0],
                "floor_spread_ms": floor,
                "stampede-1/best": ratio(spread("stampede-1"), best[0]),
                "stampede-4/best": ratio(spread("stampede-4"), best[0]),
                "stampede-1/floor": ratio(spread("stampede-1"), floor),
                "stampede-4/floor": ratio(spread("stampede-4"), floor)})

    report = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "params": {"sizes": sizes, "methods": methods, "repeat": args.repeat,
                   "post": {"body": POST_BODY, "content_type": POST_TYPE},
                   "timeout_s": args.timeout, "host": platform.platform(),
                   "cpus": os.cpu_count(), "nofile": list(nofile),
                   "somaxconn": read_sysctl("net.core.somaxconn"),
                   "loadavg_before": load_before,
                   "elapsed_s": round(time.monotonic() - started, 1),
                   "command": sys.argv},
        "start_mode_requested": requested,
        "versions": dict({t: tool_version(t, args) for t in tools}, **build_facts(args)),
        "missing": missing,
        "results": results,
        "ratios": ratios,
    }
    print(markdown(report))
    if args.out:
        write_report(report, args.out, "arrival_bench")
    return 0


if __name__ == "__main__":
    sys.exit(main())
