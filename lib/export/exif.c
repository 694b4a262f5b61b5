/* EXIF DateTimeOriginal from TIFF-structured bytes (EXIF 2.32 §4.6: TIFF header, IFD0, the
 * Exif IFD it points to with tag 0x8769). Hostile input: every offset is checked against the
 * buffer through the rd cursor; the walk is two fixed levels deep, never recursive. */
#include "probe.h"

#include <string.h>

#include "common/mem.h"

enum { TAG_EXIF_IFD = 0x8769, TAG_DATETIME_ORIGINAL = 0x9003, TYPE_ASCII = 2, TYPE_LONG = 4, TYPE_IFD = 13 };

typedef struct tiff {
  const uint8_t *p;
  size_t len;
  bool be; /* "MM": big-endian */
} tiff;

static bool rd_u16(rd *r, bool be, uint16_t *v) {
  const uint8_t *b;
  if (!rd_bytes(r, 2, &b)) return false;
  *v = be ? (uint16_t)((unsigned)b[0] << 8 | b[1]) : get_u16le(b);
  return true;
}

static bool rd_u32(rd *r, bool be, uint32_t *v) {
  const uint8_t *b;
  if (!rd_bytes(r, 4, &b)) return false;
  *v = be ? (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3] : get_u32le(b);
  return true;
}

/* A cursor on the n bytes at offset off, or false when they are not all inside t. */
static bool at(const tiff *t, size_t off, size_t n, rd *out) {
  if (off > t->len || n > t->len - off) return false;
  *out = rd_make(t->p + off, n);
  return true;
}

typedef struct ifd_entry {
  uint16_t tag, type;
  uint32_t count;
  uint32_t value; /* the value, or the offset of the values when they exceed 4 bytes */
  uint32_t entry_off; /* where the 4-byte value field itself sits */
} ifd_entry;

/* Looks for tag in the IFD at off. */
static bool find_tag(const tiff *t, uint32_t off, uint16_t tag, ifd_entry *out) {
  rd r;
  uint16_t n;
  if (!at(t, off, 2, &r) || !rd_u16(&r, t->be, &n)) return false;
  if (!at(t, (size_t)off + 2u, (size_t)n * 12u, &r)) return false;
  for (uint32_t i = 0; i < n; i++) {
    ifd_entry e;
    if (!rd_u16(&r, t->be, &e.tag) || !rd_u16(&r, t->be, &e.type) || !rd_u32(&r, t->be, &e.count)) return false;
    e.entry_off = (uint32_t)(r.p - t->p);
    if (!rd_u32(&r, t->be, &e.value)) return false;
    if (e.tag == tag) {
      *out = e;
      return true;
    }
  }
  return false;
}

static bool well_formed(const char *s) {
  static const char pat[] = "dddd:dd:dd dd:dd:dd";
  bool nonzero = false;
  for (size_t i = 0; i < 19; i++) {
    if (pat[i] == 'd') {
      if (s[i] < '0' || s[i] > '9') return false;
      if (s[i] != '0') nonzero = true;
    } else if (s[i] != pat[i]) {
      return false;
    }
  }
  return nonzero;
}

bool exp_exif_datetime(const uint8_t *p, size_t len, char out[20]) {
  if (!p || len < 8) return false;
  tiff t = {p, len, false};
  if (p[0] == 'M' && p[1] == 'M')
    t.be = true;
  else if (!(p[0] == 'I' && p[1] == 'I'))
    return false;
  rd r = rd_make(p + 2, len - 2);
  uint16_t magic;
  uint32_t ifd0;
  if (!rd_u16(&r, t.be, &magic) || magic != 42 || !rd_u32(&r, t.be, &ifd0)) return false;
  ifd_entry e;
  if (!find_tag(&t, ifd0, TAG_EXIF_IFD, &e) || (e.type != TYPE_LONG && e.type != TYPE_IFD) || e.count != 1)
    return false;
  if (e.value == ifd0) return false; /* a loop to itself */
  if (!find_tag(&t, e.value, TAG_DATETIME_ORIGINAL, &e) || e.type != TYPE_ASCII || e.count < 19) return false;
  /* ASCII values longer than 4 bytes are stored at the offset in the value field */
  const uint8_t *s;
  if (!at(&t, e.count > 4 ? e.value : e.entry_off, 19, &r) || !rd_bytes(&r, 19, &s)) return false;
  char tmp[20];
  memcpy(tmp, s, 19);
  tmp[19] = '\0';
  if (!well_formed(tmp)) return false;
  memcpy(out, tmp, 20);
  return true;
}
