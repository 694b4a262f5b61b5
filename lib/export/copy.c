/* --codec copy: each packet is a JPEG file's bytes (Matroska V_MJPEG). A run of repeats is
 * one packet whose duration covers the run, so the video keeps the original timing and
 * holds every distinct frame once; `ffmpeg -i OUT.mkv -c copy -f image2 %05d.jpg` gives the
 * files back byte for byte. */
#include <libavutil/pixdesc.h>
#include <libavutil/pixfmt.h>
#include <string.h>

#include "video_int.h"

/* The pixel format libavcodec's mjpeg decoder gives for these sampling factors. */
static enum AVPixelFormat jpeg_pix_fmt(const exp_probe *p) {
  if (p->depth != 8) return AV_PIX_FMT_NONE;
  if (p->n_comp == 1) return AV_PIX_FMT_GRAY8;
  if (p->n_comp != 3 || p->samp[1] != p->samp[2]) return AV_PIX_FMT_NONE;
  unsigned h0 = p->samp[0] >> 4, v0 = p->samp[0] & 15u, h1 = p->samp[1] >> 4, v1 = p->samp[1] & 15u;
  if (h1 == 0 || v1 == 0 || h0 % h1 || v0 % v1) return AV_PIX_FMT_NONE;
  switch ((h0 / h1) << 4 | v0 / v1) { /* luma to chroma ratio: 1x2 for all three is 4:4:4 */
  case 0x22: return AV_PIX_FMT_YUVJ420P;
  case 0x21: return AV_PIX_FMT_YUVJ422P;
  case 0x11: return AV_PIX_FMT_YUVJ444P;
  case 0x12: return AV_PIX_FMT_YUVJ440P;
  case 0x41: return AV_PIX_FMT_YUVJ411P;
  default: return AV_PIX_FMT_NONE;
  }
}

ims_status exp_write_copy(exp_job *job, ims_err *err) {
  const exp_probe *p = &job->frames[0].pr;
  AVCodecParameters *par = job->st->codecpar;
  par->codec_type = AVMEDIA_TYPE_VIDEO;
  par->codec_id = AV_CODEC_ID_MJPEG;
  par->width = (int)p->width;
  par->height = (int)p->height;
  par->format = jpeg_pix_fmt(p);
  par->color_range = AVCOL_RANGE_JPEG;
  par->field_order = AV_FIELD_PROGRESSIVE;
  const char *name = av_get_pix_fmt_name(par->format);
  snprintf(job->res.pix_fmt, sizeof job->res.pix_fmt, "%s", name ? name : "jpeg");
  job->res.lossless = true;
  ims_status st = exp_out_header(job, err);
  if (st) return st;
  AVPacket *pkt = av_packet_alloc();
  if (!pkt) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  for (size_t r = 0; r < job->n_runs; r++) {
    const exp_frame *f = &job->frames[job->runs[r].start];
    st = exp_read_frame(job, f, err);
    if (st) break;
    if (job->data.len > (size_t)INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE) {
      st = ims_fail(err, IMS_E_LIMIT, "%s: too large for one packet", f->path);
      break;
    }
    if (av_new_packet(pkt, (int)job->data.len) < 0) {
      st = ims_fail(err, IMS_E_NOMEM, "out of memory");
      break;
    }
    memcpy(pkt->data, job->data.p, job->data.len);
    pkt->pts = pkt->dts = (int64_t)job->runs[r].start;
    pkt->duration = (int64_t)job->runs[r].len;
    pkt->flags |= AV_PKT_FLAG_KEY;
    st = exp_out_packet(job, pkt, err);
    av_packet_unref(pkt);
    if (st) break;
    job->res.frames_written++;
    exp_report_progress(job, r + 1);
  }
  av_packet_free(&pkt);
  return st;
}
