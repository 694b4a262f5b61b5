/* Private interface between the JPEG coefficient model's stream layer (model.c) and its
 * block coder (model_block.c). docs/JPEG_MODEL.md describes the design and the contexts.
 *
 * A band is a fixed range of MCU rows of the image (all components), coded by its own
 * arithmetic-coder stream with its own freshly initialised contexts, so bands are coded
 * and decoded independently and in any order. Band boundaries depend on the geometry
 * only (jcm_band_rows), never on the thread count.
 */
#ifndef IMS_JPEG_MODEL_H
#define IMS_JPEG_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jpeg/arith.h"
#include "jpeg/jpeg.h"
#include "jpeg/jpeg_internal.h"

#define JCM_VERSION 3
#define JCM_VERSION_INTER 6 /* coded against reference images: needs them to decode */
#define JCM_VERSION_OLDEST 1 /* 1 and 2: development builds before the all-zero flag, refused */
/* Inter streams of earlier models, refused: 4 the model with one reference (before the
 * noise work), 5 the inter contexts starting at 1/2 (before their priors). */
#define JCM_VERSION_INTER_OLD 4

/* Binary decisions of one value: exponent (unary, at most JCM_EMAX ones), sign, mantissa. */
#define JCM_EMAX 16
#define JCM_NZB 13  /* buckets of the neighbours' 7x7 non-zero count (12 + "no neighbour") */
#define JCM_NZR 10  /* buckets of the 7x7 non-zeros still to come */
#define JCM_PB 12   /* buckets of the neighbours' magnitude at the same frequency */
#define JCM_PBE 12  /* buckets of the edge prediction (11 + "no neighbour") */
#define JCM_N77B 8  /* buckets of this block's 7x7 count, context of the edge counts */
#define JCM_DCB 14  /* buckets of the DC prediction's spread */
#define JCM_RB 4    /* inter: buckets of the reference coefficient's bit length (1, 2, 3, 4+) */
#define JCM_EQC 12  /* inter: "equal" hits so far in the block (0..2) x misses so far (0..3) */
#define JCM_FC 4    /* inter: fraction classes of the references' mean (model.c ref_view) */
#define JCM_DL 4    /* inter: non-zeros left in the block against the reference's non-zeros to come */
#define JCM_EQ2 4   /* inter: any "equal" hit so far in the block x any miss */

/* Each context array starts on a cache line (64 bytes), so that a group of 16 exponent
 * contexts (64 bytes) is one line, not two; the structs are allocated aligned (model.c
 * alloc_lines). The padding between arrays is a multiple of sizeof(ac_prob) and never
 * used: jcm_ctx_init / jcm_ictx_init initialise it like the contexts and it is copied with
 * them. The stream does not depend on the layout. Measured on the synthetic noisy
 * time-lapse (4 references), pack -j1 CPU against main's, medians of 5: 0.91 -> 0.83 s
 * with the aligned allocation (0.84 before it), 0.82 s with the aligned arrays too. */
#define JCM_LINE _Alignas(64)

/* All adaptive contexts of one component. Only ac_prob arrays (and padding between them,
 * see JCM_LINE). */
typedef struct jcm_ctx {
  JCM_LINE ac_prob acz[JCM_NZB][9]; /* all AC 0: [count bucket][above, left: none / not all 0 / all 0] */
  JCM_LINE ac_prob nz77[JCM_NZB][64];
  JCM_LINE ac_prob nze[2][JCM_N77B + 1][9][8]; /* [edge][7x7 count bucket, or 8: 7x7 and top edge 0][predictions] */
  JCM_LINE ac_prob ac_exp[49][JCM_NZR][JCM_PB][JCM_EMAX];
  JCM_LINE ac_prob ac_sign[49][9];
  JCM_LINE ac_prob ac_mant[49][JCM_EMAX + 1][JCM_EMAX];
  JCM_LINE ac_prob ed_exp[2][7][7][JCM_PBE][JCM_EMAX];
  JCM_LINE ac_prob ed_sign[2][7][3][JCM_PBE];
  JCM_LINE ac_prob ed_mant[2][7][JCM_EMAX + 1][JCM_EMAX][6];
  JCM_LINE ac_prob dc_exp[JCM_DCB][JCM_EMAX];
  JCM_LINE ac_prob dc_sign[JCM_DCB];
  JCM_LINE ac_prob dc_mant[JCM_EMAX + 1][JCM_EMAX];
} jcm_ctx;

