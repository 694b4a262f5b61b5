/* Runs n_jobs independent jobs on up to n_threads threads. Jobs write their results to
 * slots chosen by their job number, so the outcome never depends on scheduling. */
#ifndef IMS_COMMON_POOL_H
#define IMS_COMMON_POOL_H

#include <stddef.h>

#include "imgstash.h"

typedef void (*pool_job_fn)(void *ctx, size_t job);

/* Runs fn(ctx, 0..n_jobs-1). n_threads <= 1 runs everything on the calling thread.
 * Returns IMS_E_NOMEM/IMS_E_INTERNAL only when threads cannot be started; then no job ran
 * twice and the remaining ones ran on the calling thread. */
ims_status pool_run(unsigned n_threads, size_t n_jobs, pool_job_fn fn, void *ctx);

/* Number of online cores, at least 1. */
unsigned pool_cores(void);

#endif
