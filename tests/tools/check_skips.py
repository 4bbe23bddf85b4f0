#!/usr/bin/env python3
"""Fails the suite when a test was skipped that must run.

A test that cannot run (a tool missing, a limit too low) exits 77 and ctest
reports it as skipped (SKIP_RETURN_CODE) instead of passed. `make test`,
`make test-sanitize` and so CI run ctest with --output-junit and then this
script on that file: any test ctest did not run (skipped, disabled, not
run) fails unless it is listed in ALLOWED_TO_SKIP below.

The list is empty on purpose: CI installs everything (`make deps`), so on
the CI machine every test runs. Add a test here only with a comment saying
why it may not run on a machine that has all of `make deps`.

usage: check_skips.py CTEST_JUNIT.xml
Exit 0 when nothing unexpected was skipped, 1 when something was (listed
with the reason the test printed), 2 on a missing or unreadable file.
"""
import sys
import xml.etree.ElementTree as ET

# name of a ctest entry -> why it may be skipped on a fully equipped machine
ALLOWED_TO_SKIP = {}


def skipped_tests(path):
    """[(name, last lines of its output)] of every test ctest did not run,
    and the number of test cases in the file."""
    root = ET.parse(path).getroot()
    cases = root.findall(".//testcase")
    found = []
    for case in cases:
        status = case.get("status", "")
        if status == "notrun" or status == "disabled" or case.find("skipped") is not None:
            out = case.findtext("system-out") or ""
            found.append((case.get("name"), out.strip().splitlines()[-3:]))
    return found, len(cases)


def main(argv):
    if len(argv) != 2:
        print("usage: check_skips.py CTEST_JUNIT.xml", file=sys.stderr)
        return 2
    try:
        skipped, total = skipped_tests(argv[1])
    except (OSError, ET.ParseError) as error:
        print("check_skips: cannot read %s: %s" % (argv[1], error), file=sys.stderr)
        return 2
    if total == 0:
        print("check_skips: %s lists no test" % argv[1], file=sys.stderr)
        return 2
    unexpected = [(name, tail) for name, tail in skipped if name not in ALLOWED_TO_SKIP]
    for name, tail in skipped:
        if name in ALLOWED_TO_SKIP:
            print("check_skips: %s skipped (allowed: %s)" % (name, ALLOWED_TO_SKIP[name]))
    for name, tail in unexpected:
        print("check_skips: %s was skipped but must run" % name, file=sys.stderr)
        for line in tail:
            print("    %s" % line, file=sys.stderr)
    if unexpected:
        print("check_skips: %d of %d tests skipped; install what they need (make deps) "
              "or list them in tests/tools/check_skips.py ALLOWED_TO_SKIP"
              % (len(unexpected), total), file=sys.stderr)
        return 1
    print("check_skips: %d tests, none skipped unexpectedly" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
