/* Hostile input: small JPEGs truncated at every byte and with random byte changes must give
 * OK, CORRUPT, UNSUPPORTED or LIMIT, never a crash or a sanitizer report; whenever decoding
 * succeeds, the file must rebuild byte for byte. Also: arithmetic-coded files are refused,
 * limits are enforced, and corrupt side information is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jpeggen.h"
#include "jpeg/jpeg.h"

static int n_ok, n_bad;

static void probe(const uint8_t *d, size_t n, const char *what, size_t where) {
  char why[300];
  int r = jpeggen_roundtrip(d, n, NULL, why, sizeof why);
  bool allowed = r == 0 || r == IMS_E_CORRUPT || r == IMS_E_UNSUPPORTED || r == IMS_E_LIMIT;
  if (!allowed) {
    fprintf(stderr, "%s at %zu: %d %s\n", what, where, r, why);
    char path[64];
    (void)snprintf(path, sizeof path, "hostile_fail_%d.jpg", n_bad);
    FILE *f = fopen(path, "wb");
    if (f) {
      (void)fwrite(d, 1, n, f);
      (void)fclose(f);
    }
  }
  CHECK(allowed);
  if (r == 0) n_ok++;
  else n_bad++;
}

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

int main(void) {
  jpeggen_params p;
  const unsigned kinds = 6;
  for (unsigned kind = 0; kind < kinds; kind++) {
    jpeggen_defaults(&p);
    p.width = 24 + (uint32_t)kind * 5;
    p.height = 17 + (uint32_t)kind * 3;
    p.seed = 77 + (uint64_t)kind;
    p.subsamp = (jpeggen_subsamp)(kind % JPEGGEN_SUBSAMP_COUNT);
    p.progressive = kind & 1;
    p.optimize = kind >= 2;
    p.restart_mcus = kind == 3 || kind == 4 ? 2 : 0;
    p.app1_exif = kind == 5;
    p.quality = 85;
    uint8_t *jpg;
    size_t len;
    REQUIRE(jpeggen_make(&p, &jpg, &len) == 0);
    uint8_t *t = malloc(len);
    for (size_t cut = 0; cut < len; cut++) {
      memcpy(t, jpg, cut);
      probe(t, cut, "truncated", cut);
    }
    uint64_t s = 0x1234567ull + (uint64_t)kind;
    for (int i = 0; i < 3000; i++) {
      memcpy(t, jpg, len);
      int flips = 1 + (int)(rng(&s) % 4);
      size_t where = 0;
      for (int f = 0; f < flips; f++) {
        where = (size_t)(rng(&s) % len);
        switch (rng(&s) % 4) {
        case 0: t[where] = (uint8_t)rng(&s); break;
        case 1: t[where] ^= (uint8_t)(1u << (rng(&s) % 8)); break;
        case 2: t[where] = 0xFF; break;
        default: t[where] = 0x00; break;
        }
      }
      probe(t, len, "changed", where);
    }
    free(t);
    free(jpg);
  }
  printf("hostile inputs: %d decoded and rebuilt exactly, %d refused\n", n_ok, n_bad);

  /* Arithmetic coding is refused as unsupported. */
  jpeggen_defaults(&p);
  p.arithmetic = 1;
  uint8_t *jpg;
  size_t len;
  REQUIRE(jpeggen_make(&p, &jpg, &len) == 0);
  jpg_image *img = NULL;
  ims_err err;
  jpg_limits lim = {1u << 20, 100, 1u << 24};
  CHECK(jpg_decode(jpg, len, &lim, &img, &err) == IMS_E_UNSUPPORTED);
  CHECK(strstr(err.msg, "arithmetic") != NULL);
  free(jpg);

  /* Limits. */
  jpeggen_defaults(&p);
  p.width = 300;
  p.height = 200;
  p.progressive = 1;
  REQUIRE(jpeggen_make(&p, &jpg, &len) == 0);
  jpg_limits small_px = {300 * 200 - 1, 100, 1u << 24};
  CHECK(jpg_decode(jpg, len, &small_px, &img, &err) == IMS_E_LIMIT);
  jpg_limits few_scans = {1u << 20, 3, 1u << 24};
  CHECK(jpg_decode(jpg, len, &few_scans, &img, &err) == IMS_E_LIMIT);
  jpg_limits few_bytes = {1u << 20, 100, len - 1};
  CHECK(jpg_decode(jpg, len, &few_bytes, &img, &err) == IMS_E_LIMIT);

  /* Side information: every truncation and random changes are refused or give an image
   * that encodes without a crash. */
  REQUIRE(jpg_decode(jpg, len, &lim, &img, &err) == IMS_OK);
  buf side;
  buf_init(&side, SIZE_MAX);
  REQUIRE(jpg_side_write(img, &side, &err) == IMS_OK);
  uint8_t *t = malloc(side.len);
  uint64_t s = 99;
  for (size_t i = 0; i < side.len + 2000; i++) {
    size_t n = side.len;
    memcpy(t, side.p, side.len);
    if (i < side.len) n = i;
    else t[rng(&s) % side.len] = (uint8_t)rng(&s);
    jpg_image *img2 = NULL;
    ims_status st = jpg_side_read(t, n, &lim, &img2, &err);
    CHECK(st == IMS_OK || st == IMS_E_CORRUPT || st == IMS_E_UNSUPPORTED || st == IMS_E_LIMIT ||
          st == IMS_E_VERSION);
    if (st == IMS_OK) {
      buf out;
      buf_init(&out, 1u << 26);
      for (unsigned c = 0; c < img2->n_comp && c < img->n_comp; c++)
        if (img2->comp[c].w_blocks == img->comp[c].w_blocks && img2->comp[c].h_blocks == img->comp[c].h_blocks)
          memcpy(img2->comp[c].coef, img->comp[c].coef, (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 128);
      (void)jpg_encode(img2, &out, &err);
      buf_free(&out);
    }
    jpg_free(img2);
  }
  free(t);
  buf_free(&side);
  jpg_free(img);
  free(jpg);
  CHECK(n_ok > 0);
  return check_done("test_jpeg_hostile");
}
