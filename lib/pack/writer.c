/* ims_writer: scan inputs, deduplicate, code every content with the best codec that
 * round-trips (verified by decoding), write blocks, manifest, index and footer.
 *
 * Flow (docs/DESIGN.md): add_path reads each file once (hash, kind). finish assigns
 * contents (identical files once, confirmed byte by byte), makes the JPEG signatures and
 * plans references (in parallel), writes the manifest, then codes contents on worker
 * threads and writes them in content order, so the archive bytes never depend on the
 * thread count. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/arcfile.h"
#include "common/hash.h"
#include "common/mem.h"
#include "common/pool.h"
#include "jpeg/jpeg.h"
#include "pack.h"
#include "similar/similar.h"

typedef struct w_entry {
  char *arc_path, *fs_path, *link;
  uint8_t type;
  uint32_t mode;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint64_t size;
  ims_h128 hash;
  uint8_t kind;
  uint32_t content; /* assigned by finish */
  bool skipped;
} w_entry;

typedef struct w_content {
  size_t source;       /* entry whose file is read */
  uint32_t n_entries;  /* entries that share it */
  bool skipped;        /* could not be coded: its entries are left out */
  bool referenced;     /* a later content is planned to be predicted from it */
  uint32_t planned_ref; /* the reference the plan chose, or ARC_NO_REF (never changed after) */
  ims_hasher *hasher;  /* for chunked contents, fed in chunk order */
  sim_sig *sig;        /* JPEGs whose signature could be made, else NULL (until planned) */
} w_content;

struct ims_writer {
  ims_options opt;
  ims_err err;
  arc_out *out;
  w_entry *e;
  size_t n, cap;
  /* open-addressing set of archive paths: index + 1 into e, 0 = empty */
  size_t *pathset;
  size_t pathset_cap;
  ims_skip_fn skip_fn;
  void *skip_opaque;
  uint64_t skipped;
  bool finished, failed;
  dev_t tmp_dev; /* the temporary archive file, never added as an input */
  ino_t tmp_ino;
  uint32_t test_alone; /* tests: this content is coded without its planned references */
};

void pack_writer_test_alone(ims_writer *w, uint32_t content) {
  if (w) w->test_alone = content;
}

static const char *fmt_errno(void) { return strerror(errno); }

/* Largest JPEG whose bytes are kept in memory during the scan for its signature. */
#define SIG_MAX_BYTES ((size_t)64 << 20)

ims_status ims_writer_new(const ims_options *o, ims_writer **out) {
  if (!out) return IMS_E_ARG;
  ims_writer *w = calloc(1, sizeof *w);
  if (!w) return IMS_E_NOMEM;
  if (o) {
    if (o->struct_size != sizeof *o) {
      free(w);
      return IMS_E_ARG;
    }
    w->opt = *o;
  } else {
    if (ims_options_init(&w->opt, IMS_VERSION_NUMBER) != IMS_OK) { /* defaults are set either way */ }
  }
  if (w->opt.mode != IMS_MODE_EXACT) {
    free(w);
    return IMS_E_UNSUPPORTED;
  }
  if (w->opt.threads == 0) w->opt.threads = pool_cores();
  if (w->opt.threads > 256) w->opt.threads = 256;
  if (w->opt.zstd_level < 1) w->opt.zstd_level = 1;
  if (w->opt.zstd_level > 22) w->opt.zstd_level = 22;
  w->test_alone = ARC_NO_REF;
  if (w->opt.refs < 1) w->opt.refs = 1;
  if (w->opt.refs > CODEC_MAX_REFS) w->opt.refs = CODEC_MAX_REFS;
  *out = w;
  return IMS_OK;
}

ims_status ims_writer_create(ims_writer *w, const char *path) {
  if (!w || !path) return IMS_E_ARG;
  if (w->out || w->failed) return ims_fail(&w->err, IMS_E_STATE, "writer already has an archive");
  ims_status st = arc_out_open(path, &w->out, &w->err);
  if (st) return st;
  struct stat sb;
  if (fstat(arc_out_fd(w->out), &sb) == 0) {
    w->tmp_dev = sb.st_dev;
    w->tmp_ino = sb.st_ino;
  }
  return IMS_OK;
}

ims_status ims_writer_open(const char *path, const ims_options *o, ims_writer **out) {
  ims_writer *w;
  ims_status st = ims_writer_new(o, &w);
  if (st) return st;
  if ((st = ims_writer_create(w, path)) != IMS_OK) {
    ims_writer_close(w);
    return st;
  }
  *out = w;
  return IMS_OK;
}

const char *ims_writer_errmsg(const ims_writer *w) { return w ? w->err.msg : "no writer"; }
const char *ims_writer_temp_path(const ims_writer *w) { return w && w->out ? arc_out_temp_path(w->out) : NULL; }
uint64_t ims_writer_skipped(const ims_writer *w) { return w ? w->skipped : 0; }

void ims_writer_set_skip_callback(ims_writer *w, ims_skip_fn fn, void *opaque) {
  w->skip_fn = fn;
  w->skip_opaque = opaque;
}

static uint64_t str_hash(const char *s) { return ims_hash64(s, strlen(s)); }

/* Finds path in the set; returns the slot (empty or matching). */
static size_t pathset_slot(const ims_writer *w, const char *path) {
  size_t mask = w->pathset_cap - 1, i = (size_t)str_hash(path) & mask;
  while (w->pathset[i] && strcmp(w->e[w->pathset[i] - 1].arc_path, path) != 0) i = (i + 1) & mask;
  return i;
}

