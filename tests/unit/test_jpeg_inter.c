/* Inter coding of JPEG coefficients (issue #4): a JPEG coded against a similar earlier
 * one, on a synthetic time-lapse (timelapse_gen: one still scene, independent noise in
 * every frame, slow light drift). Checks: exact round trips of coefficients and of file
 * bytes through the JPEG codec; the size reached on the synthetic set (a bound a little
 * above the measured value, so that a regression fails); other quantisers in the reference
 * than in the image; decoding with a missing, unexpected, wrong or misshapen reference
 * fails cleanly; the same bytes for any thread count; several references (their mean
 * beats one noisy reference) and the streams of the earlier inter model refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec/codec.h"
#include "jpeg/jpeg.h"
#include "jpeg/model.h"
#include "timelapse_gen.h"

/* Measured on 8 frames of 640x480 (noise 1.0, drift 0.2, q90): frames 1-7 against the
 * previous one 0.3560 of their bytes; all 8 with frame 0 coded alone 0.4011. */
#define SYNTH_MAX_INTER_RATIO 0.37
#define SYNTH_MAX_RATIO 0.415

static const codec_env env = {
    .zstd_level = 19, .threads = 1, .max_pixels = (uint64_t)1 << 28, .max_scans = 256, .max_bytes = (uint64_t)1 << 30};
static const jpg_limits lim = {(uint64_t)1 << 28, 256, (uint64_t)1 << 30};

static jpg_image *parse(const uint8_t *p, size_t n) {
  jpg_image *img = NULL;
  ims_err err;
  if (jpg_decode(p, n, &lim, &img, &err) != IMS_OK) {
    fprintf(stderr, "jpg_decode: %s\n", err.msg);
    return NULL;
  }
  return img;
}

static bool same_coefs(const jpg_image *a, const jpg_image *b) {
  if (a->n_comp != b->n_comp) return false;
  for (unsigned c = 0; c < a->n_comp; c++)
    if (memcmp(a->comp[c].coef, b->comp[c].coef,
               (size_t)a->comp[c].w_blocks * a->comp[c].h_blocks * 64 * sizeof(int16_t)) != 0)
      return false;
  return true;
}

/* Encodes src against ref (may be NULL) with the JPEG codec and decodes it back the way
 * the reader does (the reference only when used): 1 when the bytes come back. */
static int codec_round_trip(const uint8_t *src, size_t len, const uint8_t *ref, size_t ref_len, buf *payload,
                            bool *used) {
  const codec *c = codec_by_id(CODEC_JPEG);
  ims_err err;
  payload->len = 0;
  if (codec_encode1(c, &env, src, len, ref, ref_len, payload, used, &err) != IMS_OK) {
    fprintf(stderr, "encode: %s\n", err.msg);
    return 0;
  }
  uint8_t *back = malloc(len);
  if (!back) return 0;
  ims_status st = codec_decode1(c, &env, payload->p, payload->len, *used ? ref : NULL, *used ? ref_len : 0, back, len, &err);
  if (st) fprintf(stderr, "decode: %s\n", err.msg);
  int ok = st == IMS_OK && memcmp(back, src, len) == 0;
  free(back);
  return ok;
}

typedef struct frame {
  uint8_t *jpg;
  size_t len;
} frame;

