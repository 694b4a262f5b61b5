/* libFuzzer target for the JPEG coefficient model (jcm_decode / jcm_encode).
 *
 * Input: byte 0 picks one of a few small geometries (1, 3 and 4 components, odd sampling),
 * byte 1 the thread count, the rest is the payload.
 * 1. The payload is decoded as a model stream into that geometry: any status is fine,
 *    but no crash, no sanitizer report, and every coefficient is read (MSan).
 * 2. An image of that geometry is filled from the payload bytes (pairs of bytes as int16,
 *    cycled, with some positions zeroed so the counts vary), encoded, decoded with another
 *    thread count, and must come back exactly (abort otherwise). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jpeg/jpeg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct geometry {
  uint8_t n_comp;
  uint8_t h[4], v[4];
  uint32_t w_blocks[4], h_blocks[4];
} geometry;

static const geometry geos[4] = {
    {1, {1}, {1}, {3}, {2}},
    {3, {2, 1, 1}, {2, 1, 1}, {4, 2, 2}, {4, 2, 2}},
    {4, {1, 1, 1, 1}, {1, 1, 1, 1}, {2, 2, 2, 2}, {1, 1, 1, 1}},
    {3, {3, 1, 2}, {1, 2, 1}, {3, 1, 2}, {1, 2, 1}},
};

static void free_image(jpg_image *img) {
  if (!img) return;
  for (int c = 0; c < 4; c++) free(img->comp[c].coef);
  free(img);
}

static jpg_image *new_image(const geometry *g) {
  jpg_image *img = calloc(1, sizeof *img);
  if (!img) abort();
  img->n_comp = g->n_comp;
  img->hmax = img->vmax = 1;
  for (unsigned c = 0; c < g->n_comp; c++) {
    jpg_component *k = &img->comp[c];
    k->h = g->h[c];
    k->v = g->v[c];
    k->tq = (uint8_t)(c & 1);
    k->w_blocks = g->w_blocks[c];
    k->h_blocks = g->h_blocks[c];
    k->coef = calloc((size_t)k->w_blocks * k->h_blocks * 64, sizeof(int16_t));
    if (!k->coef) abort();
  }
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 64; i++) img->qt[t][i] = (uint16_t)(1 + (i * 7 + t) % 50);
  return img;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  const geometry *g = &geos[data[0] & 3];
  unsigned threads = 1u + (data[1] & 3u);
  const uint8_t *payload = data + 2;
  size_t plen = size - 2;

  /* 1. hostile stream */
  jpg_image *img = new_image(g);
  ims_err err;
  ims_status st = jcm_decode(payload, plen, img, NULL, threads, &err);
  if (st != IMS_OK && st != IMS_E_CORRUPT && st != IMS_E_VERSION) abort();
  unsigned sum = 0;
  for (unsigned c = 0; c < img->n_comp; c++)
    for (size_t i = 0; i < (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 64; i++)
      sum += (unsigned)img->comp[c].coef[i];
  if (sum == 0xFFFFFFFFu) return 0; /* keeps the reads */

  /* 2. round trip of coefficients taken from the payload */
  if (plen >= 2) {
    size_t pos = 0;
    for (unsigned c = 0; c < img->n_comp; c++) {
      size_t n = (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 64;
      for (size_t i = 0; i < n; i++) {
        uint8_t lo = payload[pos % plen], hi = payload[(pos + 1) % plen];
        pos += 2;
        int16_t val = (int16_t)(uint16_t)(lo | (unsigned)hi << 8);
        if ((lo & 0xE0u) == 0) val = 0;
        else if ((lo & 0xC0u) == 0x40u) val = (int16_t)((int)(hi & 7u) - 4);
        img->comp[c].coef[i] = val;
      }
    }
    buf out;
    buf_init(&out, (size_t)1 << 24);
    if (jcm_encode(img, NULL, threads, &out, &err) != IMS_OK) abort();
    jpg_image *back = new_image(g);
    if (jcm_decode(out.p, out.len, back, NULL, 1u + (threads & 1u), &err) != IMS_OK) abort();
    for (unsigned c = 0; c < img->n_comp; c++)
      if (memcmp(img->comp[c].coef, back->comp[c].coef,
                 (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 64 * sizeof(int16_t)) != 0)
        abort();
    buf_free(&out);
    free_image(back);
  }
  free_image(img);
  return 0;
}
