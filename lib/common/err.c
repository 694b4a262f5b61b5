#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ims_err_clear(ims_err *e) {
  if (!e) return;
  e->code = IMS_OK;
  e->msg[0] = '\0';
}

ims_status ims_fail(ims_err *e, ims_status code, const char *fmt, ...) {
  if (!e) return code;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return code;
}

void ims_err_prefix(ims_err *e, const char *fmt, ...) {
  if (!e) return;
  char pre[IMS_ERRMSG_CAP];
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  char old[IMS_ERRMSG_CAP];
  memcpy(old, e->msg, sizeof old);
  (void)snprintf(e->msg, sizeof e->msg, "%s: %s", pre, old);
}
