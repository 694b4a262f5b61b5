/* JPEG marker walk up to the frame header (ITU-T T.81 B.1.1, B.2.2) and PNG IHDR (PNG spec
 * 11.2.2), bounded by the buffer: a truncated prefix is IMS_E_NOTFOUND, never a wild read. */
#include "probe.h"

#include <string.h>

#include "common/mem.h"

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};

exp_kind exp_sniff(const uint8_t *p, size_t len) {
  if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) return EXP_KIND_JPEG;
  if (len >= 8 && !memcmp(p, png_sig, 8)) return EXP_KIND_PNG;
  return EXP_KIND_OTHER;
}

static bool rd_u16be(rd *r, uint16_t *v) {
  const uint8_t *b;
  if (!rd_bytes(r, 2, &b)) return false;
  *v = (uint16_t)((unsigned)b[0] << 8 | b[1]);
  return true;
}

static bool rd_u32be(rd *r, uint32_t *v) {
  const uint8_t *b;
  if (!rd_bytes(r, 4, &b)) return false;
  *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  return true;
}

static bool is_sof(uint8_t m) { return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc; }

static ims_status parse_sof(rd *seg, uint8_t m, exp_probe *o) {
  uint8_t prec, nc;
  uint16_t h, w;
  if (!rd_u8(seg, &prec) || !rd_u16be(seg, &h) || !rd_u16be(seg, &w) || !rd_u8(seg, &nc)) return IMS_E_CORRUPT;
  if (w == 0 || h == 0 || nc == 0 || nc > 4) return IMS_E_CORRUPT; /* h == 0 (DNL) is not supported */
  o->width = w;
  o->height = h;
  o->depth = prec;
  o->n_comp = nc;
  o->progressive = m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce;
  for (uint8_t c = 0; c < nc; c++) {
    const uint8_t *b;
    if (!rd_bytes(seg, 3, &b)) return IMS_E_CORRUPT;
    o->samp[c] = b[1];
  }
  return IMS_OK;
}

static ims_status probe_jpeg(const uint8_t *p, size_t len, exp_probe *o) {
  rd r = rd_make(p + 2, len - 2);
  for (;;) {
    uint8_t b, m;
    if (!rd_u8(&r, &b)) return IMS_E_NOTFOUND;
    if (b != 0xff) return IMS_E_CORRUPT;
    do {
      if (!rd_u8(&r, &m)) return IMS_E_NOTFOUND;
    } while (m == 0xff); /* fill bytes */
    if (m == 0x01 || (m >= 0xd0 && m <= 0xd7)) continue; /* TEM, RSTn: no length */
    if (m == 0xd8 || m == 0xd9 || m == 0xda || m == 0x00) return IMS_E_CORRUPT; /* no frame header */
    uint16_t seg_len;
    const uint8_t *body;
    if (!rd_u16be(&r, &seg_len)) return IMS_E_NOTFOUND;
    if (seg_len < 2) return IMS_E_CORRUPT;
    if (!rd_bytes(&r, seg_len - 2u, &body)) return IMS_E_NOTFOUND;
    rd seg = rd_make(body, seg_len - 2u);
    if (is_sof(m)) return parse_sof(&seg, m, o);
    if (m == 0xe1 && !o->exif && seg_len - 2u >= 6 && !memcmp(body, "Exif\0\0", 6)) {
      o->exif = body + 6;
      o->exif_len = seg_len - 2u - 6u;
    }
  }
}

static ims_status probe_png(const uint8_t *p, size_t len, exp_probe *o) {
  rd r = rd_make(p + 8, len - 8);
  uint32_t n, w, h;
  const uint8_t *type, *rest;
  if (!rd_u32be(&r, &n) || !rd_bytes(&r, 4, &type) || !rd_u32be(&r, &w) || !rd_u32be(&r, &h) ||
      !rd_bytes(&r, 2, &rest))
    return IMS_E_NOTFOUND;
  if (n != 13 || memcmp(type, "IHDR", 4) || w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu)
    return IMS_E_CORRUPT;
  o->width = w;
  o->height = h;
  o->depth = rest[0];
  o->n_comp = rest[1];
  return IMS_OK;
}

ims_status exp_probe_image(const uint8_t *p, size_t len, exp_probe *out) {
  exp_probe o;
  memset(&o, 0, sizeof o);
  o.kind = exp_sniff(p, len);
  ims_status st = o.kind == EXP_KIND_JPEG  ? probe_jpeg(p, len, &o)
                  : o.kind == EXP_KIND_PNG ? probe_png(p, len, &o)
                                           : IMS_E_UNSUPPORTED;
  if (st == IMS_OK) *out = o;
  return st;
}
