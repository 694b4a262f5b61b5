/* 1/8-scale gray picture of a JPEG (see jpeg_thumb.h): the DC walk of lib/jpeg/dc_thumb.h
 * when it takes the file, else libjpeg-turbo's 1/8-scale decode.
 *
 * libjpeg reports fatal errors through error_exit, which must not return: ours longjmps to
 * the one setjmp in thumb_run (the TurboJPEG pattern, STYLE.md 1.3). All state the jump
 * needs lives in a heap-allocated thumb_ctx whose address never changes after setjmp, so
 * no local needs to be volatile. */
#include "image/jpeg_thumb.h"

#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "common/mem.h"
#include "jpeg/dc_thumb.h"

enum { DEFAULT_MAX_SCANS = 256 };
#define DEFAULT_MAX_PIXELS (UINT64_C(1) << 28)

typedef struct thumb_ctx {
  struct jpeg_error_mgr jerr; /* first: libjpeg hands us &jerr as cinfo->err */
  struct jpeg_progress_mgr progress;
  struct jpeg_decompress_struct d;
  jmp_buf jb;
  ims_status status; /* why we jumped */
  char msg[JMSG_LENGTH_MAX];
  uint32_t max_scans;
  struct jpeg_source_mgr src;
  int hit_eof; /* the data ran out and a fake EOI was supplied */
  uint8_t *px;  /* result being built (owned until handed to the caller) */
  uint8_t *row; /* one output row when there is more than one channel */
} thumb_ctx;

static thumb_ctx *ctx_of(j_common_ptr cinfo) { return (thumb_ctx *)(void *)cinfo->err; }

_Noreturn static void fail_jump(thumb_ctx *c, ims_status st, j_common_ptr cinfo) {
  c->status = st;
  c->jerr.format_message(cinfo, c->msg);
  longjmp(c->jb, 1);
}

static ims_status status_of_error(int code) {
  switch (code) {
  case JERR_OUT_OF_MEMORY:
    return IMS_E_NOMEM;
  case JERR_BAD_PRECISION:
  case JERR_NOT_COMPILED:
  case JERR_CONVERSION_NOTIMPL:
  case JERR_COMPONENT_COUNT:
  case JERR_SOF_UNSUPPORTED:
    return IMS_E_UNSUPPORTED;
  case JERR_IMAGE_TOO_BIG:
  case JERR_WIDTH_OVERFLOW:
    return IMS_E_LIMIT;
  default:
    return IMS_E_CORRUPT;
  }
}

static void on_error_exit(j_common_ptr cinfo) {
  thumb_ctx *c = ctx_of(cinfo);
  fail_jump(c, status_of_error(c->jerr.msg_code), cinfo);
}

/* libjpeg goes on after most corrupt-data warnings (filling gray); a signature of such a
 * picture is worthless, so those warnings are fatal here. Benign ones are ignored. */
