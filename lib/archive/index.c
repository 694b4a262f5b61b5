#include "index.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "format.h"

static const uint8_t index_magic[4] = {'I', 'M', 'S', 'X'};
#define INDEX_VERSION 1
#define CONTENT_FIXED 36 /* hash 16, size 8, codec 1, fallback 1, kind 1, pad 1, ref 4, n_blocks 4 */
#define BLOCK_FIXED 24
#define ENTRY_FIXED 28 /* type 1, pad 1, mode 2+... see FORMAT.md §4.3 */

void arc_index_init(arc_index *ix) { memset(ix, 0, sizeof *ix); }

void arc_index_free(arc_index *ix) {
  for (uint32_t i = 0; i < ix->n_entries; i++) {
    free(ix->entries[i].path);
    free(ix->entries[i].link);
  }
  free(ix->entries);
  free(ix->contents);
  free(ix->blocks);
  arc_index_init(ix);
}

/* Grows *p (n elements in use, *cap allocated) to hold one more. */
static ims_status grow(void **p, size_t n, size_t *cap, size_t elem) {
  if (n < *cap) return IMS_OK;
  size_t nc = *cap ? *cap * 2 : 64, bytes;
  if (!ims_mul_size(nc, elem, &bytes)) return IMS_E_LIMIT;
  void *q = realloc(*p, bytes);
  if (!q) return IMS_E_NOMEM;
  *p = q;
  *cap = nc;
  return IMS_OK;
}

