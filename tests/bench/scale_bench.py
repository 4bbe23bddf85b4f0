#!/usr/bin/env python3
"""scale_bench — 10^6 requests through 4 local agents: does the controller stay flat?

For each size N (--sizes, default 10000,100000,1000000), against a FRESH
stampede-lambda on 127.0.0.1:0 serving the demo function (`bootstrap`,
--reserved R, STAMPEDE_HOLD_MS=H: it answers at once, most requests are
throttled), one

    stampede run --url URL -n N --local-agents 4 --waves --json
                 --db TMP/s.db --keys TMP/keys --start-tolerance 1000

whose process (and so every agent it spawns) gets RLIMIT_NOFILE soft = hard
= --agent-nofile (2564): each agent raises its soft limit to that hard limit
and announces a capacity of 2564 - 64 = 2500, so the 4 agents hold 10,000
requests together and N goes out in N / 10,000 waves, each a run of its own.

While it runs, this script samples every --sample-ms (100 ms) the
controller's VmRSS and VmHWM (/proc/PID/status of the `stampede run`
process: the controller is in-process) and the sum of its agents' VmRSS,
and every --poll-ms (500 ms) the rows stored in the SQLite database (a
read-only connection; a finished wave's rows are counted once). It reports
per N: waves planned and run, exit status, wall time, the controller's RSS
(sampled peak, VmHWM, at the end, and at the end of the wave where 10^4,
10^5, 10^6 requests were stored), results ingested per second (rows / from
wave 1's instant to the last wave's end; per wave: rows / instant to end),
and checks that recorded + lost = requested for every wave, from --json and
from the database.

Markdown to stdout, progress to stderr, the full report (every wave, every
sample) to BUILD/bench/scale_bench.json. Only 127.0.0.1 is loaded; every
process runs in its own process group under a timeout and every loop is
bounded in count and time. It measures; it asserts nothing (exit 1 only
when a run could not be made or did not complete).

Usage: scale_bench.py --bin BUILD/bin [--sizes 10000,100000,1000000]
                      [--agents 4] [--agent-nofile 2564] [--reserved 4]
                      [--hold-ms 0] [--start-tolerance 1000] [--timeout 900]
                      [--out FILE] [--keep]
Python 3 standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import Bounded, log, write_report
from emulator_bench import Emulator, children_of, loadavg, proc_status_kb

FUNCTION = "demo"
THRESHOLDS = (10_000, 100_000, 1_000_000)

# Runs argv[2:] with RLIMIT_NOFILE soft = hard = argv[1]: exec, so the pid
# (sampled, stopped by its process group) is the stampede process itself.
NOFILE_WRAPPER = ("import os, resource, sys\n"
                  "n = int(sys.argv[1])\n"
                  "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))\n"
                  "os.execv(sys.argv[2], sys.argv[2:])\n")


def mib(kb):
    return None if kb is None else kb / 1024.0


def fmt(value, digits=0):
    if value is None:
        return "–"
    if digits == 0:
        return "{:,}".format(int(round(value)))
    return "{:,.{}f}".format(value, digits)


class Sampler(threading.Thread):
    """Every `every_s`: the controller's VmRSS and VmHWM, and the sum of its
    children's (the agents') VmRSS. Samples are taken only once the pid runs
    the stampede binary (not the exec wrapper). Bounded by `deadline`
    (monotonic) and by a sample count."""

    def __init__(self, pid, exe, every_s, deadline, done):
        super().__init__(daemon=True)
        self.pid, self.exe, self.every_s = pid, exe, every_s
        self.deadline, self.done = deadline, done
        self.samples = []  # (monotonic s, realtime ns, rss kB, hwm kB, agents kB, agents)
        self.max_samples = int((deadline - time.monotonic()) / every_s) + 10

    def run(self):
        while (not self.done.is_set() and time.monotonic() < self.deadline and
               len(self.samples) < self.max_samples):
            self.sample()
            self.done.wait(self.every_s)

    def sample(self):
        try:
            if os.path.realpath("/proc/%d/exe" % self.pid) != self.exe:
                return
        except OSError:
            return
        rss = proc_status_kb(self.pid, "VmRSS")
        hwm = proc_status_kb(self.pid, "VmHWM")
        if rss is None:
            return
        agents = children_of(self.pid)
        agents_kb = sum(proc_status_kb(p, "VmRSS") or 0 for p in agents)
        self.samples.append((time.monotonic(), time.time_ns(), rss, hwm, agents_kb,
                             len(agents)))


class DbPoller(threading.Thread):
    """Every `every_s`, the rows stored in the results database, read only:
    a wave's rows are counted while it runs and once more when it has
    ended (then kept). Bounded like the Sampler."""

    def __init__(self, path, every_s, deadline, done):
        super().__init__(daemon=True)
        self.path, self.every_s = path, every_s
        self.deadline, self.done = deadline, done
        self.final = {}  # run id -> rows, once the run ended
        self.polls = []  # (monotonic s, realtime ns, rows)
        self.errors = 0
        self.max_polls = int((deadline - time.monotonic()) / every_s) + 10

    def run(self):
        while (not self.done.is_set() and time.monotonic() < self.deadline and
               len(self.polls) < self.max_polls):
            self.poll()
            self.done.wait(self.every_s)
        self.poll()  # once more: the last wave's rows after the run ended

    def poll(self):
        if not os.path.exists(self.path + "-shm"):
            return
        try:
            conn = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=0.2)
            try:
                runs = conn.execute("SELECT id, status FROM runs ORDER BY id").fetchall()
                rows = 0
                for run_id, status in runs:
                    if run_id in self.final:
                        rows += self.final[run_id]
                        continue
                    count = conn.execute("SELECT count(*) FROM requests WHERE run_id = ?",
                                         (run_id,)).fetchall()[0][0]
                    if status in ("completed", "failed"):
                        self.final[run_id] = count
                    rows += count
            finally:
                conn.close()
        except sqlite3.Error:
            self.errors += 1
            return
        self.polls.append((time.monotonic(), time.time_ns(), rows))


def db_facts(path):
    """Per run (wave) of the database, read only once the run has ended:
    its times, requested, rows, lost rows, status and outcome."""
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        runs = conn.execute(
            "SELECT r.id, r.label, r.status, r.outcome, r.requested, r.created_ns, "
            "r.started_ns, r.finished_ns, "
            "(SELECT count(*) FROM requests q WHERE q.run_id = r.id), "
            "(SELECT count(*) FROM requests q WHERE q.run_id = r.id AND q.outcome = 'lost') "
            "FROM runs r ORDER BY r.id").fetchall()
    finally:
        conn.close()
    keys = ("run_id", "label", "status", "outcome", "requested", "created_ns", "started_ns",
            "finished_ns", "rows", "lost_rows")
    return [dict(zip(keys, run)) for run in runs]


def sample_after(samples, realtime_ns):
    """The first sample taken at or after realtime_ns, else the last one."""
    for sample in samples:
        if sample[1] >= realtime_ns:
            return sample
    return samples[-1] if samples else None


def slope_kb_per_wave(values):
    """Least-squares slope of values (one per wave, in order), kB a wave."""
    if len(values) < 2:
        return None
    xs = range(len(values))
    mx, my = (len(values) - 1) / 2, sum(values) / len(values)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, values)) / den


def db_size(path):
    return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal", "-shm")
               if os.path.exists(path + suffix))


def run_size(args, workdir, n):
    """One fresh emulator, one `stampede run --waves` of n requests."""
    rundir = os.path.join(workdir, "n%d" % n)
    os.makedirs(rundir)
    db = os.path.join(rundir, "s.db")
    emulator = Emulator(args.bin, rundir,
                        [(FUNCTION, args.reserved, {"STAMPEDE_HOLD_MS": str(args.hold_ms)})])
    result = {"n": n, "loadavg_before": loadavg()}
    try:
        url = "%s/url/%s/" % (emulator.base, FUNCTION)
        stampede = os.path.realpath(os.path.join(args.bin, "stampede"))
        argv = [stampede, "run", "--url", url, "-n", str(n), "--local-agents",
                str(args.agents), "--waves", "--json", "--db", db, "--keys",
                os.path.join(rundir, "keys"), "--start-tolerance", str(args.start_tolerance)]
        result["command"] = " ".join(argv)
        log("scale_bench: N=%d: %s (RLIMIT_NOFILE %d)" % (n, result["command"],
                                                         args.agent_nofile))
        done = threading.Event()
        proc = Bounded([sys.executable, "-c", NOFILE_WRAPPER, str(args.agent_nofile)] + argv,
                       rundir, os.path.join(rundir, "stdout"), os.path.join(rundir, "stderr"))
        deadline = time.monotonic() + args.timeout + 5
        sampler = Sampler(proc.pid, stampede, args.sample_ms / 1e3, deadline, done)
        poller = DbPoller(db, args.poll_ms / 1e3, deadline, done)
        sampler.start()
        poller.start()
        last_progress = time.monotonic()
        while not proc.done.wait(1.0) and time.monotonic() < deadline - 5:
            if time.monotonic() - last_progress >= 10:
                last_progress = time.monotonic()
                rows = poller.polls[-1][2] if poller.polls else 0
                rss = sampler.samples[-1][2] if sampler.samples else None
                log("scale_bench: N=%d: %.0f s, %s rows stored, controller RSS %s MiB"
                    % (n, time.monotonic() - proc.started, fmt(rows), fmt(mib(rss), 1)))
        in_time = proc.wait(max(0.0, deadline - time.monotonic()))
        done.set()
        sampler.join(5)
        poller.join(10)
        result.update({"exit": proc.returncode, "in_time": in_time,
                       "wall_s": proc.wall_ms / 1e3 if proc.wall_ms else None})
        with open(os.path.join(rundir, "stdout"), errors="replace") as out:
            text = out.read().strip()
        try:
            summary = json.loads(text)
        except ValueError:
            summary = None
            result["stdout_tail"] = text[-400:]
        with open(os.path.join(rundir, "stderr"), errors="replace") as err:
            lines = err.read().splitlines()
        result["stderr_warnings"] = [line for line in lines if line.startswith(("W:", "E:"))][:20]
        result["emulator_hwm_kb"] = proc_status_kb(emulator.pid, "VmHWM")
        result["emulator_warnings"] = emulator.warnings()
        summarise(result, summary, sampler, poller, db, n)
    finally:
        emulator.stop()
    return result


def summarise(result, summary, sampler, poller, db, n):
    samples = sampler.samples
    result["samples"] = [{"t_s": round(s[0] - samples[0][0], 3), "rss_kb": s[2],
                          "hwm_kb": s[3], "agents_rss_kb": s[4], "agents": s[5]}
                         for s in samples]
    result["db_polls"] = [{"t_s": round(p[0] - samples[0][0], 3) if samples else None,
                           "rows": p[2]} for p in poller.polls]
    result["db_poll_errors"] = poller.errors
    if samples:
        result["rss_peak_kb"] = max(s[2] for s in samples)
        result["hwm_kb"] = max(s[3] or 0 for s in samples)
        result["rss_end_kb"] = samples[-1][2]
        result["rss_first_kb"] = samples[0][2]
        result["agents_rss_peak_kb"] = max(s[4] for s in samples)
        result["samples_n"] = len(samples)
    waves = (summary or {}).get("waves")
    if summary is not None and waves is None:
        waves = [summary]  # N within the agents' capacity: one ordinary run
    result["summary"] = {k: v for k, v in (summary or {}).items() if k != "waves"}
    try:
        runs = db_facts(db) if os.path.exists(db) else []
    except sqlite3.Error as exc:
        runs, result["db_error"] = [], str(exc)
    by_id = {run["run_id"]: run for run in runs}
    result["waves_planned"] = (summary or {}).get("waves_planned", 1 if waves else None)
    result["waves_run"] = (summary or {}).get("waves_run", len(waves or []))
    result["capacity"] = (summary or {}).get("capacity")
    per_wave, cumulative, balanced = [], 0, True
    for wave in waves or []:
        run = by_id.get(wave.get("run_id"), {})
        cumulative += run.get("rows", 0)
        ok_json = wave.get("recorded", 0) + wave.get("lost", 0) == wave.get("requested")
        ok_db = run.get("rows") == run.get("requested") == wave.get("requested")
        balanced = balanced and ok_json and ok_db
        at_end = sample_after(samples, run.get("finished_ns", 0))
        span_s = (run.get("finished_ns", 0) - run.get("started_ns", 0)) / 1e9
        releases = [a.get("release") or {} for a in wave.get("agents", [])]
        errors_ms = [abs(r["start_error_ms"]) for r in releases
                     if isinstance(r.get("start_error_ms"), (int, float))]
        per_wave.append({
            "run_id": wave.get("run_id"), "label": run.get("label"),
            "outcome": wave.get("outcome"), "requested": wave.get("requested"),
            "recorded": wave.get("recorded"), "lost": wave.get("lost"),
            "ok": wave.get("ok"), "throttled": wave.get("throttled"),
            "errors": wave.get("errors"), "spread_ms": wave.get("spread_ms"),
            "wall_ms": wave.get("wall_ms"), "db_rows": run.get("rows"),
            "release_error_ms_max": max(errors_ms) if errors_ms else None,
            "late": sum(r.get("late") or 0 for r in releases),
            "db_lost_rows": run.get("lost_rows"), "balanced_json": ok_json,
            "balanced_db": ok_db, "cumulative_rows": cumulative,
            "prepare_s": (run.get("started_ns", 0) - run.get("created_ns", 0)) / 1e9,
            "instant_to_end_s": span_s,
            "ingest_per_s": run.get("rows", 0) / span_s if span_s > 0 else None,
            "rss_kb_at_end": at_end[2] if at_end else None})
    result["waves"] = per_wave
    result["balanced"] = bool(per_wave) and balanced
    result["recorded"] = sum(w["recorded"] or 0 for w in per_wave)
    result["lost"] = sum(w["lost"] or 0 for w in per_wave)
    result["db_rows"] = sum(run["rows"] for run in runs)
    result["db_bytes"] = db_size(db)
    if runs and runs[-1]["finished_ns"] > runs[0]["started_ns"]:
        span = (runs[-1]["finished_ns"] - runs[0]["started_ns"]) / 1e9
        result["ingest_span_s"] = span
        result["ingest_per_s"] = result["db_rows"] / span
    rates = sorted(w["ingest_per_s"] for w in per_wave if w["ingest_per_s"])
    if rates:
        result["wave_ingest_per_s"] = {"min": rates[0], "median": rates[len(rates) // 2],
                                       "max": rates[-1]}
    result["rss_at_kb"] = {}
    for threshold in THRESHOLDS:
        wave = next((w for w in per_wave if w["cumulative_rows"] >= threshold), None)
        if threshold <= n and wave:
            result["rss_at_kb"][str(threshold)] = wave["rss_kb_at_end"]
    errors_ms = [w["release_error_ms_max"] for w in per_wave
                 if w["release_error_ms_max"] is not None]
    result["release_error_ms_max"] = max(errors_ms) if errors_ms else None
    result["mis_started_waves"] = sum(1 for w in per_wave if w["outcome"] == "mis_started")
    ends = [w["rss_kb_at_end"] for w in per_wave if w["rss_kb_at_end"]]
    if ends:
        result["rss_wave_end_kb"] = {"first": ends[0], "last": ends[-1], "min": min(ends),
                                     "max": max(ends)}
        # The trend once warm: over the waves after the 10th (SQLite's page
        # cache and the allocator's arenas fill during the first waves).
        if len(ends) >= 20:
            result["rss_slope_kb_per_wave"] = slope_kb_per_wave(ends[10:])


def markdown(report):
    out = ["## stampede run --waves at scale: the controller's memory\n",
           "%s; binaries built %s; %d CPUs; %d agents at RLIMIT_NOFILE %d (capacity "
           "%d each); --start-tolerance %d; emulator: function `%s`, --reserved %d, "
           "STAMPEDE_HOLD_MS=%d.\n"
           % (report["generated_at"][:16].replace("T", " ") + " UTC", report["built"],
              report["params"]["cpus"], report["params"]["agents"],
              report["params"]["agent_nofile"], report["params"]["agent_nofile"] - 64,
              report["params"]["start_tolerance_ms"], FUNCTION, report["params"]["reserved"], report["params"]["hold_ms"]),
           "| N | waves planned / run | exit | wall s | recorded | lost | rec + lost = req "
           "every wave | ctl RSS peak MiB | ctl VmHWM MiB | ctl RSS end MiB | RSS at 10^4 / "
           "10^5 / 10^6 MiB | ingest rows/s (all) | per wave: median (min–max) | agents "
           "RSS peak MiB | emulator VmHWM MiB |",
           "|--:|--:|--:|--:|--:|--:|:-:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in report["runs"]:
        at = r.get("rss_at_kb", {})
        wave_rate = r.get("wave_ingest_per_s")
        out.append("| %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | "
                   "%s | %s |" % (
                       fmt(r["n"]), fmt(r.get("waves_planned")), fmt(r.get("waves_run")),
                       r.get("exit"), fmt(r.get("wall_s"), 1), fmt(r.get("recorded")),
                       fmt(r.get("lost")), "yes" if r.get("balanced") else "**no**",
                       fmt(mib(r.get("rss_peak_kb")), 1), fmt(mib(r.get("hwm_kb")), 1),
                       fmt(mib(r.get("rss_end_kb")), 1),
                       " / ".join(fmt(mib(at.get(str(t))), 1) for t in THRESHOLDS),
                       fmt(r.get("ingest_per_s")),
                       "%s (%s–%s)" % (fmt(wave_rate["median"]), fmt(wave_rate["min"]),
                                       fmt(wave_rate["max"])) if wave_rate else "–",
                       fmt(mib(r.get("agents_rss_peak_kb")), 1),
                       fmt(mib(r.get("emulator_hwm_kb")), 1)))
    out.append("")
    for r in report["runs"]:
        ends = r.get("rss_wave_end_kb")
        if ends:
            out.append("N = %s: controller RSS at the end of each wave: first %s, last %s, "
                       "min %s, max %s MiB%s; %s samples; database %s MiB; worst release "
                       "%s ms from the instant.\n"
                       % (fmt(r["n"]), fmt(mib(ends["first"]), 1), fmt(mib(ends["last"]), 1),
                          fmt(mib(ends["min"]), 1), fmt(mib(ends["max"]), 1),
                          "; trend after wave 10 %s KiB a wave" % fmt(
                              r["rss_slope_kb_per_wave"], 1)
                          if r.get("rss_slope_kb_per_wave") is not None else "",
                          fmt(r.get("samples_n")), fmt(r.get("db_bytes", 0) / 2**20, 1),
                          fmt(r.get("release_error_ms_max"), 1)))
        if r.get("exit") != 0 or not r.get("balanced"):
            out.append("N = %s: exit %s, in time %s; warnings: %s\n"
                       % (fmt(r["n"]), r.get("exit"), r.get("in_time"),
                          "; ".join(r.get("stderr_warnings", [])[:3]) or "none"))
    return "\n".join(out) + "\n"


def built_facts(bin_dir):
    facts = {"built": datetime.datetime.fromtimestamp(
        os.stat(os.path.join(bin_dir, "stampede")).st_mtime,
        datetime.timezone.utc).isoformat(timespec="seconds")}
    done = subprocess.run([os.path.join(bin_dir, "stampede"), "--version"],
                          capture_output=True, text=True, timeout=10)
    facts["stampede"] = done.stdout.strip()
    try:
        done = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)),
                               "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10)
        facts["tree"] = done.stdout.strip() or None
    except OSError:
        facts["tree"] = None
    return facts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True, help="directory of the binaries")
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="requests per run, comma-separated (10000,100000,1000000)")
    parser.add_argument("--agents", type=int, default=4, help="--local-agents (4)")
    parser.add_argument("--agent-nofile", type=int, default=2564,
                        help="RLIMIT_NOFILE (soft and hard) of stampede run and so of its "
                             "agents: each announces this - 64 (2564: 2500, a wave of 10,000)")
    parser.add_argument("--reserved", type=int, default=4,
                        help="reserved concurrency of the function (4)")
    parser.add_argument("--hold-ms", type=int, default=0, help="STAMPEDE_HOLD_MS (0)")
    parser.add_argument("--start-tolerance", type=int, default=1000,
                        help="stampede run --start-tolerance, ms (1000): a wave released "
                             "later than that is mis-started and ends the waves; what is "
                             "measured here is memory and ingestion, not the start")
    parser.add_argument("--sample-ms", type=int, default=100, help="RSS sampling, ms (100)")
    parser.add_argument("--poll-ms", type=int, default=500, help="database polling, ms (500)")
    parser.add_argument("--timeout", type=int, default=900, help="per run, s (900)")
    parser.add_argument("--out", help="JSON report (default BIN/../bench/scale_bench.json)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin)
    if not args.out:
        args.out = os.path.join(os.path.dirname(args.bin), "bench", "scale_bench.json")
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        parser.error("--sizes: comma-separated whole numbers")
    if not sizes or any(not 1 <= s <= 1_000_000 for s in sizes) or len(sizes) > 10:
        parser.error("--sizes: 1 to 10 sizes of 1..1000000")
    if not (1 <= args.agents <= 16 and 128 <= args.agent_nofile <= 1048576 and
            0 <= args.reserved <= 9900 and 0 <= args.hold_ms <= 10000 and
            0 <= args.start_tolerance <= 60000 and 20 <= args.sample_ms <= 5000 and 100 <= args.poll_ms <= 10000 and
            10 <= args.timeout <= 3600):
        parser.error("a figure out of range (see the defaults in --help)")
    for binary in ("stampede", "stampede-agent", "stampede-lambda", "bootstrap"):
        if not os.access(os.path.join(args.bin, binary), os.X_OK):
            parser.error("no %s in %s" % (binary, args.bin))

    # A wave holds agents x capacity connections open at once at the
    # emulator: it inherits this process's limit (raised to the hard limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log("scale_bench: RLIMIT_NOFILE %d for the emulator (was %d)" % (hard, soft))
    wave = args.agents * (args.agent_nofile - 64)
    if hard != resource.RLIM_INFINITY and wave + 1000 > hard:
        log("scale_bench: a wave of %d connections may not fit the emulator's open-file "
            "limit %d" % (wave, hard))

    facts = built_facts(args.bin)
    report = {"generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "built": facts["built"], "versions": facts,
              "params": {"sizes": sizes, "agents": args.agents,
                         "agent_nofile": args.agent_nofile, "reserved": args.reserved,
                         "hold_ms": args.hold_ms, "start_tolerance_ms": args.start_tolerance,
                         "sample_ms": args.sample_ms,
                         "poll_ms": args.poll_ms, "timeout_s": args.timeout,
                         "emulator_nofile": hard, "host": platform.platform(),
                         "cpus": os.cpu_count(), "command": sys.argv},
              "runs": []}
    workdir = tempfile.mkdtemp(prefix="stampede-scalebench-")
    failed = False
    try:
        for n in sizes:
            try:
                result = run_size(args, workdir, n)
            except (RuntimeError, OSError, ValueError) as exc:
                log("scale_bench: N=%d failed: %s" % (n, exc))
                result = {"n": n, "error": str(exc)}
            failed = failed or result.get("exit") != 0 or not result.get("balanced")
            report["runs"].append(result)
            log("scale_bench: N=%d: exit %s, %s s, %s recorded, %s lost, controller RSS "
                "peak %s MiB, end %s MiB" % (
                    n, result.get("exit"), fmt(result.get("wall_s"), 1),
                    fmt(result.get("recorded")), fmt(result.get("lost")),
                    fmt(mib(result.get("rss_peak_kb")), 1),
                    fmt(mib(result.get("rss_end_kb")), 1)))
    finally:
        if args.keep:
            log("scale_bench: kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.write(markdown(report))
    write_report(report, args.out, "scale_bench")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
