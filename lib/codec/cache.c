/* The codec cache (codec.h): a small table under a mutex. Invariants: an entry with obj
 * != NULL holds bytes counted in cc->bytes; an entry with refs > 0 is never freed; a key
 * (codec id + hash) appears at most once. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

typedef struct cache_entry {
  void *obj; /* NULL: empty */
  codec_cache_free_fn free_fn;
  size_t bytes;
  ims_h128 key;
  uint8_t codec_id;
  unsigned refs;
  uint64_t tick;
} cache_entry;

struct codec_cache {
  pthread_mutex_t mu;
  cache_entry *e;
  size_t n, bytes, max_bytes;
  uint64_t clock;
};

codec_cache *codec_cache_new(size_t max_entries, size_t max_bytes) {
  if (max_entries == 0) return NULL;
  codec_cache *cc = calloc(1, sizeof *cc);
  if (!cc) return NULL;
  cc->e = calloc(max_entries, sizeof *cc->e);
  if (!cc->e || pthread_mutex_init(&cc->mu, NULL) != 0) {
    free(cc->e);
    free(cc);
    return NULL;
  }
  cc->n = max_entries;
  cc->max_bytes = max_bytes;
  return cc;
}

void codec_cache_free(codec_cache *cc) {
  if (!cc) return;
  for (size_t i = 0; i < cc->n; i++)
    if (cc->e[i].obj) cc->e[i].free_fn(cc->e[i].obj);
  (void)pthread_mutex_destroy(&cc->mu);
  free(cc->e);
  free(cc);
}

static bool key_is(const cache_entry *e, uint8_t codec_id, const ims_h128 *key) {
  return e->obj && e->codec_id == codec_id && memcmp(e->key.b, key->b, sizeof key->b) == 0;
}

bool codec_cache_get(codec_cache *cc, uint8_t codec_id, const ims_h128 *key, void **obj, size_t *slot) {
  if (!cc) return false;
  bool hit = false;
  (void)pthread_mutex_lock(&cc->mu);
  for (size_t i = 0; i < cc->n; i++) {
    cache_entry *e = &cc->e[i];
    if (!key_is(e, codec_id, key)) continue;
    e->refs++;
    e->tick = ++cc->clock;
    *obj = e->obj;
    *slot = i;
    hit = true;
    break;
  }
  (void)pthread_mutex_unlock(&cc->mu);
  return hit;
}

/* Frees the least recently used entry that nobody holds. Called with the lock held;
 * false when every entry is held. The freeing itself is cheap next to a parse. */
static bool evict_one(codec_cache *cc) {
  size_t lru = cc->n;
  for (size_t i = 0; i < cc->n; i++) {
    const cache_entry *e = &cc->e[i];
    if (e->obj && e->refs == 0 && (lru == cc->n || e->tick < cc->e[lru].tick)) lru = i;
  }
  if (lru == cc->n) return false;
  cache_entry *e = &cc->e[lru];
  e->free_fn(e->obj);
  cc->bytes -= e->bytes;
  memset(e, 0, sizeof *e);
  return true;
}

bool codec_cache_put(codec_cache *cc, uint8_t codec_id, const ims_h128 *key, void *obj, size_t bytes,
                     codec_cache_free_fn free_fn, size_t *slot) {
  if (!cc || !obj || bytes > cc->max_bytes) return false;
  bool taken = false;
  (void)pthread_mutex_lock(&cc->mu);
  size_t empty = cc->n;
  for (size_t i = 0; i < cc->n; i++) {
    if (key_is(&cc->e[i], codec_id, key)) goto done; /* another job derived it meanwhile */
    if (!cc->e[i].obj && empty == cc->n) empty = i;
  }
  while (cc->bytes + bytes > cc->max_bytes || empty == cc->n) {
    if (!evict_one(cc)) goto done;
    if (empty == cc->n)
      for (size_t i = 0; i < cc->n && empty == cc->n; i++)
        if (!cc->e[i].obj) empty = i;
  }
  cache_entry *e = &cc->e[empty];
  e->obj = obj;
  e->free_fn = free_fn;
  e->bytes = bytes;
  e->key = *key;
  e->codec_id = codec_id;
  e->refs = 1;
  e->tick = ++cc->clock;
  cc->bytes += bytes;
  *slot = empty;
  taken = true;
done:
  (void)pthread_mutex_unlock(&cc->mu);
  return taken;
}

void codec_cache_release(codec_cache *cc, size_t slot) {
  if (!cc || slot >= cc->n) return;
  (void)pthread_mutex_lock(&cc->mu);
  if (IMS_ALWAYS(cc->e[slot].refs > 0)) cc->e[slot].refs--;
  (void)pthread_mutex_unlock(&cc->mu);
}
