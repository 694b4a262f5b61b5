/* Internals shared by the files of export/: one selected frame, the runs of repeats, and the
 * output file (temporary name, renamed on success). Not for use outside lib/export/. */
#ifndef IMS_EXPORT_VIDEO_INT_H
#define IMS_EXPORT_VIDEO_INT_H

#include <libavformat/avformat.h>

#include "common/buf.h"
#include "export.h"
#include "probe.h"

/* One selected image, in output order once sorted. */
typedef struct exp_frame {
  uint64_t item;       /* index in the source */
  const char *path;    /* owned by the source */
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint64_t size;
  uint8_t id[16];
  exp_probe pr;        /* exif pointer cleared (the probed bytes are gone) */
  bool has_dt;
  char dt[20];         /* EXIF DateTimeOriginal when has_dt */
} exp_frame;

/* A run of consecutive frames shown as one: frames [start, start + len) of the sorted list.
 * Invariant: runs cover the frames in order, without gaps; len >= 1. */
typedef struct exp_run {
  uint64_t start, len;
} exp_run;

/* Everything one export holds. Invariant: when fc is set, tmp_path names a file we created. */
typedef struct exp_job {
  const exp_source *src;
  const exp_options *o;
  exp_result res;
  exp_frame *frames;
  size_t n_frames;
  exp_run *runs;
  size_t n_runs;
  AVRational frame_tb;   /* 1 / fps: one frame per tick */
  char *tmp_path;
  AVFormatContext *fc;
  AVStream *st;
  buf data;              /* bytes of the frame being written */
  uint64_t bytes_written;
} exp_job;

/* Reads all of frame f's bytes into job->data (bounded by max_frame_bytes). */
ims_status exp_read_frame(exp_job *job, const exp_frame *f, ims_err *err);

/* Creates the temporary output file and the Matroska context (no stream yet). */
ims_status exp_out_open(exp_job *job, ims_err *err);
/* Writes the header after the stream is set up. */
ims_status exp_out_header(exp_job *job, ims_err *err);
/* Writes pkt (time stamps in frame_tb units, rescaled here). */
ims_status exp_out_packet(exp_job *job, AVPacket *pkt, ims_err *err);
/* Writes the trailer, closes, and renames into place. */
ims_status exp_out_finish(exp_job *job, ims_err *err);
/* Closes and removes the temporary file when the export did not finish. */
void exp_out_abort(exp_job *job);
void exp_report_progress(exp_job *job, uint64_t runs_done);

/* The codec paths. */
ims_status exp_write_copy(exp_job *job, ims_err *err);
ims_status exp_write_encoded(exp_job *job, ims_err *err);

/* av_strerror as a string in tmp. */
const char *exp_averr(int e, char *tmp, size_t cap);

#endif
