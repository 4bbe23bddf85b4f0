#!/usr/bin/env python3
"""Checks that no shipped binary carries code of the test helpers.

The helpers of tests/support (agent_testserver, emu_probe, fn_stub) are
linked only into the selftest executables; the module selftests that call
them sit in the product libraries and are dropped from the shipped
executables at link time (--gc-sections). This lists every symbol of each
binary given on the command line with nm and fails on any whose name starts
with a helper's prefix, so a helper that creeps back into a shipped binary
fails the suite.

usage: check_shipped_symbols.py BINARY...
Exit 0 when clean, 1 when a helper symbol is found (listed on stderr),
2 on bad usage or when nm cannot read a binary.
"""
import subprocess
import sys

HELPER_PREFIXES = ("agent_testserver_", "emu_probe_", "fn_stub_")


def symbols(binary):
    """Names of every symbol nm lists for binary (defined or not)."""
    result = subprocess.run(["nm", "--no-sort", binary], capture_output=True, text=True)
    if result.returncode != 0:
        raise OSError("nm %s: %s" % (binary, result.stderr.strip()))
    return [line.split()[-1] for line in result.stdout.splitlines() if line.strip()]


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 2
    found = 0
    for binary in argv[1:]:
        try:
            names = symbols(binary)
        except OSError as error:
            print("check_shipped_symbols: %s" % error, file=sys.stderr)
            return 2
        # A stripped binary would pass vacuously: insist on seeing main.
        if "main" not in names:
            print("check_shipped_symbols: %s has no symbol table (no main)" % binary,
                  file=sys.stderr)
            return 2
        helpers = sorted({n for n in names if n.startswith(HELPER_PREFIXES)})
        for name in helpers:
            print("%s: test helper symbol %s" % (binary, name), file=sys.stderr)
        found += len(helpers)
        print("%s: %d symbols, no test helper" % (binary, len(names)) if not helpers
              else "%s: %d test helper symbols" % (binary, len(helpers)))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
