/* Restoring entries on disk below an output folder, never through a symlink
 * (STYLE.md §2.7: openat with O_NOFOLLOW at every component). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* Parallel extraction. The calling thread lists entries in order into a ring (at most
 * XRING entries and XBATCH_BYTES of decoded contents waiting to be written) and creates
 * every file in entry order; worker threads decode contents into memory as soon as they
 * can. A content predicted from another waits until the job decoding its reference is
 * done (it then finds it in the reader's cache, so each image is decoded once), and any
 * job that is ready may run: independent reference chains (one per key image) are decoded
 * in parallel, and there is no barrier between groups of entries. */
typedef struct xdata {
  uint8_t *p;
  size_t len;
  ims_status st;
  ims_err err;
  unsigned refs; /* jobs that will write it (the decoding job and its sharers) */
} xdata;

#define XNONE UINT64_MAX

typedef struct xjob {
  uint64_t entry;
  uint64_t size;    /* decoded bytes held for this job (0 unless it decodes) */
  bool decode;      /* a worker decodes the content into data */
  bool taken, done; /* under the lock */
  uint64_t dep;     /* job (sequence number) decoding this content's reference, or XNONE */
  xdata *data;      /* decoded content (its own or, for a sharer, an earlier job's), or NULL */
} xjob;

typedef struct xsched {
  pthread_mutex_t mu;
  pthread_cond_t work, done;
  const ims_reader *r;
  xjob *ring; /* job k lives in ring[k % cap] */
  size_t cap;
  uint64_t made, written;
  bool all_made, stop;
} xsched;

#define XBATCH_BYTES ((uint64_t)256 << 20)
#define XMEM_MAX ((uint64_t)64 << 20) /* larger contents are streamed */
#define XRING 256

static bool xready(const xsched *s, const xjob *jb) {
  if (!jb->decode || jb->taken) return false;
  return jb->dep == XNONE || jb->dep < s->written || s->ring[jb->dep % s->cap].done;
}

/* The oldest job that can run now, or NULL (lock held). */
static xjob *xfind(xsched *s) {
  for (uint64_t k = s->written; k < s->made; k++)
    if (xready(s, &s->ring[k % s->cap])) return &s->ring[k % s->cap];
  return NULL;
}

static bool xany_left(const xsched *s) {
  for (uint64_t k = s->written; k < s->made; k++) {
    const xjob *jb = &s->ring[k % s->cap];
    if (jb->decode && !jb->taken) return true;
  }
  return false;
}

static void xrun(xsched *s, xjob *jb) {
  xdata *d = jb->data;
  ims_err_clear(&d->err);
  uint32_t c = s->r->in.index.entries[jb->entry].content;
  d->st = rd_decode_whole(s->r, c, &d->p, &d->len, &d->err);
}

static void *xworker(void *arg) {
  xsched *s = arg;
  (void)pthread_mutex_lock(&s->mu);
  for (;;) {
    xjob *jb = s->stop ? NULL : xfind(s);
    if (!jb) {
      if (s->stop || (s->all_made && !xany_left(s))) break;
      (void)pthread_cond_wait(&s->work, &s->mu);
      continue;
    }
    jb->taken = true;
    (void)pthread_mutex_unlock(&s->mu);
    xrun(s, jb);
    (void)pthread_mutex_lock(&s->mu);
    jb->done = true;
    (void)pthread_cond_broadcast(&s->work); /* jobs predicted from this one may run */
    (void)pthread_cond_signal(&s->done);
  }
  (void)pthread_mutex_unlock(&s->mu);
  return NULL;
}

static void xdata_release(xdata *d) {
  if (!d || --d->refs > 0) return;
  free(d->p);
  free(d);
}

/* Makes the job for entry i as job number s->made (lock held). */
static void xmake(xsched *s, uint64_t i) {
  const arc_index *ix = &s->r->in.index;
  const arc_entry *e = &ix->entries[i];
  xjob *jb = &s->ring[s->made % s->cap];
  memset(jb, 0, sizeof *jb);
  jb->entry = i;
  jb->dep = XNONE;
  jb->done = true; /* unless a worker decodes it */
  if (e->type == IMS_ENTRY_FILE && ix->contents[e->content].size <= XMEM_MAX && path_is_safe(e->path)) {
    uint32_t c = e->content, ref = ix->contents[c].ref;
    /* A content already decoded (or being decoded) by a job still in the ring is shared. */
    for (uint64_t k = s->made; k-- > s->written;) {
      xjob *o = &s->ring[k % s->cap];
      if (o->decode && ix->entries[o->entry].content == c) {
        jb->data = o->data;
        jb->data->refs++;
        break;
      }
    }
    /* Out of memory for the job: the entry is streamed when written. */
    if (!jb->data && (jb->data = calloc(1, sizeof *jb->data)) != NULL) {
      jb->data->refs = 1;
      jb->decode = true;
      jb->done = false;
      jb->size = ix->contents[c].size;
      for (uint64_t k = s->made; ref != ARC_NO_REF && k-- > s->written;) {
        const xjob *o = &s->ring[k % s->cap];
        if (o->decode && ix->entries[o->entry].content == ref) {
          jb->dep = k;
          break;
        }
      }
    }
  }
  s->made++;
}

