/* image/jpeg_thumb: the DC-only thumbnail (lib/jpeg/huff_decode.c jpg_dc_thumb) must give
 * exactly libjpeg-turbo's 1/8-scale gray picture: on random generated files (every
 * subsampling, progressive, restart intervals, odd sizes), on corrupted copies of them
 * (where both paths succeed), on hand-made files with odd Huffman tables (long DC codes,
 * short ZRL, runs past 63, restarts) and their truncated copies, and on the corpus
 * folders present. Also how often the fast path is taken: always for the
 * baseline/progressive YCbCr and gray files made here. */
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

/* ---- hand-made baseline gray files: tables that libjpeg's encoder never writes ---- */

/* A canonical Huffman table (T.81 C): symbol i gets length len[i]; code[] is indexed by
 * symbol value. */
typedef struct htab {
  uint8_t bits[17], vals[256];
  unsigned n;
  uint16_t code[256];
  uint8_t clen[256];
} htab;

static void htab_make(htab *t, const uint8_t *syms, const uint8_t *lens, unsigned n) {
  memset(t, 0, sizeof *t);
  t->n = n;
  unsigned k = 0, code = 0;
  for (unsigned l = 1; l <= 16; l++) {
    for (unsigned i = 0; i < n; i++) {
      if (lens[i] != l) continue;
      t->bits[l]++;
      t->vals[k++] = syms[i];
      t->code[syms[i]] = (uint16_t)code++;
      t->clen[syms[i]] = (uint8_t)l;
    }
    code <<= 1;
  }
}

typedef struct bw {
  uint8_t *buf;
  size_t len, cap;
  uint32_t acc;
  unsigned nacc;
} bw;

static void bw_byte(bw *w, uint8_t b) {
  if (w->len == w->cap) {
    w->cap = w->cap ? 2 * w->cap : 4096;
    w->buf = realloc(w->buf, w->cap);
    REQUIRE(w->buf);
  }
  w->buf[w->len++] = b;
}

/* Entropy-coded bits, with 0xFF stuffing. */
static void bw_bits(bw *w, uint32_t v, unsigned n) {
  for (unsigned i = n; i-- > 0;) {
    w->acc = w->acc << 1 | ((v >> i) & 1u);
    if (++w->nacc == 8) {
      bw_byte(w, (uint8_t)w->acc);
      if ((uint8_t)w->acc == 0xFF) bw_byte(w, 0x00);
      w->acc = 0;
      w->nacc = 0;
    }
  }
}

static void bw_flush(bw *w) { /* pad with ones */
  while (w->nacc) bw_bits(w, 1, 1);
}

static void bw_dht(bw *w, unsigned tc_th, const htab *t) {
  unsigned l = 2 + 1 + 16 + t->n;
  bw_byte(w, 0xFF);
  bw_byte(w, 0xC4);
  bw_byte(w, (uint8_t)(l >> 8));
  bw_byte(w, (uint8_t)l);
  bw_byte(w, (uint8_t)tc_th);
  for (unsigned i = 1; i <= 16; i++) bw_byte(w, t->bits[i]);
  for (unsigned i = 0; i < t->n; i++) bw_byte(w, t->vals[i]);
}

/* Magnitude category s and its value bits, as an encoder writes them. */
static void bw_value(bw *w, uint64_t *rs, unsigned s) {
  if (!s) return;
  uint32_t mag = (1u << (s - 1)) + (uint32_t)(rng_next(rs) % (1u << (s - 1))); /* 2^(s-1) .. 2^s - 1 */
  bw_bits(w, rng_next(rs) & 1 ? mag : mag ^ ((1u << s) - 1), s);
}

/* A w x h gray baseline file with DC codes up to 14 bits (so DC symbols that do not fit
 * the 12-bit start table, and codes past the 10-bit decoding table), 2-bit ZRL and 3-bit
 * (15,1) symbols (so that 12 bits can hold runs past 63), codes up to 16 bits, a (1,0)
 * symbol (ends a sequential block, as EOB), blocks that end at coefficient 63 or with a
 * run past it, optional restart intervals. */
