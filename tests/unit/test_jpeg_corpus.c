/* Every JPEG of $IMS_CORPUS/photos and $IMS_CORPUS/timelapse: Huffman-coded 8-bit files
 * must rebuild byte for byte and decode to libjpeg-turbo's coefficients; arithmetic-coded
 * ones must be refused as unsupported. Prints the side-information size after zstd -19,
 * with and without the APPn/COM segments (kept verbatim), against the file bytes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "check.h"
#include "jpegcoef.h"
#include "jpeggen.h"
#include "jpeg/jpeg.h"

static const jpg_limits lim = {UINT64_C(1) << 30, 1000, UINT64_C(1) << 31};

/* The SOF marker of the file (0 if none) and the bytes of its APPn/COM segments. */
static unsigned scan_markers(const uint8_t *d, size_t n, size_t *appcom) {
  size_t i = 2;
  unsigned sof = 0;
  *appcom = 0;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) return sof;
    unsigned m = d[i + 1];
    if (m == 0xFF) {
      i++;
      continue;
    }
    size_t l = (size_t)d[i + 2] << 8 | d[i + 3];
    if ((m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) && !sof) sof = m;
    if ((m >= 0xE0 && m <= 0xEF) || m == 0xFE) *appcom += l + 2;
    if (m == 0xDA) return sof;
    i += l + 2;
  }
  return sof;
}

/* A copy of the file without its APPn/COM segments (before the first scan). */
static uint8_t *strip_appcom(const uint8_t *d, size_t n, size_t *out_len) {
  uint8_t *o = malloc(n);
  size_t i = 2, k = 2;
  memcpy(o, d, 2);
  while (i + 4 <= n && d[i] == 0xFF && d[i + 1] != 0xDA) {
    unsigned m = d[i + 1];
    size_t l = (size_t)d[i + 2] << 8 | d[i + 3];
    if (i + 2 + l > n) break;
    if (!((m >= 0xE0 && m <= 0xEF) || m == 0xFE)) {
      memcpy(o + k, d + i, l + 2);
      k += l + 2;
    }
    i += l + 2;
  }
  memcpy(o + k, d + i, n - i);
  *out_len = k + n - i;
  return o;
}

static size_t zstd_size(const uint8_t *p, size_t n) {
  size_t cap = ZSTD_compressBound(n);
  void *o = malloc(cap);
  size_t r = ZSTD_compress(o, cap, p, n, 19);
  free(o);
  return ZSTD_isError(r) ? n : r;
}

static size_t side_zstd(const uint8_t *d, size_t n) {
  jpg_image *img;
  ims_err err;
  buf b;
  if (jpg_decode(d, n, &lim, &img, &err)) return 0;
  buf_init(&b, SIZE_MAX);
  size_t z = 0;
  if (jpg_side_write(img, &b, &err) == IMS_OK) z = zstd_size(b.p, b.len);
  buf_free(&b);
  jpg_free(img);
  return z;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int n_total, n_exact, n_huff, n_arith, n_arith_refused;
static size_t total_bytes, total_appcom, total_side_z, total_side_noapp_z;

static void run_dir(const char *dir) {
  DIR *dp = opendir(dir);
  if (!dp) return;
  char **names = NULL;
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(dp))) {
    size_t l = strlen(de->d_name);
    if (l < 4 || (strcmp(de->d_name + l - 4, ".jpg") && strcmp(de->d_name + l - 4, ".JPG"))) continue;
    names = realloc(names, (n + 1) * sizeof *names);
    names[n++] = strdup(de->d_name);
  }
  closedir(dp);
  qsort(names, n, sizeof *names, cmp_str);
  for (size_t f = 0; f < n; f++) {
    char path[4096], why[300];
    (void)snprintf(path, sizeof path, "%s/%s", dir, names[f]);
    uint8_t *d;
    size_t len, side_len = 0, appcom;
    REQUIRE(jcoef_load_file(path, &d, &len) == 0);
    n_total++;
    unsigned sof = scan_markers(d, len, &appcom);
    bool huff8 = (sof == 0xC0 || sof == 0xC1 || sof == 0xC2) && len > 20;
    bool arith = sof >= 0xC9 && sof <= 0xCF;
    int r = jpeggen_roundtrip(d, len, &side_len, why, sizeof why);
    if (r == 0) n_exact++;
    if (huff8) {
      n_huff++;
      if (r != 0) fprintf(stderr, "%s: %s\n", names[f], why);
      CHECK(r == 0);
      int c = jpeggen_compare_libjpeg(d, len, why, sizeof why);
      if (c != 0) fprintf(stderr, "%s: differential: %s\n", names[f], why);
      CHECK(c == 0);
      if (r == 0) {
        size_t sl;
        uint8_t *s = strip_appcom(d, len, &sl);
        total_side_z += side_zstd(d, len);
        total_side_noapp_z += side_zstd(s, sl);
        total_bytes += len;
        total_appcom += appcom;
        free(s);
      }
    }
    if (arith) {
      n_arith++;
      if (r == IMS_E_UNSUPPORTED) n_arith_refused++;
      else fprintf(stderr, "%s: arithmetic-coded file not refused (%d)\n", names[f], r);
      CHECK(r == IMS_E_UNSUPPORTED);
    }
    free(d);
    free(names[f]);
  }
  free(names);
}

int main(void) {
  const char *root = getenv("IMS_CORPUS");
  if (!root || !*root) root = "../shared/corpus";
  char p1[4096], p2[4096];
  (void)snprintf(p1, sizeof p1, "%s/photos", root);
  (void)snprintf(p2, sizeof p2, "%s/timelapse", root);
  DIR *t = opendir(p1);
  if (!t) test_skip("no corpus (set IMS_CORPUS to the folder holding photos/ and timelapse/)");
  closedir(t);
  run_dir(p1);
  run_dir(p2);
  printf("corpus: %d files, %d exact round trips; %d Huffman 8-bit, %d arithmetic (%d refused)\n", n_total, n_exact,
         n_huff, n_arith, n_arith_refused);
  printf("side info after zstd -19 (per file): %zu bytes = %.3f%% of %zu file bytes (APPn/COM: %zu bytes)\n",
         total_side_z, 100.0 * (double)total_side_z / (double)(total_bytes ? total_bytes : 1), total_bytes,
         total_appcom);
  printf("side info without APPn/COM after zstd -19: %zu bytes = %.3f%% of file bytes without APPn/COM\n",
         total_side_noapp_z, 100.0 * (double)total_side_noapp_z / (double)(total_bytes - total_appcom + 1));
  CHECK(n_total > 0);
  return check_done("test_jpeg_corpus");
}
