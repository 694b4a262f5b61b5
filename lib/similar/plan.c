/* Choice of references (similar.h: sim_plan).
 *
 * Contents keep the user's order: image i may reference only some j < i, so content
 * numbers (first appearance) already satisfy FORMAT.md's "a reference has a smaller
 * content number" and no permutation is needed (docs/DESIGN.md "similar/" says why).
 *
 * Candidates for i, never all pairs:
 * - the `window` previous images (a time-lapse's previous frame is nearly always best);
 * - LSH on the dHash: 4 bands of 16 bits; images whose band value and geometry agree share a
 *   bucket. Buckets come from sorting (key, index) pairs, and each image links to the
 *   previous member of its bucket in every band (prev[b][i] < i). Walking at most
 *   bucket_cap links per band bounds the work even for huge buckets (one scene repeated a
 *   million times) or keys made to collide. Two near-duplicates whose hashes differ in at
 *   most 3 bits share at least one band (pigeonhole).
 * Time: 4 sorts of n pairs + n * (window + 4 * bucket_cap) distances. Memory: 16 bytes
 * (links) + 8 (geometry hash) per image, plus a 16-byte sort array reused per band.
 *
 * Choice: the candidate with the smallest distance, then the smallest depth (a star of
 * equal copies instead of a long chain), then the largest index (the nearest). A candidate
 * whose depth would reach key_interval is not allowed; when the overall best is such a
 * candidate, the best allowed one is taken only if it is nearly as good (CAP_SLACK), else
 * the image becomes a key: a time-lapse then gets a key every K frames instead of frames
 * that reference ever older ones. */
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/mem.h"
#include "similar/similar.h"

enum { N_BANDS = 4, BAND_BITS = 16 };
/* A depth-capped best may be replaced by an allowed candidate at most 25% + one gray
 * level of mean difference worse. */
#define CAP_SLACK_ABS 256u

typedef struct band_ent {
  uint64_t key;
  uint32_t idx;
} band_ent;

static int cmp_band_ent(const void *pa, const void *pb) {
  const band_ent *a = pa, *b = pb;
  if (a->key != b->key) return a->key < b->key ? -1 : 1;
  return (a->idx > b->idx) - (a->idx < b->idx);
}

static uint64_t mix64(uint64_t x) { /* splitmix64 finaliser */
  x ^= x >> 30;
  x *= UINT64_C(0xbf58476d1ce4e5b9);
  x ^= x >> 27;
  x *= UINT64_C(0x94d049bb133111eb);
  x ^= x >> 31;
  return x;
}

void sim_plan_defaults(sim_plan_opts *o) {
  o->key_interval = SIM_DEFAULT_KEY_INTERVAL;
  o->max_dist = SIM_DEFAULT_MAX_DIST;
  o->window = 8;
  o->bucket_cap = 8;
}

typedef struct pick {
  uint32_t j, d, depth; /* j == SIM_NO_REF: nothing yet */
} pick;

static int better(uint32_t d, uint32_t depth, uint32_t j, const pick *p) {
  if (p->j == SIM_NO_REF) return 1;
  if (d != p->d) return d < p->d;
  if (depth != p->depth) return depth < p->depth;
  return j > p->j;
}

typedef struct planner {
  const sim_sig *sigs;
  const uint64_t *ghash;
  const uint32_t *depth;
  uint32_t key_interval;
  pick best_ok, best_any;
} planner;

static void consider(planner *p, uint32_t i, uint32_t j) {
  if (p->ghash[i] != p->ghash[j] || !sim_same_geom(&p->sigs[i], &p->sigs[j])) return;
  uint32_t d = sim_distance(&p->sigs[i], &p->sigs[j]), dep = p->depth[j];
  if (better(d, dep, j, &p->best_any)) p->best_any = (pick){j, d, dep};
  if (dep + 1 < p->key_interval && better(d, dep, j, &p->best_ok)) p->best_ok = (pick){j, d, dep};
}

