/* Encoders other than libjpeg split EOB runs differently, pad with zeros, put fill bytes
 * before RST markers or junk after the padding. libjpeg never does, so this test makes such
 * files with our own re-encoder: it injects deviation records into the side information of
 * generated JPEGs and encodes. Each result must decode (ours and libjpeg's) to the same
 * coefficients as the original and rebuild byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jpeggen.h"
#include "jpeg/jpeg_internal.h"

static const jpg_limits lim = {UINT64_C(1) << 28, 1000, UINT64_C(1) << 30};

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static int n_variants, n_changed, n_uncodable;

static bool same_coefs(const jpg_image *a, const jpg_image *b) {
  if (a->n_comp != b->n_comp) return false;
  for (unsigned c = 0; c < a->n_comp; c++) {
    if (a->comp[c].w_blocks != b->comp[c].w_blocks || a->comp[c].h_blocks != b->comp[c].h_blocks) return false;
    if (memcmp(a->comp[c].coef, b->comp[c].coef, (size_t)a->comp[c].w_blocks * a->comp[c].h_blocks * 128)) return false;
  }
  return true;
}

/* mode bit 0: EOB run toggles, bit 1: segment deviations. */
static bool variant(const uint8_t *jpg, size_t len, uint64_t seed, unsigned mode, const char *desc) {
  jpg_image *img = NULL, *img2 = NULL;
  ims_err err;
  REQUIRE(jpg_decode(jpg, len, &lim, &img, &err) == IMS_OK);
  jpg_side *s = img->side;
  REQUIRE(s->n_eobx == 0 && s->n_segx == 0); /* libjpeg is canonical */
  uint64_t r = seed * 0x9E3779B97F4A7C15ull + 1;
  if (mode & 1) {
    for (uint32_t scan = 0; scan + 1 < s->n_chunks; scan++) {
      uint32_t b = 0;
      for (int i = 0; i < 2; i++) {
        b += 1 + (uint32_t)(rng(&r) % 40);
        REQUIRE(jpg_side_add_eobx(s, scan, b, 0) == IMS_OK);
      }
    }
  }
  static const uint8_t junk[3] = {0x00, 0xFF, 0x12};
  if (mode & 2) {
    for (uint64_t seg = 0; seg < 12; seg++) {
      jpg_segx x;
      memset(&x, 0, sizeof x);
      x.seg = seg;
      unsigned k = (unsigned)(rng(&r) % 4);
      if (k == 0) x.flags = JPG_SEGX_PAD; /* pad with zeros (where there is padding) */
      if (k == 1) {
        x.flags = JPG_SEGX_FILL;
        x.n_fill = 1 + (uint32_t)(rng(&r) % 3);
      }
      if (k == 2) {
        x.flags = JPG_SEGX_EXTRA;
        x.extra_len = 1 + (size_t)(rng(&r) % 3);
      }
      if (x.flags) REQUIRE(jpg_side_add_segx(s, &x, junk) == IMS_OK);
    }
  }
  buf out;
  ims_status st0;
  buf_init(&out, SIZE_MAX);
  st0 = jpg_encode(img, &out, &err);
  if (st0 == IMS_E_CORRUPT && (mode & 1) && strstr(err.msg, "no Huffman code")) {
    /* The optimised table has no code for a run length the split made: try elsewhere. */
    n_uncodable++;
    buf_free(&out);
    jpg_free(img);
    return false;
  }
  if (st0) fprintf(stderr, "%s mode %u: encode: %s\n", desc, mode, err.msg);
  REQUIRE(st0 == IMS_OK);
  n_variants++;
  if (out.len != len || memcmp(out.p, jpg, len) != 0) n_changed++;
  /* Our decoder: same coefficients, exact rebuild. */
  ims_status st = jpg_decode(out.p, out.len, &lim, &img2, &err);
  if (st) fprintf(stderr, "%s mode %u: decode: %s\n", desc, mode, err.msg);
  CHECK(st == IMS_OK);
  if (st == IMS_OK) {
    bool same = same_coefs(img, img2);
    if (!same) fprintf(stderr, "%s mode %u: coefficients differ\n", desc, mode);
    CHECK(same);
  }
  char why[300];
  int rt = jpeggen_roundtrip(out.p, out.len, NULL, why, sizeof why);
  if (rt) fprintf(stderr, "%s mode %u: round trip: %s\n", desc, mode, why);
  CHECK(rt == 0);
  /* libjpeg agrees on the coefficients (padding and junk are invisible to it: it only warns). */
  int d = jpeggen_compare_libjpeg(out.p, out.len, why, sizeof why);
  if (d) fprintf(stderr, "%s mode %u: differential: %s\n", desc, mode, why);
  CHECK(d == 0);
  buf_free(&out);
  jpg_free(img);
  jpg_free(img2);
  return true;
}

int main(void) {
  jpeggen_params p;
  char desc[160];
  for (int i = 0; i < 24; i++) {
    jpeggen_defaults(&p);
    p.width = 40 + (uint32_t)i * 37;
    p.height = 30 + (uint32_t)i * 23;
    p.subsamp = (jpeggen_subsamp)(i % JPEGGEN_SUBSAMP_COUNT);
    p.progressive = i % 3 != 2;
    p.optimize = i & 1;
    p.restart_mcus = i % 4 == 0 ? 0 : (unsigned)(1 + i % 5);
    p.quality = 40 + i * 2;
    p.seed = 500 + (uint64_t)i;
    uint8_t *jpg;
    size_t len;
    REQUIRE(jpeggen_make(&p, &jpg, &len) == 0);
    jpeggen_describe(&p, desc, sizeof desc);
    for (unsigned mode = 1; mode <= 3; mode++)
      for (uint64_t t = 0; t < 30 && !variant(jpg, len, (uint64_t)i * 100 + t * 3 + mode, mode, desc); t++) continue;
    free(jpg);
  }
  printf("variants: %d, of which %d differ from libjpeg's own bytes (%d tries not codable)\n", n_variants, n_changed,
         n_uncodable);
  CHECK(n_changed > n_variants / 2);
  return check_done("test_jpeg_deviations");
}
