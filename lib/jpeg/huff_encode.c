/* jpg_encode: the exact re-encoder. Replays the chunks of the side information through the
 * header walker and Huffman-codes each scan from the coefficients the way libjpeg's
 * jchuff.c / jcphuff.c do, applying the recorded deviations (jpeg_internal.h).
 *
 * Speed (docs/DESIGN.md, Pipeline speed): each scan kind has its own loop; a symbol and the
 * value bits after it go out in one put, the code coming from a per-scan table that holds
 * it already shifted by the value's size and the value bits from a table of values; blocks
 * are walked through a mask of their nonzero coefficients; the bit writer fills 64 bits in
 * a register and stores them at once, byte by byte only when they hold a 0xFF (stuffing). */
#include <stdlib.h>
#include <string.h>
#include "common/mem.h"
#include "jpeg/jpeg_internal.h"

/* Output bytes one MCU can produce: 10 blocks * 64 symbols * 31 bits, doubled for stuffing. */
#define MCU_RESERVE 8192u

/* A scan's code table: e[sym] = mask << 40 | (code << nb) << 8 | (code length + nb), where
 * nb = sym & 15 is the number of value bits that follow the symbol and mask = 2^nb - 1 (for
 * EOBn and ZRL symbols nb = 0: an EOB run's bits go apart). E_NONE marks a symbol without
 * a code: its entry puts nothing, and callers OR the entries they use together to find out. */
#define E_NONE ((uint64_t)1 << 63)
typedef struct etab {
  uint64_t e[256];
} etab;

/* The bit writer: the low 64 - free bits of acc are pending (0 <= free <= 64 between puts;
 * bits above them are stale); op is the next output byte, with room reserved ahead
 * (mcu_room) for what the caller is about to put. It lives in locals of each coding loop:
 * stores through a byte pointer may alias anything, so a writer in memory would be
 * reloaded after every byte. */
typedef struct bw {
  uint64_t acc;
  int free; /* 64 - pending bits */
  uint8_t *op;
} bw;

typedef struct ectx {
  buf *out;
  bw w; /* between coding loops; out->len is in sync only outside them */
  ims_err *err;
  const jpg_side *side;
  size_t segx_i, eobx_i;
  uint32_t scan_no;
  uint64_t seg_no;
  /* the current scan */
  const jpg_scan *sc;
  const jpg_image *img;
  const uint64_t *dt[4], *at[4]; /* per scan component */
  etab *tabs;                    /* 8 tables: dt and at point into them */
  uint16_t *vtab;                /* VTAB_N entries, see val_entry */
  /* Near the end of the output's capacity an MCU is coded into scratch and appended, so
   * that an output reserved for the file's size is never regrown (the worst-case room an
   * MCU needs is far above what it usually takes). lim: end of the area op writes in. */
  uint8_t *lim;
  bool in_scratch;
  uint8_t scratch[2 * MCU_RESERVE];
  /* progressive AC */
  uint32_t eobrun;
  uint8_t *be; /* correction bits of the pending EOB run, one per byte */
  size_t be_n, be_cap;
} ectx;

/* Values -VTAB_HALF..VTAB_HALF-1 (every DC difference and AC value of an 8-bit JPEG) are
 * looked up: vtab[v + VTAB_HALF] = bits << 4 | nb, the magnitude category nb and the nb
 * value bits (T.81 F.1.2.1: v, or v - 1 in nb bits when v < 0). */
#define VTAB_HALF 2048
#define VTAB_N (2 * VTAB_HALF)

static void build_vtab(uint16_t *t) {
  for (int32_t v = -VTAB_HALF; v < VTAB_HALF; v++) {
    uint32_t a = (uint32_t)(v < 0 ? -v : v);
    unsigned nb = a ? 32u - (unsigned)__builtin_clz(a) : 0u;
    uint32_t bits = (uint32_t)(v < 0 ? v - 1 : v) & ((1u << nb) - 1);
    t[v + VTAB_HALF] = (uint16_t)(bits << 4 | nb);
  }
}

/* The same for any value: bits << 4 | (nb & 15); *nbor gets nb ORed in (16: no category). */
static __attribute__((noinline)) uint32_t val_entry_slow(int32_t v, unsigned *nbor) {
  uint32_t a = (uint32_t)(v < 0 ? -v : v);
  unsigned nb = a ? 32u - (unsigned)__builtin_clz(a) : 0u;
  *nbor |= nb;
  return ((uint32_t)(v < 0 ? v - 1 : v) & ((1u << (nb & 15u)) - 1)) << 4 | (nb & 15u);
}

