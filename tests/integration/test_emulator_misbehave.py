"""System test: functions that misbehave cannot wedge or crash stampede-lambda.

Each test starts the real emulator (through test_emulator's harness, which
stops it with SIGTERM and checks that it exits 0 and leaves no process
behind) with a misbehaving Python or shell runtime next to the real
bootstrap, and checks that the misbehaving function gets AWS's answer while
the well-behaved one keeps answering in normal time:

  (a) 50 MB of output, without and with newlines;
  (b) a runtime that never calls /next: the init limit (10 s) fails the
      request, the process is killed and reaped;
  (c) Runtime API misuse: calls out of order, wrong ids, bad JSON, huge
      bodies and heads, garbage, more connections than allowed;
  (d) crashes, repeatedly, mid-invocation and during init: every request
      answered, no zombie, the emulator's descriptors back to baseline;
  (e) /init/error: the request fails with the runtime's payload.

Every wait is bounded; the whole file runs in about 30 s.
"""
import http.client
import json
import os
import socket
import threading
import time
import unittest

import test_emulator as base
from stampede_testlib import RUNTIME_PRELUDE, http_request, wait_until, zombies

FLOOD_BYTES = 50 * 1024 * 1024
#  A request to the well-behaved function answers within this even while a
#  neighbour floods (it takes milliseconds when all is well).
NORMAL_S = 1.0

FLOOD_FUNCTION = RUNTIME_PRELUDE + r'''
out = sys.stdout.buffer
while True:
    rid, event, _ = next_invocation()
    if event["rawPath"] == "/lines":
        chunk = (b"y" * 99 + b"\n") * 10486
    else:
        chunk = b"x" * (1 << 20)
    written = 0
    while written < %d:
        part = chunk[:%d - written]
        out.write(part)
        written += len(part)
    out.flush()
    call("POST", "/invocation/%%s/response" %% rid, json.dumps({"written": written}))
''' % (FLOOD_BYTES, FLOOD_BYTES)

MISUSE_FUNCTION = RUNTIME_PRELUDE + r'''
def raw(data, wait=1):
    """Sends raw bytes; returns the status line that came back, or ''."""
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        try:
            sock.sendall(data)
            answer = b""
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
    return answer.split(b"\r\n")[0].decode()

report = {}
some_id = "00000000-0000-4000-8000-000000000000"
report["response_before_next"] = call("POST", "/invocation/%s/response" % some_id, "{}")[0]
report["error_before_next"] = call("POST", "/invocation/%s/error" % some_id, "{}")[0]
rid, event, _ = next_invocation()
report["wrong_id"] = call("POST", "/invocation/%s/response" % some_id, "{}")[0]
report["wrong_id_error"] = call("POST", "/invocation/%s/error" % some_id, "{bad json")[0]
report["next_while_busy"] = call("GET", "/invocation/next")[0]
report["init_error_late"] = call("POST", "/init/error", "{bad json")[0]
report["unknown"] = call("GET", "/nope")[0]
report["bad_method"] = call("DELETE", "/invocation/next")[0]
report["huge_body_wrong_id"] = call("POST", "/invocation/%s/response" % some_id,
                                    b"z" * (7 << 20))[0]
report["huge_head"] = raw(b"GET " + base.encode() + b"/invocation/next HTTP/1.1\r\nHost: x\r\n"
                          b"X-Big: " + b"a" * 40000 + b"\r\n\r\n")
report["garbage"] = raw(b"\x00\xff\x01GARBAGE\r\n\r\n")
# A burst of wrong calls on one keep-alive connection.
conn = http.client.HTTPConnection(host, int(port), timeout=30)
statuses = set()
for _ in range(500):
    conn.request("POST", base + "/invocation/%s/response" % some_id, "{}")
    resp = conn.getresponse()
    resp.read()
    statuses.add(resp.status)
conn.close()
report["burst_of_wrong_ids"] = sorted(statuses)
time.sleep(0.3)  # the emulator has seen that connection close
# More connections than one environment may hold: 40 at once, each asking
# for an unknown resource; only EMU_ENV_CONNECTIONS (16) are served while
# all are held, the rest wait in the backlog, unanswered.
held = []
for _ in range(40):
    sock = socket.socket()
    sock.setblocking(False)
    sock.connect_ex((host, int(port)))
    held.append(sock)
time.sleep(0.3)
for sock in held:
    try:
        sock.send(b"GET " + base.encode() + b"/nope HTTP/1.1\r\nHost: x\r\n\r\n")
    except OSError:
        pass
served, waiting = 0, list(held)
deadline = time.monotonic() + 1.5
while waiting and time.monotonic() < deadline:
    for sock in select.select(waiting, [], [], 0.1)[0]:
        waiting.remove(sock)
        try:
            served += sock.recv(64).startswith(b"HTTP/1.1 404 ")
        except OSError:
            pass
for sock in held:
    sock.close()
report["served_of_40_held"] = served
with open(os.environ["MISUSE_REPORT"], "w") as f:
    json.dump(report, f)
report["response"] = call("POST", "/invocation/%s/response" % rid, json.dumps({"ok": True}))[0]
while True:
    rid, event, _ = next_invocation()
    call("POST", "/invocation/%s/response" % rid, json.dumps({"again": True}))
'''

