"""Pieces the benchmarks share: the peers' one-burst request (the POST body,
the locust user, the wrk script), a bounded child process, stampede-lambda's
ready line, the demo function's answer, and the small statistics and
formatting every report uses."""
import json
import math
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

READY_PREFIX = "stampede-lambda listening on http://"


def read_ready_line(proc, timeout=10):
    """Reads the first line `proc` writes to its stdout pipe, for at most
    `timeout` seconds; returns it decoded and stripped ("" when none)."""
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
    return line.decode(errors="replace").strip()


def function_facts(body, invoke_api):
    """The facts object of the demo function's answer `body`: the HTTP body
    itself from a Function URL or API Gateway door, which unwraps the
    function's Lambda proxy response, or, when `invoke_api`, the object in
    the "body" string of that response, which the Invoke API passes through
    whole (lambda/function/fn_handler.h)."""
    doc = json.loads(body)
    return json.loads(doc["body"]) if invoke_api else doc


# The POST burst of every tool: these exact 11 bytes, this content type
# (the body of `stampede demo`).
POST_BODY = '{"burst":1}'
POST_TYPE = "application/json"

DEB_PACKAGES = {"hey": "hey", "wrk": "wrk", "ab": "apache2-utils", "locust": "python3-locust"}


# The locust user: one request (a GET, or a POST of POST_BODY), then it
# stops; the runner quits as soon as N requests have completed (success or
# failure), so locust's wall time is not padded up to --run-time.
LOCUSTFILE = '''\
import os

import gevent
from locust import HttpUser, constant, events, task
from locust.exception import StopUser

N = int(os.environ["STAMPEDE_BENCH_N"])
PATH = os.environ["STAMPEDE_BENCH_PATH"]
METHOD = os.environ["STAMPEDE_BENCH_METHOD"]
BODY = os.environ.get("STAMPEDE_BENCH_BODY", "")
HEADERS = {"Content-Type": os.environ.get("STAMPEDE_BENCH_TYPE", "")}
STATE = {"done": 0, "environment": None}


@events.init.add_listener
def on_init(environment, **kwargs):
    STATE["environment"] = environment


@events.request.add_listener
def on_request(**kwargs):
    STATE["done"] += 1
    if STATE["done"] == N:
        gevent.spawn(STATE["environment"].runner.quit)


class OneShot(HttpUser):
    wait_time = constant(0)

    @task
    def one(self):
        if METHOD == "POST":
            # data=, not json=: the same 11 bytes as every other tool's
            # (json= would serialise {"burst": 1}, with a space).
            self.client.post(PATH, data=BODY, headers=HEADERS, name="burst")
        else:
            self.client.get(PATH, name="burst")
        raise StopUser()
'''


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class Bounded:
    """One child process in its own process group, reaped by a thread blocked
    in wait4 so that its exit time is exact. With `time_report` it runs under
    /usr/bin/time -v, which writes the process's peak RSS there. Stopped by
    its own pid (the process group it leads)."""

    def __init__(self, argv, cwd, stdout_path, stderr_path, env=None, time_report=None):
        if time_report:
            argv = ["/usr/bin/time", "-v", "-o", time_report] + argv
        self.argv = argv
        self.time_report = time_report
        self.stdout = open(stdout_path, "wb")
        self.stderr = open(stderr_path, "wb")
        self.done = threading.Event()
        self.status = None
        self.ended = None
        self.started = time.monotonic()
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=self.stdout, stderr=self.stderr, env=env,
                                     start_new_session=True)
        self.pid = self.proc.pid
        self.reaper = threading.Thread(target=self._reap, daemon=True)
        self.reaper.start()

    def _reap(self):
        _, status, _ = os.wait4(self.pid, 0)
        self.ended = time.monotonic()
        self.status = status
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.done.set()

    def wait(self, timeout):
        """Waits up to `timeout` s; on overrun kills the process group
        (whose id is this child's pid). Returns True when it ended in time."""
        if self.done.wait(timeout):
            self._close()
            return True
        self.kill(signal.SIGKILL)
        self.done.wait(10)
        self._close()
        return False

    def kill(self, sig):
        if not self.done.is_set():
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass

    def _close(self):
        self.stdout.close()
        self.stderr.close()

    @property
    def returncode(self):
        return self.proc.returncode

    @property
    def wall_ms(self):
        return (self.ended - self.started) * 1e3 if self.ended else None

    @property
    def maxrss_kb(self):
        """Peak RSS from /usr/bin/time -v. Not ru_maxrss of our own wait4: the
        kernel keeps the high-water mark of the image a process had before
        exec, which for a child of this script is the Python interpreter."""
        return time_v_maxrss(self.time_report) if self.time_report else None


