/* libFuzzer target for the JPEG coefficient model (jcm_encode / jcm_decode), images coded
 * alone. Geometries and fillers are in jcm_fuzz.h (small on purpose: see there).
 *
 * Input: bytes 0-4 the geometry (jf_new_image); byte 5: bits 0-1 how the hostile stream is
 * made, bits 2-3 the thread count - 1, bits 4-7 the width change of step 4; the rest is
 * the payload P.
 * 1. Round trip: an image filled from P (jf_fill) is encoded with two thread counts (the
 *    bytes must be equal), must parse as the documented layout, and must decode exactly.
 * 2. Hostile stream, decoded: any status but OK, CORRUPT or VERSION is a bug, a failure
 *    must carry its message, and every coefficient is read (MSan). The stream is
 *      0: P itself (the header parser and everything behind it);
 *      1: the valid header of step 1 with P as the coded bands, split evenly (deep in the
 *         block decoder without having to find a valid header first);
 *      2: step 1's stream with bytes flipped as P says ((pos lo, pos hi, xor) triples);
 *      3: step 1's stream cut where P's first two bytes say, the rest of P appended.
 * 3. When the hostile stream decodes, the result must be the same with the other thread
 *    count, and must itself encode and decode back exactly (out-of-range values are
 *    refused by the decoder, never passed on).
 * 4. Step 1's stream given a reference it was not coded against, or decoded into an image
 *    whose block layout differs, must give IMS_E_CORRUPT; with the same block layout it
 *    must decode exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jcm_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_layout(const jpg_image *a, const jpg_image *b) {
  if (a->n_comp != b->n_comp) return false;
  for (unsigned c = 0; c < a->n_comp; c++)
    if (a->comp[c].w_blocks != b->comp[c].w_blocks || a->comp[c].h_blocks != b->comp[c].h_blocks) return false;
  return true;
}

/* Step 2's hostile stream; returns malloc'd bytes. */
static uint8_t *make_hostile(unsigned mode, const buf *s, const jf_layout *lay, const uint8_t *p, size_t plen,
                             size_t *blen) {
  uint8_t *bad = malloc(s->len + plen + 1);
  if (!bad) abort();
  switch (mode) {
  case 0:
    if (plen) memcpy(bad, p, plen);
    *blen = plen;
    break;
  case 1: {
    memcpy(bad, s->p, lay->body);
    size_t each = plen / lay->n_jobs;
    for (uint32_t b = 0; b < lay->n_jobs; b++)
      jf_put_u32le(bad + lay->lens + 4 * b, (uint32_t)(b + 1 < lay->n_jobs ? each : plen - each * b));
    if (plen) memcpy(bad + lay->body, p, plen);
    *blen = lay->body + plen;
    break;
  }
  case 2:
    memcpy(bad, s->p, s->len);
    *blen = s->len;
    for (size_t i = 0; i + 2 < plen; i += 3)
      bad[((size_t)p[i] | (size_t)p[i + 1] << 8) % s->len] ^= (uint8_t)(p[i + 2] ? p[i + 2] : 1);
    break;
  default: {
    size_t cut = plen >= 2 ? ((size_t)p[0] | (size_t)p[1] << 8) % s->len : s->len / 2;
    size_t rest = plen >= 2 ? plen - 2 : 0;
    memcpy(bad, s->p, cut);
    if (rest) memcpy(bad + cut, p + 2, rest);
    *blen = cut + rest;
    break;
  }
  }
  return bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < JF_GEO_BYTES + 1) return 0;
  const uint8_t *g = data;
  const unsigned mode = data[5] & 3u, threads = 1u + ((data[5] >> 2) & 3u), other = 1u + (threads & 1u);
  const uint8_t *p = data + JF_GEO_BYTES + 1;
  const size_t plen = size - JF_GEO_BYTES - 1;
  ims_err err;

  /* 1. round trip */
  jpg_image *img = jf_new_image(g, 0);
  jf_fill(img, p, plen);
  buf s, s2;
  buf_init(&s, (size_t)1 << 26);
  buf_init(&s2, (size_t)1 << 26);
  ims_err_clear(&err);
  if (jcm_encode(img, NULL, threads, &s, &err) != IMS_OK) abort();
  if (jcm_encode(img, NULL, other, &s2, &err) != IMS_OK) abort();
  if (s.len != s2.len || memcmp(s.p, s2.p, s.len) != 0) abort();
  if (jcm_stream_is_inter(s.p, s.len)) abort();
  jf_layout lay;
  if (!jf_parse_layout(s.p, s.len, false, &lay)) abort();
  jpg_image *back = jf_new_image(g, 0);
  if (jcm_decode(s.p, s.len, back, NULL, other, &err) != IMS_OK) abort();
  if (!jf_same_coefs(img, back)) abort();

  /* 2. hostile stream */
  size_t blen;
  uint8_t *bad = make_hostile(mode, &s, &lay, p, plen, &blen);
  jpg_image *dec = jf_new_image(g, 0);
  ims_err_clear(&err);
  ims_status st = jcm_decode(bad, blen, dec, NULL, threads, &err);
  jf_check_status(st, &err);
  jf_read_all(dec);

  /* 3. what decodes is deterministic and a valid image */
  if (st == IMS_OK) {
    if (jcm_decode(bad, blen, back, NULL, other, &err) != IMS_OK) abort();
    if (!jf_same_coefs(dec, back)) abort();
    s2.len = 0;
    if (jcm_encode(dec, NULL, threads, &s2, &err) != IMS_OK) abort();
    if (jcm_decode(s2.p, s2.len, back, NULL, other, &err) != IMS_OK) abort();
    if (!jf_same_coefs(dec, back)) abort();
  }

  /* 4. wrong reference, other layouts */
  ims_err_clear(&err);
  if (jcm_decode(s.p, s.len, back, img, threads, &err) != IMS_E_CORRUPT) abort();
  uint8_t g2[JF_GEO_BYTES];
  memcpy(g2, g, sizeof g2);
  g2[3] = (uint8_t)(g2[3] ^ (data[5] >> 4));
  jpg_image *alt = jf_new_image(g2, 0);
  st = jcm_decode(s.p, s.len, alt, NULL, threads, &err);
  if (same_layout(img, alt)) {
    if (st != IMS_OK || !jf_same_coefs(img, alt)) abort();
  } else if (st != IMS_E_CORRUPT) {
    abort();
  }
  jf_free_image(alt);

  free(bad);
  jf_free_image(dec);
  jf_free_image(back);
  jf_free_image(img);
  buf_free(&s);
  buf_free(&s2);
  return 0;
}
