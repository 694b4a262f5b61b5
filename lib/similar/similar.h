/* similar/: perceptual signatures of images and the choice of a reference image for each.
 *
 * A signature (sim_sig, fixed size, plain data) holds a 64-bit dHash, a 16x16 gray
 * thumbnail, the mean luminance, a hash of the whole small picture and the geometry that
 * decides whether two images may reference each other at all. For JPEGs it comes from a
 * 1/8-scale (DC-only) decode, about 1-2 ms for a 1280x720 file.
 *
 * sim_plan chooses, for contents given in the user's order, a reference for each content
 * among the earlier ones (so "a reference has a smaller content number" holds with no
 * reordering), with a key image at least every key_interval images of any chain. It runs
 * in O(n log n) time and O(n) memory (never all pairs) and is deterministic.
 *
 * Threads: every function is reentrant; nothing is shared. */
#ifndef IMS_SIMILAR_H
#define IMS_SIMILAR_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SIM_THUMB_SIDE 16
#define SIM_THUMB_LEN (SIM_THUMB_SIDE * SIM_THUMB_SIDE)
#define SIM_NO_REF UINT32_MAX

typedef enum sim_source { SIM_SRC_GRAY = 1, SIM_SRC_JPEG = 2 } sim_source;

/* What must be equal for two images to reference each other (JPEG: the same coefficient
 * layout). All bytes are defined (zero where unused), so the struct compares with memcmp. */
typedef struct sim_geom {
  uint32_t width, height;
  uint8_t source;      /* sim_source */
  uint8_t components;  /* JPEG: 1..4; gray sources: 1 */
  uint8_t color_space; /* JPEG: libjpeg J_COLOR_SPACE of the file; 0 otherwise */
  uint8_t reserved;    /* 0 */
  uint8_t h_samp[4], v_samp[4]; /* JPEG sampling factors, 0 for absent components */
} sim_geom;

/* Invariant: thumb_sum == sum of thumb[]; every padding-free field defined. */
typedef struct sim_sig {
  uint64_t dhash;      /* bit y*8+x: thumb9x8[y][x] < thumb9x8[y][x+1] */
  uint64_t pic_hash;   /* XXH3-64 of the whole small gray picture (equal: very likely the
                          same pixels, e.g. identical coefficient data, other metadata) */
  sim_geom geom;
  uint32_t thumb_sum;  /* sum of thumb[] */
  uint8_t mean;        /* mean luminance of the small picture, rounded */
  uint8_t reserved[3]; /* 0 */
  uint8_t thumb[SIM_THUMB_LEN]; /* 16x16 area-averaged gray, rows top to bottom */
} sim_sig;

/* Signature of a JPEG from its bytes, through a 1/8-scale gray decode (no full IDCT).
 * max_pixels (0: 2^28) and max_scans (0: 256) bound the work on hostile input.
 * Errors: IMS_E_CORRUPT (not a JPEG, truncated, corrupt data), IMS_E_LIMIT,
 * IMS_E_UNSUPPORTED (12-bit, lossless, > 4 components), IMS_E_NOMEM, IMS_E_ARG; err gets
 * the detail. *out is written only on success. */
ims_status sim_sig_from_jpeg(const uint8_t *data, size_t len, uint64_t max_pixels, uint32_t max_scans,
                             sim_sig *out, ims_err *err);

/* Signature of an 8-bit gray picture (rows stride bytes apart, stride >= w), with geometry
 * {w, h, SIM_SRC_GRAY, 1 component}. For other sources (PNG later) or for a JPEG's DC
 * picture, the caller may overwrite out->geom afterwards. IMS_E_ARG on w or h == 0 or a
 * bad stride. */
ims_status sim_sig_from_gray(const uint8_t *px, uint32_t w, uint32_t h, size_t stride, sim_sig *out);

/* Refinement distance between two thumbnails: sum over the 256 pixels of
 * |a - b - round(mean_a - mean_b)| plus 64 * |round(mean_a - mean_b)| (a change of overall
 * brightness counts a quarter of the same change as detail). 0 for equal thumbnails;
 * a mean absolute difference of one gray level is 256. Symmetric. */
uint32_t sim_distance(const sim_sig *a, const sim_sig *b);

/* Number of differing dHash bits, 0..64. */
unsigned sim_hamming(const sim_sig *a, const sim_sig *b);

/* 1 when a and b may reference each other (same geometry), else 0. */
int sim_same_geom(const sim_sig *a, const sim_sig *b);

typedef struct sim_plan_opts {
  uint32_t key_interval; /* K >= 1: every chain has depth < K, so decoding one image decodes
                            at most K images; 1 means no references; default 32 */
  uint32_t max_dist;     /* a reference only when sim_distance <= max_dist; default
                            SIM_DEFAULT_MAX_DIST */
  unsigned window;       /* previous images (user order) tried as references; default 8 */
  unsigned lsh_reach;    /* neighbours on each side in each of the 4 sorted hash orders
                            that are tried; default 8 */
} sim_plan_opts;

/* Measured (docs/DESIGN.md "similar/"): consecutive time-lapse frames stay far below,
 * unrelated photos of the same size far above. */
#define SIM_DEFAULT_MAX_DIST 4096u
#define SIM_DEFAULT_KEY_INTERVAL 32u

void sim_plan_defaults(sim_plan_opts *o);

/* Chooses references for n distinct contents in the user's order (byte-identical contents
 * already merged by the caller). For each i: ref[i] < i with the same geometry and
 * sim_distance(i, ref[i]) <= max_dist, or SIM_NO_REF; depth[i] = 0 without a reference,
 * else depth[ref[i]] + 1, always < key_interval. dist (may be NULL) gets the distance to
 * the reference (0 for none). Candidates for i: the `window` previous images and the 3
 * nearest earlier images found by LSH on the dHash: in each of 4 orders (geometry, then
 * the dHash rotated by 16, 32, 48 bits) the lsh_reach neighbours on either side with the
 * same geometry and the same 16 leading bits, when their dHash differs in <= 16 bits. Same input, same output. o may be NULL (defaults).
 * Errors: IMS_E_ARG (NULL arrays with n > 0, key_interval 0), IMS_E_LIMIT (n >=
 * UINT32_MAX), IMS_E_NOMEM. Outputs are untouched on failure. Memory: about 56 bytes per
 * signature on top of the caller's arrays. */
ims_status sim_plan(const sim_sig *sigs, size_t n, const sim_plan_opts *o, uint32_t *ref, uint32_t *depth,
                    uint32_t *dist, ims_err *err);

#endif
