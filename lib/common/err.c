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
  /* Truncation is fine: the message is for humans and stays NUL-terminated. */
  size_t n = strlen(pre);
  if (n > sizeof e->msg - 3) n = sizeof e->msg - 3;
  memcpy(e->msg, pre, n);
  e->msg[n] = ':';
  e->msg[n + 1] = ' ';
  size_t rest = sizeof e->msg - n - 2, ol = strlen(old);
  if (ol > rest - 1) ol = rest - 1;
  memcpy(e->msg + n + 2, old, ol);
  e->msg[n + 2 + ol] = '\0';
}
