/* The JPEG coefficient model's stream layer: jcm_encode / jcm_decode (contract in jpeg.h).
 *
 * Stream (all integers little-endian; docs/JPEG_MODEL.md):
 *   u8      JCM_VERSION
 *   u8      n_comp
 *   n_comp x (u32 w_blocks, u32 h_blocks)     must match the image's geometry
 *   u32     units_per_band                    MCU rows per band (from the geometry only)
 *   u32     n_bands
 *   n_bands x u32 band_bytes
 *   the bands' arithmetic-coded streams, in order
 * Band b holds, for each component c in turn, the block rows
 * [b * units_per_band * vdiv(c), (b + 1) * units_per_band * vdiv(c)) clipped to h_blocks,
 * where vdiv(c) is the component's vertical sampling factor in an interleaved image, else 1.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/pool.h"
#include "jpeg/model.h"

/* A band covers at least about this many blocks, and there are at most JCM_MAX_BANDS:
 * fewer bands learn better, more bands give threads work. */
#define JCM_BAND_BLOCKS 16384u
#define JCM_MAX_BANDS 8u
/* A band stream may not exceed this (the u32 length field). */
#define JCM_MAX_BAND_BYTES 0xFFFFFFFFu

typedef struct band_plan {
  uint32_t units_per_band;
  uint32_t n_bands;
} band_plan;

static uint32_t vdiv(const jpg_image *img, unsigned c) { return img->n_comp > 1 ? img->comp[c].v : 1u; }

static ims_status check_geometry(const jpg_image *img, ims_err *err) {
  if (!img || img->n_comp < 1 || img->n_comp > 4) return ims_fail(err, IMS_E_ARG, "jcm: bad component count");
  for (unsigned c = 0; c < img->n_comp; c++) {
    const jpg_component *k = &img->comp[c];
    size_t n;
    if (k->v < 1 || k->v > 4 || k->h < 1 || k->h > 4)
      return ims_fail(err, IMS_E_ARG, "jcm: component %u: bad sampling factors", c);
    if (!ims_mul_size(k->w_blocks, k->h_blocks, &n) || !ims_mul_size(n, 64 * sizeof(int16_t), &n))
      return ims_fail(err, IMS_E_LIMIT, "jcm: component %u: too many blocks", c);
    if (n && !k->coef) return ims_fail(err, IMS_E_ARG, "jcm: component %u: no coefficient array", c);
  }
  return IMS_OK;
}

static band_plan make_plan(const jpg_image *img) {
  uint64_t n_units = 0, total = 0;
  for (unsigned c = 0; c < img->n_comp; c++) {
    uint32_t vd = vdiv(img, c);
    uint64_t u = ((uint64_t)img->comp[c].h_blocks + vd - 1) / vd;
    if (u > n_units) n_units = u;
    total += (uint64_t)img->comp[c].w_blocks * img->comp[c].h_blocks;
  }
  uint64_t nb = total / JCM_BAND_BLOCKS;
  if (nb > JCM_MAX_BANDS) nb = JCM_MAX_BANDS;
  if (nb > n_units) nb = n_units;
  if (nb < 1) nb = 1;
  uint64_t upb = n_units ? (n_units + nb - 1) / nb : 1;
  band_plan p;
  p.units_per_band = (uint32_t)upb; /* <= h_blocks, a uint32 */
  p.n_bands = n_units ? (uint32_t)((n_units + upb - 1) / upb) : 1u;
  return p;
}

static void band_rows(const jpg_image *img, const band_plan *p, uint32_t b, unsigned c, uint32_t *r0,
                      uint32_t *r1) {
  uint64_t per = (uint64_t)p->units_per_band * vdiv(img, c);
  uint64_t h = img->comp[c].h_blocks;
  uint64_t a = (uint64_t)b * per, z = a + per;
  *r0 = (uint32_t)(a < h ? a : h);
  *r1 = (uint32_t)(z < h ? z : h);
}

/* ---------------------------------------------------------------- encoder */

typedef struct enc_job {
  const jpg_image *img;
  band_plan plan;
  ac_enc *bands;     /* n_bands encoders, their bytes the result */
  ims_status *st;    /* per band */
} enc_job;

static void encode_band(void *ctx, size_t b) {
  enc_job *j = ctx;
  ac_enc *e = &j->bands[b];
  ac_enc_init(e, JCM_MAX_BAND_BYTES);
  jcm_ctx *m = malloc(sizeof *m);
  if (!m) {
    j->st[b] = IMS_E_NOMEM;
    return;
  }
  ims_status st = IMS_OK;
  for (unsigned c = 0; c < j->img->n_comp && !st; c++) {
    uint32_t r0, r1;
    band_rows(j->img, &j->plan, (uint32_t)b, c, &r0, &r1);
    jcm_ctx_init(m);
    st = jcm_encode_rows(j->img, c, r0, r1, m, e);
  }
  free(m);
  if (!st) st = ac_enc_finish(e);
  j->st[b] = st;
}

