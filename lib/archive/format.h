/* The imgstash container, v1 (docs/FORMAT.md is the spec; section numbers refer to it).
 * This module knows blocks, checksums, the index and the footer, and nothing of images. */
#ifndef IMS_ARCHIVE_FORMAT_H
#define IMS_ARCHIVE_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define ARC_FORMAT_MAJOR 1
#define ARC_FORMAT_MINOR 0

#define ARC_HEADER_LEN 16
#define ARC_BLOCK_HEADER_LEN 48
#define ARC_FOOTER_LEN 64

extern const uint8_t arc_file_magic[8];
extern const uint8_t arc_block_magic[4];
extern const uint8_t arc_footer_magic[8];

/* Block types (FORMAT.md §3). */
enum { ARC_BLOCK_MANIFEST = 1, ARC_BLOCK_DATA = 2, ARC_BLOCK_INDEX = 3 };

/* Limits a reader enforces before allocating (FORMAT.md §6). */
#define ARC_MAX_BLOCK_RAW ((uint64_t)1 << 31)   /* decoded bytes of one data block */
#define ARC_MAX_PATH 65535u
#define ARC_NO_REF 0xFFFFFFFFu
#define ARC_NO_CONTENT 0xFFFFFFFFu

typedef struct arc_block_header {
  uint8_t type;
  uint8_t codec;
  uint32_t content;
  uint32_t chunk;
  uint64_t payload_len;
  uint64_t raw_len;
  uint64_t payload_check; /* XXH3-64 of the payload */
} arc_block_header;

typedef struct arc_footer {
  uint64_t index_offset;    /* offset of the index block's header */
  uint64_t index_block_len; /* header + payload */
  uint64_t segment_offset;  /* offset of the manifest block of the newest segment */
  uint64_t prev_footer;     /* offset of the previous footer, 0 for none */
  uint64_t footer_offset;   /* where this footer starts */
  uint16_t major, minor;
} arc_footer;

void arc_header_encode(uint8_t out[ARC_HEADER_LEN]);
/* IMS_E_CORRUPT when it is not an imgstash archive, IMS_E_VERSION when newer. */
ims_status arc_header_decode(const uint8_t in[ARC_HEADER_LEN], ims_err *err);

void arc_block_header_encode(const arc_block_header *h, uint8_t out[ARC_BLOCK_HEADER_LEN]);
/* Checks magic, header checksum and reserved fields. */
bool arc_block_header_decode(const uint8_t in[ARC_BLOCK_HEADER_LEN], arc_block_header *h);

void arc_footer_encode(const arc_footer *f, uint8_t out[ARC_FOOTER_LEN]);
ims_status arc_footer_decode(const uint8_t in[ARC_FOOTER_LEN], arc_footer *f, ims_err *err);

#endif
