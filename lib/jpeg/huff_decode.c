/* jpg_decode: Huffman decoding of every scan into coefficients (T.81 F.2, G.2), recording
 * where the file's encoder did not behave like the canonical one (see jpeg_internal.h).
 *
 * Each restart segment is unstuffed into a buffer followed by JPG_UPAD zero bytes; symbols
 * are read through 64-bit big-endian windows, so the hot loops have no bounds check: one
 * MCU reads at most 10 blocks * 256 bytes, and the position is checked after each MCU.
 *
 * Speed (docs/DESIGN.md, Pipeline speed): sequential scans keep their bits in a register
 * refilled without a branch, and look up each code in a per-scan table of DEC_FAST_BITS
 * bits that gives its length, run and size; the value bits are then extracted and
 * sign-extended without a branch. End-of-block, ZRL and longer codes take a slower path. */
#include <stdlib.h>
#include <string.h>
#include "common/mem.h"
#include "jpeg/dc_thumb.h"
#include "jpeg/jpeg_internal.h"

#define JPG_UPAD 4096u

/* A scan's decoding table: q[next DEC_FAST_BITS bits] = (code length + size) | size << 5 |
 * run << 9 (the bits to skip first: the next window depends on them alone), with DQ_ZERO
 * set for a symbol of size 0 in an AC table (EOB, ZRL, EOBn; a DC difference of 0 is an
 * ordinary entry), and 0 when the code is longer, a repeated symbol's later code, or no
 * code at all (decoded by the canonical walk, huff_walk). */
#define DEC_FAST_BITS 10
#define DQ_ZERO 0x8000u

typedef struct dtab {
  uint16_t q[1u << DEC_FAST_BITS];
} dtab;

typedef struct dctx {
  const jpg_image *img;
  jpg_side *side;
  ims_err *err;
  uint8_t *u;     /* unstuffed segment + JPG_UPAD zeros */
  size_t u_len;   /* valid bytes */
  size_t u_dirty; /* u[u_dirty..] are zero */
  size_t pos;     /* bit position */
  uint32_t scan_no;
  uint64_t seg_no; /* global restart segment number */
  /* the current scan */
  const jpg_scan *sc;
  const jpg_huff *dc[4], *ac[4];
  const uint16_t *dq[4], *aq[4];
  dtab *tabs; /* 8: dq and aq point into them */
  /* progressive AC state */
  uint32_t eobrun;  /* blocks left in the current EOB run, including none */
  uint32_t run_len; /* length of the current run as coded */
  uint32_t sim_n, sim_be;
  bool pend;        /* a run ended after block pend_b; was it forced out? */
  bool pend_c;
  uint32_t pend_b;
} dctx;

static void build_dtab(const jpg_huff *t, bool ac, dtab *x) {
  memset(x->q, 0, sizeof x->q);
  uint32_t code = 0;
  unsigned k = 0;
  for (unsigned l = 1; l <= DEC_FAST_BITS; l++) {
    for (unsigned i = 0; i < t->bits[l]; i++, k++, code++) {
      if (!t->first[k]) continue;
      unsigned sym = t->vals[k], r = sym >> 4, sz = sym & 15u;
      uint16_t e = (uint16_t)((l + sz) | sz << 5 | r << 9 | (ac && sz == 0 ? DQ_ZERO : 0u));
      unsigned shift = DEC_FAST_BITS - l;
      for (uint32_t j = 0; j < (1u << shift); j++) x->q[(code << shift) + j] = e;
    }
    code <<= 1;
  }
}

static inline uint64_t load_be64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

/* 64 bits starting at bit pos (at least 57 valid). */
static inline uint64_t peek(const dctx *d) { return load_be64(d->u + (d->pos >> 3)) << (d->pos & 7u); }

static inline uint32_t get_bits(dctx *d, unsigned n) {
  if (n == 0) return 0;
  uint32_t v = (uint32_t)(peek(d) >> (64u - n));
  d->pos += n;
  return v;
}

/* The canonical decoding of one symbol from window w (T.81 F.2.2.3): returns its length, 0
 * for a bad code (with *sym 256 for a repeated symbol's later code, which cannot be
 * re-encoded). */
static __attribute__((noinline)) unsigned huff_walk(const jpg_huff *t, uint64_t w, unsigned *sym) {
  for (unsigned l = 1; l <= 16; l++) {
    int32_t code = (int32_t)(w >> (64 - l));
    if (code <= t->maxcode[l]) {
      int32_t i = code + t->valoff[l];
      if (i < 0 || i >= t->n_vals) break;
      if (!t->first[i]) {
        *sym = 256;
        return 0;
      }
      *sym = t->vals[i];
      return l;
    }
  }
  *sym = 0;
  return 0;
}

static inline unsigned huff_sym(const jpg_huff *t, const uint16_t *q, uint64_t w, unsigned *sym) {
  unsigned e = q[w >> (64 - DEC_FAST_BITS)];
  if (e) {
    *sym = (e >> 5) & 0xFFu;
    return (e & 31u) - ((e >> 5) & 15u);
  }
  return huff_walk(t, w, sym);
}

static inline int32_t extend(uint32_t v, unsigned s) {
  return (s && v < (1u << (s - 1))) ? (int32_t)v - (int32_t)((1u << s) - 1) : (int32_t)v;
}

static ims_status bad_code(dctx *d, unsigned sym) {
  if (sym == 256) return ims_fail(d->err, IMS_E_UNSUPPORTED, "scan %u: Huffman code of a repeated symbol", d->scan_no);
  return ims_fail(d->err, IMS_E_CORRUPT, "scan %u: bad Huffman code", d->scan_no);
}
static ims_status noncanon(dctx *d, const char *what) {
  return ims_fail(d->err, IMS_E_UNSUPPORTED, "scan %u: %s (not exactly re-encodable)", d->scan_no, what);
}

/* The bit reader of sequential scans: the next cnt bits (56 to 63 between symbols) are the
 * top of buf, the bits below them the following data or zero; p is the byte after the
 * last whole byte in buf. Bits read: (p - u) * 8 - cnt. pk is the table index of the next
 * symbol (the top DEC_FAST_BITS bits of buf), taken before the refill that follows each
 * symbol: the lookup of a symbol then waits for the previous one's length only, not for
 * the refill's load. */
typedef struct br {
  uint64_t buf;
  unsigned cnt;
  unsigned pk;
  const uint8_t *p;
} br;

/* Drops n <= 31 bits and refills (no branch); pk becomes the next peek bits (a constant). */
static inline __attribute__((always_inline)) void br_skip_peek(br *b, unsigned n, unsigned peek) {
  uint64_t x = b->buf << n;
  unsigned c = b->cnt - n; /* >= 25 */
  b->pk = (unsigned)(x >> (64 - peek));
  b->buf = x | load_be64(b->p) >> c;
  b->p += (63u - c) >> 3;
  b->cnt = c | 56u;
}

static inline __attribute__((always_inline)) void br_skip(br *b, unsigned n) { br_skip_peek(b, n, DEC_FAST_BITS); }

static inline br br_at(const dctx *d) {
  br b = {0, 0, 0, d->u + (d->pos >> 3)};
  b.buf = load_be64(b.p);
  b.p += 7;
  b.cnt = 56;
  br_skip(&b, (unsigned)(d->pos & 7u));
  return b;
}

