#!/usr/bin/env python3
"""emulator_bench — what stampede-lambda itself costs and holds, on this machine.

Four measurements, each against a FRESH stampede-lambda on 127.0.0.1:0 that
serves the demo function (`bootstrap`) under different settings:

  throttle  Throttle answers per second. A function with --reserved 0 (every
            synchronous invoke is throttled) is loaded with keep-alive
            connections by wrk and by hey for a bounded time (default 5 s,
            64 connections): requests/s as each tool reports it, and a check
            that every answer was the door's throttle answer (wrk: its
            non-2xx count; hey: its status histogram). Through the Function
            URL door (GET /url/NAME/, 429) and, when the build has them
            (each probed first: a build without it answers its route 404),
            the Invoke API (POST /2015-03-31/functions/NAME/invocations,
            429) and API Gateway REST and HTTP API doors (GET /restapi/NAME/
            and /httpapi/NAME/: 500, as API Gateway answers a throttled
            Lambda integration).
  latency   Added latency of one successful invoke. One keep-alive
            connection, N sequential requests (default 2000, after a
            warm-up, 1 ms apart: right after an answer the environment is
            not yet back in /next, and reserved 1 would throttle the next
            request) to a function with reserved 1 and STAMPEDE_HOLD_MS=0
            (one warm environment, no hold). Against the baseline: the very
            same answer (status line, headers and body bytes captured from
            the emulator) served by a minimal C server compiled by this
            script (blocking accept/read/write on loopback, no work), timed
            by the same client code, its blocks interleaved with the
            emulator's. Added p50/p99 = emulator - baseline. Also timed on
            the same connection: a 429 from a reserved-0 function (the front
            door without any function work) and, when the build has it, the
            invoke through the Invoke API. Each 200 is split into legs from
            wall-clock instants: the client's send, X-Stampede-Received-Ns,
            the bootstrap's started_at_ns and finished_at_ns, the answer
            read.
  held      Connections held. C connections (default 5,000) are opened,
            then each sends one request to one of ceil(C/1000) functions
            with reserved 1000 that hold every request (default 30 s):
            how many requests were held at once (connections still
            unanswered once the environments stop growing), and while they
            are held, the time from connect to a complete 429 for fresh
            requests to a reserved-0 function. The emulator's file
            descriptors bound it (about 5 per environment plus one per
            connection, against its RLIMIT_NOFILE): what does not fit is
            reported as it comes back (statuses, the emulator's warnings).
  rss       Peak RSS with 1,000 environments. 1,000 connections, then 1,000
            simultaneous requests to an unreserved function (hold 3 s):
            1,000 environments. The emulator's VmHWM, the sum of VmHWM over
            its children (the environments), and the start rate: when the
            1,000 processes existed and when the last one was ready (its
            cold invocation's started_at_ns, from the answers).

The JSON report goes to --out (default BUILD/bench/emulator_bench.json),
a Markdown table to stdout, progress to stderr. Only 127.0.0.1 is loaded.
Every load loop is bounded in count and time and stops by itself; every
child process runs in its own process group, is stopped by its own pid and
waited for. No assertion on timing: a measurement, not a test.

Usage: emulator_bench.py --build BUILD | --bin DIR  [--only throttle,latency,held,rss]
Python 3 standard library only.
"""
import argparse
import datetime
import gc
import json
import math
import os
import platform
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import READY_PREFIX, function_facts, read_ready_line

SECTIONS = ["throttle", "latency", "held", "rss"]
INVOKE_PATH = "/2015-03-31/functions/%s/invocations"
INVOKE_BODY = "{}"
DEB_PACKAGES = {"hey": "hey", "wrk": "wrk"}
#  Caps of the raw client: a bench answer is a few hundred bytes.
ANSWER_MAX = 1 << 20

# The baseline server: blocking, one connection at a time, keep-alive; every
# request (headers only, no body) gets the bytes of the file given as argv[1].
# No parsing beyond finding the end of the headers; no work.
BASELINE_C = r"""
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char answer[65536];
static size_t answer_len;

static int
send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f)
        return 1;
    answer_len = fread(answer, 1, sizeof answer, f);
    fclose(f);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 16) ||
        getsockname(ls, (struct sockaddr *)&a, &al))
        return 1;
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    char buf[65536];
    for (;;) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            continue;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        size_t have = 0;
        for (;;) {
            ssize_t r = read(c, buf + have, sizeof buf - 1 - have);
            if (r <= 0)
                break;
            have += (size_t)r;
            buf[have] = '\0';
            char *end;
            while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
                if (send_all(c, answer, answer_len))
                    break;
                size_t used = (size_t)(end + 4 - buf);
                memmove(buf, end + 4, have - used + 1);
                have -= used;
            }
            if (have == sizeof buf - 1)
                break;
        }
        close(c);
    }
}
"""


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def fmt(value, digits=0):
    if value is None:
        return "–"
    if digits == 0:
        return "{:,}".format(int(round(value)))
    return "{:,.{}f}".format(value, digits)


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# --- /proc ----------------------------------------------------------------------


