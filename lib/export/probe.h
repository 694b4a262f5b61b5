/* Bounded readers for the few header fields video export needs before decoding: JPEG SOF
 * geometry, PNG IHDR, and EXIF DateTimeOriginal. Every input byte is hostile: all reads go
 * through the rd cursor (common/mem.h), every offset is checked, nothing recurses.
 */
#ifndef IMS_EXPORT_PROBE_H
#define IMS_EXPORT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgstash.h"

typedef enum exp_kind { EXP_KIND_OTHER = 0, EXP_KIND_JPEG = 1, EXP_KIND_PNG = 2 } exp_kind;

/* What the headers say about one image. Invariant after IMS_OK: width, height >= 1. */
typedef struct exp_probe {
  exp_kind kind;
  uint32_t width, height;
  uint8_t depth;       /* bits per sample (JPEG precision, PNG bit depth) */
  uint8_t n_comp;      /* JPEG components; PNG colour type */
  uint8_t samp[4];     /* JPEG: (h << 4 | v) per component; zero for PNG */
  bool progressive;    /* JPEG SOF2 and friends */
  const uint8_t *exif; /* JPEG: TIFF bytes of the first APP1 "Exif\0\0" segment (points into
                          the probed buffer), or NULL */
  size_t exif_len;
} exp_probe;

/* The file type from its first bytes: JPEG starts FF D8 FF, PNG with its 8-byte signature. */
exp_kind exp_sniff(const uint8_t *p, size_t len);

/* Reads the headers of a JPEG or PNG file, or of a prefix of one. IMS_OK when the geometry
 * was found; IMS_E_NOTFOUND when the prefix ends before it (read more and retry);
 * IMS_E_CORRUPT when the headers are malformed; IMS_E_UNSUPPORTED for a file that is
 * neither JPEG nor PNG. */
ims_status exp_probe_image(const uint8_t *p, size_t len, exp_probe *out);

/* Finds EXIF DateTimeOriginal (tag 0x9003 in the Exif IFD) in TIFF-structured EXIF bytes
 * (what follows "Exif\0\0" in APP1). On success writes "YYYY:MM:DD HH:MM:SS" and a NUL
 * to out and returns true; false when absent, malformed, or all zero. */
bool exp_exif_datetime(const uint8_t *tiff, size_t len, char out[20]);

#endif
