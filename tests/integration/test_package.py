"""The deployables `make package` builds (docs/deploy-daemons.md).

Runs `make package` once for the build tree under test (BUILD = the
directory holding $STAMPEDE_BIN), then checks what it wrote to
BUILD/package/:

- stampede-function.zip: exactly one entry, `bootstrap`, executable,
  statically linked; that very binary serves behind stampede-lambda, and
  its cold_start_time counts from the process's creation, not from main();
- stampede_VERSION_ARCH.deb: its control fields, conffiles and maintainer
  scripts, and, unpacked with `dpkg -x`, exactly the expected files, the
  units and configuration identical to deploy/, commands that run;
- stampede-agent-oci (an OCI image layout) and its .tar: the image config
  (user, entrypoint, no command), a layer with nothing but the agent, its
  libraries and a few /etc files (no shell, all root's), the runtime
  config umoci derives from it, and the agent from the image running as
  its user on a read-only root and joining a controller.

A tool that is missing is a failure that names `make deps`, not a skip.
"""
import base64
import gzip
import io
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import unittest
import zipfile

from stampede_testlib import (BIN, FACTS, ControllerTest, SystemTest, binary,
                              function_facts, http_request, wait_until)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(os.path.abspath(BIN)) if BIN else ""
PACKAGE = os.path.join(BUILD, "package")
AGENT_UID = 65532
INVOKE = "/2015-03-31/functions/%s/invocations"

# Every path the .deb installs: (path, kind, mode or link target).
DEB_FILES = {
    "etc/stampede/agent.conf": ("file", 0o644),
    "etc/stampede/controller.conf": ("file", 0o600),
    "usr/bin/stampede": ("link", "../lib/stampede/stampede"),
    "usr/bin/stampede-agent": ("link", "../lib/stampede/stampede-agent"),
    "usr/bin/stampede-lambda": ("link", "../lib/stampede/stampede-lambda"),
    "usr/lib/stampede/bootstrap": ("file", 0o755),
    "usr/lib/stampede/stampede": ("file", 0o755),
    "usr/lib/stampede/stampede-agent": ("file", 0o755),
    "usr/lib/stampede/stampede-lambda": ("file", 0o755),
    "usr/lib/systemd/system/stampede-agent.service": ("file", 0o644),
    "usr/lib/systemd/system/stampede-controller.service": ("file", 0o644),
    "usr/share/doc/stampede/deploy-daemons.md": ("file", 0o644),
}
# Shells and shell-like tools an image without a shell must not carry.
SHELLS = {"bin/sh", "bin/bash", "bin/dash", "bin/busybox", "usr/bin/sh", "usr/bin/bash",
          "usr/bin/dash", "usr/bin/busybox"}


def need_tool(name):
    if shutil.which(name) is None:
        raise AssertionError("%s is not installed: run `make deps` (it is in the "
                             "Makefile's DEPLOY_PACKAGES / DEB_PACKAGES)" % name)


def run(argv, **kwargs):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=kwargs.pop("timeout", 300), **kwargs)


