#!/usr/bin/env python3
"""The power-cut shim's own model, checked case by case (as LevelDB's fault_injection_test checks
its environment): a child process does one kind of change under the shim, is killed, the cut
runs, and the files must be what a power cut leaves.

Usage: power_cut_test.py POWER_CUT_SO
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import power_cut  # noqa: E402

PRELUDE = """
import os
def sync_dir(path="."):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
def put(name, data, sync=True):
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    if sync:
        os.fsync(fd)
    os.close(fd)
"""

# name: (what the child does, the files expected after the cut: name -> content)
CASES = {
    "unsynced_append_is_cut_off": ("""
        put("a", b"durable")
        sync_dir()
        fd = os.open("a", os.O_WRONLY | os.O_APPEND)
        os.write(fd, b" lost")
        os.writev(fd, [b" also", b" lost"])
        """, {"a": b"durable"}),
    "synced_append_stays": ("""
        put("a", b"one")
        sync_dir()
        fd = os.open("a", os.O_WRONLY | os.O_APPEND)
        os.write(fd, b" two")
        os.fdatasync(fd)
        os.write(fd, b" three")
        """, {"a": b"one two"}),
    "overwrite_is_restored": ("""
        put("a", b"0123456789")
        sync_dir()
        fd = os.open("a", os.O_WRONLY)
        os.pwrite(fd, b"XX", 3)
        os.pwritev(fd, [b"Y", b"YYYYYYYY"], 8)
        """, {"a": b"0123456789"}),
    "truncation_is_undone": ("""
        put("a", b"0123456789")
        sync_dir()
        fd = os.open("a", os.O_RDWR)
        os.ftruncate(fd, 4)
        os.write(fd, b"new")
        os.truncate("a", 2)
        """, {"a": b"0123456789"}),
    "o_trunc_is_undone": ("""
        put("a", b"old content")
        sync_dir()
        put("a", b"new", sync=False)
        """, {"a": b"old content"}),
    "file_created_without_dir_sync_is_removed": ("""
        put("kept", b"k")
        sync_dir()
        put("new", b"synced data, entry not synced")
        """, {"kept": b"k"}),
    "atomic_replace_durable_after_dir_sync": ("""
        put("meta", b"v1")
        sync_dir()
        put(".tmp-meta", b"v2")
        os.rename(".tmp-meta", "meta")
        sync_dir()
        put(".tmp-meta", b"v3")
        os.replace(".tmp-meta", "meta")
        """, {"meta": b"v2"}),
    "unlink_without_dir_sync_is_undone": ("""
        put("a", b"still here")
        sync_dir()
        os.unlink("a")
        """, {"a": b"still here"}),
    "unlink_with_dir_sync_stays": ("""
        put("a", b"x")
        put("b", b"y")
        sync_dir()
        os.remove("a")
        sync_dir()
        """, {"b": b"y"}),
    "sync_makes_everything_durable": ("""
        put("a", b"one", sync=False)
        os.sync()
        fd = os.open("a", os.O_WRONLY | os.O_APPEND)
        os.write(fd, b" two")
        """, {"a": b"one"}),
    "hard_link_without_dir_sync_is_removed": ("""
        put("a", b"x")
        sync_dir()
        os.link("a", "b")
        """, {"a": b"x"}),
    "renamed_file_keeps_its_synced_content": ("""
        put("a.tmp", b"data")
        os.rename("a.tmp", "a")
        sync_dir()
        fd = os.open("a", os.O_WRONLY | os.O_APPEND)
        os.write(fd, b" more")
        os.rename("a", "b")
        """, {"a": b"data"}),
}


def run_case(shim, body):
    top = tempfile.mkdtemp(prefix="sluice-power-cut-")
    try:
        root, journal = os.path.join(top, "root"), os.path.join(top, "journal")
        os.makedirs(root)
        os.makedirs(journal)
        script = PRELUDE + textwrap.dedent(body) + "os.kill(os.getpid(), 9)\n"
        env = dict(os.environ, LD_PRELOAD=shim, POWER_CUT_JOURNAL=journal,
                   POWER_CUT_ROOT=root)
        p = subprocess.run([sys.executable, "-c", script], cwd=root, env=env)
        if p.returncode != -signal.SIGKILL:
            raise AssertionError("the child ended with %d" % p.returncode)
        power_cut.cut(journal, os.path.realpath(root))
        found = {}
        for name in os.listdir(root):
            with open(os.path.join(root, name), "rb") as f:
                found[name] = f.read()
        return found
    finally:
        shutil.rmtree(top, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: power_cut_test.py POWER_CUT_SO")
    shim = os.path.abspath(sys.argv[1])
    failed = 0
    for name, (body, expected) in CASES.items():
        found = run_case(shim, body)
        if found == expected:
            print("PASS %s" % name)
        else:
            failed += 1
            print("FAIL %s: expected %s, found %s" % (name, expected, found))
    print("%d passed, %d failed" % (len(CASES) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