static ims_status pathset_grow(ims_writer *w) {
  if (w->n + 1 < w->pathset_cap / 2) return IMS_OK;
  size_t nc = w->pathset_cap ? w->pathset_cap * 2 : 1024;
  size_t *old = w->pathset, oc = w->pathset_cap;
  w->pathset = calloc(nc, sizeof *w->pathset);
  if (!w->pathset) {
    w->pathset = old;
    return IMS_E_NOMEM;
  }
  w->pathset_cap = nc;
  for (size_t i = 0; i < oc; i++)
    if (old[i]) w->pathset[pathset_slot(w, w->e[old[i] - 1].arc_path)] = old[i];
  free(old);
  return IMS_OK;
}

static void entry_free(w_entry *e) {
  free(e->arc_path);
  free(e->fs_path);
  free(e->link);
}

/* Reads the whole file once: hash, kind, and a check that its size did not change. */
static ims_status scan_file(ims_writer *w, w_entry *e, const char *fs_path) {
  int fd = open(fs_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ims_fail(&w->err, IMS_E_IO, "%s: cannot open: %s", fs_path, fmt_errno());
  struct stat sb;
  ims_status st = IMS_OK;
  ims_hasher *h = ims_hasher_new();
  uint8_t *chunk = malloc(1 << 20);
  if (!h || !chunk) {
    st = ims_fail(&w->err, IMS_E_NOMEM, "%s: out of memory", fs_path);
    goto done;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = ims_fail(&w->err, IMS_E_IO, "%s: not a regular file any more", fs_path);
    goto done;
  }
  uint64_t total = 0;
  bool first = true;
  for (;;) {
    ssize_t r = read(fd, chunk, 1 << 20);
    if (r < 0) {
      if (errno == EINTR) continue;
      st = ims_fail(&w->err, IMS_E_IO, "%s: read error: %s", fs_path, fmt_errno());
      goto done;
    }
    if (r == 0) break;
    if (first) e->kind = sniff_kind(chunk, (size_t)r);
    first = false;
    ims_hasher_update(h, chunk, (size_t)r);
    total += (uint64_t)r;
  }
  if (total != (uint64_t)sb.st_size) {
    st = ims_fail(&w->err, IMS_E_IO, "%s: file changed while being read", fs_path);
    goto done;
  }
  e->size = total;
  e->hash = ims_hasher_digest(h);
  e->mode = (uint32_t)sb.st_mode & 07777u;
  e->mtime_sec = (int64_t)sb.st_mtim.tv_sec;
  e->mtime_nsec = (uint32_t)sb.st_mtim.tv_nsec;
done:
  ims_hasher_free(h);
  free(chunk);
  close(fd);
  return st;
}

ims_status ims_writer_add_path(ims_writer *w, const char *arc_path, const char *fs_path) {
  if (!w || !arc_path || !fs_path) return IMS_E_ARG;
  if (!w->out || w->finished || w->failed) return ims_fail(&w->err, IMS_E_STATE, "writer already finished or failed");
  ims_err_clear(&w->err);
  w_entry e;
  memset(&e, 0, sizeof e);
  e.content = ARC_NO_CONTENT;
  ims_status st = path_normalize(arc_path, &e.arc_path, &w->err);
  if (st) {
    ims_err_prefix(&w->err, "%s", arc_path);
    return st;
  }
  if ((st = pathset_grow(w)) != IMS_OK) {
    entry_free(&e);
    return ims_fail(&w->err, st, "out of memory");
  }
  size_t slot = pathset_slot(w, e.arc_path);
  if (w->pathset[slot]) {
    st = ims_fail(&w->err, IMS_E_EXISTS, "%s: already in the archive", e.arc_path);
    entry_free(&e);
    return st;
  }
  struct stat sb;
  if (lstat(fs_path, &sb) != 0) {
    st = ims_fail(&w->err, IMS_E_IO, "%s: %s", fs_path, fmt_errno());
    goto fail;
  }
  if (S_ISREG(sb.st_mode) && sb.st_dev == w->tmp_dev && sb.st_ino == w->tmp_ino) {
    entry_free(&e); /* the archive being written, found inside an input folder: never packed into itself */
    return IMS_OK;
  }
  e.mode = (uint32_t)sb.st_mode & 07777u;
  e.mtime_sec = (int64_t)sb.st_mtim.tv_sec;
  e.mtime_nsec = (uint32_t)sb.st_mtim.tv_nsec;
  if (S_ISDIR(sb.st_mode)) {
    e.type = IMS_ENTRY_DIR;
  } else if (S_ISLNK(sb.st_mode)) {
    e.type = IMS_ENTRY_SYMLINK;
    size_t cap = (size_t)sb.st_size + 1;
    if (sb.st_size <= 0 || cap > ARC_MAX_PATH + 1) cap = ARC_MAX_PATH + 1;
    e.link = malloc(cap);
    if (!e.link) {
      st = ims_fail(&w->err, IMS_E_NOMEM, "out of memory");
      goto fail;
    }
    ssize_t n = readlink(fs_path, e.link, cap);
    if (n <= 0 || (size_t)n >= cap) {
      st = ims_fail(&w->err, IMS_E_IO, "%s: cannot read the link: %s", fs_path, n < 0 ? fmt_errno() : "too long");
      goto fail;
    }
    e.link[n] = '\0';
    e.size = (uint64_t)n;
  } else if (S_ISREG(sb.st_mode)) {
    e.type = IMS_ENTRY_FILE;
    if ((st = scan_file(w, &e, fs_path)) != IMS_OK) goto fail;
    size_t n = strlen(fs_path) + 1;
    e.fs_path = malloc(n);
    if (!e.fs_path) {
      st = ims_fail(&w->err, IMS_E_NOMEM, "out of memory");
      goto fail;
    }
    memcpy(e.fs_path, fs_path, n);
  } else {
    st = ims_fail(&w->err, IMS_E_UNSUPPORTED, "%s: not a regular file, directory or symlink", fs_path);
    goto fail;
  }
  if (w->n == w->cap) {
    size_t nc = w->cap ? w->cap * 2 : 256;
    w_entry *q = realloc(w->e, nc * sizeof *q);
    if (!q) {
      st = ims_fail(&w->err, IMS_E_NOMEM, "out of memory");
      goto fail;
    }
    w->e = q;
    w->cap = nc;
  }
  w->e[w->n++] = e;
  w->pathset[slot] = w->n;
  return IMS_OK;
fail:
  entry_free(&e);
  return st;
}

/* ------------------------------------------------------------------ finish */

static bool same_file_bytes(const char *a, const char *b) {
  int fa = open(a, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), fb = open(b, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  bool same = fa >= 0 && fb >= 0;
  uint8_t *ba = malloc(1 << 20), *bb = malloc(1 << 20);
  if (!ba || !bb) same = false;
  while (same) {
    ssize_t na = read(fa, ba, 1 << 20);
    if (na < 0 && errno == EINTR) continue;
    if (na < 0) {
      same = false;
      break;
    }
    size_t got = 0;
    while (same && got < (size_t)na) {
      ssize_t nb = read(fb, bb + got, (size_t)na - got);
      if (nb < 0 && errno == EINTR) continue;
      if (nb <= 0) same = false;
      else got += (size_t)nb;
    }
    if (!same) break;
    if (memcmp(ba, bb, (size_t)na) != 0) same = false;
    if (na == 0) {
      /* a must be at its end; b must be too */
      ssize_t nb = read(fb, bb, 1);
      same = nb == 0;
      break;
    }
  }
  free(ba);
  free(bb);
  if (fa >= 0) close(fa);
  if (fb >= 0) close(fb);
  return same;
}

typedef struct h128_slot {
  ims_h128 h;
  uint32_t content; /* + 1; 0 = empty */
} h128_slot;

/* One unit of coding work: a whole content, or one chunk of a large content. */
/* One unit of coding work: a whole content, or one chunk of a large content. Everything a
 * worker needs is copied in when the job is made, so workers never read the index or the
 * entries, which the writing thread updates meanwhile. */
typedef struct job {
  uint32_t content;
  uint32_t chunk;
  uint64_t offset;
  size_t len;
  bool whole;          /* the job is the whole content (codecs other than zstd allowed) */
  bool jpeg;           /* try the JPEG codec first */
  bool keep_src;       /* later contents are planned to be predicted from this one */
  uint8_t hash[16];    /* the content's hash (checked for whole contents) */
  const char *path;    /* the file to read (the writer's entry keeps it) */
  /* The reference chain the content is coded with, nearest first: the planned one (made
   * before the contents it names are written), or, when re-coded, the index's. */
  unsigned n_refs;
  uint32_t ref[CODEC_MAX_REFS];
  const char *ref_path[CODEC_MAX_REFS];
  size_t ref_len[CODEC_MAX_REFS];
  uint8_t ref_hash[CODEC_MAX_REFS][16];
  unsigned threads;    /* threads the codec may use inside this job */
  bool done;           /* results below are ready (under the scheduler's lock) */
  /* results */
  unsigned used_refs; /* the payload needs ref[0 .. used_refs) */
  ims_status st;  /* IMS_OK, or why the content must be skipped */
  char msg[IMS_ERRMSG_CAP];
  uint8_t codec, fallback;
  buf payload;
  uint8_t *data;  /* the source bytes, kept for hashing in order (chunked contents only) */
} job;

static ims_status read_range(const char *path, uint64_t off, uint8_t *dst, size_t len, char *msg, size_t cap) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    snprintf(msg, cap, "cannot open: %s", strerror(errno));
    return IMS_E_IO;
  }
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, dst + got, len - got, (off_t)(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0)
        snprintf(msg, cap, "read error: %s", strerror(errno));
      else
        snprintf(msg, cap, "file shrank while being packed");
      close(fd);
      return IMS_E_IO;
    }
    got += (size_t)n;
  }
  close(fd);
  return IMS_OK;
}