static inline size_t br_pos(const dctx *d, const br *b) { return (size_t)(b->p - d->u) * 8u - b->cnt; }

/* value bits v of size s read from the top of x, sign-extended (T.81 F.2.2.1 EXTEND):
 * a top bit of 0 means v - (2^s - 1). s = 0 gives 0. */
static inline __attribute__((always_inline)) int32_t take_value(uint64_t x, unsigned s) {
  uint32_t v = (uint32_t)((x >> 1) >> (63u - s));
  uint32_t neg = (uint32_t)(x >> 63) - 1u;
  return (int32_t)(v - (((1u << s) - 1u) & neg));
}

/* Sequential block (T.81 F.2.2) from the reader b. pred is the component's last DC, kept
 * modulo 2^16. Returns IMS_OK or the error; the fast path handles a coefficient whose code
 * is in the table, the rest goes through huff_walk. */
static inline __attribute__((always_inline)) ims_status dec_seq(dctx *d, br *b, const jpg_huff *dc,
                                                                 const uint16_t *dq, const jpg_huff *ac,
                                                                 const uint16_t *aq, int16_t *blk, int16_t *pred) {
  uint64_t x = b->buf;
  unsigned e = dq[b->pk], l, s, t;
  if (__builtin_expect(e != 0, 1)) {
    t = e & 31u;
    s = (e >> 5) & 15u;
    l = t - s;
  } else {
    l = huff_walk(dc, x, &s);
    if (!l) return bad_code(d, s);
    t = l + s;
  }
  br_skip(b, t);
  *pred = (int16_t)(uint16_t)((uint32_t)(uint16_t)*pred + (uint32_t)take_value(x << l, s));
  blk[0] = *pred;
  unsigned k = 1;
  bool zrl = false;
  while (k < 64) {
    x = b->buf;
    e = aq[b->pk];
    unsigned r;
    if (__builtin_expect((e - 1u) < DQ_ZERO - 1u, 1)) { /* a coefficient: size >= 1 */
      t = e & 31u;
      s = (e >> 5) & 15u;
      r = e >> 9;
      l = t - s;
    } else {
      unsigned sym;
      if (e) {
        l = e & 31u;
        sym = (e >> 5) & 0xFFu;
      } else {
        l = huff_walk(ac, x, &sym);
        if (!l) return bad_code(d, sym);
      }
      r = sym >> 4;
      s = sym & 15u;
      if (s == 0) {
        br_skip(b, l);
        if (r == 15) {
          k += 16;
          zrl = true;
          continue;
        }
        if (r) return noncanon(d, "end-of-run symbol in a sequential scan");
        break;
      }
      t = l + s;
    }
    br_skip(b, t);
    k += r;
    if (k > 63) return ims_fail(d->err, IMS_E_CORRUPT, "scan %u: coefficient index past 63", d->scan_no);
    blk[k++] = (int16_t)take_value(x << l, s);
    zrl = false;
  }
  if (zrl) return noncanon(d, "zero run not followed by a coefficient");
  return IMS_OK;
}

static ims_status dec_dc_first(dctx *d, const jpg_huff *dc, const uint16_t *dq, int16_t *blk, int32_t *pred,
                               unsigned al) {
  uint64_t w = peek(d);
  unsigned s, l = huff_sym(dc, dq, w, &s);
  if (!l) return bad_code(d, s);
  uint32_t v = s ? (uint32_t)((w << l) >> (64 - s)) : 0;
  d->pos += l + s;
  int32_t x = *pred + extend(v, s);
  if (al == 0) {
    x = (int16_t)(uint16_t)(uint32_t)x; /* modulo 2^16 like libjpeg's (JCOEF) cast */
  } else if (x < -(32768 >> al) || x > (32767 >> al)) {
    return noncanon(d, "DC coefficient out of range");
  }
  *pred = x;
  blk[0] = (int16_t)(x * (1 << al));
  return IMS_OK;
}

/* The canonical flush decision after a block that ended in an EOB run. */
static inline bool canon_flush(const dctx *d) { return d->sim_n == JPG_MAX_EOBRUN || d->sim_be > JPG_MAX_BE; }

/* Called with the first symbol of a block that did not start inside a run. */
static ims_status resolve_pend(dctx *d, bool starts_eob) {
  ims_status st = IMS_OK;
  if (d->pend && starts_eob && !d->pend_c) st = jpg_side_add_eobx(d->side, d->scan_no, d->pend_b, 0);
  d->pend = false;
  return st;
}

/* Bookkeeping after a block that ended inside an EOB run (tail bits: its correction bits). */
static ims_status after_tail(dctx *d, uint32_t bidx, unsigned tail_bits, bool last_in_seg) {
  d->sim_n++;
  d->sim_be += tail_bits;
  bool c = canon_flush(d);
  if (d->eobrun > 0) {
    if (last_in_seg) {
      /* The run reaches past the restart segment: the encoder must write it as coded. */
      d->eobrun = 0;
      d->sim_n = d->sim_be = 0;
      return jpg_side_add_eobx(d->side, d->scan_no, bidx, d->run_len);
    }
    if (c) return jpg_side_add_eobx(d->side, d->scan_no, bidx, 0);
    return IMS_OK;
  }
  d->sim_n = d->sim_be = 0;
  if (!last_in_seg) {
    d->pend = true;
    d->pend_c = c;
    d->pend_b = bidx;
  }
  return IMS_OK;
}

static ims_status dec_ac_first(dctx *d, const jpg_huff *ac, const uint16_t *aq, int16_t *blk, const jpg_scan *sc,
                               uint32_t bidx, bool last_in_seg) {
  ims_status st;
  if (d->eobrun > 0) {
    d->eobrun--;
    return after_tail(d, bidx, 0, last_in_seg);
  }
  unsigned k = sc->ss, al = sc->al;
  bool zrl = false, first = true;
  while (k <= sc->se) {
    uint64_t w = peek(d);
    unsigned sym, l = huff_sym(ac, aq, w, &sym);
    if (!l) return bad_code(d, sym);
    unsigned r = sym >> 4, s = sym & 15u;
    if (first) {
      first = false;
      st = resolve_pend(d, s == 0 && r != 15);
      if (st) return st;
    }
    if (s) {
      k += r;
      if (k > sc->se) return ims_fail(d->err, IMS_E_CORRUPT, "scan %u: coefficient index past Se", d->scan_no);
      uint32_t v = (uint32_t)((w << l) >> (64 - s));
      d->pos += l + s;
      int32_t x = extend(v, s);
      if ((x < 0 ? -x : x) > (32767 >> al)) return noncanon(d, "AC coefficient out of range");
      blk[k++] = (int16_t)(x * (1 << al));
      zrl = false;
    } else if (r == 15) {
      d->pos += l;
      k += 16;
      zrl = true;
    } else {
      if (zrl) return noncanon(d, "zero run not followed by a coefficient");
      uint32_t w2 = r ? (uint32_t)((w << l) >> (64 - r)) : 0;
      d->pos += l + r;
      d->run_len = (1u << r) + w2;
      d->eobrun = d->run_len - 1;
      return after_tail(d, bidx, 0, last_in_seg);
    }
  }
  if (zrl) return noncanon(d, "zero run not followed by a coefficient");
  return IMS_OK;
}

