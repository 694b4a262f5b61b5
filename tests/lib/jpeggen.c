#include "jpeggen.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "jpegcoef.h"
#include "jpeg/jpeg.h"

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static uint32_t rng_below(uint64_t *s, uint32_t n) { return n ? (uint32_t)(rng_next(s) % n) : 0; }

void jpeggen_defaults(jpeggen_params *p) {
  memset(p, 0, sizeof *p);
  p->width = 64;
  p->height = 48;
  p->quality = 75;
  p->subsamp = JPEGGEN_420;
  p->seed = 1;
}

void jpeggen_random(uint64_t seed, uint32_t max_w, uint32_t max_h, jpeggen_params *p) {
  uint64_t s = seed * 0x2545F4914F6CDD1Dull + 7;
  jpeggen_defaults(p);
  p->seed = seed;
  uint32_t kind = rng_below(&s, 10);
  if (kind == 0) { /* tiny */
    p->width = 1 + rng_below(&s, 17);
    p->height = 1 + rng_below(&s, 17);
  } else if (kind < 8) {
    p->width = 1 + rng_below(&s, max_w < 400 ? max_w : 400);
    p->height = 1 + rng_below(&s, max_h < 300 ? max_h : 300);
  } else {
    p->width = 1 + rng_below(&s, max_w);
    p->height = 1 + rng_below(&s, max_h);
  }
  p->quality = 30 + (int)rng_below(&s, 71);
  p->subsamp = (jpeggen_subsamp)rng_below(&s, JPEGGEN_CMYK + 1);
  p->progressive = rng_below(&s, 3) == 0;
  p->optimize = rng_below(&s, 2) == 1;
  uint32_t r = rng_below(&s, 4);
  if (r == 1) p->restart_mcus = 1 + rng_below(&s, 40);
  if (r == 2) p->restart_rows = 1 + rng_below(&s, 3);
  p->app1_exif = rng_below(&s, 2) == 1;
  p->app2_icc = rng_below(&s, 4) == 0;
  p->com = rng_below(&s, 4) == 0;
  if (rng_below(&s, 5) == 0) p->trailing_bytes = 1 + rng_below(&s, 300);
  p->frame = rng_below(&s, 100);
}

void jpeggen_fill_rgb(uint64_t seed, uint32_t frame, uint32_t w, uint32_t h, uint8_t *rgb) {
  uint64_t s = seed ^ 0xA5A5A5A5DEADBEEFull;
  int gx[3], gy[3], base[3];
  for (int c = 0; c < 3; c++) {
    gx[c] = (int)rng_below(&s, 512) - 256;
    gy[c] = (int)rng_below(&s, 512) - 256;
    base[c] = (int)rng_below(&s, 256);
  }
  int noise = (int)rng_below(&s, 24);
  enum { N_SHAPES = 6 };
  int sx[N_SHAPES], sy[N_SHAPES], sr[N_SHAPES], dx[N_SHAPES], dy[N_SHAPES], col[N_SHAPES][3], rect[N_SHAPES];
  uint32_t m = w > h ? w : h;
  for (int i = 0; i < N_SHAPES; i++) {
    sx[i] = (int)rng_below(&s, w);  /* w, h <= 65535 */
    sy[i] = (int)rng_below(&s, h);
    sr[i] = 1 + (int)rng_below(&s, m / 4 + 1);
    dx[i] = (int)rng_below(&s, 7) - 3;
    dy[i] = (int)rng_below(&s, 7) - 3;
    rect[i] = (int)rng_below(&s, 2);
    for (int c = 0; c < 3; c++) col[i][c] = (int)rng_below(&s, 256);
  }
  uint64_t ns = seed * 31 + frame;
  for (uint32_t y = 0; y < h; y++) {
    for (uint32_t x = 0; x < w; x++) {
      int v[3];
      for (int c = 0; c < 3; c++)
        v[c] = base[c] + (int)((int64_t)gx[c] * x / (w + 1)) + (int)((int64_t)gy[c] * y / (h + 1));
      for (int i = 0; i < N_SHAPES; i++) {
        int cx = sx[i] + dx[i] * (int)frame, cy = sy[i] + dy[i] * (int)frame;
        int ddx = (int)x - cx, ddy = (int)y - cy;
        int in = rect[i] ? (abs(ddx) < sr[i] && abs(ddy) < sr[i] / 2 + 1) : (ddx * ddx + ddy * ddy < sr[i] * sr[i]);
        if (in)
          for (int c = 0; c < 3; c++) v[c] = col[i][c];
      }
      int n = noise ? (int)rng_below(&ns, (uint32_t)(2 * noise + 1)) - noise : 0;
      for (int c = 0; c < 3; c++) {
        int t = v[c] + n;
        rgb[((size_t)y * w + x) * 3 + (size_t)c] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
      }
    }
  }
}

