/* The container pieces on crafted bytes: format.c (file header, block header, footer:
 * encode/decode, checksum and reserved-field rejection), index.c (serialise/parse round
 * trip and every refusal of arc_index_parse), lib/pack/common.c (path_normalize,
 * path_is_safe), lib/common (buf limits, checked math, the read cursor, error messages),
 * arc_out/arc_in on a small file, and the status and fallback names. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/arcfile.h"
#include "archive/format.h"
#include "archive/index.h"
#include "check.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/mem.h"
#include "imgstash.h"
#include "pack/pack.h"

/* ------------------------------------------------------------------ format.c */

static void test_file_header(void) {
  uint8_t h[ARC_HEADER_LEN];
  ims_err err;
  arc_header_encode(h);
  CHECK(memcmp(h, arc_file_magic, 8) == 0);
  CHECK(get_u16le(h + 8) == ARC_FORMAT_MAJOR && get_u16le(h + 10) == ARC_FORMAT_MINOR);
  CHECK(get_u32le(h + 12) == 0);
  CHECK(arc_header_decode(h, &err) == IMS_OK);

  /* Any byte of the magic changed: not an archive. */
  for (int i = 0; i < 8; i++) {
    uint8_t b[ARC_HEADER_LEN];
    memcpy(b, h, sizeof b);
    b[i] ^= 0x20;
    ims_err_clear(&err);
    CHECK(arc_header_decode(b, &err) == IMS_E_CORRUPT);
    CHECK(err.msg[0] != '\0');
  }
  uint8_t b[ARC_HEADER_LEN];
  memcpy(b, h, sizeof b);
  put_u16le(b + 8, ARC_FORMAT_MAJOR + 1);
  CHECK(arc_header_decode(b, &err) == IMS_E_VERSION);
  put_u16le(b + 8, 0);
  CHECK(arc_header_decode(b, &err) == IMS_E_CORRUPT);
  /* A newer minor version of the same major is readable. */
  memcpy(b, h, sizeof b);
  put_u16le(b + 10, ARC_FORMAT_MINOR + 7);
  CHECK(arc_header_decode(b, &err) == IMS_OK);
  /* Unknown flags: refuse (they may be required features). */
  for (int i = 12; i < 16; i++) {
    memcpy(b, h, sizeof b);
    b[i] = 1;
    CHECK(arc_header_decode(b, &err) == IMS_E_VERSION);
  }
}

static arc_block_header sample_block_header(void) {
  arc_block_header h = {.type = ARC_BLOCK_DATA,
                        .codec = 1,
                        .content = 0x01020304u,
                        .chunk = 0x0a0b0c0du,
                        .payload_len = 0x1122334455667788ull,
                        .raw_len = 0x99aabbccddeeff00ull,
                        .payload_check = 0x0123456789abcdefull};
  return h;
}

/* Re-seals a block header's checksum after a deliberate change of its fields. */
static void reseal_block_header(uint8_t b[ARC_BLOCK_HEADER_LEN]) { put_u32le(b + 40, (uint32_t)ims_hash64(b, 40)); }

static void test_block_header(void) {
  arc_block_header h = sample_block_header(), d;
  uint8_t b[ARC_BLOCK_HEADER_LEN];
  arc_block_header_encode(&h, b);
  CHECK(memcmp(b, arc_block_magic, 4) == 0);
  REQUIRE(arc_block_header_decode(b, &d));
  CHECK(d.type == h.type && d.codec == h.codec && d.content == h.content && d.chunk == h.chunk);
  CHECK(d.payload_len == h.payload_len && d.raw_len == h.raw_len && d.payload_check == h.payload_check);
  for (uint8_t t = ARC_BLOCK_MANIFEST; t <= ARC_BLOCK_INDEX; t++) {
    h.type = t;
    arc_block_header_encode(&h, b);
    CHECK(arc_block_header_decode(b, &d) && d.type == t);
  }

  /* Every single-bit change anywhere in the 48 bytes is caught (magic, checksum or reserved). */
  h = sample_block_header();
  arc_block_header_encode(&h, b);
  int missed = 0;
  for (int i = 0; i < ARC_BLOCK_HEADER_LEN; i++) {
    for (int bit = 0; bit < 8; bit++) {
      uint8_t c[ARC_BLOCK_HEADER_LEN];
      memcpy(c, b, sizeof c);
      c[i] ^= (uint8_t)(1u << bit);
      if (arc_block_header_decode(c, &d)) missed++;
    }
  }
  CHECK(missed == 0);

  /* Reserved fields that are not zero are refused even with a correct checksum. */
  uint8_t c[ARC_BLOCK_HEADER_LEN];
  memcpy(c, b, sizeof c);
  c[6] = 1;
  reseal_block_header(c);
  CHECK(!arc_block_header_decode(c, &d));
  memcpy(c, b, sizeof c);
  c[7] = 0x80;
  reseal_block_header(c);
  CHECK(!arc_block_header_decode(c, &d));
  memcpy(c, b, sizeof c);
  c[44] = 1; /* bytes 44..47 are not covered by the checksum: the zero check is what guards them */
  CHECK(!arc_block_header_decode(c, &d));
  memcpy(c, b, sizeof c);
  c[47] = 0xff;
  CHECK(!arc_block_header_decode(c, &d));
  /* Unknown block types, correctly sealed: refused. */
  const uint8_t bad_types[] = {0, 4, 5, 0x7f, 0xff};
  for (size_t k = 0; k < sizeof bad_types; k++) {
    memcpy(c, b, sizeof c);
    c[4] = bad_types[k];
    reseal_block_header(c);
    CHECK(!arc_block_header_decode(c, &d));
  }
  /* The control: the same resealing of an unchanged header still decodes. */
  memcpy(c, b, sizeof c);
  reseal_block_header(c);
  CHECK(arc_block_header_decode(c, &d));
}

static void reseal_footer(uint8_t f[ARC_FOOTER_LEN]) { put_u64le(f + 48, ims_hash64(f, 48)); }

