"""The agent's cloud-init template, deploy/cloud-init/agent.yaml.tftpl.

Terraform is not installable here, so render() does what templatefile()
does with the constructs the template uses (${name}, %{ for x in list }
... %{ endfor }, $${ for a literal) and, like Terraform, refuses a
variable it was not given. On the rendered document:

- `cloud-init schema` says it is valid (and says so of nothing broken);
- what it writes, schedules and runs, exactly;
- the variables are exactly those deploy/terraform/agents_ec2.tf passes;
- end to end on this host, with a real controller on loopback: the
  configuration it writes, fed to stampede-agent.service's ExecStart as
  systemd expands it, with the key its script makes and the public key
  its script prints, enrolled at the controller as
  docs/deploy-daemons.md says, makes an agent the controller admits - and
  not before the enrolment.
"""
import os
import re
import shutil
import subprocess
import time
import unittest

import test_systemd_units as units
from stampede_testlib import BIN, ControllerTest, binary, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE = os.path.join(ROOT, "deploy", "cloud-init", "agent.yaml.tftpl")
TERRAFORM_AGENTS = os.path.join(ROOT, "deploy", "terraform", "agents_ec2.tf")
VARIABLES = {"agent_name", "controller_endpoint", "controller_public_key",
             "max_lifetime_minutes", "package_url", "allowed_targets"}
# A Z85 key with the characters that mean something to YAML, shells and
# templates.
KEY = "{8gL/HzNnrD6OV8K%p^s.y^1%kmAhFqr*9z#D$Y]"
assert len(KEY) == 40


def need_tool(name):
    if shutil.which(name) is None:
        raise AssertionError("%s is not installed: run `make deps`" % name)


def render(text, variables):
    """templatefile(text, variables) for the constructs the template uses."""
    used = set()

    def value(name):
        if name not in variables:
            raise AssertionError("template uses %s, which Terraform does not pass" % name)
        used.add(name)
        return variables[name]

    def loop(m):
        var, items, body = m.group(1), value(m.group(2)), m.group(3)
        return "".join(re.sub(r"(?<!\$)\$\{%s\}" % var, lambda _: item, body)
                       for item in items)

    text = re.sub(r"%\{ for (\w+) in (\w+) \}(.*?)%\{ endfor \}", loop, text, flags=re.S)
    if "%{" in text:
        raise AssertionError("template directive not understood: " + text[text.index("%{"):][:40])
    out = re.sub(r"(?<!\$)\$\{(\w+)\}", lambda m: str(value(m.group(1))), text)
    if re.search(r"(?<!\$)\$\{", out):
        raise AssertionError("interpolation not understood")
    return out.replace("$${", "${"), used


def variables(endpoint="10.0.1.5:5555", key=KEY, name="dev-ec2-0"):
    return {"agent_name": name, "controller_endpoint": endpoint,
            "controller_public_key": key, "max_lifetime_minutes": 90,
            "package_url": "https://packages.example/stampede_0.1.0_amd64.deb",
            "allowed_targets": ["*.lambda-url.eu-west-1.on.aws",
                                "*.execute-api.eu-west-1.amazonaws.com"]}


def load_yaml(text):
    try:
        import yaml
    except ImportError:
        raise AssertionError("python3-yaml is missing: run `make deps` (cloud-init brings it)")
    return yaml.safe_load(text)


