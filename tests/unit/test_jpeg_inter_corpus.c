/* Inter coding of JPEG coefficients on pairs of consecutive frames of
 * $IMS_CORPUS/timelapse (skipped without it): exact byte round trips through the JPEG
 * codec with the previous frame as reference, each pair smaller than the frame coded
 * alone. A few pairs only (spread over the set), so that it stays fast under ASan. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec/codec.h"
#include "jpegcoef.h"

static const codec_env env = {
    .zstd_level = 19, .threads = 1, .max_pixels = (uint64_t)1 << 28, .max_scans = 256, .max_bytes = (uint64_t)1 << 30};

int main(void) {
  const char *corpus = getenv("IMS_CORPUS");
  if (!corpus || !*corpus) test_skip("IMS_CORPUS is not set");
  static const int first[] = {1, 60, 120, 180, 240, 300};
  const codec *c = codec_by_id(CODEC_JPEG);
  size_t orig = 0, inter = 0, alone = 0;
  buf pl;
  buf_init(&pl, SIZE_MAX);
  for (size_t k = 0; k < sizeof first / sizeof first[0]; k++) {
    char path[4096];
    uint8_t *ref, *cur;
    size_t rl, cl;
    snprintf(path, sizeof path, "%s/timelapse/%05d.jpg", corpus, first[k]);
    if (jcoef_load_file(path, &ref, &rl) != 0) test_skip("corpus/timelapse is missing");
    snprintf(path, sizeof path, "%s/timelapse/%05d.jpg", corpus, first[k] + 1);
    REQUIRE(jcoef_load_file(path, &cur, &cl) == 0);
    ims_err err;
    bool used = false;
    pl.len = 0;
    REQUIRE(codec_encode1(c, &env, cur, cl, ref, rl, &pl, &used, &err) == IMS_OK);
    CHECK(used);
    uint8_t *back = malloc(cl);
    REQUIRE(back);
    CHECK(codec_decode1(c, &env, pl.p, pl.len, ref, rl, back, cl, &err) == IMS_OK && memcmp(back, cur, cl) == 0);
    size_t with_ref = pl.len;
    pl.len = 0;
    REQUIRE(codec_encode1(c, &env, cur, cl, NULL, 0, &pl, &used, &err) == IMS_OK);
    CHECK(with_ref < pl.len);
    printf("timelapse %05d against %05d: %zu -> %zu bytes (alone %zu)\n", first[k] + 1, first[k], cl, with_ref,
           pl.len);
    orig += cl;
    inter += with_ref;
    alone += pl.len;
    free(back);
    free(ref);
    free(cur);
  }
  printf("timelapse pairs: %zu -> %zu bytes (%.4f), alone %zu (%.4f)\n", orig, inter, (double)inter / (double)orig,
         alone, (double)alone / (double)orig);
  buf_free(&pl);
  return check_done("test_jpeg_inter_corpus");
}
