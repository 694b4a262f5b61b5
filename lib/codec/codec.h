/* The codec interface (docs/DESIGN.md "codec/"). A codec turns the bytes of one content,
 * optionally given the bytes of a similar reference content, into a payload, and back.
 * It never touches files. Encoders return IMS_E_UNSUPPORTED / IMS_E_CORRUPT / IMS_E_LIMIT
 * to mean "this content is not for me": the caller falls back to a safer codec. Every
 * payload is decoded back and compared by the caller before it is written. */
#ifndef IMS_CODEC_CODEC_H
#define IMS_CODEC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hash.h"

/* Codec ids as stored in the archive (FORMAT.md §5). Never reuse a value. */
enum { CODEC_RAW = 0, CODEC_ZSTD = 1, CODEC_JPEG = 2, CODEC_COUNT = 3 };

typedef struct codec_cache codec_cache;

typedef struct codec_env {
  int zstd_level;
  unsigned threads; /* threads a codec may use inside one content */
  uint64_t max_pixels;
  uint32_t max_scans;
  uint64_t max_bytes;
  codec_cache *cache; /* parsed references shared by the jobs of one writer or reader; may be NULL */
  bool keep_src;      /* encode: other contents will reference this one (worth keeping parsed) */
  bool keep_decoded;  /* decode (reader only): likewise; the decoded form is offered to cache */
  struct jcm_work *jcm; /* context memory shared by the JPEG codec's calls (jpeg.h); may be NULL */
} codec_env;

/* A bounded, thread-safe cache of objects a codec derives from a content's bytes (the JPEG
 * codec: the parsed image and its side information), keyed by the XXH3-128 of those bytes
 * and the codec id, so that a reference is parsed once however many jobs use it (the
 * encode and the verifying decode of every content predicted from it). The derivation
 * must be a pure function of the bytes: a hit and a miss then give the same output.
 * Objects are shared read-only while held; one is freed only when no job holds it and it
 * is evicted (least recently used first) or the cache is freed. */
typedef void (*codec_cache_free_fn)(void *obj);
/* NULL when out of memory (callers then work without a cache). */
codec_cache *codec_cache_new(size_t max_entries, size_t max_bytes);
void codec_cache_free(codec_cache *cc); /* accepts NULL; nothing may be held */
/* true on a hit: *obj is held until codec_cache_release(cc, *slot). */
bool codec_cache_get(codec_cache *cc, uint8_t codec_id, const ims_h128 *key, void **obj, size_t *slot);
/* Offers obj (bytes: its size, for the bound) to the cache. true: the cache owns it and
 * *slot holds it for the caller until codec_cache_release. false (no room, or the key is
 * already there): the caller still owns obj. */
bool codec_cache_put(codec_cache *cc, uint8_t codec_id, const ims_h128 *key, void *obj, size_t bytes,
                     codec_cache_free_fn free_fn, size_t *slot);
void codec_cache_release(codec_cache *cc, size_t slot);

/* A reference content's bytes. A content is predicted from a chain of references, nearest
 * first: refs[0] the content it names in the index, refs[1] that one's reference, and so on
 * (issue #4), at most CODEC_MAX_REFS of them. */
#define CODEC_MAX_REFS 4
typedef struct codec_ref {
  const uint8_t *p;
  size_t len;
} codec_ref;

typedef struct codec {
  uint8_t id;
  const char *name;
  /* Given the chain refs[0 .. n_refs) (nearest first), sets *used_refs to how many of its
   * first references the payload needs to decode: 0 = none (the index then records no
   * reference), k = refs[0 .. k). A codec may ignore references that do not help. */
  ims_status (*encode)(const codec_env *env, const uint8_t *src, size_t len, const codec_ref *refs, unsigned n_refs,
                       buf *out, unsigned *used_refs, ims_err *err);
  /* dst_len is the exact original length (from the index). refs: the content's chain as
   * the index gives it (nearest first, at most CODEC_MAX_REFS); a payload that needs more
   * references than given, or none while some are given, is IMS_E_CORRUPT. */
  ims_status (*decode)(const codec_env *env, const uint8_t *payload, size_t len, const codec_ref *refs,
                       unsigned n_refs, uint8_t *dst, size_t dst_len, ims_err *err);
} codec;

/* One reference or none (ref == NULL): the calls above with a chain of length 0 or 1;
 * *used: the payload needs the reference. */
ims_status codec_encode1(const codec *c, const codec_env *env, const uint8_t *src, size_t len, const uint8_t *ref,
                         size_t ref_len, buf *out, bool *used, ims_err *err);
ims_status codec_decode1(const codec *c, const codec_env *env, const uint8_t *payload, size_t len,
                         const uint8_t *ref, size_t ref_len, uint8_t *dst, size_t dst_len, ims_err *err);

/* NULL for an unknown id. */
const codec *codec_by_id(uint8_t id);
const char *codec_name(uint8_t id);

#endif
