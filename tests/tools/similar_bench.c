/* Benchmark of sim_plan (lib/similar): N generated signatures (default 1,000,000), planned
 * on one core. Never run as a test; CMake builds it with the other tools
 * (build/similar_bench), or by hand:
 *   gcc -std=c17 -D_POSIX_C_SOURCE=200809L -O2 -Iinclude -Ilib tests/tools/similar_bench.c \
 *       lib/similar/sig.c lib/similar/plan.c lib/image/jpeg_thumb.c lib/common/[a-z]*.c \
 *       -ljpeg -lzstd -lxxhash -lpthread -lm -o /tmp/similar_bench
 * Usage: similar_bench [n] [runs] [lsh_reach] [window]
 *
 * Two sets: "shuffled" = clusters of 1..40 noisy copies of one picture (5 geometries), in
 * random order, plus 20% unrelated pictures (a photo library with scattered
 * near-duplicates); "ordered" = the same clusters kept together (time-lapses, bursts).
 * Prints the median time of `runs` plans, the peak RSS (getrusage), and checks every plan:
 * the invariants of sim_plan and the recall (members after the first of a cluster that
 * found a reference in their own cluster). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "similar/similar.h"

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}
static uint32_t rng_below(uint64_t *s, uint32_t n) { return n ? (uint32_t)(rng_next(s) % n) : 0; }

enum { PW = 32, PH = 24 };

/* A picture: a smooth field from a 4x3 grid of random levels plus a few random boxes. */
static void base_picture(uint64_t *s, uint8_t *px) {
  int grid[3][4];
  for (int y = 0; y < 3; y++)
    for (int x = 0; x < 4; x++) grid[y][x] = (int)rng_below(s, 256);
  for (int y = 0; y < PH; y++)
    for (int x = 0; x < PW; x++) {
      int gx = x * 3 / PW, gy = y * 2 / PH; /* bilinear between grid points */
      int fx = x * 3 % PW, fy = y * 2 % PH;
      int a = grid[gy][gx] * (PW - fx) + grid[gy][gx + 1] * fx;
      int b = grid[gy + 1][gx] * (PW - fx) + grid[gy + 1][gx + 1] * fx;
      px[y * PW + x] = (uint8_t)((a * (PH - fy) + b * fy) / (PW * PH));
    }
  for (int k = 0; k < 4; k++) {
    int x0 = (int)rng_below(s, PW), y0 = (int)rng_below(s, PH), v = (int)rng_below(s, 256);
    int x1 = x0 + 2 + (int)rng_below(s, 10), y1 = y0 + 2 + (int)rng_below(s, 8);
    for (int y = y0; y < y1 && y < PH; y++)
      for (int x = x0; x < x1 && x < PW; x++) px[y * PW + x] = (uint8_t)v;
  }
}

