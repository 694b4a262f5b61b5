/* similar/: signatures (JPEG at several qualities close, different pictures far), the
 * planner on $IMS_CORPUS/timelapse and $IMS_CORPUS/photos, planner invariants on random
 * inputs (property test), and hostile JPEG bytes (truncated, corrupt, over the limits).
 * The corpus parts are skipped (not failed) when $IMS_CORPUS is absent; if nothing else
 * ran the test exits 77. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/hash.h"
#include "jpeggen.h"
#include "similar/similar.h"

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}
static uint32_t rng_below(uint64_t *s, uint32_t n) { return n ? (uint32_t)(rng_next(s) % n) : 0; }

static uint8_t *make_jpeg(const uint8_t *rgb, uint32_t w, uint32_t h, int quality, jpeggen_subsamp ss,
                          int progressive, size_t *len) {
  jpeggen_params p;
  jpeggen_defaults(&p);
  p.width = w;
  p.height = h;
  p.quality = quality;
  p.subsamp = ss;
  p.progressive = progressive;
  p.rgb = rgb;
  uint8_t *out = NULL;
  REQUIRE(jpeggen_make(&p, &out, len) == 0);
  return out;
}

static ims_status sig_of(const uint8_t *jpg, size_t len, sim_sig *s) {
  ims_err err;
  ims_err_clear(&err);
  ims_status st = sim_sig_from_jpeg(jpg, len, 0, 0, s, &err);
  if (st) CHECK(err.msg[0] != '\0');
  return st;
}

/* The same picture at qualities 30..100 and two subsamplings: close; other pictures: far. */
static void test_qualities(void) {
  const uint32_t w = 320, h = 240;
  uint8_t *rgb = malloc((size_t)w * h * 3);
  REQUIRE(rgb);
  const int qs[] = {30, 50, 75, 90, 100};
  enum { NQ = sizeof qs / sizeof qs[0], NSEED = 4 };
  sim_sig sig[NSEED][NQ];
  for (int k = 0; k < NSEED; k++) {
    jpeggen_fill_rgb(1000u + (uint64_t)k, 0, w, h, rgb);
    for (int q = 0; q < NQ; q++) {
      size_t len;
      uint8_t *jpg = make_jpeg(rgb, w, h, qs[q], q % 2 ? JPEGGEN_444 : JPEGGEN_420, q == 2, &len);
      REQUIRE(sig_of(jpg, len, &sig[k][q]) == IMS_OK);
      free(jpg);
      CHECK(sig[k][q].geom.source == SIM_SRC_JPEG && sig[k][q].geom.width == w && sig[k][q].geom.height == h);
      CHECK(sig[k][q].geom.components == 3 && sig[k][q].geom.h_samp[0] == (q % 2 ? 1 : 2));
      uint32_t sum = 0;
      for (size_t i = 0; i < SIM_THUMB_LEN; i++) sum += sig[k][q].thumb[i];
      CHECK(sum == sig[k][q].thumb_sum);
    }
  }
  uint32_t worst_same = 0, best_other = UINT32_MAX;
  unsigned worst_ham = 0;
  for (int k = 0; k < NSEED; k++)
    for (int q = 0; q < NQ; q++)
      for (int k2 = 0; k2 < NSEED; k2++)
        for (int q2 = 0; q2 < NQ; q2++) {
          uint32_t d = sim_distance(&sig[k][q], &sig[k2][q2]);
          CHECK(d == sim_distance(&sig[k2][q2], &sig[k][q]));
          if (k == k2) {
            if (d > worst_same) worst_same = d;
            unsigned hd = sim_hamming(&sig[k][q], &sig[k2][q2]);
            if (hd > worst_ham) worst_ham = hd;
            if (q == q2) CHECK(d == 0);
          } else if (d < best_other) {
            best_other = d;
          }
        }
  printf("qualities 30..100: worst distance same picture %u (hamming %u), nearest other picture %u\n", worst_same,
         worst_ham, best_other);
  CHECK(worst_same < SIM_DEFAULT_MAX_DIST / 4);
  CHECK(worst_ham <= 8);
  CHECK(best_other > SIM_DEFAULT_MAX_DIST);

  /* A moving frame of the same scene stays close. */
  jpeggen_fill_rgb(1000u, 3, w, h, rgb);
  size_t len;
  uint8_t *jpg = make_jpeg(rgb, w, h, 75, JPEGGEN_420, 0, &len);
  sim_sig moved;
  REQUIRE(sig_of(jpg, len, &moved) == IMS_OK);
  free(jpg);
  CHECK(sim_distance(&moved, &sig[0][2]) <= SIM_DEFAULT_MAX_DIST);
  CHECK(sim_same_geom(&moved, &sig[0][2]));
  CHECK(!sim_same_geom(&sig[0][0], &sig[0][1])); /* 4:2:0 vs 4:4:4 */
  free(rgb);
}