static inline __attribute__((always_inline)) uint32_t val_entry(const uint16_t *vt, int32_t v, unsigned *nbor) {
  if (__builtin_expect((uint32_t)(v + VTAB_HALF) < VTAB_N, 1)) return vt[v + VTAB_HALF];
  return val_entry_slow(v, nbor);
}

static void build_etab(const jpg_huff *t, etab *x) {
  for (unsigned s = 0; s < 256; s++) {
    unsigned nb = s & 15u, l = t->esize[s];
    x->e[s] = l ? (uint64_t)((1u << nb) - 1) << 40 | ((uint64_t)t->ecode[s] << nb) << 8 | (l + nb) : E_NONE;
  }
}

static __attribute__((noinline)) uint8_t *put_stuffed(uint8_t *op, uint64_t x) {
  for (int i = 56; i >= 0; i -= 8) {
    uint8_t b = (uint8_t)(x >> i);
    *op++ = b;
    if (b == 0xFF) *op++ = 0x00;
  }
  return op;
}

/* Puts the n <= 31 bits v (v has no bits above n, except after a symbol without a code,
 * which fails the scan anyway). The branch is taken once per 8 output bytes. */
static inline __attribute__((always_inline)) void bw_put(bw *w, uint32_t v, unsigned n) {
  int f = w->free - (int)n;
  if (__builtin_expect(f >= 0, 1)) {
    w->acc = (w->acc << n) | v;
    w->free = f;
    return;
  }
  /* 64 bits complete: the old free bits take the top of v, the rest stays in acc. */
  uint64_t x = (w->acc << w->free) | (v >> -f);
  uint64_t y = ~x;
  if (__builtin_expect(!((y - 0x0101010101010101u) & ~y & 0x8080808080808080u), 1)) {
    uint64_t be = __builtin_bswap64(x);
    memcpy(w->op, &be, 8);
    w->op += 8;
  } else {
    w->op = put_stuffed(w->op, x);
  }
  w->acc = v;
  w->free = f + 64;
}

/* Up to 64 bits. */
static inline void bw_put_long(bw *w, uint64_t v, unsigned n) {
  if (n > 31) {
    bw_put(w, (uint32_t)(v >> 31), n - 31);
    v &= 0x7FFFFFFFu;
    n = 31;
  }
  bw_put(w, (uint32_t)v, n);
}

/* A symbol and its nb value bits (bits may have ones above nb: masked here). */
static inline __attribute__((always_inline)) uint64_t put_sym(bw *w, const uint64_t *t, unsigned sym, uint32_t bits) {
  uint64_t e = t[sym];
  bw_put(w, (uint32_t)(e >> 8) | (bits & (uint32_t)(e >> 40)), (unsigned)e & 0xFFu);
  return e;
}

static ims_status reserve(ectx *e, size_t n) {
  ims_status st = buf_reserve(e->out, n);
  if (st) return ims_fail(e->err, st, "re-encoding: output buffer: %s", ims_strerror(st));
  return IMS_OK;
}

/* Appends what was coded into scratch, if anything; returns where op is in the output
 * then. The slow paths take op by value: a writer whose address escapes lives in memory. */
static uint8_t *commit(ectx *e, uint8_t *op, ims_status *st) {
  *st = IMS_OK;
  if (!e->in_scratch) return op;
  buf *o = e->out;
  e->in_scratch = false;
  ims_status s = buf_append(o, e->scratch, (size_t)(op - e->scratch));
  e->lim = o->p + o->cap;
  if (s) *st = ims_fail(e->err, s, "re-encoding: output buffer: %s", ims_strerror(s));
  return o->p + o->len;
}

static __attribute__((noinline)) uint8_t *mcu_room_slow(ectx *e, uint8_t *op, ims_status *st) {
  op = commit(e, op, st);
  if (*st || (size_t)(e->lim - op) >= MCU_RESERVE) return op;
  buf *o = e->out;
  o->len = (size_t)(op - o->p);
  e->lim = e->scratch + sizeof e->scratch;
  e->in_scratch = true;
  return e->scratch;
}

