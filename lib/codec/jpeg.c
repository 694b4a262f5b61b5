/* The exact-mode JPEG codec: side information (headers, tables, scan script: zstd) plus
 * the coefficient model (jcm). Payload (FORMAT.md §5.2):
 *   u8 version, u32le side_len, side bytes (zstd frame), model bytes.
 * Version 1: the coefficients are coded alone; version 2: against the reference content
 * (a similar JPEG of the same geometry, issue #4), which decoding then needs; version 3:
 * like 2, but the side information is compressed with the reference's header bytes as a
 * zstd prefix (same EXIF, tables; issue #4), and the model stream says itself whether its
 * coefficients use the reference. */
#include <string.h>
#include <zstd.h>

#include "codec.h"
#include "common/mem.h"
#include "jpeg/jpeg.h"

#define JPEG_CODEC_VERSION 1
#define JPEG_CODEC_VERSION_INTER 2
#define JPEG_CODEC_VERSION_SIDE_REF 3
/* Side-information level (as before), the largest prefix taken from a reference, and
 * the least saving for which a content that does not predict its coefficients from its
 * reference still depends on it for the side information. */
#define JPEG_SIDE_LEVEL 19
#define JPEG_DICT_MAX ((size_t)1 << 20)
#define JPEG_SIDE_REF_MIN_GAIN 512u

/* The reference's bytes used as a zstd prefix for the side information (FORMAT.md §5.2):
 * from the start of the file to the end of its first SOS header (APPn, DQT, DHT, SOF ...),
 * found by walking the marker segments, at most JPEG_DICT_MAX bytes. A function of the
 * bytes alone (no parse, no side-information format): the walk stops at anything
 * unexpected and the prefix ends there. */
static size_t ref_prefix_len(const uint8_t *p, size_t n) {
  size_t i = 2;
  if (n < 2 || p[0] != 0xFF || p[1] != 0xD8) return 0;
  while (n - i >= 2 && p[i] == 0xFF) {
    uint8_t m = p[i + 1];
    if (m == 0xFF) { /* fill byte */
      i++;
      continue;
    }
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* markers without a length */
      i += 2;
      continue;
    }
    if (n - i < 4) break;
    size_t l = ((size_t)p[i + 2] << 8) | p[i + 3];
    if (l < 2 || l > n - i - 2) break;
    i += 2 + l;
    if (m == 0xDA) break;
  }
  return i < JPEG_DICT_MAX ? i : JPEG_DICT_MAX;
}

/* Compresses side into out (reset first) at JPEG_SIDE_LEVEL, with prefix (may be NULL). */
static ims_status side_compress(const buf *side, const uint8_t *prefix, size_t prefix_len, buf *out, ims_err *err) {
  out->len = 0;
  size_t bound = ZSTD_compressBound(side->len);
  ims_status st = buf_reserve(out, bound);
  if (st) return ims_fail(err, st, "jpeg: out of memory");
  ZSTD_CCtx *cc = ZSTD_createCCtx();
  if (!cc) return ims_fail(err, IMS_E_NOMEM, "jpeg: out of memory");
  size_t zn = ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, JPEG_SIDE_LEVEL);
  if (!ZSTD_isError(zn) && prefix) zn = ZSTD_CCtx_refPrefix(cc, prefix, prefix_len);
  if (!ZSTD_isError(zn)) zn = ZSTD_compress2(cc, out->p, bound, side->p, side->len);
  ZSTD_freeCCtx(cc);
  if (ZSTD_isError(zn) || zn > UINT32_MAX) return ims_fail(err, IMS_E_INTERNAL, "jpeg: side info compression failed");
  out->len = zn;
  return IMS_OK;
}

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

/* Parses the leading references of the chain that parse (a reference that does not parse
 * is no error: the chain is cut there and the content is coded against fewer, or alone).
 * The verifying decode and the contents that follow need them again: kept. */
static unsigned parse_chain(const codec_env *env, const codec_ref *refs, unsigned n_refs, held_img *h) {
  unsigned n = 0;
  if (n_refs > CODEC_MAX_REFS) n_refs = CODEC_MAX_REFS;
  for (; n < n_refs; n++) {
    ims_err rerr;
    if (!refs[n].p || parse_held(env, refs[n].p, refs[n].len, true, &h[n], &rerr) != IMS_OK) {
      h[n].img = NULL;
      break;
    }
  }
  return n;
}