typedef struct gen_err {
  struct jpeg_error_mgr pub;
  jmp_buf jb;
} gen_err;

static void gen_error_exit(j_common_ptr cinfo) {
  gen_err *e = (gen_err *)cinfo->err;
  longjmp(e->jb, 1);
}
static void gen_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void write_segments(j_compress_ptr ci, const jpeggen_params *p) {
  uint64_t s = p->seed * 977 + 13;
  if (p->app1_exif) {
    size_t n = 600 + rng_below(&s, 2000);
    unsigned char *d = malloc(n);
    if (!d) return;
    memcpy(d, "Exif\0\0II*\0\x08\0\0\0", 14);
    for (size_t i = 14; i < n; i++) d[i] = (unsigned char)(rng_below(&s, 4) ? rng_below(&s, 16) : rng_below(&s, 256));
    jpeg_write_marker(ci, JPEG_APP0 + 1, d, (unsigned)n);
    free(d);
  }
  if (p->app2_icc) {
    size_t n = 14 + 400 + rng_below(&s, 800);
    unsigned char *d = malloc(n);
    if (!d) return;
    memcpy(d, "ICC_PROFILE\0\x01\x01", 14);
    for (size_t i = 14; i < n; i++) d[i] = (unsigned char)rng_below(&s, 256);
    jpeg_write_marker(ci, JPEG_APP0 + 2, d, (unsigned)n);
    free(d);
  }
  if (p->com) {
    const char *t = "jpeggen test image";
    jpeg_write_marker(ci, JPEG_COM, (const JOCTET *)t, (unsigned)strlen(t));
  }
}

