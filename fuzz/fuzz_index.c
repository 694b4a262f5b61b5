/* Fuzz target: arc_index_parse on raw bytes, in manifest and index mode (the first input
 * byte chooses; the rest is the serialised index). A parsed index must hold the invariants
 * index.h promises, and must serialise and parse back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive/format.h"
#include "archive/index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_invariants(const arc_index *ix, bool manifest, uint64_t limit) {
  for (uint32_t c = 0; c < ix->n_contents; c++) {
    const arc_content *ct = &ix->contents[c];
    if (ct->ref != ARC_NO_REF && ct->ref >= c) abort();
    if (manifest && ct->n_blocks) abort();
    if (ct->n_blocks && (ct->first_block > ix->n_blocks || ix->n_blocks - ct->first_block < ct->n_blocks)) abort();
    uint64_t sum = 0;
    for (uint32_t b = 0; b < ct->n_blocks; b++) {
      const arc_blockref *br = &ix->blocks[ct->first_block + b];
      if (br->offset + br->block_len > limit || br->offset + br->block_len < br->offset) abort();
      sum += br->raw_len;
    }
    if (!manifest && sum != ct->size) abort();
  }
  for (uint32_t i = 0; i < ix->n_entries; i++) {
    const arc_entry *e = &ix->entries[i];
    if (!e->path || strlen(e->path) == 0) abort();
    if (e->type == 1 ? e->content >= ix->n_contents : e->content != ARC_NO_CONTENT) abort();
    if ((e->type == 3) != (e->link != NULL)) abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  bool manifest = data[0] & 1;
  uint64_t limit = (data[0] & 2) ? UINT64_MAX : ((uint64_t)1 << 24);
  arc_index ix;
  ims_err err;
  ims_err_clear(&err);
  ims_status st = arc_index_parse(data + 1, size - 1, manifest, limit, &ix, &err);
  if (st != IMS_OK) {
    if (err.msg[0] == '\0') abort(); /* every refusal says why */
    if (ix.entries || ix.contents || ix.blocks) abort(); /* nothing is left allocated */
    return 0;
  }
  check_invariants(&ix, manifest, limit);
  /* Round trip: what parsed serialises back to the same bytes. */
  buf out;
  buf_init(&out, SIZE_MAX);
  if (arc_index_serialize(&ix, !manifest, &out) != IMS_OK) abort();
  if (out.len != size - 1 || memcmp(out.p, data + 1, out.len) != 0) abort();
  buf_free(&out);
  arc_index_free(&ix);
  return 0;
}
