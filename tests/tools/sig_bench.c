/* Benchmark of the planner's signature pass: sim_sig_from_jpeg (lib/similar/sig.c) over
 * the .jpg/.jpeg files of the folders given, on one core. Never run as a test; CMake builds
 * it with the other tools (build/sig_bench).
 * Usage: sig_bench [-r runs] [-m] dir...
 *   -r runs: passes over all files (default 9); the median pass is printed
 *   -m: files are read into memory once; by default each pass reads every file again into
 *       a fresh buffer, as the writer's run_sig does
 * Prints the CPU time (CLOCK_PROCESS_CPUTIME_ID) of each pass, the median, and a hash of
 * all signatures (compare it between builds: the signatures must not change). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hash.h"
#include "similar/similar.h"

typedef struct file {
  char *path;
  uint8_t *data; /* -m only */
  size_t len;
} file;

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = NULL;
  long l = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (l = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = malloc((size_t)l)) != NULL && fread(buf, 1, (size_t)l, f) != (size_t)l) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = buf ? (size_t)l : 0;
  return buf;
}

static int by_path(const void *a, const void *b) { return strcmp(((const file *)a)->path, ((const file *)b)->path); }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int runs = 9, in_mem = 0, a = 1;
  for (; a < argc && argv[a][0] == '-'; a++) {
    if (strcmp(argv[a], "-m") == 0) in_mem = 1;
    else if (strcmp(argv[a], "-r") == 0 && a + 1 < argc) runs = atoi(argv[++a]);
    else {
      fprintf(stderr, "usage: sig_bench [-r runs] [-m] dir...\n");
      return 2;
    }
  }
  if (runs < 1 || a >= argc) {
    fprintf(stderr, "usage: sig_bench [-r runs] [-m] dir...\n");
    return 2;
  }
  file *fs = NULL;
  size_t n = 0, cap = 0;
  for (; a < argc; a++) {
    DIR *d = opendir(argv[a]);
    if (!d) {
      fprintf(stderr, "%s: cannot open\n", argv[a]);
      return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      size_t nl = strlen(e->d_name);
      const char *ext = strrchr(e->d_name, '.');
      if (!ext || (strcmp(ext, ".jpg") != 0 && strcmp(ext, ".JPG") != 0 && strcmp(ext, ".jpeg") != 0)) continue;
      if (n == cap) {
        cap = cap ? 2 * cap : 256;
        file *g = realloc(fs, cap * sizeof *fs);
        if (!g) return 1;
        fs = g;
      }
      size_t pl = strlen(argv[a]) + nl + 2;
      fs[n].path = malloc(pl);
      if (!fs[n].path) return 1;
      (void)snprintf(fs[n].path, pl, "%s/%s", argv[a], e->d_name);
      fs[n].data = NULL;
      fs[n].len = 0;
      n++;
    }
    closedir(d);
  }
  qsort(fs, n, sizeof *fs, by_path);
  if (in_mem)
    for (size_t i = 0; i < n; i++) fs[i].data = read_all(fs[i].path, &fs[i].len);
  double *t = malloc((size_t)runs * sizeof *t);
  if (!t) return 1;
  uint64_t hash = 0;
  size_t n_ok = 0;
  for (int r = 0; r < runs; r++) {
    uint64_t h = 0;
    size_t ok = 0;
    double t0 = cpu_now();
    for (size_t i = 0; i < n; i++) {
      size_t len = fs[i].len;
      uint8_t *p = in_mem ? fs[i].data : read_all(fs[i].path, &len);
      if (!p) continue;
      sim_sig s;
      ims_err err;
      if (sim_sig_from_jpeg(p, len, 0, 0, &s, &err) == IMS_OK) {
        uint64_t link[2] = {h, ims_hash64(&s, sizeof s)};
        h = ims_hash64(link, sizeof link);
        ok++;
      }
      if (!in_mem) free(p);
    }
    t[r] = cpu_now() - t0;
    if (r == 0) {
      hash = h;
      n_ok = ok;
    } else if (h != hash || ok != n_ok) {
      fprintf(stderr, "pass %d: different signatures\n", r);
      return 1;
    }
    printf("pass %d: %.4f s\n", r, t[r]);
  }
  qsort(t, (size_t)runs, sizeof *t, cmp_double);
  printf("%zu files, %zu signatures, hash %016llx; median pass %.4f s CPU (%.1f us/file)\n", n, n_ok,
         (unsigned long long)hash, t[runs / 2], n ? t[runs / 2] * 1e6 / (double)n : 0.0);
  for (size_t i = 0; i < n; i++) {
    free(fs[i].path);
    free(fs[i].data);
  }
  free(fs);
  free(t);
  return 0;
}
