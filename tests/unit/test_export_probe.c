/* lib/export helpers on crafted bytes: EXIF DateTimeOriginal (hostile offsets, truncation,
 * both byte orders), the JPEG/PNG header probe, and the natural sort of frame names. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "export/export.h"
#include "export/probe.h"

typedef struct w {
  uint8_t b[512];
  size_t n;
  int be;
} w;

static void u16(w *t, unsigned v) {
  if (t->be) {
    t->b[t->n++] = (uint8_t)(v >> 8);
    t->b[t->n++] = (uint8_t)v;
  } else {
    t->b[t->n++] = (uint8_t)v;
    t->b[t->n++] = (uint8_t)(v >> 8);
  }
}
static void u32(w *t, uint32_t v) {
  if (t->be) {
    u16(t, v >> 16);
    u16(t, v & 0xffff);
  } else {
    u16(t, v & 0xffff);
    u16(t, v >> 16);
  }
}

/* TIFF: header, IFD0 (2 entries: Make, ExifIFD), Exif IFD (DateTimeOriginal), the string.
 * The offsets can be overridden to point anywhere. */
static size_t make_tiff(uint8_t *out, int be, uint32_t exif_off, uint16_t exif_count, uint32_t dt_off, const char *dt) {
  w t = {{0}, 0, be};
  t.b[t.n++] = be ? 'M' : 'I';
  t.b[t.n++] = be ? 'M' : 'I';
  u16(&t, 42);
  u32(&t, 8);
  /* IFD0 at 8: 2 entries */
  u16(&t, 2);
  u16(&t, 0x010f), u16(&t, 2), u32(&t, 4), t.b[t.n++] = 'C', t.b[t.n++] = 'a', t.b[t.n++] = 'm', t.b[t.n++] = 0;
  u16(&t, 0x8769), u16(&t, 4), u32(&t, 1), u32(&t, exif_off ? exif_off : 38);
  u32(&t, 0); /* next IFD */
  /* Exif IFD at 38 */
  u16(&t, exif_count);
  u16(&t, 0x9003), u16(&t, 2), u32(&t, 20), u32(&t, dt_off ? dt_off : 56);
  u32(&t, 0);
  /* string at 56 */
  memcpy(t.b + t.n, dt, 20);
  t.n += 20;
  memcpy(out, t.b, t.n);
  return t.n;
}

static void test_exif(void) {
  uint8_t b[512];
  char dt[20];
  for (int be = 0; be <= 1; be++) {
    size_t n = make_tiff(b, be, 0, 1, 0, "2021:05:06 07:08:09");
    REQUIRE(n == 76);
    memset(dt, 'x', sizeof dt);
    CHECK(exp_exif_datetime(b, n, dt));
    CHECK(!strcmp(dt, "2021:05:06 07:08:09"));
    /* every truncation into the 19 characters fails cleanly (the string is the last thing;
       its NUL is not needed) */
    for (size_t k = 0; k < n - 1; k++) CHECK(!exp_exif_datetime(b, k, dt));
    CHECK(exp_exif_datetime(b, n - 1, dt));
  }
  size_t n;
  n = make_tiff(b, 0, 0xfffffff0u, 1, 0, "2021:05:06 07:08:09"); /* Exif IFD past the end */
  CHECK(!exp_exif_datetime(b, n, dt));
  n = make_tiff(b, 0, 0, 1, 0xfffffff8u, "2021:05:06 07:08:09"); /* string offset wraps */
  CHECK(!exp_exif_datetime(b, n, dt));
  n = make_tiff(b, 0, 0, 1, 70, "2021:05:06 07:08:09"); /* string runs past the end */
  CHECK(!exp_exif_datetime(b, n, dt));
  n = make_tiff(b, 0, 0, 0xffff, 0, "2021:05:06 07:08:09"); /* 65535 entries claimed */
  CHECK(!exp_exif_datetime(b, n, dt));
  n = make_tiff(b, 0, 8, 1, 0, "2021:05:06 07:08:09"); /* Exif IFD pointer to IFD0 itself */
  CHECK(!exp_exif_datetime(b, n, dt));
  n = make_tiff(b, 1, 0, 1, 0, "0000:00:00 00:00:00"); /* unknown date */
  CHECK(!exp_exif_datetime(b, n, dt));
  n = make_tiff(b, 1, 0, 1, 0, "2021-05-06 07:08:09"); /* wrong separators */
  CHECK(!exp_exif_datetime(b, n, dt));
  n = make_tiff(b, 0, 0, 1, 0, "2021:05:06 07:08:09");
  b[2] = 43; /* not TIFF magic */
  CHECK(!exp_exif_datetime(b, n, dt));
  b[2] = 42;
  b[0] = b[1] = 'X'; /* no byte order */
  CHECK(!exp_exif_datetime(b, n, dt));
  CHECK(!exp_exif_datetime(NULL, 0, dt));
  /* every single-byte corruption of a good block: no crash, and a success is well-formed */
  uint8_t good[512];
  n = make_tiff(good, 0, 0, 1, 0, "2021:05:06 07:08:09");
  for (size_t i = 0; i < n; i++) {
    for (unsigned v = 0; v < 256; v += 51) {
      memcpy(b, good, n);
      b[i] = (uint8_t)v;
      if (exp_exif_datetime(b, n, dt)) CHECK(strlen(dt) == 19 && dt[4] == ':' && dt[10] == ' ');
    }
  }
}

