/* Test helper: deterministic JPEG files made in memory with libjpeg-turbo.
 *
 * Usage:
 *   jpeggen_params p;
 *   jpeggen_defaults(&p);              // 64x48 RGB 4:2:0 baseline, quality 75
 *   p.width = 640; p.progressive = 1;  // change what you need
 *   uint8_t *jpg; size_t len;
 *   if (jpeggen_make(&p, &jpg, &len) != 0) ...;  // free(jpg) afterwards
 *
 * The same params give the same bytes. Image content (jpeggen_fill_rgb) is gradients, noise
 * and shapes from a seed; `frame` moves the shapes a little and changes the noise, which
 * makes synthetic time-lapses. All functions are thread-safe (no globals). */
#ifndef IMS_TESTS_JPEGGEN_H
#define IMS_TESTS_JPEGGEN_H

#include <stddef.h>
#include <stdint.h>

typedef enum jpeggen_subsamp {
  JPEGGEN_444 = 0,
  JPEGGEN_422 = 1,
  JPEGGEN_420 = 2,
  JPEGGEN_440 = 3,
  JPEGGEN_411 = 4,
  JPEGGEN_GRAY = 5,
  JPEGGEN_CMYK = 6, /* 4 components, Adobe marker, no subsampling */
  JPEGGEN_SUBSAMP_COUNT = 7
} jpeggen_subsamp;

typedef struct jpeggen_params {
  uint32_t width, height;   /* 1..65535 */
  int quality;              /* 1..100 (libjpeg scale) */
  jpeggen_subsamp subsamp;
  int progressive;          /* jpeg_simple_progression */
  int optimize;             /* optimised Huffman tables (else the Annex K ones) */
  int arithmetic;           /* arithmetic coding (files our parser must refuse) */
  unsigned restart_mcus;    /* restart interval in MCUs, 0 = none */
  unsigned restart_rows;    /* restart interval in MCU rows (used when restart_mcus == 0) */
  int app1_exif;            /* add an APP1 "Exif" segment (about 1-3 KB of TIFF-like bytes) */
  int app2_icc;             /* add an APP2 "ICC_PROFILE" segment */
  int com;                  /* add a COM segment */
  size_t trailing_bytes;    /* bytes appended after EOI */
  uint64_t seed;            /* content and metadata */
  uint32_t frame;           /* time-lapse frame number */
  const uint8_t *rgb;       /* optional: width*height*3 RGB pixels used instead of generated ones */
} jpeggen_params;

/* 64x48, quality 75, 4:2:0, baseline, standard tables, no restart, no extra segments. */
void jpeggen_defaults(jpeggen_params *p);

/* Picks every option from seed: size up to max_w x max_h (odd sizes, 1x1 included), quality
 * 30..100, any subsampling but CMYK, baseline or progressive, standard or optimised tables,
 * sometimes restart intervals, EXIF/ICC/COM segments and trailing bytes; never arithmetic. */
void jpeggen_random(uint64_t seed, uint32_t max_w, uint32_t max_h, jpeggen_params *p);

/* Fills rgb (w*h*3 bytes) with gradients + noise + shapes from seed; frame moves shapes. */
void jpeggen_fill_rgb(uint64_t seed, uint32_t frame, uint32_t w, uint32_t h, uint8_t *rgb);

/* Compresses. 0 on success (*out is malloc'd, free it), -1 on a bad parameter or a libjpeg
 * error, -2 when out of memory. */
int jpeggen_make(const jpeggen_params *p, uint8_t **out, size_t *len);

/* A short text like "123x45 q80 420 prog opt rst4 exif icc tail7" for test messages. */
const char *jpeggen_describe(const jpeggen_params *p, char *buf, size_t cap);

/* ---- checks of our JPEG layer (lib/jpeg) used by several tests ---- */

/* jpg_decode -> jpg_side_write -> jpg_side_read -> copy coefficients -> jpg_encode, then
 * compares with the input. Returns the jpg_decode status (as int) when decoding fails
 * (nothing else checked), 0 when the rebuilt bytes are identical, -1 otherwise (why says
 * what differed). *side_len (may be NULL) gets the serialised side-information size. */
int jpeggen_roundtrip(const uint8_t *data, size_t len, size_t *side_len, char *why, size_t why_cap);

/* Compares jpg_decode's coefficients with libjpeg-turbo's jpeg_read_coefficients (blocks
 * libjpeg reports only). 0 equal, 1 libjpeg cannot read the file, -1 different or our
 * decoder failed (why says which). */
int jpeggen_compare_libjpeg(const uint8_t *data, size_t len, char *why, size_t why_cap);

#endif
