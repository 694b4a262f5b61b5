/* Round trips through the public API: many copies of the same content (dedup), contents
 * of every size class, every thread count; unpacked files are compared byte for byte.
 * A regression test for copies beyond the second one in a batch (they were written empty). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "imgstash.h"

static char tmpdir[1024];

static void write_file(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  REQUIRE(f != NULL);
  REQUIRE(fwrite(p, 1, n, f) == n);
  REQUIRE(fclose(f) == 0);
}

static uint8_t *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  uint8_t *p = malloc(len > 0 ? (size_t)len : 1);
  *n = fread(p, 1, (size_t)len, f);
  fclose(f);
  return p;
}

/* Deterministic bytes: compressible text-like runs mixed with noise. */
static void fill(uint8_t *p, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (i / 64) % 3 == 0 ? (uint8_t)('a' + i % 26) : (uint8_t)x;
  }
}

enum { N_FILES = 40 };

int main(void) {
  const char *base = getenv("IMS_TMP");
  snprintf(tmpdir, sizeof tmpdir, "%s/pack_roundtrip.%d", base ? base : "/tmp", (int)getpid());
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/in'", tmpdir, tmpdir);
  REQUIRE(system(cmd) == 0);
  /* Sizes: 0, 1, small, 100 kB, and one over the 32 MiB chunk size. Content id = i % 7, so
   * each content repeats many times, several copies per batch. */
  static const size_t sizes[7] = {0, 1, 517, 100000, 4096, 65536, 33u << 20 | 12345};
  uint8_t *data[7];
  for (int k = 0; k < 7; k++) {
    data[k] = malloc(sizes[k] ? sizes[k] : 1);
    fill(data[k], sizes[k], (uint32_t)k + 1);
  }
  char path[8192];
  for (int i = 0; i < N_FILES; i++) {
    snprintf(path, sizeof path, "%s/in/f%02d", tmpdir, i);
    write_file(path, data[i % 7], sizes[i % 7]);
  }
  char first_archive[2048] = "";
  for (unsigned threads = 1; threads <= 4; threads++) {
    ims_options o;
    REQUIRE(ims_options_init(&o, IMS_VERSION_NUMBER) == IMS_OK);
    o.threads = threads;
    o.zstd_level = 3;
    char arc[2048];
    snprintf(arc, sizeof arc, "%s/a%u.ims", tmpdir, threads);
    ims_writer *w = NULL;
    REQUIRE(ims_writer_open(arc, &o, &w) == IMS_OK);
    for (int i = 0; i < N_FILES; i++) {
      char name[32];
      snprintf(name, sizeof name, "in/f%02d", i);
      snprintf(path, sizeof path, "%s/in/f%02d", tmpdir, i);
      CHECK(ims_writer_add_path(w, name, path) == IMS_OK);
    }
    CHECK(ims_writer_finish(w) == IMS_OK);
    ims_writer_close(w);
    /* The archive does not depend on the thread count. */
    if (threads == 1) {
      snprintf(first_archive, sizeof first_archive, "%s", arc);
    } else {
      size_t n1, n2;
      uint8_t *a = read_file(first_archive, &n1), *b = read_file(arc, &n2);
      CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0);
      free(a);
      free(b);
    }
    ims_reader *r = NULL;
    REQUIRE(ims_reader_open(arc, &o, &r) == IMS_OK);
    CHECK(ims_reader_count(r) == N_FILES);
    ims_stats s;
    CHECK(ims_reader_stats(r, &s) == IMS_OK && s.contents == 7 && s.files == N_FILES);
    char out[2048];
    snprintf(out, sizeof out, "%s/out%u", tmpdir, threads);
    REQUIRE(mkdir(out, 0755) == 0);
    int dfd = open(out, O_RDONLY | O_DIRECTORY);
    REQUIRE(dfd >= 0);
    CHECK(ims_reader_extract_all_at(r, dfd, NULL, NULL) == IMS_OK);
    CHECK(ims_reader_fix_dir_times(r, dfd) == IMS_OK);
    close(dfd);
    for (int i = 0; i < N_FILES; i++) {
      snprintf(path, sizeof path, "%s/in/f%02d", out, i);
      size_t n;
      uint8_t *got = read_file(path, &n);
      CHECK(got != NULL && n == sizes[i % 7] && (n == 0 || memcmp(got, data[i % 7], n) == 0));
      if (!got || n != sizes[i % 7]) fprintf(stderr, "threads %u: f%02d: %zu bytes, want %zu\n", threads, i, n, sizes[i % 7]);
      free(got);
      /* The one-entry path agrees. */
      CHECK(ims_reader_verify_entry(r, (uint64_t)i) == IMS_OK);
    }
    ims_reader_close(r);
  }
  for (int k = 0; k < 7; k++) free(data[k]);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  CHECK(system(cmd) == 0);
  return check_done("test_pack_roundtrip");
}
