/* libFuzzer target for inter-coded streams of the JPEG coefficient model (jcm_encode /
 * jcm_decode with a reference, issue #4). Geometries and fillers are in jcm_fuzz.h.
 *
 * Input: bytes 0-4 the geometry (jf_new_image); byte 5: bits 0-1 the thread count - 1,
 * bits 2-3 the kind of damage, bit 4 the reference uses other quantisers (zero, 1 and
 * 16-bit steps among them), bit 5 the current image is something else than the reference
 * with changes, bits 6-7 how many more references (jcm_encode_refs: each the reference
 * with values moved by +-1, like noise); bytes 6-7 a split point: the head (bytes 8 .. 8 + split) says where to
 * damage the stream, the tail (the rest) gives the coefficients.
 * 1. A reference is filled from the tail, and the current image is the reference with
 *    changes taken from the tail (runs of blocks equal, values moved by +-1, others new),
 *    so that jcm_encode codes at least some bands against it (or against the mean of
 *    the references). Encoded with two thread
 *    counts, the bytes must be equal and parse as the documented layout; the stream must
 *    decode exactly with the reference when it is inter (alone otherwise).
 * 2. The references are required exactly when and as many as the stream says: the other
 *    way round, one fewer, or a reference of another block layout give IMS_E_CORRUPT.
 *    Encoding against a reference of another layout must give the same bytes as encoding
 *    alone.
 * 3. The stream is damaged from the head (bytes flipped, cut short, the head as the coded
 *    bands behind the valid header, or the head alone) and decoded with the valid reference
 *    and without: only OK, CORRUPT or VERSION, a message with every failure, every
 *    coefficient read (MSan). What decodes with the reference must decode the same with
 *    the other thread count, and encode against the reference and decode back exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jcm_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The current image: ref with changes from src (cycled, n > 0) in the blocks that
 * jf_fill fills (the rest stays equal to the reference's zeros). New values are sparse,
 * as in real images. */