static uint8_t fallback_of(ims_status st) {
  switch (st) {
  case IMS_E_UNSUPPORTED: return IMS_FB_UNSUPPORTED;
  case IMS_E_LIMIT: return IMS_FB_LIMIT;
  case IMS_E_MISMATCH: return IMS_FB_MISMATCH;
  default: return IMS_FB_CORRUPT;
  }
}

/* Encodes with c, decodes back and compares (invariant 1 of DESIGN.md). */
static ims_status try_codec(const codec *c, const codec_env *env, const uint8_t *src, size_t len, const codec_ref *refs,
                            unsigned n_refs, buf *out, unsigned *used_refs, uint8_t *check, ims_err *err) {
  out->len = 0;
  ims_status st = c->encode(env, src, len, refs, n_refs, out, used_refs, err);
  if (st) return st;
  if (IMS_NEVER(*used_refs > n_refs)) return ims_fail(err, IMS_E_INTERNAL, "%s: uses more references than given", c->name);
  /* The reader will pass exactly the chain the index records: the references used (the
   * writing thread makes sure the index's chain starts with them). */
  if ((st = c->decode(env, out->p, out->len, refs, *used_refs, check, len, err)) != IMS_OK) return IMS_E_MISMATCH;
  if (len && memcmp(check, src, len) != 0) return ims_fail(err, IMS_E_MISMATCH, "%s: round trip differs", c->name);
  return IMS_OK;
}

