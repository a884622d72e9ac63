#!/usr/bin/env python3
"""The rotation bar of exactly-once reading: a writer at 5,000 lines/s for 24 s rotates app.log
every 2 s, by rename and by copytruncate in turn, every rotated copy kept, renamed on
(app.1.log -> app.2.log ...) and matched by the source's glob; meanwhile the daemon is killed
with SIGKILL N times and restarted. Every line is then counted in the file sink's objects.
Prints written, lost and duplicated lines per run; exits 1 if any line is lost.

Usage: rotation_bar.py SLUICE_BIN LOGGEN_BIN [--kills N ...] [--seconds S]
Not run by ctest (it takes half a minute a run); its figures are in docs/performance.md."""
import argparse
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pipeline_test as pt  # noqa: E402


def run(sluice, loggen, kills, seconds):
    env = pt.Env(sluice, loggen)
    env.daemon.start()
    written = [1]

    def writer():
        start = time.time()
        rotations = 0
        while time.time() - start < seconds:
            pt.write_lines(env.log("app.log"), written[0], 500)  # 5,000 lines/s in 100 ms steps
            written[0] += 500
            time.sleep(0.1)
            if int((time.time() - start) / 2) > rotations:
                rotations += 1
                for k in range(rotations - 1, 0, -1):
                    if os.path.exists(env.log("app.%d.log" % k)):
                        os.rename(env.log("app.%d.log" % k), env.log("app.%d.log" % (k + 1)))
                if rotations % 2 == 0:
                    os.rename(env.log("app.log"), env.log("app.1.log"))
                else:
                    shutil.copy(env.log("app.log"), env.log("app.1.log"))
                    with open(env.log("app.log"), "r+b") as f:
                        f.truncate(0)

    thread = threading.Thread(target=writer)
    thread.start()
    for _ in range(kills):
        time.sleep(seconds / (kills + 1))
        env.daemon.kill9()
        env.daemon.start()
    thread.join()
    lines = range(1, written[0])
    counts = pt.wait_for(env.dir, lines, timeout=120)
    env.daemon.stop()
    lost = sum(1 for n in lines if n not in counts)
    dupes = sum(c - 1 for c in counts.values() if c > 1)
    print("kills=%d written=%d lost=%d duplicated=%d (%.1f%%)" %
          (kills, len(lines), lost, dupes, 100.0 * dupes / max(1, len(lines))))
    if lost == 0:
        env.cleanup()
    else:
        print("left in %s" % env.dir)
    return lost


def main():
    p = argparse.ArgumentParser()
    p.add_argument("sluice")
    p.add_argument("loggen")
    p.add_argument("--kills", type=int, nargs="+", default=[0, 5])
    p.add_argument("--seconds", type=float, default=24.0)
    a = p.parse_args()
    lost = 0
    for k in a.kills:
        lost += run(os.path.abspath(a.sluice), os.path.abspath(a.loggen), k, a.seconds)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