static void on_emit_message(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return; /* trace messages */
  thumb_ctx *c = ctx_of(cinfo);
  switch (c->jerr.msg_code) {
  case JWRN_EXTRANEOUS_DATA:
  case JWRN_ADOBE_XFORM:
  case JWRN_JFIF_MAJOR:
  case JWRN_BOGUS_ICC:
  case JWRN_NOT_SEQUENTIAL: /* odd SOS fields in a baseline file; the data decodes */
    c->jerr.num_warnings++;
    return;
  default:
    fail_jump(c, IMS_E_CORRUPT, cinfo);
  }
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* A memory source like jpeg_mem_src, except that running out of data supplies EOI with no
 * warning and only sets hit_eof. Missing entropy data still shows: the Huffman decoder
 * then meets the marker while it needs bits and warns JWRN_HIT_MARKER (fatal here). What
 * this forgives is a file whose picture is complete but lacks EOI (lepton's gray2sf.jpg),
 * which libjpeg reports as "premature end" because its bit reader reads ahead. */
static const JOCTET fake_eoi[2] = {0xFF, JPEG_EOI};

static void src_init(j_decompress_ptr d) { (void)d; }
static void src_term(j_decompress_ptr d) { (void)d; }
static boolean src_fill(j_decompress_ptr d) {
  ctx_of((j_common_ptr)d)->hit_eof = 1;
  d->src->next_input_byte = fake_eoi;
  d->src->bytes_in_buffer = sizeof fake_eoi;
  return TRUE;
}
static void src_skip(j_decompress_ptr d, long n) {
  if (n <= 0) return;
  while ((unsigned long)n > d->src->bytes_in_buffer) { /* at most 32768 turns: n < 65536 */
    n -= (long)d->src->bytes_in_buffer;
    (void)src_fill(d);
  }
  d->src->next_input_byte += n;
  d->src->bytes_in_buffer -= (size_t)n;
}

/* Progressive files can hold thousands of tiny scans (a known denial of service). */
static void on_progress(j_common_ptr cinfo) {
  thumb_ctx *c = ctx_of(cinfo);
  if (c->d.input_scan_number > 0 && (uint32_t)c->d.input_scan_number > c->max_scans) {
    c->status = IMS_E_LIMIT;
    (void)snprintf(c->msg, sizeof c->msg, "more than %u scans", (unsigned)c->max_scans);
    longjmp(c->jb, 1);
  }
}

static ims_status thumb_run(thumb_ctx *c, const uint8_t *data, size_t len, uint64_t max_pixels,
                            uint32_t *w_out, uint32_t *h_out, img_jpeg_geom *geom) {
  c->d.err = jpeg_std_error(&c->jerr);
  c->jerr.error_exit = on_error_exit;
  c->jerr.emit_message = on_emit_message;
  c->jerr.output_message = on_output_message;
  if (setjmp(c->jb)) {
    jpeg_destroy_decompress(&c->d);
    free(c->px);
    c->px = NULL;
    return c->status;
  }
  jpeg_create_decompress(&c->d);
  c->progress.progress_monitor = on_progress;
  c->d.progress = &c->progress;
  c->src.init_source = src_init;
  c->src.fill_input_buffer = src_fill;
  c->src.skip_input_data = src_skip;
  c->src.resync_to_restart = jpeg_resync_to_restart;
  c->src.term_source = src_term;
  c->src.next_input_byte = data;
  c->src.bytes_in_buffer = len;
  c->d.src = &c->src;
  if (jpeg_read_header(&c->d, TRUE) != JPEG_HEADER_OK) {
    c->status = IMS_E_CORRUPT;
    (void)snprintf(c->msg, sizeof c->msg, "no image in the JPEG stream");
    longjmp(c->jb, 1);
  }
  struct jpeg_decompress_struct *d = &c->d;
  if (d->num_components < 1 || d->num_components > 4 || d->data_precision != 8) {
    c->status = IMS_E_UNSUPPORTED;
    (void)snprintf(c->msg, sizeof c->msg, "%d components of %d bits", d->num_components, d->data_precision);
    longjmp(c->jb, 1);
  }
  if ((uint64_t)d->image_width * d->image_height > max_pixels) {
    c->status = IMS_E_LIMIT;
    (void)snprintf(c->msg, sizeof c->msg, "%ux%u is more than %llu pixels", (unsigned)d->image_width,
                   (unsigned)d->image_height, (unsigned long long)max_pixels);
    longjmp(c->jb, 1);
  }
  /* A file of several scans may end between two scans with no sign of it but the missing
   * EOI; only a single-scan file can be trusted to show truncation (see src_fill). */
  bool single_scan = !d->progressive_mode && d->comps_in_scan == d->num_components;
  img_jpeg_geom g;
  memset(&g, 0, sizeof g);
  g.width = d->image_width;
  g.height = d->image_height;
  g.components = (uint8_t)d->num_components;
  g.color_space = (uint8_t)d->jpeg_color_space;
  g.progressive = d->progressive_mode ? 1 : 0;
  for (int i = 0; i < d->num_components; i++) {
    g.h_samp[i] = (uint8_t)d->comp_info[i].h_samp_factor; /* libjpeg checked 1..4 */
    g.v_samp[i] = (uint8_t)d->comp_info[i].v_samp_factor;
  }

  switch (d->jpeg_color_space) {
  case JCS_GRAYSCALE:
  case JCS_YCbCr:
  case JCS_RGB:
    d->out_color_space = JCS_GRAYSCALE; /* gray/YCbCr: Y copied, chroma not decoded further */
    break;
  case JCS_YCCK:
    d->out_color_space = JCS_CMYK;
    break;
  default:
    d->out_color_space = d->jpeg_color_space; /* no conversion; channels are averaged */
    break;
  }
  d->scale_num = 1;
  d->scale_denom = 8;
  d->dct_method = JDCT_ISLOW;
  d->do_fancy_upsampling = FALSE;
  d->do_block_smoothing = FALSE;
  jpeg_start_decompress(d);

  uint32_t ow = d->output_width, oh = d->output_height;
  size_t nc = (size_t)d->output_components, n_px, row_len;
  if (ow == 0 || oh == 0 || nc == 0 || !ims_mul_size(ow, oh, &n_px) || !ims_mul_size(ow, nc, &row_len)) {
    c->status = IMS_E_INTERNAL;
    (void)snprintf(c->msg, sizeof c->msg, "bad output size %ux%u", (unsigned)ow, (unsigned)oh);
    longjmp(c->jb, 1);
  }
  c->px = malloc(n_px);
  if (nc > 1) c->row = malloc(row_len);
  if (!c->px || (nc > 1 && !c->row)) {
    c->status = IMS_E_NOMEM;
    (void)snprintf(c->msg, sizeof c->msg, "out of memory");
    longjmp(c->jb, 1);
  }
  while (d->output_scanline < oh) {
    uint8_t *dst = c->px + (size_t)d->output_scanline * ow;
    JSAMPROW rows[1] = {nc > 1 ? c->row : dst};
    if (jpeg_read_scanlines(d, rows, 1) != 1) {
      c->status = IMS_E_CORRUPT;
      (void)snprintf(c->msg, sizeof c->msg, "decoding stopped early");
      longjmp(c->jb, 1);
    }
    if (nc > 1) {
      for (size_t x = 0; x < ow; x++) {
        unsigned s = 0;
        for (size_t k = 0; k < nc; k++) s += c->row[x * nc + k];
        dst[x] = (uint8_t)((s + (unsigned)nc / 2) / (unsigned)nc);
      }
    }
  }
  (void)jpeg_finish_decompress(d);
  if (c->hit_eof && !single_scan) {
    c->status = IMS_E_CORRUPT;
    (void)snprintf(c->msg, sizeof c->msg, "premature end of a multi-scan JPEG");
    longjmp(c->jb, 1);
  }
  jpeg_destroy_decompress(d);
  *w_out = ow;
  *h_out = oh;
  *geom = g;
  return IMS_OK;
}

ims_status img_jpeg_thumb_libjpeg(const uint8_t *data, size_t len, uint64_t max_pixels, uint32_t max_scans,
                                  uint8_t **px, uint32_t *w, uint32_t *h, img_jpeg_geom *geom, ims_err *err) {
  if (!data || !px || !w || !h || !geom) return ims_fail(err, IMS_E_ARG, "jpeg thumbnail: NULL argument");
  if (len < 4 || data[0] != 0xFF || data[1] != 0xD8) return ims_fail(err, IMS_E_CORRUPT, "not a JPEG");
  thumb_ctx *c = calloc(1, sizeof *c);
  if (!c) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  c->max_scans = max_scans ? max_scans : DEFAULT_MAX_SCANS;
  uint32_t ow = 0, oh = 0;
  ims_status st = thumb_run(c, data, len, max_pixels ? max_pixels : DEFAULT_MAX_PIXELS, &ow, &oh, geom);
  free(c->row);
  if (st == IMS_OK) {
    *px = c->px;
    *w = ow;
    *h = oh;
  } else {
    (void)ims_fail(err, st, "jpeg: %s", c->msg);
  }
  free(c);
  return st;
}

ims_status img_jpeg_thumb(const uint8_t *data, size_t len, uint64_t max_pixels, uint32_t max_scans,
                          uint8_t **px, uint32_t *w, uint32_t *h, img_jpeg_geom *geom, ims_err *err) {
  if (!data || !px || !w || !h || !geom) return ims_fail(err, IMS_E_ARG, "jpeg thumbnail: NULL argument");
  jpg_dc_info g;
  if (jpg_dc_thumb(data, len, max_pixels, max_scans, px, w, h, &g) == IMS_OK) {
    memset(geom, 0, sizeof *geom);
    geom->width = g.width;
    geom->height = g.height;
    geom->components = g.components;
    geom->color_space = g.color_space;
    geom->progressive = g.progressive;
    memcpy(geom->h_samp, g.h_samp, sizeof geom->h_samp);
    memcpy(geom->v_samp, g.v_samp, sizeof geom->v_samp);
    return IMS_OK;
  }
  return img_jpeg_thumb_libjpeg(data, len, max_pixels, max_scans, px, w, h, geom, err);
}
