#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "arcfile.h"
#include "common/hash.h"
#include "common/mem.h"

static ims_status pread_all(int fd, void *dst, size_t len, uint64_t off, ims_err *err) {
  uint8_t *p = dst;
  while (len > 0) {
    ssize_t n = pread(fd, p, len > (1u << 30) ? (1u << 30) : len, (off_t)off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ims_fail(err, IMS_E_IO, "read failed at offset %llu: %s", (unsigned long long)off, strerror(errno));
    }
    if (n == 0) return ims_fail(err, IMS_E_CORRUPT, "unexpected end of file at offset %llu", (unsigned long long)off);
    p += n;
    len -= (size_t)n;
    off += (uint64_t)n;
  }
  return IMS_OK;
}

/* Reads a block's header at off and its payload, checks both. */
static ims_status read_block_at(const arc_in *in, uint64_t off, uint64_t limit, arc_block_header *h, buf *payload,
                                ims_err *err) {
  uint8_t hdr[ARC_BLOCK_HEADER_LEN];
  uint64_t end;
  if (off > limit || limit - off < ARC_BLOCK_HEADER_LEN)
    return ims_fail(err, IMS_E_CORRUPT, "block at offset %#llx lies outside the archive", (unsigned long long)off);
  ims_status st = pread_all(in->fd, hdr, sizeof hdr, off, err);
  if (st) return st;
  if (!arc_block_header_decode(hdr, h))
    return ims_fail(err, IMS_E_CORRUPT, "block at offset %#llx: bad block header", (unsigned long long)off);
  if (!ims_add_u64(off + ARC_BLOCK_HEADER_LEN, h->payload_len, &end) || end > limit)
    return ims_fail(err, IMS_E_CORRUPT, "block at offset %#llx: runs past the end of the archive",
                    (unsigned long long)off);
  if (h->payload_len > SIZE_MAX) return ims_fail(err, IMS_E_LIMIT, "block too large");
  payload->len = 0;
  /* At least one byte, so that an empty payload reaches a codec as a valid pointer, not NULL. */
  if ((st = buf_reserve(payload, h->payload_len ? (size_t)h->payload_len : 1)) != IMS_OK)
    return ims_fail(err, st, "block at offset %#llx: payload of %llu bytes: %s", (unsigned long long)off,
                    (unsigned long long)h->payload_len, ims_strerror(st));
  if ((st = pread_all(in->fd, payload->p, (size_t)h->payload_len, off + ARC_BLOCK_HEADER_LEN, err)) != IMS_OK)
    return st;
  payload->len = (size_t)h->payload_len;
  if (ims_hash64(payload->p, payload->len) != h->payload_check)
    return ims_fail(err, IMS_E_CORRUPT, "block at offset %#llx: checksum mismatch", (unsigned long long)off);
  return IMS_OK;
}

/* Reads a manifest or index block at off and parses it into ix. */
static ims_status read_meta(arc_in *in, uint64_t off, uint64_t limit, uint8_t type, arc_index *ix, ims_err *err) {
  arc_block_header h;
  buf payload, raw;
  buf_init(&payload, SIZE_MAX);
  buf_init(&raw, SIZE_MAX);
  ims_status st = read_block_at(in, off, limit, &h, &payload, err);
  if (st) goto done;
  if (h.type != type || h.codec != 1) {
    st = ims_fail(err, IMS_E_CORRUPT, "block at offset %#llx is not the expected %s", (unsigned long long)off,
                  type == ARC_BLOCK_INDEX ? "index" : "manifest");
    goto done;
  }
  if (h.raw_len == 0) { /* an index has a header; and no NULL buffer reaches the parser */
    st = ims_fail(err, IMS_E_CORRUPT, "block at offset %#llx: empty %s", (unsigned long long)off,
                  type == ARC_BLOCK_INDEX ? "index" : "manifest");
    goto done;
  }
  if (h.raw_len > in->max_index_bytes || h.raw_len > SIZE_MAX) {
    st = ims_fail(err, IMS_E_LIMIT, "index of %llu bytes is over the limit of %llu", (unsigned long long)h.raw_len,
                  (unsigned long long)in->max_index_bytes);
    goto done;
  }
  if ((st = buf_reserve(&raw, (size_t)h.raw_len)) != IMS_OK) {
    ims_fail(err, st, "index: %s", ims_strerror(st));
    goto done;
  }
  size_t n = ZSTD_decompress(raw.p, (size_t)h.raw_len, payload.p, payload.len);
  if (ZSTD_isError(n) || n != h.raw_len) {
    st = ims_fail(err, IMS_E_CORRUPT, "index block does not decompress");
    goto done;
  }
  st = arc_index_parse(raw.p, n, type == ARC_BLOCK_MANIFEST, limit, ix, err);
done:
  buf_free(&payload);
  buf_free(&raw);
  return st;
}