/* Codes one job: reads its bytes (and its references'), runs the codec chain. */
static void code_job(const codec_env *base_env, job *jb) {
  uint8_t *check = NULL, *refbuf[CODEC_MAX_REFS] = {NULL};
  codec_ref refs[CODEC_MAX_REFS];
  unsigned n_refs = 0;
  ims_err err;
  ims_err_clear(&err);
  codec_env env = *base_env;
  env.threads = jb->threads;
  env.keep_src = jb->keep_src;
  jb->st = IMS_OK;
  jb->used_refs = 0;
  jb->data = malloc(jb->len ? jb->len : 1);
  check = malloc(jb->len ? jb->len : 1);
  if (!jb->data || !check) {
    jb->st = IMS_E_NOMEM;
    snprintf(jb->msg, sizeof jb->msg, "out of memory");
    goto done;
  }
  if ((jb->st = read_range(jb->path, jb->offset, jb->data, jb->len, jb->msg, sizeof jb->msg)) != IMS_OK) goto done;
  if (jb->whole) {
    ims_h128 h = ims_hash128(jb->data, jb->len);
    if (memcmp(h.b, jb->hash, 16) != 0) {
      jb->st = IMS_E_IO;
      snprintf(jb->msg, sizeof jb->msg, "file changed while being packed");
      goto done;
    }
  }
  /* The references' original bytes, for codecs that predict from them. One that changed
   * or vanished ends the chain there (the content is coded against fewer, or alone). */
  for (; n_refs < jb->n_refs; n_refs++) {
    size_t rl = jb->ref_len[n_refs];
    uint8_t *p = malloc(rl ? rl : 1);
    char msg[IMS_ERRMSG_CAP];
    if (!p || read_range(jb->ref_path[n_refs], 0, p, rl, msg, sizeof msg) != IMS_OK ||
        memcmp(ims_hash128(p, rl).b, jb->ref_hash[n_refs], 16) != 0) {
      free(p);
      break;
    }
    refbuf[n_refs] = p;
    refs[n_refs].p = p;
    refs[n_refs].len = rl;
  }
  /* The codec chain: preferred codec first, ending at stored bytes. */
  uint8_t chain[3];
  size_t n_chain = 0;
  if (jb->whole && jb->jpeg && codec_by_id(CODEC_JPEG)) chain[n_chain++] = CODEC_JPEG;
  chain[n_chain++] = CODEC_ZSTD;
  jb->fallback = IMS_FB_NONE;
  for (size_t k = 0; k < n_chain; k++) {
    const codec *c = codec_by_id(chain[k]);
    ims_status st = IMS_E_UNSUPPORTED;
    bool probed = false;
    if (c->id == CODEC_ZSTD && env.zstd_level > 3 && jb->len >= 4096) {
      /* A fast probe first: data that level 3 cannot shrink by 1% (already compressed:
       * PNG, video, archives) is not worth the slow levels; its probe result is kept. */
      codec_env probe = env;
      probe.zstd_level = 3;
      st = try_codec(c, &probe, jb->data, jb->len, NULL, 0, &jb->payload, &jb->used_refs, check, &err);
      probed = st == IMS_OK && jb->payload.len > jb->len - jb->len / 100;
    }
    if (!probed) st = try_codec(c, &env, jb->data, jb->len, refs, n_refs, &jb->payload, &jb->used_refs, check, &err);
    if (st == IMS_OK && (c->id != CODEC_ZSTD || jb->payload.len < jb->len)) {
      jb->codec = c->id;
      goto done;
    }
    if (k == 0 && n_chain > 1) jb->fallback = st == IMS_OK ? IMS_FB_NO_GAIN : fallback_of(st);
  }
  jb->payload.len = 0;
  jb->codec = CODEC_RAW;
  jb->used_refs = 0;
  jb->st = buf_append(&jb->payload, jb->data, jb->len);
  if (jb->st) snprintf(jb->msg, sizeof jb->msg, "out of memory");
done:
  /* Only chunked contents need their bytes again (hashed in order when written). */
  if (jb->whole) {
    free(jb->data);
    jb->data = NULL;
  }
  for (unsigned k = 0; k < n_refs; k++) free(refbuf[k]);
  free(check);
}

static void skip_entries(ims_writer *w, uint32_t content, const char *why) {
  for (size_t i = 0; i < w->n; i++) {
    w_entry *e = &w->e[i];
    if (e->type != IMS_ENTRY_FILE || e->content != content || e->skipped) continue;
    e->skipped = true;
    w->skipped++;
    if (w->skip_fn) w->skip_fn(w->skip_opaque, e->arc_path, why);
  }
}