def elf_interpreter(path):
    """The PT_INTERP of an ELF64 little-endian file, or None if it has none."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, path
    phoff = int.from_bytes(data[0x20:0x28], "little")
    phentsize = int.from_bytes(data[0x36:0x38], "little")
    phnum = int.from_bytes(data[0x38:0x3a], "little")
    for i in range(phnum):
        header = data[phoff + i * phentsize:phoff + (i + 1) * phentsize]
        if int.from_bytes(header[0:4], "little") == 3:  # PT_INTERP
            offset = int.from_bytes(header[8:16], "little")
            size = int.from_bytes(header[32:40], "little")
            return data[offset:offset + size].rstrip(b"\0").decode()
    return None


_made = []


def make_package():
    """Runs `make package` for BUILD once per test run; fails the caller
    when it failed."""
    if not _made:
        for tool in ["make", "cpack", "zip", "dpkg-deb", "readelf", "strip", "umoci"]:
            need_tool(tool)
        if not BUILD:
            raise AssertionError("STAMPEDE_BIN is not set")
        _made.append(run(["make", "-C", ROOT, "package", "BUILD=" + BUILD, "PACKAGE_DEPS="],
                         timeout=600))
    made = _made[0]
    if made.returncode != 0:
        raise AssertionError("make package failed:\n%s\n%s"
                             % (made.stdout[-4000:], made.stderr[-4000:]))


def project_version():
    out = run([binary("stampede-agent"), "--version"]).stdout.split()
    assert out[0] == "stampede-agent", out
    return out[1]


class PackageTest(SystemTest):

    def setUp(self):
        super().setUp()
        make_package()
        self.version = project_version()
        self.arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.deb = os.path.join(PACKAGE, "stampede_%s_%s.deb" % (self.version, self.arch))

    # --- the function zip -------------------------------------------------------

    def unzip_bootstrap(self):
        path = os.path.join(PACKAGE, "stampede-function.zip")
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            self.assertEqual([i.filename for i in infos], ["bootstrap"])
            info = infos[0]
            # Made on Unix, a regular file with mode 0755: Lambda runs it as is.
            self.assertEqual(info.create_system, 3)
            self.assertEqual(info.external_attr >> 16, stat.S_IFREG | 0o755)
            out = self.path("function")
            os.mkdir(out)
            zf.extract(info, out)
        bootstrap = os.path.join(out, "bootstrap")
        os.chmod(bootstrap, 0o755)  # zipfile does not restore modes
        return bootstrap

    def test_function_zip_holds_a_static_executable_bootstrap(self):
        bootstrap = self.unzip_bootstrap()
        self.assertIsNone(elf_interpreter(bootstrap), "bootstrap names a dynamic loader")
        dynamic = run(["readelf", "--dynamic", bootstrap])
        self.assertEqual(dynamic.returncode, 0, dynamic.stderr)
        self.assertEqual(dynamic.stdout.strip(), "There is no dynamic section in this file.")
        # Stripped, and the very binary the build made, less its symbols.
        symbols = run(["readelf", "--syms", bootstrap]).stdout
        self.assertNotIn(".symtab", symbols)
        version = run([bootstrap, "--version"])
        self.assertEqual((version.returncode, version.stdout),
                         (0, "bootstrap (stampede) %s\n" % self.version))

    def test_zipped_bootstrap_serves_behind_the_emulator(self):
        """The zip's bootstrap behind stampede-lambda: the Function URL
        answers 200 with the facts, cold the first time."""
        bootstrap = self.unzip_bootstrap()
        proc = self.procs.start([binary("stampede-lambda"), "--listen", "127.0.0.1:0",
                                 "--function", "demo=" + bootstrap, "--env",
                                 "STAMPEDE_HOLD_MS=0"], env=self.env)
        line = proc.read_line("stampede-lambda listening on ")
        port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
        status, headers, body, _ = http_request(port, "GET", "/url/demo/x")
        self.assertEqual(status, 200, body)
        doc = json.loads(body)
        self.assertEqual(list(doc), FACTS)
        self.assertEqual((doc["cold_start"], doc["initialization_type"],
                          doc["invocation_count"]), (True, "on-demand", 1))
        self.assertGreater(doc["cold_start_time"], 0)
        self.assertLess(doc["cold_start_time"], 10)

    def test_cold_start_time_counts_from_process_creation(self):
        """cold_start_time is the init Lambda measures: from the process's
        creation, which for a runtime started through a wrapper that first
        sleeps 300 ms is at least 300 ms before init ends - as the
        emulator's own Init Duration says - not the microseconds main()
        takes."""
        bootstrap = self.unzip_bootstrap()
        wrapper = self.path("slow-bootstrap")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nsleep 0.3\nexec %s\n" % bootstrap)
        os.chmod(wrapper, 0o755)
        proc = self.procs.start([binary("stampede-lambda"), "--listen", "127.0.0.1:0",
                                 "--function", "slow=" + wrapper, "--reserved", "1",
                                 "--env", "STAMPEDE_HOLD_MS=0"], env=self.env)
        line = proc.read_line("stampede-lambda listening on ")
        port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
        status, headers, body, _ = http_request(port, "POST", INVOKE % "slow", "{}",
                                                {"X-Amz-Log-Type": "Tail"})
        self.assertEqual(status, 200, body)
        facts = function_facts(body)
        self.assertTrue(facts["cold_start"])
        log = base64.b64decode(headers["x-amz-log-result"]).decode()
        match = re.search(r"Init Duration: ([0-9.]+) ms", log)
        self.assertIsNotNone(match, log)
        init_ms = float(match.group(1))
        cold_ms = facts["cold_start_time"] * 1000
        # The process was created before the emulator's clock started (it
        # reads it after posix_spawn returns) and init ended before the
        # emulator read the first /next: one tick (10 ms) of slack for
        # the kernel's start time, which is kept in ticks.
        self.assertGreaterEqual(cold_ms, 300 - 10, (cold_ms, init_ms))
        self.assertGreaterEqual(init_ms, 300, (cold_ms, init_ms))
        self.assertLessEqual(cold_ms, init_ms + 10, (cold_ms, init_ms))
        # The same environment (reserved 1), warm, reports 0; it is busy
        # (429) until it has asked for its next invocation.
        def warm():
            status, _, body, _ = http_request(port, "POST", INVOKE % "slow", "{}")
            return function_facts(body) if status == 200 else None
        facts = wait_until(warm, 10, what="the environment to be idle again")
        self.assertEqual((facts["cold_start"], facts["cold_start_time"],
                          facts["invocation_count"]), (False, 0, 2))

    # --- the Debian package -----------------------------------------------------

    def test_deb_control_fields(self):
        fields = {}
        for name in ["Package", "Version", "Architecture", "Section", "Priority",
                     "Recommends"]:
            out = run(["dpkg-deb", "--field", self.deb, name])
            self.assertEqual(out.returncode, 0, out.stderr)
            fields[name] = out.stdout.strip()
        self.assertEqual(fields, {"Package": "stampede", "Version": self.version,
                                  "Architecture": self.arch, "Section": "net",
                                  "Priority": "optional", "Recommends": "ca-certificates"})
        depends = run(["dpkg-deb", "--field", self.deb, "Depends"]).stdout
        names = sorted(d.strip().split(" ")[0] for d in depends.split(","))
        # dpkg-shlibdeps' findings from the executables: never SQLite or the
        # web server missing, never a -dev package.
        for lib in ["libc6", "libczmq4", "libcurl4", "libjansson4", "libmicrohttpd12",
                    "libprotobuf-c1", "libsqlite3-0", "libzmq5"]:
            self.assertIn(lib, names)
        self.assertEqual([n for n in names if n.endswith("-dev")], [])
        control = self.path("control")
        out = run(["dpkg-deb", "--control", self.deb, control])
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(os.path.join(control, "conffiles")) as f:
            self.assertEqual(f.read(), "/etc/stampede/agent.conf\n/etc/stampede/controller.conf\n")
        for script in ["postinst", "postrm"]:
            path = os.path.join(control, script)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o755, script)
            with open(path) as f:
                text = f.read()
            # Rereads the units; enables and starts nothing.
            self.assertIn("systemctl daemon-reload", text)
            self.assertNotIn("enable", text)
            self.assertNotIn("start", text)
            self.assertEqual(run(["sh", "-n", path]).returncode, 0, script)

    def test_deb_unpacks_to_exactly_the_expected_files(self):
        root = self.path("root")
        out = run(["dpkg", "-x", self.deb, root])
        self.assertEqual(out.returncode, 0, out.stderr)
        found = {}
        for dirpath, dirnames, filenames in os.walk(root):
            for name in filenames + [d for d in dirnames
                                     if os.path.islink(os.path.join(dirpath, d))]:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                if os.path.islink(full):
                    found[rel] = ("link", os.readlink(full))
                else:
                    found[rel] = ("file", stat.S_IMODE(os.lstat(full).st_mode))
        self.assertEqual(found, DEB_FILES)
        # What deploy/ holds is what the package installs.
        for rel, source in [
                ("usr/lib/systemd/system/stampede-agent.service",
                 "deploy/systemd/stampede-agent.service"),
                ("usr/lib/systemd/system/stampede-controller.service",
                 "deploy/systemd/stampede-controller.service"),
                ("etc/stampede/agent.conf", "deploy/config/agent.conf"),
                ("etc/stampede/controller.conf", "deploy/config/controller.conf"),
                ("usr/share/doc/stampede/deploy-daemons.md", "docs/deploy-daemons.md")]:
            with open(os.path.join(root, rel), "rb") as a, \
                    open(os.path.join(ROOT, source), "rb") as b:
                self.assertEqual(a.read(), b.read(), rel)
        # The commands run from the unpacked tree, stripped and linked as
        # shipped.
        for command in ["stampede", "stampede-agent", "stampede-lambda"]:
            path = os.path.join(root, "usr/bin", command)
            out = run([path, "--version"])
            self.assertEqual(out.returncode, 0, (command, out.stderr))
            self.assertEqual(out.stdout.split()[-1], self.version, command)
            self.assertNotIn(".symtab", run(["readelf", "--syms", path]).stdout, command)
        # The demo function next to the controller, static as in the zip.
        self.assertIsNone(elf_interpreter(os.path.join(root, "usr/lib/stampede/bootstrap")))

    # --- the agent's OCI image --------------------------------------------------

    def image(self):
        """(image config, layer entries by path) of the layout's one tag."""
        layout = os.path.join(PACKAGE, "stampede-agent-oci")

        def blob(digest):
            algo, hexdigest = digest.split(":")
            with open(os.path.join(layout, "blobs", algo, hexdigest), "rb") as f:
                return f.read()

        with open(os.path.join(layout, "index.json")) as f:
            index = json.load(f)
        self.assertEqual([m["annotations"]["org.opencontainers.image.ref.name"]
                          for m in index["manifests"]], [self.version])
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        self.assertEqual(len(manifest["layers"]), 1)
        layer = manifest["layers"][0]
        self.assertEqual(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip")
        entries = {}
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layer["digest"])))) as tf:
            for member in tf.getmembers():
                entries[member.name.lstrip("./").rstrip("/")] = member
        return config, entries

    def test_oci_image_config(self):
        config, _ = self.image()
        self.assertEqual((config["os"], config["architecture"]), ("linux", self.arch))
        self.assertEqual(config["config"], {
            "User": "%d:%d" % (AGENT_UID, AGENT_UID),
            "Env": ["PATH=/usr/bin"],
            "Entrypoint": ["/usr/bin/stampede-agent"],
            "WorkingDir": "/",
            "Labels": {"org.opencontainers.image.title": "stampede-agent",
                       "org.opencontainers.image.version": self.version},
        })
        # The oci-archive beside it holds the same layout.
        with tarfile.open(os.path.join(PACKAGE, "stampede-agent-oci.tar")) as tf:
            names = {n.lstrip("./") for n in tf.getnames()}
        self.assertIn("index.json", names)
        self.assertIn("oci-layout", names)

    def test_oci_image_layer_is_the_agent_and_nothing_else(self):
        _, entries = self.image()
        self.assertEqual(SHELLS & set(entries), set())
        files = {name for name, e in entries.items() if not e.isdir()}
        named = {"usr/bin/stampede-agent", "etc/passwd", "etc/group", "etc/nsswitch.conf",
                 "etc/ssl/certs/ca-certificates.crt"}
        libraries = {name for name in files
                     if re.match(r"^(lib|lib64|usr/lib)/[^/]+(/[^/]+)?\.so(\.[0-9]+)*$", name)}
        self.assertEqual(named - files, set())
        self.assertEqual(files - named - libraries, set())
        # Regular files only (libraries copied, not linked), the C library
        # and the loader among them.
        self.assertEqual([n for n in files if not entries[n].isfile()], [])
        self.assertTrue(any(re.search(r"/libc\.so\.6$", n) for n in libraries), libraries)
        self.assertTrue(any(re.search(r"/ld-linux[^/]*\.so\.[0-9]$", n) for n in libraries))
        agent = entries["usr/bin/stampede-agent"]
        self.assertEqual(agent.mode & 0o7777, 0o755)
        for name, entry in entries.items():
            self.assertEqual((entry.uid, entry.gid), (0, 0), name)
            self.assertFalse(entry.mode & 0o6002, "%s is setuid/setgid or world-writable"
                             % name)
        self.assertEqual(entries["etc/passwd"].size,
                         len("stampede:x:65532:65532:stampede agent:/nonexistent:"
                             "/nonexistent\n"))
        for mount_point in ["proc", "sys", "dev", "etc/stampede"]:
            self.assertTrue(entries[mount_point].isdir(), mount_point)

    def test_oci_runtime_config_from_umoci(self):
        bundle = self.path("bundle")
        out = run(["umoci", "unpack", "--image",
                   os.path.join(PACKAGE, "stampede-agent-oci") + ":" + self.version, bundle])
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.load(f)
        self.assertEqual(spec["process"]["args"], ["/usr/bin/stampede-agent"])
        self.assertEqual((spec["process"]["user"]["uid"], spec["process"]["user"]["gid"]),
                         (AGENT_UID, AGENT_UID))
        self.assertEqual(spec["process"]["cwd"], "/")