static size_t make_jpeg(uint8_t *out, const uint8_t *tiff, size_t tiff_len) {
  size_t n = 0;
  out[n++] = 0xff, out[n++] = 0xd8;
  out[n++] = 0xff, out[n++] = 0xe0, out[n++] = 0, out[n++] = 6; /* APP0, 4 bytes */
  memcpy(out + n, "JFIF", 4), n += 4;
  size_t app1 = 2 + 6 + tiff_len;
  out[n++] = 0xff, out[n++] = 0xe1, out[n++] = (uint8_t)(app1 >> 8), out[n++] = (uint8_t)app1;
  memcpy(out + n, "Exif\0\0", 6), n += 6;
  memcpy(out + n, tiff, tiff_len), n += tiff_len;
  out[n++] = 0xff, out[n++] = 0xff; /* a fill byte before the marker */
  out[n++] = 0xc0, out[n++] = 0, out[n++] = 17, out[n++] = 8;
  out[n++] = 0x02, out[n++] = 0xd0, out[n++] = 0x05, out[n++] = 0x00; /* 720 x 1280 */
  out[n++] = 3;
  out[n++] = 1, out[n++] = 0x22, out[n++] = 0;
  out[n++] = 2, out[n++] = 0x11, out[n++] = 1;
  out[n++] = 3, out[n++] = 0x11, out[n++] = 1;
  out[n++] = 0xff, out[n++] = 0xda; /* SOS: the probe stops before */
  return n;
}

