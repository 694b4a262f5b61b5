/* The output file: Matroska through libavformat, written under a temporary name in the
 * destination folder and renamed into place only when complete (DESIGN.md invariant 2 for
 * archives, kept here too: no half-written video is ever left at the asked-for path). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/error.h>

#include "video_int.h"

const char *exp_averr(int e, char *tmp, size_t cap) {
  if (av_strerror(e, tmp, cap) < 0) snprintf(tmp, cap, "libav error %d", e);
  return tmp;
}

void exp_report_progress(exp_job *job, uint64_t runs_done) {
  if (!job->o->progress) return;
  ims_progress p;
  memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.files_done = runs_done;
  p.files_total = job->n_runs;
  p.bytes_done = job->bytes_written;
  job->o->progress(job->o->progress_opaque, &p);
}

ims_status exp_out_open(exp_job *job, ims_err *err) {
  const char *out = job->o->out_path;
  size_t n = strlen(out);
  static const char suffix[] = ".tmp.XXXXXX";
  char *url = NULL;
  job->tmp_path = malloc(n + sizeof suffix);
  url = malloc(n + sizeof suffix + 5);
  if (!job->tmp_path || !url) {
    free(url);
    return ims_fail(err, IMS_E_NOMEM, "out of memory");
  }
  memcpy(job->tmp_path, out, n);
  memcpy(job->tmp_path + n, suffix, sizeof suffix);
  int fd = -1, e = 0;
  /* not mkstemp: its 0600 would survive the rename; 0666 here lets the umask decide */
  for (unsigned attempt = 0; fd < 0 && attempt < 100; attempt++) {
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long v = (unsigned long)getpid() * 7919ul + (unsigned long)ts.tv_nsec + attempt * 104729ul;
    for (size_t i = 0; i < 6; i++, v /= 36) job->tmp_path[n + 5 + i] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
    fd = open(job->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    e = errno;
    if (fd < 0 && e != EEXIST) break;
  }
  if (fd < 0) {
    free(job->tmp_path);
    job->tmp_path = NULL;
    free(url);
    return ims_fail(err, IMS_E_IO, "%s: cannot create the output: %s", out, strerror(e));
  }
  (void)close(fd);
  /* "file:" keeps a name with a colon from being read as a protocol */
  memcpy(url, "file:", 5);
  memcpy(url + 5, job->tmp_path, n + sizeof suffix);
  char tmp[128];
  e = avformat_alloc_output_context2(&job->fc, NULL, "matroska", NULL);
  if (e < 0 || !job->fc) {
    free(url);
    return ims_fail(err, IMS_E_UNSUPPORTED, "this FFmpeg has no Matroska muxer: %s", exp_averr(e, tmp, sizeof tmp));
  }
  job->fc->flags |= AVFMT_FLAG_BITEXACT; /* same frames, same file: no random UIDs, no dates */
  e = avio_open(&job->fc->pb, url, AVIO_FLAG_WRITE);
  free(url);
  if (e < 0) return ims_fail(err, IMS_E_IO, "%s: cannot open for writing: %s", job->tmp_path, exp_averr(e, tmp, sizeof tmp));
  job->st = avformat_new_stream(job->fc, NULL);
  if (!job->st) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  job->st->time_base = job->frame_tb;
  return IMS_OK;
}

ims_status exp_out_header(exp_job *job, ims_err *err) {
  char tmp[128];
  int e = avformat_write_header(job->fc, NULL);
  if (e < 0) return ims_fail(err, IMS_E_IO, "%s: cannot write the header: %s", job->o->out_path, exp_averr(e, tmp, sizeof tmp));
  return IMS_OK;
}

ims_status exp_out_packet(exp_job *job, AVPacket *pkt, ims_err *err) {
  char tmp[128];
  pkt->stream_index = job->st->index;
  av_packet_rescale_ts(pkt, job->frame_tb, job->st->time_base);
  int e = av_write_frame(job->fc, pkt);
  if (e < 0) return ims_fail(err, IMS_E_IO, "%s: write failed: %s", job->o->out_path, exp_averr(e, tmp, sizeof tmp));
  if (job->fc->pb->error < 0)
    return ims_fail(err, IMS_E_IO, "%s: write failed: %s", job->o->out_path, exp_averr(job->fc->pb->error, tmp, sizeof tmp));
  int64_t pos = avio_tell(job->fc->pb);
  job->bytes_written = pos > 0 ? (uint64_t)pos : 0;
  return IMS_OK;
}

ims_status exp_out_finish(exp_job *job, ims_err *err) {
  char tmp[128];
  const char *out = job->o->out_path;
  int e = av_write_trailer(job->fc);
  if (e < 0) return ims_fail(err, IMS_E_IO, "%s: cannot finish the file: %s", out, exp_averr(e, tmp, sizeof tmp));
  avio_flush(job->fc->pb);
  e = job->fc->pb->error;
  int ec = avio_closep(&job->fc->pb);
  if (e < 0 || ec < 0)
    return ims_fail(err, IMS_E_IO, "%s: write failed: %s", out, exp_averr(e < 0 ? e : ec, tmp, sizeof tmp));
  if (rename(job->tmp_path, out) != 0)
    return ims_fail(err, IMS_E_IO, "%s: cannot rename %s into place: %s", out, job->tmp_path, strerror(errno));
  free(job->tmp_path);
  job->tmp_path = NULL;
  struct stat sb;
  if (stat(out, &sb) == 0 && sb.st_size > 0) job->res.out_bytes = (uint64_t)sb.st_size;
  return IMS_OK;
}

void exp_out_abort(exp_job *job) {
  if (job->fc) {
    if (job->fc->pb) avio_closep(&job->fc->pb);
    avformat_free_context(job->fc);
    job->fc = NULL;
  }
  if (job->tmp_path) {
    (void)unlink(job->tmp_path);
    free(job->tmp_path);
    job->tmp_path = NULL;
  }
}
