/* The JPEG coefficient model's stream layer: jcm_encode / jcm_decode (contract in jpeg.h).
 *
 * Stream (all integers little-endian; docs/JPEG_MODEL.md):
 *   u8      JCM_VERSION
 *   u8      n_comp
 *   n_comp x (u32 w_blocks, u32 h_blocks,     must match the image's geometry
 *             u32 rows_per_band)              from the geometry only (band_plan)
 *   u32     n_jobs                            sum over components of their band counts
 *   n_jobs x u32 job_bytes
 *   the jobs' arithmetic-coded streams, in order
 * An inter stream (coded against 1..JCM_MAX_REFS reference images, issue #4) starts with
 * JCM_VERSION_INTER and u8 n_refs instead of JCM_VERSION and has, between n_jobs and the
 * lengths, n_jobs x u8 mode (0: the job is coded alone, 1: against the references). A
 * stream where no job uses them is written as a plain JCM_VERSION stream.
 * Job order: component 0's bands top to bottom, then component 1's, ... A band of
 * component c is block rows [b * rows_per_band, (b + 1) * rows_per_band) clipped to
 * h_blocks, coded with freshly initialised contexts: components never shared contexts,
 * so cutting by component costs nothing, and only large components are cut into row
 * bands (each cut costs the contexts' learning again). Threads take the jobs largest
 * first (plan.order); the bytes never depend on that order or on the thread count.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/mem.h"
#include "common/pool.h"
#include "jpeg/model.h"

/* Bands hold about a quarter of the image's blocks, at least JCM_MIN_BAND_BLOCKS (each
 * band pays for learning its contexts) and at most JCM_BAND_BLOCKS; a component gets
 * ceil(blocks / that) bands, at most JCM_MAX_BANDS. Photos of 2 Mpixels and more give 4-8
 * jobs of similar size (two threads: 1.7-2x), smaller images 1 job per component. */
#define JCM_BAND_BLOCKS 65536u
#define JCM_MIN_BAND_BLOCKS 16384u
#define JCM_MAX_BANDS 8u
#define JCM_MAX_JOBS (4u * JCM_MAX_BANDS)
/* A job's stream may not exceed this (the u32 length field). */
#define JCM_MAX_JOB_BYTES 0xFFFFFFFFu

typedef struct job_plan {
  uint32_t rows_per_band[4];
  uint32_t n_jobs;
  uint8_t comp[JCM_MAX_JOBS];
  uint32_t row0[JCM_MAX_JOBS], row1[JCM_MAX_JOBS];
  uint8_t order[JCM_MAX_JOBS]; /* jobs by decreasing block count: the order threads take them */
} job_plan;

static ims_status check_geometry(const jpg_image *img, ims_err *err) {
  if (!img || img->n_comp < 1 || img->n_comp > 4) return ims_fail(err, IMS_E_ARG, "jcm: bad component count");
  for (unsigned c = 0; c < img->n_comp; c++) {
    const jpg_component *k = &img->comp[c];
    size_t n;
    if (!ims_mul_size(k->w_blocks, k->h_blocks, &n) || !ims_mul_size(n, 64 * sizeof(int16_t), &n))
      return ims_fail(err, IMS_E_LIMIT, "jcm: component %u: too many blocks", c);
    if (n && !k->coef) return ims_fail(err, IMS_E_ARG, "jcm: component %u: no coefficient array", c);
  }
  return IMS_OK;
}

static void make_plan(const jpg_image *img, job_plan *p) {
  uint64_t total = 0;
  for (unsigned c = 0; c < img->n_comp; c++) total += (uint64_t)img->comp[c].w_blocks * img->comp[c].h_blocks;
  uint64_t target = (total + 3) / 4;
  if (target < JCM_MIN_BAND_BLOCKS) target = JCM_MIN_BAND_BLOCKS;
  if (target > JCM_BAND_BLOCKS) target = JCM_BAND_BLOCKS;
  p->n_jobs = 0;
  for (unsigned c = 0; c < img->n_comp; c++) {
    uint64_t h = img->comp[c].h_blocks;
    uint64_t nb = ((uint64_t)img->comp[c].w_blocks * h + target - 1) / target;
    if (nb > JCM_MAX_BANDS) nb = JCM_MAX_BANDS;
    if (nb > h) nb = h;
    if (nb < 1) nb = 1;
    uint64_t per = h ? (h + nb - 1) / nb : 1;
    p->rows_per_band[c] = (uint32_t)per; /* <= h_blocks or 1 */
    uint64_t r = 0;
    do {
      uint64_t z = r + per < h ? r + per : h;
      p->comp[p->n_jobs] = (uint8_t)c;
      p->row0[p->n_jobs] = (uint32_t)r;
      p->row1[p->n_jobs] = (uint32_t)z;
      p->n_jobs++;
      r = z;
    } while (r < h);
  }
  /* Largest first, so that two threads finish together (LPT scheduling); ties keep the
   * stream order. Only the execution order: the bytes do not depend on it. */
  uint64_t size[JCM_MAX_JOBS];
  for (uint32_t j = 0; j < p->n_jobs; j++) {
    size[j] = (uint64_t)(p->row1[j] - p->row0[j]) * img->comp[p->comp[j]].w_blocks;
    p->order[j] = (uint8_t)j;
  }
  for (uint32_t i = 1; i < p->n_jobs; i++) {
    uint8_t o = p->order[i];
    uint32_t k = i;
    for (; k > 0 && size[p->order[k - 1]] < size[o]; k--) p->order[k] = p->order[k - 1];
    p->order[k] = o;
  }
}

/* The references' coefficients as seen from img, per component: the prediction of each
 * coefficient is the mean of the references' dequantised values in img's quantiser steps,
 * round(sum_j r_j q_j / (n q_img)) with halves away from zero (exact integer arithmetic,
 * clamped to int16), and its fraction class says where the mean lies from it: 0 on it,
 * 1 further from zero (or, when the prediction is 0, above it), 2 towards zero by less
 * than half a step (or below 0), 3 half a step towards zero. One reference with img's
 * quantisers is used as it is (every class 0, frac NULL); the mean of several with img's
 * quantisers is made block by block as the blocks are coded (jcm_refs: no pass over the
 * image and no array, which cost 22% of pack CPU on the synthetic time-lapse, made twice:
 * for the encode and for the verifying decode); other quantisers are mapped once into
 * arrays (own). */
