/* Round trips through the public API: many copies of the same content (dedup), contents
 * of every size class, every thread count; unpacked files are compared byte for byte.
 * A regression test for copies beyond the second one in a batch (they were written empty).
 * Then a small synthetic time-lapse with EXIF-like segments: reference chains (several key
 * images, a duplicate frame) packed and unpacked at every thread count, and the JPEG
 * codec's payload version 3 (side information against the reference's headers). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "codec/codec.h"
#include "imgstash.h"
#include "pack/pack.h"
#include "timelapse_gen.h"

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

/* Frame k of a small time-lapse with a 3000-byte APP1 segment after SOI (the same in every
 * frame but for 8 bytes, like a camera's EXIF with its thumbnail). */
static uint8_t *tl_frame(uint32_t k, size_t *len) {
  tlgen_params p;
  tlgen_defaults(&p);
  p.width = 160;
  p.height = 120;
  uint8_t *jpg;
  size_t n;
  REQUIRE(tlgen_frame(&p, k, &jpg, &n) == 0 && n > 2);
  enum { APP_LEN = 3000 };
  uint8_t *out = malloc(n + 2 + APP_LEN);
  REQUIRE(out != NULL);
  out[0] = 0xFF, out[1] = 0xD8, out[2] = 0xFF, out[3] = 0xE1;
  out[4] = (uint8_t)(APP_LEN >> 8), out[5] = (uint8_t)(APP_LEN & 0xFF);
  memcpy(out + 6, "Exif\0\0", 6);
  fill(out + 12, APP_LEN - 8, 99);
  snprintf((char *)out + 12, 9, "%08u", k); /* differs per frame (NUL included in the fill) */
  memcpy(out + 4 + APP_LEN, jpg + 2, n - 2);
  *len = n + 2 + APP_LEN;
  free(jpg);
  return out;
}

/* The JPEG codec alone: against a reference with the same headers the side information
 * uses them (version 3), decoding needs that reference, and without one it is version 1. */