/* Before each MCU: MCU_RESERVE bytes of room at w->op (in scratch near the end). */
static inline __attribute__((always_inline)) ims_status mcu_room(ectx *e, bw *w) {
  if (__builtin_expect((size_t)(e->lim - w->op) >= MCU_RESERVE, 1)) return IMS_OK;
  ims_status st;
  w->op = mcu_room_slow(e, w->op, &st);
  return st;
}

/* Magnitude category of a (0 for 0), a < 2^31. */
static inline __attribute__((always_inline)) unsigned nbits0(uint32_t a) {
  return 31u - (unsigned)__builtin_clz(2 * a + 1);
}

/* Bit k set when coefficient k shifted right by al (in magnitude) is not zero. */
static inline uint64_t nz_mask_al(const int16_t *blk, unsigned al) {
#ifdef __SSE2__
  const __m128i z = _mm_setzero_si128();
  const __m128i sh = _mm_cvtsi32_si128((int)al);
  uint64_t m = 0;
  for (unsigned i = 0; i < 64; i += 16) {
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(blk + i));
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(blk + i + 8));
    __m128i sa = _mm_srai_epi16(a, 15), sb = _mm_srai_epi16(b, 15);
    a = _mm_srl_epi16(_mm_sub_epi16(_mm_xor_si128(a, sa), sa), sh);
    b = _mm_srl_epi16(_mm_sub_epi16(_mm_xor_si128(b, sb), sb), sh);
    __m128i eq = _mm_packs_epi16(_mm_cmpeq_epi16(a, z), _mm_cmpeq_epi16(b, z));
    m |= (uint64_t)(uint16_t)~_mm_movemask_epi8(eq) << i;
  }
  return m;
#else
  uint64_t m = 0;
  for (unsigned k = 0; k < 64; k++) {
    int32_t c = blk[k];
    m |= (uint64_t)(((uint32_t)(c < 0 ? -c : c) >> al) != 0) << k;
  }
  return m;
#endif
}

/* Bits ss..se. */
static inline uint64_t band_mask(unsigned ss, unsigned se) {
  return (~(uint64_t)0 >> (63 - se)) & (~(uint64_t)0 << ss);
}

/* ---------------------------------------------------------------- sequential */

/* Returns the table entries used ORed together (E_NONE: a symbol had no code); *nbor gets
 * a magnitude category 16 (a value without a category) ORed in. */
static inline __attribute__((always_inline)) uint64_t enc_seq(bw *w, const uint64_t *dt, const uint64_t *at,
                                                               const uint16_t *vt, const int16_t *blk,
                                                               int16_t *pred, unsigned *nbor) {
  int32_t diff = (int16_t)(uint16_t)((uint32_t)(uint16_t)blk[0] - (uint32_t)(uint16_t)*pred);
  *pred = blk[0];
  uint32_t x = val_entry(vt, diff, nbor);
  uint64_t e = dt[x & 15u], bad = e;
  bw_put(w, (uint32_t)(e >> 8) | x >> 4, (unsigned)e & 0xFFu);
  uint64_t m = jpg_nz_mask(blk) & ~(uint64_t)1;
  unsigned prev = 0;
  while (m) {
    unsigned k = (unsigned)__builtin_ctzll(m);
    m &= m - 1;
    unsigned r = k - prev - 1;
    prev = k;
    if (__builtin_expect(r > 15, 0)) {
      do {
        bad |= put_sym(w, at, 0xF0, 0);
        r -= 16;
      } while (r > 15);
    }
    x = val_entry(vt, blk[k], nbor);
    e = at[r << 4 | (x & 15u)];
    bad |= e;
    bw_put(w, (uint32_t)(e >> 8) | x >> 4, (unsigned)e & 0xFFu);
  }
  if (prev != 63) bad |= put_sym(w, at, 0, 0);
  return bad;
}

/* ---------------------------------------------------------------- the MCU walk */

typedef struct mcu_pos {
  uint32_t mx, my;
} mcu_pos;

static inline const int16_t *mcu_block(const ectx *e, unsigned b, mcu_pos p) {
  const jpg_scan *sc = e->sc;
  return jpg_block(e->img, sc->blk_c[b], p.my * sc->blk_sy[b] + sc->blk_dy[b], p.mx * sc->blk_sx[b] + sc->blk_dx[b]);
}