static void test_gray_edges(void) {
  uint8_t px[4 * 40];
  for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(i * 7);
  sim_sig a, b;
  CHECK(sim_sig_from_gray(px, 1, 1, 1, &a) == IMS_OK);
  CHECK(a.mean == px[0] && a.thumb_sum == 256u * px[0] && a.dhash == 0);
  CHECK(sim_sig_from_gray(px, 3, 4, 40, &a) == IMS_OK); /* stride > width, tiny picture */
  CHECK(a.geom.width == 3 && a.geom.height == 4 && a.geom.source == SIM_SRC_GRAY);
  CHECK(sim_sig_from_gray(px, 4, 3, 3, &b) == IMS_E_ARG); /* stride < width */
  CHECK(sim_sig_from_gray(px, 0, 3, 3, &b) == IMS_E_ARG);
  CHECK(sim_sig_from_gray(NULL, 1, 1, 1, &b) == IMS_E_ARG);
  CHECK(sim_distance(&a, &a) == 0 && sim_hamming(&a, &a) == 0);
  /* a uniform brightness shift costs a quarter of the same change as detail */
  uint8_t flat[64], flat2[64];
  memset(flat, 100, sizeof flat);
  memset(flat2, 110, sizeof flat2);
  CHECK(sim_sig_from_gray(flat, 8, 8, 8, &a) == IMS_OK && sim_sig_from_gray(flat2, 8, 8, 8, &b) == IMS_OK);
  CHECK(sim_distance(&a, &b) == 64u * 10);
}

/* --------------------------------------------------------------- corpus */

typedef struct fileset {
  char **names;
  uint8_t **data;
  size_t *len;
  size_t n;
} fileset;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int load_dir(const char *dir, fileset *fs) {
  memset(fs, 0, sizeof *fs);
  DIR *d = opendir(dir);
  if (!d) return -1;
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".jpg") != 0) continue;
    if (fs->n == cap) {
      cap = cap ? cap * 2 : 64;
      fs->names = realloc(fs->names, cap * sizeof *fs->names);
      REQUIRE(fs->names);
    }
    fs->names[fs->n] = strdup(e->d_name);
    REQUIRE(fs->names[fs->n]);
    fs->n++;
  }
  closedir(d);
  if (fs->n == 0) return -1;
  qsort(fs->names, fs->n, sizeof *fs->names, cmp_str);
  fs->data = calloc(fs->n, sizeof *fs->data);
  fs->len = calloc(fs->n, sizeof *fs->len);
  REQUIRE(fs->data && fs->len);
  for (size_t i = 0; i < fs->n; i++) {
    char path[4096];
    (void)snprintf(path, sizeof path, "%s/%s", dir, fs->names[i]);
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    REQUIRE(fseek(f, 0, SEEK_END) == 0);
    long l = ftell(f);
    REQUIRE(l > 0 && fseek(f, 0, SEEK_SET) == 0);
    fs->data[i] = malloc((size_t)l);
    REQUIRE(fs->data[i]);
    fs->len[i] = fread(fs->data[i], 1, (size_t)l, f);
    REQUIRE(fs->len[i] == (size_t)l);
    fclose(f);
  }
  return 0;
}

static void free_set(fileset *fs) {
  for (size_t i = 0; i < fs->n; i++) {
    free(fs->names[i]);
    if (fs->data) free(fs->data[i]);
  }
  free(fs->names);
  free(fs->data);
  free(fs->len);
}

static size_t find_name(const fileset *fs, const char *name) {
  for (size_t i = 0; i < fs->n; i++)
    if (strcmp(fs->names[i], name) == 0) return i;
  return SIZE_MAX;
}

