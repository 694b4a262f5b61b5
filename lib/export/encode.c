/* --codec ffv1 / x264 / x265: decode each distinct frame (libavcodec mjpeg / png), convert
 * only when the encoder needs another pixel format or --scale asks, and encode. Lossless is
 * claimed only when every sample reaches the encoder unchanged: the same pixel format (a
 * full-range yuvj format is its yuv twin tagged full range), or a conversion that only moves
 * or byte-swaps samples (exact_pairs). */
#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <string.h>

#include "video_int.h"

typedef struct enc_state {
  AVCodecContext *dec[3]; /* by exp_kind */
  AVCodecContext *enc;
  const AVCodec *codec;
  struct SwsContext *sws;
  AVFrame *in, *conv;
  AVPacket *pkt;
  enum AVPixelFormat enc_fmt;
  bool lossless; /* asked for: the export fails rather than drop a bit */
  bool noted_loss;
} enc_state;

/* yuvj formats are their yuv twins at full range. */
static enum AVPixelFormat normalize(enum AVPixelFormat f, bool *full) {
  *full = true;
  switch (f) {
  case AV_PIX_FMT_YUVJ420P: return AV_PIX_FMT_YUV420P;
  case AV_PIX_FMT_YUVJ422P: return AV_PIX_FMT_YUV422P;
  case AV_PIX_FMT_YUVJ444P: return AV_PIX_FMT_YUV444P;
  case AV_PIX_FMT_YUVJ440P: return AV_PIX_FMT_YUV440P;
  case AV_PIX_FMT_YUVJ411P: return AV_PIX_FMT_YUV411P;
  default: *full = false; return f;
  }
}

/* Conversions that keep every sample: reordering of channels, packed <-> planar, byte order. */
static const enum AVPixelFormat exact_pairs[][2] = {
    {AV_PIX_FMT_GRAY16BE, AV_PIX_FMT_GRAY16LE}, {AV_PIX_FMT_RGB24, AV_PIX_FMT_GBRP},
    {AV_PIX_FMT_RGB24, AV_PIX_FMT_BGR24},       {AV_PIX_FMT_RGBA, AV_PIX_FMT_GBRAP},
    {AV_PIX_FMT_RGBA, AV_PIX_FMT_BGRA},         {AV_PIX_FMT_RGB48BE, AV_PIX_FMT_GBRP16LE},
    {AV_PIX_FMT_RGB48BE, AV_PIX_FMT_RGB48LE},   {AV_PIX_FMT_RGBA64BE, AV_PIX_FMT_GBRAP16LE},
    {AV_PIX_FMT_RGBA64BE, AV_PIX_FMT_RGBA64LE}, {AV_PIX_FMT_YA8, AV_PIX_FMT_YA8},
};

static bool exact(enum AVPixelFormat from, enum AVPixelFormat to) {
  if (from == to) return true;
  for (size_t i = 0; i < sizeof exact_pairs / sizeof exact_pairs[0]; i++)
    if (exact_pairs[i][0] == from && exact_pairs[i][1] == to) return true;
  return false;
}

static bool supports(const AVCodec *c, enum AVPixelFormat f) {
  if (!c->pix_fmts) return false;
  for (const enum AVPixelFormat *p = c->pix_fmts; *p != AV_PIX_FMT_NONE; p++)
    if (*p == f) return true;
  return false;
}

static const char *fmt_name(enum AVPixelFormat f) {
  const char *n = av_get_pix_fmt_name(f);
  return n ? n : "unknown";
}

static bool is_rgb(enum AVPixelFormat f) {
  const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f);
  return d && (d->flags & AV_PIX_FMT_FLAG_RGB);
}

static void note(const exp_job *job, const char *subject, const char *msg) {
  if (job->o->note) job->o->note(job->o->note_opaque, subject, msg);
}

