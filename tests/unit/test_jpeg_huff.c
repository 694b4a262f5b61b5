/* The Huffman layer's edges (lib/jpeg/huff_encode.c, huff_decode.c):
 * - jpg_encode into an output reserved for the file's size rebuilds it exactly without
 *   regrowing the buffer (the last MCUs go through the scratch area), for every scan kind;
 * - coefficients the tables cannot code (a value without a magnitude category, a symbol
 *   without a code, values past the 2048-entry value table) give IMS_E_CORRUPT or, when
 *   codable, a file that decodes back to the same coefficients; never a wild write;
 * - random coefficients in every scan kind: jpg_encode either fails cleanly or writes a
 *   file whose decoding gives those coefficients again (sequential scans). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jpeggen.h"
#include "jpeg/jpeg.h"

static const jpg_limits lim = {(uint64_t)1 << 26, 1000, (uint64_t)1 << 28};

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static uint8_t *make(const jpeggen_params *p, size_t *len) {
  uint8_t *jpg = NULL;
  REQUIRE(jpeggen_make(p, &jpg, len) == 0);
  return jpg;
}

/* Rebuild into a buffer reserved once for the original size: same bytes, same capacity. */
static void exact_no_regrow(const jpeggen_params *p) {
  size_t len;
  uint8_t *jpg = make(p, &len);
  jpg_image *img = NULL;
  ims_err err;
  REQUIRE(jpg_decode(jpg, len, &lim, &img, &err) == IMS_OK);
  buf out;
  buf_init(&out, len * 2 + 65536);
  REQUIRE(buf_reserve(&out, len) == IMS_OK);
  size_t cap = out.cap;
  CHECK(jpg_encode(img, &out, &err) == IMS_OK);
  CHECK(out.len == len && memcmp(out.p, jpg, len) == 0);
  if (out.cap != cap) {
    char desc[160];
    fprintf(stderr, "%s: output regrown from %zu to %zu bytes for %zu\n", jpeggen_describe(p, desc, sizeof desc), cap,
            out.cap, len);
  }
  CHECK(out.cap == cap);
  buf_free(&out);
  jpg_free(img);
  free(jpg);
}

/* Encodes img (coefficients changed by the caller): IMS_OK with a file that decodes to the
 * same coefficients, or IMS_E_CORRUPT. Returns the status. */
static ims_status encode_check(const jpg_image *img) {
  buf out;
  ims_err err;
  buf_init(&out, (size_t)1 << 28);
  ims_status st = jpg_encode(img, &out, &err);
  CHECK(st == IMS_OK || st == IMS_E_CORRUPT);
  if (st == IMS_OK && !img->progressive) {
    jpg_image *back = NULL;
    ims_status st2 = jpg_decode(out.p, out.len, &lim, &back, &err);
    CHECK(st2 == IMS_OK);
    if (st2 == IMS_OK) {
      for (unsigned c = 0; c < img->n_comp; c++) {
        size_t n = (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 64;
        CHECK(memcmp(back->comp[c].coef, img->comp[c].coef, n * sizeof(int16_t)) == 0);
      }
    }
    jpg_free(back);
  }
  buf_free(&out);
  return st;
}

static void hostile_coefficients(int progressive, int optimize, uint64_t seed) {
  jpeggen_params p;
  jpeggen_defaults(&p);
  p.width = 40;
  p.height = 24;
  p.progressive = progressive;
  p.optimize = optimize;
  p.quality = 90;
  p.seed = seed;
  size_t len;
  uint8_t *jpg = make(&p, &len);
  jpg_image *img = NULL;
  ims_err err;
  REQUIRE(jpg_decode(jpg, len, &lim, &img, &err) == IMS_OK);
  int16_t *y = img->comp[0].coef;
  size_t ny = (size_t)img->comp[0].w_blocks * img->comp[0].h_blocks * 64;
  int16_t *keep = malloc(ny * sizeof *keep);
  REQUIRE(keep);
  memcpy(keep, y, ny * sizeof *keep);

  /* An AC value without a magnitude category. */
  y[64 + 5] = INT16_MIN;
  CHECK(encode_check(img) == IMS_E_CORRUPT);
  memcpy(y, keep, ny * sizeof *keep);
  /* A DC difference of -32768 (no category either). */
  y[0] = 16384;
  y[64] = -16384;
  CHECK(encode_check(img) == IMS_E_CORRUPT);
  memcpy(y, keep, ny * sizeof *keep);
  /* Values past the value table: size 12-15 symbols are in no table libjpeg writes. */
  y[64 + 3] = 3000;
  y[64 + 63] = -20000;
  CHECK(encode_check(img) == IMS_E_CORRUPT);
  memcpy(y, keep, ny * sizeof *keep);
  /* A long zero run up to the last coefficient (ZRLs, no EOB): codable with the Annex K
   * tables, which hold every symbol. */
  memset(y + 64 + 1, 0, 62 * sizeof *y);
  y[64 + 63] = 1;
  ims_status st = encode_check(img);
  if (!progressive && !optimize) CHECK(st == IMS_OK);
  memcpy(y, keep, ny * sizeof *keep);

  /* Random coefficients in every component: small ones (every round trip must succeed
   * with the Annex K tables), and in odd rounds also any 16-bit value. */
  uint64_t s = seed * 2654435761u + 1;
  for (int round = 0; round < 40; round++) {
    for (unsigned c = 0; c < img->n_comp; c++) {
      size_t n = (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 64;
      for (size_t i = 0; i < n; i++) {
        uint64_t r = rng(&s);
        int16_t v = 0;
        if (r % 4 == 0) v = (int16_t)((int)(r >> 8 & 7) - 3);
        else if ((round & 1) && r % 97 == 1) v = (int16_t)(uint16_t)(r >> 16);
        else if ((round & 1) && r % 31 == 2) v = (int16_t)((int)(r >> 8 & 2047) - 1024);
        img->comp[c].coef[i] = v;
      }
    }
    st = encode_check(img);
    if (!(round & 1) && !progressive && !optimize) CHECK(st == IMS_OK);
  }
  free(keep);
  jpg_free(img);
  free(jpg);
}

int main(void) {
  jpeggen_params p;
  for (int mode = 0; mode < 8; mode++) {
    jpeggen_defaults(&p);
    p.width = 300 + (uint32_t)mode * 37;
    p.height = 200 + (uint32_t)mode * 11;
    p.subsamp = (jpeggen_subsamp)(mode % JPEGGEN_SUBSAMP_COUNT);
    p.progressive = mode & 1;
    p.optimize = (mode >> 1) & 1;
    p.restart_mcus = mode >= 4 ? 3u + (unsigned)mode : 0;
    p.quality = 60 + mode * 5;
    p.seed = 500 + (uint64_t)mode;
    exact_no_regrow(&p);
  }
  for (int mode = 0; mode < 4; mode++) hostile_coefficients(mode & 1, mode >> 1, 9 + (uint64_t)mode);
  return check_done("test_jpeg_huff");
}
