"""Shared helpers for stampede's system tests.

The binaries come from $STAMPEDE_BIN. Every process a test starts goes
through Procs, which remembers its pid and stops exactly that pid (SIGTERM,
then SIGKILL after a grace period) in tearDown. Tests make this process a
child subreaper, so anything a stampede process leaves behind is reparented
here and shows up in settle_orphans() - a leaked agent or emulator fails the test
instead of lingering.

Network: everything binds 127.0.0.1 with port 0 / '*'; every wait is bounded.
"""
import ctypes
import http.client
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

BIN = os.environ.get("STAMPEDE_BIN", "")
LAMBDA_READY = "stampede-lambda listening on "
SERVE_READY = "stampede serve: agents "

PR_SET_CHILD_SUBREAPER = 36

# The start of a Python custom runtime (a function's bootstrap; the test
# writes "@PYTHON@" as the interpreter): the Runtime API on fresh
# connections. call() returns (status, headers lower-cased, body);
# next_invocation() returns (request id, event, headers of the
# invocation) and exits when there is none.
RUNTIME_PRELUDE = r'''#!@PYTHON@
import http.client, json, os, select, socket, sys, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
base = "/2018-06-01/runtime"

def call(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, base + path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()

def next_invocation():
    status, headers, body = call("GET", "/invocation/next")
    if status != 200:
        sys.exit(1)
    return headers["lambda-runtime-aws-request-id"], json.loads(body), headers
'''

# The demo function's answer (lambda/function/fn_handler.h): a Lambda proxy
# response, PROXY_ENVELOPE plus "body", the facts object as a string. A
# Function URL or API Gateway door unwraps it (the client gets the facts as
# the HTTP body); the Invoke API passes it through whole.
PROXY_ENVELOPE = {"statusCode": 200, "headers": {"Content-Type": "application/json"}}
FACTS = ["request_id", "environment_id", "cold_start", "cold_start_time",
         "initialization_type", "invocation_count", "started_at_ns", "finished_at_ns"]


def function_facts(answer):
    """The facts in the demo function's answer as the Invoke API returns it
    (the payload, bytes or str): exactly PROXY_ENVELOPE with a "body" string
    holding an object with exactly FACTS, in that order; AssertionError
    otherwise."""
    doc = json.loads(answer)
    if not isinstance(doc, dict) or list(doc) != ["statusCode", "headers", "body"] \
            or {k: doc[k] for k in PROXY_ENVELOPE} != PROXY_ENVELOPE \
            or type(doc["statusCode"]) is not int or not isinstance(doc["body"], str):
        raise AssertionError("not the demo function's proxy response: %r" % (answer,))
    facts = json.loads(doc["body"])
    if not isinstance(facts, dict) or list(facts) != FACTS:
        raise AssertionError("not the demo function's facts: %r" % (doc["body"],))
    return facts


def binary(name):
    """Absolute path of a stampede binary; skips the test when missing."""
    path = os.path.join(BIN, name)
    if not BIN or not os.access(path, os.X_OK):
        raise unittest.SkipTest("%s not built (STAMPEDE_BIN=%r)" % (name, BIN))
    return path


def set_subreaper():
    """Orphans of our children get reparented to this process."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def proc_stats():
    """{pid: fields of /proc/PID/stat after the command} of every process:
    [0] is the state, [1] the parent pid, [2] the process group."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces: the fields after the last ')' are fixed.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2:
            table[int(entry)] = fields
    return table


def children_of(pid, zombies=True):
    """Pids whose parent is pid, from /proc."""
    return [child for child, fields in proc_stats().items()
            if int(fields[1]) == pid and (zombies or fields[0] != "Z")]


def zombies(pid):
    """Children of pid in state Z."""
    return [child for child, fields in proc_stats().items()
            if int(fields[1]) == pid and fields[0] == "Z"]


def descendants(pid):
    """Pids of every live process whose parent chain leads to `pid`."""
    parents = {child: int(fields[1]) for child, fields in proc_stats().items()}
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def process_groups():
    """The process groups of every process."""
    return {int(fields[2]) for fields in proc_stats().values()}


