"""System test: X-Stampede-Received-Ns is when the request arrived.

stampede-lambda stamps each request with the kernel's receive timestamp
(SO_TIMESTAMPNS, CLOCK_REALTIME) of the TCP segment that completed it, not
the time its single loop got round to the request (docs/lambda-fidelity.md,
"Arrival stamps"). To tell the two apart, the test sends a request but its
last byte, stops the emulator with SIGSTOP, sends the last byte (noting the
wall clock just before, t_sent), waits 300 ms and lets it go on with
SIGCONT: the loop can only have read the byte 300 ms after t_sent, the
kernel stamped it at once. So the stamp must lie in [t_sent - 5 ms,
t_sent + 100 ms), while the access log's answered_ns, the loop's clock, is
at least t_sent + 300 ms. On every door: the Function URL (GET, and POST
with a body), the API Gateway REST and HTTP APIs, the Invoke API and the
management API; the path doors' events carry the same time
(requestContext timeEpoch / requestTimeEpoch) and the runtime's X-Ray trace
id its second. A request in two segments 200 ms apart, with the emulator
running, is stamped by its second segment.
"""
import http.client
import json
import os
import signal
import socket
import sys
import time
import unittest

from stampede_testlib import LAMBDA_READY, RUNTIME_PRELUDE, SystemTest, binary, wait_until

MS = 1000000
HOLD_S = 0.3

# A Python custom runtime that answers with the time its event carries
# and the X-Ray trace id it was handed: a gateway or Function URL event
# gets a structured answer (the facts as its body), an Invoke API payload
# the facts themselves.
STAMP_FUNCTION = RUNTIME_PRELUDE + r'''
while True:
    rid, event, headers = next_invocation()
    context = event.get("requestContext", {}) if isinstance(event, dict) else {}
    facts = {"time_epoch_ms": context.get("timeEpoch", context.get("requestTimeEpoch")),
             "trace_id": headers.get("lambda-runtime-trace-id")}
    answer = facts
    if context:
        answer = {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                  "body": json.dumps(facts)}
    call("POST", "/invocation/%s/response" % rid, json.dumps(answer))
'''


def http_bytes(method, path, body=b""):
    """A whole HTTP/1.1 request, the connection closed after the answer."""
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (method, path)
    if body:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return head.encode() + b"\r\n" + body


class RxStampTest(SystemTest):

    def setUp(self):
        super().setUp()
        function = self.path("stamp-bootstrap")
        with open(function, "w") as script:
            script.write(STAMP_FUNCTION.replace("@PYTHON@", sys.executable))
        os.chmod(function, 0o755)
        self.access_log = self.path("access.log")
        self.proc = self.procs.start(
            [binary("stampede-lambda"), "--listen", "127.0.0.1:0", "--function",
             "stamp=" + function, "--access-log", self.access_log],
            env=self.env)
        self.port = int(self.proc.read_line(LAMBDA_READY, timeout=10).rsplit(":", 1)[1])
        # The environment starts (cold) before any measured request.
        sock = self.connect()
        sock.sendall(http_bytes("GET", "/url/stamp/warm"))
        self.assertEqual(self.answer(sock)[0], 200)

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def answer(self, sock):
        """(status, lower-cased headers, body) of the answer on `sock`."""
        try:
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            body = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            sock.close()

    def state(self):
        """The emulator's process state letter (R, S, T...)."""
        with open("/proc/%d/stat" % self.proc.pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]

    def log_line(self, request_id):
        """The access-log line of the answer with x-amzn-RequestId `request_id`."""
        with open(self.access_log) as log:
            lines = [json.loads(text) for text in log]
        found = [line for line in lines if line["request_id"] == request_id]
        self.assertEqual(len(found), 1, lines)
        return found[0]

    def last_byte_while_stopped(self, raw):
        """Sends `raw` but its last byte, then the last byte while the
        emulator is stopped (SIGSTOP, 300 ms). Returns (t_sent, status,
        headers, body)."""
        sock = self.connect()
        sock.sendall(raw[:-1])
        time.sleep(0.05)
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: self.state() == "T", 5, interval=0.005,
                       what="the emulator stopped")
            t_sent = time.time_ns()
            sock.sendall(raw[-1:])
            time.sleep(HOLD_S)
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)
        return (t_sent,) + self.answer(sock)

    def check_stopped(self, method, path, body=b"", status=200):
        """The stamp of a request completed while the emulator was stopped
        is the kernel's: near t_sent, not after the stop. Returns the
        stamp and the answer's body."""
        t_sent, got, headers, answer = self.last_byte_while_stopped(
            http_bytes(method, path, body))
        self.assertEqual(got, status, answer)
        stamp = int(headers["x-stampede-received-ns"])
        self.assertGreaterEqual(stamp, t_sent - 5 * MS, (method, path))
        self.assertLess(stamp, t_sent + 100 * MS, (method, path, (stamp - t_sent) / MS))
        line = self.log_line(headers["x-amzn-requestid"])
        self.assertEqual(line["received_ns"], stamp)
        # The loop answered only after SIGCONT: its clock would have said so.
        self.assertGreaterEqual(line["answered_ns"], t_sent + int(HOLD_S * 1000) * MS)
        return stamp, answer

    def check_facts(self, stamp, facts, event_time=True):
        """The event's time (ms) and the trace id's second are the stamp's."""
        if event_time:
            self.assertEqual(facts["time_epoch_ms"], stamp // MS)
        self.assertRegex(facts["trace_id"], r"^Root=1-[0-9a-f]{8}-")
        self.assertEqual(int(facts["trace_id"][7:15], 16), stamp // (1000 * MS))

    def test_function_url_get_and_post_stamped_while_the_loop_is_stopped(self):
        stamp, answer = self.check_stopped("GET", "/url/stamp/get")
        self.check_facts(stamp, json.loads(answer))
        stamp, answer = self.check_stopped("POST", "/url/stamp/post", b'{"hello":"world"}')
        self.check_facts(stamp, json.loads(answer))

    def test_every_other_door_uses_the_same_stamp(self):
        stamp, answer = self.check_stopped("GET", "/restapi/stamp/get")
        self.check_facts(stamp, json.loads(answer))
        stamp, answer = self.check_stopped("POST", "/httpapi/stamp/post", b'{"a":1}')
        self.check_facts(stamp, json.loads(answer))
        stamp, answer = self.check_stopped(
            "POST", "/2015-03-31/functions/stamp/invocations", b'{"b":2}')
        self.check_facts(stamp, json.loads(answer), event_time=False)
        _, answer = self.check_stopped("GET", "/2015-03-31/functions/")
        self.assertEqual([f["FunctionName"] for f in json.loads(answer)["Functions"]],
                         ["stamp"])

    def test_a_request_in_two_segments_is_stamped_by_the_second(self):
        raw = http_bytes("POST", "/url/stamp/split", b'{"split":true}')
        sock = self.connect()
        t_first = time.time_ns()
        sock.sendall(raw[:-1])
        time.sleep(0.2)
        t_sent = time.time_ns()
        sock.sendall(raw[-1:])
        status, headers, answer = self.answer(sock)
        self.assertEqual(status, 200, answer)
        stamp = int(headers["x-stampede-received-ns"])
        self.assertGreaterEqual(t_sent - t_first, 200 * MS)
        self.assertGreaterEqual(stamp, t_sent - 5 * MS)
        self.assertLess(stamp, t_sent + 100 * MS, (stamp - t_sent) / MS)
        self.check_facts(stamp, json.loads(answer))


if __name__ == "__main__":
    unittest.main()