static inline void mcu_next(const jpg_scan *sc, mcu_pos *p) {
  if (++p->mx == sc->mcus_x) {
    p->mx = 0;
    p->my++;
  }
}

static ims_status no_code(ectx *e) {
  return ims_fail(e->err, IMS_E_CORRUPT, "scan %u: a coefficient has no Huffman code", e->scan_no);
}

static ims_status seg_seq(ectx *e, uint64_t mcu, uint64_t stop) {
  const jpg_scan *sc = e->sc;
  /* Everything the loop reads lives in locals: the output stores could alias the structs. */
  unsigned nbl = sc->n_blocks, mcus_x = sc->mcus_x;
  const uint64_t *dt[JPG_MAX_BLOCKS_IN_MCU], *at[JPG_MAX_BLOCKS_IN_MCU];
  const int16_t *blk[JPG_MAX_BLOCKS_IN_MCU];
  size_t step[JPG_MAX_BLOCKS_IN_MCU];
  unsigned si[JPG_MAX_BLOCKS_IN_MCU];
  for (unsigned b = 0; b < nbl; b++) {
    si[b] = sc->blk_si[b];
    dt[b] = e->dt[si[b]];
    at[b] = e->at[si[b]];
    step[b] = (size_t)sc->blk_sx[b] * 64u;
  }
  const uint16_t *vt = e->vtab;
  mcu_pos p = {(uint32_t)(mcu % mcus_x), (uint32_t)(mcu / mcus_x)};
  int16_t pred[4] = {0, 0, 0, 0};
  bw w = e->w;
  ims_status st;
  bool row_start = true;
  for (; mcu < stop; mcu++) {
    if ((st = mcu_room(e, &w))) return st;
    if (row_start) {
      for (unsigned b = 0; b < nbl; b++) blk[b] = mcu_block(e, b, p);
      row_start = false;
    } else {
      for (unsigned b = 0; b < nbl; b++) blk[b] += step[b];
    }
    uint64_t bad = 0;
    unsigned nbor = 0;
    for (unsigned b = 0; b < nbl; b++) bad |= enc_seq(&w, dt[b], at[b], vt, blk[b], &pred[si[b]], &nbor);
    if ((bad & E_NONE) || (nbor & 16u)) return no_code(e);
    if (++p.mx == mcus_x) {
      p.mx = 0;
      p.my++;
      row_start = true;
    }
  }
  w.op = commit(e, w.op, &st);
  e->w = w;
  return st;
}

/* ---------------------------------------------------------------- progressive DC */

static inline int32_t asr(int32_t x, unsigned s) { return x >= 0 ? x >> s : ~((~x) >> s); }

static ims_status seg_dc_first(ectx *e, uint64_t mcu, uint64_t stop) {
  const jpg_scan *sc = e->sc;
  mcu_pos p = {(uint32_t)(mcu % sc->mcus_x), (uint32_t)(mcu / sc->mcus_x)};
  int32_t pred[4] = {0, 0, 0, 0};
  unsigned al = sc->al;
  bw w = e->w;
  ims_status st;
  for (; mcu < stop; mcu++) {
    if ((st = mcu_room(e, &w))) return st;
    uint64_t bad = 0;
    for (unsigned b = 0; b < sc->n_blocks; b++) {
      unsigned si = sc->blk_si[b];
      int32_t v = asr(mcu_block(e, b, p)[0], al);
      int32_t diff = v - pred[si];
      if (al == 0) diff = (int16_t)(uint16_t)(uint32_t)diff;
      pred[si] = v;
      int32_t s = -(int32_t)(diff < 0);
      unsigned nb = nbits0((uint32_t)((diff ^ s) - s));
      bad |= (uint64_t)(nb > 15) << 63;
      bad |= put_sym(&w, e->dt[si], nb & 15u, (uint32_t)(diff + s));
    }
    if (bad & E_NONE) return no_code(e);
    mcu_next(sc, &p);
  }
  w.op = commit(e, w.op, &st);
  e->w = w;
  return st;
}

static ims_status seg_dc_refine(ectx *e, uint64_t mcu, uint64_t stop) {
  const jpg_scan *sc = e->sc;
  mcu_pos p = {(uint32_t)(mcu % sc->mcus_x), (uint32_t)(mcu / sc->mcus_x)};
  unsigned al = sc->al;
  bw w = e->w;
  ims_status st;
  for (; mcu < stop; mcu++) {
    if ((st = mcu_room(e, &w))) return st;
    for (unsigned b = 0; b < sc->n_blocks; b++)
      bw_put(&w, ((uint32_t)(uint16_t)mcu_block(e, b, p)[0] >> al) & 1u, 1);
    mcu_next(sc, &p);
  }
  w.op = commit(e, w.op, &st);
  e->w = w;
  return st;
}

