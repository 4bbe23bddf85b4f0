"""System test of stampede-lambda with the real bootstrap.

Starts $STAMPEDE_BIN/stampede-lambda on 127.0.0.1:0, reads its ready line and
drives it over HTTP: the 100-request burst against reserved concurrency 5,
environment reuse, function errors and crashes, timeouts, the Function URL
event and response mapping, bad input. Every emulator is stopped with SIGTERM
in tearDown, which then checks that no process it started is left.
"""
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from stampede_testlib import (RUNTIME_PRELUDE, burst, descendants, http_request,
                              process_groups, raw_exchange, wait_until)

BIN = os.environ.get("STAMPEDE_BIN", "")
EMULATOR = os.path.join(BIN, "stampede-lambda")
BOOTSTRAP = os.path.join(BIN, "bootstrap")
READY_PREFIX = "stampede-lambda listening on http://"
THROTTLE_BODY = b'{"Message":"Rate Exceeded."}'


def invoke_path(port, function, path):
    """(status, headers, body, seconds) of a synchronous Invoke API call whose
    event carries `path` as rawPath, the way the probe reads a Function URL
    event: a failed invocation's error payload is read here, since a Function
    URL answers a function error with AWS's bare 502."""
    started = time.monotonic()
    status, headers, body, _ = http_request(
        port, "POST", "/2015-03-31/functions/%s/invocations" % function,
        json.dumps({"rawPath": path}))
    return status, headers, body, time.monotonic() - started

# A Python custom runtime whose behaviour is chosen by the request path.
PROBE_FUNCTION = RUNTIME_PRELUDE + r'''
while True:
    rid, event, headers = next_invocation()
    path = event["rawPath"]
    if path == "/echo":
        answer = {"event": event, "runtime_headers": headers,
                  "environ": {k: v for k, v in os.environ.items()
                              if k.startswith(("AWS_", "LAMBDA_", "_HANDLER", "TZ", "STAMPEDE"))},
                  "cwd": os.getcwd()}
        call("POST", "/invocation/%s/response" % rid, json.dumps(answer))
    elif path == "/error":
        call("POST", "/invocation/%s/error" % rid,
             json.dumps({"errorMessage": "boom", "errorType": "TestError"}),
             {"Lambda-Runtime-Function-Error-Type": "TestError"})
    elif path == "/crash":
        print("crashing on purpose", flush=True)
        sys.exit(7)
    elif path == "/sleep":
        time.sleep(5)
        call("POST", "/invocation/%s/response" % rid, "{}")
    elif path == "/structured":
        call("POST", "/invocation/%s/response" % rid, json.dumps({
            "statusCode": 201, "headers": {"X-Custom": "yes", "Content-Type": "text/plain"},
            "cookies": ["a=1", "b=2"], "body": "created"}))
    elif path == "/binary":
        call("POST", "/invocation/%s/response" % rid, json.dumps({
            "statusCode": 200, "body": "AAEC/w==", "isBase64Encoded": True,
            "headers": {"Content-Type": "application/octet-stream"}}))
    elif path == "/invalid":
        call("POST", "/invocation/%s/response" % rid, json.dumps({"statusCode": "nope"}))
    elif path == "/misuse":
        checks = {
            "wrong_id": call("POST", "/invocation/not-the-id/response", "{}")[0],
            "init_error_late": call("POST", "/init/error", "{}")[0],
            "unknown": call("GET", "/nope")[0],
            "bad_method": call("PUT", "/invocation/next")[0],
            "next_while_busy": call("GET", "/invocation/next")[0],
            "too_large": call("POST", "/invocation/%s/response" % rid, "x" * (6291456 + 1))[0],
        }
        # The oversized answer ended the invocation; this one is refused.
        checks["after_end"] = call("POST", "/invocation/%s/response" % rid, "{}")[0]
        with open(os.environ["PROBE_REPORT"], "w") as report:
            json.dump(checks, report)
    else:
        call("POST", "/invocation/%s/response" % rid, json.dumps({"path": path}))
'''


