/* The JPEG bitstream: a parsed image as quantised DCT coefficients plus everything else
 * needed to rebuild the original file byte for byte ("side information").
 *
 * Two layers use this struct:
 * - jpeg/ parser + re-encoder (jpg_decode / jpg_encode / jpg_side_*): own jpg_side.
 * - jpeg/ coefficient model (jcm_*): reads and fills comp[].coef only, using the geometry.
 *
 * Invariants of a jpg_image returned by jpg_decode or jpg_side_read:
 * - 1 <= n_comp <= 4; for each component 1 <= h, v <= 4; tq < 4; qt[tq] is defined.
 * - comp[c].w_blocks / h_blocks are the blocks actually coded for that component in an
 *   interleaved (MCU-padded) layout: w_blocks = ceil(ceil(width * h / hmax) / 8) rounded up
 *   to a multiple of h when n_comp > 1 (likewise for height), i.e. libjpeg's
 *   width_in_blocks padded to the MCU. Non-interleaved scans code only the
 *   ceil(width*h/hmax/8) x ceil(height*v/vmax/8) blocks; the rest stay as decoded (zeros
 *   for progressive-only padding blocks, whatever the file had for baseline).
 * - comp[c].coef has w_blocks * h_blocks * 64 int16 values, block-row-major; inside a block
 *   the 64 values are in ZIGZAG order (index 0 = DC, as in the bitstream), not natural order.
 * - qt[t] is in zigzag order too (as in DQT).
 */
#ifndef IMS_JPEG_JPEG_H
#define IMS_JPEG_JPEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct jpg_limits {
  uint64_t max_pixels; /* width * height */
  uint32_t max_scans;
  uint64_t max_bytes;  /* file size */
} jpg_limits;

typedef struct jpg_component {
  uint8_t id;       /* component identifier from SOF */
  uint8_t h, v;     /* sampling factors 1..4 */
  uint8_t tq;       /* quantisation table index 0..3 */
  uint32_t w_blocks, h_blocks; /* see the invariants above */
  int16_t *coef;    /* w_blocks * h_blocks * 64, zigzag order inside a block */
} jpg_component;

typedef struct jpg_side jpg_side; /* private to the parser / re-encoder */

typedef struct jpg_image {
  uint32_t width, height;
  uint8_t n_comp;
  uint8_t hmax, vmax;
  bool progressive;
  jpg_component comp[4];
  uint16_t qt[4][64];   /* zigzag order; tables not defined by the file are all zero */
  jpg_side *side;       /* everything else needed to rebuild the file exactly */
} jpg_image;

/* Parses data and Huffman-decodes every scan into coefficients.
 * IMS_E_UNSUPPORTED: arithmetic coding, 12-bit, lossless, hierarchical, > 4 components,
 * anything the re-encoder cannot reproduce. IMS_E_CORRUPT: malformed or truncated.
 * IMS_E_LIMIT: over a limit. The message in err says which. */
ims_status jpg_decode(const uint8_t *data, size_t len, const jpg_limits *lim, jpg_image **out, ims_err *err);

/* Rebuilds the file from img (coefficients + side). For an image from jpg_decode the
 * output is byte-identical to the input, or the caller must treat the file as
 * not reproducible (the codec compares and falls back). */
ims_status jpg_encode(const jpg_image *img, buf *out, ims_err *err);

/* Serialises everything but the coefficients (headers, tables, scan script, padding,
 * trailing bytes ...) into a compact byte string, and back. jpg_side_read returns an image
 * whose geometry, qt and side are set and whose coef arrays are allocated and zeroed. */
ims_status jpg_side_write(const jpg_image *img, buf *out, ims_err *err);
ims_status jpg_side_read(const uint8_t *data, size_t len, const jpg_limits *lim, jpg_image **out, ims_err *err);
/* The same with the coef arrays allocated but not zeroed, for a caller that writes every
 * block before anything reads them (jcm_decode does, even of corrupt data): zeroing them
 * was 1% of pack CPU, in the verifying decode. */