ims_status jcm_encode(const jpg_image *img, const jpg_image *ref, unsigned threads, buf *out, ims_err *err) {
  (void)ref; /* issue #4: the reference image's coefficients join the contexts */
  ims_status st = check_geometry(img, err);
  if (st) return st;
  enc_job j;
  j.img = img;
  j.plan = make_plan(img);
  j.bands = calloc(j.plan.n_bands, sizeof *j.bands);
  j.st = calloc(j.plan.n_bands, sizeof *j.st);
  if (!j.bands || !j.st) {
    st = ims_fail(err, IMS_E_NOMEM, "jcm: out of memory");
    goto done;
  }
  if (threads == 0) threads = pool_cores();
  st = pool_run(threads, j.plan.n_bands, encode_band, &j);
  if (st) {
    st = ims_fail(err, st, "jcm: cannot start threads");
    goto done;
  }
  for (uint32_t b = 0; b < j.plan.n_bands; b++) {
    if (j.st[b]) {
      st = ims_fail(err, j.st[b], "jcm: band %u: %s", b, ims_strerror(j.st[b]));
      goto done;
    }
  }
  st = buf_append_u8(out, JCM_VERSION);
  if (!st) st = buf_append_u8(out, img->n_comp);
  for (unsigned c = 0; c < img->n_comp && !st; c++) {
    st = buf_append_u32le(out, img->comp[c].w_blocks);
    if (!st) st = buf_append_u32le(out, img->comp[c].h_blocks);
  }
  if (!st) st = buf_append_u32le(out, j.plan.units_per_band);
  if (!st) st = buf_append_u32le(out, j.plan.n_bands);
  for (uint32_t b = 0; b < j.plan.n_bands && !st; b++) st = buf_append_u32le(out, (uint32_t)j.bands[b].len);
  for (uint32_t b = 0; b < j.plan.n_bands && !st; b++) st = buf_append(out, j.bands[b].out, j.bands[b].len);
  if (st) st = ims_fail(err, st, "jcm: output: %s", ims_strerror(st));
done:
  if (j.bands)
    for (uint32_t b = 0; b < j.plan.n_bands; b++) ac_enc_free(&j.bands[b]);
  free(j.bands);
  free(j.st);
  return st;
}

/* ---------------------------------------------------------------- decoder */

typedef struct dec_job {
  jpg_image *img;
  band_plan plan;
  const uint8_t **data; /* per band */
  size_t *len;
  ims_status *st;
} dec_job;

static void decode_band(void *ctx, size_t b) {
  dec_job *j = ctx;
  jcm_ctx *m = malloc(sizeof *m);
  if (!m) {
    j->st[b] = IMS_E_NOMEM;
    return;
  }
  ac_dec d;
  ac_dec_init(&d, j->data[b], j->len[b]);
  bool bad = false;
  ims_status st = IMS_OK;
  for (unsigned c = 0; c < j->img->n_comp && !st; c++) {
    uint32_t r0, r1;
    band_rows(j->img, &j->plan, (uint32_t)b, c, &r0, &r1);
    jcm_ctx_init(m);
    st = jcm_decode_rows(j->img, c, r0, r1, m, &d, &bad);
  }
  free(m);
  if (!st && (bad || !ac_dec_ok(&d))) st = IMS_E_CORRUPT;
  j->st[b] = st;
}

ims_status jcm_decode(const uint8_t *data, size_t len, jpg_image *img, const jpg_image *ref, unsigned threads,
                      ims_err *err) {
  (void)ref;
  ims_status st = check_geometry(img, err);
  if (st) return st;
  if (!data && len) return ims_fail(err, IMS_E_ARG, "jcm: no data");
  rd r = rd_make(data, len);
  uint8_t ver, nc;
  if (!rd_u8(&r, &ver) || !rd_u8(&r, &nc)) return ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
  if (ver != JCM_VERSION)
    return ims_fail(err, ver > JCM_VERSION ? IMS_E_VERSION : IMS_E_CORRUPT, "jcm: unknown stream version %u", ver);
  if (nc != img->n_comp) return ims_fail(err, IMS_E_CORRUPT, "jcm: component count differs from the image");
  for (unsigned c = 0; c < nc; c++) {
    uint32_t w, h;
    if (!rd_u32le(&r, &w) || !rd_u32le(&r, &h)) return ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
    if (w != img->comp[c].w_blocks || h != img->comp[c].h_blocks)
      return ims_fail(err, IMS_E_CORRUPT, "jcm: component %u: geometry differs from the image", c);
  }
  dec_job j;
  j.img = img;
  j.plan = make_plan(img);
  uint32_t upb, nb;
  if (!rd_u32le(&r, &upb) || !rd_u32le(&r, &nb)) return ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
  if (upb != j.plan.units_per_band || nb != j.plan.n_bands)
    return ims_fail(err, IMS_E_CORRUPT, "jcm: band layout differs from the image's");
  j.data = calloc(nb, sizeof *j.data);
  j.len = calloc(nb, sizeof *j.len);
  j.st = calloc(nb, sizeof *j.st);
  if (!j.data || !j.len || !j.st) {
    st = ims_fail(err, IMS_E_NOMEM, "jcm: out of memory");
    goto done;
  }
  for (uint32_t b = 0; b < nb; b++) {
    uint32_t n;
    if (!rd_u32le(&r, &n)) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
      goto done;
    }
    j.len[b] = n;
  }
  for (uint32_t b = 0; b < nb; b++) {
    if (!rd_bytes(&r, j.len[b], &j.data[b])) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: band %u: truncated", b);
      goto done;
    }
  }
  if (rd_left(&r)) {
    st = ims_fail(err, IMS_E_CORRUPT, "jcm: %zu stray bytes after the last band", rd_left(&r));
    goto done;
  }
  if (threads == 0) threads = pool_cores();
  st = pool_run(threads, nb, decode_band, &j);
  if (st) {
    st = ims_fail(err, st, "jcm: cannot start threads");
    goto done;
  }
  for (uint32_t b = 0; b < nb; b++) {
    if (j.st[b]) {
      st = j.st[b] == IMS_E_CORRUPT ? ims_fail(err, IMS_E_CORRUPT, "jcm: band %u: corrupt data", b)
                                    : ims_fail(err, j.st[b], "jcm: band %u: %s", b, ims_strerror(j.st[b]));
      goto done;
    }
  }
done:
  free(j.data);
  free(j.len);
  free(j.st);
  return st;
}
