/* A cheap gray thumbnail of a JPEG: the JPEG's own 1/8-scale picture, one pixel per 8x8
 * luma block (its DC coefficient), with no IDCT, upsampling or chroma.
 *
 * Two paths give the same pixels. Most files take lib/jpeg/dc_thumb.h: a walk of the
 * Huffman data that keeps the luma DC and skips every AC symbol without storing it, and
 * for progressive files reads the DC scans only. The rest (CMYK, RGB, arithmetic coding,
 * 12-bit, luma not at the largest sampling, anything odd or damaged on the way) go
 * through libjpeg-turbo's 1/8-scale decode, which entropy-decodes every scan. So a file
 * damaged only after the scans the walk needs (a progressive file cut after its DC scans)
 * gets a thumbnail where libjpeg alone would have refused it.
 *
 * Hostile input: limits on pixels and progressive scans are enforced (libjpeg-turbo's
 * TJPARAM_MAXPIXELS / TJPARAM_SCANLIMIT), libjpeg never prints (its message hooks are
 * replaced), and its longjmp never leaves jpeg_thumb.c. Thread-safe: no shared state. */
#ifndef IMS_IMAGE_JPEG_THUMB_H
#define IMS_IMAGE_JPEG_THUMB_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* What the frame header says; enough to tell whether two JPEGs have the same coefficient
 * layout. Invariant: 1 <= components <= 4, sampling factors 1..4 for the first
 * `components` entries and 0 after. */
typedef struct img_jpeg_geom {
  uint32_t width, height;  /* pixels, 1..65535 */
  uint8_t components;      /* 1..4 */
  uint8_t color_space;     /* libjpeg J_COLOR_SPACE of the file (1 gray, 2 RGB, 3 YCbCr, 4 CMYK, 5 YCCK) */
  uint8_t progressive;     /* 1 for progressive (SOF2) files */
  uint8_t h_samp[4], v_samp[4];
} img_jpeg_geom;

/* Decodes data[0..len) at 1/8 scale to 8-bit gray. On success *px is a malloc'd buffer of
 * *w * *h bytes (rows packed, stride *w) that the caller frees, and *geom is filled. Gray
 * is the luma channel for YCbCr/gray/RGB files and the mean of the channels otherwise.
 * max_pixels (0: 2^28) caps width*height, max_scans (0: 256) caps progressive scans.
 * Errors (libjpeg's verdict; the DC walk never fails a file, it hands it over):
 * IMS_E_CORRUPT (not a JPEG, truncated, corrupt entropy data), IMS_E_LIMIT,
 * IMS_E_UNSUPPORTED (12-bit, lossless, more than 4 components), IMS_E_NOMEM, IMS_E_ARG;
 * err gets libjpeg's message. Outputs are untouched on failure. */
ims_status img_jpeg_thumb(const uint8_t *data, size_t len, uint64_t max_pixels, uint32_t max_scans,
                          uint8_t **px, uint32_t *w, uint32_t *h, img_jpeg_geom *geom, ims_err *err);

/* img_jpeg_thumb always through libjpeg-turbo (tests compare the two paths). */
ims_status img_jpeg_thumb_libjpeg(const uint8_t *data, size_t len, uint64_t max_pixels, uint32_t max_scans,
                                  uint8_t **px, uint32_t *w, uint32_t *h, img_jpeg_geom *geom, ims_err *err);

#endif
