"""netlab — stampede's multi-host lab in network namespaces.

A Lab is a small network of hosts, each a network namespace of its own,
built by one test and removed by it (also when the test fails):

    control net 10.77.0.0/24 (bridge br-c)     data net 10.88.0.0/24 (bridge br-d)
      ctl  10.77.0.1  controller                emu  10.88.0.20  stampede-lambda
      aN   10.77.0.1N agent N   ───────────────  aN   10.88.0.1N
                       both bridges live in the switch namespace "sw"

Agents have two links, c0 (to the controller) and d0 (to the emulator), so
a test can cut one (ip link set c0 down) while requests on the other are in
flight. Nothing is routed to or from the namespace the tests run in: the
addresses exist only inside the lab.

Link delay: the kernel has no netem qdisc, so every agent host runs
delay_relay.py, which adds a fixed one-way delay per direction. Agents
reach the controller at CONTROLLER_VIA and the emulator at EMULATOR_VIA,
addresses on the agent host's own loopback where its relay listens and
forwards over c0 / d0 to the real hosts (one relay process per agent host,
started by Lab.start_relay).

Clock skew and drift: Lab.start(..., faketime="+0.25 x1.01") preloads
libfaketime into that one process (Debian's `libfaketime`, installed with
`faketime`) with FAKETIME_DONT_FAKE_MONOTONIC=1: its wall clock is off by
the offset and runs at the rate (x1.01: 1 % fast from its start), its
monotonic clock is true.

Names are unique per test: splab<pid>n<k>-<host> (a crashed earlier run's
namespaces, whose pid is gone, are removed on the next Lab's creation).
Processes are started with `ip netns exec NS` (which execs, so the pid is
the program's own), remembered and stopped by pid: SIGTERM, then SIGKILL.
Every wait is bounded. Needs root, iproute2 and libfaketime.
"""
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time

from stampede_testlib import Proc

HERE = os.path.dirname(os.path.abspath(__file__))
RELAY = os.path.join(HERE, "delay_relay.py")
RELAY_READY = "delay_relay ready"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

CONTROL_NET = "10.77.0.%d"
DATA_NET = "10.88.0.%d"
CONTROLLER_IP = CONTROL_NET % 1
EMULATOR_IP = DATA_NET % 20
# The controller and the emulator as agents see them: their relay.
CONTROLLER_VIA = "10.79.0.1"
EMULATOR_VIA = "10.89.0.20"
# Fixed ports are safe: each namespace has its own port space, ours alone.
AGENT_PORT = 5555
HTTP_PORT = 8080
LAMBDA_PORT = 9000

_serial = itertools.count(1)
_NAME = re.compile(r"^splab(\d+)n\d+-[a-z0-9]+$")


def agent_ip(n, net):
    return net % (10 + n)


class LabError(AssertionError):
    """The lab could not be built or torn down as asked."""


def preflight():
    """Fails (never skips: CI runs every test) when the lab cannot run."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (network namespaces)")
    if subprocess.run(["sh", "-c", "command -v ip"], capture_output=True).returncode:
        problems.append("`ip` is missing (Debian package iproute2)")
    if not os.path.exists(FAKETIME_LIB):
        problems.append("%s is missing (Debian packages faketime, libfaketime)"
                        % FAKETIME_LIB)
    if problems:
        raise LabError("; ".join(problems))


def _ip(*args, check=True, timeout=10):
    result = subprocess.run(["ip"] + list(args), stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise LabError("ip %s: %s" % (" ".join(args), result.stderr.strip()))
    return result


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale():
    """Removes lab namespaces whose creating test process no longer exists
    (left by a run that was SIGKILLed before its tearDown)."""
    listing = _ip("netns", "list", check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        match = _NAME.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _ip("netns", "del", name, check=False)


class LabProc(Proc):
    """One process in a lab host: stdout lines go to a queue and, like
    stderr, to NAME.log in the lab's directory (O_APPEND: both share it);
    a failure shows the log's tail."""

    def __init__(self, name, argv, env, log_path):
        self.name = name
        self.log_path = log_path
        super().__init__(argv, env=env, log=open(log_path, "a"))

    def label(self):
        return self.name

    def context(self):
        return "\n" + self.tail()

    def read_line(self, prefix, timeout=20):
        return super().read_line(prefix, timeout)

    def wait(self, timeout):
        """Waits (bounded) for the exit; returns the status."""
        status = self.popen.wait(timeout=timeout)
        self.reader.join(5)
        return status

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def tail(self, lines=25):
        return "--- %s (pid %d) ---\n%s" % (
            self.name, self.pid, "\n".join(self.text().splitlines()[-lines:]))

    def stop(self, grace=5.0):
        """SIGTERM to this pid, SIGKILL after grace; reaps it."""
        status = super().stop(grace)
        self.log.close()
        return status