/* The libjpeg part, apart so that nothing the caller owns lives across setjmp. */
static int compress(const jpeggen_params *p, const uint8_t *pix, uint8_t *row, unsigned char **mem,
                    unsigned long *mem_len) {
  struct jpeg_compress_struct ci;
  gen_err je;
  size_t w = p->width;
  ci.err = jpeg_std_error(&je.pub);
  je.pub.error_exit = gen_error_exit;
  je.pub.output_message = gen_output_message;
  if (setjmp(je.jb)) {
    jpeg_destroy_compress(&ci);
    return -1;
  }
  jpeg_create_compress(&ci);
  jpeg_mem_dest(&ci, mem, mem_len);
  ci.image_width = p->width;
  ci.image_height = p->height;
  if (p->subsamp == JPEGGEN_CMYK) {
    ci.input_components = 4;
    ci.in_color_space = JCS_CMYK;
  } else {
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
  }
  jpeg_set_defaults(&ci);
  if (p->subsamp == JPEGGEN_GRAY) jpeg_set_colorspace(&ci, JCS_GRAYSCALE);
  jpeg_set_quality(&ci, p->quality, TRUE);
  if (p->subsamp <= JPEGGEN_411) {
    static const int hv[5][2] = {{1, 1}, {2, 1}, {2, 2}, {1, 2}, {4, 1}};
    ci.comp_info[0].h_samp_factor = hv[p->subsamp][0];
    ci.comp_info[0].v_samp_factor = hv[p->subsamp][1];
    for (int c = 1; c < 3; c++) ci.comp_info[c].h_samp_factor = ci.comp_info[c].v_samp_factor = 1;
  }
  ci.optimize_coding = p->optimize ? TRUE : FALSE;
  ci.arith_code = p->arithmetic ? TRUE : FALSE;
  if (p->restart_mcus) ci.restart_interval = p->restart_mcus;
  else if (p->restart_rows) ci.restart_in_rows = (int)p->restart_rows;
  if (p->progressive) jpeg_simple_progression(&ci);
  jpeg_start_compress(&ci, TRUE);
  write_segments(&ci, p);
  while (ci.next_scanline < ci.image_height) {
    const uint8_t *src = pix + (size_t)ci.next_scanline * w * 3;
    if (p->subsamp == JPEGGEN_CMYK) {
      for (size_t x = 0; x < w; x++) {
        uint8_t r = src[3 * x], g = src[3 * x + 1], b = src[3 * x + 2];
        uint8_t k = (uint8_t)(255 - (r > g ? (r > b ? r : b) : (g > b ? g : b)));
        row[4 * x] = (uint8_t)(255 - r);
        row[4 * x + 1] = (uint8_t)(255 - g);
        row[4 * x + 2] = (uint8_t)(255 - b);
        row[4 * x + 3] = k;
      }
    } else {
      memcpy(row, src, w * 3);
    }
    JSAMPROW rp = row;
    jpeg_write_scanlines(&ci, &rp, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  return 0;
}

int jpeggen_make(const jpeggen_params *p, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (p->width < 1 || p->width > 65535 || p->height < 1 || p->height > 65535 || p->quality < 1 || p->quality > 100 ||
      (unsigned)p->subsamp >= JPEGGEN_SUBSAMP_COUNT)
    return -1;
  size_t w = p->width, h = p->height;
  uint8_t *rgb = NULL, *row = malloc(w * 4);
  if (!row) return -2;
  if (!p->rgb) {
    rgb = malloc(w * h * 3);
    if (!rgb) {
      free(row);
      return -2;
    }
    jpeggen_fill_rgb(p->seed, p->frame, p->width, p->height, rgb);
  }
  unsigned char *mem = NULL;
  unsigned long mem_len = 0;
  int r = compress(p, p->rgb ? p->rgb : rgb, row, &mem, &mem_len);
  free(rgb);
  free(row);
  if (r != 0) {
    free(mem);
    return -1;
  }
  size_t total = (size_t)mem_len + p->trailing_bytes;
  uint8_t *res = malloc(total ? total : 1);
  if (!res) {
    free(mem);
    return -2;
  }
  memcpy(res, mem, mem_len);
  uint64_t s = p->seed * 131 + 5;
  for (size_t i = mem_len; i < total; i++) res[i] = (uint8_t)rng_below(&s, 256);
  free(mem);
  *out = res;
  *len = total;
  return 0;
}

const char *jpeggen_describe(const jpeggen_params *p, char *buf, size_t cap) {
  static const char *const ss[] = {"444", "422", "420", "440", "411", "gray", "cmyk"};
  (void)snprintf(buf, cap, "%ux%u q%d %s%s%s%s rst%u/%u%s%s%s tail%zu seed%llu", p->width, p->height, p->quality,
                 (unsigned)p->subsamp < JPEGGEN_SUBSAMP_COUNT ? ss[p->subsamp] : "?", p->progressive ? " prog" : "",
                 p->optimize ? " opt" : "", p->arithmetic ? " arith" : "", p->restart_mcus, p->restart_rows,
                 p->app1_exif ? " exif" : "", p->app2_icc ? " icc" : "", p->com ? " com" : "", p->trailing_bytes,
                 (unsigned long long)p->seed);
  return buf;
}

static const jpg_limits gen_limits = {UINT64_C(1) << 30, 1000, UINT64_C(1) << 31};

int jpeggen_roundtrip(const uint8_t *data, size_t len, size_t *side_len, char *why, size_t why_cap) {
  ims_err err;
  jpg_image *img = NULL, *img2 = NULL;
  buf side, enc;
  int ret = -1;
  ims_err_clear(&err);
  buf_init(&side, SIZE_MAX);
  buf_init(&enc, SIZE_MAX);
  ims_status st = jpg_decode(data, len, &gen_limits, &img, &err);
  if (st) {
    (void)snprintf(why, why_cap, "decode: %s: %s", ims_strerror(st), err.msg);
    return (int)st;
  }
  if ((st = jpg_side_write(img, &side, &err))) {
    (void)snprintf(why, why_cap, "side_write: %s", err.msg);
    goto done;
  }
  if (side_len) *side_len = side.len;
  if ((st = jpg_side_read(side.p, side.len, &gen_limits, &img2, &err))) {
    (void)snprintf(why, why_cap, "side_read: %s", err.msg);
    goto done;
  }
  if (img2->n_comp != img->n_comp || img2->width != img->width || img2->height != img->height ||
      memcmp(img2->qt, img->qt, sizeof img->qt) != 0) {
    (void)snprintf(why, why_cap, "side_read: geometry or qt differ");
    goto done;
  }
  for (unsigned c = 0; c < img->n_comp; c++) {
    if (img2->comp[c].w_blocks != img->comp[c].w_blocks || img2->comp[c].h_blocks != img->comp[c].h_blocks) {
      (void)snprintf(why, why_cap, "side_read: component %u geometry differs", c);
      goto done;
    }
    memcpy(img2->comp[c].coef, img->comp[c].coef, (size_t)img->comp[c].w_blocks * img->comp[c].h_blocks * 64 * 2);
  }
  if ((st = jpg_encode(img2, &enc, &err))) {
    (void)snprintf(why, why_cap, "encode: %s: %s", ims_strerror(st), err.msg);
    goto done;
  }
  if (enc.len != len || memcmp(enc.p, data, len) != 0) {
    size_t i = 0;
    while (i < len && i < enc.len && enc.p[i] == data[i]) i++;
    (void)snprintf(why, why_cap, "rebuilt %zu bytes of %zu, first difference at %zu", enc.len, len, i);
    goto done;
  }
  ret = 0;
done:
  buf_free(&side);
  buf_free(&enc);
  jpg_free(img);
  jpg_free(img2);
  return ret;
}

int jpeggen_compare_libjpeg(const uint8_t *data, size_t len, char *why, size_t why_cap) {
  jpg_image *ref = NULL, *img = NULL;
  ims_err err;
  char msg[256];
  if (jcoef_read_mem(data, len, &ref, msg, sizeof msg) != 0) {
    (void)snprintf(why, why_cap, "libjpeg: %s", msg);
    return 1;
  }
  ims_status st = jpg_decode(data, len, &gen_limits, &img, &err);
  if (st) {
    (void)snprintf(why, why_cap, "decode: %s: %s", ims_strerror(st), err.msg);
    jcoef_free(ref);
    return -1;
  }
  int ret = 0;
  if (ref->n_comp != img->n_comp) {
    (void)snprintf(why, why_cap, "component counts differ");
    ret = -1;
  }
  for (unsigned c = 0; c < img->n_comp && ret == 0; c++) {
    const jpg_component *a = &img->comp[c], *b = &ref->comp[c];
    uint32_t cw = (uint32_t)(((uint64_t)img->width * a->h + img->hmax - 1) / img->hmax);
    uint32_t ch = (uint32_t)(((uint64_t)img->height * a->v + img->vmax - 1) / img->vmax);
    uint32_t bw = (cw + 7) / 8, bh = (ch + 7) / 8;
    if (b->w_blocks < bw || b->h_blocks < bh || a->w_blocks < bw || a->h_blocks < bh) {
      (void)snprintf(why, why_cap, "component %u: block grid too small", c);
      ret = -1;
      break;
    }
    for (uint32_t y = 0; y < bh && ret == 0; y++)
      for (uint32_t x = 0; x < bw; x++) {
        const int16_t *pa = a->coef + ((size_t)y * a->w_blocks + x) * 64;
        const int16_t *pb = b->coef + ((size_t)y * b->w_blocks + x) * 64;
        if (memcmp(pa, pb, 128) != 0) {
          int k = 0;
          while (pa[k] == pb[k]) k++;
          (void)snprintf(why, why_cap, "component %u block (%u,%u) coef %d: ours %d libjpeg %d", c, x, y, k, pa[k],
                         pb[k]);
          ret = -1;
          break;
        }
      }
  }
  jcoef_free(ref);
  jpg_free(img);
  return ret;
}
