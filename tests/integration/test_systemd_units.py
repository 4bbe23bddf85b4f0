"""The systemd units of deploy/systemd, as the package installs them.

- `systemd-analyze verify` finds nothing to say about either unit in a
  scratch root holding what `cmake --install` installs (the executables
  the units start must be there) and the host's own systemd units;
- `systemd-analyze security --offline=yes` rates each OK or better, at no
  more exposure than the figure recorded here (a regression shows);
- the settings that make them what docs/deploy-daemons.md says (own
  user, state and configuration directories, credentials, restart policy);
- the controller's ExecStart, expanded as systemd expands it from the
  default /etc/stampede/controller.conf, starts `stampede serve`.

The agent's ExecStart with a real configuration is run in test_cloud_init.
A missing tool is a failure that names `make deps`.
"""
import os
import re
import shlex
import shutil
import subprocess
import unittest

from stampede_testlib import BIN, SERVE_READY, SystemTest, binary

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.abspath(BIN)) if BIN else ""
UNITS = ["stampede-agent.service", "stampede-controller.service"]
# The exposure systemd-analyze gave each unit when last tightened; a unit
# that rates worse than this has lost some hardening. The agent gave up
# RestrictRealtime (1.2 -> 1.3) for its real-time release.
EXPOSURE = {"stampede-agent.service": 1.3, "stampede-controller.service": 1.1}
RATINGS_OK = {"PERFECT", "SAFE", "OK"}


def need_tool(name):
    if shutil.which(name) is None:
        raise AssertionError("%s is not installed: run `make deps`" % name)


def run(argv, **kwargs):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=kwargs.pop("timeout", 120), **kwargs)


def unit_path(name):
    return os.path.join(ROOT, "deploy", "systemd", name)


def unit_settings(name):
    """{key: [values]} of a unit file's [Service] and [Unit] lines, with
    continuation lines joined."""
    settings = {}
    with open(unit_path(name)) as f:
        text = f.read().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key, []).append(value)
    return settings