static void test_footer(void) {
  arc_footer f = {.index_offset = 0x1000,
                  .index_block_len = 0x234,
                  .segment_offset = 16,
                  .prev_footer = 0,
                  .footer_offset = 0x1234,
                  .major = ARC_FORMAT_MAJOR,
                  .minor = ARC_FORMAT_MINOR},
             d;
  uint8_t b[ARC_FOOTER_LEN], c[ARC_FOOTER_LEN];
  ims_err err;
  arc_footer_encode(&f, b);
  CHECK(memcmp(b + 56, arc_footer_magic, 8) == 0);
  REQUIRE(arc_footer_decode(b, &d, &err) == IMS_OK);
  CHECK(d.index_offset == f.index_offset && d.index_block_len == f.index_block_len);
  CHECK(d.segment_offset == f.segment_offset && d.prev_footer == f.prev_footer);
  CHECK(d.footer_offset == f.footer_offset && d.major == f.major && d.minor == f.minor);

  /* Any single-bit change: refused as corrupt (checksum or magic). */
  int missed = 0;
  for (int i = 0; i < ARC_FOOTER_LEN; i++) {
    for (int bit = 0; bit < 8; bit++) {
      memcpy(c, b, sizeof c);
      c[i] ^= (uint8_t)(1u << bit);
      ims_err_clear(&err);
      if (arc_footer_decode(c, &d, &err) != IMS_E_CORRUPT || err.msg[0] == '\0') missed++;
    }
  }
  CHECK(missed == 0);
  /* Sealed but newer major, or with flags: a version problem, not damage. */
  memcpy(c, b, sizeof c);
  put_u16le(c + 40, ARC_FORMAT_MAJOR + 1);
  reseal_footer(c);
  CHECK(arc_footer_decode(c, &d, &err) == IMS_E_VERSION);
  memcpy(c, b, sizeof c);
  c[45] = 2;
  reseal_footer(c);
  CHECK(arc_footer_decode(c, &d, &err) == IMS_E_VERSION);
  memcpy(c, b, sizeof c);
  reseal_footer(c);
  CHECK(arc_footer_decode(c, &d, &err) == IMS_OK);
}

/* ------------------------------------------------------------------ index.c */

#define IX_HDR 16
#define CONTENT_LEN 36
#define BLOCKREF_LEN 24
#define ENTRY_LEN 28

/* A small index: 3 contents (the third predicted from the first, split in 2 blocks), and
 * one entry of every type, paths with odd bytes. */
static void build_index(arc_index *ix) {
  arc_index_init(ix);
  uint32_t num;
  for (uint32_t c = 0; c < 3; c++) {
    arc_content ct;
    memset(&ct, 0, sizeof ct);
    for (int k = 0; k < 16; k++) ct.hash[k] = (uint8_t)(c * 16 + (uint32_t)k);
    ct.size = 100 + c;
    ct.codec = (uint8_t)(c % 2);
    ct.fallback = (uint8_t)c;
    ct.kind = (uint8_t)(c == 2 ? ARC_KIND_JPEG : ARC_KIND_OTHER);
    ct.ref = c == 2 ? 0 : ARC_NO_REF;
    REQUIRE(arc_index_add_content(ix, &ct, &num) == IMS_OK);
    CHECK(num == c);
  }
  for (uint32_t c = 0; c < 3; c++) {
    uint32_t nb = c == 2 ? 2 : 1;
    for (uint32_t b = 0; b < nb; b++) {
      uint64_t raw = nb == 1 ? 100 + c : (b == 0 ? 60 : 42);
      arc_blockref br = {.offset = 16 + 1000 * c + 200 * b, .block_len = 48 + 10 + b, .raw_len = raw};
      REQUIRE(arc_index_add_block(ix, c, &br) == IMS_OK);
    }
  }
  static char p1[] = "dir/a file.txt", p2[] = "dir", p3[] = "dir/li\nnk\xff\xfe", l3[] = "../x y", p4[] = "b",
              p5[] = "dup";
  arc_entry e1 = {.type = IMS_ENTRY_FILE, .mode = 0644, .mtime_sec = 1700000000, .mtime_nsec = 123456789,
                  .content = 0, .path = p1, .link = NULL};
  arc_entry e2 = {.type = IMS_ENTRY_DIR, .mode = 07755, .mtime_sec = -5, .mtime_nsec = 0,
                  .content = ARC_NO_CONTENT, .path = p2, .link = NULL};
  arc_entry e3 = {.type = IMS_ENTRY_SYMLINK, .mode = 0777, .mtime_sec = 0, .mtime_nsec = 999999999,
                  .content = ARC_NO_CONTENT, .path = p3, .link = l3};
  arc_entry e4 = {.type = IMS_ENTRY_FILE, .mode = 0, .mtime_sec = INT64_MAX, .mtime_nsec = 1,
                  .content = 2, .path = p4, .link = NULL};
  arc_entry e5 = {.type = IMS_ENTRY_FILE, .mode = 0600, .mtime_sec = 1, .mtime_nsec = 1,
                  .content = 0, .path = p5, .link = NULL};
  REQUIRE(arc_index_add_entry(ix, &e1) == IMS_OK);
  REQUIRE(arc_index_add_entry(ix, &e2) == IMS_OK);
  REQUIRE(arc_index_add_entry(ix, &e3) == IMS_OK);
  REQUIRE(arc_index_add_entry(ix, &e4) == IMS_OK);
  REQUIRE(arc_index_add_entry(ix, &e5) == IMS_OK);
}

static int same_index(const arc_index *a, const arc_index *b, bool with_blocks) {
  if (a->n_contents != b->n_contents || a->n_entries != b->n_entries) return 0;
  for (uint32_t c = 0; c < a->n_contents; c++) {
    const arc_content *x = &a->contents[c], *y = &b->contents[c];
    if (memcmp(x->hash, y->hash, 16) || x->size != y->size || x->codec != y->codec || x->fallback != y->fallback ||
        x->kind != y->kind || x->ref != y->ref)
      return 0;
    if (!with_blocks) {
      if (y->n_blocks != 0) return 0;
      continue;
    }
    if (x->n_blocks != y->n_blocks) return 0;
    for (uint32_t k = 0; k < x->n_blocks; k++) {
      const arc_blockref *p = &a->blocks[x->first_block + k], *q = &b->blocks[y->first_block + k];
      if (p->offset != q->offset || p->block_len != q->block_len || p->raw_len != q->raw_len) return 0;
    }
  }
  for (uint32_t i = 0; i < a->n_entries; i++) {
    const arc_entry *x = &a->entries[i], *y = &b->entries[i];
    if (x->type != y->type || x->mode != y->mode || x->mtime_sec != y->mtime_sec || x->mtime_nsec != y->mtime_nsec ||
        x->content != y->content || strcmp(x->path, y->path) != 0)
      return 0;
    if ((x->link == NULL) != (y->link == NULL) || (x->link && strcmp(x->link, y->link) != 0)) return 0;
  }
  return 1;
}

