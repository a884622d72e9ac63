// power_cut.so: an LD_PRELOAD shim that records what a power cut would lose, as LevelDB's
// fault-injection environment does, for a process that cannot be given an environment seam.
//
// Model. A file's content is durable up to the last fsync/fdatasync of that file that completed;
// a directory entry (a file created, hard-linked, renamed or unlinked in it) is durable once an
// fsync of the directory completed after the change. Everything else is lost at a cut: writes
// (appends, overwrites, truncations) made after the last completed sync of their file, and entry
// changes made after the last completed sync of their directory. A sync covers what completed
// before it began: a write that races with an fsync of its file is taken as lost, and an fsync
// killed before it returned covers nothing. sync(2) and syncfs(2) sync everything;
// sync_file_range(2) makes nothing durable (it neither writes metadata nor flushes the disk's
// cache).
//
// The shim only records. Every change to a file under POWER_CUT_ROOT is appended as one line to
// POWER_CUT_JOURNAL/journal (an O_APPEND file, shared by the processes that load the shim), after
// it was made; what a write overwrote or a truncation cut is copied to POWER_CUT_JOURNAL/undo.<pid>
// before it is done, and a file a rename replaced or an unlink removed is kept as a hard link in
// POWER_CUT_JOURNAL/keep/ (so the journal directory must be on the root's file system). The cut
// itself is tests/e2e/power_cut/power_cut.py, run once the process is killed with SIGKILL: it
// undoes, newest first, every change the journal shows not durable.
//
// Intercepted: open, open64, openat, openat64, creat, write, pwrite, writev, the pwritev family,
// ftruncate, truncate, fsync, fdatasync, sync_file_range, sync, syncfs, rename, renameat(2),
// link, linkat, unlink, unlinkat, remove, close. A child made by fork journals on;
// tests/e2e/power_cut/power_cut_test.py checks the model case by case.
//
// Limits: writes through mmap, sendfile, copy_file_range, io_uring or a FILE* of glibc's own
// (fopen's internal open is not interposable) are not seen; nor are fds made by dup; mkdir and
// rmdir are taken as durable at once; a rename across directories is durable only when both
// were synced; a cut keeps or drops whole writes (no torn sectors, no reordering between two
// syncs). Unset POWER_CUT_JOURNAL: the shim passes every call through.
//
// THREADING: calls from any thread. Undo bytes are captured before the write, the journal line
// after it, so a line's position orders it against the sync lines of the same file.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_FDS 65536

static char g_root[PATH_MAX];
static size_t g_root_len;
static char g_dir[PATH_MAX];
static int g_journal = -1;
static int g_undo = -1;
static uint64_t g_undo_off;
static uint64_t g_keep_seq;
static pid_t g_pid;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
// 1: the fd was opened on a path under the root (a file or a directory).
static unsigned char g_tracked[MAX_FDS];

