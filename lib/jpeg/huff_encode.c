/* jpg_encode: the exact re-encoder. Replays the chunks of the side information through the
 * header walker and Huffman-codes each scan from the coefficients the way libjpeg's
 * jchuff.c / jcphuff.c do, applying the recorded deviations (jpeg_internal.h). */
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/mem.h"
#include "jpeg/jpeg_internal.h"

/* Output bytes one MCU can produce: 10 blocks * 64 symbols * 31 bits, doubled for stuffing. */
#define MCU_RESERVE 8192u

typedef struct ectx {
  buf *out;
  uint64_t acc;
  unsigned n; /* bits in acc (low bits), < 32 between calls */
  ims_err *err;
  const jpg_side *side;
  size_t segx_i, eobx_i;
  uint32_t scan_no;
  uint64_t seg_no;
  bool bad; /* a symbol had no code: sticky, checked per MCU */
  /* progressive AC */
  uint32_t eobrun;
  uint8_t *be; /* correction bits of the pending EOB run, one per byte */
  size_t be_n, be_cap;
} ectx;

/* A bit writer in locals: byte stores through a uint8_t pointer may alias anything, so the
 * hot loops keep the accumulator, count and output cursor out of memory. */
typedef struct bw {
  uint64_t acc;
  unsigned n;
  uint8_t *op;
} bw;

static inline __attribute__((always_inline)) bw bw_load(const ectx *e) {
  bw w = {e->acc, e->n, e->out->p + e->out->len};
  return w;
}
static inline __attribute__((always_inline)) void bw_store(ectx *e, const bw *w) {
  e->acc = w->acc;
  e->n = w->n;
  e->out->len = (size_t)(w->op - e->out->p);
}

static inline __attribute__((always_inline)) void bw_byte(bw *w, uint8_t b) {
  *w->op++ = b;
  if (b == 0xFF) *w->op++ = 0x00;
}

/* n <= 32; v has no bits above n. */
static inline __attribute__((always_inline)) void bw_put(bw *w, uint32_t v, unsigned n) {
  w->acc = (w->acc << n) | v;
  w->n += n;
  if (w->n >= 32) {
    w->n -= 32;
    uint32_t x = (uint32_t)(w->acc >> w->n), y = ~x;
    if (!((y - 0x01010101u) & ~y & 0x80808080u)) { /* no 0xFF byte */
      uint32_t be = __builtin_bswap32(x);
      memcpy(w->op, &be, 4);
      w->op += 4;
    } else {
      bw_byte(w, (uint8_t)(x >> 24));
      bw_byte(w, (uint8_t)(x >> 16));
      bw_byte(w, (uint8_t)(x >> 8));
      bw_byte(w, (uint8_t)x);
    }
  }
}

static inline void emit_byte(ectx *e, uint8_t b) {
  buf *o = e->out;
  o->p[o->len++] = b;
  if (b == 0xFF) o->p[o->len++] = 0x00;
}

static inline void put_bits(ectx *e, uint32_t v, unsigned n) {
  bw w = bw_load(e);
  bw_put(&w, v, n);
  bw_store(e, &w);
}

static inline void put_sym(ectx *e, const jpg_huff *t, unsigned sym) {
  unsigned l = t->esize[sym];
  if (!l) e->bad = true;
  put_bits(e, t->ecode[sym], l);
}

/* Magnitude category and the extra bits of value v (T.81 F.1.2.1). */
static inline unsigned val_bits(int32_t v, uint32_t *bits) {
  uint32_t a = (uint32_t)(v < 0 ? -v : v);
  unsigned nb = jpg_nbits(a);
  *bits = v < 0 ? (uint32_t)(v - 1) & ((1u << nb) - 1) : a;
  return nb;
}

static inline int32_t asr(int32_t x, unsigned s) { return x >= 0 ? x >> s : ~((~x) >> s); }

static ims_status reserve(ectx *e, size_t n) {
  ims_status st = buf_reserve(e->out, n);
  if (st) return ims_fail(e->err, st, "re-encoding: output buffer: %s", ims_strerror(st));
  return IMS_OK;
}

/* Bit k set when coefficient k is not zero. */
static inline uint64_t nz_mask(const int16_t *blk) {
#ifdef __SSE2__
  const __m128i z = _mm_setzero_si128();
  uint64_t m = 0;
  for (unsigned i = 0; i < 64; i += 16) {
    __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(blk + i));
    __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(blk + i + 8));
    __m128i eq = _mm_packs_epi16(_mm_cmpeq_epi16(a, z), _mm_cmpeq_epi16(b, z));
    m |= (uint64_t)(uint16_t)~_mm_movemask_epi8(eq) << i;
  }
  return m;
