/* Internals of the JPEG bitstream layer (parse.c, huff_decode.c, huff_encode.c, side.c).
 *
 * The side information of a file is its "chunks": every byte that is not entropy-coded
 * scan data, verbatim and in file order. Chunk i (i < n_scans) runs from the end of scan
 * i-1's entropy-coded data (or the file start) to the end of scan i's SOS segment; the last
 * chunk runs from the end of the last scan's data to the end of the file (EOI, anything
 * after it). The header walker (jpg_hdr_*) reads chunks the same way when decoding a file,
 * when reading side info and when re-encoding, so the three always agree on tables and
 * scans. Entropy-coded data is rebuilt from the coefficients; where the original encoder
 * did not behave like the canonical one below, the deviation is recorded:
 *
 * - restart segments (jpg_segx): pad bits that are not all ones, bytes after the padding,
 *   0xFF fill bytes before an RST marker, and data that runs out inside an MCU: like
 *   libjpeg, the decoder completes that MCU with zero bits and leaves the segment's later
 *   MCUs alone; the encoder codes up to that MCU and cuts its output to the original length;
 * - progressive EOB runs (jpg_eobx): the canonical encoder (libjpeg's jcphuff.c) extends a
 *   run until a block needs a symbol, the run reaches 0x7FFF, or (refinement scans) more
 *   than 937 correction bits are buffered; a record toggles that decision after one block,
 *   or (run != 0) flushes a run of that length at the end of a restart segment (a run
 *   coded longer than the blocks left).
 *
 * Forms that cannot be rebuilt are refused with IMS_E_UNSUPPORTED instead: a zero run (ZRL)
 * not followed by a coefficient, an EOB-run symbol in a sequential scan, the later code of
 * a symbol listed twice in a DHT, progressive scans that repeat or skip bits of a
 * coefficient, coefficients out of the int16 range after the point transform.
 *
 * Invariants of jpg_side: n_chunks == n_scans + 1; chunk_end[] is non-decreasing (only the
 * last chunk may be empty) and chunk_end[n_chunks-1] == hdr_len; segx is sorted by seg and
 * eobx by (scan, block), both without duplicates; extra ranges lie inside pool.
 */
#ifndef IMS_JPEG_JPEG_INTERNAL_H
#define IMS_JPEG_JPEG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "jpeg/jpeg.h"

#define JPG_MAX_BLOCKS_IN_MCU 10
/* libjpeg's jcphuff.c forces an EOB run out when more correction bits than this are buffered. */
#define JPG_MAX_BE 937u
#define JPG_MAX_EOBRUN 0x7FFFu

typedef struct jpg_huff {
  uint8_t bits[17]; /* bits[l]: number of codes of length l (1..16) */
  uint8_t vals[256];
  uint16_t n_vals;
  bool defined;
  bool valid;   /* the code lengths fit (Kraft sum <= 1) */
  bool dup;     /* a symbol appears twice: only its first code can be re-encoded */
  bool first[256]; /* vals[i] is the first occurrence of its symbol */
  uint8_t max_sym;
  /* decoding (huff_decode.c builds its lookup tables per scan from these) */
  int32_t maxcode[18]; /* largest code of each length, -1 if none */
  int32_t valoff[17];  /* index into vals = code + valoff[len] */
  /* encoding */
  uint16_t ecode[256];
  uint8_t esize[256]; /* 0: the symbol has no code */
} jpg_huff;

typedef struct jpg_scan {
  uint8_t ns;
  uint8_t ci[4]; /* frame component index of each scan component */
  uint8_t td[4], ta[4];
  uint8_t ss, se, ah, al;
  bool progressive;
  /* derived */
  uint32_t mcus_x, mcus_y; /* MCU grid; a single-component scan's MCU is one block */
  uint64_t n_mcus;
  uint32_t ri;         /* MCUs per restart segment; n_mcus when there is no restart */
  uint64_t n_segments;
  uint8_t n_blocks;    /* blocks per MCU */
  uint8_t blk_c[JPG_MAX_BLOCKS_IN_MCU];
  uint8_t blk_dx[JPG_MAX_BLOCKS_IN_MCU], blk_dy[JPG_MAX_BLOCKS_IN_MCU];
  uint8_t blk_sx[JPG_MAX_BLOCKS_IN_MCU], blk_sy[JPG_MAX_BLOCKS_IN_MCU]; /* MCU step in blocks */
  uint8_t blk_si[JPG_MAX_BLOCKS_IN_MCU]; /* index of the block's component in the scan */
} jpg_scan;

/* The five ways a scan codes its blocks (T.81 G.1.2): each has its own Huffman coding loop. */
typedef enum jpg_kind { JPG_SEQ, JPG_DC_FIRST, JPG_DC_REFINE, JPG_AC_FIRST, JPG_AC_REFINE } jpg_kind;

static inline jpg_kind jpg_scan_kind(const jpg_scan *sc) {
  if (!sc->progressive) return JPG_SEQ;
  if (sc->ss == 0) return sc->ah ? JPG_DC_REFINE : JPG_DC_FIRST;
  return sc->ah ? JPG_AC_REFINE : JPG_AC_FIRST;
}

typedef enum jpg_stop { JPG_STOP_SOS, JPG_STOP_EOI, JPG_STOP_END } jpg_stop;