static ims_status dec_ac_refine(dctx *d, const jpg_huff *ac, const uint16_t *aq, int16_t *blk, const jpg_scan *sc,
                                uint32_t bidx, bool last_in_seg) {
  ims_status st;
  const int p1 = 1 << sc->al, m1 = -p1;
  unsigned k = sc->ss;
  if (d->eobrun == 0) {
    bool zrl = false, first = true;
    for (; k <= sc->se; k++) {
      uint64_t w = peek(d);
      unsigned sym, l = huff_sym(ac, aq, w, &sym);
      if (!l) return bad_code(d, sym);
      unsigned r = sym >> 4, s = sym & 15u;
      int val = 0;
      if (first) {
        first = false;
        st = resolve_pend(d, s == 0 && r != 15);
        if (st) return st;
      }
      if (s) {
        if (s != 1) return ims_fail(d->err, IMS_E_CORRUPT, "scan %u: bad refinement symbol", d->scan_no);
        d->pos += l;
        val = get_bits(d, 1) ? p1 : m1;
        zrl = false;
      } else if (r != 15) {
        if (zrl) return noncanon(d, "zero run not followed by a coefficient");
        d->pos += l;
        d->run_len = (1u << r) + get_bits(d, r);
        d->eobrun = d->run_len;
        break;
      } else {
        d->pos += l;
        zrl = true;
      }
      /* Skip r zero coefficients, refining the nonzero ones on the way (G.1.2.3). */
      int rr = (int)r;
      for (;;) {
        if (k > sc->se) {
          if (s) return ims_fail(d->err, IMS_E_CORRUPT, "scan %u: refinement run past Se", d->scan_no);
          return noncanon(d, "zero run past the end of the band");
        }
        int16_t *c = &blk[k];
        if (*c != 0) {
          if (get_bits(d, 1)) *c = (int16_t)(*c + (*c >= 0 ? p1 : m1));
        } else {
          if (--rr < 0) break;
        }
        k++;
      }
      if (s) blk[k] = (int16_t)val;
    }
    if (d->eobrun == 0) {
      if (zrl) return noncanon(d, "zero run not followed by a coefficient");
      return IMS_OK;
    }
  }
  /* Inside an EOB run: correction bits for the nonzero coefficients left (at most 63, read
   * from one window refilled every 56 bits; a correction never makes a coefficient zero). */
  unsigned nbits = 0, used = 0;
  uint64_t w = peek(d);
  uint64_t m = k <= sc->se ? jpg_nz_mask(blk) & (~(uint64_t)0 << k) & (~(uint64_t)0 >> (63u - sc->se)) : 0;
  while (m) {
    int16_t *c = &blk[__builtin_ctzll(m)];
    m &= m - 1;
    if (used == 56) {
      d->pos += used;
      w = peek(d);
      used = 0;
    }
    nbits++;
    if (w >> 63) *c = (int16_t)(*c + (*c >= 0 ? p1 : m1));
    w <<= 1;
    used++;
  }
  d->pos += used;
  d->eobrun--;
  return after_tail(d, bidx, nbits, last_in_seg);
}

/* Finds the end of a segment's entropy-coded data: the first 0xFF not followed by 0x00
 * (or a 0xFF that is the last byte), or the end of data; unstuffs it into d->u. */
static size_t unstuff(dctx *d, const uint8_t *data, size_t len, size_t start) {
  size_t i = start, o = 0;
  for (;;) {
    const uint8_t *q = memchr(data + i, 0xFF, len - i);
    size_t j = q ? (size_t)(q - data) : len;
    memcpy(d->u + o, data + i, j - i);
    o += j - i;
    if (!q || j + 1 >= len || data[j + 1] != 0x00) {
      i = j;
      break;
    }
    d->u[o++] = 0xFF;
    i = j + 2;
  }
  d->u_len = o;
  /* Bytes at and after u_dirty are still zero (calloc); the decoder reads at most JPG_UPAD
   * bytes past the data. */
  if (d->u_dirty > o) memset(d->u + o, 0, d->u_dirty - o < JPG_UPAD ? d->u_dirty - o : JPG_UPAD);
  else d->u_dirty = o;
  return i;
}

/* Records how the segment's data ended (bits decoded: d->pos; trunc: the MCU where the
 * data ran out, relative to the segment, or -1). */
static ims_status finish_segment(dctx *d, int64_t trunc, bool ends) {
  size_t nbits = d->pos, nbytes = (nbits + 7) / 8;
  jpg_segx x;
  memset(&x, 0, sizeof x);
  x.seg = d->seg_no;
  const uint8_t *extra = NULL;
  if (trunc >= 0) {
    x.flags |= JPG_SEGX_SHORT | JPG_SEGX_TRUNC;
    x.n_short = (uint32_t)(nbytes - d->u_len);
    x.trunc_mcu = (uint32_t)trunc;
    if (ends) x.flags |= JPG_SEGX_END;
  } else {
    unsigned npad = (unsigned)(nbytes * 8 - nbits);
    if (npad) {
      unsigned pad = d->u[nbytes - 1] & ((1u << npad) - 1);
      if (pad != (1u << npad) - 1) {
        x.flags |= JPG_SEGX_PAD;
        x.pad = (uint8_t)pad;
      }
    }
    if (d->u_len > nbytes) {
      x.flags |= JPG_SEGX_EXTRA;
      x.extra_len = d->u_len - nbytes;
      extra = d->u + nbytes;
    }
  }
  if (!x.flags) return IMS_OK;
  return jpg_side_add_segx(d->side, &x, extra);
}

/* Sequential MCUs [mcu, end) of a segment. *trunc: the MCU where the data ran out,
 * counted from the segment's first (mcu_first), or left alone. */
static ims_status seg_seq(dctx *d, uint64_t mcu, uint64_t end, uint64_t mcu_first, int64_t *trunc) {
  const jpg_scan *sc = d->sc;
  /* Everything the loop reads lives in locals: the coefficient stores could alias it. */
  unsigned nbl = sc->n_blocks, mcus_x = sc->mcus_x;
  const jpg_huff *dc[JPG_MAX_BLOCKS_IN_MCU], *ac[JPG_MAX_BLOCKS_IN_MCU];
  const uint16_t *dq[JPG_MAX_BLOCKS_IN_MCU], *aq[JPG_MAX_BLOCKS_IN_MCU];
  int16_t *blk[JPG_MAX_BLOCKS_IN_MCU];
  size_t step[JPG_MAX_BLOCKS_IN_MCU];
  unsigned si[JPG_MAX_BLOCKS_IN_MCU];
  for (unsigned b = 0; b < nbl; b++) {
    si[b] = sc->blk_si[b];
    dc[b] = d->dc[si[b]];
    ac[b] = d->ac[si[b]];
    dq[b] = d->dq[si[b]];
    aq[b] = d->aq[si[b]];
    step[b] = (size_t)sc->blk_sx[b] * 64u;
  }
  uint32_t mx = (uint32_t)(mcu % mcus_x), my = (uint32_t)(mcu / mcus_x);
  int16_t pred[4] = {0, 0, 0, 0};
  size_t limit = 8 * d->u_len;
  br b = br_at(d);
  bool row_start = true;
  ims_status st;
  for (; mcu < end; mcu++) {
    if (row_start) {
      for (unsigned k = 0; k < nbl; k++)
        blk[k] = jpg_block(d->img, sc->blk_c[k], my * sc->blk_sy[k] + sc->blk_dy[k], mx * sc->blk_sx[k] + sc->blk_dx[k]);
      row_start = false;
    } else {
      for (unsigned k = 0; k < nbl; k++) blk[k] += step[k];
    }
    for (unsigned k = 0; k < nbl; k++)
      if ((st = dec_seq(d, &b, dc[k], dq[k], ac[k], aq[k], blk[k], &pred[si[k]]))) return st;
    if (br_pos(d, &b) > limit) {
      /* The data ran out in this MCU (libjpeg: "premature end of data"). */
      *trunc = (int64_t)(mcu - mcu_first);
      break;
    }
    if (++mx == mcus_x) {
      mx = 0;
      my++;
      row_start = true;
    }
  }
  d->pos = br_pos(d, &b);
  return IMS_OK;
}

