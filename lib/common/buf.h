/* A growable byte buffer with a ceiling (curl's dynbuf "toobig").
 * Invariants: len <= cap <= max; p is NULL only when cap == 0. */
#ifndef IMS_COMMON_BUF_H
#define IMS_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "imgstash.h"

typedef struct buf {
  uint8_t *p;
  size_t len, cap, max;
} buf;

/* A buffer that may grow to max bytes. */
void buf_init(buf *b, size_t max);
void buf_free(buf *b);
/* Makes room for n more bytes: IMS_E_LIMIT past max, IMS_E_NOMEM. */
ims_status buf_reserve(buf *b, size_t n);
ims_status buf_append(buf *b, const void *data, size_t n);
ims_status buf_append_u8(buf *b, uint8_t v);
ims_status buf_append_u16le(buf *b, uint16_t v);
ims_status buf_append_u32le(buf *b, uint32_t v);
ims_status buf_append_u64le(buf *b, uint64_t v);
/* Hands the bytes to the caller (who frees them with free()) and empties b. */
uint8_t *buf_detach(buf *b, size_t *len);

#endif
