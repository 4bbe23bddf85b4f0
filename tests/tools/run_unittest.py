#!/usr/bin/env python3
"""Runs one system test file (a unittest module) for ctest, honestly.

unittest exits 0 when tests were skipped, so a skip would show as passed.
This runs every test of the module given on the command line and exits

  0   every test ran and passed,
  1   a test failed or errored (or the module did not load),
  77  nothing failed but at least one test was skipped (or none ran);
      ctest's SKIP_RETURN_CODE 77 reports the entry as skipped, and
      tests/tools/check_skips.py fails the suite on a skip not allowed.

usage: run_unittest.py TEST_FILE.py
"""
import importlib.util
import os
import sys
import unittest

SKIPPED = 77


def main(argv):
    if len(argv) != 2:
        print("usage: run_unittest.py TEST_FILE.py", file=sys.stderr)
        return 2
    path = os.path.abspath(argv[1])
    name = os.path.splitext(os.path.basename(path))[0]
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.skipped or result.testsRun == 0:
        for test, reason in result.skipped:
            print("SKIPPED %s: %s" % (test.id(), reason))
        return SKIPPED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