/* Progressive MCUs [mcu, end) of a segment, as seg_seq. */
static ims_status seg_prog(dctx *d, jpg_kind kind, uint64_t mcu, uint64_t end, uint64_t mcu_first, int64_t *trunc) {
  const jpg_scan *sc = d->sc;
  const jpg_image *img = d->img;
  ims_status st = IMS_OK;
  int32_t pred32[4] = {0, 0, 0, 0};
  uint32_t mx = (uint32_t)(mcu % sc->mcus_x), my = (uint32_t)(mcu / sc->mcus_x);
  for (; mcu < end; mcu++) {
    for (unsigned b = 0; b < sc->n_blocks; b++) {
      unsigned c = sc->blk_c[b], si = sc->blk_si[b];
      int16_t *blk = jpg_block(img, c, my * sc->blk_sy[b] + sc->blk_dy[b], mx * sc->blk_sx[b] + sc->blk_dx[b]);
      switch (kind) {
      case JPG_SEQ: break;
      case JPG_DC_FIRST: st = dec_dc_first(d, d->dc[si], d->dq[si], blk, &pred32[si], sc->al); break;
      case JPG_DC_REFINE:
        if (get_bits(d, 1)) blk[0] = (int16_t)(blk[0] | (1 << sc->al));
        break;
      case JPG_AC_FIRST: st = dec_ac_first(d, d->ac[0], d->aq[0], blk, sc, (uint32_t)mcu, mcu + 1 == end); break;
      case JPG_AC_REFINE: st = dec_ac_refine(d, d->ac[0], d->aq[0], blk, sc, (uint32_t)mcu, mcu + 1 == end); break;
      }
      if (st) return st;
    }
    if (d->pos > 8 * d->u_len) {
      /* The data ran out in this MCU (libjpeg: "premature end of data"). */
      *trunc = (int64_t)(mcu - mcu_first);
      if (d->eobrun > 0) {
        jpg_side *s = d->side;
        if (s->n_eobx && s->eobx[s->n_eobx - 1].scan == d->scan_no && s->eobx[s->n_eobx - 1].block == (uint32_t)mcu)
          s->n_eobx--;
        st = jpg_side_add_eobx(s, d->scan_no, (uint32_t)mcu, d->run_len);
        if (st) return st;
      }
      break;
    }
    if (++mx == sc->mcus_x) {
      mx = 0;
      my++;
    }
  }
  return IMS_OK;
}

static ims_status decode_scan(dctx *d, jpg_hdr *h, const uint8_t *data, size_t len, size_t *pos) {
  const jpg_scan *sc = &h->scan;
  ims_status st = IMS_OK;
  size_t i = *pos;
  jpg_kind kind = jpg_scan_kind(sc);
  jpg_scan_tables(h, d->dc, d->ac);
  bool need_dc = kind == JPG_SEQ || kind == JPG_DC_FIRST, need_ac = kind == JPG_SEQ || kind >= JPG_AC_FIRST;
  for (unsigned s = 0; s < sc->ns; s++) {
    /* Tables shared by several components are built once. */
    unsigned j = 0;
    while (j < s && sc->td[j] != sc->td[s]) j++;
    if (need_dc && j == s) build_dtab(d->dc[s], false, &d->tabs[s]);
    d->dq[s] = d->tabs[j].q;
    j = 0;
    while (j < s && sc->ta[j] != sc->ta[s]) j++;
    if (need_ac && j == s) build_dtab(d->ac[s], true, &d->tabs[4 + s]);
    d->aq[s] = d->tabs[4 + j].q;
  }
  d->sc = sc;
  uint64_t mcu = 0;
  for (uint64_t seg = 0; seg < sc->n_segments; seg++, d->seg_no++) {
    i = unstuff(d, data, len, i);
    d->pos = 0;
    d->eobrun = 0;
    d->sim_n = d->sim_be = 0;
    d->pend = false;
    uint64_t mcu_end = mcu + sc->ri;
    if (mcu_end > sc->n_mcus) mcu_end = sc->n_mcus;
    int64_t trunc = -1;
    st = kind == JPG_SEQ ? seg_seq(d, mcu, mcu_end, mcu, &trunc) : seg_prog(d, kind, mcu, mcu_end, mcu, &trunc);
    if (st) return st;
    mcu = mcu_end;
    bool ends = false;
    size_t j = i;
    unsigned want = 0xD0u + (unsigned)(seg & 7u);
    if (seg + 1 < sc->n_segments) {
      while (j < len && data[j] == 0xFF) j++;
      ends = trunc >= 0 && (j == i || j >= len || data[j] != want);
    }
    st = finish_segment(d, trunc, ends);
    if (st) return st;
    if (ends) {
      d->seg_no += sc->n_segments - seg;
      break;
    }
    if (seg + 1 < sc->n_segments) {
      /* An RST marker must follow, possibly after fill bytes. */
      if (j == i || j >= len || data[j] != want)
        return ims_fail(d->err, IMS_E_CORRUPT, "scan %u: restart marker %u missing", d->scan_no, (unsigned)(seg & 7u));
      if (j - i > 1) {
        jpg_segx x;
        memset(&x, 0, sizeof x);
        x.seg = d->seg_no;
        x.flags = JPG_SEGX_FILL;
        x.n_fill = (uint32_t)(j - i - 1);
        st = jpg_side_add_segx(d->side, &x, NULL);
        if (st) return st;
      }
      i = j + 1;
    }
  }
  *pos = i;
  return IMS_OK;
}

