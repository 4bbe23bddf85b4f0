#!/usr/bin/env python3
"""burst_bench — stampede against the load tools from Debian, same target, same run.

For every tool (stampede, hey, ab, wrk, locust), every shape (N requests
against reserved concurrency R) and every method (a GET without a body, and
a POST of the JSON body {"burst":1} with Content-Type: application/json),
start a FRESH stampede-lambda (function
`demo` = the bootstrap, STAMPEDE_HOLD_MS, --access-log into a temporary
directory), let the tool fire ONE burst of N requests at the Function URL,
stop the emulator and read its access log: every figure about the burst is
measured at the target, with one clock, the same way for every tool.

Per run it records, at the target: requests arrived, statuses (200 / 429 /
other), arrival spread (last - first received_ns), p50 and p99 of the
arrival offsets from the first arrival; about the tool: wall time (process
start to exit, monotonic) and peak RSS ("Maximum resident set size" of
/usr/bin/time -v, i.e. ru_maxrss of the tool's process as its parent reaps
it). Each measurement is repeated (--repeat, default 3; the order of
the tools rotates every repeat) and the median is reported, with the ratio
peer / stampede for spread and wall time (> 1: stampede is tighter/faster),
per shape and method: a peer's POST burst against stampede's POST burst.
stampede runs with its default --start-mode auto: at_go for the GET (every
request started at GO), last_byte for the POST (everything but the last
body byte written ahead, the last bytes released together); the start_mode
of its --json summary is recorded with every run.

stampede's peak RSS is the SUM of its processes: the controller and each
agent, measured in a separate run of the same shape with the agents started
by hand (`stampede run --wait-agents K --insecure` plus K `stampede-agent
--insecure`, each under /usr/bin/time -v). /usr/bin/time of `stampede run
--local-agents K` alone gives only the largest of them (the kernel folds
reaped children into ru_maxrss as a maximum, not a sum); that figure is
kept too.

Only 127.0.0.1 is ever loaded; every process is bounded by --timeout and
killed by its own pid (process group) when it overruns. No assertion on
timing: this is a measurement, not a test (it is not in ctest).

Usage: burst_bench.py --bin BUILD/bin [--sizes 100,1000] [--repeat 3]
                      [--methods GET,POST]
                      [--tools stampede,hey,ab,wrk,locust] [--out FILE]
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
import socket
import subprocess
import sys
import tempfile
import time

from benchlib import (DEB_PACKAGES, POST_BODY, POST_TYPE, READY_PREFIX, Bounded, fmt,
                      log, median, peer_argv, percentile, ratio, read_ready_line,
                      time_v_maxrss, write_report)

TOOLS = ["stampede", "hey", "ab", "wrk", "locust"]
METHODS = ["GET", "POST"]
FUNCTION = "demo"
HEADLINE = (100, 5)  # the demo: 100 requests against reserved concurrency 5



# --- processes ---------------------------------------------------------------


class Emulator:
    """A fresh stampede-lambda with one function and an access log."""

    def __init__(self, bin_dir, workdir, reserved, hold_ms):
        self.access_log = os.path.join(workdir, "access.log")
        self.stderr = open(os.path.join(workdir, "emulator.log"), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "stampede-lambda"), "--listen", "127.0.0.1:0",
             "--function", "%s=%s" % (FUNCTION, os.path.join(bin_dir, "bootstrap")),
             "--reserved", str(reserved), "--env", "STAMPEDE_HOLD_MS=%d" % hold_ms,
             # AWS keeps 100 of the account's concurrency unreserved.
             "--account-concurrency", str(max(1000, reserved + 100)),
             "--access-log", self.access_log],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr,
            start_new_session=True)
        text = read_ready_line(self.proc)
        if not text.startswith(READY_PREFIX):
            self.stop()
            raise RuntimeError("stampede-lambda did not start: %r" % text)
        host, port = text[len(READY_PREFIX):].rsplit(":", 1)
        if host != "127.0.0.1":
            self.stop()
            raise RuntimeError("refusing a target that is not 127.0.0.1: %s" % host)
        self.port = int(port)
        self.base = "http://127.0.0.1:%d" % self.port
        self.path = "/url/%s/" % FUNCTION
        self.url = self.base + self.path

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc.stdout.close()
        self.stderr.close()

    def settle(self, expected, cap_s):
        """Waits until the access log holds `expected` lines and has not grown
        for 0.2 s, at most `cap_s`: a line is written when a request is
        answered, and a tool may leave before the function answers (wrk
        stops at the end of its duration)."""
        deadline = time.monotonic() + cap_s
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            try:
                with open(self.access_log, "rb") as text:
                    count = text.read().count(b"\n")
            except OSError:
                count = 0
            now = time.monotonic()
            if count != last:
                last, since = count, now
            elif count >= expected and now - since >= 0.2:
                return count
            time.sleep(0.05)
        return last

    def arrivals(self):
        """Access-log lines of the function, in arrival order."""
        lines = []
        with open(self.access_log) as text:
            for line in text:
                entry = json.loads(line)
                if entry["function"] == FUNCTION:
                    lines.append(entry)
        lines.sort(key=lambda entry: entry["received_ns"])
        return lines


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- measurement --------------------------------------------------------------


def at_target(arrivals, n):
    """The burst as the target saw it. Only the first n arrivals are the
    burst (wrk keeps sending on its connections)."""
    total = len(arrivals)
    burst = arrivals[:n]
    stats = {"arrived": len(burst), "arrived_total": total,
             "ok": sum(1 for a in burst if a["status"] == 200),
             "throttled": sum(1 for a in burst if a["status"] == 429),
             # Answered after the tool had left (wrk at the end of -d1s).
             "undelivered": sum(1 for a in burst if a.get("delivered") is False)}
    stats["other"] = stats["arrived"] - stats["ok"] - stats["throttled"]
    if burst:
        first = burst[0]["received_ns"]
        offsets = sorted((a["received_ns"] - first) / 1e6 for a in burst)
        stats.update(spread_ms=offsets[-1], p50_offset_ms=percentile(offsets, 50),
                     p99_offset_ms=percentile(offsets, 99))
    else:
        stats.update(spread_ms=None, p50_offset_ms=None, p99_offset_ms=None)
    return stats


def method_args(method):
    """stampede's request options for `method` (the same for `stampede run`
    with local agents and with agents started by hand)."""
    if method == "POST":
        return ["--method", "POST", "--data", POST_BODY,
                "--header", "Content-Type: %s" % POST_TYPE, "--start-mode", "auto"]
    return ["--start-mode", "auto"]


def tool_argv(tool, emulator, n, method, args, workdir):
    """The one-burst invocation of `tool` for `method` (GET, or POST of
    POST_BODY as POST_TYPE), and its environment."""
    url = emulator.url
    if tool == "stampede":
        # --start-mode auto (the default, spelled out): last_byte for both
        # methods since protocol 4 (at_go for the GET before).
        return [os.path.join(args.bin, "stampede"), "run", "--url", url, "-n", str(n),
                "--local-agents", str(args.agents), "--json",
                "--db", os.path.join(workdir, "s.db"),
                "--keys", os.path.join(workdir, "keys")] + method_args(method), None
    # wrk: the function holds each request longer than wrk's 1 s window, so
    # within it a connection sends exactly one request unless throttled.
    return peer_argv(tool, n, url, emulator.base, emulator.path, method, workdir, 10)


def tool_available(tool, bin_dir):
    if tool == "stampede":
        return all(os.access(os.path.join(bin_dir, b), os.X_OK)
                   for b in ("stampede", "stampede-agent", "stampede-lambda", "bootstrap"))
    if tool == "locust":
        if shutil.which("locust"):
            return True
        if not os.path.exists("/usr/bin/python3"):
            return False
        done = subprocess.run(["/usr/bin/python3", "-c", "import locust"],
                              capture_output=True, timeout=30)
        return done.returncode == 0
    return shutil.which(tool) is not None


def tool_version(tool, bin_dir):
    if tool == "stampede":
        done = subprocess.run([os.path.join(bin_dir, "stampede"), "--version"],
                              capture_output=True, text=True, timeout=10)
        return done.stdout.strip()
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", DEB_PACKAGES[tool]],
                          capture_output=True, text=True, timeout=10)
    return "%s %s" % (DEB_PACKAGES[tool], done.stdout.strip() or "?")


def one_run(tool, n, reserved, method, args, root):
    """One fresh emulator, one burst of `tool`. Returns the run's figures."""
    workdir = tempfile.mkdtemp(prefix="%s-%d-%d-%s-" % (tool, n, reserved, method), dir=root)
    emulator = Emulator(args.bin, workdir, reserved, args.hold_ms)
    run = {"tool": tool, "n": n, "reserved": reserved, "method": method}
    try:
        argv, env = tool_argv(tool, emulator, n, method, args, workdir)
        child = Bounded(argv, workdir, os.path.join(workdir, "tool.out"),
                        os.path.join(workdir, "tool.err"), env,
                        time_report=os.path.join(workdir, "tool.time"))
        in_time = child.wait(args.timeout)
        run.update(exit_code=child.returncode, timed_out=not in_time,
                   wall_ms=child.wall_ms, peak_rss_kb=child.maxrss_kb)
        # Requests still held by the function are answered (and logged)
        # only when their hold is over.
        emulator.settle(n, args.hold_ms / 1000 + 5)
        if tool == "stampede":
            with open(os.path.join(workdir, "tool.out")) as out:
                text = out.read().strip()
            try:
                summary = json.loads(text.splitlines()[-1])
                run["own"] = {k: summary.get(k) for k in (
                    "start_mode", "spread_ms", "wall_ms", "ok", "throttled", "errors",
                    "lost", "recorded")}
            except (ValueError, IndexError):
                run["own"] = None
            run["start_mode"] = (run["own"] or {}).get("start_mode")
    finally:
        emulator.stop()
    run.update(at_target(emulator.arrivals(), n))
    if tool == "stampede" and run.get("own") and run["spread_ms"] is not None:
        run["own_spread_matches"] = abs(run["own"]["spread_ms"] - run["spread_ms"]) <= 1.0
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return run


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def footprint_run(n, reserved, method, args, root):
    """stampede with its agents started by hand, every process under
    /usr/bin/time -v: the controller's and each agent's peak RSS."""
    workdir = tempfile.mkdtemp(prefix="footprint-%d-%d-%s-" % (n, reserved, method), dir=root)
    emulator = Emulator(args.bin, workdir, reserved, args.hold_ms)
    endpoint = "tcp://127.0.0.1:%d" % free_port()
    agents = []
    result = {"n": n, "reserved": reserved, "method": method, "agents": args.agents}
    try:
        controller = Bounded(
            [os.path.join(args.bin, "stampede"), "run", "--url", emulator.url, "-n", str(n),
             "--wait-agents", str(args.agents), "--listen", endpoint, "--insecure",
             "--json", "--db", os.path.join(workdir, "s.db"),
             "--keys", os.path.join(workdir, "keys")] + method_args(method),
            workdir, os.path.join(workdir, "controller.out"),
            os.path.join(workdir, "controller.err"),
            time_report=os.path.join(workdir, "controller.time"))
        for i in range(args.agents):
            agents.append(Bounded(
                [os.path.join(args.bin, "stampede-agent"), "--controller", endpoint,
                 "--insecure", "--id", "bench-%d" % i],
                workdir, os.path.join(workdir, "agent%d.out" % i),
                os.path.join(workdir, "agent%d.err" % i),
                time_report=os.path.join(workdir, "agent%d.time" % i)))
        result["controller_in_time"] = controller.wait(args.timeout)
        result["controller_exit"] = controller.returncode
        result["controller_wall_ms"] = controller.wall_ms
        # The agents are daemons: SIGTERM each one (the child of its
        # /usr/bin/time, which then writes its report).
        for agent in agents:
            for pid in children_of(agent.pid):
                os.kill(pid, signal.SIGTERM)
        for agent in agents:
            if not agent.wait(15):
                log("footprint: an agent did not stop on SIGTERM; killed")
        with open(os.path.join(workdir, "controller.out")) as out:
            lines = out.read().strip().splitlines()
        summary = json.loads(lines[-1]) if lines else {}
        result["spread_ms"] = summary.get("spread_ms")
        result["start_mode"] = summary.get("start_mode")
        result["ok"], result["throttled"] = summary.get("ok"), summary.get("throttled")
        result["controller_rss_kb"] = controller.maxrss_kb
        result["agent_rss_kb"] = [agent.maxrss_kb for agent in agents]
        parts = [result["controller_rss_kb"]] + result["agent_rss_kb"]
        result["sum_rss_kb"] = sum(parts) if None not in parts else None
    finally:
        for agent in agents:
            agent.kill(signal.SIGKILL)
        emulator.stop()
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def rss_floor_kb(root_parent):
    """What /usr/bin/time -v reports for a process that does nothing: the
    floor under every RSS figure here."""
    report = os.path.join(root_parent, "stampede-bench-floor-%d.time" % os.getpid())
    try:
        subprocess.run(["/usr/bin/time", "-v", "-o", report, "/bin/true"], timeout=10,
                       capture_output=True)
        return time_v_maxrss(report)
    finally:
        if os.path.exists(report):
            os.unlink(report)


