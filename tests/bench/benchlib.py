"""Pieces both benchmarks need: waiting for stampede-lambda's ready line,
reading the demo function's answer."""
import json
import os
import select
import time

READY_PREFIX = "stampede-lambda listening on http://"


def read_ready_line(proc, timeout=10):
    """Reads the first line `proc` writes to its stdout pipe, for at most
    `timeout` seconds; returns it decoded and stripped ("" when none)."""
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                break
            line += chunk
    return line.decode(errors="replace").strip()


def function_facts(body, invoke_api):
    """The facts object of the demo function's answer `body`: the HTTP body
    itself from a Function URL or API Gateway door, which unwraps the
    function's Lambda proxy response, or, when `invoke_api`, the object in
    the "body" string of that response, which the Invoke API passes through
    whole (lambda/function/fn_handler.h)."""
    doc = json.loads(body)
    return json.loads(doc["body"]) if invoke_api else doc