ims_status jpg_decode(const uint8_t *data, size_t len, const jpg_limits *lim, jpg_image **out, ims_err *err) {
  ims_status st;
  jpg_image *img = NULL;
  jpg_hdr *h = NULL;
  dctx d;
  memset(&d, 0, sizeof d);
  *out = NULL;
  if (len > lim->max_bytes)
    return ims_fail(err, IMS_E_LIMIT, "%zu bytes (limit %llu)", len, (unsigned long long)lim->max_bytes);
  img = calloc(1, sizeof *img);
  h = malloc(sizeof *h);
  size_t ucap;
  if (!img || !h || !ims_add_size(len, JPG_UPAD + 8, &ucap) || !(d.u = calloc(ucap, 1)) ||
      !(img->side = jpg_side_new()) || !(d.tabs = malloc(8 * sizeof *d.tabs))) {
    st = ims_fail(err, IMS_E_NOMEM, "out of memory");
    goto fail;
  }
  jpg_hdr_init(h, img, lim, true);
  d.img = img;
  d.side = img->side;
  d.err = err;
  size_t pos = 0, chunk_start = 0;
  for (;;) {
    jpg_stop stop;
    st = jpg_hdr_next(h, data, len, &pos, &stop, err);
    if (st) goto fail;
    if (stop != JPG_STOP_SOS) {
      if (h->n_scans == 0) {
        st = ims_fail(err, IMS_E_CORRUPT, "no scan before EOI");
        goto fail;
      }
      pos = len; /* after EOI: trailing bytes, kept verbatim */
    }
    st = jpg_side_add_hdr(img->side, data + chunk_start, pos - chunk_start);
    if (!st) st = jpg_side_end_chunk(img->side);
    if (st) {
      st = ims_fail(err, st, "out of memory");
      goto fail;
    }
    if (stop != JPG_STOP_SOS) break;
    d.scan_no = h->n_scans - 1;
    st = decode_scan(&d, h, data, len, &pos);
    if (st) goto fail;
    chunk_start = pos;
  }
  free(d.u);
  free(d.tabs);
  free(h);
  *out = img;
  return IMS_OK;
fail:
  free(d.u);
  free(d.tabs);
  free(h);
  jpg_free(img);
  return st;
}

/* ---- jpg_dc_thumb (dc_thumb.h): the first component's DC, nothing else stored ---- */

enum { DCT_DEFAULT_MAX_SCANS = 256 };
#define DCT_DEFAULT_MAX_PIXELS (UINT64_C(1) << 28)

/* libjpeg's colour-space guess for three components (jdapimin.c default_decompress_parms):
 * a JFIF APP0 means YCbCr; else an Adobe APP14 with transform 0 means RGB; else ids 'R',
 * 'G', 'B' mean RGB; else YCbCr. hdr[0..n) is the header up to the first SOS, already
 * walked by jpg_hdr_next. Returns true for YCbCr. */
static bool dct_is_ycc(const uint8_t *hdr, size_t n, const jpg_image *img) {
  bool jfif = false, adobe = false;
  unsigned xform = 0;
  size_t i = 2;
  for (;;) {
    while (i < n && hdr[i] != 0xFF) i++;
    while (i < n && hdr[i] == 0xFF) i++;
    if (i >= n) break;
    uint8_t m = hdr[i++];
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD9)) continue;
    if (n - i < 2) break;
    size_t seglen = (size_t)hdr[i] << 8 | hdr[i + 1];
    if (seglen < 2 || seglen > n - i) break;
    const uint8_t *p = hdr + i + 2;
    /* libjpeg reads at most 14 (APP0) / 12 (APP14) bytes and needs them all. */
    if (m == 0xE0 && seglen - 2 >= 14 && memcmp(p, "JFIF", 5) == 0) jfif = true;
    if (m == 0xEE && seglen - 2 >= 12 && memcmp(p, "Adobe", 5) == 0) {
      adobe = true;
      xform = p[11];
    }
    if (m == 0xDA) break;
    i += seglen;
  }
  if (jfif) return true;
  if (adobe) return xform != 0;
  return !(img->comp[0].id == 'R' && img->comp[1].id == 'G' && img->comp[2].id == 'B');
}

/* AC symbols are skipped several at a time: sk[next SKIP_BITS bits] describes the run of
 * whole symbols (code and value bits) that those bits hold, from the start: their bits
 * (SK_BITS), how far they move the coefficient index (SK_ADV: r + 1 each, 16 for ZRL),
 * and SK_END when the last one ends the block (size 0, not ZRL). A group is taken only
 * while it ends inside the block (index + SK_ADV <= 63) or with its EOB. When even the
 * first symbol is longer the entry is SK_NONE (SK_ADV 63: never taken, the index being at
 * least 1), and one symbol is read through the DEC_FAST_BITS table.
 *
 * A block's first lookup goes through a start table of the same format whose first symbol
 * is the DC difference (code and value bits; SK_ADV counts the AC symbols only, and a
 * group ends at index 63 at most, as from index 1): one lookup covers the DC and the
 * first AC symbols, often the whole block. The DC value comes from the table dv (below).
 * SK_NONE there means that the DC symbol does not fit, and it is read alone. */
#define SKIP_BITS 12
#define SK_BITS 63u /* a shift by the entry takes these bits alone */
#define SK_ADV(e) (((e) >> 6) & 63u)
#define SK_END 0x8000u
#define SK_NONE (63u << 6)
#define SK_N (1u << SKIP_BITS)

/* The group of AC symbols at the start of the bits i << used (SKIP_BITS - used of them
 * known, the others taken as zeros: exact when a whole symbol lies within the known bits),
 * the coefficient index having moved by adv already (the cap: adv <= 63). Returns the SK
 * format, with used and adv counting what came before. */
static unsigned skip_group(const uint16_t *aq, uint32_t i, unsigned used, unsigned adv) {
  unsigned eob = 0;
  while (used < SKIP_BITS) {
    unsigned e = aq[((i << used) & (SK_N - 1)) >> (SKIP_BITS - DEC_FAST_BITS)];
    unsigned t = e & 31u;
    if (!e || t > SKIP_BITS - used) break;
    unsigned r = (e >> 9) & 15u;
    if (e & DQ_ZERO) {
      if (r != 15) {
        used += t;
        eob = SK_END;
        break;
      }
      r = 15; /* ZRL: 16 zeros */
    }
    if (adv + r + 1 > 63) break;
    adv += r + 1;
    used += t;
  }
  return used ? used | adv << 6 | eob : SK_NONE;
}

/* The skip table sk of AC table aq (NULL: not wanted), and the start table sk0 of DC
 * table dq followed by aq. Groups are built from the shorter ones, a whole symbol's range
 * at a time: g[a][j] is the group of the a-bit string j as skip_group gives it with
 * SKIP_BITS - a bits used before and adv 0, but with no cap on adv (bits 6 to 14 hold up
 * to 16 per bit) and 0 for no group; g[SKIP_BITS] is sk itself. A group whose adv passes
 * the cap is built again by skip_group (rare: four ZRLs). scratch holds 2^SKIP_BITS
 * entries (g[a] at scratch + 2^a for a < SKIP_BITS). */