def reap_children(keep=()):
    """Collects exited children (zombies) of this process, but those in keep
    (pids a Procs still owns and waits for itself)."""
    for pid in children_of(os.getpid()):
        if pid in keep:
            continue
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def settle_orphans(keep=(), grace=5.0):
    """Live descendants reparented to this process (but those in keep),
    after up to `grace` seconds for them to finish exiting; each one still
    there is killed (SIGKILL) and reaped. Returns their pids: [] when
    everything stopped by itself."""
    def live():
        reap_children(keep)
        return [pid for pid in children_of(os.getpid(), zombies=False)
                if pid not in keep]
    deadline = time.monotonic() + grace
    leaked = live()
    while leaked and time.monotonic() < deadline:
        time.sleep(0.05)
        leaked = live()
    for pid in leaked:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reap_children(keep)
    return leaked


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it returns a true value; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class Proc:
    """One started process; stdout lines are read by a thread into a queue.
    With `log` (an open file), stderr goes there and stdout lines too."""

    def __init__(self, argv, env=None, capture=True, log=None):
        self.argv = argv
        self.log = log
        self.lines = queue.Queue()
        self.output = []
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=log, env=env, text=True)
        self.pid = self.popen.pid
        if capture:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()

    def _read(self):
        for line in self.popen.stdout:
            self.output.append(line)
            if self.log:
                self.log.write(line)
                self.log.flush()
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def label(self):
        """What a failure calls this process."""
        return self.argv[0]

    def context(self):
        """What a failure adds to its message (nothing here)."""
        return ""

    def read_line(self, prefix, timeout=30):
        """The first stdout line starting with prefix (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: no line starting %r within %d s%s"
                                     % (self.label(), prefix, timeout, self.context()))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("%s exited (status %s) before printing %r%s"
                                     % (self.label(), self.popen.poll(), prefix,
                                        self.context()))
            if line.startswith(prefix):
                return line

    def running(self):
        return self.popen.poll() is None

    def kill(self):
        """SIGKILL now (a crash: no cleanup of any kind); reaps. Returns the
        exit status."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._close_stdout()
        return self.popen.returncode

    def _close_stdout(self):
        """Closes stdout once the reader has read what is left."""
        reader = getattr(self, "reader", None)
        if reader:
            reader.join(5)
        if self.popen.stdout:
            self.popen.stdout.close()

    def stop(self, grace=5.0):
        """SIGTERM, then SIGKILL after grace; reaps. Returns the exit status."""
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=grace)
        self._close_stdout()
        return self.popen.returncode


class Procs:
    """The processes one test started, stopped in reverse order."""

    def __init__(self):
        self.procs = []

    def start(self, argv, env=None, capture=True):
        proc = Proc(argv, env=env, capture=capture)
        self.procs.append(proc)
        return proc

    def stop_all(self):
        for proc in reversed(self.procs):
            proc.stop()
        self.procs = []


class SystemTest(unittest.TestCase):
    """Base class: a fresh temp dir, process bookkeeping, leak check."""

    @classmethod
    def setUpClass(cls):
        set_subreaper()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="stampede-test-")
        self.procs = Procs()
        self.env = dict(os.environ, TMPDIR=self.tmp)

    def tearDown(self):
        self.procs.stop_all()
        # Children of stopped processes get a moment to finish exiting.
        leaked = settle_orphans({p.pid for p in self.procs.procs})
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(leaked, [], "processes left behind")

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def run_cli(self, args, timeout=120):
        """Runs `stampede ARGS` to completion; returns CompletedProcess."""
        return subprocess.run([binary("stampede")] + args, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout,
                              env=self.env)

    def start_lambda(self, reserved, extra=()):
        """stampede-lambda serving the demo function; returns its base URL."""
        proc = self.procs.start([binary("stampede-lambda"), "--listen", "127.0.0.1:0",
                                 "--function", "demo=" + binary("bootstrap"),
                                 "--reserved", str(reserved)] + list(extra),
                                env=self.env)
        line = proc.read_line(LAMBDA_READY)
        return line[len(LAMBDA_READY):].strip().rstrip("/")


