/* The luma DC thumbnail of a JPEG read straight from its Huffman data (huff_decode.c): one
 * pixel per 8x8 block of the first component, clamp(((DC * q0 + 4) >> 3) + 128), which is
 * exactly what libjpeg-turbo's 1/8-scale decode to gray gives for the files accepted here.
 * Only the scans that carry the first component's DC are walked: a sequential file's
 * first scan with that component (AC symbols skipped, not stored), a progressive file's DC
 * scans up to the one that completes the DC of the first component. The later scans'
 * data is skipped by a marker search, their headers checked (a scan that codes the first
 * component again hands the file to libjpeg).
 *
 * Accepted: 8-bit Huffman-coded baseline/extended/progressive files, one component, or
 * three in YCbCr (libjpeg's colour-space guess: JFIF, Adobe transform, component ids)
 * whose first component has the largest sampling factors. Anything else, and anything
 * odd on the way (bad codes, data that runs out, a missing restart marker, a repeated
 * component id), gives a non-OK status and the caller uses libjpeg (jpeg_thumb.c).
 * Unlike libjpeg, damage inside the data of the scans skipped goes unnoticed, and the
 * data may end anywhere after the scans walked.
 *
 * Hostile input: the header walker (parse.c) checks every length, count and limit; the
 * entropy data is unstuffed into a padded buffer and checked after every MCU, so nothing
 * is read outside data[0..len). Thread-safe: no shared state. */
#ifndef IMS_JPEG_DC_THUMB_H
#define IMS_JPEG_DC_THUMB_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct jpg_dc_info {
  uint32_t width, height; /* pixels */
  uint8_t components;     /* 1 or 3 */
  uint8_t color_space;    /* libjpeg's J_COLOR_SPACE: 1 gray, 3 YCbCr */
  uint8_t progressive;
  uint8_t h_samp[4], v_samp[4]; /* 0 after `components` */
} jpg_dc_info;

/* On IMS_OK, *px is a malloc'd ceil(width/8) x ceil(height/8) gray picture (*w x *h, rows
 * packed) the caller frees, and *info is filled. max_pixels / max_scans as for
 * img_jpeg_thumb (0: 2^28 / 256). Any other status (IMS_E_UNSUPPORTED for a file this
 * path does not take, IMS_E_CORRUPT, IMS_E_LIMIT, IMS_E_NOMEM) leaves the outputs alone;
 * no message is kept: the caller falls back to libjpeg, which gives its own. */
ims_status jpg_dc_thumb(const uint8_t *data, size_t len, uint64_t max_pixels, uint32_t max_scans, uint8_t **px,
                        uint32_t *w, uint32_t *h, jpg_dc_info *info);

#endif
