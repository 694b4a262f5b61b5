#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

void buf_init(buf *b, size_t max) {
  b->p = NULL;
  b->len = b->cap = 0;
  b->max = max;
}

void buf_free(buf *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

ims_status buf_reserve(buf *b, size_t n) {
  size_t need;
  if (!ims_add_size(b->len, n, &need) || need > b->max) return IMS_E_LIMIT;
  if (need <= b->cap) return IMS_OK;
  size_t cap = b->cap < 256 ? 256 : b->cap;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (cap > b->max) cap = b->max;
  uint8_t *p = realloc(b->p, cap);
  if (!p) return IMS_E_NOMEM;
  b->p = p;
  b->cap = cap;
  return IMS_OK;
}

ims_status buf_append(buf *b, const void *data, size_t n) {
  if (n == 0) return IMS_OK;
  ims_status st = buf_reserve(b, n);
  if (st) return st;
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return IMS_OK;
}

ims_status buf_append_u8(buf *b, uint8_t v) { return buf_append(b, &v, 1); }
ims_status buf_append_u16le(buf *b, uint16_t v) {
  uint8_t t[2];
  put_u16le(t, v);
  return buf_append(b, t, 2);
}
ims_status buf_append_u32le(buf *b, uint32_t v) {
  uint8_t t[4];
  put_u32le(t, v);
  return buf_append(b, t, 4);
}
ims_status buf_append_u64le(buf *b, uint64_t v) {
  uint8_t t[8];
  put_u64le(t, v);
  return buf_append(b, t, 8);
}

uint8_t *buf_detach(buf *b, size_t *len) {
  uint8_t *p = b->p;
  if (len) *len = b->len;
  b->p = NULL;
  b->len = b->cap = 0;
  return p;
}
