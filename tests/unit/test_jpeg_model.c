/* The JPEG coefficient model (jcm_encode / jcm_decode): exact round trips on synthetic
 * coefficient arrays and on every JPEG of $IMS_CORPUS/photos and timelapse, identical output
 * for any thread count, and corrupt streams that decode to IMS_E_CORRUPT (or OK), never a
 * crash. Prints the size ratio over the corpus. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "jpegcoef.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}

/* Encodes img with the given thread count; returns the stream (caller frees). */
static uint8_t *encode(const jpg_image *img, unsigned threads, size_t *len) {
  buf out;
  buf_init(&out, (size_t)1 << 31);
  ims_err err;
  ims_err_clear(&err);
  ims_status st = jcm_encode(img, NULL, threads, &out, &err);
  if (st) {
    fprintf(stderr, "encode: %s\n", err.msg);
    buf_free(&out);
    return NULL;
  }
  return buf_detach(&out, len);
}

/* Round trip through threads_enc / threads_dec; 1 when the coefficients come back. */
static int round_trip(const jpg_image *img, unsigned threads_enc, unsigned threads_dec, size_t *model_len) {
  size_t len;
  uint8_t *s = encode(img, threads_enc, &len);
  if (!s) return 0;
  jpg_image *back = jcoef_clone_empty(img);
  ims_err err;
  ims_err_clear(&err);
  ims_status st = back ? jcm_decode(s, len, back, NULL, threads_dec, &err) : IMS_E_NOMEM;
  int ok = st == IMS_OK && jcoef_equal(img, back);
  if (st) fprintf(stderr, "decode: %s\n", err.msg);
  if (model_len) *model_len = len;
  jcoef_free(back);
  free(s);
  return ok;
}

/* Output identical for threads 1, 2, 3. */
static int deterministic(const jpg_image *img) {
  size_t l1, l2, l3;
  uint8_t *a = encode(img, 1, &l1), *b = encode(img, 2, &l2), *c = encode(img, 3, &l3);
  int ok = a && b && c && l1 == l2 && l1 == l3 && !memcmp(a, b, l1) && !memcmp(a, c, l1);
  free(a);
  free(b);
  free(c);
  return ok;
}