def read_env_file(path):
    """An EnvironmentFile= as systemd reads this simple form: NAME=value
    lines, comments and blank lines skipped."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and line[0] not in "#;":
                key, _, value = line.partition("=")
                env[key] = value
    return env


def exec_start_argv(name, env, credentials=None):
    """The unit's ExecStart= as systemd expands it: ${VAR} is one word (the
    variable's value, empty when unset), a word that is only $VAR is
    split on blanks (none when empty), %d is the credentials directory."""
    (line,) = unit_settings(name)["ExecStart"]
    argv = []
    for word in shlex.split(line):
        word = word.replace("%d", credentials or "/nonexistent")
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            argv += env.get(whole.group(1), "").split()
            continue
        argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                           lambda m: env.get(m.group(1), ""), word))
    return argv


class SystemdUnitsTest(SystemTest):

    def setUp(self):
        super().setUp()
        need_tool("systemd-analyze")

    def install_root(self):
        """A scratch root: what the package installs (cmake --install with
        DESTDIR, prefix /usr) plus this host's systemd units, which
        verify needs to resolve the units' dependencies."""
        if not BUILD:
            raise AssertionError("STAMPEDE_BIN is not set")
        root = self.path("root")
        out = run(["cmake", "--install", BUILD, "--prefix", "/usr"],
                  env=dict(self.env, DESTDIR=root))
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        host_units = "/lib/systemd/system"
        self.assertTrue(os.path.isdir(host_units), "systemd is not installed (make deps)")
        shutil.copytree(host_units, os.path.join(root, "usr/lib/systemd/system"),
                        symlinks=True, dirs_exist_ok=True)
        for unit in UNITS:
            with open(os.path.join(root, "usr/lib/systemd/system", unit), "rb") as a, \
                    open(unit_path(unit), "rb") as b:
                self.assertEqual(a.read(), b.read(), unit)
        return root

    def verify(self, root, *units):
        return run(["systemd-analyze", "verify", "--root=" + root] +
                   ["/usr/lib/systemd/system/" + u for u in units])

    def test_verify_says_nothing(self):
        root = self.install_root()
        out = self.verify(root, *UNITS)
        self.assertEqual((out.returncode, out.stdout, out.stderr), (0, "", ""))
        # The check can fail: a bad setting, or the executable missing.
        with open(unit_path("stampede-agent.service")) as f:
            broken = f.read().replace("Restart=on-failure", "Restart=sometimes")
        with open(os.path.join(root, "usr/lib/systemd/system/broken.service"), "w") as f:
            f.write(broken)
        out = self.verify(root, "broken.service")
        self.assertIn("Failed to parse service restart specifier", out.stderr)
        os.unlink(os.path.join(root, "usr/lib/stampede/stampede"))
        out = self.verify(root, "stampede-controller.service")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("Command /usr/bin/stampede is not executable", out.stderr)

    def test_security_rates_ok_or_better(self):
        for unit in UNITS:
            out = run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                       unit_path(unit)])
            self.assertEqual(out.returncode, 0, out.stderr)
            match = re.search(r"Overall exposure level for %s: ([0-9.]+) (\w+)"
                              % re.escape(unit), out.stdout)
            self.assertIsNotNone(match, out.stdout[-2000:])
            exposure, rating = float(match.group(1)), match.group(2)
            self.assertIn(rating, RATINGS_OK, unit)
            self.assertLessEqual(exposure, EXPOSURE[unit], unit)

    def test_agent_unit_settings(self):
        s = unit_settings("stampede-agent.service")
        self.assertEqual(s["DynamicUser"], ["yes"])
        self.assertEqual(s["StateDirectory"], ["stampede-agent"])
        self.assertEqual(s["ConfigurationDirectory"], ["stampede"])
        self.assertEqual(s["EnvironmentFile"], ["/etc/stampede/agent.conf"])
        self.assertEqual(s["ConditionPathExists"], ["/etc/stampede/agent.key_secret"])
        # The secret reaches the service only as a credential.
        self.assertEqual(s["LoadCredential"], ["agent.key:/etc/stampede/agent.key",
                                               "agent.key_secret:/etc/stampede/agent.key_secret"])
        self.assertEqual((s["Restart"], s["RestartPreventExitStatus"]), (["on-failure"], ["2"]))
        self.assertEqual(s["CapabilityBoundingSet"], [""])
        self.assertEqual(s["ProtectSystem"], ["strict"])
        self.assertEqual(s["LimitNOFILE"], ["1048576"])
        argv = exec_start_argv("stampede-agent.service",
                               {"STAMPEDE_CONTROLLER": "tcp://h:5555",
                                "STAMPEDE_SERVER_KEY": "/etc/stampede/controller.key",
                                "STAMPEDE_AGENT_ARGS": "--id a-1 --allow x.example"},
                               credentials="/run/credentials/stampede-agent.service")
        self.assertEqual(argv, ["/usr/bin/stampede-agent", "--controller", "tcp://h:5555",
                                "--server-key", "/etc/stampede/controller.key", "--key",
                                "/run/credentials/stampede-agent.service/agent.key",
                                "--spool", "/var/lib/stampede-agent/spool",
                                "--id", "a-1", "--allow", "x.example"])

    def test_controller_unit_starts_serve_from_the_default_config(self):
        s = unit_settings("stampede-controller.service")
        self.assertEqual(s["DynamicUser"], ["yes"])
        self.assertEqual(s["StateDirectory"], ["stampede"])
        self.assertEqual(s["EnvironmentFile"], ["/etc/stampede/controller.conf"])
        self.assertEqual((s["Restart"], s["RestartPreventExitStatus"]), (["on-failure"], ["2"]))
        env = read_env_file(os.path.join(ROOT, "deploy", "config", "controller.conf"))
        self.assertEqual(env, {"STAMPEDE_LISTEN": "tcp://0.0.0.0:5555",
                               "STAMPEDE_HTTP": "127.0.0.1:5000",
                               "STAMPEDE_DB": "/var/lib/stampede/stampede.db",
                               "STAMPEDE_CONTROLLER_ARGS": ""})
        argv = exec_start_argv("stampede-controller.service", env)
        self.assertEqual(argv, ["/usr/bin/stampede", "serve", "--listen", "tcp://0.0.0.0:5555",
                                "--http", "127.0.0.1:5000", "--db",
                                "/var/lib/stampede/stampede.db", "--keys",
                                "/var/lib/stampede/keys"])
        # Run it here: loopback and port 0 instead of the defaults, the
        # state directory under the test's.
        state = self.path("state")
        os.mkdir(state, 0o700)
        env.update(STAMPEDE_LISTEN="tcp://127.0.0.1:*", STAMPEDE_HTTP="127.0.0.1:0",
                   STAMPEDE_DB=os.path.join(state, "stampede.db"))
        argv = [binary("stampede")] + [a.replace("/var/lib/stampede", state)
                                      for a in exec_start_argv("stampede-controller.service",
                                                               env)[1:]]
        proc = self.procs.start(argv, env=self.env)
        proc.read_line(SERVE_READY)
        # It made its certificate where the enrolment docs say.
        for name in ["keys/controller.key", "keys/controller.key_secret", "keys/agents"]:
            self.assertTrue(os.path.exists(os.path.join(state, name)), name)
        self.assertEqual(proc.stop(), 0)


if __name__ == "__main__":
    unittest.main()