/* ---------------------------------------------------------------- progressive AC */

/* Writes the pending EOB run and its buffered correction bits. */
static inline __attribute__((always_inline)) ims_status flush_eobrun(ectx *e, bw *w, uint64_t *bad) {
  if (e->eobrun == 0) return IMS_OK;
  if (e->eobrun > JPG_MAX_EOBRUN) {
    *bad |= E_NONE;
    e->eobrun = JPG_MAX_EOBRUN;
  }
  unsigned nb = jpg_nbits(e->eobrun) - 1;
  *bad |= put_sym(w, e->at[0], nb << 4, 0);
  bw_put(w, e->eobrun - (1u << nb), nb);
  e->eobrun = 0;
  /* The correction bits in pieces of 8192 (at most 2 KiB with stuffing), each with
   * MCU_RESERVE bytes of room, and as much again for the rest of the current block. */
  ims_status st;
  for (size_t i = 0; i < e->be_n;) {
    if ((st = mcu_room(e, w))) return st;
    for (size_t end = e->be_n - i > 8192 ? i + 8192 : e->be_n; i < end;) {
      unsigned k = end - i < 24 ? (unsigned)(end - i) : 24u;
      uint32_t v = 0;
      for (unsigned j = 0; j < k; j++) v = v << 1 | e->be[i + j];
      bw_put(w, v, k);
      i += k;
    }
  }
  e->be_n = 0;
  return mcu_room(e, w);
}

/* After a block that ended in the pending EOB run: flush it or not (canonical decision,
 * or the recorded deviation for block b). */
static inline __attribute__((always_inline)) ims_status eob_decide(ectx *e, bw *w, uint32_t b, uint64_t *bad) {
  bool flush = e->eobrun == JPG_MAX_EOBRUN || e->be_n > JPG_MAX_BE;
  const jpg_side *s = e->side;
  while (e->eobx_i < s->n_eobx && (s->eobx[e->eobx_i].scan < e->scan_no ||
                                   (s->eobx[e->eobx_i].scan == e->scan_no && s->eobx[e->eobx_i].block < b)))
    e->eobx_i++;
  if (e->eobx_i < s->n_eobx && s->eobx[e->eobx_i].scan == e->scan_no && s->eobx[e->eobx_i].block == b) {
    const jpg_eobx *x = &s->eobx[e->eobx_i++];
    if (x->run) {
      e->eobrun = x->run;
      flush = true;
    } else {
      flush = !flush;
    }
  }
  return flush ? flush_eobrun(e, w, bad) : IMS_OK;
}

static ims_status seg_ac_first(ectx *e, uint64_t mcu, uint64_t stop) {
  const jpg_scan *sc = e->sc;
  mcu_pos p = {(uint32_t)(mcu % sc->mcus_x), (uint32_t)(mcu / sc->mcus_x)};
  const uint64_t *at = e->at[0];
  unsigned al = sc->al, ss = sc->ss, se = sc->se;
  uint64_t band = band_mask(ss, se);
  bw w = e->w;
  ims_status st;
  for (; mcu < stop; mcu++) {
    if ((st = mcu_room(e, &w))) return st;
    const int16_t *blk = mcu_block(e, 0, p);
    uint64_t bad = 0;
    uint64_t m = nz_mask_al(blk, al) & band;
    bool to_end = m >> se & 1u; /* the block's last coefficient is coded: no EOB */
    unsigned prev = ss - 1;
    if (m && e->eobrun && (st = flush_eobrun(e, &w, &bad))) return st;
    while (m) {
      unsigned k = (unsigned)__builtin_ctzll(m);
      m &= m - 1;
      unsigned r = k - prev - 1;
      prev = k;
      while (r > 15) {
        bad |= put_sym(&w, at, 0xF0, 0);
        r -= 16;
      }
      int32_t c = blk[k];
      uint32_t a = (uint32_t)(c < 0 ? -c : c) >> al;
      unsigned nb = 32u - (unsigned)__builtin_clz(a);
      bad |= (uint64_t)(nb > 15) << 63;
      bad |= put_sym(&w, at, r << 4 | (nb & 15u), a ^ (uint32_t)-(int32_t)(c < 0));
    }
    if (!to_end) {
      e->eobrun++;
      if ((st = eob_decide(e, &w, (uint32_t)mcu, &bad))) return st;
    }
    if (bad & E_NONE) return no_code(e);
    mcu_next(sc, &p);
  }
  w.op = commit(e, w.op, &st);
  e->w = w;
  return st;
}

