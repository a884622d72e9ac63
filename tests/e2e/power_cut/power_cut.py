"""The cut step of the power-cut shim (power_cut.c): undoes what a power cut would lose.

Run it once every process that loaded the shim has been killed (SIGKILL): `cut(journal_dir, root)`
reads the journal those processes wrote and, newest change first, undoes every change that was
not durable when they died:

- a write or truncation made after the last completed fsync/fdatasync of its file (counted from
  when that sync began): its old bytes are written back and the file cut or grown back to its
  size before it (appends are cut off, overwrites restored, truncations refilled);
- a file created in a directory not fsynced since: removed;
- a rename not made durable by an fsync of its directory (of both, across directories): moved
  back, and the file it replaced put back;
- an unlink not made durable: the file put back (the shim kept a hard link to it).

Journal lines (one per change, in the order the changes completed; a torn last line is
ignored):
  C dev ino pdev pino path                  file created (or hard-linked) in directory pdev:pino
  W dev ino off len old_size pid at n       write; n old bytes saved at `at` in undo.<pid>
  T dev ino new_size old_size pid at n      truncation; n cut bytes saved
  S dev ino / s dev ino                     fsync or fdatasync of a file began / succeeded
  D dev ino / d dev ino                     fsync of a directory began / succeeded
  G / g                                     sync or syncfs began / succeeded (everything)
  R dev ino opdev opino npdev npino kept old new     rename (kept: the replaced file, or -)
  U dev ino pdev pino kept path             unlink (kept: the removed file)

Also usable from the command line: power_cut.py JOURNAL_DIR ROOT.
"""
import os
import shutil
import sys


def _parse(journal_dir):
    path = os.path.join(journal_dir, "journal")
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] != b"":
        lines = lines[:-1]  # torn by the kill
    out = []
    for raw in lines:
        if not raw:
            continue
        parts = raw.decode().split(" ")
        out.append(parts)
    return out


def _durable_from(events):
    """For each file or directory key: the journal position from which changes are not durable
    (the begin of its last completed sync, FIFO-paired so that overlapping syncs are credited
    with the earlier begin); 0 when never synced. `everything`: the same for sync/syncfs."""
    pending = {}
    durable = {}
    pending_all = []
    durable_all = 0
    for pos, e in enumerate(events):
        kind = e[0]
        if kind in ("S", "D"):
            pending.setdefault((kind, e[1], e[2]), []).append(pos)
        elif kind in ("s", "d"):
            key = (kind.upper(), e[1], e[2])
            if pending.get(key):
                begin = pending[key].pop(0)
                durable[key] = max(durable.get(key, 0), begin)
        elif kind == "G":
            pending_all.append(pos)
        elif kind == "g" and pending_all:
            durable_all = max(durable_all, pending_all.pop(0))
    return durable, durable_all


def _inodes(*dirs):
    found = {}
    for top in dirs:
        for root, _, files in os.walk(top):
            for name in files:
                p = os.path.join(root, name)
                try:
                    st = os.lstat(p)
                except FileNotFoundError:
                    continue
                found.setdefault((str(st.st_dev), str(st.st_ino)), p)
    return found


def cut(journal_dir, root):
    """Undoes every change the journal shows not durable; returns counts of what it undid."""
    events = _parse(journal_dir)
    durable, durable_all = _durable_from(events)

    def file_durable(pos, dev, ino):
        return pos < max(durable.get(("S", dev, ino), 0), durable_all)

    def entry_durable(pos, pdev, pino):
        return pos < max(durable.get(("D", pdev, pino), 0), durable_all)

    keep = os.path.join(journal_dir, "keep")
    paths = _inodes(root, keep)
    undo_files = {}

    def undo_bytes(pid, at, n):
        f = undo_files.get(pid)
        if f is None:
            f = undo_files[pid] = open(os.path.join(journal_dir, "undo." + pid), "rb")
        f.seek(at)
        data = f.read(n)
        if len(data) != n:
            raise AssertionError("power_cut: undo.%s short at %d" % (pid, at))
        return data

    stats = {"writes": 0, "truncations": 0, "created": 0, "renames": 0, "unlinks": 0, "bytes": 0,
             "files": {}}
    # File contents first, while every inode still has a name (current or kept).
    for pos in range(len(events) - 1, -1, -1):
        e = events[pos]
        if e[0] not in ("W", "T") or file_durable(pos, e[1], e[2]):
            continue
        p = paths.get((e[1], e[2]))
        if p is None:
            continue  # gone for good (removed durably by an earlier run's cleanup)
        if e[0] == "W":
            off, old_size, pid, at, n = int(e[3]), int(e[5]), e[6], int(e[7]), int(e[8])
            stats["writes"] += 1
            rel = os.path.relpath(p, root)
            stats["files"][rel] = stats["files"].get(rel, 0) + 1
        else:
            off, old_size, pid, at, n = int(e[3]), int(e[4]), e[5], int(e[6]), int(e[7])
            stats["truncations"] += 1
        with open(p, "r+b") as f:
            size = os.fstat(f.fileno()).st_size
            if n:
                f.seek(off)
                f.write(undo_bytes(pid, at, n))
            f.truncate(old_size)
            stats["bytes"] += max(0, size - old_size)
    for f in undo_files.values():
        f.close()

    def names(path, dev, ino):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        return str(st.st_dev) == dev and str(st.st_ino) == ino

    # Then directory entries, newest first.
    for pos in range(len(events) - 1, -1, -1):
        e = events[pos]
        if e[0] == "C" and not entry_durable(pos, e[3], e[4]):
            if names(e[5], e[1], e[2]):
                os.unlink(e[5])
                stats["created"] += 1
        elif e[0] == "R":
            if entry_durable(pos, e[3], e[4]) and entry_durable(pos, e[5], e[6]):
                continue
            kept, old, new = e[7], e[8], e[9]
            if names(new, e[1], e[2]) and not os.path.exists(old):
                os.rename(new, old)
            if kept != "-" and not os.path.exists(new):
                os.link(kept, new)
            stats["renames"] += 1
        elif e[0] == "U" and not entry_durable(pos, e[3], e[4]):
            kept, path = e[5], e[6]
            if kept != "-" and not os.path.exists(path):
                os.link(kept, path)
                stats["unlinks"] += 1
    return stats


def reset(journal_dir):
    """Empties the journal directory for the next run under the shim."""
    shutil.rmtree(journal_dir, ignore_errors=True)
    os.makedirs(journal_dir)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: power_cut.py JOURNAL_DIR ROOT")
    print(cut(sys.argv[1], os.path.realpath(sys.argv[2])))