static void test_synthetic(void) {
  enum { N = 8 };
  tlgen_params p;
  tlgen_defaults(&p);
  frame f[N];
  for (uint32_t i = 0; i < N; i++) REQUIRE(tlgen_frame(&p, i, &f[i].jpg, &f[i].len) == 0);
  buf pl;
  buf_init(&pl, SIZE_MAX);
  size_t orig = 0, packed = 0, alone = 0, orig_inter = 0, packed_inter = 0;
  for (int i = 0; i < N; i++) {
    bool used = false;
    CHECK(codec_round_trip(f[i].jpg, f[i].len, i ? f[i - 1].jpg : NULL, i ? f[i - 1].len : 0, &pl, &used));
    CHECK(used == (i > 0));
    orig += f[i].len;
    packed += pl.len;
    if (i > 0) {
      orig_inter += f[i].len;
      packed_inter += pl.len;
    }
    if (i == N - 1) {
      bool u2;
      CHECK(codec_round_trip(f[i].jpg, f[i].len, NULL, 0, &pl, &u2));
      CHECK(!u2);
      alone = pl.len;
    }
  }
  double ratio = (double)packed / (double)orig, ratio_inter = (double)packed_inter / (double)orig_inter;
  printf("synthetic time-lapse, %d frames 640x480 q90: %zu -> %zu bytes (%.4f); frames 1-%d against the previous "
         "%.4f; the last frame alone %zu bytes\n",
         N, orig, packed, ratio, N - 1, ratio_inter, alone);
  CHECK(ratio <= SYNTH_MAX_RATIO);
  CHECK(ratio_inter <= SYNTH_MAX_INTER_RATIO);

  /* References that do not fit: frame 3's payload was coded against frame 2. */
  const codec *c = codec_by_id(CODEC_JPEG);
  bool used;
  REQUIRE(codec_round_trip(f[3].jpg, f[3].len, f[2].jpg, f[2].len, &pl, &used) && used);
  uint8_t *back = malloc(f[3].len);
  REQUIRE(back);
  ims_err err;
  CHECK(codec_decode1(c, &env, pl.p, pl.len, NULL, 0, back, f[3].len, &err) == IMS_E_CORRUPT);
  /* a wrong reference of the right shape: an error, or bytes that differ (the reader's
   * content hash refuses them); never a crash */
  ims_status st = codec_decode1(c, &env, pl.p, pl.len, f[6].jpg, f[6].len, back, f[3].len, &err);
  CHECK(st != IMS_OK || memcmp(back, f[3].jpg, f[3].len) != 0);
  /* a reference that is not a JPEG, and one of another size */
  CHECK(codec_decode1(c, &env, pl.p, pl.len, (const uint8_t *)"not a jpeg", 10, back, f[3].len, &err) == IMS_E_CORRUPT);
  tlgen_params small = p;
  small.width = 320;
  small.height = 240;
  uint8_t *sj;
  size_t sl;
  REQUIRE(tlgen_frame(&small, 3, &sj, &sl) == 0);
  CHECK(codec_decode1(c, &env, pl.p, pl.len, sj, sl, back, f[3].len, &err) == IMS_E_CORRUPT);
  /* a payload coded alone, given a reference */
  REQUIRE(codec_round_trip(f[3].jpg, f[3].len, NULL, 0, &pl, &used) && !used);
  CHECK(codec_decode1(c, &env, pl.p, pl.len, f[2].jpg, f[2].len, back, f[3].len, &err) == IMS_E_CORRUPT);
  /* a reference of another size is not used when encoding */
  REQUIRE(codec_round_trip(f[3].jpg, f[3].len, sj, sl, &pl, &used));
  CHECK(!used);

  /* Chains of references through the codec interface: frame 7 against frames 6, 5, 4, 3
   * (nearest first) is smaller than against frame 6 alone, needs all four, and decodes
   * only with them: a shorter chain is refused, a longer one's extra references are not
   * read, another frame in the chain never gives the file back (the mean of the references
   * is order-free: which one is nearest matters only to bands coded from it alone). */
  {
    codec_ref chain[CODEC_MAX_REFS + 1];
    for (int k = 0; k <= CODEC_MAX_REFS; k++) chain[k] = (codec_ref){f[6 - k].jpg, f[6 - k].len};
    size_t one = 0;
    for (unsigned n = 1; n <= CODEC_MAX_REFS; n++) {
      unsigned used_n = 99;
      pl.len = 0;
      REQUIRE(c->encode(&env, f[7].jpg, f[7].len, chain, n, &pl, &used_n, &err) == IMS_OK);
      CHECK(used_n == n);
      if (n == 1) one = pl.len;
      for (unsigned g = 0; g <= CODEC_MAX_REFS + 1; g++) {
        memset(back, 0, f[7].len);
        st = c->decode(&env, pl.p, pl.len, chain, g, back, f[7].len, &err);
        if (g < n)
          CHECK(st == IMS_E_CORRUPT);
        else
          CHECK(st == IMS_OK && memcmp(back, f[7].jpg, f[7].len) == 0);
      }
      if (n >= 2) {
        codec_ref other[CODEC_MAX_REFS];
        memcpy(other, chain, sizeof other);
        other[n - 1] = (codec_ref){f[0].jpg, f[0].len}; /* the farthest one replaced */
        st = c->decode(&env, pl.p, pl.len, other, n, back, f[7].len, &err);
        CHECK(st != IMS_OK || memcmp(back, f[7].jpg, f[7].len) != 0);
        printf("frame 7 against %u references: %zu bytes (one: %zu)\n", n, pl.len, one);
        CHECK(pl.len < one);
      }
    }
    /* a reference in the chain that does not parse ends it: coded against the ones before */
    codec_ref broken[3] = {chain[0], {(const uint8_t *)"not a jpeg", 10}, chain[2]};
    unsigned used_n = 99;
    pl.len = 0;
    REQUIRE(c->encode(&env, f[7].jpg, f[7].len, broken, 3, &pl, &used_n, &err) == IMS_OK);
    CHECK(used_n == 1);
    CHECK(c->decode(&env, pl.p, pl.len, broken, 1, back, f[7].len, &err) == IMS_OK &&
          memcmp(back, f[7].jpg, f[7].len) == 0);
  }

  /* The same at the model level. */
  jpg_image *a = parse(f[2].jpg, f[2].len), *b = parse(f[3].jpg, f[3].len), *d = parse(f[3].jpg, f[3].len),
            *s = parse(sj, sl);
  REQUIRE(a && b && d && s);
  buf m;
  buf_init(&m, SIZE_MAX);
  REQUIRE(jcm_encode(b, a, 1, &m, &err) == IMS_OK);
  CHECK(jcm_stream_is_inter(m.p, m.len));
  CHECK(jcm_decode(m.p, m.len, d, NULL, 1, &err) == IMS_E_CORRUPT);
  CHECK(jcm_decode(m.p, m.len, d, s, 1, &err) == IMS_E_CORRUPT);
  CHECK(jcm_decode(m.p, m.len, d, a, 2, &err) == IMS_OK && same_coefs(b, d));
  buf_free(&m);
  jpg_free(a);
  jpg_free(b);
  jpg_free(d);
  jpg_free(s);
  free(sj);
  free(back);
  buf_free(&pl);
  for (int i = 0; i < N; i++) free(f[i].jpg);
}