def summarise(runs):
    keys = ["arrived", "arrived_total", "ok", "throttled", "other", "undelivered",
            "spread_ms",
            "p50_offset_ms", "p99_offset_ms", "wall_ms", "peak_rss_kb"]
    return {k: median([r.get(k) for r in runs]) for k in keys}


# --- report ---------------------------------------------------------------------


def shape_name(n, reserved):
    return "N=%d reserved=%d" % (n, reserved)


def markdown(report):
    out = []
    p = report["params"]
    out.append("## stampede vs peers — one burst per run, measured at the target\n")
    out.append("Host: %s, %d CPUs. Function `demo` holds each request %d ms; fresh "
               "stampede-lambda per run; median of %d runs. spread = last - first "
               "arrival at the emulator (a request arrives when the emulator holds it "
               "whole, body included); offsets from the first arrival. POST: body `%s`, "
               "`Content-Type: %s`, the same bytes from every tool. Ratios are peer / "
               "stampede for the same shape and method (> 1: stampede tighter or "
               "faster). stampede's start mode (`--start-mode auto`) is in brackets.\n"
               % (p["host"], p["cpus"], p["hold_ms"], p["repeat"], POST_BODY, POST_TYPE))
    out.append("| tool | shape | method | arrived | ok | 429 | spread ms | spread min–max "
               "| p50 off ms | p99 off ms | wall ms | peak RSS MiB | spread × | wall × |")
    out.append("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for row in report["results"]:
        m = row["median"]
        rss = row.get("peak_rss_kb_reported")
        spreads = [r["spread_ms"] for r in row["runs"] if r["spread_ms"] is not None]
        spread_range = ("%s–%s" % (fmt(min(spreads), 1), fmt(max(spreads), 1))
                        if spreads else "–")
        tool = row["tool"]
        if tool == "stampede":
            modes = sorted({r.get("start_mode") or "?" for r in row["runs"]})
            tool = "stampede (%s)" % "/".join(modes)
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            tool, shape_name(row["n"], row["reserved"]), row["method"], fmt(m["arrived"]),
            fmt(m["ok"]), fmt(m["throttled"]), fmt(m["spread_ms"], 2), spread_range,
            fmt(m["p50_offset_ms"], 2), fmt(m["p99_offset_ms"], 2), fmt(m["wall_ms"], 0),
            fmt(rss / 1024 if rss else None, 1),
            fmt(row["ratio"]["spread"], 1) if row["tool"] != "stampede" else "1",
            fmt(row["ratio"]["wall"], 2) if row["tool"] != "stampede" else "1"))
    out.append("")
    out.append("peak RSS: /usr/bin/time -v of the tool's process (its floor, /usr/bin/time "
               "-v /bin/true, is %s MiB); for stampede the sum of the controller and its %d "
               "agents, from a run of the same shape with the agents started by hand, each "
               "under /usr/bin/time -v, same shape and method (see below)."
               % (fmt(p["rss_floor_kb"] / 1024 if p["rss_floor_kb"] else None, 1),
                  p["agents"]))
    out.append("wrk is duration-based (-d1s) and keeps its connections: only the first N "
               "arrivals at the target are taken as its burst (its total arrivals are in "
               "the JSON as arrived_total); its wall time is bound to its 1 s duration, "
               "so its wall ratio says little.")
    out.append("")
    out.append("### Headline check: N=%d against reserved=%d, as the target saw it\n"
               % HEADLINE)
    out.append("| tool | method | ok | 429 | other | runs (ok/429) | simultaneous enough |")
    out.append("|---|---|--:|--:|--:|---|---|")
    for row in report["headline"]:
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            row["tool"], row["method"], fmt(row["ok"]), fmt(row["throttled"]), fmt(row["other"]),
            " ".join("%s/%s" % (r[0], r[1]) for r in row["runs"]),
            "yes" if row["expected"] else "NO: requests trickled in"))
    out.append("")
    owns = report.get("stampede_own") or []
    if owns:
        out.append("### stampede's own figures, N=%d reserved=%d\n" % HEADLINE)
        out.append("| figure | " + " | ".join(own["method"] for own in owns) + " |")
        out.append("|---|" + "--:|" * len(owns))

        def line(label, values):
            out.append("| %s | %s |" % (label, " | ".join(values)))

        def mib(kb):
            return fmt(kb / 1024 if kb else None)

        fps = [own.get("footprint") or {} for own in owns]
        line("start mode (`--start-mode auto`, from its JSON)",
             ["/".join(own["start_modes"]) or "–" for own in owns])
        line("wall time of `stampede run --local-agents %d` (ms; includes the %d ms the "
             "function holds the 5 admitted requests)" % (p["agents"], p["hold_ms"]),
             [fmt(own["wall_ms"], 0) for own in owns])
        line("spread_ms, stampede's own JSON / access log",
             ["%s / %s" % (fmt(own["own_spread_ms"], 3), fmt(own["spread_ms"], 3))
              for own in owns])
        line("every run's own spread within 1 ms of the access log",
             ["yes" if own["spread_checks"] else "NO" for own in owns])
        line("peak RSS, `stampede run --local-agents` (largest process) MiB",
             [mib(own["largest_rss_kb"]) for own in owns])
        if any(fps):
            line("peak RSS, controller alone (`--wait-agents`) MiB",
                 [mib(fp.get("controller_rss_kb")) for fp in fps])
            line("peak RSS, one agent MiB", [mib(fp.get("agent_rss_kb")) for fp in fps])
            line("peak RSS, controller + %d agents MiB" % p["agents"],
                 [mib(fp.get("sum_rss_kb")) for fp in fps])
        out.append("")
    if report.get("missing"):
        out.append("Not measured (not installed): %s. Install with: apt-get install -y %s\n"
                   % (", ".join(report["missing"]),
                      " ".join(DEB_PACKAGES[t] for t in report["missing"])))
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="directory of the stampede binaries")
    parser.add_argument("--sizes", default="100,1000",
                        help="burst sizes N, each against reserved=N (default 100,1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="GET (no body) and/or POST (body %s as %s); every shape runs "
                             "with each (default GET,POST)" % (POST_BODY, POST_TYPE))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--agents", type=int, default=2, help="stampede local agents (2)")
    parser.add_argument("--hold-ms", type=int, default=1000, help="STAMPEDE_HOLD_MS (1000)")
    parser.add_argument("--timeout", type=float, default=60, help="per process, s (60)")
    parser.add_argument("--no-headline", action="store_true",
                        help="skip the N=100 reserved=5 shape")
    parser.add_argument("--out", help="JSON report")
    parser.add_argument("--keep", action="store_true", help="keep the run directories")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if any(n < 1 or n > 1000 for n in sizes) or not 1 <= args.repeat <= 20:
        parser.error("sizes must be 1..1000 (the emulator's reserved cap), repeat 1..20")
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
    if not tool_available("stampede", args.bin):
        parser.error("no stampede binaries in %s" % args.bin)
    missing = [t for t in tools if not tool_available(t, args.bin)]
    tools = [t for t in tools if t not in missing]
    for tool in missing:
        log("burst_bench: %s is not installed; skipped" % tool)

    # Thousands of connections at once, in the tools and the emulator.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    shapes = [(n, n) for n in sizes]
    if not args.no_headline and HEADLINE not in shapes:
        shapes.append(HEADLINE)
    root = tempfile.mkdtemp(prefix="stampede-bench-")
    started = time.monotonic()
    cases = [(n, r, m) for n, r in shapes for m in methods]
    runs = {(t,) + case: [] for t in tools for case in cases}
    footprints = {case: [] for case in cases} if "stampede" in tools else {}
    try:
        for repeat in range(args.repeat):
            order = tools[repeat % len(tools):] + tools[:repeat % len(tools)]
            for n, reserved, method in cases:
                label = "%s %s" % (shape_name(n, reserved), method)
                for tool in order:
                    run = one_run(tool, n, reserved, method, args, root)
                    runs[(tool, n, reserved, method)].append(run)
                    extra = ""
                    if tool == "stampede" and run.get("own"):
                        extra = " start_mode=%s own spread_ms=%s (%s)" % (
                            run.get("start_mode"), fmt(run["own"]["spread_ms"], 3),
                            "matches" if run.get("own_spread_matches") else "MISMATCH")
                    log("[%d/%d] %-8s %-27s arrived=%s/%s ok=%s 429=%s undelivered=%s "
                        "spread_ms=%s wall_ms=%s rss_kb=%s exit=%s%s%s" % (
                            repeat + 1, args.repeat, tool, label,
                            run["arrived"], run["arrived_total"], run["ok"],
                            run["throttled"], run["undelivered"],
                            fmt(run["spread_ms"], 3), fmt(run["wall_ms"], 0),
                            run["peak_rss_kb"], run["exit_code"],
                            " TIMED OUT" if run["timed_out"] else "", extra))
                if footprints:
                    fp = footprint_run(n, reserved, method, args, root)
                    footprints[(n, reserved, method)].append(fp)
                    log("[%d/%d] footprint %-27s controller_kb=%s agents_kb=%s sum_kb=%s "
                        "start_mode=%s" % (
                            repeat + 1, args.repeat, label, fp.get("controller_rss_kb"),
                            fp.get("agent_rss_kb"), fp.get("sum_rss_kb"),
                            fp.get("start_mode")))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    # Ratios per (shape, method): a peer's POST burst against stampede's.
    results = []
    for case in cases:
        n, reserved, method = case
        base = summarise(runs[("stampede",) + case]) if "stampede" in tools else None
        fp = footprints.get(case, [])
        for tool in tools:
            m = summarise(runs[(tool,) + case])
            row = {"tool": tool, "n": n, "reserved": reserved, "method": method,
                   "median": m, "runs": runs[(tool,) + case],
                   "ratio": {"spread": ratio(m["spread_ms"], base and base["spread_ms"]),
                             "wall": ratio(m["wall_ms"], base and base["wall_ms"])},
                   "ratio_against": "stampede, %s %s" % (shape_name(n, reserved), method),
                   "peak_rss_kb_reported": m["peak_rss_kb"],
                   "peak_rss_measure": "/usr/bin/time -v of the tool's process"}
            if tool == "stampede":
                row["start_modes"] = sorted({r.get("start_mode") or "?"
                                             for r in row["runs"]})
            if tool == "stampede" and fp:
                row["footprint_runs"] = fp
                row["peak_rss_kb_reported"] = median([f.get("sum_rss_kb") for f in fp])
                row["peak_rss_measure"] = (
                    "sum of controller + %d agents, each /usr/bin/time -v, in a run of "
                    "the same shape and method with --wait-agents" % args.agents)
            results.append(row)

    headline = []
    for method in methods:
        for tool in tools:
            hrs = runs.get((tool,) + HEADLINE + (method,), [])
            if not hrs:
                continue
            m = summarise(hrs)
            headline.append({
                "tool": tool, "method": method, "ok": m["ok"], "throttled": m["throttled"],
                "other": m["other"], "runs": [(r["ok"], r["throttled"]) for r in hrs],
                "expected": all(r["ok"] == HEADLINE[1] and
                                r["throttled"] == HEADLINE[0] - HEADLINE[1] for r in hrs)})

    own = []
    for method in methods:
        stampede_runs = runs.get(("stampede",) + HEADLINE + (method,), [])
        if not stampede_runs:
            continue
        fp = footprints.get(HEADLINE + (method,), [])
        own.append({
            "method": method,
            "start_modes": sorted({r.get("start_mode") or "?" for r in stampede_runs}),
            "wall_ms": median([r["wall_ms"] for r in stampede_runs]),
            "spread_ms": median([r["spread_ms"] for r in stampede_runs]),
            "own_spread_ms": median([(r.get("own") or {}).get("spread_ms")
                                     for r in stampede_runs]),
            "spread_checks": all(r.get("own_spread_matches") for r in stampede_runs),
            "largest_rss_kb": median([r["peak_rss_kb"] for r in stampede_runs]),
            "footprint": {
                "controller_rss_kb": median([f.get("controller_rss_kb") for f in fp]),
                "agent_rss_kb": median([a for f in fp for a in f.get("agent_rss_kb", [])]),
                "sum_rss_kb": median([f.get("sum_rss_kb") for f in fp]),
            } if fp else None,
        })

    report = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "params": {"sizes": sizes, "methods": methods, "repeat": args.repeat,
                   "agents": args.agents,
                   "post": {"body": POST_BODY, "content_type": POST_TYPE},
                   "rss_floor_kb": rss_floor_kb(root_parent=tempfile.gettempdir()),
                   "hold_ms": args.hold_ms, "timeout_s": args.timeout,
                   "host": platform.platform(), "cpus": os.cpu_count(),
                   "elapsed_s": round(time.monotonic() - started, 1),
                   "command": sys.argv},
        "versions": {t: tool_version(t, args.bin) for t in tools},
        "missing": missing,
        "results": results,
        "headline": headline,
        "stampede_own": own,
    }
    print(markdown(report))
    if args.out:
        write_report(report, args.out, "burst_bench")
    return 0


if __name__ == "__main__":
    sys.exit(main())