static char *dup_str(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

ims_status arc_index_add_entry(arc_index *ix, const arc_entry *e) {
  if (ix->n_entries == UINT32_MAX) return IMS_E_LIMIT;
  size_t cap = ix->cap_entries;
  ims_status st = grow((void **)&ix->entries, ix->n_entries, &cap, sizeof *ix->entries);
  if (st) return st;
  if (cap > UINT32_MAX) cap = UINT32_MAX;
  ix->cap_entries = (uint32_t)cap;
  arc_entry d = *e;
  d.path = dup_str(e->path);
  d.link = dup_str(e->link);
  if (!d.path || (e->link && !d.link)) {
    free(d.path);
    free(d.link);
    return IMS_E_NOMEM;
  }
  ix->entries[ix->n_entries++] = d;
  return IMS_OK;
}

ims_status arc_index_add_content(arc_index *ix, const arc_content *c, uint32_t *number) {
  if (ix->n_contents >= ARC_NO_CONTENT - 1) return IMS_E_LIMIT;
  size_t cap = ix->cap_contents;
  ims_status st = grow((void **)&ix->contents, ix->n_contents, &cap, sizeof *ix->contents);
  if (st) return st;
  if (cap > UINT32_MAX) cap = UINT32_MAX;
  ix->cap_contents = (uint32_t)cap;
  arc_content d = *c;
  d.first_block = 0;
  d.n_blocks = 0;
  *number = ix->n_contents;
  ix->contents[ix->n_contents++] = d;
  return IMS_OK;
}

/* Blocks of a content must be added contiguously (the writer does so). */
ims_status arc_index_add_block(arc_index *ix, uint32_t content, const arc_blockref *b) {
  if (content >= ix->n_contents) return IMS_E_INTERNAL;
  arc_content *c = &ix->contents[content];
  if (c->n_blocks == 0)
    c->first_block = ix->n_blocks;
  else if (c->first_block + c->n_blocks != ix->n_blocks)
    return IMS_E_INTERNAL;
  if (c->n_blocks == UINT32_MAX) return IMS_E_LIMIT;
  ims_status st = grow((void **)&ix->blocks, ix->n_blocks, &ix->cap_blocks, sizeof *ix->blocks);
  if (st) return st;
  ix->blocks[ix->n_blocks++] = *b;
  c->n_blocks++;
  return IMS_OK;
}

ims_status arc_index_serialize(const arc_index *ix, bool with_blocks, buf *out) {
  ims_status st = buf_append(out, index_magic, 4);
  if (!st) st = buf_append_u16le(out, INDEX_VERSION);
  if (!st) st = buf_append_u16le(out, with_blocks ? 0 : 1);
  if (!st) st = buf_append_u32le(out, ix->n_contents);
  if (!st) st = buf_append_u32le(out, ix->n_entries);
  for (uint32_t i = 0; !st && i < ix->n_contents; i++) {
    const arc_content *c = &ix->contents[i];
    uint32_t nb = with_blocks ? c->n_blocks : 0;
    st = buf_append(out, c->hash, 16);
    if (!st) st = buf_append_u64le(out, c->size);
    if (!st) st = buf_append_u8(out, c->codec);
    if (!st) st = buf_append_u8(out, c->fallback);
    if (!st) st = buf_append_u8(out, c->kind);
    if (!st) st = buf_append_u8(out, 0);
    if (!st) st = buf_append_u32le(out, c->ref);
    if (!st) st = buf_append_u32le(out, nb);
    for (uint32_t b = 0; !st && b < nb; b++) {
      const arc_blockref *r = &ix->blocks[c->first_block + b];
      st = buf_append_u64le(out, r->offset);
      if (!st) st = buf_append_u64le(out, r->block_len);
      if (!st) st = buf_append_u64le(out, r->raw_len);
    }
  }
  for (uint32_t i = 0; !st && i < ix->n_entries; i++) {
    const arc_entry *e = &ix->entries[i];
    size_t pl = strlen(e->path), ll = e->link ? strlen(e->link) : 0;
    if (pl > ARC_MAX_PATH || ll > ARC_MAX_PATH) return IMS_E_LIMIT;
    st = buf_append_u8(out, e->type);
    if (!st) st = buf_append_u8(out, 0);
    if (!st) st = buf_append_u16le(out, (uint16_t)e->mode);
    if (!st) st = buf_append_u64le(out, (uint64_t)e->mtime_sec);
    if (!st) st = buf_append_u32le(out, e->mtime_nsec);
    if (!st) st = buf_append_u32le(out, e->content);
    if (!st) st = buf_append_u32le(out, (uint32_t)pl);
    if (!st) st = buf_append_u32le(out, (uint32_t)ll);
    if (!st) st = buf_append(out, e->path, pl);
    if (!st) st = buf_append(out, e->link, ll);
  }
  return st;
}

/* Copies n bytes as a NUL-terminated string; refuses embedded NULs. */
static ims_status take_str(rd *r, uint32_t n, char **out, ims_err *err, const char *what) {
  const uint8_t *p;
  if (!rd_bytes(r, n, &p)) return ims_fail(err, IMS_E_CORRUPT, "index: %s runs past the end", what);
  if (memchr(p, 0, n)) return ims_fail(err, IMS_E_CORRUPT, "index: %s contains a NUL byte", what);
  char *s = malloc((size_t)n + 1);
  if (!s) return IMS_E_NOMEM;
  memcpy(s, p, n);
  s[n] = '\0';
  *out = s;
  return IMS_OK;
}

ims_status arc_index_parse(const uint8_t *data, size_t len, bool is_manifest, uint64_t max_block_end, arc_index *ix,
                           ims_err *err) {
  arc_index_init(ix);
  rd r = rd_make(data, len);
  const uint8_t *magic;
  uint16_t version, flags;
  uint32_t n_contents, n_entries;
  ims_status st = IMS_OK;
  if (!rd_bytes(&r, 4, &magic) || memcmp(magic, index_magic, 4) != 0)
    return ims_fail(err, IMS_E_CORRUPT, "index: bad magic");
  if (!rd_u16le(&r, &version) || !rd_u16le(&r, &flags) || !rd_u32le(&r, &n_contents) || !rd_u32le(&r, &n_entries))
    return ims_fail(err, IMS_E_CORRUPT, "index: truncated header");
  if (version != INDEX_VERSION) return ims_fail(err, IMS_E_VERSION, "index version %u is not supported", version);
  if (flags != (is_manifest ? 1 : 0)) return ims_fail(err, IMS_E_CORRUPT, "index: unexpected flags %#x", flags);
  /* Counts are bounded by the bytes that must follow before anything is allocated. */
  if (n_contents > rd_left(&r) / CONTENT_FIXED || n_entries > rd_left(&r) / ENTRY_FIXED)
    return ims_fail(err, IMS_E_CORRUPT, "index: counts larger than the index");
  ix->contents = calloc(n_contents ? n_contents : 1, sizeof *ix->contents);
  ix->entries = calloc(n_entries ? n_entries : 1, sizeof *ix->entries);
  if (!ix->contents || !ix->entries) {
    st = IMS_E_NOMEM;
    goto fail;
  }
  ix->cap_contents = n_contents;
  ix->cap_entries = n_entries;
  for (uint32_t i = 0; i < n_contents; i++) {
    arc_content *c = &ix->contents[i];
    const uint8_t *h;
    uint8_t pad;
    uint32_t nb;
    if (!rd_bytes(&r, 16, &h) || !rd_u64le(&r, &c->size) || !rd_u8(&r, &c->codec) || !rd_u8(&r, &c->fallback) ||
        !rd_u8(&r, &c->kind) || !rd_u8(&r, &pad) || !rd_u32le(&r, &c->ref) || !rd_u32le(&r, &nb)) {
      st = ims_fail(err, IMS_E_CORRUPT, "index: content %u truncated", i);
      goto fail;
    }
    memcpy(c->hash, h, 16);
    if (pad != 0 || c->fallback > IMS_FB_MAX || (c->ref != ARC_NO_REF && c->ref >= i)) {
      st = ims_fail(err, IMS_E_CORRUPT, "index: content %u has invalid fields", i);
      goto fail;
    }
    if (is_manifest ? nb != 0 : (nb > rd_left(&r) / BLOCK_FIXED)) {
      st = ims_fail(err, IMS_E_CORRUPT, "index: content %u has a bad block count", i);
      goto fail;
    }
    ix->n_contents = i + 1;
    uint64_t total = 0;
    for (uint32_t b = 0; b < nb; b++) {
      arc_blockref br;
      uint64_t end;
      if (!rd_u64le(&r, &br.offset) || !rd_u64le(&r, &br.block_len) || !rd_u64le(&r, &br.raw_len)) {
        st = ims_fail(err, IMS_E_CORRUPT, "index: block list of content %u truncated", i);
        goto fail;
      }
      if (br.block_len < ARC_BLOCK_HEADER_LEN || br.offset < ARC_HEADER_LEN || !ims_add_u64(br.offset, br.block_len, &end) ||
          end > max_block_end || br.raw_len > ARC_MAX_BLOCK_RAW || !ims_add_u64(total, br.raw_len, &total)) {
        st = ims_fail(err, IMS_E_CORRUPT, "index: block %u of content %u is out of bounds", b, i);
        goto fail;
      }
      if ((st = arc_index_add_block(ix, i, &br)) != IMS_OK) {
        ims_fail(err, st, "index: %s", ims_strerror(st));
        goto fail;
      }
    }
    if (!is_manifest && total != c->size) {
      st = ims_fail(err, IMS_E_CORRUPT, "index: blocks of content %u do not add up to its size", i);
      goto fail;
    }
  }
  for (uint32_t i = 0; i < n_entries; i++) {
    arc_entry *e = &ix->entries[i];
    uint8_t pad;
    uint16_t mode;
    uint64_t mtime;
    uint32_t pl, ll;
    if (!rd_u8(&r, &e->type) || !rd_u8(&r, &pad) || !rd_u16le(&r, &mode) || !rd_u64le(&r, &mtime) ||
        !rd_u32le(&r, &e->mtime_nsec) || !rd_u32le(&r, &e->content) || !rd_u32le(&r, &pl) || !rd_u32le(&r, &ll)) {
      st = ims_fail(err, IMS_E_CORRUPT, "index: entry %u truncated", i);
      goto fail;
    }
    e->mode = mode;
    e->mtime_sec = (int64_t)mtime;
    bool is_file = e->type == IMS_ENTRY_FILE;
    if (pad != 0 || e->type < IMS_ENTRY_FILE || e->type > IMS_ENTRY_SYMLINK || (mode & ~07777u) ||
        e->mtime_nsec >= 1000000000u || pl == 0 || pl > ARC_MAX_PATH || ll > ARC_MAX_PATH ||
        (is_file ? e->content >= n_contents : e->content != ARC_NO_CONTENT) ||
        ((e->type == IMS_ENTRY_SYMLINK) != (ll > 0))) {
      st = ims_fail(err, IMS_E_CORRUPT, "index: entry %u has invalid fields", i);
      goto fail;
    }
    ix->n_entries = i + 1; /* from here on the strings are freed with the index */
    if ((st = take_str(&r, pl, &e->path, err, "a path")) != IMS_OK) goto fail;
    if (ll && (st = take_str(&r, ll, &e->link, err, "a link target")) != IMS_OK) goto fail;
  }
  if (rd_left(&r) != 0) {
    st = ims_fail(err, IMS_E_CORRUPT, "index: %zu bytes of trailing data", rd_left(&r));
    goto fail;
  }
  return IMS_OK;
fail:
  if (st == IMS_E_NOMEM) ims_fail(err, st, "index: out of memory");
  arc_index_free(ix);
  return st;
}