class CloudInitTest(ControllerTest):

    def rendered(self, **kwargs):
        with open(TEMPLATE) as f:
            text, used = render(f.read(), variables(**kwargs))
        self.assertEqual(used, VARIABLES)
        return text

    def schema(self, text):
        path = self.path("user-data.yaml")
        with open(path, "w") as f:
            f.write(text)
        return subprocess.run(["cloud-init", "schema", "--config-file", path],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=120), path

    def test_schema_valid(self):
        need_tool("cloud-init")
        out, path = self.schema(self.rendered())
        self.assertEqual((out.returncode, out.stdout.strip()),
                         (0, "Valid cloud-config: " + path), out.stderr)
        # The check can fail.
        out, _ = self.schema(self.rendered().replace("bootcmd:", "bootcmd: 5\nx_bootcmd:"))
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("bootcmd: 5 is not of type 'array'", out.stdout + out.stderr)

    def test_terraform_passes_exactly_these_variables(self):
        with open(TERRAFORM_AGENTS) as f:
            tf = f.read()
        call = re.search(r'templatefile\("\$\{path\.module\}/\.\./cloud-init/agent\.yaml\.tftpl",'
                         r"\s*\{(.*?)\n\s*\}\)", tf, re.S)
        self.assertIsNotNone(call, "agents_ec2.tf renders the template no more")
        passed = set(re.findall(r"^\s*(\w+)\s*=", call.group(1), re.M))
        self.assertEqual(passed, VARIABLES)

    def test_rendered_document(self):
        doc = load_yaml(self.rendered())
        self.assertEqual(sorted(doc), ["bootcmd", "package_update", "packages", "runcmd",
                                       "write_files"])
        # The lifetime is set first, on every boot, whatever fails later.
        # Without --no-block systemd-run would wait for the timer, which
        # waits for sysinit.target, which waits for cloud-init.
        self.assertEqual(doc["bootcmd"], [["systemd-run", "--no-block",
                                           "--unit=stampede-max-lifetime", "--on-active=90min",
                                           "systemctl", "poweroff"]])
        self.assertEqual((doc["package_update"], doc["packages"]),
                         (True, ["ca-certificates", "curl"]))
        files = {f["path"]: f for f in doc["write_files"]}
        self.assertEqual(sorted(files), ["/etc/stampede/agent.conf",
                                         "/etc/stampede/controller.key"])
        self.assertEqual(files["/etc/stampede/agent.conf"]["content"], (
            "# Written by cloud-init (deploy/cloud-init/agent.yaml.tftpl).\n"
            "STAMPEDE_CONTROLLER=tcp://10.0.1.5:5555\n"
            "STAMPEDE_SERVER_KEY=/etc/stampede/controller.key\n"
            "STAMPEDE_AGENT_ARGS=--id dev-ec2-0 --allow *.lambda-url.eu-west-1.on.aws "
            "--allow *.execute-api.eu-west-1.amazonaws.com\n"))
        self.assertEqual(files["/etc/stampede/controller.key"]["content"],
                         'curve\n    public-key = "%s"\n' % KEY)
        for f in files.values():
            self.assertEqual((f["owner"], f["permissions"]), ("root:root", "0644"))
        (script,) = doc["runcmd"]
        lines = script.splitlines()
        self.assertEqual(lines[0], "set -eu")
        self.assertIn("curl -fsS --proto =https --retry 5 --max-time 300 -o /run/stampede.deb "
                      "'https://packages.example/stampede_0.1.0_amd64.deb'", lines)
        self.assertIn("DEBIAN_FRONTEND=noninteractive apt-get install -y "
                      "-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confold "
                      "/run/stampede.deb", lines)
        self.assertIn("systemctl enable --now stampede-agent.service", lines)
        # The secret is made here and never read by the script.
        self.assertEqual([l for l in lines if "key_secret" in l],
                         ["[ -e /etc/stampede/agent.key_secret ] || "
                          "stampede-agent --keygen /etc/stampede/agent.key"])
        self.assertEqual(run_sh("bash", "-n", "-c", script).returncode, 0)

    def test_the_configuration_it_writes_runs_an_agent_once_enrolled(self):
        need_tool("sh")
        # The controller, with its certificate; its public key as Terraform
        # gets it (the Z85 text the controller host prints).
        serve, endpoint, http = self.start_serve("tcp://127.0.0.1:*", "http://127.0.0.1:9/")
        with open(self.path("keys", "controller.key")) as f:
            z85 = re.search(r'public-key = "(.{40})"', f.read()).group(1)
        name = "cloud-agent-1"
        doc = load_yaml(self.rendered(endpoint=endpoint[len("tcp://"):], key=z85, name=name))

        # The host: /etc/stampede is etc/ here; write_files, then the key
        # and the announcement from the script.
        etc = self.path("etc")
        os.mkdir(etc)
        for f in doc["write_files"]:
            with open(os.path.join(etc, os.path.basename(f["path"])), "w") as out:
                out.write(f["content"])
        script = doc["runcmd"][0].replace("/etc/stampede", etc)
        console = self.path("console")
        env = dict(self.env, PATH=BIN + os.pathsep + self.env.get("PATH", ""))
        for line in script.splitlines():
            if "--keygen" in line or line.startswith("sed "):
                out = run_sh("sh", "-c", "set -eu\n" + line.replace("/dev/console", console),
                             env=env)
                self.assertEqual(out.returncode, 0, (line, out.stderr))
        with open(console) as f:
            announced = f.read()
        with open(os.path.join(etc, "agent.key")) as f:
            agent_z85 = re.search(r'public-key = "(.{40})"', f.read()).group(1)
        self.assertEqual(announced, "stampede agent public key: %s agent=%s\n"
                         % (agent_z85, name))
        self.assertEqual(os.stat(os.path.join(etc, "agent.key_secret")).st_mode & 0o777, 0o600)

        # stampede-agent.service: its ExecStart from the written
        # configuration, the key pair as credentials (LoadCredential=).
        credentials = self.path("credentials")
        os.mkdir(credentials)
        for key in ["agent.key", "agent.key_secret"]:
            shutil.copy(os.path.join(etc, key), os.path.join(credentials, key))
        conf = units.read_env_file(os.path.join(etc, "agent.conf"))
        conf["STAMPEDE_SERVER_KEY"] = conf["STAMPEDE_SERVER_KEY"].replace("/etc/stampede", etc)
        argv = units.exec_start_argv("stampede-agent.service", conf, credentials)
        self.assertEqual(argv[0], "/usr/bin/stampede-agent")
        # StateDirectory=stampede-agent: systemd makes /var/lib/stampede-agent.
        state = self.path("state")
        os.mkdir(state)
        argv = [arg.replace("/var/lib/stampede-agent", state) for arg in argv]
        self.procs.start([binary("stampede-agent")] + argv[1:], env=self.env, capture=False)

        # Not admitted until enrolled.
        time.sleep(1.5)
        self.assertEqual(self.agent_ids(http), [])
        # The enrolment step of docs/deploy-daemons.md, with what was announced.
        key = re.fullmatch(r"stampede agent public key: (\S{40}) agent=(\S+)\n", announced)
        out = run_sh("sh", "-c", "printf 'curve\\n    public-key = \"%s\"\\n' \"$1\" > \"$2\"",
                     "sh", key.group(1), self.path("keys", "agents", key.group(2) + ".key"))
        self.assertEqual(out.returncode, 0, out.stderr)
        wait_until(lambda: self.agent_ids(http) == [name], 40,
                   what="the enrolled agent to join")


def run_sh(*argv, env=None):
    return subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, env=env)


if __name__ == "__main__":
    unittest.main()
