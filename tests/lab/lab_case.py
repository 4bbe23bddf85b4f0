"""LabCase: the base of stampede's lab tests (tests/lab/test_lab_*.py).

Each test gets a fresh Lab (netlab.py) and a temp dir holding the keys, the
results database and every process's log. The controller listens on its
namespace address CONTROLLER_IP with CURVE (agents generate their own
certificates and are admitted with `stampede agents admit`), the emulator
on EMULATOR_IP, and agents reach both through their host's delay relay.
Everything a test started is stopped by pid in the cleanup, the namespaces
are deleted, and a process left in a namespace or reparented to the test
fails it. STAMPEDE_LAB_KEEP=1 keeps the temp dir (logs, database).
"""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest

import netlab
from stampede_testlib import binary, set_subreaper, settle_orphans, wait_until

LAMBDA_READY = "stampede-lambda listening on "
SERVE_READY = "stampede serve: agents "
AGENT_ENDPOINT = "tcp://%s:%d" % (netlab.CONTROLLER_IP, netlab.AGENT_PORT)


def target(function):
    """A function's Function URL as the agents reach it (their relay)."""
    return "http://%s:%d/url/%s/" % (netlab.EMULATOR_VIA, netlab.LAMBDA_PORT, function)


TARGET = target("demo")
TOKEN = "lab-token-0123456789abcdef"
# `--start-tolerance` default: how far past its clock bound a release may be.
START_TOLERANCE_NS = 20 * 1000 * 1000


class LabCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        netlab.preflight()
        set_subreaper()

    def setUp(self):
        self.started = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix="stampede-lab-")
        if os.environ.get("STAMPEDE_LAB_KEEP"):
            self.addCleanup(print, "lab files kept in", self.tmp)
        else:
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.keys = self.path("keys")
        self.db = self.path("results.db")
        self.public_keys = {}
        self.lab = netlab.Lab(self.tmp)
        self.lab.create()
        self.addCleanup(self.teardown_lab)

    def teardown_lab(self):
        leftovers = self.lab.destroy()
        # Children of what we stopped get a moment to be reaped.
        orphans = settle_orphans()
        print("%s: %.1f s" % (self.id(), time.monotonic() - self.started))
        self.assertEqual((leftovers, orphans), ([], []), "processes left behind")

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def explain(self):
        """Every process's last log lines, for an assertion's message."""
        return "\n" + self.lab.tails()

    # -- keys -------------------------------------------------------------------

    def keygen(self, name):
        """A certificate made as on the agent's host; returns its path."""
        key = self.path(name + ".key")
        result = subprocess.run([binary("stampede-agent"), "--keygen", key],
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        prefix = "stampede-agent: public key "
        public = [line[len(prefix):] for line in result.stdout.splitlines()
                  if line.startswith(prefix)]
        self.assertEqual(len(public), 1, result.stdout)
        self.public_keys[name] = public[0]
        return key

    def admit(self, name):
        """`stampede agents admit` on the controller host."""
        result = self.lab.run("ctl", [binary("stampede"), "agents", "admit", "--keys",
                                      self.keys, "--", name, self.public_keys[name]])
        self.assertEqual((result.returncode, result.stdout),
                         (0, "admitted agent %s\n" % name), result.stderr)

    def wait_controller_key(self):
        wait_until(lambda: os.path.exists(os.path.join(self.keys, "controller.key")),
                   20, 0.05, "the controller's key")

    # -- processes -----------------------------------------------------------------

    def start_emulator(self, reserved, hold_ms, more=()):
        """stampede-lambda on the emulator host: the demo function (TARGET)
        with reserved concurrency `reserved`, holding each answer hold_ms;
        more: further (name, reserved, hold_ms), at target(name)."""
        argv = [binary("stampede-lambda"), "--listen",
                "%s:%d" % (netlab.EMULATOR_IP, netlab.LAMBDA_PORT)]
        for name, concurrency, hold in [("demo", reserved, hold_ms)] + list(more):
            argv += ["--function", name + "=" + binary("bootstrap"), "--reserved",
                     str(concurrency), "--timeout", "60", "--env",
                     "STAMPEDE_HOLD_MS=%d" % hold]
        proc = self.lab.start("emu", "lambda", argv)
        line = proc.read_line(LAMBDA_READY)
        self.assertEqual(line[len(LAMBDA_READY):].strip(),
                         "http://%s:%d" % (netlab.EMULATOR_IP, netlab.LAMBDA_PORT))
        return proc

    def start_relays(self, delays_ms):
        """One delay relay per agent host: {host: one-way delay in ms}."""
        for host, delay in sorted(delays_ms.items()):
            self.lab.start_relay(host, delay)

    def start_agent(self, host, name, key, faketime=None):
        """stampede-agent on host, reaching the controller and the emulator
        through that host's relay."""
        return self.lab.start(host, name, [
            binary("stampede-agent"), "--controller",
            "tcp://%s:%d" % (netlab.CONTROLLER_VIA, netlab.AGENT_PORT),
            "--id", name, "--server-key", os.path.join(self.keys, "controller.key"),
            "--key", key, "--allow", netlab.EMULATOR_VIA], faketime=faketime)

    def start_run(self, requests, agents, extra=(), url=TARGET):
        """`stampede run --json` on the controller host, waiting for
        `agents` remote agents on its namespace address."""
        return self.lab.start("ctl", "run", [
            binary("stampede"), "run", "--url", url, "-n", str(requests),
            "--wait-agents", str(agents), "--listen", AGENT_ENDPOINT, "--keys", self.keys,
            "--db", self.db, "--json"] + list(extra))

    def start_serve(self):
        """`stampede serve` on the controller host: agents and the HTTP API
        on its namespace address (so a token is required). Returns (the
        process, the API's base URL)."""
        proc = self.lab.start("ctl", "serve", [
            binary("stampede"), "serve", "--listen", AGENT_ENDPOINT, "--http",
            "%s:%d" % (netlab.CONTROLLER_IP, netlab.HTTP_PORT), "--token", TOKEN,
            "--db", self.db, "--keys", self.keys, "--allow", netlab.EMULATOR_VIA,
            "--target", TARGET])
        line = proc.read_line(SERVE_READY)
        base = "http://%s:%d" % (netlab.CONTROLLER_IP, netlab.HTTP_PORT)
        self.assertEqual(line, "%s%s http %s" % (SERVE_READY, AGENT_ENDPOINT, base))
        return proc, base

    def finish(self, proc, timeout):
        """Waits (bounded) for a process to exit; returns (status, stdout)."""
        try:
            status = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail("%s still running after %d s%s" % (proc.name, timeout,
                                                          self.explain()))
        with open(proc.log_path) as f:
            log = f.read()
        return status, log

    # -- the results database ------------------------------------------------------

    def query(self, sql, args=()):
        conn = sqlite3.connect(self.db, timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def registered(self):
        """Ids of the agents the controller has recorded (a Hello arrived)."""
        if not os.path.exists(self.db):
            return []
        try:
            return sorted(row[0] for row in self.query("SELECT id FROM agents"))
        except sqlite3.OperationalError:
            return []  # the schema is still being created

    def wait_registered(self, names, timeout=30):
        try:
            wait_until(lambda: set(names) <= set(self.registered()), timeout, 0.1,
                       "agents %s to register" % names)
        except AssertionError as error:
            raise AssertionError("%s (have %s)%s" % (error, self.registered(),
                                                    self.explain())) from None

    def shares(self, run_id):
        """{agent: row} of run_agents, with the columns named."""
        cols = ["agent_id", "first_index", "count", "clock_offset_ns", "clock_error_ns",
                "released_ns", "start_error_ns", "release_span_ns", "armed", "late",
                "mis_start"]
        rows = self.query("SELECT %s FROM run_agents WHERE run_id = ? ORDER BY agent_id"
                          % ", ".join(cols), (run_id,))
        return {row[0]: dict(zip(cols, row)) for row in rows}
