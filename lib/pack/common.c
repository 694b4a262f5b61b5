#include <stdlib.h>
#include <string.h>

#include "pack.h"

ims_status path_normalize(const char *in, char **out, ims_err *err) {
  size_t n = strlen(in);
  if (n == 0) return ims_fail(err, IMS_E_UNSAFE_PATH, "empty path");
  if (in[0] == '/') return ims_fail(err, IMS_E_UNSAFE_PATH, "absolute path");
  if (n > ARC_MAX_PATH) return ims_fail(err, IMS_E_LIMIT, "path longer than %u bytes", ARC_MAX_PATH);
  char *o = malloc(n + 1);
  if (!o) return ims_fail(err, IMS_E_NOMEM, "out of memory");
  size_t len = 0;
  const char *p = in;
  while (*p) {
    const char *s = strchr(p, '/');
    size_t cl = s ? (size_t)(s - p) : strlen(p);
    if (cl == 2 && p[0] == '.' && p[1] == '.') {
      free(o);
      return ims_fail(err, IMS_E_UNSAFE_PATH, "'..' in path");
    }
    if (cl > 0 && !(cl == 1 && p[0] == '.')) {
      if (len) o[len++] = '/';
      memcpy(o + len, p, cl);
      len += cl;
    }
    p += cl;
    if (*p == '/') p++;
  }
  if (len == 0) {
    free(o);
    return ims_fail(err, IMS_E_UNSAFE_PATH, "path names no entry");
  }
  o[len] = '\0';
  *out = o;
  return IMS_OK;
}

bool path_is_safe(const char *p) {
  if (!*p || *p == '/') return false;
  while (*p) {
    const char *s = strchr(p, '/');
    size_t cl = s ? (size_t)(s - p) : strlen(p);
    if (cl == 0 || (cl == 1 && p[0] == '.') || (cl == 2 && p[0] == '.' && p[1] == '.')) return false;
    p += cl;
    if (*p == '/') {
      p++;
      if (!*p) return false;
    }
  }
  return true;
}

uint8_t sniff_kind(const uint8_t *p, size_t n) {
  if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return ARC_KIND_JPEG;
  if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return ARC_KIND_PNG;
  if (n >= 4 && (!memcmp(p, "II*\0", 4) || !memcmp(p, "MM\0*", 4))) return ARC_KIND_TIFF;
  if (n >= 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '7') return ARC_KIND_PNM;
  return ARC_KIND_OTHER;
}

codec_env env_from_options(const ims_options *o) {
  codec_env e = {.zstd_level = o->zstd_level,
                 .threads = 1,
                 .max_pixels = o->max_pixels,
                 .max_scans = o->max_scans,
                 .max_bytes = o->max_member_bytes};
  return e;
}

ims_status ims_options_init(ims_options *o, unsigned header_version) {
  if (!o) return IMS_E_ARG;
  memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->version = header_version;
  o->mode = IMS_MODE_EXACT;
  o->threads = 0;
  o->zstd_level = 19;
  o->jpeg = 1;
  o->max_member_bytes = (uint64_t)1 << 30;
  o->max_pixels = (uint64_t)1 << 28;
  o->max_scans = 256;
  o->max_index_bytes = (uint64_t)2 << 30;
  o->key_interval = 32;
  o->refs = PACK_DEFAULT_REFS;
  if (header_version / 10000 != IMS_VERSION_MAJOR) return IMS_E_VERSION;
  return IMS_OK;
}