/* Inter contexts (docs/JPEG_MODEL.md "Inter coding"), used beside jcm_ctx when a band is
 * coded against the reference. Only ac_prob arrays (and padding between them, see
 * JCM_LINE); jcm_ictx_init starts them from the measured priors of model_prior_inter.h
 * (tests/tools/prior_inter.py writes it from the field order below: keep the two in step;
 * its training counts come from an older tree without the padding). */
typedef struct jcm_ictx {
  JCM_LINE ac_prob skip[32];                     /* block == reference's: [above's mode][left's mode][ref AC all 0] */
  JCM_LINE ac_prob mode[16];                     /* block coded against the reference: [above's mode][left's] */
  JCM_LINE ac_prob nz77[50][4][64];              /* 7x7 count: [reference's count][neighbours' bucket / 4, or
                                           with fractions the bucket of means in (0, 1)] */
  /* 7x7 value == reference's (reference non-zero): [k][|ref|][fraction][left][hit, miss] */
  JCM_LINE ac_prob ac_eq[49][JCM_RB][JCM_FC][JCM_DL][JCM_EQ2];
  JCM_LINE ac_prob ac_eqp[JCM_RB][JCM_FC][JCM_DL][JCM_EQ2]; /* ... their parent: all frequencies */
  /* reference 0: [k][left][mean not 0][estimate] */
  JCM_LINE ac_prob ac_exp[49][JCM_DL][2][JCM_PB][JCM_EMAX];
  JCM_LINE ac_prob ac_sign[49][11];              /* ... [k][neighbours' signs, or the mean's sign] */
  JCM_LINE ac_prob ac_expp[JCM_DL][2][JCM_PB][JCM_EMAX]; /* ... their parents (all k), starting from the priors */
  JCM_LINE ac_prob ac_signp[11];
  JCM_LINE ac_prob d_sign[49][JCM_RB][JCM_FC][JCM_DL]; /* value != reference != 0: away from zero or towards */
  JCM_LINE ac_prob d_signp[JCM_RB][JCM_FC][JCM_DL];    /* ... their parent */
  JCM_LINE ac_prob d_exp[49][JCM_RB][2][JCM_PB][JCM_EMAX]; /* |value - reference| - 1: [k][|ref|][away][estimate] */
  JCM_LINE ac_prob d_expp[JCM_RB][2][JCM_PB][JCM_EMAX];    /* ... their parent */
  JCM_LINE ac_prob nze[2][8][9][3][8];           /* edge count: [edge][reference's count][predictions][means in (0, 1)] */
  JCM_LINE ac_prob ed_eq[2][7][JCM_RB][JCM_FC][JCM_DL][JCM_EQ2]; /* edge value == reference's (reference non-zero) */
  JCM_LINE ac_prob ed_eqp[2][JCM_RB][JCM_FC][JCM_DL][JCM_EQ2];   /* ... their parent: all frequencies */
  JCM_LINE ac_prob ed_exp[2][7][JCM_DL][JCM_PBE][JCM_EMAX]; /* edge value, reference 0: [edge][t][left][prediction] */
  JCM_LINE ac_prob ed_dsign[2][JCM_RB][JCM_FC][JCM_DL][4]; /* edge value != reference != 0: away from zero or towards */
  JCM_LINE ac_prob ed_dexp[2][7][2][16][JCM_EMAX]; /* |value - reference| - 1: [edge][t][away][prediction] */
  JCM_LINE ac_prob ed_dexpp[2][2][16][JCM_EMAX];   /* ... their parent */
  JCM_LINE ac_prob d_mant[2][JCM_EMAX + 1][JCM_EMAX]; /* mantissas of |value - reference| - 1: 7x7, edges */
  JCM_LINE ac_prob dc_eq[JCM_FC][JCM_EQC];       /* DC == reference's */
  JCM_LINE ac_prob dc_exp[JCM_DCB][JCM_EMAX];    /* DC - reference's DC: [|intra prediction - reference's|] */
  JCM_LINE ac_prob dc_sign[JCM_DCB][3];          /* ... [sign of intra prediction - reference's] */
} jcm_ictx;

/* Set bits of x. The build targets x86-64 without POPCNT, where __builtin_popcountll is a
 * call into libgcc (1.5% of the inter decoder's time on corpus/timelapse). */
static inline unsigned pop64(uint64_t x) {
#ifdef __POPCNT__
  return (unsigned)__builtin_popcountll(x);
#else
  x -= (x >> 1) & 0x5555555555555555u;
  x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Fu;
  return (unsigned)((x * 0x0101010101010101u) >> 56);
#endif
}

