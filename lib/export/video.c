/* Video export, the part that knows no codec: select the image frames of a source, put them
 * in order, fold runs of repeats, pick the codec, and hand over to copy.c or encode.c. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "video_int.h"

#define PROBE_PREFIX_BYTES ((size_t)1 << 20) /* JPEG headers incl. a 64 KiB EXIF segment fit */

const char *exp_codec_name(exp_codec c) {
  switch (c) {
  case EXP_CODEC_AUTO: return "auto";
  case EXP_CODEC_COPY: return "copy";
  case EXP_CODEC_FFV1: return "ffv1";
  case EXP_CODEC_X264: return "x264";
  case EXP_CODEC_X265: return "x265";
  }
  return "unknown";
}

void exp_options_init(exp_options *o) {
  memset(o, 0, sizeof *o);
  o->fps_num = 25;
  o->fps_den = 1;
  o->order = EXP_ORDER_NAME;
  o->codec = EXP_CODEC_AUTO;
  o->crf = -1;
  o->max_frame_bytes = (uint64_t)256 << 20;
  o->max_pixels = (uint64_t)1 << 28;
}

static void note(const exp_job *job, const char *subject, const char *msg) {
  if (job->o->note) job->o->note(job->o->note_opaque, subject, msg);
}

/* ---- reading frame bytes ---- */

typedef struct sink {
  buf *b;
  size_t want; /* stop once this many bytes are in */
  ims_status st;
} sink;

static int sink_fn(void *opaque, const void *data, size_t len) {
  sink *s = opaque;
  size_t room = s->b->max - s->b->len;
  if (len > room) {
    s->st = IMS_E_LIMIT;
    return 1;
  }
  ims_status st = buf_append(s->b, data, len);
  if (st) {
    s->st = st;
    return 1;
  }
  return s->b->len >= s->want;
}

/* Reads frame f into b: the first want bytes at least (or all of it), up to b->max. */
static ims_status read_bytes(exp_job *job, const exp_frame *f, buf *b, size_t want, ims_err *err) {
  b->len = 0;
  sink s = {b, want, IMS_OK};
  ims_status st = job->src->read(job->src->opaque, f->item, sink_fn, &s, err);
  if (s.st == IMS_E_LIMIT)
    return ims_fail(err, IMS_E_LIMIT, "%s: larger than the frame limit (%llu bytes)", f->path,
                    (unsigned long long)job->o->max_frame_bytes);
  if (s.st) return ims_fail(err, s.st, "%s: %s", f->path, ims_strerror(s.st));
  return st;
}

ims_status exp_read_frame(exp_job *job, const exp_frame *f, ims_err *err) {
  return read_bytes(job, f, &job->data, SIZE_MAX, err);
}

/* ---- selection, probing, order ---- */

static bool selected(const char *glob, const char *path) {
  if (!glob) return true;
  const char *name = strrchr(path, '/');
  const char *subject = strchr(glob, '/') || !name ? path : name + 1;
  return fnmatch(glob, subject, 0) == 0;
}

static ims_status collect(exp_job *job, ims_err *err) {
  const exp_source *src = job->src;
  uint64_t n = src->count(src->opaque);
  size_t bytes;
  if (n > SIZE_MAX || !ims_mul_size((size_t)n, sizeof(exp_frame), &bytes))
    return ims_fail(err, IMS_E_LIMIT, "too many entries (%llu)", (unsigned long long)n);
  job->frames = calloc(n ? (size_t)n : 1, sizeof(exp_frame));
  if (!job->frames) return ims_fail(err, IMS_E_NOMEM, "out of memory for %llu frames", (unsigned long long)n);
  for (uint64_t i = 0; i < n; i++) {
    exp_item it;
    ims_status st = src->item(src->opaque, i, &it, err);
    if (st) return st;
    if (!it.is_file || !selected(job->o->select, it.path)) continue;
    exp_frame *f = &job->frames[job->n_frames++];
    f->item = i;
    f->path = it.path;
    f->mtime_sec = it.mtime_sec;
    f->mtime_nsec = it.mtime_nsec;
    f->size = it.size;
    memcpy(f->id, it.id, 16);
  }
  return IMS_OK;
}

