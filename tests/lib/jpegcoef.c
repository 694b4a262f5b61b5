#include "jpegcoef.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

/* libjpeg's natural order of each zigzag position (ITU-T T.81 figure A.6). */
static const uint8_t zz_to_nat[64] = {0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
                                      12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
                                      35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
                                      58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

typedef struct err_mgr {
  struct jpeg_error_mgr pub;
  jmp_buf jb;
  char msg[JMSG_LENGTH_MAX];
} err_mgr;

static void on_error(j_common_ptr cinfo) {
  err_mgr *e = (err_mgr *)cinfo->err;
  (*cinfo->err->format_message)(cinfo, e->msg);
  longjmp(e->jb, 1);
}

static void on_message(j_common_ptr cinfo) { (void)cinfo; }

jpg_image *jcoef_new(unsigned n_comp, const uint8_t *h, const uint8_t *v, const uint32_t *w_blocks,
                     const uint32_t *h_blocks) {
  if (n_comp < 1 || n_comp > 4) return NULL;
  jpg_image *img = calloc(1, sizeof *img);
  if (!img) return NULL;
  img->n_comp = (uint8_t)n_comp;
  img->hmax = img->vmax = 1;
  for (unsigned c = 0; c < n_comp; c++) {
    jpg_component *k = &img->comp[c];
    k->id = (uint8_t)(c + 1);
    k->h = h[c];
    k->v = v[c];
    k->tq = (uint8_t)(c ? 1 : 0);
    k->w_blocks = w_blocks[c];
    k->h_blocks = h_blocks[c];
    if (k->h > img->hmax) img->hmax = k->h;
    if (k->v > img->vmax) img->vmax = k->v;
    size_t n = (size_t)w_blocks[c] * h_blocks[c] * 64;
    k->coef = calloc(n ? n : 1, sizeof(int16_t));
    if (!k->coef) {
      jcoef_free(img);
      return NULL;
    }
  }
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 64; i++) img->qt[t][i] = 1;
  return img;
}

jpg_image *jcoef_clone_empty(const jpg_image *img) {
  uint8_t h[4], v[4];
  uint32_t wb[4], hb[4];
  for (unsigned c = 0; c < img->n_comp; c++) {
    h[c] = img->comp[c].h;
    v[c] = img->comp[c].v;
    wb[c] = img->comp[c].w_blocks;
    hb[c] = img->comp[c].h_blocks;
  }
  jpg_image *o = jcoef_new(img->n_comp, h, v, wb, hb);
  if (!o) return NULL;
  o->width = img->width;
  o->height = img->height;
  o->progressive = img->progressive;
  for (unsigned c = 0; c < img->n_comp; c++) {
    o->comp[c].id = img->comp[c].id;
    o->comp[c].tq = img->comp[c].tq;
  }
  memcpy(o->qt, img->qt, sizeof o->qt);
  return o;
}

void jcoef_free(jpg_image *img) {
  if (!img) return;
  for (int c = 0; c < 4; c++) free(img->comp[c].coef);
  free(img);
}

int jcoef_equal(const jpg_image *a, const jpg_image *b) {
  if (a->n_comp != b->n_comp) return 0;
  for (unsigned c = 0; c < a->n_comp; c++) {
    const jpg_component *x = &a->comp[c], *y = &b->comp[c];
    if (x->w_blocks != y->w_blocks || x->h_blocks != y->h_blocks) return 0;
    size_t n = (size_t)x->w_blocks * x->h_blocks * 64;
    if (n && memcmp(x->coef, y->coef, n * sizeof(int16_t)) != 0) return 0;
  }
  return 1;
}

