"""Lab: an agent whose key is admitted after it started.

`stampede run --wait-agents 3` on the controller host; a1 and a2 are
admitted before they start, a3 (on its own host, 250 ms behind, 20 ms
link) only later. Until then the controller refuses a3's CURVE handshake:
a3 is not registered, the run waits, and a3 says it is unanswered. Once
`stampede agents admit` has run on the controller host, a3 joins at its
next connection rebuild (5 s after its start: docs/operations.md) without
a restart of anything, and the run completes over the three agents,
exit 0, with a3's share certified.
"""
import json
import time
import unittest

from lab_case import LabCase, START_TOLERANCE_NS

MS = 1000 * 1000
RESERVED = 30


class LabLateAdmissionTest(LabCase):

    def test_agent_admitted_after_it_started_joins_and_the_run_completes(self):
        self.start_emulator(reserved=RESERVED, hold_ms=1000)
        self.start_relays({"a1": 5, "a2": 5, "a3": 20})
        run = self.start_run(300, 3, [
            "--method", "POST", "--data", '{"burst":1}', "--expect-ok", str(RESERVED),
            "--expect-throttled", str(300 - RESERVED), "--expect-lost", "0"])
        self.wait_controller_key()
        keys = {name: self.keygen(name) for name in ("a1", "a2", "a3")}
        for name in ("a1", "a2"):
            self.admit(name)
        a3_started = time.monotonic()
        for name in ("a1", "a2", "a3"):
            self.start_agent(name, name, keys[name],
                             faketime="-0.25" if name == "a3" else None)
        agent3 = self.lab.procs[-1]
        self.wait_registered(["a1", "a2"])
        # a3 has been unanswered for 3 s: it says so, and it is not in.
        time.sleep(max(0.0, a3_started + 3.5 - time.monotonic()))
        self.assertIn("agent: controller silent, saying hello again", agent3.text())
        self.assertEqual(self.registered(), ["a1", "a2"])
        self.assertTrue(run.running(), self.explain())
        self.assertEqual(self.query("SELECT count(*) FROM runs"), [(0,)])

        admitted_ns = time.time_ns()
        self.admit("a3")
        status, log = self.finish(run, 90)
        lines = [line for line in log.splitlines() if line.startswith("{")]
        self.assertEqual((status, len(lines)), (0, 1), self.explain())
        summary = json.loads(lines[0])
        self.assertEqual({k: summary[k] for k in ("outcome", "requested", "recorded",
                                                 "ok", "throttled", "errors", "lost")},
                         {"outcome": "completed", "requested": 300, "recorded": 300,
                          "ok": RESERVED, "throttled": 300 - RESERVED, "errors": 0,
                          "lost": 0})
        self.assertRegex(log, r"agent joined agent_id=a3 ")
        joined_ns = self.query("SELECT first_seen_ns FROM agents WHERE id = 'a3'")[0][0]
        self.assertGreater(joined_ns, admitted_ns)
        print("a3 joined %.3f s after its key was admitted" % ((joined_ns - admitted_ns) / 1e9))
        shares = self.shares(summary["run_id"])
        self.assertEqual({a: (s["first_index"], s["count"], s["mis_start"], s["late"])
                          for a, s in shares.items()},
                         {"a1": (0, 100, None, 0), "a2": (100, 100, None, 0),
                          "a3": (200, 100, None, 0)})
        a3 = shares["a3"]
        self.assertLessEqual(abs(a3["clock_offset_ns"] + 250 * MS), a3["clock_error_ns"], a3)
        self.assertLessEqual(abs(a3["start_error_ns"]),
                             a3["clock_error_ns"] + START_TOLERANCE_NS, a3)
        self.assertEqual(self.query(
            "SELECT agent_id, count(*) FROM requests WHERE run_id = ? GROUP BY 1",
            (summary["run_id"],)), [("a1", 100), ("a2", 100), ("a3", 100)])


if __name__ == "__main__":
    unittest.main()