#else
  uint64_t m = 0;
  for (unsigned k = 0; k < 64; k++) m |= (uint64_t)(blk[k] != 0) << k;
  return m;
#endif
}

static void enc_seq(ectx *e, const jpg_huff *dc, const jpg_huff *ac, const int16_t *blk, int16_t *pred) {
  bw w = bw_load(e);
  bool bad = false;
  int32_t diff = (int16_t)(uint16_t)((uint32_t)(uint16_t)blk[0] - (uint32_t)(uint16_t)*pred);
  *pred = blk[0];
  uint32_t bits;
  unsigned nb = val_bits(diff, &bits);
  if (nb > 15) bad = true;
  unsigned l = dc->esize[nb & 15u];
  if (!l) bad = true;
  bw_put(&w, (uint32_t)dc->ecode[nb & 15u] << nb | bits, l + nb);
  uint64_t m = nz_mask(blk) & ~(uint64_t)1;
  unsigned prev = 0;
  while (m) {
    unsigned k = (unsigned)__builtin_ctzll(m);
    m &= m - 1;
    unsigned r = k - prev - 1;
    prev = k;
    while (r > 15) {
      if (!ac->esize[0xF0]) bad = true;
      bw_put(&w, ac->ecode[0xF0], ac->esize[0xF0]);
      r -= 16;
    }
    nb = val_bits(blk[k], &bits);
    if (nb > 15) bad = true;
    unsigned sym = r << 4 | (nb & 15u);
    l = ac->esize[sym];
    if (!l) bad = true;
    bw_put(&w, (uint32_t)ac->ecode[sym] << nb | bits, l + nb);
  }
  if (prev < 63) {
    if (!ac->esize[0]) bad = true;
    bw_put(&w, ac->ecode[0], ac->esize[0]);
  }
  bw_store(e, &w);
  if (bad) e->bad = true;
}

static void enc_dc_first(ectx *e, const jpg_huff *dc, const int16_t *blk, int32_t *pred, unsigned al) {
  int32_t v = asr(blk[0], al);
  int32_t diff = v - *pred;
  if (al == 0) diff = (int16_t)(uint16_t)(uint32_t)diff;
  *pred = v;
  uint32_t bits;
  unsigned nb = val_bits(diff, &bits);
  if (nb > 15) e->bad = true;
  put_sym(e, dc, nb & 15u);
  put_bits(e, bits, nb);
}

static ims_status flush_eobrun(ectx *e, const jpg_huff *ac) {
  if (e->eobrun == 0) return IMS_OK;
  if (e->eobrun > JPG_MAX_EOBRUN) {
    e->bad = true;
    e->eobrun = JPG_MAX_EOBRUN;
  }
  unsigned nb = jpg_nbits(e->eobrun) - 1;
  put_sym(e, ac, nb << 4);
  put_bits(e, e->eobrun - (1u << nb), nb);
  e->eobrun = 0;
  if (e->be_n) {
    ims_status st = reserve(e, e->be_n / 4 + 16);
    if (st) return st;
    for (size_t i = 0; i < e->be_n; i++) put_bits(e, e->be[i], 1);
    e->be_n = 0;
  }
  return IMS_OK;
}

/* After a block that ended in the pending EOB run: flush it or not (canonical decision,
 * or the recorded deviation for block b). */
static ims_status eob_decide(ectx *e, const jpg_huff *ac, uint32_t b) {
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
  return flush ? flush_eobrun(e, ac) : IMS_OK;
}

static ims_status enc_ac_first(ectx *e, const jpg_huff *ac, const int16_t *blk, const jpg_scan *sc, uint32_t b) {
  ims_status st;
  unsigned al = sc->al;
  int last = sc->se;
  while (last >= sc->ss && (uint32_t)(blk[last] < 0 ? -blk[last] : blk[last]) >> al == 0) last--;
  if (last >= sc->ss) {
    unsigned r = 0;
    for (int k = sc->ss; k <= last; k++) {
      int32_t c = blk[k];
      uint32_t a = (uint32_t)(c < 0 ? -c : c) >> al;
      if (a == 0) {
        r++;
        continue;
      }
      if (e->eobrun && (st = flush_eobrun(e, ac))) return st;
      while (r > 15) {
        put_sym(e, ac, 0xF0);
        r -= 16;
      }
      unsigned nb = jpg_nbits(a);
      if (nb > 15) e->bad = true;
      uint32_t bits = c < 0 ? ~a & ((1u << nb) - 1) : a;
      put_sym(e, ac, r << 4 | (nb & 15u));
      put_bits(e, bits, nb);
      r = 0;
    }
    if (last == sc->se) return IMS_OK;
  }
  e->eobrun++;
  return eob_decide(e, ac, b);
}