def proc_status_kb(pid, field):
    """A "kB" field of /proc/PID/status (VmHWM, VmRSS), or None."""
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_cpu_s(pid):
    """utime + stime of PID, seconds."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def loadavg():
    """The 1-minute load average: other work on the machine skews every
    figure here, so each section records it."""
    try:
        with open("/proc/loadavg") as text:
            return float(text.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def nofile_of(pid):
    """The soft RLIMIT_NOFILE of PID ("Max open files" in /proc/PID/limits)."""
    try:
        with open("/proc/%d/limits" % pid) as limits:
            for line in limits:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


def children_of(pid):
    """Direct children of PID (the emulator's environments)."""
    found = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as children:
                found += [int(c) for c in children.read().split()]
        return found
    except OSError:
        pass
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


# --- processes ------------------------------------------------------------------


class Emulator:
    """A fresh stampede-lambda on 127.0.0.1:0 in its own process group.
    `functions`: [(name, reserved or None, {env})]. Raises RuntimeError
    (with the emulator's own message) when it does not start."""

    def __init__(self, bin_dir, workdir, functions, timeout_s=3, extra=()):
        self.bootstrap = os.path.realpath(os.path.join(bin_dir, "bootstrap"))
        argv = [os.path.join(bin_dir, "stampede-lambda"), "--listen", "127.0.0.1:0",
                "--timeout", str(timeout_s)] + list(extra)
        for name, reserved, env in functions:
            argv += ["--function", "%s=%s" % (name, os.path.join(bin_dir, "bootstrap"))]
            if reserved is not None:
                argv += ["--reserved", str(reserved)]
            for key, value in env.items():
                argv += ["--env", "%s=%s" % (key, value)]
        self.argv = argv
        self.log_path = os.path.join(workdir, "emulator-%d.log" % time.monotonic_ns())
        self.stderr = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr, start_new_session=True)
        self.pid = self.proc.pid
        text = read_ready_line(self.proc)
        if not text.startswith(READY_PREFIX):
            self.stop()
            with open(self.log_path, errors="replace") as err:
                raise RuntimeError("stampede-lambda did not start: %s" %
                                   (err.read().strip()[-400:] or text))
        host, port = text[len(READY_PREFIX):].rsplit(":", 1)
        if host != "127.0.0.1":
            self.stop()
            raise RuntimeError("refusing a target that is not 127.0.0.1: %s" % host)
        self.port = int(port)
        self.base = "http://127.0.0.1:%d" % self.port

    def children(self):
        return children_of(self.pid)

    def warnings(self, limit=8):
        """The emulator's warnings and errors so far: their count and the
        first `limit` distinct messages (without the timestamp and fields)."""
        count, seen = 0, []
        try:
            with open(self.log_path, errors="replace") as text:
                for line in text:
                    # zsys: "W: (stampede-lambda) 26-11-26 17:32:32 message"
                    if line.startswith(("W:", "E:")):
                        count += 1
                        message = line.split(" ", 4)[-1].strip()[:160]
                        if message not in seen and len(seen) < limit:
                            seen.append(message)
        except OSError:
            pass
        return {"count": count, "first": seen}

    def stop(self):
        """SIGTERM (it stops and reaps its environments); after 30 s,
        SIGKILL to its process group and to each environment it had (they
        lead process groups of their own), by pid, when still running our
        bootstrap."""
        if self.proc.poll() is None:
            children = self.children()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                log("emulator_bench: stampede-lambda did not stop on SIGTERM; killed")
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(10)
                for pid in children:
                    try:
                        if os.readlink("/proc/%d/exe" % pid) == self.bootstrap:
                            os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        self.proc.stdout.close()
        self.stderr.close()


def run_tool(argv, timeout):
    """Runs a load tool in its own process group, bounded by `timeout` s
    (killed by its group's id on overrun). Returns (exit code, stdout,
    stderr, wall s)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
    wall = time.monotonic() - started
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), wall


# --- a raw HTTP/1.1 client ---------------------------------------------------------


def request_bytes(method, path, body=None, close=False):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    if close:
        lines.append("Connection: close")
    data = b""
    if body is not None:
        data = body.encode()
        lines += ["Content-Type: application/json", "Content-Length: %d" % len(data)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


class KeepAlive:
    """One blocking keep-alive connection; `ask` sends one request and reads
    its whole answer (Content-Length framed)."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def ask(self, request):
        """Returns (status, head bytes, body bytes)."""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            rest += self._recv()
        self.buf = rest[length:]
        return int(head[9:12]), head, rest[:length]

    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        return chunk

    def _more(self):
        self.buf += self._recv()
        if len(self.buf) > ANSWER_MAX:
            raise ConnectionError("answer over %d bytes" % ANSWER_MAX)

    def close(self):
        self.sock.close()


def one_shot(port, request, timeout=10):
    """Connect, send, read to EOF (the request says Connection: close).
    Returns (status, seconds from before connect to the whole answer);
    status 0 when no answer came (refused, reset, or nothing within
    `timeout`): a result, not an error."""
    started = time.perf_counter()
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            while len(data) <= ANSWER_MAX:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        pass
    elapsed = time.perf_counter() - started
    status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, elapsed


def open_many(port, count, deadline):
    """Opens `count` blocking loopback connections (the kernel completes the
    handshake; the emulator accepts at its pace). Stops at `deadline` or at
    the first failure; returns the sockets opened and the error, if any."""
    socks, error = [], None
    for _ in range(count):
        if time.monotonic() > deadline:
            error = "deadline"
            break
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError as exc:
            error = str(exc)
            break
        socks.append(sock)
    return socks, error


def collect(socks, deadline):
    """Reads every socket to EOF (Connection: close answers), until
    `deadline`. Returns per socket (status or None, monotonic time of EOF or
    None, body)."""
    results = [[None, None, b""] for _ in socks]
    poller = select.epoll(sizehint=len(socks) + 1)
    index = {}
    try:
        for i, sock in enumerate(socks):
            sock.setblocking(False)
            poller.register(sock.fileno(), select.EPOLLIN)
            index[sock.fileno()] = i
        open_count = len(socks)
        while open_count and time.monotonic() < deadline:
            for fd, _ in poller.poll(0.2):
                i = index[fd]
                try:
                    chunk = socks[i].recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                if chunk and len(results[i][2]) + len(chunk) <= ANSWER_MAX:
                    results[i][2] += chunk
                    continue
                data = results[i][2]
                results[i][0] = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else 0
                results[i][1] = time.monotonic()
                poller.unregister(fd)
                open_count -= 1
    finally:
        poller.close()
    for result in results:
        head, _, body = result[2].partition(b"\r\n\r\n")
        result[2] = body
    return results


def readable_now(socks):
    """How many of `socks` have an answer (or EOF) waiting right now."""
    poller = select.epoll(sizehint=len(socks) + 1)
    try:
        for sock in socks:
            poller.register(sock.fileno(), select.EPOLLIN)
        return len(poller.poll(0))
    finally:
        poller.close()


# --- 1. throttle answers per second --------------------------------------------------


WRK_POST_LUA = """\
-- Every request of this wrk run: an Invoke API call with a JSON payload.
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
""" % INVOKE_BODY


def parse_wrk(text):
    figures = {"requests": None, "rps": None, "non_2xx": 0, "socket_errors": None}
    for line in text.splitlines():
        line = line.strip()
        if " requests in " in line:
            figures["requests"] = int(line.split()[0])
        elif line.startswith("Requests/sec:"):
            figures["rps"] = float(line.split()[1])
        elif line.startswith("Non-2xx or 3xx responses:"):
            figures["non_2xx"] = int(line.split(":")[1])
        elif line.startswith("Socket errors:"):
            figures["socket_errors"] = line.split(":", 1)[1].strip()
    # wrk counts answers outside 2xx/3xx, not statuses: with every invoke
    # throttled, all of them are the door's throttle answer.
    figures["all_throttled"] = (figures["requests"] is not None and figures["requests"] > 0 and
                                figures["non_2xx"] == figures["requests"] and
                                figures["socket_errors"] is None)
    figures["statuses"] = None  # wrk counts non-2xx/3xx, it has no histogram
    return figures


