/* Side information: building it while decoding, serialising it, reading it back (as
 * hostile input), and freeing images.
 *
 * Serialised form, version 1 (all integers LEB128 varints unless noted):
 *   u8 version (1)
 *   n_chunks, then for each chunk: its length, then its bytes in "token" form (below)
 *   n_segx, then each: seg delta (from the previous record's seg + 1), u8 flags,
 *     [pad u8] [n_fill] [n_short] [extra_len, extra bytes] [trunc_mcu]
 *   n_eobx, then each: scan delta, block (delta from the previous block when in the same
 *     scan, else absolute), run
 * Chunk bytes: the marker segments of a chunk are written as tokens so that the common
 * big ones cost little: u8 token kind, then
 *   T_RAW: length, bytes (verbatim)
 *   T_DHT_STD: u8 Tc<<4|Th, once per table of a DHT segment (segment "FF C4 len ..." rebuilt)
 * The reader rebuilds the exact chunk bytes; the writer checks every token it emits.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "jpeg/jpeg_internal.h"

#define SIDE_VERSION 1

jpg_side *jpg_side_new(void) { return calloc(1, sizeof(jpg_side)); }

void jpg_side_free(jpg_side *s) {
  if (!s) return;
  free(s->hdr);
  free(s->chunk_end);
  free(s->segx);
  free(s->eobx);
  free(s->pool);
  free(s);
}

void jpg_free(jpg_image *img) {
  if (!img) return;
  for (unsigned c = 0; c < 4; c++) free(img->comp[c].coef);
  jpg_side_free(img->side);
  free(img);
}

/* Grows *p (elements of size el) to hold n more. */
static ims_status grow(void **p, size_t *cap, size_t len, size_t n, size_t el) {
  size_t need;
  if (!ims_add_size(len, n, &need)) return IMS_E_NOMEM;
  if (need <= *cap) return IMS_OK;
  size_t c = *cap ? *cap : 16;
  while (c < need) {
    if (c > SIZE_MAX / 4) return IMS_E_NOMEM;
    c *= 2;
  }
  size_t bytes;
  if (!ims_mul_size(c, el, &bytes)) return IMS_E_NOMEM;
  void *q = realloc(*p, bytes);
  if (!q) return IMS_E_NOMEM;
  *p = q;
  *cap = c;
  return IMS_OK;
}

ims_status jpg_side_add_hdr(jpg_side *s, const uint8_t *p, size_t n) {
  if (n == 0) return IMS_OK;
  ims_status st = grow((void **)&s->hdr, &s->hdr_cap, s->hdr_len, n, 1);
  if (st) return st;
  memcpy(s->hdr + s->hdr_len, p, n);
  s->hdr_len += n;
  return IMS_OK;
}

ims_status jpg_side_end_chunk(jpg_side *s) {
  ims_status st = grow((void **)&s->chunk_end, &s->chunk_cap, s->n_chunks, 1, sizeof(size_t));
  if (st) return st;
  s->chunk_end[s->n_chunks++] = s->hdr_len;
  return IMS_OK;
}

ims_status jpg_side_add_segx(jpg_side *s, const jpg_segx *x, const uint8_t *extra) {
  ims_status st;
  jpg_segx y = *x;
  if (y.flags & JPG_SEGX_EXTRA) {
    st = grow((void **)&s->pool, &s->pool_cap, s->pool_len, y.extra_len, 1);
    if (st) return st;
    memcpy(s->pool + s->pool_len, extra, y.extra_len);
    y.extra_off = s->pool_len;
    s->pool_len += y.extra_len;
  }
  /* The same segment may get a FILL record after its end record: merge. */
  if (s->n_segx && s->segx[s->n_segx - 1].seg == y.seg) {
    jpg_segx *z = &s->segx[s->n_segx - 1];
    z->flags |= y.flags;
    if (y.flags & JPG_SEGX_FILL) z->n_fill = y.n_fill;
    return IMS_OK;
  }
  st = grow((void **)&s->segx, &s->segx_cap, s->n_segx, 1, sizeof(jpg_segx));
  if (st) return st;
  s->segx[s->n_segx++] = y;
  return IMS_OK;
}

ims_status jpg_side_add_eobx(jpg_side *s, uint32_t scan, uint32_t block, uint32_t run) {
  ims_status st = grow((void **)&s->eobx, &s->eobx_cap, s->n_eobx, 1, sizeof(jpg_eobx));
  if (st) return st;
  s->eobx[s->n_eobx].scan = scan;
  s->eobx[s->n_eobx].block = block;
  s->eobx[s->n_eobx].run = run;
  s->n_eobx++;
  return IMS_OK;
}

