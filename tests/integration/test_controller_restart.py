"""System test: `stampede serve` crashes in the middle of a run and is started
again on the same database, keys and agents' endpoint.

The agents keep every result batch until a controller acknowledges it as
committed, and say Hello again after 3 s of silence; the new process settles
the interrupted run at start (failed, every missing index lost, reason
"controller restarted during the run"), then stores the agents' resends
against their shares, each real result replacing its lost row. Nothing is
acknowledged without being stored, so in the end every request of the run has
its real row, and the agents are free for the next run.
"""
import os
import signal
import sqlite3
import unittest

from stampede_testlib import ControllerTest, http_json, wait_until

RESTART_REASON = "controller restarted during the run"


class ControllerRestartTest(ControllerTest):

    def db_rows(self):
        """{run_id: {outcome: count}} from the results database."""
        db = sqlite3.connect(self.path("r.db"), timeout=5)
        try:
            rows = db.execute("SELECT run_id, outcome, count(*) FROM requests"
                              " GROUP BY run_id, outcome").fetchall()
        finally:
            db.close()
        counts = {}
        for run_id, outcome, n in rows:
            counts.setdefault(run_id, {})[outcome] = n
        return counts

    def run_json(self, http, run_id, requests=False):
        status, run = http_json(http + "/api/runs/%d?requests=%d"
                                % (run_id, 1 if requests else 0))
        self.assertEqual(status, 200, run)
        return run

    def test_results_survive_a_controller_crash(self):
        # 5 environments; each ok request holds its environment for 4 s (under
        # a 30 s function timeout), so the run is still in flight when the
        # controller dies.
        base = self.start_lambda(reserved=5, extra=["--timeout", "30",
                                                    "--env", "STAMPEDE_HOLD_MS=4000"])
        target = base + "/url/demo/"
        serve, endpoint, http = self.start_serve("tcp://127.0.0.1:*", target)
        keys = [self.keygen("agent-%d" % i, admit=True) for i in (1, 2)]
        for i, key in enumerate(keys, 1):
            self.start_agent("agent-%d" % i, endpoint, key)
        wait_until(lambda: self.agent_ids(http) == ["agent-1", "agent-2"], 30, 0.1,
                   "both agents")

        status, body = http_json(http + "/api/test", "POST", {"requests": 20})
        self.assertEqual(status, 202, body)
        run_id = body["run_id"]
        self.assertEqual(run_id, 1)
        # Both agents got Go and released (the controller stores "running"
        # before it sends Go, so a kill then could leave an agent without it).
        wait_until(lambda: all(s["released_ns"] for s in
                               self.run_json(http, run_id)["shares"]), 30, 0.02,
                   "both shares of run %d to be released" % run_id)
        self.assertEqual(self.run_json(http, run_id)["status"], "running")
        # A crash: no Cancel reaches the agents, the run row stays "running".
        self.assertEqual(serve.kill(), -9)

        serve, endpoint2, http = self.start_serve(endpoint, target)
        self.assertEqual(endpoint2, endpoint)
        # Settled at start, before any agent was heard: failed, and every
        # index the old process had not stored is lost.
        run = self.run_json(http, run_id)
        self.assertEqual(run["status"], "failed", run)
        self.assertEqual(run["error"], RESTART_REASON)
        # How many throttles the old process stored depends on when it died;
        # the 5 ok results cannot have come back before the 4 s hold.
        self.assertEqual(run["summary"]["recorded"] + run["summary"]["lost"], 20)
        self.assertEqual(run["summary"]["ok"], 0, run)
        self.assertGreaterEqual(run["summary"]["lost"], 5, run)

        # The agents find the new process and resend; every lost row is
        # replaced by its real result.
        def delivered():
            counts = self.db_rows().get(run_id, {})
            return counts if sum(counts.values()) == 20 and "lost" not in counts \
                else None
        counts = wait_until(delivered, 30, 0.1, "the agents' resends to be stored")
        self.assertEqual(counts, {"ok": 5, "throttled": 15})

        run = self.run_json(http, run_id, requests=True)
        summary = run["summary"]
        self.assertEqual((summary["ok"], summary["throttled"], summary["errors"],
                          summary["lost"], summary["recorded"]), (5, 15, 0, 0, 20))
        # The run keeps the record that its controller went away mid-run.
        self.assertEqual(run["status"], "failed")
        self.assertEqual(run["error"], RESTART_REASON)
        self.assertEqual([(s["agent_id"], s["first_index"], s["count"])
                          for s in run["shares"]],
                         [("agent-1", 0, 10), ("agent-2", 10, 10)])
        self.assertEqual([r["index"] for r in run["requests"]], list(range(20)))
        for row in run["requests"]:
            self.assertEqual(row["agent_id"], "agent-1" if row["index"] < 10
                             else "agent-2", row)
            self.assertNotEqual(row["error"], RESTART_REASON, row)
        self.assertEqual(self.agent_ids(http), ["agent-1", "agent-2"])

        # Both agents forgot the run (every batch acknowledged): they take
        # the next one. The 5 environments are warm and free again by now.
        status, body = http_json(http + "/api/test", "POST", {"requests": 10})
        self.assertEqual(status, 202, body)
        self.assertEqual(body["run_id"], 2)

        def finished():
            run = self.run_json(http, 2)
            return run if run["status"] in ("completed", "failed") else None
        run = wait_until(finished, 60, 0.1, "run 2 to finish")
        self.assertEqual(run["status"], "completed", run)
        self.assertEqual((run["summary"]["ok"], run["summary"]["throttled"],
                          run["summary"]["lost"]), (5, 5, 0))
        self.assertEqual(self.db_rows()[run_id], {"ok": 5, "throttled": 15})

    def test_results_survive_an_agent_and_controller_crash(self):
        # The controller stops right after the release, before any result
        # came back (each ok request holds its environment 3 s); the agent
        # gets its 10 results, cannot have them acknowledged, keeps them in
        # its --spool directory, and is killed: its memory and ZeroMQ
        # queues are gone. Then the controller is killed too (what reached
        # its socket unread dies with it; stopped, it kept its port) and
        # both start again; the agent sends what it finds in the
        # directory, and every lost row is replaced.
        base = self.start_lambda(reserved=5, extra=["--timeout", "30",
                                                    "--env", "STAMPEDE_HOLD_MS=3000"])
        target = base + "/url/demo/"
        spool = self.path("spool")
        serve, endpoint, http = self.start_serve("tcp://127.0.0.1:*", target)
        key = self.keygen("agent-1", admit=True)
        agent = self.start_agent("agent-1", endpoint, key, ["--spool", spool])
        wait_until(lambda: self.agent_ids(http) == ["agent-1"], 30, 0.1, "the agent")
        status, body = http_json(http + "/api/test", "POST", {"requests": 10})
        self.assertEqual(status, 202, body)
        run_id = body["run_id"]
        wait_until(lambda: all(s["released_ns"] for s in
                               self.run_json(http, run_id)["shares"]), 30, 0.02,
                   "the share of run %d to be released" % run_id)
        os.kill(serve.pid, signal.SIGSTOP)

        def spooled():
            names = os.listdir(spool)
            return names if names and all(n.endswith(".batch") for n in names) \
                and len(names) >= 2 else None
        # The 5 throttles at once, the 5 ok after the 3 s hold: 2 batches.
        files = wait_until(spooled, 30, 0.1, "both batches in the spool directory")
        self.assertEqual(agent.kill(), -9)
        self.assertEqual(sorted(os.listdir(spool)), sorted(files))
        self.assertEqual(serve.kill(), -9)

        serve, endpoint2, http = self.start_serve(endpoint, target)
        self.assertEqual(endpoint2, endpoint)
        run = self.run_json(http, run_id)
        self.assertEqual((run["status"], run["summary"]["lost"]), ("failed", 10))
        self.start_agent("agent-1", endpoint, key, ["--spool", spool])

        def delivered():
            counts = self.db_rows().get(run_id, {})
            return counts if "lost" not in counts else None
        counts = wait_until(delivered, 30, 0.1, "the spooled batches to be stored")
        self.assertEqual(counts, {"ok": 5, "throttled": 5})
        # Acknowledged, so gone from the directory.
        wait_until(lambda: os.listdir(spool) == [], 10, 0.1, "an empty spool")


if __name__ == "__main__":
    unittest.main()
