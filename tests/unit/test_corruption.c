/* Corruption sweep over a small archive (ISSUE 2 §5, §6), through the public reader API:
 * - every single-bit flip at every byte: the reader never crashes (ASan), an entry that
 *   reads back OK has exactly its original bytes, and the entries that fail are exactly the
 *   ones the flipped byte belongs to: a data block's header or payload -> the entries of that
 *   content (it and its duplicates) and no other; manifest, index or footer -> none (the
 *   index or the manifest stands in; for index and footer the reader reports damage); the
 *   file header -> the archive is refused, except the minor version, which is ignored;
 * - the same for payload flips with the block checksum recomputed (so that the codec and the
 *   content hash, not the block checksum, must catch them);
 * - truncation at every 7th byte: entries whose blocks all lie before the cut are restored
 *   (recovery scan driven by the manifest at the start; a zero-byte file needs no block),
 *   every other file entry is named, and a cut before the end of the manifest leaves
 *   nothing to recover. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/format.h"
#include "check.h"
#include "common/hash.h"
#include "common/mem.h"
#include "imgstash.h"

/* ---------------------------------------------------------------- the test set */

typedef struct src_file {
  const char *name;
  size_t len;
  int kind; /* 0 random, 1 compressible text, 2 copy of the file before */
  uint8_t *data;
} src_file;

static src_file files[] = {
    {"empty", 0, 0, NULL},      {"one", 1, 0, NULL},        {"small", 37, 0, NULL},
    {"random", 1500, 0, NULL},  {"random copy", 1500, 2, NULL}, {"text", 6000, 1, NULL},
    {"text copy", 6000, 2, NULL}, {"rnd2", 700, 0, NULL},    {"sub/deep", 300, 0, NULL},
    {"sub/text2", 3000, 1, NULL},
};
#define N_FILES (sizeof files / sizeof files[0])

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint8_t next_byte(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint8_t)(rng >> 24);
}

static void make_files(void) {
  static const char words[] = "the archive keeps every byte of every similar image ";
  for (size_t i = 0; i < N_FILES; i++) {
    src_file *f = &files[i];
    f->data = malloc(f->len ? f->len : 1);
    REQUIRE(f->data);
    for (size_t k = 0; k < f->len; k++) {
      if (f->kind == 0) f->data[k] = next_byte();
      if (f->kind == 1) f->data[k] = (uint8_t)words[(k * 7 + k / 50) % (sizeof words - 1)];
    }
    if (f->kind == 2) memcpy(f->data, files[i - 1].data, f->len);
  }
}

static void write_file(const char *path, const uint8_t *d, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, d + done, n - done);
    REQUIRE(w > 0);
    done += (size_t)w;
  }
  REQUIRE(close(fd) == 0);
}

static uint8_t *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  struct stat sb;
  REQUIRE(fstat(fd, &sb) == 0);
  uint8_t *p = malloc((size_t)sb.st_size + 1);
  REQUIRE(p);
  size_t got = 0;
  while (got < (size_t)sb.st_size) {
    ssize_t r = read(fd, p + got, (size_t)sb.st_size - got);
    REQUIRE(r > 0);
    got += (size_t)r;
  }
  close(fd);
  *len = got;
  return p;
}

/* ---------------------------------------------------------------- what the archive holds */

#define MAX_ENTRIES 32
#define MAX_BLOCKS 64

typedef struct ent {
  char path[128];
  int type;
  uint32_t content;     /* ARC_NO_CONTENT for folders and links */
  const src_file *src;  /* files only */
  char link[64];
} ent;

typedef struct blk {
  uint8_t type;
  uint32_t content;
  uint64_t off, end; /* header start, payload end */
} blk;

static ent ents[MAX_ENTRIES];
static size_t n_ents;
static blk blks[MAX_BLOCKS];
static size_t n_blks;
static uint64_t footer_off;

static const src_file *src_by_path(const char *p) {
  for (size_t i = 0; i < N_FILES; i++) {
    char want[128];
    snprintf(want, sizeof want, "c/%s", files[i].name);
    if (!strcmp(want, p)) return &files[i];
  }
  return NULL;
}