static ims_status enc_ac_refine(ectx *e, const jpg_huff *ac, const int16_t *blk, const jpg_scan *sc, uint32_t b) {
  ims_status st;
  unsigned al = sc->al;
  uint32_t absv[64];
  int eob = -1;
  for (int k = sc->ss; k <= sc->se; k++) {
    int32_t c = blk[k];
    absv[k] = (uint32_t)(c < 0 ? -c : c) >> al;
    if (absv[k] == 1) eob = k;
  }
  unsigned r = 0, br_n = 0;
  uint8_t br[64];
  for (int k = sc->ss; k <= sc->se; k++) {
    uint32_t a = absv[k];
    if (a == 0) {
      r++;
      continue;
    }
    while (r > 15 && k <= eob) {
      if (e->eobrun && (st = flush_eobrun(e, ac))) return st;
      put_sym(e, ac, 0xF0);
      r -= 16;
      for (unsigned i = 0; i < br_n; i++) put_bits(e, br[i], 1);
      br_n = 0;
    }
    if (a > 1) {
      br[br_n++] = (uint8_t)(a & 1u);
      continue;
    }
    if (e->eobrun && (st = flush_eobrun(e, ac))) return st;
    put_sym(e, ac, r << 4 | 1u);
    put_bits(e, blk[k] < 0 ? 0u : 1u, 1);
    for (unsigned i = 0; i < br_n; i++) put_bits(e, br[i], 1);
    br_n = 0;
    r = 0;
  }
  if (r > 0 || br_n > 0) {
    e->eobrun++;
    if (br_n && e->be_n + br_n > e->be_cap) {
      size_t cap = e->be_cap ? e->be_cap * 2 : 4096;
      while (cap < e->be_n + br_n) cap *= 2;
      uint8_t *p = realloc(e->be, cap);
      if (!p) return ims_fail(e->err, IMS_E_NOMEM, "out of memory");
      e->be = p;
      e->be_cap = cap;
    }
    if (br_n) memcpy(e->be + e->be_n, br, br_n);
    e->be_n += br_n;
    return eob_decide(e, ac, b);
  }
  return IMS_OK;
}

/* Pads and ends a restart segment, applying its recorded deviations. */
static const jpg_segx *find_segx(ectx *e) {
  const jpg_side *s = e->side;
  while (e->segx_i < s->n_segx && s->segx[e->segx_i].seg < e->seg_no) e->segx_i++;
  if (e->segx_i < s->n_segx && s->segx[e->segx_i].seg == e->seg_no) return &s->segx[e->segx_i];
  return NULL;
}

static ims_status end_segment(ectx *e, const jpg_segx *x, size_t seg_start, uint64_t seg_in_scan, bool last) {
  const jpg_side *s = e->side;
  ims_status st = reserve(e, 32);
  if (st) return st;
  unsigned npad = (8u - (e->n & 7u)) & 7u;
  if (npad) put_bits(e, (x && (x->flags & JPG_SEGX_PAD)) ? (x->pad & ((1u << npad) - 1)) : (1u << npad) - 1, npad);
  while (e->n >= 8) {
    e->n -= 8;
    emit_byte(e, (uint8_t)(e->acc >> e->n));
  }
  buf *o = e->out;
  if (x && (x->flags & JPG_SEGX_SHORT)) {
    for (uint32_t i = 0; i < x->n_short; i++) {
      if (o->len <= seg_start) return ims_fail(e->err, IMS_E_CORRUPT, "JPEG side information: bad segment length");
      if (o->len - seg_start >= 2 && o->p[o->len - 1] == 0x00 && o->p[o->len - 2] == 0xFF) o->len -= 2;
      else o->len -= 1;
    }
  }
  if (x && (x->flags & JPG_SEGX_EXTRA)) {
    if ((st = reserve(e, x->extra_len * 2))) return st;
    for (size_t i = 0; i < x->extra_len; i++) emit_byte(e, s->pool[x->extra_off + i]);
  }
  if (!last) {
    uint32_t n_fill = (x && (x->flags & JPG_SEGX_FILL)) ? x->n_fill : 0;
    if ((st = reserve(e, (size_t)n_fill + 2))) return st;
    memset(o->p + o->len, 0xFF, (size_t)n_fill + 1);
    o->len += (size_t)n_fill + 1;
    o->p[o->len++] = (uint8_t)(0xD0u + (unsigned)(seg_in_scan & 7u));
  }
  return IMS_OK;
}

