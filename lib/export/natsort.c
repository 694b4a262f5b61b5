/* Natural order of paths, for frame sequences: "f2" before "f10". */
#include <string.h>

#include "export.h"

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

int exp_natcmp(const char *a, const char *b) {
  const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
  while (*p && *q) {
    if (is_digit(*p) && is_digit(*q)) {
      while (*p == '0') p++;
      while (*q == '0') q++;
      size_t np = 0, nq = 0;
      while (is_digit(p[np])) np++;
      while (is_digit(q[nq])) nq++;
      if (np != nq) return np < nq ? -1 : 1; /* more significant digits: larger */
      int c = memcmp(p, q, np);
      if (c) return c;
      p += np;
      q += nq;
    } else {
      if (*p != *q) return *p < *q ? -1 : 1;
      p++;
      q++;
    }
  }
  if (*p || *q) return *p ? 1 : -1;
  return strcmp(a, b); /* equal as numbers ("a01" vs "a1"): a total order all the same */
}