static int cmp_id(const void *a, const void *b) {
  const exp_frame *const *x = a, *const *y = b;
  int c = memcmp((*x)->id, (*y)->id, 16);
  if (c) return c;
  return (*x)->item < (*y)->item ? -1 : (*x)->item > (*y)->item;
}

/* Probes the headers of every distinct content once; drops what is not an image. */
static ims_status probe_all(exp_job *job, ims_err *err) {
  ims_status st = IMS_OK;
  size_t n = job->n_frames;
  exp_frame **by_id = calloc(n ? n : 1, sizeof *by_id);
  buf b;
  buf_init(&b, (size_t)(job->o->max_frame_bytes < SIZE_MAX ? job->o->max_frame_bytes : SIZE_MAX));
  if (!by_id) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) by_id[i] = &job->frames[i];
  qsort(by_id, n, sizeof *by_id, cmp_id);
  for (size_t i = 0; i < n; i++) {
    exp_frame *f = by_id[i];
    if (i > 0 && !memcmp(by_id[i - 1]->id, f->id, 16)) {
      exp_frame *prev = by_id[i - 1];
      f->pr = prev->pr;
      f->has_dt = prev->has_dt;
      memcpy(f->dt, prev->dt, sizeof f->dt);
      continue;
    }
    st = read_bytes(job, f, &b, PROBE_PREFIX_BYTES, err);
    if (st) goto fail;
    st = exp_probe_image(b.p, b.len, &f->pr);
    if (st == IMS_E_NOTFOUND && b.len >= PROBE_PREFIX_BYTES) { /* headers beyond the prefix */
      st = read_bytes(job, f, &b, SIZE_MAX, err);
      if (st) goto fail;
      st = exp_probe_image(b.p, b.len, &f->pr);
    }
    if (st == IMS_E_UNSUPPORTED) {
      f->pr.kind = EXP_KIND_OTHER;
      st = IMS_OK;
      continue;
    }
    if (st) {
      st = ims_fail(err, IMS_E_CORRUPT, "%s: %s headers are %s", f->path, exp_sniff(b.p, b.len) == EXP_KIND_PNG ? "PNG" : "JPEG",
                    st == IMS_E_NOTFOUND ? "truncated" : "malformed");
      goto fail;
    }
    if (f->pr.exif) f->has_dt = exp_exif_datetime(f->pr.exif, f->pr.exif_len, f->dt);
    f->pr.exif = NULL;
    f->pr.exif_len = 0;
  }
  /* drop what is not an image, keeping the source order */
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (job->frames[i].pr.kind == EXP_KIND_OTHER) {
      note(job, job->frames[i].path, "not a JPEG or PNG image: skipped");
      job->res.skipped++;
    } else {
      job->frames[k++] = job->frames[i];
    }
  }
  job->n_frames = k;
fail:
  buf_free(&b);
  free(by_id);
  return st;
}

static int cmp_name(const void *a, const void *b) {
  const exp_frame *x = a, *y = b;
  return exp_natcmp(x->path, y->path);
}

static int cmp_mtime(const void *a, const void *b) {
  const exp_frame *x = a, *y = b;
  if (x->mtime_sec != y->mtime_sec) return x->mtime_sec < y->mtime_sec ? -1 : 1;
  if (x->mtime_nsec != y->mtime_nsec) return x->mtime_nsec < y->mtime_nsec ? -1 : 1;
  return exp_natcmp(x->path, y->path);
}

