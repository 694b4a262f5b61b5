/* tl_bound: how small can a frame of the synthetic time-lapse (tests/lib/timelapse_gen.c)
 * get? Issue #4 asks for at most 0.30 of the original JPEG bytes on it.
 *   tl_bound [-n realisations] [-f frame] [-m model_realisations]
 *
 * The generator knows the clean scene, so it can draw N independent noise realisations of
 * the same frame (same scene, same light drift) and JPEG each with the same settings.
 *
 * 1. Clean-scene bound: per coefficient (every position of every block), the empirical
 *    entropy of its quantised value across the N realisations. Their sum is what a coder
 *    that knew the noise-free scene exactly would pay on average. The plug-in estimate is
 *    biased low (printed with the Miller-Madow correction too, which is closer).
 * 2. Practical estimates for a coder with k previous noisy frames (k = 1, 2, 4; the same
 *    realisation's frames f-1 .. f-k) instead of the scene: the conditional entropy of a
 *    value given its position (component class, zigzag index) and the sum of the k
 *    references' values at the same place (same quantisers: fixed quality), pooled over
 *    the image. It knows nothing about the neighbourhood, so it is not a bound; it shows
 *    how much a second and a fourth reference can buy over the first one.
 * 3. The jcm model itself (jcm_encode_refs against frames f-1 .. f-k, k = 1, 2, 4) on the
 *    first M realisations: other noise than the frames the model was tuned on.
 *
 * Bytes are divided by the mean original JPEG size of frame f; "with headers" adds the
 * file's bytes outside the scan (as they are, uncompressed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jpegcoef.h"
#include "timelapse_gen.h"

enum { KMAX = 4, DB = 33, NBIN = 2 * DB + 2 }; /* d = value - predicted in [-DB, DB], + escape */

static int cmp16(const void *a, const void *b) {
  int x = *(const int16_t *)a, y = *(const int16_t *)b;
  return (x > y) - (x < y);
}

/* Entropy in bits of a histogram of total n. */
static double hist_bits(const uint32_t *h, size_t nb, double *mm_bits) {
  double n = 0, s = 0;
  unsigned used = 0;
  for (size_t i = 0; i < nb; i++) n += h[i];
  if (n == 0) {
    if (mm_bits) *mm_bits = 0;
    return 0;
  }
  for (size_t i = 0; i < nb; i++)
    if (h[i]) {
      s -= h[i] * log2(h[i] / n);
      used++;
    }
  if (mm_bits) *mm_bits = s + (used - 1) / (2.0 * log(2.0));
  return s;
}

/* Round u / k, halves away from zero. */
static int32_t round_div(int32_t u, int32_t k) { return u >= 0 ? (2 * u + k) / (2 * k) : -((-2 * u + k) / (2 * k)); }

/* Context of the references' sum u for k references: exact when |u| <= 4k, else its sign
 * and u mod k (where the mean sits between two steps). */
static unsigned u_ctx(int32_t u, int32_t k) {
  if (u >= -4 * k && u <= 4 * k) return (unsigned)(u + 4 * k);
  unsigned m = (unsigned)(((u % k) + k) % k);
  return (unsigned)(8 * k + 1) + (u < 0 ? (unsigned)k : 0u) + m;
}

static jpg_image *make(const tlgen_params *p, uint32_t frame, size_t *len, size_t *scan) {
  uint8_t *jpg;
  size_t l;
  if (tlgen_frame(p, frame, &jpg, &l) != 0) return NULL;
  jpg_image *img = NULL;
  char why[200];
  if (jcoef_read_mem(jpg, l, &img, why, sizeof why) != 0) img = NULL;
  if (len) *len = l;
  if (scan) *scan = jcoef_scan_bytes(jpg, l);
  free(jpg);
  return img;
}

