/* inter_bench: model bytes of JPEGs coded against earlier ones (jcm_encode_refs, issue #4).
 *   inter_bench [-k refs] -s [-n frames] [-f first] [-S seed] [-N noise]   the synthetic time-lapse
 *       (timelapse_gen; -S: another scene and noise, -N: another noise realisation of the
 *       same frames, -f: start at that frame)
 *   inter_bench [-k refs] a.jpg b.jpg c.jpg / x.jpg y.jpg ...
 * Each image after the first of a sequence ("/" starts a new one) is coded against the up
 * to k images before it (the nearest first); every stream is decoded and checked. Prints
 * the sums: original bytes of the predicted images, their model bytes with references and
 * alone, and the ratios. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jpegcoef.h"
#include "timelapse_gen.h"

#ifdef JCM_MAX_REFS
enum { MAXK = JCM_MAX_REFS };
#else /* a model before jcm_encode_refs (for measuring it): one reference */
enum { MAXK = 1 };
static ims_status jcm_encode_refs(const jpg_image *img, const jpg_image *const *refs, unsigned nr, unsigned threads,
                                  buf *out, ims_err *err) {
  return jcm_encode(img, nr ? refs[0] : NULL, threads, out, err);
}
static unsigned jcm_stream_refs(const uint8_t *data, size_t len) { return jcm_stream_is_inter(data, len); }
static ims_status jcm_decode_refs(const uint8_t *data, size_t len, jpg_image *img, const jpg_image *const *refs,
                                  unsigned nr, unsigned threads, ims_err *err) {
  return jcm_decode(data, len, img, nr ? refs[0] : NULL, threads, err);
}
#endif

static unsigned long long t_orig, t_inter, t_alone;
static int fails;

static size_t model_len(const jpg_image *img, const jpg_image *const *refs, unsigned nr) {
  buf m;
  buf_init(&m, SIZE_MAX);
  ims_err err;
  size_t len = 0;
  if (jcm_encode_refs(img, refs, nr, 1, &m, &err) != IMS_OK) {
    fprintf(stderr, "inter_bench: encode: %s\n", err.msg);
    fails++;
    buf_free(&m);
    return 0;
  }
  len = m.len;
  unsigned used = jcm_stream_refs(m.p, m.len);
  jpg_image *back = jcoef_clone_empty(img);
  if (!back || jcm_decode_refs(m.p, m.len, back, refs, used, 2, &err) != IMS_OK || !jcoef_equal(img, back)) {
    fprintf(stderr, "inter_bench: the stream does not decode back\n");
    fails++;
  }
  jcoef_free(back);
  buf_free(&m);
  return len;
}

/* history[0] is the nearest earlier image; nh of them. */
static void one(const jpg_image *img, size_t orig, const jpg_image *const *history, unsigned nh, unsigned k,
                const char *name) {
  if (nh == 0) return;
  size_t with = model_len(img, history, nh < k ? nh : k), alone = model_len(img, NULL, 0);
  t_orig += orig;
  t_inter += with;
  t_alone += alone;
  printf("%s: %zu bytes, model %zu against %u, %zu alone\n", name, orig, with, nh < k ? nh : k, alone);
}

int main(int argc, char **argv) {
  unsigned k = 1, n_frames = 8, first = 0;
  int synth = 0, opt;
  tlgen_params p;
  tlgen_defaults(&p);
  while ((opt = getopt(argc, argv, "k:sn:f:S:N:")) != -1) {
    if (opt == 'k')
      k = (unsigned)strtoul(optarg, NULL, 10);
    else if (opt == 's')
      synth = 1;
    else if (opt == 'n')
      n_frames = (unsigned)strtoul(optarg, NULL, 10);
    else if (opt == 'f')
      first = (unsigned)strtoul(optarg, NULL, 10);
    else if (opt == 'S')
      p.seed = strtoull(optarg, NULL, 10);
    else if (opt == 'N')
      p.noise_stream = strtoull(optarg, NULL, 10);
    else {
      fprintf(stderr, "usage: inter_bench [-k refs] -s [-n frames] [-f first] [-S seed] [-N noise] | file.jpg ... "
                      "[/ file.jpg ...]\n");
      return 2;
    }
  }
  if (k < 1 || k > MAXK) {
    fprintf(stderr, "inter_bench: -k must be 1..%d\n", MAXK);
    return 2;
  }
  jpg_image *hist[MAXK] = {NULL};
  unsigned nh = 0;
  int n_items = synth ? (int)n_frames : argc - optind;
  for (int a = 0; a < n_items; a++) {
    uint8_t *data;
    size_t len;
    char name[64];
    const char *nm = name;
    if (synth) {
      if (tlgen_frame(&p, first + (uint32_t)a, &data, &len) != 0) return 1;
      snprintf(name, sizeof name, "frame %u", first + (unsigned)a);
    } else {
      nm = argv[optind + a];
      if (strcmp(nm, "/") == 0) {
        for (unsigned i = 0; i < nh; i++) jcoef_free(hist[i]);
        nh = 0;
        continue;
      }
      if (jcoef_load_file(nm, &data, &len) != 0) {
        fprintf(stderr, "inter_bench: %s: cannot read\n", nm);
        return 1;
      }
    }
    jpg_image *img;
    char why[200];
    if (jcoef_read_mem(data, len, &img, why, sizeof why) != 0) {
      fprintf(stderr, "inter_bench: %s: %s\n", nm, why);
      return 1;
    }
    free(data);
    one(img, len, (const jpg_image *const *)hist, nh, k, nm);
    if (nh == MAXK) jcoef_free(hist[--nh]);
    memmove(hist + 1, hist, nh * sizeof *hist);
    hist[0] = img;
    nh++;
  }
  for (unsigned i = 0; i < nh; i++) jcoef_free(hist[i]);
  printf("total: %llu bytes, model %llu against up to %u (%.4f of the bytes, %.4f of alone), alone %llu (%.4f)\n",
         t_orig, t_inter, k, (double)t_inter / (double)t_orig, (double)t_inter / (double)t_alone, t_alone,
         (double)t_alone / (double)t_orig);
  return fails ? 1 : 0;
}