/* Flipped bytes and truncations decode to OK or IMS_E_CORRUPT. */
static void corruptions(const jpg_image *img, int rounds) {
  size_t len;
  uint8_t *s = encode(img, 1, &len);
  REQUIRE(s != NULL);
  jpg_image *back = jcoef_clone_empty(img);
  REQUIRE(back != NULL);
  uint8_t *c = malloc(len);
  REQUIRE(c != NULL);
  int corrupt_seen = 0;
  for (int r = 0; r < rounds; r++) {
    memcpy(c, s, len);
    size_t clen = len;
    int kind = r % 3;
    if (kind == 0) {
      c[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
    } else if (kind == 1) {
      clen = rnd() % len;
    } else {
      for (int i = 0; i < 4; i++) c[rnd() % len] = (uint8_t)rnd();
    }
    ims_err err;
    ims_err_clear(&err);
    ims_status st = jcm_decode(c, clen, back, NULL, (unsigned)(r % 2 + 1), &err);
    if (st != IMS_OK && st != IMS_E_CORRUPT) fprintf(stderr, "corruption round %d: status %d: %s\n", r, (int)st, err.msg);
    CHECK(st == IMS_OK || st == IMS_E_CORRUPT || st == IMS_E_VERSION);
    if (st == IMS_E_CORRUPT) corrupt_seen++;
  }
  CHECK(corrupt_seen > 0);
  /* An empty stream and a wrong version byte are refused. */
  ims_err err;
  CHECK(jcm_decode(s, 0, back, NULL, 1, &err) == IMS_E_CORRUPT);
  memcpy(c, s, len);
  c[0] = 0;
  CHECK(jcm_decode(c, len, back, NULL, 1, &err) == IMS_E_CORRUPT);
  /* Versions 1 and 2 (development builds before the all-zero flag), 4 and 5 (inter streams
   * of the model with one reference, and before the inter priors) and newer versions are
   * refused as versions, never decoded into wrong coefficients. */
  for (uint8_t ver = 1; ver <= 7; ver++) {
    if (ver == 3) continue; /* this stream's own version */
    c[0] = ver;
    ims_err_clear(&err);
    ims_status st = jcm_decode(c, len, back, NULL, 1, &err);
    CHECK(st == (ver == 6 ? IMS_E_CORRUPT : IMS_E_VERSION)); /* 6: inter, needs references */
    if (ver < 3 || ver == 4 || ver == 5) CHECK(strstr(err.msg, "development build") != NULL);
  }
  CHECK(s[0] == 3);
  free(c);
  free(s);
  jcoef_free(back);
}

typedef enum fill { FILL_ZERO, FILL_RANDOM, FILL_EXTREME, FILL_LAPLACE, FILL_SPARSE } fill;

static jpg_image *synthetic(unsigned n_comp, const uint8_t *h, const uint8_t *v, uint32_t mcu_w, uint32_t mcu_h,
                            fill f) {
  uint32_t wb[4], hb[4];
  for (unsigned c = 0; c < n_comp; c++) {
    wb[c] = mcu_w * (n_comp > 1 ? h[c] : 1u);
    hb[c] = mcu_h * (n_comp > 1 ? v[c] : 1u);
  }
  jpg_image *img = jcoef_new(n_comp, h, v, wb, hb);
  REQUIRE(img != NULL);
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 64; i++) img->qt[t][i] = (uint16_t)(1u + (f == FILL_LAPLACE ? (uint32_t)i / 4u : rnd() % 255u));
  for (unsigned c = 0; c < n_comp; c++) {
    size_t n = (size_t)wb[c] * hb[c] * 64;
    int16_t *p = img->comp[c].coef;
    for (size_t i = 0; i < n; i++) {
      switch (f) {
      case FILL_ZERO: p[i] = 0; break;
      case FILL_RANDOM: p[i] = (int16_t)(uint16_t)rnd(); break;
      case FILL_EXTREME: {
        static const int16_t ex[5] = {32767, -32767, -32768, 0, 1};
        p[i] = ex[rnd() % 5];
        break;
      }
      case FILL_LAPLACE: {
        unsigned k = (unsigned)(i % 64);
        int32_t m = (int32_t)(rnd() % 1024u) >> (k / 4 + rnd() % 8);
        p[i] = (int16_t)(rnd() & 1 ? m : -m);
        if (k == 0) p[i] = (int16_t)((int32_t)(rnd() % 4096u) - 2048);
        break;
      }
      case FILL_SPARSE: p[i] = rnd() % 50 == 0 ? (int16_t)((int32_t)(rnd() % 200u) - 100) : 0; break;
      }
    }
  }
  return img;
}

