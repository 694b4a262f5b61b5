/* ims_reader: list, look up, decode and verify entries; stats. Reads only the blocks an
 * entry needs (its content's, and those of the contents it is predicted from). */
#include <stdlib.h>
#include <string.h>

#include "archive/arcfile.h"
#include "common/hash.h"
#include "common/mem.h"
#include "common/pool.h"
#include "jpeg/jpeg.h"
#include "pack.h"
#include "reader_internal.h"

ims_status ims_reader_new(const ims_options *o, ims_reader **out) {
  if (!out) return IMS_E_ARG;
  ims_reader *r = calloc(1, sizeof *r);
  if (!r) return IMS_E_NOMEM;
  if (o) {
    if (o->struct_size != sizeof *o) {
      free(r);
      return IMS_E_ARG;
    }
    r->opt = *o;
  } else {
    if (ims_options_init(&r->opt, IMS_VERSION_NUMBER) != IMS_OK) { /* defaults are set either way */ }
  }
  r->cache = malloc(sizeof *r->cache);
  if (!r->cache) {
    free(r);
    return IMS_E_NOMEM;
  }
  refcache_init(r->cache);
  if (r->opt.threads == 0) r->opt.threads = pool_cores();
  if (r->opt.threads > 256) r->opt.threads = 256;
  /* Each decoding thread holds up to CODEC_MAX_REFS parsed references, and the next
   * content reuses all but one of them. NULL (out of memory): parsed every time. */
  r->parsed = codec_cache_new((size_t)r->opt.threads * (CODEC_MAX_REFS + 1) + 2, (size_t)256 << 20);
  r->jcm = jcm_work_new(); /* NULL: each call allocates its own */
  r->in.fd = -1;
  *out = r;
  return IMS_OK;
}

/* Per-content facts derived once after loading. */
static ims_status derive(ims_reader *r) {
  const arc_index *ix = &r->in.index;
  r->first_entry = malloc(((size_t)ix->n_contents + 1) * sizeof *r->first_entry);
  r->complete = calloc((size_t)ix->n_contents + 1, 1);
  r->referenced = calloc((size_t)ix->n_contents + 1, 1);
  if (!r->first_entry || !r->complete || !r->referenced) return IMS_E_NOMEM;
  for (uint32_t c = 0; c < ix->n_contents; c++)
    if (ix->contents[c].ref != ARC_NO_REF) r->referenced[ix->contents[c].ref] = 1;
  for (uint32_t c = 0; c < ix->n_contents; c++) {
    r->first_entry[c] = -1;
    const arc_content *ct = &ix->contents[c];
    uint64_t sum = 0;
    bool wrapped = false;
    for (uint32_t b = 0; b < ct->n_blocks; b++)
      if (!ims_add_u64(sum, ix->blocks[ct->first_block + b].raw_len, &sum)) wrapped = true;
    r->complete[c] = !wrapped && sum == ct->size && codec_by_id(ct->codec) != NULL;
  }
  /* A content is usable only when its reference chain is (refs point backwards). */
  for (uint32_t c = 0; c < ix->n_contents; c++)
    if (ix->contents[c].ref != ARC_NO_REF && !r->complete[ix->contents[c].ref]) r->complete[c] = 0;
  for (uint32_t i = 0; i < ix->n_entries; i++) {
    const arc_entry *e = &ix->entries[i];
    if (e->type == IMS_ENTRY_FILE && r->first_entry[e->content] < 0) r->first_entry[e->content] = i;
  }
  return IMS_OK;
}

ims_status ims_reader_load(ims_reader *r, const char *path) {
  if (!r || !path) return IMS_E_ARG;
  if (r->loaded) return ims_fail(&r->err, IMS_E_STATE, "reader already loaded");
  ims_err_clear(&r->err);
  ims_status st = arc_in_open(path, r->opt.max_index_bytes, &r->in, &r->err);
  if (st) return st;
  r->loaded = true;
  if ((st = derive(r)) != IMS_OK) return ims_fail(&r->err, st, "out of memory");
  if (r->in.damaged) ims_fail(&r->err, IMS_E_CORRUPT, "%s", r->in.damage);
  return IMS_OK;
}

