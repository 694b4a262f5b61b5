/* The reader's state, shared by reader.c and extract.c. */
#ifndef IMS_PACK_READER_INTERNAL_H
#define IMS_PACK_READER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/arcfile.h"
#include "common/err.h"
#include "imgstash.h"

/* Decoded contents that others are predicted from (refcache.c). */
#define REFCACHE_SLOTS 64
#define REFCACHE_BYTES ((size_t)256 << 20)
typedef struct refcache_slot {
  uint8_t *data; /* NULL: empty */
  size_t len;
  uint32_t content;
  uint64_t tick;
} refcache_slot;
typedef struct refcache {
  pthread_mutex_t mu;
  refcache_slot slot[REFCACHE_SLOTS];
  size_t bytes;
  uint64_t clock;
} refcache;
void refcache_init(refcache *rc);
void refcache_free(refcache *rc);
bool refcache_get(refcache *rc, uint32_t c, uint8_t **out, size_t *out_len);
void refcache_put(refcache *rc, uint32_t c, const uint8_t *data, size_t len);

struct ims_reader {
  ims_options opt;
  ims_err err;
  arc_in in;
  bool loaded;
  int64_t *first_entry; /* per content: first entry holding it, or -1 */
  uint8_t *complete;    /* per content: all blocks present (always 1 unless damaged) */
  uint8_t *referenced;  /* per content: some content is predicted from it */
  refcache *cache;      /* decoded referenced contents; its own lock (used by pool threads) */
  struct jcm_work *jcm;       /* context memory of the JPEG codec's calls (may be NULL) */
  struct codec_cache *parsed; /* references as the codecs parse them (may be NULL): a frame
                                 parsed for one content is reused by the next ones */
};

/* Decodes a whole content into a malloc'd buffer, checking its hash. Thread-safe for
 * concurrent calls on one reader (reads with pread; errors go to err). */
ims_status rd_decode_whole(const ims_reader *r, uint32_t content, uint8_t **out, size_t *out_len, ims_err *err);

#endif