/* Bit z set where blk[z] == ref[z] (zigzag order), like jpg_nz_mask. */
static inline uint64_t eq_mask(const int16_t *blk, const int16_t *ref) {
#ifdef __SSE2__
  const __m128i *p = (const __m128i *)(const void *)blk, *q = (const __m128i *)(const void *)ref;
  __m128i e[8];
  for (unsigned i = 0; i < 8; i++) e[i] = _mm_cmpeq_epi16(_mm_loadu_si128(p + i), _mm_loadu_si128(q + i));
  /* all-ones / zero lanes pack to -1 / 0 bytes (saturating) */
  return (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_packs_epi16(e[0], e[1])) |
         (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_packs_epi16(e[2], e[3])) << 16 |
         (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_packs_epi16(e[4], e[5])) << 32 |
         (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_packs_epi16(e[6], e[7])) << 48;
#else
  uint64_t m = 0;
  for (unsigned k = 0; k < 64; k++) m |= (uint64_t)(blk[k] == ref[k]) << k;
  return m;
#endif
}

/* The 64-byte chunks of a jcm_ictx (counted from base) in which a context with a parent
 * was used fresh (n == 0): those start at p0 32768, n 0 in both templates and change only
 * once used, so that a buffer kept for the next band is reset by copying back the logged
 * chunks and the contexts without a parent instead of all 843 KB (model.c ictx_fresh). */
#define JCM_ICTX_CHUNKS ((sizeof(jcm_ictx) + 63) / 64)
typedef struct jcm_ilog {
  const jcm_ictx *base;
  uint64_t bits[(JCM_ICTX_CHUNKS + 63) / 64];
} jcm_ilog;

static inline void jcm_ilog_mark(jcm_ilog *lg, const ac_prob *p) {
  size_t c = (size_t)((const char *)p - (const char *)lg->base) / 64;
  lg->bits[c / 64] |= (uint64_t)1 << (c % 64);
}

/* Block rows [row0, row1) of component comp of img, coded into enc or decoded into
 * img->comp[comp].coef. Rows above row0 are never read (each band stands alone).
 * Return IMS_E_NOMEM or IMS_OK; decode errors show in the decoder's sticky flag, and
 * values out of range are clamped and reported through *bad. */
ims_status jcm_encode_rows(const jpg_image *img, unsigned comp, uint32_t row0, uint32_t row1, jcm_ctx *m,
                           ac_enc *enc);
ims_status jcm_decode_rows(jpg_image *img, unsigned comp, uint32_t row0, uint32_t row1, jcm_ctx *m, ac_dec *dec,
                           bool *bad);

/* The references' prediction of one component's coefficients (same layout, in img's
 * quantiser steps) and its fraction class per coefficient (0..JCM_FC-1; model.c
 * ref_view_make): either held in arrays (coef; frac NULL: all 0), or, when coef is NULL,
 * the mean of the nr >= 2 arrays ref[], all with img's quantisers, made one block at a
 * time by jcm_mean_block as the block is coded (no pass over the image, no array). */
typedef struct jcm_refs {
  const int16_t *coef;
  const uint8_t *frac;
  const int16_t *ref[JCM_MAX_REFS];
  unsigned nr;
} jcm_refs;

/* The mean (o) and fraction classes (f) of the block at coefficient offset off (r->coef
 * NULL). */
void jcm_mean_block(const jcm_refs *r, size_t off, int16_t o[64], uint8_t f[64]);

/* Points *rb / *fb at the block's prediction and classes: into r's arrays, or into o / f
 * after computing them there (fb: NULL when every class is 0). */
static inline void jcm_refs_block(const jcm_refs *r, size_t off, int16_t o[64], uint8_t f[64], const int16_t **rb,
                                  const uint8_t **fb) {
  if (r->coef) {
    *rb = r->coef + off;
    *fb = r->frac ? r->frac + off : NULL;
    return;
  }
  jcm_mean_block(r, off, o, f);
  *rb = o;
  *fb = f;
}

/* The same with the references' prediction of component comp (refs); lg (may be NULL)
 * logs the chunks of mi its fresh contexts were used in. */
ims_status jcm_encode_rows_inter(const jpg_image *img, const jcm_refs *refs, unsigned comp, uint32_t row0,
                                 uint32_t row1, jcm_ctx *m, jcm_ictx *mi, jcm_ilog *lg, ac_enc *enc);
ims_status jcm_decode_rows_inter(jpg_image *img, const jcm_refs *refs, unsigned comp, uint32_t row0, uint32_t row1,
                                 jcm_ctx *m, jcm_ictx *mi, jcm_ilog *lg, ac_dec *dec, bool *bad);

void jcm_ctx_init(jcm_ctx *m);
/* chroma: the contexts of a band of a component other than the first (its own priors). */
void jcm_ictx_init(jcm_ictx *mi, bool chroma);

#endif