class Emulator:
    """One stampede-lambda process."""

    def __init__(self, workdir, args):
        self.log_path = os.path.join(workdir, "emulator-%d.log" % time.monotonic_ns())
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([EMULATOR, "--listen", "127.0.0.1:0"] + args,
                                     stdout=subprocess.PIPE, stderr=self.log)
        self.seen_children = set()
        line = self._read_line(10)
        if not line.startswith(READY_PREFIX):
            self.stop()
            raise AssertionError("no ready line, got %r; log:\n%s" % (line, self.log_text()))
        self.port = int(line[len(READY_PREFIX):].rsplit(":", 1)[1])
        self.ready_line = line

    def _read_line(self, timeout):
        box = []
        reader = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        return box[0].decode().rstrip("\n") if box else ""

    def children(self):
        found = descendants(self.proc.pid)
        self.seen_children |= found
        return found

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as log:
            return log.read().decode(errors="replace")

    def stop(self):
        """SIGTERM, then the exit status; also the rest of stdout."""
        if self.proc.poll() is None:
            self.children()
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        rest = self.proc.stdout.read()
        self.proc.stdout.close()
        self.log.close()
        return code, rest


class EmulatorHarness(unittest.TestCase):
    """Starts emulators, stops them in tearDown and checks nothing is left."""

    def setUp(self):
        self.assertTrue(os.access(EMULATOR, os.X_OK), "set STAMPEDE_BIN to the bin directory")
        self.tmp = tempfile.TemporaryDirectory(prefix="stampede-emulator-")
        self.emulators = []

    def tearDown(self):
        for emulator in self.emulators:
            code, rest = emulator.stop()
            self.assertEqual(code, 0, emulator.log_text())
            self.assertEqual(rest, b"", "stdout carries only the ready line")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                alive = {pid for pid in emulator.seen_children if os.path.exists("/proc/%d" % pid)}
                if not alive:
                    break
                time.sleep(0.05)
            self.assertEqual(alive, set(), "processes left behind")
            self.assertEqual(emulator.seen_children & process_groups(), set(),
                             "process groups left behind")
        self.tmp.cleanup()

    def start(self, *args):
        emulator = Emulator(self.tmp.name, list(args))
        self.emulators.append(emulator)
        return emulator

    def write_function(self, name, text):
        directory = os.path.join(self.tmp.name, name)
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "bootstrap")
        with open(path, "w") as script:
            script.write(text.replace("@PYTHON@", sys.executable))
        os.chmod(path, 0o755)
        return path

    def probe_function(self):
        return self.write_function("probe", PROBE_FUNCTION)

    def wait_idle(self, emulator, count):
        """Waits until `count` runtimes are parked in /next (their hold is over)."""
        time.sleep(0.3)
        self.assertEqual(len([p for p in emulator.children()]), count)

    def check_common_headers(self, headers):
        self.assertIn("x-stampede-received-ns", headers)
        received = int(headers["x-stampede-received-ns"])
        self.assertLess(abs(received - time.time_ns()), 60 * 10**9)
        self.assertRegex(headers["x-amzn-requestid"],
                         r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

    def check_wave(self, results, ok, throttled):
        statuses = [r[0] for r in results]
        self.assertEqual(statuses.count(200), ok, statuses)
        self.assertEqual(statuses.count(429), throttled, statuses)
        for status, headers, body in results:
            self.check_common_headers(headers)
            if status == 429:
                self.assertEqual(headers["x-amzn-errortype"], "TooManyRequestsException")
                self.assertEqual(body, THROTTLE_BODY)
                self.assertEqual(headers["content-type"], "application/json")
        return [(headers, json.loads(body)) for status, headers, body in results
                if status == 200]


class EmulatorTest(EmulatorHarness):
    # --- the headline -----------------------------------------------------

    def test_burst_100_reserved_5(self):
        emulator = self.start("--function", "demo=" + BOOTSTRAP, "--reserved", "5",
                              "--env", "STAMPEDE_HOLD_MS=1500")
        self.assertEqual(emulator.ready_line, "stampede-lambda listening on http://127.0.0.1:%d"
                         % emulator.port)
        first = self.check_wave(burst(emulator.port, "GET", "/url/demo/", 100), 5, 95)
        environments = set()
        for headers, doc in first:
            self.assertEqual(sorted(doc), sorted([
                "request_id", "environment_id", "cold_start", "cold_start_time",
                "initialization_type", "invocation_count", "started_at_ns", "finished_at_ns"]))
            self.assertEqual(doc["request_id"], headers["x-amzn-requestid"])
            self.assertRegex(doc["environment_id"], r"^[0-9a-f]{16}$")
            self.assertIs(doc["cold_start"], True)
            self.assertGreater(doc["cold_start_time"], 0)
            self.assertLess(doc["cold_start_time"], 10)
            self.assertEqual(doc["initialization_type"], "on-demand")
            self.assertEqual(doc["invocation_count"], 1)
            self.assertGreaterEqual(doc["finished_at_ns"] - doc["started_at_ns"], 1500 * 10**6)
            environments.add(doc["environment_id"])
        self.assertEqual(len(environments), 5)

        self.wait_idle(emulator, 5)
        second = self.check_wave(burst(emulator.port, "GET", "/url/demo/", 100), 5, 95)
        self.assertEqual({doc["environment_id"] for _, doc in second}, environments)
        for _, doc in second:
            self.assertIs(doc["cold_start"], False)
            self.assertEqual(doc["cold_start_time"], 0)
            self.assertEqual(doc["invocation_count"], 2)

    def test_burst_10_reserved_2(self):
        emulator = self.start("--function", "small=" + BOOTSTRAP, "--reserved", "2",
                              "--env", "STAMPEDE_HOLD_MS=1000")
        oks = self.check_wave(burst(emulator.port, "GET", "/url/small/anything?x=1", 10), 2, 8)
        self.assertEqual(len({doc["environment_id"] for _, doc in oks}), 2)

    def test_reserved_zero_and_two_functions(self):
        emulator = self.start("--function", "off=" + BOOTSTRAP, "--reserved", "0",
                              "--function", "on=" + BOOTSTRAP, "--env", "STAMPEDE_HOLD_MS=0")
        status, headers, body, _ = http_request(emulator.port, "GET", "/url/off/")
        self.assertEqual((status, body), (429, THROTTLE_BODY))
        status, headers, body, _ = http_request(emulator.port, "GET", "/url/on/")
        self.assertEqual(status, 200)
        self.assertIs(json.loads(body)["cold_start"], True)

    # --- failures of the function ------------------------------------------

    def test_function_error_crash_exit_and_timeout(self):
        probe = self.probe_function()
        quitter = self.write_function("quitter", "#!/bin/sh\necho leaving\nexit 1\n")
        emulator = self.start("--function", "probe=" + probe, "--reserved", "3",
                              "--function", "quitter=" + quitter, "--timeout", "1")
        status, headers, body, _ = invoke_path(emulator.port, "probe", "/error")
        self.assertEqual(status, 200)
        self.check_common_headers(headers)
        self.assertEqual(headers["x-amz-function-error"], "Unhandled")
        self.assertEqual(json.loads(body), {"errorMessage": "boom", "errorType": "TestError"})

        status, headers, body, _ = invoke_path(emulator.port, "probe", "/crash")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-amz-function-error"], "Unhandled")
        error = json.loads(body)
        self.assertEqual(error["errorType"], "Runtime.ExitError")
        self.assertEqual(error["errorMessage"], "RequestId: %s Error: Runtime exited with error: "
                         "exit status 7" % headers["x-amzn-requestid"])

        status, headers, body, _ = invoke_path(emulator.port, "quitter", "/")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["errorType"], "Runtime.ExitError")
        self.assertIn("exit status 1", json.loads(body)["errorMessage"])

        started = time.monotonic()
        status, headers, body, _ = invoke_path(emulator.port, "probe", "/sleep")
        self.assertEqual(status, 200)
        self.assertLess(time.monotonic() - started, 4)
        self.assertEqual(json.loads(body), {
            "errorMessage": "RequestId: %s Error: Task timed out after 1.00 seconds"
                            % headers["x-amzn-requestid"],
            "errorType": "Sandbox.Timedout"})

        # The killed environments were replaced: the function still serves.
        status, headers, body, _ = http_request(emulator.port, "GET", "/url/probe/fine")
        self.assertEqual((status, json.loads(body)), (200, {"path": "/fine"}))
        log = emulator.log_text()
        self.assertIn("crashing on purpose", log)
        self.assertIn("leaving", log)

    def test_runtime_api_misuse_is_answered(self):
        report = os.path.join(self.tmp.name, "report.json")
        probe = self.probe_function()
        emulator = self.start("--function", "probe=" + probe, "--env", "PROBE_REPORT=" + report)
        status, headers, body, _ = invoke_path(emulator.port, "probe", "/misuse")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["errorType"], "Function.ResponseSizeTooLarge")

        def read_report():
            # The runtime creates the file before it writes it: wait for JSON.
            try:
                with open(report) as checks:
                    return json.load(checks)
            except (OSError, ValueError):
                return None
        self.assertEqual(wait_until(read_report, 10, what="the probe's report"), {
            "wrong_id": 400, "init_error_late": 403, "unknown": 404, "bad_method": 405,
            "next_while_busy": 403, "too_large": 413, "after_end": 403})
        status, _, body, _ = http_request(emulator.port, "GET", "/url/probe/again")
        self.assertEqual((status, json.loads(body)), (200, {"path": "/again"}))

    def test_init_error_is_reported(self):
        emulator = self.start("--function", "bad=" + BOOTSTRAP, "--env", "STAMPEDE_HOLD_MS=soon")
        status, headers, body, _ = invoke_path(emulator.port, "bad", "/")
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-amz-function-error"], "Unhandled")
        self.assertEqual(json.loads(body), {
            "errorMessage": 'STAMPEDE_HOLD_MS must be an integer 0..900000, got "soon"',
            "errorType": "Runtime.InvalidConfig"})

    # --- the Function URL protocol ----------------------------------------

    def test_event_and_environment(self):
        probe = self.probe_function()
        emulator = self.start("--function", "probe=" + probe, "--env", "STAMPEDE_X=1")
        status, headers, body, _ = http_request(
            emulator.port, "POST", "/url/probe/echo?a=1&a=2&b=%41", b"\x00\xff",
            {"X-Multi": "v", "Cookie": "s=1; t=2", "User-Agent": "stampede-test"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        answer = json.loads(body)
        event = answer["event"]
        self.assertEqual(event["version"], "2.0")
        self.assertEqual(event["routeKey"], "$default")
        self.assertEqual(event["rawPath"], "/echo")
        self.assertEqual(event["rawQueryString"], "a=1&a=2&b=%41")
        self.assertEqual(event["queryStringParameters"], {"a": "1,2", "b": "A"})
        self.assertEqual(event["cookies"], ["s=1", "t=2"])
        self.assertEqual(event["headers"]["x-multi"], "v")
        self.assertNotIn("cookie", event["headers"])
        self.assertEqual(event["body"], "AP8=")
        self.assertIs(event["isBase64Encoded"], True)
        context = event["requestContext"]
        self.assertEqual(context["accountId"], "123456789012")
        self.assertEqual(context["requestId"], headers["x-amzn-requestid"])
        self.assertEqual(context["stage"], "$default")
        self.assertEqual(context["http"], {"method": "POST", "path": "/echo",
                                           "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                                           "userAgent": "stampede-test"})
        self.assertEqual(context["domainName"], context["apiId"] + ".lambda-url.us-east-1.on.aws")
        self.assertEqual(context["timeEpoch"], int(headers["x-stampede-received-ns"]) // 10**6)
        runtime = answer["runtime_headers"]
        self.assertEqual(runtime["lambda-runtime-aws-request-id"], headers["x-amzn-requestid"])
        self.assertEqual(runtime["lambda-runtime-invoked-function-arn"],
                         "arn:aws:lambda:us-east-1:123456789012:function:probe")
        deadline = int(runtime["lambda-runtime-deadline-ms"])
        self.assertLess(abs(deadline - (time.time_ns() // 10**6 + 3000)), 2000)
        self.assertTrue(runtime["lambda-runtime-trace-id"].startswith("Root=1-"))
        environ = answer["environ"]
        port = environ.pop("AWS_LAMBDA_RUNTIME_API")
        self.assertRegex(port, r"^127\.0\.0\.1:\d+$")
        self.assertRegex(environ.pop("AWS_LAMBDA_LOG_STREAM_NAME"),
                         r"^\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}$")
        task_root = os.path.dirname(probe)
        self.assertEqual(environ, {
            "_HANDLER": "bootstrap", "AWS_LAMBDA_FUNCTION_NAME": "probe",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": task_root, "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/probe",
            "TZ": ":UTC", "STAMPEDE_X": "1"})
        self.assertEqual(answer["cwd"], task_root)

    def test_response_mapping(self):
        probe = self.probe_function()
        emulator = self.start("--function", "probe=" + probe)
        status, headers, body, raw_headers = http_request(emulator.port, "GET",
                                                          "/url/probe/structured")
        self.assertEqual((status, body), (201, b"created"))
        self.assertEqual(headers["x-custom"], "yes")
        self.assertEqual(headers["content-type"], "text/plain")
        self.assertEqual([v for k, v in raw_headers if k.lower() == "set-cookie"], ["a=1", "b=2"])
        self.check_common_headers(headers)
        status, headers, body, _ = http_request(emulator.port, "GET", "/url/probe/binary")
        self.assertEqual((status, body), (200, b"\x00\x01\x02\xff"))
        self.assertEqual(headers["content-type"], "application/octet-stream")
        status, headers, body, _ = http_request(emulator.port, "GET", "/url/probe/invalid")
        self.assertEqual((status, body), (502, b'{"Message":"Internal Server Error"}'))
        self.assertEqual(headers["x-stampede-error"], "statusCode must be an integer 100..599")
        status, headers, body, _ = http_request(emulator.port, "GET", "/url/probe/plain")
        self.assertEqual((status, body), (200, b'{"path": "/plain"}'))
        self.assertEqual(headers["content-type"], "application/json")

    # --- bad input ---------------------------------------------------------

    def test_not_found_and_bad_input(self):
        emulator = self.start("--function", "demo=" + BOOTSTRAP, "--env", "STAMPEDE_HOLD_MS=0")
        port = emulator.port
        for path in ["/url/nope/", "/url/bad.name/", "/url/", "/", "/other"]:
            status, headers, body, _ = http_request(port, "GET", path)
            self.assertEqual(status, 404, path)
            self.assertEqual(headers["x-amzn-errortype"], "ResourceNotFoundException")
            self.check_common_headers(headers)
        status, _, body, _ = http_request(port, "GET", "/url/nope/")
        self.assertEqual(body, b'{"Message":"Function not found"}')

        # Over the limit without a declared length: read, counted, refused.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        chunks = [b"x" * 65536] * 96 + [b"x"]
        conn.request("POST", "/url/demo/", body=iter(chunks), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 413)
        self.assertEqual(resp.getheader("x-amzn-ErrorType"), "RequestEntityTooLargeException")
        self.assertEqual(json.loads(resp.read()), {"Message": "Request must be smaller than "
                         "6291456 bytes for the InvokeFunction operation"})
        conn.close()
        # Exactly at the limit the event (base64 of it) is too large too.
        status, headers, body, _ = http_request(port, "POST", "/url/demo/", b"\xff" * 6291456)
        self.assertEqual(status, 413)
        status, headers, body, _ = http_request(port, "POST", "/url/demo/", b"y" * 100000)
        self.assertEqual(status, 200)
        answer = raw_exchange(port, b"POST /url/demo/ HTTP/1.1\r\nHost: x\r\n"
                                    b"Content-Length: 99999999999\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer[:80])

        self.assertEqual(raw_exchange(port, b"GARBAGE\r\n\r\n"), b"")
        answer = raw_exchange(port, b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer[:80])
        answer = raw_exchange(port, b"GET /url/demo/ HTTP/1.1\r\nHost: x\r\nX-Big: "
                                    + b"a" * 40000 + b"\r\n\r\n")
        self.assertRegex(answer[:12], rb"^HTTP/1\.1 4\d\d")
        answer = raw_exchange(port, b"GET /url/demo/ HTTP/9.9\r\nHost: x\r\n\r\n")
        self.assertTrue(answer.startswith(b"HTTP/1.1 505 "), answer[:80])
        with socket.create_connection(("127.0.0.1", port)) as half:
            half.sendall(b"GET /url/demo/ HTTP/1.1\r\nHo")
            # Still serving while a client dawdles.
            status, headers, body, _ = http_request(port, "GET", "/url/demo/still")
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body)["request_id"], headers["x-amzn-requestid"])

    # --- access log ---------------------------------------------------------

    def test_access_log_has_one_line_per_answer(self):
        log_path = os.path.join(self.tmp.name, "access.log")
        emulator = self.start("--function", "demo=" + BOOTSTRAP, "--reserved", "3",
                              "--env", "STAMPEDE_HOLD_MS=1000", "--access-log", log_path)
        results = burst(emulator.port, "GET", "/url/demo/", 20)
        self.check_wave(results, 3, 17)
        status, headers, _, _ = http_request(emulator.port, "GET", "/url/nope/")
        self.assertEqual(status, 404)
        answered = [(h["x-amzn-requestid"], s, int(h["x-stampede-received-ns"]), "demo")
                    for s, h, _ in results]
        answered.append((headers["x-amzn-requestid"], 404,
                         int(headers["x-stampede-received-ns"]), None))
        # Written before the answer is sent, line-buffered: already on disk.
        with open(log_path) as log:
            text = log.read()
        self.assertTrue(text.endswith("\n"))
        lines = [json.loads(line) for line in text.splitlines()]
        self.assertEqual(len(lines), 21)
        self.assertEqual(sorted((l["request_id"], l["status"], l["received_ns"], l["function"])
                                for l in lines), sorted(answered))
        for line in lines:
            self.assertEqual(list(line), ["received_ns", "answered_ns", "status", "function",
                                          "request_id", "door"])
            self.assertEqual(line["door"], "url")
            self.assertGreaterEqual(line["answered_ns"], line["received_ns"])
            if line["status"] == 200:  # held by the function for 1000 ms
                self.assertGreaterEqual(line["answered_ns"] - line["received_ns"], 10**9)
        # Lines are in answer order: the 3 answers of the function come
        # after every throttle, the 404 last.
        self.assertEqual([l["status"] for l in lines], [429] * 17 + [200] * 3 + [404])

    def test_access_log_keeps_answers_the_clients_left(self):
        log_path = os.path.join(self.tmp.name, "access.log")
        emulator = self.start("--function", "demo=" + BOOTSTRAP, "--reserved", "5",
                              "--env", "STAMPEDE_HOLD_MS=500", "--access-log", log_path)
        socks = [socket.create_connection(("127.0.0.1", emulator.port), timeout=5)
                 for _ in range(5)]
        for sock in socks:
            sock.sendall(b"GET /url/demo/left HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 10  # the function holds all five
        while len(emulator.children()) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(len(emulator.children()), 5)
        for sock in socks:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        # Gone while the function ran. Whether MHD still asks for the
        # answer (which then goes nowhere) or ends the request first
        # depends on the order it sees the reset in; either way each
        # request that arrived has exactly one line, and one that was not
        # delivered says so.
        lines = []
        deadline = time.monotonic() + 10
        while len(lines) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
            with open(log_path) as log:
                lines = [json.loads(line) for line in log]
        time.sleep(0.2)
        with open(log_path) as log:
            lines = [json.loads(line) for line in log]
        self.assertEqual(len(lines), 5)
        self.assertEqual(len({line["request_id"] for line in lines}), 5)
        for line in lines:
            keys = ["received_ns", "answered_ns", "status", "function", "request_id", "door"]
            if "delivered" in line:
                keys.append("delivered")
                self.assertIs(line["delivered"], False)
            self.assertEqual(list(line), keys)
            self.assertEqual((line["status"], line["function"]), (200, "demo"))
            self.assertGreaterEqual(line["answered_ns"] - line["received_ns"], 500 * 10**6)
        # The door serves on; a delivered answer has no sixth field.
        for _ in range(200):
            status, headers, _, _ = http_request(emulator.port, "GET", "/url/demo/")
            if status != 429:
                break
            time.sleep(0.02)
        self.assertEqual(status, 200)
        with open(log_path) as log:
            last = [json.loads(line) for line in log][-1]
        self.assertEqual(last["request_id"], headers["x-amzn-requestid"])
        self.assertEqual((last["status"], "delivered" in last), (200, False))

    # --- command line -----------------------------------------------------

    def test_command_line(self):
        done = subprocess.run([EMULATOR, "--help"], capture_output=True, timeout=10)
        self.assertEqual(done.returncode, 0)
        self.assertIn(b"--function NAME=PATH", done.stdout)
        done = subprocess.run([EMULATOR, "--version"], capture_output=True, timeout=10)
        self.assertEqual(done.returncode, 0)
        self.assertRegex(done.stdout, rb"^stampede-lambda \(stampede\) \d+\.\d+\.\d+\n$")
        cases = [
            ([], b"at least one --function NAME=PATH is required"),
            (["--function", "x=/nonexistent"], b"'/nonexistent' is not an executable file"),
            (["--function", "x=" + BOOTSTRAP, "--reserved", "1001"], b"--reserved must be"),
            (["--reserved", "1"], b"--reserved must follow a --function"),
            (["--listen", "nowhere", "--function", "x=" + BOOTSTRAP], b"expected HOST:PORT"),
            (["--bogus"], b"unknown option '--bogus'"),
            (["--function", "x=" + BOOTSTRAP, "--access-log", ""],
             b"--access-log needs a file name of 1..4095 bytes"),
        ]
        for args, message in cases:
            done = subprocess.run([EMULATOR] + args, capture_output=True, timeout=10)
            self.assertEqual(done.returncode, 2, args)
            self.assertEqual(done.stdout, b"")
            self.assertIn(message, done.stderr)
        # The bootstrap outside Lambda: clear init failures, exit 1.
        done = subprocess.run([BOOTSTRAP, "--version"], capture_output=True, timeout=10)
        self.assertEqual((done.returncode, done.stdout[:21]), (0, b"bootstrap (stampede) "))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        done = subprocess.run([BOOTSTRAP], capture_output=True, timeout=10, env=env)
        self.assertEqual(done.returncode, 1)
        self.assertIn(b"AWS_LAMBDA_RUNTIME_API is not set", done.stderr)
        env["AWS_LAMBDA_RUNTIME_API"] = "localhost:9001"
        done = subprocess.run([BOOTSTRAP], capture_output=True, timeout=10, env=env)
        self.assertEqual(done.returncode, 1)
        self.assertIn(b"host must be a numeric IP address", done.stderr)
        done = subprocess.run([BOOTSTRAP, "extra"], capture_output=True, timeout=10)
        self.assertEqual(done.returncode, 2)
        # The front door port taken: exit 1 with the reason, no ready line.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            listen = "127.0.0.1:%d" % taken.getsockname()[1]
            done = subprocess.run([EMULATOR, "--listen", listen, "--function", "x=" + BOOTSTRAP],
                                  capture_output=True, timeout=10)
        self.assertEqual(done.returncode, 1)
        self.assertEqual(done.stdout, b"")
        self.assertIn(b"Address already in use", done.stderr)
        # An access log that cannot be opened: exit 1 with the reason.
        done = subprocess.run([EMULATOR, "--listen", "127.0.0.1:0", "--function",
                               "x=" + BOOTSTRAP, "--access-log", "/nonexistent/dir/a.log"],
                              capture_output=True, timeout=10)
        self.assertEqual(done.returncode, 1)
        self.assertEqual(done.stdout, b"")
        self.assertIn(b"cannot open the access log /nonexistent/dir/a.log: No such file or "
                      b"directory", done.stderr)
        done = subprocess.run([EMULATOR, "--help"], capture_output=True, timeout=10)
        self.assertIn(b"--access-log FILE", done.stdout)

    def test_sigint_stops_everything(self):
        emulator = self.start("--function", "demo=" + BOOTSTRAP, "--reserved", "3",
                              "--env", "STAMPEDE_HOLD_MS=5000")
        results = []
        shooter = threading.Thread(
            target=lambda: results.extend(burst(emulator.port, "GET", "/url/demo/", 3)))
        shooter.start()
        deadline = time.monotonic() + 10
        while len(emulator.children()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(emulator.children()), 3)
        emulator.proc.send_signal(signal.SIGINT)
        self.assertEqual(emulator.proc.wait(15), 0)
        shooter.join(30)
        # The waiting requests are cut off, not answered with a result.
        self.assertEqual(len(results), 3)
        self.assertTrue(all(status != 200 for status, _, _ in results), results)


if __name__ == "__main__":
    unittest.main(verbosity=2)