/* The quality changes from frame to frame: other quantisers in the reference. */
static void test_other_tables(void) {
  tlgen_params p;
  tlgen_defaults(&p);
  p.width = 320;
  p.height = 240;
  p.quality = 92;
  p.quality_step = -3;
  uint8_t *j0, *j1;
  size_t l0, l1;
  REQUIRE(tlgen_frame(&p, 0, &j0, &l0) == 0 && tlgen_frame(&p, 1, &j1, &l1) == 0);
  jpg_image *a = parse(j0, l0), *b = parse(j1, l1), *d = parse(j1, l1);
  REQUIRE(a && b && d);
  CHECK(memcmp(a->qt, b->qt, sizeof a->qt) != 0);
  buf m;
  buf_init(&m, SIZE_MAX);
  ims_err err;
  REQUIRE(jcm_encode(b, a, 1, &m, &err) == IMS_OK);
  bool inter = jcm_stream_is_inter(m.p, m.len);
  CHECK(jcm_decode(m.p, m.len, d, inter ? a : NULL, 1, &err) == IMS_OK && same_coefs(b, d));
  size_t with_ref = m.len;
  m.len = 0;
  REQUIRE(jcm_encode(b, NULL, 1, &m, &err) == IMS_OK);
  printf("other quantisers (q92 -> q89): %zu bytes against the reference (%s), %zu alone\n", with_ref,
         inter ? "inter" : "not used", m.len);
  CHECK(with_ref <= m.len);
  buf pl;
  buf_init(&pl, SIZE_MAX);
  bool used;
  CHECK(codec_round_trip(j1, l1, j0, l0, &pl, &used));
  buf_free(&pl);
  buf_free(&m);
  jpg_free(a);
  jpg_free(b);
  jpg_free(d);
  free(j0);
  free(j1);
}

/* Several row bands per component (luma of 1280x960 has 19200 blocks): the same bytes
 * for 1, 2 and 3 threads, decoded exactly with another count. */
