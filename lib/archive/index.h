/* The archive index in memory, and its serialised form (FORMAT.md §4). The same form,
 * without block lists, is the segment's manifest written before the data (§3.1).
 *
 * Invariants of an index returned by arc_index_parse:
 * - every entry's content is < n_contents for files, ARC_NO_CONTENT otherwise;
 * - every content's ref is ARC_NO_REF or smaller than the content's own number;
 * - blocks[first_block .. first_block + n_blocks) lie within the array and, for an index
 *   (not a manifest), end at or before the limit given to the parser; their raw_len add up
 *   to the content's size;
 * - paths and link targets are NUL-terminated and contain no NUL (they are NOT yet checked
 *   for safety: extraction does that, so that a bad path is reported, not fatal). */
#ifndef IMS_ARCHIVE_INDEX_H
#define IMS_ARCHIVE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct arc_blockref {
  uint64_t offset;    /* of the block header */
  uint64_t block_len; /* header + payload */
  uint64_t raw_len;   /* decoded bytes */
} arc_blockref;

typedef struct arc_content {
  uint8_t hash[16];
  uint64_t size;
  uint8_t codec;
  uint8_t fallback; /* ims_fallback */
  uint8_t kind;     /* ARC_KIND_* : what the content was recognised as */
  uint32_t ref;     /* content it is predicted from, or ARC_NO_REF */
  size_t first_block;
  uint32_t n_blocks;
} arc_content;

enum { ARC_KIND_OTHER = 0, ARC_KIND_JPEG = 1, ARC_KIND_PNG = 2, ARC_KIND_TIFF = 3, ARC_KIND_PNM = 4 };

typedef struct arc_entry {
  uint8_t type; /* ims_entry_type */
  uint32_t mode;
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint32_t content; /* files only */
  char *path;
  char *link; /* symlinks only */
} arc_entry;

typedef struct arc_index {
  arc_entry *entries;
  uint32_t n_entries, cap_entries;
  arc_content *contents;
  uint32_t n_contents, cap_contents;
  arc_blockref *blocks;
  size_t n_blocks, cap_blocks;
} arc_index;

void arc_index_init(arc_index *ix);
void arc_index_free(arc_index *ix);

/* Appends; the strings are copied. */
ims_status arc_index_add_entry(arc_index *ix, const arc_entry *e);
ims_status arc_index_add_content(arc_index *ix, const arc_content *c, uint32_t *number);
ims_status arc_index_add_block(arc_index *ix, uint32_t content, const arc_blockref *b);

/* Serialises the index; with_blocks false gives the manifest form. */
ims_status arc_index_serialize(const arc_index *ix, bool with_blocks, buf *out);

/* Parses a serialised index (hostile input). max_block_end bounds every block's end
 * (the footer's offset); is_manifest says whether block lists must be empty. */
ims_status arc_index_parse(const uint8_t *data, size_t len, bool is_manifest, uint64_t max_block_end, arc_index *ix,
                           ims_err *err);

#endif
