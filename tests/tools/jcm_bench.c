/* jcm_bench: size and speed of the JPEG coefficient model on a list of JPEG files.
 *   jcm_bench [-j threads] [-r repeats] [-c] [-e] [-q] [-x] [-p] file.jpg...
 * -c: time CPU instead of wall clock; -e: encode only (no decode, no check).
 * For each file: original bytes, Huffman scan bytes, model bytes, model/original,
 * model/scan, encode and decode MB/s (of original JPEG bytes; best of the repeats).
 * Every decode is checked against the original coefficients. -x also prints a hash of
 * each file's model stream (FNV-1a 64), to check that a change of mechanics kept the bytes.
 * -p: code each file against the previous one as its reference (inter coding, when the
 * geometry matches; the first file and files of another geometry are coded alone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jpegcoef.h"

/* Wall time, or with -c the process's CPU time (steadier on a shared machine; with -j > 1
 * it counts every thread, so it shows per-core speed). */
static int use_cpu;

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 14695981039346656037u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211u;
  return h;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(use_cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  unsigned threads = 1;
  int reps = 1, quiet = 0, opt;
  int enc_only = 0, hash = 0, use_prev = 0;
  jpg_image *prev = NULL;
  uint64_t all_hash = 0;
  while ((opt = getopt(argc, argv, "j:r:qcexp")) != -1) {
    if (opt == 'j')
      threads = (unsigned)strtoul(optarg, NULL, 10);
    else if (opt == 'r')
      reps = (int)strtol(optarg, NULL, 10);
    else if (opt == 'q')
      quiet = 1;
    else if (opt == 'c')
      use_cpu = 1;
    else if (opt == 'e')
      enc_only = 1;
    else if (opt == 'x')
      hash = 1;
    else if (opt == 'p')
      use_prev = 1;
    else {
      fprintf(stderr, "usage: jcm_bench [-j threads] [-r repeats] [-c] [-e] [-q] [-x] [-p] file.jpg...\n");
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  unsigned long long t_orig = 0, t_scan = 0, t_model = 0;
  double t_enc = 0, t_dec = 0;
  int fails = 0, n_files = 0;
  for (int a = optind; a < argc; a++) {
    uint8_t *data;
    size_t len;
    jpg_image *img = NULL;
    char why[256];
    if (jcoef_load_file(argv[a], &data, &len) != 0) {
      fprintf(stderr, "jcm_bench: %s: cannot read\n", argv[a]);
      fails++;
      continue;
    }
    if (jcoef_read_mem(data, len, &img, why, sizeof why) != 0) {
      fprintf(stderr, "jcm_bench: %s: libjpeg: %s (skipped)\n", argv[a], why);
      free(data);
      continue;
    }
    size_t scan = jcoef_scan_bytes(data, len);
    double best_enc = 1e30, best_dec = 1e30;
    size_t model = 0;
    int ok = 1;
    for (int r = 0; r < reps && ok; r++) {
      buf out;
      buf_init(&out, (size_t)1 << 30);
      ims_err err;
      ims_err_clear(&err);
      double t0 = now_s();
      const jpg_image *ref = use_prev ? prev : NULL;
      ims_status st = jcm_encode(img, ref, threads, &out, &err);
      double t1 = now_s();
      if (st) {
        fprintf(stderr, "jcm_bench: %s: encode: %s\n", argv[a], err.msg);
        ok = 0;
        buf_free(&out);
        break;
      }
      jpg_image *back = enc_only ? NULL : jcoef_clone_empty(img);
      double t2 = now_s();
      st = enc_only ? IMS_OK : back ? jcm_decode(out.p, out.len, back, jcm_stream_is_inter(out.p, out.len) ? ref : NULL, threads, &err) : IMS_E_NOMEM;
      double t3 = now_s();
      if (!enc_only && (st || !jcoef_equal(img, back))) {
        fprintf(stderr, "jcm_bench: %s: round trip FAILED (%s)\n", argv[a], st ? err.msg : "coefficients differ");
        ok = 0;
      }
      model = out.len;
      if (hash && r == 0) {
        uint64_t h = fnv1a(out.p, out.len);
        all_hash = (all_hash ^ h) * 1099511628211u;
        if (!quiet) printf("%s hash %016llx\n", argv[a], (unsigned long long)h);
      }
      if (t1 - t0 < best_enc) best_enc = t1 - t0;
      if (t3 - t2 < best_dec) best_dec = t3 - t2;
      jcoef_free(back);
      buf_free(&out);
    }
    if (!ok) fails++;
    n_files++;
    t_orig += len;
    t_scan += scan;
    t_model += model;
    t_enc += best_enc;
    t_dec += best_dec;
    if (!quiet)
      printf("%-60s %9zu %9zu %9zu %.4f %.4f %6.1f %6.1f\n", argv[a], len, scan, model, (double)model / (double)len,
             scan ? (double)model / (double)scan : 0.0, (double)len / best_enc / 1e6, (double)len / best_dec / 1e6);
    jcoef_free(prev);
    prev = img;
    free(data);
  }
  jcoef_free(prev);
  printf("TOTAL files=%d orig=%llu scan=%llu model=%llu model/orig=%.4f model/scan=%.4f enc=%.1fMB/s dec=%.1fMB/s "
         "threads=%u%s\n",
         n_files, t_orig, t_scan, t_model, t_orig ? (double)t_model / (double)t_orig : 0.0,
         t_scan ? (double)t_model / (double)t_scan : 0.0, (double)t_orig / t_enc / 1e6, (double)t_orig / t_dec / 1e6,
         threads, fails ? " FAILURES" : "");
  if (hash) printf("HASH %016llx\n", (unsigned long long)all_hash);
  return fails ? 1 : 0;
}
