/* Test helper: a jpg_image filled by libjpeg-turbo's jpeg_read_coefficients, for testing the
 * coefficient model (jcm_*) without our own parser. Coefficient arrays follow jpeg.h: zigzag
 * order inside a block, w_blocks x h_blocks padded to the MCU when n_comp > 1 (padding
 * blocks zero). side is always NULL; free with jcoef_free (not jpg_free). */
#ifndef IMS_TESTS_JPEGCOEF_H
#define IMS_TESTS_JPEGCOEF_H

#include <stddef.h>
#include <stdint.h>

#include "jpeg/jpeg.h"

/* 0 on success, -1 when libjpeg cannot read the data (message in why, if not NULL). */
int jcoef_read_mem(const uint8_t *data, size_t len, jpg_image **out, char *why, size_t why_cap);
/* Reads a whole file into a malloc'd buffer: 0 or -1. */
int jcoef_load_file(const char *path, uint8_t **data, size_t *len);

/* A zeroed image of the given geometry (n_comp <= 4); NULL when out of memory. */
jpg_image *jcoef_new(unsigned n_comp, const uint8_t *h, const uint8_t *v, const uint32_t *w_blocks,
                     const uint32_t *h_blocks);
/* Same geometry and quant tables as img, coefficients zero. */
jpg_image *jcoef_clone_empty(const jpg_image *img);
void jcoef_free(jpg_image *img);

/* 1 when every coefficient array of a and b is equal (same geometry assumed). */
int jcoef_equal(const jpg_image *a, const jpg_image *b);

/* Bytes of entropy-coded scan data (after each SOS header up to the next marker other than
 * RSTn, RST markers and stuffed zeros included). */
size_t jcoef_scan_bytes(const uint8_t *data, size_t len);

#endif
