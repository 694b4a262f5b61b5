/* Choice of references (similar.h: sim_plan).
 *
 * Contents keep the user's order: image i may reference only some j < i, so content
 * numbers (first appearance) already satisfy FORMAT.md's "a reference has a smaller
 * content number" and no permutation is needed (docs/DESIGN.md "similar/" says why).
 *
 * Candidates for i, never all pairs:
 * - the `window` previous images (a time-lapse's previous frame is nearly always best);
 * - LSH on the dHash, done as 4 sorts: for band b the pairs (geometry hash, dHash rotated
 *   left by 16*b bits, index) are sorted, so images of one geometry whose hashes share the
 *   16 bits of band b, and then as many following bits as possible, sit next to each other.
 *   Each image looks at its `lsh_reach` neighbours on either side with a smaller index;
 *   those whose dHash differs in at most LSH_MAX_HAMMING bits (read from the sorted array,
 *   no random access) get a thumbnail distance, and the best LSH_TOP per image are kept.
 *   Two near-duplicates whose hashes differ in at most 3 bits share at least one band
 *   (pigeonhole); sorting on the rest of the rotated hash keeps them close even in the
 *   crowded buckets of smooth pictures, where a plain bucket list would drown them.
 * Time: 4 sorts of n entries + n * (window + 8 * lsh_reach) distances at most. Memory: 8
 * bytes (geometry hash) + 24 (best LSH candidates) per image, plus a 24-byte sort array
 * reused per band.
 *
 * Choice, in user order (depths of earlier images are final): among the window and the
 * kept LSH candidates, the smallest distance, then the smallest depth (a star of equal
 * copies instead of a long chain), then the largest index (the nearest). A candidate
 * whose depth would reach key_interval is not allowed; when the overall best is such a
 * candidate, the best allowed one is taken only if it is nearly as good (CAP_SLACK), else
 * the image becomes a key: a time-lapse then gets a key every K frames instead of frames
 * that reference ever older ones. */
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/mem.h"
#include "similar/similar.h"

enum { N_BANDS = 4, BAND_BITS = 16, LSH_TOP = 3 };
/* An LSH neighbour whose dHash differs in more bits is not worth a thumbnail distance:
 * near-duplicates differ in a few bits (time-lapse neighbours <= 4, one picture at
 * qualities 30..100 <= 3), unrelated pictures in about half of them. */
enum { LSH_MAX_HAMMING = 16 };
/* A depth-capped best may be replaced by an allowed candidate at most 25% + one gray
 * level of mean difference worse. */
#define CAP_SLACK_ABS 256u

typedef struct band_ent {
  uint64_t g, h; /* geometry hash, rotated dHash */
  uint32_t idx;
} band_ent;

static int cmp_band_ent(const void *pa, const void *pb) {
  const band_ent *a = pa, *b = pb;
  if (a->g != b->g) return a->g < b->g ? -1 : 1;
  if (a->h != b->h) return a->h < b->h ? -1 : 1;
  return (a->idx > b->idx) - (a->idx < b->idx);
}

static uint64_t rotl64(uint64_t x, unsigned r) { return r ? x << r | x >> (64 - r) : x; }

void sim_plan_defaults(sim_plan_opts *o) {
  o->key_interval = SIM_DEFAULT_KEY_INTERVAL;
  o->max_dist = SIM_DEFAULT_MAX_DIST;
  o->window = 8;
  o->lsh_reach = 8;
}

/* The best LSH candidates of one image: j[k] == SIM_NO_REF marks an empty slot; filled
 * slots come first, ordered by (d ascending, j descending). */
typedef struct lsh_top {
  uint32_t j[LSH_TOP], d[LSH_TOP];
} lsh_top;