ims_status jpg_side_read_unset(const uint8_t *data, size_t len, const jpg_limits *lim, jpg_image **out,
                               ims_err *err);

void jpg_free(jpg_image *img);

/* ---- coefficient model (jcm_*): context-modelled binary arithmetic coding ---- */

/* Codes every coefficient of img into out. ref, when not NULL, is a similar image whose
 * coefficients serve as context when its geometry (components, sampling, blocks) is img's;
 * each row band of each component is coded against it only where that is shorter
 * (docs/JPEG_MODEL.md "Inter coding"), so ref is sometimes not used at all:
 * jcm_stream_is_inter tells. ref's quantisers may differ from img's. The output is
 * identical for any value of threads. */
ims_status jcm_encode(const jpg_image *img, const jpg_image *ref, unsigned threads, buf *out, ims_err *err);

/* Decodes the coefficients written by jcm_encode into img (whose geometry must be the one
 * encoded: jpg_side_read gives it). Corrupt input gives IMS_E_CORRUPT, never a wild read.
 * ref must be the image the stream was coded against (same coefficients) when
 * jcm_stream_is_inter, and NULL otherwise: a missing, unexpected or misshapen reference
 * gives IMS_E_CORRUPT; a different reference of the same shape decodes to wrong
 * coefficients or IMS_E_CORRUPT (callers check a hash of the result). */
ims_status jcm_decode(const uint8_t *data, size_t len, jpg_image *img, const jpg_image *ref, unsigned threads,
                      ims_err *err);

/* True when the jcm stream (data, len) was coded against a reference and needs it. */
bool jcm_stream_is_inter(const uint8_t *data, size_t len);

/* The same with up to JCM_MAX_REFS references of one image (noise, issue #4): refs[0] the
 * nearest (the reference of jcm_encode), refs[1] its own reference, and so on. Their mean
 * predicts each coefficient better than one noisy image. The encoder uses the leading
 * references whose geometry is img's; jcm_stream_refs tells how many the stream needs (0:
 * coded alone), and jcm_decode_refs must get exactly those, in the same order, or gives
 * IMS_E_CORRUPT. jcm_encode / jcm_decode are these with n_refs = (ref != NULL). */
#define JCM_MAX_REFS 4
ims_status jcm_encode_refs(const jpg_image *img, const jpg_image *const *refs, unsigned n_refs, unsigned threads,
                           buf *out, ims_err *err);
ims_status jcm_decode_refs(const uint8_t *data, size_t len, jpg_image *img, const jpg_image *const *refs,
                           unsigned n_refs, unsigned threads, ims_err *err);
unsigned jcm_stream_refs(const uint8_t *data, size_t len);

/* Context memory that calls of one writer or reader share: the initialised contexts that
 * every band starts from (made once, not per call) and a few context buffers kept for the
 * next band (each call's new megabytes of contexts cost page faults and initialisation:
 * 4% of pack CPU on corpus/timelapse). Thread-safe; the bytes coded never depend on it.
 * jcm_work_new returns NULL when out of memory (then pass NULL: each call allocates its
 * own); jcm_work_free accepts NULL and must not run while a call uses w. */
typedef struct jcm_work jcm_work;
jcm_work *jcm_work_new(void);
void jcm_work_free(jcm_work *w);
/* jcm_encode_refs / jcm_decode_refs with w (NULL: none). */
ims_status jcm_encode_refs_w(const jpg_image *img, const jpg_image *const *refs, unsigned n_refs, unsigned threads,
                             jcm_work *w, buf *out, ims_err *err);
ims_status jcm_decode_refs_w(const uint8_t *data, size_t len, jpg_image *img, const jpg_image *const *refs,
                             unsigned n_refs, unsigned threads, jcm_work *w, ims_err *err);

#endif