#define REAL(name) real_##name
#define DECLARE_REAL(ret, name, ...)                                              \
  static ret (*real_##name)(__VA_ARGS__);                                         \
  static void resolve_##name(void) {                                              \
    if (!real_##name) real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name); \
  }

DECLARE_REAL(int, open, const char*, int, ...)
DECLARE_REAL(int, open64, const char*, int, ...)
DECLARE_REAL(int, openat, int, const char*, int, ...)
DECLARE_REAL(int, openat64, int, const char*, int, ...)
DECLARE_REAL(ssize_t, write, int, const void*, size_t)
DECLARE_REAL(ssize_t, pwrite, int, const void*, size_t, off_t)
DECLARE_REAL(ssize_t, pwrite64, int, const void*, size_t, off_t)
DECLARE_REAL(ssize_t, writev, int, const struct iovec*, int)
DECLARE_REAL(ssize_t, pwritev, int, const struct iovec*, int, off_t)
DECLARE_REAL(ssize_t, pwritev64, int, const struct iovec*, int, off_t)
DECLARE_REAL(ssize_t, pwritev2, int, const struct iovec*, int, off_t, int)
DECLARE_REAL(ssize_t, pwritev64v2, int, const struct iovec*, int, off_t, int)
DECLARE_REAL(int, linkat, int, const char*, int, const char*, int)
DECLARE_REAL(int, ftruncate, int, off_t)
DECLARE_REAL(int, ftruncate64, int, off_t)
DECLARE_REAL(int, truncate, const char*, off_t)
DECLARE_REAL(int, truncate64, const char*, off_t)
DECLARE_REAL(int, fsync, int)
DECLARE_REAL(int, fdatasync, int)
DECLARE_REAL(int, syncfs, int)
DECLARE_REAL(int, sync_file_range, int, off64_t, off64_t, unsigned int)
DECLARE_REAL(void, sync, void)
DECLARE_REAL(int, renameat, int, const char*, int, const char*)
DECLARE_REAL(int, renameat2, int, const char*, int, const char*, unsigned)
DECLARE_REAL(int, unlinkat, int, const char*, int)
DECLARE_REAL(int, remove, const char*)
DECLARE_REAL(int, close, int)

static int enabled(void) { return g_journal >= 0; }

static void open_undo(void) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/undo.%d", g_dir, (int)g_pid);
  g_undo = REAL(open)(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  g_undo_off = 0;
}

// A child made by fork keeps the journal (O_APPEND: lines stay whole) but needs an undo file of
// its own, since the offsets in it are counted per process.
static void power_cut_child(void) {
  if (g_journal < 0) return;
  syscall(SYS_close, g_undo);
  g_pid = getpid();
  open_undo();
}

__attribute__((constructor)) static void power_cut_init(void) {
  const char* dir = getenv("POWER_CUT_JOURNAL");
  const char* root = getenv("POWER_CUT_ROOT");
  if (!dir || !root || !realpath(root, g_root)) return;
  g_root_len = strlen(g_root);
  snprintf(g_dir, sizeof(g_dir), "%s", dir);
  g_pid = getpid();
  resolve_open();
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/keep", g_dir);
  mkdir(path, 0755);
  open_undo();
  snprintf(path, sizeof(path), "%s/journal", g_dir);
  int j = REAL(open)(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (g_undo < 0 || j < 0) {
    fprintf(stderr, "power_cut: cannot open the journal in %s\n", g_dir);
    abort();
  }
  g_journal = j;
  pthread_atfork(NULL, NULL, power_cut_child);
}

static void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = syscall(SYS_write, fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) abort();  // a journal that silently misses a line would make the cut lie
    p += w;
    n -= (size_t)w;
  }
}

// Appends one line (printf format, newline added) to the journal with a single write.
static void journal(const char* fmt, ...) {
  char line[3 * PATH_MAX];
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= (int)sizeof(line) - 1) abort();
  line[n++] = '\n';
  write_all(g_journal, line, (size_t)n);
  errno = saved;
}

// Resolves `path` (relative to `dirfd`) to an absolute path whose directory part is canonical;
// false when it is not under the root.
static int under_root(int dirfd, const char* path, char* out) {
  if (!enabled() || !path) return 0;
  char joined[2 * PATH_MAX];
  if (path[0] == '/') {
    snprintf(joined, sizeof(joined), "%s", path);
  } else if (dirfd == AT_FDCWD) {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd))) return 0;
    snprintf(joined, sizeof(joined), "%s/%s", cwd, path);
  } else {
    char link[64], base[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, base, sizeof(base) - 1);
    if (n < 0) return 0;
    base[n] = 0;
    snprintf(joined, sizeof(joined), "%s/%s", base, path);
  }
  size_t len = strlen(joined);
  while (len > 1 && joined[len - 1] == '/') joined[--len] = 0;
  char* slash = strrchr(joined, '/');
  char dir[PATH_MAX];
  if (slash == joined) {
    snprintf(dir, sizeof(dir), "/");
  } else {
    *slash = 0;
    if (!realpath(joined, dir)) return 0;
    *slash = '/';
  }
  const char* name = slash + 1;
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
    if (!realpath(joined, out)) return 0;
  } else {
    snprintf(out, PATH_MAX, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
  }
  return strncmp(out, g_root, g_root_len) == 0 && (out[g_root_len] == '/' || out[g_root_len] == 0);
}

