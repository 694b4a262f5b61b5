/* imgstash pack: walk the inputs (sorted, so the archive is deterministic), add them,
 * code and verify everything, report what was skipped. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char help_text[] =
    "Usage: imgstash pack -o ARCHIVE [OPTIONS] INPUT...\n"
    "\n"
    "Packs files, folders (recursed) and symlinks (stored as links, never followed) into\n"
    "ARCHIVE, with their paths as given (a leading '/' or '../' is removed, as tar does),\n"
    "permission bits and modification times. Identical files are stored once; JPEG files\n"
    "are re-coded losslessly; everything is decoded back and compared before the archive\n"
    "is written. ARCHIVE appears only when complete (it replaces an existing file).\n"
    "\n"
    "Options:\n"
    "  -o, --output ARCHIVE   the archive to write (required)\n"
    "  -m, --mode MODE        exact (default): every file back byte for byte\n"
    "  -j, --threads N        worker threads (default: one per core); the archive is the\n"
    "                         same for any N\n"
    "  -l, --level N          zstd level 1..22 for contents that are not images (default 19)\n"
    "      --no-jpeg          store JPEG files with zstd instead of the JPEG codec\n"
    "      --key-interval N   similar JPEGs are coded against an earlier one, with a key\n"
    "                         image (coded alone) at least every N images of a chain, so\n"
    "                         reading one image decodes at most N (1..4096, default 32;\n"
    "                         1: every image alone)\n"
    "      --refs N           an image is predicted from up to N images of its chain (its\n"
    "                         reference, that one's, ...: 1..4, default 4)\n"
    "  -q, --quiet            print errors only\n"
    "  -v, --verbose          also name every file as it is added\n"
    "  -h, --help             this help\n"
    "\n"
    "An input that cannot be read is named on standard error and skipped; the rest is\n"
    "still archived, and the exit status is 1. Exit status 2: usage error.\n";

/* The temporary archive, removed if the program is interrupted or killed (SIGINT, SIGTERM,
 * SIGHUP). A signal handler can only reach file-scope state; this is the CLI's one such
 * variable, written before the handlers are installed and cleared before the file is
 * renamed or removed by the library. unlink() is async-signal-safe. */
static char pack_temp_path[4096];
static volatile sig_atomic_t pack_temp_set;

