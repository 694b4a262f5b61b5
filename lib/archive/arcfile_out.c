#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "arcfile.h"
#include "common/hash.h"
#include "common/mem.h"

struct arc_out {
  int fd;
  char *tmp_path, *final_path;
  uint64_t pos;
  bool committed;
};

static ims_status write_all(arc_out *o, const void *data, size_t len, ims_err *err) {
  const uint8_t *p = data;
  while (len > 0) {
    ssize_t n = write(o->fd, p, len > (1u << 30) ? (1u << 30) : len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ims_fail(err, IMS_E_IO, "%s: write failed: %s", o->final_path, strerror(errno));
    }
    p += n;
    len -= (size_t)n;
    o->pos += (uint64_t)n;
  }
  return IMS_OK;
}

ims_status arc_out_open(const char *path, arc_out **out, ims_err *err) {
  arc_out *o = calloc(1, sizeof *o);
  size_t n = strlen(path);
  if (!o) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  o->fd = -1;
  o->final_path = malloc(n + 1);
  o->tmp_path = malloc(n + 16);
  if (!o->final_path || !o->tmp_path) {
    arc_out_close(o);
    return ims_fail(err, IMS_E_NOMEM, "out of memory");
  }
  memcpy(o->final_path, path, n + 1);
  snprintf(o->tmp_path, n + 16, "%s.tmp.XXXXXX", path);
  o->fd = mkstemp(o->tmp_path);
  if (o->fd < 0) {
    ims_status st = ims_fail(err, IMS_E_IO, "%s: cannot create: %s", path, strerror(errno));
    o->tmp_path[0] = '\0';
    arc_out_close(o);
    return st;
  }
  (void)fchmod(o->fd, 0644); /* mkstemp's 0600 is not what a user expects of an archive; umask is not applied */
  uint8_t hdr[ARC_HEADER_LEN];
  arc_header_encode(hdr);
  ims_status st = write_all(o, hdr, sizeof hdr, err);
  if (st) {
    arc_out_close(o);
    return st;
  }
  *out = o;
  return IMS_OK;
}

uint64_t arc_out_pos(const arc_out *o) { return o->pos; }
const char *arc_out_temp_path(const arc_out *o) { return o->tmp_path; }
int arc_out_fd(const arc_out *o) { return o->fd; }

ims_status arc_out_block(arc_out *o, const arc_block_header *h, const uint8_t *payload, arc_blockref *ref,
                         ims_err *err) {
  arc_block_header hh = *h;
  hh.payload_check = ims_hash64(payload, (size_t)h->payload_len);
  uint8_t hdr[ARC_BLOCK_HEADER_LEN];
  arc_block_header_encode(&hh, hdr);
  uint64_t at = o->pos;
  ims_status st = write_all(o, hdr, sizeof hdr, err);
  if (!st) st = write_all(o, payload, (size_t)h->payload_len, err);
  if (st) return st;
  if (ref) {
    ref->offset = at;
    ref->block_len = ARC_BLOCK_HEADER_LEN + h->payload_len;
    ref->raw_len = h->raw_len;
  }
  return IMS_OK;
}

ims_status arc_out_meta(arc_out *o, uint8_t type, const arc_index *ix, arc_blockref *ref, ims_err *err) {
  buf raw, z;
  buf_init(&raw, SIZE_MAX);
  buf_init(&z, SIZE_MAX);
  ims_status st = arc_index_serialize(ix, type == ARC_BLOCK_INDEX, &raw);
  if (st) {
    ims_fail(err, st, "cannot serialise the index: %s", ims_strerror(st));
    goto done;
  }
  size_t bound = ZSTD_compressBound(raw.len);
  if ((st = buf_reserve(&z, bound)) != IMS_OK) {
    ims_fail(err, st, "out of memory");
    goto done;
  }
  size_t zn = ZSTD_compress(z.p, bound, raw.p, raw.len, 9);
  if (ZSTD_isError(zn)) {
    st = ims_fail(err, IMS_E_INTERNAL, "index compression failed: %s", ZSTD_getErrorName(zn));
    goto done;
  }
  arc_block_header h = {.type = type, .codec = 1, .payload_len = zn, .raw_len = raw.len};
  st = arc_out_block(o, &h, z.p, ref, err);
done:
  buf_free(&raw);
  buf_free(&z);
  return st;
}

static ims_status sync_dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash) {
    dir[0] = '.';
    dir[1] = '\0';
  } else {
    size_t n = (size_t)(slash - path);
    if (n == 0) n = 1;
    if (n >= sizeof dir) return IMS_OK;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return IMS_OK; /* best effort */
  (void)fsync(fd);
  close(fd);
  return IMS_OK;
}

ims_status arc_out_commit(arc_out *o, const arc_blockref *index_ref, uint64_t segment_offset, ims_err *err) {
  arc_footer f = {.index_offset = index_ref->offset,
                  .index_block_len = index_ref->block_len,
                  .segment_offset = segment_offset,
                  .prev_footer = 0,
                  .footer_offset = o->pos,
                  .major = ARC_FORMAT_MAJOR,
                  .minor = ARC_FORMAT_MINOR};
  uint8_t ft[ARC_FOOTER_LEN];
  arc_footer_encode(&f, ft);
  ims_status st = write_all(o, ft, sizeof ft, err);
  if (st) return st;
  if (fsync(o->fd) != 0 && errno != EINVAL)
    return ims_fail(err, IMS_E_IO, "%s: fsync failed: %s", o->final_path, strerror(errno));
  if (close(o->fd) != 0) {
    o->fd = -1;
    return ims_fail(err, IMS_E_IO, "%s: close failed: %s", o->final_path, strerror(errno));
  }
  o->fd = -1;
  if (rename(o->tmp_path, o->final_path) != 0)
    return ims_fail(err, IMS_E_IO, "%s: cannot rename the finished archive into place: %s", o->final_path,
                    strerror(errno));
  o->committed = true;
  (void)sync_dir_of(o->final_path);
  return IMS_OK;
}

void arc_out_close(arc_out *o) {
  if (!o) return;
  if (o->fd >= 0) close(o->fd);
  if (!o->committed && o->tmp_path && o->tmp_path[0]) unlink(o->tmp_path);
  free(o->tmp_path);
  free(o->final_path);
  free(o);
}