static void codec_side_ref(void) {
  const codec *c = codec_by_id(CODEC_JPEG);
  REQUIRE(c != NULL);
  codec_env env = {.zstd_level = 19, .threads = 1, .max_pixels = 1u << 24, .max_scans = 64, .max_bytes = 1u << 30};
  size_t n0, n1, n5;
  uint8_t *f0 = tl_frame(0, &n0), *f1 = tl_frame(1, &n1), *f5 = tl_frame(5, &n5);
  uint8_t *back = malloc(n1);
  REQUIRE(back != NULL);
  buf alone, with;
  buf_init(&alone, SIZE_MAX);
  buf_init(&with, SIZE_MAX);
  bool used = true;
  ims_err err;
  CHECK(codec_encode1(c, &env, f1, n1, NULL, 0, &alone, &used, &err) == IMS_OK && !used && alone.len > 0 && alone.p[0] == 1);
  CHECK(codec_encode1(c, &env, f1, n1, f0, n0, &with, &used, &err) == IMS_OK && used && with.len > 0 && with.p[0] == 3);
  CHECK(with.len < alone.len);
  CHECK(codec_decode1(c, &env, with.p, with.len, f0, n0, back, n1, &err) == IMS_OK && memcmp(back, f1, n1) == 0);
  CHECK(codec_decode1(c, &env, alone.p, alone.len, NULL, 0, back, n1, &err) == IMS_OK && memcmp(back, f1, n1) == 0);
  CHECK(codec_decode1(c, &env, with.p, with.len, NULL, 0, back, n1, &err) == IMS_E_CORRUPT);
  CHECK(codec_decode1(c, &env, alone.p, alone.len, f0, n0, back, n1, &err) == IMS_E_CORRUPT);
  /* Another reference: never the original bytes (the side information's prefix differs). */
  ims_status st = codec_decode1(c, &env, with.p, with.len, f5, n5, back, n1, &err);
  CHECK(st != IMS_OK || memcmp(back, f1, n1) != 0);
  /* Through a codec cache (parsed images shared between jobs): the same payloads, whether
   * the images come from the cache or not. */
  codec_env cenv = env;
  cenv.cache = codec_cache_new(3, (size_t)64 << 20);
  cenv.keep_src = true;
  REQUIRE(cenv.cache != NULL);
  buf cached;
  buf_init(&cached, SIZE_MAX);
  for (int round = 0; round < 2; round++) { /* round 1: f0 and f1 are both cached */
    cached.len = 0;
    CHECK(codec_encode1(c, &cenv, f1, n1, f0, n0, &cached, &used, &err) == IMS_OK && used);
    CHECK(cached.len == with.len && memcmp(cached.p, with.p, with.len) == 0);
    memset(back, 0, n1);
    CHECK(codec_decode1(c, &cenv, cached.p, cached.len, f0, n0, back, n1, &err) == IMS_OK && memcmp(back, f1, n1) == 0);
  }
  /* f1 is cached now (keep_src): as a reference it gives what a fresh parse gives. */
  size_t n2;
  uint8_t *f2 = tl_frame(2, &n2);
  buf w2, w2c;
  buf_init(&w2, SIZE_MAX);
  buf_init(&w2c, SIZE_MAX);
  CHECK(codec_encode1(c, &env, f2, n2, f1, n1, &w2, &used, &err) == IMS_OK);
  CHECK(codec_encode1(c, &cenv, f2, n2, f1, n1, &w2c, &used, &err) == IMS_OK);
  CHECK(w2.len == w2c.len && memcmp(w2.p, w2c.p, w2.len) == 0);
  buf_free(&w2);
  buf_free(&w2c);
  free(f2);
  buf_free(&cached);
  codec_cache_free(cenv.cache);
  /* A version this build does not know. */
  with.p[0] = 4;
  CHECK(codec_decode1(c, &env, with.p, with.len, f0, n0, back, n1, &err) == IMS_E_VERSION);
  buf_free(&alone);
  buf_free(&with);
  free(back);
  free(f0);
  free(f1);
  free(f5);
}

/* Packs tmpdir/SUB/NN.jpg (k < n) as NAME_PFX NN.jpg into arc with o; frame `alone` (or
 * none: -1) is forced to be coded alone. */
static void pack_frames(const char *arc, const ims_options *o, const char *sub, const char *name_pfx, uint32_t n,
                        int alone) {
  char name[64], path[4096];
  ims_writer *w = NULL;
  REQUIRE(ims_writer_open(arc, o, &w) == IMS_OK);
  if (alone >= 0) pack_writer_test_alone(w, (unsigned)alone);
  for (uint32_t k = 0; k < n; k++) {
    snprintf(name, sizeof name, "%s%02u.jpg", name_pfx, k);
    snprintf(path, sizeof path, "%s/%s/%02u.jpg", tmpdir, sub, k);
    CHECK(ims_writer_add_path(w, name, path) == IMS_OK);
  }
  CHECK(ims_writer_finish(w) == IMS_OK);
  ims_writer_close(w);
}

/* The archive of the first thread count is kept in *first; every later one must equal it. */
static void same_as_first(const char *arc, unsigned threads, uint8_t **first, size_t *first_len) {
  size_t n;
  uint8_t *a = read_file(arc, &n);
  REQUIRE(a != NULL);
  if (threads == 1) {
    *first = a;
    *first_len = n;
  } else {
    CHECK(n == *first_len && memcmp(a, *first, n) == 0);
    free(a);
  }
}