static void noisy_copy(uint64_t *s, const uint8_t *base, int noise, int shift, uint8_t *px) {
  for (int k = 0; k < PW * PH; k++) {
    int v = base[k] + shift + (int)rng_below(s, (uint32_t)(2 * noise + 1)) - noise;
    px[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
  }
}

/* Fills sig[0..n) and cluster[0..n) (cluster id; unrelated pictures get their own). */
static void generate(size_t n, uint64_t seed, sim_sig *sig, uint32_t *cluster) {
  uint64_t s = seed;
  uint8_t base[PW * PH], px[PW * PH];
  size_t i = 0;
  uint32_t id = 0;
  while (i < n) {
    base_picture(&s, base);
    uint32_t geom = rng_below(&s, 5);
    uint32_t members = rng_below(&s, 5) == 0 ? 1 : 1 + rng_below(&s, 40);
    for (uint32_t m = 0; m < members && i < n; m++, i++) {
      noisy_copy(&s, base, 2 + (int)rng_below(&s, 6), (int)rng_below(&s, 9) - 4, px);
      if (sim_sig_from_gray(px, PW, PH, PW, &sig[i]) != IMS_OK) abort();
      sig[i].geom.width = 640 + 64 * geom;
      cluster[i] = id;
    }
    id++;
  }
}

static void shuffle(size_t n, uint64_t seed, sim_sig *sig, uint32_t *cluster) {
  uint64_t s = seed;
  for (size_t k = n; k > 1; k--) {
    size_t j = (size_t)(rng_next(&s) % k);
    sim_sig t = sig[k - 1];
    sig[k - 1] = sig[j];
    sig[j] = t;
    uint32_t c = cluster[k - 1];
    cluster[k - 1] = cluster[j];
    cluster[j] = c;
  }
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long peak_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Returns 0 when every invariant holds. */
static int check(const sim_sig *sig, const uint32_t *cluster, size_t n, const sim_plan_opts *o, const uint32_t *ref,
                 const uint32_t *depth, const uint32_t *dist) {
  size_t refs = 0, same = 0, wanted = 0;
  uint32_t max_cluster = 0;
  for (size_t i = 0; i < n; i++)
    if (cluster[i] > max_cluster) max_cluster = cluster[i];
  unsigned char *seen = calloc((size_t)max_cluster + 1, 1);
  if (!seen) return 1;
  for (size_t i = 0; i < n; i++) {
    if (seen[cluster[i]]) wanted++;
    seen[cluster[i]] = 1;
    if (depth[i] >= o->key_interval) return 1;
    if (ref[i] == SIM_NO_REF) {
      if (depth[i] != 0) return 1;
      continue;
    }
    if (ref[i] >= i || depth[i] != depth[ref[i]] + 1 || !sim_same_geom(&sig[i], &sig[ref[i]]) ||
        dist[i] > o->max_dist || dist[i] != sim_distance(&sig[i], &sig[ref[i]]))
      return 1;
    refs++;
    same += cluster[ref[i]] == cluster[i];
  }
  free(seen);
  printf("  %zu references (%zu inside their cluster); recall %.1f%% of %zu possible\n", refs, same,
         wanted ? 100.0 * (double)same / (double)wanted : 0.0, wanted);
  return 0;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
  int runs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 3;
  if (n == 0 || runs < 1 || runs > 50) {
    fprintf(stderr, "usage: similar_bench [n] [runs] [lsh_reach] [window]\n");
    return 2;
  }
  sim_sig *sig = calloc(n, sizeof *sig);
  uint32_t *cluster = calloc(n, 4), *ref = calloc(n, 4), *depth = calloc(n, 4), *dist = calloc(n, 4);
  if (!sig || !cluster || !ref || !depth || !dist) {
    fprintf(stderr, "similar_bench: out of memory\n");
    return 1;
  }
  printf("similar_bench: %zu signatures of %zu bytes, %d runs each, one thread\n", n, sizeof *sig, runs);
  double t0 = now_s();
  generate(n, 12345, sig, cluster);
  printf("  generated in %.2f s\n", now_s() - t0);
  sim_plan_opts o;
  sim_plan_defaults(&o);
  if (argc > 3) o.lsh_reach = (unsigned)strtoul(argv[3], NULL, 10);
  if (argc > 4) o.window = (unsigned)strtoul(argv[4], NULL, 10);
  printf("  options: key interval %u, max distance %u, window %u, lsh reach %u\n", (unsigned)o.key_interval,
         (unsigned)o.max_dist, o.window, o.lsh_reach);
  int failed = 0;
  for (int set = 0; set < 2; set++) {
    if (set == 1) shuffle(n, 777, sig, cluster);
    long rss_before = peak_rss_kib();
    double t[50], c[50];
    for (int r = 0; r < runs; r++) {
      ims_err err;
      double a = now_s(), ca = cpu_s();
      if (sim_plan(sig, n, &o, ref, depth, dist, &err) != IMS_OK) {
        fprintf(stderr, "similar_bench: %s\n", err.msg);
        return 1;
      }
      t[r] = now_s() - a;
      c[r] = cpu_s() - ca;
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp_double);
    qsort(c, (size_t)runs, sizeof c[0], cmp_double);
    printf("%s: plan median %.3f s wall, %.3f s CPU (wall min %.3f, max %.3f); peak RSS %.1f MiB (%.1f MiB "
           "before planning)\n",
           set ? "shuffled" : "ordered", t[runs / 2], c[runs / 2], t[0], t[runs - 1], (double)peak_rss_kib() / 1024.0,
           (double)rss_before / 1024.0);
    if (check(sig, cluster, n, &o, ref, depth, dist) != 0) {
      fprintf(stderr, "similar_bench: %s plan breaks an invariant\n", set ? "shuffled" : "ordered");
      failed = 1;
    }
  }
  free(sig);
  free(cluster);
  free(ref);
  free(depth);
  free(dist);
  return failed;
}
