"""System test of every front door of stampede-lambda on one listener.

Starts $STAMPEDE_BIN/stampede-lambda on 127.0.0.1:0 with a reserved-5
function, unreserved ones, a reserved-0 one and a small account limit, and
drives each door over HTTP - Function URL (/url/), API Gateway REST API
(/restapi/, payload 1.0), HTTP API (/httpapi/, payload 2.0), the Invoke API
(POST /2015-03-31/functions/FN/invocations) and the management API -
asserting AWS's exact statuses, headers and bodies: 20 simultaneous requests
to the reserved-5 function give 5 answers and 15 throttles on every door,
each door throttling the way AWS does; the unreserved pool throttles with
ConcurrentInvocationLimitExceeded; Event, DryRun, Tail; function errors;
the events a Python runtime sees. Every process is stopped in tearDown,
which checks that none is left behind.
"""
import base64
import http.client
import json
import os
import sys
import time
import unittest

from stampede_testlib import (FACTS, LAMBDA_READY, RUNTIME_PRELUDE, SystemTest, binary, burst,
                              function_facts, http_request, raw_exchange, wait_until)

INVOKE = "/2015-03-31/functions/%s/invocations"
STREAMING = "/2021-11-15/functions/%s/response-streaming-invocations"
# Lambda's request payload limits (lambda/emulator/base/emu_limits.h).
PAYLOAD_MAX = 6291456
EVENT_PAYLOAD_MAX = 1048576
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
URL_THROTTLE = b'{"Message":"Rate Exceeded."}'
REST_THROTTLE = b'{"message": "Internal server error"}'
HTTP_THROTTLE = b'{"message":"Internal Server Error"}'

# A Python custom runtime that holds each invocation STAMPEDE_HOLD_MS and
# echoes what it got: gateway and Function URL events as a structured
# answer (a path ending in /error fails instead), Invoke API payloads as
# {"event", "request_id"} ({"fail": true} fails, {"touch": PATH} writes
# PATH first, {"version?": true} adds the version that runs), plus
# "client_context", the Lambda-Runtime-Client-Context header it got, when
# there was one.
ECHO_FUNCTION = RUNTIME_PRELUDE + r'''
hold = int(os.environ.get("STAMPEDE_HOLD_MS", "0")) / 1000.0

while True:
    rid, event, headers = next_invocation()
    time.sleep(hold)
    gateway = isinstance(event, dict) and ("httpMethod" in event or event.get("version") == "2.0")
    path = (event.get("path") or event.get("rawPath") or "") if gateway else ""
    failing = path.endswith("/error") or (isinstance(event, dict) and event.get("fail"))
    if failing:
        call("POST", "/invocation/%s/error" % rid,
             json.dumps({"errorMessage": "boom", "errorType": "TestError"}))
        continue
    if isinstance(event, dict) and "touch" in event:
        with open(event["touch"], "w") as mark:
            mark.write(rid)
    print("handled %s" % rid, flush=True)
    answer = {"event": event, "request_id": rid}
    if "lambda-runtime-client-context" in headers:
        answer["client_context"] = headers["lambda-runtime-client-context"]
    if isinstance(event, dict) and event.get("version?"):
        answer["version"] = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    if gateway:
        answer = {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                  "body": json.dumps(answer)}
    call("POST", "/invocation/%s/response" % rid, json.dumps(answer))
'''


def request(port, method, path, body=None, headers=None, timeout=30):
    """One request on a fresh connection: (status, lower-cased headers, body)."""
    return http_request(port, method, path, body, headers, timeout)[:3]


