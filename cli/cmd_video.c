/* imgstash video: export the images of an archive as a video (lib/export/). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef IMS_WITH_FFMPEG
#include <libavutil/log.h>

#include "../lib/export/export.h" /* the CLI target has no -Ilib */
#endif

static const char video_help[] =
    "Usage: imgstash video ARCHIVE -o OUT.mkv [OPTIONS]\n"
    "\n"
    "Export the images of ARCHIVE as one Matroska video. Runs of identical consecutive frames\n"
    "are stored once, as one frame shown for the whole run (variable frame rate), so the\n"
    "video keeps the original timing.\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT.mkv   the video file (written under a temporary name, renamed when done)\n"
    "      --fps N            frames per second: 25 (default), 29.97 or 30000/1001\n"
    "      --select GLOB      only these files; a GLOB with '/' matches the whole path, else\n"
    "                         the file name ('*.jpg', 'cam1/*')\n"
    "      --order KEY        name (default: natural order, frame2 before frame10), mtime, or\n"
    "                         exif (DateTimeOriginal; files without it last, by name)\n"
    "      --codec C          copy: the JPEG files' bytes as MJPEG packets (default when every\n"
    "                         frame is a JPEG of one size and sampling; `ffmpeg -i OUT.mkv -c copy\n"
    "                         -f image2 %05d.jpg` gives the files back byte for byte)\n"
    "                         ffv1: lossless (the default otherwise)\n"
    "                         x264, x265: lossless, or lossy with --crf\n"
    "      --crf N            x264/x265 quality 0..51 for a small viewing copy (23: a good start)\n"
    "      --scale WxH        fit frames of any size into WxH, aspect kept, padded with black\n"
    "      --keep-repeats     one frame per image, repeats included\n"
    "  -q, --quiet            errors only\n"
    "  -v, --verbose          also FFmpeg's own warnings\n"
    "  -h, --help             this help\n"
    "\n"
    "Entries that are not JPEG or PNG images are skipped with a note. Lossless is claimed only\n"
    "when every pixel is kept: a pixel format the codec cannot hold exactly is refused.\n";

enum { OPT_FPS = 256, OPT_SELECT, OPT_ORDER, OPT_CODEC, OPT_CRF, OPT_SCALE, OPT_KEEP };

/* Sorted by name. */
static const struct option video_opts[] = {
    {"codec", required_argument, NULL, OPT_CODEC},   {"crf", required_argument, NULL, OPT_CRF},
    {"fps", required_argument, NULL, OPT_FPS},       {"help", no_argument, NULL, 'h'},
    {"keep-repeats", no_argument, NULL, OPT_KEEP},   {"order", required_argument, NULL, OPT_ORDER},
    {"output", required_argument, NULL, 'o'},        {"quiet", no_argument, NULL, 'q'},
    {"scale", required_argument, NULL, OPT_SCALE},   {"select", required_argument, NULL, OPT_SELECT},
    {"verbose", no_argument, NULL, 'v'},             {NULL, 0, NULL, 0},
};

typedef struct video_args {
  const char *archive, *out, *select;
  uint32_t fps_num, fps_den;
  int order;  /* exp_order */
  int codec;  /* exp_codec */
  int crf;
  bool keep_repeats;
  uint32_t scale_w, scale_h;
} video_args;

