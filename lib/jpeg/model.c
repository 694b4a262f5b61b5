/* The JPEG coefficient model's stream layer: jcm_encode / jcm_decode (contract in jpeg.h).
 *
 * Stream (all integers little-endian; docs/JPEG_MODEL.md):
 *   u8      JCM_VERSION
 *   u8      n_comp
 *   n_comp x (u32 w_blocks, u32 h_blocks,     must match the image's geometry
 *             u32 rows_per_band)              from the geometry only (band_plan)
 *   u32     n_jobs                            sum over components of their band counts
 *   n_jobs x u32 job_bytes
 *   the jobs' arithmetic-coded streams, in order
 * Job order: component 0's bands top to bottom, then component 1's, ... A band of
 * component c is block rows [b * rows_per_band, (b + 1) * rows_per_band) clipped to
 * h_blocks, coded with freshly initialised contexts: components never shared contexts,
 * so cutting by component costs nothing, and only large components are cut into row
 * bands (each cut costs the contexts' learning again). Threads take the jobs largest
 * first (plan.order); the bytes never depend on that order or on the thread count.
 */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "common/pool.h"
#include "jpeg/model.h"

/* Bands hold about a quarter of the image's blocks, at least JCM_MIN_BAND_BLOCKS (each
 * band pays for learning its contexts) and at most JCM_BAND_BLOCKS; a component gets
 * ceil(blocks / that) bands, at most JCM_MAX_BANDS. Photos of 2 Mpixels and more give 4-8
 * jobs of similar size (two threads: 1.7-2x), smaller images 1 job per component. */
#define JCM_BAND_BLOCKS 65536u
#define JCM_MIN_BAND_BLOCKS 16384u
#define JCM_MAX_BANDS 8u
#define JCM_MAX_JOBS (4u * JCM_MAX_BANDS)
/* A job's stream may not exceed this (the u32 length field). */
#define JCM_MAX_JOB_BYTES 0xFFFFFFFFu

typedef struct job_plan {
  uint32_t rows_per_band[4];
  uint32_t n_jobs;
  uint8_t comp[JCM_MAX_JOBS];
  uint32_t row0[JCM_MAX_JOBS], row1[JCM_MAX_JOBS];
  uint8_t order[JCM_MAX_JOBS]; /* jobs by decreasing block count: the order threads take them */
} job_plan;

static ims_status check_geometry(const jpg_image *img, ims_err *err) {
  if (!img || img->n_comp < 1 || img->n_comp > 4) return ims_fail(err, IMS_E_ARG, "jcm: bad component count");
  for (unsigned c = 0; c < img->n_comp; c++) {
    const jpg_component *k = &img->comp[c];
    size_t n;
    if (!ims_mul_size(k->w_blocks, k->h_blocks, &n) || !ims_mul_size(n, 64 * sizeof(int16_t), &n))
      return ims_fail(err, IMS_E_LIMIT, "jcm: component %u: too many blocks", c);
    if (n && !k->coef) return ims_fail(err, IMS_E_ARG, "jcm: component %u: no coefficient array", c);
  }
  return IMS_OK;
}