static ims_status find_encoder(enc_state *s, exp_job *job, enum AVPixelFormat src, ims_err *err) {
  const char *name = job->res.codec == EXP_CODEC_FFV1   ? "ffv1"
                     : job->res.codec == EXP_CODEC_X265 ? "libx265"
                     : is_rgb(src)                      ? "libx264rgb"
                                                        : "libx264";
  s->codec = avcodec_find_encoder_by_name(name);
  if (!s->codec) return ims_fail(err, IMS_E_UNSUPPORTED, "this FFmpeg has no %s encoder", name);
  return IMS_OK;
}

/* The encoder's pixel format for frames decoded as src. */
static ims_status pick_format(enc_state *s, exp_job *job, const exp_frame *f, enum AVPixelFormat src, ims_err *err) {
  bool full;
  enum AVPixelFormat norm = normalize(src, &full);
  s->enc_fmt = AV_PIX_FMT_NONE;
  if (supports(s->codec, norm)) s->enc_fmt = norm;
  for (size_t i = 0; s->enc_fmt == AV_PIX_FMT_NONE && i < sizeof exact_pairs / sizeof exact_pairs[0]; i++)
    if (exact_pairs[i][0] == norm && supports(s->codec, exact_pairs[i][1])) s->enc_fmt = exact_pairs[i][1];
  if (s->enc_fmt != AV_PIX_FMT_NONE) return IMS_OK;
  const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(norm);
  if (s->lossless) {
    if (d && d->comp[0].depth > 8 && job->res.codec == EXP_CODEC_X264)
      return ims_fail(err, IMS_E_UNSUPPORTED,
                      "%s: %s has %d-bit samples and x264 cannot hold them losslessly: use --codec ffv1 for a lossless "
                      "video, or --crf N for a lossy one",
                      f->path, fmt_name(src), d->comp[0].depth);
    return ims_fail(err, IMS_E_UNSUPPORTED,
                    "%s: %s cannot hold %s pixels exactly: use --codec ffv1, or --crf N with x264/x265 for a lossy video",
                    f->path, s->codec->name, fmt_name(src));
  }
  int loss = 0;
  s->enc_fmt = avcodec_find_best_pix_fmt_of_list(s->codec->pix_fmts, norm, d && (d->flags & AV_PIX_FMT_FLAG_ALPHA), &loss);
  if (s->enc_fmt == AV_PIX_FMT_NONE)
    return ims_fail(err, IMS_E_UNSUPPORTED, "%s: %s takes no pixel format for %s", f->path, s->codec->name, fmt_name(src));
  char msg[256];
  snprintf(msg, sizeof msg, "%s converted to %s for %s%s%s%s%s", fmt_name(src), fmt_name(s->enc_fmt), s->codec->name,
           loss & FF_LOSS_DEPTH ? ": fewer bits per sample" : "", loss & FF_LOSS_CHROMA ? ": chroma subsampled" : "",
           loss & FF_LOSS_ALPHA ? ": alpha dropped" : "", loss & FF_LOSS_COLORSPACE ? ": colour space changed" : "");
  note(job, job->o->out_path, msg);
  return IMS_OK;
}