ims_status ims_reader_open(const char *path, const ims_options *o, ims_reader **out) {
  ims_reader *r;
  ims_status st = ims_reader_new(o, &r);
  if (st) return st;
  if ((st = ims_reader_load(r, path)) != IMS_OK) {
    ims_reader_close(r);
    return st;
  }
  *out = r;
  return IMS_OK;
}

int ims_reader_damaged(const ims_reader *r) { return r && r->in.damaged; }
uint64_t ims_reader_count(const ims_reader *r) { return r && r->loaded ? r->in.index.n_entries : 0; }
const char *ims_reader_errmsg(const ims_reader *r) { return r ? r->err.msg : "no reader"; }

ims_status ims_reader_entry(const ims_reader *r, uint64_t i, ims_entry *out) {
  if (!r || !out || !r->loaded || i >= r->in.index.n_entries) return IMS_E_ARG;
  const arc_index *ix = &r->in.index;
  const arc_entry *e = &ix->entries[i];
  ims_entry o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.path = e->path;
  o.type = (ims_entry_type)e->type;
  o.mode = e->mode;
  o.mtime_sec = e->mtime_sec;
  o.mtime_nsec = e->mtime_nsec;
  o.link_target = e->link;
  o.ref_entry = -1;
  o.codec = "";
  o.content = ARC_NO_CONTENT;
  if (e->type == IMS_ENTRY_SYMLINK) o.size = strlen(e->link);
  if (e->type == IMS_ENTRY_FILE) {
    const arc_content *ct = &ix->contents[e->content];
    o.size = ct->size;
    memcpy(o.hash, ct->hash, 16);
    o.content = e->content;
    o.codec = codec_name(ct->codec);
    if (r->first_entry[e->content] == (int64_t)i)
      for (uint32_t b = 0; b < ct->n_blocks; b++) o.stored_bytes += ix->blocks[ct->first_block + b].block_len;
    if (ct->ref != ARC_NO_REF) o.ref_entry = r->first_entry[ct->ref];
    o.damaged = !r->complete[e->content];
  }
  *out = o;
  return IMS_OK;
}

ims_status ims_reader_find(const ims_reader *r, const char *path, uint64_t *index_out) {
  if (!r || !path || !index_out || !r->loaded) return IMS_E_ARG;
  char *norm;
  ims_err err;
  ims_status st = path_normalize(path, &norm, &err);
  if (st) return IMS_E_NOTFOUND;
  const arc_index *ix = &r->in.index;
  /* Latest entry wins if a path repeats (it cannot in archives this version writes). */
  for (uint32_t i = ix->n_entries; i-- > 0;) {
    if (strcmp(ix->entries[i].path, norm) == 0) {
      free(norm);
      *index_out = i;
      return IMS_OK;
    }
  }
  free(norm);
  return IMS_E_NOTFOUND;
}

/* Decodes one block of content c into dst (raw_len bytes). refs: the content's reference
 * chain, decoded, nearest first (n_refs = 0 when it has none). */
static ims_status decode_block(const ims_reader *r, uint32_t c, uint32_t b, const codec_ref *refs, unsigned n_refs,
                               buf *payload, uint8_t *dst, ims_err *err) {
  const arc_index *ix = &r->in.index;
  const arc_content *ct = &ix->contents[c];
  const arc_blockref *br = &ix->blocks[ct->first_block + b];
  arc_block_header h;
  ims_status st = arc_in_read_block(&r->in, br, c, b, &h, payload, err);
  if (st) return st;
  const codec *cd = codec_by_id(h.codec);
  if (!cd) return ims_fail(err, IMS_E_UNSUPPORTED, "unknown codec %u (newer archive?)", h.codec);
  codec_env env = env_from_options(&r->opt);
  env.threads = r->opt.threads;
  env.cache = r->parsed;
  env.jcm = r->jcm;
  env.keep_decoded = r->referenced[c] && ct->n_blocks == 1;
  st = cd->decode(&env, payload->p, payload->len, refs, n_refs, dst, (size_t)br->raw_len, err);
  if (st) ims_err_prefix(err, "block at offset %#llx", (unsigned long long)br->offset);
  return st;
}