/* The blocks a scan found. */
typedef struct found_block {
  arc_block_header h;
  uint64_t offset;
} found_block;

/* Looks for the next block header at or after off: first exactly at off, then by
 * searching for the block magic (resynchronisation after damaged bytes). */
static bool next_header(const arc_in *in, uint64_t off, uint64_t *at, arc_block_header *h) {
  uint8_t win[1 << 16];
  while (off < in->size && in->size - off >= ARC_BLOCK_HEADER_LEN) {
    uint64_t avail = in->size - off;
    size_t n = avail < sizeof win ? (size_t)avail : sizeof win;
    if (pread_all(in->fd, win, n, off, NULL) != IMS_OK) return false;
    for (size_t i = 0; i + ARC_BLOCK_HEADER_LEN <= n; i++) {
      if (win[i] != 'I' || memcmp(win + i, arc_block_magic, 4) != 0) continue;
      if (arc_block_header_decode(win + i, h)) {
        *at = off + i;
        return true;
      }
    }
    if (n < ARC_BLOCK_HEADER_LEN) break;
    off += n - ARC_BLOCK_HEADER_LEN + 1; /* overlap so a header across windows is found */
  }
  return false;
}

/* Rebuilds the index from the blocks (FORMAT.md §7): the newest intact index block if
 * any, else the manifest plus the data blocks found, in file order. */
static ims_status recover(arc_in *in, ims_err *err) {
  found_block *fb = NULL;
  size_t n_fb = 0, cap = 0;
  uint64_t off = ARC_HEADER_LEN, at;
  arc_block_header h;
  ims_status st = IMS_OK;
  while (next_header(in, off, &at, &h)) {
    uint64_t end;
    if (!ims_add_u64(at + ARC_BLOCK_HEADER_LEN, h.payload_len, &end) || end > in->size) {
      off = at + 1; /* a cut block: its header may still be a false match; look further */
      continue;
    }
    if (n_fb == cap) {
      size_t nc = cap ? cap * 2 : 256;
      found_block *q = realloc(fb, nc * sizeof *fb);
      if (!q) {
        free(fb);
        return ims_fail(err, IMS_E_NOMEM, "out of memory");
      }
      fb = q;
      cap = nc;
    }
    fb[n_fb].h = h;
    fb[n_fb].offset = at;
    n_fb++;
    off = end;
  }
  /* An intact index block wins: only the footer was lost. */
  for (size_t i = n_fb; i-- > 0;) {
    if (fb[i].h.type != ARC_BLOCK_INDEX) continue;
    if (read_meta(in, fb[i].offset, in->size, ARC_BLOCK_INDEX, &in->index, NULL) == IMS_OK) goto out;
  }
  bool have_manifest = false;
  for (size_t i = 0; i < n_fb && !have_manifest; i++) {
    if (fb[i].h.type != ARC_BLOCK_MANIFEST) continue;
    have_manifest = read_meta(in, fb[i].offset, in->size, ARC_BLOCK_MANIFEST, &in->index, NULL) == IMS_OK;
  }
  if (!have_manifest) {
    st = ims_fail(err, IMS_E_CORRUPT, "%s, and no intact manifest was found: nothing can be recovered", in->damage);
    goto out;
  }
  for (size_t i = 0; i < n_fb; i++) {
    const arc_block_header *b = &fb[i].h;
    /* raw_len is bounded as in an index (arc_index_parse), so that sizes cannot wrap */
    if (b->type != ARC_BLOCK_DATA || b->content >= in->index.n_contents || b->raw_len > ARC_MAX_BLOCK_RAW) continue;
    arc_content *c = &in->index.contents[b->content];
    if (b->chunk != c->n_blocks) continue; /* a gap before it: the content is incomplete */
    if (c->n_blocks > 0 && c->first_block + c->n_blocks != in->index.n_blocks) continue;
    arc_blockref r = {fb[i].offset, ARC_BLOCK_HEADER_LEN + b->payload_len, b->raw_len};
    if ((st = arc_index_add_block(&in->index, b->content, &r)) != IMS_OK) {
      ims_fail(err, st, "out of memory");
      goto out;
    }
  }
out:
  free(fb);
  return st;
}