static ims_status seg_ac_refine(ectx *e, uint64_t mcu, uint64_t stop) {
  const jpg_scan *sc = e->sc;
  mcu_pos p = {(uint32_t)(mcu % sc->mcus_x), (uint32_t)(mcu / sc->mcus_x)};
  const uint64_t *at = e->at[0];
  unsigned al = sc->al, ss = sc->ss, se = sc->se;
  uint64_t band = band_mask(ss, se);
  bw w = e->w;
  ims_status st;
  for (; mcu < stop; mcu++) {
    if ((st = mcu_room(e, &w))) return st;
    const int16_t *blk = mcu_block(e, 0, p);
    uint64_t bad = 0;
    /* nz: coefficients not zero after the point transform; one: those that become nonzero
     * in this scan (magnitude 1); the others carry a correction bit. */
    uint64_t nz = nz_mask_al(blk, al) & band, one = nz & ~nz_mask_al(blk, al + 1);
    int eob = one ? 63 - __builtin_clzll(one) : -1;
    unsigned r = 0, br_n = 0, prev = ss - 1;
    uint64_t br = 0; /* correction bits waiting for the next symbol, first in the high bit */
    while (nz) {
      unsigned k = (unsigned)__builtin_ctzll(nz);
      nz &= nz - 1;
      r += k - prev - 1;
      prev = k;
      int32_t c = blk[k];
      while (r > 15 && (int)k <= eob) {
        if (e->eobrun && (st = flush_eobrun(e, &w, &bad))) return st;
        bad |= put_sym(&w, at, 0xF0, 0);
        r -= 16;
        bw_put_long(&w, br, br_n);
        br = 0;
        br_n = 0;
      }
      if (!(one >> k & 1u)) {
        br = br << 1 | (((uint32_t)(c < 0 ? -c : c) >> al) & 1u);
        br_n++;
        continue;
      }
      if (e->eobrun && (st = flush_eobrun(e, &w, &bad))) return st;
      bad |= put_sym(&w, at, r << 4 | 1u, c < 0 ? 0u : 1u);
      bw_put_long(&w, br, br_n);
      br = 0;
      br_n = 0;
      r = 0;
    }
    r += se - prev;
    if (r > 0 || br_n > 0) {
      e->eobrun++;
      if (br_n && e->be_n + br_n > e->be_cap) {
        size_t cap = e->be_cap ? e->be_cap * 2 : 4096;
        while (cap < e->be_n + br_n) cap *= 2;
        uint8_t *q = realloc(e->be, cap);
        if (!q) return ims_fail(e->err, IMS_E_NOMEM, "out of memory");
        e->be = q;
        e->be_cap = cap;
      }
      for (unsigned i = 0; i < br_n; i++) e->be[e->be_n++] = (uint8_t)(br >> (br_n - 1 - i) & 1u);
      if ((st = eob_decide(e, &w, (uint32_t)mcu, &bad))) return st;
    }
    if (bad & E_NONE) return no_code(e);
    mcu_next(sc, &p);
  }
  w.op = commit(e, w.op, &st);
  e->w = w;
  return st;
}

/* ---------------------------------------------------------------- segments and scans */

static const jpg_segx *find_segx(ectx *e) {
  const jpg_side *s = e->side;
  while (e->segx_i < s->n_segx && s->segx[e->segx_i].seg < e->seg_no) e->segx_i++;
  if (e->segx_i < s->n_segx && s->segx[e->segx_i].seg == e->seg_no) return &s->segx[e->segx_i];
  return NULL;
}

static inline void emit_byte(buf *o, uint8_t b) {
  o->p[o->len++] = b;
  if (b == 0xFF) o->p[o->len++] = 0x00;
}