/* Checks what every plan must satisfy. */
static void check_plan(const sim_sig *s, size_t n, const sim_plan_opts *o, const uint32_t *ref, const uint32_t *depth,
                       const uint32_t *dist) {
  for (size_t i = 0; i < n; i++) {
    CHECK(depth[i] < o->key_interval);
    if (ref[i] == SIM_NO_REF) {
      CHECK(depth[i] == 0 && dist[i] == 0);
      continue;
    }
    CHECK(ref[i] < i);
    if (ref[i] >= i) continue;
    CHECK(depth[i] == depth[ref[i]] + 1);
    CHECK(sim_same_geom(&s[i], &s[ref[i]]));
    CHECK(dist[i] == sim_distance(&s[i], &s[ref[i]]));
    CHECK(dist[i] <= o->max_dist);
  }
}

static int test_timelapse(const char *corpus) {
  char dir[4096];
  (void)snprintf(dir, sizeof dir, "%s/timelapse", corpus);
  fileset fs;
  if (load_dir(dir, &fs) != 0) {
    printf("timelapse: no corpus at %s, skipped\n", dir);
    return 0;
  }
  /* The caller merges byte-identical files; do the same (content order = first appearance). */
  sim_sig *sig = calloc(fs.n, sizeof *sig);
  ims_h128 *h = calloc(fs.n, sizeof *h);
  size_t *first = calloc(fs.n, sizeof *first);
  REQUIRE(sig && h && first);
  size_t n = 0;
  for (size_t i = 0; i < fs.n; i++) {
    ims_h128 hi = ims_hash128(fs.data[i], fs.len[i]);
    int dup = 0;
    for (size_t k = 0; k < n && !dup; k++) dup = memcmp(&h[k], &hi, sizeof hi) == 0;
    if (dup) continue;
    h[n] = hi;
    first[n] = i;
    CHECK(sig_of(fs.data[i], fs.len[i], &sig[n]) == IMS_OK);
    n++;
  }
  sim_plan_opts o;
  sim_plan_defaults(&o);
  uint32_t *ref = calloc(n, 4), *depth = calloc(n, 4), *dist = calloc(n, 4), *ref2 = calloc(n, 4);
  REQUIRE(ref && depth && dist && ref2);
  ims_err err;
  REQUIRE(sim_plan(sig, n, &o, ref, depth, dist, &err) == IMS_OK);
  check_plan(sig, n, &o, ref, depth, dist);
  size_t n_ref = 0, n_prev = 0, n_key = 0;
  uint32_t max_depth = 0, max_d = 0;
  for (size_t i = 0; i < n; i++) {
    if (ref[i] == SIM_NO_REF) {
      n_key++;
      continue;
    }
    n_ref++;
    n_prev += ref[i] == i - 1;
    if (depth[i] > max_depth) max_depth = depth[i];
    if (dist[i] > max_d) max_d = dist[i];
  }
  printf("timelapse: %zu files, %zu distinct; %zu keys, %zu refs (%zu to the previous frame), max depth %u, "
         "max distance %u\n",
         fs.n, n, n_key, n_ref, n_prev, (unsigned)max_depth, (unsigned)max_d);
  CHECK(ref[0] == SIM_NO_REF);
  /* Keys only where the depth cap forces one: about one per key_interval frames. */
  CHECK(n_key <= n / (o.key_interval - 1) + 1);
  CHECK(n_prev * 10 >= n_ref * 8);
  CHECK(max_depth == o.key_interval - 1);
  /* Without a depth cap every frame but the first gets a reference. */
  sim_plan_opts big = o;
  big.key_interval = UINT32_MAX;
  REQUIRE(sim_plan(sig, n, &big, ref2, depth, dist, &err) == IMS_OK);
  size_t n_ref2 = 0;
  for (size_t i = 1; i < n; i++) n_ref2 += ref2[i] != SIM_NO_REF;
  CHECK(n_ref2 == n - 1);
  free(ref);
  free(ref2);
  free(depth);
  free(dist);
  free(sig);
  free(h);
  free(first);
  free_set(&fs);
  return 1;
}

