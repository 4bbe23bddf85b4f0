"""Scale test of stampede-lambda: 5,000 held connections, 1,000 environments.

5,000 connections are opened first and held, then every request is written
at once against a function without reserved concurrency (the account limit,
1,000, caps it): exactly 1,000 run, each in its own execution environment,
and 4,000 are throttled - all of them answered before the first invocation
ends. Stopping the emulator reaps all 1,000 processes.
"""
import asyncio
import json
import os
import resource
import time
import unittest

import test_emulator as base

CONNECTIONS = 5000
ENVIRONMENTS = 1000


async def fire(port, path, count):
    """Opens `count` connections, then writes all requests; returns
    [(status, seconds after the write, body)]."""
    conns = []
    for start in range(0, count, 500):
        batch = min(500, count - start)
        conns += await asyncio.gather(
            *[asyncio.open_connection("127.0.0.1", port) for _ in range(batch)])
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode()
    for _, writer in conns:
        writer.write(request)
    await asyncio.gather(*[writer.drain() for _, writer in conns])
    sent = time.monotonic()

    async def answer(reader):
        data = await asyncio.wait_for(reader.read(), 120)
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head[9:12]) if head.startswith(b"HTTP/1.1 ") else 0
        return status, time.monotonic() - sent, body

    results = await asyncio.gather(*[answer(reader) for reader, _ in conns])
    for _, writer in conns:
        writer.close()
    return results


class EmulatorScaleTest(base.EmulatorHarness):
    def setUp(self):
        super().setUp()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        needed = CONNECTIONS + 512
        if hard != resource.RLIM_INFINITY and hard < needed:
            self.skipTest("open-file limit %d is below %d" % (hard, needed))
        if soft != resource.RLIM_INFINITY and soft < needed:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))

    def test_5000_connections_1000_environments(self):
        emulator = self.start("--function", "demo=" + base.BOOTSTRAP, "--timeout", "60",
                              "--env", "STAMPEDE_HOLD_MS=4000")
        results = asyncio.run(fire(emulator.port, "/url/demo/", CONNECTIONS))
        statuses = [status for status, _, _ in results]
        self.assertEqual(statuses.count(200), ENVIRONMENTS)
        self.assertEqual(statuses.count(429), CONNECTIONS - ENVIRONMENTS)
        oks = [(elapsed, json.loads(body)) for status, elapsed, body in results if status == 200]
        self.assertEqual(len({doc["environment_id"] for _, doc in oks}), ENVIRONMENTS)
        self.assertTrue(all(doc["cold_start"] is True for _, doc in oks))
        throttled = [body for status, _, body in results if status == 429]
        self.assertEqual(set(throttled), {base.THROTTLE_BODY})
        # Throttles are answered at once: all before the first invocation ends.
        last_throttle = max(elapsed for status, elapsed, _ in results if status == 429)
        first_ok = min(elapsed for elapsed, _ in oks)
        self.assertLess(last_throttle, first_ok)
        self.assertEqual(len(emulator.children()), ENVIRONMENTS)


if __name__ == "__main__":
    unittest.main(verbosity=2)