/* Assigns content numbers: identical files share one content (hash equal and bytes equal). */
static ims_status assign_contents(ims_writer *w, arc_index *ix, w_content **wc_out) {
  size_t cap = 16;
  while (cap < w->n * 2 + 16) cap *= 2;
  h128_slot *tab = calloc(cap, sizeof *tab);
  w_content *wc = calloc(w->n + 1, sizeof *wc);
  if (!tab || !wc) {
    free(tab);
    free(wc);
    return ims_fail(&w->err, IMS_E_NOMEM, "out of memory");
  }
  ims_status st = IMS_OK;
  for (size_t i = 0; i < w->n && !st; i++) {
    w_entry *e = &w->e[i];
    if (e->type != IMS_ENTRY_FILE) continue;
    size_t s = (size_t)get_u64le(e->hash.b) & (cap - 1);
    while (tab[s].content && memcmp(tab[s].h.b, e->hash.b, 16) != 0) s = (s + 1) & (cap - 1);
    if (tab[s].content) {
      uint32_t c = tab[s].content - 1;
      if (same_file_bytes(w->e[wc[c].source].fs_path, e->fs_path)) {
        e->content = c;
        wc[c].n_entries++;
        continue;
      }
      /* same hash, different bytes (or a file that changed): its own content */
    }
    arc_content ct;
    memset(&ct, 0, sizeof ct);
    memcpy(ct.hash, e->hash.b, 16);
    ct.size = e->size;
    ct.kind = e->kind;
    ct.ref = ARC_NO_REF;
    uint32_t num;
    if ((st = arc_index_add_content(ix, &ct, &num)) != IMS_OK) {
      ims_fail(&w->err, st, "too many contents");
      break;
    }
    if (!tab[s].content) {
      tab[s].h = e->hash;
      tab[s].content = num + 1;
    }
    e->content = num;
    wc[num].source = i;
    wc[num].n_entries = 1;
  }
  free(tab);
  if (st) {
    free(wc);
    return st;
  }
  *wc_out = wc;
  return IMS_OK;
}

/* The signatures of the JPEG contents, for the planner (one 1/8-scale decode each), made
 * in parallel: each job reads its file again (the scan kept only its hash). A file that
 * changed meanwhile only misleads the plan: coding checks every hash. */
typedef struct sig_ctx {
  const ims_writer *w;
  w_content *wc;
  const arc_index *ix;
} sig_ctx;

static void run_sig(void *vctx, size_t c) {
  sig_ctx *x = vctx;
  const arc_content *ct = &x->ix->contents[c];
  if (ct->kind != ARC_KIND_JPEG || ct->size == 0 || ct->size > SIG_MAX_BYTES) return;
  size_t len = (size_t)ct->size;
  uint8_t *p = malloc(len);
  char msg[IMS_ERRMSG_CAP];
  if (p && read_range(x->w->e[x->wc[c].source].fs_path, 0, p, len, msg, sizeof msg) == IMS_OK) {
    sim_sig sig;
    ims_err serr;
    /* Same pixel cap relative to the file size as the JPEG codec's (lib/codec/jpeg.c). */
    uint64_t px_cap = (uint64_t)len * 16384u + ((uint64_t)1 << 24);
    if (px_cap > x->w->opt.max_pixels) px_cap = x->w->opt.max_pixels;
    if (sim_sig_from_jpeg(p, len, px_cap, x->w->opt.max_scans, &sig, &serr) == IMS_OK &&
        (x->wc[c].sig = malloc(sizeof sig)) != NULL)
      *x->wc[c].sig = sig;
  }
  free(p);
}

static void free_sigs(w_content *wc, uint32_t n) {
  for (uint32_t c = 0; c < n; c++) {
    free(wc[c].sig);
    wc[c].sig = NULL;
  }
}

/* Chooses a reference for each JPEG content among the earlier ones (similar/), so that a
 * codec may predict from it. Contents without a signature get none. */
static ims_status plan_refs(ims_writer *w, w_content *wc, arc_index *ix) {
  for (uint32_t c = 0; c < ix->n_contents; c++) wc[c].planned_ref = ARC_NO_REF;
  if (w->opt.key_interval <= 1) return IMS_OK;
  sig_ctx sx = {w, wc, ix};
  (void)pool_run(w->opt.threads, ix->n_contents, run_sig, &sx);
  size_t n = 0;
  for (uint32_t c = 0; c < ix->n_contents; c++)
    if (wc[c].sig) n++;
  if (n < 2) {
    free_sigs(wc, ix->n_contents);
    return IMS_OK;
  }
  sim_sig *sigs = malloc(n * sizeof *sigs);
  uint32_t *map = malloc(n * sizeof *map), *ref = malloc(n * sizeof *ref), *depth = malloc(n * sizeof *depth);
  ims_status st = IMS_OK;
  if (!sigs || !map || !ref || !depth) {
    st = ims_fail(&w->err, IMS_E_NOMEM, "out of memory");
    goto done;
  }
  size_t k = 0;
  for (uint32_t c = 0; c < ix->n_contents; c++) {
    const sim_sig *sg = wc[c].sig;
    if (!sg) continue;
    sigs[k] = *sg;
    map[k++] = c;
  }
  sim_plan_opts po;
  sim_plan_defaults(&po);
  po.key_interval = w->opt.key_interval;
  if ((st = sim_plan(sigs, n, &po, ref, depth, NULL, &w->err)) != IMS_OK) goto done;
  for (size_t i = 0; i < n; i++) {
    if (ref[i] == SIM_NO_REF) continue;
    ix->contents[map[i]].ref = map[ref[i]];
    wc[map[i]].planned_ref = map[ref[i]];
    wc[map[ref[i]]].referenced = true;
  }
done:
  free(sigs);
  free(map);
  free(ref);
  free(depth);
  free_sigs(wc, ix->n_contents); /* 304 bytes per content: kept only until planned */
  return st;
}