static void release_chain(const codec_env *env, held_img *h, unsigned n) {
  for (unsigned k = 0; k < n; k++)
    if (h[k].img) held_release(env, &h[k]);
}

static ims_status jpeg_encode(const codec_env *env, const uint8_t *src, size_t len, const codec_ref *refs,
                              unsigned n_refs, buf *out, unsigned *used_refs, ims_err *err) {
  *used_refs = 0;
  held_img img = {0}, rimg[CODEC_MAX_REFS] = {{0}};
  unsigned n_parsed = 0;
  buf side, zside, zside_ref, model;
  buf_init(&side, SIZE_MAX);
  buf_init(&zside, SIZE_MAX);
  buf_init(&zside_ref, SIZE_MAX);
  buf_init(&model, SIZE_MAX);
  const uint8_t *ref = n_refs ? refs[0].p : NULL;
  size_t ref_len = n_refs ? refs[0].len : 0;
  ims_status st = parse_held(env, src, len, env->keep_src, &img, err);
  if (st) goto done;
  n_parsed = parse_chain(env, refs, n_refs, rimg);
  if ((st = jpg_side_write(img.img, &side, err)) != IMS_OK) goto done;
  if ((st = side_compress(&side, NULL, 0, &zside, err)) != IMS_OK) goto done;
  /* The model stream first: whether it uses the references decides the version. */
  const jpg_image *rp[CODEC_MAX_REFS];
  for (unsigned k = 0; k < n_parsed; k++) rp[k] = rimg[k].img;
  if ((st = jcm_encode_refs_w(img.img, rp, n_parsed, env->threads, env->jcm, &model, err)) != IMS_OK) goto done;
  unsigned coef_refs = jcm_stream_refs(model.p, model.len);
  bool inter = coef_refs > 0;
  uint8_t version = inter ? JPEG_CODEC_VERSION_INTER : JPEG_CODEC_VERSION;
  const buf *zs = &zside;
  if (ref) {
    size_t pl = ref_prefix_len(ref, ref_len);
    if ((st = side_compress(&side, ref, pl, &zside_ref, err)) != IMS_OK) goto done;
    if (inter ? zside_ref.len < zside.len : zside_ref.len + JPEG_SIDE_REF_MIN_GAIN <= zside.len) {
      version = JPEG_CODEC_VERSION_SIDE_REF;
      zs = &zside_ref;
    }
  }
  if ((st = buf_append_u8(out, version)) != IMS_OK || (st = buf_append_u32le(out, (uint32_t)zs->len)) != IMS_OK ||
      (st = buf_append(out, zs->p, zs->len)) != IMS_OK || (st = buf_append(out, model.p, model.len)) != IMS_OK) {
    st = ims_fail(err, st, "jpeg: %s", ims_strerror(st));
    goto done;
  }
  *used_refs = version == JPEG_CODEC_VERSION ? 0 : coef_refs > 1 ? coef_refs : 1;
done:
  release_chain(env, rimg, n_parsed);
  if (img.img) held_release(env, &img);
  buf_free(&side);
  buf_free(&zside);
  buf_free(&zside_ref);
  buf_free(&model);
  return st;
}

