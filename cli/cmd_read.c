/* The commands that read an archive: unpack, list, cat, verify, stats. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* An entry's path made printable for a one-line message. */
static const char *esc(const char *path, char *tmp, size_t cap) {
  size_t k = 0;
  for (const unsigned char *p = (const unsigned char *)path; *p && k + 5 < cap; p++) {
    if (*p == '\n') {
      tmp[k++] = '\\';
      tmp[k++] = 'n';
    } else if (*p < 0x20 || *p == 0x7f) {
      k += (size_t)snprintf(tmp + k, cap - k, "\\x%02x", *p);
    } else {
      tmp[k++] = (char)*p;
    }
  }
  tmp[k] = '\0';
  return tmp;
}

ims_reader *cli_open_archive(const cli *c, const char *path, int *exit_code) {
  return cli_open_archive_progress(c, path, NULL, exit_code);
}

ims_reader *cli_open_archive_progress(const cli *c, const char *path, cli_progress *prog, int *exit_code) {
  ims_reader *r = NULL;
  ims_options o;
  if (ims_options_init(&o, IMS_VERSION_NUMBER) != IMS_OK) {
    *exit_code = EXIT_DATA;
    return NULL;
  }
  o.threads = c->threads;
  if (prog) {
    o.progress = cli_progress_cb;
    o.progress_opaque = prog;
  }
  ims_status st = ims_reader_new(&o, &r);
  if (st) {
    cli_error(c, path, "%s", ims_strerror(st));
    *exit_code = EXIT_DATA;
    return NULL;
  }
  if ((st = ims_reader_load(r, path)) != IMS_OK) {
    cli_error(c, path, "%s", ims_reader_errmsg(r));
    ims_reader_close(r);
    *exit_code = EXIT_DATA;
    return NULL;
  }
  if (ims_reader_damaged(r)) {
    cli_error(c, path, "%s; the archive is damaged, reading what can be recovered", ims_reader_errmsg(r));
    cli_hint(c, "'imgstash verify %s' lists every entry that can still be recovered", path);
  }
  return r;
}

/* Common option parsing for the read commands: -q, -v, -h and the extra ones given. */
typedef struct read_opts {
  const char *help;
  bool long_list, json;
  const char *dir;
} read_opts;

static int parse_read_opts(cli *c, int argc, char **argv, const char *shortopts, const struct option *longopts,
                           read_opts *ro) {
  int ch;
  optind = 1;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (ch) {
    case 'l': ro->long_list = true; break;
    case 'J': ro->json = true; break;
    case 'C': ro->dir = optarg; break;
    case 'j': {
      uint64_t v;
      if (!cli_parse_uint(c, "--threads", optarg, 0, 256, &v)) return EXIT_USAGE;
      c->threads = (unsigned)v;
      break;
    }
    case 'q': c->verbosity = 0; break;
    case 'v': c->verbosity++; break;
    case 'h': fputs(ro->help, stdout); return -2;
    case ':': return cli_usage_error(c, "%s needs an argument", argv[optind - 1]);
    default: return cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
    }
  }
  return -1;
}

/* Parses the options of a command that takes exactly one ARCHIVE, and opens it. Returns
 * NULL with *code set when the command is over (help shown, usage error, unreadable
 * archive); else the reader, with *code EXIT_DATA for a damaged archive, EXIT_OK otherwise. */
static ims_reader *parse_and_open(cli *c, int argc, char **argv, const char *shortopts, const struct option *lo,
                                  read_opts *ro, int *code) {
  int rc = parse_read_opts(c, argc, argv, shortopts, lo, ro);
  if (rc >= 0 || rc < -1) {
    *code = rc >= 0 ? rc : EXIT_OK;
    return NULL;
  }
  if (optind + 1 != argc) {
    *code = cli_usage_error(c, optind >= argc ? "no archive given" : "too many arguments");
    return NULL;
  }
  *code = EXIT_OK;
  ims_reader *r = cli_open_archive(c, argv[optind], code);
  if (r && ims_reader_damaged(r)) *code = EXIT_DATA;
  return r;
}

