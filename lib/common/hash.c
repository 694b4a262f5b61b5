#include "hash.h"

#include <string.h>
#include <xxhash.h>

struct ims_hasher {
  XXH3_state_t *st;
};

ims_hasher *ims_hasher_new(void) {
  XXH3_state_t *st = XXH3_createState();
  if (!st) return NULL;
  XXH3_128bits_reset(st);
  ims_hasher *h = (ims_hasher *)st; /* the state is the handle */
  return h;
}

void ims_hasher_free(ims_hasher *h) { XXH3_freeState((XXH3_state_t *)h); }

void ims_hasher_update(ims_hasher *h, const void *data, size_t len) {
  (void)XXH3_128bits_update((XXH3_state_t *)h, data, len);
}

static ims_h128 canon(XXH128_hash_t v) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, v);
  ims_h128 out;
  memcpy(out.b, c.digest, 16);
  return out;
}

ims_h128 ims_hasher_digest(const ims_hasher *h) { return canon(XXH3_128bits_digest((const XXH3_state_t *)h)); }

ims_h128 ims_hash128(const void *data, size_t len) { return canon(XXH3_128bits(data, len)); }

uint64_t ims_hash64(const void *data, size_t len) { return XXH3_64bits(data, len); }