ims_status sim_plan(const sim_sig *sigs, size_t n, const sim_plan_opts *o, uint32_t *ref, uint32_t *depth,
                    uint32_t *dist, ims_err *err) {
  sim_plan_opts opt;
  if (o)
    opt = *o;
  else
    sim_plan_defaults(&opt);
  if (n == 0) return IMS_OK;
  if (!sigs || !ref || !depth) return ims_fail(err, IMS_E_ARG, "plan: NULL array");
  if (opt.key_interval == 0) return ims_fail(err, IMS_E_ARG, "plan: key interval 0");
  if (n >= SIM_NO_REF) return ims_fail(err, IMS_E_LIMIT, "plan: %zu images is too many", n);

  ims_status st = IMS_OK;
  uint64_t *ghash = NULL;
  uint32_t *prev = NULL;
  band_ent *ents = NULL;
  size_t sz_g, sz_p, sz_e;
  if (!ims_mul_size(n, sizeof *ghash, &sz_g) || !ims_mul_size(n, N_BANDS * sizeof *prev, &sz_p) ||
      !ims_mul_size(n, sizeof *ents, &sz_e)) {
    return ims_fail(err, IMS_E_LIMIT, "plan: %zu images is too many", n);
  }
  ghash = malloc(sz_g);
  prev = malloc(sz_p);
  ents = malloc(sz_e);
  if (!ghash || !prev || !ents) {
    st = ims_fail(err, IMS_E_NOMEM, "plan: out of memory for %zu images", n);
    goto done;
  }

  for (size_t i = 0; i < n; i++) ghash[i] = ims_hash64(&sigs[i].geom, sizeof sigs[i].geom);
  for (unsigned b = 0; b < N_BANDS; b++) {
    uint32_t *pb = prev + (size_t)b * n;
    for (size_t i = 0; i < n; i++) {
      uint64_t bits = (sigs[i].dhash >> (b * BAND_BITS)) & 0xFFFFu;
      ents[i].key = mix64(ghash[i] ^ mix64((uint64_t)b << BAND_BITS | bits));
      ents[i].idx = (uint32_t)i;
    }
    qsort(ents, n, sizeof *ents, cmp_band_ent);
    pb[ents[0].idx] = SIM_NO_REF;
    for (size_t k = 1; k < n; k++)
      pb[ents[k].idx] = ents[k].key == ents[k - 1].key ? ents[k - 1].idx : SIM_NO_REF;
  }
  free(ents);
  ents = NULL;

  planner p = {sigs, ghash, depth, opt.key_interval, {SIM_NO_REF, 0, 0}, {SIM_NO_REF, 0, 0}};
  for (size_t ii = 0; ii < n; ii++) {
    uint32_t i = (uint32_t)ii;
    p.best_ok.j = p.best_any.j = SIM_NO_REF;
    uint32_t lo = i > opt.window ? i - opt.window : 0; /* window: [lo, i) */
    for (uint32_t j = i; j-- > lo;) consider(&p, i, j);
    for (unsigned b = 0; b < N_BANDS; b++) {
      const uint32_t *pb = prev + (size_t)b * n;
      uint32_t j = pb[i];
      for (unsigned steps = 0; j != SIM_NO_REF && steps < opt.bucket_cap; steps++, j = pb[j])
        if (j < lo) consider(&p, i, j);
    }
    const pick *c = &p.best_ok;
    bool ok = c->j != SIM_NO_REF && c->d <= opt.max_dist &&
              (uint64_t)c->d <= (uint64_t)p.best_any.d + p.best_any.d / 4 + CAP_SLACK_ABS;
    ref[i] = ok ? c->j : SIM_NO_REF;
    depth[i] = ok ? c->depth + 1 : 0;
    if (dist) dist[i] = ok ? c->d : 0;
  }

done:
  free(ents);
  free(prev);
  free(ghash);
  return st;
}
