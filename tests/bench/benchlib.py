"""Pieces both benchmarks need: waiting for stampede-lambda's ready line."""
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
