#!/usr/bin/env python3
"""Envelope encryption as an operator uses it: `sluice keygen` makes the keyring, a delivery
encrypts its gzip objects with it, `sluice decrypt` opens them (gunzip gives back every line);
what the daemon writes is not readable by others;
after a key rotation old and new objects still open; a wrong keyring or a tampered object fails
with the file named and exit 1.

Usage: keys_test.py SLUICE_BIN [test ...]"""
import gzip
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, run_tests, wait_until  # noqa: E402

CONFIG = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@]
admin: {listen: "127.0.0.1:0"}
streams: [{name: logs, shards: 1}]
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: logs
    initial_position: start_of_file
    rescan_interval: 200ms
deliveries:
  - name: sealed
    stream: logs
    buffer: {size: 1MiB, interval: 0s}
    record_delimiter: "\\n"
    compression: gzip
    encryption: {keyring: ./keyring}
    sink: {type: file, path: ./out}
"""


def objects(d):
    """Objects the file sink finished (".tmp-*" files are still being written)."""
    out = []
    for root, _, files in os.walk(d.path("out")):
        out += [os.path.join(root, f) for f in files if not f.startswith(".")]
    return sorted(out)


def add_key(sluice, keyring, key_id=None):
    """Appends a `sluice keygen` line to the keyring file (made owner-only)."""
    args = [sluice, "keygen"] + (["--id", key_id] if key_id else [])
    with open(keyring, "ab") as f:
        f.write(subprocess.run(args, check=True, capture_output=True).stdout)
    os.chmod(keyring, 0o600)


def decrypt(sluice, keyring, files, check=True):
    r = subprocess.run([sluice, "decrypt", "-k", keyring] + files, capture_output=True)
    if check and r.returncode != 0:
        raise AssertionError("decrypt exited %d: %s" % (r.returncode, r.stderr.decode()))
    return r


def lines_of(sluice, keyring, files):
    got = []
    for f in files:  # one at a time: each is its own gzip member stream
        got += gzip.decompress(decrypt(sluice, keyring, [f]).stdout).decode().splitlines()
    return got


def test_round_trip(sluice):
    d = Daemon(sluice, CONFIG)
    try:
        keyring = d.path("keyring")
        add_key(sluice, keyring, "first")
        os.makedirs(d.path("log"))
        with open(d.path("log", "a.log"), "w") as f:
            for n in range(500):
                f.write("first key line %d\n" % n)
        d.start()
        wait_until(lambda: len(lines_of(sluice, keyring, objects(d))) == 500 if objects(d) else 0,
                   what="500 lines in decrypted objects")
        first_objects = objects(d)
        # Records at rest are not readable by others: objects, segments, journal, checkpoints.
        for root, _, files in list(os.walk(d.path("data"))) + list(os.walk(d.path("out"))):
            for f in files:
                mode = os.stat(os.path.join(root, f)).st_mode
                assert mode & 0o007 == 0, "%s is mode %o" % (os.path.join(root, f), mode)
        for o in first_objects:
            assert o.endswith(".gz.enc"), o
            with open(o, "rb") as f:
                assert f.read(8) == b"SLUICEE1"
        d.stop()
        # Rotation: a new key appended becomes the primary; old objects still open.
        add_key(sluice, keyring)
        with open(d.path("log", "a.log"), "a") as f:
            for n in range(300):
                f.write("second key line %d\n" % n)
        d.start()
        wait_until(lambda: len(lines_of(sluice, keyring, objects(d))) == 800,
                   what="800 lines after the rotation")
        got = lines_of(sluice, keyring, objects(d))
        want = ["first key line %d" % n for n in range(500)] + \
            ["second key line %d" % n for n in range(300)]
        assert sorted(got) == sorted(want)
        d.stop()

        # The old keyring lacks the new key: the new objects fail, named; exit 1.
        old = d.path("old-keyring")
        with open(keyring) as f, open(old, "w") as g:
            g.write(f.readline())
        os.chmod(old, 0o600)
        r = decrypt(sluice, old, objects(d), check=False)
        assert r.returncode == 1 and b"sluice decrypt: " in r.stderr, r.stderr
        # A flipped byte fails authentication.
        victim = objects(d)[0]
        with open(victim, "r+b") as f:
            f.seek(-20, os.SEEK_END)
            b = f.read(1)
            f.seek(-20, os.SEEK_END)
            f.write(bytes([b[0] ^ 1]))
        r = decrypt(sluice, keyring, [victim], check=False)
        assert r.returncode == 1 and victim.encode() in r.stderr and not r.stdout, r
        # A keyring others can read is refused.
        os.chmod(keyring, 0o644)
        r = decrypt(sluice, keyring, [objects(d)[-1]], check=False)
        assert r.returncode == 1 and b"readable" in r.stderr, r.stderr
    finally:
        d.cleanup()


def test_spills_sealed(sluice):
    """The error output of an encrypted delivery is sealed too."""
    d = Daemon(sluice, CONFIG.replace("    encryption: {keyring: ./keyring}\n",
                                      "    encryption: {keyring: ./keyring}\n"
                                      "    partitioning: {keys: {level: .level}}\n"
                                      "    errors: {path: ./errors}\n"))
    try:
        keyring = d.path("keyring")
        add_key(sluice, keyring)
        os.makedirs(d.path("log"))
        with open(d.path("log", "a.log"), "w") as f:
            f.write('{"level":"info","n":1}\nnot json at all\n')
        d.start()

        def sealed():
            out = []
            for root, _, files in os.walk(d.path("errors")):
                out += [os.path.join(root, f) for f in files if not f.startswith(".")]
            return out
        wait_until(lambda: sealed(), what="a spilled object")
        [obj] = sealed()
        assert obj.endswith(".enc") and "partitioning-failed" in obj, obj
        with open(obj, "rb") as f:
            assert f.read(8) == b"SLUICEE1"
        line = decrypt(sluice, keyring, [obj]).stdout.decode()
        assert '"errorCode":"PartitionKey.Invalid"' in line, line
        d.stop()
    finally:
        d.cleanup()


SEALED_STREAM = """\
data_dir: ./data
plugin_dirs: [@PLUGINS@]
admin: {listen: "127.0.0.1:0"}
broker: {encryption: {keyring: ./keyring}}
streams: [{name: logs, shards: 1, encryption: {}}]
sources:
  - name: app
    paths: ["./log/*.log"]
    stream: logs
    initial_position: start_of_file
    rescan_interval: 200ms