typedef struct mem_sink {
  uint8_t *p;
  size_t len, cap;
} mem_sink;

static int mem_write(void *opaque, const void *data, size_t len) {
  mem_sink *m = opaque;
  if (len > m->cap - m->len) return 1;
  memcpy(m->p + m->len, data, len);
  m->len += len;
  return 0;
}

/* Streams content c through fn given its reference's bytes (ref may be NULL), checking its
 * hash. */
static ims_status decode_one(const ims_reader *r, uint32_t c, const codec_ref *refs, unsigned n_refs, ims_write_fn fn,
                             void *opaque, ims_err *err) {
  const arc_index *ix = &r->in.index;
  const arc_content *ct = &ix->contents[c];
  if (!r->complete[c]) return ims_fail(err, IMS_E_CORRUPT, "data is missing from the damaged archive");
  ims_status st = IMS_OK;
  ims_hasher *h = ims_hasher_new();
  buf payload;
  buf_init(&payload, SIZE_MAX);
  uint8_t *dst = NULL;
  if (!h) {
    st = ims_fail(err, IMS_E_NOMEM, "out of memory");
    goto done;
  }
  for (uint32_t b = 0; b < ct->n_blocks; b++) {
    uint64_t raw64 = ix->blocks[ct->first_block + b].raw_len;
    /* The writer makes no block larger than a chunk or a whole member: a larger claim is
     * refused before anything is allocated for it. */
    if (raw64 > PACK_CHUNK && raw64 > r->opt.max_member_bytes) {
      st = ims_fail(err, IMS_E_LIMIT, "block of %llu bytes is over the member limit", (unsigned long long)raw64);
      goto done;
    }
    size_t raw = (size_t)raw64;
    uint8_t *d = realloc(dst, raw ? raw : 1);
    if (!d) {
      st = ims_fail(err, IMS_E_NOMEM, "out of memory (%zu bytes)", raw);
      goto done;
    }
    dst = d;
    if ((st = decode_block(r, c, b, refs, n_refs, &payload, dst, err)) != IMS_OK) goto done;
    ims_hasher_update(h, dst, raw);
    if (fn && raw && fn(opaque, dst, raw) != 0) {
      st = ims_fail(err, IMS_E_IO, "write failed");
      goto done;
    }
  }
  ims_h128 got = ims_hasher_digest(h);
  if (memcmp(got.b, ct->hash, 16) != 0) st = ims_fail(err, IMS_E_MISMATCH, "content hash mismatch");
  /* A verified content that others are predicted from is kept for them (a whole content
   * is one block: references are only made between whole contents). */
  if (!st && r->referenced[c] && ct->n_blocks == 1) refcache_put(r->cache, c, dst, (size_t)ct->size);
done:
  ims_hasher_free(h);
  buf_free(&payload);
  free(dst);
  return st;
}

static ims_status decode_stream(const ims_reader *r, uint32_t c, ims_write_fn fn, void *opaque, ims_err *err);

/* Decodes content c into a new buffer: given its decoded reference chain (refs, n_refs),
 * or, with resolve_chain, decoding its reference chain first. */