static ims_status encode_scan(ectx *e, const jpg_hdr *h, const jpg_image *img) {
  const jpg_scan *sc = &h->scan;
  ims_status st = IMS_OK;
  enum { SEQ, DC_FIRST, DC_REFINE, AC_FIRST, AC_REFINE } kind;
  if (!sc->progressive) kind = SEQ;
  else if (sc->ss == 0) kind = sc->ah ? DC_REFINE : DC_FIRST;
  else kind = sc->ah ? AC_REFINE : AC_FIRST;
  const jpg_huff *dct[4], *act[4];
  for (unsigned s = 0; s < sc->ns; s++) {
    dct[s] = &h->dc[sc->td[s]];
    act[s] = &h->ac[sc->ta[s]];
  }
  uint64_t mcu = 0;
  for (uint64_t seg = 0; seg < sc->n_segments; seg++, e->seg_no++) {
    e->acc = 0;
    e->n = 0;
    e->eobrun = 0;
    e->be_n = 0;
    int16_t pred16[4] = {0, 0, 0, 0};
    int32_t pred32[4] = {0, 0, 0, 0};
    size_t seg_start = e->out->len;
    uint64_t mcu_end = mcu + sc->ri;
    if (mcu_end > sc->n_mcus) mcu_end = sc->n_mcus;
    const jpg_segx *x = find_segx(e);
    uint64_t mcu_stop = mcu_end;
    if (x && (x->flags & JPG_SEGX_TRUNC) && x->trunc_mcu < mcu_end - mcu) mcu_stop = mcu + x->trunc_mcu + 1;
    uint32_t mx = (uint32_t)(mcu % sc->mcus_x), my = (uint32_t)(mcu / sc->mcus_x);
    for (; mcu < mcu_stop; mcu++) {
      if ((st = reserve(e, MCU_RESERVE))) return st;
      for (unsigned b = 0; b < sc->n_blocks; b++) {
        unsigned c = sc->blk_c[b], si = sc->blk_si[b];
        const int16_t *blk =
            jpg_block(img, c, my * sc->blk_sy[b] + sc->blk_dy[b], mx * sc->blk_sx[b] + sc->blk_dx[b]);
        switch (kind) {
        case SEQ: enc_seq(e, dct[si], act[si], blk, &pred16[si]); break;
        case DC_FIRST: enc_dc_first(e, dct[si], blk, &pred32[si], sc->al); break;
        case DC_REFINE: put_bits(e, ((uint32_t)(uint16_t)blk[0] >> sc->al) & 1u, 1); break;
        case AC_FIRST: st = enc_ac_first(e, act[0], blk, sc, (uint32_t)mcu); break;
        case AC_REFINE: st = enc_ac_refine(e, act[0], blk, sc, (uint32_t)mcu); break;
        }
        if (st) return st;
      }
      if (e->bad) return ims_fail(e->err, IMS_E_CORRUPT, "scan %u: a coefficient has no Huffman code", e->scan_no);
      if (++mx == sc->mcus_x) {
        mx = 0;
        my++;
      }
    }
    mcu = mcu_end;
    if (kind == AC_FIRST || kind == AC_REFINE) {
      if ((st = reserve(e, 64)) || (st = flush_eobrun(e, act[0]))) return st;
      if (e->bad) return ims_fail(e->err, IMS_E_CORRUPT, "scan %u: an EOB run has no Huffman code", e->scan_no);
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
  ectx e;
  memset(&e, 0, sizeof e);
  e.out = out;
  e.err = err;
  e.side = s;
  if (!h || !geo) {
    st = ims_fail(err, IMS_E_NOMEM, "out of memory");
    goto done;
  }
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
    e.scan_no = (uint32_t)c;
    if ((st = encode_scan(&e, h, img))) goto done;
    start = end;
  }
  st = IMS_OK;
done:
  free(e.be);
  free(h);
  free(geo);
  return st;
}