#define COMMON_LONGOPTS                                                                                  \
  {"quiet", no_argument, NULL, 'q'}, {"verbose", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'}, \
      {"threads", required_argument, NULL, 'j'}

/* ------------------------------------------------------------------ unpack */

static const char unpack_help[] =
    "Usage: imgstash unpack ARCHIVE [-C DIR]\n"
    "\n"
    "Restores every entry of ARCHIVE below DIR (default: the current folder; created if\n"
    "missing), with permission bits and modification times. Existing files of the same\n"
    "name are replaced. No entry is ever written outside DIR: absolute paths, '..' and\n"
    "paths through a symlink are refused. Every file's content hash is checked; a file\n"
    "that does not match is not left behind. With a damaged archive, every intact entry\n"
    "is still restored, the others are named, and the exit status is 1.\n"
    "\n"
    "Options:\n"
    "  -C, --directory DIR    where to restore\n"
    "  -j, --threads N        threads for decoding one image (default: one per core)\n"
    "  -q, --quiet            print errors only\n"
    "  -v, --verbose          name every entry as it is restored\n"
    "  -h, --help             this help\n";

typedef struct unpack_state {
  const cli *c;
  ims_reader *r;
  cli_progress *prog;
  uint64_t bad;
} unpack_state;

static void unpack_error(void *opaque, uint64_t index, ims_status st, const char *msg) {
  unpack_state *us = opaque;
  ims_entry e;
  char tmp[1024];
  (void)st;
  cli_progress_end(us->prog);
  if (ims_reader_entry(us->r, index, &e) == IMS_OK)
    cli_error(us->c, esc(e.path, tmp, sizeof tmp), "%s", msg);
  us->bad++;
}

int cmd_unpack(cli *c, int argc, char **argv) {
  static const struct option lo[] = {{"directory", required_argument, NULL, 'C'}, COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
  read_opts ro = {.help = unpack_help, .dir = "."};
  int rc = parse_read_opts(c, argc, argv, ":C:j:qvh", lo, &ro);
  if (rc >= 0) return rc;
  if (rc < -1) return EXIT_OK;
  if (optind + 1 != argc) return cli_usage_error(c, optind >= argc ? "no archive given" : "too many arguments");
  const char *path = argv[optind];
  int code = EXIT_OK;
  cli_progress prog0;
  cli_progress_init(&prog0, c, "unpacking");
  ims_reader *r = cli_open_archive_progress(c, path, &prog0, &code);
  if (!r) return code;
  if (ims_reader_damaged(r)) code = EXIT_DATA;
  if (mkdir(ro.dir, 0755) != 0 && errno != EEXIST) {
    cli_error(c, ro.dir, "cannot create folder: %s", strerror(errno));
    ims_reader_close(r);
    return EXIT_DATA;
  }
  int dirfd = open(ro.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0) {
    cli_error(c, ro.dir, "cannot open folder: %s", strerror(errno));
    ims_reader_close(r);
    return EXIT_DATA;
  }
  uint64_t n = ims_reader_count(r);
  unpack_state us = {c, r, &prog0, 0};
  if (ims_reader_extract_all_at(r, dirfd, unpack_error, &us) != IMS_OK && us.bad == 0) us.bad++;
  uint64_t bad = us.bad;
  cli_progress_end(&prog0);
  if (c->verbosity >= 2) {
    for (uint64_t i = 0; i < n; i++) {
      ims_entry e;
      if (ims_reader_entry(r, i, &e) == IMS_OK) {
        cli_print_path(stderr, e.path);
        fputc('\n', stderr);
      }
    }
  }
  if (ims_reader_fix_dir_times(r, dirfd) != IMS_OK) {
    cli_error(c, ro.dir, "%s", ims_reader_errmsg(r));
    bad++;
  }
  close(dirfd);
  ims_reader_close(r);
  if (bad) {
    cli_error(c, path, "%llu of %llu entries could not be restored", (unsigned long long)bad, (unsigned long long)n);
    code = EXIT_DATA;
  }
  return code;
}

/* ------------------------------------------------------------------ list */

static const char list_help[] =
    "Usage: imgstash list ARCHIVE [-l] [--json]\n"
    "\n"
    "One line per entry, in the order they were packed: size in bytes, then the path\n"
    "(folders end in '/', symlinks show '-> TARGET'; newlines, tabs, backslashes and other\n"
    "control characters in names are written as \\n, \\t, \\\\ and \\xHH).\n"
    "\n"
    "Options:\n"
    "  -l, --long             also mode, modification time, stored bytes (0 for a file\n"
    "                         identical to an earlier one), codec, content number (equal\n"
    "                         numbers: identical files) and reference entry\n"
    "      --json             one JSON array of objects, for scripts\n"
    "  -h, --help             this help\n";

static void mode_string(const ims_entry *e, char out[11]) {
  out[0] = e->type == IMS_ENTRY_DIR ? 'd' : e->type == IMS_ENTRY_SYMLINK ? 'l' : '-';
  static const char rwx[] = "rwxrwxrwx";
  for (int i = 0; i < 9; i++) out[1 + i] = (e->mode & (1u << (8 - i))) ? rwx[i] : '-';
  /* setuid, setgid, sticky as ls shows them: s/t over x, S/T without it */
  if (e->mode & 04000) out[3] = out[3] == 'x' ? 's' : 'S';
  if (e->mode & 02000) out[6] = out[6] == 'x' ? 's' : 'S';
  if (e->mode & 01000) out[9] = out[9] == 'x' ? 't' : 'T';
  out[10] = '\0';
}

int cmd_list(cli *c, int argc, char **argv) {
  static const struct option lo[] = {
      {"long", no_argument, NULL, 'l'}, {"json", no_argument, NULL, 'J'}, COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
  read_opts ro = {.help = list_help};
  int code;
  ims_reader *r = parse_and_open(c, argc, argv, ":lj:qvh", lo, &ro, &code);
  if (!r) return code;
  uint64_t n = ims_reader_count(r);
  if (ro.json) fputs("[", stdout);
  for (uint64_t i = 0; i < n; i++) {
    ims_entry e;
    if (ims_reader_entry(r, i, &e) != IMS_OK) continue;
    if (ro.json) {
      printf("%s\n{\"path\":", i ? "," : "");
      cli_json_string(stdout, e.path);
      printf(",\"type\":\"%s\",\"size\":%llu,\"mode\":%u,\"mtime\":%lld.%09u",
             e.type == IMS_ENTRY_DIR ? "dir" : e.type == IMS_ENTRY_SYMLINK ? "symlink" : "file",
             (unsigned long long)e.size, e.mode, (long long)e.mtime_sec, e.mtime_nsec);
      if (e.type == IMS_ENTRY_SYMLINK) {
        fputs(",\"target\":", stdout);
        cli_json_string(stdout, e.link_target);
      }
      if (e.type == IMS_ENTRY_FILE) {
        printf(",\"stored\":%llu,\"codec\":\"%s\",\"content\":%u,\"hash\":\"", (unsigned long long)e.stored_bytes,
               e.codec, e.content);
        for (int k = 0; k < 16; k++) printf("%02x", e.hash[k]);
        printf("\",\"ref\":");
        if (e.ref_entry >= 0) {
          ims_entry re;
          if (ims_reader_entry(r, (uint64_t)e.ref_entry, &re) == IMS_OK)
            cli_json_string(stdout, re.path);
          else
            fputs("null", stdout);
        } else {
          fputs("null", stdout);
        }
        printf(",\"damaged\":%s", e.damaged ? "true" : "false");
      }
      fputs("}", stdout);
      continue;
    }
    if (ro.long_list) {
      char m[11], t[32];
      mode_string(&e, m);
      time_t tt = (time_t)e.mtime_sec;
      struct tm tmv;
      if (localtime_r(&tt, &tmv))
        strftime(t, sizeof t, "%Y-%m-%d %H:%M", &tmv);
      else
        snprintf(t, sizeof t, "?");
      printf("%s %s %12llu %12llu %-5s %6s ", m, t, (unsigned long long)e.size, (unsigned long long)e.stored_bytes,
             e.type == IMS_ENTRY_FILE ? e.codec : "-", "");
      if (e.type == IMS_ENTRY_FILE)
        printf("#%-6u ", e.content);
      else
        printf("%-7s ", "-");
    } else {
      printf("%llu ", (unsigned long long)e.size);
    }
    cli_print_path(stdout, e.path);
    if (e.type == IMS_ENTRY_DIR) fputc('/', stdout);
    if (e.type == IMS_ENTRY_SYMLINK) {
      fputs(" -> ", stdout);
      cli_print_path(stdout, e.link_target);
    }
    if (ro.long_list && e.ref_entry >= 0) {
      ims_entry re;
      if (ims_reader_entry(r, (uint64_t)e.ref_entry, &re) == IMS_OK) {
        fputs(" (ref: ", stdout);
        cli_print_path(stdout, re.path);
        fputs(")", stdout);
      }
    }
    if (e.damaged) fputs(" [damaged]", stdout);
    fputc('\n', stdout);
  }
  if (ro.json) fputs("\n]\n", stdout);
  ims_reader_close(r);
  return code;
}

/* ------------------------------------------------------------------ cat */

static const char cat_help[] =
    "Usage: imgstash cat ARCHIVE PATH\n"
    "\n"
    "Writes the content of entry PATH to standard output, reading only the blocks it\n"
    "needs, and checks its content hash (exit status 1 if it does not match). For a\n"
    "symlink, writes its target.\n";

static int stdout_write(void *opaque, const void *data, size_t len) {
  (void)opaque;
  return fwrite(data, 1, len, stdout) == len ? 0 : 1;
}

int cmd_cat(cli *c, int argc, char **argv) {
  static const struct option lo[] = {COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
  read_opts ro = {.help = cat_help};
  int rc = parse_read_opts(c, argc, argv, ":j:qvh", lo, &ro);
  if (rc >= 0) return rc;
  if (rc < -1) return EXIT_OK;
  if (argc - optind != 2) return cli_usage_error(c, "cat takes an archive and one path");
  int code = EXIT_OK;
  ims_reader *r = cli_open_archive(c, argv[optind], &code);
  if (!r) return code;
  uint64_t idx;
  char tmp[1024];
  const char *want = argv[optind + 1];
  if (ims_reader_find(r, want, &idx) != IMS_OK) {
    cli_error(c, esc(want, tmp, sizeof tmp), "not in %s", argv[optind]);
    ims_reader_close(r);
    return EXIT_DATA;
  }
  ims_entry e;
  if (ims_reader_entry(r, idx, &e) == IMS_OK && e.type == IMS_ENTRY_DIR) {
    cli_error(c, esc(want, tmp, sizeof tmp), "is a folder");
    ims_reader_close(r);
    return EXIT_DATA;
  }
  if (ims_reader_extract(r, idx, stdout_write, NULL) != IMS_OK) {
    cli_error(c, esc(want, tmp, sizeof tmp), "%s", ims_reader_errmsg(r));
    code = EXIT_DATA;
  }
  ims_reader_close(r);
  return code;
}

/* ------------------------------------------------------------------ verify */

static const char verify_help[] =
    "Usage: imgstash verify ARCHIVE [DIR]\n"
    "\n"
    "Decodes every entry and checks every block checksum and every content hash. With\n"
    "DIR, also compares each entry with the file at DIR/PATH (content, type, link target).\n"
    "Prints one line per bad entry on standard error; exit status 0 only when all holds.\n"
    "\n"
    "Options:\n"
    "  -j, --threads N        threads for decoding one image (default: one per core)\n"
    "  -q, --quiet            no summary line\n"
    "  -h, --help             this help\n";

typedef struct cmp_sink {
  int fd;
  bool differs;
  uint8_t *tmp;
} cmp_sink;

static int cmp_write(void *opaque, const void *data, size_t len) {
  cmp_sink *s = opaque;
  const uint8_t *p = data;
  while (len > 0 && !s->differs) {
    size_t want = len > (1u << 20) ? (1u << 20) : len;
    ssize_t n = read(s->fd, s->tmp, want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || memcmp(s->tmp, p, (size_t)n) != 0) {
      s->differs = true;
      break;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0; /* keep decoding: the archive itself is still being verified */
}

/* Compares entry e (already decoded fine) with DIR/PATH. Returns NULL or a problem. */
static const char *compare_with(ims_reader *r, uint64_t i, const ims_entry *e, const char *dir, char *msg, size_t cap) {
  size_t n = strlen(dir) + strlen(e->path) + 2;
  char *p = malloc(n);
  if (!p) return "out of memory";
  snprintf(p, n, "%s/%s", dir, e->path);
  struct stat sb;
  const char *prob = NULL;
  if (lstat(p, &sb) != 0) {
    snprintf(msg, cap, "missing from %s: %s", dir, strerror(errno));
    prob = msg;
  } else if (e->type == IMS_ENTRY_DIR) {
    if (!S_ISDIR(sb.st_mode)) prob = "not a folder on disk";
  } else if (e->type == IMS_ENTRY_SYMLINK) {
    char t[4097];
    ssize_t k = S_ISLNK(sb.st_mode) ? readlink(p, t, sizeof t - 1) : -1;
    if (k < 0) {
      prob = "not a symlink on disk";
    } else {
      t[k] = '\0';
      if (strcmp(t, e->link_target) != 0) prob = "symlink target differs";
    }
  } else if (!S_ISREG(sb.st_mode)) {
    prob = "not a regular file on disk";
  } else if ((uint64_t)sb.st_size != e->size) {
    snprintf(msg, cap, "size differs (archive %llu, disk %llu)", (unsigned long long)e->size,
             (unsigned long long)sb.st_size);
    prob = msg;
  } else {
    cmp_sink s = {open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), false, malloc(1 << 20)};
    if (s.fd < 0 || !s.tmp) {
      snprintf(msg, cap, "cannot read %s: %s", p, strerror(errno));
      prob = msg;
    } else if (ims_reader_extract(r, i, cmp_write, &s) != IMS_OK) {
      snprintf(msg, cap, "%s", ims_reader_errmsg(r));
      prob = msg;
    } else if (s.differs) {
      prob = "content differs from the file on disk";
    }
    if (s.fd >= 0) close(s.fd);
    free(s.tmp);
  }
  free(p);
  return prob;
}

int cmd_verify(cli *c, int argc, char **argv) {
  static const struct option lo[] = {COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
  read_opts ro = {.help = verify_help};
  int rc = parse_read_opts(c, argc, argv, ":j:qvh", lo, &ro);
  if (rc >= 0) return rc;
  if (rc < -1) return EXIT_OK;
  if (argc - optind < 1 || argc - optind > 2) return cli_usage_error(c, "verify takes an archive and an optional DIR");
  const char *path = argv[optind], *dir = argc - optind == 2 ? argv[optind + 1] : NULL;
  int code = EXIT_OK;
  ims_reader *r = cli_open_archive(c, path, &code);
  if (!r) return code;
  if (ims_reader_damaged(r)) code = EXIT_DATA;
  uint64_t n = ims_reader_count(r), bad = 0, bytes = 0;
  cli_progress prog;
  cli_progress_init(&prog, c, "verifying");
  char tmp[1024], msg[600];
  for (uint64_t i = 0; i < n; i++) {
    ims_entry e;
    if (ims_reader_entry(r, i, &e) != IMS_OK) continue;
    const char *prob = NULL;
    if (dir)
      prob = compare_with(r, i, &e, dir, msg, sizeof msg);
    else if (ims_reader_verify_entry(r, i) != IMS_OK)
      prob = ims_reader_errmsg(r);
    if (prob) {
      cli_progress_end(&prog);
      cli_error(c, esc(e.path, tmp, sizeof tmp), "%s", prob);
      bad++;
    }
    bytes += e.size;
    ims_progress p = {sizeof p, i + 1, n, bytes, 0};
    cli_progress_cb(&prog, &p);
  }
  cli_progress_end(&prog);
  ims_reader_close(r);
  if (bad) code = EXIT_DATA;
  if (c->verbosity >= 1)
    fprintf(stderr, "imgstash: %s: %llu entries checked, %llu bad%s\n", path, (unsigned long long)n,
            (unsigned long long)bad, code == EXIT_OK ? ", all OK" : "");
  return code;
}

/* ------------------------------------------------------------------ stats */

static const char stats_help[] =
    "Usage: imgstash stats ARCHIVE [--json]\n"
    "\n"
    "Entry counts, original and archive bytes and their ratio, bytes saved by storing\n"
    "identical files once, JPEG bytes before and after, and per codec: contents, original\n"
    "and stored bytes; the number of contents held by a safer codec than the preferred\n"
    "one, per reason (fallbacks).\n"
    "\n"
    "Options:\n"
    "      --json             one JSON object, for scripts\n"
    "  -h, --help             this help\n";

int cmd_stats(cli *c, int argc, char **argv) {
  static const struct option lo[] = {{"json", no_argument, NULL, 'J'}, COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
  read_opts ro = {.help = stats_help};
  int code;
  ims_reader *r = parse_and_open(c, argc, argv, ":j:qvh", lo, &ro, &code);
  if (!r) return code;
  ims_stats s;
  if (ims_reader_stats(r, &s) != IMS_OK) {
    ims_reader_close(r);
    return EXIT_DATA;
  }
  double ratio = s.input_bytes ? (double)s.archive_bytes / (double)s.input_bytes : 0;
  uint64_t fb_total = 0;
  for (int k = IMS_FB_UNSUPPORTED; k <= IMS_FB_MAX; k++) fb_total += s.fallbacks[k];
  if (ro.json) {
    printf("{\"entries\":%llu,\"files\":%llu,\"dirs\":%llu,\"symlinks\":%llu,\"contents\":%llu,"
           "\"input_bytes\":%llu,\"archive_bytes\":%llu,\"ratio\":%.6f,\"dedup_saved_bytes\":%llu,"
           "\"jpeg\":{\"contents\":%llu,\"bytes\":%llu,\"stored_bytes\":%llu},\"damaged\":%s,\"codecs\":{",
           (unsigned long long)s.entries, (unsigned long long)s.files, (unsigned long long)s.dirs,
           (unsigned long long)s.symlinks, (unsigned long long)s.contents, (unsigned long long)s.input_bytes,
           (unsigned long long)s.archive_bytes, ratio, (unsigned long long)s.dedup_saved_bytes,
           (unsigned long long)s.jpeg_contents, (unsigned long long)s.jpeg_bytes,
           (unsigned long long)s.jpeg_stored_bytes, ims_reader_damaged(r) ? "true" : "false");
    for (int k = 0, first = 1; k < IMS_MAX_CODECS; k++) {
      if (!s.codecs[k].name) continue;
      printf("%s\"%s\":{\"contents\":%llu,\"bytes\":%llu,\"stored_bytes\":%llu}", first ? "" : ",", s.codecs[k].name,
             (unsigned long long)s.codecs[k].contents, (unsigned long long)s.codecs[k].raw_bytes,
             (unsigned long long)s.codecs[k].stored_bytes);
      first = 0;
    }
    printf("},\"fallbacks\":{\"total\":%llu", (unsigned long long)fb_total);
    for (int k = IMS_FB_UNSUPPORTED; k <= IMS_FB_MAX; k++)
      printf(",\"%s\":%llu", ims_fallback_name((ims_fallback)k), (unsigned long long)s.fallbacks[k]);
    printf("}}\n");
  } else {
    char a[32], b[32], d[32];
    printf("entries      %llu (%llu files, %llu folders, %llu symlinks)\n", (unsigned long long)s.entries,
           (unsigned long long)s.files, (unsigned long long)s.dirs, (unsigned long long)s.symlinks);
    printf("original     %s (%llu bytes)\n", cli_human_bytes(s.input_bytes, a, sizeof a),
           (unsigned long long)s.input_bytes);
    printf("archive      %s (%llu bytes), ratio %.4f, %.1f%% saved\n", cli_human_bytes(s.archive_bytes, b, sizeof b),
           (unsigned long long)s.archive_bytes, ratio, s.input_bytes ? 100.0 * (1.0 - ratio) : 0.0);
    printf("identical    %llu files stored once, %s saved\n", (unsigned long long)(s.files - s.contents),
           cli_human_bytes(s.dedup_saved_bytes, d, sizeof d));
    if (s.jpeg_contents)
      printf("jpeg         %llu distinct files, %s -> %s (%.4f)\n", (unsigned long long)s.jpeg_contents,
             cli_human_bytes(s.jpeg_bytes, a, sizeof a), cli_human_bytes(s.jpeg_stored_bytes, b, sizeof b),
             s.jpeg_bytes ? (double)s.jpeg_stored_bytes / (double)s.jpeg_bytes : 0.0);
    printf("codec        contents     original       stored  ratio\n");
    for (int k = 0; k < IMS_MAX_CODECS; k++) {
      if (!s.codecs[k].name) continue;
      printf("  %-8s %10llu %12llu %12llu  %.4f\n", s.codecs[k].name, (unsigned long long)s.codecs[k].contents,
             (unsigned long long)s.codecs[k].raw_bytes, (unsigned long long)s.codecs[k].stored_bytes,
             s.codecs[k].raw_bytes ? (double)s.codecs[k].stored_bytes / (double)s.codecs[k].raw_bytes : 0.0);
    }
    printf("fallbacks    %llu", (unsigned long long)fb_total);
    for (int k = IMS_FB_UNSUPPORTED; k <= IMS_FB_MAX; k++)
      if (s.fallbacks[k]) printf(", %s %llu", ims_fallback_name((ims_fallback)k), (unsigned long long)s.fallbacks[k]);
    printf("\n");
  }
  ims_reader_close(r);
  return code;
}
