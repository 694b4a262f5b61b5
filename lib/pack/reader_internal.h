/* The reader's state, shared by reader.c and extract.c. */
#ifndef IMS_PACK_READER_INTERNAL_H
#define IMS_PACK_READER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "archive/arcfile.h"
#include "common/err.h"
#include "imgstash.h"

struct ims_reader {
  ims_options opt;
  ims_err err;
  arc_in in;
  bool loaded;
  int64_t *first_entry; /* per content: first entry holding it, or -1 */
  uint8_t *complete;    /* per content: all blocks present (always 1 unless damaged) */
};

/* Decodes a whole content into a malloc'd buffer, checking its hash. Thread-safe for
 * concurrent calls on one reader (reads with pread; errors go to err). */
ims_status rd_decode_whole(const ims_reader *r, uint32_t content, uint8_t **out, size_t *out_len, ims_err *err);

#endif
