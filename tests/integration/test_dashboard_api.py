"""System test of the dashboard's HTTP API with the real binaries: safe by
default (Host, Origin, a target the agents would refuse, a chunked body far
past the cap) and the original demo's API (its request body and result
field names) against the emulator with reserved concurrency 5.
"""
import csv
import http.client
import io
import json
import sqlite3
import unittest

from stampede_testlib import (SERVE_READY, ControllerTest, binary, http_json,
                              raw_exchange, wait_until)


def request(port, method, path, headers, body=None):
    """One request with exactly these headers (Host included or not);
    returns (status, decoded JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        data = body.encode() if body is not None else None
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


class DashboardApiTest(ControllerTest):

    def start(self, extra=(), function=False):
        """stampede serve with a loopback target and two agents (with
        function, serve --function demo on the emulator's management API);
        returns (the emulator's base URL, the dashboard's port)."""
        base = self.start_lambda(reserved=5)
        argv = [binary("stampede"), "serve", "--listen", "tcp://127.0.0.1:*", "--http",
                "127.0.0.1:0", "--db", self.path("r.db"), "--keys", self.path("keys"),
                "--target", base + "/url/demo/"] + list(extra)
        if function:
            argv += ["--function", "demo", "--lambda-endpoint", base]
        proc = self.procs.start(argv, env=self.env)
        words = proc.read_line(SERVE_READY).split()
        endpoint, http = words[3], words[5]
        for name in ("agent-1", "agent-2"):
            self.start_agent(name, endpoint, self.keygen(name, admit=True))
        wait_until(lambda: self.agent_ids(http) == ["agent-1", "agent-2"], 30, 0.1,
                   "both agents")
        return base, int(http.rsplit(":", 1)[1])

    def runs(self, port):
        status, body = http_json("http://127.0.0.1:%d/api/runs" % port)
        self.assertEqual(status, 200)
        return body

    def test_safe_by_default(self):
        base, port = self.start(["--public-host", "dash.example.com"])
        here = "127.0.0.1:%d" % port
        json_type = {"Content-Type": "application/json"}

        # Host: this server's address (or localhost, or the public host) only.
        for host in (here, "localhost:%d" % port, "dash.example.com"):
            status, _ = request(port, "GET", "/api/runs", {"Host": host})
            self.assertEqual(status, 200, host)
        for host in ("evil.example:%d" % port, "127.0.0.1:1", "127.0.0.1"):
            status, body = request(port, "GET", "/", {"Host": host})
            self.assertEqual((status, body), (421, {
                "error": 'Host "%s" does not name this server (use the address it '
                         'listens on, or start it with --public-host)' % host}))
        status, body = request(port, "GET", "/api/status", {})
        self.assertEqual((status, body), (421, {"error": "a Host header is required"}))

        # Origin: a cross-site POST is refused before anything happens.
        for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
            status, body = request(port, "POST", "/api/test",
                                   dict(json_type, Host=here, Origin=origin),
                                   json.dumps({"requests": 5}))
            self.assertEqual((status, body), (403, {
                "error": 'cross-origin request refused (Origin "%s")' % origin}))
        self.assertEqual(self.runs(port), [])

        # A target the agents would refuse: 400 with the reason, no run.
        status, body = request(port, "POST", "/api/test", dict(json_type, Host=here),
                               json.dumps({"url": "https://example.com/", "requests": 5}))
        self.assertEqual((status, body), (400, {
            "error": "target host example.com is not in the agents' allow-list "
                     "(loopback only; give the agents and stampede serve --allow "
                     "PATTERN)"}))
        self.assertEqual(self.runs(port), [])

        # 2 MiB chunked: 413, nothing stored.
        head = ("POST /api/test HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                % here).encode()
        chunk = b"4000\r\n" + b" " * 0x4000 + b"\r\n"
        answer = raw_exchange(port, head + chunk * 128 + b"0\r\n\r\n", timeout=20)
        status_line, _, rest = answer.partition(b"\r\n")
        self.assertEqual(status_line, b"HTTP/1.1 413 Content Too Large")
        self.assertEqual(json.loads(rest.partition(b"\r\n\r\n")[2]),
                         {"error": "request body larger than 65536 bytes"})
        self.assertEqual(self.runs(port), [])

        # The page itself: strict CSP, no inline script.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        resp = conn.getresponse()
        page = resp.read().decode()
        conn.close()
        self.assertEqual(resp.getheader("Content-Security-Policy"),
                         "default-src 'self'; script-src 'self'; style-src 'self'; "
                         "img-src 'self' data:; connect-src 'self'; "
                         "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
        self.assertNotRegex(page, r"<script(?![^>]*\bsrc=)")

        # The same-origin page's own POST is accepted.
        status, body = request(port, "POST", "/api/test",
                               dict(json_type, Host=here, Origin="http://" + here),
                               json.dumps({"url": base + "/url/demo/", "requests": 3}))
        self.assertEqual((status, body), (202, {"run_id": 1}))

    def test_original_api(self):
        base, port = self.start(function=True)
        api = "http://127.0.0.1:%d" % port
        status, body = http_json(api + "/api/test", "POST",
                                 {"url": base + "/url/demo/", "num_requests": 100})
        self.assertEqual((status, body), (202, {"run_id": 1}))

        def finished():
            code, run = http_json(api + "/api/runs/1?requests=0")
            return run if code == 200 and run["status"] in ("completed", "failed") \
                else None
        wait_until(finished, 60, 0.1, "run 1 to finish")
        # serve --function: the run records the reserved concurrency the
        # function had.
        status, run = http_json(api + "/api/runs/1?requests=0")
        self.assertEqual(run["reserved_configured"], 5)

        status, results = http_json(api + "/api/results", timeout=30)
        self.assertEqual(status, 200)
        rows = results["requests"]
        self.assertEqual([r["index"] for r in rows], list(range(100)))
        ok = [r for r in rows if r["outcome"] == "ok"]
        cold = [r for r in rows if r["cold_start"]]
        self.assertEqual({k: results[k] for k in (
            "total_requests", "successful", "throttled", "success_rate",
            "reserved_concurrency", "cold_starts")}, {
            "total_requests": 100, "successful": 5, "throttled": 95,
            "success_rate": 5.0, "reserved_concurrency": 5, "cold_starts": 5})
        self.assertEqual(len({r["environment_id"] for r in ok}), 5)
        self.assertAlmostEqual(results["avg_response_time"],
                               sum(r["latency_ms"] for r in ok) / 5, places=6)
        self.assertAlmostEqual(results["cold_start_time"],
                               sum(r["cold_start_time"] for r in cold) / 5, places=9)
        self.assertGreater(results["cold_start_time"], 0)
        # Ours beside the original's.
        self.assertEqual((results["summary"]["ok"], results["summary"]["throttled"]),
                         (5, 95))

        status, files = http_json(api + "/api/results/files")
        self.assertEqual(status, 200)
        self.assertEqual([f["name"] for f in files["files"]], ["run-1.json"])
        status, file_body = http_json(api + "/api/results/file/run-1.json", timeout=30)
        self.assertEqual((status, file_body), (200, results))

        # The table's pages.
        status, page = http_json(
            api + "/api/runs/1/rows?limit=10&outcome=ok&sort=environment")
        self.assertEqual(status, 200)
        self.assertEqual(page["total"], 5)
        self.assertEqual([r["environment_id"] for r in page["rows"]],
                         sorted(r["environment_id"] for r in ok))
        status, page = http_json(api + "/api/runs/1/rows?offset=90&limit=20")
        self.assertEqual((page["total"], [r["index"] for r in page["rows"]]),
                         (100, list(range(90, 100))))

        # The run as CSV: the same rows as the JSON, cell for cell; text
        # from the target that a spreadsheet would run as a formula is
        # written as text.
        def cell(value):
            if value is None:
                return ""
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, float):  # SQLite's text of a REAL: 2.0, 1.999
                return repr(value)
            if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
                return "'" + value
            return str(value)
        conn = sqlite3.connect(self.path("r.db"), timeout=10)
        try:
            with conn:
                conn.execute("UPDATE requests SET error = ? WHERE run_id = 1 AND "
                             "request_index = 7", ('=HYPERLINK("http://x","y")',))
                conn.execute("UPDATE requests SET error = ? WHERE run_id = 1 AND "
                             "request_index = 8", ("-1+2, \"quoted\"\r\nnext",))
        finally:
            conn.close()
        status, results = http_json(api + "/api/results/file/run-1.json", timeout=30)
        self.assertEqual(status, 200)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/api/runs/1/requests.csv")
            resp = conn.getresponse()
            text = resp.read().decode()
            self.assertEqual((resp.status, resp.getheader("Content-Type"),
                              resp.getheader("Content-Disposition")),
                             (200, "text/csv; charset=utf-8; header=present",
                              'attachment; filename="run-1.csv"'))
        finally:
            conn.close()
        table = list(csv.reader(io.StringIO(text, newline="")))
        header, body = table[0], table[1:]
        self.assertEqual(header[:4], ["index", "agent_id", "outcome", "http_status"])
        self.assertEqual(body, [[cell(row[name]) for name in header]
                                for row in results["requests"]])
        self.assertEqual(body[7][header.index("error")], '\'=HYPERLINK("http://x","y")')
        self.assertEqual(body[8][header.index("error")], "'-1+2, \"quoted\"\r\nnext")
        self.assertEqual(text.count("\r\n"), 102)  # 101 lines, one break in a cell
        status, missing = http_json(api + "/api/runs/2/requests.csv")
        self.assertEqual((status, missing), (404, {"error": "no run 2"}))


if __name__ == "__main__":
    unittest.main()