CRASH_FUNCTION = RUNTIME_PRELUDE + r'''
import signal
rid, event, _ = next_invocation()
print("crashing %s" % rid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
'''

INIT_ERROR_FUNCTION = RUNTIME_PRELUDE + r'''
print("cannot start", flush=True)
call("POST", "/init/error",
     json.dumps({"errorMessage": "config is missing", "errorType": "Runtime.ConfigError",
                 "stackTrace": ["main.py:1"]}),
     {"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigError"})
sys.exit(1)
'''


def get(port, path, timeout=30):
    """(status, headers lower-cased, body, seconds) of one GET."""
    started = time.monotonic()
    status, headers, body, _ = http_request(port, "GET", path, timeout=timeout)
    return status, headers, body, time.monotonic() - started


def invoke(port, function, timeout=30):
    """(status, headers lower-cased, body, seconds) of one synchronous Invoke
    API call: a failed invocation's error payload is read here, since a
    Function URL answers a function error with AWS's bare 502."""
    started = time.monotonic()
    status, headers, body, _ = http_request(
        port, "POST", "/2015-03-31/functions/%s/invocations" % function, "{}",
        timeout=timeout)
    return status, headers, body, time.monotonic() - started


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def settled_fd_count(pid, timeout=5):
    """The descriptor count once it holds still for 0.2 s (connections
    just answered take a moment to close)."""
    counts = []

    def still():
        counts.append(fd_count(pid))
        return len(counts) > 4 and len(set(counts[-5:])) == 1
    wait_until(still, timeout, what="the descriptor count to settle")
    return counts[-1]


class Neighbour(threading.Thread):
    """Keeps requesting the well-behaved function, back to back, until
    stopped; records (status, seconds, monotonic start) of each request."""

    def __init__(self, port, path="/url/demo/"):
        super().__init__(daemon=True)
        self.port, self.path = port, path
        self.results = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                status, _, _, seconds = get(self.port, self.path, timeout=10)
            except OSError as error:
                status, seconds = repr(error), 10
            self.results.append((status, seconds, started))

    def stop(self):
        self.stopping.set()
        self.join(15)
        return self.results