static void top_insert(lsh_top *t, uint32_t j, uint32_t d) {
  unsigned k = 0;
  for (; k < LSH_TOP && t->j[k] != SIM_NO_REF; k++) {
    if (t->j[k] == j) return; /* met again in another band */
    if (d < t->d[k] || (d == t->d[k] && j > t->j[k])) break;
  }
  if (k == LSH_TOP) return;
  for (unsigned m = k; m < LSH_TOP; m++)
    if (t->j[m] == j) return;
  for (unsigned m = LSH_TOP - 1; m > k; m--) {
    t->j[m] = t->j[m - 1];
    t->d[m] = t->d[m - 1];
  }
  t->j[k] = j;
  t->d[k] = d;
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

typedef struct choice {
  const uint32_t *depth;
  uint32_t key_interval;
  pick best_ok, best_any;
} choice;

static void offer(choice *c, uint32_t j, uint32_t d) {
  uint32_t dep = c->depth[j];
  if (better(d, dep, j, &c->best_any)) c->best_any = (pick){j, d, dep};
  if (dep + 1 < c->key_interval && better(d, dep, j, &c->best_ok)) c->best_ok = (pick){j, d, dep};
}

static bool same_geom(const sim_sig *sigs, const uint64_t *ghash, uint32_t i, uint32_t j) {
  return ghash[i] == ghash[j] && sim_same_geom(&sigs[i], &sigs[j]);
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
  lsh_top *top = NULL;
  band_ent *ents = NULL;
  size_t sz_g, sz_t, sz_e;
  if (!ims_mul_size(n, sizeof *ghash, &sz_g) || !ims_mul_size(n, sizeof *top, &sz_t) ||
      !ims_mul_size(n, sizeof *ents, &sz_e)) {
    return ims_fail(err, IMS_E_LIMIT, "plan: %zu images is too many", n);
  }
  ghash = malloc(sz_g);
  top = malloc(sz_t);
  ents = malloc(sz_e);
  if (!ghash || !top || !ents) {
    st = ims_fail(err, IMS_E_NOMEM, "plan: out of memory for %zu images", n);
    goto done;
  }

  for (size_t i = 0; i < n; i++) {
    ghash[i] = ims_hash64(&sigs[i].geom, sizeof sigs[i].geom);
    for (unsigned k = 0; k < LSH_TOP; k++) top[i].j[k] = SIM_NO_REF, top[i].d[k] = 0;
  }
  for (unsigned b = 0; b < N_BANDS; b++) {
    for (size_t i = 0; i < n; i++) {
      ents[i].g = ghash[i];
      ents[i].h = rotl64(sigs[i].dhash, b * BAND_BITS);
      ents[i].idx = (uint32_t)i;
    }
    qsort(ents, n, sizeof *ents, cmp_band_ent);
    for (size_t k = 0; k < n; k++) {
      const band_ent *e = &ents[k];
      uint32_t i = e->idx, lo = i > opt.window ? i - opt.window : 0; /* window: [lo, i) */
      for (unsigned side = 0; side < 2; side++) {
        for (size_t t = 1; t <= opt.lsh_reach; t++) {
          if (side == 0 ? t > k : t >= n - k) break;
          const band_ent *f = side == 0 ? &ents[k - t] : &ents[k + t];
          if (f->g != e->g) break; /* another geometry */
          uint32_t j = f->idx;
          if (j >= lo) continue; /* later images, or the window's */
          if (__builtin_popcountll(f->h ^ e->h) > LSH_MAX_HAMMING) continue;
          if (!sim_same_geom(&sigs[i], &sigs[j])) continue;
          top_insert(&top[i], j, sim_distance(&sigs[i], &sigs[j]));
        }
      }
    }
  }
  free(ents);
  ents = NULL;

  choice c = {depth, opt.key_interval, {SIM_NO_REF, 0, 0}, {SIM_NO_REF, 0, 0}};
  for (size_t ii = 0; ii < n; ii++) {
    uint32_t i = (uint32_t)ii;
    c.best_ok.j = c.best_any.j = SIM_NO_REF;
    uint32_t lo = i > opt.window ? i - opt.window : 0;
    for (uint32_t j = i; j-- > lo;)
      if (same_geom(sigs, ghash, i, j)) offer(&c, j, sim_distance(&sigs[i], &sigs[j]));
    for (unsigned k = 0; k < LSH_TOP && top[i].j[k] != SIM_NO_REF; k++) offer(&c, top[i].j[k], top[i].d[k]);
    const pick *p = &c.best_ok;
    bool ok = p->j != SIM_NO_REF && p->d <= opt.max_dist &&
              (uint64_t)p->d <= (uint64_t)c.best_any.d + c.best_any.d / 4 + CAP_SLACK_ABS;
    ref[i] = ok ? p->j : SIM_NO_REF;
    depth[i] = ok ? p->depth + 1 : 0;
    if (dist) dist[i] = ok ? p->d : 0;
  }

done:
  free(ents);
  free(top);
  free(ghash);
  return st;
}