class ImageAgentTest(ControllerTest):
    """The agent from the image, as its user, on a read-only root, joins a
    controller: everything it needs to run is in the image, and it writes
    nothing."""

    def test_image_agent_runs_read_only_and_joins(self):
        for tool in ["umoci", "unshare", "chroot", "mount"]:
            need_tool(tool)
        if os.getuid() != 0:
            raise AssertionError("this test mounts a read-only root: run it as root "
                                 "(as `make test` is, see README.md)")
        make_package()
        version = project_version()
        layout = os.path.join(PACKAGE, "stampede-agent-oci")
        bundle = self.path("bundle")
        out = run(["umoci", "unpack", "--image", layout + ":" + version, bundle])
        self.assertEqual(out.returncode, 0, out.stderr)
        rootfs = os.path.join(bundle, "rootfs")
        proc, endpoint, http = self.start_serve_insecure()
        script = ('mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && '
                  'exec chroot --userspec=%d:%d "$1" /usr/bin/stampede-agent '
                  '--controller "$2" --insecure --id image-agent' % (AGENT_UID, AGENT_UID))
        # No --fork: unshare, then sh, then chroot exec in turn, so the
        # process started is the agent and stopping it stops the agent.
        self.procs.start(["unshare", "--mount", "sh", "-c", script, "sh", rootfs, endpoint],
                         env=self.env, capture=False)
        wait_until(lambda: self.agent_ids(http) == ["image-agent"], 20,
                   what="the image's agent to join")

    def start_serve_insecure(self):
        argv = [binary("stampede"), "serve", "--listen", "tcp://127.0.0.1:*", "--http",
                "127.0.0.1:0", "--db", self.path("r.db"), "--insecure"]
        proc = self.procs.start(argv, env=self.env)
        words = proc.read_line("stampede serve: agents ").split()
        return proc, words[3], words[5]


if __name__ == "__main__":
    unittest.main()
