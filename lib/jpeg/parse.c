/* JPEG marker parser: the header walker shared by decoding, side-info reading and
 * re-encoding (ITU-T T.81 annex B). Every field is checked before use; the walker never
 * reads outside data[0..len). */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "jpeg/jpeg_internal.h"

enum {
  M_SOF0 = 0xC0, M_SOF1 = 0xC1, M_SOF2 = 0xC2, M_SOF3 = 0xC3, M_DHT = 0xC4, M_SOF5 = 0xC5,
  M_JPG = 0xC8, M_SOF9 = 0xC9, M_DAC = 0xCC, M_SOF15 = 0xCF, M_RST0 = 0xD0, M_RST7 = 0xD7,
  M_SOI = 0xD8, M_EOI = 0xD9, M_SOS = 0xDA, M_DQT = 0xDB, M_DNL = 0xDC, M_DRI = 0xDD,
  M_DHP = 0xDE, M_EXP = 0xDF, M_APP0 = 0xE0, M_APP15 = 0xEF, M_JPG0 = 0xF0, M_JPG13 = 0xFD,
  M_COM = 0xFE, M_TEM = 0x01
};

void jpg_hdr_init(jpg_hdr *h, jpg_image *img, const jpg_limits *lim, bool alloc_coef) {
  memset(h, 0, sizeof *h);
  h->img = img;
  h->lim = *lim;
  h->alloc_coef = alloc_coef;
  memset(h->coef_bits, -1, sizeof h->coef_bits);
}

static inline uint16_t be16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }

/* Builds the canonical codes of a DHT table (T.81 annex C) for encoding and decoding. */
static void huff_build(jpg_huff *t) {
  uint32_t code = 0;
  unsigned k = 0;
  bool seen[256] = {false};
  t->valid = true;
  t->dup = false;
  t->max_sym = 0;
  memset(t->esize, 0, sizeof t->esize);
  for (unsigned l = 1; l <= 16; l++) {
    t->valoff[l] = (int32_t)k - (int32_t)code;
    for (unsigned i = 0; i < t->bits[l]; i++, k++, code++) {
      /* Every code of length l must fit in l bits (libjpeg's JERR_BAD_HUFF_TABLE). */
      if (code >= (1u << l)) {
        t->valid = false;
        return;
      }
      uint8_t s = t->vals[k];
      if (s > t->max_sym) t->max_sym = s;
      t->first[k] = !seen[s];
      if (seen[s]) {
        t->dup = true;
      } else {
        seen[s] = true;
        t->ecode[s] = (uint16_t)code;
        t->esize[s] = (uint8_t)l;
      }
    }
    t->maxcode[l] = t->bits[l] ? (int32_t)code - 1 : -1;
    /* libjpeg also refuses a code of all ones. */
    if (t->bits[l] && code >= (1u << l)) {
      t->valid = false;
      return;
    }
    code <<= 1;
  }
  t->maxcode[17] = INT32_MAX;
}

static ims_status parse_dht(jpg_hdr *h, rd r, ims_err *err) {
  while (rd_left(&r) > 0) {
    uint8_t tcth;
    const uint8_t *counts, *vals;
    (void)rd_u8(&r, &tcth);
    unsigned tc = tcth >> 4, th = tcth & 15u;
    if (tc > 1 || th > 3) return ims_fail(err, IMS_E_CORRUPT, "DHT: bad table class/id 0x%02x", tcth);
    if (!rd_bytes(&r, 16, &counts)) return ims_fail(err, IMS_E_CORRUPT, "DHT: segment too short");
    unsigned n = 0;
    for (unsigned i = 0; i < 16; i++) n += counts[i];
    if (n > 256) return ims_fail(err, IMS_E_CORRUPT, "DHT: %u codes (at most 256)", n);
    if (!rd_bytes(&r, n, &vals)) return ims_fail(err, IMS_E_CORRUPT, "DHT: segment too short");
    jpg_huff *t = tc ? &h->ac[th] : &h->dc[th];
    t->bits[0] = 0;
    memcpy(t->bits + 1, counts, 16);
    memset(t->vals, 0, sizeof t->vals);
    memcpy(t->vals, vals, n);
    t->n_vals = (uint16_t)n;
    t->defined = true;
    huff_build(t);
  }
  return IMS_OK;
}