/* Walks the blocks of an intact archive (FORMAT.md §3) and lists the entries. */
static void learn(const char *path, const uint8_t *a, size_t len) {
  uint64_t off = ARC_HEADER_LEN;
  footer_off = len - ARC_FOOTER_LEN;
  while (off < footer_off) {
    arc_block_header h;
    REQUIRE(footer_off - off >= ARC_BLOCK_HEADER_LEN && arc_block_header_decode(a + off, &h));
    REQUIRE(n_blks < MAX_BLOCKS);
    blk *b = &blks[n_blks++];
    b->type = h.type;
    b->content = h.type == ARC_BLOCK_DATA ? h.content : ARC_NO_CONTENT;
    b->off = off;
    b->end = off + ARC_BLOCK_HEADER_LEN + h.payload_len;
    REQUIRE(b->end <= footer_off);
    off = b->end;
  }
  REQUIRE(n_blks >= 3 && blks[0].type == ARC_BLOCK_MANIFEST && blks[n_blks - 1].type == ARC_BLOCK_INDEX);

  ims_reader *r;
  REQUIRE(ims_reader_open(path, NULL, &r) == IMS_OK);
  CHECK(!ims_reader_damaged(r));
  n_ents = (size_t)ims_reader_count(r);
  REQUIRE(n_ents <= MAX_ENTRIES);
  for (size_t i = 0; i < n_ents; i++) {
    ims_entry e;
    REQUIRE(ims_reader_entry(r, i, &e) == IMS_OK);
    snprintf(ents[i].path, sizeof ents[i].path, "%s", e.path);
    ents[i].type = e.type;
    ents[i].content = e.type == IMS_ENTRY_FILE ? e.content : ARC_NO_CONTENT;
    ents[i].src = e.type == IMS_ENTRY_FILE ? src_by_path(e.path) : NULL;
    if (e.type == IMS_ENTRY_FILE) REQUIRE(ents[i].src != NULL);
    if (e.type == IMS_ENTRY_SYMLINK) snprintf(ents[i].link, sizeof ents[i].link, "%s", e.link_target);
  }
  ims_reader_close(r);
}

/* ---------------------------------------------------------------- one damaged archive */

typedef struct mem_sink {
  uint8_t buf[8192];
  size_t len;
  int overflow;
} mem_sink;

static int sink_write(void *opaque, const void *data, size_t len) {
  mem_sink *s = opaque;
  if (len > sizeof s->buf - s->len) {
    s->overflow = 1;
    return 1;
  }
  memcpy(s->buf + s->len, data, len);
  s->len += len;
  return 0;
}

typedef struct outcome {
  int loaded;        /* ims_reader_load succeeded */
  int damaged;       /* ... in recovery mode */
  uint64_t count;    /* entries listed */
  uint8_t failed[MAX_ENTRIES];
  int wrong_bytes;   /* entries read back OK with bytes that differ from the original */
  int disagree;      /* extract and verify_entry disagree */
} outcome;

static outcome try_archive(const char *path) {
  outcome o;
  memset(&o, 0, sizeof o);
  ims_options opt;
  REQUIRE(ims_options_init(&opt, IMS_VERSION_NUMBER) == IMS_OK);
  opt.threads = 1;
  ims_reader *r;
  REQUIRE(ims_reader_new(&opt, &r) == IMS_OK);
  if (ims_reader_load(r, path) != IMS_OK) {
    CHECK(ims_reader_errmsg(r)[0] != '\0');
    ims_reader_close(r);
    return o;
  }
  o.loaded = 1;
  o.damaged = ims_reader_damaged(r);
  o.count = ims_reader_count(r);
  for (uint64_t i = 0; i < o.count && i < MAX_ENTRIES; i++) {
    ims_entry e;
    if (ims_reader_entry(r, i, &e) != IMS_OK) {
      o.failed[i] = 1;
      continue;
    }
    mem_sink s;
    s.len = 0;
    s.overflow = 0;
    ims_status st = ims_reader_extract(r, i, sink_write, &s);
    ims_status vst = ims_reader_verify_entry(r, i);
    if ((st == IMS_OK) != (vst == IMS_OK)) o.disagree++;
    if (st != IMS_OK) {
      o.failed[i] = 1;
      if (ims_reader_errmsg(r)[0] == '\0') o.wrong_bytes++; /* a failure must say why */
      continue;
    }
    /* Reported OK: it must be exactly what was packed. */
    const ent *x = i < n_ents ? &ents[i] : NULL;
    if (!x || strcmp(e.path, x->path) != 0 || (int)e.type != x->type) {
      o.wrong_bytes++;
    } else if (x->type == IMS_ENTRY_FILE) {
      if (s.len != x->src->len || (s.len && memcmp(s.buf, x->src->data, s.len) != 0)) o.wrong_bytes++;
    } else if (x->type == IMS_ENTRY_SYMLINK) {
      if (s.len != strlen(x->link) || memcmp(s.buf, x->link, s.len) != 0) o.wrong_bytes++;
    }
  }
  ims_reader_close(r);
  return o;
}

/* The entries whose content is c. */
static int entry_has_content(size_t i, uint32_t c) { return ents[i].type == IMS_ENTRY_FILE && ents[i].content == c; }

static const blk *block_at(uint64_t pos) {
  for (size_t b = 0; b < n_blks; b++)
    if (pos >= blks[b].off && pos < blks[b].end) return &blks[b];
  return NULL;
}