/* Extracts every entry of r below out and compares out/NAME_PFX NN.jpg with fr[k]. */
static void extract_all_equal(ims_reader *r, const char *out, const char *name_pfx, uint8_t *const *fr,
                              const size_t *len, uint32_t n_frames) {
  char path[4096];
  REQUIRE(mkdir(out, 0755) == 0);
  int dfd = open(out, O_RDONLY | O_DIRECTORY);
  REQUIRE(dfd >= 0);
  CHECK(ims_reader_extract_all_at(r, dfd, NULL, NULL) == IMS_OK);
  close(dfd);
  for (uint32_t k = 0; k < n_frames; k++) {
    snprintf(path, sizeof path, "%s/%s%02u.jpg", out, name_pfx, k);
    size_t n;
    uint8_t *got = read_file(path, &n);
    CHECK(got != NULL && n == len[k] && memcmp(got, fr[k], n) == 0);
    free(got);
  }
}

enum { N_FRAMES = 14 };

/* A time-lapse in chains of 4 (key_interval), frame 9 a copy of frame 8: every thread
 * count gives the same archive and the same files, and some contents have references. */
static void timelapse_chains(void) {
  char cmd[4096], path[4096];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/tl'", tmpdir);
  REQUIRE(system(cmd) == 0);
  uint8_t *fr[N_FRAMES];
  size_t len[N_FRAMES];
  for (uint32_t k = 0; k < N_FRAMES; k++) {
    fr[k] = tl_frame(k == 9 ? 8 : k, &len[k]);
    snprintf(path, sizeof path, "%s/tl/%02u.jpg", tmpdir, k);
    write_file(path, fr[k], len[k]);
  }
  uint8_t *first = NULL;
  size_t first_len = 0;
  for (unsigned threads = 1; threads <= 3; threads++) {
    ims_options o;
    REQUIRE(ims_options_init(&o, IMS_VERSION_NUMBER) == IMS_OK);
    o.threads = threads;
    o.key_interval = 4;
    char arc[2048];
    snprintf(arc, sizeof arc, "%s/tl%u.ims", tmpdir, threads);
    pack_frames(arc, &o, "tl", "tl/", N_FRAMES, -1);
    same_as_first(arc, threads, &first, &first_len);
    ims_reader *r = NULL;
    REQUIRE(ims_reader_open(arc, &o, &r) == IMS_OK);
    unsigned with_ref = 0;
    for (uint64_t i = 0; i < ims_reader_count(r); i++) {
      ims_entry e;
      CHECK(ims_reader_entry(r, i, &e) == IMS_OK);
      if (e.ref_entry >= 0) with_ref++;
    }
    CHECK(with_ref >= N_FRAMES / 2);
    char out[2048];
    snprintf(out, sizeof out, "%s/tlout%u", tmpdir, threads);
    extract_all_equal(r, out, "tl/", fr, len, N_FRAMES);
    ims_reader_close(r);
    /* The last frame alone, from a fresh reader (its whole chain is decoded). */
    REQUIRE(ims_reader_open(arc, &o, &r) == IMS_OK);
    CHECK(ims_reader_verify_entry(r, N_FRAMES - 1) == IMS_OK);
    ims_reader_close(r);
  }
  free(first);
  for (uint32_t k = 0; k < N_FRAMES; k++) free(fr[k]);
}


enum { N_NOISY = 10, ALONE = 4 };

typedef struct mem_out {
  uint8_t *p;
  size_t len, cap;
} mem_out;

static int mem_put(void *opaque, const void *data, size_t n) {
  mem_out *m = opaque;
  if (n > m->cap - m->len) return 1;
  memcpy(m->p + m->len, data, n);
  m->len += n;
  return 0;
}

/* Packs the N_NOISY frames of tmpdir/noisy with up to refs references each (frame ALONE
 * forced to be coded alone when force), threads 1..3: the same archive for every thread
 * count, every file back, the last frame alone from a fresh reader. Returns the size. */
