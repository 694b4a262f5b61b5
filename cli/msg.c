#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "cli.h"

static void vmsg(const char *subject, const char *fmt, va_list ap) {
  char line[4096];
  (void)vsnprintf(line, sizeof line, fmt, ap);
  if (subject)
    fprintf(stderr, "imgstash: %s: %s\n", subject, line);
  else
    fprintf(stderr, "imgstash: %s\n", line);
}

void cli_error(const cli *c, const char *subject, const char *fmt, ...) {
  (void)c;
  va_list ap;
  va_start(ap, fmt);
  vmsg(subject, fmt, ap);
  va_end(ap);
}

void cli_warn(const cli *c, const char *subject, const char *fmt, ...) {
  if (c->verbosity < 1) return;
  va_list ap;
  va_start(ap, fmt);
  vmsg(subject, fmt, ap);
  va_end(ap);
}

void cli_hint(const cli *c, const char *fmt, ...) {
  (void)c;
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  (void)vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "hint: %s\n", line);
}

int cli_usage_error(const cli *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(NULL, fmt, ap);
  va_end(ap);
  if (c->command)
    cli_hint(c, "'imgstash %s --help' shows the options", c->command);
  else
    cli_hint(c, "'imgstash --help' shows the commands");
  return EXIT_USAGE;
}

bool cli_parse_uint(const cli *c, const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  if (!s || !*s || *s == '-' || *s == '+' || *s == ' ') goto bad;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) goto bad;
  if (v < lo || v > hi) {
    cli_error(c, opt, "'%s' is out of range (%llu to %llu)", s, (unsigned long long)lo, (unsigned long long)hi);
    return false;
  }
  *out = v;
  return true;
bad:
  cli_error(c, opt, "'%s' is not a whole number", s ? s : "");
  return false;
}

void cli_print_path(FILE *f, const char *path) {
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if (*p == '\n')
      fputs("\\n", f);
    else if (*p == '\t')
      fputs("\\t", f);
    else if (*p == '\\')
      fputs("\\\\", f);
    else if (*p < 0x20 || *p == 0x7f)
      fprintf(f, "\\x%02x", *p);
    else
      fputc(*p, f);
  }
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t utf8_len(const unsigned char *p) {
  if (p[0] < 0x80) return 1;
  size_t n = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
  if (n == 0 || (n == 2 && p[0] < 0xc2)) return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xc0) != 0x80) return 0;
  return n;
}

void cli_json_string(FILE *f, const char *s) {
  fputc('"', f);
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    if (*p == '"' || *p == '\\') {
      fputc('\\', f);
      fputc(*p++, f);
    } else if (*p < 0x20) {
      fprintf(f, "\\u%04x", *p++);
    } else {
      size_t n = utf8_len(p);
      if (n == 0) {
        fprintf(f, "\\u%04x", *p++); /* a raw byte that is not UTF-8: kept as its code point */
      } else {
        fwrite(p, 1, n, f);
        p += n;
      }
    }
  }
  fputc('"', f);
}

const char *cli_human_bytes(uint64_t n, char *tmp, size_t cap) {
  static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = (double)n;
  size_t u = 0;
  while (v >= 1000.0 && u < 5) {
    v /= 1000.0;
    u++;
  }
  if (u == 0)
    snprintf(tmp, cap, "%llu B", (unsigned long long)n);
  else
    snprintf(tmp, cap, "%.1f %s", v, units[u]);
  return tmp;
}
