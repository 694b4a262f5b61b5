/* The imgstash command line: shared state and helpers for the cmd_*.c files.
 * Only main() calls exit; commands return an exit code. */
#ifndef IMS_CLI_H
#define IMS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "imgstash.h"

enum { EXIT_OK = 0, EXIT_DATA = 1, EXIT_USAGE = 2 };

typedef struct cli {
  int verbosity;       /* 0 = -q, 1 = normal, 2+ = -v */
  bool stderr_tty;     /* progress only on a terminal */
  const char *command; /* the subcommand being run */
  unsigned threads;    /* -j for reading commands; 0 = one per core */
} cli;

/* "imgstash: SUBJECT: message" on stderr. subject may be NULL. */
void cli_error(const cli *c, const char *subject, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, only when verbosity >= 1. */
void cli_warn(const cli *c, const char *subject, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A usage error: the reason, a hint line, returns EXIT_USAGE. */
int cli_usage_error(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "hint: ..." on stderr. */
void cli_hint(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a whole number in [lo, hi]; on failure reports "--opt: 'x' is not ..." and returns false. */
bool cli_parse_uint(const cli *c, const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* Writes path to f with bytes that would break a line (control characters, backslash,
 * non-UTF-8 is kept as is) escaped as \n, \t, \\ and \xHH, like GNU ls -b. */
void cli_print_path(FILE *f, const char *path);

/* Writes s as a JSON string literal (bytes >= 0x80 that are not valid UTF-8 as \u00XX). */
void cli_json_string(FILE *f, const char *s);

/* Human-readable size: "12.3 MB" (decimal units, like ls -h --si). */
const char *cli_human_bytes(uint64_t n, char *tmp, size_t cap);

/* Progress line on stderr (terminal only, at most ~6 updates a second). */
typedef struct cli_progress {
  const cli *c;
  const char *verb;
  double start_s, last_s;
  bool shown;
} cli_progress;
void cli_progress_init(cli_progress *p, const cli *c, const char *verb);
void cli_progress_cb(void *opaque, const ims_progress *pr); /* an ims_progress_fn */
void cli_progress_end(cli_progress *p);
double cli_now_s(void);

/* The commands. argv[0] is the command name. */
int cmd_pack(cli *c, int argc, char **argv);
int cmd_unpack(cli *c, int argc, char **argv);
int cmd_list(cli *c, int argc, char **argv);
int cmd_cat(cli *c, int argc, char **argv);
int cmd_verify(cli *c, int argc, char **argv);
int cmd_stats(cli *c, int argc, char **argv);
int cmd_video(cli *c, int argc, char **argv);

/* Opens an archive for a command, reporting failures; NULL on failure. */
ims_reader *cli_open_archive(const cli *c, const char *path, int *exit_code);
/* The same, with progress reported to prog (may be NULL). */
ims_reader *cli_open_archive_progress(const cli *c, const char *path, cli_progress *prog, int *exit_code);

#endif
