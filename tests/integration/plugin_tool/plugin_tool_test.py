#!/usr/bin/env python3
"""The plugin author's toolkit end to end.

sdk_projects: installs the SDK component into a temporary prefix, builds the two examples
  (plugins/examples/c_sink, jsonl_sink) and the six projects `sluice plugin new` writes (c|cpp x
  object|record|transform) out of tree against it, and runs `sluice plugin test` on each: all
  pass.
misbehaving_plugins: `sluice plugin test` fails, naming the problem, on fixtures that answer
  PARTIAL with outcomes unset, crash on a record (SIGSEGV during on_deliver) or hang in a call
  (past --timeout); and on an option the plugin does not declare.
info: `sluice plugin info` prints a built-in sink's declaration and options, and a transform's.

Usage: plugin_tool_test.py SLUICE_BIN [test ...]; the environment gives SLUICE_BUILD_DIR,
SLUICE_SOURCE_DIR and SLUICE_FIXTURE_DIR."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli"))
from harness import run_tests  # noqa: E402

BUILD = os.environ.get("SLUICE_BUILD_DIR", "")
SOURCE = os.environ.get("SLUICE_SOURCE_DIR", "")
FIXTURES = os.environ.get("SLUICE_FIXTURE_DIR", "")


def run(*cmd, ok=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if ok and r.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                       r.stderr))
    return r


def build(project, out, prefix):
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    run("cmake", "-S", project, "-B", out, "-DCMAKE_BUILD_TYPE=Release",
        "-DCMAKE_PREFIX_PATH=" + prefix, "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror",
        "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Werror", *gen)
    run("cmake", "--build", out)


def plugin_test(sluice, so, *args):
    r = run(sluice, "plugin", "test", so, *args, ok=False, timeout=120)
    return r.returncode, r.stdout + r.stderr


def test_sdk_projects(sluice):
    tmp = tempfile.mkdtemp(prefix="sluice-plugin-tool-")
    try:
        prefix = os.path.join(tmp, "sdk")
        run("cmake", "--install", BUILD, "--component", "sdk", "--prefix", prefix)
        assert os.path.exists(os.path.join(prefix, "include", "sluice", "sluice_plugin_util.h"))
        projects = []  # (name, source dir, options for plugin test)
        out_dir = os.path.join(tmp, "out")
        os.makedirs(out_dir)
        # The examples, as installed with the SDK.
        examples = os.path.join(prefix, "share", "doc", "sluice", "examples")
        projects.append(("c_sink", os.path.join(examples, "c_sink"),
                         ["--option", "path=" + os.path.join(out_dir, "c_sink.out")]))
        projects.append(("jsonl", os.path.join(examples, "jsonl_sink"),
                         ["--option", "path=" + os.path.join(out_dir, "jsonl.out"),
                          "--option", "fsync=false"]))
        # The six projects `plugin new` writes.
        for lang in ("c", "cpp"):
            for kind in ("object", "record", "transform"):
                name = "my_%s_%s" % (lang, kind)
                d = os.path.join(tmp, name)
                r = run(sluice, "plugin", "new", name, "--lang", lang, "--kind", kind, "--dir", d)
                assert "wrote " + os.path.join(d, "CMakeLists.txt") in r.stdout, r.stdout
                if kind == "object":
                    target = os.path.join(out_dir, name)
                    os.makedirs(target)
                    opts = ["--option", "path=" + target]
                elif kind == "record":
                    opts = ["--option", "path=" + os.path.join(out_dir, name + ".out")]
                else:
                    opts = ["--option", "suffix=!"]
                projects.append((name, d, opts))
        for name, src, opts in projects:
            start = time.time()
            b = os.path.join(tmp, "build-" + name)
            build(src, b, prefix)
            so = os.path.join(b, name + ".so")
            assert os.path.exists(so), os.listdir(b)
            rc, out = plugin_test(sluice, so, *opts)
            assert rc == 0 and out.rstrip().endswith("PASS"), (name, rc, out)
            assert not any(l.startswith("FAIL") for l in out.splitlines()), out
            print("%s: built and passed in %.1fs" % (name, time.time() - start))
        # What they wrote: every generated record once per delivery (plus the retry's).
        with open(os.path.join(out_dir, "my_c_record.out")) as f:
            lines = f.read().splitlines()
        assert len(lines) == 100 + 34 and '"seq":99' in lines[99], (len(lines), lines[:2])
        assert any(n.endswith(".jsonl") for n in os.listdir(os.path.join(out_dir, "my_c_object")))
        # A project directory that is not empty is left alone; a bad name is refused.
        r = run(sluice, "plugin", "new", "my_c_object", "--lang", "c", "--kind", "object",
                "--dir", os.path.join(tmp, "my_c_object"), ok=False)
        assert r.returncode == 1 and "is not empty" in r.stderr, (r.returncode, r.stderr)
        r = run(sluice, "plugin", "new", "Bad-Name", "--lang", "c", "--kind", "record",
                "--dir", os.path.join(tmp, "bad"), ok=False)
        assert r.returncode == 2 and "a-z, 0-9 and _" in r.stderr, (r.returncode, r.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_misbehaving_plugins(sluice):
    tmp = tempfile.mkdtemp(prefix="sluice-plugin-tool-")
    try:
        sloppy = os.path.join(FIXTURES, "fx_sloppy_partial.so")
        rc, out = plugin_test(sluice, sloppy, "--option", "out=" + os.path.join(tmp, "s.out"))
        assert rc == 1, (rc, out)
        assert ("FAIL on_deliver (batch 1) answered PARTIAL but left 34 of 34 outcomes unset"
                in out), out
        assert "whose code is not OK, RETRY or REJECT" in out, out  # its attempt 2: code 42

        poison = os.path.join(FIXTURES, "fx_poison.so")
        path = ["--option", "path=" + os.path.join(tmp, "p.out")]
        rc, out = plugin_test(sluice, poison, *path)
        assert rc == 0 and out.rstrip().endswith("PASS"), (rc, out)
        rc, out = plugin_test(sluice, poison, *path, "--record", "a POISON record")
        assert rc == 1, (rc, out)
        assert "FAIL plugin crashed with SIGSEGV during on_deliver (batch 2)" in out, out
        start = time.time()
        rc, out = plugin_test(sluice, poison, *path, "--record", "HANG", "--timeout", "2")
        assert rc == 1, (rc, out)
        assert "FAIL plugin hung: on_deliver (batch 2) did not return within 2s" in out, out
        assert time.time() - start < 15, time.time() - start

        rc, out = plugin_test(sluice, poison, "--option", "pth=x")
        assert rc == 2, (rc, out)
        assert "--option pth: unknown key 'pth' for sink type fx_poison (did you mean 'path'?)" \
            in out, out
        rc, out = plugin_test(sluice, os.path.join(tmp, "missing.so"))
        assert rc == 1 and "file not found" in out, (rc, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_info(sluice):
    plugins = os.path.join(os.path.dirname(os.path.abspath(sluice)), "plugins")
    out = run(sluice, "plugin", "info", os.path.join(plugins, "file.so")).stdout
    for want in ("name:     file", "kind:     object sink", "abi:      1.", "flags:    idempotent_keys",
                 "buffer.size      1MiB..128MiB (default 5MiB)", "error output     file-failed",
                 "| `path` | string |  | yes |", "| `fsync` | bool | `true` | no |"):
        assert want in out, (want, out)
    out = run(sluice, "plugin", "info", os.path.join(FIXTURES, "upper_transform.so")).stdout
    for want in ("kind:     transform", "| `suffix` | string | `` | no |"):
        assert want in out, (want, out)
    assert "policy" not in out, out
    r = run(sluice, "plugin", "info", os.path.join(FIXTURES, "nothing.so"), ok=False)
    assert r.returncode == 1 and "file not found" in r.stderr, (r.returncode, r.stderr)


if __name__ == "__main__":
    run_tests({"sdk_projects": test_sdk_projects,
               "misbehaving_plugins": test_misbehaving_plugins,
               "info": test_info})