/* Offset of content c / entry i in a serialised index (with or without block lists). */
static size_t content_off(const arc_index *ix, uint32_t c, bool with_blocks) {
  size_t off = IX_HDR;
  for (uint32_t k = 0; k < c; k++) off += CONTENT_LEN + (with_blocks ? BLOCKREF_LEN * ix->contents[k].n_blocks : 0);
  return off;
}
static size_t entry_off(const arc_index *ix, uint32_t i, bool with_blocks) {
  size_t off = content_off(ix, ix->n_contents, with_blocks);
  for (uint32_t k = 0; k < i; k++)
    off += ENTRY_LEN + strlen(ix->entries[k].path) + (ix->entries[k].link ? strlen(ix->entries[k].link) : 0);
  return off;
}

static ims_status parse(const buf *b, bool manifest, uint64_t limit, arc_index *out, ims_err *err) {
  ims_err_clear(err);
  return arc_index_parse(b->p, b->len, manifest, limit, out, err);
}

/* Parses a mutated copy of src; expects refusal with a message and nothing left allocated. */
static int refused(const buf *src, bool manifest, uint64_t limit, size_t at, const void *bytes, size_t n) {
  buf c;
  buf_init(&c, SIZE_MAX);
  if (buf_append(&c, src->p, src->len) != IMS_OK) return 0;
  if (bytes) memcpy(c.p + at, bytes, n);
  arc_index out;
  ims_err err;
  ims_status st = parse(&c, manifest, limit, &out, &err);
  int ok = st != IMS_OK && err.msg[0] != '\0' && out.entries == NULL && out.contents == NULL && out.blocks == NULL;
  if (st == IMS_OK) arc_index_free(&out);
  buf_free(&c);
  return ok;
}

static const uint64_t LIMIT = 1 << 20;

static void test_index_roundtrip(void) {
  arc_index ix, back;
  ims_err err;
  build_index(&ix);
  for (int wb = 0; wb < 2; wb++) {
    bool with_blocks = wb == 1;
    buf b;
    buf_init(&b, SIZE_MAX);
    REQUIRE(arc_index_serialize(&ix, with_blocks, &b) == IMS_OK);
    CHECK(b.len == entry_off(&ix, ix.n_entries, with_blocks));
    REQUIRE(parse(&b, !with_blocks, LIMIT, &back, &err) == IMS_OK);
    CHECK(same_index(&ix, &back, with_blocks));
    /* Serialising what was parsed gives the same bytes. */
    buf b2;
    buf_init(&b2, SIZE_MAX);
    REQUIRE(arc_index_serialize(&back, with_blocks, &b2) == IMS_OK);
    CHECK(b2.len == b.len && memcmp(b2.p, b.p, b.len) == 0);
    buf_free(&b2);
    arc_index_free(&back);
    /* The wrong mode is refused (flags say manifest or index). */
    CHECK(refused(&b, with_blocks, LIMIT, 0, NULL, 0));
    /* Every truncation is refused. */
    int accepted = 0;
    for (size_t n = 0; n < b.len; n++) {
      buf t = {b.p, n, n, n};
      arc_index tmp;
      if (parse(&t, !with_blocks, LIMIT, &tmp, &err) == IMS_OK) {
        accepted++;
        arc_index_free(&tmp);
      }
    }
    CHECK(accepted == 0);
    buf_free(&b);
  }
  /* An empty index is valid. */
  arc_index empty;
  arc_index_init(&empty);
  buf b;
  buf_init(&b, SIZE_MAX);
  REQUIRE(arc_index_serialize(&empty, true, &b) == IMS_OK);
  CHECK(b.len == IX_HDR);
  CHECK(parse(&b, false, LIMIT, &back, &err) == IMS_OK && back.n_entries == 0 && back.n_contents == 0);
  arc_index_free(&back);
  buf_free(&b);
  arc_index_free(&ix);
  CHECK(ix.entries == NULL && ix.n_entries == 0);
}