static ims_status open_encoder(enc_state *s, exp_job *job, bool full_range, ims_err *err) {
  const exp_options *o = job->o;
  char tmp[128];
  AVCodecContext *c = s->enc = avcodec_alloc_context3(s->codec);
  if (!c) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  c->width = (int)job->res.width;
  c->height = (int)job->res.height;
  c->pix_fmt = s->enc_fmt;
  c->time_base = job->frame_tb;
  c->framerate = (AVRational){(int)o->fps_num, (int)o->fps_den};
  c->sample_aspect_ratio = (AVRational){1, 1};
  c->color_range = full_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_UNSPECIFIED;
  c->thread_count = 0;
  c->flags |= AV_CODEC_FLAG_BITEXACT;
  if (job->fc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  int e = 0;
  switch (job->res.codec) {
  case EXP_CODEC_FFV1:
    c->gop_size = 1;  /* every frame a key frame: exact seeking */
    c->level = 3;     /* slices (threads), per-slice CRCs */
    e = av_opt_set(c->priv_data, "coder", "range_def", 0);
    break;
  case EXP_CODEC_X264:
    if (o->crf < 0)
      e = av_opt_set(c->priv_data, "qp", "0", 0);
    else
      e = av_opt_set_int(c->priv_data, "crf", o->crf, 0);
    break;
  case EXP_CODEC_X265:
    if (o->crf < 0) {
      e = av_opt_set(c->priv_data, "x265-params", "lossless=1:log-level=error", 0);
    } else {
      e = av_opt_set_int(c->priv_data, "crf", o->crf, 0);
      if (e >= 0) e = av_opt_set(c->priv_data, "x265-params", "log-level=error", 0);
    }
    break;
  default: return ims_fail(err, IMS_E_INTERNAL, "no encoder for codec %d", (int)job->res.codec);
  }
  if (e < 0) return ims_fail(err, IMS_E_UNSUPPORTED, "%s: cannot set options: %s", s->codec->name, exp_averr(e, tmp, sizeof tmp));
  e = avcodec_open2(c, s->codec, NULL);
  if (e < 0)
    return ims_fail(err, IMS_E_UNSUPPORTED, "%s: cannot open the encoder for %dx%d %s: %s", s->codec->name, c->width,
                    c->height, fmt_name(c->pix_fmt), exp_averr(e, tmp, sizeof tmp));
  e = avcodec_parameters_from_context(job->st->codecpar, c);
  if (e < 0) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  job->st->time_base = job->frame_tb;
  snprintf(job->res.pix_fmt, sizeof job->res.pix_fmt, "%s", fmt_name(s->enc_fmt));
  return exp_out_header(job, err);
}

static ims_status decode(enc_state *s, exp_job *job, const exp_frame *f, ims_err *err) {
  char tmp[128];
  ims_status st = exp_read_frame(job, f, err);
  if (st) return st;
  AVCodecContext **dc = &s->dec[f->pr.kind];
  if (!*dc) {
    const AVCodec *codec = avcodec_find_decoder(f->pr.kind == EXP_KIND_PNG ? AV_CODEC_ID_PNG : AV_CODEC_ID_MJPEG);
    if (!codec) return ims_fail(err, IMS_E_UNSUPPORTED, "this FFmpeg has no %s decoder", f->pr.kind == EXP_KIND_PNG ? "PNG" : "JPEG");
    *dc = avcodec_alloc_context3(codec);
    if (!*dc) return ims_fail(err, IMS_E_NOMEM, "out of memory");
    (*dc)->thread_count = 1;
    (*dc)->err_recognition = AV_EF_EXPLODE; /* a damaged frame is an error, not a concealed picture */
    int e = avcodec_open2(*dc, codec, NULL);
    if (e < 0) return ims_fail(err, IMS_E_UNSUPPORTED, "cannot open the %s decoder: %s", codec->name, exp_averr(e, tmp, sizeof tmp));
  }
  if (job->data.len > (size_t)INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
    return ims_fail(err, IMS_E_LIMIT, "%s: too large to decode", f->path);
  av_packet_unref(s->pkt);
  if (av_new_packet(s->pkt, (int)job->data.len) < 0) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  memcpy(s->pkt->data, job->data.p, job->data.len);
  s->pkt->flags |= AV_PKT_FLAG_KEY;
  av_frame_unref(s->in);
  int e = avcodec_send_packet(*dc, s->pkt);
  av_packet_unref(s->pkt);
  if (e >= 0) e = avcodec_receive_frame(*dc, s->in);
  if (e < 0 || (s->in->flags & AV_FRAME_FLAG_CORRUPT) || s->in->decode_error_flags) {
    avcodec_flush_buffers(*dc);
    return ims_fail(err, IMS_E_CORRUPT, "%s: does not decode: %s", f->path,
                    e < 0 ? exp_averr(e, tmp, sizeof tmp) : "damaged image data");
  }
  if ((uint32_t)s->in->width != f->pr.width || (uint32_t)s->in->height != f->pr.height)
    return ims_fail(err, IMS_E_CORRUPT, "%s: decodes to %dx%d, the header says %ux%u", f->path, s->in->width,
                    s->in->height, f->pr.width, f->pr.height);
  return IMS_OK;
}

/* Fits a w x h picture into W x H keeping its aspect; position and size aligned to the
 * chroma subsampling of fmt. */
static void fit(int w, int h, int W, int H, enum AVPixelFormat fmt, int *x, int *y, int *fw, int *fh) {
  const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fmt);
  int mw = (1 << d->log2_chroma_w) - 1, mh = (1 << d->log2_chroma_h) - 1;
  int64_t sw = W, sh = (int64_t)h * W / w;
  if (sh > H) {
    sh = H;
    sw = (int64_t)w * H / h;
  }
  *fw = (int)sw & ~mw;
  *fh = (int)sh & ~mh;
  if (*fw < 1 + mw) *fw = 1 + mw;
  if (*fh < 1 + mh) *fh = 1 + mh;
  *x = ((W - *fw) / 2) & ~mw;
  *y = ((H - *fh) / 2) & ~mh;
}

/* The frame to encode: s->in itself when nothing changes, else s->conv. */
static ims_status convert(enc_state *s, exp_job *job, const exp_frame *f, AVFrame **out, ims_err *err) {
  char tmp[128];
  bool full;
  AVFrame *in = s->in;
  enum AVPixelFormat norm = normalize((enum AVPixelFormat)in->format, &full);
  int W = (int)job->res.width, H = (int)job->res.height;
  bool scaling = in->width != W || in->height != H;
  if (!scaling && norm == s->enc_fmt) {
    in->format = norm;
    if (full) in->color_range = AVCOL_RANGE_JPEG;
    *out = in;
    return IMS_OK;
  }
  if (s->lossless && (scaling || !exact(norm, s->enc_fmt)))
    return ims_fail(err, IMS_E_UNSUPPORTED, "%s: %dx%d %s cannot become %dx%d %s without loss", f->path, in->width,
                    in->height, fmt_name((enum AVPixelFormat)in->format), W, H, fmt_name(s->enc_fmt));
  int x = 0, y = 0, fw = W, fh = H;
  if (scaling) fit(in->width, in->height, W, H, s->enc_fmt, &x, &y, &fw, &fh);
  s->sws = sws_getCachedContext(s->sws, in->width, in->height, norm, fw, fh, s->enc_fmt,
                                (scaling ? SWS_BICUBIC : SWS_POINT) | SWS_ACCURATE_RND | SWS_BITEXACT | SWS_FULL_CHR_H_INT,
                                NULL, NULL, NULL);
  if (!s->sws)
    return ims_fail(err, IMS_E_UNSUPPORTED, "%s: cannot convert %s to %s", f->path, fmt_name(norm), fmt_name(s->enc_fmt));
  int *inv, *tbl, src_range, dst_range, bri, con, sat;
  if (sws_getColorspaceDetails(s->sws, &inv, &src_range, &tbl, &dst_range, &bri, &con, &sat) >= 0)
    (void)sws_setColorspaceDetails(s->sws, inv, full, tbl, s->enc->color_range == AVCOL_RANGE_JPEG, bri, con, sat);
  av_frame_unref(s->conv);
  s->conv->format = s->enc_fmt;
  s->conv->width = W;
  s->conv->height = H;
  s->conv->color_range = s->enc->color_range;
  int e = av_frame_get_buffer(s->conv, 0);
  if (e < 0) return ims_fail(err, IMS_E_NOMEM, "out of memory for a %dx%d frame", W, H);
  uint8_t *dst[4] = {NULL, NULL, NULL, NULL};
  ptrdiff_t lines[4] = {0, 0, 0, 0};
  const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(s->enc_fmt);
  if (scaling) {
    for (int p = 0; p < 4; p++) lines[p] = s->conv->linesize[p];
    e = av_image_fill_black(s->conv->data, lines, s->enc_fmt, s->conv->color_range, W, H);
    if (e < 0) return ims_fail(err, IMS_E_UNSUPPORTED, "cannot pad %s frames: %s", fmt_name(s->enc_fmt), exp_averr(e, tmp, sizeof tmp));
  }
  for (int p = 0; p < 4 && s->conv->data[p]; p++) {
    bool chroma = (p == 1 || p == 2) && !(d->flags & AV_PIX_FMT_FLAG_RGB);
    int row = chroma ? y >> d->log2_chroma_h : y;
    int col = av_image_get_linesize(s->enc_fmt, x, p);
    dst[p] = s->conv->data[p] + (ptrdiff_t)row * s->conv->linesize[p] + (col > 0 ? col : 0);
  }
  sws_scale(s->sws, (const uint8_t *const *)in->data, in->linesize, 0, in->height, dst, s->conv->linesize);
  if (!exact(norm, s->enc_fmt) && !s->noted_loss) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s converted to %s: not lossless", fmt_name((enum AVPixelFormat)in->format), fmt_name(s->enc_fmt));
    note(job, f->path, msg);
    s->noted_loss = true;
  }
  *out = s->conv;
  return IMS_OK;
}