static ims_status jpeg_decode(const codec_env *env, const uint8_t *payload, size_t len, const codec_ref *refs,
                              unsigned n_refs, uint8_t *dst, size_t dst_len, ims_err *err) {
  rd r = rd_make(payload, len);
  uint8_t version;
  uint32_t zlen;
  const uint8_t *z;
  if (!rd_u8(&r, &version) || !rd_u32le(&r, &zlen) || !rd_bytes(&r, zlen, &z))
    return ims_fail(err, IMS_E_CORRUPT, "jpeg: truncated payload");
  if (version < JPEG_CODEC_VERSION || version > JPEG_CODEC_VERSION_SIDE_REF)
    return ims_fail(err, version > JPEG_CODEC_VERSION_SIDE_REF ? IMS_E_VERSION : IMS_E_CORRUPT,
                    "jpeg codec version %u", version);
  if ((version != JPEG_CODEC_VERSION) != (n_refs > 0))
    return ims_fail(err, IMS_E_CORRUPT, n_refs ? "jpeg: payload coded alone, given a reference"
                                               : "jpeg: payload coded against a reference, none given");
  if (n_refs > CODEC_MAX_REFS) n_refs = CODEC_MAX_REFS; /* the farther ones are never needed */
  const uint8_t *ref = n_refs ? refs[0].p : NULL;
  size_t ref_len = n_refs ? refs[0].len : 0;
  unsigned long long side_len = ZSTD_getFrameContentSize(z, zlen);
  if (side_len == ZSTD_CONTENTSIZE_ERROR || side_len == ZSTD_CONTENTSIZE_UNKNOWN || side_len > dst_len + 4096)
    return ims_fail(err, IMS_E_CORRUPT, "jpeg: bad side information");
  jpg_limits lim = limits_of(env, dst_len);
  jpg_image *img = NULL;
  held_img rimg[CODEC_MAX_REFS] = {{0}};
  unsigned n_held = 0;
  buf side, out;
  buf_init(&side, SIZE_MAX);
  /* The re-encoder may reserve ahead of what it writes: allow slack, check the length after. */
  buf_init(&out, dst_len > SIZE_MAX / 2 - 65536 ? SIZE_MAX : dst_len * 2 + 65536);
  ims_status st = buf_reserve(&side, (size_t)side_len);
  if (!st) st = buf_reserve(&out, dst_len); /* the rebuilt file is written once, not regrown */
  if (st) goto done;
  size_t n;
  if (version == JPEG_CODEC_VERSION_SIDE_REF) {
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    if (!dc) {
      st = ims_fail(err, IMS_E_NOMEM, "jpeg: out of memory");
      goto done;
    }
    n = ZSTD_DCtx_refPrefix(dc, ref, ref_prefix_len(ref, ref_len));
    if (!ZSTD_isError(n)) n = ZSTD_decompressDCtx(dc, side.p, (size_t)side_len, z, zlen);
    ZSTD_freeDCtx(dc);
  } else {
    n = ZSTD_decompress(side.p, (size_t)side_len, z, zlen);
  }
  if (ZSTD_isError(n) || n != side_len) {
    st = ims_fail(err, IMS_E_CORRUPT, "jpeg: side information does not decompress");
    goto done;
  }
  side.len = n;
  if ((st = jpg_side_read_unset(side.p, side.len, &lim, &img, err)) != IMS_OK) goto done;
  /* How many references the coefficients need (version 3: maybe none); the chain given
   * must hold them all. */
  unsigned coef_refs = version == JPEG_CODEC_VERSION ? 0 : jcm_stream_refs(r.p, rd_left(&r));
  if (version == JPEG_CODEC_VERSION_INTER && coef_refs == 0) {
    st = ims_fail(err, IMS_E_CORRUPT, "jpeg: inter payload whose stream needs no reference");
    goto done;
  }
  if (coef_refs > n_refs) {
    st = ims_fail(err, IMS_E_CORRUPT, "jpeg: payload needs %u references, the chain has %u", coef_refs, n_refs);
    goto done;
  }
  const jpg_image *rp[CODEC_MAX_REFS];
  for (; n_held < coef_refs; n_held++) {
    if ((st = parse_held(env, refs[n_held].p, refs[n_held].len, true, &rimg[n_held], err)) != IMS_OK) {
      rimg[n_held].img = NULL;
      if (st != IMS_E_NOMEM) st = ims_fail(err, IMS_E_CORRUPT, "jpeg: reference %u does not parse", n_held);
      goto done;
    }
    rp[n_held] = rimg[n_held].img;
  }
  if ((st = jcm_decode_refs_w(r.p, rd_left(&r), img, rp, coef_refs, env->threads, env->jcm, err)) != IMS_OK) goto done;
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
  /* A content that others are predicted from: the contents that follow would parse it
   * again from dst. The decoded image is that parse (its coefficients are those the
   * encoder parsed from these bytes, since they rebuild them exactly; its geometry and
   * quantisers come from the same headers, as the writer's verifying decode checked), so
   * it is offered to the cache under dst's hash. Only the reader asks for this: a cached
   * image serves the model's references, never jpg_side_write. */
  if (env->keep_decoded && env->cache) {
    ims_h128 key = ims_hash128(dst, dst_len);
    size_t slot;
    if (codec_cache_put(env->cache, CODEC_JPEG, &key, img, parsed_bytes(img, dst_len), parsed_free, &slot)) {
      codec_cache_release(env->cache, slot);
      img = NULL;
    }
  }
done:
  release_chain(env, rimg, n_held);
  jpg_free(img);
  buf_free(&side);
  buf_free(&out);
  return st;
}

const codec codec_jpeg = {CODEC_JPEG, "jpeg", jpeg_encode, jpeg_decode};
