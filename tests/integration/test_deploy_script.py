"""System test of deploy/deploy.sh in --local mode, end to end.

Starts $STAMPEDE_BIN/stampede-lambda on 127.0.0.1:0 serving the real
bootstrap as stampede-burst-demo (the script's default function) and drives
it only through deploy.sh, which calls Debian's AWS CLI (/usr/bin/aws, put
first on PATH) with --endpoint-url. The scenario of issue 10:

  deploy; update-concurrency 7 -> a burst of 30 gives 7 ok / 23 throttled;
  update-concurrency unreserved -> 30 ok; setup-provisioned-concurrency 3
  -> READY, and the next burst has exactly 3 provisioned invocations, none
  a cold start; force-provisioned-cold-start 3 -> the next burst's 3
  provisioned environments are new ones; status, line by line; agents up 2
  / agents down; destroy.

Bursts go through `deploy.sh test -n 30 -- --json`; the rows are read from
the run's SQLite database. Also: bad arguments exit 2 with the usage, a
missing tool exits 3 naming it, an emulator without the function is
refused with the reason, and a deploy on a free loopback port starts its
own emulator that destroy stops. Every process the script starts is
checked stopped (the test is their subreaper: a leftover fails it).
"""
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import unittest

from stampede_testlib import RUNTIME_PRELUDE, SystemTest, binary, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "deploy", "deploy.sh")
AWS = "/usr/bin/aws"
FUNCTION = "stampede-burst-demo"
USAGE = "Usage: deploy.sh [--local[=ENDPOINT]] [--function NAME] [--yes] COMMAND [ARGS]"
EXIT_USAGE, EXIT_TOOL = 2, 3
READY_LINE = r"^provisioned concurrency on live: READY, allocated 3, available 3 of 3 \(\d+ s\)$"


# Custom runtimes whose provisioned environments initialise slowly (4 s)
# or fail to initialise; on-demand ones answer at once.
PROVISIONED = 'os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency"'
SERVE = r'''
while True:
    rid, event, _ = next_invocation()
    call("POST", "/invocation/%s/response" % rid, json.dumps({"statusCode": 200, "body": "{}"}))
'''
SLOW_INIT_FUNCTION = RUNTIME_PRELUDE + "if %s:\n    time.sleep(4)\n" % PROVISIONED + SERVE
BROKEN_INIT_FUNCTION = RUNTIME_PRELUDE + "if %s:\n    sys.exit(3)\n" % PROVISIONED + SERVE


# Stand-ins for terraform and aws in real-AWS mode (no account, no network
# here): each logs its argv as one JSON line to $STUB_LOG and answers what
# deploy.sh reads. The region is eu-west-2 only through the alias ARN.
TERRAFORM_STUB = r'''#!@PYTHON@
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(["terraform"] + sys.argv[1:]) + "\n")
outputs = {
    "alias_arn": "arn:aws:lambda:eu-west-2:123456789012:function:stampede-burst-demo:live",
    "function_url": "https://abc.lambda-url.eu-west-2.on.aws/",
    "http_api_url": "https://h1.execute-api.eu-west-2.amazonaws.com/",
    "rest_api_url": "https://r1.execute-api.eu-west-2.amazonaws.com/live/",
    "deployment": "burst-test",
}
args = sys.argv[2:]
if args[:2] == ["output", "-raw"]:
    if args[2] not in outputs:
        sys.exit(1)
    sys.stdout.write(outputs[args[2]])
'''
AWS_STUB = r'''#!@PYTHON@
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps(["aws"] + sys.argv[1:]) + "\n")
answers = {
    "get-function-concurrency": {"ReservedConcurrentExecutions": 10},
    "get-alias": {"Name": "live", "FunctionVersion": "4"},
}
operation = sys.argv[2]
if operation == "get-provisioned-concurrency-config":
    sys.stderr.write("\nAn error occurred (ProvisionedConcurrencyConfigNotFoundException) "
                     "when calling the GetProvisionedConcurrencyConfig operation: "
                     "No Provisioned Concurrency Config found for this function\n")
    sys.exit(254)
if operation in answers:
    print(json.dumps(answers[operation]))
'''


def free_port():
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_runs(pid, exe):
    """The process pid is alive and runs exe (a zombie does not count)."""
    try:
        return os.readlink("/proc/%d/exe" % pid) == exe
    except OSError:
        return False