static int cmp_run_start(const void *key, const void *elem) {
  int64_t k = *(const int64_t *)key;
  const exp_run *r = elem;
  return k < (int64_t)r->start ? -1 : k > (int64_t)r->start;
}

/* Sends frame (NULL: flush) and writes every packet that comes out. */
static ims_status encode(enc_state *s, exp_job *job, AVFrame *frame, ims_err *err) {
  char tmp[128];
  int e = avcodec_send_frame(s->enc, frame);
  if (e < 0) return ims_fail(err, IMS_E_INTERNAL, "%s: encoding failed: %s", s->codec->name, exp_averr(e, tmp, sizeof tmp));
  for (;;) {
    e = avcodec_receive_packet(s->enc, s->pkt);
    if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return IMS_OK;
    if (e < 0) return ims_fail(err, IMS_E_INTERNAL, "%s: encoding failed: %s", s->codec->name, exp_averr(e, tmp, sizeof tmp));
    /* the run this packet shows: its duration is the run's length (variable frame rate) */
    const exp_run *r = bsearch(&s->pkt->pts, job->runs, job->n_runs, sizeof *job->runs, cmp_run_start);
    if (r) s->pkt->duration = (int64_t)r->len;
    ims_status st = exp_out_packet(job, s->pkt, err);
    av_packet_unref(s->pkt);
    if (st) return st;
    job->res.frames_written++;
  }
}