class ControllerTest(SystemTest):
    """`stampede serve` with CURVE keys under the temp dir (keys/, r.db) and
    agents that generate their own certificates (stampede-agent --keygen),
    admitted by the enrolment step (`stampede agents admit`)."""

    def setUp(self):
        super().setUp()
        self.public_keys = {}  # agent name -> the Z85 key its keygen printed

    def start_serve(self, listen, target, token=None):
        """Starts serve; returns (proc, agents endpoint, HTTP base URL)."""
        argv = [binary("stampede"), "serve", "--listen", listen, "--http",
                "127.0.0.1:0", "--db", self.path("r.db"), "--keys", self.path("keys"),
                "--target", target]
        if token:
            argv += ["--token", token]
        proc = self.procs.start(argv, env=self.env)
        line = proc.read_line(SERVE_READY)
        # "stampede serve: agents tcp://127.0.0.1:PORT http http://127.0.0.1:PORT"
        words = line.split()
        self.assertEqual(words[:3], ["stampede", "serve:", "agents"])
        self.assertEqual(words[4], "http")
        self.assertRegex(words[3], r"^tcp://127\.0\.0\.1:\d+$")
        self.assertRegex(words[5], r"^http://127\.0\.0\.1:\d+$")
        self.assertNotEqual(words[5], "http://127.0.0.1:0")
        return proc, words[3], words[5]

    def run_agent_cli(self, args):
        return subprocess.run([binary("stampede-agent")] + args, capture_output=True,
                              text=True, timeout=30, env=self.env)

    def keygen(self, name, admit):
        """A certificate for agent name, made as on the agent's host;
        admitted when admit (the enrolment step, `stampede agents admit`,
        with the public key keygen printed). Returns the key path."""
        key = self.path(name + ".key")
        result = self.run_agent_cli(["--keygen", key])
        self.assertEqual(result.returncode, 0, result.stderr)
        prefix = "stampede-agent: public key "
        public = [line[len(prefix):] for line in result.stdout.splitlines()
                  if line.startswith(prefix)]
        self.assertEqual(len(public), 1, result.stdout)
        self.public_keys[name] = public[0]
        if admit:
            self.admit(name)
        return key

    def admit(self, name):
        """`stampede agents admit NAME KEY` into keys/, as an operator would."""
        # A Z85 key may start with '-': "--" ends the options.
        result = self.run_cli(["agents", "admit", "--keys", self.path("keys"), "--", name,
                               self.public_keys[name]])
        self.assertEqual((result.returncode, result.stdout),
                         (0, "admitted agent %s\n" % name), result.stderr)

    def start_agent(self, name, endpoint, key, extra=()):
        return self.procs.start([binary("stampede-agent"), "--controller", endpoint,
                                 "--id", name, "--server-key",
                                 self.path("keys", "controller.key"), "--key", key]
                                + list(extra), env=self.env, capture=False)

    def agent_ids(self, http):
        """Ids of the agents serve has registered, sorted."""
        status, body = http_json(http + "/api/status")
        self.assertEqual(status, 200, body)
        return sorted(a["id"] for a in body["agents"])


def http_json(url, method="GET", body=None, token=None, timeout=10):
    """One HTTP request to 127.0.0.1; returns (status, decoded JSON or None)."""
    rest = url[len("http://"):]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        conn.request(method, "/" + path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw) if raw else None
    except ValueError:
        return resp.status, None


def http_request(port, method, path, body=None, headers=None, timeout=30):
    """One request to 127.0.0.1:port on a fresh connection; a dict or list
    body is sent as JSON. Returns (status, headers dict lower-cased, body,
    the headers as sent)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, resp.getheaders()
    finally:
        conn.close()


def raw_exchange(port, data, timeout=5):
    """Sends raw bytes, returns what came back until close or timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except socket.timeout:
            pass
        return answer


def burst(port, method, path, count, body=None):
    """Fires `count` requests at once (threads released by a barrier);
    returns (status, headers, body) of each, (0, {}, the error) for a
    request that failed."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def shoot(i):
        barrier.wait()
        try:
            results[i] = http_request(port, method, path, body)[:3]
        except Exception as error:  # a failure is a result, checked by the caller
            results[i] = (0, {}, repr(error).encode())

    threads = [threading.Thread(target=shoot, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results
