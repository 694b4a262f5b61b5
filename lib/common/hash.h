/* Thin wrappers over xxhash: XXH3-128 for contents, XXH3-64 for block checksums. */
#ifndef IMS_COMMON_HASH_H
#define IMS_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "imgstash.h"

typedef struct ims_h128 {
  uint8_t b[16]; /* XXH128 canonical (big-endian) form */
} ims_h128;

typedef struct ims_hasher ims_hasher; /* streaming XXH3-128 */

ims_hasher *ims_hasher_new(void);
void ims_hasher_free(ims_hasher *h);
void ims_hasher_update(ims_hasher *h, const void *data, size_t len);
ims_h128 ims_hasher_digest(const ims_hasher *h);

ims_h128 ims_hash128(const void *data, size_t len);
uint64_t ims_hash64(const void *data, size_t len);

#endif