static void test_synthetic(void) {
  const uint8_t h1[4] = {1, 1, 1, 1}, v1[4] = {1, 1, 1, 1};
  const uint8_t h420[3] = {2, 1, 1}, v420[3] = {2, 1, 1};
  const uint8_t hodd[4] = {3, 1, 2, 4}, vodd[4] = {1, 4, 3, 2};
  struct {
    unsigned n_comp;
    const uint8_t *h, *v;
    uint32_t mw, mh;
  } geo[] = {
      {1, h1, v1, 1, 1},   {1, h1, v1, 7, 3},     {3, h420, v420, 5, 4}, {4, h1, v1, 3, 5},
      {4, hodd, vodd, 2, 3}, {3, h420, v420, 1, 1}, {1, h1, v1, 400, 330}, {3, h420, v420, 80, 70},
  };
  for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++) {
    for (int f = FILL_ZERO; f <= FILL_SPARSE; f++) {
      /* the large geometries (several bands) only with sparse data: keeps ASan runs short */
      if (g >= 6 && f != FILL_SPARSE && f != FILL_ZERO) continue;
      jpg_image *img = synthetic(geo[g].n_comp, geo[g].h, geo[g].v, geo[g].mw, geo[g].mh, (fill)f);
      CHECK(round_trip(img, 1, 1, NULL));
      CHECK(round_trip(img, 2, 3, NULL));
      if (g == 6 || g == 7) CHECK(deterministic(img));
      if (f == FILL_LAPLACE && g >= 2) corruptions(img, 60);
      jcoef_free(img);
    }
  }
  /* Mismatched geometry is refused. */
  jpg_image *img = synthetic(1, h1, v1, 4, 4, FILL_LAPLACE);
  size_t len;
  uint8_t *s = encode(img, 1, &len);
  REQUIRE(s != NULL);
  jpg_image *other = synthetic(1, h1, v1, 4, 5, FILL_ZERO);
  ims_err err;
  CHECK(jcm_decode(s, len, other, NULL, 1, &err) == IMS_E_CORRUPT);
  free(s);
  jcoef_free(other);
  jcoef_free(img);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Round trips every readable JPEG of dir; adds to the totals. */
static void test_dir(const char *dir, int check_more, uint64_t *orig, uint64_t *scan, uint64_t *model, int *n_files) {
  DIR *d = opendir(dir);
  if (!d) {
    printf("(no %s)\n", dir);
    return;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    size_t l = strlen(de->d_name);
    if (l < 4 || (strcmp(de->d_name + l - 4, ".jpg") != 0 && strcmp(de->d_name + l - 4, ".JPG") != 0)) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      names = realloc(names, cap * sizeof *names);
      REQUIRE(names != NULL);
    }
    names[n++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 0; i < n; i++) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    uint8_t *data;
    size_t len;
    jpg_image *img;
    char why[256];
    REQUIRE(jcoef_load_file(path, &data, &len) == 0);
    if (jcoef_read_mem(data, len, &img, why, sizeof why) != 0) {
      printf("  %s: libjpeg cannot read it (%s): skipped\n", names[i], why);
      free(data);
      free(names[i]);
      continue;
    }
    size_t mlen = 0;
    int ok = round_trip(img, 1, 2, &mlen);
    if (!ok) fprintf(stderr, "round trip failed: %s\n", path);
    CHECK(ok);
    /* Every image whose luma may be cut into bands (> 2 x 16384 blocks), and a sample. */
    int multi_band = (uint64_t)img->comp[0].w_blocks * img->comp[0].h_blocks > 2 * 16384;
    if (check_more && (i % 16 == 0 || multi_band)) CHECK(deterministic(img));
    if (check_more && i % 16 == 0) corruptions(img, 12);
    *orig += len;
    *scan += jcoef_scan_bytes(data, len);
    *model += mlen;
    (*n_files)++;
    jcoef_free(img);
    free(data);
    free(names[i]);
  }
  free(names);
}

int main(void) {
  test_synthetic();
  const char *corpus = getenv("IMS_CORPUS");
  if (!corpus || !*corpus) corpus = "/work/shared/corpus";
  DIR *d = opendir(corpus);
  if (!d) {
    check_done("test_jpeg_model (synthetic only)");
    test_skip("no corpus at $IMS_CORPUS");
  }
  closedir(d);
  static const char *sets[] = {"photos", "timelapse"};
  for (int s = 0; s < 2; s++) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", corpus, sets[s]);
    uint64_t orig = 0, scan = 0, model = 0;
    int n = 0;
    clock_t t0 = clock();
    test_dir(dir, s == 0, &orig, &scan, &model, &n);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    if (n)
      printf("%s: %d files, %llu bytes, scan %llu, model %llu: model/original %.4f, model/scan %.4f (%.1f s)\n",
             sets[s], n, (unsigned long long)orig, (unsigned long long)scan, (unsigned long long)model,
             (double)model / (double)orig, (double)model / (double)scan, secs);
  }
  return check_done("test_jpeg_model");
}