static int sweep_failures;
static void sweep_fail(const char *what, uint64_t pos, const char *why) {
  if (sweep_failures++ < 20) fprintf(stderr, "%s at byte %llu: %s\n", what, (unsigned long long)pos, why);
}

/* Checks the outcome of a change at pos (not a truncation) against the block layout. */
static void judge_flip(const char *what, uint64_t pos, const outcome *o) {
  if (o->wrong_bytes) sweep_fail(what, pos, "an entry read back OK with wrong bytes");
  if (o->disagree) sweep_fail(what, pos, "extract and verify_entry disagree");
  if (pos < ARC_HEADER_LEN) {
    bool minor = pos == 10 || pos == 11;
    if (minor && (!o->loaded || o->damaged)) sweep_fail(what, pos, "a newer minor version must be read as is");
    if (!minor && o->loaded) sweep_fail(what, pos, "a damaged file header must be refused");
    if (minor)
      for (size_t i = 0; i < n_ents; i++)
        if (o->failed[i]) sweep_fail(what, pos, "minor version change broke an entry");
    return;
  }
  if (!o->loaded) {
    sweep_fail(what, pos, "the archive could not be opened at all");
    return;
  }
  if (o->count != n_ents) sweep_fail(what, pos, "wrong number of entries");
  const blk *b = block_at(pos);
  if (pos >= footer_off || (b && b->type == ARC_BLOCK_INDEX)) {
    if (!o->damaged) sweep_fail(what, pos, "damage in the index or footer not reported");
  } else if (o->damaged) {
    sweep_fail(what, pos, "damage reported where the index and footer are intact");
  }
  for (size_t i = 0; i < n_ents && i < MAX_ENTRIES; i++) {
    bool want_fail = b && b->type == ARC_BLOCK_DATA && entry_has_content(i, b->content);
    if (o->failed[i] && !want_fail) {
      char m[200];
      snprintf(m, sizeof m, "entry '%.64s' failed but the change is not in its data", ents[i].path);
      sweep_fail(what, pos, m);
    }
    if (!o->failed[i] && want_fail) {
      char m[200];
      snprintf(m, sizeof m, "entry '%.64s' was not named although its data changed", ents[i].path);
      sweep_fail(what, pos, m);
    }
  }
}

/* ---------------------------------------------------------------- main */