static int parent_of(const char* path, struct stat* st) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s", path);
  char* slash = strrchr(dir, '/');
  if (!slash) return -1;
  if (slash == dir)
    slash[1] = 0;
  else
    *slash = 0;
  return stat(dir, st);
}

static int tracked(int fd) { return enabled() && fd >= 0 && fd < MAX_FDS && g_tracked[fd]; }

// After an open of `path` returned `fd`: tracks it, and journals a file it created.
static int after_open(int fd, const char* path, int existed) {
  if (fd < 0 || fd >= MAX_FDS) return fd;
  g_tracked[fd] = 1;
  if (!existed) {
    struct stat st, parent;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && parent_of(path, &parent) == 0) {
      journal("C %lu %lu %lu %lu %s", (unsigned long)st.st_dev, (unsigned long)st.st_ino,
              (unsigned long)parent.st_dev, (unsigned long)parent.st_ino, path);
    }
  }
  return fd;
}

// Copies bytes [from, to) of `fd` to the undo file; returns their offset there.
// A write-only fd is read through /proc/self/fd.
static uint64_t save_range(int fd, uint64_t from, uint64_t to) {
  char buf[65536];
  int rd = fd;
  int mode = fcntl(fd, F_GETFL) & O_ACCMODE;
  if (mode != O_RDONLY && mode != O_RDWR) {
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    resolve_open();
    rd = REAL(open)(link, O_RDONLY | O_CLOEXEC);
    if (rd < 0) abort();  // the shim cannot model this overwrite
  }
  pthread_mutex_lock(&g_mu);
  uint64_t at = g_undo_off;
  for (uint64_t pos = from; pos < to;) {
    size_t want = to - pos < sizeof(buf) ? (size_t)(to - pos) : sizeof(buf);
    ssize_t n = pread(rd, buf, want, (off_t)pos);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) abort();
    write_all(g_undo, buf, (size_t)n);
    pos += (uint64_t)n;
    g_undo_off += (uint64_t)n;
  }
  pthread_mutex_unlock(&g_mu);
  if (rd != fd) syscall(SYS_close, rd);
  return at;
}

struct before {
  struct stat st;
  uint64_t off;
  uint64_t undo_at;
  uint64_t undo_len;
};

// Before a write of `len` bytes at `off` (-1: the fd's position, or its end with O_APPEND).
static int before_write(int fd, int64_t off, size_t len, struct before* b) {
  if (fstat(fd, &b->st) != 0 || !S_ISREG(b->st.st_mode)) return 0;
  if (off < 0) {
    off = (fcntl(fd, F_GETFL) & O_APPEND) ? b->st.st_size : lseek(fd, 0, SEEK_CUR);
  }
  b->off = (uint64_t)off;
  uint64_t size = (uint64_t)b->st.st_size;
  uint64_t end = b->off + len < size ? b->off + len : size;
  b->undo_len = end > b->off ? end - b->off : 0;
  b->undo_at = b->undo_len ? save_range(fd, b->off, end) : 0;
  return 1;
}

static void after_write(const struct before* b, ssize_t written) {
  if (written <= 0) return;  // nothing changed
  journal("W %lu %lu %lu %ld %lu %d %lu %lu", (unsigned long)b->st.st_dev,
          (unsigned long)b->st.st_ino, (unsigned long)b->off, (long)written,
          (unsigned long)b->st.st_size, (int)g_pid, (unsigned long)b->undo_at,
          (unsigned long)b->undo_len);
}

static size_t iov_len(const struct iovec* iov, int n) {
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += iov[i].iov_len;
  return total;
}