/* ---------------------------------------------------------------- writing */

static ims_status put_var(buf *b, uint64_t v) {
  uint8_t t[10];
  size_t n = 0;
  do {
    uint8_t byte = (uint8_t)(v & 0x7Fu);
    v >>= 7;
    t[n++] = (uint8_t)(byte | (v ? 0x80u : 0u));
  } while (v);
  return buf_append(b, t, n);
}

enum { T_RAW = 0, T_DHT_STD = 1 };

/* A DHT segment (payload p, n bytes) made only of Annex K tables: writes its tokens. */
static bool dht_all_std(const uint8_t *p, size_t n, uint8_t *ids, size_t *n_ids) {
  size_t i = 0, k = 0;
  while (i < n) {
    if (k == 8) return false;
    uint8_t tcth = p[i];
    uint8_t bits[17];
    const uint8_t *vals;
    unsigned nv;
    if (!jpg_std_huff(tcth >> 4, tcth & 15u, bits, &vals, &nv)) return false;
    if (n - i < 17 + (size_t)nv) return false;
    if (memcmp(p + i + 1, bits + 1, 16) != 0 || memcmp(p + i + 17, vals, nv) != 0) return false;
    ids[k++] = tcth;
    i += 17 + nv;
  }
  *n_ids = k;
  return k > 0;
}

/* Writes a chunk as tokens: DHT segments of standard tables shrink to a byte per table,
 * everything else (including any bytes between segments) is raw. */
static ims_status put_chunk(buf *b, const uint8_t *p, size_t n) {
  ims_status st;
  size_t raw_start = 0, i = 0;
  while (i + 4 <= n) {
    if (p[i] == 0xFF && p[i + 1] == 0xC4) {
      size_t seglen = (size_t)p[i + 2] << 8 | p[i + 3];
      uint8_t ids[8];
      size_t n_ids;
      if (seglen >= 2 && seglen <= n - i - 2 && dht_all_std(p + i + 4, seglen - 2, ids, &n_ids)) {
        if (i > raw_start) {
          if ((st = buf_append_u8(b, T_RAW)) || (st = put_var(b, i - raw_start)) ||
              (st = buf_append(b, p + raw_start, i - raw_start)))
            return st;
        }
        if ((st = buf_append_u8(b, T_DHT_STD)) || (st = put_var(b, n_ids)) || (st = buf_append(b, ids, n_ids)))
          return st;
        i += 2 + seglen;
        raw_start = i;
        continue;
      }
    }
    i++;
  }
  if (n > raw_start) {
    if ((st = buf_append_u8(b, T_RAW)) || (st = put_var(b, n - raw_start)) ||
        (st = buf_append(b, p + raw_start, n - raw_start)))
      return st;
  }
  return IMS_OK;
}

ims_status jpg_side_write(const jpg_image *img, buf *out, ims_err *err) {
  const jpg_side *s = img->side;
  ims_status st;
  if (!s) return ims_fail(err, IMS_E_ARG, "image has no side information");
  if ((st = buf_append_u8(out, SIDE_VERSION)) || (st = put_var(out, s->n_chunks))) goto fail;
  size_t prev = 0;
  for (size_t c = 0; c < s->n_chunks; c++) {
    size_t n = s->chunk_end[c] - prev;
    if ((st = put_var(out, n)) || (st = put_chunk(out, s->hdr + prev, n))) goto fail;
    prev = s->chunk_end[c];
  }
  if ((st = put_var(out, s->n_segx))) goto fail;
  uint64_t next_seg = 0;
  for (size_t i = 0; i < s->n_segx; i++) {
    const jpg_segx *x = &s->segx[i];
    if ((st = put_var(out, x->seg - next_seg)) || (st = buf_append_u8(out, x->flags))) goto fail;
    if ((x->flags & JPG_SEGX_PAD) && (st = buf_append_u8(out, x->pad))) goto fail;
    if ((x->flags & JPG_SEGX_FILL) && (st = put_var(out, x->n_fill))) goto fail;
    if ((x->flags & JPG_SEGX_SHORT) && (st = put_var(out, x->n_short))) goto fail;
    if (x->flags & JPG_SEGX_EXTRA) {
      if ((st = put_var(out, x->extra_len)) || (st = buf_append(out, s->pool + x->extra_off, x->extra_len))) goto fail;
    }
    if ((x->flags & JPG_SEGX_TRUNC) && (st = put_var(out, x->trunc_mcu))) goto fail;
    next_seg = x->seg + 1;
  }
  if ((st = put_var(out, s->n_eobx))) goto fail;
  uint32_t scan = 0, block = 0;
  for (size_t i = 0; i < s->n_eobx; i++) {
    const jpg_eobx *x = &s->eobx[i];
    if ((st = put_var(out, x->scan - scan))) goto fail;
    if ((st = put_var(out, x->scan == scan ? x->block - block : x->block))) goto fail;
    if ((st = put_var(out, x->run))) goto fail;
    scan = x->scan;
    block = x->block;
  }
  return IMS_OK;
fail:
  return ims_fail(err, st, "writing JPEG side information: %s", ims_strerror(st));
}

