/* libFuzzer target for inter-coded streams of the JPEG coefficient model (jcm_decode with
 * a reference, issue #4).
 *
 * Input: byte 0 picks a small geometry (bits 0-1), whether the reference uses other
 * quantisers (bit 2) and whether the current image is the reference with changes or
 * something else (bit 3); byte 1 the thread count and the kind of damage; bytes 2..3 a
 * split point: the head (bytes 4 .. 4 + split) says where to damage the stream, the tail
 * (the rest) gives the coefficients.
 * 1. A reference is built from the tail, and the current image from the reference with
 *    changes taken from the tail (whole blocks equal, single values moved by +-1, others
 *    new), so that jcm_encode codes against it. The stream must round trip exactly with
 *    another thread count.
 * 2. The stream is damaged from the head (bytes flipped, cut short, or replaced by the
 *    head itself) and decoded with the valid reference: any status, never a crash or a
 *    sanitizer report; every coefficient is read (MSan).
 * 3. The undamaged stream decoded without the reference, and a plain stream decoded with
 *    one, must fail with IMS_E_CORRUPT. */
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
    {1, {1}, {1}, {4}, {3}},
    {3, {2, 1, 1}, {2, 1, 1}, {4, 2, 2}, {4, 2, 2}},
    {4, {1, 1, 1, 1}, {1, 1, 1, 1}, {3, 3, 3, 3}, {2, 2, 2, 2}},
    {3, {3, 1, 2}, {1, 2, 1}, {3, 1, 2}, {1, 2, 1}},
};

static void free_image(jpg_image *img) {
  if (!img) return;
  for (int c = 0; c < 4; c++) free(img->comp[c].coef);
  free(img);
}

static jpg_image *new_image(const geometry *g, unsigned qshift) {
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
    for (int i = 0; i < 64; i++) img->qt[t][i] = (uint16_t)(1 + (i * 7 + t + (int)qshift * i / 8) % 50);
  return img;
}

static size_t n_coef(const jpg_image *img, unsigned c) {
  return (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 64;
}

static void read_all(const jpg_image *img) {
  unsigned sum = 0;
  for (unsigned c = 0; c < img->n_comp; c++)
    for (size_t i = 0; i < n_coef(img, c); i++) sum += (unsigned)img->comp[c].coef[i];
  if (sum == 0xFFFFFFFFu) abort(); /* unlikely; keeps the reads */
}

static bool same_coefs(const jpg_image *a, const jpg_image *b) {
  for (unsigned c = 0; c < a->n_comp; c++)
    if (memcmp(a->comp[c].coef, b->comp[c].coef, n_coef(a, c) * sizeof(int16_t)) != 0) return false;
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 6) return 0;
  const geometry *g = &geos[data[0] & 3];
  const bool other_q = (data[0] & 4) != 0, related = (data[0] & 8) == 0;
  const unsigned threads = 1u + (data[1] & 3u), damage = (data[1] >> 2) & 3u;
  size_t split = (size_t)(data[2] | (unsigned)data[3] << 8);
  const uint8_t *rest = data + 4;
  size_t rlen = size - 4;
  if (split > rlen - 1) split = rlen - 1;
  const uint8_t *head = rest, *tail = rest + split;
  size_t hlen = split, tlen = rlen - split;

  /* 1. reference and current image from the tail */
  jpg_image *ref = new_image(g, other_q ? 3 : 0), *cur = new_image(g, 0);
  size_t pos = 0;
  for (unsigned c = 0; c < g->n_comp; c++) {
    size_t n = n_coef(ref, c);
    for (size_t i = 0; i < n; i++, pos += 2) {
      uint8_t lo = tail[pos % tlen], hi = tail[(pos + 1) % tlen];
      int16_t val = (int16_t)(uint16_t)(lo | (unsigned)hi << 8);
      if ((lo & 0xE0u) == 0) val = 0;
      else if ((lo & 0xC0u) == 0x40u) val = (int16_t)((int)(hi & 7u) - 4);
      ref->comp[c].coef[i] = val;
    }
  }
  for (unsigned c = 0; c < g->n_comp; c++) {
    size_t n = n_coef(ref, c);
    for (size_t i = 0; i < n; i++, pos++) {
      uint8_t b = tail[pos % tlen];
      int16_t r = ref->comp[c].coef[i];
      int16_t val = r;
      if (!related || (b & 0x30u) == 0x30u) val = (int16_t)((int)(b & 15u) - 8); /* new */
      else if ((b & 0x30u) == 0x20u && r > -32768 && r < 32767) val = (int16_t)(r + ((b & 1u) ? 1 : -1));
      if ((i / 64 + pos / 97) % 3 == 0 && related) val = r; /* whole runs of blocks equal */
      cur->comp[c].coef[i] = val;
    }
  }
  ims_err err;
  buf out;
  buf_init(&out, (size_t)1 << 24);
  if (jcm_encode(cur, ref, threads, &out, &err) != IMS_OK) abort();
  const bool inter = jcm_stream_is_inter(out.p, out.len);
  jpg_image *back = new_image(g, 0);
  if (jcm_decode(out.p, out.len, back, inter ? ref : NULL, 1u + (threads & 1u), &err) != IMS_OK) abort();
  if (!same_coefs(cur, back)) abort();

  /* 3. the reference is required exactly when the stream says so */
  if (jcm_decode(out.p, out.len, back, inter ? NULL : ref, threads, &err) != IMS_E_CORRUPT) abort();

  /* 2. damaged streams, decoded with the valid reference */
  uint8_t *bad = malloc(out.len + hlen + 1);
  if (!bad) abort();
  size_t blen = out.len;
  memcpy(bad, out.p, out.len);
  if (damage == 0 && hlen) {
    for (size_t i = 0; i + 1 < hlen; i += 2) bad[(size_t)head[i] * 251u % blen] ^= head[i + 1] ? head[i + 1] : 1;
  } else if (damage == 1) {
    blen = hlen ? (size_t)head[0] * 257u % blen : blen / 2;
    if (blen && hlen > 1) bad[blen - 1] ^= head[1];
  } else if (damage == 2) {
    /* keep the valid header, the head as the coded data */
    size_t keep = blen < 64 ? blen / 2 : 32;
    memcpy(bad + keep, head, hlen);
    blen = keep + hlen;
  } else {
    memcpy(bad, head, hlen);
    blen = hlen;
  }
  jpg_image *dec = new_image(g, 0);
  ims_status st = jcm_decode(bad, blen, dec, ref, threads, &err);
  if (st != IMS_OK && st != IMS_E_CORRUPT && st != IMS_E_VERSION) abort();
  read_all(dec);
  st = jcm_decode(bad, blen, dec, NULL, threads, &err);
  if (st != IMS_OK && st != IMS_E_CORRUPT && st != IMS_E_VERSION) abort();
  read_all(dec);

  free(bad);
  free_image(dec);
  free_image(back);
  buf_free(&out);
  free_image(cur);
  free_image(ref);
  return 0;
}