/* State of the header walker. */
typedef struct jpg_hdr {
  jpg_image *img;   /* geometry and qt are written here */
  bool alloc_coef;  /* allocate img->comp[].coef at SOF */
  bool coef_unset;  /* ... without zeroing them (the caller writes every block) */
  jpg_limits lim;
  bool seen_soi, seen_sof;
  uint8_t sof;
  uint16_t qt[4][64];
  bool qt_def[4];
  jpg_huff dc[4], ac[4];
  uint16_t ri;
  uint32_t n_scans;
  bool comp_scanned[4];   /* sequential: each component once */
  int8_t coef_bits[4][64]; /* progressive: Al of the last scan of each coefficient, -1 none */
  jpg_scan scan;          /* the scan of the last SOS */
} jpg_hdr;

typedef struct jpg_segx {
  uint64_t seg; /* restart segment number, counted over all scans of the file */
  uint8_t flags;
  uint8_t pad;      /* JPG_SEGX_PAD: the pad bits, right-aligned */
  uint32_t n_fill;  /* JPG_SEGX_FILL: extra 0xFF bytes before the RST marker */
  uint32_t n_short; /* JPG_SEGX_SHORT: bytes missing at the end */
  uint32_t trunc_mcu; /* JPG_SEGX_TRUNC: the data ran out in this MCU (counted from the
                       * segment's first); the segment's later MCUs are not coded */
  size_t extra_off, extra_len; /* JPG_SEGX_EXTRA: unstuffed bytes after the padding */
} jpg_segx;

enum { JPG_SEGX_PAD = 1, JPG_SEGX_EXTRA = 2, JPG_SEGX_SHORT = 4, JPG_SEGX_FILL = 8, JPG_SEGX_TRUNC = 16,
       /* the scan ends after this (truncated) segment: no RST marker, no later segment */
       JPG_SEGX_END = 32 };

typedef struct jpg_eobx {
  uint32_t scan, block;
  uint32_t run; /* 0: toggle the flush decision after this block; else flush a run this long */
} jpg_eobx;

struct jpg_side {
  uint8_t *hdr;
  size_t hdr_len, hdr_cap;
  size_t *chunk_end;
  size_t n_chunks, chunk_cap;
  jpg_segx *segx;
  size_t n_segx, segx_cap;
  jpg_eobx *eobx;
  size_t n_eobx, eobx_cap;
  uint8_t *pool;
  size_t pool_len, pool_cap;
};

/* The Huffman tables of each component of the walker's current scan. */
static inline void jpg_scan_tables(const jpg_hdr *h, const jpg_huff *dc[4], const jpg_huff *ac[4]) {
  for (unsigned s = 0; s < h->scan.ns; s++) {
    dc[s] = &h->dc[h->scan.td[s]];
    ac[s] = &h->ac[h->scan.ta[s]];
  }
}

/* ---- parse.c: the header walker ---- */

/* h must be zeroed storage. img receives geometry (and coef arrays when alloc_coef). */
void jpg_hdr_init(jpg_hdr *h, jpg_image *img, const jpg_limits *lim, bool alloc_coef);
/* Reads markers from data[*pos..len) up to and including the next SOS (the scan is set up
 * in h->scan and validated), an EOI, or the end of data (JPG_STOP_END: also an incomplete
 * segment after the first scan, which is then opaque trailing data). *pos is left after
 * the SOS or EOI segment, or at len. */
ims_status jpg_hdr_next(jpg_hdr *h, const uint8_t *data, size_t len, size_t *pos, jpg_stop *stop, ims_err *err);

/* The Annex K table for class tc (0 DC, 1 AC) and id th (0 or 1): false for other ids. */
bool jpg_std_huff(unsigned tc, unsigned th, uint8_t bits[17], const uint8_t **vals, unsigned *n);

/* The block at (row, col) of component c. */
static inline int16_t *jpg_block(const jpg_image *img, unsigned c, uint32_t row, uint32_t col) {
  const jpg_component *k = &img->comp[c];
  return k->coef + ((size_t)row * k->w_blocks + col) * 64u;
}

/* ---- side.c ---- */
jpg_side *jpg_side_new(void);
void jpg_side_free(jpg_side *s);
ims_status jpg_side_add_hdr(jpg_side *s, const uint8_t *p, size_t n);
ims_status jpg_side_end_chunk(jpg_side *s);
ims_status jpg_side_add_segx(jpg_side *s, const jpg_segx *x, const uint8_t *extra);
ims_status jpg_side_add_eobx(jpg_side *s, uint32_t scan, uint32_t block, uint32_t run);

/* Number of bits needed for v (0 for 0): the JPEG magnitude category. */
static inline unsigned jpg_nbits(uint32_t v) { return v ? 32u - (unsigned)__builtin_clz(v) : 0u; }

/* Bit k set when coefficient k is not zero. */
static inline uint64_t jpg_nz_mask(const int16_t *blk) {
#ifdef __SSE2__
  /* Saturating packs keep nonzero values nonzero. */
  const __m128i z = _mm_setzero_si128();
  const __m128i *p = (const __m128i *)(const void *)blk;
  __m128i a = _mm_packs_epi16(_mm_loadu_si128(p), _mm_loadu_si128(p + 1));
  __m128i b = _mm_packs_epi16(_mm_loadu_si128(p + 2), _mm_loadu_si128(p + 3));
  __m128i c = _mm_packs_epi16(_mm_loadu_si128(p + 4), _mm_loadu_si128(p + 5));
  __m128i d = _mm_packs_epi16(_mm_loadu_si128(p + 6), _mm_loadu_si128(p + 7));
  uint64_t m = (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a, z)) |
               (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, z)) << 16 |
               (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(c, z)) << 32 |
               (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(d, z)) << 48;
  return ~m;
#else
  uint64_t m = 0;
  for (unsigned k = 0; k < 64; k++) m |= (uint64_t)(blk[k] != 0) << k;
  return m;
#endif
}

#endif