static void test_threads(void) {
  tlgen_params p;
  tlgen_defaults(&p);
  p.width = 1280;
  p.height = 960;
  p.subsamp = JPEGGEN_444;
  uint8_t *j0, *j1;
  size_t l0, l1;
  REQUIRE(tlgen_frame(&p, 0, &j0, &l0) == 0 && tlgen_frame(&p, 1, &j1, &l1) == 0);
  jpg_image *a = parse(j0, l0), *b = parse(j1, l1), *d = parse(j1, l1);
  REQUIRE(a && b && d);
  buf m[3];
  ims_err err;
  for (unsigned t = 0; t < 3; t++) {
    buf_init(&m[t], SIZE_MAX);
    REQUIRE(jcm_encode(b, a, t + 1, &m[t], &err) == IMS_OK);
  }
  CHECK(jcm_stream_is_inter(m[0].p, m[0].len));
  CHECK(m[0].len == m[1].len && memcmp(m[0].p, m[1].p, m[0].len) == 0);
  CHECK(m[0].len == m[2].len && memcmp(m[0].p, m[2].p, m[0].len) == 0);
  CHECK(jcm_decode(m[0].p, m[0].len, d, a, 2, &err) == IMS_OK && same_coefs(b, d));
  for (unsigned t = 0; t < 3; t++) buf_free(&m[t]);
  jpg_free(a);
  jpg_free(b);
  jpg_free(d);
  free(j0);
  free(j1);
}

/* Up to four references (jcm_encode_refs): the mean of four noisy frames predicts better
 * than the nearest alone; exact round trips; the references must be the ones coded
 * against, as many (and in the same order: the nearest is used alone where that is
 * shorter); a stream of the inter model with one reference is refused as a version. */
static void test_refs(void) {
  enum { N = 5 };
  tlgen_params p;
  tlgen_defaults(&p);
  p.width = 320;
  p.height = 240;
  jpg_image *f[N], *d = NULL; /* d: frame 4 again, decoded into */
  for (uint32_t i = 0; i < N; i++) {
    uint8_t *j;
    size_t l;
    REQUIRE(tlgen_frame(&p, i, &j, &l) == 0);
    f[i] = parse(j, l);
    if (i == N - 1) d = parse(j, l);
    free(j);
    REQUIRE(f[i]);
  }
  REQUIRE(d);
  const jpg_image *refs[4] = {f[3], f[2], f[1], f[0]}; /* nearest first */
  buf one, four, four3;
  buf_init(&one, SIZE_MAX);
  buf_init(&four, SIZE_MAX);
  buf_init(&four3, SIZE_MAX);
  ims_err err;
  REQUIRE(jcm_encode_refs(f[4], refs, 1, 1, &one, &err) == IMS_OK);
  REQUIRE(jcm_encode_refs(f[4], refs, 4, 1, &four, &err) == IMS_OK);
  REQUIRE(jcm_encode_refs(f[4], refs, 4, 3, &four3, &err) == IMS_OK);
  printf("frame 4 of 320x240: %zu bytes against frame 3, %zu against frames 0-3 (needs %u)\n", one.len, four.len,
         jcm_stream_refs(four.p, four.len));
  CHECK(jcm_stream_refs(one.p, one.len) == 1);
  CHECK(jcm_stream_refs(four.p, four.len) == 4);
  CHECK(four.len < one.len * 95 / 100);
  CHECK(four.len == four3.len && memcmp(four.p, four3.p, four.len) == 0);
  CHECK(jcm_decode_refs(four.p, four.len, d, refs, 4, 2, &err) == IMS_OK && same_coefs(f[4], d));
  CHECK(jcm_decode_refs(one.p, one.len, d, refs, 1, 1, &err) == IMS_OK && same_coefs(f[4], d));
  CHECK(jcm_decode(one.p, one.len, d, f[3], 1, &err) == IMS_OK && same_coefs(f[4], d));
  /* not as many references, or none */
  CHECK(jcm_decode_refs(four.p, four.len, d, refs, 3, 1, &err) == IMS_E_CORRUPT);
  CHECK(jcm_decode_refs(four.p, four.len, d, refs, 1, 1, &err) == IMS_E_CORRUPT);
  CHECK(jcm_decode_refs(four.p, four.len, d, NULL, 0, 1, &err) == IMS_E_CORRUPT);
  CHECK(jcm_decode_refs(one.p, one.len, d, refs, 2, 1, &err) == IMS_E_CORRUPT);
  /* too many, in the API */
  const jpg_image *five[5] = {f[3], f[2], f[1], f[0], f[0]};
  buf x;
  buf_init(&x, SIZE_MAX);
  CHECK(jcm_encode_refs(f[4], five, 5, 1, &x, &err) == IMS_E_ARG);
  CHECK(jcm_decode_refs(four.p, four.len, d, five, 5, 1, &err) == IMS_E_ARG);
  /* other references (the mean of the same ones in another order is the same mean):
   * wrong coefficients or an error, never a crash */
  const jpg_image *other[4] = {f[2], f[3], f[1], f[1]};
  ims_status st = jcm_decode_refs(four.p, four.len, d, other, 4, 1, &err);
  CHECK(st != IMS_OK || !same_coefs(f[4], d));
  /* a second reference of another size: only the leading ones that fit are used */
  tlgen_params small = p;
  small.width = 160;
  small.height = 120;
  uint8_t *sj;
  size_t sl;
  REQUIRE(tlgen_frame(&small, 2, &sj, &sl) == 0);
  jpg_image *s = parse(sj, sl);
  free(sj);
  REQUIRE(s);
  const jpg_image *mixed[2] = {f[3], s};
  x.len = 0;
  REQUIRE(jcm_encode_refs(f[4], mixed, 2, 1, &x, &err) == IMS_OK);
  CHECK(x.len == one.len && memcmp(x.p, one.p, one.len) == 0);
  /* the inter streams of the model with one reference (versions 2 and 4) and of the
   * model before the inter priors (5) are refused as versions */
  x.len = 0;
  REQUIRE(buf_append(&x, one.p, one.len) == IMS_OK);
  x.p[0] = 2;
  CHECK(jcm_decode(x.p, x.len, d, f[3], 1, &err) == IMS_E_VERSION);
  x.p[0] = 4;
  CHECK(jcm_decode(x.p, x.len, d, f[3], 1, &err) == IMS_E_VERSION);
  x.p[0] = 5;
  CHECK(jcm_decode(x.p, x.len, d, f[3], 1, &err) == IMS_E_VERSION);
  buf_free(&x);
  buf_free(&one);
  buf_free(&four);
  buf_free(&four3);
  jpg_free(s);
  jpg_free(d);
  for (int i = 0; i < N; i++) jpg_free(f[i]);
}