int main(int argc, char **argv) {
  unsigned n_real = 64, model_real = 4;
  uint32_t frame = 7;
  int opt;
  while ((opt = getopt(argc, argv, "n:f:m:")) != -1) {
    if (opt == 'n')
      n_real = (unsigned)strtoul(optarg, NULL, 10);
    else if (opt == 'f')
      frame = (uint32_t)strtoul(optarg, NULL, 10);
    else if (opt == 'm')
      model_real = (unsigned)strtoul(optarg, NULL, 10);
    else {
      fprintf(stderr, "usage: tl_bound [-n realisations] [-f frame >= 4] [-m model_realisations]\n");
      return 2;
    }
  }
  if (n_real < 2 || frame < KMAX) {
    fprintf(stderr, "tl_bound: need -n >= 2 and -f >= %d\n", KMAX);
    return 2;
  }
  tlgen_params p;
  tlgen_defaults(&p);

  size_t n_coef = 0, orig = 0, hdr = 0, model_bytes[3] = {0}, model_orig = 0;
  int16_t *val = NULL; /* [coefficient][realisation] */
  uint8_t *cls = NULL; /* per coefficient: component class (0 luma, 1 chroma) */
  static uint32_t cond[3][2][64][10 * KMAX + 1][NBIN];
  static const int32_t ks[3] = {1, 2, 4};
  for (unsigned r = 0; r < n_real; r++) {
    p.noise_stream = r + 1;
    size_t len, scan;
    jpg_image *cur = make(&p, frame, &len, &scan);
    if (!cur) {
      fprintf(stderr, "tl_bound: cannot make frame %u\n", frame);
      return 1;
    }
    orig += len;
    hdr += len - scan;
    if (!val) {
      for (unsigned c = 0; c < cur->n_comp; c++) n_coef += (size_t)cur->comp[c].w_blocks * cur->comp[c].h_blocks * 64;
      val = malloc(n_coef * n_real * sizeof *val);
      cls = malloc(n_coef);
      if (!val || !cls) return 1;
      size_t i = 0;
      for (unsigned c = 0; c < cur->n_comp; c++)
        for (size_t j = 0; j < (size_t)cur->comp[c].w_blocks * cur->comp[c].h_blocks * 64; j++) cls[i++] = c > 0;
    }
    int32_t *sum = calloc(n_coef, sizeof *sum);
    if (!sum) return 1;
    {
      size_t i = 0;
      for (unsigned c = 0; c < cur->n_comp; c++) {
        size_t nc = (size_t)cur->comp[c].w_blocks * cur->comp[c].h_blocks * 64;
        for (size_t j = 0; j < nc; j++) val[(i + j) * n_real + r] = cur->comp[c].coef[j];
        i += nc;
      }
    }
    unsigned ki = 0;
    jpg_image *refs[KMAX];
    for (int32_t j = 1; j <= KMAX; j++) {
      jpg_image *ref = make(&p, frame - (uint32_t)j, NULL, NULL);
      if (!ref || memcmp(ref->qt, cur->qt, sizeof cur->qt) != 0) {
        fprintf(stderr, "tl_bound: reference frame failed or has other quantisers\n");
        return 1;
      }
      refs[j - 1] = ref;
      if (r < model_real && j == ks[ki]) {
        buf m;
        buf_init(&m, SIZE_MAX);
        ims_err err;
        if (jcm_encode_refs(cur, (const jpg_image *const *)refs, (unsigned)j, 1, &m, &err) != IMS_OK) return 1;
        model_bytes[ki] += m.len;
        if (j == 1) model_orig += len;
        buf_free(&m);
      }
      size_t i = 0;
      for (unsigned c = 0; c < ref->n_comp; c++) {
        size_t nc = (size_t)ref->comp[c].w_blocks * ref->comp[c].h_blocks * 64;
        for (size_t t = 0; t < nc; t++) sum[i + t] += ref->comp[c].coef[t];
        i += nc;
      }
      if (j == ks[ki]) {
        for (size_t t = 0; t < n_coef; t++) {
          int32_t v = val[t * n_real + r];
          int32_t d = v - round_div(sum[t], j);
          unsigned bin = d < -DB || d > DB ? NBIN - 1 : (unsigned)(d + DB);
          cond[ki][cls[t]][t & 63][u_ctx(sum[t], j)][bin]++;
        }
        ki++;
      }
    }
    for (unsigned j = 0; j < KMAX; j++) jcoef_free(refs[j]);
    free(sum);
    jcoef_free(cur);
  }

  /* 1. clean-scene bound */
  double bits = 0, bits_mm = 0;
  int16_t *tmp = malloc(n_real * sizeof *tmp);
  if (!tmp) return 1;
  for (size_t t = 0; t < n_coef; t++) {
    memcpy(tmp, val + t * n_real, n_real * sizeof *tmp);
    qsort(tmp, n_real, sizeof *tmp, cmp16);
    double s = 0;
    unsigned used = 0;
    for (unsigned a = 0; a < n_real;) {
      unsigned b = a;
      while (b < n_real && tmp[b] == tmp[a]) b++;
      double pr = (double)(b - a) / n_real;
      s -= (b - a) * log2(pr);
      used++;
      a = b;
    }
    bits += s / n_real;
    bits_mm += s / n_real + (used - 1) / (2.0 * n_real * log(2.0));
  }
  free(tmp);
  double mo = (double)orig / n_real, mh = (double)hdr / n_real;
  printf("frame %u of the synthetic time-lapse (640x480 q90 4:2:0, noise %.1f, drift %.1f), %u realisations\n",
         frame, p.noise_sigma, p.drift, n_real);
  printf("mean original %.0f bytes, of which %.0f outside the scan\n", mo, mh);
  printf("clean-scene bound: %.0f bytes (%.4f), Miller-Madow %.0f (%.4f); with headers %.4f / %.4f\n", bits / 8,
         bits / 8 / mo, bits_mm / 8, bits_mm / 8 / mo, (bits / 8 + mh) / mo, (bits_mm / 8 + mh) / mo);

  /* 2. k noisy references, pooled conditional entropy */
  for (unsigned ki = 0; ki < 3; ki++) {
    double cb = 0;
    for (unsigned c = 0; c < 2; c++)
      for (unsigned z = 0; z < 64; z++)
        for (unsigned u = 0; u < 10 * KMAX + 1; u++) {
          cb += hist_bits(cond[ki][c][z][u], NBIN, NULL);
          cb += 16.0 * cond[ki][c][z][u][NBIN - 1]; /* escapes: 16 more bits each */
        }
    cb /= n_real;
    printf("k = %d previous frames, H(value | position, sum of the references): %.0f bytes (%.4f)\n", ks[ki], cb / 8,
           cb / 8 / mo);
  }
  for (unsigned ki = 0; ki < 3 && model_real; ki++)
    printf("jcm_encode_refs, k = %d (frames %u to %u), first %u realisations: %.0f bytes (%.4f)\n", ks[ki],
           frame - (uint32_t)ks[ki], frame - 1, model_real, (double)model_bytes[ki] / model_real,
           (double)model_bytes[ki] / (double)model_orig);
  free(val);
  free(cls);
  return 0;
}