/* ---------------------------------------------------------------- reading */

static bool get_var(rd *r, uint64_t *v) {
  uint64_t x = 0;
  for (unsigned sh = 0; sh < 64; sh += 7) {
    uint8_t b;
    if (!rd_u8(r, &b)) return false;
    if (sh == 63 && b > 1) return false;
    x |= (uint64_t)(b & 0x7Fu) << sh;
    if (!(b & 0x80u)) {
      *v = x;
      return true;
    }
  }
  return false;
}

static bool get_size(rd *r, size_t max, size_t *v) {
  uint64_t x;
  if (!get_var(r, &x) || x > max) return false;
  *v = (size_t)x;
  return true;
}

/* Rebuilds a chunk of n bytes from its tokens into s->hdr. */
static ims_status get_chunk(rd *r, jpg_side *s, size_t n) {
  ims_status st;
  size_t done = 0;
  while (done < n) {
    uint8_t kind;
    if (!rd_u8(r, &kind)) return IMS_E_CORRUPT;
    if (kind == T_RAW) {
      size_t m;
      const uint8_t *p;
      if (!get_size(r, n - done, &m) || m == 0 || !rd_bytes(r, m, &p)) return IMS_E_CORRUPT;
      if ((st = jpg_side_add_hdr(s, p, m))) return st;
      done += m;
    } else if (kind == T_DHT_STD) {
      size_t k;
      const uint8_t *ids;
      if (!get_size(r, 8, &k) || k == 0 || !rd_bytes(r, k, &ids)) return IMS_E_CORRUPT;
      size_t seglen = 2;
      for (size_t i = 0; i < k; i++) {
        uint8_t bits[17];
        const uint8_t *vals;
        unsigned nv;
        if (!jpg_std_huff(ids[i] >> 4, ids[i] & 15u, bits, &vals, &nv)) return IMS_E_CORRUPT;
        seglen += 17 + nv;
      }
      if (seglen + 2 > n - done) return IMS_E_CORRUPT;
      uint8_t head[4] = {0xFF, 0xC4, (uint8_t)(seglen >> 8), (uint8_t)seglen};
      if ((st = jpg_side_add_hdr(s, head, 4))) return st;
      for (size_t i = 0; i < k; i++) {
        uint8_t bits[17];
        const uint8_t *vals;
        unsigned nv;
        (void)jpg_std_huff(ids[i] >> 4, ids[i] & 15u, bits, &vals, &nv);
        if ((st = jpg_side_add_hdr(s, &ids[i], 1)) || (st = jpg_side_add_hdr(s, bits + 1, 16)) ||
            (st = jpg_side_add_hdr(s, vals, nv)))
          return st;
      }
      done += seglen + 2;
    } else {
      return IMS_E_CORRUPT;
    }
  }
  return IMS_OK;
}

