#!/usr/bin/env python3
"""End-to-end tests of the tailer in the built daemon, beyond pipeline_test.py's scenarios:
deletion while open, symlink retargeting, rotation while stopped, rotation ten times a second,
inode reuse, 1,000 files appearing in nested directories at run time, a 5 MiB line and binary
garbage. Each writes numbered lines ("seq=N"), reads what the file sink delivered, and asserts by
counting: no line missing, no duplicate (none of these scenarios crashes the daemon).

Usage: agent_tail_test.py SLUICE_BIN LOGGEN_BIN [scenario ...]
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_test as p  # noqa: E402  (Env, Daemon, write_lines, wait_for, check)


def start_ready(env):
    """Starts the daemon; Daemon.start returns once its flows watch their directories."""
    env.daemon.start()


def scenario_deletion_while_open(env):
    start_ready(env)
    path = env.log("gone.log")
    with open(path, "ab") as w:
        for n in range(1, 2001):
            w.write(b"line seq=%d\n" % n)
        w.flush()
        time.sleep(0.3)
        os.unlink(path)  # the writer keeps writing to the unlinked file
        for n in range(2001, 3001):
            w.write(b"line seq=%d\n" % n)
    counts = p.wait_for(env.dir, range(1, 3001))
    env.daemon.stop()
    return p.check(counts, range(1, 3001), 0)


def scenario_symlink_retarget(env):
    targets = os.path.join(env.dir, "targets")
    os.makedirs(targets)
    link = env.log("current.log")
    start_ready(env)
    n = 1
    for r in range(5):
        t = os.path.join(targets, "run-%d" % r)
        p.write_lines(t, n, 1000)
        n += 1000
        tmp = link + ".tmp"
        os.symlink(t, tmp)
        os.replace(tmp, link)  # atomic retarget, as deploy tools do
        time.sleep(0.2)
    counts = p.wait_for(env.dir, range(1, n))
    env.daemon.stop()
    return p.check(counts, range(1, n), 0)


def scenario_rotation_while_stopped(env):
    p.write_lines(env.log("app.log"), 1, 2000)
    start_ready(env)
    p.wait_for(env.dir, range(1, 2001))
    env.daemon.stop()
    p.write_lines(env.log("app.log"), 2001, 1000)  # not read yet
    os.rename(env.log("app.log"), env.log("app.log.1"))  # rotated away while stopped
    p.write_lines(env.log("app.log"), 3001, 1000)
    start_ready(env)
    counts = p.wait_for(env.dir, range(1, 4001))
    env.daemon.stop()
    return p.check(counts, range(1, 4001), 0)


def scenario_rotation_10_per_second(env):
    start_ready(env)
    n = 1
    for r in range(50):
        p.write_lines(env.log("fast.log"), n, 200)
        n += 200
        os.rename(env.log("fast.log"), env.log("fast.log.%d" % r))
        time.sleep(0.1)
    counts = p.wait_for(env.dir, range(1, n), timeout=90)
    env.daemon.stop()
    return p.check(counts, range(1, n), 0)


def scenario_inode_reuse(env):
    start_ready(env)
    n = 1
    for r in range(10):
        p.write_lines(env.log("reuse.log"), n, 300)
        n += 300
        p.wait_for(env.dir, range(1, n), timeout=30)
        os.unlink(env.log("reuse.log"))  # the next file often gets the same inode
        time.sleep(0.05)
    counts = p.wait_for(env.dir, range(1, n))
    env.daemon.stop()
    return p.check(counts, range(1, n), 0)


def scenario_many_nested_files(env):
    start_ready(env)
    time.sleep(0.5)
    n = 1
    for d in range(50):
        sub = os.path.join(env.dir, "log", "nested", "d%d" % d, "x")
        os.makedirs(sub)
        for f in range(20):
            p.write_lines(os.path.join(sub, "f%d.log" % f), n, 5)
            n += 5
    counts = p.wait_for(env.dir, range(1, n), timeout=120)
    env.daemon.stop()
    return p.check(counts, range(1, n), 0)


def scenario_long_line(env):
    start_ready(env)
    with open(env.log("big.log"), "ab") as f:
        f.write(b"line seq=1\n")
        f.write(b"line seq=2 " + b"x" * (5 << 20) + b"\n")  # truncated at max_record_size
        f.write(b"line seq=3\n")
    counts = p.wait_for(env.dir, range(1, 4))
    env.daemon.stop()
    return p.check(counts, range(1, 4), 0)


def scenario_binary_garbage(env):
    rng = random.Random(11)
    start_ready(env)
    with open(env.log("bin.log"), "ab") as f:
        for n in range(1, 2001):
            junk = bytes(rng.choice(range(256)) for _ in range(40)).replace(b"\n", b"\0")
            junk = junk.replace(b"seq=", b"SEQ=")
            f.write(b"seq=%d " % n + junk + b"\n")
    counts = p.wait_for(env.dir, range(1, 2001))
    env.daemon.stop()
    return p.check(counts, range(1, 2001), 0)


SCENARIOS = {
    "deletion_while_open": scenario_deletion_while_open,
    "symlink_retarget": scenario_symlink_retarget,
    "rotation_while_stopped": scenario_rotation_while_stopped,
    "rotation_10_per_second": scenario_rotation_10_per_second,
    "inode_reuse": scenario_inode_reuse,
    "many_nested_files": scenario_many_nested_files,
    "long_line": scenario_long_line,
    "binary_garbage": scenario_binary_garbage,
}


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    p.SCENARIOS.clear()
    p.SCENARIOS.update(SCENARIOS)
    p.CONFIG = p.CONFIG.replace('paths: ["./log/*.log"]', 'paths: ["./log/**/*.log"]')
    return p.main()


if __name__ == "__main__":
    sys.exit(main())
