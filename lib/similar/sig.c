/* Signatures: area-averaged thumbnails, dHash, distances (similar.h). */
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/mem.h"
#include "image/jpeg_thumb.h"
#include "similar/similar.h"

/* Area average of px (w x h) into out (ow x oh). Cell x covers source columns
 * [x*w/ow, (x+1)*w/ow), widened to one column when the picture is narrower than ow, so
 * every cell has at least one pixel. */
static void box_reduce(const uint8_t *px, uint32_t w, uint32_t h, size_t stride, uint32_t ow, uint32_t oh,
                       uint8_t *out) {
  for (uint32_t cy = 0; cy < oh; cy++) {
    uint32_t y0 = (uint32_t)((uint64_t)cy * h / oh), y1 = (uint32_t)((uint64_t)(cy + 1) * h / oh);
    if (y1 <= y0) y1 = y0 + 1;
    for (uint32_t cx = 0; cx < ow; cx++) {
      uint32_t x0 = (uint32_t)((uint64_t)cx * w / ow), x1 = (uint32_t)((uint64_t)(cx + 1) * w / ow);
      if (x1 <= x0) x1 = x0 + 1;
      uint64_t s = 0;
      for (uint32_t y = y0; y < y1; y++) {
        const uint8_t *row = px + (size_t)y * stride;
        for (uint32_t x = x0; x < x1; x++) s += row[x];
      }
      uint64_t cnt = (uint64_t)(y1 - y0) * (x1 - x0);
      out[(size_t)cy * ow + cx] = (uint8_t)((s + cnt / 2) / cnt);
    }
  }
}

ims_status sim_sig_from_gray(const uint8_t *px, uint32_t w, uint32_t h, size_t stride, sim_sig *out) {
  if (!px || !out || w == 0 || h == 0 || stride < w) return IMS_E_ARG;
  size_t span;
  if (!ims_mul_size(stride, h - 1, &span) || !ims_add_size(span, w, &span)) return IMS_E_ARG;

  sim_sig s;
  memset(&s, 0, sizeof s);
  s.geom.width = w;
  s.geom.height = h;
  s.geom.source = SIM_SRC_GRAY;
  s.geom.components = 1;

  box_reduce(px, w, h, stride, SIM_THUMB_SIDE, SIM_THUMB_SIDE, s.thumb);
  for (size_t i = 0; i < SIM_THUMB_LEN; i++) s.thumb_sum += s.thumb[i];

  uint8_t t9[9 * 8];
  box_reduce(px, w, h, stride, 9, 8, t9);
  for (unsigned y = 0; y < 8; y++)
    for (unsigned x = 0; x < 8; x++)
      if (t9[y * 9 + x] < t9[y * 9 + x + 1]) s.dhash |= UINT64_C(1) << (y * 8 + x);

  /* Mean and picture hash: rows are hashed one by one (stride may exceed w) and chained. */
  uint64_t sum = 0, ph = 0;
  for (uint32_t y = 0; y < h; y++) {
    const uint8_t *row = px + (size_t)y * stride;
    for (uint32_t x = 0; x < w; x++) sum += row[x];
    uint64_t link[2] = {ph, ims_hash64(row, w)};
    ph = ims_hash64(link, sizeof link);
  }
  uint64_t n_px = (uint64_t)w * h;
  s.mean = (uint8_t)((sum + n_px / 2) / n_px);
  s.pic_hash = ph;
  *out = s;
  return IMS_OK;
}

ims_status sim_sig_from_jpeg(const uint8_t *data, size_t len, uint64_t max_pixels, uint32_t max_scans,
                             sim_sig *out, ims_err *err) {
  if (!out) return ims_fail(err, IMS_E_ARG, "signature: NULL argument");
  uint8_t *px = NULL;
  uint32_t w = 0, h = 0;
  img_jpeg_geom g;
  ims_status st = img_jpeg_thumb(data, len, max_pixels, max_scans, &px, &w, &h, &g, err);
  if (st) return st;
  sim_sig s;
  st = sim_sig_from_gray(px, w, h, w, &s);
  free(px);
  if (st) return ims_fail(err, st, "signature: bad thumbnail %ux%u", (unsigned)w, (unsigned)h);
  memset(&s.geom, 0, sizeof s.geom);
  s.geom.width = g.width;
  s.geom.height = g.height;
  s.geom.source = SIM_SRC_JPEG;
  s.geom.components = g.components;
  s.geom.color_space = g.color_space;
  memcpy(s.geom.h_samp, g.h_samp, sizeof s.geom.h_samp);
  memcpy(s.geom.v_samp, g.v_samp, sizeof s.geom.v_samp);
  *out = s;
  return IMS_OK;
}

uint32_t sim_distance(const sim_sig *a, const sim_sig *b) {
  /* round((sum_a - sum_b) / 256), symmetric in a and b */
  int32_t ds = (int32_t)a->thumb_sum - (int32_t)b->thumb_sum;
  int32_t shift = ds >= 0 ? (ds + 128) / 256 : -((-ds + 128) / 256);
  uint32_t d = 0;
  for (size_t i = 0; i < SIM_THUMB_LEN; i++) {
    int32_t v = (int32_t)a->thumb[i] - (int32_t)b->thumb[i] - shift;
    d += (uint32_t)(v < 0 ? -v : v);
  }
  return d + 64u * (uint32_t)(shift < 0 ? -shift : shift);
}

unsigned sim_hamming(const sim_sig *a, const sim_sig *b) { return (unsigned)__builtin_popcountll(a->dhash ^ b->dhash); }

int sim_same_geom(const sim_sig *a, const sim_sig *b) { return memcmp(&a->geom, &b->geom, sizeof a->geom) == 0; }