static uint8_t *make_odd(uint64_t seed, size_t *len, char *desc, size_t desc_cap) {
  static const uint8_t dc_syms[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  static const uint8_t dc_lens[12] = {2, 2, 3, 3, 4, 5, 6, 7, 9, 11, 13, 14};
  static const uint8_t ac_syms[18] = {0xF0, 0xF1, 0x00, 0x01, 0x02, 0x11, 0x21, 0x03, 0x31,
                                      0x04, 0x05, 0x12, 0x41, 0x10, 0x06, 0x0A, 0x71, 0x29};
  static const uint8_t ac_lens[18] = {2, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 11, 12, 16};
  htab dc, ac;
  htab_make(&dc, dc_syms, dc_lens, 12);
  htab_make(&ac, ac_syms, ac_lens, 18);
  uint64_t rs = seed * 7919u + 1;
  uint32_t w = 1 + (uint32_t)(rng_next(&rs) % 160), h = 1 + (uint32_t)(rng_next(&rs) % 120);
  unsigned ri = rng_next(&rs) % 3 == 0 ? 1 + (unsigned)(rng_next(&rs) % 7) : 0;
  unsigned q0 = 1 + (unsigned)(rng_next(&rs) % 16);
  unsigned style = (unsigned)(rng_next(&rs) % 4); /* how busy the blocks are */
  (void)snprintf(desc, desc_cap, "odd tables seed %llu %ux%u ri %u style %u", (unsigned long long)seed, w, h, ri,
                 style);
  bw o = {0};
  static const uint8_t head[] = {0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00};
  for (size_t i = 0; i < sizeof head; i++) bw_byte(&o, head[i]);
  bw_byte(&o, (uint8_t)q0);
  for (unsigned i = 1; i < 64; i++) bw_byte(&o, 1);
  const uint8_t sof[] = {0xFF, 0xC0, 0x00, 0x0B, 8, (uint8_t)(h >> 8), (uint8_t)h, (uint8_t)(w >> 8), (uint8_t)w,
                         1, 1, 0x11, 0};
  for (size_t i = 0; i < sizeof sof; i++) bw_byte(&o, sof[i]);
  bw_dht(&o, 0x00, &dc);
  bw_dht(&o, 0x10, &ac);
  if (ri) {
    const uint8_t dri[] = {0xFF, 0xDD, 0x00, 0x04, (uint8_t)(ri >> 8), (uint8_t)ri};
    for (size_t i = 0; i < sizeof dri; i++) bw_byte(&o, dri[i]);
  }
  static const uint8_t sos[] = {0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 63, 0};
  for (size_t i = 0; i < sizeof sos; i++) bw_byte(&o, sos[i]);
  uint32_t n_blocks = ((w + 7) / 8) * ((h + 7) / 8);
  for (uint32_t bl = 0; bl < n_blocks; bl++) {
    if (ri && bl && bl % ri == 0) {
      bw_flush(&o);
      bw_byte(&o, 0xFF);
      bw_byte(&o, (uint8_t)(0xD0 + (bl / ri - 1) % 8));
    }
    /* DC: mostly small differences, sometimes up to size 11 */
    unsigned s = rng_next(&rs) % 4 ? (unsigned)(rng_next(&rs) % 4) : (unsigned)(rng_next(&rs) % 12);
    bw_bits(&o, dc.code[s], dc.clen[s]);
    bw_value(&o, &rs, s);
    unsigned k = 1;
    while (k < 64) {
      unsigned pick = (unsigned)(rng_next(&rs) % 100);
      unsigned stop = style == 0 ? 60 : style == 1 ? 25 : style == 2 ? 8 : 1;
      if (pick < stop) { /* end of block: EOB, or now and then (1,0) */
        unsigned sym = rng_next(&rs) % 8 ? 0x00 : 0x10;
        bw_bits(&o, ac.code[sym], ac.clen[sym]);
        break;
      }
      unsigned sym = ac_syms[rng_next(&rs) % 18];
      if (sym == 0x00 || sym == 0x10) continue;
      bw_bits(&o, ac.code[sym], ac.clen[sym]);
      bw_value(&o, &rs, sym & 15u);
      k += sym == 0xF0 ? 16u : (sym >> 4) + 1u; /* may end at 64 or past it, with no EOB */
    }
  }
  bw_flush(&o);
  bw_byte(&o, 0xFF);
  bw_byte(&o, 0xD9);
  *len = o.len;
  return o.buf;
}

static void test_odd_tables(void) {
  char desc[160];
  int n_fast = 0, n_files = 0, n_trunc_fast = 0;
  for (uint64_t seed = 1; seed <= 300; seed++) {
    size_t len = 0;
    uint8_t *jpg = make_odd(seed, &len, desc, sizeof desc);
    bool lib_ok;
    int fast = compare(jpg, len, true, &lib_ok, desc);
    if (!lib_ok || !fast) fprintf(stderr, "%s: libjpeg %s, fast path %s\n", desc, lib_ok ? "ok" : "failed",
                                  fast ? "taken" : "not taken");
    CHECK(lib_ok && fast);
    n_files++;
    n_fast += fast;
    /* truncated inside the entropy data, and with bytes flipped there */
    uint64_t rs = seed;
    for (int round = 0; round < 6; round++) {
      size_t cut = len / 2 + (size_t)(rng_next(&rs) % (len / 2));
      uint8_t *bad = malloc(len);
      REQUIRE(bad);
      memcpy(bad, jpg, len);
      if (round & 1) bad[len / 2 + (size_t)(rng_next(&rs) % (len / 2))] ^= (uint8_t)(1u << (rng_next(&rs) % 8));
      n_trunc_fast += compare(bad, round & 1 ? len : cut, false, &lib_ok, desc);
      free(bad);
    }
    free(jpg);
  }
  printf("odd tables: %d files, fast path %d; truncated/flipped copies: fast %d\n", n_files, n_fast, n_trunc_fast);
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
  test_odd_tables();
  int ran = test_folder(corpus, "photos") + test_folder(corpus, "timelapse");
  if (!ran) printf("corpus parts skipped\n");
  return check_done("test_jpeg_thumb");
}
