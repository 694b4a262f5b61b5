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

#define JCM_VERSION 1

/* Binary decisions of one value: exponent (unary, at most JCM_EMAX ones), sign, mantissa. */
#define JCM_EMAX 16
#define JCM_NZB 13  /* buckets of the neighbours' 7x7 non-zero count (12 + "no neighbour") */
#define JCM_NZR 10  /* buckets of the 7x7 non-zeros still to come */
#define JCM_PB 12   /* buckets of the neighbours' magnitude at the same frequency */
#define JCM_PBE 12  /* buckets of the edge prediction (11 + "no neighbour") */
#define JCM_N77B 8  /* buckets of this block's 7x7 count, context of the edge counts */
#define JCM_DCB 14  /* buckets of the DC prediction's spread */

/* All adaptive contexts of one component. Only ac_prob arrays: no padding. */
typedef struct jcm_ctx {
  ac_prob nz77[JCM_NZB][64];
  ac_prob nze[2][JCM_N77B][9][8];
  ac_prob ac_exp[49][JCM_NZR][JCM_PB][JCM_EMAX];
  ac_prob ac_sign[49][9];
  ac_prob ac_mant[49][JCM_EMAX + 1][JCM_EMAX];
  ac_prob ed_exp[2][7][7][JCM_PBE][JCM_EMAX];
  ac_prob ed_sign[2][7][3][JCM_PBE];
  ac_prob ed_mant[2][7][JCM_EMAX + 1][JCM_EMAX][6];
  ac_prob dc_exp[JCM_DCB][JCM_EMAX];
  ac_prob dc_sign[JCM_DCB];
  ac_prob dc_mant[JCM_EMAX + 1][JCM_EMAX];
} jcm_ctx;

/* Block rows [row0, row1) of component comp of img, coded into enc or decoded into
 * img->comp[comp].coef. Rows above row0 are never read (each band stands alone).
 * Return IMS_E_NOMEM or IMS_OK; decode errors show in the decoder's sticky flag, and
 * values out of range are clamped and reported through *bad. */
ims_status jcm_encode_rows(const jpg_image *img, unsigned comp, uint32_t row0, uint32_t row1, jcm_ctx *m,
                           ac_enc *enc);
ims_status jcm_decode_rows(jpg_image *img, unsigned comp, uint32_t row0, uint32_t row1, jcm_ctx *m, ac_dec *dec,
                           bool *bad);

void jcm_ctx_init(jcm_ctx *m);

#endif