static int test_photos(const char *corpus) {
  char dir[4096];
  (void)snprintf(dir, sizeof dir, "%s/photos", corpus);
  fileset fs;
  if (load_dir(dir, &fs) != 0) {
    printf("photos: no corpus at %s, skipped\n", dir);
    return 0;
  }
  size_t n = fs.n;
  sim_sig *sig = calloc(n, sizeof *sig);
  uint32_t *ref = calloc(n, 4), *depth = calloc(n, 4), *dist = calloc(n, 4);
  REQUIRE(sig && ref && depth && dist);
  size_t n_ok = 0, bad = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    if (sig_of(fs.data[i], fs.len[i], &sig[i]) == IMS_OK) {
      n_ok++;
    } else {
      /* A stand-in the planner must leave alone: a geometry no photo has. */
      memset(&sig[i], 0, sizeof sig[i]);
      sig[i].geom.source = SIM_SRC_GRAY;
      sig[i].geom.width = (uint32_t)i + 1;
      bad = i;
    }
  }
  printf("photos: %zu of %zu files give a signature\n", n_ok, n);
  /* Every photo decodes at 1/8 scale but lepton's gray2sf.jpg: 309 header bytes and
   * 100000 zero bytes, whose entropy data runs out (truncated) at row 528 of 768. */
  CHECK(n_ok == n - 1);
  CHECK(bad == find_name(&fs, "lepton_gray2sf.jpg"));
  sim_plan_opts o;
  sim_plan_defaults(&o);
  ims_err err;
  REQUIRE(sim_plan(sig, n, &o, ref, depth, dist, &err) == IMS_OK);
  check_plan(sig, n, &o, ref, depth, dist);

  /* Known pairs: lepton's arithmetic.jpg is iphone.jpg re-coded (same pixels, the same
   * coefficients); the iPhone HDR on/off shots are one scene. Everything else is
   * unrelated and must get no reference. */
  size_t ar = find_name(&fs, "lepton_arithmetic.jpg"), ip = find_name(&fs, "lepton_iphone.jpg");
  size_t hn = find_name(&fs, "exif-samples_hdr_iphone_hdr_NO.jpg");
  size_t hy = find_name(&fs, "exif-samples_hdr_iphone_hdr_YES.jpg");
  REQUIRE(ar != SIZE_MAX && ip != SIZE_MAX && hn != SIZE_MAX && hy != SIZE_MAX);
  CHECK(sig[ar].pic_hash == sig[ip].pic_hash && sim_distance(&sig[ar], &sig[ip]) == 0);
  CHECK(ref[ip] == ar);
  CHECK(ref[hy] == hn);
  size_t n_ref = 0;
  for (size_t i = 0; i < n; i++) {
    if (ref[i] == SIM_NO_REF) continue;
    n_ref++;
    printf("  %s -> %s (distance %u)\n", fs.names[i], fs.names[ref[i]], (unsigned)dist[i]);
    CHECK(i == ip || i == hy);
  }
  CHECK(n_ref == 2);

  /* The EXIF orientation samples: landscape_2..4 (600x450 4:2:0) and 5..8 (450x600) have
   * the same geometry, but their pixels are mirrored/rotated copies of one picture, not
   * the same pixels: coefficient prediction between them is useless, and they are far. */
  size_t orient[9];
  for (int k = 1; k <= 8; k++) {
    char name[64];
    (void)snprintf(name, sizeof name, "exif-samples_orientation_landscape_%d.jpg", k);
    orient[k] = find_name(&fs, name);
    REQUIRE(orient[k] != SIZE_MAX);
  }
  CHECK(sim_same_geom(&sig[orient[2]], &sig[orient[3]]) && sim_same_geom(&sig[orient[2]], &sig[orient[4]]));
  CHECK(sim_same_geom(&sig[orient[5]], &sig[orient[8]]) && !sim_same_geom(&sig[orient[1]], &sig[orient[2]]));
  for (int k = 2; k <= 8; k++) CHECK(ref[orient[k]] == SIM_NO_REF);

  free(ref);
  free(depth);
  free(dist);
  free(sig);
  free_set(&fs);
  return 1;
}

/* --------------------------------------------------------------- property test */

/* Random signatures: clusters of noisy copies of random pictures in a few geometries,
 * shuffled, plus unrelated ones. */
