#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct pool_shared {
  atomic_size_t next;
  size_t n_jobs;
  pool_job_fn fn;
  void *ctx;
} pool_shared;

static void *worker(void *arg) {
  pool_shared *s = arg;
  for (;;) {
    size_t j = atomic_fetch_add(&s->next, 1);
    if (j >= s->n_jobs) break;
    s->fn(s->ctx, j);
  }
  return NULL;
}

ims_status pool_run(unsigned n_threads, size_t n_jobs, pool_job_fn fn, void *ctx) {
  pool_shared s;
  atomic_init(&s.next, 0);
  s.n_jobs = n_jobs;
  s.fn = fn;
  s.ctx = ctx;
  if (n_threads > n_jobs) n_threads = (unsigned)n_jobs;
  if (n_threads <= 1) {
    worker(&s);
    return IMS_OK;
  }
  pthread_t *t = calloc(n_threads - 1, sizeof *t);
  unsigned started = 0;
  if (t) {
    for (; started < n_threads - 1; started++)
      if (pthread_create(&t[started], NULL, worker, &s) != 0) break;
  }
  worker(&s); /* the caller works too, and finishes whatever the threads did not take */
  for (unsigned i = 0; i < started; i++) pthread_join(t[i], NULL);
  free(t);
  return IMS_OK;
}

unsigned pool_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) return 1;
  if (n > 256) return 256;
  return (unsigned)n;
}
