/* Replays fuzz inputs without libFuzzer (zstd's regression_driver.c): for each argument
 * that is a directory, feeds every regular file inside it, in name order, to
 * LLVMFuzzerTestOneInput; an argument that is a file is fed as is. A missing directory is
 * not an error (a target may have no crashers yet). Exits 1 only when an input cannot be
 * read; a crash shows up as the sanitizer's abort. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs one file; returns 0, or -1 when it cannot be read. */
static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  uint8_t *data = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      size_t nc = cap ? cap * 2 : 4096;
      uint8_t *q = realloc(data, nc);
      if (!q) {
        free(data);
        fclose(f);
        fprintf(stderr, "replay: %s: out of memory\n", path);
        return -1;
      }
      data = q;
      cap = nc;
    }
    size_t n = fread(data + len, 1, cap - len, f);
    len += n;
    if (n == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(data);
    fprintf(stderr, "replay: %s: read error\n", path);
    return -1;
  }
  /* An exact-size copy, so that ASan catches a read one byte past the input. */
  uint8_t *exact = malloc(len ? len : 1);
  if (!exact) {
    free(data);
    return -1;
  }
  if (len) memcpy(exact, data, len);
  free(data);
  (void)LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

static int run_dir(const char *dir, unsigned long *ran) {
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) {
      printf("replay: %s: no such directory (nothing to replay)\n", dir);
      return 0;
    }
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  int rc = 0;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      char **q = realloc(names, nc * sizeof *q);
      if (!q) {
        rc = -1;
        break;
      }
      names = q;
      cap = nc;
    }
    size_t pl = strlen(dir) + strlen(de->d_name) + 2;
    names[n] = malloc(pl);
    if (!names[n]) {
      rc = -1;
      break;
    }
    snprintf(names[n], pl, "%s/%s", dir, de->d_name);
    n++;
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp_names);
  for (size_t i = 0; i < n; i++) {
    struct stat sb;
    if (rc == 0 && stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode)) {
      if (run_file(names[i]) != 0)
        rc = -1;
      else
        (*ran)++;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv) {
  unsigned long ran = 0;
  int rc = 0;
  for (int i = 1; i < argc; i++) {
    struct stat sb;
    if (stat(argv[i], &sb) == 0 && S_ISREG(sb.st_mode)) {
      if (run_file(argv[i]) != 0)
        rc = 1;
      else
        ran++;
    } else if (run_dir(argv[i], &ran) != 0) {
      rc = 1;
    }
  }
  printf("replay: %lu inputs ran\n", ran);
  return rc;
}