typedef struct ref_view {
  jcm_refs r[4];
  int16_t *own[4];
  uint8_t *own_frac[4];
} ref_view;

static bool ref_geometry_matches(const jpg_image *img, const jpg_image *ref) {
  if (!ref || ref->n_comp != img->n_comp) return false;
  for (unsigned c = 0; c < img->n_comp; c++) {
    const jpg_component *a = &img->comp[c], *b = &ref->comp[c];
    if (a->h != b->h || a->v != b->v || a->w_blocks != b->w_blocks || a->h_blocks != b->h_blocks) return false;
    if (a->w_blocks && a->h_blocks && !b->coef) return false;
  }
  return true;
}

static void ref_view_free(ref_view *v) {
  for (unsigned c = 0; c < 4; c++) {
    free(v->own[c]);
    free(v->own_frac[c]);
  }
}

/* One block of the mean where every reference has img's quantiser at all 64 positions (the
 * common case: frames of one camera): round(sum / nr) with its fraction class, as in
 * ref_view_make's general loop, on local sums so that the compiler vectorises it (nr is a
 * constant in each instance, so the division is a multiplication). */
static inline __attribute__((always_inline)) void mean_block_sameq(const int16_t *const *rp, size_t off,
                                                                   unsigned nr, int16_t *restrict o,
                                                                   uint8_t *restrict f) {
  const int16_t *r0 = rp[0] + off, *r1 = rp[1] + off;
  int32_t s[64];
  for (unsigned i = 0; i < 64; i++) s[i] = (int32_t)r0[i] + r1[i];
  for (unsigned j = 2; j < nr; j++) {
    const int16_t *r = rp[j] + off;
    for (unsigned i = 0; i < 64; i++) s[i] += r[i];
  }
  /* m = round(|sum| / nr); the class follows from |sum| mod nr (checked against the
   * general loop's formula for every sum and nr): for nr = 2 a remainder 1 is rounded up
   * by half a step (3); for 3 and 4 a remainder 1 is class 1 (further from zero), nr - 1
   * class 2 (towards zero by less than half) and, for 4, 2 class 3 (half); except sum =
   * -1, a mean between -1 and 0 (prediction 0, below it: 2). */
  for (unsigned i = 0; i < 64; i++) {
    int32_t sum = s[i]; /* |sum| <= 4 * 2^15 */
    uint32_t a = sum < 0 ? 0u - (uint32_t)sum : (uint32_t)sum;
    uint32_t m, r;
    if (nr == 2) {
      m = (a + 1) >> 1;
      r = (a & 1u) * 3u;
    } else if (nr == 4) {
      m = (a + 2) >> 2;
      r = (a & 3u) ^ ((a & 3u) >> 1);
      r = sum == -1 ? 2u : r;
    } else {
      m = (2 * a + 3) / 6;
      r = a - 3 * (a / 3);
      r = sum == -1 ? 2u : r;
    }
    bool big = m > 32767; /* only sums within nr / 2 of -nr * 32768 */
    m = big ? 32767u : m;
    r = big ? 0u : r;
    o[i] = (int16_t)(sum < 0 ? -(int32_t)m : (int32_t)m);
    f[i] = (uint8_t)r;
  }
}

/* The same in 16-bit lanes (twice as many per vector), for blocks whose reference values
 * all lie in [-8192, 8191] (every real JPEG's: the sums fit int16, no clamp is needed);
 * false, with nothing written, for the others. Checked against the general formula for
 * every sum in range and every nr. */
static inline __attribute__((always_inline)) bool mean_block_16(const int16_t *const *rp, size_t off, unsigned nr,
                                                                int16_t *restrict o, uint8_t *restrict f) {
  int16_t s[64];
  unsigned out = 0;
  for (unsigned i = 0; i < 64; i++) s[i] = 0;
  for (unsigned j = 0; j < nr; j++) {
    const int16_t *r = rp[j] + off;
    for (unsigned i = 0; i < 64; i++) {
      s[i] = (int16_t)(s[i] + r[i]);
      out |= (unsigned)(uint16_t)((uint16_t)r[i] + 8192u) >> 14;
    }
  }
  if (out) return false;
  for (unsigned i = 0; i < 64; i++) {
    int16_t sum = s[i];
    uint16_t a = (uint16_t)(sum < 0 ? -sum : sum);
    uint16_t m, r;
    if (nr == 2) {
      m = (uint16_t)((a + 1u) >> 1);
      r = (uint16_t)((a & 1u) * 3u);
    } else if (nr == 4) {
      m = (uint16_t)((a + 2u) >> 2);
      r = (uint16_t)((a & 3u) ^ ((a & 3u) >> 1));
      r = sum == -1 ? 2 : r;
    } else {
      m = (uint16_t)((uint16_t)(2u * a + 3u) / 6u);
      r = (uint16_t)(a - 3u * (uint16_t)(a / 3u));
      r = sum == -1 ? 2 : r;
    }
    o[i] = (int16_t)(sum < 0 ? -(int16_t)m : (int16_t)m);
    f[i] = (uint8_t)r;
  }
  return true;
}

#ifdef __SSE2__
/* mean_block_16 written with SSE2 intrinsics: the compiler's version of it widened the
 * range check and the classes to 32-bit lanes (9% of the pack of a noisy time-lapse with 4
 * references, made block by block three times per content). The same results for every
 * sum in range and every nr (checked exhaustively against mean_block_16): |sum| <= 4 * 8192
 * is taken as unsigned 16-bit (max(sum, -sum) is 0x8000 for -32768, read as 32768), a / 3
 * is mulhi(a, 21846), exact for a < 3 * 8192 + 2. */
