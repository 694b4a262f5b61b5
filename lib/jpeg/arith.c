#include "arith.h"

#include <stdlib.h>

void ac_enc_init(ac_enc *e, size_t max) {
  e->low = 0;
  e->range = 0xFFFFFFFFu;
  e->cache = 0;
  e->first = true;
  e->pending = 1;
  e->out = NULL;
  e->len = 0;
  e->cap = 0;
  e->max = max;
  e->st = IMS_OK;
}

void ac_enc_grow(ac_enc *e) {
  if (e->st != IMS_OK) return;
  if (e->cap >= e->max) {
    e->st = IMS_E_LIMIT;
    return;
  }
  size_t cap = e->cap < 4096 ? 4096 : e->cap;
  if (cap > e->max / 2) {
    cap = e->max;
  } else {
    cap *= 2;
  }
  uint8_t *p = realloc(e->out, cap);
  if (!p) {
    e->st = IMS_E_NOMEM;
    return;
  }
  e->out = p;
  e->cap = cap;
}

ims_status ac_enc_finish(ac_enc *e) {
  /* Five shifts push out all 32 bits of low plus the cached byte (LZMA's flush). */
  for (int i = 0; i < 5; i++) ac_shift_low(e);
  return e->st;
}

void ac_enc_free(ac_enc *e) {
  free(e->out);
  e->out = NULL;
  e->len = e->cap = 0;
}

void ac_dec_init(ac_dec *d, const uint8_t *data, size_t len) {
  d->p = data;
  d->end = data + len;
  d->range = 0xFFFFFFFFu;
  d->code = 0;
  d->err = false;
  for (int i = 0; i < 4; i++) d->code = d->code << 8 | ac_get(d);
}

bool ac_dec_ok(const ac_dec *d) { return !d->err && d->code < d->range; }