def percentile(sorted_values, p):
    """Nearest rank."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


WRK_POST_LUA = """\
-- Every request of this wrk run: a POST of the bench's JSON body.
wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "%s"
""" % (POST_BODY, POST_TYPE)


def write_report(report, path, bench):
    """The full JSON report of `bench` into path (its folder made when
    missing), said on stderr."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as out:
        json.dump(report, out, indent=1)
    log("%s: report written to %s" % (bench, path))


def locust_command():
    found = shutil.which("locust")
    if found:
        return [found]
    return ["/usr/bin/python3", "-m", "locust"]


def peer_argv(tool, n, url, host, path, method, workdir, locust_seconds):
    """The one-burst invocation of a peer (hey, ab, wrk or locust) firing n
    requests at url (host + path) with `method` (GET, or POST of POST_BODY
    as POST_TYPE), and its environment (None: inherited). wrk is
    duration-based (-d1s): the caller makes sure each connection sends
    exactly one request within it."""
    post = method == "POST"
    if tool == "hey":
        # -c N -n N: N workers, one request each, no connection reuse.
        extra = ["-m", "POST", "-d", POST_BODY, "-T", POST_TYPE] if post else []
        return ["hey", "-n", str(n), "-c", str(n), "-disable-keepalive"] + extra + [url], None
    if tool == "ab":
        extra = []
        if post:
            # -p FILE makes ab POST the file's bytes (no trailing newline).
            body = os.path.join(workdir, "body.json")
            with open(body, "w") as out:
                out.write(POST_BODY)
            extra = ["-p", body, "-T", POST_TYPE]
        return ["ab", "-n", str(n), "-c", str(n)] + extra + [url], None
    if tool == "wrk":
        extra = []
        if post:
            script = os.path.join(workdir, "post.lua")
            with open(script, "w") as out:
                out.write(WRK_POST_LUA)
            extra = ["-s", script]
        return ["wrk", "-t2", "-c%d" % n, "-d1s", "--timeout", "5s"] + extra + [url], None
    if tool == "locust":
        locustfile = os.path.join(workdir, "locustfile.py")
        with open(locustfile, "w") as out:
            out.write(LOCUSTFILE)
        env = dict(os.environ, STAMPEDE_BENCH_N=str(n), STAMPEDE_BENCH_PATH=path,
                   STAMPEDE_BENCH_METHOD=method, STAMPEDE_BENCH_BODY=POST_BODY,
                   STAMPEDE_BENCH_TYPE=POST_TYPE)
        return locust_command() + [
            "-f", locustfile, "--headless", "--only-summary", "-u", str(n), "-r", str(n),
            "--run-time", "%ds" % locust_seconds, "--host", host,
            "--loglevel", "WARNING"], env
    raise ValueError(tool)


def time_v_maxrss(path):
    """'Maximum resident set size (kbytes)' from a /usr/bin/time -v report."""
    try:
        with open(path) as report:
            for line in report:
                if "Maximum resident set size" in line:
                    return int(line.rsplit(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return "%.*f" % (digits, value)
    return "%d" % value


def ratio(peer, base):
    if peer is None or not base:
        return None
    return peer / base
