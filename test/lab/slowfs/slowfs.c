/*
 * slowfs: a FUSE passthrough of one folder whose writes go at a set speed, for the lab's
 * "really slow backup target" (a small NAS over NFS/SMB, sshfs, a USB disk). QEMU's own
 * throttle filter delays requests inside the block layer and occupies nothing else; a slow
 * file system holds the writing thread in the kernel (and the file's inode lock) for as
 * long as the data takes to pass, which is what a real slow target does to QEMU.
 *
 *   slowfs SOURCE MOUNTPOINT --control FILE [-f] [-o fuse options]
 *
 * FILE is read again whenever it changes (checked at most every 50 ms) and holds lines:
 *   rate=BYTES_PER_SECOND   writes share this bandwidth, first come first served (0: unlimited)
 *   mode=normal|stall|eio   stall: writes wait until the mode changes; eio: writes fail with EIO
 * Reads and metadata are passed through at full speed. Test fixture only.
 */
#define FUSE_USE_VERSION 35
#define _GNU_SOURCE
#include <fuse.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_NORMAL, MODE_STALL, MODE_EIO };

static int source_fd = -1;
static const char *control_path;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mode_changed = PTHREAD_COND_INITIALIZER;
static uint64_t rate_bps;
static enum mode mode = MODE_NORMAL;
static struct timespec control_mtime;
static uint64_t control_checked_ns;
/* When the shared link is free again: each write books its share of the bandwidth. */
static uint64_t link_free_ns;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t) {
  struct timespec ts = {(time_t)(t / 1000000000ull), (long)(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

/* Called with the lock held. */
static void read_control(void) {
  uint64_t t = now_ns();
  if (t - control_checked_ns < 50000000ull) return;
  control_checked_ns = t;
  struct stat st;
  if (stat(control_path, &st) != 0) return;
  if (st.st_mtim.tv_sec == control_mtime.tv_sec && st.st_mtim.tv_nsec == control_mtime.tv_nsec) return;
  control_mtime = st.st_mtim;
  FILE *f = fopen(control_path, "r");
  if (!f) return;
  char line[128];
  enum mode before = mode;
  while (fgets(line, sizeof line, f)) {
    unsigned long long v;
    if (sscanf(line, "rate=%llu", &v) == 1) rate_bps = v;
    else if (strncmp(line, "mode=stall", 10) == 0) mode = MODE_STALL;
    else if (strncmp(line, "mode=eio", 8) == 0) mode = MODE_EIO;
    else if (strncmp(line, "mode=normal", 11) == 0) mode = MODE_NORMAL;
  }
  fclose(f);
  if (mode != before) pthread_cond_broadcast(&mode_changed);
}

/* Waits for this write's turn on the link; returns 0 or -EIO. */
static int throttle_write(size_t size) {
  pthread_mutex_lock(&lock);
  read_control();
  while (mode == MODE_STALL) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 50000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&mode_changed, &lock, &ts);
    control_checked_ns = 0;
    read_control();
  }
  if (mode == MODE_EIO) {
    pthread_mutex_unlock(&lock);
    return -EIO;
  }
  uint64_t done = 0;
  if (rate_bps > 0) {
    uint64_t t = now_ns();
    uint64_t start = link_free_ns > t ? link_free_ns : t;
    link_free_ns = start + (uint64_t)((double)size * 1e9 / (double)rate_bps);
    done = link_free_ns;
  }
  pthread_mutex_unlock(&lock);
  if (done) sleep_until(done);
  return 0;
}

/* Paths arrive as "/a/b": relative to the source folder's descriptor. */
static const char *rel(const char *path) {
  while (*path == '/') path++;
  return *path ? path : ".";
}

static int sf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  int r = fi ? fstat((int)fi->fh, st) : fstatat(source_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);
  return r == 0 ? 0 : -errno;
}

static int sf_access(const char *path, int mask) {
  return faccessat(source_fd, rel(path), mask, 0) == 0 ? 0 : -errno;
}

