"""shellcheck over every shell script of the repository.

The scripts are the `*.sh` files git knows (tracked, or new and not
ignored: `git ls-files --cached --others --exclude-standard`), plus
deploy/deploy.sh by name, so it is checked even outside a git checkout.
Each must pass shellcheck at its strictest default (every severity,
style included), and deploy/deploy.sh must hold no `shellcheck disable`
directive and run under `set -euo pipefail`. A deliberately bad script
shows the check can fail.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = "deploy/deploy.sh"


def shell_scripts():
    """Repository-relative paths of every shell script, sorted."""
    found = {DEPLOY}
    if shutil.which("git"):
        result = subprocess.run(
            ["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
             "--exclude-standard", "--", "*.sh"],
            capture_output=True, text=True, timeout=60)
        if result.returncode == 0:
            found.update(p for p in result.stdout.split("\0") if p)
    return sorted(p for p in found if os.path.isfile(os.path.join(ROOT, p)))


class ShellcheckTest(unittest.TestCase):

    def setUp(self):
        if not shutil.which("shellcheck"):
            raise unittest.SkipTest("shellcheck is not installed (make deps installs it)")

    def shellcheck(self, path):
        return subprocess.run(["shellcheck", "--norc", "--external-sources", path],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)

    def test_every_script_is_clean(self):
        scripts = shell_scripts()
        self.assertIn(DEPLOY, scripts)
        failures = []
        for script in scripts:
            result = self.shellcheck(script)
            if result.returncode != 0:
                failures.append("%s:\n%s%s" % (script, result.stdout, result.stderr))
        self.assertFalse(failures, "shellcheck findings:\n" + "\n".join(failures))

    def test_deploy_script_rules(self):
        with open(os.path.join(ROOT, DEPLOY)) as f:
            text = f.read()
        self.assertTrue(text.startswith("#!/usr/bin/env bash\n"), text[:40])
        self.assertIn("\nset -euo pipefail\n", text)
        self.assertNotIn("shellcheck disable", text)
        self.assertTrue(os.access(os.path.join(ROOT, DEPLOY), os.X_OK), "not executable")

    def test_a_bad_script_fails(self):
        with tempfile.TemporaryDirectory(prefix="stampede-shellcheck-") as tmp:
            bad = os.path.join(tmp, "bad.sh")
            with open(bad, "w") as f:
                f.write("#!/bin/bash\nfor f in $(ls *.txt); do rm $f; done\n")
            result = self.shellcheck(bad)
            self.assertEqual(result.returncode, 1, result.stdout)
            self.assertIn("SC2045", result.stdout)
            self.assertIn("SC2086", result.stdout)


if __name__ == "__main__":
    unittest.main()