static void test_index_refusals(void) {
  arc_index ix;
  build_index(&ix);
  buf b;
  buf_init(&b, SIZE_MAX);
  REQUIRE(arc_index_serialize(&ix, true, &b) == IMS_OK);
  arc_index ok;
  ims_err err;
  REQUIRE(parse(&b, false, LIMIT, &ok, &err) == IMS_OK); /* the control */
  arc_index_free(&ok);

  uint8_t v[8];
  /* bad magic */
  CHECK(refused(&b, false, LIMIT, 0, "IMSY", 4));
  /* unknown version: a version error, not a crash */
  put_u16le(v, 2);
  CHECK(refused(&b, false, LIMIT, 4, v, 2));
  /* counts larger than the data (before anything is allocated) */
  put_u32le(v, 0xffffffffu);
  CHECK(refused(&b, false, LIMIT, 8, v, 4));
  CHECK(refused(&b, false, LIMIT, 12, v, 4));
  put_u32le(v, ix.n_contents + 1);
  CHECK(refused(&b, false, LIMIT, 8, v, 4));
  put_u32le(v, ix.n_entries + 1);
  CHECK(refused(&b, false, LIMIT, 12, v, 4));

  size_t c0 = content_off(&ix, 0, true), c1 = content_off(&ix, 1, true), c2 = content_off(&ix, 2, true);
  /* ref >= own number: itself, and a later one */
  put_u32le(v, 2);
  CHECK(refused(&b, false, LIMIT, c2 + 28, v, 4));
  put_u32le(v, 1);
  CHECK(refused(&b, false, LIMIT, c1 + 28, v, 4));
  put_u32le(v, 0);
  CHECK(refused(&b, false, LIMIT, c0 + 28, v, 4));
  /* fallback out of range, pad byte set */
  CHECK(refused(&b, false, LIMIT, c0 + 25, "\x07", 1));
  CHECK(refused(&b, false, LIMIT, c0 + 27, "\x01", 1));
  /* a block count larger than the data */
  put_u32le(v, 0x10000000u);
  CHECK(refused(&b, false, LIMIT, c0 + 32, v, 4));
  /* sizes not adding up: content size one more than its blocks */
  put_u64le(v, 101);
  CHECK(refused(&b, false, LIMIT, c0 + 16, v, 8));
  put_u64le(v, 102 + 1);
  CHECK(refused(&b, false, LIMIT, c2 + 16, v, 8));
  /* a block beyond the limit: the parse with a limit just below the furthest block end */
  uint64_t max_end = 0;
  for (size_t k = 0; k < ix.n_blocks; k++)
    if (ix.blocks[k].offset + ix.blocks[k].block_len > max_end) max_end = ix.blocks[k].offset + ix.blocks[k].block_len;
  CHECK(refused(&b, false, max_end - 1, 0, NULL, 0));
  CHECK(parse(&b, false, max_end, &ok, &err) == IMS_OK);
  arc_index_free(&ok);
  /* block fields out of bounds: offset + len overflowing, len below a header, offset in the file header,
   * raw larger than a block may be */
  size_t b0 = c0 + CONTENT_LEN;
  put_u64le(v, UINT64_MAX - 10);
  CHECK(refused(&b, false, UINT64_MAX, b0, v, 8));
  put_u64le(v, 47);
  CHECK(refused(&b, false, LIMIT, b0 + 8, v, 8));
  put_u64le(v, 15);
  CHECK(refused(&b, false, LIMIT, b0, v, 8));
  put_u64le(v, ARC_MAX_BLOCK_RAW + 1);
  CHECK(refused(&b, false, UINT64_MAX, b0 + 16, v, 8));
  /* raw sizes that would wrap around to the content's size are refused (each is bounded) */
  put_u64le(v, 0x8000000000000000ull + 60);
  CHECK(refused(&b, false, UINT64_MAX, c2 + CONTENT_LEN + 16, v, 8));

  size_t e0 = entry_off(&ix, 0, true), e1 = entry_off(&ix, 1, true), e2 = entry_off(&ix, 2, true);
  /* NUL in a path, NUL in a link target */
  CHECK(refused(&b, false, LIMIT, e0 + ENTRY_LEN + 3, "\0", 1));
  CHECK(refused(&b, false, LIMIT, e2 + ENTRY_LEN + strlen(ix.entries[2].path) + 1, "\0", 1));
  /* bad type, pad, mode, nanoseconds */
  const uint8_t bad_types[] = {0, 4, 0xff};
  for (size_t k = 0; k < sizeof bad_types; k++) CHECK(refused(&b, false, LIMIT, e0, &bad_types[k], 1));
  CHECK(refused(&b, false, LIMIT, e0 + 1, "\x01", 1));
  put_u16le(v, 010000);
  CHECK(refused(&b, false, LIMIT, e0 + 2, v, 2));
  put_u16le(v, 0xffff);
  CHECK(refused(&b, false, LIMIT, e0 + 2, v, 2));
  put_u32le(v, 1000000000u);
  CHECK(refused(&b, false, LIMIT, e0 + 12, v, 4));
  /* a file whose content does not exist; a folder that claims a content */
  put_u32le(v, ix.n_contents);
  CHECK(refused(&b, false, LIMIT, e0 + 16, v, 4));
  put_u32le(v, 0);
  CHECK(refused(&b, false, LIMIT, e1 + 16, v, 4));
  /* a file turned into a symlink without a target; a symlink turned into a folder with one */
  CHECK(refused(&b, false, LIMIT, e0, "\x03", 1));
  CHECK(refused(&b, false, LIMIT, e2, "\x02", 1));
  /* an empty path; a path length running past the end; one over the maximum */
  put_u32le(v, 0);
  CHECK(refused(&b, false, LIMIT, e0 + 20, v, 4));
  put_u32le(v, 60000);
  CHECK(refused(&b, false, LIMIT, e0 + 20, v, 4));
  put_u32le(v, ARC_MAX_PATH + 1);
  CHECK(refused(&b, false, LIMIT, e0 + 20, v, 4));
  put_u32le(v, ARC_MAX_PATH + 1);
  CHECK(refused(&b, false, LIMIT, e2 + 24, v, 4));

  /* trailing bytes */
  {
    buf t;
    buf_init(&t, SIZE_MAX);
    REQUIRE(buf_append(&t, b.p, b.len) == IMS_OK && buf_append_u8(&t, 0) == IMS_OK);
    CHECK(refused(&t, false, LIMIT, 0, NULL, 0));
    buf_free(&t);
  }
  /* a manifest with block lists */
  {
    buf m;
    buf_init(&m, SIZE_MAX);
    REQUIRE(arc_index_serialize(&ix, true, &m) == IMS_OK);
    put_u16le(v, 1); /* claims to be a manifest but carries blocks */
    CHECK(refused(&m, true, LIMIT, 6, v, 2));
    buf_free(&m);
  }
  buf_free(&b);
  arc_index_free(&ix);
}

