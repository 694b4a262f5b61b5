/* image/jpeg_thumb: the DC-only thumbnail (lib/jpeg/huff_decode.c jpg_dc_thumb) must give
 * exactly libjpeg-turbo's 1/8-scale gray picture: on random generated files (every
 * subsampling, progressive, restart intervals, odd sizes), on corrupted copies of them
 * (where both paths succeed), and on the corpus folders present. Also how often the fast
 * path is taken: always for the baseline/progressive YCbCr and gray files made here. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "image/jpeg_thumb.h"
#include "jpeg/dc_thumb.h"
#include "jpeggen.h"

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* Both paths on one file. Returns 1 when the fast path gave a picture, 0 when it did not;
 * *lib_ok tells whether libjpeg did. When both succeed, pictures and geometry must match;
 * must_match: the fast path must not succeed where libjpeg fails. */
static int compare(const uint8_t *data, size_t len, bool must_match, bool *lib_ok, const char *what) {
  uint8_t *a = NULL, *b = NULL;
  uint32_t aw = 0, ah = 0, bw = 0, bh = 0;
  img_jpeg_geom gb;
  jpg_dc_info gi;
  ims_err err;
  ims_status sa = jpg_dc_thumb(data, len, 0, 0, &a, &aw, &ah, &gi);
  ims_status sb = img_jpeg_thumb_libjpeg(data, len, 0, 0, &b, &bw, &bh, &gb, &err);
  *lib_ok = sb == IMS_OK;
  if (sa == IMS_OK && sb == IMS_OK) {
    bool same = aw == bw && ah == bh && memcmp(a, b, (size_t)aw * ah) == 0 && gi.width == gb.width &&
                gi.height == gb.height && gi.components == gb.components && gi.color_space == gb.color_space &&
                gi.progressive == gb.progressive && memcmp(gi.h_samp, gb.h_samp, 4) == 0 &&
                memcmp(gi.v_samp, gb.v_samp, 4) == 0;
    if (!same) {
      size_t nd = 0;
      if (aw == bw && ah == bh)
        for (size_t i = 0; i < (size_t)aw * ah; i++) nd += a[i] != b[i];
      fprintf(stderr, "%s: fast %ux%u != libjpeg %ux%u (%zu pixels differ)\n", what, aw, ah, bw, bh, nd);
    }
    CHECK(same);
  } else if (sa == IMS_OK && must_match) {
    fprintf(stderr, "%s: fast path succeeded, libjpeg did not (%s)\n", what, err.msg);
    CHECK(0);
  }
  free(a);
  free(b);
  return sa == IMS_OK;
}

static void test_generated(void) {
  char desc[128];
  int n_fast = 0, n_files = 0, n_cfast = 0, n_cboth = 0;
  for (uint64_t seed = 1; seed <= 400; seed++) {
    jpeggen_params p;
    jpeggen_random(seed, seed % 4 ? 200 : 700, seed % 4 ? 150 : 500, &p);
    if (seed % 5 == 0) p.subsamp = JPEGGEN_GRAY;
    if (seed % 7 == 0) p.quality = 100;
    uint8_t *jpg = NULL;
    size_t len = 0;
    if (jpeggen_make(&p, &jpg, &len) != 0) continue;
    (void)jpeggen_describe(&p, desc, sizeof desc);
    bool lib_ok;
    int fast = compare(jpg, len, true, &lib_ok, desc);
    CHECK(lib_ok);
    n_files++;
    n_fast += fast;
    /* all but CMYK are YCbCr or gray with the largest sampling on luma */
    bool want = p.subsamp != JPEGGEN_CMYK;
    if (fast != want) fprintf(stderr, "%s: fast path %staken\n", desc, fast ? "" : "not ");
    CHECK(fast == want);
    /* corrupted copies: both paths may fail, but never disagree when both succeed */
    if (seed % 4 == 0) {
      uint8_t *bad = malloc(len);
      REQUIRE(bad);
      uint64_t rs = seed;
      for (int round = 0; round < 40; round++) {
        memcpy(bad, jpg, len);
        unsigned flips = 1 + (unsigned)(rng_next(&rs) % 4);
        for (unsigned f = 0; f < flips; f++) bad[rng_next(&rs) % len] = (uint8_t)rng_next(&rs);
        size_t blen = round % 3 == 0 ? (size_t)(rng_next(&rs) % len) : len;
        int cf = compare(bad, blen, false, &lib_ok, desc);
        n_cfast += cf;
        n_cboth += cf && lib_ok;
      }
      free(bad);
    }
    free(jpg);
  }
  printf("generated: %d files, fast path %d; corrupted copies: fast %d (libjpeg also ok %d)\n", n_files, n_fast,
         n_cfast, n_cboth);
  CHECK(n_files > 300);
}

