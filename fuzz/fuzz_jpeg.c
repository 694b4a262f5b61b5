/* libFuzzer target for the JPEG bitstream layer (lib/jpeg).
 *
 * A JPEG input is decoded with tight limits; when jpg_decode succeeds, the side information
 * goes through jpg_side_write / jpg_side_read and jpg_encode must rebuild the input byte for
 * byte (abort otherwise: a re-encoder bug, since jpg_decode promises exactness). Any other
 * input is also fed to jpg_side_read as side information (hostile-input parser) and, when
 * accepted, encoded with zero coefficients: no crash, no sanitizer report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jpeg/jpeg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const jpg_limits lim = {1u << 20, 64, 1u << 22};

static void side_only(const uint8_t *data, size_t size) {
  jpg_image *img = NULL;
  ims_err err;
  if (jpg_side_read(data, size, &lim, &img, &err) != IMS_OK) return;
  buf out;
  buf_init(&out, 1u << 24);
  (void)jpg_encode(img, &out, &err);
  buf_free(&out);
  jpg_free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  jpg_image *img = NULL, *img2 = NULL;
  ims_err err;
  buf side, out;
  if (jpg_decode(data, size, &lim, &img, &err) != IMS_OK) {
    side_only(data, size);
    return 0;
  }
  buf_init(&side, SIZE_MAX);
  buf_init(&out, SIZE_MAX);
  if (jpg_side_write(img, &side, &err) != IMS_OK) abort();
  if (jpg_side_read(side.p, side.len, &lim, &img2, &err) != IMS_OK) abort();
  for (unsigned c = 0; c < img->n_comp; c++) {
    if (img2->comp[c].w_blocks != img->comp[c].w_blocks || img2->comp[c].h_blocks != img->comp[c].h_blocks) abort();
    memcpy(img2->comp[c].coef, img->comp[c].coef, (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 128);
  }
  if (jpg_encode(img2, &out, &err) != IMS_OK) abort();
  if (out.len != size || memcmp(out.p, data, size) != 0) abort();
  buf_free(&side);
  buf_free(&out);
  jpg_free(img);
  jpg_free(img2);
  return 0;
}