static void test_index_add(void) {
  arc_index ix;
  arc_index_init(&ix);
  arc_blockref br = {16, 64, 16};
  CHECK(arc_index_add_block(&ix, 0, &br) == IMS_E_INTERNAL); /* no such content */
  arc_content ct;
  memset(&ct, 0, sizeof ct);
  ct.ref = ARC_NO_REF;
  uint32_t n0, n1;
  REQUIRE(arc_index_add_content(&ix, &ct, &n0) == IMS_OK && arc_index_add_content(&ix, &ct, &n1) == IMS_OK);
  CHECK(n0 == 0 && n1 == 1);
  CHECK(arc_index_add_block(&ix, 0, &br) == IMS_OK);
  CHECK(arc_index_add_block(&ix, 1, &br) == IMS_OK);
  /* blocks of a content must be contiguous */
  CHECK(arc_index_add_block(&ix, 0, &br) == IMS_E_INTERNAL);
  CHECK(ix.contents[0].n_blocks == 1 && ix.contents[1].first_block == 1);
  /* many entries: growth keeps every string */
  for (int i = 0; i < 300; i++) {
    char p[32];
    snprintf(p, sizeof p, "f%03d", i);
    arc_entry e = {.type = IMS_ENTRY_DIR, .content = ARC_NO_CONTENT, .path = p};
    REQUIRE(arc_index_add_entry(&ix, &e) == IMS_OK);
  }
  CHECK(ix.n_entries == 300 && strcmp(ix.entries[299].path, "f299") == 0 && strcmp(ix.entries[0].path, "f000") == 0);
  arc_index_free(&ix);
}

/* ------------------------------------------------------------------ lib/pack/common.c */

static void norm_is(const char *in, const char *want) {
  char *out = NULL;
  ims_err err;
  ims_err_clear(&err);
  ims_status st = path_normalize(in, &out, &err);
  CHECK(st == IMS_OK);
  if (st == IMS_OK) {
    if (strcmp(out, want) != 0) fprintf(stderr, "path_normalize(\"%s\") = \"%s\", want \"%s\"\n", in, out, want);
    CHECK(strcmp(out, want) == 0);
    CHECK(path_is_safe(out));
    free(out);
  }
}

static void norm_refused(const char *in, ims_status want) {
  char *out = (char *)0x1;
  ims_err err;
  ims_err_clear(&err);
  CHECK(path_normalize(in, &out, &err) == want);
  CHECK(out == (char *)0x1); /* nothing returned */
  CHECK(err.msg[0] != '\0');
}

static void test_paths(void) {
  norm_is("./a//b/", "a/b");
  norm_is("a", "a");
  norm_is("a/./b/.", "a/b");
  norm_is("././x", "x");
  norm_is("a b/c\td", "a b/c\td");
  norm_is("\xff\xfe/\n", "\xff\xfe/\n");
  norm_is("...", "...");
  norm_is("..a/b..", "..a/b..");
  norm_is(".hidden", ".hidden");
  norm_refused("", IMS_E_UNSAFE_PATH);
  norm_refused("/x", IMS_E_UNSAFE_PATH);
  norm_refused("/", IMS_E_UNSAFE_PATH);
  norm_refused("a/../b", IMS_E_UNSAFE_PATH);
  norm_refused("..", IMS_E_UNSAFE_PATH);
  norm_refused("../a", IMS_E_UNSAFE_PATH);
  norm_refused("a/..", IMS_E_UNSAFE_PATH);
  norm_refused(".", IMS_E_UNSAFE_PATH);
  norm_refused("./", IMS_E_UNSAFE_PATH);
  norm_refused(".//./", IMS_E_UNSAFE_PATH);
  {
    size_t n = ARC_MAX_PATH + 1;
    char *longp = malloc(n + 1);
    REQUIRE(longp);
    memset(longp, 'a', n);
    longp[n] = '\0';
    norm_refused(longp, IMS_E_LIMIT);
    longp[n - 1] = '\0';
    norm_is(longp, longp);
    free(longp);
  }

  CHECK(path_is_safe("a"));
  CHECK(path_is_safe("a/b/c"));
  CHECK(path_is_safe("a b/..c/c.."));
  CHECK(path_is_safe("\xff/\n"));
  CHECK(!path_is_safe(""));
  CHECK(!path_is_safe("/a"));
  CHECK(!path_is_safe(".."));
  CHECK(!path_is_safe("../a"));
  CHECK(!path_is_safe("a/.."));
  CHECK(!path_is_safe("a/../b"));
  CHECK(!path_is_safe("."));
  CHECK(!path_is_safe("a/./b"));
  CHECK(!path_is_safe("a//b"));
  CHECK(!path_is_safe("a/"));
  CHECK(!path_is_safe("a/b/"));
}

/* ------------------------------------------------------------------ lib/common */

static void test_buf(void) {
  buf b;
  buf_init(&b, 10);
  CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
  CHECK(buf_append(&b, "0123456789", 10) == IMS_OK && b.len == 10);
  CHECK(b.cap <= b.max);
  CHECK(buf_append_u8(&b, 1) == IMS_E_LIMIT);
  CHECK(b.len == 10 && memcmp(b.p, "0123456789", 10) == 0); /* unchanged by the refusal */
  CHECK(buf_append(&b, "", 0) == IMS_OK);                     /* nothing to add: fine at the limit */
  CHECK(buf_reserve(&b, SIZE_MAX) == IMS_E_LIMIT);            /* len + n overflows */
  size_t n;
  uint8_t *p = buf_detach(&b, &n);
  CHECK(p != NULL && n == 10 && b.p == NULL && b.len == 0 && b.cap == 0);
  free(p);
  buf_free(&b);

  buf_init(&b, SIZE_MAX);
  CHECK(buf_append_u16le(&b, 0x0102) == IMS_OK && buf_append_u32le(&b, 0x03040506u) == IMS_OK &&
        buf_append_u64le(&b, 0x0708090a0b0c0d0eull) == IMS_OK);
  const uint8_t want[] = {2, 1, 6, 5, 4, 3, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 9, 8, 7};
  CHECK(b.len == sizeof want && memcmp(b.p, want, sizeof want) == 0);
  /* growth across many appends keeps every byte */
  for (int i = 0; i < 5000; i++) REQUIRE(buf_append_u8(&b, (uint8_t)i) == IMS_OK);
  int bad = 0;
  for (int i = 0; i < 5000; i++) bad += b.p[sizeof want + (size_t)i] != (uint8_t)i;
  CHECK(bad == 0 && b.len == sizeof want + 5000 && b.cap >= b.len);
  buf_free(&b);
  buf_free(&b); /* twice is harmless */
}

