/* Checked size arithmetic, little-endian byte access and a bounded read cursor.
 * Every length read from an input or an archive goes through these. */
#ifndef IMS_COMMON_MEM_H
#define IMS_COMMON_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Return false (and leave *out alone) on overflow. */
static inline bool ims_add_size(size_t a, size_t b, size_t *out) {
  size_t r;
  if (__builtin_add_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}
static inline bool ims_mul_size(size_t a, size_t b, size_t *out) {
  size_t r;
  if (__builtin_mul_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}
static inline bool ims_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return false;
  *out = r;
  return true;
}

static inline void put_u16le(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void put_u32le(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_u64le(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t get_u16le(const uint8_t *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }
static inline uint32_t get_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64le(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* A bounded read cursor. Invariant: p <= end. A failed read leaves the cursor unchanged. */
typedef struct rd {
  const uint8_t *p, *end;
} rd;

static inline rd rd_make(const void *data, size_t len) {
  rd r = {(const uint8_t *)data, (const uint8_t *)data + len};
  return r;
}
static inline size_t rd_left(const rd *r) { return (size_t)(r->end - r->p); }
static inline bool rd_bytes(rd *r, size_t n, const uint8_t **out) {
  if (n > rd_left(r)) return false;
  *out = r->p;
  r->p += n;
  return true;
}
static inline bool rd_u8(rd *r, uint8_t *v) {
  if (rd_left(r) < 1) return false;
  *v = *r->p++;
  return true;
}
static inline bool rd_u16le(rd *r, uint16_t *v) {
  if (rd_left(r) < 2) return false;
  *v = get_u16le(r->p);
  r->p += 2;
  return true;
}
static inline bool rd_u32le(rd *r, uint32_t *v) {
  if (rd_left(r) < 4) return false;
  *v = get_u32le(r->p);
  r->p += 4;
  return true;
}
static inline bool rd_u64le(rd *r, uint64_t *v) {
  if (rd_left(r) < 8) return false;
  *v = get_u64le(r->p);
  r->p += 8;
  return true;
}

#endif