static int cmp_exif(const void *a, const void *b) {
  const exp_frame *x = a, *y = b;
  if (x->has_dt != y->has_dt) return x->has_dt ? -1 : 1; /* without a date: after */
  if (x->has_dt) {
    int c = strcmp(x->dt, y->dt); /* "YYYY:MM:DD HH:MM:SS" sorts as text */
    if (c) return c;
  }
  return exp_natcmp(x->path, y->path);
}

static ims_status make_runs(exp_job *job, ims_err *err) {
  job->runs = calloc(job->n_frames, sizeof *job->runs);
  if (!job->runs) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  for (size_t i = 0; i < job->n_frames; i++) {
    bool repeat = i > 0 && !job->o->keep_repeats && !memcmp(job->frames[i].id, job->frames[i - 1].id, 16);
    if (repeat) {
      job->runs[job->n_runs - 1].len++;
      job->res.repeats_folded++;
    } else {
      job->runs[job->n_runs++] = (exp_run){i, 1};
    }
  }
  return IMS_OK;
}

/* ---- codec choice ---- */

static bool same_geometry(const exp_probe *a, const exp_probe *b) {
  return a->width == b->width && a->height == b->height;
}

static bool same_jpeg(const exp_probe *a, const exp_probe *b) {
  return a->kind == EXP_KIND_JPEG && b->kind == EXP_KIND_JPEG && same_geometry(a, b) && a->depth == b->depth &&
         a->n_comp == b->n_comp && !memcmp(a->samp, b->samp, sizeof a->samp);
}

static ims_status choose_codec(exp_job *job, ims_err *err) {
  const exp_options *o = job->o;
  const exp_frame *first = &job->frames[0];
  const exp_frame *odd_jpeg = NULL, *odd_size = NULL;
  for (size_t i = 0; i < job->n_frames; i++) {
    const exp_frame *f = &job->frames[i];
    if (!odd_jpeg && !same_jpeg(&first->pr, &f->pr)) odd_jpeg = f;
    if (!odd_size && !same_geometry(&first->pr, &f->pr)) odd_size = f;
  }
  exp_codec c = o->codec;
  if (c == EXP_CODEC_AUTO) c = odd_jpeg || o->scale_w || first->pr.depth != 8 ? EXP_CODEC_FFV1 : EXP_CODEC_COPY;
  if (c == EXP_CODEC_COPY) {
    if (o->scale_w) return ims_fail(err, IMS_E_ARG, "--scale needs decoding: choose --codec ffv1, x264 or x265");
    if (first->pr.kind != EXP_KIND_JPEG)
      return ims_fail(err, IMS_E_UNSUPPORTED, "%s: copy needs JPEG frames, this is PNG", first->path);
    if (odd_jpeg) {
      const exp_probe *a = &first->pr, *b = &odd_jpeg->pr;
      if (b->kind != EXP_KIND_JPEG)
        return ims_fail(err, IMS_E_UNSUPPORTED, "%s: copy needs JPEG frames, this is PNG", odd_jpeg->path);
      if (!same_geometry(a, b))
        return ims_fail(err, IMS_E_UNSUPPORTED, "%s is %ux%u but %s is %ux%u: copy needs one size", odd_jpeg->path,
                        b->width, b->height, first->path, a->width, a->height);
      return ims_fail(err, IMS_E_UNSUPPORTED,
                      "%s: %u-bit, %u components, sampling %02x %02x %02x differs from %s (%u-bit, %u components, "
                      "sampling %02x %02x %02x): copy needs one sampling",
                      odd_jpeg->path, b->depth, b->n_comp, b->samp[0], b->samp[1], b->samp[2], first->path, a->depth,
                      a->n_comp, a->samp[0], a->samp[1], a->samp[2]);
    }
  } else if (odd_size && !o->scale_w) {
    return ims_fail(err, IMS_E_UNSUPPORTED, "%s is %ux%u but %s is %ux%u: frames differ in size", odd_size->path,
                    odd_size->pr.width, odd_size->pr.height, first->path, first->pr.width, first->pr.height);
  }
  for (size_t i = 0; i < job->n_frames; i++) {
    const exp_probe *p = &job->frames[i].pr;
    if ((uint64_t)p->width * p->height > o->max_pixels)
      return ims_fail(err, IMS_E_LIMIT, "%s: %ux%u is over the pixel limit (%llu)", job->frames[i].path, p->width,
                      p->height, (unsigned long long)o->max_pixels);
  }
  job->res.codec = c;
  return IMS_OK;
}