static ims_status parse_dqt(jpg_hdr *h, rd r, ims_err *err) {
  while (rd_left(&r) > 0) {
    uint8_t pqtq;
    const uint8_t *v;
    (void)rd_u8(&r, &pqtq);
    unsigned pq = pqtq >> 4, tq = pqtq & 15u;
    if (pq > 1 || tq > 3) return ims_fail(err, IMS_E_CORRUPT, "DQT: bad precision/table 0x%02x", pqtq);
    if (!rd_bytes(&r, pq ? 128 : 64, &v)) return ims_fail(err, IMS_E_CORRUPT, "DQT: segment too short");
    for (unsigned i = 0; i < 64; i++) h->qt[tq][i] = pq ? be16(v + 2 * i) : v[i];
    h->qt_def[tq] = true;
  }
  return IMS_OK;
}

static ims_status parse_sof(jpg_hdr *h, uint8_t marker, rd r, ims_err *err) {
  jpg_image *img = h->img;
  const uint8_t *p;
  if (h->seen_sof) return ims_fail(err, IMS_E_CORRUPT, "second SOF marker");
  if (!rd_bytes(&r, 6, &p)) return ims_fail(err, IMS_E_CORRUPT, "SOF: segment too short");
  if (p[0] != 8) return ims_fail(err, IMS_E_UNSUPPORTED, "%u-bit JPEG (only 8-bit is supported)", p[0]);
  uint32_t height = be16(p + 1), width = be16(p + 3);
  unsigned n = p[5];
  if (n == 0) return ims_fail(err, IMS_E_CORRUPT, "SOF: no components");
  if (n > 4) return ims_fail(err, IMS_E_UNSUPPORTED, "%u components (at most 4)", n);
  if (rd_left(&r) != 3u * n) return ims_fail(err, IMS_E_CORRUPT, "SOF: bad segment length");
  if (width == 0) return ims_fail(err, IMS_E_CORRUPT, "SOF: zero width");
  if (height == 0) return ims_fail(err, IMS_E_UNSUPPORTED, "height defined by DNL");
  if ((uint64_t)width * height > h->lim.max_pixels)
    return ims_fail(err, IMS_E_LIMIT, "%ux%u pixels (limit %llu)", width, height,
                    (unsigned long long)h->lim.max_pixels);
  img->width = width;
  img->height = height;
  img->n_comp = (uint8_t)n;
  img->progressive = marker == M_SOF2;
  img->hmax = img->vmax = 1;
  for (unsigned c = 0; c < n; c++) {
    (void)rd_bytes(&r, 3, &p);
    jpg_component *k = &img->comp[c];
    k->id = p[0];
    k->h = (uint8_t)(p[1] >> 4);
    k->v = (uint8_t)(p[1] & 15u);
    k->tq = p[2];
    if (k->h < 1 || k->h > 4 || k->v < 1 || k->v > 4)
      return ims_fail(err, IMS_E_CORRUPT, "SOF: bad sampling factors %ux%u", k->h, k->v);
    if (k->tq > 3) return ims_fail(err, IMS_E_CORRUPT, "SOF: bad quantisation table %u", k->tq);
    if (k->h > img->hmax) img->hmax = k->h;
    if (k->v > img->vmax) img->vmax = k->v;
  }
  uint32_t mcus_x = (width + 8u * img->hmax - 1) / (8u * img->hmax);
  uint32_t mcus_y = (height + 8u * img->vmax - 1) / (8u * img->vmax);
  for (unsigned c = 0; c < n; c++) {
    jpg_component *k = &img->comp[c];
    if (n == 1) {
      k->w_blocks = (width + 7) / 8;
      k->h_blocks = (height + 7) / 8;
    } else {
      k->w_blocks = mcus_x * k->h;
      k->h_blocks = mcus_y * k->v;
    }
    if (h->alloc_coef) {
      size_t nb;
      if (!ims_mul_size(k->w_blocks, k->h_blocks, &nb) || nb > INT32_MAX || !ims_mul_size(nb, 64 * sizeof(int16_t), &nb))
        return ims_fail(err, IMS_E_LIMIT, "SOF: image too large");
      k->coef = h->coef_unset ? malloc(nb) : calloc(nb, 1);
      if (!k->coef) return ims_fail(err, IMS_E_NOMEM, "out of memory for %zu coefficient bytes", nb);
    }
  }
  h->sof = marker;
  h->seen_sof = true;
  return IMS_OK;
}

