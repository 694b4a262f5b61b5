/* Internal helpers shared by the writer and the reader (lib/pack/). */
#ifndef IMS_PACK_PACK_H
#define IMS_PACK_PACK_H

#include <stdbool.h>
#include <stdint.h>

#include "archive/format.h"
#include "archive/index.h"
#include "codec/codec.h"
#include "common/err.h"
#include "imgstash.h"

/* Normalises an archive path: drops "." components and repeated or trailing slashes.
 * Refuses (IMS_E_UNSAFE_PATH) empty results, absolute paths and ".." components.
 * *out is malloc'd. */
ims_status path_normalize(const char *in, char **out, ims_err *err);

/* True when every component is safe to create below an output folder. */
bool path_is_safe(const char *p);

/* What the first bytes of a file say it is (ARC_KIND_*). */
uint8_t sniff_kind(const uint8_t *p, size_t n);

/* The codec environment for options o. */
codec_env env_from_options(const ims_options *o);

/* Chunk size for contents that are split into several blocks (zstd only). */
#define PACK_CHUNK ((size_t)32 << 20)
/* Longest chain of references decoded for one content. */
#define PACK_MAX_CHAIN 4096
/* References handed to a codec per content by default (ims_options.refs; FORMAT.md §5.2). */
#define PACK_DEFAULT_REFS 4

/* Tests only: content (numbered in order of first appearance) is coded without the
 * references the plan gave it, as if none had helped, so that the contents planned to be
 * predicted from it through it meet a chain that differs from the plan (the writer must
 * then code them again with the index's chain). */
void pack_writer_test_alone(ims_writer *w, uint32_t content);

#endif
