#include "imgstash.h"

const char *ims_strerror(ims_status st) {
  switch (st) {
  case IMS_OK: return "success";
  case IMS_E_NOMEM: return "out of memory";
  case IMS_E_IO: return "input/output error";
  case IMS_E_CORRUPT: return "data is corrupt";
  case IMS_E_LIMIT: return "a limit was exceeded";
  case IMS_E_UNSUPPORTED: return "unsupported data";
  case IMS_E_ARG: return "invalid argument";
  case IMS_E_STATE: return "handle is in a failed state or used out of order";
  case IMS_E_MISMATCH: return "decoded data differs from the original";
  case IMS_E_INTERNAL: return "internal error";
  case IMS_E_VERSION: return "written by a newer version of imgstash";
  case IMS_E_NOTFOUND: return "no such entry";
  case IMS_E_UNSAFE_PATH: return "unsafe path";
  case IMS_E_EXISTS: return "entry already exists";
  }
  return "unknown status";
}

const char *ims_fallback_name(ims_fallback fb) {
  switch (fb) {
  case IMS_FB_NONE: return "none";
  case IMS_FB_NOT_IMAGE: return "not-image";
  case IMS_FB_UNSUPPORTED: return "unsupported";
  case IMS_FB_CORRUPT: return "corrupt";
  case IMS_FB_MISMATCH: return "mismatch";
  case IMS_FB_LIMIT: return "limit";
  case IMS_FB_NO_GAIN: return "no-gain";
  }
  return "unknown";
}

unsigned ims_version(void) { return IMS_VERSION_NUMBER; }
