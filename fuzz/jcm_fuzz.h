/* Shared by fuzz_jcm.c and fuzz_jcm_inter.c: small image geometries and coefficient
 * fillers taken from the input bytes, and the stream layout both targets take apart.
 *
 * Why small: every band of every jcm_encode / jcm_decode initialises about 600 KB of
 * contexts, and a decode runs over every block whatever the stream says, so the cost of an
 * execution is set by the geometry the harness picks, not by the input length. Images are
 * at most 128 x 128 pixels (at most about 2,600 blocks; 11 ms per execution on average
 * for fuzz_jcm images up to 64 x 64, 29 ms above, with ASan+UBSan at -O1). Larger images
 * are left to tests/unit/test_jpeg_model.c: its geometries of several bands per component
 * (the band plan cuts only above 16,384 blocks) go through the same corruption rounds; here
 * they cost 0.4-1.4 s per execution and took 93% of the fuzzing time. */
#ifndef IMS_FUZZ_JCM_FUZZ_H
#define IMS_FUZZ_JCM_FUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jpeg/jpeg.h"

#define JF_GEO_BYTES 5

/* Geometry bytes g[0..4]:
 *   g[0] bits 0-1: components - 1 (bits 2-7 are the target's);
 *   g[1], g[2]: a sampling nibble per component (h = 1 + bits 0-1, v = 1 + bits 2-3),
 *        reduced to a valid JPEG frame (sum of h * v at most 10);
 *   g[3], g[4]: width - 1 and height - 1 in pixels, 7 bits each (bit 7 is the target's).
 * The blocks are laid out as jpg_decode lays them out (jpeg.h: MCU-padded when
 * interleaved), and quantisers come from qt_seed. Returns a zeroed image; aborts on
 * allocation failure (the harness's own memory). */
static inline jpg_image *jf_new_image(const uint8_t *g, unsigned qt_seed) {
  jpg_image *img = calloc(1, sizeof *img);
  if (!img) abort();
  img->n_comp = (uint8_t)(1u + (g[0] & 3u));
  unsigned nib = (unsigned)g[1] | (unsigned)g[2] << 8, sum = 0;
  for (unsigned c = 0; c < img->n_comp; c++) {
    unsigned n = (nib >> (4 * c)) & 15u;
    img->comp[c].h = (uint8_t)(1u + (n & 3u));
    img->comp[c].v = (uint8_t)(1u + (n >> 2));
    if (img->n_comp == 1) img->comp[c].h = img->comp[c].v = 1;
    sum += (unsigned)img->comp[c].h * img->comp[c].v;
  }
  if (sum > 10) {
    for (unsigned c = 1; c < img->n_comp; c++) img->comp[c].h = img->comp[c].v = 1;
    if (img->comp[0].h * img->comp[0].v + img->n_comp - 1 > 10) img->comp[0].h = img->comp[0].v = 2;
  }
  img->hmax = img->vmax = 1;
  for (unsigned c = 0; c < img->n_comp; c++) {
    if (img->comp[c].h > img->hmax) img->hmax = img->comp[c].h;
    if (img->comp[c].v > img->vmax) img->vmax = img->comp[c].v;
  }
  img->width = 1u + (g[3] & 127u);
  img->height = 1u + (g[4] & 127u);
  uint32_t mcux = (img->width + 8u * img->hmax - 1) / (8u * img->hmax);
  uint32_t mcuy = (img->height + 8u * img->vmax - 1) / (8u * img->vmax);
  for (unsigned c = 0; c < img->n_comp; c++) {
    jpg_component *k = &img->comp[c];
    k->id = (uint8_t)(c + 1);
    k->tq = (uint8_t)(c & 1u);
    if (img->n_comp == 1) {
      k->w_blocks = (img->width + 7) / 8;
      k->h_blocks = (img->height + 7) / 8;
    } else {
      k->w_blocks = mcux * k->h;
      k->h_blocks = mcuy * k->v;
    }
    k->coef = calloc((size_t)k->w_blocks * k->h_blocks * 64, sizeof(int16_t));
    if (!k->coef) abort();
  }
  /* Two tables; seed 0 gives small steps, others also 0 (undefined), 1 and 16-bit steps. */
  for (unsigned t = 0; t < 2; t++)
    for (unsigned i = 0; i < 64; i++) {
      unsigned x = (i * 7u + t + qt_seed * (i + 3u)) % 97u;
      img->qt[t][i] = (uint16_t)(qt_seed == 0 ? 1u + x % 50u : x == 0 ? 0u : x == 1 ? 65535u : x * 37u);
    }
  return img;
}

static inline void jf_free_image(jpg_image *img) {
  if (!img) return;
  for (unsigned c = 0; c < 4; c++) free(img->comp[c].coef);
  free(img);
}