static size_t pack_noisy(unsigned refs, bool force, uint8_t *const *fr, const size_t *len) {
  char arc[2048];
  uint8_t *first = NULL;
  size_t first_len = 0;
  for (unsigned threads = 1; threads <= 3; threads++) {
    ims_options o;
    REQUIRE(ims_options_init(&o, IMS_VERSION_NUMBER) == IMS_OK);
    o.threads = threads;
    o.key_interval = 16;
    o.refs = refs;
    snprintf(arc, sizeof arc, "%s/noisy%u%d_%u.ims", tmpdir, refs, (int)force, threads);
    pack_frames(arc, &o, "noisy", "", N_NOISY, force ? ALONE : -1);
    same_as_first(arc, threads, &first, &first_len);
    ims_reader *r = NULL;
    REQUIRE(ims_reader_open(arc, &o, &r) == IMS_OK);
    /* Every frame but the first is predicted (ALONE, when forced, has no reference and the
     * next one names it). */
    for (uint64_t i = 0; i < ims_reader_count(r); i++) {
      ims_entry e;
      CHECK(ims_reader_entry(r, i, &e) == IMS_OK);
      if (i == 0 || (force && i == ALONE))
        CHECK(e.ref_entry < 0);
      else
        CHECK(e.ref_entry == (int64_t)i - 1);
    }
    char out[2048];
    snprintf(out, sizeof out, "%s/noisyout%u%d_%u", tmpdir, refs, (int)force, threads);
    extract_all_equal(r, out, "", fr, len, N_NOISY);
    ims_reader_close(r);
    /* `cat` of the last frame and of the one after ALONE, each from a fresh reader (their
     * chains are decoded from the key). */
    static const uint64_t which[2] = {N_NOISY - 1, ALONE + 1};
    for (int q = 0; q < 2; q++) {
      REQUIRE(ims_reader_open(arc, &o, &r) == IMS_OK);
      mem_out m = {malloc(len[which[q]] + 1), 0, len[which[q]] + 1};
      REQUIRE(m.p != NULL);
      CHECK(ims_reader_extract(r, which[q], mem_put, &m) == IMS_OK);
      CHECK(m.len == len[which[q]] && memcmp(m.p, fr[which[q]], m.len) == 0);
      free(m.p);
      ims_reader_close(r);
    }
  }
  free(first);
  return first_len;
}

/* A noisy time-lapse (no EXIF: a frame that does not predict its coefficients depends on
 * nothing) packed with chains of 1 to 4 references: each more makes the archive smaller
 * (issue #4); a frame in the middle coded alone makes the next one, coded speculatively
 * against the planned chain, be coded again against the index's. */
static void noisy_chains(void) {
  char cmd[4096], path[4096];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/noisy'", tmpdir);
  REQUIRE(system(cmd) == 0);
  uint8_t *fr[N_NOISY];
  size_t len[N_NOISY];
  tlgen_params p;
  tlgen_defaults(&p);
  p.width = 160;
  p.height = 120;
  for (uint32_t k = 0; k < N_NOISY; k++) {
    REQUIRE(tlgen_frame(&p, k, &fr[k], &len[k]) == 0);
    snprintf(path, sizeof path, "%s/noisy/%02u.jpg", tmpdir, k);
    write_file(path, fr[k], len[k]);
  }
  size_t size[5] = {0};
  for (unsigned refs = 1; refs <= 4; refs++) size[refs] = pack_noisy(refs, false, fr, len);
  fprintf(stderr, "noisy time-lapse: %zu / %zu / %zu / %zu bytes with 1 / 2 / 3 / 4 references\n", size[1], size[2],
          size[3], size[4]);
  CHECK(size[2] < size[1] && size[4] < size[2] && size[3] <= size[2] && size[4] <= size[3]);
  size_t forced = pack_noisy(4, true, fr, len);
  CHECK(forced > size[4]);
  for (uint32_t k = 0; k < N_NOISY; k++) free(fr[k]);
}

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
  codec_side_ref();
  timelapse_chains();
  noisy_chains();
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  CHECK(system(cmd) == 0);
  return check_done("test_pack_roundtrip");
}