/* The mean of 2-4 references made block by block (jcm_mean_block, vectorised) against the
 * definition: the prediction round(sum / n) with halves away from zero, clamped to 32767,
 * and its fraction class: 0 on it, 1 further from zero (or above a prediction of 0), 2
 * towards zero by less than half a step (or below 0), 3 half a step towards zero. Blocks
 * of small values, of values up to the 16-bit lanes' limit (+-8192) and of any int16. */
static void test_mean_block(void) {
  static int16_t ref[4][64];
  uint64_t x = 0x9E3779B97F4A7C15u;
  unsigned bad = 0, n_blocks = 0;
  for (unsigned round = 0; round < 3000; round++) {
    int32_t span = round % 3 == 0 ? 4 : round % 3 == 1 ? 8193 : 32768;
    for (unsigned j = 0; j < 4; j++)
      for (unsigned i = 0; i < 64; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int32_t v = (int32_t)(x % (uint64_t)(2 * span)) - span;
        if (v > 32767) v = 32767;
        ref[j][i] = (int16_t)v;
      }
    for (unsigned nr = 2; nr <= 4; nr++) {
      jcm_refs r;
      memset(&r, 0, sizeof r);
      for (unsigned j = 0; j < nr; j++) r.ref[j] = ref[j];
      r.nr = nr;
      int16_t o[64];
      uint8_t f[64];
      jcm_mean_block(&r, 0, o, f);
      n_blocks++;
      for (unsigned i = 0; i < 64; i++) {
        int32_t sum = 0;
        for (unsigned j = 0; j < nr; j++) sum += ref[j][i];
        int32_t a = sum < 0 ? -sum : sum;
        int32_t m = (2 * a + (int32_t)nr) / (2 * (int32_t)nr), rem = a - m * (int32_t)nr;
        if (m > 32767) {
          m = 32767;
          rem = 0;
        }
        int32_t want_o = sum < 0 ? -m : m;
        unsigned want_f = rem == 0 ? 0u : m == 0 ? (sum > 0 ? 1u : 2u) : rem > 0 ? 1u : 2 * -rem >= (int32_t)nr ? 3u : 2u;
        bad += o[i] != want_o || f[i] != want_f;
      }
    }
  }
  CHECK(n_blocks == 9000);
  CHECK(bad == 0);
  if (bad) fprintf(stderr, "test_mean_block: %u values differ from the definition\n", bad);
}

int main(void) {
  test_synthetic();
  test_other_tables();
  test_threads();
  test_refs();
  test_mean_block();
  return check_done("test_jpeg_inter");
}
