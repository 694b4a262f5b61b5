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

/* A parsed image, owned or held from env->cache. */
typedef struct held_img {
  jpg_image *img;
  size_t slot;
  bool cached;
} held_img;

static void parsed_free(void *obj) { jpg_free(obj); }

static size_t parsed_bytes(const jpg_image *img, size_t file_len) {
  size_t n = sizeof *img + file_len; /* the side information is at most the file */
  for (unsigned c = 0; c < img->n_comp; c++) n += (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 128u;
  return n;
}

/* Parses (data, len), or takes the image another job parsed from the same bytes out of
 * env->cache. keep: offer a fresh parse to the cache (jpg_decode is a pure function of the
 * bytes, so a cached image is the one a parse would give). */
static ims_status parse_held(const codec_env *env, const uint8_t *data, size_t len, bool keep, held_img *h,
                             ims_err *err) {
  h->img = NULL;
  h->cached = false;
  ims_h128 key = {{0}};
  if (env->cache) {
    key = ims_hash128(data, len);
    void *obj;
    if (codec_cache_get(env->cache, CODEC_JPEG, &key, &obj, &h->slot)) {
      h->img = obj;
      h->cached = true;
      return IMS_OK;
    }
  }
  jpg_limits lim = limits_of(env, len);
  ims_status st = jpg_decode(data, len, &lim, &h->img, err);
  if (st) return st;
  if (keep && env->cache &&
      codec_cache_put(env->cache, CODEC_JPEG, &key, h->img, parsed_bytes(h->img, len), parsed_free, &h->slot))
    h->cached = true;
  return IMS_OK;
}

static void held_release(const codec_env *env, held_img *h) {
  if (h->cached)
    codec_cache_release(env->cache, h->slot);
  else
    jpg_free(h->img);
  h->img = NULL;
  h->cached = false;
}

static ims_status jpeg_encode(const codec_env *env, const uint8_t *src, size_t len, const uint8_t *ref,
                              size_t ref_len, buf *out, bool *used_ref, ims_err *err) {
  *used_ref = false;
  held_img img = {0}, rimg = {0};
  buf side, zside;
  buf_init(&side, SIZE_MAX);
  buf_init(&zside, SIZE_MAX);
  ims_status st = parse_held(env, src, len, env->keep_src, &img, err);
  if (st) goto done;
  /* A reference that does not parse is no error: this content is coded alone. The verifying
   * decode needs it again: keep it. */
  if (ref) {
    ims_err rerr;
    if (parse_held(env, ref, ref_len, true, &rimg, &rerr) != IMS_OK) rimg.img = NULL;
  }
  if ((st = jpg_side_write(img.img, &side, err)) != IMS_OK) goto done;
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
  if ((st = jcm_encode(img.img, rimg.img, env->threads, out, err)) != IMS_OK) goto done;
  if (jcm_stream_is_inter(out->p + model, out->len - model)) {
    out->p[start] = JPEG_CODEC_VERSION_INTER;
    *used_ref = true;
  }
done:
  if (rimg.img) held_release(env, &rimg);
  if (img.img) held_release(env, &img);
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
  jpg_image *img = NULL;
  held_img rimg = {0};
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
  if (ref && (st = parse_held(env, ref, ref_len, true, &rimg, err)) != IMS_OK) {
    if (st != IMS_E_NOMEM) st = ims_fail(err, IMS_E_CORRUPT, "jpeg: the reference does not parse");
    goto done;
  }
  if ((st = jcm_decode(r.p, rd_left(&r), img, rimg.img, env->threads, err)) != IMS_OK) goto done;
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
  if (rimg.img) held_release(env, &rimg);
  jpg_free(img);
  buf_free(&side);
  buf_free(&out);
  return st;
}

const codec codec_jpeg = {CODEC_JPEG, "jpeg", jpeg_encode, jpeg_decode};