deliveries:
  - name: plain
    stream: logs
    buffer: {size: 1MiB, interval: 0s}
    record_delimiter: "\\n"
    sink: {type: file, path: ./out}
"""


def test_sealed_segments(sluice):
    """An encrypted stream keeps no line in clear under data_dir; `sluice decrypt` gives its
    segments back as plain ones, or as records."""
    import json
    d = Daemon(sluice, SEALED_STREAM)
    try:
        keyring = d.path("keyring")
        add_key(sluice, keyring, "seg")
        os.makedirs(d.path("log"))
        with open(d.path("log", "a.log"), "w") as f:
            for n in range(1000):
                f.write("confidential line %d\n" % n)

        def delivered():
            got = []
            for o in objects(d):
                with open(o, "rb") as f:
                    got += f.read().decode().splitlines()
            return got
        d.start()
        wait_until(lambda: len(delivered()) == 1000, what="1000 lines delivered")
        d.stop()
        for root, _, files in os.walk(d.path("data")):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    assert b"confidential" not in f.read(), os.path.join(root, name)
        shard = d.path("data", "streams", "logs", "shardId-000000000000")
        segments = sorted(os.path.join(shard, f) for f in os.listdir(shard) if f.endswith(".log"))
        assert segments
        for s in segments:
            with open(s, "rb") as f:
                head = f.read(8)
            assert head[:4] == b"SLSG" and head[4:6] == b"\x02\x00", (s, head)
        records = []
        for line in decrypt(sluice, keyring, ["--records"] + segments).stdout.splitlines():
            records.append(json.loads(line))
        assert [r["data"] for r in records] == ["confidential line %d" % n for n in range(1000)]
        assert [r["offset"] for r in records] == list(range(1000))
        plain = decrypt(sluice, keyring, segments[:1]).stdout
        assert plain[:4] == b"SLSG" and plain[4:6] == b"\x01\x00" and b"confidential line 0" in plain
        # A keyring without the segment's key: named, exit 1.
        other = d.path("other")
        add_key(sluice, other, "other")
        r = decrypt(sluice, other, segments[:1], check=False)
        assert r.returncode == 1 and b"master key seg" in r.stderr, r.stderr
    finally:
        d.cleanup()


def test_keygen(sluice):
    a = subprocess.run([sluice, "keygen"], check=True, capture_output=True).stdout.split()
    b = subprocess.run([sluice, "keygen"], check=True, capture_output=True).stdout.split()
    assert len(a) == 2 and a[0].startswith(b"k-") and len(a[1]) == 44, a
    assert a[1] != b[1]
    r = subprocess.run([sluice, "keygen", "--id", "has space"], capture_output=True)
    assert r.returncode == 1, r


if __name__ == "__main__":
    run_tests({"round_trip": test_round_trip, "spills_sealed": test_spills_sealed,
               "sealed_segments": test_sealed_segments, "keygen": test_keygen})