ims_status ims_reader_extract_all_at(ims_reader *r, int dirfd, ims_entry_error_fn fn, void *opaque) {
  if (!r || !r->loaded) return IMS_E_ARG;
  const arc_index *ix = &r->in.index;
  xsched s;
  memset(&s, 0, sizeof s);
  s.r = r;
  s.cap = XRING;
  s.ring = calloc(s.cap, sizeof *s.ring);
  unsigned n_threads = r->opt.threads ? r->opt.threads : 1;
  pthread_t *tids = calloc(n_threads, sizeof *tids);
  bool mu_ok = false, work_ok = false, done_ok = false;
  unsigned n_workers = 0;
  ims_status result = IMS_OK;
  if (!s.ring || !tids) {
    result = ims_fail(&r->err, IMS_E_NOMEM, "out of memory");
    goto out;
  }
  mu_ok = pthread_mutex_init(&s.mu, NULL) == 0;
  work_ok = mu_ok && pthread_cond_init(&s.work, NULL) == 0;
  done_ok = work_ok && pthread_cond_init(&s.done, NULL) == 0;
  if (!done_ok) {
    result = ims_fail(&r->err, IMS_E_INTERNAL, "cannot set up threads");
    goto out;
  }
  /* With no worker at all (threads cannot be started), the calling thread decodes too. */
  for (; n_workers < n_threads; n_workers++)
    if (pthread_create(&tids[n_workers], NULL, xworker, &s) != 0) break;
  uint64_t i = 0, files_done = 0, bytes_done = 0, bytes_total = 0, bytes_held = 0;
  for (uint32_t k = 0; k < ix->n_entries; k++)
    if (ix->entries[k].type == IMS_ENTRY_FILE) bytes_total += ix->contents[ix->entries[k].content].size;
  (void)pthread_mutex_lock(&s.mu);
  for (;;) {
    while (i < ix->n_entries && s.made - s.written < s.cap && (s.made == s.written || bytes_held < XBATCH_BYTES)) {
      xmake(&s, i);
      bytes_held += s.ring[(s.made - 1) % s.cap].size;
      i++;
      (void)pthread_cond_broadcast(&s.work);
    }
    if (i == ix->n_entries && !s.all_made) {
      s.all_made = true;
      (void)pthread_cond_broadcast(&s.work);
    }
    if (s.written == s.made) break;
    xjob *head = &s.ring[s.written % s.cap];
    if (!head->done) {
      /* The head's reference was decoded before it (it comes earlier): it can run. */
      if (n_workers == 0 && !head->taken) {
        head->taken = true;
        (void)pthread_mutex_unlock(&s.mu);
        xrun(&s, head);
        (void)pthread_mutex_lock(&s.mu);
        head->done = true;
      } else {
        (void)pthread_cond_wait(&s.done, &s.mu);
      }
      continue;
    }
    (void)pthread_mutex_unlock(&s.mu);
    const arc_entry *e = &ix->entries[head->entry];
    const xdata *d = head->data;
    ims_err err;
    ims_err_clear(&err);
    ims_status st;
    if (d && d->st) {
      st = d->st;
      err = d->err;
    } else {
      st = put_entry(r, head->entry, dirfd, d ? (d->p ? d->p : (const uint8_t *)"") : NULL, d ? d->len : 0, &err);
    }
    if (st) {
      if (!result) result = st;
      if (fn) fn(opaque, head->entry, st, err.msg);
    }
    if (e->type == IMS_ENTRY_FILE) {
      files_done++;
      bytes_done += ix->contents[e->content].size;
    }
    bytes_held -= head->size;
    xdata_release(head->data);
    head->data = NULL;
    if (r->opt.progress) {
      ims_progress p = {sizeof p, files_done, 0, bytes_done, bytes_total};
      r->opt.progress(r->opt.progress_opaque, &p);
    }
    (void)pthread_mutex_lock(&s.mu);
    s.written++;
  }
  s.stop = true;
  (void)pthread_cond_broadcast(&s.work);
  (void)pthread_mutex_unlock(&s.mu);
out:
  for (unsigned t = 0; t < n_workers; t++) (void)pthread_join(tids[t], NULL);
  if (done_ok) (void)pthread_cond_destroy(&s.done);
  if (work_ok) (void)pthread_cond_destroy(&s.work);
  if (mu_ok) (void)pthread_mutex_destroy(&s.mu);
  free(s.ring);
  free(tids);
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
