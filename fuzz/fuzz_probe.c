/* Fuzz target: the video exporter's header probe (JPEG markers up to SOF, PNG IHDR) and
 * its EXIF DateTimeOriginal reader, on arbitrary bytes. Both must stay in bounds, finish
 * fast, and give the same answer twice. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  exp_probe a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  ims_status sa = exp_probe_image(data, size, &a);
  ims_status sb = exp_probe_image(data, size, &b);
  if (sa != sb || (sa == IMS_OK && (a.kind != b.kind || a.width != b.width || a.height != b.height))) abort();
  char t1[20], t2[20];
  bool d1 = exp_exif_datetime(data, size, t1);
  bool d2 = exp_exif_datetime(data, size, t2);
  if (d1 != d2 || (d1 && (memcmp(t1, t2, 20) != 0 || t1[19] != '\0'))) abort();
  return 0;
}