int jcoef_read_mem(const uint8_t *data, size_t len, jpg_image **out, char *why, size_t why_cap) {
  struct jpeg_decompress_struct cinfo;
  err_mgr em;
  jpg_image *volatile img = NULL;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&em.pub);
  em.pub.error_exit = on_error;
  em.pub.output_message = on_message;
  em.msg[0] = '\0';
  if (setjmp(em.jb)) {
    if (why && why_cap) snprintf(why, why_cap, "%s", em.msg);
    jpeg_destroy_decompress(&cinfo);
    jcoef_free(img);
    return -1;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  jvirt_barray_ptr *arrays = jpeg_read_coefficients(&cinfo);
  int nc = cinfo.num_components;
  if (nc < 1 || nc > 4) {
    snprintf(em.msg, sizeof em.msg, "%d components", nc);
    longjmp(em.jb, 1);
  }
  uint8_t h[4], v[4];
  uint32_t wb[4], hb[4];
  for (int c = 0; c < nc; c++) {
    jpeg_component_info *ci = &cinfo.comp_info[c];
    h[c] = (uint8_t)ci->h_samp_factor;
    v[c] = (uint8_t)ci->v_samp_factor;
    wb[c] = ci->width_in_blocks;
    hb[c] = ci->height_in_blocks;
    if (nc > 1) {
      wb[c] = (wb[c] + h[c] - 1) / h[c] * h[c];
      hb[c] = (hb[c] + v[c] - 1) / v[c] * v[c];
    }
  }
  img = jcoef_new((unsigned)nc, h, v, wb, hb);
  if (!img) {
    snprintf(em.msg, sizeof em.msg, "out of memory");
    longjmp(em.jb, 1);
  }
  img->width = cinfo.image_width;
  img->height = cinfo.image_height;
  img->progressive = cinfo.progressive_mode != 0;
  memset(img->qt, 0, sizeof img->qt);
  for (int c = 0; c < nc; c++) {
    jpeg_component_info *ci = &cinfo.comp_info[c];
    jpg_component *k = &img->comp[c];
    k->id = (uint8_t)ci->component_id;
    k->tq = (uint8_t)(ci->quant_tbl_no & 3);
    if (ci->quant_table)
      for (int i = 0; i < 64; i++) img->qt[k->tq][i] = ci->quant_table->quantval[zz_to_nat[i]];
    for (JDIMENSION by = 0; by < ci->height_in_blocks; by++) {
      JBLOCKARRAY row = (*cinfo.mem->access_virt_barray)((j_common_ptr)&cinfo, arrays[c], by, 1, FALSE);
      for (JDIMENSION bx = 0; bx < ci->width_in_blocks; bx++) {
        int16_t *dst = k->coef + ((size_t)by * k->w_blocks + bx) * 64;
        for (int i = 0; i < 64; i++) dst[i] = row[0][bx][zz_to_nat[i]];
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  *out = img;
  return 0;
}

int jcoef_load_file(const char *path, uint8_t **data, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t cap = 1 << 16, n = 0;
  uint8_t *p = malloc(cap);
  while (p) {
    if (n == cap) {
      uint8_t *q = realloc(p, cap * 2);
      if (!q) break;
      p = q;
      cap *= 2;
    }
    size_t got = fread(p + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      fclose(f);
      *data = p;
      *len = n;
      return 0;
    }
  }
  free(p);
  fclose(f);
  return -1;
}

size_t jcoef_scan_bytes(const uint8_t *d, size_t len) {
  size_t i = 2, total = 0; /* after SOI */
  while (i + 4 <= len) {
    if (d[i] != 0xFF) {
      i++;
      continue;
    }
    uint8_t m = d[i + 1];
    if (m == 0xFF) {
      i++;
      continue;
    }
    if (m == 0xD9) break;
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
      i += 2;
      continue;
    }
    size_t seg = (size_t)d[i + 2] << 8 | d[i + 3];
    i += 2 + seg;
    if (m != 0xDA) continue;
    size_t start = i;
    while (i + 1 < len) {
      if (d[i] == 0xFF && d[i + 1] != 0 && !(d[i + 1] >= 0xD0 && d[i + 1] <= 0xD7)) break;
      i++;
    }
    if (i + 1 >= len) i = len;
    total += i - start;
  }
  return total;
}