def parse_hey(text, expect):
    figures = {"requests": 0, "rps": None, "statuses": {}, "errors": {}}
    section = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Requests/sec:"):
            figures["rps"] = float(stripped.split()[1])
        elif stripped.startswith("Status code distribution:"):
            section = "status"
        elif stripped.startswith("Error distribution:"):
            section = "error"
        elif section == "status" and stripped.startswith("["):
            code, count = stripped[1:].split("]", 1)
            figures["statuses"][code] = int(count.split()[0])
        elif section == "error" and stripped.startswith("["):
            count, message = stripped[1:].split("]", 1)
            figures["errors"][message.strip()] = int(count)
    figures["requests"] = sum(figures["statuses"].values())
    figures["all_throttled"] = (figures["requests"] > 0 and not figures["errors"] and
                                set(figures["statuses"]) == {str(expect)})
    return figures


def throttle_tool_argv(tool, url, post, args, workdir):
    if tool == "wrk":
        extra = []
        if post:
            script = os.path.join(workdir, "invoke.lua")
            with open(script, "w") as out:
                out.write(WRK_POST_LUA)
            extra = ["-s", script]
        return ["wrk", "-t%d" % args.wrk_threads, "-c%d" % args.connections,
                "-d%ds" % args.duration, "--timeout", "5s"] + extra + [url]
    extra = ["-m", "POST", "-d", INVOKE_BODY, "-T", "application/json"] if post else []
    return ["hey", "-z", "%ds" % args.duration, "-c", str(args.connections),
            "-t", "5"] + extra + [url]


# The doors: (name, method, path of function `thr`, body, the status of a
# throttled invoke there). API Gateway answers a throttled Lambda
# integration with 500 (the HTTP API door can be switched to 429 with
# --httpapi-throttle-status; the default, 500, is measured).
DOORS = [
    ("function_url", "GET", "/url/thr/", None, 429),
    ("invoke_api", "POST", INVOKE_PATH % "thr", INVOKE_BODY, 429),
    ("rest_api", "GET", "/restapi/thr/", None, 500),
    ("http_api", "GET", "/httpapi/thr/", None, 500),
]


def probe_door(port, method, path, body):
    """The status a door answers, 404 when the build does not have it."""
    client = KeepAlive(port)
    try:
        return client.ask(request_bytes(method, path, body))[0]
    finally:
        client.close()


def throttle_function(bin_dir, workdir, args):
    """An emulator whose function `thr` throttles every synchronous invoke:
    --reserved 0, or, when the build refuses 0, --reserved 1 with one
    request pinned for longer than the load (returned so it is closed)."""
    try:
        emulator = Emulator(bin_dir, workdir, [("thr", 0, {})])
        return emulator, None, "reserved 0"
    except RuntimeError as exc:
        log("emulator_bench: --reserved 0 refused (%s); reserved 1 with one request "
            "pinned" % exc)
    hold_ms = (args.duration + 30) * 1000
    emulator = Emulator(bin_dir, workdir, [("thr", 1, {"STAMPEDE_HOLD_MS": str(hold_ms)})],
                        timeout_s=args.duration + 40)
    pin = socket.create_connection(("127.0.0.1", emulator.port), timeout=10)
    pin.sendall(request_bytes("GET", "/url/thr/", close=True))
    deadline = time.monotonic() + 10
    while not emulator.children() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    return emulator, pin, "reserved 1, one request pinned"


def measure_throttle(args, workdir, report):
    tools = [t for t in ("wrk", "hey") if shutil.which(t)]
    for tool in ("wrk", "hey"):
        if tool not in tools:
            log("emulator_bench: %s is not installed (apt-get install -y %s); skipped"
                % (tool, DEB_PACKAGES[tool]))
            report["missing"].append(tool)
    section = {"duration_s": args.duration, "connections": args.connections,
               "wrk_threads": args.wrk_threads, "repeat": args.repeat, "doors": []}
    # The doors this build has: the Function URL always; each other one
    # when its route does not answer 404.
    emulator, pin, how = throttle_function(args.bin, workdir, args)
    probes = {}
    try:
        for door, method, path, body, _ in DOORS:
            probes[door] = probe_door(emulator.port, method, path, body)
    finally:
        if pin:
            pin.close()
        emulator.stop()
    section["setup"] = how
    section["probes"] = probes
    wanted = [d for d in args.doors.split(",") if d]
    doors, notes = [], []
    for door, method, path, body, expect in DOORS:
        if door not in wanted:
            continue
        if door != "function_url" and probes[door] == 404:
            notes.append("%s door absent in this build (%s %s answered 404)"
                         % (door, method, path))
            log("emulator_bench: no %s door in this build (%s %s answered 404); "
                "its throttle rate is not measured" % (door, method, path))
            continue
        if probes[door] != expect:
            log("emulator_bench: %s answers a throttled invoke with %d (expected %d)"
                % (door, probes[door], expect))
        doors.append((door, method, path, body, probes[door]))
    if notes:
        section["note"] = "; ".join(notes)
    for door, method, path, body, expect in doors:
        entry = {"door": door, "request": "%s %s" % (method, path), "throttle_status": expect,
                 "tools": {}}
        for tool in tools:
            runs = []
            for repeat in range(args.repeat):
                emulator, pin, how = throttle_function(args.bin, workdir, args)
                try:
                    cpu_before = proc_cpu_s(emulator.pid)
                    argv = throttle_tool_argv(tool, emulator.base + path, body is not None,
                                              args, workdir)
                    code, out, err, wall = run_tool(argv, args.duration + 30)
                    cpu_after = proc_cpu_s(emulator.pid)
                finally:
                    if pin:
                        pin.close()
                    emulator.stop()
                figures = parse_wrk(out) if tool == "wrk" else parse_hey(out, expect)
                figures.update(exit_code=code, wall_s=round(wall, 3), argv=argv,
                               emulator_cpu_s=(round(cpu_after - cpu_before, 3)
                                               if None not in (cpu_before, cpu_after)
                                               else None))
                if code != 0:
                    figures["stderr"] = err.strip()[-400:]
                runs.append(figures)
                log("[throttle] %-12s %-3s run %d/%d: %s req/s, %s requests, all %d: %s, "
                    "emulator cpu %s s" % (door, tool, repeat + 1, args.repeat,
                                           fmt(figures["rps"]), fmt(figures["requests"]),
                                           expect, figures["all_throttled"],
                                           figures["emulator_cpu_s"]))
            entry["tools"][tool] = {
                "runs": runs,
                "rps_median": median([r["rps"] for r in runs]),
                "rps_min": min((r["rps"] for r in runs if r["rps"] is not None), default=None),
                "rps_max": max((r["rps"] for r in runs if r["rps"] is not None), default=None),
                "all_throttled": all(r["all_throttled"] for r in runs),
                "requests_total": sum(r["requests"] or 0 for r in runs),
                "emulator_cores": median([r["emulator_cpu_s"] / args.duration
                                          for r in runs if r["emulator_cpu_s"] is not None]),
            }
        section["doors"].append(entry)
    report["throttle"] = section


