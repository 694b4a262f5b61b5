/* A small cache of decoded contents that other contents are predicted from, so that
 * reading a set in order decodes every image once instead of once per image that follows
 * it in a reference chain. Bounded in entries and bytes (least recently used go first);
 * shared by the threads of one reader under a mutex. Entries are copies: a caller never
 * holds a pointer into the cache. */
#include <stdlib.h>
#include <string.h>

#include "reader_internal.h"

void refcache_init(refcache *rc) {
  memset(rc, 0, sizeof *rc);
  (void)pthread_mutex_init(&rc->mu, NULL);
}

void refcache_free(refcache *rc) {
  for (size_t i = 0; i < REFCACHE_SLOTS; i++) free(rc->slot[i].data);
  (void)pthread_mutex_destroy(&rc->mu);
  memset(rc->slot, 0, sizeof rc->slot);
}

/* Copies content c's bytes out of the cache. true when found. */
bool refcache_get(refcache *rc, uint32_t c, uint8_t **out, size_t *out_len) {
  bool found = false;
  (void)pthread_mutex_lock(&rc->mu);
  for (size_t i = 0; i < REFCACHE_SLOTS; i++) {
    refcache_slot *s = &rc->slot[i];
    if (!s->data || s->content != c) continue;
    uint8_t *p = malloc(s->len ? s->len : 1);
    if (p) {
      if (s->len) memcpy(p, s->data, s->len);
      *out = p;
      *out_len = s->len;
      s->tick = ++rc->clock;
      found = true;
    }
    break;
  }
  (void)pthread_mutex_unlock(&rc->mu);
  return found;
}

/* Stores a copy of content c's bytes (already hash-checked), evicting the least recently
 * used entries to stay within REFCACHE_SLOTS and REFCACHE_BYTES. */
void refcache_put(refcache *rc, uint32_t c, const uint8_t *data, size_t len) {
  if (len > REFCACHE_BYTES) return;
  uint8_t *p = malloc(len ? len : 1);
  if (!p) return; /* a cache miss later is only slower */
  if (len) memcpy(p, data, len);
  (void)pthread_mutex_lock(&rc->mu);
  for (size_t i = 0; i < REFCACHE_SLOTS; i++) {
    if (rc->slot[i].data && rc->slot[i].content == c) {
      rc->slot[i].tick = ++rc->clock;
      (void)pthread_mutex_unlock(&rc->mu);
      free(p);
      return;
    }
  }
  for (;;) {
    size_t used = 0, free_slot = REFCACHE_SLOTS, lru = REFCACHE_SLOTS;
    for (size_t i = 0; i < REFCACHE_SLOTS; i++) {
      const refcache_slot *s = &rc->slot[i];
      if (!s->data) {
        if (free_slot == REFCACHE_SLOTS) free_slot = i;
        continue;
      }
      used++;
      if (lru == REFCACHE_SLOTS || s->tick < rc->slot[lru].tick) lru = i;
    }
    if (free_slot < REFCACHE_SLOTS && rc->bytes + len <= REFCACHE_BYTES) {
      refcache_slot *s = &rc->slot[free_slot];
      s->data = p;
      s->len = len;
      s->content = c;
      s->tick = ++rc->clock;
      rc->bytes += len;
      break;
    }
    if (used == 0) { /* cannot happen: len <= REFCACHE_BYTES and the cache is empty */
      free(p);
      break;
    }
    refcache_slot *s = &rc->slot[lru];
    rc->bytes -= s->len;
    free(s->data);
    s->data = NULL;
    s->len = 0;
  }
  (void)pthread_mutex_unlock(&rc->mu);
}
