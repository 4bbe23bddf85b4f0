"""System test: the real AWS CLI drives stampede-lambda.

Starts $STAMPEDE_BIN/stampede-lambda on 127.0.0.1:0 with the real bootstrap
as function "demo" and runs Debian's AWS CLI (/usr/bin/aws, not whatever
`aws` is first on PATH) against it with --endpoint-url: every management
operation the emulator serves, the errors as the CLI prints them, and the
headline scenario - reserved concurrency 10, version 1, alias "live",
provisioned concurrency 4 on it, then 30 simultaneous Invoke requests:
exactly 10 run (4 on provisioned environments, 6 on new on-demand ones)
and 20 are throttled with AWS's 429.

The CLI gets a fresh HOME, fixed test credentials, one attempt per call
(AWS_MAX_ATTEMPTS=1: it would otherwise retry throttles) and no pager.
Every call is bounded in time; tearDown stops the emulator by pid and
checks that nothing it started is left behind.
"""
import http.client
import json
import os
import subprocess
import threading
import unittest

from stampede_testlib import LAMBDA_READY, SystemTest, binary, function_facts, wait_until

AWS = "/usr/bin/aws"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
# The runtime version every function reports: SHA-256 of "provided.al2023".
RUNTIME_VERSION = {"RuntimeVersionArn": "arn:aws:lambda:us-east-1::runtime:"
                   "0c7a6b68ae8de5940afe217dbb81f77b9fcad26466e440a79ad48af42a49669c"}
# What UpdateFunctionConfiguration answers (AWS: the update is under way).
IN_PROGRESS = {"LastUpdateStatus": "InProgress",
               "LastUpdateStatusReason": "The function is being created.",
               "LastUpdateStatusReasonCode": "Creating"}
CLI_ERROR = 254  # the CLI's exit status for an error answer of the service
# With one attempt allowed, botocore marks every error answer as having
# reached the retry limit, and the CLI says so in its message.
RETRIES = " (reached max retries: 0)"


