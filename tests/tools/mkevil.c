/* mkevil: writes an archive whose entries are exactly as given, paths NOT normalised, so
 * that tests can feed hostile archives to unpack ('../x', '/abs', 'a/b' below a symlink 'a'
 * stored earlier, repeated paths). Uses the container directly (arc_out_* + arc_index_*),
 * the way lib/pack/writer.c does: header, manifest, data blocks (stored raw), index, footer.
 *
 * Usage: mkevil ARCHIVE SPEC...
 *   f:PATH:CONTENT   a file (mode 0644) holding CONTENT
 *   d:PATH           a folder (mode 0755)
 *   l:PATH:TARGET    a symlink
 * PATH may contain any byte but NUL and ':'. Exit 0, or 1 with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/arcfile.h"
#include "common/hash.h"

static int die(const char *what, const char *msg) {
  fprintf(stderr, "mkevil: %s: %s\n", what, msg);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mkevil ARCHIVE f:PATH:CONTENT | d:PATH | l:PATH:TARGET ...\n");
    return 2;
  }
  arc_index ix;
  arc_index_init(&ix);
  int n = argc - 2;
  char **data = calloc((size_t)n, sizeof *data); /* per spec: file content, else NULL */
  uint32_t *content_of = calloc((size_t)n, sizeof *content_of);
  if (!data || !content_of) return die("mkevil", "out of memory");
  for (int i = 0; i < n; i++) {
    char *spec = argv[i + 2];
    if (strlen(spec) < 3 || spec[1] != ':') return die(spec, "bad spec");
    char kind = spec[0], *path = spec + 2, *rest = strchr(path, ':');
    if (rest) *rest++ = '\0';
    arc_entry e = {.mode = 0644, .mtime_sec = 1600000000, .content = ARC_NO_CONTENT, .path = path};
    if (kind == 'f') {
      if (!rest) return die(spec, "a file needs :CONTENT");
      arc_content ct;
      memset(&ct, 0, sizeof ct);
      ims_h128 h = ims_hash128(rest, strlen(rest));
      memcpy(ct.hash, h.b, 16);
      ct.size = strlen(rest);
      ct.codec = 0; /* raw */
      ct.ref = ARC_NO_REF;
      if (arc_index_add_content(&ix, &ct, &content_of[i]) != IMS_OK) return die(spec, "cannot add content");
      data[i] = rest;
      e.type = IMS_ENTRY_FILE;
      e.content = content_of[i];
    } else if (kind == 'd') {
      e.type = IMS_ENTRY_DIR;
      e.mode = 0755;
    } else if (kind == 'l') {
      if (!rest || !*rest) return die(spec, "a symlink needs :TARGET");
      e.type = IMS_ENTRY_SYMLINK;
      e.mode = 0777;
      e.link = rest;
    } else {
      return die(spec, "kind must be f, d or l");
    }
    if (arc_index_add_entry(&ix, &e) != IMS_OK) return die(spec, "cannot add entry");
  }

  ims_err err;
  ims_err_clear(&err);
  arc_out *o;
  if (arc_out_open(argv[1], &o, &err) != IMS_OK) return die(argv[1], err.msg);
  uint64_t seg = arc_out_pos(o);
  ims_status st = arc_out_meta(o, ARC_BLOCK_MANIFEST, &ix, NULL, &err);
  for (int i = 0; !st && i < n; i++) {
    if (!data[i]) continue;
    size_t len = strlen(data[i]);
    arc_block_header h = {.type = ARC_BLOCK_DATA, .codec = 0, .content = content_of[i], .chunk = 0,
                          .payload_len = len, .raw_len = len};
    arc_blockref ref;
    st = arc_out_block(o, &h, (const uint8_t *)data[i], &ref, &err);
    if (!st && arc_index_add_block(&ix, content_of[i], &ref) != IMS_OK) st = IMS_E_INTERNAL;
  }
  arc_blockref iref;
  if (!st) st = arc_out_meta(o, ARC_BLOCK_INDEX, &ix, &iref, &err);
  if (!st) st = arc_out_commit(o, &iref, seg, &err);
  arc_out_close(o);
  arc_index_free(&ix);
  free(data);
  free(content_of);
  if (st) return die(argv[1], err.msg[0] ? err.msg : ims_strerror(st));
  return 0;
}
