"""System test of `stampede serve` with agents started separately.

The controller runs as a daemon with CURVE keys; agents generate their own
certificates (stampede-agent --keygen) and are admitted by the enrolment
step (`stampede agents admit NAME KEY`). An agent not admitted never
registers.
Runs are started over the HTTP API (POST /api/test) against the real
emulator, and a controller restarted on the same endpoint gets its agents
back without touching them.
"""
import subprocess
import time
import unittest

from stampede_testlib import ControllerTest, binary, http_json, wait_until


class ControllerServeTest(ControllerTest):

    def burst(self, http, requests):
        """POST /api/test and wait for the run to complete; returns it."""
        status, body = http_json(http + "/api/test", "POST", {"requests": requests})
        self.assertEqual(status, 202, body)
        run_id = body["run_id"]

        def finished():
            code, run = http_json(http + "/api/runs/%d?requests=0" % run_id)
            return run if code == 200 and run["status"] in ("completed", "failed") \
                else None
        run = wait_until(finished, 60, 0.1, "run %d to finish" % run_id)
        self.assertEqual(run["status"], "completed", run)
        return run

    def test_serve_admission_runs_and_restart(self):
        base = self.start_lambda(reserved=5)
        target = base + "/url/demo/"
        serve, endpoint, http = self.start_serve("tcp://127.0.0.1:*", target)
        # The keys directory exists once serve is up; admit two agents.
        keys = [self.keygen("agent-%d" % i, admit=True) for i in (1, 2)]
        intruder_key = self.keygen("intruder", admit=False)
        for i, key in enumerate(keys, 1):
            self.start_agent("agent-%d" % i, endpoint, key)
        self.start_agent("intruder", endpoint, intruder_key)
        wait_until(lambda: self.agent_ids(http) == ["agent-1", "agent-2"], 30, 0.1,
                   "both admitted agents")
        status, body = http_json(http + "/api/status")
        self.assertEqual(body["default_url"], target)
        self.assertIsNone(body["active_run"])
        # The intruder keeps retrying (it says Hello every 3 s) and is never in.
        time.sleep(4)
        self.assertEqual(self.agent_ids(http), ["agent-1", "agent-2"])

        run = self.burst(http, 20)
        summary = run["summary"]
        self.assertEqual((summary["ok"], summary["throttled"], summary["errors"],
                          summary["lost"]), (5, 15, 0, 0))
        self.assertEqual([(s["agent_id"], s["first_index"], s["count"])
                          for s in run["shares"]],
                         [("agent-1", 0, 10), ("agent-2", 10, 10)])
        # A second run while none is active is fine; bad input is a 400.
        # The run specification's one rule, whichever door: up to the
        # protocol's 1,000,000 requests, a lowercase scheme, no tab inside
        # a header value.
        for command, error in [
                ({"requests": 0}, "requests must be an integer from 1 to 1000000"),
                ({"requests": 1000001}, "requests must be an integer from 1 to 1000000"),
                ({"url": "HTTP://127.0.0.1/"}, "URL must start with http:// or https://"),
                ({"headers": ["X-A: a\tb"]},
                 "headers[0]: header value longer than 8192 or holds control "
                 "characters (tab included)")]:
            status, body = http_json(http + "/api/test", "POST", command)
            self.assertEqual((status, body["error"]), (400, error), command)

        # Restart the controller on the same endpoint; the agents stay up.
        self.assertEqual(serve.stop(), 0)
        serve, endpoint2, http = self.start_serve(endpoint, target)
        self.assertEqual(endpoint2, endpoint)
        wait_until(lambda: self.agent_ids(http) == ["agent-1", "agent-2"], 30, 0.1,
                   "the agents to re-register")
        run = self.burst(http, 10)
        self.assertEqual((run["summary"]["ok"], run["summary"]["throttled"],
                          run["summary"]["lost"]), (5, 5, 0))
        self.assertEqual(run["run_id"], 2)  # same database, next id

    def test_agent_admitted_late_joins(self):
        # An agent whose key is not admitted hears nothing; it keeps saying
        # hello and says every 10 s that it is still unanswered and why that
        # may be. Admitted later (`stampede agents admit`), it joins without
        # a restart of either side, and a run uses it.
        base = self.start_lambda(reserved=5)
        serve, endpoint, http = self.start_serve("tcp://127.0.0.1:*", base + "/url/demo/")
        key = self.keygen("late", admit=False)
        log_path = self.path("late.log")
        with open(log_path, "w") as log:
            agent = subprocess.Popen(
                [binary("stampede-agent"), "--controller", endpoint, "--id", "late",
                 "--server-key", self.path("keys", "controller.key"), "--key", key],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                env=self.env)
        try:
            wait_until(lambda: "still no answer from the controller after" in
                       open(log_path).read(), 30, 0.2, "the repeated silence warning")
            text = open(log_path).read()
            self.assertIn("agent: controller silent, saying hello again", text)
            self.assertIn("; the controller is unreachable, or it has not admitted "
                          "this agent's key (keys/agents/)", text)
            self.assertEqual(self.agent_ids(http), [])
            self.admit("late")
            wait_until(lambda: self.agent_ids(http) == ["late"], 30, 0.1,
                       "the late agent admitted")
            run = self.burst(http, 4)
            self.assertEqual((run["summary"]["ok"], run["summary"]["throttled"],
                              run["summary"]["lost"]), (4, 0, 0))
        finally:
            agent.terminate()
            agent.wait(timeout=10)

    def test_token_required_off_loopback_and_checked(self):
        base = self.start_lambda(reserved=1)
        serve, endpoint, http = self.start_serve("tcp://127.0.0.1:*", base + "/url/demo/",
                                                 token="s3cret-token")
        status, _ = http_json(http + "/api/status")
        self.assertEqual(status, 401)
        status, body = http_json(http + "/api/status", token="s3cret-token")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["agents"], [])
        status, body = http_json(http + "/api/test", "POST", {}, token="s3cret-token")
        self.assertEqual(status, 503, body)
        self.assertEqual(body["error"], "no agents connected")
        # SIGTERM is a clean shutdown.
        self.assertEqual(serve.stop(), 0)


if __name__ == "__main__":
    unittest.main()
