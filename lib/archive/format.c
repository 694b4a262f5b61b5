#include "format.h"

#include <string.h>

#include "common/hash.h"
#include "common/mem.h"

const uint8_t arc_file_magic[8] = {0x89, 'I', 'M', 'S', 0x0d, 0x0a, 0x1a, 0x0a};
const uint8_t arc_block_magic[4] = {'I', 'M', 'B', 'K'};
const uint8_t arc_footer_magic[8] = {'I', 'M', 'S', 'F', 'O', 'O', 'T', 0x1a};

void arc_header_encode(uint8_t out[ARC_HEADER_LEN]) {
  memcpy(out, arc_file_magic, 8);
  put_u16le(out + 8, ARC_FORMAT_MAJOR);
  put_u16le(out + 10, ARC_FORMAT_MINOR);
  put_u32le(out + 12, 0);
}

ims_status arc_header_decode(const uint8_t in[ARC_HEADER_LEN], ims_err *err) {
  if (memcmp(in, arc_file_magic, 8) != 0) return ims_fail(err, IMS_E_CORRUPT, "not an imgstash archive");
  uint16_t major = get_u16le(in + 8);
  if (major > ARC_FORMAT_MAJOR)
    return ims_fail(err, IMS_E_VERSION, "format version %u is newer than this program's %u", major, ARC_FORMAT_MAJOR);
  if (major == 0) return ims_fail(err, IMS_E_CORRUPT, "format version 0 is not valid");
  if (get_u32le(in + 12) != 0) return ims_fail(err, IMS_E_VERSION, "unknown archive flags %#x", get_u32le(in + 12));
  return IMS_OK;
}

void arc_block_header_encode(const arc_block_header *h, uint8_t out[ARC_BLOCK_HEADER_LEN]) {
  memcpy(out, arc_block_magic, 4);
  out[4] = h->type;
  out[5] = h->codec;
  put_u16le(out + 6, 0);
  put_u32le(out + 8, h->content);
  put_u32le(out + 12, h->chunk);
  put_u64le(out + 16, h->payload_len);
  put_u64le(out + 24, h->raw_len);
  put_u64le(out + 32, h->payload_check);
  put_u32le(out + 40, (uint32_t)ims_hash64(out, 40));
  put_u32le(out + 44, 0);
}

bool arc_block_header_decode(const uint8_t in[ARC_BLOCK_HEADER_LEN], arc_block_header *h) {
  if (memcmp(in, arc_block_magic, 4) != 0) return false;
  if (get_u32le(in + 40) != (uint32_t)ims_hash64(in, 40)) return false;
  if (get_u16le(in + 6) != 0 || get_u32le(in + 44) != 0) return false;
  h->type = in[4];
  h->codec = in[5];
  h->content = get_u32le(in + 8);
  h->chunk = get_u32le(in + 12);
  h->payload_len = get_u64le(in + 16);
  h->raw_len = get_u64le(in + 24);
  h->payload_check = get_u64le(in + 32);
  return h->type >= ARC_BLOCK_MANIFEST && h->type <= ARC_BLOCK_INDEX;
}

void arc_footer_encode(const arc_footer *f, uint8_t out[ARC_FOOTER_LEN]) {
  put_u64le(out + 0, f->index_offset);
  put_u64le(out + 8, f->index_block_len);
  put_u64le(out + 16, f->segment_offset);
  put_u64le(out + 24, f->prev_footer);
  put_u64le(out + 32, f->footer_offset);
  put_u16le(out + 40, f->major);
  put_u16le(out + 42, f->minor);
  put_u32le(out + 44, 0);
  put_u64le(out + 48, ims_hash64(out, 48));
  memcpy(out + 56, arc_footer_magic, 8);
}

ims_status arc_footer_decode(const uint8_t in[ARC_FOOTER_LEN], arc_footer *f, ims_err *err) {
  if (memcmp(in + 56, arc_footer_magic, 8) != 0) return ims_fail(err, IMS_E_CORRUPT, "no footer at the end");
  if (get_u64le(in + 48) != ims_hash64(in, 48)) return ims_fail(err, IMS_E_CORRUPT, "footer checksum mismatch");
  f->index_offset = get_u64le(in + 0);
  f->index_block_len = get_u64le(in + 8);
  f->segment_offset = get_u64le(in + 16);
  f->prev_footer = get_u64le(in + 24);
  f->footer_offset = get_u64le(in + 32);
  f->major = get_u16le(in + 40);
  f->minor = get_u16le(in + 42);
  if (f->major > ARC_FORMAT_MAJOR)
    return ims_fail(err, IMS_E_VERSION, "format version %u is newer than this program's %u", f->major,
                    ARC_FORMAT_MAJOR);
  if (get_u32le(in + 44) != 0) return ims_fail(err, IMS_E_VERSION, "unknown footer flags");
  return IMS_OK;
}