static inline __attribute__((always_inline)) bool mean_block_16_sse2(const int16_t *const *rp, size_t off,
                                                                     unsigned nr, int16_t *restrict o,
                                                                     uint8_t *restrict f) {
  const __m128i bias = _mm_set1_epi16(0x2000), zero = _mm_setzero_si128();
  __m128i s[8], acc = zero;
  {
    const __m128i *r = (const __m128i *)(const void *)(rp[0] + off);
    for (unsigned i = 0; i < 8; i++) {
      s[i] = _mm_loadu_si128(r + i);
      acc = _mm_or_si128(acc, _mm_add_epi16(s[i], bias));
    }
  }
  for (unsigned j = 1; j < nr; j++) {
    const __m128i *r = (const __m128i *)(const void *)(rp[j] + off);
    for (unsigned i = 0; i < 8; i++) {
      __m128i v = _mm_loadu_si128(r + i);
      s[i] = _mm_add_epi16(s[i], v);
      acc = _mm_or_si128(acc, _mm_add_epi16(v, bias));
    }
  }
  /* a value outside [-8192, 8191] sets bit 14 or 15 of value + 8192 */
  if (_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(acc, _mm_set1_epi16((int16_t)0xC000)), zero)) != 0xFFFF)
    return false;
  const __m128i one = _mm_set1_epi16(1), two = _mm_set1_epi16(2), three = _mm_set1_epi16(3),
                m1 = _mm_set1_epi16(-1), third = _mm_set1_epi16(21846);
  __m128i cls[8];
  for (unsigned i = 0; i < 8; i++) {
    __m128i sum = s[i];
    __m128i a = _mm_max_epi16(sum, _mm_sub_epi16(zero, sum)); /* unsigned |sum| */
    __m128i m, r;
    if (nr == 2) {
      m = _mm_srli_epi16(_mm_add_epi16(a, one), 1);
      r = _mm_and_si128(a, one);
      r = _mm_or_si128(r, _mm_slli_epi16(r, 1));
    } else {
      if (nr == 4) {
        m = _mm_srli_epi16(_mm_add_epi16(a, two), 2);
        r = _mm_and_si128(a, three);
        r = _mm_xor_si128(r, _mm_srli_epi16(r, 1));
      } else {
        m = _mm_mulhi_epu16(_mm_add_epi16(a, one), third);
        r = _mm_sub_epi16(a, _mm_mullo_epi16(_mm_mulhi_epu16(a, third), three));
      }
      __m128i is_m1 = _mm_cmpeq_epi16(sum, m1);
      r = _mm_or_si128(_mm_andnot_si128(is_m1, r), _mm_and_si128(is_m1, two));
    }
    __m128i sg = _mm_srai_epi16(sum, 15);
    _mm_storeu_si128((__m128i *)(void *)(o + 8 * i), _mm_sub_epi16(_mm_xor_si128(m, sg), sg));
    cls[i] = r;
  }
  for (unsigned i = 0; i < 4; i++)
    _mm_storeu_si128((__m128i *)(void *)(f + 16 * i), _mm_packus_epi16(cls[2 * i], cls[2 * i + 1]));
  return true;
}
#define MEAN_BLOCK_16 mean_block_16_sse2
#else
#define MEAN_BLOCK_16 mean_block_16
#endif

void jcm_mean_block(const jcm_refs *r, size_t off, int16_t o[64], uint8_t f[64]) {
  switch (r->nr) {
  case 2:
    if (!MEAN_BLOCK_16(r->ref, off, 2, o, f)) mean_block_sameq(r->ref, off, 2, o, f);
    break;
  case 3:
    if (!MEAN_BLOCK_16(r->ref, off, 3, o, f)) mean_block_sameq(r->ref, off, 3, o, f);
    break;
  default:
    if (!MEAN_BLOCK_16(r->ref, off, 4, o, f)) mean_block_sameq(r->ref, off, 4, o, f);
    break;
  }
}

/* refs[0 .. nr): 1 <= nr <= JCM_MAX_REFS, geometry checked. Only the components whose bit
 * is set in comps are made (the others stay empty). */
