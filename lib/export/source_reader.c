/* exp_video over an archive: the reader as an exp_source. */
#include <string.h>

#include "export.h"

typedef struct rsrc {
  ims_reader *r;
  exp_sink_fn fn;
  void *fn_opaque;
  bool stopped; /* the sink asked to stop: not an error */
} rsrc;

static uint64_t r_count(void *opaque) {
  rsrc *s = opaque;
  return ims_reader_count(s->r);
}

static ims_status r_item(void *opaque, uint64_t i, exp_item *out, ims_err *err) {
  rsrc *s = opaque;
  ims_entry e;
  memset(&e, 0, sizeof e);
  e.struct_size = sizeof e;
  ims_status st = ims_reader_entry(s->r, i, &e);
  if (st) return ims_fail(err, st, "entry %llu: %s", (unsigned long long)i, ims_reader_errmsg(s->r));
  memset(out, 0, sizeof *out);
  out->path = e.path;
  out->is_file = e.type == IMS_ENTRY_FILE && !e.damaged;
  out->mtime_sec = e.mtime_sec;
  out->mtime_nsec = e.mtime_nsec;
  out->size = e.size;
  memcpy(out->id, e.hash, 16);
  return IMS_OK;
}

static int r_write(void *opaque, const void *data, size_t len) {
  rsrc *s = opaque;
  if (s->stopped) return 1;
  if (s->fn(s->fn_opaque, data, len)) s->stopped = true;
  return s->stopped;
}

static ims_status r_read(void *opaque, uint64_t i, exp_sink_fn fn, void *fn_opaque, ims_err *err) {
  rsrc *s = opaque;
  s->fn = fn;
  s->fn_opaque = fn_opaque;
  s->stopped = false;
  ims_status st = ims_reader_extract(s->r, i, r_write, s);
  if (st && s->stopped) return IMS_OK;
  if (st) {
    ims_entry e;
    memset(&e, 0, sizeof e);
    e.struct_size = sizeof e;
    const char *path = ims_reader_entry(s->r, i, &e) == IMS_OK ? e.path : "?";
    return ims_fail(err, st, "%s: %s", path, ims_reader_errmsg(s->r));
  }
  return IMS_OK;
}

ims_status exp_video(ims_reader *r, const exp_options *o, exp_result *res, ims_err *err) {
  rsrc s = {r, NULL, NULL, false};
  exp_source src = {&s, r_count, r_item, r_read};
  return exp_video_source(&src, o, res, err);
}
