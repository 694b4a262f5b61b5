/* Generated JPEGs (every subsampling, baseline/progressive, standard/optimised tables,
 * restart intervals, odd sizes, APPn segments, trailing bytes) must rebuild byte for byte
 * through decode -> side info -> encode, and our coefficients must equal libjpeg-turbo's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jpeggen.h"

static int n_files, n_exact, n_diff_ok;
static size_t bytes_in, bytes_side;

static void one(const jpeggen_params *p) {
  uint8_t *jpg;
  size_t len, side_len = 0;
  char desc[160], why[300];
  jpeggen_describe(p, desc, sizeof desc);
  if (jpeggen_make(p, &jpg, &len) != 0) {
    fprintf(stderr, "jpeggen failed: %s\n", desc);
    CHECK(0);
    return;
  }
  n_files++;
  int r = jpeggen_roundtrip(jpg, len, &side_len, why, sizeof why);
  if (r != 0) fprintf(stderr, "round trip: %s: %s\n", desc, why);
  CHECK(r == 0);
  if (r == 0) {
    n_exact++;
    bytes_in += len;
    bytes_side += side_len;
  }
  int d = jpeggen_compare_libjpeg(jpg, len, why, sizeof why);
  if (d != 0) fprintf(stderr, "differential: %s: %s\n", desc, why);
  CHECK(d == 0);
  if (d == 0) n_diff_ok++;
  free(jpg);
}

int main(void) {
  jpeggen_params p;
  /* Every combination of the main options on a few sizes. */
  static const uint32_t sizes[][2] = {{1, 1}, {8, 8}, {17, 9}, {33, 47}, {127, 65}};
  uint64_t seed = 1;
  for (unsigned s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    for (int ss = 0; ss < JPEGGEN_SUBSAMP_COUNT; ss++)
      for (int mode = 0; mode < 4; mode++) {
        jpeggen_defaults(&p);
        p.width = sizes[s][0];
        p.height = sizes[s][1];
        p.subsamp = (jpeggen_subsamp)ss;
        p.progressive = mode & 1;
        p.optimize = mode >> 1;
        p.quality = 30 + (int)((seed * 37) % 71);
        p.seed = seed++;
        one(&p);
      }
  /* Restart intervals in MCUs and in rows, metadata, trailing bytes. */
  for (int i = 0; i < 24; i++) {
    jpeggen_defaults(&p);
    p.width = 50 + (uint32_t)i * 13;
    p.height = 30 + (uint32_t)i * 7;
    p.subsamp = (jpeggen_subsamp)(i % JPEGGEN_SUBSAMP_COUNT);
    p.progressive = i & 1;
    p.optimize = (i >> 1) & 1;
    if (i % 3 == 0) p.restart_mcus = 1 + (unsigned)i;
    else p.restart_rows = 1 + (unsigned)i % 3;
    p.app1_exif = 1;
    p.app2_icc = i & 1;
    p.com = i % 5 == 0;
    p.trailing_bytes = (size_t)i * 5;
    p.quality = 100 - i;
    p.seed = seed++;
    one(&p);
  }
  /* Random mixes. */
  for (int i = 0; i < 120; i++) {
    jpeggen_random(1000 + (uint64_t)i, 2000, 1500, &p);
    one(&p);
  }
  /* Qualities 100 and 30 on a larger image, and one big one. */
  int qs[] = {100, 30};
  for (int i = 0; i < 2; i++) {
    jpeggen_defaults(&p);
    p.width = 1024;
    p.height = 768;
    p.quality = qs[i];
    p.progressive = i;
    p.seed = seed++;
    one(&p);
  }
  jpeggen_defaults(&p);
  p.width = 5000; /* the largest size issue #3 names */
  p.height = 3000;
  p.quality = 90;
  p.subsamp = JPEGGEN_422;
  p.optimize = 1;
  p.progressive = 1;
  p.seed = seed++;
  one(&p);

  printf("generated files: %d, exact round trips: %d, coefficients equal to libjpeg: %d\n", n_files, n_exact,
         n_diff_ok);
  printf("side info (uncompressed): %zu bytes for %zu file bytes\n", bytes_side, bytes_in);
  CHECK(n_files >= 200);
  return check_done("test_jpeg_roundtrip");
}