static void test_checked_math(void) {
  size_t s = 77;
  CHECK(ims_add_size(1, 2, &s) && s == 3);
  s = 77;
  CHECK(!ims_add_size(SIZE_MAX, 1, &s) && s == 77);
  CHECK(ims_add_size(SIZE_MAX - 1, 1, &s) && s == SIZE_MAX);
  s = 77;
  CHECK(!ims_mul_size(SIZE_MAX / 2 + 1, 2, &s) && s == 77);
  CHECK(ims_mul_size(SIZE_MAX / 3, 3, &s) && s == SIZE_MAX / 3 * 3);
  CHECK(ims_mul_size(0, SIZE_MAX, &s) && s == 0);
  uint64_t u = 5;
  CHECK(!ims_add_u64(UINT64_MAX, 1, &u) && u == 5);
  CHECK(!ims_add_u64(1ull << 63, 1ull << 63, &u) && u == 5);
  CHECK(ims_add_u64(1ull << 62, 1ull << 62, &u) && u == 1ull << 63);

  uint8_t p[8];
  put_u16le(p, 0xbeef);
  CHECK(p[0] == 0xef && p[1] == 0xbe && get_u16le(p) == 0xbeef);
  put_u32le(p, 0xdeadbeefu);
  CHECK(p[0] == 0xef && p[3] == 0xde && get_u32le(p) == 0xdeadbeefu);
  put_u64le(p, 0x8877665544332211ull);
  CHECK(p[0] == 0x11 && p[7] == 0x88 && get_u64le(p) == 0x8877665544332211ull);
}

static void test_rd(void) {
  const uint8_t d[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  rd r = rd_make(d, sizeof d);
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;
  const uint8_t *p;
  CHECK(rd_left(&r) == 15);
  CHECK(rd_u8(&r, &u8) && u8 == 1);
  CHECK(rd_u16le(&r, &u16) && u16 == 0x0302);
  CHECK(rd_u32le(&r, &u32) && u32 == 0x07060504u);
  CHECK(rd_left(&r) == 8);
  CHECK(rd_u64le(&r, &u64) && u64 == 0x0f0e0d0c0b0a0908ull);
  CHECK(rd_left(&r) == 0);
  /* at the end: every read fails and leaves the cursor and outputs alone */
  u8 = 0xaa;
  u16 = 0xaaaa;
  u32 = 0xaaaaaaaau;
  u64 = 0xaaaaaaaaaaaaaaaaull;
  CHECK(!rd_u8(&r, &u8) && u8 == 0xaa);
  CHECK(!rd_u16le(&r, &u16) && u16 == 0xaaaa);
  CHECK(!rd_u32le(&r, &u32) && u32 == 0xaaaaaaaau);
  CHECK(!rd_u64le(&r, &u64) && u64 == 0xaaaaaaaaaaaaaaaaull);
  CHECK(rd_bytes(&r, 0, &p) && p == d + sizeof d);
  CHECK(!rd_bytes(&r, 1, &p));
  /* partial reads near the end fail whole */
  r = rd_make(d, 3);
  CHECK(!rd_u32le(&r, &u32) && rd_left(&r) == 3);
  CHECK(!rd_u64le(&r, &u64) && rd_left(&r) == 3);
  CHECK(rd_u16le(&r, &u16) && !rd_u16le(&r, &u16) && rd_left(&r) == 1);
  /* huge lengths never wrap the pointer */
  r = rd_make(d, sizeof d);
  CHECK(!rd_bytes(&r, SIZE_MAX, &p) && rd_left(&r) == sizeof d);
  CHECK(!rd_bytes(&r, sizeof d + 1, &p) && rd_left(&r) == sizeof d);
  CHECK(rd_bytes(&r, 15, &p) && p == d && rd_left(&r) == 0);
  r = rd_make(d, 0);
  CHECK(rd_left(&r) == 0 && !rd_u8(&r, &u8) && !rd_bytes(&r, 1, &p));
}

static void test_err(void) {
  ims_err e;
  ims_err_clear(&e);
  CHECK(e.code == IMS_OK && e.msg[0] == '\0');
  CHECK(ims_fail(&e, IMS_E_CORRUPT, "block %d", 17) == IMS_E_CORRUPT);
  CHECK(e.code == IMS_E_CORRUPT && strcmp(e.msg, "block 17") == 0);
  ims_err_prefix(&e, "set.ims");
  CHECK(strcmp(e.msg, "set.ims: block 17") == 0);
  CHECK(ims_fail(NULL, IMS_E_IO, "x") == IMS_E_IO); /* NULL err: only the code */
  /* long messages are truncated, never overflow */
  char big[2 * IMS_ERRMSG_CAP];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  ims_fail(&e, IMS_E_IO, "%s", big);
  CHECK(strlen(e.msg) == IMS_ERRMSG_CAP - 1);
  ims_err_prefix(&e, "%s", big);
  CHECK(strlen(e.msg) < IMS_ERRMSG_CAP);
  ims_fail(&e, IMS_E_IO, "tail");
  ims_err_prefix(&e, "%s", big);
  CHECK(strlen(e.msg) < IMS_ERRMSG_CAP && e.msg[0] == 'x');
}

static void test_names(void) {
  const char *seen[IMS_STATUS_MAX + 2];
  for (int s = 0; s <= IMS_STATUS_MAX; s++) {
    const char *m = ims_strerror((ims_status)s);
    CHECK(m != NULL && m[0] != '\0');
    seen[s] = m;
    for (int k = 0; k < s; k++)
      if (m && seen[k]) CHECK(strcmp(m, seen[k]) != 0);
  }
  /* an unknown value still gets a string, different from every known one */
  const char *unk = ims_strerror((ims_status)(IMS_STATUS_MAX + 1));
  CHECK(unk != NULL && unk[0] != '\0');
  for (int k = 0; k <= IMS_STATUS_MAX; k++) CHECK(strcmp(unk, seen[k]) != 0);
  CHECK(ims_strerror((ims_status)-1) != NULL);

  const char *fb[IMS_FB_MAX + 1];
  for (int f = 0; f <= IMS_FB_MAX; f++) {
    fb[f] = ims_fallback_name((ims_fallback)f);
    CHECK(fb[f] != NULL && fb[f][0] != '\0');
    for (int k = 0; k < f; k++) CHECK(strcmp(fb[f], fb[k]) != 0);
    /* names are used as JSON keys by `stats --json`: no quote, backslash or space */
    CHECK(strpbrk(fb[f], "\"\\ ") == NULL);
  }
  const char *fu = ims_fallback_name((ims_fallback)(IMS_FB_MAX + 1));
  CHECK(fu != NULL && fu[0] != '\0');
  for (int k = 0; k <= IMS_FB_MAX; k++) CHECK(strcmp(fu, fb[k]) != 0);

  ims_options o;
  CHECK(ims_options_init(&o, IMS_VERSION_NUMBER) == IMS_OK && o.struct_size == sizeof o);
  CHECK(ims_options_init(&o, IMS_VERSION_NUMBER + 10000) == IMS_E_VERSION);
  CHECK(ims_version() == IMS_VERSION_NUMBER);
}

/* ------------------------------------------------------------------ arc_out / arc_in */

static int count_tmp_files(const char *dir, const char *prefix) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "ls -1 '%s' | grep -c '^%s\\.tmp\\.' || true", dir, prefix);
  FILE *f = popen(cmd, "r");
  int n = -1;
  if (f) {
    if (fscanf(f, "%d", &n) != 1) n = -1;
    pclose(f);
  }
  return n;
}