static void random_sigs(uint64_t seed, size_t n, sim_sig *out) {
  uint64_t s = seed;
  uint8_t base[24 * 18], px[24 * 18];
  size_t i = 0;
  while (i < n) {
    for (size_t k = 0; k < sizeof base; k++) base[k] = (uint8_t)rng_below(&s, 256);
    uint32_t members = 1 + rng_below(&s, 12), geom = rng_below(&s, 3);
    for (uint32_t m = 0; m < members && i < n; m++, i++) {
      int noise = (int)rng_below(&s, 24);
      for (size_t k = 0; k < sizeof px; k++) {
        int v = base[k] + (int)rng_below(&s, (uint32_t)(2 * noise + 1)) - noise;
        px[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
      REQUIRE(sim_sig_from_gray(px, 24, 18, 24, &out[i]) == IMS_OK);
      out[i].geom.width = 100 + geom;
    }
  }
  for (size_t k = n; k > 1; k--) { /* Fisher-Yates */
    size_t j = rng_below(&s, (uint32_t)k);
    sim_sig t = out[k - 1];
    out[k - 1] = out[j];
    out[j] = t;
  }
}

static void test_property(void) {
  enum { MAXN = 600 };
  sim_sig *s = calloc(MAXN, sizeof *s);
  uint32_t *ref = calloc(MAXN, 4), *depth = calloc(MAXN, 4), *dist = calloc(MAXN, 4);
  uint32_t *ref2 = calloc(MAXN, 4), *depth2 = calloc(MAXN, 4), *dist2 = calloc(MAXN, 4);
  REQUIRE(s && ref && depth && dist && ref2 && depth2 && dist2);
  uint64_t rs = 42;
  size_t total_refs = 0;
  for (int round = 0; round < 60; round++) {
    size_t n = 1 + rng_below(&rs, MAXN);
    random_sigs((uint64_t)round * 7919u + 1, n, s);
    if (round % 5 == 0) /* a long run of identical pictures: the depth cap must bite */
      for (size_t i = 1; i < n; i++) s[i] = s[0];
    sim_plan_opts o;
    sim_plan_defaults(&o);
    o.key_interval = 1 + rng_below(&rs, 12);
    o.window = rng_below(&rs, 10);
    o.lsh_reach = rng_below(&rs, 10);
    o.max_dist = rng_below(&rs, 2) ? SIM_DEFAULT_MAX_DIST : rng_below(&rs, 20000);
    ims_err err;
    REQUIRE(sim_plan(s, n, &o, ref, depth, dist, &err) == IMS_OK);
    check_plan(s, n, &o, ref, depth, dist);
    memset(ref2, 0xAB, MAXN * 4);
    REQUIRE(sim_plan(s, n, &o, ref2, depth2, dist2, &err) == IMS_OK);
    CHECK(memcmp(ref, ref2, n * 4) == 0 && memcmp(depth, depth2, n * 4) == 0 && memcmp(dist, dist2, n * 4) == 0);
    for (size_t i = 0; i < n; i++) total_refs += ref[i] != SIM_NO_REF;
    if (o.key_interval == 1)
      for (size_t i = 0; i < n; i++) CHECK(ref[i] == SIM_NO_REF);
  }
  CHECK(total_refs > 1000); /* the clusters do produce references */
  ims_err err;

  /* LSH finds a near-duplicate far outside the window: picture 0 again at position 200. */
  {
    enum { N = 201 };
    uint8_t px[24 * 18], keep[24 * 18];
    uint64_t ps = 5;
    for (size_t i = 0; i < N; i++) {
      for (size_t k = 0; k < sizeof px; k++) px[k] = (uint8_t)rng_below(&ps, 256);
      if (i == 0) memcpy(keep, px, sizeof px);
      if (i == N - 1) {
        memcpy(px, keep, sizeof px);
        px[7] ^= 9;
      }
      REQUIRE(sim_sig_from_gray(px, 24, 18, 24, &s[i]) == IMS_OK);
    }
    sim_plan_opts o;
    sim_plan_defaults(&o);
    o.window = 2;
    REQUIRE(sim_plan(s, N, &o, ref, depth, dist, &err) == IMS_OK);
    CHECK(ref[N - 1] == 0 && dist[N - 1] > 0);
    for (size_t i = 1; i < N - 1; i++) CHECK(ref[i] == SIM_NO_REF); /* noise pictures are unrelated */
  }
  sim_plan_opts bad;
  sim_plan_defaults(&bad);
  bad.key_interval = 0;
  CHECK(sim_plan(s, 2, &bad, ref, depth, NULL, &err) == IMS_E_ARG);
  CHECK(sim_plan(NULL, 2, NULL, ref, depth, NULL, &err) == IMS_E_ARG);
  CHECK(sim_plan(NULL, 0, NULL, NULL, NULL, NULL, &err) == IMS_OK);
  free(s);
  free(ref);
  free(depth);
  free(dist);
  free(ref2);
  free(depth2);
  free(dist2);
}

/* --------------------------------------------------------------- hostile input */

static void test_hostile(void) {
  const uint32_t w = 200, h = 120;
  uint8_t *rgb = malloc((size_t)w * h * 3);
  REQUIRE(rgb);
  jpeggen_fill_rgb(7, 0, w, h, rgb);
  for (int prog = 0; prog < 2; prog++) {
    size_t len;
    uint8_t *jpg = make_jpeg(rgb, w, h, 80, JPEGGEN_420, prog, &len);
    sim_sig s;
    REQUIRE(sig_of(jpg, len, &s) == IMS_OK);
    /* Baseline: every truncation into the data fails cleanly (only a missing EOI is
     * forgiven). Progressive: the signature needs only the DC scans (lib/jpeg/dc_thumb.h),
     * so cuts fail up to the end of the last one and later cuts give the whole file's. */
    size_t n_fail = 0, n_tried = 0, n_ok_then_fail = 0;
    bool ok_seen = false;
    CHECK(sig_of(jpg, len - 2, &s) == IMS_OK);
    for (size_t cut = 0; cut < len - 2; cut += 1 + cut / 64) {
      sim_sig t;
      n_tried++;
      if (sig_of(jpg, cut, &t) != IMS_OK) {
        n_fail++;
        n_ok_then_fail += ok_seen;
        continue;
      }
      ok_seen = true;
      CHECK(sim_distance(&s, &t) == 0 && sim_hamming(&s, &t) == 0 && sim_same_geom(&s, &t));
    }
    CHECK(n_ok_then_fail == 0);
    if (prog) CHECK(n_fail > n_tried / 4 && n_fail < n_tried);
    else CHECK(n_fail == n_tried);
    /* random corruption: any status, no crash (ASan/UBSan) */
    uint8_t *bad = malloc(len);
    REQUIRE(bad);
    uint64_t rs = 99 + (uint64_t)prog;
    for (int round = 0; round < 300; round++) {
      memcpy(bad, jpg, len);
      uint32_t flips = 1 + rng_below(&rs, 8);
      for (uint32_t f = 0; f < flips; f++) bad[rng_below(&rs, (uint32_t)len)] = (uint8_t)rng_next(&rs);
      (void)sig_of(bad, len, &s);
    }
    free(bad);
    ims_err err;
    CHECK(sim_sig_from_jpeg(jpg, len, 1000, 0, &s, &err) == IMS_E_LIMIT);
    if (prog) CHECK(sim_sig_from_jpeg(jpg, len, 0, 2, &s, &err) == IMS_E_LIMIT);
    else CHECK(sim_sig_from_jpeg(jpg, len, 0, 1, &s, &err) == IMS_OK);
    free(jpg);
  }
  const uint8_t junk[] = {0x89, 'P', 'N', 'G', 0, 0, 0, 0};
  sim_sig s;
  ims_err err;
  CHECK(sim_sig_from_jpeg(junk, sizeof junk, 0, 0, &s, &err) == IMS_E_CORRUPT);
  CHECK(sim_sig_from_jpeg(junk, 0, 0, 0, &s, &err) == IMS_E_CORRUPT);
  const uint8_t soi_only[] = {0xFF, 0xD8, 0xFF, 0xD9};
  CHECK(sim_sig_from_jpeg(soi_only, sizeof soi_only, 0, 0, &s, &err) == IMS_E_CORRUPT);
  CHECK(sim_sig_from_jpeg(NULL, 10, 0, 0, &s, &err) == IMS_E_ARG);
  /* grayscale and CMYK files */
  for (int k = 0; k < 2; k++) {
    size_t len;
    uint8_t *jpg = make_jpeg(rgb, w, h, 85, k ? JPEGGEN_CMYK : JPEGGEN_GRAY, 0, &len);
    CHECK(sig_of(jpg, len, &s) == IMS_OK);
    CHECK(s.geom.components == (k ? 4 : 1));
    free(jpg);
  }
  free(rgb);
}

int main(void) {
  const char *corpus = getenv("IMS_CORPUS");
  if (!corpus || !*corpus) corpus = "/work/shared/corpus";
  test_gray_edges();
  test_qualities();
  test_property();
  test_hostile();
  int ran = test_timelapse(corpus);
  ran += test_photos(corpus);
  if (!ran) printf("corpus parts skipped\n");
  return check_done("test_similar");
}