static inline size_t jf_n_coef(const jpg_image *img, unsigned c) {
  return (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 64;
}

static inline bool jf_same_coefs(const jpg_image *a, const jpg_image *b) {
  for (unsigned c = 0; c < a->n_comp; c++)
    if (memcmp(a->comp[c].coef, b->comp[c].coef, jf_n_coef(a, c) * sizeof(int16_t)) != 0) return false;
  return true;
}

static inline void jf_copy_coefs(jpg_image *dst, const jpg_image *src) {
  for (unsigned c = 0; c < src->n_comp; c++)
    memcpy(dst->comp[c].coef, src->comp[c].coef, jf_n_coef(src, c) * sizeof(int16_t));
}

/* Reads every coefficient, so that MSan would flag one the decoder left unset. */
static inline void jf_read_all(const jpg_image *img) {
  unsigned sum = 0;
  for (unsigned c = 0; c < img->n_comp; c++)
    for (size_t i = 0; i < jf_n_coef(img, c); i++) sum += (unsigned)img->comp[c].coef[i];
  volatile unsigned sink = sum; /* keeps the loop */
  (void)sink;
}

/* Fills img from src (cycled; an empty src leaves zeros): one block in eight all zero,
 * the others mostly zeros and small values as in real images, some values up to 1023 and
 * some anywhere in int16 (extremes included). Only the first JF_FILL_BLOCKS blocks of each
 * component (raster order) get values, the rest stay zero: coding cost grows with the
 * values (a dense block of extremes is about 2,000 binary decisions), and a 7-byte input
 * of extremes over 4 x 256 blocks took 1.1 s. */
#define JF_FILL_BLOCKS 32u

static inline void jf_fill(jpg_image *img, const uint8_t *src, size_t n) {
  if (!n) return;
  size_t pos = 0;
  for (unsigned c = 0; c < img->n_comp; c++) {
    size_t blocks = (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks;
    if (blocks > JF_FILL_BLOCKS) blocks = JF_FILL_BLOCKS;
    for (size_t blk = 0; blk < blocks; blk++) {
      int16_t *q = img->comp[c].coef + blk * 64;
      if ((src[pos++ % n] & 7u) == 7u) continue;
      for (unsigned k = 0; k < 64; k++, pos += 2) {
        uint8_t a = src[pos % n], b = src[(pos + 1) % n];
        int v;
        switch (a >> 5) {
        case 0:
        case 1:
        case 2: v = 0; break;
        case 3:
        case 4: v = (int)(b & 7u) - 4; break;
        case 5: v = (int)(b & 63u) - 32; break;
        case 6: v = ((int)(a & 7u) << 8 | b) - 1024; break;
        default: v = (int16_t)(uint16_t)((unsigned)(a & 31u) << 11 | (unsigned)b << 3 | (a & 7u)); break;
        }
        q[k] = (int16_t)v;
      }
    }
  }
}

/* The stream layout of jcm (lib/jpeg/model.c), taken apart so that a target can keep a
 * valid header and change the coded bands: u8 version, [u8 n_refs when inter], u8 n_comp,
 * n_comp x 12 bytes, u32 n_jobs, [n_jobs x u8 mode when inter], n_jobs x u32 length, the
 * bands. Returns
 * false when the stream does not parse that way (then the layout changed and the target
 * needs updating: the caller aborts). */
typedef struct jf_layout {
  size_t head;       /* bytes before the first length */
  uint32_t n_jobs;
  size_t lens;       /* offset of the lengths */
  size_t body;       /* offset of the first band */
} jf_layout;

static inline uint32_t jf_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void jf_put_u32le(uint8_t *p, uint32_t v) {
  for (unsigned i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline bool jf_parse_layout(const uint8_t *s, size_t len, bool inter, jf_layout *l) {
  const size_t nc = inter ? 2 : 1; /* n_comp's offset */
  if (len < nc + 1) return false;
  size_t at = nc + 1 + (size_t)s[nc] * 12;
  if (at + 4 > len) return false;
  l->n_jobs = jf_u32le(s + at);
  at += 4;
  if (l->n_jobs == 0 || l->n_jobs > 64) return false;
  if (inter) at += l->n_jobs;
  l->head = at;
  l->lens = at;
  at += (size_t)l->n_jobs * 4;
  if (at > len) return false;
  l->body = at;
  size_t sum = 0;
  for (uint32_t b = 0; b < l->n_jobs; b++) sum += jf_u32le(s + l->lens + 4 * b);
  return sum == len - at;
}

/* The statuses a hostile stream may give; anything else (NOMEM on these small images,
 * LIMIT, INTERNAL, ARG) is a bug. A failure must also say why. */
static inline void jf_check_status(ims_status st, const ims_err *err) {
  if (st != IMS_OK && st != IMS_E_CORRUPT && st != IMS_E_VERSION) abort();
  if (st != IMS_OK && (err->code != st || err->msg[0] == '\0')) abort();
}

#endif