static ims_status side_read(const uint8_t *data, size_t len, const jpg_limits *lim, bool zero, jpg_image **out,
                            ims_err *err) {
  ims_status st = IMS_E_CORRUPT;
  jpg_image *img = NULL;
  jpg_hdr *h = NULL;
  rd r = rd_make(data, len);
  uint8_t ver;
  *out = NULL;
  if (!rd_u8(&r, &ver)) goto corrupt;
  if (ver != SIDE_VERSION) return ims_fail(err, IMS_E_VERSION, "JPEG side information version %u", ver);
  img = calloc(1, sizeof *img);
  h = malloc(sizeof *h);
  if (!img || !h || !(img->side = jpg_side_new())) {
    st = IMS_E_NOMEM;
    goto fail;
  }
  jpg_side *s = img->side;
  size_t n_chunks;
  /* Each chunk holds at least an SOS segment (but the last), so the count is bounded. */
  if (!get_size(&r, (size_t)lim->max_scans + 1, &n_chunks) || n_chunks < 2) goto corrupt;
  for (size_t c = 0; c < n_chunks; c++) {
    size_t n;
    if (!get_size(&r, lim->max_bytes, &n)) goto corrupt;
    if (c + 1 < n_chunks && n == 0) goto corrupt;
    if ((st = get_chunk(&r, s, n)) || (st = jpg_side_end_chunk(s))) goto fail;
    if (s->hdr_len > lim->max_bytes) goto corrupt;
  }
  size_t n_segx;
  if (!get_size(&r, rd_left(&r), &n_segx)) goto corrupt;
  uint64_t next_seg = 0;
  for (size_t i = 0; i < n_segx; i++) {
    jpg_segx x;
    uint64_t d;
    const uint8_t *extra = NULL;
    memset(&x, 0, sizeof x);
    if (!get_var(&r, &d) || !ims_add_u64(next_seg, d, &x.seg) || !rd_u8(&r, &x.flags)) goto corrupt;
    if (!x.flags || (x.flags & ~63u) || ((x.flags & JPG_SEGX_END) && !(x.flags & JPG_SEGX_TRUNC)) ||
        ((x.flags & JPG_SEGX_TRUNC) && !(x.flags & JPG_SEGX_SHORT)) || ((x.flags & JPG_SEGX_SHORT) && (x.flags & (JPG_SEGX_PAD | JPG_SEGX_EXTRA))))
      goto corrupt;
    if ((x.flags & JPG_SEGX_PAD) && !rd_u8(&r, &x.pad)) goto corrupt;
    size_t v;
    if (x.flags & JPG_SEGX_FILL) {
      if (!get_size(&r, UINT32_MAX, &v)) goto corrupt;
      x.n_fill = (uint32_t)v;
    }
    if (x.flags & JPG_SEGX_SHORT) {
      if (!get_size(&r, UINT32_MAX, &v) || v == 0) goto corrupt;
      x.n_short = (uint32_t)v;
    }
    if (x.flags & JPG_SEGX_EXTRA) {
      if (!get_size(&r, rd_left(&r), &x.extra_len) || x.extra_len == 0 || !rd_bytes(&r, x.extra_len, &extra))
        goto corrupt;
    }
    if (x.flags & JPG_SEGX_TRUNC) {
      if (!get_size(&r, UINT32_MAX, &v)) goto corrupt;
      x.trunc_mcu = (uint32_t)v;
    }
    if ((st = jpg_side_add_segx(s, &x, extra))) goto fail;
    if (x.seg == UINT64_MAX) goto corrupt;
    next_seg = x.seg + 1;
  }
  size_t n_eobx;
  if (!get_size(&r, rd_left(&r), &n_eobx)) goto corrupt;
  uint64_t scan = 0, block = 0;
  for (size_t i = 0; i < n_eobx; i++) {
    uint64_t ds, b, run;
    if (!get_var(&r, &ds) || !get_var(&r, &b) || !get_var(&r, &run)) goto corrupt;
    if (i > 0 && ds == 0) {
      if (b == 0 || !ims_add_u64(block, b, &b)) goto corrupt;
    }
    if (!ims_add_u64(scan, ds, &scan) || scan >= n_chunks || b > UINT32_MAX || run > JPG_MAX_EOBRUN) goto corrupt;
    if ((st = jpg_side_add_eobx(s, (uint32_t)scan, (uint32_t)b, (uint32_t)run))) goto fail;
    block = b;
  }
  if (rd_left(&r) != 0) goto corrupt;

  /* Walk the chunks like a file: this validates them and sets geometry, qt and coef. */
  jpg_hdr_init(h, img, lim, true);
  h->coef_unset = !zero;
  size_t start = 0;
  for (size_t c = 0; c < n_chunks; c++) {
    size_t pos = start;
    jpg_stop stop;
    if ((st = jpg_hdr_next(h, s->hdr, s->chunk_end[c], &pos, &stop, err))) goto fail_msg;
    bool last = c + 1 == n_chunks;
    if (last ? stop == JPG_STOP_SOS : (stop != JPG_STOP_SOS || pos != s->chunk_end[c])) goto corrupt;
    start = s->chunk_end[c];
  }
  free(h);
  *out = img;
  return IMS_OK;
corrupt:
  st = IMS_E_CORRUPT;
fail:
  ims_fail(err, st, "JPEG side information: %s", st == IMS_E_CORRUPT ? "malformed" : ims_strerror(st));
fail_msg:
  free(h);
  jpg_free(img);
  return st;
}

ims_status jpg_side_read(const uint8_t *data, size_t len, const jpg_limits *lim, jpg_image **out, ims_err *err) {
  return side_read(data, len, lim, true, out, err);
}

ims_status jpg_side_read_unset(const uint8_t *data, size_t len, const jpg_limits *lim, jpg_image **out,
                               ims_err *err) {
  return side_read(data, len, lim, false, out, err);
}