ims_status exp_write_encoded(exp_job *job, ims_err *err) {
  enc_state s;
  memset(&s, 0, sizeof s);
  s.lossless = job->o->crf < 0 && !job->o->scale_w;
  ims_status st = IMS_OK;
  s.in = av_frame_alloc();
  s.conv = av_frame_alloc();
  s.pkt = av_packet_alloc();
  if (!s.in || !s.conv || !s.pkt) {
    st = ims_fail(err, IMS_E_NOMEM, "out of memory");
    goto done;
  }
  for (size_t r = 0; r < job->n_runs; r++) {
    const exp_frame *f = &job->frames[job->runs[r].start];
    st = decode(&s, job, f, err);
    if (st) goto done;
    if (!s.enc) {
      bool full;
      (void)normalize((enum AVPixelFormat)s.in->format, &full);
      st = find_encoder(&s, job, (enum AVPixelFormat)s.in->format, err);
      if (!st) st = pick_format(&s, job, f, (enum AVPixelFormat)s.in->format, err);
      if (!st) st = open_encoder(&s, job, full || s.in->color_range == AVCOL_RANGE_JPEG, err);
      if (st) goto done;
    }
    AVFrame *frame = NULL;
    st = convert(&s, job, f, &frame, err);
    if (st) goto done;
    frame->pts = (int64_t)job->runs[r].start;
    frame->pict_type = AV_PICTURE_TYPE_NONE;
    st = encode(&s, job, frame, err);
    if (st) goto done;
    exp_report_progress(job, r + 1);
  }
  st = encode(&s, job, NULL, err);
  if (st) goto done;
  job->res.lossless = s.lossless;
done:
  sws_freeContext(s.sws);
  avcodec_free_context(&s.enc);
  for (int k = 0; k < 3; k++) avcodec_free_context(&s.dec[k]);
  av_frame_free(&s.in);
  av_frame_free(&s.conv);
  av_packet_free(&s.pkt);
  return st;
}
