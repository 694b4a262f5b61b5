/* Restoring entries on disk below an output folder, never through a symlink
 * (STYLE.md §2.7: openat with O_NOFOLLOW at every component). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pack.h"
#include "reader_internal.h"

/* Opens (creating as needed) the directory that will hold the last component of path;
 * *leaf points at that component inside path. Returns a new fd, or -1 with r->err set. */
static int open_parent(ims_reader *r, int dirfd, const char *path, const char **leaf) {
  int cur = dup(dirfd);
  if (cur < 0) {
    ims_fail(&r->err, IMS_E_IO, "%s", strerror(errno));
    return -1;
  }
  const char *p = path;
  char comp[ARC_MAX_PATH + 1];
  for (;;) {
    const char *s = strchr(p, '/');
    if (!s) break;
    size_t n = (size_t)(s - p);
    memcpy(comp, p, n);
    comp[n] = '\0';
    int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT) {
      if (mkdirat(cur, comp, 0755) != 0 && errno != EEXIST) {
        ims_fail(&r->err, IMS_E_IO, "cannot create folder '%s': %s", comp, strerror(errno));
        close(cur);
        return -1;
      }
      next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0) {
      if (errno == ELOOP || errno == ENOTDIR)
        ims_fail(&r->err, IMS_E_UNSAFE_PATH, "'%s' on the way is a symlink or not a folder: refused", comp);
      else
        ims_fail(&r->err, IMS_E_IO, "cannot open folder '%s': %s", comp, strerror(errno));
      close(cur);
      return -1;
    }
    close(cur);
    cur = next;
    p = s + 1;
  }
  *leaf = p;
  return cur;
}

typedef struct fd_sink {
  int fd;
  int err;
} fd_sink;

static int fd_write(void *opaque, const void *data, size_t len) {
  fd_sink *s = opaque;
  const uint8_t *p = data;
  while (len > 0) {
    ssize_t n = write(s->fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s->err = errno;
      return 1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Removes whatever non-folder is at name, so that a stale symlink is never followed. */
static void clear_leaf(int dir, const char *name) {
  struct stat sb;
  if (fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(sb.st_mode)) (void)unlinkat(dir, name, 0);
}

ims_status ims_reader_extract_at(ims_reader *r, uint64_t i, int dirfd) {
  if (!r || !r->loaded || i >= r->in.index.n_entries) return IMS_E_ARG;
  ims_err_clear(&r->err);
  const arc_entry *e = &r->in.index.entries[i];
  if (!path_is_safe(e->path)) return ims_fail(&r->err, IMS_E_UNSAFE_PATH, "unsafe path (absolute or with '..'): refused");
  const char *leaf;
  int dir = open_parent(r, dirfd, e->path, &leaf);
  if (dir < 0) return r->err.code;
  ims_status st = IMS_OK;
  struct timespec ts[2] = {{(time_t)e->mtime_sec, (long)e->mtime_nsec}, {(time_t)e->mtime_sec, (long)e->mtime_nsec}};
  if (e->type == IMS_ENTRY_DIR) {
    struct stat sb;
    if (mkdirat(dir, leaf, 0700) != 0 && errno != EEXIST) {
      st = ims_fail(&r->err, IMS_E_IO, "cannot create folder: %s", strerror(errno));
    } else if (fstatat(dir, leaf, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(sb.st_mode)) {
      st = ims_fail(&r->err, IMS_E_UNSAFE_PATH, "exists and is not a folder: refused");
    } else {
      (void)fchmodat(dir, leaf, 0700 | e->mode, 0); /* the real mode comes in ims_reader_fix_dir_times */
    }
  } else if (e->type == IMS_ENTRY_SYMLINK) {
    clear_leaf(dir, leaf);
    if (symlinkat(e->link, dir, leaf) != 0)
      st = ims_fail(&r->err, IMS_E_IO, "cannot create symlink: %s", strerror(errno));
    else
      (void)utimensat(dir, leaf, ts, AT_SYMLINK_NOFOLLOW);
  } else {
    clear_leaf(dir, leaf);
    int fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      st = ims_fail(&r->err, errno == EEXIST ? IMS_E_UNSAFE_PATH : IMS_E_IO, "cannot create file: %s", strerror(errno));
    } else {
      fd_sink sink = {fd, 0};
      st = ims_reader_extract(r, i, fd_write, &sink);
      if (st == IMS_E_IO && sink.err) ims_fail(&r->err, IMS_E_IO, "write failed: %s", strerror(sink.err));
      if (!st && (fchmod(fd, e->mode) != 0 || futimens(fd, ts) != 0))
        st = ims_fail(&r->err, IMS_E_IO, "cannot set mode or time: %s", strerror(errno));
      if (close(fd) != 0 && !st) st = ims_fail(&r->err, IMS_E_IO, "write failed: %s", strerror(errno));
      if (st) (void)unlinkat(dir, leaf, 0); /* never leave a wrong file behind */
    }
  }
  close(dir);
  return st;
}

ims_status ims_reader_fix_dir_times(ims_reader *r, int dirfd) {
  if (!r || !r->loaded) return IMS_E_ARG;
  ims_status first = IMS_OK;
  /* Deepest first would not matter: setting a folder's mtime does not touch its parent's. */
  for (uint32_t i = 0; i < r->in.index.n_entries; i++) {
    const arc_entry *e = &r->in.index.entries[i];
    if (e->type != IMS_ENTRY_DIR || !path_is_safe(e->path)) continue;
    const char *leaf;
    int dir = open_parent(r, dirfd, e->path, &leaf);
    if (dir < 0) continue;
    int fd = openat(dir, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      struct timespec ts[2] = {{(time_t)e->mtime_sec, (long)e->mtime_nsec},
                               {(time_t)e->mtime_sec, (long)e->mtime_nsec}};
      if ((fchmod(fd, e->mode) != 0 || futimens(fd, ts) != 0) && !first)
        first = ims_fail(&r->err, IMS_E_IO, "%s: cannot set mode or time: %s", e->path, strerror(errno));
      close(fd);
    }
    close(dir);
  }
  return first;
}
