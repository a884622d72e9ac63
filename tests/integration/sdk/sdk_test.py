#!/usr/bin/env python3
"""The plugin SDK as an author uses it: install the SDK component into a temporary prefix, build
plugins/examples/jsonl_sink with a separate CMake configure against it (find_package(SluiceSDK)),
check that find_package refuses another ABI major (or a newer minor) naming both, check the
pkg-config file compiles the same source, then load the built jsonl.so into a running
daemon through plugin_dirs and count the records it delivers.

Usage: sdk_test.py SLUICE_BIN BUILD_DIR SOURCE_DIR"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "cli"))
from harness import Daemon, wait_until  # noqa: E402

LINES = 2000
CONFIG = """\
data_dir: ./data
plugin_dirs: [%(plugin_dir)s]
admin: {listen: "127.0.0.1:0"}
streams: [{name: logs, shards: 2}]
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: logs
    initial_position: start_of_file
    rescan_interval: 200ms
deliveries:
  - name: to-jsonl
    stream: logs
    buffer: {size: 1MiB, interval: 0s}
    errors: {path: ./errors}
    sink:
      type: jsonl
      path: ./out.jsonl
      max_record_bytes: 200
"""


def run(*cmd, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                       r.stderr))
    return r.stdout


def main():
    sluice, build, source = (os.path.abspath(a) for a in sys.argv[1:4])
    tmp = tempfile.mkdtemp(prefix="sluice-sdk-")
    d = None
    try:
        prefix = os.path.join(tmp, "sdk")
        run("cmake", "--install", build, "--component", "sdk", "--prefix", prefix)
        example = os.path.join(source, "plugins", "examples", "jsonl_sink")
        out = os.path.join(tmp, "example-build")
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        run("cmake", "-S", example, "-B", out, "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_PREFIX_PATH=" + prefix, *gen)
        run("cmake", "--build", out)
        plugin = os.path.join(out, "jsonl.so")
        assert os.path.exists(plugin), os.listdir(out)
        # Only the entry symbol is exported.
        syms = run("nm", "-D", "--defined-only", plugin)
        exported = [l.split()[-1] for l in syms.splitlines() if " T " in l]
        assert exported == ["sluice_plugin_entry"], exported

        # The version find_package asks for is the plugin ABI: another major (or a newer minor)
        # is refused, naming both; the version found is the ABI of the headers.
        with open(os.path.join(source, "plugins", "sdk", "sluice_plugin.h")) as f:
            header = f.read()
        abi = "%s.%s" % (header.split("#define SLUICE_ABI_MAJOR ")[1].split()[0],
                         header.split("#define SLUICE_ABI_MINOR ")[1].split()[0])
        major = abi.split(".")[0]
        probe = os.path.join(tmp, "probe")
        os.makedirs(probe)

        def find(version):
            with open(os.path.join(probe, "CMakeLists.txt"), "w") as f:
                f.write("cmake_minimum_required(VERSION 3.20)\nproject(probe NONE)\n"
                        "find_package(SluiceSDK %s REQUIRED)\n"
                        "message(STATUS \"SDK ${SluiceSDK_VERSION}\")\n" % version)
            shutil.rmtree(os.path.join(probe, "b"), ignore_errors=True)
            return subprocess.run(["cmake", "-S", probe, "-B", os.path.join(probe, "b"),
                                   "-DCMAKE_PREFIX_PATH=" + prefix],
                                  capture_output=True, text=True)
        r = find(major)
        assert r.returncode == 0 and "SDK " + abi in r.stdout, (r.stdout, r.stderr)
        r = find(str(int(major) + 1))
        err = " ".join(r.stderr.split())
        assert r.returncode != 0, r.stdout
        assert ("asks for plugin ABI major %d" % (int(major) + 1)) in err, err
        assert ("this SDK speaks ABI major %s (ABI %s)" % (major, abi)) in err, err
        r = find(major + ".99")
        err = " ".join(r.stderr.split())
        assert r.returncode != 0 and ("asks for plugin ABI %s.99 or later, but this SDK speaks "
                                      "ABI %s" % (major, abi)) in err, err

        # pkg-config gives the same include path (a syntax-only compile keeps this fast).
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        cflags = run("pkg-config", "--cflags", "sluice-sdk", env=env).split()
        run("c++", "-std=c++17", "-fsyntax-only", *cflags,
            os.path.join(example, "jsonl_sink.cc"))
        plugindir = run("pkg-config", "--variable=plugindir", "sluice-sdk", env=env).strip()
        assert os.path.realpath(plugindir) == os.path.join(os.path.realpath(prefix), "lib",
                                                           "sluice", "plugins"), plugindir

        # The example declares its own delivery policy (1KiB..16MiB, 0s..1m): check holds a
        # configuration to it, at the positions of the keys.
        bad = os.path.join(tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write((CONFIG % {"plugin_dir": out}).replace(
                "buffer: {size: 1MiB, interval: 0s}", "buffer: {size: 32MiB, interval: 2m}"))
        r = subprocess.run([sluice, "check", "-c", bad], capture_output=True, text=True)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        for want in (bad + ":14:20: deliveries[0].buffer.size: 32MiB is outside 1KiB..16MiB "
                     "for sink type jsonl",
                     bad + ":14:37: deliveries[0].buffer.interval: 2m is outside 0s..1m "
                     "for sink type jsonl"):
            assert want in r.stderr, (want, r.stderr)

        d = Daemon(sluice, CONFIG % {"plugin_dir": out})
        os.makedirs(d.path("log"))
        with open(d.path("log", "a.log"), "w") as f:
            for n in range(LINES):
                f.write("line seq=%d\n" % n)
            f.write("x" * 500 + " too long for max_record_bytes\n")
        d.start()

        def lines():
            try:
                with open(d.path("out.jsonl")) as f:
                    return [json.loads(l) for l in f]
            except FileNotFoundError:
                return []
        got = wait_until(lambda: len(lines()) >= LINES and lines(), what="%d JSON lines" % LINES)
        seqs = sorted(int(r["data"].split("seq=")[1]) for r in got)
        assert seqs == list(range(LINES)), (len(seqs), seqs[:3])
        assert all(r["id"] and r["arrival_ms"] > 0 for r in got)
        m = wait_until(lambda: d.metrics().get(
            ("sluice_delivery_plugin_counter",
             '{delivery_stream="to-jsonl",counter="lines_written"}')), what="plugin counter")
        assert m == LINES, m
        # The long record was rejected by the plugin, per record, into the error output.
        spilled = wait_until(lambda: d.metrics().get(
            ("sluice_delivery_spilled_records_total", '{delivery_stream="to-jsonl"}')),
            what="spilled record")
        assert spilled == 1, spilled
        # ... under the error output type the plugin declares.
        spills = [os.path.join(r, f) for r, _, fs in os.walk(d.path("errors")) for f in fs]
        assert any("/jsonl-failed/" in p for p in spills), spills
        d.stop()
        print("built jsonl.so against the installed SDK; %d records delivered through it" % LINES)
    finally:
        if d:
            d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