static void test_arcfile(void) {
  const char *tmp = getenv("IMS_TMP");
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/test_archive.%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
  (void)mkdir(tmp && *tmp ? tmp : "/tmp", 0755);
  REQUIRE(mkdir(dir, 0755) == 0 || errno == EEXIST);
  snprintf(path, sizeof path, "%s/a.ims", dir);
  ims_err err;

  /* Closing without commit leaves nothing behind. */
  arc_out *o;
  REQUIRE(arc_out_open(path, &o, &err) == IMS_OK);
  CHECK(arc_out_pos(o) == ARC_HEADER_LEN);
  CHECK(count_tmp_files(dir, "a.ims") == 1);
  arc_out_close(o);
  CHECK(count_tmp_files(dir, "a.ims") == 0);
  CHECK(access(path, F_OK) != 0);

  /* A complete archive: manifest, two blocks of one content, index, footer. */
  arc_index ix;
  arc_index_init(&ix);
  const char *text = "the quick brown fox jumps over the lazy dog";
  size_t len = strlen(text);
  ims_h128 h = ims_hash128(text, len);
  arc_content ct;
  memset(&ct, 0, sizeof ct);
  memcpy(ct.hash, h.b, 16);
  ct.size = len;
  ct.ref = ARC_NO_REF;
  uint32_t num;
  REQUIRE(arc_index_add_content(&ix, &ct, &num) == IMS_OK);
  static char fox[] = "fox.txt";
  arc_entry e = {.type = IMS_ENTRY_FILE, .mode = 0644, .content = 0, .path = fox};
  REQUIRE(arc_index_add_entry(&ix, &e) == IMS_OK);
  REQUIRE(arc_out_open(path, &o, &err) == IMS_OK);
  uint64_t seg = arc_out_pos(o);
  REQUIRE(arc_out_meta(o, ARC_BLOCK_MANIFEST, &ix, NULL, &err) == IMS_OK);
  for (uint32_t k = 0; k < 2; k++) {
    size_t off = k ? 20 : 0, n = k ? len - 20 : 20;
    arc_block_header bh = {.type = ARC_BLOCK_DATA, .codec = 0, .content = 0, .chunk = k, .payload_len = n,
                           .raw_len = n};
    arc_blockref ref;
    REQUIRE(arc_out_block(o, &bh, (const uint8_t *)text + off, &ref, &err) == IMS_OK);
    CHECK(ref.block_len == ARC_BLOCK_HEADER_LEN + n && ref.raw_len == n);
    REQUIRE(arc_index_add_block(&ix, 0, &ref) == IMS_OK);
  }
  arc_blockref iref;
  REQUIRE(arc_out_meta(o, ARC_BLOCK_INDEX, &ix, &iref, &err) == IMS_OK);
  CHECK(access(path, F_OK) != 0); /* nothing at the final name before commit */
  REQUIRE(arc_out_commit(o, &iref, seg, &err) == IMS_OK);
  arc_out_close(o);
  CHECK(count_tmp_files(dir, "a.ims") == 0);
  struct stat sb;
  REQUIRE(stat(path, &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0644);

  arc_in in;
  REQUIRE(arc_in_open(path, 1 << 20, &in, &err) == IMS_OK);
  CHECK(!in.damaged && in.index.n_entries == 1 && in.index.n_contents == 1 && in.index.contents[0].n_blocks == 2);
  CHECK(in.size == (uint64_t)sb.st_size);
  buf payload;
  buf_init(&payload, SIZE_MAX);
  arc_block_header bh;
  const arc_blockref *b1 = &in.index.blocks[1];
  CHECK(arc_in_read_block(&in, b1, 0, 1, &bh, &payload, &err) == IMS_OK);
  CHECK(payload.len == len - 20 && memcmp(payload.p, text + 20, len - 20) == 0);
  /* the index's expectations are checked against the block header */
  CHECK(arc_in_read_block(&in, b1, 0, 0, &bh, &payload, &err) == IMS_E_CORRUPT);
  CHECK(arc_in_read_block(&in, b1, 1, 1, &bh, &payload, &err) == IMS_E_CORRUPT);
  arc_blockref wrong = *b1;
  wrong.offset = 0;
  CHECK(arc_in_read_block(&in, &wrong, 0, 1, &bh, &payload, &err) == IMS_E_CORRUPT);
  wrong = *b1;
  wrong.offset = in.size - 10;
  CHECK(arc_in_read_block(&in, &wrong, 0, 1, &bh, &payload, &err) == IMS_E_CORRUPT);
  buf_free(&payload);
  arc_in_close(&in);

  /* A limit on the index size below its real size: refused as a limit, not recovered. */
  CHECK(arc_in_open(path, 8, &in, &err) == IMS_E_LIMIT);

  /* The footer cut off: recovery from the intact index block. */
  REQUIRE(truncate(path, sb.st_size - 1) == 0);
  REQUIRE(arc_in_open(path, 1 << 20, &in, &err) == IMS_OK);
  CHECK(in.damaged && in.damage[0] != '\0');
  CHECK(in.index.n_entries == 1 && in.index.contents[0].n_blocks == 2);
  arc_in_close(&in);
  /* The index gone and the last data block cut by one byte: the manifest and the first
   * block are recovered, the cut block is not. */
  REQUIRE(truncate(path, (off_t)iref.offset - 1) == 0);
  REQUIRE(arc_in_open(path, 1 << 20, &in, &err) == IMS_OK);
  CHECK(in.damaged && in.index.n_entries == 1 && in.index.contents[0].n_blocks == 1);
  CHECK(in.index.n_blocks == 1 && in.index.blocks[0].raw_len == 20);
  uint64_t first_block = in.index.n_blocks ? in.index.blocks[0].offset : 0;
  arc_in_close(&in);
  /* Only the header and the manifest: recovered, with no blocks. */
  REQUIRE(first_block > ARC_HEADER_LEN && truncate(path, (off_t)first_block) == 0);
  REQUIRE(arc_in_open(path, 1 << 20, &in, &err) == IMS_OK);
  CHECK(in.damaged && in.index.n_entries == 1 && in.index.n_contents == 1 && in.index.n_blocks == 0);
  arc_in_close(&in);
  /* The header alone: nothing recoverable. */
  REQUIRE(truncate(path, ARC_HEADER_LEN) == 0);
  ims_err_clear(&err);
  CHECK(arc_in_open(path, 1 << 20, &in, &err) == IMS_E_CORRUPT && err.msg[0] != '\0');
  REQUIRE(truncate(path, 3) == 0);
  CHECK(arc_in_open(path, 1 << 20, &in, &err) == IMS_E_CORRUPT);
  CHECK(arc_in_open(dir, 1 << 20, &in, &err) == IMS_E_IO);
  unlink(path);
  CHECK(arc_in_open(path, 1 << 20, &in, &err) == IMS_E_IO);
  /* A folder that does not exist: arc_out_open fails with a message naming the path. */
  char missing[700];
  snprintf(missing, sizeof missing, "%s/no/such/dir/x.ims", dir);
  ims_err_clear(&err);
  CHECK(arc_out_open(missing, &o, &err) == IMS_E_IO && strstr(err.msg, "x.ims") != NULL);
  arc_index_free(&ix);
  rmdir(dir);
}

/* A damaged archive whose recovered blocks claim raw sizes that wrap around to the
 * content's size (2 x 2^63 = 0 for a zero-byte file), or that are far over any block the
 * writer makes: the reader must refuse or ignore them, never try to allocate them. */
static void test_hostile_raw_sizes(void) {
  const char *tmp = getenv("IMS_TMP");
  char path[600];
  snprintf(path, sizeof path, "%s/test_archive_raw.%ld.ims", tmp && *tmp ? tmp : "/tmp", (long)getpid());
  static const struct {
    uint64_t size;     /* the content's size in the manifest */
    uint64_t raw[2];   /* raw_len of its two blocks */
  } cases[] = {
      {0, {1ull << 63, 1ull << 63}},                          /* wraps to 0 */
      {(uint64_t)3 << 30, {(uint64_t)3 << 30, 0}},            /* one 3 GiB block */
      {(uint64_t)1 << 31, {(uint64_t)1 << 30, (uint64_t)1 << 30}}, /* 1 GiB blocks, over the member limit */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    arc_index ix;
    arc_index_init(&ix);
    arc_content ct;
    memset(&ct, 0, sizeof ct);
    ct.size = cases[k].size;
    ct.ref = ARC_NO_REF;
    ct.codec = 1;
    uint32_t num;
    static char name[] = "f";
    REQUIRE(arc_index_add_content(&ix, &ct, &num) == IMS_OK);
    arc_entry e = {.type = IMS_ENTRY_FILE, .mode = 0644, .content = 0, .path = name};
    REQUIRE(arc_index_add_entry(&ix, &e) == IMS_OK);
    ims_err err;
    arc_out *o;
    REQUIRE(arc_out_open(path, &o, &err) == IMS_OK);
    uint64_t seg = arc_out_pos(o);
    REQUIRE(arc_out_meta(o, ARC_BLOCK_MANIFEST, &ix, NULL, &err) == IMS_OK);
    /* a zstd frame of a few zero bytes, whatever size is claimed */
    static const uint8_t payload[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0x11, 0x00, 0x00, 0x00};
    for (uint32_t c = 0; c < 2; c++) {
      if (c == 1 && cases[k].raw[1] == 0) break;
      arc_block_header bh = {.type = ARC_BLOCK_DATA, .codec = 1, .content = 0, .chunk = c,
                             .payload_len = sizeof payload, .raw_len = cases[k].raw[c]};
      REQUIRE(arc_out_block(o, &bh, payload, NULL, &err) == IMS_OK);
    }
    arc_blockref fake = {seg, 0, 0}; /* no index: the footer points at the manifest, so recovery runs */
    fake.block_len = arc_out_pos(o) - seg;
    REQUIRE(arc_out_commit(o, &fake, seg, &err) == IMS_OK);
    arc_out_close(o);
    arc_index_free(&ix);

    ims_options opt;
    REQUIRE(ims_options_init(&opt, IMS_VERSION_NUMBER) == IMS_OK);
    opt.max_member_bytes = 1 << 20;
    ims_reader *r;
    REQUIRE(ims_reader_open(path, &opt, &r) == IMS_OK);
    CHECK(ims_reader_damaged(r));
    CHECK(ims_reader_count(r) == 1);
    uint64_t n = 0;
    ims_status st = ims_reader_extract(r, 0, NULL, &n);
    CHECK(st != IMS_OK || cases[k].size == 0);
    CHECK(ims_reader_errmsg(r) != NULL);
    ims_reader_close(r);
    unlink(path);
  }
}

int main(void) {
  test_file_header();
  test_block_header();
  test_footer();
  test_index_roundtrip();
  test_index_refusals();
  test_index_add();
  test_paths();
  test_buf();
  test_checked_math();
  test_rd();
  test_err();
  test_names();
  test_arcfile();
  test_hostile_raw_sizes();
  return check_done("test_archive");
}