static void derive(jpg_image *cur, const jpg_image *ref, bool related, const uint8_t *src, size_t n) {
  size_t pos = 0;
  for (unsigned c = 0; c < cur->n_comp; c++) {
    size_t total = jf_n_coef(ref, c);
    if (total > (size_t)JF_FILL_BLOCKS * 64) total = (size_t)JF_FILL_BLOCKS * 64;
    for (size_t i = 0; i < total; i++, pos++) {
      uint8_t b = src[pos % n];
      int16_t r = ref->comp[c].coef[i], val = r;
      if (!related || (b & 0x30u) == 0x30u)
        val = (b & 0x40u) ? (int16_t)((int)(b & 15u) - 8) : 0; /* new */
      else if ((b & 0x30u) == 0x20u && r > -32768 && r < 32767)
        val = (int16_t)(r + ((b & 1u) ? 1 : -1));
      if (related && (i / 64 + pos / 97) % 3 == 0) val = r; /* whole runs of blocks equal */
      cur->comp[c].coef[i] = val;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < JF_GEO_BYTES + 4) return 0;
  const uint8_t *g = data;
  const unsigned threads = 1u + (data[5] & 3u), other = 1u + (threads & 1u), damage = (data[5] >> 2) & 3u;
  const bool other_q = (data[5] & 0x10u) != 0, related = (data[5] & 0x20u) == 0;
  const unsigned n_refs = 1u + (data[5] >> 6);
  size_t split = (size_t)(data[6] | (unsigned)data[7] << 8);
  const uint8_t *rest = data + JF_GEO_BYTES + 3;
  const size_t rlen = size - JF_GEO_BYTES - 3;
  if (split > rlen - 1) split = rlen - 1;
  const uint8_t *head = rest, *tail = rest + split;
  const size_t hlen = split, tlen = rlen - split;
  ims_err err;

  /* 1. reference, current image, round trip */
  jpg_image *ref = jf_new_image(g, other_q ? 1u + data[0] : 0), *cur = jf_new_image(g, 0);
  jf_fill(ref, tail, tlen);
  derive(cur, ref, related, tail, tlen);
  jpg_image *refs[JCM_MAX_REFS] = {ref, NULL, NULL, NULL};
  for (unsigned k = 1; k < n_refs; k++) {
    refs[k] = jf_new_image(g, other_q ? k + data[0] : 0);
    for (unsigned c = 0; c < ref->n_comp; c++)
      for (size_t i = 0; i < jf_n_coef(ref, c); i++) {
        uint8_t b = tail[(i * 7 + k + c) % tlen];
        int16_t r = ref->comp[c].coef[i], v = r;
        if ((b & 3u) == 1u && r < 32767) v = (int16_t)(r + 1);
        if ((b & 3u) == 2u && r > -32768) v = (int16_t)(r - 1);
        refs[k]->comp[c].coef[i] = v;
      }
  }
  const jpg_image *const *rl = (const jpg_image *const *)refs;
  buf s, s2;
  buf_init(&s, (size_t)1 << 26);
  buf_init(&s2, (size_t)1 << 26);
  ims_err_clear(&err);
  if (jcm_encode_refs(cur, rl, n_refs, threads, &s, &err) != IMS_OK) abort();
  if (jcm_encode_refs(cur, rl, n_refs, other, &s2, &err) != IMS_OK) abort();
  if (s.len != s2.len || memcmp(s.p, s2.p, s.len) != 0) abort();
  const bool inter = jcm_stream_is_inter(s.p, s.len);
  const unsigned used = jcm_stream_refs(s.p, s.len), nd = used ? used : 1; /* nd: given when damaged */
  if (used > n_refs || inter != (used > 0)) abort();
  jf_layout lay;
  if (!jf_parse_layout(s.p, s.len, inter, &lay)) abort();
  jpg_image *back = jf_new_image(g, 0);
  if (jcm_decode_refs(s.p, s.len, back, rl, used, other, &err) != IMS_OK) abort();
  if (!jf_same_coefs(cur, back)) abort();

  /* 2. the reference exactly when the stream says so */
  ims_err_clear(&err);
  if (jcm_decode(s.p, s.len, back, inter ? NULL : ref, threads, &err) != IMS_E_CORRUPT) abort();
  if (used > 1 && jcm_decode_refs(s.p, s.len, back, rl, used - 1, threads, &err) != IMS_E_CORRUPT) abort();
  uint8_t g2[JF_GEO_BYTES];
  memcpy(g2, g, sizeof g2);
  g2[4] = (uint8_t)(g2[4] ^ 0x50u); /* height +-48 or +-80 pixels: 1+ MCU row */
  jpg_image *misfit = jf_new_image(g2, 0);
  if (inter && jcm_decode(s.p, s.len, back, misfit, threads, &err) != IMS_E_CORRUPT) abort();
  s2.len = 0;
  if (jcm_encode(cur, misfit, threads, &s2, &err) != IMS_OK) abort();
  if (jcm_stream_is_inter(s2.p, s2.len)) abort();
  buf alone;
  buf_init(&alone, (size_t)1 << 26);
  if (jcm_encode(cur, NULL, threads, &alone, &err) != IMS_OK) abort();
  if (alone.len != s2.len || memcmp(alone.p, s2.p, s2.len) != 0) abort();
  buf_free(&alone);
  jf_free_image(misfit);

  /* 3. damaged streams */
  uint8_t *bad = malloc(s.len + hlen + 1);
  if (!bad) abort();
  size_t blen = s.len;
  memcpy(bad, s.p, s.len);
  if (damage == 0) {
    for (size_t i = 0; i + 1 < hlen; i += 2) bad[(size_t)head[i] * 251u % blen] ^= head[i + 1] ? head[i + 1] : 1;
  } else if (damage == 1) {
    blen = hlen ? (size_t)head[0] * 257u % blen : blen / 2;
    if (blen && hlen > 1) bad[blen - 1] ^= head[1];
  } else if (damage == 2) {
    /* the valid header (modes, lengths evened out) with the head as the coded bands */
    size_t each = hlen / lay.n_jobs;
    for (uint32_t b = 0; b < lay.n_jobs; b++)
      jf_put_u32le(bad + lay.lens + 4 * b, (uint32_t)(b + 1 < lay.n_jobs ? each : hlen - each * b));
    if (hlen) memcpy(bad + lay.body, head, hlen);
    blen = lay.body + hlen;
  } else {
    if (hlen) memcpy(bad, head, hlen);
    blen = hlen;
  }
  jpg_image *dec = jf_new_image(g, 0);
  ims_err_clear(&err);
  ims_status st = jcm_decode_refs(bad, blen, dec, rl, nd, threads, &err);
  jf_check_status(st, &err);
  jf_read_all(dec);
  if (st == IMS_OK) {
    if (jcm_decode_refs(bad, blen, back, rl, nd, other, &err) != IMS_OK) abort();
    if (!jf_same_coefs(dec, back)) abort();
    s2.len = 0;
    if (jcm_encode_refs(dec, rl, nd, threads, &s2, &err) != IMS_OK) abort();
    if (jcm_decode_refs(s2.p, s2.len, back, rl, jcm_stream_refs(s2.p, s2.len), other, &err) != IMS_OK) abort();
    if (!jf_same_coefs(dec, back)) abort();
  }
  ims_err_clear(&err);
  st = jcm_decode(bad, blen, dec, NULL, threads, &err);
  jf_check_status(st, &err);
  jf_read_all(dec);

  free(bad);
  jf_free_image(dec);
  jf_free_image(back);
  buf_free(&s);
  buf_free(&s2);
  jf_free_image(cur);
  for (unsigned k = 0; k < n_refs; k++) jf_free_image(refs[k]);
  return 0;
}
