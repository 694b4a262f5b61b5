/* Error detail kept on a handle: a status plus a human-readable message.
 * Invariant: msg is always NUL-terminated; code == IMS_OK means msg is "". */
#ifndef IMS_COMMON_ERR_H
#define IMS_COMMON_ERR_H

#include "imgstash.h"

#define IMS_ERRMSG_CAP 512

typedef struct ims_err {
  ims_status code;
  char msg[IMS_ERRMSG_CAP];
} ims_err;

void ims_err_clear(ims_err *e);
/* Records code and a printf-style message on e (if e is not NULL) and returns code. */
ims_status ims_fail(ims_err *e, ims_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes the current message with "prefix: ". */
void ims_err_prefix(ims_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "Cannot happen" checks (SQLite's ALWAYS/NEVER): abort in debug builds, stay guards in
 * release builds, where the caller returns IMS_E_INTERNAL. */
#ifdef NDEBUG
#define IMS_ALWAYS(x) (x)
#define IMS_NEVER(x) (x)
#else
#include <assert.h>
#define IMS_ALWAYS(x) ((x) ? 1 : (assert(0 && #x), 0))
#define IMS_NEVER(x) ((x) ? (assert(0 && #x), 1) : 0)
#endif

#endif
