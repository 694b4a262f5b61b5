/* Fuzz target: a whole archive file. The input is written to a memory file, opened with
 * ims_reader_* (tight limits), and every entry is listed, looked up by path, verified and
 * extracted into memory; stats are read. Must never crash, leak or hang, whatever the
 * bytes (STYLE.md §2.7, §2.8).
 *
 * Most mutations only break a checksum. So that the fuzzer also reaches what lies behind
 * the checksums (block fields, codec payloads, the recovery scan), an input that starts
 * like an archive is run a second time with every block and footer checksum recomputed. */
#define _GNU_SOURCE /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/mem.h"
#include "imgstash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct sink {
  uint64_t total, sum;
} sink;

/* Reads every output byte (so sanitizers see uninitialised or out-of-bounds data) and
 * stops an entry after 64 MiB. */
static int sink_write(void *opaque, const void *data, size_t len) {
  sink *s = opaque;
  const uint8_t *p = data;
  for (size_t i = 0; i < len; i++) s->sum = s->sum * 31 + p[i];
  s->total += len;
  return s->total > ((uint64_t)64 << 20);
}

static int input_fd(void) {
  static int fd = -1; /* one memory file per process, rewritten for every input */
  if (fd < 0) fd = memfd_create("fuzz_archive", MFD_CLOEXEC);
  if (fd < 0) {
    char tmpl[] = "/tmp/fuzz_archive.XXXXXX";
    fd = mkstemp(tmpl);
    if (fd >= 0) unlink(tmpl);
  }
  return fd;
}

/* Recomputes the payload and header checksums of every block found (scanning for the block
 * magic), and the footer's checksum when the footer magic is in place. */
static void reseal(uint8_t *d, size_t size) {
  size_t off = 16;
  while (size >= 48 && off <= size - 48) {
    if (memcmp(d + off, "IMBK", 4) != 0) {
      off++;
      continue;
    }
    uint64_t plen = get_u64le(d + off + 16);
    if (plen <= size - off - 48) {
      put_u64le(d + off + 32, ims_hash64(d + off + 48, (size_t)plen));
      put_u32le(d + off + 40, (uint32_t)ims_hash64(d + off, 40));
      off += 48 + (size_t)plen;
    } else {
      put_u32le(d + off + 40, (uint32_t)ims_hash64(d + off, 40));
      off += 4;
    }
  }
  if (size >= 16 + 64 && memcmp(d + size - 8, "IMSFOOT\x1a", 8) == 0)
    put_u64le(d + size - 16, ims_hash64(d + size - 64, 48));
}

static void run_one(const uint8_t *data, size_t size) {
  int fd = input_fd();
  if (fd < 0 || ftruncate(fd, 0) != 0) abort();
  size_t done = 0;
  while (done < size) {
    ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
    if (n <= 0) abort();
    done += (size_t)n;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

  ims_options o;
  if (ims_options_init(&o, IMS_VERSION_NUMBER) != IMS_OK) abort();
  o.threads = 1;
  o.max_index_bytes = 1 << 20;
  o.max_member_bytes = 1 << 20;
  o.max_pixels = 1 << 20;
  o.max_scans = 16;
  ims_reader *r = NULL;
  if (ims_reader_new(&o, &r) != IMS_OK) abort();
  if (ims_reader_load(r, path) == IMS_OK) {
    (void)ims_reader_damaged(r);
    ims_stats st;
    if (ims_reader_stats(r, &st) == IMS_OK && st.entries != ims_reader_count(r)) abort();
    uint64_t n = ims_reader_count(r);
    for (uint64_t i = 0; i < n && i < 4096; i++) {
      ims_entry e;
      if (ims_reader_entry(r, i, &e) != IMS_OK) abort(); /* every listed entry must be readable */
      if (!e.path || !e.path[0] || !e.codec) abort();
      if (e.type == IMS_ENTRY_SYMLINK && !e.link_target) abort();
      uint64_t found = 0;
      if (ims_reader_find(r, e.path, &found) == IMS_OK && found >= ims_reader_count(r)) abort();
      sink s = {0, 0};
      ims_status est = ims_reader_extract(r, i, sink_write, &s);
      /* A content that passed its hash check has exactly its recorded size. */
      if (est == IMS_OK && e.type == IMS_ENTRY_FILE && s.total != e.size) abort();
      /* Decoding is deterministic: what extracted cleanly verifies cleanly. */
      ims_status vst = ims_reader_verify_entry(r, i);
      if (est == IMS_OK && vst != IMS_OK) abort();
      if (ims_reader_errmsg(r) == NULL) abort();
    }
  }
  if (ims_reader_errmsg(r) == NULL) abort();
  ims_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run_one(data, size);
  if (size >= 16 && memcmp(data, "\x89IMS", 4) == 0) {
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    reseal(copy, size);
    if (memcmp(copy, data, size) != 0) run_one(copy, size);
    free(copy);
  }
  return 0;
}