static void make_plan(const jpg_image *img, job_plan *p) {
  uint64_t total = 0;
  for (unsigned c = 0; c < img->n_comp; c++) total += (uint64_t)img->comp[c].w_blocks * img->comp[c].h_blocks;
  uint64_t target = (total + 3) / 4;
  if (target < JCM_MIN_BAND_BLOCKS) target = JCM_MIN_BAND_BLOCKS;
  if (target > JCM_BAND_BLOCKS) target = JCM_BAND_BLOCKS;
  p->n_jobs = 0;
  for (unsigned c = 0; c < img->n_comp; c++) {
    uint64_t h = img->comp[c].h_blocks;
    uint64_t nb = ((uint64_t)img->comp[c].w_blocks * h + target - 1) / target;
    if (nb > JCM_MAX_BANDS) nb = JCM_MAX_BANDS;
    if (nb > h) nb = h;
    if (nb < 1) nb = 1;
    uint64_t per = h ? (h + nb - 1) / nb : 1;
    p->rows_per_band[c] = (uint32_t)per; /* <= h_blocks or 1 */
    uint64_t r = 0;
    do {
      uint64_t z = r + per < h ? r + per : h;
      p->comp[p->n_jobs] = (uint8_t)c;
      p->row0[p->n_jobs] = (uint32_t)r;
      p->row1[p->n_jobs] = (uint32_t)z;
      p->n_jobs++;
      r = z;
    } while (r < h);
  }
  /* Largest first, so that two threads finish together (LPT scheduling); ties keep the
   * stream order. Only the execution order: the bytes do not depend on it. */
  uint64_t size[JCM_MAX_JOBS];
  for (uint32_t j = 0; j < p->n_jobs; j++) {
    size[j] = (uint64_t)(p->row1[j] - p->row0[j]) * img->comp[p->comp[j]].w_blocks;
    p->order[j] = (uint8_t)j;
  }
  for (uint32_t i = 1; i < p->n_jobs; i++) {
    uint8_t o = p->order[i];
    uint32_t k = i;
    for (; k > 0 && size[p->order[k - 1]] < size[o]; k--) p->order[k] = p->order[k - 1];
    p->order[k] = o;
  }
}

/* ---------------------------------------------------------------- encoder */

typedef struct enc_job {
  const jpg_image *img;
  job_plan plan;
  ac_enc bands[JCM_MAX_JOBS]; /* one encoder per job, its bytes the result */
  ims_status st[JCM_MAX_JOBS];
} enc_job;

static void encode_band(void *ctx, size_t k) {
  enc_job *j = ctx;
  size_t b = j->plan.order[k];
  ac_enc *e = &j->bands[b];
  jcm_ctx *m = malloc(sizeof *m);
  if (!m) {
    j->st[b] = IMS_E_NOMEM;
    return;
  }
  jcm_ctx_init(m);
  ims_status st = jcm_encode_rows(j->img, j->plan.comp[b], j->plan.row0[b], j->plan.row1[b], m, e);
  free(m);
  if (!st) st = ac_enc_finish(e);
  j->st[b] = st;
}

ims_status jcm_encode(const jpg_image *img, const jpg_image *ref, unsigned threads, buf *out, ims_err *err) {
  (void)ref; /* issue #4: the reference image's coefficients join the contexts */
  ims_status st = check_geometry(img, err);
  if (st) return st;
  enc_job *jp = malloc(sizeof *jp);
  if (!jp) return ims_fail(err, IMS_E_NOMEM, "jcm: out of memory");
  enc_job *const j = jp;
  j->img = img;
  make_plan(img, &j->plan);
  for (uint32_t b = 0; b < j->plan.n_jobs; b++) {
    ac_enc_init(&j->bands[b], JCM_MAX_JOB_BYTES);
    j->st[b] = IMS_OK;
  }
  if (threads == 0) threads = pool_cores();
  st = pool_run(threads, j->plan.n_jobs, encode_band, j);
  if (st) {
    st = ims_fail(err, st, "jcm: cannot start threads");
    goto done;
  }
  for (uint32_t b = 0; b < j->plan.n_jobs; b++) {
    if (j->st[b]) {
      st = ims_fail(err, j->st[b], "jcm: band %u: %s", b, ims_strerror(j->st[b]));
      goto done;
    }
  }
  st = buf_append_u8(out, JCM_VERSION);
  if (!st) st = buf_append_u8(out, img->n_comp);
  for (unsigned c = 0; c < img->n_comp && !st; c++) {
    st = buf_append_u32le(out, img->comp[c].w_blocks);
    if (!st) st = buf_append_u32le(out, img->comp[c].h_blocks);
    if (!st) st = buf_append_u32le(out, j->plan.rows_per_band[c]);
  }
  if (!st) st = buf_append_u32le(out, j->plan.n_jobs);
  for (uint32_t b = 0; b < j->plan.n_jobs && !st; b++) st = buf_append_u32le(out, (uint32_t)j->bands[b].len);
  for (uint32_t b = 0; b < j->plan.n_jobs && !st; b++) st = buf_append(out, j->bands[b].out, j->bands[b].len);
  if (st) st = ims_fail(err, st, "jcm: output: %s", ims_strerror(st));
done:
  for (uint32_t b = 0; b < j->plan.n_jobs; b++) ac_enc_free(&j->bands[b]);
  free(jp);
  return st;
}

