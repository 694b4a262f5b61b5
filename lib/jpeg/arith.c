#include "arith.h"

#include <stdlib.h>

#include "common/mem.h"

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

ims_status ac_enc_reserve(ac_enc *e, size_t n) {
  if (e->st != IMS_OK || ac_enc_has_room(e, n)) return e->st;
  size_t need;
  if (!ims_add_size(e->len, e->pending, &need) || !ims_add_size(need, n, &need) || need > e->max) {
    e->st = IMS_E_LIMIT;
    return e->st;
  }
  size_t cap = e->cap < 4096 ? 4096 : e->cap;
  while (cap < need) cap = cap > e->max / 2 ? e->max : cap * 2; /* ends: need <= max */
  if (cap > e->max) cap = e->max;
  uint8_t *p = realloc(e->out, cap);
  if (!p) {
    e->st = IMS_E_NOMEM;
    return e->st;
  }
  e->out = p;
  e->cap = cap;
  return IMS_OK;
}

ims_status ac_enc_finish(ac_enc *e) {
  /* Five shifts push out all 32 bits of low plus the cached byte (LZMA's flush). */
  if (ac_enc_reserve(e, 5) != IMS_OK) return e->st;
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