static ims_status content_to_mem(const ims_reader *r, uint32_t c, const codec_ref *refs, unsigned n_refs,
                                 bool resolve_chain, uint8_t **out, size_t *out_len, ims_err *err) {
  const arc_content *ct = &r->in.index.contents[c];
  if (ct->size > r->opt.max_member_bytes || ct->size > SIZE_MAX)
    return ims_fail(err, IMS_E_LIMIT, "content of %llu bytes is over the in-memory limit",
                    (unsigned long long)ct->size);
  mem_sink m = {malloc(ct->size ? (size_t)ct->size : 1), 0, (size_t)ct->size};
  if (!m.p) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  ims_status st = resolve_chain ? decode_stream(r, c, mem_write, &m, err)
                                : decode_one(r, c, refs, n_refs, mem_write, &m, err);
  if (st) {
    free(m.p);
    return st;
  }
  *out = m.p;
  *out_len = m.len;
  return IMS_OK;
}

/* The last CODEC_MAX_REFS decoded contents of a chain walk, nearest first. */
typedef struct ref_window {
  uint8_t *p[CODEC_MAX_REFS];
  codec_ref ref[CODEC_MAX_REFS];
  unsigned n;
} ref_window;

static void window_push(ref_window *w, uint8_t *p, size_t len) {
  if (w->n == CODEC_MAX_REFS) free(w->p[--w->n]);
  memmove(&w->p[1], &w->p[0], w->n * sizeof w->p[0]);
  memmove(&w->ref[1], &w->ref[0], w->n * sizeof w->ref[0]);
  w->p[0] = p;
  w->ref[0].p = p;
  w->ref[0].len = len;
  w->n++;
}

static void window_free(ref_window *w) {
  for (unsigned k = 0; k < w->n; k++) free(w->p[k]);
  w->n = 0;
}

/* Streams content c, first decoding its reference chain forward from the nearest decoded
 * ancestors (or the key content), iteratively, holding at most CODEC_MAX_REFS + 1 contents
 * in memory besides the cache (refs point backwards, so the walk ends; its length is
 * capped). Each content gets the chain's CODEC_MAX_REFS nearest contents (fewer after a
 * key image); its codec takes as many as its payload needs. */
static ims_status decode_stream(const ims_reader *r, uint32_t c, ims_write_fn fn, void *opaque, ims_err *err) {
  const arc_index *ix = &r->in.index;
  uint32_t n_chain = 0;
  for (uint32_t k = ix->contents[c].ref; k != ARC_NO_REF; k = ix->contents[k].ref)
    if (++n_chain > PACK_MAX_CHAIN) return ims_fail(err, IMS_E_LIMIT, "reference chain longer than %d", PACK_MAX_CHAIN);
  if (n_chain == 0) return decode_one(r, c, NULL, 0, fn, opaque, err);
  uint32_t *chain = malloc(n_chain * sizeof *chain);
  if (!chain) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  uint32_t i = n_chain;
  for (uint32_t k = ix->contents[c].ref; k != ARC_NO_REF; k = ix->contents[k].ref) chain[--i] = k;
  ref_window win = {{NULL}, {{NULL, 0}}, 0};
  ims_status st = IMS_OK;
  /* Start after the nearest ancestor that is already decoded together with the ones before
   * it that the next content may need (reading in order: the reference and its own), so a
   * chain is not decoded again from its key image. */
  uint32_t start = 0;
  for (uint32_t k = n_chain; k-- > 0 && start == 0;) {
    uint32_t need = k + 1 < CODEC_MAX_REFS ? k + 1 : CODEC_MAX_REFS, got = 0;
    uint8_t *p[CODEC_MAX_REFS];
    size_t len[CODEC_MAX_REFS];
    while (got < need && refcache_get(r->cache, chain[k - got], &p[got], &len[got])) got++;
    if (got == need) {
      for (uint32_t j = got; j-- > 0;) window_push(&win, p[j], len[j]);
      start = k + 1;
    } else {
      for (uint32_t j = 0; j < got; j++) free(p[j]);
    }
  }
  for (i = start; i < n_chain && !st; i++) {
    uint8_t *cur = NULL;
    size_t cur_len = 0;
    st = content_to_mem(r, chain[i], win.ref, win.n, false, &cur, &cur_len, err);
    if (st) {
      ims_err_prefix(err, "its reference %u", chain[i]);
      break;
    }
    window_push(&win, cur, cur_len);
  }
  if (!st) st = decode_one(r, c, win.ref, win.n, fn, opaque, err);
  window_free(&win);
  free(chain);
  return st;
}

