/* Archive files on disk: writing (temporary name, rename when complete) and reading
 * (footer, index, blocks, and a recovery scan when the footer or index is damaged). */
#ifndef IMS_ARCHIVE_ARCFILE_H
#define IMS_ARCHIVE_ARCFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "format.h"
#include "index.h"

/* ---- writing ---- */
typedef struct arc_out arc_out;

/* Creates a temporary file beside path and writes the file header. */
ims_status arc_out_open(const char *path, arc_out **out, ims_err *err);
/* Appends one block; *ref (may be NULL) receives where it went. */
ims_status arc_out_block(arc_out *o, const arc_block_header *h, const uint8_t *payload, arc_blockref *ref,
                         ims_err *err);
/* Appends a manifest (type ARC_BLOCK_MANIFEST) or the index (ARC_BLOCK_INDEX), zstd-compressed. */
ims_status arc_out_meta(arc_out *o, uint8_t type, const arc_index *ix, arc_blockref *ref, ims_err *err);
/* Writes the footer, flushes to disk and renames the file into place. */
ims_status arc_out_commit(arc_out *o, const arc_blockref *index_ref, uint64_t segment_offset, ims_err *err);
uint64_t arc_out_pos(const arc_out *o);
/* The temporary file's descriptor (so that a writer can recognise its own output among its inputs). */
int arc_out_fd(const arc_out *o);
/* The temporary file's path (valid until arc_out_close). */
const char *arc_out_temp_path(const arc_out *o);
/* Frees o; removes the temporary file unless arc_out_commit succeeded. Accepts NULL. */
void arc_out_close(arc_out *o);

/* ---- reading ---- */
typedef struct arc_in {
  int fd;
  uint64_t size;
  bool damaged;           /* footer or index unusable: the index was rebuilt by a scan */
  char damage[IMS_ERRMSG_CAP]; /* why, when damaged */
  arc_index index;        /* when damaged: recovered contents have only the blocks found */
  uint64_t max_index_bytes;
} arc_in;

/* Opens path. On a damaged footer/index, scans the blocks (recovery) and sets damaged.
 * Fails only when the file is unreadable, not an archive, newer, or nothing is found. */
ims_status arc_in_open(const char *path, uint64_t max_index_bytes, arc_in *in, ims_err *err);
void arc_in_close(arc_in *in);

/* Reads and checks one data block (header fields must match content/chunk, payload
 * checksum must match) into payload (cleared first). */
ims_status arc_in_read_block(const arc_in *in, const arc_blockref *ref, uint32_t content, uint32_t chunk,
                             arc_block_header *h, buf *payload, ims_err *err);

#endif