static ims_status check_options(const exp_options *o, ims_err *err) {
  if (!o->out_path || !*o->out_path) return ims_fail(err, IMS_E_ARG, "no output file");
  if (o->fps_num == 0 || o->fps_den == 0 || o->fps_num > 1000000 || o->fps_den > 1000000)
    return ims_fail(err, IMS_E_ARG, "frame rate %u/%u is out of range", o->fps_num, o->fps_den);
  if (o->crf > 51) return ims_fail(err, IMS_E_ARG, "crf %d is out of range (0 to 51)", o->crf);
  if (o->crf >= 0 && o->codec != EXP_CODEC_X264 && o->codec != EXP_CODEC_X265)
    return ims_fail(err, IMS_E_ARG, "a crf needs --codec x264 or x265");
  if ((o->scale_w == 0) != (o->scale_h == 0) || o->scale_w > 16384 || o->scale_h > 16384)
    return ims_fail(err, IMS_E_ARG, "scale %ux%u is out of range", o->scale_w, o->scale_h);
  return IMS_OK;
}

ims_status exp_video_source(const exp_source *src, const exp_options *o, exp_result *res, ims_err *err) {
  exp_job job;
  memset(&job, 0, sizeof job);
  job.src = src;
  job.o = o;
  buf_init(&job.data, (size_t)(o->max_frame_bytes < SIZE_MAX ? o->max_frame_bytes : SIZE_MAX));
  ims_status st = check_options(o, err);
  if (st) goto fail;
  job.frame_tb = (AVRational){(int)o->fps_den, (int)o->fps_num};
  st = collect(&job, err);
  if (st) goto fail;
  st = probe_all(&job, err);
  if (st) goto fail;
  if (job.n_frames == 0) {
    st = ims_fail(err, IMS_E_NOTFOUND, "no images");
    goto fail;
  }
  qsort(job.frames, job.n_frames, sizeof *job.frames,
        o->order == EXP_ORDER_MTIME ? cmp_mtime : o->order == EXP_ORDER_EXIF ? cmp_exif : cmp_name);
  if (o->order == EXP_ORDER_EXIF) {
    size_t missing = 0;
    for (size_t i = 0; i < job.n_frames; i++) missing += !job.frames[i].has_dt;
    if (missing) {
      char msg[128];
      snprintf(msg, sizeof msg, "%zu of %zu frames have no EXIF DateTimeOriginal: they come last, by name", missing,
               job.n_frames);
      note(&job, o->out_path, msg);
    }
  }
  st = make_runs(&job, err);
  if (st) goto fail;
  st = choose_codec(&job, err);
  if (st) goto fail;
  job.res.frames_in = job.n_frames;
  job.res.duration_s = (double)job.n_frames * o->fps_den / o->fps_num;
  job.res.width = o->scale_w ? o->scale_w : job.frames[0].pr.width;
  job.res.height = o->scale_h ? o->scale_h : job.frames[0].pr.height;
  st = exp_out_open(&job, err);
  if (st) goto fail;
  st = job.res.codec == EXP_CODEC_COPY ? exp_write_copy(&job, err) : exp_write_encoded(&job, err);
  if (st) goto fail;
  st = exp_out_finish(&job, err);
  if (st) goto fail;
  *res = job.res;
fail:
  exp_out_abort(&job);
  buf_free(&job.data);
  free(job.runs);
  free(job.frames);
  return st;
}
