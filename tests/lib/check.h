/* A small assertion kit for unit tests: each CHECK that fails prints file:line and the
 * expression, and the test exits 1 at the end (or at once with REQUIRE).
 * A test that cannot run (missing corpus) calls test_skip(), which exits 77 (ctest SKIP). */
#ifndef IMS_TESTS_CHECK_H
#define IMS_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_count;

#define CHECK(x)                                                                 \
  do {                                                                           \
    check_count++;                                                               \
    if (!(x)) {                                                                  \
      check_failures++;                                                          \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #x);      \
    }                                                                            \
  } while (0)

#define REQUIRE(x)                                                               \
  do {                                                                           \
    check_count++;                                                               \
    if (!(x)) {                                                                  \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #x);    \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

static inline void test_skip(const char *why) {
  printf("SKIP: %s\n", why);
  exit(77);
}

/* Call at the end of main: prints a summary and returns the exit status. */
static inline int check_done(const char *name) {
  printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
  if (check_count == 0) {
    fprintf(stderr, "%s: no check ran\n", name);
    return 1;
  }
  return check_failures ? 1 : 0;
}

#endif