static void build_skip(const uint16_t *dq, const uint16_t *aq, uint16_t *sk, uint16_t *sk0, uint16_t *scratch) {
  scratch[1] = 0; /* g[0]: the empty string, no group */
  for (unsigned a = 1; a <= SKIP_BITS; a++) {
    bool top = a == SKIP_BITS;
    if (top && !sk) break;
    uint16_t *g = top ? sk : scratch + (1u << a);
    for (uint32_t j = 0; j < (1u << a);) {
      unsigned e = aq[(j << (SKIP_BITS - a)) >> (SKIP_BITS - DEC_FAST_BITS)];
      unsigned t = e & 31u;
      if (!e || t > a) {
        g[j++] = (uint16_t)(top ? SK_NONE : 0u);
        continue;
      }
      /* every string with these t bits first: this symbol, then the group of the rest */
      uint32_t len = 1u << (a - t), m0 = j & (len - 1);
      unsigned r = (e >> 9) & 15u;
      uint16_t *gj = g + j - m0;
      if ((e & DQ_ZERO) && r != 15) {
        for (uint32_t m = m0; m < len; m++) gj[m] = (uint16_t)(t | SK_END);
      } else {
        const uint16_t *rest = scratch + len; /* g[a - t] */
        unsigned add = t | (r + 1u) << 6;     /* ZRL: r 15, 16 zeros */
        for (uint32_t m = m0; m < len; m++) {
          gj[m] = (uint16_t)(rest[m] + add);
          if (top && SK_ADV(gj[m]) != ((gj[m] >> 6) & 0x1FFu)) gj[m] = (uint16_t)skip_group(aq, j - m0 + m, 0, 0);
        }
      }
      j += len - m0;
    }
  }
  /* the DC symbol (SK_ADV not counting it: the cap is 62), then the group of the rest */
  for (uint32_t i = 0; i < SK_N;) {
    unsigned e = dq[i >> (SKIP_BITS - DEC_FAST_BITS)];
    unsigned t = e & 31u;
    if (!e || t > SKIP_BITS) {
      sk0[i++] = SK_NONE;
      continue;
    }
    uint32_t len = 1u << (SKIP_BITS - t), m0 = i & (len - 1);
    const uint16_t *rest = scratch + len;
    uint16_t *si = sk0 + i - m0;
    for (uint32_t m = m0; m < len; m++) {
      unsigned v = rest[m] + t;
      si[m] = (uint16_t)(((v >> 6) & 0x1FFu) > 62 ? skip_group(aq, i - m0 + m, t, 1) - (1u << 6) : v);
    }
    i += len - m0;
  }
}

/* dv[i]: the DC difference whose code and value bits start the bits i (DC table dq),
 * or 0 when they are longer than SKIP_BITS (the start table's SK_NONE). */
static void build_dv(const uint16_t *dq, int16_t *dv) {
  for (uint32_t i = 0; i < SK_N;) {
    unsigned e = dq[i >> (SKIP_BITS - DEC_FAST_BITS)];
    unsigned t = e & 31u, s = (e >> 5) & 15u;
    if (!e || t > SKIP_BITS) {
      dv[i++] = 0;
      continue;
    }
    /* every string with these t bits first has this difference */
    uint32_t len = 1u << (SKIP_BITS - t), m0 = i & (len - 1);
    int16_t v = (int16_t)take_value((uint64_t)i << (64 - SKIP_BITS + t - s), s);
    for (uint32_t m = m0; m < len; m++) dv[i - m0 + m] = v;
    i += len - m0;
  }
}

/* The walk's bit reader: br with the next SKIP_BITS bits as the index (pk). */
static inline __attribute__((always_inline)) void sk_skip(br *b, unsigned n) { br_skip_peek(b, n, SKIP_BITS); }

typedef struct dct_state {
  dctx d;
  jpg_scan sc;  /* the scan being walked */
  /* DC values of the first component's blocks, pw x ph (the MCU grid, which covers every
   * scan's blocks), then one slot that takes the other components' values */
  int16_t *dcv;
  uint32_t pw, ph;
  uint32_t ow, oh; /* the picture's blocks: ceil(width / 8) x ceil(height / 8) */
  uint16_t (*skt)[SK_N]; /* 4 skip tables, then 4 start tables (sequential scans) */
  unsigned sk[4], sk0[4]; /* each scan component's tables: indices in skt */
  int16_t *dv; /* SK_N: the DC difference of the first component that the bits start with
                * (0 when its code and value do not fit) */
  uint16_t *scratch; /* 2^SKIP_BITS entries for build_skip */
} dct_state;

/* Where block b of the current scan's MCUs goes relative to the MCU's first block of the
 * first component; *junk when it is another component's. */
static void dct_layout(const dct_state *t, size_t off[JPG_MAX_BLOCKS_IN_MCU], bool is0[JPG_MAX_BLOCKS_IN_MCU],
                       uint32_t *sx, uint32_t *sy) {
  const jpg_scan *sc = &t->sc;
  *sx = *sy = 1;
  for (unsigned b = 0; b < sc->n_blocks; b++) {
    is0[b] = sc->blk_c[b] == 0;
    off[b] = is0[b] ? (size_t)sc->blk_dy[b] * t->pw + sc->blk_dx[b] : 0;
    if (is0[b]) {
      *sx = sc->blk_sx[b];
      *sy = sc->blk_sy[b];
    }
  }
}

/* A block of the MCU as dct_segment_seq walks it: its start and AC skip tables, its
 * value's place, lm (all ones for a block of the first component) and its index in the
 * MCU. */
typedef struct dct_blk {
  const uint16_t *start, *ac;
  int16_t *dst;
  uint32_t lm, bi;
} dct_blk;

/* Sequential MCUs [mcu, end) of one restart segment (already unstuffed into t->d.u).
 * False when a code is bad or the data runs out.
 *
 * A block is one lookup in its start table (the DC symbol and the first AC symbols; the
 * DC value from dv, for the same bits), then lookups in its AC skip table until one ends
 * it. Only the first component's DC is kept (pred0, modulo 2^16: libjpeg's JCOEF cast):
 * the start lookup adds dv's value masked by lm (0 for the other components) and stores
 * pred0 as the block's value (the other components' blocks store into the junk slot),
 * with no branch on the component. libjpeg's rules for a block: a size-0 symbol other than
 * ZRL ends it, so does a run past coefficient 63.
 *
 * Against the DC read apart (its own lookup and value extraction) before the AC groups:
 * 15% fewer lookups on the time-lapse frames (30.6M against 36.2M; about half of the
 * blocks end in their start lookup). Tried and slower: all blocks of an MCU in one loop
 * of lookups, with the next table chosen without a branch (SK_END as a mask: the chain
 * from one lookup to the next grows by the selection), or by a branch. */