class Lab:
    """The namespaces, links and processes of one test."""

    def __init__(self, workdir, agents=3):
        self.workdir = workdir
        self.tag = "splab%dn%d" % (os.getpid(), next(_serial))
        self.agents = ["a%d" % n for n in range(1, agents + 1)]
        self.hosts = ["sw", "ctl", "emu"] + self.agents
        self.created = []
        self.procs = []

    def ns(self, host):
        return "%s-%s" % (self.tag, host)

    # -- building and removing ----------------------------------------------

    def create(self):
        """Builds every namespace, bridge, link and address."""
        sweep_stale()
        try:
            for host in self.hosts:
                _ip("netns", "add", self.ns(host))
                self.created.append(host)
                _ip("-n", self.ns(host), "link", "set", "lo", "up")
            sw = self.ns("sw")
            for bridge in ("br-c", "br-d"):
                _ip("-n", sw, "link", "add", bridge, "type", "bridge")
                _ip("-n", sw, "link", "set", bridge, "up")
            self._plug("ctl", "c0", "br-c", CONTROLLER_IP)
            self._plug("emu", "d0", "br-d", EMULATOR_IP)
            for n, host in enumerate(self.agents, 1):
                self._plug(host, "c0", "br-c", agent_ip(n, CONTROL_NET))
                self._plug(host, "d0", "br-d", agent_ip(n, DATA_NET))
                for via in (CONTROLLER_VIA, EMULATOR_VIA):
                    _ip("-n", self.ns(host), "addr", "add", via + "/32", "dev", "lo")
        except BaseException:
            self.destroy()
            raise

    def _plug(self, host, dev, bridge, address):
        """A veth pair: dev in host, its peer on bridge in the switch."""
        sw, peer = self.ns("sw"), "%s-%s" % (dev[0], host)
        _ip("-n", sw, "link", "add", peer, "type", "veth", "peer", "name", dev,
            "netns", self.ns(host))
        _ip("-n", sw, "link", "set", peer, "master", bridge, "up")
        _ip("-n", self.ns(host), "addr", "add", address + "/24", "dev", dev)
        _ip("-n", self.ns(host), "link", "set", dev, "up")

    def stop_all(self):
        """Stops every process this lab started, newest first, by pid."""
        statuses = {}
        for proc in reversed(self.procs):
            statuses[proc.name] = proc.stop()
        self.procs = []
        return statuses

    def destroy(self):
        """Stops the processes and deletes every namespace (which deletes
        their links). Returns pids still found in a namespace before it was
        deleted (they are killed): a test fails on any."""
        self.stop_all()
        leftovers = []
        for host in reversed(self.created):
            ns = self.ns(host)
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                leftovers.append(int(pid))
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while True:
                result = _ip("netns", "del", ns, check=False)
                if result.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        self.created = []
        still = [n for n in _ip("netns", "list", check=False).stdout.split()
                 if n.startswith(self.tag + "-")]
        if still:
            raise LabError("namespaces left behind: %s" % still)
        return leftovers

    # -- processes -----------------------------------------------------------

    def start(self, host, name, argv, env=None, faketime=None):
        """Starts argv in host's namespace; env: extra variables; faketime:
        a FAKETIME value (libfaketime preloaded into this process only).
        Its log is NAME.log (NAME-2.log, … for a name used before)."""
        extra = dict(env or {})
        if faketime is not None:
            asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                          "verify_asan_link_order=0"]))
            extra.update(LD_PRELOAD=FAKETIME_LIB, FAKETIME=faketime,
                         FAKETIME_DONT_FAKE_MONOTONIC="1", ASAN_OPTIONS=asan)
        # env(1) after `ip netns exec`, so ip itself runs without them.
        command = ["ip", "netns", "exec", self.ns(host)]
        if extra:
            command += ["env"] + ["%s=%s" % kv for kv in sorted(extra.items())]
        used = {p.name for p in self.procs}
        unique = name
        for n in itertools.count(2):
            if unique not in used:
                break
            unique = "%s-%d" % (name, n)
        proc = LabProc(unique, command + list(argv), dict(os.environ),
                       os.path.join(self.workdir, unique + ".log"))
        self.procs.append(proc)
        return proc

    def run(self, host, argv, timeout=30):
        """Runs argv to completion in host's namespace."""
        return subprocess.run(["ip", "netns", "exec", self.ns(host)] + list(argv),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)

    def start_relay(self, host, delay_ms):
        """The agent host's delay relay: CONTROLLER_VIA → the controller and
        EMULATOR_VIA → the emulator, delay_ms each way."""
        routes = ["%s:%d=%s:%d" % (CONTROLLER_VIA, AGENT_PORT, CONTROLLER_IP, AGENT_PORT),
                  "%s:%d=%s:%d" % (EMULATOR_VIA, LAMBDA_PORT, EMULATOR_IP, LAMBDA_PORT)]
        proc = self.start(host, "relay-" + host,
                          [sys.executable, RELAY, "--delay-ms", str(delay_ms)] + routes)
        proc.read_line(RELAY_READY)
        return proc

    def link(self, host, dev, up):
        """ip link set DEV up|down in host."""
        _ip("-n", self.ns(host), "link", "set", dev, "up" if up else "down")

    def http(self, url, method="GET", body=None, token=None, host="ctl", timeout=15):
        """One HTTP request made from host's namespace (the controller's by
        default); returns (status, decoded JSON or None)."""
        result = self.run(host, [sys.executable, "-c", _HTTP_CLIENT, url, method,
                                 json.dumps(body) if body is not None else "",
                                 token or ""], timeout=timeout + 5)
        if result.returncode != 0:
            raise AssertionError("HTTP %s %s failed: %s" % (method, url, result.stderr))
        answer = json.loads(result.stdout)
        return answer["status"], answer["body"]

    def tails(self, lines=25):
        """The end of every process's log, for a failure message."""
        return "\n".join(proc.tail(lines) for proc in self.procs)


_HTTP_CLIENT = r'''
import http.client, json, sys, urllib.parse
url, method, body, token = sys.argv[1:5]
parts = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
headers = {"Content-Type": "application/json"} if body else {}
if token:
    headers["Authorization"] = "Bearer " + token
conn.request(method, parts.path + ("?" + parts.query if parts.query else ""),
             body=body or None, headers=headers)
resp = conn.getresponse()
raw = resp.read()
try:
    doc = json.loads(raw) if raw else None
except ValueError:
    doc = raw.decode(errors="replace")
print(json.dumps({"status": resp.status, "body": doc}))
'''