/* ---------------------------------------------------------------- decoder */

typedef struct dec_job {
  jpg_image *img;
  job_plan plan;
  const uint8_t *data[JCM_MAX_JOBS];
  size_t len[JCM_MAX_JOBS];
  ims_status st[JCM_MAX_JOBS];
} dec_job;

static void decode_band(void *ctx, size_t k) {
  dec_job *j = ctx;
  size_t b = j->plan.order[k];
  jcm_ctx *m = malloc(sizeof *m);
  if (!m) {
    j->st[b] = IMS_E_NOMEM;
    return;
  }
  ac_dec d;
  ac_dec_init(&d, j->data[b], j->len[b]);
  bool bad = false;
  jcm_ctx_init(m);
  ims_status st = jcm_decode_rows(j->img, j->plan.comp[b], j->plan.row0[b], j->plan.row1[b], m, &d, &bad);
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
  dec_job *jp = malloc(sizeof *jp);
  if (!jp) return ims_fail(err, IMS_E_NOMEM, "jcm: out of memory");
  dec_job *const j = jp;
  j->img = img;
  make_plan(img, &j->plan);
  for (unsigned c = 0; c < nc; c++) {
    uint32_t w, h, rpb;
    if (!rd_u32le(&r, &w) || !rd_u32le(&r, &h) || !rd_u32le(&r, &rpb)) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
      goto done;
    }
    if (w != img->comp[c].w_blocks || h != img->comp[c].h_blocks || rpb != j->plan.rows_per_band[c]) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: component %u: geometry or bands differ from the image's", c);
      goto done;
    }
  }
  uint32_t nb;
  if (!rd_u32le(&r, &nb)) {
    st = ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
    goto done;
  }
  if (nb != j->plan.n_jobs) {
    st = ims_fail(err, IMS_E_CORRUPT, "jcm: band count differs from the image's");
    goto done;
  }
  for (uint32_t b = 0; b < nb; b++) {
    uint32_t n;
    if (!rd_u32le(&r, &n)) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: stream truncated");
      goto done;
    }
    j->len[b] = n;
  }
  for (uint32_t b = 0; b < nb; b++) {
    if (!rd_bytes(&r, j->len[b], &j->data[b])) {
      st = ims_fail(err, IMS_E_CORRUPT, "jcm: band %u: truncated", b);
      goto done;
    }
  }
  if (rd_left(&r)) {
    st = ims_fail(err, IMS_E_CORRUPT, "jcm: %zu stray bytes after the last band", rd_left(&r));
    goto done;
  }
  if (threads == 0) threads = pool_cores();
  st = pool_run(threads, nb, decode_band, j);
  if (st) {
    st = ims_fail(err, st, "jcm: cannot start threads");
    goto done;
  }
  for (uint32_t b = 0; b < nb; b++) {
    if (j->st[b]) {
      st = j->st[b] == IMS_E_CORRUPT ? ims_fail(err, IMS_E_CORRUPT, "jcm: band %u: corrupt data", b)
                                     : ims_fail(err, j->st[b], "jcm: band %u: %s", b, ims_strerror(j->st[b]));
      goto done;
    }
  }
done:
  free(jp);
  return st;
}