static bool dct_segment_seq(dct_state *t, uint64_t mcu, uint64_t end) {
  dctx *d = &t->d;
  const jpg_scan *sc = &t->sc;
  unsigned nbl = sc->n_blocks, mcus_x = sc->mcus_x;
  const jpg_huff *dc[JPG_MAX_BLOCKS_IN_MCU], *ac[JPG_MAX_BLOCKS_IN_MCU];
  const uint16_t *dq[JPG_MAX_BLOCKS_IN_MCU], *aq[JPG_MAX_BLOCKS_IN_MCU];
  dct_blk blk[JPG_MAX_BLOCKS_IN_MCU];
  size_t off[JPG_MAX_BLOCKS_IN_MCU];
  bool is0[JPG_MAX_BLOCKS_IN_MCU];
  uint32_t sx, sy;
  dct_layout(t, off, is0, &sx, &sy);
  for (unsigned k = 0; k < nbl; k++) {
    unsigned si = sc->blk_si[k];
    dc[k] = d->dc[si];
    ac[k] = d->ac[si];
    dq[k] = d->dq[si];
    aq[k] = d->aq[si];
    blk[k].start = t->skt[t->sk0[si]];
    blk[k].ac = t->skt[t->sk[si]];
    blk[k].lm = is0[k] ? ~0u : 0u;
    blk[k].bi = k;
  }
  const dct_blk *bend = blk + nbl;
  const int16_t *dv = t->dv;
  int16_t *junk = t->dcv + (size_t)t->pw * t->ph;
  uint32_t mx = (uint32_t)(mcu % mcus_x), my = (uint32_t)(mcu / mcus_x);
  int16_t *base = t->dcv + (size_t)my * sy * t->pw + (size_t)mx * sx;
  size_t limit = 8 * d->u_len;
  uint32_t pred0 = 0;
  br b = br_at(d);
  b.pk = (unsigned)(b.buf >> (64 - SKIP_BITS));
  for (; mcu < end; mcu++) {
    for (unsigned k = 0; k < nbl; k++) blk[k].dst = is0[k] ? base + off[k] : junk;
    for (const dct_blk *bp = blk; bp < bend; bp++) {
      unsigned pk = b.pk, g = bp->start[pk], k;
      uint32_t v = (uint32_t)dv[pk];
      if (__builtin_expect(g != SK_NONE, 1)) { /* the DC symbol and the first AC symbols */
        sk_skip(&b, g & SK_BITS);
        pred0 += v & bp->lm;
        k = 1 + SK_ADV(g);
        if (g & SK_END) {
          *bp->dst = (int16_t)(uint16_t)pred0;
          continue;
        }
      } else { /* a DC symbol that is not in the start table */
        uint64_t x = b.buf;
        unsigned e = dq[bp->bi][pk >> (SKIP_BITS - DEC_FAST_BITS)], l, s, n;
        if (e) {
          n = e & 31u;
          s = (e >> 5) & 15u;
          l = n - s;
        } else {
          l = huff_walk(dc[bp->bi], x, &s);
          if (!l) return false;
          n = l + s;
        }
        sk_skip(&b, n);
        pred0 += (uint32_t)take_value(x << l, s) & bp->lm;
        k = 1;
      }
      *bp->dst = (int16_t)(uint16_t)pred0;
      const uint16_t *T = bp->ac;
      for (;;) {
        g = T[b.pk];
        if (__builtin_expect(k + SK_ADV(g) <= 63, 1)) {
          sk_skip(&b, g & SK_BITS);
          k += SK_ADV(g);
          if (g & SK_END) break;
          continue;
        }
        /* one AC symbol, by the DEC_FAST_BITS table */
        unsigned e = aq[bp->bi][b.pk >> (SKIP_BITS - DEC_FAST_BITS)], l, sym;
        if (e) {
          l = e & 31u;
          sym = (e >> 5) & 0xFFu;
          if (!(e & DQ_ZERO)) l -= sym & 15u;
        } else {
          l = huff_walk(ac[bp->bi], b.buf, &sym);
          if (!l) return false;
        }
        unsigned r = sym >> 4, s = sym & 15u;
        sk_skip(&b, l + s);
        k += s ? r + 1u : r == 15 ? 16u : 64u;
        if (k >= 64) break;
      }
    }
    if (br_pos(d, &b) > limit) return false;
    base += sx;
    if (++mx == mcus_x) {
      mx = 0;
      my++;
      base = t->dcv + (size_t)my * sy * t->pw;
    }
  }
  return true;
}

/* Progressive DC MCUs [mcu, end) of one restart segment, as dct_segment_seq. */
static bool dct_segment_dc(dct_state *t, jpg_kind kind, uint64_t mcu, uint64_t end) {
  dctx *d = &t->d;
  const jpg_scan *sc = &t->sc;
  unsigned nbl = sc->n_blocks, mcus_x = sc->mcus_x, al = sc->al;
  size_t off[JPG_MAX_BLOCKS_IN_MCU];
  bool is0[JPG_MAX_BLOCKS_IN_MCU];
  uint32_t sx, sy;
  dct_layout(t, off, is0, &sx, &sy);
  int16_t *junk = t->dcv + (size_t)t->pw * t->ph;
  uint32_t mx = (uint32_t)(mcu % mcus_x), my = (uint32_t)(mcu / mcus_x);
  size_t limit = 8 * d->u_len;
  int32_t pred[4] = {0, 0, 0, 0};
  for (; mcu < end; mcu++) {
    int16_t *base = t->dcv + (size_t)my * sy * t->pw + (size_t)mx * sx;
    for (unsigned k = 0; k < nbl; k++) {
      int16_t *dst = is0[k] ? base + off[k] : junk;
      if (kind == JPG_DC_FIRST) {
        unsigned i = sc->blk_si[k];
        uint64_t w = peek(d);
        unsigned s, l = huff_sym(d->dc[i], d->dq[i], w, &s);
        if (!l) return false;
        uint32_t v = s ? (uint32_t)((w << l) >> (64 - s)) : 0;
        d->pos += l + s;
        pred[i] = (int32_t)((uint32_t)pred[i] + (uint32_t)extend(v, s));
        *dst = (int16_t)(uint16_t)((uint32_t)pred[i] << al); /* libjpeg's (JCOEF) cast */
      } else if (get_bits(d, 1)) {
        *dst = (int16_t)(*dst | (1 << al));
      }
    }
    if (d->pos > limit) return false;
    if (++mx == mcus_x) {
      mx = 0;
      my++;
    }
  }
  return true;
}

/* Walks the entropy-coded data of the scan in t->sc from data[*pos]; *pos is left after
 * it. False as dct_segment, or when a restart marker is missing. */
static bool dct_scan(dct_state *t, const jpg_hdr *h, const uint8_t *data, size_t len, size_t *pos) {
  dctx *d = &t->d;
  const jpg_scan *sc = &t->sc;
  jpg_kind kind = jpg_scan_kind(sc);
  jpg_scan_tables(h, d->dc, d->ac);
  for (unsigned s = 0; s < sc->ns; s++) {
    if (kind != JPG_DC_REFINE) build_dtab(d->dc[s], false, &d->tabs[s]);
    d->dq[s] = d->tabs[s].q;
    d->aq[s] = d->tabs[4 + s].q;
    if (kind != JPG_SEQ) continue;
    /* tables shared by several components are built once */
    unsigned j = 0, j0 = 0;
    while (j < s && sc->ta[j] != sc->ta[s]) j++;
    while (j0 < s && (sc->ta[j0] != sc->ta[s] || sc->td[j0] != sc->td[s])) j0++;
    if (j == s) build_dtab(d->ac[s], true, &d->tabs[4 + s]);
    d->aq[s] = d->tabs[4 + j].q;
    if (j0 == s) build_skip(d->dq[s], d->aq[s], j == s ? t->skt[s] : NULL, t->skt[4 + s], t->scratch);
    t->sk[s] = j;
    t->sk0[s] = 4 + j0;
    if (sc->ci[s] == 0) build_dv(d->dq[s], t->dv);
  }
  size_t i = *pos;
  uint64_t mcu = 0;
  for (uint64_t seg = 0; seg < sc->n_segments; seg++) {
    i = unstuff(d, data, len, i);
    d->pos = 0;
    uint64_t end = mcu + sc->ri;
    if (end > sc->n_mcus) end = sc->n_mcus;
    if (!(kind == JPG_SEQ ? dct_segment_seq(t, mcu, end) : dct_segment_dc(t, kind, mcu, end))) return false;
    mcu = end;
    if (seg + 1 < sc->n_segments) {
      size_t j = i;
      while (j < len && data[j] == 0xFF) j++;
      if (j == i || j >= len || data[j] != 0xD0u + (unsigned)(seg & 7u)) return false;
      i = j + 1;
    }
  }
  *pos = i;
  return true;
}