// Opens. O_CREAT on a path that did not exist is a new directory entry.
static int do_open(int dirfd, const char* path, int flags, mode_t mode, int with_mode,
                   int (*fn_path)(const char*, int, ...),
                   int (*fn_at)(int, const char*, int, ...)) {
  char abs[PATH_MAX];
  int track = under_root(dirfd, path, abs);
  int existed = 1;
  if (track) {
    struct stat st;
    existed = stat(abs, &st) == 0;
    if (existed && S_ISREG(st.st_mode) && (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY &&
        st.st_size > 0) {
      // O_TRUNC of a file with content: journalled as a truncation to 0 (needs read access).
      int pre = (flags & ~(O_ACCMODE | O_TRUNC | O_CREAT | O_EXCL)) | O_RDWR;
      int fd = fn_at ? fn_at(dirfd, path, pre, 0) : fn_path(path, pre, 0);
      if (fd >= 0) {
        struct stat now;
        if (fstat(fd, &now) == 0 && now.st_size > 0) {
          uint64_t at_off = save_range(fd, 0, (uint64_t)now.st_size);
          if (REAL(ftruncate)(fd, 0) == 0) {
            journal("T %lu %lu 0 %lu %d %lu %lu", (unsigned long)now.st_dev,
                    (unsigned long)now.st_ino, (unsigned long)now.st_size, (int)g_pid,
                    (unsigned long)at_off, (unsigned long)now.st_size);
          }
        }
        REAL(close)(fd);
      }
    }
  }
  int fd;
  if (fn_at) {
    fd = with_mode ? fn_at(dirfd, path, flags, mode) : fn_at(dirfd, path, flags);
  } else {
    fd = with_mode ? fn_path(path, flags, mode) : fn_path(path, flags);
  }
  if (fd >= 0 && fd < MAX_FDS) g_tracked[fd] = 0;
  if (track && fd >= 0) after_open(fd, abs, existed);
  return fd;
}

#define OPEN_PATH(name)                                                        \
  EXPORT int name(const char* path, int flags, ...) {                          \
    resolve_##name();                                                          \
    resolve_ftruncate();                                                       \
    resolve_close();                                                           \
    mode_t mode = 0;                                                           \
    int with_mode = (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE; \
    if (with_mode) {                                                           \
      va_list ap;                                                              \
      va_start(ap, flags);                                                     \
      mode = va_arg(ap, mode_t);                                               \
      va_end(ap);                                                              \
    }                                                                          \
    return do_open(AT_FDCWD, path, flags, mode, with_mode, REAL(name), NULL);  \
  }
#define OPEN_AT(name)                                                          \
  EXPORT int name(int dirfd, const char* path, int flags, ...) {               \
    resolve_##name();                                                          \
    resolve_ftruncate();                                                       \
    resolve_close();                                                           \
    mode_t mode = 0;                                                           \
    int with_mode = (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE; \
    if (with_mode) {                                                           \
      va_list ap;                                                              \
      va_start(ap, flags);                                                     \
      mode = va_arg(ap, mode_t);                                               \
      va_end(ap);                                                              \
    }                                                                          \
    return do_open(dirfd, path, flags, mode, with_mode, NULL, REAL(name));     \
  }
OPEN_PATH(open)
OPEN_PATH(open64)
OPEN_AT(openat)
OPEN_AT(openat64)

EXPORT int __open_2(const char* path, int flags) { return open(path, flags); }
EXPORT int __open64_2(const char* path, int flags) { return open(path, flags); }
EXPORT int __openat_2(int dirfd, const char* path, int flags) { return openat(dirfd, path, flags); }
EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
  return openat(dirfd, path, flags);
}
EXPORT int creat(const char* path, mode_t mode) {
  return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}
EXPORT int creat64(const char* path, mode_t mode) {
  return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

// Writes. Untracked fds (sockets, pipes, files elsewhere) pass straight through.
#define WRITE_BODY(call, off, len)                                  \
  struct before b;                                                  \
  if (!tracked(fd) || !before_write(fd, off, len, &b)) return call; \
  ssize_t n = call;                                                 \
  int saved = errno;                                                \
  after_write(&b, n);                                               \
  errno = saved;                                                    \
  return n;

EXPORT ssize_t write(int fd, const void* buf, size_t len) {
  resolve_write();
  WRITE_BODY(REAL(write)(fd, buf, len), -1, len)
}
EXPORT ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) {
  resolve_pwrite();
  WRITE_BODY(REAL(pwrite)(fd, buf, len, off), off, len)
}
EXPORT ssize_t pwrite64(int fd, const void* buf, size_t len, off_t off) {
  resolve_pwrite64();
  WRITE_BODY(REAL(pwrite64)(fd, buf, len, off), off, len)
}
EXPORT ssize_t writev(int fd, const struct iovec* iov, int n_iov) {
  resolve_writev();
  WRITE_BODY(REAL(writev)(fd, iov, n_iov), -1, iov_len(iov, n_iov))
}
EXPORT ssize_t pwritev(int fd, const struct iovec* iov, int n_iov, off_t off) {
  resolve_pwritev();
  WRITE_BODY(REAL(pwritev)(fd, iov, n_iov, off), off, iov_len(iov, n_iov))
}
EXPORT ssize_t pwritev64(int fd, const struct iovec* iov, int n_iov, off_t off) {
  resolve_pwritev64();
  WRITE_BODY(REAL(pwritev64)(fd, iov, n_iov, off), off, iov_len(iov, n_iov))
}
EXPORT ssize_t pwritev2(int fd, const struct iovec* iov, int n_iov, off_t off, int flags) {
  resolve_pwritev2();
  WRITE_BODY(REAL(pwritev2)(fd, iov, n_iov, off, flags), off, iov_len(iov, n_iov))
}
EXPORT ssize_t pwritev64v2(int fd, const struct iovec* iov, int n_iov, off_t off, int flags) {
  resolve_pwritev64v2();
  WRITE_BODY(REAL(pwritev64v2)(fd, iov, n_iov, off, flags), off, iov_len(iov, n_iov))
}

// Truncation: what a shrink cuts is saved; a growth is undone by cutting back.
static int truncate_fd(int fd, off_t len, int (*fn)(int, off_t)) {
  struct stat st;
  if (!tracked(fd) || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return fn(fd, len);
  uint64_t at = 0, saved = 0;
  if (len < st.st_size) {
    saved = (uint64_t)(st.st_size - len);
    at = save_range(fd, (uint64_t)len, (uint64_t)st.st_size);
  }
  int rc = fn(fd, len);
  int err = errno;
  if (rc == 0) {
    journal("T %lu %lu %ld %lu %d %lu %lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino,
            (long)len, (unsigned long)st.st_size, (int)g_pid, (unsigned long)at,
            (unsigned long)saved);
  }
  errno = err;
  return rc;
}
EXPORT int ftruncate(int fd, off_t len) {
  resolve_ftruncate();
  return truncate_fd(fd, len, REAL(ftruncate));
}
EXPORT int ftruncate64(int fd, off_t len) {
  resolve_ftruncate64();
  return truncate_fd(fd, len, REAL(ftruncate64));
}
static int truncate_path(const char* path, off_t len, int (*fn)(const char*, off_t)) {
  char abs[PATH_MAX];
  if (!under_root(AT_FDCWD, path, abs)) return fn(path, len);
  resolve_open();
  resolve_close();
  resolve_ftruncate();
  int fd = REAL(open)(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return fn(path, len);
  int was = g_tracked[fd];
  g_tracked[fd] = 1;
  int rc = truncate_fd(fd, len, REAL(ftruncate));
  g_tracked[fd] = (unsigned char)was;
  int err = errno;
  REAL(close)(fd);
  errno = err;
  return rc;
}
EXPORT int truncate(const char* path, off_t len) {
  resolve_truncate();
  return truncate_path(path, len, REAL(truncate));
}
EXPORT int truncate64(const char* path, off_t len) {
  resolve_truncate64();
  return truncate_path(path, len, REAL(truncate64));
}

// Syncs: a begin line before, an end line once it succeeded.
static int sync_fd(int fd, int (*fn)(int)) {
  struct stat st;
  if (!tracked(fd) || fstat(fd, &st) != 0) return fn(fd);
  char kind = S_ISDIR(st.st_mode) ? 'D' : 'S';
  journal("%c %lu %lu", kind, (unsigned long)st.st_dev, (unsigned long)st.st_ino);
  int rc = fn(fd);
  if (rc == 0) {
    journal("%c %lu %lu", kind + ('a' - 'A'), (unsigned long)st.st_dev, (unsigned long)st.st_ino);
  }
  return rc;
}
EXPORT int fsync(int fd) {
  resolve_fsync();
  return sync_fd(fd, REAL(fsync));
}
EXPORT int fdatasync(int fd) {
  resolve_fdatasync();
  return sync_fd(fd, REAL(fdatasync));
}
// Starts writeback only: no metadata, no cache flush, so nothing becomes durable.
EXPORT int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
  resolve_sync_file_range();
  return REAL(sync_file_range)(fd, offset, nbytes, flags);
}
EXPORT int syncfs(int fd) {
  resolve_syncfs();
  if (!enabled()) return REAL(syncfs)(fd);
  journal("G");
  int rc = REAL(syncfs)(fd);
  if (rc == 0) journal("g");
  return rc;
}
EXPORT void sync(void) {
  resolve_sync();
  if (enabled()) journal("G");
  REAL(sync)();
  if (enabled()) journal("g");
}

// Keeps the file `path` names (if any) as a hard link in the journal; "-" when none.
static void keep(const char* path, char* out, struct stat* st) {
  snprintf(out, PATH_MAX, "-");
  if (lstat(path, st) != 0 || !S_ISREG(st->st_mode)) return;
  pthread_mutex_lock(&g_mu);
  uint64_t n = ++g_keep_seq;
  pthread_mutex_unlock(&g_mu);
  char link_path[PATH_MAX + 64];
  snprintf(link_path, sizeof(link_path), "%s/keep/%d-%lu", g_dir, (int)g_pid, (unsigned long)n);
  if (link(path, link_path) == 0) snprintf(out, PATH_MAX, "%s", link_path);
}

static int do_rename(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
                     unsigned flags, int (*call)(int, const char*, int, const char*, unsigned)) {
  char from[PATH_MAX], to[PATH_MAX];
  int a = under_root(olddirfd, oldpath, from);
  int b = under_root(newdirfd, newpath, to);
  if (!a && !b) return call(olddirfd, oldpath, newdirfd, newpath, flags);
  struct stat moved, replaced, from_parent, to_parent;
  char kept[PATH_MAX];
  if (lstat(from, &moved) != 0 || !S_ISREG(moved.st_mode) || !a || !b) {
    return call(olddirfd, oldpath, newdirfd, newpath, flags);  // directories: not modelled
  }
  keep(to, kept, &replaced);
  int rc = call(olddirfd, oldpath, newdirfd, newpath, flags);
  int err = errno;
  if (rc == 0 && parent_of(from, &from_parent) == 0 && parent_of(to, &to_parent) == 0) {
    journal("R %lu %lu %lu %lu %lu %lu %s %s %s", (unsigned long)moved.st_dev,
            (unsigned long)moved.st_ino, (unsigned long)from_parent.st_dev,
            (unsigned long)from_parent.st_ino, (unsigned long)to_parent.st_dev,
            (unsigned long)to_parent.st_ino, kept, from, to);
  } else if (strcmp(kept, "-") != 0) {
    syscall(SYS_unlink, kept);
  }
  errno = err;
  return rc;
}
static int call_renameat2(int od, const char* o, int nd, const char* n, unsigned flags) {
  resolve_renameat2();
  resolve_renameat();
  if (flags == 0) return REAL(renameat)(od, o, nd, n);
  return REAL(renameat2)(od, o, nd, n, flags);
}
EXPORT int rename(const char* oldpath, const char* newpath) {
  return do_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, call_renameat2);
}
EXPORT int renameat(int od, const char* oldpath, int nd, const char* newpath) {
  return do_rename(od, oldpath, nd, newpath, 0, call_renameat2);
}
EXPORT int renameat2(int od, const char* oldpath, int nd, const char* newpath, unsigned flags) {
  return do_rename(od, oldpath, nd, newpath, flags, call_renameat2);
}

static int do_unlink(int dirfd, const char* path, int flags, int (*call)(int, const char*, int)) {
  char abs[PATH_MAX];
  struct stat st, parent;
  if (!under_root(dirfd, path, abs) || (flags & AT_REMOVEDIR) || lstat(abs, &st) != 0 ||
      !S_ISREG(st.st_mode)) {
    return call(dirfd, path, flags);
  }
  char kept[PATH_MAX];
  keep(abs, kept, &st);
  int rc = call(dirfd, path, flags);
  int err = errno;
  if (rc == 0 && parent_of(abs, &parent) == 0) {
    journal("U %lu %lu %lu %lu %s %s", (unsigned long)st.st_dev, (unsigned long)st.st_ino,
            (unsigned long)parent.st_dev, (unsigned long)parent.st_ino, kept, abs);
  } else if (strcmp(kept, "-") != 0) {
    syscall(SYS_unlink, kept);
  }
  errno = err;
  return rc;
}
static int call_unlinkat(int dirfd, const char* path, int flags) {
  resolve_unlinkat();
  return REAL(unlinkat)(dirfd, path, flags);
}
static int call_remove(int dirfd, const char* path, int flags) {
  (void)dirfd;
  (void)flags;
  resolve_remove();
  return REAL(remove)(path);
}
EXPORT int unlink(const char* path) { return do_unlink(AT_FDCWD, path, 0, call_unlinkat); }
EXPORT int unlinkat(int dirfd, const char* path, int flags) {
  return do_unlink(dirfd, path, flags, call_unlinkat);
}
// glibc's remove() unlinks through an internal call the shim would not see.
EXPORT int remove(const char* path) { return do_unlink(AT_FDCWD, path, 0, call_remove); }

// A hard link is a new directory entry, durable as a created file's.
static int do_link(int olddirfd, const char* oldpath, int newdirfd, const char* newpath, int flags,
                   int (*call)(int, const char*, int, const char*, int)) {
  char to[PATH_MAX];
  int rc = call(olddirfd, oldpath, newdirfd, newpath, flags);
  int err = errno;
  struct stat st, parent;
  if (rc == 0 && under_root(newdirfd, newpath, to) && lstat(to, &st) == 0 && S_ISREG(st.st_mode) &&
      parent_of(to, &parent) == 0) {
    journal("C %lu %lu %lu %lu %s", (unsigned long)st.st_dev, (unsigned long)st.st_ino,
            (unsigned long)parent.st_dev, (unsigned long)parent.st_ino, to);
  }
  errno = err;
  return rc;
}
static int call_linkat(int od, const char* o, int nd, const char* n, int flags) {
  resolve_linkat();
  return REAL(linkat)(od, o, nd, n, flags);
}
EXPORT int link(const char* oldpath, const char* newpath) {
  return do_link(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, call_linkat);
}
EXPORT int linkat(int od, const char* oldpath, int nd, const char* newpath, int flags) {
  return do_link(od, oldpath, nd, newpath, flags, call_linkat);
}

EXPORT int close(int fd) {
  resolve_close();
  if (fd >= 0 && fd < MAX_FDS) g_tracked[fd] = 0;
  return REAL(close)(fd);
}
