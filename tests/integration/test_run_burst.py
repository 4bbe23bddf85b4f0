"""System test of `stampede run`, `stampede export` and `stampede demo`.

The real emulator (stampede-lambda with the real bootstrap, which holds each
request 2 s) behind reserved concurrency R, and `stampede run` with K local
agents firing N requests at once: exactly R succeed, N - R are throttled,
every index is stored once, the shares are the contiguous split of N, and
nothing the commands started is left running afterwards.
"""
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import unittest

from stampede_testlib import SystemTest, binary


class RunBurstTest(SystemTest):

    def run_json(self, url, requests, agents, db, extra=()):
        result = self.run_cli(["run", "--url", url, "-n", str(requests),
                               "--local-agents", str(agents), "--json",
                               "--db", db, "--keys", self.path("keys")] + list(extra))
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(len(lines), 1, "stdout must hold exactly one JSON object: %r"
                         % result.stdout)
        return json.loads(lines[0])

    def assert_usage_error(self, args, message):
        """`stampede ARGS` is refused as bad usage (exit 2), naming message."""
        result = self.run_cli(args)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(message, result.stderr)
        self.assertEqual(result.stdout, "")

    def run_low_files(self, args, timeout):
        """`stampede ARGS` with an open-file limit of 200, which caps each
        local agent's capacity at 136 (64 kept for the agent itself)."""
        def low_files():
            resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))

        return subprocess.run([binary("stampede")] + args, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout,
                              env=self.env, preexec_fn=low_files)

    def popen_run(self, args):
        """`stampede run ARGS` started in the background, its output piped."""
        return subprocess.Popen([binary("stampede"), "run"] + args,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)

    def check_rows(self, db, run_id, requests, shares):
        conn = sqlite3.connect(db)
        try:
            indices = [row[0] for row in conn.execute(
                "SELECT request_index FROM requests WHERE run_id = ? "
                "ORDER BY request_index", (run_id,))]
            self.assertEqual(indices, list(range(requests)))
            got = conn.execute(
                "SELECT first_index, count FROM run_agents WHERE run_id = ? "
                "ORDER BY first_index", (run_id,)).fetchall()
            self.assertEqual(got, shares)
            agents = {row[0] for row in conn.execute(
                "SELECT DISTINCT agent_id FROM requests WHERE run_id = ?", (run_id,))}
            self.assertEqual(agents, {"local-%d" % (i + 1) for i in range(len(shares))})
            status = conn.execute("SELECT status FROM runs WHERE id = ?",
                                  (run_id,)).fetchone()[0]
            self.assertEqual(status, "completed")
        finally:
            conn.close()

    def test_headline_100_requests_reserved_5(self):
        base = self.start_lambda(reserved=5)
        db = self.path("results", "stampede.db")
        summary = self.run_json(base + "/url/demo/", 100, 4, db)
        expected = {"requested": 100, "recorded": 100, "ok": 5, "throttled": 95,
                    "errors": 0, "lost": 0, "environments": 5, "cold_starts": 5,
                    "peak_concurrency": 5, "status": "completed", "db": db,
                    "start_mode": "last_byte"}
        self.assertEqual({k: summary[k] for k in expected}, expected)
        for key in ("run_id", "p50_ms", "p90_ms", "p99_ms", "max_ms", "spread_ms",
                    "wall_ms"):
            self.assertIn(key, summary)
        # The 5 admitted requests are held 2 s by the function.
        self.assertGreaterEqual(summary["max_ms"], 2000)
        self.assertIs(summary["partial"], False)
        # Per agent: its share, its clock at the instant with a bound, and
        # when its requests arrived at the emulator after the instant.
        self.assertEqual([(a["agent_id"], a["first_index"], a["count"], a["recorded"],
                           a["arrivals"]) for a in summary["agents"]],
                         [("local-%d" % (i + 1), 25 * i, 25, 25, 25) for i in range(4)])
        for agent in summary["agents"]:
            self.assertGreater(agent["clock_bound_ms"], 0)
            self.assertLessEqual(agent["arrival_first_ms"], agent["arrival_median_ms"])
            self.assertLessEqual(agent["arrival_median_ms"], agent["arrival_last_ms"])
        run_id = summary["run_id"]
        self.check_rows(db, run_id, 100, [(0, 25), (25, 25), (50, 25), (75, 25)])

        export = self.run_cli(["export", str(run_id), "--format", "csv", "--db", db])
        self.assertEqual(export.returncode, 0, export.stderr)
        self.assertEqual(len(export.stdout.splitlines()), 101)
        export = self.run_cli(["export", str(run_id), "--format", "json", "--db", db])
        self.assertEqual(export.returncode, 0, export.stderr)
        rows = json.loads(export.stdout)
        self.assertEqual(len(rows), 100)
        self.assertEqual(sum(1 for r in rows if r["outcome"] == "throttled"), 95)
        missing = self.run_cli(["export", str(run_id + 1), "--db", db])
        self.assertEqual(missing.returncode, 1)
        self.assertIn("run %d not found" % (run_id + 1), missing.stderr)
        self.assertEqual(missing.stdout, "")

    def test_post_burst_last_byte(self):
        # A body makes auto pick last-byte: every request is written but its
        # final byte ahead of the instant. The outcome is the same 5 / 95.
        base = self.start_lambda(reserved=5)
        db = self.path("post.db")
        summary = self.run_json(base + "/url/demo/", 100, 4, db,
                                ["--method", "POST", "--data", '{"burst":1}'])
        expected = {"requested": 100, "recorded": 100, "ok": 5, "throttled": 95,
                    "errors": 0, "lost": 0, "environments": 5, "cold_starts": 5,
                    "status": "completed", "start_mode": "last_byte"}
        self.assertEqual({k: summary[k] for k in expected}, expected)
        run_id = summary["run_id"]
        self.check_rows(db, run_id, 100, [(0, 25), (25, 25), (50, 25), (75, 25)])
        conn = sqlite3.connect(db)
        try:
            row = conn.execute("SELECT method, start_mode FROM runs WHERE id = ?",
                               (run_id,)).fetchone()
            self.assertEqual(row, ("POST", "last_byte"))
            # Every request was released (sent) at or after the instant.
            early = conn.execute(
                "SELECT count(*) FROM requests WHERE run_id = ? AND sent_ns < "
                "scheduled_ns", (run_id,)).fetchone()[0]
            self.assertEqual(early, 0)
        finally:
            conn.close()

        # An explicit at-go with a body is kept.
        summary = self.run_json(base + "/url/demo/", 4, 2, db,
                                ["--method", "POST", "--data", "x",
                                 "--start-mode", "at-go"])
        self.assertEqual((summary["start_mode"], summary["recorded"]), ("at_go", 4))

    def test_20_requests_reserved_3_on_3_agents(self):
        base = self.start_lambda(reserved=3)
        db = self.path("other.db")
        summary = self.run_json(base + "/url/demo/", 20, 3, db,
                                ["--expect-ok", "3", "--expect-throttled", "17",
                                 "--expect-errors", "0", "--expect-lost", "0"])
        self.assertEqual((summary["ok"], summary["throttled"], summary["errors"],
                          summary["lost"], summary["environments"],
                          summary["cold_starts"]), (3, 17, 0, 0, 3, 3))
        self.assertEqual(summary["expectations"],
                         {"ok": 3, "throttled": 17, "errors": 0, "lost": 0})
        self.assertIs(summary["expectations_met"], True)
        self.check_rows(db, summary["run_id"], 20, [(0, 7), (7, 7), (14, 6)])

    def door_run(self, url, db, extra=()):
        """40 POSTs from 2 agents; returns (summary, [(status, door, source,
        reason) of each throttled row])."""
        summary = self.run_json(url, 40, 2, db,
                                ["--method", "POST", "--data", '{"burst":1}']
                                + list(extra))
        conn = sqlite3.connect(db)
        try:
            throttles = conn.execute(
                "SELECT http_status, door, throttle_source, throttle_reason"
                " FROM requests WHERE run_id = ? AND outcome = 'throttled'",
                (summary["run_id"],)).fetchall()
        finally:
            conn.close()
        return summary, throttles

    def test_throttles_through_every_door(self):
        # The same reserved-5 burst through each of the emulator's four doors:
        # the same 5 admitted and 35 throttled, whatever words each door uses
        # (Function URL and Invoke API 429, the REST API's and the HTTP API's
        # 500), each throttle stored with its raw status, door and source.
        base = self.start_lambda(reserved=5)
        db = self.path("doors.db")
        reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
        doors = [
            ("/url/demo/", "function_url", 429, "lambda", None),
            ("/2015-03-31/functions/demo/invocations", "invoke", 429, "lambda", reason),
            ("/restapi/demo/prod/burst", "apigw_rest", 500, "lambda_via_gateway", None),
            ("/httpapi/demo/burst", "apigw_http", 500, "lambda_via_gateway", None),
        ]
        for path, door, status, source, why in doors:
            with self.subTest(door=door):
                summary, throttles = self.door_run(base + path, db)
                got = {k: summary[k] for k in ("door", "ok", "throttled",
                                               "throttled_lambda", "throttled_gateway",
                                               "errors", "lost", "environments",
                                               "status")}
                self.assertEqual(got, {"door": door, "ok": 5, "throttled": 35,
                                       "throttled_lambda": 35, "throttled_gateway": 0,
                                       "errors": 0, "lost": 0, "environments": 5,
                                       "status": "completed"})
                self.assertEqual(throttles, [(status, door, source, why)] * 35)

        # Named with --door, the REST API's 500 at a plain server is an error:
        # the door decides what is a throttle.
        summary, throttles = self.door_run(base + "/restapi/demo/prod/burst", db,
                                           ["--door", "http"])
        self.assertEqual((summary["door"], summary["ok"], summary["throttled"],
                          summary["errors"]), ("http", 5, 0, 35))
        self.assertEqual(throttles, [])

        # An HTTP API that answers 429 {"message":"Too Many Requests"} says what
        # its own stage throttling says: counted as the gateway's.
        base = self.start_lambda(reserved=5, extra=["--httpapi-throttle-status", "429"])
        summary, throttles = self.door_run(base + "/httpapi/demo/burst", db)
        self.assertEqual((summary["ok"], summary["throttled"], summary["throttled_lambda"],
                          summary["throttled_gateway"]), (5, 35, 0, 35))
        self.assertEqual(throttles, [(429, "apigw_http", "gateway", None)] * 35)

        # A door the controller does not know is refused before anything is sent.
        self.assert_usage_error(["run", "--url", base + "/url/demo/", "-n", "1",
                                 "--door", "alb", "--db", db],
                                "--door must be auto, function-url, invoke, apigw-rest, "
                                "apigw-http, apigw or http")

    def test_sigterm_mid_run_is_interrupted(self):
        # SIGTERM while the 5 admitted requests are held by the function: the
        # run ends interrupted (exit 5), its agents are told to stop, and every
        # request without a result is stored lost, so requested = recorded +
        # lost still holds; the 5 held ones never come back as ok.
        base = self.start_lambda(reserved=5)
        db = self.path("sigterm.db")
        proc = self.popen_run(["--url", base + "/url/demo/", "-n", "20",
                               "--local-agents", "2", "--json", "--db", db,
                               "--keys", self.path("keys")])
        try:
            self.wait_running(db)
            time.sleep(0.5)  # past GO: the admitted 5 are held for 2 s
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 5, err)
        summary = json.loads(out)
        self.assertEqual((summary["status"], summary["outcome"], summary["requested"],
                          summary["ok"]), ("failed", "interrupted", 20, 0))
        self.assertEqual(summary["error"], "stampede run stopped by a signal")
        self.assertEqual(summary["recorded"] + summary["lost"], 20)
        self.assertGreaterEqual(summary["lost"], 5)
        conn = sqlite3.connect(db)
        try:
            rows = conn.execute("SELECT count(*), count(*) FILTER (WHERE outcome ="
                                " 'lost') FROM requests WHERE run_id = ?",
                                (summary["run_id"],)).fetchone()
            self.assertEqual(rows, (20, summary["lost"]))
            reasons = {r[0] for r in conn.execute(
                "SELECT error FROM requests WHERE run_id = ? AND outcome = 'lost'",
                (summary["run_id"],))}
            self.assertEqual(reasons, {"stampede run stopped by a signal"})
            self.assertEqual(conn.execute("SELECT outcome FROM runs WHERE id = ?",
                                          (summary["run_id"],)).fetchone()[0],
                             "interrupted")
        finally:
            conn.close()

    def wait_running(self, db, timeout=20, poll=0.05):
        """Waits (bounded) until the database holds a running run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(poll)
            if not os.path.exists(db):
                continue
            conn = sqlite3.connect(db)
            try:
                row = conn.execute("SELECT id FROM runs WHERE status = 'running'"
                                   ).fetchone()
            except sqlite3.OperationalError:
                row = None  # the schema is still being created
            finally:
                conn.close()
            if row:
                return
        self.fail("the run never started")

    def two_agent_run(self, db_name, act):
        # 20 requests all admitted (reserved 20) over two remote agents,
        # agent-a and agent-b; act(db, agents) does its harm while the run is
        # on. Returns (exit status, the --json summary, stderr, db path).
        base = self.start_lambda(reserved=20)
        db = self.path(db_name)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            endpoint = "tcp://127.0.0.1:%d" % probe.getsockname()[1]
        proc = self.popen_run(["--url", base + "/url/demo/", "-n", "20",
                               "--wait-agents", "2", "--listen", endpoint, "--insecure",
                               "--json", "--db", db])
        try:
            agents = [self.procs.start([binary("stampede-agent"), "--controller",
                                        endpoint, "--insecure", "--id", name],
                                       env=self.env, capture=False)
                      for name in ("agent-a", "agent-b")]
            act(db, agents)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return proc.returncode, out, err, db

    def assert_counts(self, summary, expected):
        self.assertEqual({k: summary[k] for k in expected}, expected)

    def test_agent_killed_mid_run_completes_with_losses(self):
        # One agent is SIGKILLed while the function holds its 10 (2 s). The
        # run is not "completed": it ends completed_with_losses (exit 4)
        # with exactly those 10 lost and the reason named.
        def kill_b(db, agents):
            self.wait_running(db)
            time.sleep(0.5)  # past GO: every request is held by the function
            os.kill(agents[1].pid, signal.SIGKILL)  # agent-b, holding its 10
        status, out, err, db = self.two_agent_run("losses.db", kill_b)
        self.assertEqual(status, 4, err)
        summary = json.loads(out)
        self.assert_counts(summary, {"status": "completed",
                                     "outcome": "completed_with_losses",
                                     "requested": 20, "recorded": 10, "ok": 10,
                                     "lost": 10})
        conn = sqlite3.connect(db)
        try:
            error = conn.execute("SELECT error FROM runs WHERE id = ?",
                                 (summary["run_id"],)).fetchone()[0]
            self.assertEqual(error, "10 of 20 requests lost (agent agent-b "
                                    "disconnected)")
        finally:
            conn.close()

    def test_agent_stopped_past_the_instant_is_mis_started(self):
        # agent-b is stopped (SIGSTOP) between Go and the instant and resumed
        # 1.5 s later: it releases its share over a second late. Every
        # request is recorded, but the run is not "completed": it is
        # mis_started (exit 6), naming agent-b and how late it released;
        # agent-a's release is on time and stored as such.
        def stop_b(db, agents):
            self.wait_running(db, poll=0.01)  # Go is out; the instant is 250 ms on
            os.kill(agents[1].pid, signal.SIGSTOP)
            time.sleep(1.5)
            os.kill(agents[1].pid, signal.SIGCONT)
        status, out, err, db = self.two_agent_run("misstart.db", stop_b)
        self.assertEqual(status, 6, err)
        summary = json.loads(out)
        self.assert_counts(summary, {"status": "completed", "outcome": "mis_started",
                                     "requested": 20, "recorded": 20, "ok": 20,
                                     "lost": 0})
        agents = {a["agent_id"]: a for a in summary["agents"]}
        late = agents["agent-b"]["release"]
        self.assertGreater(late["start_error_ms"], 1000.0, late)
        self.assertRegex(late["mis_start"], r"^agent agent-b released \d+\.\d{3} ms "
                         r"after the instant, outside its bound of \d+\.\d{3} ms \+ "
                         r"20\.000 ms tolerance$")
        self.assertEqual(summary["error"], late["mis_start"])
        on_time = agents["agent-a"]["release"]
        self.assertIsNone(on_time["mis_start"])
        self.assertLess(abs(on_time["start_error_ms"]), 20.0)
        conn = sqlite3.connect(db)
        try:
            rows = conn.execute("SELECT agent_id, mis_start IS NULL FROM run_agents"
                                " WHERE run_id = ? ORDER BY agent_id",
                                (summary["run_id"],)).fetchall()
            self.assertEqual(rows, [("agent-a", 1), ("agent-b", 0)])
            self.assertEqual(conn.execute("SELECT outcome FROM runs WHERE id = ?",
                                          (summary["run_id"],)).fetchone()[0],
                             "mis_started")
        finally:
            conn.close()

    def test_arrival_header(self):
        # The arrival instant comes from the header the run names: one the
        # target does not send gives no arrivals; the emulator's own, named
        # in another case, gives one per request.
        base = self.start_lambda(reserved=2)
        db = self.path("arrival.db")
        missing = self.run_json(base + "/url/demo/", 4, 2, db,
                                ["--arrival-header", "X-Not-There"])
        self.assertEqual([a["arrivals"] for a in missing["agents"]], [0, 0])
        self.assertEqual(missing["spread_ms"], 0)
        named = self.run_json(base + "/url/demo/", 4, 2, db,
                              ["--arrival-header", "x-stampede-received-ns"])
        self.assertEqual([a["arrivals"] for a in named["agents"]], [2, 2])
        self.assert_usage_error(["run", "--url", base + "/url/demo/", "-n", "1",
                                 "--arrival-header", "X Received", "--db", db],
                                "--arrival-header must be a header name (a token of "
                                "1-256 characters)")

    def test_https_target_with_private_ca(self):
        # A self-signed HTTPS target: without its CA every request fails and
        # the summary names the TLS error with the way out; with --cacert the
        # agents trust it and every request succeeds.
        cert, key = self.path("target.pem"), self.path("target.key")
        made = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=60)
        self.assertEqual(made.returncode, 0, made.stderr)
        ready = "tls_target listening on "
        target = self.procs.start([sys.executable, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "tls_target.py"), cert, key], env=self.env)
        url = target.read_line(ready)[len(ready):].strip() + "/burst"
        db = self.path("tls.db")
        untrusted = self.run_cli(["run", "--url", url, "-n", "20", "--local-agents", "2",
                                  "--db", db, "--keys", self.path("keys")])
        self.assertEqual(untrusted.returncode, 0, untrusted.stderr)
        self.assertIn("20 requested, 0 ok, 0 throttled, 20 errors, 0 lost",
                      untrusted.stdout)
        self.assertIn("most frequent error (20 of 20): SSL certificate problem: "
                      "self-signed certificate (give the agents the target's CA with "
                      "--cacert FILE)", untrusted.stdout)
        # Last byte over TLS, a GET and a POST: every connection is set up
        # and its TLS handshake done before the instant (armed, none late),
        # and the target reads each request whole only after the instant.
        for extra in ([], ["--method", "POST", "--data", '{"burst":1}']):
            trusted = self.run_json(url, 20, 2, db, ["--cacert", cert] + extra)
            self.assertEqual((trusted["ok"], trusted["errors"], trusted["lost"],
                              trusted["outcome"], trusted["top_error"],
                              trusted["start_mode"]),
                             (20, 0, 0, "completed", None, "last_byte"))
            conn = sqlite3.connect(db)
            try:
                shares = conn.execute(
                    "SELECT count, armed, late FROM run_agents WHERE run_id = ?",
                    (trusted["run_id"],)).fetchall()
                self.assertEqual(shares, [(10, 10, 0), (10, 10, 0)])
                early = conn.execute(
                    "SELECT count(*) FROM requests WHERE run_id = ? AND "
                    "(received_ns IS NULL OR received_ns < scheduled_ns)",
                    (trusted["run_id"],)).fetchone()[0]
                self.assertEqual(early, 0)
            finally:
                conn.close()
        self.assert_usage_error(["run", "--url", url, "-n", "1", "--cacert",
                                 self.path("nope.pem"), "--db", db],
                                "--cacert %s: No such file or directory"
                                % self.path("nope.pem"))
        self.assert_usage_error(["run", "--url", url, "-n", "1", "--cacert", key,
                                 "--db", db], "--cacert %s: not PEM certificates" % key)

    def test_disk_full_mid_run_loses_nothing(self):
        # The results database on a 4 MiB tmpfs that is filled up while the
        # 20 requests are held: their batches are refused (not acknowledged),
        # the agents keep them and send them again once there is room, and
        # the run ends completed with all 20 rows, exit 0.
        disk = self.path("disk")
        os.mkdir(disk)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk],
                                 capture_output=True, text=True)
        self.assertEqual(mounted.returncode, 0,
                         "this test needs root to mount a tmpfs: " + mounted.stderr)
        # Cleanups run last in first out: unmount, then remove what tearDown
        # could not while the file system was mounted.
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(subprocess.run, ["umount", "-l", disk], capture_output=True)
        base = self.start_lambda(reserved=20)
        db = os.path.join(disk, "r.db")
        proc = self.popen_run(["--url", base + "/url/demo/", "-n", "20",
                               "--local-agents", "2", "--json", "--db", db,
                               "--keys", self.path("keys")])
        try:
            self.wait_running(db)
            filler = os.path.join(disk, "filler")
            with open(filler, "wb", buffering=0) as out:  # fill to the last block
                try:
                    while True:
                        out.write(b"\0" * 65536)
                        out.flush()
                except OSError:
                    pass
            time.sleep(3.5)  # the results come back at 2 s and are refused
            os.unlink(filler)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertIn("run: batch not stored, the agent will resend", err)
        self.assertEqual(proc.returncode, 0, err)
        summary = json.loads(out)
        self.assertEqual({k: summary[k] for k in ("status", "outcome", "requested",
                                                 "recorded", "ok", "lost")},
                         {"status": "completed", "outcome": "completed",
                          "requested": 20, "recorded": 20, "ok": 20, "lost": 0})

    def test_skewed_agents_start_together(self):
        # Two agents whose clocks are 250 ms ahead and behind (libfaketime):
        # the controller learns each offset (and waits until it knows each
        # drift) and both release the burst at the instant: no request
        # reaches the target before it (beyond the agent's bound), each
        # offset estimate holds the true ±250 ms within its claimed bound, and
        # the two agents' first arrivals are within 100 ms of each other
        # (uncorrected, 500 ms apart; a loaded machine delays a GET start by
        # tens of ms). GET, started at the
        # instant. The drift itself is tested in ctl_clock's selftest: with
        # a rate factor, libfaketime's absolute sleeps wake off by the rate
        # times the time since the process started, which no controller
        # could correct.
        faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
        self.assertTrue(os.path.exists(faketime), "make deps installs faketime")
        base = self.start_lambda(reserved=20)
        db = self.path("skew.db")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            endpoint = "tcp://127.0.0.1:%d" % probe.getsockname()[1]
        proc = self.popen_run(["--url", base + "/url/demo/", "-n", "20", "--wait-agents",
                               "2", "--listen", endpoint, "--insecure", "--json",
                               "--db", db])
        try:
            # libfaketime is preloaded ahead of the sanitizer runtime of a
            # sanitizer build, which then must not insist on coming first.
            asan = ":".join(filter(None, [self.env.get("ASAN_OPTIONS"),
                                          "verify_asan_link_order=0"]))
            for name, fake in (("ahead", "+0.25"), ("behind", "-0.25")):
                self.procs.start([binary("stampede-agent"), "--controller", endpoint,
                                  "--insecure", "--id", name],
                                 env=dict(self.env, LD_PRELOAD=faketime, FAKETIME=fake,
                                          ASAN_OPTIONS=asan),
                                 capture=False)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        summary = json.loads(out)
        self.assertEqual((summary["outcome"], summary["ok"], summary["lost"]),
                         ("completed", 20, 0))
        agents = {a["agent_id"]: a for a in summary["agents"]}
        # The true offsets are exactly +250 and -250 ms: each estimate must
        # hold it within the bound it claims.
        for name, truth in (("ahead", 250.0), ("behind", -250.0)):
            self.assertLessEqual(abs(agents[name]["clock_offset_ms"] - truth),
                                 agents[name]["clock_bound_ms"], agents[name])
        for agent in agents.values():
            self.assertEqual(agent["arrivals"], 10)
            self.assertGreaterEqual(agent["arrival_first_ms"], -agent["clock_bound_ms"],
                                    agent)
        self.assertLess(abs(agents["ahead"]["arrival_first_ms"]
                            - agents["behind"]["arrival_first_ms"]), 100, agents)
        self.assertIn("drift_ppm=", err)

    def test_insecure_text_summary(self):
        base = self.start_lambda(reserved=2)
        db = self.path("plain.db")
        result = self.run_cli(["run", "--url", base + "/url/demo/", "-n", "4",
                               "--local-agents", "2", "--insecure", "--db", db])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("4 requested, 2 ok, 2 throttled, 0 errors, 0 lost",
                      result.stdout)

    def test_missed_expectation_exits_3(self):
        # A completed run that misses an --expect-* count still prints its
        # summary, names each miss on stderr and exits 3 (CI's signal).
        base = self.start_lambda(reserved=2)
        db = self.path("expect.db")
        result = self.run_cli(["run", "--url", base + "/url/demo/", "-n", "4",
                               "--local-agents", "2", "--insecure", "--db", db,
                               "--expect-ok", "3", "--expect-throttled", "2",
                               "--expect-lost", "1"])
        self.assertEqual(result.returncode, 3, result.stderr)
        self.assertIn("4 requested, 2 ok, 2 throttled, 0 errors, 0 lost",
                      result.stdout)
        self.assertIn("stampede run: expected 3 ok, got 2\n", result.stderr)
        self.assertIn("stampede run: expected 1 lost, got 0\n", result.stderr)
        self.assertNotIn("throttled, got", result.stderr)

    def test_demo_exit(self):
        db = self.path("demo.db")
        result = self.run_cli(["demo", "--exit", "--http", "127.0.0.1:0",
                               "--lambda-listen", "127.0.0.1:0", "--db", db,
                               "--keys", self.path("keys")])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("100 requested, 5 ok, 95 throttled, 0 errors, 0 lost",
                      result.stdout)
        self.assertIn("5 environments, 5 cold starts", result.stdout)
        # The demo POSTs a small JSON body, so it fires last-byte.
        self.assertIn("(start mode last_byte)", result.stdout)
        conn = sqlite3.connect(db)
        try:
            self.assertEqual(conn.execute("SELECT method, start_mode, label, "
                                          "reserved_configured FROM runs").fetchall(),
                             [("POST", "last_byte", "demo", 5)])
        finally:
            conn.close()
        self.assertRegex(result.stdout, r"dashboard: http://127\.0\.0\.1:\d+/")
        # The local agents' keys were withdrawn again.
        self.assertEqual(sorted(__import__("os").listdir(self.path("keys", "agents"))), [])

    def test_run_that_cannot_fit_is_refused(self):
        # Open files cap what an agent can hold: with a limit of 200 each
        # agent announces capacity 136 (64 kept for itself), and 500 requests
        # over 2 agents are refused before anything is sent: no run row, no
        # request at the target, exit 1 with the reason.
        base = self.start_lambda(reserved=5)
        db = self.path("fit.db")
        result = self.run_low_files(["run", "--url", base + "/url/demo/", "-n", "500",
                                     "--local-agents", "2", "--db", db, "--keys",
                                     self.path("keys")], 60)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("the run was not started: the agents take at most 272 requests "
                      "together (local-1 136, local-2 136), the run asks for 500",
                      result.stderr)
        self.assertIn("capacity 136, not 10000: the open-file limit is 200 (64 kept "
                      "for the agent itself)", result.stderr)
        conn = sqlite3.connect(db)
        try:
            self.assertEqual(conn.execute("SELECT count(*) FROM runs").fetchone()[0], 0)
        finally:
            conn.close()

    def test_compensate_path(self):
        # Each agent measures its shortest TCP handshake while connecting
        # ahead; with --compensate-path the farthest releases at the instant
        # and each other later by half the difference. On loopback the paths
        # are microseconds, but the rule is exact: every path is reported,
        # the largest is not shifted, the others by (largest - own) / 2.
        base = self.start_lambda(reserved=5)
        db = self.path("path.db")
        summary = self.run_json(base + "/url/demo/", 20, 2, db, ["--compensate-path"])
        self.assertEqual((summary["outcome"], summary["recorded"], summary["lost"],
                          summary["start_mode"]), ("completed", 20, 0, "last_byte"))
        rtts = [a["path_rtt_ms"] for a in summary["agents"]]
        self.assertTrue(all(r is not None and r > 0 for r in rtts), summary["agents"])
        conn = sqlite3.connect(db)
        try:
            rows = conn.execute("SELECT path_rtt_ns, shift_ns FROM run_agents WHERE "
                                "run_id = ? ORDER BY first_index",
                                (summary["run_id"],)).fetchall()
        finally:
            conn.close()
        farthest = max(rtt // 2 for rtt, _ in rows)
        self.assertEqual([shift for _, shift in rows],
                         [farthest - rtt // 2 for rtt, _ in rows])
        self.assertEqual(min(shift for _, shift in rows), 0)
        # Measured only while connecting ahead: at-go cannot compensate.
        self.assert_usage_error(["run", "--url", base + "/url/demo/", "-n", "5",
                                 "--compensate-path", "--start-mode", "at-go",
                                 "--db", db],
                                "--compensate-path needs the last-byte start mode")

    def test_waves_run_what_cannot_fit_in_turns(self):
        # The same 500 requests over 2 agents that hold 136 each, with
        # --waves: 2 runs of 250, one after the other, each its own burst
        # against reserved concurrency 5 (the first wave's environments are
        # free again by the second); the totals meet the expectations.
        base = self.start_lambda(reserved=5)
        db = self.path("waves.db")
        result = self.run_low_files(
            ["run", "--url", base + "/url/demo/", "-n", "500", "--local-agents", "2",
             "--db", db, "--keys", self.path("keys"), "--waves", "--json",
             "--expect-ok", "10", "--expect-throttled", "490", "--expect-lost", "0"], 180)
        self.assertEqual(result.returncode, 0, result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual({k: report[k] for k in (
            "waves_planned", "waves_run", "capacity", "outcome", "requested",
            "not_run", "recorded", "ok", "throttled", "errors", "lost",
            "expectations_met")},
            {"waves_planned": 2, "waves_run": 2, "capacity": 272,
             "outcome": "completed", "requested": 500, "not_run": 0,
             "recorded": 500, "ok": 10, "throttled": 490, "errors": 0, "lost": 0,
             "expectations_met": True})
        self.assertEqual([(w["requested"], w["ok"], w["throttled"], w["outcome"])
                          for w in report["waves"]],
                         [(250, 5, 245, "completed"), (250, 5, 245, "completed")])
        conn = sqlite3.connect(db)
        try:
            self.assertEqual(conn.execute(
                "SELECT id, label, requested, outcome FROM runs ORDER BY id").fetchall(),
                [(1, "wave 1 of 2", 250, "completed"),
                 (2, "wave 2 of 2", 250, "completed")])
            self.assertEqual(conn.execute(
                "SELECT run_id, count(*) FROM requests GROUP BY run_id").fetchall(),
                [(1, 250), (2, 250)])
        finally:
            conn.close()

    def test_usage_and_failures(self):
        binary("stampede")
        result = self.run_cli(["run", "-n", "5"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("--url is required", result.stderr)
        result = self.run_cli(["run", "--url", "http://127.0.0.1:9/", "-n", "5",
                               "--insecure", "--listen", "tcp://0.0.0.0:5555"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("--insecure is only allowed with a loopback --listen",
                      result.stderr)
        result = self.run_cli(["serve", "--http", "0.0.0.0:0"])
        self.assertEqual(result.returncode, 2)
        self.assertIn("give --token or set STAMPEDE_TOKEN", result.stderr)
        # A key directory that cannot be created fails the run (exit 1).
        blocker = self.path("file")
        open(blocker, "w").close()
        result = self.run_cli(["run", "--url", "http://127.0.0.1:9/", "-n", "5",
                               "--local-agents", "1", "--keys", blocker + "/keys",
                               "--db", self.path("x.db")])
        self.assertEqual(result.returncode, 1)
        self.assertIn("cannot create key directory", result.stderr)
        result = self.run_cli(["--version"])
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout, r"^stampede \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    unittest.main()