# --- 2. added latency ---------------------------------------------------------------------


def build_baseline(workdir):
    """Compiles the baseline server; None when no C compiler is found."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None
    source = os.path.join(workdir, "baseline.c")
    binary = os.path.join(workdir, "baseline")
    with open(source, "w") as out:
        out.write(BASELINE_C)
    done = subprocess.run([cc, "-O2", "-o", binary, source], capture_output=True, timeout=60)
    if done.returncode != 0:
        log("emulator_bench: baseline server did not compile: %s" % done.stderr.decode()[-300:])
        return None
    return binary


def time_requests(client, request, count, expect, pause_s, segments=None, invoke_api=False):
    """`count` sequential requests on one keep-alive connection, `pause_s`
    apart; returns the round trips in µs (send to whole answer) of the
    answers with status `expect`, and the count of every other status (not
    timed). With a list `segments`, each answer of the bootstrap adds
    (send, X-Stampede-Received-Ns, started_at_ns, finished_at_ns, answer
    read), all CLOCK_REALTIME ns; `invoke_api` says the answers come from
    the Invoke API (the function's proxy response whole)."""
    samples, wrong = [], {}
    gc.disable()
    try:
        for _ in range(count):
            wall = time.time_ns()
            started = time.perf_counter_ns()
            status, head, body = client.ask(request)
            elapsed = (time.perf_counter_ns() - started) / 1e3
            if status == expect:
                samples.append(elapsed)
                if segments is not None:
                    segments.append(s_segments(wall, wall + int(elapsed * 1e3), head, body,
                                               invoke_api))
            else:
                wrong[status] = wrong.get(status, 0) + 1
            if pause_s:
                time.sleep(pause_s)
    finally:
        gc.enable()
    return samples, wrong


def s_segments(sent, read, head, body, invoke_api):
    """The instants of one invoke: sent, held whole by the front door
    (X-Stampede-Received-Ns), handler start and end in the environment
    (the bootstrap's started_at_ns / finished_at_ns), answer read."""
    received = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-stampede-received-ns":
            received = int(value.strip())
    try:
        doc = function_facts(body, invoke_api)
        return (sent, received, doc["started_at_ns"], doc["finished_at_ns"], read)
    except (ValueError, KeyError, TypeError):
        return None


def segment_medians(segments):
    """Median µs of each leg of an invoke, from s_segments tuples: client to
    front door, front door to handler (event built, /next answered, runtime
    parses), handler (hold 0), handler end to answer read (the response
    posted to the Runtime API, mapped, sent by the front door)."""
    rows = [seg for seg in segments if seg and None not in seg]
    if not rows:
        return None
    legs = {"client_to_front_door_us": (0, 1), "front_door_to_handler_us": (1, 2),
            "handler_us": (2, 3), "handler_to_client_us": (3, 4)}
    return {name: statistics.median((row[b] - row[a]) / 1e3 for row in rows)
            for name, (a, b) in legs.items()} | {"n": len(rows)}


def distribution(samples):
    ordered = sorted(samples)
    return {"n": len(ordered), "p50_us": percentile(ordered, 50),
            "p90_us": percentile(ordered, 90), "p99_us": percentile(ordered, 99),
            "mean_us": statistics.fmean(ordered) if ordered else None,
            "min_us": ordered[0] if ordered else None,
            "max_us": ordered[-1] if ordered else None}


def start_baseline(workdir, answer_path):
    """Compiles and starts the baseline server; (process, port), or
    (None, None) without a C compiler."""
    binary = build_baseline(workdir)
    if not binary:
        return None, None
    proc = subprocess.Popen([binary, answer_path], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, start_new_session=True)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    if not ready:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
        raise RuntimeError("baseline server did not start")
    return proc, int(proc.stdout.readline())


def measure_latency(args, workdir, report):
    n, warm, blocks = args.latency_n, args.warmup, 10
    pause = args.pause_ms / 1000
    section = {"n": n, "warmup": warm, "pause_ms": args.pause_ms, "blocks": blocks,
               "series": {}}
    emulator = Emulator(args.bin, workdir, [("lat", 1, {"STAMPEDE_HOLD_MS": "0"}),
                                           ("thr", 0, {})])
    baseline_proc = None
    clients = []
    try:
        client = KeepAlive(emulator.port)
        clients.append(client)
        invoke_get = request_bytes("GET", "/url/lat/")
        # Warm-up: the first request starts the one environment (cold).
        environments = set()
        last_answer = None
        for _ in range(warm):
            status, head, body = client.ask(invoke_get)
            time.sleep(pause)
            if status == 200:
                environments.add(json.loads(body)["environment_id"])
                last_answer = (head, body)
        if last_answer is None:
            raise RuntimeError("the function never answered 200 during the warm-up")
        # Baseline: the function's very answer, from a server doing no work.
        head, body = last_answer
        answer_path = os.path.join(workdir, "answer.http")
        with open(answer_path, "wb") as out:
            out.write(head + b"\r\n\r\n" + body)
        section["answer_bytes"] = len(head) + 4 + len(body)
        baseline_proc, port = start_baseline(workdir, answer_path)
        series = {}
        if baseline_proc:
            section["baseline"] = ("a minimal C server (compiled by this script, cc -O2): "
                                   "blocking accept/read/write on 127.0.0.1, one keep-alive "
                                   "connection, answers every request with the %d bytes "
                                   "captured from the emulator's last 200 (status line, "
                                   "headers, body); no parsing beyond the end of headers, "
                                   "no work" % section["answer_bytes"])
            base_client = KeepAlive(port)
            clients.append(base_client)
            time_requests(base_client, invoke_get, warm, 200, pause)
            series["baseline_200"] = (base_client, invoke_get, 200)
        else:
            section["baseline"] = None
            section["note"] = "no C compiler: no baseline, added latency not computed"
        series["function_url_200"] = (client, invoke_get, 200)
        series["function_url_429"] = (client, request_bytes("GET", "/url/thr/"), 429)
        if probe_door(emulator.port, "POST", INVOKE_PATH % "lat", INVOKE_BODY) != 404:
            request = request_bytes("POST", INVOKE_PATH % "lat", INVOKE_BODY)
            time_requests(client, request, warm, 200, pause)
            series["invoke_api_200"] = (client, request, 200)
        # The series interleaved in blocks, so that drift of the machine
        # weighs on each alike.
        samples = {name: [] for name in series}
        wrong = {name: {} for name in series}
        segments = {name: [] for name in series if name.endswith("_200") and
                    not name.startswith("baseline")}
        for _ in range(blocks):
            for name, (conn, request, expect) in series.items():
                got, bad = time_requests(conn, request, n // blocks, expect, pause,
                                         segments.get(name), name.startswith("invoke_api"))
                samples[name] += got
                for status, count in bad.items():
                    wrong[name][status] = wrong[name].get(status, 0) + count
        status, head, body = client.ask(invoke_get)
        environments.add(json.loads(body)["environment_id"])
        section["environments_used"] = len(environments)
        section["children"] = len(emulator.children())
        for name in series:
            section["series"][name] = dict(distribution(samples[name]),
                                           unexpected_statuses=wrong[name])
        section["legs"] = {name: segment_medians(rows) for name, rows in segments.items()}
        if baseline_proc:
            b = section["series"]["baseline_200"]
            section["added"] = {
                name: {k: section["series"][name][k] - b[k]
                       for k in ("p50_us", "p99_us", "mean_us")}
                for name in series if name != "baseline_200"}
        for name, s in section["series"].items():
            log("[latency] %-17s p50 %s µs  p99 %s µs  mean %s µs  (n=%d)" % (
                name, fmt(s["p50_us"], 1), fmt(s["p99_us"], 1), fmt(s["mean_us"], 1), s["n"]))
    finally:
        for conn in clients:
            conn.close()
        if baseline_proc:
            baseline_proc.kill()
            baseline_proc.wait(10)
            baseline_proc.stdout.close()
        emulator.stop()
    report["latency"] = section


# --- 3. connections held --------------------------------------------------------------------


def wait_children(emulator, count, deadline, every=0.05, plateau_s=3.0, on_poll=None):
    """Polls the emulator's children until there are `count`, until their
    number has not grown for `plateau_s`, or until `deadline`; calls
    `on_poll()` at every poll. Returns (highest count seen, monotonic time
    it was first reached)."""
    highest, reached = 0, None
    while time.monotonic() < deadline:
        if on_poll:
            on_poll()
        seen = len(emulator.children())
        now = time.monotonic()
        if seen > highest:
            highest, reached = seen, now
        if highest >= count or (highest and now - reached >= plateau_s):
            break
        time.sleep(every)
    return highest, reached


def held_emulator(args, workdir, functions_needed, hold_ms, timeout_s):
    """Functions hold0..holdK-1 with reserved 1000 each, and thr with
    reserved 0. A build with an account limit (--account-concurrency, whose
    reservations must leave 100 unreserved) gets a limit that fits them;
    an older build takes them as they are. When neither starts, one
    unreserved function takes what the account allows and the other
    connections are throttled. Returns (emulator, function names, setup)."""
    env = {"STAMPEDE_HOLD_MS": str(hold_ms)}
    names = ["hold%d" % i for i in range(functions_needed)]
    functions = [(name, 1000, env) for name in names] + [("thr", 0, {})]
    help_text = subprocess.run([os.path.join(args.bin, "stampede-lambda"), "--help"],
                               capture_output=True, text=True, timeout=10).stdout
    if "--account-concurrency" in help_text:
        limit = 1000 * len(names) + 100
        attempt = (["--account-concurrency", str(limit)],
                   "%d functions, reserved 1000 each, --account-concurrency %d"
                   % (len(names), limit))
    else:
        attempt = ([], "%d functions, reserved 1000 each" % len(names))
    try:
        return (Emulator(args.bin, workdir, functions, timeout_s, extra=attempt[0]), names,
                attempt[1])
    except RuntimeError as exc:
        log("emulator_bench: %s refused: %s" % (attempt[1], exc))
    return (Emulator(args.bin, workdir, [("hold0", None, env), ("thr", 0, {})], timeout_s),
            ["hold0"], "one unreserved function (the account limit caps it)")


def measure_held(args, workdir, report):
    target = args.held
    hold_ms = args.held_hold_s * 1000
    section = {"target": target, "hold_ms": hold_ms}
    functions_needed = math.ceil(target / 1000)
    emulator, names, setup = held_emulator(args, workdir, functions_needed, hold_ms,
                                           args.held_hold_s + 60)
    section["setup"] = setup
    socks = []
    try:
        section["emulator_vmhwm_idle_kb"] = proc_status_kb(emulator.pid, "VmHWM")
        section["loadavg_before"] = loadavg()
        t0 = time.monotonic()
        socks, error = open_many(emulator.port, target, t0 + 60)
        section["connected"] = len(socks)
        section["connect_error"] = error
        section["connect_s"] = round(time.monotonic() - t0, 3)
        log("[held] %d connections open in %.2f s%s" % (
            len(socks), section["connect_s"], " (stopped: %s)" % error if error else ""))
        requests = [request_bytes("GET", "/url/%s/" % names[i % len(names)], close=True)
                    for i in range(len(socks))]
        t1 = time.monotonic()
        for sock, request in zip(socks, requests):
            sock.sendall(request)
        section["write_s"] = round(time.monotonic() - t1, 3)
        # Every environment the functions may start, started and holding;
        # meanwhile, while the loop is busy starting them, one 429 probe
        # per poll.
        probe_request = request_bytes("GET", "/url/thr/", close=True)
        starting = []

        def probe():
            starting.append(one_shot(emulator.port, probe_request))

        expected = min(len(socks), 1000 * len(names))
        seen, at = wait_children(emulator, expected, t1 + hold_ms / 1000 * 0.6, every=0.1,
                                 on_poll=probe)
        times = sorted(elapsed * 1e3 for _, elapsed in starting)
        section["time_to_429_while_starting_ms"] = {
            "statuses": sorted({status for status, _ in starting}), "n": len(times),
            "p50": percentile(times, 50), "p99": percentile(times, 99),
            "max": times[-1] if times else None}
        section["environments"] = seen
        section["environments_s"] = round(at - t1, 3) if at else None
        section["environments_expected"] = expected
        # Let the last environments reach their invocation; then look.
        time.sleep(1.0)
        answered_before = readable_now(socks)
        section["answered_before_probe"] = answered_before
        section["held_at_probe"] = len(socks) - answered_before
        # Fresh requests to the reserved-0 function while they are held.
        probes = []
        for _ in range(args.probes):
            status, elapsed = one_shot(emulator.port, probe_request)
            probes.append((status, elapsed * 1e3))
        answered_after = readable_now(socks)
        section["held_after_probe"] = len(socks) - answered_after
        section["probe_statuses"] = sorted({status for status, _ in probes})
        times = sorted(ms for _, ms in probes)
        section["time_to_429_ms"] = {"first": probes[0][1] if probes else None,
                                     "p50": percentile(times, 50),
                                     "p99": percentile(times, 99),
                                     "max": times[-1] if times else None, "n": len(times)}
        section["emulator_fds"] = len(os.listdir("/proc/%d/fd" % emulator.pid))
        section["emulator_nofile"] = nofile_of(emulator.pid)
        section["emulator_vmhwm_kb"] = proc_status_kb(emulator.pid, "VmHWM")
        log("[held] %d environments (all in %s s); %d held at the probe; 429 in %s ms "
            "(first), p50 %s, max %s ms" % (
                seen, fmt(section["environments_s"], 2), section["held_at_probe"],
                fmt(section["time_to_429_ms"]["first"], 2),
                fmt(section["time_to_429_ms"]["p50"], 2), fmt(section["time_to_429_ms"]["max"], 2)))
        results = collect(socks, time.monotonic() + hold_ms / 1000 + 60)
        statuses = {}
        for status, _, _ in results:
            key = str(status)
            statuses[key] = statuses.get(key, 0) + 1
        section["final_statuses"] = statuses
        section["held_and_answered_200"] = statuses.get("200", 0)
        section["emulator_warnings"] = emulator.warnings()
        log("[held] final statuses %s; emulator warnings %d %s" % (
            statuses, section["emulator_warnings"]["count"],
            section["emulator_warnings"]["first"][:3]))
    finally:
        for sock in socks:
            sock.close()
        emulator.stop()
    report["held"] = section


# --- 4. RSS with 1,000 environments --------------------------------------------------------------


def measure_rss(args, workdir, report):
    count = args.envs
    hold_ms = args.rss_hold_s * 1000
    section = {"environments_target": count, "hold_ms": hold_ms}
    emulator = Emulator(args.bin, workdir, [("rss", None, {"STAMPEDE_HOLD_MS": str(hold_ms)})],
                        timeout_s=args.rss_hold_s + 60)
    socks = []
    try:
        section["emulator_vmhwm_idle_kb"] = proc_status_kb(emulator.pid, "VmHWM")
        section["emulator_fds_idle"] = len(os.listdir("/proc/%d/fd" % emulator.pid))
        loadavg_before = loadavg()
        socks, error = open_many(emulator.port, count, time.monotonic() + 60)
        section["connected"] = len(socks)
        section["connect_error"] = error
        request = request_bytes("GET", "/url/rss/", close=True)
        wall0 = time.time_ns()
        t0 = time.monotonic()
        for sock in socks:
            sock.sendall(request)
        section["write_s"] = round(time.monotonic() - t0, 3)
        seen, at = wait_children(emulator, count, t0 + hold_ms / 1000 + 30, every=0.02)
        section["processes"] = seen
        section["processes_s"] = round(at - t0, 3) if at else None
        section["loadavg_before"] = loadavg_before
        results = collect(socks, time.monotonic() + hold_ms / 1000 + 60)
        statuses = {}
        ready_s = []
        environments = set()
        for status, _, body in results:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 200:
                doc = json.loads(body)
                environments.add(doc["environment_id"])
                ready_s.append((doc["started_at_ns"] - wall0) / 1e9)
        ready_s.sort()
        section["statuses"] = statuses
        section["environments"] = len(environments)
        section["ready_s"] = {"first": ready_s[0] if ready_s else None,
                              "p50": percentile(ready_s, 50),
                              "last": ready_s[-1] if ready_s else None}
        section["start_rate_per_s"] = (len(ready_s) / ready_s[-1]
                                       if ready_s and ready_s[-1] > 0 else None)
        # Every environment is idle now and still alive: read them all.
        # The answered connections are closed (Connection: close): what the
        # emulator holds beyond its idle count is the environments'.
        for sock in socks:
            sock.close()
        time.sleep(0.5)
        section["emulator_fds"] = len(os.listdir("/proc/%d/fd" % emulator.pid))
        children = emulator.children()
        if children:
            section["fds_per_environment"] = ((section["emulator_fds"] -
                                               section["emulator_fds_idle"]) / len(children))
        child_hwm = [proc_status_kb(pid, "VmHWM") for pid in children]
        child_rss = [proc_status_kb(pid, "VmRSS") for pid in children]
        child_hwm = [kb for kb in child_hwm if kb is not None]
        child_rss = [kb for kb in child_rss if kb is not None]
        section["children_alive"] = len(children)
        section["children_vmhwm_sum_kb"] = sum(child_hwm)
        section["children_vmrss_sum_kb"] = sum(child_rss)
        section["child_vmhwm_median_kb"] = median(child_hwm)
        section["emulator_vmhwm_kb"] = proc_status_kb(emulator.pid, "VmHWM")
        section["emulator_vmrss_kb"] = proc_status_kb(emulator.pid, "VmRSS")
        section["emulator_warnings"] = emulator.warnings()
        log("[rss] %d environments; emulator VmHWM %s KiB (idle %s); children VmHWM sum %s "
            "KiB (median %s); processes in %s s, all ready in %s s" % (
                len(environments), fmt(section["emulator_vmhwm_kb"]),
                fmt(section["emulator_vmhwm_idle_kb"]), fmt(section["children_vmhwm_sum_kb"]),
                fmt(section["child_vmhwm_median_kb"]), fmt(section["processes_s"], 2),
                fmt(section["ready_s"]["last"], 2)))
    finally:
        for sock in socks:
            sock.close()
        emulator.stop()
    report["rss"] = section


# --- report -------------------------------------------------------------------------------------


def markdown(report):
    out = []
    p = report["params"]
    out.append("## stampede-lambda — emulator benchmark\n")
    out.append("%s UTC; host %s, %d CPUs; checkout %s; %s built %s." % (
        report["generated_at"][:16].replace("T", " "), p["host"], p["cpus"],
        report["versions"].get("tree") or "?", report["versions"].get("stampede-lambda"),
        report["versions"].get("stampede-lambda_built")))
    if report.get("loadavg"):
        out.append("1-minute load average when each section started (other work on the "
                   "machine skews the figures): %s; RLIMIT_NOFILE %s." % (
                       ", ".join("%s %s" % (k, v) for k, v in report["loadavg"].items()),
                       p["nofile"]))
    out.append("")
    t = report.get("throttle")
    if t:
        out.append("### Throttle answers per second (%s; %d s, %d keep-alive connections, "
                   "median of %d)\n" % (t["setup"], t["duration_s"], t["connections"],
                                        t["repeat"]))
        out.append("| door | request | tool | req/s (median) | min–max | requests "
                   "| every answer the throttle | emulator CPU (cores) |")
        out.append("|---|---|---|--:|--:|--:|---|--:|")
        for door in t["doors"]:
            for tool, f in door["tools"].items():
                out.append("| %s | `%s` | %s | %s | %s–%s | %s | %s | %s |" % (
                    door["door"], door["request"], tool, fmt(f["rps_median"]),
                    fmt(f["rps_min"]), fmt(f["rps_max"]), fmt(f["requests_total"]),
                    ("yes, %d" % door["throttle_status"]) if f["all_throttled"] else "NO",
                    fmt(f["emulator_cores"], 2)))
        if t.get("note"):
            out.append("\n%s." % t["note"])
        out.append("")
    lat = report.get("latency")
    if lat:
        out.append("### Latency of one request, one keep-alive connection (n=%d each, "
                   "after %d warm-up)\n" % (lat["n"], lat["warmup"]))
        out.append("| series | p50 µs | p90 µs | p99 µs | mean µs | added p50 µs | added p99 µs "
                   "| added mean µs |")
        out.append("|---|--:|--:|--:|--:|--:|--:|--:|")
        labels = {"baseline_200": "baseline: C server, same answer bytes",
                  "function_url_200": "Function URL → bootstrap (hold 0), 200",
                  "invoke_api_200": "Invoke API → bootstrap (hold 0), 200",
                  "function_url_429": "Function URL, reserved 0: 429"}
        added = lat.get("added") or {}
        for name, s in lat["series"].items():
            a = added.get(name, {})
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                labels.get(name, name), fmt(s["p50_us"], 1), fmt(s["p90_us"], 1),
                fmt(s["p99_us"], 1), fmt(s["mean_us"], 1), fmt(a.get("p50_us"), 1),
                fmt(a.get("p99_us"), 1), fmt(a.get("mean_us"), 1)))
        out.append("\nBaseline: %s. Environments used by the 200 series: %d." % (
            lat.get("baseline") or lat.get("note"), lat["environments_used"]))
        legs = {k: v for k, v in (lat.get("legs") or {}).items() if v}
        if legs:
            out.append("\nWhere an invoke's time goes (medians, µs, from the wall-clock "
                       "instants: the client's send, X-Stampede-Received-Ns, the bootstrap's "
                       "started_at_ns and finished_at_ns, the answer read):\n")
            out.append("| series | client → front door holds the request | → handler starts "
                       "| handler (hold 0) | handler ends → answer read |")
            out.append("|---|--:|--:|--:|--:|")
            for name, leg in legs.items():
                out.append("| %s | %s | %s | %s | %s |" % (
                    labels.get(name, name), fmt(leg["client_to_front_door_us"], 1),
                    fmt(leg["front_door_to_handler_us"], 1), fmt(leg["handler_us"], 1),
                    fmt(leg["handler_to_client_us"], 1)))
        out.append("")
    h = report.get("held")
    if h:
        tt = h["time_to_429_ms"]
        out.append("### Connections held (%s; hold %d s)\n" % (h["setup"], h["hold_ms"] // 1000))
        out.append("| figure | value |")
        out.append("|---|--:|")
        rows = [("connections open at once (target %d)" % h["target"], fmt(h["connected"])),
                ("environments (child processes) at their highest (of %d the functions "
                 "allow)" % h["environments_expected"], fmt(h["environments"])),
                ("… reached, s after the requests were written", fmt(h["environments_s"], 2)),
                ("requests unanswered (held) at the probe", fmt(h["held_at_probe"])),
                ("… still unanswered after the probes", fmt(h["held_after_probe"])),
                ("fresh requests to a reserved-0 function while held: statuses",
                 ", ".join(str(s) for s in h["probe_statuses"])),
                ("time to a complete 429 (connect + request + answer), first, ms",
                 fmt(tt["first"], 2)),
                ("… p50 / p99 / max of %d, ms" % tt["n"],
                 "%s / %s / %s" % (fmt(tt["p50"], 2), fmt(tt["p99"], 2), fmt(tt["max"], 2))),
                ("429 probes while the environments were starting (one per 0.1 s): "
                 "statuses, n", "%s, %s" % (
                     ", ".join(str(x) for x in h["time_to_429_while_starting_ms"]["statuses"]),
                     fmt(h["time_to_429_while_starting_ms"]["n"]))),
                ("… their time to a complete 429, p50 / p99 / max, ms", "%s / %s / %s" % (
                    fmt(h["time_to_429_while_starting_ms"]["p50"], 2),
                    fmt(h["time_to_429_while_starting_ms"]["p99"], 2),
                    fmt(h["time_to_429_while_starting_ms"]["max"], 2))),
                ("final statuses of the held requests",
                 ", ".join("%s × %s" % (fmt(v), k) for k, v in sorted(h["final_statuses"].items()))),
                ("emulator open fds while held (its RLIMIT_NOFILE)",
                 "%s (%s)" % (fmt(h["emulator_fds"]), fmt(h.get("emulator_nofile")))),
                ("emulator VmHWM, MiB", fmt(h["emulator_vmhwm_kb"] / 1024, 1)),
                ("emulator warnings logged", fmt(h["emulator_warnings"]["count"]))]
        for label, value in rows:
            out.append("| %s | %s |" % (label, value))
        if h["emulator_warnings"]["first"]:
            out.append("\nFirst emulator warnings: %s" % "; ".join(
                "`%s`" % w for w in h["emulator_warnings"]["first"][:3]))
        out.append("")
    r = report.get("rss")
    if r:
        out.append("### 1,000 environments (unreserved function, hold %d s)\n"
                   % (r["hold_ms"] // 1000))
        out.append("| figure | value |")
        out.append("|---|--:|")
        rows = [("environments (distinct environment_id answering 200)", fmt(r["environments"])),
                ("emulator VmHWM, MiB (idle before the load)",
                 "%s (%s)" % (fmt(r["emulator_vmhwm_kb"] / 1024, 1),
                              fmt(r["emulator_vmhwm_idle_kb"] / 1024, 1))),
                ("environments: sum of VmHWM, MiB (%d processes)" % r["children_alive"],
                 fmt(r["children_vmhwm_sum_kb"] / 1024, 1)),
                ("one environment: median VmHWM, KiB", fmt(r["child_vmhwm_median_kb"])),
                ("emulator + environments, MiB",
                 fmt((r["emulator_vmhwm_kb"] + r["children_vmhwm_sum_kb"]) / 1024, 1)),
                ("all %d processes existed, s after the requests were written" % r["processes"],
                 fmt(r["processes_s"], 2)),
                ("all environments ready (last cold invocation started), s",
                 fmt(r["ready_s"]["last"], 2)),
                ("start rate, environments ready per second", fmt(r["start_rate_per_s"])),
                ("emulator file descriptors per idle environment",
                 fmt(r.get("fds_per_environment"), 1))]
        for label, value in rows:
            out.append("| %s | %s |" % (label, value))
        out.append("")
    if report["missing"]:
        out.append("Not measured (not installed): %s.\n" % ", ".join(report["missing"]))
    return "\n".join(out)


def versions(bin_dir):
    found = {}
    done = subprocess.run([os.path.join(bin_dir, "stampede-lambda"), "--version"],
                          capture_output=True, text=True, timeout=10)
    found["stampede-lambda"] = done.stdout.strip()
    # The tree below is the checkout's now; the binary may be older.
    found["stampede-lambda_built"] = datetime.datetime.fromtimestamp(
        os.stat(os.path.join(bin_dir, "stampede-lambda")).st_mtime,
        datetime.timezone.utc).isoformat(timespec="seconds")
    for tool, package in DEB_PACKAGES.items():
        done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                              capture_output=True, text=True, timeout=10)
        found[tool] = "%s %s" % (package, done.stdout.strip() or "?")
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        done = subprocess.run(["git", "-C", here, "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10)
        found["tree"] = done.stdout.strip() or None
    except OSError:
        found["tree"] = None
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--build", help="build directory (binaries in BUILD/bin)")
    where.add_argument("--bin", help="directory of the binaries")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help="sections to run, of %s (default all)" % ",".join(SECTIONS))
    parser.add_argument("--duration", type=int, default=5, help="throttle load, s (5)")
    parser.add_argument("--doors", default=",".join(d[0] for d in DOORS),
                        help="throttle doors, of %s (default all the build has)"
                             % ",".join(d[0] for d in DOORS))
    parser.add_argument("--connections", type=int, default=64,
                        help="throttle load connections (64)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk -t (2)")
    parser.add_argument("--repeat", type=int, default=3, help="throttle runs per tool (3)")
    parser.add_argument("--latency-n", type=int, default=2000, help="requests per series (2000)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests (200)")
    parser.add_argument("--pause-ms", type=float, default=1.0,
                        help="pause between latency requests, ms (1): the environment is "
                             "back in /next, so reserved 1 does not throttle")
    parser.add_argument("--held", type=int, default=5000, help="connections held (5000)")
    parser.add_argument("--held-hold-s", type=int, default=30,
                        help="hold of the held requests, s (30)")
    parser.add_argument("--probes", type=int, default=50,
                        help="429 probes while held (50)")
    parser.add_argument("--envs", type=int, default=1000, help="environments for rss (1000)")
    parser.add_argument("--rss-hold-s", type=int, default=3, help="hold for rss, s (3)")
    parser.add_argument("--nofile", type=int, default=65536,
                        help="RLIMIT_NOFILE for this process and the emulators it starts "
                             "(65536; the hard limit is raised only when permitted)")
    parser.add_argument("--out", help="JSON report (default BUILD/bench/emulator_bench.json)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (emulator logs)")
    args = parser.parse_args()
    args.bin = os.path.abspath(args.bin or os.path.join(args.build, "bin"))
    if not args.out:
        args.out = os.path.join(os.path.dirname(args.bin), "bench", "emulator_bench.json")
    only = [s for s in args.only.split(",") if s]
    if not only or set(only) - set(SECTIONS):
        parser.error("--only: a list of %s" % ",".join(SECTIONS))
    if set(d for d in args.doors.split(",") if d) - set(d[0] for d in DOORS):
        parser.error("--doors: a list of %s" % ",".join(d[0] for d in DOORS))
    if not (1 <= args.duration <= 60 and 1 <= args.connections <= 1000 and
            1 <= args.repeat <= 10 and 100 <= args.latency_n <= 100000 and
            1 <= args.warmup <= 10000 and 0 <= args.pause_ms <= 100 and 1 <= args.held <= 9000 and
            5 <= args.held_hold_s <= 300 and 1 <= args.probes <= 1000 and
            1 <= args.envs <= 1000 and 1 <= args.rss_hold_s <= 60 and
            1 <= args.wrk_threads <= 16 and 1024 <= args.nofile <= 1048576):
        parser.error("a figure out of range (see the defaults in --help)")
    for binary in ("stampede-lambda", "bootstrap"):
        if not os.access(os.path.join(args.bin, binary), os.X_OK):
            parser.error("no %s in %s" % (binary, args.bin))

    # Thousands of connections at once, in this process and the emulator.
    # Raised in this process, inherited by every emulator (which raises its
    # soft limit to its hard limit itself).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    log("emulator_bench: RLIMIT_NOFILE %d (was soft %d, hard %d)" % (nofile, soft, hard))
    if nofile != resource.RLIM_INFINITY and nofile < args.held + 256:
        log("emulator_bench: open-file limit %d; held connections capped to %d"
            % (nofile, nofile - 256))
        args.held = max(1, nofile - 256)

    report = {"generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "params": {"only": only, "host": platform.platform(), "cpus": os.cpu_count(),
                         "nofile": nofile, "command": sys.argv},
              "versions": versions(args.bin), "missing": []}
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="stampede-emubench-")
    measures = {"throttle": measure_throttle, "latency": measure_latency,
                "held": measure_held, "rss": measure_rss}
    try:
        for name in SECTIONS:
            if name in only:
                report.setdefault("loadavg", {})[name] = loadavg()
                log("emulator_bench: %s (load average %s)" % (name, report["loadavg"][name]))
                try:
                    measures[name](args, workdir, report)
                except (RuntimeError, OSError, ValueError) as exc:
                    log("emulator_bench: %s failed: %s" % (name, exc))
                    report.setdefault("failed", {})[name] = str(exc)
    finally:
        if args.keep:
            log("emulator_bench: kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["params"]["elapsed_s"] = round(time.monotonic() - started, 1)
    print(markdown(report))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as out:
        json.dump(report, out, indent=1)
    log("emulator_bench: report written to %s (%.0f s)" % (args.out,
                                                          report["params"]["elapsed_s"]))
    return 1 if report.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
