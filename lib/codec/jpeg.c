/* The exact-mode JPEG codec: side information (headers, tables, scan script: zstd) plus
 * the coefficient model (jcm). Payload (FORMAT.md §5.2):
 *   u8 version, u32le side_len, side bytes (zstd frame), model bytes.
 * Version 1: the coefficients are coded alone; version 2: against the reference content
 * (a similar JPEG of the same geometry, issue #4), which decoding then needs. */
#include <string.h>
#include <zstd.h>

#include "codec.h"
#include "common/mem.h"
#include "jpeg/jpeg.h"

#define JPEG_CODEC_VERSION 1
#define JPEG_CODEC_VERSION_INTER 2

/* Limits for a JPEG file of file_len bytes. Besides the configured caps, the pixel count
 * is bounded by the file size (JPEG_MAX_PX_PER_BYTE), so a tiny hostile file cannot make us
 * allocate and decode a huge image; a legitimate file past it falls back to zstd. */
#define JPEG_MAX_PX_PER_BYTE 16384u
#define JPEG_MIN_PX_CAP ((uint64_t)1 << 24)
static jpg_limits limits_of(const codec_env *env, size_t file_len) {
  uint64_t cap = (uint64_t)file_len > (UINT64_MAX - JPEG_MIN_PX_CAP) / JPEG_MAX_PX_PER_BYTE
                     ? UINT64_MAX
                     : (uint64_t)file_len * JPEG_MAX_PX_PER_BYTE + JPEG_MIN_PX_CAP;
  jpg_limits l = {env->max_pixels < cap ? env->max_pixels : cap, env->max_scans, env->max_bytes};
  return l;
}

static ims_status jpeg_encode(const codec_env *env, const uint8_t *src, size_t len, const uint8_t *ref,
                              size_t ref_len, buf *out, bool *used_ref, ims_err *err) {
  *used_ref = false;
  jpg_limits lim = limits_of(env, len);
  jpg_image *img = NULL, *rimg = NULL;
  buf side, zside;
  buf_init(&side, SIZE_MAX);
  buf_init(&zside, SIZE_MAX);
  ims_status st = jpg_decode(src, len, &lim, &img, err);
  if (st) goto done;
  /* A reference that does not parse is no error: this content is coded alone. */
  if (ref) {
    ims_err rerr;
    jpg_limits rlim = limits_of(env, ref_len);
    if (jpg_decode(ref, ref_len, &rlim, &rimg, &rerr) != IMS_OK) rimg = NULL;
  }
  if ((st = jpg_side_write(img, &side, err)) != IMS_OK) goto done;
  size_t bound = ZSTD_compressBound(side.len);
  if ((st = buf_reserve(&zside, bound)) != IMS_OK) goto done;
  size_t zn = ZSTD_compress(zside.p, bound, side.p, side.len, 19);
  if (ZSTD_isError(zn) || zn > UINT32_MAX) {
    st = ims_fail(err, IMS_E_INTERNAL, "jpeg: side info compression failed");
    goto done;
  }
  size_t start = out->len;
  if ((st = buf_append_u8(out, JPEG_CODEC_VERSION)) != IMS_OK) goto done;
  if ((st = buf_append_u32le(out, (uint32_t)zn)) != IMS_OK) goto done;
  if ((st = buf_append(out, zside.p, zn)) != IMS_OK) goto done;
  size_t model = out->len;
  if ((st = jcm_encode(img, rimg, env->threads, out, err)) != IMS_OK) goto done;
  if (jcm_stream_is_inter(out->p + model, out->len - model)) {
    out->p[start] = JPEG_CODEC_VERSION_INTER;
    *used_ref = true;
  }
done:
  jpg_free(rimg);
  jpg_free(img);
  buf_free(&side);
  buf_free(&zside);
  return st;
}

static ims_status jpeg_decode(const codec_env *env, const uint8_t *payload, size_t len, const uint8_t *ref,
                              size_t ref_len, uint8_t *dst, size_t dst_len, ims_err *err) {
  rd r = rd_make(payload, len);
  uint8_t version;
  uint32_t zlen;
  const uint8_t *z;
  if (!rd_u8(&r, &version) || !rd_u32le(&r, &zlen) || !rd_bytes(&r, zlen, &z))
    return ims_fail(err, IMS_E_CORRUPT, "jpeg: truncated payload");
  if (version != JPEG_CODEC_VERSION && version != JPEG_CODEC_VERSION_INTER)
    return ims_fail(err, version > JPEG_CODEC_VERSION_INTER ? IMS_E_VERSION : IMS_E_CORRUPT, "jpeg codec version %u",
                    version);
  if ((version == JPEG_CODEC_VERSION_INTER) != (ref != NULL))
    return ims_fail(err, IMS_E_CORRUPT, ref ? "jpeg: payload coded alone, given a reference"
                                            : "jpeg: payload coded against a reference, none given");
  unsigned long long side_len = ZSTD_getFrameContentSize(z, zlen);
  if (side_len == ZSTD_CONTENTSIZE_ERROR || side_len == ZSTD_CONTENTSIZE_UNKNOWN || side_len > dst_len + 4096)
    return ims_fail(err, IMS_E_CORRUPT, "jpeg: bad side information");
  jpg_limits lim = limits_of(env, dst_len);
  jpg_image *img = NULL, *rimg = NULL;
  buf side, out;
  buf_init(&side, SIZE_MAX);
  /* The re-encoder may reserve ahead of what it writes: allow slack, check the length after. */
  buf_init(&out, dst_len > SIZE_MAX / 2 - 65536 ? SIZE_MAX : dst_len * 2 + 65536);
  ims_status st = buf_reserve(&side, (size_t)side_len);
  if (st) goto done;
  size_t n = ZSTD_decompress(side.p, (size_t)side_len, z, zlen);
  if (ZSTD_isError(n) || n != side_len) {
    st = ims_fail(err, IMS_E_CORRUPT, "jpeg: side information does not decompress");
    goto done;
  }
  side.len = n;
  if ((st = jpg_side_read(side.p, side.len, &lim, &img, err)) != IMS_OK) goto done;
  jpg_limits rlim = limits_of(env, ref_len);
  if (ref && (st = jpg_decode(ref, ref_len, &rlim, &rimg, err)) != IMS_OK) {
    if (st != IMS_E_NOMEM) st = ims_fail(err, IMS_E_CORRUPT, "jpeg: the reference does not parse");
    goto done;
  }
  if ((st = jcm_decode(r.p, rd_left(&r), img, rimg, env->threads, err)) != IMS_OK) goto done;
  if ((st = jpg_encode(img, &out, err)) != IMS_OK) {
    /* The output buffer's ceiling is far above the recorded size: hitting it means the
     * stream does not describe this file. */
    if (st == IMS_E_LIMIT) st = ims_fail(err, IMS_E_CORRUPT, "jpeg: rebuilt file far too long");
    goto done;
  }
  if (out.len != dst_len) {
    st = ims_fail(err, IMS_E_CORRUPT, "jpeg: rebuilt %zu bytes, expected %zu", out.len, dst_len);
    goto done;
  }
  memcpy(dst, out.p, dst_len);
done:
  jpg_free(rimg);
  jpg_free(img);
  buf_free(&side);
  buf_free(&out);
  return st;
}

const codec codec_jpeg = {CODEC_JPEG, "jpeg", jpeg_encode, jpeg_decode};