/* "25", "29.97" (up to 3 decimals) or "30000/1001". */
static bool parse_fps(const cli *c, const char *s, uint32_t *num, uint32_t *den) {
  uint64_t n = 0, d = 1;
  const char *slash = strchr(s, '/'), *dot = strchr(s, '.');
  if (slash) {
    char tmp[32];
    size_t k = (size_t)(slash - s);
    if (k == 0 || k >= sizeof tmp) goto bad;
    memcpy(tmp, s, k);
    tmp[k] = '\0';
    if (!cli_parse_uint(c, "--fps", tmp, 1, 1000000, &n) || !cli_parse_uint(c, "--fps", slash + 1, 1, 1000000, &d))
      return false;
  } else if (dot) {
    size_t ip = (size_t)(dot - s), fp = strlen(dot + 1);
    if (ip == 0 || ip > 6 || fp == 0 || fp > 3) goto bad;
    for (const char *p = s; *p; p++) {
      if (p == dot) continue;
      if (*p < '0' || *p > '9') goto bad;
      n = n * 10 + (uint64_t)(*p - '0');
    }
    for (size_t i = 0; i < fp; i++) d *= 10;
    if (n == 0) goto bad;
  } else {
    if (strspn(s, "0123456789") != strlen(s)) goto bad;
    if (!cli_parse_uint(c, "--fps", s, 1, 1000, &n)) return false;
  }
  uint64_t a = n, b = d;
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  n /= a;
  d /= a;
  if (n > 1000000 || d > 1000000 || n > d * 1000) goto bad;
  *num = (uint32_t)n;
  *den = (uint32_t)d;
  return true;
bad:
  cli_error(c, "--fps", "'%s' is not a frame rate (25, 29.97 or 30000/1001, at most 1000)", s);
  return false;
}

static bool parse_scale(const cli *c, const char *s, uint32_t *w, uint32_t *h) {
  const char *x = strchr(s, 'x');
  char tmp[16];
  uint64_t a, b;
  if (!x || x == s || (size_t)(x - s) >= sizeof tmp) {
    cli_error(c, "--scale", "'%s' is not WIDTHxHEIGHT (e.g. 1280x720)", s);
    return false;
  }
  memcpy(tmp, s, (size_t)(x - s));
  tmp[x - s] = '\0';
  if (!cli_parse_uint(c, "--scale", tmp, 2, 16384, &a) || !cli_parse_uint(c, "--scale", x + 1, 2, 16384, &b)) return false;
  *w = (uint32_t)a;
  *h = (uint32_t)b;
  return true;
}

static int pick(const char *s, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(s, names[i])) return (int)i;
  return -1;
}

/* Returns -1 when the arguments are good, else the exit code. */
static int parse_args(cli *c, int argc, char **argv, video_args *a) {
  static const char *const orders[] = {"name", "mtime", "exif"};
  static const char *const codecs[] = {"auto", "copy", "ffv1", "x264", "x265"};
  uint64_t v;
  int ch;
  opterr = 0;
  optind = 1;
  while ((ch = getopt_long(argc, argv, ":o:qvh", video_opts, NULL)) != -1) {
    switch (ch) {
    case 'o': a->out = optarg; break;
    case 'q': c->verbosity = 0; break;
    case 'v': c->verbosity++; break;
    case 'h': fputs(video_help, stdout); return EXIT_OK;
    case OPT_FPS:
      if (!parse_fps(c, optarg, &a->fps_num, &a->fps_den)) return EXIT_USAGE;
      break;
    case OPT_SELECT: a->select = optarg; break;
    case OPT_ORDER:
      a->order = pick(optarg, orders, 3);
      if (a->order < 0) return cli_usage_error(c, "--order: '%s' is not name, mtime or exif", optarg);
      break;
    case OPT_CODEC:
      a->codec = pick(optarg, codecs, 5);
      if (a->codec < 0) return cli_usage_error(c, "--codec: '%s' is not copy, ffv1, x264 or x265", optarg);
      break;
    case OPT_CRF:
      if (!cli_parse_uint(c, "--crf", optarg, 0, 51, &v)) return EXIT_USAGE;
      a->crf = (int)v;
      break;
    case OPT_SCALE:
      if (!parse_scale(c, optarg, &a->scale_w, &a->scale_h)) return EXIT_USAGE;
      break;
    case OPT_KEEP: a->keep_repeats = true; break;
    case ':': return cli_usage_error(c, "'%s' needs a value", argv[optind - 1]);
    default: return cli_usage_error(c, "'%s' is not an option of 'video'", argv[optind - 1]);
    }
  }
  if (optind >= argc) return cli_usage_error(c, "no archive given");
  if (argc - optind > 1) return cli_usage_error(c, "one archive at a time ('%s' is extra)", argv[optind + 1]);
  a->archive = argv[optind];
  if (!a->out) return cli_usage_error(c, "no output file: add -o OUT.mkv");
  if (a->crf >= 0 && a->codec != 3 && a->codec != 4) return cli_usage_error(c, "--crf needs --codec x264 or x265");
  if (a->scale_w && a->codec == 1) return cli_usage_error(c, "--scale needs decoding: not with --codec copy");
  return -1;
}