class DoorsTest(SystemTest):

    def start_emulator(self, *args):
        """stampede-lambda with `args`; returns its port."""
        proc = self.procs.start([binary("stampede-lambda"), "--listen", "127.0.0.1:0"]
                                + list(args), env=self.env)
        line = proc.read_line(LAMBDA_READY, timeout=10)
        return int(line.rsplit(":", 1)[1])

    def echo_function(self):
        path = self.path("echo-bootstrap")
        with open(path, "w") as script:
            script.write(ECHO_FUNCTION.replace("@PYTHON@", sys.executable))
        os.chmod(path, 0o755)
        return path

    def check_common(self, headers):
        self.assertGreater(int(headers["x-stampede-received-ns"]), 1600000000 * 10**9)
        self.assertRegex(headers["x-amzn-requestid"],
                         r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

    def check_wave(self, results, ok_status, throttle_status, throttle_body, ok, throttled):
        statuses = [r[0] for r in results]
        self.assertEqual(statuses.count(ok_status), ok, statuses)
        self.assertEqual(statuses.count(throttle_status), throttled, statuses)
        for status, headers, body in results:
            self.check_common(headers)
            if status == throttle_status:
                self.assertEqual(body, throttle_body)
        return [(h, b) for s, h, b in results if s == ok_status]

    def wait_idle(self):
        """Environments are back in /next a moment after they answered."""
        time.sleep(0.4)

    # --- throttles, door by door ---------------------------------------------

    def test_reserved_5_burst_on_every_door(self):
        echo = self.echo_function()
        log = self.path("access.log")
        port = self.start_emulator("--function", "f=" + echo, "--reserved", "5", "--env",
                                   "STAMPEDE_HOLD_MS=1500", "--access-log", log)
        reserved = b'{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded",' \
                   b'"Type":"User","message":"Rate Exceeded."}'
        doors = [
            ("POST", INVOKE % "f", {"k": 1}, 200, 429, reserved, "TooManyRequestsException"),
            ("GET", "/url/f/burst", None, 200, 429, URL_THROTTLE, "TooManyRequestsException"),
            ("GET", "/restapi/f/burst", None, 200, 500, REST_THROTTLE,
             "InternalServerErrorException"),
            ("GET", "/httpapi/f/burst", None, 200, 500, HTTP_THROTTLE, None),
        ]
        environments = None
        for method, path, body, ok, throttle, throttle_body, error_type in doors:
            results = burst(port, method, path, 20, body)
            answers = self.check_wave(results, ok, throttle, throttle_body, 5, 15)
            for status, headers, data in results:
                if status == throttle:
                    self.assertEqual(headers.get("x-amzn-errortype"), error_type, path)
                    self.assertEqual(headers["content-type"], "application/json")
            ids = set()
            for headers, data in answers:
                doc = json.loads(data)
                if path.startswith("/2015"):
                    self.assertEqual(headers["x-amz-executed-version"], "$LATEST")
                    self.assertEqual(doc["event"], {"k": 1})
                    self.assertEqual(doc["request_id"], headers["x-amzn-requestid"])
                ids.add(doc["request_id"])
            self.assertEqual(len(ids), 5)
            self.wait_idle()
        # The access log says which door answered each request.
        with open(log) as text:
            lines = [json.loads(line) for line in text]
        self.assertEqual(len(lines), 80)
        for index, door in enumerate(["invoke", "url", "restapi", "httpapi"]):
            wave = lines[index * 20:(index + 1) * 20]
            self.assertEqual({line["door"] for line in wave}, {door})
            self.assertEqual({line["function"] for line in wave}, {"f"})
            self.assertEqual(list(wave[0]), ["received_ns", "answered_ns", "status",
                                             "function", "request_id", "door"])

    def test_reserved_0_and_the_unreserved_pool(self):
        port = self.start_emulator(
            "--account-concurrency", "105",
            "--function", "f=" + binary("bootstrap"), "--reserved", "5",
            "--function", "z=" + binary("bootstrap"), "--reserved", "0",
            "--function", "u=" + binary("bootstrap"), "--env", "STAMPEDE_HOLD_MS=1500")
        # Reserved concurrency 0 throttles every synchronous invoke, on
        # every door.
        for _ in range(3):
            status, headers, body = request(port, "POST", INVOKE % "z", "{}")
            self.check_common(headers)
            self.assertEqual(status, 429)
            self.assertEqual(headers["x-amzn-errortype"], "TooManyRequestsException")
            self.assertEqual(json.loads(body), {
                "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                "Type": "User", "message": "Rate Exceeded."})
        for path, status, body in [("/url/z/", 429, URL_THROTTLE),
                                   ("/restapi/z/", 500, REST_THROTTLE),
                                   ("/httpapi/z/", 500, HTTP_THROTTLE)]:
            got_status, headers, got_body = request(port, "GET", path)
            self.check_common(headers)
            self.assertEqual((got_status, got_body), (status, body), path)

        # 105 - 5 reserved = 100 unreserved: the 101st invocation in flight
        # of an unreserved function is throttled by the account.
        results = burst(port, "POST", INVOKE % "u", 110, "{}")
        account = b'{"Reason":"ConcurrentInvocationLimitExceeded","Type":"User",' \
                  b'"message":"Rate Exceeded."}'
        answers = self.check_wave(results, 200, 429, account, 100, 10)
        facts = [(headers, function_facts(data)) for headers, data in answers]
        self.assertEqual(len({doc["environment_id"] for _, doc in facts}), 100)
        for headers, doc in facts:
            self.assertEqual(doc["request_id"], headers["x-amzn-requestid"])
            self.assertEqual((doc["cold_start"], doc["invocation_count"]), (True, 1))
            self.assertEqual(headers["x-amz-executed-version"], "$LATEST")

    def test_httpapi_throttle_status_429(self):
        port = self.start_emulator("--httpapi-throttle-status", "429",
                                   "--function", "z=" + binary("bootstrap"), "--reserved", "0")
        status, headers, body = request(port, "GET", "/httpapi/z/x")
        self.check_common(headers)
        self.assertEqual((status, body), (429, b'{"message":"Too Many Requests"}'))
        # The other doors are unchanged.
        status, headers, body = request(port, "GET", "/restapi/z/x")
        self.assertEqual((status, body), (500, REST_THROTTLE))

    # --- API Gateway integration timeouts --------------------------------------

    def served(self, port, method, path, throttle, body=None):
        """The first answer that is not a throttle (`throttle` status), and
        how long it took."""
        for _ in range(500):
            start = time.monotonic()
            status, headers, data = request(port, method, path, body)
            if status != throttle:
                return status, headers, data, time.monotonic() - start
            time.sleep(0.01)
        self.fail("%s stayed throttled" % path)

    def test_gateway_integration_timeouts(self):
        log = self.path("access.log")
        port = self.start_emulator("--apigw-timeout", "1", "--httpapi-timeout", "1",
                                   "--function", "f=" + binary("bootstrap"), "--reserved",
                                   "1", "--env", "STAMPEDE_HOLD_MS=2000",
                                   "--access-log", log)
        # REST API: 504 after its 1 s, while the function holds 2 s.
        status, headers, body, took = self.served(port, "GET", "/restapi/f/x", 500)
        self.check_common(headers)
        self.assertEqual((status, body), (504, b'{"message": "Endpoint request timed out"}'))
        self.assertEqual(headers["x-amzn-errortype"], "InternalServerErrorException")
        self.assertEqual(headers["content-type"], "application/json")
        self.assertRegex(headers["x-amz-apigw-id"], r"^[A-Za-z0-9]{15}=$")
        self.assertTrue(1.0 <= took < 1.8, took)
        # The function runs on in its environment, which is not killed: the
        # Function URL waits for the 200 of the same environment.
        status, headers, body, took = self.served(port, "GET", "/url/f/x", 429)
        self.assertEqual(status, 200, body)
        answer = json.loads(body)
        self.assertEqual((answer["cold_start"], answer["invocation_count"]), (False, 2))
        self.assertGreaterEqual(took, 2.0)
        # HTTP API: 503 after its 1 s.
        status, headers, body, took = self.served(port, "GET", "/httpapi/f/x", 500)
        self.check_common(headers)
        self.assertEqual((status, body), (503, b'{"message":"Service Unavailable"}'))
        self.assertNotIn("x-amzn-errortype", headers)
        self.assertRegex(headers["apigw-requestid"], r"^[A-Za-z0-9]{15}=$")
        self.assertTrue(1.0 <= took < 1.8, took)
        # The Invoke API waits too.
        status, headers, body, took = self.served(port, "POST", INVOKE % "f", 429, "{}")
        self.assertEqual(status, 200, body)
        answer = function_facts(body)
        self.assertEqual((answer["request_id"], answer["invocation_count"]),
                         (headers["x-amzn-requestid"], 4))
        self.assertGreaterEqual(took, 2.0)
        # One access-log line per request: the timeouts' when they were sent.
        with open(log) as text:
            lines = [json.loads(line) for line in text]
        answered = [(line["door"], line["status"]) for line in lines
                    if line["status"] not in (429, 500)]
        self.assertEqual(answered, [("restapi", 504), ("url", 200), ("httpapi", 503),
                                    ("invoke", 200)])
        self.assertTrue(all("delivered" not in line for line in lines))
        for line in lines:
            if line["status"] in (503, 504):
                waited = (line["answered_ns"] - line["received_ns"]) / 1e9
                self.assertTrue(1.0 <= waited < 1.8, waited)

    # --- the Invoke API --------------------------------------------------------

    def test_invoke_api(self):
        echo = self.echo_function()
        port = self.start_emulator("--function", "echo=" + echo)
        # Synchronous, by name, ARN and partial ARN; an explicit $LATEST.
        for name, query in [("echo", ""), ("echo", "?Qualifier=%24LATEST"),
                            (ARN.replace(":", "%3A") + "echo", ""),
                            ("123456789012:function:echo", "")]:
            status, headers, body = request(port, "POST", INVOKE % name + query,
                                            {"n": name})
            self.check_common(headers)
            self.assertEqual(status, 200, body)
            self.assertEqual(headers["content-type"], "application/json")
            self.assertEqual(headers["x-amz-executed-version"], "$LATEST")
            self.assertNotIn("x-amz-function-error", headers)
            self.assertNotIn("x-amz-log-result", headers)
            self.assertEqual(json.loads(body), {"event": {"n": name},
                                                "request_id": headers["x-amzn-requestid"]})
        # An empty payload is the event {}.
        status, headers, body = request(port, "POST", INVOKE % "echo")
        self.assertEqual((status, json.loads(body)["event"]), (200, {}))

        # The client context reaches the runtime decoded, on one line.
        context = base64.b64encode(b'{"custom":{"k":"v"},\n"env":{"locale":"en"}}').decode()
        status, headers, body = request(port, "POST", INVOKE % "echo", {"c": 1},
                                        {"X-Amz-Client-Context": context})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {
            "event": {"c": 1}, "request_id": headers["x-amzn-requestid"],
            "client_context": '{"custom":{"k":"v"}, "env":{"locale":"en"}}'})

        # Tail: the base64 of the invocation's log.
        status, headers, body = request(port, "POST", INVOKE % "echo", {"t": 1},
                                        {"X-Amz-Log-Type": "Tail"})
        self.assertEqual(status, 200)
        log = base64.b64decode(headers.get("x-amz-log-result", "")).decode()
        request_id = headers["x-amzn-requestid"]
        if "START RequestId:" not in log:
            self.skipTest("the environment writes no START/REPORT lines yet")
        self.assertIn("START RequestId: %s" % request_id, log)
        self.assertIn("handled %s" % request_id, log)
        self.assertIn("REPORT RequestId: %s" % request_id, log)
        self.assertLess(log.index("START"), log.index("handled"))
        self.assertLess(log.index("handled"), log.index("REPORT"))

    def test_invoke_api_function_error_event_and_dry_run(self):
        echo = self.echo_function()
        port = self.start_emulator("--function", "echo=" + echo)
        # A function error is still a 200.
        status, headers, body = request(port, "POST", INVOKE % "echo", {"fail": True})
        self.check_common(headers)
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-amz-function-error"], "Unhandled")
        self.assertEqual(headers["x-amz-executed-version"], "$LATEST")
        self.assertEqual(json.loads(body), {"errorMessage": "boom", "errorType": "TestError"})

        # DryRun: 204 after checking the function and the qualifier.
        status, headers, body = request(port, "POST", INVOKE % "echo", "{}",
                                        {"X-Amz-Invocation-Type": "DryRun"})
        self.check_common(headers)
        self.assertEqual((status, body), (204, b""))
        status, headers, body = request(port, "POST", INVOKE % "echo" + "?Qualifier=9", "",
                                        {"X-Amz-Invocation-Type": "DryRun"})
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body), {
            "Type": "User", "Message": "Function not found: " + ARN + "echo:9"})

        # Event: 202 at once, and the function really runs.
        mark = self.path("event-ran")
        status, headers, body = request(port, "POST", INVOKE % "echo", {"touch": mark},
                                        {"X-Amz-Invocation-Type": "Event"})
        self.check_common(headers)
        self.assertEqual((status, body), (202, b""))
        wait_until(lambda: os.path.exists(mark) and os.path.getsize(mark) > 0, 10,
                   what="the Event invocation to run")
        with open(mark) as ran:
            self.assertEqual(ran.read(), headers["x-amzn-requestid"])

    def test_invoke_api_refusals(self):
        port = self.start_emulator("--function", "demo=" + binary("bootstrap"),
                                   "--env", "STAMPEDE_HOLD_MS=0")

        def check(path, status, error_type, message, body="{}", headers=None):
            got, answer_headers, answer = request(port, "POST", path, body, headers)
            self.check_common(answer_headers)
            self.assertEqual(got, status, answer)
            self.assertEqual(answer_headers["x-amzn-errortype"], error_type)
            doc = json.loads(answer)
            self.assertEqual(doc["Type"], "User")
            # AWS names the member "Message" in ResourceNotFoundException only.
            member = "Message" if error_type == "ResourceNotFoundException" else "message"
            self.assertEqual(sorted(doc), sorted(["Type", member]))
            if message.endswith("..."):
                self.assertTrue(doc[member].startswith(message[:-3]), doc[member])
            else:
                self.assertEqual(doc[member], message)

        check(INVOKE % "nope", 404, "ResourceNotFoundException",
              "Function not found: " + ARN + "nope")
        check(INVOKE % "demo" + "?Qualifier=live", 404, "ResourceNotFoundException",
              "Function not found: " + ARN + "demo:live")
        check(INVOKE % "demo%3Alive" + "?Qualifier=prod", 400,
              "InvalidParameterValueException",
              "The derived qualifier from the function name does not match the specified "
              "qualifier.")
        check(INVOKE % "demo", 400, "InvalidParameterValueException",
              "1 validation error detected: Value 'Sometimes' at 'invocationType' failed to "
              "satisfy constraint: Member must satisfy enum value set: [Event, "
              "RequestResponse, DryRun]", headers={"X-Amz-Invocation-Type": "Sometimes"})
        check(INVOKE % "demo", 400, "InvalidRequestContentException",
              "Could not parse request body into json: Could not parse payload into "
              "json: ...", body="{not json")
        check(INVOKE % "demo", 400, "InvalidRequestContentException",
              "Client context must be a valid Base64-encoded JSON object.",
              headers={"X-Amz-Client-Context": "bm90IGpzb24="})
        # Declared past what the door drains: refused before the body is read.
        answer = raw_exchange(port, b"POST " + (INVOKE % "demo").encode() +
                              b" HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
                              timeout=10)
        head, _, body = answer.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 413 "), head)
        self.assertIn(b"\r\nx-amzn-ErrorType: RequestEntityTooLargeException", head)
        self.assertEqual(json.loads(body), {
            "Type": "User", "message": "Request must be smaller than 6291456 bytes for the "
            "InvokeFunction operation"})
        # An Event payload has a smaller limit, and AWS's words name the size.
        check(INVOKE % "demo", 413, "RequestEntityTooLargeException",
              "1048578 byte payload is too large for the Event invocation type "
              "(limit 1048576 bytes)",
              body='"' + "x" * EVENT_PAYLOAD_MAX + '"', headers={"X-Amz-Invocation-Type": "Event"})
        # A valid client context is accepted.
        context = base64.b64encode(b'{"custom":{"k":"v"}}').decode()
        status, _, _ = request(port, "POST", INVOKE % "demo", "{}",
                               {"X-Amz-Client-Context": context})
        self.assertEqual(status, 200)

    def test_qualifiers_on_every_door(self):
        echo = self.echo_function()
        port = self.start_emulator("--function", "echo=" + echo)
        status, _, body = request(port, "POST", "/2015-03-31/functions/echo/versions", "{}")
        self.assertEqual((status, json.loads(body)["Version"]), (201, "1"))
        status, _, body = request(port, "POST", "/2015-03-31/functions/echo/aliases",
                                  {"Name": "live", "FunctionVersion": "1"})
        self.assertEqual(status, 201, body)

        # The Invoke API runs the version an alias points to.
        for path in [INVOKE % "echo" + "?Qualifier=live", INVOKE % "echo%3Alive",
                     INVOKE % (ARN.replace(":", "%3A") + "echo%3A1"),
                     INVOKE % "echo%3Alive" + "?Qualifier=live"]:
            status, headers, body = request(port, "POST", path, {"version?": True})
            self.check_common(headers)
            self.assertEqual(status, 200, (path, body))
            self.assertEqual(headers["x-amz-executed-version"], "1", path)
            self.assertEqual(json.loads(body)["version"], "1", path)
        status, headers, body = request(port, "POST", INVOKE % "echo", {"version?": True})
        self.assertEqual((headers["x-amz-executed-version"], json.loads(body)["version"]),
                         ("$LATEST", "$LATEST"))
        # So do the HTTP doors, with FN:QUALIFIER in the path.
        for path in ["/url/echo:live/x", "/restapi/echo:1/x", "/httpapi/echo:live/x",
                     "/url/echo:$LATEST/x"]:
            status, headers, body = request(port, "GET", path)
            self.check_common(headers)
            self.assertEqual(status, 200, (path, body))
            self.assertEqual(json.loads(body)["event"].get("rawPath",
                             json.loads(body)["event"].get("path")), "/x")
        for path, want in [("/url/echo:nope/", 404), ("/restapi/echo:nope/", 403),
                           ("/httpapi/echo:9/", 404)]:
            status, headers, body = request(port, "GET", path)
            self.check_common(headers)
            self.assertEqual(status, want, path)

    # --- the demo function on every door ----------------------------------------

    def test_demo_function_on_every_door(self):
        """The bootstrap answers in the Lambda proxy shape: each HTTP door
        unwraps it and sends the facts as the body (the REST API too, which
        answers anything without statusCode 502); the Invoke API passes the
        whole proxy response through."""
        port = self.start_emulator("--function", "demo=" + binary("bootstrap"),
                                   "--reserved", "1", "--env", "STAMPEDE_HOLD_MS=0")
        # One environment (reserved 1): the invocations count 1, 2, 3, 4.
        doors = [("GET", "/url/demo/x", None, 429), ("GET", "/restapi/demo/x", None, 500),
                 ("GET", "/httpapi/demo/x", None, 500), ("POST", INVOKE % "demo", "{}", 429)]
        environments = set()
        for count, (method, path, body, throttle) in enumerate(doors, 1):
            status, headers, data, _ = self.served(port, method, path, throttle, body)
            self.check_common(headers)
            self.assertEqual(status, 200, (path, data))
            self.assertEqual(headers["content-type"], "application/json", path)
            if path.startswith("/2015"):
                doc = function_facts(data)
            else:
                doc = json.loads(data)
                self.assertEqual(list(doc), FACTS, path)
            self.assertEqual(doc["request_id"], headers["x-amzn-requestid"], path)
            self.assertEqual((doc["cold_start"], doc["initialization_type"],
                              doc["invocation_count"]), (count == 1, "on-demand", count), path)
            if count > 1:
                self.assertEqual(doc["cold_start_time"], 0, path)
            environments.add(doc["environment_id"])
        self.assertEqual(len(environments), 1)

    # --- events and errors through the HTTP doors ------------------------------

    def test_http_doors_events_and_errors(self):
        echo = self.echo_function()
        port = self.start_emulator("--function", "echo=" + echo, "--reserved", "50")
        headers = {"Content-Type": "text/plain", "X-Test": "yes"}

        status, answer_headers, body = request(port, "POST", "/restapi/echo/items/7?x=1&x=2",
                                               "hello", headers)
        self.check_common(answer_headers)
        self.assertEqual(status, 200, body)
        event = json.loads(body)["event"]
        self.assertEqual(sorted(event), sorted([
            "resource", "path", "httpMethod", "headers", "multiValueHeaders",
            "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
            "stageVariables", "requestContext", "body", "isBase64Encoded"]))
        self.assertEqual(event["resource"], "/{proxy+}")
        self.assertEqual(event["path"], "/items/7")
        self.assertEqual(event["httpMethod"], "POST")
        self.assertEqual(event["queryStringParameters"], {"x": "2"})
        self.assertEqual(event["multiValueQueryStringParameters"], {"x": ["1", "2"]})
        self.assertEqual(event["pathParameters"], {"proxy": "items/7"})
        self.assertEqual(event["headers"]["X-Test"], "yes")
        self.assertEqual((event["body"], event["isBase64Encoded"]), ("hello", False))
        self.assertEqual(event["requestContext"]["httpMethod"], "POST")
        self.assertEqual(event["requestContext"]["requestId"],
                         answer_headers["x-amzn-requestid"])

        status, answer_headers, body = request(port, "POST", "/httpapi/echo/items/7?x=1",
                                               "hello", headers)
        self.check_common(answer_headers)
        self.assertEqual(status, 200, body)
        event = json.loads(body)["event"]
        self.assertEqual(event["version"], "2.0")
        self.assertEqual(event["routeKey"], "$default")
        self.assertEqual(event["rawPath"], "/items/7")
        self.assertEqual(event["rawQueryString"], "x=1")
        self.assertEqual(event["queryStringParameters"], {"x": "1"})
        self.assertEqual(event["headers"]["x-test"], "yes")
        self.assertEqual(event["requestContext"]["http"]["method"], "POST")
        self.assertEqual(event["requestContext"]["http"]["path"], "/items/7")
        self.assertEqual(event["body"], "hello")

        status, answer_headers, body = request(port, "GET", "/url/echo/a/b?c=d")
        self.assertEqual(status, 200, body)
        event = json.loads(body)["event"]
        self.assertEqual((event["version"], event["rawPath"], event["rawQueryString"]),
                         ("2.0", "/a/b", "c=d"))

        # A function error: 502 on REST and on a Function URL, 500 on HTTP;
        # none passes the function's error JSON through.
        for path, want, want_body in [
                ("/restapi/echo/error", 502, REST_THROTTLE),
                ("/httpapi/echo/error", 500, HTTP_THROTTLE),
                ("/url/echo/error", 502, b"Internal Server Error")]:
            status, answer_headers, body = request(port, "GET", path)
            self.check_common(answer_headers)
            self.assertEqual((status, body), (want, want_body), path)
            self.assertEqual(answer_headers["content-type"], "application/json", path)
            self.assertNotIn("x-amz-function-error", answer_headers)

        # Unknown functions, each door its way; anything else is the
        # management API's.
        for path, want, want_body in [
                ("/restapi/nope/", 403, b'{"message":"Missing Authentication Token"}'),
                ("/httpapi/nope/", 404, b'{"message":"Not Found"}'),
                ("/url/nope/", 404, b'{"Message":"Function not found"}'),
                ("/nothing", 404, b'{"Message":"Not Found"}')]:
            status, answer_headers, body = request(port, "GET", path)
            self.check_common(answer_headers)
            self.assertEqual((status, body), (want, want_body), path)
        status, answer_headers, body = request(port, "GET",
                                               "/2019-09-30/functions/echo/concurrency")
        self.check_common(answer_headers)
        self.assertEqual((status, json.loads(body)), (200, {"ReservedConcurrentExecutions": 50}))

    # --- fidelity corners real clients hit -----------------------------------

    def post_large(self, port, path, size, headers=None):
        """POST `size` bytes with a declared length from a real client that
        writes the whole body before it reads: (status, headers, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", path, body=b"x" * size, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def test_oversize_body_is_drained_then_answered_413(self):
        port = self.start_emulator("--function", "demo=" + binary("bootstrap"),
                                   "--env", "STAMPEDE_HOLD_MS=0")
        limit_words = ("Request must be smaller than %d bytes for the InvokeFunction "
                       "operation" % PAYLOAD_MAX)
        # The client writes all 7 MB (no EPIPE or reset) and reads AWS's answer.
        status, headers, body = self.post_large(port, "/url/demo/", 7 * 1024 * 1024)
        self.check_common(headers)
        self.assertEqual((status, headers["x-amzn-errortype"]),
                         (413, "RequestEntityTooLargeException"))
        self.assertEqual(json.loads(body), {"Message": limit_words})
        status, headers, body = self.post_large(port, INVOKE % "demo", PAYLOAD_MAX + 1)
        self.assertEqual((status, headers["x-amzn-errortype"]),
                         (413, "RequestEntityTooLargeException"))
        self.assertEqual(json.loads(body), {"Type": "User", "message": limit_words})
        # An Event body over the door's limit: the Event words, the real size.
        status, headers, body = self.post_large(port, INVOKE % "demo", 7000000,
                                                {"X-Amz-Invocation-Type": "Event"})
        self.assertEqual(status, 413)
        self.assertEqual(json.loads(body), {
            "Type": "User", "message": "7000000 byte payload is too large for the Event "
            "invocation type (limit 1048576 bytes)"})
        status, _, body = self.post_large(port, "/restapi/demo/", 7 * 1024 * 1024)
        self.assertEqual((status, body), (413, b'{"message": "Request Too Long"}'))
        # The door still serves, on a fresh connection.
        status, _, _ = request(port, "POST", INVOKE % "demo", "{}")
        self.assertEqual(status, 200)

    def test_response_streaming_is_refused_not_emulated(self):
        port = self.start_emulator("--function", "demo=" + binary("bootstrap"),
                                   "--env", "STAMPEDE_HOLD_MS=0")
        for path in [STREAMING % "demo", STREAMING % "demo" + "?Qualifier=%24LATEST"]:
            status, headers, body = request(port, "POST", path, "{}")
            self.check_common(headers)
            self.assertEqual(status, 400, body)
            self.assertEqual(headers["x-amzn-errortype"], "InvalidRequestContentException")
            self.assertEqual(json.loads(body), {
                "Type": "User", "message": "InvokeWithResponseStream (response streaming) "
                "is not emulated by stampede-lambda: use Invoke"})


if __name__ == "__main__":
    unittest.main()
