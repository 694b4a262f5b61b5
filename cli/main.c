/* imgstash: the command line. Dispatches to cmd_*.c; the only place that exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage_text[] =
    "Usage: imgstash COMMAND [OPTIONS] ARGS...\n"
    "\n"
    "Pack a large set of similar images into one archive far smaller than the originals,\n"
    "give any single file back fast, and prove that nothing was lost.\n"
    "\n"
    "Commands:\n"
    "  pack -o ARCHIVE [-m exact] [-j N] [-q|-v] INPUT...\n"
    "                         archive files and folders (folders are recursed; paths are\n"
    "                         kept as given, like tar)\n"
    "  unpack ARCHIVE [-C DIR] restore every entry under DIR (default .)\n"
    "  list ARCHIVE [-l] [--json]\n"
    "                         one line per entry: path and size (-l: stored bytes, codec,\n"
    "                         reference)\n"
    "  cat ARCHIVE PATH       write one entry's bytes to standard output\n"
    "  verify ARCHIVE [DIR]   decode everything and check every checksum and content hash;\n"
    "                         with DIR, also compare each entry with DIR/PATH\n"
    "  stats ARCHIVE [--json] counts and bytes per codec, dedup savings, fallbacks, ratio\n"
    "  video ARCHIVE -o OUT.mkv [--fps N] ...\n"
    "                         export the images as a playable video\n"
    "\n"
    "Options for every command:\n"
    "  -h, --help             help for the command ('imgstash pack --help')\n"
    "  -q, --quiet            no progress and no warnings; errors only\n"
    "  -v, --verbose          more detail\n"
    "  -V, --version          print the version\n"
    "\n"
    "Exit status: 0 when everything was done, 1 when some data could not be read, stored,\n"
    "restored or verified (each problem is named on standard error as\n"
    "'imgstash: PATH: problem'), 2 for a usage error.\n"
    "\n"
    "Modes (-m): exact (default) gives every file back byte for byte: identical files are\n"
    "stored once, JPEGs are re-coded losslessly, everything else is compressed with zstd.\n"
    "Every content is decoded back and compared before the archive is written.\n";

typedef struct command {
  const char *name;
  int (*fn)(cli *c, int argc, char **argv);
} command;

static const command commands[] = {
    {"cat", cmd_cat},     {"list", cmd_list},     {"ls", cmd_list},       {"pack", cmd_pack},
    {"stats", cmd_stats}, {"unpack", cmd_unpack}, {"verify", cmd_verify}, {"video", cmd_video},
};

int main(int argc, char **argv) {
  cli c = {.verbosity = 1, .stderr_tty = isatty(STDERR_FILENO) == 1, .command = NULL};
  if (ims_version() != IMS_VERSION_NUMBER) {
    cli_error(&c, NULL, "library version %u does not match the program's %u", ims_version(), IMS_VERSION_NUMBER);
    return EXIT_DATA;
  }
  if (argc < 2) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  const char *name = argv[1];
  if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
    fputs(usage_text, stdout);
    return EXIT_OK;
  }
  if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
    printf("imgstash %s\n", IMS_CLI_VERSION);
    return EXIT_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (!strcmp(name, commands[i].name)) {
      c.command = commands[i].name;
      int rc = commands[i].fn(&c, argc - 1, argv + 1);
      if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(&c, "stdout", "write error");
        rc = EXIT_DATA;
      }
      exit(rc);
    }
  }
  return cli_usage_error(&c, "'%s' is not a command", name);
}