/* Pads and ends a restart segment, applying its recorded deviations. */
static ims_status end_segment(ectx *e, const jpg_segx *x, size_t seg_start, uint64_t seg_in_scan, bool last) {
  const jpg_side *s = e->side;
  bw *w = &e->w;
  ims_status st;
  w->op = commit(e, w->op, &st);
  if (st) return st;
  buf *o = e->out;
  o->len = (size_t)(w->op - o->p);
  /* The pending bits and the padding, appended (not reserved ahead: see scratch). */
  unsigned npad = (unsigned)w->free & 7u, n = 64u - (unsigned)w->free + npad;
  uint64_t acc = w->acc << npad | ((x && (x->flags & JPG_SEGX_PAD)) ? x->pad & ((1u << npad) - 1) : (1u << npad) - 1);
  uint8_t tail[16];
  size_t nt = 0;
  for (; n >= 8; n -= 8) {
    uint8_t b = (uint8_t)(acc >> (n - 8));
    tail[nt++] = b;
    if (b == 0xFF) tail[nt++] = 0x00;
  }
  if ((st = buf_append(o, tail, nt))) return ims_fail(e->err, st, "re-encoding: output buffer: %s", ims_strerror(st));
  if (x && (x->flags & JPG_SEGX_SHORT)) {
    for (uint32_t i = 0; i < x->n_short; i++) {
      if (o->len <= seg_start) return ims_fail(e->err, IMS_E_CORRUPT, "JPEG side information: bad segment length");
      if (o->len - seg_start >= 2 && o->p[o->len - 1] == 0x00 && o->p[o->len - 2] == 0xFF) o->len -= 2;
      else o->len -= 1;
    }
  }
  if (x && (x->flags & JPG_SEGX_EXTRA)) {
    size_t n_extra = x->extra_len;
    for (size_t i = 0; i < x->extra_len; i++) n_extra += s->pool[x->extra_off + i] == 0xFF;
    if ((st = reserve(e, n_extra))) return st;
    for (size_t i = 0; i < x->extra_len; i++) emit_byte(o, s->pool[x->extra_off + i]);
  }
  if (!last) {
    uint32_t n_fill = (x && (x->flags & JPG_SEGX_FILL)) ? x->n_fill : 0;
    if ((st = reserve(e, (size_t)n_fill + 2))) return st;
    memset(o->p + o->len, 0xFF, (size_t)n_fill + 1);
    o->len += (size_t)n_fill + 1;
    o->p[o->len++] = (uint8_t)(0xD0u + (unsigned)(seg_in_scan & 7u));
  }
  w->op = o->p + o->len;
  e->lim = o->p + o->cap;
  return IMS_OK;
}

static ims_status encode_scan(ectx *e, const jpg_hdr *h, const jpg_image *img) {
  const jpg_scan *sc = &h->scan;
  ims_status st = IMS_OK;
  jpg_kind kind = jpg_scan_kind(sc);
  const jpg_huff *dc[4], *ac[4];
  jpg_scan_tables(h, dc, ac);
  bool need_dc = kind == JPG_SEQ || kind == JPG_DC_FIRST, need_ac = kind == JPG_SEQ || kind >= JPG_AC_FIRST;
  for (unsigned s = 0; s < sc->ns; s++) {
    /* Tables shared by several components are built once. */
    unsigned j = 0;
    while (j < s && sc->td[j] != sc->td[s]) j++;
    if (need_dc && j == s) build_etab(dc[s], &e->tabs[s]);
    e->dt[s] = e->tabs[j].e;
    j = 0;
    while (j < s && sc->ta[j] != sc->ta[s]) j++;
    if (need_ac && j == s) build_etab(ac[s], &e->tabs[4 + s]);
    e->at[s] = e->tabs[4 + j].e;
  }
  e->sc = sc;
  e->img = img;
  uint64_t mcu = 0;
  for (uint64_t seg = 0; seg < sc->n_segments; seg++, e->seg_no++) {
    e->w.acc = 0;
    e->w.free = 64;
    e->w.op = e->out->p + e->out->len;
    e->lim = e->out->p + e->out->cap;
    e->eobrun = 0;
    e->be_n = 0;
    size_t seg_start = e->out->len;
    uint64_t mcu_end = mcu + sc->ri;
    if (mcu_end > sc->n_mcus) mcu_end = sc->n_mcus;
    const jpg_segx *x = find_segx(e);
    uint64_t mcu_stop = mcu_end;
    if (x && (x->flags & JPG_SEGX_TRUNC) && x->trunc_mcu < mcu_end - mcu) mcu_stop = mcu + x->trunc_mcu + 1;
    switch (kind) {
    case JPG_SEQ: st = seg_seq(e, mcu, mcu_stop); break;
    case JPG_DC_FIRST: st = seg_dc_first(e, mcu, mcu_stop); break;
    case JPG_DC_REFINE: st = seg_dc_refine(e, mcu, mcu_stop); break;
    case JPG_AC_FIRST: st = seg_ac_first(e, mcu, mcu_stop); break;
    case JPG_AC_REFINE: st = seg_ac_refine(e, mcu, mcu_stop); break;
    }
    if (st) return st;
    mcu = mcu_end;
    if (kind == JPG_AC_FIRST || kind == JPG_AC_REFINE) {
      uint64_t bad = 0;
      if ((st = mcu_room(e, &e->w)) || (st = flush_eobrun(e, &e->w, &bad))) return st;
      if (bad & E_NONE) return ims_fail(e->err, IMS_E_CORRUPT, "scan %u: an EOB run has no Huffman code", e->scan_no);
    }
    bool ends = x && (x->flags & JPG_SEGX_END);
    if ((st = end_segment(e, x, seg_start, seg, ends || seg + 1 == sc->n_segments))) return st;
    if (ends) {
      e->seg_no += sc->n_segments - seg;
      break;
    }
  }
  return IMS_OK;
}