static void on_fatal_signal(int sig) {
  if (pack_temp_set) (void)unlink(pack_temp_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void guard_temp(const char *path) {
  if (!path || strlen(path) >= sizeof pack_temp_path) return;
  memcpy(pack_temp_path, path, strlen(path) + 1);
  pack_temp_set = 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction old;
    /* Keep an inherited "ignore" (nohup, background jobs). */
    if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    (void)sigaction(sigs[i], &sa, NULL);
  }
}

static void unguard_temp(void) { pack_temp_set = 0; }

typedef struct pack_state {
  cli *c;
  ims_writer *w;
  dev_t out_dev;
  ino_t out_ino;
  bool out_exists;
  uint64_t skipped, added;
} pack_state;

static bool is_output(const pack_state *ps, const struct stat *sb) {
  return ps->out_exists && sb->st_dev == ps->out_dev && sb->st_ino == ps->out_ino;
}

static char *join(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  char *s = malloc(na + nb + 2);
  if (!s) return NULL;
  memcpy(s, a, na);
  size_t k = na;
  if (na && a[na - 1] != '/') s[k++] = '/';
  memcpy(s + k, b, nb + 1);
  return s;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_one(pack_state *ps, const char *arc, const char *fs) {
  ims_status st = ims_writer_add_path(ps->w, arc, fs);
  if (st == IMS_E_NOMEM) {
    cli_error(ps->c, fs, "out of memory");
    ps->skipped++;
    return;
  }
  if (st == IMS_E_EXISTS) {
    /* Given twice (e.g. a file and its folder): it is in the archive once; nothing is lost. */
    if (ps->c->verbosity >= 1) fprintf(stderr, "imgstash: %s (given twice; kept once)\n", ims_writer_errmsg(ps->w));
    return;
  }
  if (st) {
    /* The library's message names the file already: "PATH: problem". */
    fprintf(stderr, "imgstash: %s\n", ims_writer_errmsg(ps->w));
    ps->skipped++;
    return;
  }
  ps->added++;
  if (ps->c->verbosity >= 2) fprintf(stderr, "%s\n", arc);
}

/* Adds fs (and, for a folder, everything below it, in name order). */
static void walk(pack_state *ps, const char *arc, const char *fs, unsigned depth) {
  struct stat sb;
  if (lstat(fs, &sb) != 0) {
    cli_error(ps->c, fs, "%s", strerror(errno));
    ps->skipped++;
    return;
  }
  if (is_output(ps, &sb)) return; /* never pack the archive into itself */
  add_one(ps, arc, fs);
  if (!S_ISDIR(sb.st_mode)) return;
  if (depth > 4096) {
    cli_error(ps->c, fs, "folders nested too deep: contents skipped");
    ps->skipped++;
    return;
  }
  DIR *d = opendir(fs);
  if (!d) {
    cli_error(ps->c, fs, "cannot read folder: %s", strerror(errno));
    ps->skipped++;
    return;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **q = realloc(names, cap * sizeof *q);
      if (!q) break;
      names = q;
    }
    names[n] = strdup(de->d_name);
    if (names[n]) n++;
  }
  closedir(d);
  if (n) qsort(names, n, sizeof *names, cmp_names);
  for (size_t i = 0; i < n; i++) {
    char *ca = join(arc, names[i]), *cf = join(fs, names[i]);
    if (ca && cf) walk(ps, ca, cf, depth + 1);
    free(ca);
    free(cf);
    free(names[i]);
  }
  free(names);
}

/* The archive path of an input: like tar, everything up to the last ".." component goes,
 * and so do leading "/" and "./" (a path in the archive never climbs out of the folder it
 * is unpacked into). */
static const char *arc_name(const cli *c, const char *in, bool *warned) {
  const char *p = in;
  bool climbs = in[0] == '/';
  for (const char *q = in; *q;) {
    const char *s = strchr(q, '/');
    size_t n = s ? (size_t)(s - q) : strlen(q);
    if (n == 2 && q[0] == '.' && q[1] == '.') {
      p = s ? s + 1 : q + n;
      climbs = true;
    }
    q += n;
    while (*q == '/') q++;
  }
  while (*p == '/' || (p[0] == '.' && (p[1] == '/' || p[1] == '\0'))) p += p[0] == '/' ? 1 : (p[1] ? 2 : 1);
  if (climbs && !*warned && c->verbosity >= 1) {
    fprintf(stderr, "imgstash: removing leading '%.*s' from member names\n", (int)(p - in), in);
    *warned = true;
  }
  return *p ? p : ".";
}

/* The hint line that follows every usage error (STYLE.md §2.4). */
static int usage_hint(const cli *c) {
  cli_hint(c, "'imgstash pack --help' shows the options");
  return EXIT_USAGE;
}

static void on_skip(void *opaque, const char *arc_path, const char *why) {
  pack_state *ps = opaque;
  cli_error(ps->c, arc_path, "%s: skipped", why);
  ps->skipped++;
}

int cmd_pack(cli *c, int argc, char **argv) {
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'}, {"mode", required_argument, NULL, 'm'},
      {"threads", required_argument, NULL, 'j'}, {"level", required_argument, NULL, 'l'},
      {"no-jpeg", no_argument, NULL, 'J'},      {"quiet", no_argument, NULL, 'q'},
      {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
      {"key-interval", required_argument, NULL, 'K'}, {"refs", required_argument, NULL, 'R'},
      {NULL, 0, NULL, 0}};
  ims_options o;
  if (ims_options_init(&o, IMS_VERSION_NUMBER) != IMS_OK) return EXIT_DATA;
  const char *out = NULL;
  uint64_t v;
  int ch;
  optind = 1;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, ":o:m:j:l:qvh", longopts, NULL)) != -1) {
    switch (ch) {
    case 'o': out = optarg; break;
    case 'm':
      if (!strcmp(optarg, "exact")) {
        o.mode = IMS_MODE_EXACT;
      } else if (!strcmp(optarg, "pixel") || !strcmp(optarg, "visual")) {
        cli_error(c, "-m", "mode '%s' is not implemented in this version (only 'exact')", optarg);
        return usage_hint(c);
      } else {
        return cli_usage_error(c, "-m: unknown mode '%s' (exact, pixel, visual)", optarg);
      }
      break;
    case 'j':
      if (!cli_parse_uint(c, "--threads", optarg, 0, 256, &v)) return usage_hint(c);
      o.threads = (unsigned)v;
      break;
    case 'l':
      if (!cli_parse_uint(c, "--level", optarg, 1, 22, &v)) return usage_hint(c);
      o.zstd_level = (int)v;
      break;
    case 'J': o.jpeg = 0; break;
    case 'K':
      if (!cli_parse_uint(c, "--key-interval", optarg, 1, 4096, &v)) return usage_hint(c);
      o.key_interval = (uint32_t)v;
      break;
    case 'R':
      if (!cli_parse_uint(c, "--refs", optarg, 1, 4, &v)) return usage_hint(c);
      o.refs = (uint32_t)v;
      break;
    case 'q': c->verbosity = 0; break;
    case 'v': c->verbosity++; break;
    case 'h': fputs(help_text, stdout); return EXIT_OK;
    case ':': return cli_usage_error(c, "%s needs an argument", argv[optind - 1]);
    default: return cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (!out) return cli_usage_error(c, "no archive given (-o ARCHIVE)");
  if (optind >= argc) return cli_usage_error(c, "no input given");
  if (isatty(STDOUT_FILENO) && !strcmp(out, "/dev/stdout")) {
    cli_error(c, out, "refusing to write an archive to a terminal");
    return usage_hint(c);
  }

  pack_state ps = {.c = c};
  struct stat sb;
  if (stat(out, &sb) == 0) {
    if (S_ISDIR(sb.st_mode)) {
      cli_error(c, out, "is a folder");
      return usage_hint(c);
    }
    ps.out_exists = true;
    ps.out_dev = sb.st_dev;
    ps.out_ino = sb.st_ino;
  }
  cli_progress prog;
  cli_progress_init(&prog, c, "packing");
  o.progress = cli_progress_cb;
  o.progress_opaque = &prog;
  ims_status st = ims_writer_new(&o, &ps.w);
  if (st) {
    cli_error(c, out, "%s", ims_strerror(st));
    return EXIT_DATA;
  }
  if ((st = ims_writer_create(ps.w, out)) != IMS_OK) {
    fprintf(stderr, "imgstash: %s\n", ims_writer_errmsg(ps.w));
    ims_writer_close(ps.w);
    return EXIT_DATA;
  }
  guard_temp(ims_writer_temp_path(ps.w));
  ims_writer_set_skip_callback(ps.w, on_skip, &ps);
  double t0 = cli_now_s();
  bool warned = false;
  for (int i = optind; i < argc; i++) walk(&ps, arc_name(c, argv[i], &warned), argv[i], 0);
  /* From here the library renames or removes the temporary file itself. A signal during
   * the final rename could leave it; that window is a few system calls wide. */
  st = ims_writer_finish(ps.w);
  unguard_temp();
  cli_progress_end(&prog);
  if (st) {
    cli_error(c, out, "%s", ims_writer_errmsg(ps.w));
    ims_writer_close(ps.w);
    return EXIT_DATA;
  }
  ims_writer_close(ps.w);
  double dt = cli_now_s() - t0;
  if (c->verbosity >= 1) {
    ims_reader *r = NULL;
    ims_stats s;
    if (ims_reader_open(out, NULL, &r) == IMS_OK && ims_reader_stats(r, &s) == IMS_OK) {
      char a[32], b[32];
      fprintf(stderr, "imgstash: %s: %llu entries, %s -> %s (%.3fx) in %.1f s, %.1f MB/s%s\n", out,
              (unsigned long long)s.entries, cli_human_bytes(s.input_bytes, a, sizeof a),
              cli_human_bytes(s.archive_bytes, b, sizeof b),
              s.input_bytes ? (double)s.archive_bytes / (double)s.input_bytes : 0.0, dt,
              dt > 0 ? (double)s.input_bytes / dt / 1e6 : 0.0, ps.skipped ? "" : "");
    }
    ims_reader_close(r);
  }
  if (ps.skipped) {
    cli_error(c, out, "%llu input(s) could not be archived (named above)", (unsigned long long)ps.skipped);
    return EXIT_DATA;
  }
  return EXIT_OK;
}