ims_status ims_reader_extract(ims_reader *r, uint64_t i, ims_write_fn write_fn, void *opaque) {
  if (!r || !r->loaded || i >= r->in.index.n_entries) return IMS_E_ARG;
  const arc_entry *e = &r->in.index.entries[i];
  ims_err_clear(&r->err);
  if (e->type == IMS_ENTRY_SYMLINK) {
    size_t n = strlen(e->link);
    if (write_fn && write_fn(opaque, e->link, n) != 0) return ims_fail(&r->err, IMS_E_IO, "write failed");
    return IMS_OK;
  }
  if (e->type != IMS_ENTRY_FILE) return IMS_OK;
  return decode_stream(r, e->content, write_fn, opaque, &r->err);
}

ims_status ims_reader_verify_entry(ims_reader *r, uint64_t i) { return ims_reader_extract(r, i, NULL, NULL); }

ims_status ims_reader_stats(const ims_reader *r, ims_stats *out) {
  if (!r || !out || !r->loaded) return IMS_E_ARG;
  const arc_index *ix = &r->in.index;
  ims_stats s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  s.entries = ix->n_entries;
  s.archive_bytes = r->in.size;
  for (uint32_t i = 0; i < ix->n_entries; i++) {
    const arc_entry *e = &ix->entries[i];
    if (e->type == IMS_ENTRY_DIR) s.dirs++;
    if (e->type == IMS_ENTRY_SYMLINK) s.symlinks++;
    if (e->type != IMS_ENTRY_FILE) continue;
    s.files++;
    uint64_t sz = ix->contents[e->content].size;
    s.input_bytes += sz;
    if (r->first_entry[e->content] != (int64_t)i) s.dedup_saved_bytes += sz;
  }
  for (uint32_t c = 0; c < ix->n_contents; c++) {
    const arc_content *ct = &ix->contents[c];
    if (r->first_entry[c] < 0) continue; /* skipped while packing, or no entry survived */
    uint64_t stored = 0;
    for (uint32_t b = 0; b < ct->n_blocks; b++) stored += ix->blocks[ct->first_block + b].block_len;
    s.contents++;
    if (ct->fallback <= IMS_FB_MAX) s.fallbacks[ct->fallback]++;
    if (ct->kind == ARC_KIND_JPEG) {
      s.jpeg_contents++;
      s.jpeg_bytes += ct->size;
      s.jpeg_stored_bytes += stored;
    }
    const char *name = codec_name(ct->codec);
    for (size_t k = 0; k < IMS_MAX_CODECS; k++) {
      if (s.codecs[k].name && strcmp(s.codecs[k].name, name) != 0) continue;
      s.codecs[k].name = name;
      s.codecs[k].contents++;
      s.codecs[k].raw_bytes += ct->size;
      s.codecs[k].stored_bytes += stored;
      break;
    }
  }
  *out = s;
  return IMS_OK;
}

void ims_reader_close(ims_reader *r) {
  if (!r) return;
  arc_in_close(&r->in);
  if (r->cache) refcache_free(r->cache);
  free(r->cache);
  codec_cache_free(r->parsed);
  jcm_work_free(r->jcm);
  free(r->referenced);
  free(r->first_entry);
  free(r->complete);
  free(r);
}

ims_status rd_decode_whole(const ims_reader *r, uint32_t content, uint8_t **out, size_t *out_len, ims_err *err) {
  return content_to_mem(r, content, NULL, 0, true, out, out_len, err);
}
