"""Lab: an agent that starts after the run was requested.

The run is never started on a partial or unknown set of agents:

- `stampede serve` asked for a run while no agent is connected refuses it
  (503 "no agents connected") and stores nothing.
- `stampede run --wait-agents 3` with two agents connected waits (no run
  row, the command still running) until the third host's agent starts;
  then the run goes out over all three, and Go waits until the newcomer's
  clock is known (3 samples spanning 2 s, docs/protocol.md "No Go on an
  unknown clock"): its clock is 500 ms ahead and its link 20 ms each way,
  yet no request of its share reaches the emulator before the instant,
  and the run completes, exit 0.
"""
import json
import time
import unittest

import netlab
from lab_case import LabCase, START_TOLERANCE_NS, TARGET, TOKEN

MS = 1000 * 1000
RESERVED = 30
PER_AGENT = 100


class LabLateAgentTest(LabCase):

    def test_run_waits_for_an_agent_started_after_it(self):
        self.start_emulator(reserved=RESERVED, hold_ms=1000)
        self.start_relays({"a1": 5, "a2": 5, "a3": 20})
        keys = {name: self.keygen(name) for name in ("a1", "a2", "a3")}

        # serve with no agent: the run is refused and nothing is stored.
        serve, base = self.start_serve()
        status, body = self.lab.http(base + "/api/test", "POST",
                                     {"url": TARGET, "requests": 3}, token=TOKEN)
        self.assertEqual((status, body), (503, {"error": "no agents connected"}))
        status, body = self.lab.http(base + "/api/runs", token=TOKEN)
        self.assertEqual((status, body), (200, []))
        self.assertEqual(serve.stop(), 0, self.explain())
        self.lab.procs.remove(serve)
        self.assertEqual(self.query("SELECT count(*) FROM runs"), [(0,)])

        # run --wait-agents 3 with two agents: it waits.
        run = self.start_run(3 * PER_AGENT, 3, [
            "--method", "POST", "--data", '{"burst":1}', "--expect-ok", str(RESERVED),
            "--expect-throttled", str(3 * PER_AGENT - RESERVED), "--expect-lost", "0"])
        for name in ("a1", "a2", "a3"):
            self.admit(name)
        for name in ("a1", "a2"):
            self.start_agent(name, name, keys[name])
        self.wait_registered(["a1", "a2"])
        time.sleep(3)
        self.assertTrue(run.running(), self.explain())
        self.assertEqual(self.query("SELECT count(*) FROM runs"), [(0,)])
        self.assertIn("waiting for agents count=3 endpoint=tcp://%s:%d"
                      % (netlab.CONTROLLER_IP, netlab.AGENT_PORT), run.text())

        # The third host's agent, 500 ms ahead, behind a 20 ms link.
        self.start_agent("a3", "a3", keys["a3"], faketime="+0.5")
        status, log = self.finish(run, 90)
        lines = [line for line in log.splitlines() if line.startswith("{")]
        self.assertEqual((status, len(lines)), (0, 1), self.explain())
        summary = json.loads(lines[0])
        self.assertEqual({k: summary[k] for k in ("outcome", "requested", "recorded",
                                                 "ok", "throttled", "errors", "lost",
                                                 "start_mode")},
                         {"outcome": "completed", "requested": 300, "recorded": 300,
                          "ok": RESERVED, "throttled": 300 - RESERVED, "errors": 0,
                          "lost": 0, "start_mode": "last_byte"})
        run_id = summary["run_id"]
        shares = self.shares(run_id)
        self.assertEqual({a: (s["first_index"], s["count"], s["mis_start"], s["late"])
                          for a, s in shares.items()},
                         {"a1": (0, 100, None, 0), "a2": (100, 100, None, 0),
                          "a3": (200, 100, None, 0)})
        started_ns = self.query("SELECT started_ns FROM runs WHERE id = ?",
                                (run_id,))[0][0]
        a3_seen = self.query("SELECT first_seen_ns FROM agents WHERE id = 'a3'")[0][0]
        # Go waited for the newcomer's drift: samples spanning 2 s.
        self.assertGreaterEqual(started_ns - a3_seen, 2000 * MS)
        a3 = shares["a3"]
        bound = a3["clock_error_ns"]
        self.assertLessEqual(abs(a3["clock_offset_ns"] - 500 * MS), bound, a3)
        self.assertLessEqual(abs(a3["start_error_ns"]), bound + START_TOLERANCE_NS, a3)
        arrivals = [r[0] for r in self.query(
            "SELECT received_ns FROM requests WHERE run_id = ? AND agent_id = 'a3'",
            (run_id,))]
        self.assertEqual(len(arrivals), PER_AGENT)
        first = min(arrivals) - started_ns
        # Not before the instant plus the link (less the bound); uncorrected
        # it would have come 480 ms early.
        self.assertGreaterEqual(first, 20 * MS - bound, (first, a3))
        self.assertLess(first, 20 * MS + 100 * MS, (first, a3))
        print("a3 joined %.3f s before the instant; offset %.3f ms ± %.3f ms; first "
              "arrival %.3f ms after the instant"
              % ((started_ns - a3_seen) / 1e9, a3["clock_offset_ns"] / MS, bound / MS,
                 first / MS))


if __name__ == "__main__":
    unittest.main()