static ims_status add_entries(const ims_writer *w, arc_index *ix) {
  for (size_t i = 0; i < w->n; i++) {
    const w_entry *e = &w->e[i];
    if (e->skipped) continue;
    arc_entry ae = {.type = e->type,
                    .mode = e->mode,
                    .mtime_sec = e->mtime_sec,
                    .mtime_nsec = e->mtime_nsec,
                    .content = e->type == IMS_ENTRY_FILE ? e->content : ARC_NO_CONTENT,
                    .path = e->arc_path,
                    .link = e->link};
    ims_status st = arc_index_add_entry(ix, &ae);
    if (st) return st;
  }
  return IMS_OK;
}

static void report_progress(ims_writer *w, uint64_t files_done, uint64_t files_total, uint64_t bytes_done,
                            uint64_t bytes_total) {
  if (!w->opt.progress) return;
  ims_progress p = {sizeof p, files_done, files_total, bytes_done, bytes_total};
  w->opt.progress(w->opt.progress_opaque, &p);
}

/* Writes the blocks of a finished batch in job order. */

/* Writes one finished job's block (jobs are written in job order). */
static ims_status write_job(ims_writer *w, w_content *wc, arc_index *ix, job *jb, uint64_t *files_done) {
  w_content *c = &wc[jb->content];
  arc_content *ct = &ix->contents[jb->content];
  if (c->skipped) return IMS_OK;
  if (jb->st) {
    c->skipped = true;
    skip_entries(w, jb->content, jb->msg);
    return IMS_OK;
  }
  if (!jb->whole) {
    if (jb->chunk == 0 && !(c->hasher = ims_hasher_new())) return ims_fail(&w->err, IMS_E_NOMEM, "out of memory");
    ims_hasher_update(c->hasher, jb->data, jb->len);
  }
  arc_block_header h = {.type = ARC_BLOCK_DATA,
                        .codec = jb->codec,
                        .content = jb->content,
                        .chunk = jb->chunk,
                        .payload_len = jb->payload.len,
                        .raw_len = jb->len};
  arc_blockref ref;
  ims_status st = arc_out_block(w->out, &h, jb->payload.p, &ref, &w->err);
  if (st) return st;
  if ((st = arc_index_add_block(ix, jb->content, &ref)) != IMS_OK) return ims_fail(&w->err, st, "out of memory");
  if (jb->chunk == 0) {
    ct->codec = jb->codec;
    ct->fallback = jb->fallback;
    if (!jb->used_refs) ct->ref = ARC_NO_REF;
  } else if (ct->codec != jb->codec) {
    ct->codec = CODEC_ZSTD; /* chunks may differ (raw vs zstd); the block header says which */
  }
  uint64_t done_bytes = jb->offset + jb->len;
  if (done_bytes == ct->size) {
    if (!jb->whole) {
      ims_h128 hh = ims_hasher_digest(c->hasher);
      ims_hasher_free(c->hasher);
      c->hasher = NULL;
      if (memcmp(hh.b, ct->hash, 16) != 0) {
        c->skipped = true;
        skip_entries(w, jb->content, "file changed while being packed");
        return IMS_OK;
      }
    }
    *files_done += c->n_entries;
  }
  return IMS_OK;
}

static void free_job(job *jb) {
  buf_free(&jb->payload);
  free(jb->data);
  jb->data = NULL;
}

/* The chain of content c as planned, nearest first, at most max long. */
static unsigned planned_chain(const w_content *wc, uint32_t c, unsigned max, uint32_t *out) {
  unsigned n = 0;
  for (uint32_t k = wc[c].planned_ref; k != ARC_NO_REF && n < max; k = wc[k].planned_ref) out[n++] = k;
  return n;
}

/* The chain of content c as the reader will see it: its own planned reference (recorded
 * unless c's payload does without), then the references the index records for the
 * contents written before it; a skipped content ends it. At most max long. */
static unsigned index_chain(const w_content *wc, const arc_index *ix, uint32_t c, unsigned max, uint32_t *out) {
  unsigned n = 0;
  for (uint32_t k = ix->contents[c].ref; k != ARC_NO_REF && n < max && !wc[k].skipped; k = ix->contents[k].ref)
    out[n++] = k;
  return n;
}

static void job_set_refs(const ims_writer *w, const w_content *wc, const arc_index *ix, job *jb, const uint32_t *chain,
                         unsigned n) {
  jb->n_refs = n;
  for (unsigned k = 0; k < n; k++) {
    const arc_content *rc = &ix->contents[chain[k]];
    jb->ref[k] = chain[k];
    jb->ref_path[k] = w->e[wc[chain[k]].source].fs_path;
    jb->ref_len[k] = (size_t)rc->size; /* a reference is a whole JPEG content: it fits */
    memcpy(jb->ref_hash[k], rc->hash, 16);
  }
}

/* Before job jb (a whole content) is written: its payload must need only a leading part of
 * the chain the index gives the reader. A planned reference that ended up unused, or fell
 * back, breaks the planned chain: the content is then coded again with the index's. */
static void recode_if_chain_differs(const ims_writer *w, const w_content *wc, const arc_index *ix,
                                    const codec_env *env, job *jb) {
  if (!jb->whole || jb->st || jb->used_refs == 0 || wc[jb->content].skipped) return;
  uint32_t chain[CODEC_MAX_REFS];
  unsigned n = index_chain(wc, ix, jb->content, w->opt.refs, chain);
  if (jb->used_refs <= n && memcmp(chain, jb->ref, jb->used_refs * sizeof *chain) == 0) return;
  job_set_refs(w, wc, ix, jb, chain, n);
  jb->payload.len = 0;
  code_job(env, jb);
}