/* Files the fast path must leave to libjpeg: CMYK, RGB by Adobe transform, arithmetic. */
static void test_fallback(void) {
  jpeggen_params p;
  jpeggen_defaults(&p);
  uint8_t *jpg = NULL, *px = NULL;
  size_t len = 0;
  uint32_t w, h;
  jpg_dc_info gi;
  p.subsamp = JPEGGEN_CMYK;
  REQUIRE(jpeggen_make(&p, &jpg, &len) == 0);
  CHECK(jpg_dc_thumb(jpg, len, 0, 0, &px, &w, &h, &gi) != IMS_OK);
  free(jpg);
  jpeggen_defaults(&p);
  p.arithmetic = 1;
  if (jpeggen_make(&p, &jpg, &len) == 0) {
    CHECK(jpg_dc_thumb(jpg, len, 0, 0, &px, &w, &h, &gi) != IMS_OK);
    free(jpg);
  }
  /* a baseline file whose JFIF APP0 is turned into an Adobe APP14 with transform 0 (RGB) */
  jpeggen_defaults(&p);
  p.subsamp = JPEGGEN_444;
  REQUIRE(jpeggen_make(&p, &jpg, &len) == 0);
  REQUIRE(len > 20 && jpg[2] == 0xFF && jpg[3] == 0xE0 && jpg[4] == 0 && jpg[5] == 16);
  static const uint8_t adobe[18] = {0xFF, 0xEE, 0, 16, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0, 0, 0};
  memcpy(jpg + 2, adobe, sizeof adobe);
  CHECK(jpg_dc_thumb(jpg, len, 0, 0, &px, &w, &h, &gi) != IMS_OK);
  bool lib_ok;
  (void)compare(jpg, len, true, &lib_ok, "adobe rgb");
  CHECK(lib_ok);
  jpg[2 + 15] = 1; /* transform 1: YCbCr again */
  CHECK(compare(jpg, len, true, &lib_ok, "adobe ycc") == 1);
  free(jpg);
  /* limits */
  jpeggen_defaults(&p);
  p.progressive = 1;
  REQUIRE(jpeggen_make(&p, &jpg, &len) == 0);
  CHECK(jpg_dc_thumb(jpg, len, 1000, 0, &px, &w, &h, &gi) == IMS_E_LIMIT);
  CHECK(jpg_dc_thumb(jpg, len, 0, 1, &px, &w, &h, &gi) != IMS_OK);
  CHECK(jpg_dc_thumb(jpg, len, 0, 0, &px, &w, &h, &gi) == IMS_OK);
  free(px);
  free(jpg);
}

static int test_folder(const char *corpus, const char *sub) {
  char dir[4096];
  (void)snprintf(dir, sizeof dir, "%s/%s", corpus, sub);
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0, n_fast = 0, n_lib = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t nl = strlen(e->d_name);
    if (nl < 5 || (strcmp(e->d_name + nl - 4, ".jpg") != 0 && strcmp(e->d_name + nl - 4, ".JPG") != 0)) continue;
    char path[8192];
    (void)snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    uint8_t *buf = NULL;
    long l = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (l = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)l)) &&
        fread(buf, 1, (size_t)l, f) == (size_t)l) {
      bool lib_ok;
      n_fast += compare(buf, (size_t)l, false, &lib_ok, path);
      n_lib += lib_ok;
      n++;
    }
    free(buf);
    fclose(f);
  }
  closedir(d);
  printf("%s: %d files, fast path %d, libjpeg ok %d\n", sub, n, n_fast, n_lib);
  return n > 0;
}

int main(void) {
  const char *corpus = getenv("IMS_CORPUS");
  if (!corpus || !*corpus) corpus = "/work/shared/corpus";
  test_generated();
  test_fallback();
  int ran = test_folder(corpus, "photos") + test_folder(corpus, "timelapse");
  if (!ran) printf("corpus parts skipped\n");
  return check_done("test_jpeg_thumb");
}
