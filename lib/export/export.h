/* Video export: the images of an archive (or any frame source) as one video file, through
 * libavformat and libavcodec (docs/DESIGN.md, "Video export").
 *
 * - copy: every packet is an original JPEG file's bytes (Matroska, V_MJPEG). A run of
 *   consecutive frames with identical content becomes one packet whose duration covers the
 *   run (variable frame rate), unless keep_repeats is set.
 * - ffv1 / x264 / x265: frames are decoded (libavcodec mjpeg / png) and encoded. Lossless
 *   (ffv1 always; x264/x265 when crf < 0) only in a pixel format that holds every source
 *   sample; when none exists the export is refused (IMS_E_UNSUPPORTED) rather than sold as
 *   lossless.
 *
 * Nothing appears at out_path unless the export succeeds: the file is written to
 * OUT.tmp.XXXXXX in the same folder, renamed at the end, removed on failure.
 *
 * The library never prints: progress goes through options.progress, remarks for the user
 * (skipped entries, pixel format changes) through options.note, failures through ims_err.
 * One export runs on one thread; separate exports may run on separate threads. libav* may
 * log through av_log: the program sets av_log_set_level (global, the program's choice).
 */
#ifndef IMS_EXPORT_EXPORT_H
#define IMS_EXPORT_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h" /* relative: cli/cmd_video.c includes this header too */
#include "imgstash.h"

typedef enum exp_codec {
  EXP_CODEC_AUTO = 0, /* copy when every frame is a JPEG of one size and sampling, else ffv1 */
  EXP_CODEC_COPY = 1,
  EXP_CODEC_FFV1 = 2,
  EXP_CODEC_X264 = 3,
  EXP_CODEC_X265 = 4,
} exp_codec;
const char *exp_codec_name(exp_codec c);

typedef enum exp_order {
  EXP_ORDER_NAME = 0,  /* natural sort of paths: frame2 before frame10 */
  EXP_ORDER_MTIME = 1, /* modification time, then name */
  EXP_ORDER_EXIF = 2,  /* EXIF DateTimeOriginal; frames without it after, by name */
} exp_order;

/* A remark for the user about one subject (an entry path or the output), never a failure. */
typedef void (*exp_note_fn)(void *opaque, const char *subject, const char *msg);

typedef struct exp_options {
  const char *out_path;  /* the video file (Matroska) */
  uint32_t fps_num, fps_den; /* frames per second as a fraction; default 25/1 */
  const char *select;    /* fnmatch glob; with a '/' it matches the whole path, else the
                            file name. NULL: every file */
  exp_order order;
  exp_codec codec;
  int crf;               /* x264/x265: constant rate factor 0..51; < 0: lossless */
  bool keep_repeats;     /* one packet per frame, repeats included */
  uint32_t scale_w, scale_h; /* non-zero: fit every frame into WxH (aspect kept, padded) */
  uint64_t max_frame_bytes;  /* largest frame file read; default 256 MiB */
  uint64_t max_pixels;       /* largest frame decoded; default 2^28 */
  ims_progress_fn progress;  /* may be NULL; files = output frames, bytes = bytes written */
  void *progress_opaque;
  exp_note_fn note;          /* may be NULL */
  void *note_opaque;
} exp_options;

/* Fills *o with the defaults above. */
void exp_options_init(exp_options *o);

typedef struct exp_result {
  exp_codec codec;          /* the codec used (never AUTO) */
  uint64_t frames_in;       /* selected image frames, repeats included */
  uint64_t frames_written;  /* packets / encoded frames in the video */
  uint64_t repeats_folded;  /* frames merged into the previous frame's duration */
  uint64_t skipped;         /* selected entries that are not images */
  double duration_s;        /* frames_in / fps */
  uint64_t out_bytes;       /* size of the video file */
  uint32_t width, height;
  char pix_fmt[32];         /* pixel format of the video */
  bool lossless;            /* every pixel of every frame is kept (copy: every byte) */
} exp_result;

/* ---- frame sources: what exp_video_source reads from ---- */

typedef struct exp_item {
  const char *path;   /* valid until the source is freed */
  bool is_file;       /* only files are frames */
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint64_t size;      /* bytes */
  uint8_t id[16];     /* identity: equal for byte-identical contents */
} exp_item;

/* Streams item i's bytes to fn (return non-zero from fn to stop early: the source then
 * returns IMS_OK if it stopped because fn asked, having delivered a prefix). */
typedef int (*exp_sink_fn)(void *opaque, const void *data, size_t len);

typedef struct exp_source {
  void *opaque;
  uint64_t (*count)(void *opaque);
  ims_status (*item)(void *opaque, uint64_t i, exp_item *out, ims_err *err);
  ims_status (*read)(void *opaque, uint64_t i, exp_sink_fn fn, void *fn_opaque, ims_err *err);
} exp_source;

/* Exports the frames of src. On failure res is left unchanged, nothing is left at
 * o->out_path, and err says why: IMS_E_ARG (bad options), IMS_E_NOTFOUND (no images),
 * IMS_E_UNSUPPORTED (frames the codec cannot hold as asked: sizes differ without scale_w,
 * copy of non-JPEG frames, lossless impossible), IMS_E_IO (output), IMS_E_CORRUPT (a frame
 * does not decode), IMS_E_NOMEM, IMS_E_LIMIT. */
ims_status exp_video_source(const exp_source *src, const exp_options *o, exp_result *res, ims_err *err);

/* The same over the files of an open archive (r is used by this thread only). */
ims_status exp_video(ims_reader *r, const exp_options *o, exp_result *res, ims_err *err);

/* ---- helpers, exposed for unit tests ---- */

/* Natural order of two paths: runs of digits compare as numbers (frame2 < frame10), the
 * rest bytewise; ties (e.g. "a01" vs "a1") are broken bytewise. Returns <0, 0, >0. */
int exp_natcmp(const char *a, const char *b);

#endif
