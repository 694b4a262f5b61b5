#include "codec.h"

#include <string.h>
#include <zstd.h>

static ims_status raw_encode(const codec_env *env, const uint8_t *src, size_t len, const codec_ref *refs,
                             unsigned n_refs, buf *out, unsigned *used_refs, ims_err *err) {
  (void)env, (void)refs, (void)n_refs;
  *used_refs = 0;
  ims_status st = buf_append(out, src, len);
  return st ? ims_fail(err, st, "raw: %s", ims_strerror(st)) : IMS_OK;
}

static ims_status raw_decode(const codec_env *env, const uint8_t *payload, size_t len, const codec_ref *refs,
                             unsigned n_refs, uint8_t *dst, size_t dst_len, ims_err *err) {
  (void)env, (void)refs, (void)n_refs;
  if (len != dst_len) return ims_fail(err, IMS_E_CORRUPT, "stored block has %zu bytes, expected %zu", len, dst_len);
  if (len) memcpy(dst, payload, len);
  return IMS_OK;
}

static ims_status zstd_encode(const codec_env *env, const uint8_t *src, size_t len, const codec_ref *refs,
                              unsigned n_refs, buf *out, unsigned *used_refs, ims_err *err) {
  (void)refs, (void)n_refs;
  *used_refs = 0;
  size_t bound = ZSTD_compressBound(len);
  ims_status st = buf_reserve(out, bound);
  if (st) return ims_fail(err, st, "zstd: %s", ims_strerror(st));
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  if (!cc) return ims_fail(err, IMS_E_NOMEM, "zstd: out of memory");
  (void)ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, env->zstd_level);
  (void)ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0); /* blocks carry their own checksum */
  (void)ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 1);
  size_t n = ZSTD_compress2(cc, out->p + out->len, bound, src, len);
  ZSTD_freeCCtx(cc);
  if (ZSTD_isError(n)) return ims_fail(err, IMS_E_INTERNAL, "zstd: %s", ZSTD_getErrorName(n));
  out->len += n;
  return IMS_OK;
}

static ims_status zstd_decode(const codec_env *env, const uint8_t *payload, size_t len, const codec_ref *refs,
                              unsigned n_refs, uint8_t *dst, size_t dst_len, ims_err *err) {
  (void)env, (void)refs, (void)n_refs;
  unsigned long long fcs = ZSTD_getFrameContentSize(payload, len);
  if (fcs != dst_len) return ims_fail(err, IMS_E_CORRUPT, "zstd frame has the wrong size");
  size_t n = ZSTD_decompress(dst, dst_len, payload, len);
  if (ZSTD_isError(n) || n != dst_len)
    return ims_fail(err, IMS_E_CORRUPT, "zstd: %s", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short output");
  return IMS_OK;
}

static const codec codec_raw = {CODEC_RAW, "raw", raw_encode, raw_decode};
static const codec codec_zstd = {CODEC_ZSTD, "zstd", zstd_encode, zstd_decode};
extern const codec codec_jpeg; /* jpeg.c */

const codec *codec_by_id(uint8_t id) {
  switch (id) {
  case CODEC_RAW: return &codec_raw;
  case CODEC_ZSTD: return &codec_zstd;
  case CODEC_JPEG: return &codec_jpeg;
  default: return NULL;
  }
}

const char *codec_name(uint8_t id) {
  const codec *c = codec_by_id(id);
  return c ? c->name : "unknown";
}

ims_status codec_encode1(const codec *c, const codec_env *env, const uint8_t *src, size_t len, const uint8_t *ref,
                         size_t ref_len, buf *out, bool *used, ims_err *err) {
  codec_ref r = {ref, ref_len};
  unsigned n = 0;
  ims_status st = c->encode(env, src, len, &r, ref ? 1u : 0u, out, &n, err);
  *used = n > 0;
  return st;
}

ims_status codec_decode1(const codec *c, const codec_env *env, const uint8_t *payload, size_t len,
                         const uint8_t *ref, size_t ref_len, uint8_t *dst, size_t dst_len, ims_err *err) {
  codec_ref r = {ref, ref_len};
  return c->decode(env, payload, len, &r, ref ? 1u : 0u, dst, dst_len, err);
}
