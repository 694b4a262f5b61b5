/* huff_bench: speed of the JPEG Huffman layer alone (jpg_decode and jpg_encode).
 *   huff_bench [-r repeats] [-q] file.jpg...
 * For each file that jpg_decode accepts: decode it and re-encode it `repeats` times (CPU
 * time), check every re-encoding against the original bytes, and print the median MB/s of
 * JPEG bytes for each direction. The total line sums the median times over all files.
 * Files that jpg_decode refuses are skipped (counted). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jpegcoef.h"

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
  int reps = 5, quiet = 0, opt;
  while ((opt = getopt(argc, argv, "r:q")) != -1) {
    if (opt == 'r')
      reps = (int)strtol(optarg, NULL, 10);
    else if (opt == 'q')
      quiet = 1;
    else {
      fprintf(stderr, "usage: huff_bench [-r repeats] [-q] file.jpg...\n");
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  if (reps > 100) reps = 100;
  double tdec[100], tenc[100], sum_dec = 0, sum_enc = 0;
  unsigned long long bytes = 0;
  int fails = 0, skipped = 0, n_files = 0;
  jpg_limits lim = {(uint64_t)1 << 30, 1000, (uint64_t)1 << 30};
  for (int a = optind; a < argc; a++) {
    uint8_t *data;
    size_t len;
    if (jcoef_load_file(argv[a], &data, &len) != 0) {
      fprintf(stderr, "huff_bench: %s: cannot read\n", argv[a]);
      fails++;
      continue;
    }
    int ok = 1;
    for (int r = 0; r < reps && ok; r++) {
      ims_err err;
      ims_err_clear(&err);
      jpg_image *img = NULL;
      double t0 = cpu_s();
      ims_status st = jpg_decode(data, len, &lim, &img, &err);
      double t1 = cpu_s();
      if (st) {
        if (!quiet) fprintf(stderr, "huff_bench: %s: skipped: %s\n", argv[a], err.msg);
        skipped++;
        ok = -1;
        break;
      }
      buf out;
      buf_init(&out, (size_t)1 << 31);
      /* As the JPEG codec's unpack does: room for the original size, reserved once. */
      if (buf_reserve(&out, len)) {
        fprintf(stderr, "huff_bench: out of memory\n");
        return 1;
      }
      double t2 = cpu_s();
      st = jpg_encode(img, &out, &err);
      double t3 = cpu_s();
      if (st || out.len != len || memcmp(out.p, data, len) != 0) {
        fprintf(stderr, "huff_bench: %s: re-encoding FAILED (%s)\n", argv[a], st ? err.msg : "bytes differ");
        ok = 0;
      }
      buf_free(&out);
      jpg_free(img);
      tdec[r] = t1 - t0;
      tenc[r] = t3 - t2;
    }
    free(data);
    if (ok < 0) continue;
    if (!ok) {
      fails++;
      continue;
    }
    double md = median(tdec, reps), me = median(tenc, reps);
    n_files++;
    bytes += len;
    sum_dec += md;
    sum_enc += me;
    if (!quiet) printf("%-60s %9zu dec %7.1f MB/s enc %7.1f MB/s\n", argv[a], len, len / md / 1e6, len / me / 1e6);
  }
  printf("TOTAL files=%d skipped=%d bytes=%llu dec=%.4fs %.1fMB/s enc=%.4fs %.1fMB/s%s\n", n_files, skipped, bytes,
         sum_dec, (double)bytes / sum_dec / 1e6, sum_enc, (double)bytes / sum_enc / 1e6, fails ? " FAILURES" : "");
  return fails ? 1 : 0;
}
