"""System test of `stampede sweep` and `stampede run --function` against
the real emulator: the original demo's four scenarios (reserved 5, 10, 50
and unreserved, 100 requests each) set through the emulator's Lambda
management API, exact counts for each, the setting put back, every run
recorded with its configured reserved concurrency; and the ways a sweep is
refused or stopped, each with its reason and exit status.
"""
import json
import os
import sqlite3
import urllib.request

from stampede_testlib import SystemTest

# The original demo's scenarios and what each gives: ok, throttled.
SCENARIOS = [(5, 5, 95), (10, 10, 90), (50, 50, 50), (None, 100, 0)]


class SweepTest(SystemTest):

    def setUp(self):
        super().setUp()
        # Requests go unsigned to the emulator: no credentials of the
        # machine's may leak into the test, nor change what it checks.
        self.env = {k: v for k, v in self.env.items() if not k.startswith("AWS_")}

    def reserved_now(self, base):
        """The demo function's reserved concurrency, from the API (None:
        unreserved)."""
        with urllib.request.urlopen(base + "/2019-09-30/functions/demo/concurrency",
                                    timeout=10) as resp:
            return json.loads(resp.read()).get("ReservedConcurrentExecutions")

    def sweep(self, base, db, extra=()):
        return self.run_cli(["sweep", "--url", base + "/url/demo/", "-n", "100",
                             "--function", "demo", "--lambda-endpoint", base,
                             "--db", db, "--keys", self.path("keys")] + list(extra),
                            timeout=300)

    def stored(self, db):
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT id, label, reserved_configured, outcome FROM runs"
                                " ORDER BY id").fetchall()
        finally:
            conn.close()

    def test_the_original_four_scenarios(self):
        base = self.start_lambda(reserved=7, extra=["--account-concurrency", "1000"])
        db = self.path("sweep.db")
        result = self.sweep(base, db)
        self.assertEqual(result.returncode, 0, result.stderr)
        table = result.stdout[result.stdout.index("\nsweep of demo"):].splitlines()[1:]
        self.assertEqual(table[0], "sweep of demo: 4 of 4 runs, 100 requests each")
        self.assertEqual(table[1].split(), ["reserved", "ok", "throttled", "errors",
                                            "lost", "success", "environments", "run",
                                            "outcome"])
        rows = [line.split() for line in table[2:6]]
        self.assertEqual(rows, [
            ["5", "5", "95", "0", "0", "5.0", "%", "5", "#1", "completed"],
            ["10", "10", "90", "0", "0", "10.0", "%", "10", "#2", "completed"],
            ["50", "50", "50", "0", "0", "50.0", "%", "50", "#3", "completed"],
            ["unreserved", "100", "0", "0", "0", "100.0", "%", "100", "#4", "completed"]])
        self.assertEqual(table[6:], ["reserved concurrency put back to 7"])
        self.assertEqual(self.reserved_now(base), 7)
        self.assertEqual(self.stored(db), [
            (1, "sweep reserved=5", 5, "completed"),
            (2, "sweep reserved=10", 10, "completed"),
            (3, "sweep reserved=50", 50, "completed"),
            (4, "sweep reserved=unreserved", -1, "completed")])

        # --json: one object; a function without reserved concurrency is put
        # back unreserved. `run --function` records what the function has.
        urllib.request.urlopen(urllib.request.Request(
            base + "/2017-10-31/functions/demo/concurrency", method="DELETE"), timeout=10)
        result = self.sweep(base, db, ["--reserved", "3,none", "--json"])
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(len(lines), 1, result.stdout)
        out = json.loads(lines[0])
        self.assertEqual({k: out[k] for k in ("function", "requests", "restored",
                                              "restored_reserved")},
                         {"function": "demo", "requests": 100, "restored": True,
                          "restored_reserved": None})
        self.assertEqual([(r["run_id"], r["reserved_configured"], r["ok"], r["throttled"],
                           r["outcome"]) for r in out["runs"]],
                         [(5, 3, 3, 97, "completed"), (6, -1, 100, 0, "completed")])
        self.assertIsNone(self.reserved_now(base))
        result = self.run_cli(["run", "--url", base + "/url/demo/", "-n", "10", "--json",
                               "--function", "demo", "--lambda-endpoint", base,
                               "--db", db, "--keys", self.path("keys")])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.stored(db)[-1], (7, None, -1, "completed"))

    def test_a_refused_value_stops_the_sweep_and_puts_the_setting_back(self):
        # 995 of an account of 1000 would leave less than the 100 AWS keeps
        # unreserved: the API refuses it; the run before it stands.
        base = self.start_lambda(reserved=7, extra=["--account-concurrency", "1000"])
        db = self.path("refused.db")
        result = self.sweep(base, db, ["--reserved", "5,995,10", "--json"])
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("stampede sweep: reserved concurrency 995: PutFunctionConcurrency: 400 "
                      "InvalidParameterValueException: ", result.stderr)
        out = json.loads(result.stdout)
        self.assertEqual([(r["reserved_configured"], r["ok"]) for r in out["runs"]],
                         [(5, 5)])
        self.assertEqual(out["restored"], True)
        self.assertEqual(self.reserved_now(base), 7)
        self.assertEqual(self.stored(db), [(1, "sweep reserved=5", 5, "completed")])

    def test_unknown_function_and_bad_usage(self):
        base = self.start_lambda(reserved=5)
        db = self.path("none.db")
        result = self.run_cli(["sweep", "--url", base + "/url/demo/", "-n", "10",
                               "--function", "nope", "--lambda-endpoint", base,
                               "--db", db, "--keys", self.path("keys")])
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("stampede sweep: GetFunctionConcurrency: 404 ResourceNotFoundException: "
                      "Function not found: ", result.stderr)
        self.assertFalse(os.path.exists(db))  # nothing ran
        url = base + "/url/demo/"
        for args, message in [
                (["sweep", "--url", url, "-n", "5"],
                 "stampede sweep: --function is required (the function to set)"),
                (["sweep", "--url", url, "-n", "5", "--function", "demo",
                  "--lambda-endpoint", base, "--reserved", "5,x"],
                 "stampede sweep: --reserved must be comma-separated values from 0 to "
                 "100000 or none, got 'x'"),
                (["sweep", "--url", url, "-n", "5", "--function", "demo",
                  "--lambda-endpoint", base, "--reserved", ",".join(["1"] * 17)],
                 "stampede sweep: --reserved takes at most 16 values"),
                (["sweep", "--url", url, "-n", "5", "--function", "demo"],
                 "stampede sweep: give --lambda-endpoint, or a region (--region, "
                 "AWS_REGION) for AWS's endpoint"),
                (["sweep", "--url", url, "-n", "5", "--function", "demo",
                  "--region", "eu-west-1"],
                 "stampede sweep: https://lambda.eu-west-1.amazonaws.com is not on this "
                 "host: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to sign the "
                 "requests"),
                (["sweep", "--url", url, "-n", "5", "--function", "a/b",
                  "--lambda-endpoint", base],
                 "stampede sweep: --function must be a function name or ARN"),
                (["run", "--url", url, "-n", "5", "--lambda-endpoint", base],
                 "stampede run: --lambda-endpoint and --region go with --function")]:
            with self.subTest(args=args):
                result = self.run_cli(args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(message, result.stderr)
                self.assertEqual(result.stdout, "")
        self.assertEqual(self.reserved_now(base), 5)


if __name__ == "__main__":
    import unittest
    unittest.main()
