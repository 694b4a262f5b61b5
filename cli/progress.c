#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

double cli_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_init(cli_progress *p, const cli *c, const char *verb) {
  p->c = c;
  p->verb = verb;
  p->start_s = p->last_s = cli_now_s();
  p->shown = false;
}

static int term_width(void) {
  struct winsize ws;
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 80;
}

void cli_progress_cb(void *opaque, const ims_progress *pr) {
  cli_progress *p = opaque;
  if (!p->c->stderr_tty || p->c->verbosity < 1) return;
  double now = cli_now_s();
  if (now - p->last_s < 0.16 && pr->files_done < pr->files_total) return; /* ~6 updates a second */
  p->last_s = now;
  double el = now - p->start_s;
  double mbs = el > 0 ? (double)pr->bytes_done / el / 1e6 : 0;
  char line[256];
  int n = snprintf(line, sizeof line, "%s %llu/%llu files, %.1f MB/s", p->verb,
                   (unsigned long long)pr->files_done, (unsigned long long)pr->files_total, mbs);
  if (pr->bytes_total > 0 && pr->bytes_done > 0 && pr->bytes_done < pr->bytes_total && n > 0) {
    double eta = el * (double)(pr->bytes_total - pr->bytes_done) / (double)pr->bytes_done;
    snprintf(line + n, sizeof line - (size_t)n, ", ETA %.0f s", eta);
  }
  int w = term_width() - 1;
  fprintf(stderr, "\r%-*.*s", w, w, line);
  fflush(stderr);
  p->shown = true;
}

void cli_progress_end(cli_progress *p) {
  if (p->shown) {
    fprintf(stderr, "\r%*s\r", term_width() - 1, "");
    fflush(stderr);
  }
  p->shown = false;
}