int main(void) {
  const char *tmp = getenv("IMS_TMP");
  char dir[512], path[600], fpath[700], bad[600];
  if (!tmp || !*tmp) tmp = "/tmp";
  (void)mkdir(tmp, 0755);
  snprintf(dir, sizeof dir, "%s/test_corruption.%ld", tmp, (long)getpid());
  REQUIRE(mkdir(dir, 0755) == 0);
  make_files();

  /* Pack c/ (files, a folder, a symlink) with the public writer. */
  snprintf(path, sizeof path, "%s/c", dir);
  REQUIRE(mkdir(path, 0755) == 0);
  snprintf(path, sizeof path, "%s/c/sub", dir);
  REQUIRE(mkdir(path, 0755) == 0);
  for (size_t i = 0; i < N_FILES; i++) {
    snprintf(fpath, sizeof fpath, "%s/c/%s", dir, files[i].name);
    write_file(fpath, files[i].data, files[i].len);
  }
  snprintf(fpath, sizeof fpath, "%s/c/link", dir);
  REQUIRE(symlink("sub/deep", fpath) == 0);
  snprintf(path, sizeof path, "%s/good.ims", dir);
  ims_options opt;
  REQUIRE(ims_options_init(&opt, IMS_VERSION_NUMBER) == IMS_OK);
  opt.threads = 1;
  opt.zstd_level = 3;
  ims_writer *w;
  REQUIRE(ims_writer_open(path, &opt, &w) == IMS_OK);
  const char *arc_paths[] = {"c", "c/sub", "c/link"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(fpath, sizeof fpath, "%s/%s", dir, arc_paths[i]);
    REQUIRE(ims_writer_add_path(w, arc_paths[i], fpath) == IMS_OK);
  }
  for (size_t i = 0; i < N_FILES; i++) {
    char ap[128];
    snprintf(ap, sizeof ap, "c/%s", files[i].name);
    snprintf(fpath, sizeof fpath, "%s/%s", dir, ap);
    REQUIRE(ims_writer_add_path(w, ap, fpath) == IMS_OK);
  }
  REQUIRE(ims_writer_finish(w) == IMS_OK);
  ims_writer_close(w);

  size_t len;
  uint8_t *good = read_file(path, &len);
  learn(path, good, len);
  printf("archive: %zu bytes, %zu blocks, %zu entries\n", len, n_blks, n_ents);
  CHECK(n_ents == N_FILES + 3);
  /* The set must exercise both stored codecs and duplicates, or the sweep proves less. */
  {
    outcome o = try_archive(path);
    CHECK(o.loaded && !o.damaged && o.wrong_bytes == 0);
    for (size_t i = 0; i < n_ents; i++) CHECK(!o.failed[i]);
    ims_reader *r;
    ims_stats st;
    REQUIRE(ims_reader_open(path, NULL, &r) == IMS_OK);
    REQUIRE(ims_reader_stats(r, &st) == IMS_OK);
    CHECK(st.contents < st.files); /* duplicates */
    int raw = 0, zstd = 0;
    for (int k = 0; k < IMS_MAX_CODECS; k++) {
      if (st.codecs[k].name && !strcmp(st.codecs[k].name, "raw")) raw = 1;
      if (st.codecs[k].name && !strcmp(st.codecs[k].name, "zstd")) zstd = 1;
    }
    CHECK(raw && zstd);
    ims_reader_close(r);
  }

  snprintf(bad, sizeof bad, "%s/bad.ims", dir);
  uint8_t *copy = malloc(len);
  REQUIRE(copy);

  /* 1. every byte, one bit each (the bit moves along so that every bit position is hit) */
  int before = sweep_failures;
  for (size_t pos = 0; pos < len; pos++) {
    memcpy(copy, good, len);
    copy[pos] ^= (uint8_t)(1u << (pos % 8));
    write_file(bad, copy, len);
    outcome o = try_archive(bad);
    judge_flip("bit flip", pos, &o);
  }
  printf("bit flips: %zu positions, %d problems\n", len, sweep_failures - before);
  CHECK(sweep_failures == before);

  /* 2. payload bytes of data blocks with the block checksum recomputed: the codec or the
   *    content hash must catch it */
  before = sweep_failures;
  size_t n_sealed = 0;
  for (size_t b = 0; b < n_blks; b++) {
    if (blks[b].type != ARC_BLOCK_DATA) continue;
    uint64_t p0 = blks[b].off + ARC_BLOCK_HEADER_LEN;
    for (uint64_t pos = p0; pos < blks[b].end; pos++) {
      memcpy(copy, good, len);
      copy[pos] ^= 0x5a;
      uint8_t *h = copy + blks[b].off;
      put_u64le(h + 32, ims_hash64(copy + p0, (size_t)(blks[b].end - p0)));
      put_u32le(h + 40, (uint32_t)ims_hash64(h, 40));
      write_file(bad, copy, len);
      outcome o = try_archive(bad);
      judge_flip("sealed payload change", pos, &o);
      n_sealed++;
    }
  }
  printf("sealed payload changes: %zu positions, %d problems\n", n_sealed, sweep_failures - before);
  CHECK(n_sealed > 1000);
  CHECK(sweep_failures == before);

  /* 3. truncation at every 7th byte */
  before = sweep_failures;
  uint64_t manifest_end = blks[0].end;
  size_t n_cuts = 0;
  for (size_t cut = 0; cut < len; cut += 7) {
    write_file(bad, good, cut);
    outcome o = try_archive(bad);
    n_cuts++;
    if (o.wrong_bytes) sweep_fail("truncation", cut, "an entry read back OK with wrong bytes");
    if (o.disagree) sweep_fail("truncation", cut, "extract and verify_entry disagree");
    if (cut < manifest_end) {
      if (o.loaded) sweep_fail("truncation", cut, "opened although the manifest is cut");
      continue;
    }
    if (!o.loaded) {
      sweep_fail("truncation", cut, "nothing recovered although the manifest is whole");
      continue;
    }
    if (!o.damaged) sweep_fail("truncation", cut, "truncation not reported as damage");
    if (o.count != n_ents) sweep_fail("truncation", cut, "wrong number of entries");
    for (size_t i = 0; i < n_ents; i++) {
      /* A zero-byte file needs no block: the manifest (size 0, hash) is all of it. */
      bool complete = true;
      if (ents[i].type == IMS_ENTRY_FILE && ents[i].src->len > 0)
        for (size_t b = 0; b < n_blks; b++)
          if (blks[b].type == ARC_BLOCK_DATA && blks[b].content == ents[i].content && blks[b].end > cut)
            complete = false;
      if (complete && o.failed[i]) {
        char m[200];
        snprintf(m, sizeof m, "'%.64s' lies before the cut but was not restored", ents[i].path);
        sweep_fail("truncation", cut, m);
      }
      if (!complete && !o.failed[i]) {
        char m[200];
        snprintf(m, sizeof m, "'%.64s' is cut but was not named", ents[i].path);
        sweep_fail("truncation", cut, m);
      }
    }
  }
  printf("truncations: %zu cuts, %d problems\n", n_cuts, sweep_failures - before);
  CHECK(sweep_failures == before);

  free(copy);
  free(good);
  for (size_t i = 0; i < N_FILES; i++) free(files[i].data);
  if (!check_failures) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  }
  return check_done("test_corruption");
}