ims_status arc_in_open(const char *path, uint64_t max_index_bytes, arc_in *in, ims_err *err) {
  memset(in, 0, sizeof *in);
  in->max_index_bytes = max_index_bytes;
  arc_index_init(&in->index);
  in->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (in->fd < 0) return ims_fail(err, IMS_E_IO, "cannot open: %s", strerror(errno));
  struct stat sb;
  if (fstat(in->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    ims_status st = ims_fail(err, IMS_E_IO, "not a regular file");
    arc_in_close(in);
    return st;
  }
  in->size = (uint64_t)sb.st_size;
  uint8_t hdr[ARC_HEADER_LEN];
  ims_status st;
  if (in->size < ARC_HEADER_LEN) {
    st = ims_fail(err, IMS_E_CORRUPT, "not an imgstash archive (only %llu bytes)", (unsigned long long)in->size);
    goto fail;
  }
  if ((st = pread_all(in->fd, hdr, sizeof hdr, 0, err)) != IMS_OK) goto fail;
  if ((st = arc_header_decode(hdr, err)) != IMS_OK) goto fail;

  ims_err why;
  ims_err_clear(&why);
  arc_footer f;
  uint8_t ft[ARC_FOOTER_LEN];
  if (in->size < ARC_HEADER_LEN + ARC_FOOTER_LEN) {
    ims_fail(&why, IMS_E_CORRUPT, "no footer (the archive is truncated)");
  } else if ((st = pread_all(in->fd, ft, sizeof ft, in->size - ARC_FOOTER_LEN, &why)) != IMS_OK ||
             (st = arc_footer_decode(ft, &f, &why)) != IMS_OK) {
    if (st == IMS_E_VERSION) {
      ims_fail(err, st, "%s", why.msg);
      goto fail;
    }
    if (st == IMS_E_CORRUPT) ims_err_prefix(&why, "damaged or missing footer (truncated archive?)");
  } else if (f.footer_offset != in->size - ARC_FOOTER_LEN) {
    ims_fail(&why, IMS_E_CORRUPT, "the footer does not sit at its recorded offset");
  } else if (f.index_offset > f.footer_offset || f.index_block_len != f.footer_offset - f.index_offset) {
    ims_fail(&why, IMS_E_CORRUPT, "the footer points outside the archive");
  } else if ((st = read_meta(in, f.index_offset, f.footer_offset, ARC_BLOCK_INDEX, &in->index, &why)) == IMS_OK) {
    return IMS_OK;
  } else if (st == IMS_E_VERSION || st == IMS_E_LIMIT || st == IMS_E_NOMEM || st == IMS_E_IO) {
    ims_fail(err, st, "%s", why.msg);
    goto fail;
  } else {
    ims_err_prefix(&why, "damaged index");
  }
  in->damaged = true;
  snprintf(in->damage, sizeof in->damage, "%s", why.msg);
  arc_index_free(&in->index);
  if ((st = recover(in, err)) != IMS_OK) goto fail;
  return IMS_OK;
fail:
  arc_in_close(in);
  return st;
}

void arc_in_close(arc_in *in) {
  if (in->fd >= 0) close(in->fd);
  in->fd = -1;
  arc_index_free(&in->index);
}

ims_status arc_in_read_block(const arc_in *in, const arc_blockref *ref, uint32_t content, uint32_t chunk,
                             arc_block_header *h, buf *payload, ims_err *err) {
  ims_status st = read_block_at(in, ref->offset, in->size, h, payload, err);
  if (st) return st;
  if (h->type != ARC_BLOCK_DATA || h->content != content || h->chunk != chunk || h->raw_len != ref->raw_len ||
      ARC_BLOCK_HEADER_LEN + h->payload_len != ref->block_len)
    return ims_fail(err, IMS_E_CORRUPT, "block at offset %#llx does not match the index",
                    (unsigned long long)ref->offset);
  return IMS_OK;
}