/* The coding pipeline: the calling thread makes jobs in content order into a ring of at
 * most 16 jobs per thread and about 2 x threads x PACK_CHUNK input bytes, and writes each finished job in that order;
 * worker threads take jobs in order as they come free. There is no barrier between groups
 * of jobs, so a large image delays only the writing, never the other threads, and memory
 * stays bounded by the ring. The archive bytes depend only on the jobs, never on which
 * thread ran them or with how many threads inside (the JPEG model's output is the same for
 * any thread count). */
typedef struct sched {
  pthread_mutex_t mu;
  pthread_cond_t work; /* a job was made, or stop */
  pthread_cond_t done; /* a job finished */
  job *ring;           /* job k lives in ring[k % cap] */
  size_t cap;
  uint64_t made, taken, written; /* written <= taken <= made, made - written <= cap */
  bool all_made, stop;
  unsigned threads;
  codec_env env;
} sched;

/* Takes the next job (lock held). The last jobs get the threads that would otherwise stay
 * idle until the end (they code the bands of one image in parallel). */
static job *sched_take(sched *s) {
  job *jb = &s->ring[s->taken % s->cap];
  s->taken++;
  uint64_t left = s->made - s->taken;
  jb->threads = s->all_made && left + 1 < s->threads ? s->threads / (unsigned)(left + 1) : 1;
  return jb;
}

static void *sched_worker(void *arg) {
  sched *s = arg;
  (void)pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->stop && s->taken == s->made && !s->all_made) (void)pthread_cond_wait(&s->work, &s->mu);
    if (s->stop || s->taken == s->made) break;
    job *jb = sched_take(s);
    (void)pthread_mutex_unlock(&s->mu);
    code_job(&s->env, jb);
    (void)pthread_mutex_lock(&s->mu);
    jb->done = true;
    (void)pthread_cond_signal(&s->done);
  }
  (void)pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* Codes every content. Memory is bounded by the ring, not by the set. */
static ims_status code_contents(ims_writer *w, w_content *wc, arc_index *ix) {
  const size_t ring = (size_t)w->opt.threads * 16;
  const uint64_t budget = (uint64_t)w->opt.threads * 2 * PACK_CHUNK;
  sched s;
  memset(&s, 0, sizeof s);
  s.cap = ring;
  s.threads = w->opt.threads;
  s.env = env_from_options(&w->opt);
  /* Parsed references, shared by the encode and the verifying decode of the contents
   * predicted from them (a time-lapse frame is parsed once, not three times). Jobs in
   * flight need about refs + 1 images each (their references, and their own for the next
   * contents): a larger cache only holds more memory, which glibc then trims and faults
   * back in (timelapse, 60 frames, -j1: 35,000 minor faults with 20 entries, 9,700 with 4). */
  s.env.cache = codec_cache_new((size_t)w->opt.threads * (w->opt.refs + 1) + 2, (size_t)256 << 20);
  s.env.jcm = jcm_work_new(); /* NULL (out of memory): each call allocates its own */
  s.ring = calloc(ring, sizeof *s.ring);
  pthread_t *tids = calloc(w->opt.threads, sizeof *tids);
  bool mu_ok = false, work_ok = false, done_ok = false;
  unsigned n_workers = 0;
  ims_status st = IMS_OK;
  if (!s.ring || !tids) {
    st = ims_fail(&w->err, IMS_E_NOMEM, "out of memory");
    goto done;
  }
  mu_ok = pthread_mutex_init(&s.mu, NULL) == 0;
  work_ok = mu_ok && pthread_cond_init(&s.work, NULL) == 0;
  done_ok = work_ok && pthread_cond_init(&s.done, NULL) == 0;
  if (!done_ok) {
    st = ims_fail(&w->err, IMS_E_INTERNAL, "cannot set up threads");
    goto done;
  }
  /* With no worker at all (threads cannot be started), the calling thread codes too. */
  for (; n_workers < w->opt.threads; n_workers++)
    if (pthread_create(&tids[n_workers], NULL, sched_worker, &s) != 0) break;
  uint64_t files_total = 0, bytes_total = 0, files_done = 0, bytes_done = 0, bytes_in_ring = 0;
  for (size_t i = 0; i < w->n; i++)
    if (w->e[i].type == IMS_ENTRY_FILE) files_total++;
  for (uint32_t c = 0; c < ix->n_contents; c++) bytes_total += ix->contents[c].size;
  uint32_t c = 0;
  uint64_t off = 0;
  (void)pthread_mutex_lock(&s.mu);
  for (;;) {
    /* Make jobs while the ring has room. */
    while (c < ix->n_contents && s.made - s.written < s.cap && (s.made == s.written || bytes_in_ring < budget)) {
      const arc_content *ct = &ix->contents[c];
      bool whole = ct->size <= PACK_CHUNK || (ct->kind == ARC_KIND_JPEG && ct->size <= w->opt.max_member_bytes &&
                                              ct->size <= SIZE_MAX / 2);
      job *jb = &s.ring[s.made % s.cap];
      memset(jb, 0, sizeof *jb);
      buf_init(&jb->payload, SIZE_MAX);
      jb->content = c;
      jb->whole = whole;
      jb->jpeg = ct->kind == ARC_KIND_JPEG && w->opt.jpeg;
      jb->keep_src = wc[c].referenced;
      memcpy(jb->hash, ct->hash, 16);
      jb->path = w->e[wc[c].source].fs_path;
      /* The planned chain (fixed before any content is written, so the jobs do not depend
       * on how far the writing got: the same archive for any thread count). */
      if (whole) {
        uint32_t chain[CODEC_MAX_REFS];
        unsigned n = c == w->test_alone ? 0 : planned_chain(wc, c, w->opt.refs, chain);
        job_set_refs(w, wc, ix, jb, chain, n);
      }
      jb->offset = off;
      jb->chunk = (uint32_t)(off / PACK_CHUNK);
      jb->len = whole ? (size_t)ct->size : (size_t)(ct->size - off < PACK_CHUNK ? ct->size - off : PACK_CHUNK);
      bytes_in_ring += jb->len;
      off += jb->len;
      if (whole || off >= ct->size) {
        c++;
        off = 0;
      }
      s.made++;
      if (c == ix->n_contents) s.all_made = true;
      (void)pthread_cond_signal(&s.work);
    }
    if (c == ix->n_contents && !s.all_made) {
      s.all_made = true; /* no contents at all */
      (void)pthread_cond_broadcast(&s.work);
    }
    if (s.written == s.made) break;
    job *head = &s.ring[s.written % s.cap];
    if (!head->done) {
      if (n_workers == 0 && s.taken == s.written) {
        job *jb = sched_take(&s);
        (void)pthread_mutex_unlock(&s.mu);
        code_job(&s.env, jb);
        (void)pthread_mutex_lock(&s.mu);
        jb->done = true;
      } else {
        (void)pthread_cond_wait(&s.done, &s.mu);
      }
      continue;
    }
    (void)pthread_mutex_unlock(&s.mu);
    recode_if_chain_differs(w, wc, ix, &s.env, head);
    st = write_job(w, wc, ix, head, &files_done);
    bytes_in_ring -= head->len;
    bytes_done += head->len;
    free_job(head);
    report_progress(w, files_done, files_total, bytes_done, bytes_total);
    (void)pthread_mutex_lock(&s.mu);
    s.written++;
    if (st) break;
  }
  s.stop = true;
  (void)pthread_cond_broadcast(&s.work);
  (void)pthread_mutex_unlock(&s.mu);
done:
  for (unsigned t = 0; t < n_workers; t++) (void)pthread_join(tids[t], NULL);
  /* After a failure, jobs made but not written (all finished or never taken now). */
  for (uint64_t k = s.written; s.ring && k < s.made; k++) free_job(&s.ring[k % s.cap]);
  if (done_ok) (void)pthread_cond_destroy(&s.done);
  if (work_ok) (void)pthread_cond_destroy(&s.work);
  if (mu_ok) (void)pthread_mutex_destroy(&s.mu);
  codec_cache_free(s.env.cache);
  jcm_work_free(s.env.jcm);
  free(s.ring);
  free(tids);
  return st;
}