static void test_probe(void) {
  uint8_t tiff[512], jpg[1024];
  size_t tn = make_tiff(tiff, 0, 0, 1, 0, "2019:12:31 23:59:58");
  size_t n = make_jpeg(jpg, tiff, tn);
  exp_probe p;
  CHECK(exp_sniff(jpg, n) == EXP_KIND_JPEG);
  REQUIRE(exp_probe_image(jpg, n, &p) == IMS_OK);
  CHECK(p.kind == EXP_KIND_JPEG && p.width == 1280 && p.height == 720 && p.depth == 8 && p.n_comp == 3);
  CHECK(p.samp[0] == 0x22 && p.samp[1] == 0x11 && p.samp[2] == 0x11 && !p.progressive);
  char dt[20];
  CHECK(p.exif && exp_exif_datetime(p.exif, p.exif_len, dt) && !strcmp(dt, "2019:12:31 23:59:58"));
  /* a prefix that ends before the frame header asks for more */
  size_t sof_end = n - 2;
  for (size_t k = 3; k < sof_end; k++) CHECK(exp_probe_image(jpg, k, &p) == IMS_E_NOTFOUND);
  /* SOS before any SOF */
  uint8_t bad[] = {0xff, 0xd8, 0xff, 0xda, 0, 2};
  CHECK(exp_probe_image(bad, sizeof bad, &p) == IMS_E_CORRUPT);
  uint8_t nomarker[] = {0xff, 0xd8, 0xff, 0xe0, 0, 2, 0x12, 0x34};
  CHECK(exp_probe_image(nomarker, sizeof nomarker, &p) == IMS_E_CORRUPT);
  uint8_t short_len[] = {0xff, 0xd8, 0xff, 0xe0, 0, 1};
  CHECK(exp_probe_image(short_len, sizeof short_len, &p) == IMS_E_CORRUPT);
  uint8_t zero_w[] = {0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0, 16, 0, 0, 1, 1, 0x11, 0};
  CHECK(exp_probe_image(zero_w, sizeof zero_w, &p) == IMS_E_CORRUPT);
  uint8_t gray[] = {0xff, 0xd8, 0xff, 0xc2, 0, 11, 8, 0, 16, 0, 32, 1, 1, 0x11, 0};
  CHECK(exp_probe_image(gray, sizeof gray, &p) == IMS_OK && p.progressive && p.n_comp == 1 && p.width == 32);
  uint8_t png[] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                   0, 0, 3, 0x30, 0, 0, 3, 0x30, 16, 0, 0, 0, 0};
  CHECK(exp_sniff(png, sizeof png) == EXP_KIND_PNG);
  CHECK(exp_probe_image(png, sizeof png, &p) == IMS_OK && p.kind == EXP_KIND_PNG && p.width == 816 &&
        p.height == 816 && p.depth == 16 && p.n_comp == 0);
  CHECK(exp_probe_image(png, 20, &p) == IMS_E_NOTFOUND);
  png[15] = 'X';
  CHECK(exp_probe_image(png, sizeof png, &p) == IMS_E_CORRUPT);
  uint8_t text[] = "hello";
  CHECK(exp_sniff(text, 5) == EXP_KIND_OTHER && exp_probe_image(text, 5, &p) == IMS_E_UNSUPPORTED);
}

static int sgn(int v) { return (v > 0) - (v < 0); }

static void test_natsort(void) {
  CHECK(exp_natcmp("frame2.jpg", "frame10.jpg") < 0);
  CHECK(exp_natcmp("frame10.jpg", "frame2.jpg") > 0);
  CHECK(exp_natcmp("frame10.jpg", "frame10.jpg") == 0);
  CHECK(exp_natcmp("a/frame9", "a/frame10") < 0);
  CHECK(exp_natcmp("a9/x", "a10/a") < 0);
  CHECK(exp_natcmp("img", "img1") < 0);
  CHECK(exp_natcmp("abc", "abd") < 0);
  CHECK(exp_natcmp("x99999999999999999999999", "x100000000000000000000000") < 0); /* beyond 64 bits */
  CHECK(exp_natcmp("f007", "f7") != 0); /* equal as numbers: still a total order */
  CHECK(sgn(exp_natcmp("f007", "f7")) == -sgn(exp_natcmp("f7", "f007")));
  CHECK(exp_natcmp("f007", "f8") < 0);
  CHECK(exp_natcmp("00010.jpg", "00009.jpg") > 0);
  const char *list[] = {"f10", "f1", "f2", "f100", "f02", "g1", "f"};
  const char *want[] = {"f", "f1", "f02", "f2", "f10", "f100", "g1"};
  for (size_t i = 0; i < 7; i++) /* insertion sort with exp_natcmp */
    for (size_t j = i; j > 0 && exp_natcmp(list[j - 1], list[j]) > 0; j--) {
      const char *t = list[j];
      list[j] = list[j - 1];
      list[j - 1] = t;
    }
  for (size_t i = 0; i < 7; i++) CHECK(!strcmp(list[i], want[i]));
}

int main(void) {
  test_exif();
  test_probe();
  test_natsort();
  return check_done("test_export_probe");
}