/* Moves *pos past entropy-coded data to the next marker other than RSTn. */
static void dct_skip_data(const uint8_t *data, size_t len, size_t *pos) {
  size_t i = *pos;
  for (;;) {
    const uint8_t *q = i < len ? memchr(data + i, 0xFF, len - i) : NULL;
    if (!q) {
      i = len;
      break;
    }
    i = (size_t)(q - data);
    if (i + 1 >= len) break;
    uint8_t m = data[i + 1];
    if (m != 0x00 && m != 0xFF && (m < 0xD0 || m > 0xD7)) break;
    i += m == 0xFF ? 1 : 2;
  }
  *pos = i;
}

static ims_status dct_run(dct_state *t, jpg_hdr *h, jpg_image *img, const uint8_t *data, size_t len,
                          bool *done) {
  size_t pos = 0;
  bool first = true;
  uint16_t q0 = 0;
  bool latched = false;
  *done = false;
  for (;;) {
    jpg_stop stop;
    ims_status st = jpg_hdr_next(h, data, len, &pos, &stop, NULL);
    if (st) return st;
    if (stop != JPG_STOP_SOS) return IMS_E_CORRUPT; /* no (complete) DC of the first component */
    if (first) {
      first = false;
      unsigned n = img->n_comp;
      if (n != 1 && n != 3) return IMS_E_UNSUPPORTED;
      if (img->comp[0].h != img->hmax || img->comp[0].v != img->vmax) return IMS_E_UNSUPPORTED;
      for (unsigned a = 0; a < n; a++)
        for (unsigned c = a + 1; c < n; c++)
          if (img->comp[a].id == img->comp[c].id) return IMS_E_UNSUPPORTED;
      if (n == 3 && !dct_is_ycc(data, pos, img)) return IMS_E_UNSUPPORTED;
      t->ow = (img->width + 7) / 8;
      t->oh = (img->height + 7) / 8;
      t->pw = (img->width + 8u * img->hmax - 1) / (8u * img->hmax) * img->hmax;
      t->ph = (img->height + 8u * img->vmax - 1) / (8u * img->vmax) * img->vmax;
      t->dcv = calloc((size_t)t->pw * t->ph + 1, sizeof *t->dcv);
      if (!t->dcv) return IMS_E_NOMEM;
    }
    t->sc = h->scan;
    const jpg_scan *sc = &t->sc;
    bool has0 = false;
    for (unsigned s = 0; s < sc->ns; s++) has0 |= sc->ci[s] == 0;
    jpg_kind kind = jpg_scan_kind(sc);
    if (has0 && !latched) { /* libjpeg latches a component's table at its first scan */
      q0 = h->qt[img->comp[0].tq][0];
      latched = true;
      /* libjpeg's multiplier type may be a short or an int: a 16-bit DC quantiser above
       * 32767 is left to it */
      if (q0 > 32767) return IMS_E_UNSUPPORTED;
    }
    if (!has0 || kind == JPG_AC_FIRST || kind == JPG_AC_REFINE) {
      dct_skip_data(data, len, &pos);
      continue;
    }
    if (!dct_scan(t, h, data, len, &pos)) return IMS_E_CORRUPT;
    if (kind == JPG_SEQ || sc->al == 0) break; /* the first component's DC is complete */
  }
  /* The later scans are not decoded, but their headers are checked: one that codes the
   * first component's DC again would change libjpeg's picture (the walker refuses such a
   * scan; libjpeg overwrites, or warns of a bogus progression). The data may end anywhere
   * after the scans walked. */
  for (;;) {
    dct_skip_data(data, len, &pos);
    jpg_stop stop;
    ims_status st = jpg_hdr_next(h, data, len, &pos, &stop, NULL);
    if (st) return st;
    if (stop != JPG_STOP_SOS) break;
  }
  /* libjpeg's 1x1 IDCT (jidctred.c) with its range limit (a 10-bit wrap, then the clamp),
   * in place: pixel (x, y) is written after every value it overlaps was read. */
  int32_t q = q0; /* <= 32767 */
  uint8_t *px = (uint8_t *)t->dcv;
  for (uint32_t y = 0; y < t->oh; y++) {
    const int16_t *src = t->dcv + (size_t)y * t->pw;
    uint8_t *dst = px + (size_t)y * t->ow;
    for (uint32_t x = 0; x < t->ow; x++) {
      /* floor((dc * q + 4) / 8) as libjpeg's arithmetic shift; |dc * q| <= 2^30 */
      int32_t v = (int32_t)((((uint32_t)((int32_t)src[x] * q) + 4u) ^ 0x80000000u) >> 3) - (1 << 28);
      v = (int32_t)(((uint32_t)v & 1023u) ^ 512u) - 512 + 128;
      dst[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
  *done = true;
  return IMS_OK;
}

ims_status jpg_dc_thumb(const uint8_t *data, size_t len, uint64_t max_pixels, uint32_t max_scans, uint8_t **px,
                        uint32_t *w, uint32_t *h_out, jpg_dc_info *info) {
  if (!data || !px || !w || !h_out || !info) return IMS_E_ARG;
  jpg_limits lim = {max_pixels ? max_pixels : DCT_DEFAULT_MAX_PIXELS,
                    max_scans ? max_scans : DCT_DEFAULT_MAX_SCANS, UINT64_MAX};
  dct_state *t = calloc(1, sizeof *t);
  jpg_image *img = calloc(1, sizeof *img);
  jpg_hdr *h = malloc(sizeof *h);
  size_t ucap;
  ims_status st = IMS_E_NOMEM;
  if (!t || !img || !h || !ims_add_size(len, JPG_UPAD + 8, &ucap) || !(t->d.u = calloc(ucap, 1)) ||
      !(t->d.tabs = malloc(8 * sizeof *t->d.tabs)) || !(t->skt = malloc(8 * sizeof *t->skt)) ||
      !(t->scratch = malloc(sizeof(uint16_t) << SKIP_BITS)) || !(t->dv = malloc(SK_N * sizeof *t->dv)))
    goto out;
  jpg_hdr_init(h, img, &lim, false);
  t->d.img = img;
  bool done = false;
  st = dct_run(t, h, img, data, len, &done);
  if (st == IMS_OK && done) {
    jpg_dc_info g;
    memset(&g, 0, sizeof g);
    g.width = img->width;
    g.height = img->height;
    g.components = img->n_comp;
    g.color_space = img->n_comp == 1 ? 1 : 3;
    g.progressive = img->progressive ? 1 : 0;
    for (unsigned c = 0; c < img->n_comp; c++) {
      g.h_samp[c] = img->comp[c].h;
      g.v_samp[c] = img->comp[c].v;
    }
    *info = g;
    *px = (uint8_t *)t->dcv;
    t->dcv = NULL;
    *w = t->ow;
    *h_out = t->oh;
  }
out:
  if (t) {
    free(t->dcv);
    free(t->d.u);
    free(t->d.tabs);
    free(t->skt);
    free(t->scratch);
    free(t->dv);
  }
  free(t);
  free(img);
  free(h);
  return st;
}