static int sf_readlink(const char *path, char *buf, size_t size) {
  ssize_t n = readlinkat(source_fd, rel(path), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

static int sf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
  (void)off;
  (void)fi;
  (void)flags;
  int fd = openat(source_fd, rel(path), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -errno;
  DIR *d = fdopendir(fd);
  if (!d) {
    int e = errno;
    close(fd);
    return -e;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    struct stat st = {0};
    st.st_ino = e->d_ino;
    st.st_mode = (mode_t)DTTOIF(e->d_type);
    if (fill(buf, e->d_name, &st, 0, 0)) break;
  }
  closedir(d);
  return 0;
}

static int sf_mkdir(const char *path, mode_t m) { return mkdirat(source_fd, rel(path), m) == 0 ? 0 : -errno; }
static int sf_unlink(const char *path) { return unlinkat(source_fd, rel(path), 0) == 0 ? 0 : -errno; }
static int sf_rmdir(const char *path) { return unlinkat(source_fd, rel(path), AT_REMOVEDIR) == 0 ? 0 : -errno; }
static int sf_symlink(const char *to, const char *path) { return symlinkat(to, source_fd, rel(path)) == 0 ? 0 : -errno; }

static int sf_rename(const char *from, const char *to, unsigned int flags) {
  if (flags) return -EINVAL;
  return renameat(source_fd, rel(from), source_fd, rel(to)) == 0 ? 0 : -errno;
}

static int sf_chmod(const char *path, mode_t m, struct fuse_file_info *fi) {
  int r = fi ? fchmod((int)fi->fh, m) : fchmodat(source_fd, rel(path), m, 0);
  return r == 0 ? 0 : -errno;
}

static int sf_chown(const char *path, uid_t u, gid_t g, struct fuse_file_info *fi) {
  int r = fi ? fchown((int)fi->fh, u, g) : fchownat(source_fd, rel(path), u, g, AT_SYMLINK_NOFOLLOW);
  return r == 0 ? 0 : -errno;
}

static int sf_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  int r;
  if (fi) {
    r = ftruncate((int)fi->fh, size);
  } else {
    int fd = openat(source_fd, rel(path), O_WRONLY);
    if (fd < 0) return -errno;
    r = ftruncate(fd, size);
    int e = errno;
    close(fd);
    errno = e;
  }
  return r == 0 ? 0 : -errno;
}

static int sf_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
  int r = fi ? futimens((int)fi->fh, tv) : utimensat(source_fd, rel(path), tv, AT_SYMLINK_NOFOLLOW);
  return r == 0 ? 0 : -errno;
}

static int sf_create(const char *path, mode_t m, struct fuse_file_info *fi) {
  int fd = openat(source_fd, rel(path), fi->flags & ~O_DIRECT, m);
  if (fd < 0) return -errno;
  fi->fh = (uint64_t)fd;
  return 0;
}

static int sf_open(const char *path, struct fuse_file_info *fi) {
  int fd = openat(source_fd, rel(path), fi->flags & ~O_DIRECT);
  if (fd < 0) return -errno;
  fi->fh = (uint64_t)fd;
  return 0;
}

static int sf_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)path;
  ssize_t n = pread((int)fi->fh, buf, size, off);
  return n < 0 ? -errno : (int)n;
}

static int sf_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)path;
  int r = throttle_write(size);
  if (r) return r;
  ssize_t n = pwrite((int)fi->fh, buf, size, off);
  return n < 0 ? -errno : (int)n;
}

static int sf_statfs(const char *path, struct statvfs *st) {
  (void)path;
  return fstatvfs(source_fd, st) == 0 ? 0 : -errno;
}

static int sf_flush(const char *path, struct fuse_file_info *fi) {
  (void)path;
  /* close() of a dup: the source file system sees the flush a close would give it. */
  int fd = dup((int)fi->fh);
  if (fd < 0) return -errno;
  return close(fd) == 0 ? 0 : -errno;
}

static int sf_release(const char *path, struct fuse_file_info *fi) {
  (void)path;
  close((int)fi->fh);
  return 0;
}

static int sf_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)path;
  int r = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
  return r == 0 ? 0 : -errno;
}

static int sf_fallocate(const char *path, int m, off_t off, off_t len, struct fuse_file_info *fi) {
  (void)path;
  return fallocate((int)fi->fh, m, off, len) == 0 ? 0 : -errno;
}

static off_t sf_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi) {
  (void)path;
  off_t r = lseek((int)fi->fh, off, whence);
  return r < 0 ? -errno : r;
}

static void *sf_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  /* Attributes come from the source every time: sizes change under QEMU's feet. */
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->use_ino = 1;
  return NULL;
}

static const struct fuse_operations ops = {
    .init = sf_init,
    .getattr = sf_getattr,
    .access = sf_access,
    .readlink = sf_readlink,
    .readdir = sf_readdir,
    .mkdir = sf_mkdir,
    .symlink = sf_symlink,
    .unlink = sf_unlink,
    .rmdir = sf_rmdir,
    .rename = sf_rename,
    .chmod = sf_chmod,
    .chown = sf_chown,
    .truncate = sf_truncate,
    .utimens = sf_utimens,
    .create = sf_create,
    .open = sf_open,
    .read = sf_read,
    .write = sf_write,
    .statfs = sf_statfs,
    .flush = sf_flush,
    .release = sf_release,
    .fsync = sf_fsync,
    .fallocate = sf_fallocate,
    .lseek = sf_lseek,
};

int main(int argc, char *argv[]) {
  if (argc < 5 || strcmp(argv[3], "--control") != 0) {
    fprintf(stderr, "usage: slowfs SOURCE MOUNTPOINT --control FILE [fuse options]\n");
    return 2;
  }
  source_fd = open(argv[1], O_RDONLY | O_DIRECTORY);
  if (source_fd < 0) {
    perror(argv[1]);
    return 1;
  }
  control_path = argv[4];
  pthread_mutex_lock(&lock);
  read_control();
  pthread_mutex_unlock(&lock);
  /* fuse_main gets: program, mountpoint, the rest. */
  char **args = calloc((size_t)argc, sizeof *args);
  int n = 0;
  args[n++] = argv[0];
  args[n++] = argv[2];
  for (int i = 5; i < argc; i++) args[n++] = argv[i];
  umask(0);
  return fuse_main(n, args, &ops, NULL);
}
