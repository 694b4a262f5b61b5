/* Restoring entries on disk below an output folder, never through a symlink
 * (STYLE.md §2.7: openat with O_NOFOLLOW at every component). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/pool.h"
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

static int mem_to_fd(int fd, const uint8_t *p, size_t len) {
  fd_sink s = {fd, 0};
  if (fd_write(&s, p, len) != 0) {
    errno = s.err;
    return -1;
  }
  return 0;
}

/* Creates entry i below dirfd. The content comes from mem when mem is not NULL (already
 * decoded and hash-checked), else it is streamed from the archive. Errors go to err. */
static ims_status put_entry(ims_reader *r, uint64_t i, int dirfd, const uint8_t *mem, size_t mem_len, ims_err *err) {
  const arc_entry *e = &r->in.index.entries[i];
  if (!path_is_safe(e->path)) return ims_fail(err, IMS_E_UNSAFE_PATH, "unsafe path (absolute or with '..'): refused");
  const char *leaf;
  int dir = open_parent(r, dirfd, e->path, &leaf);
  if (dir < 0) {
    *err = r->err;
    return err->code;
  }
  ims_status st = IMS_OK;
  struct timespec ts[2] = {{(time_t)e->mtime_sec, (long)e->mtime_nsec}, {(time_t)e->mtime_sec, (long)e->mtime_nsec}};
  if (e->type == IMS_ENTRY_DIR) {
    struct stat sb;
    if (mkdirat(dir, leaf, 0700) != 0 && errno != EEXIST) {
      st = ims_fail(err, IMS_E_IO, "cannot create folder: %s", strerror(errno));
    } else if (fstatat(dir, leaf, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(sb.st_mode)) {
      st = ims_fail(err, IMS_E_UNSAFE_PATH, "exists and is not a folder: refused");
    } else {
      /* Writable while its entries are created; the real mode comes in ims_reader_fix_dir_times. */
      if (fchmodat(dir, leaf, 0700 | e->mode, 0) != 0)
        st = ims_fail(err, IMS_E_IO, "cannot set the folder's mode: %s", strerror(errno));
    }
  } else if (e->type == IMS_ENTRY_SYMLINK) {
    clear_leaf(dir, leaf);
    if (symlinkat(e->link, dir, leaf) != 0)
      st = ims_fail(err, IMS_E_IO, "cannot create symlink: %s", strerror(errno));
    else
      (void)utimensat(dir, leaf, ts, AT_SYMLINK_NOFOLLOW);
  } else {
    clear_leaf(dir, leaf);
    int fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      st = ims_fail(err, errno == EEXIST ? IMS_E_UNSAFE_PATH : IMS_E_IO, "cannot create file: %s", strerror(errno));
    } else {
      if (mem) {
        if (IMS_NEVER(mem_len != r->in.index.contents[e->content].size))
          st = ims_fail(err, IMS_E_INTERNAL, "decoded %zu bytes, expected %llu", mem_len,
                        (unsigned long long)r->in.index.contents[e->content].size);
        else if (mem_to_fd(fd, mem, mem_len) != 0)
          st = ims_fail(err, IMS_E_IO, "write failed: %s", strerror(errno));
      } else {
        fd_sink sink = {fd, 0};
        st = ims_reader_extract(r, i, fd_write, &sink);
        if (st) *err = r->err;
        if (st == IMS_E_IO && sink.err) ims_fail(err, IMS_E_IO, "write failed: %s", strerror(sink.err));
      }
      if (!st && (fchmod(fd, e->mode) != 0 || futimens(fd, ts) != 0))
        st = ims_fail(err, IMS_E_IO, "cannot set mode or time: %s", strerror(errno));
      if (close(fd) != 0 && !st) st = ims_fail(err, IMS_E_IO, "write failed: %s", strerror(errno));
      if (st) (void)unlinkat(dir, leaf, 0); /* never leave a wrong file behind */
    }
  }
  close(dir);
  return st;
}

ims_status ims_reader_extract_at(ims_reader *r, uint64_t i, int dirfd) {
  if (!r || !r->loaded || i >= r->in.index.n_entries) return IMS_E_ARG;
  ims_err_clear(&r->err);
  ims_err err;
  ims_err_clear(&err);
  ims_status st = put_entry(r, i, dirfd, NULL, 0, &err);
  r->err = err;
  return st;
}

/* Parallel extraction: contents of a batch of entries are decoded on the pool into
 * memory, then written in entry order by the calling thread. */
