/* Binary adaptive range coder for the JPEG coefficient model (jcm_*).
 *
 * The coder is a 32-bit range coder with carry propagation in the style of LZMA's rc
 * (a 64-bit "low", a cached byte and a count of pending 0xFF bytes). Probabilities are
 * 16-bit, P(bit == 0) * 65536, adapted with a state count: after n observations the
 * step is 1/(n + 1.5), so a fresh context learns fast and an old one settles, like a
 * frequency count with a cap (limit) that keeps it able to follow drift.
 *
 * Invariants:
 * - ac_prob.p0 is in [AC_P_MIN, AC_P_MAX]; the coder never sees probability 0 or 1.
 * - Encoder: range >= 2^24 between calls; out holds every byte emitted so far, except that
 *   the very first byte (always 0 in this scheme) is never written. A shift writes at most
 *   pending + 1 bytes and every shift adds at most one byte to pending + len, so room for
 *   pending + n bytes covers the next n shifts (ac_enc_reserve).
 * - Speed: the block coder copies an ac_enc / ac_dec into a local variable for a whole band,
 *   so that the compiler keeps low, range and code in registers (a pointer argument may
 *   alias the bytes it writes); hence the inline functions take no other pointer state.
 * - Decoder: p <= end. Past the end it reads zeros and sets err (sticky), so a corrupt or
 *   truncated stream can never cause a wild read; callers check err once per band.
 */
#ifndef IMS_JPEG_ARITH_H
#define IMS_JPEG_ARITH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgstash.h"

#define AC_P_MIN 48u
#define AC_P_MAX (65536u - 48u)

typedef struct ac_prob {
  uint16_t p0; /* P(bit == 0) in 1/65536 */
  uint16_t n;  /* observations so far, capped at the context's limit */
} ac_prob;

static inline void ac_prob_init(ac_prob *pr, size_t count) {
  for (size_t i = 0; i < count; i++) {
    pr[i].p0 = 32768;
    pr[i].n = 0;
  }
}

/* Step sizes 32768 / (n + 1.5), n = 0..255. */
static const uint16_t ac_rate_tab[256] = {
    21845, 13107, 9362, 7282, 5958, 5041, 4369, 3855, 3449, 3121, 2849, 2621, 2427, 2260, 2114, 1986,
    1872, 1771, 1680, 1598, 1524, 1456, 1394, 1337, 1285, 1237, 1192, 1150, 1111, 1074, 1040, 1008,
    978, 950, 923, 898, 874, 851, 830, 809, 790, 771, 753, 736, 720, 705, 690, 676,
    662, 649, 636, 624, 612, 601, 590, 580, 570, 560, 551, 542, 533, 524, 516, 508,
    500, 493, 485, 478, 471, 465, 458, 452, 446, 440, 434, 428, 423, 417, 412, 407,
    402, 397, 392, 388, 383, 379, 374, 370, 366, 362, 358, 354, 350, 347, 343, 340,
    336, 333, 329, 326, 323, 320, 317, 314, 311, 308, 305, 302, 299, 297, 294, 291,
    289, 286, 284, 281, 279, 277, 274, 272, 270, 267, 265, 263, 261, 259, 257, 255,
    253, 251, 249, 247, 245, 244, 242, 240, 238, 237, 235, 233, 232, 230, 228, 227,
    225, 224, 222, 221, 219, 218, 216, 215, 213, 212, 211, 209, 208, 207, 205, 204,
    203, 202, 200, 199, 198, 197, 196, 194, 193, 192, 191, 190, 189, 188, 187, 186,
    185, 184, 183, 182, 181, 180, 179, 178, 177, 176, 175, 174, 173, 172, 171, 170,
    169, 168, 168, 167, 166, 165, 164, 163, 163, 162, 161, 160, 159, 159, 158, 157,
    156, 156, 155, 154, 153, 153, 152, 151, 151, 150, 149, 149, 148, 147, 147, 146,
    145, 145, 144, 143, 143, 142, 142, 141, 140, 140, 139, 139, 138, 137, 137, 136,
    136, 135, 135, 134, 133, 133, 132, 132, 131, 131, 130, 130, 129, 129, 128, 128,
};

/* bit ? a : b, without a branch (bit is 0 or 1). */
static inline uint32_t ac_select(unsigned bit, uint32_t a, uint32_t b) {
#if defined(__GNUC__) && defined(__x86_64__)
  __asm__("testl %[t], %[t]\n\tcmovnzl %[a], %[b]" : [b] "+r"(b) : [t] "r"(bit), [a] "r"(a) : "cc");
  return b;
#else
  return b + ((a - b) & (0u - bit));
#endif
}