class EmulatorMisbehaveTest(base.EmulatorHarness):
    def start_with(self, name, text, *extra):
        """The emulator serving `name` (the runtime `text`) and demo, the
        real bootstrap answering at once."""
        path = self.write_function(name, text)
        return self.start("--function", name + "=" + path, *extra,
                          "--function", "demo=" + base.BOOTSTRAP,
                          "--env", "STAMPEDE_HOLD_MS=0")

    def check_demo(self, emulator):
        status, headers, body, seconds = get(emulator.port, "/url/demo/")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["request_id"], headers["x-amzn-requestid"])
        self.assertLess(seconds, NORMAL_S)

    def check_neighbour(self, results):
        self.assertGreater(len(results), 5)
        self.assertEqual({status for status, _, _ in results}, {200}, results)
        slowest = max(seconds for _, seconds, _ in results)
        self.assertLess(slowest, NORMAL_S, "the well-behaved function was held up")
        return slowest

    # --- (a) --------------------------------------------------------------

    def test_a_output_flood_does_not_starve_the_loop(self):
        emulator = self.start_with("flood", FLOOD_FUNCTION, "--reserved", "2",
                                   "--timeout", "60")
        self.check_demo(emulator)  # its environment is warm
        floods = {}

        def flood(path):
            floods[path] = get(emulator.port, "/url/flood" + path, timeout=60)

        neighbour = Neighbour(emulator.port)
        neighbour.start()
        started = time.monotonic()
        threads = [threading.Thread(target=flood, args=(p,)) for p in ("/bytes", "/lines")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        elapsed = time.monotonic() - started
        results = neighbour.stop()
        slowest = self.check_neighbour(results)
        during = [r for r in results if started <= r[2] <= started + elapsed]
        self.assertGreaterEqual(len(during), 3, "the neighbour ran while the flood drained")
        for path in ("/bytes", "/lines"):
            status, headers, body, _ = floods[path]
            self.assertEqual((status, json.loads(body)), (200, {"written": FLOOD_BYTES}), path)
        print("\n  flood: 2 x %d MB drained in %.2f s (%.0f MB/s); %d neighbour requests "
              "meanwhile, slowest %.1f ms" % (FLOOD_BYTES >> 20, elapsed,
                                              2 * FLOOD_BYTES / 2**20 / elapsed, len(during),
                                              slowest * 1000), flush=True)
        # Our log took at most the burst plus the rate per environment.
        log = emulator.log_text()
        forwarded = log.count("function output env=flood#")
        self.assertGreater(forwarded, 0)
        self.assertLessEqual(forwarded, 2 * (200 + 100 * (elapsed + 1)))
        self.assertIn("function output dropped env=flood#", log)
        self.check_demo(emulator)

    # --- (b) --------------------------------------------------------------

    def test_b_never_calling_next_fails_the_init_after_10_s(self):
        emulator = self.start_with("stuck", "#!/bin/sh\nexec sleep 60\n")
        baseline = settled_fd_count(emulator.proc.pid)
        answer = {}

        def stuck():
            answer["result"] = invoke(emulator.port, "stuck", timeout=30)

        thread = threading.Thread(target=stuck)
        neighbour = Neighbour(emulator.port)
        thread.start()
        wait_until(lambda: self.sleepers(emulator), 5, what="the stuck runtime to start")
        neighbour.start()
        thread.join(20)
        self.check_neighbour(neighbour.stop())
        status, headers, body, seconds = answer["result"]
        self.assertEqual(status, 200)
        self.assertEqual(headers["x-amz-function-error"], "Unhandled")
        self.assertEqual(json.loads(body), {
            "errorMessage": "RequestId: %s Error: Init timed out after 10.00 seconds"
                            % headers["x-amzn-requestid"],
            "errorType": "Sandbox.Timedout"})
        self.assertGreaterEqual(seconds, 9.9)
        self.assertLess(seconds, 12)
        # Killed and reaped; the emulator serves on.
        wait_until(lambda: not self.sleepers(emulator), 5,
                   what="the stuck runtime to be gone")
        self.assertEqual(zombies(emulator.proc.pid), [])
        self.check_demo(emulator)
        # Only demo's environments hold descriptors (five each).
        self.assertEqual(settled_fd_count(emulator.proc.pid),
                         baseline + 5 * len(emulator.children()))

    def sleepers(self, emulator):
        found = []
        for pid in emulator.children():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as cmdline:
                    if cmdline.read().startswith(b"sleep\x0060"):
                        found.append(pid)
            except OSError:
                pass
        return found

    # --- (c) --------------------------------------------------------------

    def test_c_runtime_api_misuse_gets_4xx_and_harms_no_one(self):
        report = os.path.join(self.tmp.name, "misuse.json")
        emulator = self.start_with("misuse", MISUSE_FUNCTION, "--env", "MISUSE_REPORT=" + report,
                                   "--timeout", "15", "--reserved", "1")
        baseline = settled_fd_count(emulator.proc.pid)
        self.check_demo(emulator)
        #  pidfd, output pipe; its daemon's listening socket, epoll and the
        #  runtime's parked /next connection.
        one_environment = settled_fd_count(emulator.proc.pid) - baseline
        self.assertEqual(one_environment, 5)
        neighbour = Neighbour(emulator.port)
        neighbour.start()
        status, headers, body, _ = get(emulator.port, "/url/misuse/")
        self.check_neighbour(neighbour.stop())
        self.assertEqual((status, json.loads(body)), (200, {"ok": True}))
        with open(report) as f:
            self.assertEqual(json.load(f), {
                "response_before_next": 403, "error_before_next": 403, "wrong_id": 400,
                "wrong_id_error": 400, "next_while_busy": 403, "init_error_late": 403,
                "unknown": 404, "bad_method": 405, "huge_body_wrong_id": 400,
                "huge_head": "HTTP/1.1 431 Request Header Fields Too Large", "garbage": "",
                "burst_of_wrong_ids": [400], "served_of_40_held": 16})
        # The environment is reused, and nothing it opened is left behind:
        # each environment left (misuse's, and demo's one or more: a request
        # arriving before the last one's runtime is back in /next starts
        # another) holds its five.
        # (Reserved concurrency 1: 429 until its runtime is back in /next.)
        for _ in range(100):
            status, _, body, _ = get(emulator.port, "/url/misuse/again")
            if status != 429:
                break
            time.sleep(0.02)
        self.assertEqual((status, json.loads(body)), (200, {"again": True}))
        environments = len(emulator.children())
        self.assertGreaterEqual(environments, 2)
        self.assertEqual(settled_fd_count(emulator.proc.pid),
                         baseline + environments * one_environment)
        self.check_demo(emulator)

    # --- (d) --------------------------------------------------------------

    def test_d_repeated_crashes_leave_no_zombie_and_no_descriptor(self):
        crasher = self.write_function("crasher", CRASH_FUNCTION)
        quitter = self.write_function("quitter", "#!/bin/sh\necho leaving\nexit 1\n")
        emulator = self.start("--function", "crasher=" + crasher, "--reserved", "2",
                              "--function", "quitter=" + quitter,
                              "--function", "demo=" + base.BOOTSTRAP,
                              "--env", "STAMPEDE_HOLD_MS=0")
        baseline = settled_fd_count(emulator.proc.pid)
        ids = []
        for _ in range(10):
            status, headers, body, seconds = invoke(emulator.port, "crasher")
            self.assertEqual(status, 200)
            self.assertEqual(headers["x-amz-function-error"], "Unhandled")
            self.assertEqual(json.loads(body), {
                "errorMessage": "RequestId: %s Error: Runtime exited with error: signal: killed"
                                % headers["x-amzn-requestid"],
                "errorType": "Runtime.ExitError"})
            self.assertLess(seconds, 5)
            ids.append(headers["x-amzn-requestid"])
        for _ in range(5):
            status, headers, body, _ = invoke(emulator.port, "quitter")
            self.assertEqual(status, 200)
            self.assertEqual(json.loads(body), {
                "errorMessage": "RequestId: %s Error: Runtime exited with error: exit status 1"
                                % headers["x-amzn-requestid"],
                "errorType": "Runtime.ExitError"})
        self.check_demo(emulator)
        log = emulator.log_text()
        for request_id in ids:
            self.assertIn("crashing %s" % request_id, log)
        self.assertEqual(log.count("| leaving"), 5)
        # Only demo's environment is left: no zombie, descriptors back to
        # the baseline plus that one environment.
        wait_until(lambda: len(emulator.children()) == 1, 5,
                   what="the crashed runtimes to be reaped")
        self.assertEqual(zombies(emulator.proc.pid), [])
        #  demo's: pidfd, output pipe; its daemon's listening socket, epoll
        #  and the runtime's parked /next connection.
        self.assertEqual(settled_fd_count(emulator.proc.pid), baseline + 5)

    # --- (e) --------------------------------------------------------------

    def test_e_init_error_fails_the_invoke_with_its_payload(self):
        emulator = self.start_with("broken", INIT_ERROR_FUNCTION)
        for _ in range(2):
            status, headers, body, seconds = invoke(emulator.port, "broken")
            self.assertEqual(status, 200)
            self.assertEqual(headers["x-amz-function-error"], "Unhandled")
            self.assertEqual(json.loads(body), {
                "errorMessage": "config is missing", "errorType": "Runtime.ConfigError",
                "stackTrace": ["main.py:1"]})
            self.assertLess(seconds, 5)
        wait_until(lambda: len(emulator.children()) == 0, 5,
                   what="the broken runtimes to be gone")
        self.assertEqual(emulator.log_text().count("| cannot start"), 2)
        self.check_demo(emulator)


if __name__ == "__main__":
    unittest.main(verbosity=2)