typedef struct xjob {
  uint64_t entry;
  int share;        /* index of an earlier job of the batch with the same content, or -1 */
  bool in_memory;   /* decoded here; else streamed when written */
  ims_status st;
  ims_err err;
  uint8_t *data;
  size_t len;
} xjob;

typedef struct xctx {
  const ims_reader *r;
  xjob *jobs;
} xctx;

/* Contents predicted from another are decoded later, in order, by the writing thread, so
 * that each finds its reference in the reader's cache and every image is decoded once. */
static bool deferred(const ims_reader *r, const xjob *jb) {
  const arc_index *ix = &r->in.index;
  return ix->contents[ix->entries[jb->entry].content].ref != ARC_NO_REF;
}

static void run_xjob(void *vctx, size_t j) {
  xctx *x = vctx;
  xjob *jb = &x->jobs[j];
  if (!jb->in_memory || jb->share >= 0 || deferred(x->r, jb)) return;
  ims_err_clear(&jb->err);
  uint32_t c = x->r->in.index.entries[jb->entry].content;
  jb->st = rd_decode_whole(x->r, c, &jb->data, &jb->len, &jb->err);
}

#define XBATCH_BYTES ((uint64_t)256 << 20)
#define XMEM_MAX ((uint64_t)64 << 20) /* larger contents are streamed */

ims_status ims_reader_extract_all_at(ims_reader *r, int dirfd, ims_entry_error_fn fn, void *opaque) {
  if (!r || !r->loaded) return IMS_E_ARG;
  const arc_index *ix = &r->in.index;
  size_t max_jobs = (size_t)r->opt.threads * 4;
  if (max_jobs < 4) max_jobs = 4;
  xjob *jobs = calloc(max_jobs, sizeof *jobs);
  if (!jobs) return ims_fail(&r->err, IMS_E_NOMEM, "out of memory");
  ims_status result = IMS_OK;
  uint64_t i = 0, files_done = 0, bytes_done = 0, bytes_total = 0;
  for (uint32_t k = 0; k < ix->n_entries; k++)
    if (ix->entries[k].type == IMS_ENTRY_FILE) bytes_total += ix->contents[ix->entries[k].content].size;
  while (i < ix->n_entries) {
    size_t n = 0;
    uint64_t bytes = 0;
    while (i < ix->n_entries && n < max_jobs && bytes < XBATCH_BYTES) {
      const arc_entry *e = &ix->entries[i];
      xjob *jb = &jobs[n];
      memset(jb, 0, sizeof *jb);
      jb->entry = i++;
      jb->share = -1;
      if (e->type == IMS_ENTRY_FILE) {
        uint64_t size = ix->contents[e->content].size;
        jb->in_memory = size <= XMEM_MAX && path_is_safe(e->path);
        /* Share with the job that decodes this content (never with another sharer). */
        for (size_t k = 0; k < n && jb->in_memory; k++) {
          if (jobs[k].in_memory && jobs[k].share < 0 && ix->entries[jobs[k].entry].content == e->content) {
            jb->share = (int)k;
            break;
          }
        }
        if (jb->in_memory && jb->share < 0) bytes += size;
      }
      n++;
    }
    xctx x = {r, jobs};
    (void)pool_run(r->opt.threads, n, run_xjob, &x);
    for (size_t j = 0; j < n; j++) {
      xjob *jb = &jobs[j];
      if (jb->in_memory && jb->share < 0 && deferred(r, jb)) {
        ims_err_clear(&jb->err);
        jb->st = rd_decode_whole(r, ix->entries[jb->entry].content, &jb->data, &jb->len, &jb->err);
      }
      const xjob *src = jb->share >= 0 ? &jobs[jb->share] : jb;
      ims_err err;
      ims_err_clear(&err);
      ims_status st;
      if (jb->in_memory && src->st) {
        st = src->st;
        err = src->err;
      } else {
        st = put_entry(r, jb->entry, dirfd, jb->in_memory ? (src->data ? src->data : (const uint8_t *)"") : NULL,
                       src->len, &err);
      }
      if (st) {
        if (!result) result = st;
        if (fn) fn(opaque, jb->entry, st, err.msg);
      }
      const arc_entry *e = &ix->entries[jb->entry];
      if (e->type == IMS_ENTRY_FILE) {
        files_done++;
        bytes_done += ix->contents[e->content].size;
      }
    }
    for (size_t j = 0; j < n; j++) free(jobs[j].data);
    if (r->opt.progress) {
      ims_progress p = {sizeof p, files_done, 0, bytes_done, bytes_total};
      r->opt.progress(r->opt.progress_opaque, &p);
    }
  }
  free(jobs);
  return result;
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