static ims_status ref_view_make(const jpg_image *img, const jpg_image *const *refs, unsigned nr, unsigned comps,
                                ref_view *v) {
  memset(v, 0, sizeof *v);
  for (unsigned c = 0; c < img->n_comp; c++) {
    if (!(comps >> c & 1u)) continue;
    const uint16_t *qi = img->qt[img->comp[c].tq & 3];
    if (nr == 1 && memcmp(qi, refs[0]->qt[refs[0]->comp[c].tq & 3], 64 * sizeof *qi) == 0) {
      v->r[c].coef = refs[0]->comp[c].coef;
      continue;
    }
    const int16_t *rp[JCM_MAX_REFS];
    int64_t den[64], mr[JCM_MAX_REFS][64];
    for (unsigned j = 0; j < nr; j++) rp[j] = refs[j]->comp[c].coef;
    for (int i = 0; i < 64; i++) {
      den[i] = (int64_t)nr * (qi[i] ? qi[i] : 1);
      for (unsigned j = 0; j < nr; j++) {
        uint16_t q = refs[j]->qt[refs[j]->comp[c].tq & 3][i];
        mr[j][i] = q ? q : 1;
      }
    }
    /* Where every reference has this image's quantiser the mean is round(sum / nr), and
     * the division by 2 nr is a multiplication: exact for the numerators here (< 2^19). */
    bool sameq[64], all_same = nr > 1;
    for (int i = 0; i < 64; i++) {
      sameq[i] = true;
      for (unsigned j = 0; j < nr; j++) sameq[i] = sameq[i] && mr[j][i] == (qi[i] ? qi[i] : 1);
      all_same = all_same && sameq[i];
    }
    if (all_same) { /* made block by block (jcm_mean_block) */
      for (unsigned j = 0; j < nr; j++) v->r[c].ref[j] = rp[j];
      v->r[c].nr = nr;
      continue;
    }
    size_t n = (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 64; /* checked by check_geometry */
    int16_t *o = malloc(n * sizeof *o + 1);
    uint8_t *f = malloc(n + 1);
    v->own[c] = o;
    v->own_frac[c] = f;
    if (!o || !f) {
      ref_view_free(v);
      return IMS_E_NOMEM;
    }
    const uint64_t recip = ((uint64_t)1 << 32) / (2 * nr) + 1; /* ceil: 2 nr is no power of 2 or exact */
    for (size_t t = 0; t < n; t++) {
      size_t i = t & 63;
      if (sameq[i]) {
        int32_t sum = 0; /* |sum| <= 4 * 2^15 */
        for (unsigned j = 0; j < nr; j++) sum += rp[j][t];
        uint32_t a = sum < 0 ? (uint32_t)-sum : (uint32_t)sum;
        uint32_t m = (uint32_t)(((uint64_t)(2 * a + nr) * recip) >> 32);
        int32_t rem = (int32_t)a - (int32_t)(m * nr); /* in [-nr / 2, nr / 2) */
        if (m > 32767) {
          m = 32767;
          rem = 0;
        }
        o[t] = (int16_t)(sum < 0 ? -(int32_t)m : (int32_t)m);
        f[t] = rem == 0                  ? 0
               : m == 0                  ? (sum > 0 ? 1 : 2)
               : rem > 0                 ? 1
               : 2 * -rem >= (int32_t)nr ? 3
                                         : 2;
        continue;
      }
      int64_t num = 0; /* |num| < 4 * 2^15 * 2^16 */
      for (unsigned j = 0; j < nr; j++) num += rp[j][t] * mr[j][i];
      if (num == 0) { /* most coefficients: skip the division, same result */
        o[t] = 0;
        f[t] = 0;
        continue;
      }
      int64_t a = num < 0 ? -num : num;
      int64_t m = (2 * a + den[i]) / (2 * den[i]);
      int64_t rem = a - m * den[i]; /* in [-den / 2, den / 2): > 0 means further from zero */
      if (m > 32767) {
        m = 32767;
        rem = 0;
      }
      o[t] = (int16_t)(num < 0 ? -m : m);
      f[t] = rem == 0 ? 0 : m == 0 ? (num > 0 ? 1 : 2) : rem > 0 ? 1 : 2 * -rem >= den[i] ? 3 : 2;
    }
    v->r[c].coef = o;
    v->r[c].frac = f;
  }
  return IMS_OK;
}

/* How a band is coded when there is a reference, from a cheap look at it: bands where at
 * least 1/8 of the blocks equal the reference's, or at least half of the non-zero
 * coefficients equal the reference's, are coded against it (inter always won there in our
 * corpora); bands where fewer than 1/8 of the non-zero coefficients do are coded alone
 * (unrelated content: inter never won there); the others are coded both ways and keep
 * the shorter. With several references, an inter band is coded both against the nearest
 * (mode 1: what repeats exactly, as in corpus/timelapse) and against their mean (mode 2:
 * noise), and the shorter is kept. */
enum { TRY_INTRA = 1, TRY_INTER = 2 };

/* Block x against y: 1 when equal, else 0 and its non-zeros (*nz) and those equal to y's
 * (*nz_eq) added. Branch-free, through masks. */
static inline unsigned block_vs(const int16_t *x, const int16_t *y, size_t *nz, size_t *nz_eq) {
  uint64_t eq = eq_mask(x, y);
  if (eq == ~(uint64_t)0) return 1;
  uint64_t m = jpg_nz_mask(x);
  *nz += pop64(m);
  *nz_eq += pop64(m & eq);
  return 0;
}

/* *same_out: the band's blocks equal to refc's (the first component's, summed over its
 * bands, also decide whether the mean of several references is tried: one pass). The
 * scan stops once enough * 8 blocks are equal (enough >= the band's blocks: the answer is
 * then TRY_INTER whatever follows; *same_out is then a count that reached enough / 8). */
static unsigned band_tries(const jpg_image *img, const int16_t *refc, unsigned comp, uint32_t row0, uint32_t row1,
                           size_t enough, size_t *same_out) {
  const jpg_component *k = &img->comp[comp];
  const size_t w = k->w_blocks;
  size_t n = (size_t)(row1 - row0) * w, same = 0, nz = 0, nz_eq = 0;
  const int16_t *a = k->coef + (size_t)row0 * w * 64, *b = refc + (size_t)row0 * w * 64;
  for (size_t i = 0; i < n; i += w) {
    for (size_t x = i; x < i + w; x++) same += block_vs(a + x * 64, b + x * 64, &nz, &nz_eq);
    if (same * 8 >= enough) break;
  }
  *same_out = same;
  if (same * 8 >= n || nz_eq * 2 >= nz) return TRY_INTER;
  if (nz_eq * 8 < nz) return TRY_INTRA;
  return TRY_INTRA | TRY_INTER;
}

/* Coefficients of the band equal to the view's, counted where either is non-zero: the
 * cheap choice between the nearest reference and the mean of several (one inter pass
 * instead of two; coding both and keeping the shorter cost 70% more pack CPU on a
 * time-lapse for 0.01% in size, docs/JPEG_MODEL.md), counted in every third block: the
 * mean is made block by block here, again in the encode and in the verifying decode
 * (synthetic noisy time-lapse: pack -j1 CPU 0.96 -> 0.93 s, the same archive; the same
 * archive of corpus/timelapse too, where every second block flipped one band's choice). */
enum { BAND_EQUAL_STEP = 3 };

static size_t band_equal(const jpg_image *img, const jcm_refs *rf, unsigned comp, uint32_t row0, uint32_t row1) {
  const jpg_component *k = &img->comp[comp];
  size_t t0 = (size_t)row0 * k->w_blocks * 64, t1 = (size_t)row1 * k->w_blocks * 64, eq = 0;
  for (size_t t = t0; t < t1; t += 64 * BAND_EQUAL_STEP) {
    int16_t o[64];
    uint8_t f[64];
    const int16_t *b;
    const uint8_t *fb;
    jcm_refs_block(rf, t, o, f, &b, &fb);
    const int16_t *a = k->coef + t;
    eq += pop64(jpg_nz_mask(a) & eq_mask(a, b)); /* equal and not both 0 */
  }
  return eq;
}

/* Fresh contexts for a job: a copy of the template when the call made one (several jobs
 * per call: a copy of 600 KB costs far less than initialising it again), else initialised. */
static void ctx_fresh(jcm_ctx *m, const jcm_ctx *tmpl) {
  if (tmpl)
    memcpy(m, tmpl, sizeof *m);
  else
    jcm_ctx_init(m);
}

/* An inter context buffer with the log of the chunks its fresh contexts were used in
 * (model.h jcm_ilog). ready: the contexts with a parent equal the templates' (p0 32768,
 * n 0) outside the logged chunks, so that copying back those chunks and the contexts
 * without a parent resets it. */
typedef struct ictx_buf {
  jcm_ictx mi;
  jcm_ilog lg;
  bool ready;
} ictx_buf;

#define ICTX_FIELD(f) {offsetof(jcm_ictx, f), sizeof(((jcm_ictx *)0)->f)}
/* The contexts with a parent (cbit_inherit in model_block.c), in field order. */
static const struct {
  size_t off, len;
} ictx_inherited[] = {ICTX_FIELD(ac_eq), ICTX_FIELD(ac_exp), ICTX_FIELD(ac_sign), ICTX_FIELD(d_sign),
                      ICTX_FIELD(d_exp), ICTX_FIELD(ed_eq), ICTX_FIELD(ed_dexp)};

/* tmpl: the templates of the first component and of the others (jcm_ictx_init's chroma).
 * A buffer that is ready gets back only what a band can have changed: the contexts
 * without a parent (133 KB) and the logged chunks, instead of all 843 KB. The contexts
 * with a parent are the same in both templates. Measured: corpus/timelapse `pack -j1`
 * CPU 6.22 -> 6.16 s (medians of 5); less than the copy's share (2%), as the contexts a
 * band uses first are now fetched then instead of by the copy. */
static void ictx_fresh(ictx_buf *b, const jcm_ictx *tmpl, unsigned comp) {
  char *m = (char *)&b->mi;
  if (!tmpl) {
    jcm_ictx_init(&b->mi, comp > 0);
  } else if (!b->ready) {
    memcpy(m, &tmpl[comp > 0], sizeof b->mi);
  } else {
    const char *t = (const char *)&tmpl[comp > 0];
    size_t at = 0;
    for (size_t i = 0; i < sizeof ictx_inherited / sizeof ictx_inherited[0]; i++) {
      memcpy(m + at, t + at, ictx_inherited[i].off - at);
      at = ictx_inherited[i].off + ictx_inherited[i].len;
    }
    memcpy(m + at, t + at, sizeof b->mi - at);
    for (size_t w = 0; w < sizeof b->lg.bits / sizeof b->lg.bits[0]; w++) {
      for (uint64_t x = b->lg.bits[w]; x; x &= x - 1) {
        size_t o = (w * 64 + (size_t)__builtin_ctzll(x)) * 64;
        memcpy(m + o, t + o, sizeof b->mi - o < 64 ? sizeof b->mi - o : 64);
      }
    }
#ifndef NDEBUG
    (void)IMS_NEVER(memcmp(m, t, sizeof b->mi) != 0);
#endif
  }
  memset(b->lg.bits, 0, sizeof b->lg.bits);
  b->lg.base = &b->mi;
  b->ready = true;
}

/* Context memory aligned to cache lines: the 16 exponent contexts of one value (64 bytes)
 * then take one line, not two (malloc's large blocks are 16 bytes past a page); jcm_ctx
 * and jcm_ictx require it (model.h JCM_LINE). */
static void *alloc_lines(size_t n) { return aligned_alloc(64, (n + 63) & ~(size_t)63); }

/* Templates for a call that will initialise contexts at least twice; NULL otherwise or
 * when out of memory (then every job initialises its own). */
static jcm_ctx *ctx_template(bool want) {
  jcm_ctx *t = want ? alloc_lines(sizeof *t) : NULL;
  if (t) jcm_ctx_init(t);
  return t;
}

static jcm_ictx *ictx_template(bool want) {
  jcm_ictx *t = want ? alloc_lines(2 * sizeof *t) : NULL;
  if (t) {
    jcm_ictx_init(&t[0], false);
    jcm_ictx_init(&t[1], true);
  }
  return t;
}

/* Shared context memory (jpeg.h jcm_work): templates made once, and up to
 * JCM_WORK_KEEP buffers of each kind kept between bands and calls (a writer runs at most
 * a few calls at once). Invariant: tmpl and itmpl are initialised and never written after
 * jcm_work_new; the spare lists are only touched under mu. */
#define JCM_WORK_KEEP 8u
struct jcm_work {
  pthread_mutex_t mu;
  jcm_ctx *tmpl;
  jcm_ictx *itmpl; /* 2: the first component's and the others' (jcm_ictx_init's chroma) */
  void *spare[2][JCM_WORK_KEEP]; /* [0]: jcm_ctx, [1]: jcm_ictx */
  unsigned n_spare[2];
};

jcm_work *jcm_work_new(void) {
  jcm_work *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->tmpl = alloc_lines(sizeof *w->tmpl);
  w->itmpl = alloc_lines(2 * sizeof *w->itmpl);
  if (!w->tmpl || !w->itmpl || pthread_mutex_init(&w->mu, NULL) != 0) {
    free(w->tmpl);
    free(w->itmpl);
    free(w);
    return NULL;
  }
  jcm_ctx_init(w->tmpl);
  jcm_ictx_init(&w->itmpl[0], false);
  jcm_ictx_init(&w->itmpl[1], true);
  return w;
}

void jcm_work_free(jcm_work *w) {
  if (!w) return;
  for (unsigned k = 0; k < 2; k++)
    for (unsigned i = 0; i < w->n_spare[k]; i++) free(w->spare[k][i]);
  (void)pthread_mutex_destroy(&w->mu);
  free(w->tmpl);
  free(w->itmpl);
  free(w);
}

/* A context buffer of kind k (0: jcm_ctx, 1: ictx_buf), from w's spares or new. */
static void *work_take(jcm_work *w, unsigned k) {
  void *p = NULL;
  if (w) {
    (void)pthread_mutex_lock(&w->mu);
    if (w->n_spare[k]) p = w->spare[k][--w->n_spare[k]];
    (void)pthread_mutex_unlock(&w->mu);
  }
  if (!p && (p = alloc_lines(k ? sizeof(ictx_buf) : sizeof(jcm_ctx))) != NULL && k) ((ictx_buf *)p)->ready = false;
  return p;
}

static void work_give(jcm_work *w, unsigned k, void *p) {
  if (w && p) {
    (void)pthread_mutex_lock(&w->mu);
    if (w->n_spare[k] < JCM_WORK_KEEP) {
      w->spare[k][w->n_spare[k]++] = p;
      p = NULL;
    }
    (void)pthread_mutex_unlock(&w->mu);
  }
  free(p);
}

/* ---------------------------------------------------------------- encoder */

typedef struct enc_job {
  const jpg_image *img;
  const ref_view *ref[2]; /* the nearest reference, the mean of all (NULL: none / one reference) */
  const jcm_ctx *tmpl; /* NULL: each job initialises its contexts */
  const jcm_ictx *itmpl; /* NULL, or the templates of the first component and of the others */
  jcm_work *work; /* may be NULL */
  job_plan plan;
  ac_enc bands[JCM_MAX_JOBS]; /* one encoder per job, its bytes the result */
  uint8_t mode[JCM_MAX_JOBS]; /* 0 alone, 1 against the nearest reference, 2 against the mean */
  uint8_t tries[JCM_MAX_JOBS]; /* with a reference: band_tries */
  ims_status st[JCM_MAX_JOBS];
} enc_job;

static void encode_band(void *ctx, size_t k) {
  enc_job *j = ctx;
  size_t b = j->plan.order[k];
  ac_enc *e = &j->bands[b];
  jcm_ctx *m = work_take(j->work, 0);
  if (!m) {
    j->st[b] = IMS_E_NOMEM;
    return;
  }
  unsigned comp = j->plan.comp[b];
  uint32_t row0 = j->plan.row0[b], row1 = j->plan.row1[b];
  const int16_t *refc = j->ref[0] ? j->ref[0]->r[comp].coef : NULL; /* one reference: always arrays */
  unsigned tries = refc ? j->tries[b] : TRY_INTRA;
  bool intra = (tries & TRY_INTRA) != 0;
  ims_status st = IMS_OK;
  j->mode[b] = 0;
  if (intra) {
    ctx_fresh(m, j->tmpl);
    st = jcm_encode_rows(j->img, comp, row0, row1, m, e);
    if (!st) st = ac_enc_finish(e);
  }
  bool have = intra; /* e holds a stream */
  /* With several references: the view with more equal coefficients only. */
  unsigned only = 2;
  if ((tries & TRY_INTER) && j->ref[1])
    only = band_equal(j->img, &j->ref[1]->r[comp], comp, row0, row1) >
                   band_equal(j->img, &j->ref[0]->r[comp], comp, row0, row1)
               ? 1u
               : 0u;
  for (unsigned w = 0; w < 2 && !st && (tries & TRY_INTER); w++) {
    const ref_view *rv = j->ref[w];
    if (!rv || (only < 2 && w != only)) continue;
    ictx_buf *mi = work_take(j->work, 1);
    ac_enc ei;
    ac_enc_init(&ei, JCM_MAX_JOB_BYTES);
    if (!mi) st = IMS_E_NOMEM;
    if (!st) {
      ctx_fresh(m, j->tmpl);
      ictx_fresh(mi, j->itmpl, comp);
      st = jcm_encode_rows_inter(j->img, &rv->r[comp], comp, row0, row1, m, &mi->mi, &mi->lg, &ei);
      if (!st) st = ac_enc_finish(&ei);
    }
    if (!st && (!have || ei.len < e->len)) {
      ac_enc t = *e;
      *e = ei;
      ei = t;
      j->mode[b] = (uint8_t)(w + 1);
      have = true;
    }
    ac_enc_free(&ei);
    work_give(j->work, 1, mi);
  }
  work_give(j->work, 0, m);
  j->st[b] = st;
}

ims_status jcm_encode(const jpg_image *img, const jpg_image *ref, unsigned threads, buf *out, ims_err *err) {
  return jcm_encode_refs(img, ref ? &ref : NULL, ref != NULL, threads, out, err);
}

ims_status jcm_encode_refs(const jpg_image *img, const jpg_image *const *refs, unsigned n_refs, unsigned threads,
                           buf *out, ims_err *err) {
  return jcm_encode_refs_w(img, refs, n_refs, threads, NULL, out, err);
}

ims_status jcm_encode_refs_w(const jpg_image *img, const jpg_image *const *refs, unsigned n_refs, unsigned threads,
                             jcm_work *work, buf *out, ims_err *err) {
  ims_status st = check_geometry(img, err);
  if (st) return st;
  if (n_refs > JCM_MAX_REFS || (n_refs && !refs)) return ims_fail(err, IMS_E_ARG, "jcm: bad reference list");
  /* References of another geometry cannot help: the leading ones that fit are used. */
  unsigned nr = 0;
  while (nr < n_refs && ref_geometry_matches(img, refs[nr])) nr++;
  /* the nearest reference alone, and with several the mean of all of them */
  ref_view rv[2];
  memset(rv, 0, sizeof rv);
  enc_job *jp = malloc(sizeof *jp);
  if (!jp) return ims_fail(err, IMS_E_NOMEM, "jcm: out of memory");
  enc_job *const j = jp;
  make_plan(img, &j->plan);
  if (nr > 0 && ref_view_make(img, refs, 1, 0xFu, &rv[0]) != IMS_OK) {
    free(jp);
    return ims_fail(err, IMS_E_NOMEM, "jcm: out of memory");
  }
  /* Where the first component repeats the nearest reference block for block (at least
   * 1/8 of its blocks: a fixed camera's MJPEG, corpus/timelapse), the mean of several
   * only blurs the repeats: it is not made, nor tried (docs/JPEG_MODEL.md). */
  /* A scan of the first component stops only at 1/8 of the whole component, so that the
   * partial counts still decide the mean as the full ones would. */
  const size_t n0 = (size_t)img->comp[0].w_blocks * img->comp[0].h_blocks;
  size_t same0 = 0;
  for (uint32_t b = 0; b < j->plan.n_jobs && nr > 0; b++) {
    unsigned c = j->plan.comp[b];
    size_t same, enough = c == 0 ? n0 : (size_t)(j->plan.row1[b] - j->plan.row0[b]) * img->comp[c].w_blocks;
    j->tries[b] = (uint8_t)band_tries(img, rv[0].r[c].coef, c, j->plan.row0[b], j->plan.row1[b], enough, &same);
    if (c == 0) same0 += same;
  }
  bool mean = nr > 1 && same0 * 8 < n0;
  if (mean && ref_view_make(img, refs, nr, 0xFu, &rv[1]) != IMS_OK) {
    ref_view_free(&rv[0]);
    free(jp);
    return ims_fail(err, IMS_E_NOMEM, "jcm: out of memory");
  }
  j->img = img;
  j->ref[0] = nr > 0 ? &rv[0] : NULL;
  j->ref[1] = mean ? &rv[1] : NULL;
  for (uint32_t b = 0; b < j->plan.n_jobs; b++) {
    ac_enc_init(&j->bands[b], JCM_MAX_JOB_BYTES);
    j->st[b] = IMS_OK;
  }
  /* with several references each band may be coded against two views */
  jcm_ctx *tmpl = work ? NULL : ctx_template(j->plan.n_jobs > 1 || nr > 0);
  jcm_ictx *itmpl = work ? NULL : ictx_template((j->plan.n_jobs > 1 || nr > 1) && nr > 0);
  j->tmpl = work ? work->tmpl : tmpl;
  j->itmpl = work ? work->itmpl : itmpl;
  j->work = work;
  if (threads == 0) threads = pool_cores();
  st = pool_run(threads, j->plan.n_jobs, encode_band, j);
  free(tmpl);
  free(itmpl);
  if (st) {
    st = ims_fail(err, st, "jcm: cannot start threads");
    goto done;
  }
  for (uint32_t b = 0; b < j->plan.n_jobs; b++) {
    if (j->st[b]) {
      st = ims_fail(err, j->st[b], "jcm: band %u: %s", b, ims_strerror(j->st[b]));
      goto done;
    }
  }
  /* the stream needs the nearest reference only, unless a band uses the mean */
  unsigned need = 0;
  for (uint32_t b = 0; b < j->plan.n_jobs; b++) {
    if (j->mode[b] == 1 && need < 1) need = 1;
    if (j->mode[b] == 2) need = nr;
  }
  bool inter = need > 0;
  st = buf_append_u8(out, inter ? JCM_VERSION_INTER : JCM_VERSION);
  if (!st && inter) st = buf_append_u8(out, (uint8_t)need);
  if (!st) st = buf_append_u8(out, img->n_comp);
  for (unsigned c = 0; c < img->n_comp && !st; c++) {
    st = buf_append_u32le(out, img->comp[c].w_blocks);
    if (!st) st = buf_append_u32le(out, img->comp[c].h_blocks);
    if (!st) st = buf_append_u32le(out, j->plan.rows_per_band[c]);
  }
  if (!st) st = buf_append_u32le(out, j->plan.n_jobs);
  for (uint32_t b = 0; b < j->plan.n_jobs && !st && inter; b++) st = buf_append_u8(out, j->mode[b]);
  for (uint32_t b = 0; b < j->plan.n_jobs && !st; b++) st = buf_append_u32le(out, (uint32_t)j->bands[b].len);
  for (uint32_t b = 0; b < j->plan.n_jobs && !st; b++) st = buf_append(out, j->bands[b].out, j->bands[b].len);
  if (st) st = ims_fail(err, st, "jcm: output: %s", ims_strerror(st));
done:
  for (uint32_t b = 0; b < j->plan.n_jobs; b++) ac_enc_free(&j->bands[b]);
  free(jp);
  ref_view_free(&rv[0]);
  ref_view_free(&rv[1]);
  return st;
}

unsigned jcm_stream_refs(const uint8_t *data, size_t len) {
  return len > 1 && data[0] == JCM_VERSION_INTER ? data[1] : 0;
}

bool jcm_stream_is_inter(const uint8_t *data, size_t len) { return len > 0 && data[0] == JCM_VERSION_INTER; }

/* ---------------------------------------------------------------- decoder */

typedef struct dec_job {
  jpg_image *img;
  const ref_view *ref[2]; /* as in enc_job */
  const jcm_ctx *tmpl; /* NULL: each job initialises its contexts */
  const jcm_ictx *itmpl; /* NULL, or the templates of the first component and of the others */
  jcm_work *work; /* may be NULL */
  uint8_t mode[JCM_MAX_JOBS];
  job_plan plan;
  const uint8_t *data[JCM_MAX_JOBS];
  size_t len[JCM_MAX_JOBS];
  ims_status st[JCM_MAX_JOBS];
} dec_job;

static void decode_band(void *ctx, size_t k) {
  dec_job *j = ctx;
  size_t b = j->plan.order[k];
  jcm_ctx *m = work_take(j->work, 0);
  if (!m) {
    j->st[b] = IMS_E_NOMEM;
    return;
  }
  ac_dec d;
  ac_dec_init(&d, j->data[b], j->len[b]);
  bool bad = false;
  ctx_fresh(m, j->tmpl);
  ims_status st;
  unsigned comp = j->plan.comp[b];
  if (j->mode[b]) {
    ictx_buf *mi = work_take(j->work, 1);
    if (!mi) {
      st = IMS_E_NOMEM;
    } else {
      ictx_fresh(mi, j->itmpl, comp);
      const ref_view *rv = j->ref[j->mode[b] - 1];
      st = jcm_decode_rows_inter(j->img, &rv->r[comp], comp, j->plan.row0[b], j->plan.row1[b], m, &mi->mi, &mi->lg,
                                 &d, &bad);
      work_give(j->work, 1, mi);
    }
  } else {
    st = jcm_decode_rows(j->img, comp, j->plan.row0[b], j->plan.row1[b], m, &d, &bad);
  }
  work_give(j->work, 0, m);
  if (!st && (bad || !ac_dec_ok(&d))) st = IMS_E_CORRUPT;
  j->st[b] = st;
}

ims_status jcm_decode(const uint8_t *data, size_t len, jpg_image *img, const jpg_image *ref, unsigned threads,
                      ims_err *err) {
  return jcm_decode_refs(data, len, img, ref ? &ref : NULL, ref != NULL, threads, err);
}

ims_status jcm_decode_refs(const uint8_t *data, size_t len, jpg_image *img, const jpg_image *const *refs,
                           unsigned n_refs, unsigned threads, ims_err *err) {
  return jcm_decode_refs_w(data, len, img, refs, n_refs, threads, NULL, err);
}

ims_status jcm_decode_refs_w(const uint8_t *data, size_t len, jpg_image *img, const jpg_image *const *refs,
                             unsigned n_refs, unsigned threads, jcm_work *work, ims_err *err) {
  ims_status st = check_geometry(img, err);
  if (st) return st;
  if (!data && len) return ims_fail(err, IMS_E_ARG, "jcm: no data");
  if (n_refs > JCM_MAX_REFS || (n_refs && !refs)) return ims_fail(err, IMS_E_ARG, "jcm: bad reference list");
  rd r = rd_make(data, len);
  uint8_t ver, nc, nr = 0;
  if (!rd_u8(&r, &ver)) return ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
  /* development builds' streams, and the inter streams of the model with one reference */
  if ((ver >= JCM_VERSION_OLDEST && ver < JCM_VERSION) || (ver >= JCM_VERSION_INTER_OLD && ver < JCM_VERSION_INTER))
    return ims_fail(err, IMS_E_VERSION, "jcm: stream version %u is from a development build (this one reads %u and %u)",
                    ver, JCM_VERSION, JCM_VERSION_INTER);
  if (ver != JCM_VERSION && ver != JCM_VERSION_INTER)
    return ims_fail(err, ver > JCM_VERSION_INTER ? IMS_E_VERSION : IMS_E_CORRUPT, "jcm: unknown stream version %u",
                    ver);
  const bool inter = ver == JCM_VERSION_INTER;
  if ((inter && !rd_u8(&r, &nr)) || !rd_u8(&r, &nc)) return ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
  if (inter && (nr < 1 || nr > JCM_MAX_REFS)) return ims_fail(err, IMS_E_CORRUPT, "jcm: bad reference count %u", nr);
  /* Never a silent wrong result: an inter stream needs its references, and a stream coded
   * alone is never given one (the caller's bookkeeping of references is wrong). */
  if (inter && !n_refs) return ims_fail(err, IMS_E_CORRUPT, "jcm: stream coded against a reference, none given");
  if (!inter && n_refs) return ims_fail(err, IMS_E_CORRUPT, "jcm: stream coded alone, given a reference");
  if (inter && n_refs != nr)
    return ims_fail(err, IMS_E_CORRUPT, "jcm: stream coded against %u references, %u given", nr, n_refs);
  for (unsigned i = 0; i < n_refs; i++)
    if (!ref_geometry_matches(img, refs[i]))
      return ims_fail(err, IMS_E_CORRUPT, "jcm: the reference's geometry differs from the image's");
  if (nc != img->n_comp) return ims_fail(err, IMS_E_CORRUPT, "jcm: component count differs from the image");
  /* the views are made after the modes are read: only for the components that use them */
  ref_view rv[2];
  memset(rv, 0, sizeof rv);
  dec_job *jp = malloc(sizeof *jp);
  if (!jp) return ims_fail(err, IMS_E_NOMEM, "jcm: out of memory");
  dec_job *const j = jp;
  j->img = img;
  j->ref[0] = inter ? &rv[0] : NULL;
  j->ref[1] = nr > 1 ? &rv[1] : NULL;
  memset(j->mode, 0, sizeof j->mode);
  make_plan(img, &j->plan);
  for (unsigned c = 0; c < nc; c++) {
    uint32_t w, h, rpb;
    if (!rd_u32le(&r, &w) || !rd_u32le(&r, &h) || !rd_u32le(&r, &rpb)) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
      goto done;
    }
    if (w != img->comp[c].w_blocks || h != img->comp[c].h_blocks || rpb != j->plan.rows_per_band[c]) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: component %u: geometry or bands differ from the image's", c);
      goto done;
    }
  }
  uint32_t nb;
  if (!rd_u32le(&r, &nb)) {
    st = ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
    goto done;
  }
  if (nb != j->plan.n_jobs) {
    st = ims_fail(err, IMS_E_CORRUPT, "jcm: band count differs from the image's");
    goto done;
  }
  for (uint32_t b = 0; b < nb && inter; b++) {
    if (!rd_u8(&r, &j->mode[b])) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
      goto done;
    }
    if (j->mode[b] > (nr > 1 ? 2 : 1)) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: band %u: unknown coding mode %u", b, j->mode[b]);
      goto done;
    }
  }
  for (uint32_t b = 0; b < nb; b++) {
    uint32_t n;
    if (!rd_u32le(&r, &n)) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
      goto done;
    }
    j->len[b] = n;
  }
  for (uint32_t b = 0; b < nb; b++) {
    if (!rd_bytes(&r, j->len[b], &j->data[b])) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: band %u: truncated", b);
      goto done;
    }
  }
  if (rd_left(&r)) {
    st = ims_fail(err, IMS_E_CORRUPT, "jcm: %zu stray bytes after the last band", rd_left(&r));
    goto done;
  }
  uint32_t n_inter = 0;
  unsigned comps[2] = {0, 0}; /* the components each view is needed for */
  for (uint32_t b = 0; b < nb; b++) {
    n_inter += j->mode[b] != 0;
    if (j->mode[b]) comps[j->mode[b] - 1] |= 1u << j->plan.comp[b];
  }
  for (unsigned w = 0; w < 2; w++) {
    if (comps[w] && ref_view_make(img, refs, w ? nr : 1, comps[w], &rv[w]) != IMS_OK) {
      st = ims_fail(err, IMS_E_NOMEM, "jcm: out of memory");
      goto done;
    }
  }
  jcm_ctx *tmpl = work ? NULL : ctx_template(nb > 1);
  jcm_ictx *itmpl = work ? NULL : ictx_template(n_inter > 1);
  j->tmpl = work ? work->tmpl : tmpl;
  j->itmpl = work ? work->itmpl : itmpl;
  j->work = work;
  if (threads == 0) threads = pool_cores();
  st = pool_run(threads, nb, decode_band, j);
  free(tmpl);
  free(itmpl);
  if (st) {
    st = ims_fail(err, st, "jcm: cannot start threads");
    goto done;
  }
  for (uint32_t b = 0; b < nb; b++) {
    if (j->st[b]) {
      st = j->st[b] == IMS_E_CORRUPT ? ims_fail(err, IMS_E_CORRUPT, "jcm: band %u: corrupt data", b)
                                     : ims_fail(err, j->st[b], "jcm: band %u: %s", b, ims_strerror(j->st[b]));
      goto done;
    }
  }
done:
  free(jp);
  ref_view_free(&rv[0]);
  ref_view_free(&rv[1]);
  return st;
}