ims_status ims_writer_finish(ims_writer *w) {
  if (!w) return IMS_E_ARG;
  if (!w->out || w->finished || w->failed)
    return ims_fail(&w->err, IMS_E_STATE, "writer not created, already finished or failed");
  ims_err_clear(&w->err);
  arc_index ix;
  arc_index_init(&ix);
  w_content *wc = NULL;
  ims_status st = assign_contents(w, &ix, &wc);
  if (st) goto fail;
  if ((st = plan_refs(w, wc, &ix)) != IMS_OK) goto fail;
  if ((st = add_entries(w, &ix)) != IMS_OK) {
    ims_fail(&w->err, st, "cannot build the manifest: %s", ims_strerror(st));
    goto fail;
  }
  uint64_t segment = arc_out_pos(w->out);
  if ((st = arc_out_meta(w->out, ARC_BLOCK_MANIFEST, &ix, NULL, &w->err)) != IMS_OK) goto fail;
  if ((st = code_contents(w, wc, &ix)) != IMS_OK) goto fail;
  /* Contents that were skipped keep their number (block headers name it) but hold nothing. */
  for (uint32_t c = 0; c < ix.n_contents; c++) {
    if (!wc[c].skipped) continue;
    arc_content *ct = &ix.contents[c];
    ct->size = 0;
    ct->n_blocks = 0;
    memset(ct->hash, 0, 16);
  }
  /* The index lists only the entries that made it. */
  for (uint32_t i = 0; i < ix.n_entries; i++) {
    free(ix.entries[i].path);
    free(ix.entries[i].link);
  }
  ix.n_entries = 0;
  if ((st = add_entries(w, &ix)) != IMS_OK) {
    ims_fail(&w->err, st, "cannot build the index: %s", ims_strerror(st));
    goto fail;
  }
  /* The block list of a skipped content may be half-written; its blocks stay as garbage. */
  arc_blockref iref;
  if ((st = arc_out_meta(w->out, ARC_BLOCK_INDEX, &ix, &iref, &w->err)) != IMS_OK) goto fail;
  if ((st = arc_out_commit(w->out, &iref, segment, &w->err)) != IMS_OK) goto fail;
  w->finished = true;
  arc_index_free(&ix);
  for (uint32_t c = 0; wc && c < w->n; c++) ims_hasher_free(wc[c].hasher);
  free(wc);
  return IMS_OK;
fail:
  w->failed = true;
  arc_index_free(&ix);
  for (uint32_t c = 0; wc && c < w->n; c++) ims_hasher_free(wc[c].hasher);
  free(wc);
  return st;
}

void ims_writer_close(ims_writer *w) {
  if (!w) return;
  arc_out_close(w->out);
  for (size_t i = 0; i < w->n; i++) entry_free(&w->e[i]);
  free(w->e);
  free(w->pathset);
  free(w);
}