static bool same_geometry(const jpg_image *a, const jpg_image *b) {
  if (a->width != b->width || a->height != b->height || a->n_comp != b->n_comp) return false;
  for (unsigned c = 0; c < a->n_comp; c++) {
    const jpg_component *x = &a->comp[c], *y = &b->comp[c];
    if (x->h != y->h || x->v != y->v || x->w_blocks != y->w_blocks || x->h_blocks != y->h_blocks || !y->coef)
      return false;
  }
  return true;
}

ims_status jpg_encode(const jpg_image *img, buf *out, ims_err *err) {
  const jpg_side *s = img->side;
  ims_status st;
  if (!s || s->n_chunks == 0) return ims_fail(err, IMS_E_ARG, "image has no side information");
  jpg_hdr *h = malloc(sizeof *h);
  jpg_image *geo = calloc(1, sizeof *geo);
  ectx *e = calloc(1, sizeof *e);
  if (e) {
    e->out = out;
    e->err = err;
    e->side = s;
    e->tabs = malloc(8 * sizeof *e->tabs);
    e->vtab = malloc(VTAB_N * sizeof *e->vtab);
  }
  if (!h || !geo || !e || !e->tabs || !e->vtab) {
    st = ims_fail(err, IMS_E_NOMEM, "out of memory");
    goto done;
  }
  build_vtab(e->vtab);
  /* Limits were checked when the side information was made. */
  jpg_limits lim = {UINT64_MAX, UINT32_MAX, UINT64_MAX};
  jpg_hdr_init(h, geo, &lim, false);
  size_t start = 0;
  for (size_t c = 0; c < s->n_chunks; c++) {
    size_t pos = start, end = s->chunk_end[c];
    jpg_stop stop;
    if ((st = jpg_hdr_next(h, s->hdr, end, &pos, &stop, err))) goto done;
    bool last = c + 1 == s->n_chunks;
    if (last ? stop == JPG_STOP_SOS : (stop != JPG_STOP_SOS || pos != end)) {
      st = ims_fail(err, IMS_E_CORRUPT, "JPEG side information: chunk %zu does not end with a scan", c);
      goto done;
    }
    if ((st = buf_append(out, s->hdr + start, end - start))) {
      st = ims_fail(err, st, "re-encoding: output buffer: %s", ims_strerror(st));
      goto done;
    }
    if (last) break;
    if (c == 0 && !same_geometry(geo, img)) {
      st = ims_fail(err, IMS_E_ARG, "re-encoding: image geometry differs from its side information");
      goto done;
    }
    e->scan_no = (uint32_t)c;
    if ((st = encode_scan(e, h, img))) goto done;
    start = end;
  }
  st = IMS_OK;
done:
  if (e) {
    free(e->be);
    free(e->tabs);
    free(e->vtab);
    free(e);
  }
  free(h);
  free(geo);
  return st;
}
