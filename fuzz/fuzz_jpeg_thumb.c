/* Fuzz target: the perceptual signature of a JPEG (similar/ via the 1/8-scale libjpeg-turbo
 * decode in lib/image/jpeg_thumb.c) on arbitrary bytes: no crash, no leak, tight limits,
 * and the same signature twice. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "similar/similar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sim_sig a, b;
  ims_err err;
  ims_status sa = sim_sig_from_jpeg(data, size, 1u << 22, 16, &a, &err);
  ims_status sb = sim_sig_from_jpeg(data, size, 1u << 22, 16, &b, &err);
  if (sa != sb || (sa == IMS_OK && memcmp(&a, &b, sizeof a) != 0)) abort();
  if (sa == IMS_OK && sim_distance(&a, &b) != 0) abort();
  return 0;
}
