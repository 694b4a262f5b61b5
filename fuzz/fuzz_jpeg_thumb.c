/* Fuzz target: the perceptual signature of a JPEG (similar/ via lib/image/jpeg_thumb.c:
 * the DC-only walk of lib/jpeg/dc_thumb.h, else libjpeg-turbo's 1/8-scale decode) on
 * arbitrary bytes: no crash, no leak, tight limits, the same signature twice, and where
 * both thumbnail paths succeed, the same picture. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/jpeg_thumb.h"
#include "jpeg/dc_thumb.h"
#include "similar/similar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sim_sig a, b;
  ims_err err;
  ims_status sa = sim_sig_from_jpeg(data, size, 1u << 22, 16, &a, &err);
  ims_status sb = sim_sig_from_jpeg(data, size, 1u << 22, 16, &b, &err);
  if (sa != sb || (sa == IMS_OK && memcmp(&a, &b, sizeof a) != 0)) abort();
  if (sa == IMS_OK && sim_distance(&a, &b) != 0) abort();

  uint8_t *pf = NULL, *pl = NULL;
  uint32_t fw = 0, fh = 0, lw = 0, lh = 0;
  jpg_dc_info gi;
  img_jpeg_geom gl;
  ims_status sf = jpg_dc_thumb(data, size, 1u << 22, 16, &pf, &fw, &fh, &gi);
  ims_status sl = img_jpeg_thumb_libjpeg(data, size, 1u << 22, 16, &pl, &lw, &lh, &gl, &err);
  if (sf == IMS_OK && sl == IMS_OK &&
      (fw != lw || fh != lh || memcmp(pf, pl, (size_t)fw * fh) != 0 || gi.width != gl.width ||
       gi.height != gl.height || gi.components != gl.components || gi.color_space != gl.color_space))
    abort();
  free(pf);
  free(pl);
  return 0;
}