static inline void ac_update(ac_prob *pr, unsigned bit, unsigned limit) {
  /* Move p0 towards AC_P_MIN (bit 1) or AC_P_MAX (bit 0) by the step, which is below 1,
   * so p0 stays in [AC_P_MIN, AC_P_MAX]. */
  uint32_t p = pr->p0, n = pr->n;
  uint32_t r = ac_rate_tab[n];
  /* One product: p + floor((AC_P_MAX - p) r / 2^15) for bit 0, p - floor((p - AC_P_MIN)
   * r / 2^15) = p + ceil(-(p - AC_P_MIN) r / 2^15) for bit 1: the signed step t r, plus
   * 2^15 - 1 for bit 1, divided by 2^15 rounding down (a shift of the value biased by
   * 2^31, as asr32: no shift of a negative number). |t r| < 2^31. */
  uint32_t m = 0u - bit;
  uint32_t target = AC_P_MAX - ((AC_P_MAX - AC_P_MIN) & m);
  uint32_t step = (target - p) * r + (32767u & m) + 0x80000000u;
  pr->p0 = (uint16_t)(p + (step >> 15) - (0x80000000u >> 15));
  pr->n = (uint16_t)(n + (n < limit));
}

/* ---------------------------------------------------------------- encoder */

typedef struct ac_enc {
  uint64_t low;
  uint32_t range;
  uint8_t cache;
  bool first;         /* the first byte out of shift_low is always 0 and is dropped */
  uint64_t pending;   /* bytes waiting for a possible carry: cache + (pending - 1) x 0xFF */
  uint8_t *out;       /* malloc'd, grown by ac_enc_reserve */
  size_t len, cap, max;
  ims_status st;      /* sticky: IMS_E_NOMEM or IMS_E_LIMIT once growth failed */
} ac_enc;

/* max: the most bytes the stream may take (IMS_E_LIMIT past it). */
void ac_enc_init(ac_enc *e, size_t max);
/* Writes the final bytes; returns e->st. The bytes are e->out[0 .. e->len). */
ims_status ac_enc_finish(ac_enc *e);
void ac_enc_free(ac_enc *e);
/* Makes room for the bytes that up to n more calls of ac_shift_low can write (the pending
 * bytes included); returns e->st. ac_put does not check the capacity: a caller reserves
 * before each stretch of coding whose shifts it can bound (AC_ENC_BLOCK_SHIFTS). */
ims_status ac_enc_reserve(ac_enc *e, size_t n);

/* True when n more shifts fit without ac_enc_reserve. */
static inline bool ac_enc_has_room(const ac_enc *e, size_t n) {
  return e->pending <= e->cap - e->len && n <= e->cap - e->len - e->pending;
}

static inline void ac_put(ac_enc *e, uint8_t b) { e->out[e->len++] = b; }

static inline void ac_shift_low(ac_enc *e) {
  if (e->low < 0xFF000000u || e->low > 0xFFFFFFFFu) {
    uint8_t carry = (uint8_t)(e->low >> 32);
    uint8_t b = e->cache;
    do {
      if (e->first)
        e->first = false;
      else
        ac_put(e, (uint8_t)(b + carry));
      b = 0xFF;
    } while (--e->pending != 0);
    e->cache = (uint8_t)(e->low >> 24);
  }
  e->pending++;
  e->low = (e->low & 0x00FFFFFFu) << 8;
}

static inline void ac_encode(ac_enc *e, ac_prob *pr, unsigned bit, unsigned limit) {
  /* Branch-free: a branch on a data bit would mispredict often. */
  uint32_t bound = (e->range >> 16) * pr->p0;
  e->low += bound & (0u - bit);
  e->range = ac_select(bit, e->range - bound, bound);
  ac_update(pr, bit, limit);
  while (__builtin_expect(e->range < (1u << 24), 0)) {
    e->range <<= 8;
    ac_shift_low(e);
  }
}

/* ---------------------------------------------------------------- decoder */

typedef struct ac_dec {
  const uint8_t *p, *end;
  uint32_t range, code;
  bool err; /* sticky: read past the end, or the code left the valid interval */
} ac_dec;

void ac_dec_init(ac_dec *d, const uint8_t *data, size_t len);
/* True when the stream decoded cleanly so far. */
bool ac_dec_ok(const ac_dec *d);

static inline uint8_t ac_get(ac_dec *d) {
  if (d->p < d->end) return *d->p++;
  d->err = true;
  return 0;
}

static inline unsigned ac_decode(ac_dec *d, ac_prob *pr, unsigned limit) {
  uint32_t bound = (d->range >> 16) * pr->p0;
  unsigned bit = d->code >= bound;
  uint32_t range = bound, code = d->code;
#if defined(__GNUC__) && defined(__x86_64__)
  /* The range's dependency chain from one decision to the next is the decoder's limit:
   * one compare and two conditional moves (compilers turn a select on the bit into a
   * branch, which mispredicts, or into longer mask arithmetic). */
  __asm__("cmpl %[bd], %[cd]\n\tcmovael %[r1], %[r]\n\tcmovael %[c1], %[c]"
          : [r] "+r"(range), [c] "+r"(code)
          : [bd] "r"(bound), [cd] "r"(d->code), [r1] "r"(d->range - bound), [c1] "r"(d->code - bound)
          : "cc");
#else
  uint32_t mask = 0u - bit;
  code -= bound & mask;
  range = bound + ((d->range - 2 * bound) & mask);
#endif
  d->code = code;
  d->range = range;
  ac_update(pr, bit, limit);
  while (__builtin_expect(d->range < (1u << 24), 0)) { /* one byte per 8 bits of output */
    d->range <<= 8;
    d->code = d->code << 8 | ac_get(d);
  }
  return bit;
}

#endif