/* Component geometry in blocks actually coded by a single-component scan. */
static void comp_blocks(const jpg_image *img, unsigned c, uint32_t *bw, uint32_t *bh) {
  const jpg_component *k = &img->comp[c];
  uint64_t cw = ((uint64_t)img->width * k->h + img->hmax - 1) / img->hmax;
  uint64_t ch = ((uint64_t)img->height * k->v + img->vmax - 1) / img->vmax;
  *bw = (uint32_t)((cw + 7) / 8);
  *bh = (uint32_t)((ch + 7) / 8);
}

static ims_status check_huff(const jpg_huff *t, bool dc, unsigned id, ims_err *err) {
  if (!t->valid) return ims_fail(err, IMS_E_CORRUPT, "bad Huffman table %s%u", dc ? "DC" : "AC", id);
  if (dc && t->max_sym > 15) return ims_fail(err, IMS_E_CORRUPT, "bad DC Huffman table %u", id);
  return IMS_OK;
}

/* The Annex K tables that libjpeg-turbo uses when a Motion-JPEG frame has no DHT. */
static const uint8_t std_dc_bits[2][17] = {{0, 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
                                           {0, 0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}};
static const uint8_t std_dc_vals[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const uint8_t std_ac_bits[2][17] = {{0, 0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d},
                                           {0, 0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77}};
static const uint8_t std_ac_vals[2][162] = {
    {0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71,
     0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72,
     0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37,
     0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
     0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83,
     0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3,
     0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
     0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
     0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa},
    {0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71, 0x13, 0x22,
     0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1,
     0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36,
     0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
     0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
     0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a,
     0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
     0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
     0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa}};

bool jpg_std_huff(unsigned tc, unsigned th, uint8_t bits[17], const uint8_t **vals, unsigned *n) {
  if (th > 1 || tc > 1) return false;
  const uint8_t *b = tc ? std_ac_bits[th] : std_dc_bits[th];
  memcpy(bits, b, 17);
  *vals = tc ? std_ac_vals[th] : std_dc_vals;
  *n = tc ? 162u : 12u;
  return true;
}

static void std_table(jpg_huff *t, unsigned tc, unsigned th) {
  const uint8_t *vals;
  unsigned n;
  (void)jpg_std_huff(tc, th, t->bits, &vals, &n);
  memset(t->vals, 0, sizeof t->vals);
  memcpy(t->vals, vals, n);
  t->n_vals = (uint16_t)n;
  t->defined = true;
  huff_build(t);
}

static ims_status parse_sos(jpg_hdr *h, rd r, ims_err *err) {
  jpg_image *img = h->img;
  jpg_scan *s = &h->scan;
  uint8_t ns = 0;
  const uint8_t *p = NULL;
  if (!h->seen_sof) return ims_fail(err, IMS_E_CORRUPT, "SOS before SOF");
  if (h->n_scans >= h->lim.max_scans)
    return ims_fail(err, IMS_E_LIMIT, "more than %u scans", (unsigned)h->lim.max_scans);
  memset(s, 0, sizeof *s);
  if (!rd_u8(&r, &ns)) return ims_fail(err, IMS_E_CORRUPT, "SOS: segment too short");
  if (ns < 1 || ns > 4 || ns > img->n_comp) return ims_fail(err, IMS_E_CORRUPT, "SOS: %u components", ns);
  if (rd_left(&r) != 2u * ns + 3u) return ims_fail(err, IMS_E_CORRUPT, "SOS: bad segment length");
  s->ns = ns;
  bool used[4] = {false};
  for (unsigned i = 0; i < ns; i++) {
    if (!rd_bytes(&r, 2, &p)) return ims_fail(err, IMS_E_CORRUPT, "SOS: segment too short");
    unsigned c = 0;
    while (c < img->n_comp && (img->comp[c].id != p[0] || used[c])) c++;
    if (c == img->n_comp) return ims_fail(err, IMS_E_CORRUPT, "SOS: unknown component id %u", p[0]);
    used[c] = true;
    s->ci[i] = (uint8_t)c;
    s->td[i] = (uint8_t)(p[1] >> 4);
    s->ta[i] = (uint8_t)(p[1] & 15u);
    if (s->td[i] > 3 || s->ta[i] > 3) return ims_fail(err, IMS_E_CORRUPT, "SOS: bad table ids 0x%02x", p[1]);
  }
  if (!rd_bytes(&r, 3, &p)) return ims_fail(err, IMS_E_CORRUPT, "SOS: segment too short");
  s->ss = p[0];
  s->se = p[1];
  s->ah = (uint8_t)(p[2] >> 4);
  s->al = (uint8_t)(p[2] & 15u);
  s->progressive = img->progressive;

  if (s->progressive) {
    bool dc = s->ss == 0;
    bool bad = false;
    if (dc) bad = s->se != 0;
    else bad = s->ss > s->se || s->se > 63 || ns != 1;
    if (s->ah != 0 && s->al != s->ah - 1) bad = true;
    if (s->al > 13) bad = true;
    if (bad) return ims_fail(err, IMS_E_CORRUPT, "SOS: bad progressive parameters Ss=%u Se=%u Ah=%u Al=%u", s->ss, s->se, s->ah, s->al);
    /* Each coefficient must be coded once, then refined one bit at a time: anything else
     * makes the final coefficients ambiguous (libjpeg only warns). */
    for (unsigned i = 0; i < ns; i++) {
      int8_t *cb = h->coef_bits[s->ci[i]];
      for (unsigned k = s->ss; k <= s->se; k++) {
        int expect = s->ah == 0 ? -1 : s->ah;
        if (cb[k] != expect)
          return ims_fail(err, IMS_E_UNSUPPORTED, "progressive scan %u repeats or skips bits of coefficient %u", h->n_scans, k);
        cb[k] = (int8_t)s->al;
      }
    }
  } else {
    for (unsigned i = 0; i < ns; i++) {
      if (h->comp_scanned[s->ci[i]])
        return ims_fail(err, IMS_E_UNSUPPORTED, "sequential scan %u codes component %u again", h->n_scans, s->ci[i]);
      h->comp_scanned[s->ci[i]] = true;
    }
  }

  /* Tables used by this scan (libjpeg-turbo takes the Annex K ones for a missing DHT). */
  for (unsigned i = 0; i < ns; i++) {
    bool need_dc = !s->progressive || (s->ss == 0 && s->ah == 0);
    bool need_ac = !s->progressive || s->ss != 0;
    if (need_dc) {
      jpg_huff *t = &h->dc[s->td[i]];
      if (!t->defined) {
        if (s->td[i] > 1) return ims_fail(err, IMS_E_CORRUPT, "SOS: DC table %u not defined", s->td[i]);
        std_table(t, 0, s->td[i]);
      }
      ims_status st = check_huff(t, true, s->td[i], err);
      if (st) return st;
    }
    if (need_ac) {
      jpg_huff *t = &h->ac[s->ta[i]];
      if (!t->defined) {
        if (s->ta[i] > 1) return ims_fail(err, IMS_E_CORRUPT, "SOS: AC table %u not defined", s->ta[i]);
        std_table(t, 1, s->ta[i]);
      }
      ims_status st = check_huff(t, false, s->ta[i], err);
      if (st) return st;
    }
  }

  /* The quantisation tables in force at the first scan are the image's. */
  if (h->n_scans == 0) {
    for (unsigned c = 0; c < img->n_comp; c++)
      if (!h->qt_def[img->comp[c].tq])
        return ims_fail(err, IMS_E_CORRUPT, "quantisation table %u not defined", img->comp[c].tq);
    for (unsigned t = 0; t < 4; t++)
      if (h->qt_def[t]) memcpy(img->qt[t], h->qt[t], sizeof img->qt[t]);
  }

  /* MCU layout (T.81 A.2). */
  if (ns == 1) {
    unsigned c = s->ci[0];
    comp_blocks(img, c, &s->mcus_x, &s->mcus_y);
    s->n_blocks = 1;
    s->blk_c[0] = (uint8_t)c;
    s->blk_sx[0] = s->blk_sy[0] = 1;
  } else {
    s->mcus_x = (img->width + 8u * img->hmax - 1) / (8u * img->hmax);
    s->mcus_y = (img->height + 8u * img->vmax - 1) / (8u * img->vmax);
    unsigned nb = 0;
    for (unsigned i = 0; i < ns; i++) {
      const jpg_component *k = &img->comp[s->ci[i]];
      if (nb + (unsigned)k->h * k->v > JPG_MAX_BLOCKS_IN_MCU)
        return ims_fail(err, IMS_E_CORRUPT, "SOS: more than %u blocks per MCU", JPG_MAX_BLOCKS_IN_MCU);
      for (unsigned y = 0; y < k->v; y++)
        for (unsigned x = 0; x < k->h; x++, nb++) {
          s->blk_c[nb] = s->ci[i];
          s->blk_si[nb] = (uint8_t)i;
          s->blk_dx[nb] = (uint8_t)x;
          s->blk_dy[nb] = (uint8_t)y;
          s->blk_sx[nb] = k->h;
          s->blk_sy[nb] = k->v;
        }
    }
    s->n_blocks = (uint8_t)nb;
  }
  s->n_mcus = (uint64_t)s->mcus_x * s->mcus_y;
  s->ri = h->ri ? h->ri : (s->n_mcus > UINT32_MAX ? UINT32_MAX : (uint32_t)s->n_mcus);
  if (s->ri == 0) s->ri = 1;
  s->n_segments = (s->n_mcus + s->ri - 1) / s->ri;
  h->n_scans++;
  return IMS_OK;
}

ims_status jpg_hdr_next(jpg_hdr *h, const uint8_t *data, size_t len, size_t *pos, jpg_stop *stop, ims_err *err) {
  size_t i = *pos;
  if (!h->seen_soi) {
    if (len - i < 2 || data[i] != 0xFF || data[i + 1] != M_SOI) {
      if (len - i >= 2) return ims_fail(err, IMS_E_CORRUPT, "not a JPEG (starts %02x %02x)", data[i], data[i + 1]);
      return ims_fail(err, IMS_E_CORRUPT, "not a JPEG (too short)");
    }
    h->seen_soi = true;
    i += 2;
  }
  for (;;) {
    /* Bytes other than 0xFF before a marker are skipped (libjpeg warns); they are kept
     * verbatim in the chunk anyway. */
    while (i < len && data[i] != 0xFF) i++;
    while (i < len && data[i] == 0xFF) i++;
    if (i >= len) goto end;
    uint8_t m = data[i++];
    if (m == 0x00) continue; /* a stuffed zero outside scan data: garbage */
    if (m == M_EOI) {
      *pos = i;
      *stop = JPG_STOP_EOI;
      return IMS_OK;
    }
    if (m == M_SOI) return ims_fail(err, IMS_E_CORRUPT, "second SOI marker");
    if ((m >= M_RST0 && m <= M_RST7) || m == M_TEM) continue;
    if (len - i < 2) goto end;
    size_t seglen = be16(data + i);
    if (seglen < 2) return ims_fail(err, IMS_E_CORRUPT, "marker 0x%02x: bad length %zu", m, seglen);
    if (seglen > len - i) goto end;
    rd r = rd_make(data + i + 2, seglen - 2);
    size_t next = i + seglen;
    ims_status st = IMS_OK;
    switch (m) {
    case M_SOF0:
    case M_SOF1:
    case M_SOF2: st = parse_sof(h, m, r, err); break;
    case M_SOF3: return ims_fail(err, IMS_E_UNSUPPORTED, "lossless JPEG (SOF3)");
    case 0xC5:
    case 0xC6:
    case 0xC7:
    case M_DHP:
    case M_EXP: return ims_fail(err, IMS_E_UNSUPPORTED, "hierarchical JPEG (marker 0x%02x)", m);
    case M_JPG: return ims_fail(err, IMS_E_UNSUPPORTED, "JPEG extension marker 0xc8");
    case 0xC9:
    case 0xCA:
    case 0xCB:
    case 0xCD:
    case 0xCE:
    case 0xCF:
    case M_DAC: return ims_fail(err, IMS_E_UNSUPPORTED, "arithmetic-coded JPEG (marker 0x%02x)", m);
    case M_DHT: st = parse_dht(h, r, err); break;
    case M_DQT: st = parse_dqt(h, r, err); break;
    case M_DRI:
      if (seglen != 4) return ims_fail(err, IMS_E_CORRUPT, "DRI: bad length");
      h->ri = be16(data + i + 2);
      break;
    case M_DNL: return ims_fail(err, IMS_E_UNSUPPORTED, "DNL marker");
    case M_SOS:
      st = parse_sos(h, r, err);
      if (st) return st;
      *pos = next;
      *stop = JPG_STOP_SOS;
      return IMS_OK;
    default:
      if ((m >= M_APP0 && m <= M_APP15) || m == M_COM) break;
      if (m >= M_JPG0 && m <= M_JPG13) {
        if (m == 0xF7) return ims_fail(err, IMS_E_UNSUPPORTED, "JPEG-LS (SOF55)");
        break;
      }
      return ims_fail(err, IMS_E_CORRUPT, "unknown marker 0x%02x", m);
    }
    if (st) return st;
    i = next;
  }
end:
  /* The data ends without EOI (possibly inside a segment): fine after a scan, where the
   * rest is kept as opaque trailing bytes. */
  if (h->n_scans == 0) return ims_fail(err, IMS_E_CORRUPT, "no scan before the end of data");
  *pos = len;
  *stop = JPG_STOP_END;
  return IMS_OK;
}