@unittest.skipUnless(os.access(AWS, os.X_OK), "Debian's AWS CLI (/usr/bin/aws) is not installed")
class AwsCliTest(SystemTest):

    def setUp(self):
        super().setUp()
        home = self.path("home")
        os.makedirs(home)
        self.cli_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "LANG": "C.UTF-8",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def tearDown(self):
        # The emulator must exit cleanly on SIGTERM (a sanitizer build exits
        # non-zero on any finding); then the base class checks for leftovers.
        codes = [proc.stop() for proc in reversed(self.procs.procs)]
        super().tearDown()
        self.assertEqual(codes, [0] * len(codes), "exit status of stampede-lambda")

    def start(self, *extra):
        """stampede-lambda serving demo; sets self.url and self.port."""
        proc = self.procs.start([binary("stampede-lambda"), "--listen", "127.0.0.1:0",
                                 "--function", "demo=" + binary("bootstrap")] + list(extra),
                                env=self.env)
        line = proc.read_line(LAMBDA_READY)
        self.url = line[len(LAMBDA_READY):].strip().rstrip("/")
        self.assertRegex(self.url, r"^http://127\.0\.0\.1:\d+$")
        self.port = int(self.url.rsplit(":", 1)[1])

    def request(self, method, path, body=None):
        """(status, headers lower-cased, body) of one plain HTTP request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def get(self, path):
        """(status, body) of one plain GET to the emulator."""
        status, _, body = self.request("GET", path)
        return status, body

    def cli(self, *args):
        """Runs `/usr/bin/aws lambda ARGS`; returns the CompletedProcess."""
        return subprocess.run([AWS, "lambda"] + list(args) +
                              ["--endpoint-url", self.url, "--output", "json"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60, env=self.cli_env, cwd=self.tmp)

    def ok(self, *args):
        """`aws lambda ARGS` that must succeed; its JSON output, or None."""
        result = self.cli(*args)
        self.assertEqual(result.returncode, 0, "aws lambda %s: %s" % (args, result.stderr))
        return json.loads(result.stdout) if result.stdout.strip() else None

    def fails(self, operation, error_type, message, *args):
        """`aws lambda ARGS` that must fail with the service's error, as the
        CLI prints it. `message` None: any message."""
        result = self.cli(*args)
        self.assertEqual(result.returncode, CLI_ERROR, result.stderr + result.stdout)
        head = "An error occurred (%s) when calling the %s operation%s: " % (
            error_type, operation, RETRIES)
        text = result.stderr.strip()
        if message is None:
            self.assertTrue(text.startswith(head), text)
        else:
            self.assertEqual(text, head + message)
        return text

    def test_functions_and_configuration(self):
        self.start("--env", "GREETING=hi")
        function = self.ok("get-function", "--function-name", "demo")
        config = function["Configuration"]
        self.assertEqual(config["FunctionName"], "demo")
        self.assertEqual(config["FunctionArn"], ARN + "demo")
        self.assertEqual(config["Runtime"], "provided.al2023")
        self.assertEqual(config["Role"], "arn:aws:iam::123456789012:role/stampede-lambda")
        self.assertEqual(config["Handler"], "bootstrap")
        self.assertEqual(config["CodeSize"], os.path.getsize(binary("bootstrap")))
        self.assertEqual(config["Version"], "$LATEST")
        self.assertEqual(config["Timeout"], 3)
        self.assertEqual(config["MemorySize"], 128)
        self.assertEqual(config["Environment"], {"Variables": {"GREETING": "hi"}})
        self.assertEqual(config["State"], "Active")
        self.assertEqual(config["LastUpdateStatus"], "Successful")
        self.assertEqual(config["PackageType"], "Zip")
        self.assertEqual(config["Architectures"], ["x86_64"])
        self.assertEqual(config["EphemeralStorage"], {"Size": 512})
        self.assertEqual(config["TracingConfig"], {"Mode": "PassThrough"})
        self.assertEqual(config["SnapStart"], {"ApplyOn": "None", "OptimizationStatus": "Off"})
        self.assertEqual(config["RuntimeVersionConfig"], RUNTIME_VERSION)
        self.assertNotIn("LastUpdateStatusReason", config)
        self.assertRegex(config["LastModified"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        # This CLI's model predates LoggingConfig and drops it: read it raw.
        status, raw = self.get("/2015-03-31/functions/demo/configuration")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(raw)["LoggingConfig"],
                         {"LogFormat": "Text", "LogGroup": "/aws/lambda/demo"})
        self.assertEqual(function["Code"]["RepositoryType"], "S3")
        self.assertNotIn("Concurrency", function)

        # By full ARN (the CLI percent-encodes its ':') and partial ARN.
        by_arn = self.ok("get-function-configuration", "--function-name", ARN + "demo")
        self.assertEqual(by_arn, config)
        partial = self.ok("get-function-configuration", "--function-name",
                          "123456789012:function:demo")
        self.assertEqual(partial["FunctionArn"], ARN + "demo")

        listed = self.ok("list-functions")
        self.assertEqual([f["FunctionName"] for f in listed["Functions"]], ["demo"])
        self.assertNotIn("State", listed["Functions"][0])
        self.assertNotIn("RuntimeVersionConfig", listed["Functions"][0])

        updated = self.ok("update-function-configuration", "--function-name", "demo",
                          "--timeout", "30", "--memory-size", "256", "--description", "burst",
                          "--environment", "Variables={STAMPEDE_HOLD_MS=5,MODE=test}")
        self.assertEqual((updated["Timeout"], updated["MemorySize"], updated["Description"]),
                         (30, 256, "burst"))
        self.assertEqual(updated["Environment"],
                         {"Variables": {"STAMPEDE_HOLD_MS": "5", "MODE": "test"}})
        self.assertNotEqual(updated["RevisionId"], config["RevisionId"])
        self.assertEqual({k: updated[k] for k in IN_PROGRESS}, IN_PROGRESS)
        self.assertEqual(updated["RuntimeVersionConfig"], RUNTIME_VERSION)
        # The update is applied at once: the next read says Successful, which
        # is what the CLI's waiters poll for (GetFunctionConfiguration, and
        # GetFunction for the v2 waiter).
        for waiter in ("function-updated", "function-updated-v2"):
            result = self.cli("wait", waiter, "--function-name", "demo")
            self.assertEqual((result.returncode, result.stdout, result.stderr), (0, "", ""),
                             waiter)
        again = self.ok("get-function-configuration", "--function-name", "demo")
        self.assertEqual(again["LastUpdateStatus"], "Successful")
        self.assertEqual({k: v for k, v in again.items() if k not in IN_PROGRESS},
                         {k: v for k, v in updated.items() if k not in IN_PROGRESS})

        # Errors the service sends, as the CLI prints them.
        self.fails("GetFunction", "ResourceNotFoundException",
                   "Function not found: " + ARN + "nope",
                   "get-function", "--function-name", "nope")
        self.fails("GetFunctionConfiguration", "ResourceNotFoundException",
                   "Function not found: " + ARN + "demo:7",
                   "get-function-configuration", "--function-name", "demo", "--qualifier", "7")
        self.fails("UpdateFunctionConfiguration", "ValidationException",
                   "1 validation error detected: Value '901' at 'timeout' failed to satisfy "
                   "constraint: Member must have value less than or equal to 900",
                   "update-function-configuration", "--function-name", "demo",
                   "--timeout", "901")
        self.fails("UpdateFunctionConfiguration", "ValidationException",
                   "1 validation error detected: Value '20000' at 'memorySize' failed to "
                   "satisfy constraint: Member must have value less than or equal to 10240",
                   "update-function-configuration", "--function-name", "demo",
                   "--memory-size", "20000")
        self.fails("UpdateFunctionConfiguration", "InvalidParameterValueException",
                   "Lambda was unable to configure your environment variables because the "
                   "environment variables you have provided contains reserved keys that are "
                   "currently not supported for modification. Reserved keys used in this "
                   "request: AWS_REGION",
                   "update-function-configuration", "--function-name", "demo",
                   "--environment", "Variables={AWS_REGION=eu-west-1}")
        self.fails("UpdateFunctionConfiguration", "PreconditionFailedException",
                   "The Revision Id provided does not match the latest Revision Id. Call the "
                   "GetFunction/GetAlias API to retrieve the latest Revision Id",
                   "update-function-configuration", "--function-name", "demo",
                   "--timeout", "5", "--revision-id", config["RevisionId"])
        self.fails("GetFunction", "ValidationException",
                   "1 validation error detected: Value 'bad name' at 'functionName' failed to "
                   "satisfy constraint: Member must satisfy regular expression pattern: "
                   "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
                   "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
                   "get-function", "--function-name", "bad name")
        # What the CLI cannot send: a body that is not JSON, one over the cap,
        # an operation that does not exist.
        status, headers, body = self.request("PUT", "/2015-03-31/functions/demo/configuration",
                                             b'{"Timeout":')
        self.assertEqual((status, headers.get("x-amzn-errortype")),
                         (400, "InvalidRequestContentException"))
        self.assertTrue(json.loads(body)["message"].startswith(
            "Could not parse request body into json: "), body)
        status, headers, body = self.request("PUT", "/2015-03-31/functions/demo/configuration",
                                             b"{" + b" " * 262144 + b"}")
        self.assertEqual((status, headers.get("x-amzn-errortype")),
                         (413, "RequestEntityTooLargeException"))
        self.assertTrue(json.loads(body)["message"].startswith(
            "Request must be smaller than 262144 bytes"), body)
        status, headers, body = self.request("DELETE", "/2015-03-31/functions/demo")
        self.assertEqual((status, headers.get("x-amzn-errortype"), json.loads(body)),
                         (404, "UnknownOperationException",
                          {"Type": "User", "message": "Unknown operation"}))
        # ResourceNotFoundException names its message "Message", as AWS does.
        status, headers, body = self.request("GET", "/2015-03-31/functions/nope")
        self.assertEqual((status, headers.get("x-amzn-errortype"), json.loads(body)),
                         (404, "ResourceNotFoundException",
                          {"Type": "User", "Message": "Function not found: " + ARN + "nope"}))
        # Nothing changed by the refused updates.
        self.assertEqual(self.ok("get-function-configuration", "--function-name", "demo"),
                         again)


    def test_concurrency_versions_aliases(self):
        self.start()
        # No reservation: the service answers {}, which the CLI prints as nothing.
        self.assertIsNone(self.ok("get-function-concurrency", "--function-name", "demo"))
        self.assertEqual(self.get("/2019-09-30/functions/demo/concurrency"), (200, b"{}"))
        self.assertEqual(self.ok("put-function-concurrency", "--function-name", "demo",
                                 "--reserved-concurrent-executions", "10"),
                         {"ReservedConcurrentExecutions": 10})
        self.assertEqual(self.ok("get-function-concurrency", "--function-name", "demo"),
                         {"ReservedConcurrentExecutions": 10})
        function = self.ok("get-function", "--function-name", "demo")
        self.assertEqual(function["Concurrency"], {"ReservedConcurrentExecutions": 10})
        settings = self.ok("get-account-settings")
        self.assertEqual(settings["AccountLimit"], {
            "TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800, "ConcurrentExecutions": 1000,
            "UnreservedConcurrentExecutions": 990})
        self.assertEqual(settings["AccountUsage"]["FunctionCount"], 1)
        self.fails("PutFunctionConcurrency", "InvalidParameterValueException", None,
                   "put-function-concurrency", "--function-name", "demo",
                   "--reserved-concurrent-executions", "950")
        self.assertIsNone(self.ok("delete-function-concurrency", "--function-name", "demo"))
        self.assertIsNone(self.ok("get-function-concurrency", "--function-name", "demo"))
        self.assertEqual(self.ok("get-account-settings")["AccountLimit"]
                         ["UnreservedConcurrentExecutions"], 1000)

        version = self.ok("publish-version", "--function-name", "demo", "--description", "one")
        self.assertEqual((version["Version"], version["FunctionArn"], version["Description"]),
                         ("1", ARN + "demo:1", "one"))
        self.ok("update-function-configuration", "--function-name", "demo", "--timeout", "9")
        self.assertEqual(self.ok("publish-version", "--function-name", "demo")["Version"], "2")
        # Page size 1: the CLI follows NextMarker through every page.
        versions = self.ok("list-versions-by-function", "--function-name", "demo",
                           "--page-size", "1")
        self.assertEqual([(v["Version"], v["FunctionArn"], v["Timeout"])
                          for v in versions["Versions"]],
                         [("$LATEST", ARN + "demo:$LATEST", 9), ("1", ARN + "demo:1", 3),
                          ("2", ARN + "demo:2", 9)])
        everything = self.ok("list-functions", "--function-version", "ALL", "--page-size", "2")
        self.assertEqual([f["Version"] for f in everything["Functions"]], ["$LATEST", "1", "2"])

        alias = self.ok("create-alias", "--function-name", "demo", "--name", "live",
                        "--function-version", "1", "--description", "production")
        self.assertEqual({k: v for k, v in alias.items() if k != "RevisionId"},
                         {"AliasArn": ARN + "demo:live", "Name": "live", "FunctionVersion": "1",
                          "Description": "production"})
        self.assertEqual(self.ok("get-alias", "--function-name", "demo", "--name", "live"),
                         alias)
        self.fails("CreateAlias", "ResourceConflictException", None, "create-alias",
                   "--function-name", "demo", "--name", "live", "--function-version", "1")
        moved = self.ok("update-alias", "--function-name", "demo", "--name", "live",
                        "--function-version", "2")
        self.assertEqual(moved["FunctionVersion"], "2")
        self.assertEqual(moved["Description"], "production")
        self.ok("create-alias", "--function-name", "demo", "--name", "canary",
                "--function-version", "1")
        aliases = self.ok("list-aliases", "--function-name", "demo")
        self.assertEqual(sorted(a["Name"] for a in aliases["Aliases"]), ["canary", "live"])
        only_one = self.ok("list-aliases", "--function-name", "demo", "--function-version", "1")
        self.assertEqual([a["Name"] for a in only_one["Aliases"]], ["canary"])
        by_alias = self.ok("get-function-configuration", "--function-name", "demo",
                           "--qualifier", "live")
        self.assertEqual((by_alias["Version"], by_alias["FunctionArn"], by_alias["Timeout"]),
                         ("2", ARN + "demo:live", 9))
        self.assertIsNone(self.ok("delete-alias", "--function-name", "demo", "--name", "canary"))
        self.fails("GetAlias", "ResourceNotFoundException", None,
                   "get-alias", "--function-name", "demo", "--name", "canary")
        self.fails("CreateAlias", "ValidationException",
                   "1 validation error detected: Value '12' at 'name' failed to satisfy "
                   "constraint: Member must satisfy regular expression pattern: "
                   "(?!^[0-9]+$)([a-zA-Z0-9-_]+)",
                   "create-alias", "--function-name", "demo", "--name", "12",
                   "--function-version", "1")

        # Provisioned concurrency: refused on $LATEST, listed, deleted.
        self.fails("PutProvisionedConcurrencyConfig", "InvalidParameterValueException", None,
                   "put-provisioned-concurrency-config", "--function-name", "demo",
                   "--qualifier", "$LATEST", "--provisioned-concurrent-executions", "1")
        self.fails("GetProvisionedConcurrencyConfig",
                   "ProvisionedConcurrencyConfigNotFoundException", None,
                   "get-provisioned-concurrency-config", "--function-name", "demo",
                   "--qualifier", "live")
        put = self.ok("put-provisioned-concurrency-config", "--function-name", "demo",
                      "--qualifier", "live", "--provisioned-concurrent-executions", "1")
        self.assertEqual(put["RequestedProvisionedConcurrentExecutions"], 1)
        self.assertIn(put["Status"], ("IN_PROGRESS", "READY"))
        listed = self.ok("list-provisioned-concurrency-configs", "--function-name", "demo")
        self.assertEqual([c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]],
                         [ARN + "demo:live"])
        self.assertIsNone(self.ok("delete-provisioned-concurrency-config", "--function-name",
                                  "demo", "--qualifier", "live"))
        self.assertEqual(self.ok("list-provisioned-concurrency-configs", "--function-name",
                                 "demo")["ProvisionedConcurrencyConfigs"], [])
        self.assertIsNone(self.ok("delete-alias", "--function-name", "demo", "--name", "live"))
        self.assertEqual(self.ok("list-aliases", "--function-name", "demo")["Aliases"], [])

    def test_provisioned_burst(self):
        self.start("--env", "STAMPEDE_HOLD_MS=2000")
        self.ok("put-function-concurrency", "--function-name", "demo",
                "--reserved-concurrent-executions", "10")
        self.assertEqual(self.ok("publish-version", "--function-name", "demo")["Version"], "1")
        self.ok("create-alias", "--function-name", "demo", "--name", "live",
                "--function-version", "1")
        put = self.ok("put-provisioned-concurrency-config", "--function-name", "demo",
                      "--qualifier", "live", "--provisioned-concurrent-executions", "4")
        self.assertEqual(put["RequestedProvisionedConcurrentExecutions"], 4)

        def ready():
            config = self.ok("get-provisioned-concurrency-config", "--function-name", "demo",
                             "--qualifier", "live")
            return config if config["Status"] == "READY" else None

        config = wait_until(ready, 60, interval=0.2, what="provisioned concurrency READY")
        self.assertEqual((config["AvailableProvisionedConcurrentExecutions"],
                          config["AllocatedProvisionedConcurrentExecutions"]), (4, 4))

        results = self.burst(30, "/2015-03-31/functions/demo/invocations?Qualifier=live")
        ok = [r for r in results if r[0] == 200]
        throttled = [r for r in results if r[0] == 429]
        self.assertEqual((len(ok), len(throttled)), (10, 20),
                         [(status, body[:200]) for status, _, body in results])
        # The Invoke API passes the function's proxy response through whole.
        answers = [function_facts(body) for _, _, body in ok]
        provisioned = [a for a in answers
                       if a["initialization_type"] == "provisioned-concurrency"]
        on_demand = [a for a in answers if a["initialization_type"] == "on-demand"]
        self.assertEqual((len(provisioned), len(on_demand)), (4, 6))
        self.assertTrue(all(a["cold_start"] is False for a in provisioned))
        self.assertTrue(all(a["cold_start"] is True for a in on_demand))
        self.assertEqual([a["invocation_count"] for a in answers], [1] * 10)
        self.assertEqual(sorted(a["request_id"] for a in answers),
                         sorted(headers["x-amzn-requestid"] for _, headers, _ in ok))
        self.assertEqual(len({a["environment_id"] for a in answers}), 10)
        for _, headers, body in throttled:
            self.assertEqual(headers.get("x-amzn-errortype"), "TooManyRequestsException")
            self.assertEqual(json.loads(body),
                             {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                              "Type": "User", "message": "Rate Exceeded."})

    def test_cli_invoke(self):
        self.start("--env", "STAMPEDE_HOLD_MS=0")
        self.ok("publish-version", "--function-name", "demo")
        out = self.path("answer.json")
        result = self.ok("invoke", "--function-name", "demo", "--qualifier", "1",
                         "--cli-binary-format", "raw-in-base64-out", "--payload", '{"a":1}', out)
        self.assertEqual(result["StatusCode"], 200)
        self.assertEqual(result["ExecutedVersion"], "1")
        self.assertNotIn("FunctionError", result)
        # The CLI writes the payload as the function answered it: the whole
        # proxy response.
        with open(out) as answer:
            payload = function_facts(answer.read())
        self.assertEqual(payload["initialization_type"], "on-demand")
        self.assertIs(payload["cold_start"], True)
        self.assertEqual(payload["invocation_count"], 1)
        self.fails("Invoke", "ResourceNotFoundException", "Function not found: " + ARN + "nope",
                   "invoke", "--function-name", "nope", out)

    def burst(self, count, path):
        """`count` simultaneous POSTs, released together; (status, headers
        lower-cased, body) each."""
        barrier = threading.Barrier(count)
        results = [None] * count

        def shoot(i):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                conn.connect()
                barrier.wait(30)
                conn.request("POST", path, body=b"{}",
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                results[i] = (resp.status, {k.lower(): v for k, v in resp.getheaders()},
                              resp.read())
            except Exception as error:  # a failure is a result, checked by the caller
                results[i] = (0, {}, repr(error).encode())
            finally:
                conn.close()

        threads = [threading.Thread(target=shoot, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertFalse(any(thread.is_alive() for thread in threads), "a request hung")
        return results


if __name__ == "__main__":
    unittest.main(verbosity=2)