#ifdef IMS_WITH_FFMPEG
static void on_note(void *opaque, const char *subject, const char *msg) {
  const cli *c = opaque;
  cli_warn(c, subject, "%s", msg);
}

static int run(cli *c, const video_args *a) {
  av_log_set_level(c->verbosity >= 2 ? AV_LOG_WARNING : AV_LOG_QUIET);
  int rc = EXIT_DATA;
  ims_reader *r = cli_open_archive(c, a->archive, &rc);
  if (!r) return rc;
  exp_options o;
  exp_options_init(&o);
  o.out_path = a->out;
  o.fps_num = a->fps_num;
  o.fps_den = a->fps_den;
  o.select = a->select;
  o.order = (exp_order)a->order;
  o.codec = (exp_codec)a->codec;
  o.crf = a->crf;
  o.keep_repeats = a->keep_repeats;
  o.scale_w = a->scale_w;
  o.scale_h = a->scale_h;
  cli_progress p;
  cli_progress_init(&p, c, "video");
  o.progress = cli_progress_cb;
  o.progress_opaque = &p;
  o.note = on_note;
  o.note_opaque = c;
  exp_result res;
  ims_err err;
  ims_err_clear(&err);
  ims_status st = exp_video(r, &o, &res, &err);
  cli_progress_end(&p);
  ims_reader_close(r);
  if (st == IMS_E_NOTFOUND) {
    if (a->select)
      cli_error(c, a->archive, "no images in %s match --select '%s'", a->archive, a->select);
    else
      cli_error(c, a->archive, "no images in %s", a->archive);
    return EXIT_DATA;
  }
  if (st == IMS_E_ARG) return cli_usage_error(c, "%s", err.msg);
  if (st) {
    cli_error(c, NULL, "%s", err.msg);
    if (st == IMS_E_UNSUPPORTED && (strstr(err.msg, "differ in size") || strstr(err.msg, "one size")))
      cli_hint(c, "--scale WxH fits every frame into one size (re-encoded: --codec ffv1, x264 or x265)");
    return EXIT_DATA;
  }
  if (c->verbosity >= 1) {
    char size[32];
    printf("%s: %llu frames written", a->out, (unsigned long long)res.frames_written);
    if (res.repeats_folded)
      printf(" (%llu repeat%s folded)", (unsigned long long)res.repeats_folded, res.repeats_folded == 1 ? "" : "s");
    printf(", %.3f s at %g fps, %s %ux%u %s, %s%s\n", res.duration_s, (double)a->fps_num / a->fps_den,
           exp_codec_name(res.codec), res.width, res.height, res.pix_fmt, cli_human_bytes(res.out_bytes, size, sizeof size),
           res.lossless ? (res.codec == EXP_CODEC_COPY ? ", original JPEG bytes" : ", lossless") : "");
    if (res.skipped)
      printf("%s: %llu entr%s skipped (not images)\n", a->out, (unsigned long long)res.skipped,
             res.skipped == 1 ? "y" : "ies");
  }
  return EXIT_OK;
}
#endif

int cmd_video(cli *c, int argc, char **argv) {
  video_args a = {.fps_num = 25, .fps_den = 1, .crf = -1};
  int rc = parse_args(c, argc, argv, &a);
  if (rc >= 0) return rc;
#ifdef IMS_WITH_FFMPEG
  return run(c, &a);
#else
  cli_error(c, NULL, "video: built without FFmpeg (IMS_WITH_FFMPEG=OFF): video export is not available");
  return EXIT_DATA;
#endif
}
