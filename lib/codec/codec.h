/* The codec interface (docs/DESIGN.md "codec/"). A codec turns the bytes of one content,
 * optionally given the bytes of a similar reference content, into a payload, and back.
 * It never touches files. Encoders return IMS_E_UNSUPPORTED / IMS_E_CORRUPT / IMS_E_LIMIT
 * to mean "this content is not for me": the caller falls back to a safer codec. Every
 * payload is decoded back and compared by the caller before it is written. */
#ifndef IMS_CODEC_CODEC_H
#define IMS_CODEC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Codec ids as stored in the archive (FORMAT.md §5). Never reuse a value. */
enum { CODEC_RAW = 0, CODEC_ZSTD = 1, CODEC_JPEG = 2, CODEC_COUNT = 3 };

typedef struct codec_env {
  int zstd_level;
  unsigned threads; /* threads a codec may use inside one content */
  uint64_t max_pixels;
  uint32_t max_scans;
  uint64_t max_bytes;
} codec_env;

typedef struct codec {
  uint8_t id;
  const char *name;
  /* *used_ref is set to true when the payload needs the reference to decode (a codec may
   * ignore a reference that does not help; the index then records none). */
  ims_status (*encode)(const codec_env *env, const uint8_t *src, size_t len, const uint8_t *ref, size_t ref_len,
                       buf *out, bool *used_ref, ims_err *err);
  /* dst_len is the exact original length (from the index). */
  ims_status (*decode)(const codec_env *env, const uint8_t *payload, size_t len, const uint8_t *ref, size_t ref_len,
                       uint8_t *dst, size_t dst_len, ims_err *err);
} codec;

/* NULL for an unknown id. */
const codec *codec_by_id(uint8_t id);
const char *codec_name(uint8_t id);

#endif