@unittest.skipUnless(os.access(AWS, os.X_OK), "Debian's AWS CLI (/usr/bin/aws) is not installed")
class DeployScriptTest(SystemTest):

    def setUp(self):
        super().setUp()
        # A bin dir holding only the AWS CLI to use, ahead of the rest of
        # PATH (which may hold another `aws`).
        self.tools = self.path("tools")
        os.makedirs(self.tools)
        os.symlink(AWS, os.path.join(self.tools, "aws"))
        self.state = self.path("state")
        self.script_env = dict(self.env, HOME=self.path("home"),
                               PATH=self.tools + ":" + os.environ.get("PATH", "/usr/bin:/bin"),
                               STAMPEDE_DEPLOY_STATE=self.state, LANG="C.UTF-8")
        self.script_env.pop("STAMPEDE_CONTROLLER_URL", None)

    def deploy(self, *args, env=None, timeout=180):
        """Runs deploy.sh ARGS; returns the CompletedProcess."""
        return subprocess.run([SCRIPT] + list(args), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout,
                              env=env or self.script_env, cwd=self.tmp)

    def ok(self, *args):
        """deploy.sh ARGS must exit 0; returns its stdout lines."""
        result = self.deploy(*args)
        self.assertEqual(result.returncode, 0, "deploy.sh %s:\n%s%s"
                         % (" ".join(args), result.stdout, result.stderr))
        return result.stdout.splitlines()

    def start_emulator(self, functions=(FUNCTION,)):
        """stampede-lambda on 127.0.0.1:0 serving the demo function under
        each name, or (name, path) pairs; returns its base URL."""
        argv = [binary("stampede-lambda"), "--listen", "127.0.0.1:0"]
        for function in functions:
            name, path = function if isinstance(function, tuple) else (function,
                                                                       binary("bootstrap"))
            argv += ["--function", name + "=" + path]
        proc = self.procs.start(argv, env=self.env)
        line = proc.read_line("stampede-lambda listening on ")
        return line.split()[-1].rstrip("/")

    def burst(self, local, expect_ok, expect_throttled):
        """`deploy.sh test -n 30`; checks the counts, returns the run id."""
        lines = self.ok(local, "test", "-n", "30", "--", "--json")
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[0], r"^burst: 30 requests at http://127\.0\.0\.1:\d+/url/"
                         + FUNCTION + ":live/$")
        summary = json.loads(lines[1])
        got = {k: summary[k] for k in ("requested", "ok", "throttled", "errors", "lost",
                                       "status", "door")}
        self.assertEqual(got, {"requested": 30, "ok": expect_ok,
                               "throttled": expect_throttled, "errors": 0, "lost": 0,
                               "status": "completed", "door": "function_url"})
        self.assertEqual(summary["db"], os.path.join(self.state, "stampede.db"))
        return summary["run_id"]

    def rows(self, run_id):
        """(outcome, initialization_type, cold_start, environment_id) of
        every request of the run."""
        conn = sqlite3.connect(os.path.join(self.state, "stampede.db"))
        try:
            return conn.execute(
                "SELECT outcome, initialization_type, cold_start, environment_id "
                "FROM requests WHERE run_id = ? ORDER BY request_index", (run_id,)).fetchall()
        finally:
            conn.close()

    def provisioned_environments(self, run_id):
        """The environment ids of the run's provisioned invocations, which
        must be 3, ok and warm (no cold start)."""
        provisioned = [row for row in self.rows(run_id) if row[1] == "provisioned-concurrency"]
        self.assertEqual(len(provisioned), 3, self.rows(run_id))
        self.assertEqual({(row[0], row[2]) for row in provisioned}, {("ok", 0)})
        environments = {row[3] for row in provisioned}
        self.assertEqual(len(environments), 3, provisioned)
        return environments

    def status_lines(self, local, base, alias, provisioned, agents):
        lines = self.ok(local, "status")
        expected = [
            "target: stampede-lambda at " + base,
            "function: " + FUNCTION,
            "reserved concurrency: unreserved",
            "alias live: " + alias,
            "provisioned concurrency: " + provisioned,
            "function URL: %s/url/%s:live/" % (base, FUNCTION),
            "HTTP API URL: %s/httpapi/%s:live/" % (base, FUNCTION),
            "REST API URL: %s/restapi/%s:live/" % (base, FUNCTION),
        ] + agents
        self.assertEqual(lines, expected)

    def recorded_pid(self, name):
        """(pid, binary) deploy.sh recorded for one process it started."""
        with open(os.path.join(self.state, "pids", name)) as f:
            pid, exe = f.read().split()
        return int(pid), exe

    def test_local_scenario(self):
        base = self.start_emulator()
        local = "--local=" + base

        lines = self.ok(local, "deploy")
        self.assertEqual(lines[0], "deployed %s: version 1, alias live -> 1 at %s"
                         % (FUNCTION, base))

        self.assertEqual(self.ok(local, "update-concurrency", "7"),
                         ["reserved concurrency of %s: 7" % FUNCTION])
        self.burst(local, 7, 23)

        self.assertEqual(self.ok(local, "update-concurrency", "unreserved"),
                         ["reserved concurrency of %s: unreserved" % FUNCTION])
        self.burst(local, 30, 0)

        lines = self.ok(local, "setup-provisioned-concurrency", "3")
        self.assertRegex(lines[-1], READY_LINE)
        first = self.provisioned_environments(self.burst(local, 30, 0))

        lines = self.ok(local, "force-provisioned-cold-start", "3")
        self.assertEqual(lines[0], "alias live: version 1 -> 2")
        self.assertRegex(lines[-2], READY_LINE)
        self.assertEqual(lines[-1], "fresh provisioned environments: 3 on version 2")
        second = self.provisioned_environments(self.burst(local, 30, 0))
        self.assertEqual(first & second, set(), "the provisioned environments are not fresh")

        no_agents = ["agents running: none",
                     "agents connected: unknown (no controller; set STAMPEDE_CONTROLLER_URL)"]
        ready = "READY, requested 3, allocated 3, available 3"

        # Two local agents enrolled with a local controller.
        lines = self.ok(local, "agents", "up", "2")
        match = re.match(r"^controller: agents (tcp://127\.0\.0\.1:\d+), dashboard "
                         r"(http://127\.0\.0\.1:\d+) \(pid (\d+)\)$", lines[0])
        self.assertIsNotNone(match, lines)
        http = match.group(2)
        self.assertEqual(lines[1:], ["agents up: 2 connected to " + http])
        started = {name: self.recorded_pid(name)
                   for name in ("controller", "agent-local-1", "agent-local-2")}
        self.assertEqual(started["controller"][0], int(match.group(3)))
        for pid, exe in started.values():
            self.assertTrue(pid_runs(pid, exe), (pid, exe))
        self.status_lines(local, base, "version 2", ready, [
            "agents running: 2: local-1 (pid %d) local-2 (pid %d)"
            % (started["agent-local-1"][0], started["agent-local-2"][0]),
            "agents connected to %s: 2: local-1 local-2" % http])
        lines = self.ok(local, "agents", "down")
        self.assertEqual(lines, ["stopped agent-local-1 (pid %d)" % started["agent-local-1"][0],
                                 "stopped agent-local-2 (pid %d)" % started["agent-local-2"][0],
                                 "stopped controller (pid %d)" % started["controller"][0],
                                 "agents down"])
        for pid, exe in started.values():
            self.assertFalse(pid_runs(pid, exe), (pid, exe))
        self.status_lines(local, base, "version 2", ready, no_agents)

        # destroy: the emulator is not the script's, so it stays, stripped
        # of what deploy.sh set; the state directory goes.
        lines = self.ok(local, "destroy")
        self.assertEqual(lines, [
            "provisioned concurrency on live removed",
            "reserved concurrency of %s: unreserved" % FUNCTION,
            "alias live deleted",
            "%s stays in the emulator at %s with its published versions (stampede-lambda "
            "has no DeleteFunction; they go when it stops)" % (FUNCTION, base),
            "destroyed the local deployment of %s" % FUNCTION])
        self.assertFalse(os.path.exists(self.state))
        self.status_lines(local, base, "none", "none", no_agents)

    def test_deploy_starts_its_own_emulator_and_destroy_stops_it(self):
        base = "http://127.0.0.1:%d" % free_port()
        local = "--local=" + base
        lines = self.ok(local, "deploy")
        self.assertEqual(lines[:2], [
            "starting stampede-lambda on %s serving %s" % (base[len("http://"):], FUNCTION),
            "deployed %s: version 1, alias live -> 1 at %s" % (FUNCTION, base)])
        pid, exe = self.recorded_pid("emulator")
        self.assertEqual(exe, os.path.realpath(binary("stampede-lambda")))
        self.assertTrue(pid_runs(pid, exe))
        self.assertEqual(lines[2], "target: stampede-lambda at %s (started by deploy.sh, pid %d)"
                         % (base, pid))
        self.assertEqual(self.ok(local, "destroy"),
                         ["stopped emulator (pid %d)" % pid,
                          "destroyed the local deployment of %s" % FUNCTION])
        self.assertFalse(pid_runs(pid, exe))
        # Nothing answers any more: status says so and how to start one.
        result = self.deploy(local, "status")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertEqual(result.stderr,
                         "deploy.sh: nothing answers at %s: start stampede-lambda there "
                         "(stampede-lambda --listen %s --function %s=PATH/bootstrap), or run "
                         "'deploy.sh --local=%s deploy'\n"
                         % (base, base[len("http://"):], FUNCTION, base))

    def test_emulator_without_the_function_is_refused(self):
        base = self.start_emulator(functions=("demo",))
        result = self.deploy("--local=" + base, "deploy")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stderr,
                         "deploy.sh: the emulator at %s does not serve %s, and it cannot "
                         "create functions (no CreateFunction): restart it with --function "
                         "%s=PATH/bootstrap, or stop it and let 'deploy.sh --local=%s deploy' "
                         "start one\n" % (base, FUNCTION, FUNCTION, base))
        # An AWS error reaches the user with AWS's own message.
        base_ok = self.start_emulator()
        local = "--local=" + base_ok
        self.ok(local, "deploy")
        result = self.deploy(local, "update-concurrency", "950")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stderr,
                         "deploy.sh: setting reserved concurrency 950 on %s failed: An error "
                         "occurred (InvalidParameterValueException) when calling the "
                         "PutFunctionConcurrency operation (reached max retries: 0): Specified "
                         "ReservedConcurrentExecutions for function decreases account's "
                         "UnreservedConcurrentExecution below its minimum value of [100].\n"
                         % FUNCTION)

    def write_function(self, name, text):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text.replace("@PYTHON@", sys.executable))
        os.chmod(path, 0o755)
        return path

    def test_provisioned_wait_times_out_or_fails_with_the_reason(self):
        base = self.start_emulator([
            ("slow", self.write_function("slow", SLOW_INIT_FUNCTION)),
            ("broken", self.write_function("broken", BROKEN_INIT_FUNCTION))])
        local = "--local=" + base
        for name in ("slow", "broken"):
            self.ok(local, "--function", name, "deploy")

        # A bounded wait: 1 s is too short for environments that take 4 s.
        env = dict(self.script_env, STAMPEDE_DEPLOY_TIMEOUT="1")
        result = self.deploy(local, "--function", "slow", "setup-provisioned-concurrency", "2",
                             env=env)
        self.assertEqual(result.returncode, 4, result.stdout + result.stderr)
        self.assertRegex(result.stdout, r"^provisioned concurrency on live: IN_PROGRESS, "
                         r"allocated [0-2], available 0 of 2 \(\d+ s\)\n$")
        self.assertRegex(result.stderr, r"^deploy\.sh: provisioned concurrency on slow:live is "
                         r"still IN_PROGRESS, allocated [0-2], available 0 of 2 after 1 s; the "
                         r"config stays in place and Lambda goes on allocating: check with "
                         r"'deploy\.sh "
                         r"--local=%s --function slow status' \(STAMPEDE_DEPLOY_TIMEOUT sets "
                         r"the wait\)\n$" % re.escape(base))
        # It does become READY, and status says so.
        ready = "provisioned concurrency: READY, requested 2, allocated 2, available 2"
        wait_until(lambda: ready in self.ok(local, "--function", "slow", "status"), 30,
                   interval=0.5, what="slow:live READY")

        result = self.deploy(local, "--function", "broken", "setup-provisioned-concurrency", "1")
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertRegex(result.stderr, r"^deploy\.sh: provisioned concurrency on broken:live "
                         r"FAILED: FUNCTION_ERROR_INIT_FAILURE.*; the config stays on live: "
                         r"remove it with 'deploy\.sh --local=%s --function broken "
                         r"setup-provisioned-concurrency 0'\n$" % re.escape(base))
        self.assertEqual(self.ok(local, "--function", "broken", "setup-provisioned-concurrency",
                                 "0"), ["provisioned concurrency on live removed"])

    def test_aws_mode_passes_recorded_values_to_terraform(self):
        """Real-AWS mode with terraform and aws stand-ins: the concurrency
        commands are direct Lambda API calls in Terraform's region, and
        every apply/destroy gets back what they recorded."""
        tools = self.path("stubs")
        os.makedirs(tools)
        for name, text in (("terraform", TERRAFORM_STUB), ("aws", AWS_STUB)):
            self.write_function(os.path.join("stubs", name), text)
        log = self.path("stub.log")
        tf_dir = self.path("tf")
        os.makedirs(tf_dir)
        zipfile = self.path("function.zip")
        with open(zipfile, "wb") as f:
            f.write(b"PK")
        env = dict(self.script_env, PATH=tools + ":" + self.script_env["PATH"], STUB_LOG=log,
                   STAMPEDE_TERRAFORM_DIR=tf_dir, STAMPEDE_FUNCTION_ZIP=zipfile)
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "TF_VAR_region"):
            env.pop(name, None)

        def run(*args):
            open(log, "w").close()
            result = self.deploy(*args, env=env)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            with open(log) as f:
                return result.stdout.splitlines(), [json.loads(line) for line in f]

        def calls(logged, tool):
            return [argv[1:] for argv in logged if argv[0] == tool]

        tf = ["-chdir=" + tf_dir]
        base_vars = ["-var", "function_name=" + FUNCTION]
        zip_var = ["-var", "function_zip=" + zipfile]
        lambda_tail = ["--region", "eu-west-2", "--output", "json"]
        lines, logged = run("deploy")
        applies = [argv for argv in calls(logged, "terraform") if argv[1] != "output"]
        self.assertEqual(applies, [tf + ["init", "-input=false"],
                                   tf + ["apply", "-input=false", "-auto-approve"]
                                   + base_vars + zip_var])
        self.assertEqual(lines[-11:], [
            "target: AWS region eu-west-2",
            "function: " + FUNCTION,
            "reserved concurrency: 10",
            "alias live: version 4",
            "provisioned concurrency: none",
            "function URL: https://abc.lambda-url.eu-west-2.on.aws/",
            "HTTP API URL: https://h1.execute-api.eu-west-2.amazonaws.com/",
            "REST API URL: https://r1.execute-api.eu-west-2.amazonaws.com/live/",
            "agents on EC2: 0",
            "controller endpoint: none",
            "agents connected: unknown (no controller; set STAMPEDE_CONTROLLER_URL)"])
        self.assertEqual(calls(logged, "aws")[0],
                         ["lambda", "get-function-concurrency", "--function-name", FUNCTION]
                         + lambda_tail)

        lines, logged = run("update-concurrency", "10")
        self.assertEqual(lines, ["reserved concurrency of %s: 10" % FUNCTION])
        self.assertEqual(calls(logged, "aws"), [
            ["lambda", "put-function-concurrency", "--function-name", FUNCTION,
             "--reserved-concurrent-executions", "10"] + lambda_tail])
        lines, logged = run("setup-provisioned-concurrency", "0")
        self.assertEqual(lines, ["provisioned concurrency on live removed"])
        self.assertEqual(calls(logged, "aws"), [
            ["lambda", "get-alias", "--function-name", FUNCTION, "--name", "live"] + lambda_tail,
            ["lambda", "delete-provisioned-concurrency-config", "--function-name", FUNCTION,
             "--qualifier", "live"] + lambda_tail])
        lines, logged = run("agents", "up", "3")
        self.assertEqual(lines[-1], "agents on EC2: 3 (controller none)")
        recorded = ["-var", "reserved_concurrency=10", "-var", "provisioned_concurrency=0",
                    "-var", "agent_count=3"]
        self.assertIn(tf + ["apply", "-input=false", "-auto-approve"] + base_vars + recorded
                      + zip_var, calls(logged, "terraform"))

        run("update-concurrency", "unreserved")
        lines, logged = run("--yes", "destroy")
        recorded[1] = "reserved_concurrency=-1"
        self.assertIn(tf + ["destroy", "-input=false", "-auto-approve"] + base_vars + recorded
                      + zip_var, calls(logged, "terraform"))
        self.assertEqual(calls(logged, "aws"), [
            ["resourcegroupstaggingapi", "get-resources", "--region", "eu-west-2",
             "--tag-filters", "Key=stampede:deployment,Values=burst-test",
             "--query", "ResourceTagMappingList[].ResourceARN", "--output", "text"]])
        self.assertEqual(lines[-2:], [
            "terraform destroyed the AWS deployment of " + FUNCTION,
            "nothing tagged stampede:deployment=burst-test is left in eu-west-2"])
        self.assertFalse(os.path.exists(self.state))

    def test_bad_arguments_exit_2_with_usage(self):
        cases = [
            ((), "no command given"),
            (("launch",), "unknown command 'launch'"),
            (("--bogus", "status"), "unknown option '--bogus'"),
            (("status", "extra"), "status takes no arguments"),
            (("update-concurrency",), "update-concurrency needs N or 'unreserved'"),
            (("update-concurrency", "seven"),
             "update-concurrency: 'seven' is not a number from 0 to 100000 or 'unreserved'"),
            (("update-concurrency", "-1"), "unknown option '-1'"),
            (("update-concurrency", "007"),
             "update-concurrency: '007' is not a number from 0 to 100000 or 'unreserved'"),
            (("setup-provisioned-concurrency", "100001"),
             "setup-provisioned-concurrency: '100001' is not a number from 0 to 100000"),
            (("force-provisioned-cold-start", "0"),
             "force-provisioned-cold-start: '0' is not a number from 1 to 100000"),
            (("agents", "up"), "agents needs 'up K' or 'down'"),
            (("agents", "sideways"), "agents needs 'up K' or 'down'"),
            (("--local", "agents", "up", "65"), "agents up: '65' is not a number from 1 to 64"),
            (("test", "-n", "0"), "test -n: '0' is not a number from 1 to 1000000"),
            (("test", "-n"), "-n needs a number of requests"),
            (("test", "30"), "test takes only -n N (and stampede run options after '--')"),
            (("status", "-n", "3"), "status takes no arguments"),
            (("status", "--", "--json"), "only 'test' takes options after '--'"),
            (("--local=ftp://127.0.0.1:9000", "status"),
             "--local: ENDPOINT must be http://HOST:PORT, not 'ftp://127.0.0.1:9000'"),
            (("--function", "bad name", "status"),
             "--function: 'bad name' is not a Lambda function name (1-64 of A-Z a-z 0-9 - _)"),
            (("--function",), "--function needs a NAME"),
        ]
        for args, message in cases:
            result = self.deploy(*args)
            self.assertEqual((result.returncode, result.stdout), (EXIT_USAGE, ""), args)
            lines = result.stderr.splitlines()
            self.assertEqual(lines[0], "deploy.sh: " + message, args)
            self.assertEqual(lines[1], USAGE, args)
        # --help: the usage on stdout, exit 0, nothing on stderr.
        result = self.deploy("--help")
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertEqual(result.stdout.splitlines()[0], USAGE)
        self.assertFalse(os.path.exists(self.state), "bad usage must not touch the state")

    def restricted_path(self, *missing):
        """A PATH of one directory linking every program of /usr/bin and
        /bin but the names in missing."""
        bindir = self.path("bin-without-" + "-".join(missing))
        os.makedirs(bindir)
        for source in ("/usr/bin", "/bin"):
            for name in os.listdir(source):
                target = os.path.join(bindir, name)
                if name in missing or os.path.lexists(target):
                    continue
                os.symlink(os.path.join(source, name), target)
        return bindir

    def test_missing_tools_exit_3_naming_them(self):
        env = dict(self.script_env, PATH=self.restricted_path("aws", "terraform"))
        result = self.deploy("--local", "status", env=env)
        self.assertEqual((result.returncode, result.stdout), (EXIT_TOOL, ""), result.stderr)
        self.assertEqual(result.stderr,
                         "deploy.sh: aws is required but not found on PATH; install the AWS CLI "
                         "(Debian: apt-get install awscli; or https://docs.aws.amazon.com/cli/"
                         "latest/userguide/getting-started-install.html)\n")
        # Real-AWS mode needs Terraform (the AWS CLI is there).
        env = dict(self.script_env, PATH=self.tools + ":" + self.restricted_path("terraform"))
        result = self.deploy("deploy", env=env)
        self.assertEqual((result.returncode, result.stdout), (EXIT_TOOL, ""), result.stderr)
        self.assertEqual(result.stderr,
                         "deploy.sh: terraform is required but not found on PATH; install "
                         "Terraform (https://developer.hashicorp.com/terraform/install); "
                         "--local needs none\n")
        # The stampede binaries come from STAMPEDE_BIN when it is set.
        empty = self.path("empty-bin")
        os.makedirs(empty)
        env = dict(self.script_env, STAMPEDE_BIN=empty)
        result = self.deploy("--local", "test", env=env)
        self.assertEqual((result.returncode, result.stdout), (EXIT_TOOL, ""), result.stderr)
        self.assertEqual(result.stderr,
                         "deploy.sh: stampede is not in STAMPEDE_BIN (%s); build it with "
                         "'make build' or fix STAMPEDE_BIN\n" % empty)


if __name__ == "__main__":
    unittest.main()
