"""Lab: an agent host's link to the controller is down for 60 s mid-run.

`stampede serve` runs 30 requests over three agents (10 each) at the demo
function, which holds every answer 4 s. One second after the instant, a1's
control link (c0) goes down; its data link stays up, so its 10 requests
still complete during the outage but their results cannot reach the
controller. As documented (docs/operations.md, "Agent loss"): the
controller expires a1 after 5 s of silence and ends the run
completed_with_losses with exactly a1's 10 indices lost, naming it. The
agent keeps every unacknowledged batch (its spool); 60 s later the link
comes back, a1 reconnects and sends them again, the real results replace
the lost rows and the run turns completed: recorded = requested, 30 ok,
nothing lost, a1's results finished during the outage.
"""
import time
import unittest

from lab_case import LabCase, TARGET, TOKEN
from stampede_testlib import wait_until

MS = 1000 * 1000
OUTAGE_S = 60
HOLD_MS = 4000


class LabLinkOutageTest(LabCase):

    def run_state(self, run_id):
        """(status, outcome, error, rows, lost rows) of the run."""
        status, outcome, error = self.query(
            "SELECT status, outcome, error FROM runs WHERE id = ?", (run_id,))[0]
        rows, lost = self.query(
            "SELECT count(*), count(*) FILTER (WHERE outcome = 'lost') FROM requests "
            "WHERE run_id = ?", (run_id,))[0]
        return status, outcome, error, rows, lost

    def test_control_link_down_60s_mid_run_loses_nothing(self):
        self.start_emulator(reserved=30, hold_ms=HOLD_MS)
        self.start_relays({"a1": 20, "a2": 5, "a3": 0})
        serve, base = self.start_serve()
        agents = {}
        for name in ("a1", "a2", "a3"):
            key = self.keygen(name)
            self.admit(name)
            agents[name] = self.start_agent(name, name, key)
        self.wait_registered(["a1", "a2", "a3"])

        status, body = self.lab.http(base + "/api/test", "POST",
                                     {"url": TARGET, "requests": 30}, token=TOKEN)
        self.assertEqual(status, 202, body)
        run_id = body["run_id"]
        started_ns = wait_until(lambda: self.query(
            "SELECT started_ns FROM runs WHERE id = ? AND status = 'running'",
            (run_id,)), 20, 0.02, "the run to start")[0][0]
        # One second past the instant every request is held by the function.
        time.sleep(max(0.0, (started_ns + 1000 * MS - time.time_ns()) / 1e9))
        self.assertEqual(self.run_state(run_id)[3], 0, "no result yet")
        self.lab.link("a1", "c0", up=False)
        down_ns = time.time_ns()

        # a1 is expired after 5 s of silence: its share is settled lost.
        def ended():
            state = self.run_state(run_id)
            return state if state[1] is not None else None
        state = wait_until(ended, 30, 0.1, "the run to end during the outage")
        self.assertEqual(state, ("completed", "completed_with_losses",
                                 "10 of 30 requests lost (agent a1 disconnected)", 30, 10),
                         self.explain())
        self.assertEqual(self.query(
            "SELECT agent_id, min(request_index), max(request_index), count(*) FROM "
            "requests WHERE run_id = ? AND outcome = 'lost' GROUP BY agent_id",
            (run_id,)), [("a1", 0, 9, 10)])
        self.assertLess(time.time_ns() - down_ns, OUTAGE_S * 1000 * MS,
                        "the run must end while the link is still down")
        # Meanwhile a1's requests complete over its data link: its results
        # are held for the controller.
        time.sleep(max(0.0, (down_ns + OUTAGE_S * 1000 * MS - time.time_ns()) / 1e9))
        self.assertIn("agent: controller silent, saying hello again", agents["a1"].text())
        self.assertEqual(self.run_state(run_id)[4], 10)
        self.lab.link("a1", "c0", up=True)
        up_ns = time.time_ns()

        # a1 reconnects and resends: every lost row is replaced.
        def settled():
            state = self.run_state(run_id)
            return state if state[1] == "completed" and state[4] == 0 else None
        state = wait_until(settled, 60, 0.2, "a1's results after the outage")
        print("outage %.1f s; run completed again %.1f s after the link came back"
              % ((up_ns - down_ns) / 1e9, (time.time_ns() - up_ns) / 1e9))
        self.assertEqual(state[:2] + state[3:], ("completed", "completed", 30, 0))
        rows = self.query("SELECT agent_id, outcome, http_status, count(*), max(done_ns) "
                          "FROM requests WHERE run_id = ? GROUP BY 1, 2, 3 ORDER BY 1",
                          (run_id,))
        self.assertEqual([r[:4] for r in rows], [("a1", "ok", 200, 10), ("a2", "ok", 200, 10),
                                                 ("a3", "ok", 200, 10)])
        # a1's requests ended during the outage (held 4 s from the instant).
        a1_done = rows[0][4]
        self.assertLess(a1_done, down_ns + 10 * 1000 * MS)
        self.assertGreater(a1_done, started_ns + HOLD_MS * MS)
        # The API says the same.
        status, run = self.lab.http(base + "/api/runs/%d?requests=0" % run_id, token=TOKEN)
        self.assertEqual(status, 200, run)
        self.assertEqual((run["status"], run["outcome"], run["summary"]["ok"],
                          run["summary"]["lost"]), ("completed", "completed", 30, 0), run)

        # The losses' reason went with the losses: a run the late results
        # completed has no error, in the database and in the API.
        self.assertEqual((state[2], run.get("error")), (None, None))


if __name__ == "__main__":
    unittest.main()
