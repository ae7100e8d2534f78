/*
 * libFuzzer target for the model blob parser. Each input is parsed twice:
 * as is (exercising the header, table and digest checks) and with its
 * digest field recomputed (so mutations reach the content validation of
 * every section). Whatever parses is then used the way a node uses it:
 * every record is decoded, the plan and cost model are evaluated, and the
 * model is initialised and run in an arena of exactly the size it asks
 * for, so any out-of-bounds access in code that trusts a validated blob
 * shows up under ASan/UBSan.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tn_runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define REQUIRE(cond)              \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

/* Largest arena the fuzzer grants a model (valid host blobs may ask for
 * more; those are only parsed). */
#define FUZZ_MAX_ARENA (4u << 20)

static void use_blob(const tn_blob* blob) {
  tn_tensor_desc tensors[TN_BLOB_MAX_TENSORS];
  tn_op_desc ops[TN_BLOB_MAX_OPS];
  tn_graph_desc graph;
  REQUIRE(tn_blob_graph(blob, tensors, TN_BLOB_MAX_TENSORS, ops,
                        TN_BLOB_MAX_OPS, &graph) == TN_OK);
  tn_tile tiles[TN_BLOB_MAX_OPS];
  for (uint32_t i = 0; i < blob->tensor_count; ++i) {
    tn_placement p;
    REQUIRE(tn_blob_placement(blob, i, &p) == TN_OK);
  }
  for (uint32_t i = 0; i < blob->op_count; ++i) {
    REQUIRE(tn_blob_tile(blob, i, &tiles[i]) == TN_OK);
    uint32_t l1 = 0;
    REQUIRE(tn_tile_l1_bytes(&graph, i, tiles[i].tile_h, tiles[i].tile_c,
                             &l1) == TN_OK);
    REQUIRE(l1 == tiles[i].l1_bytes);
  }
  tn_model_cost cost;
  REQUIRE(tn_cost_model(&graph, tiles, blob->tail_first_op,
                        tn_cost_profile_gap9(), &cost) == TN_OK);
  if (blob->metadata != NULL) REQUIRE(cost.macs == blob->meta_macs);
  tn_blob_signature sig;
  REQUIRE((tn_blob_signature_get(blob, &sig) == TN_OK) ==
          (blob->signature != NULL));

  /* Run it, untiled and tiled, in arenas of exactly the requested size. */
  for (uint8_t tiled = 0; tiled < 2; ++tiled) {
    tn_model_options opt = {tiled};
    size_t need = 0;
    REQUIRE(tn_model_arena_size(blob, &opt, &need) == TN_OK);
    if (need > FUZZ_MAX_ARENA) continue;
    uint64_t* arena = (uint64_t*)malloc(need ? need : 8);
    if (arena == NULL) return;
    tn_model model;
    REQUIRE(tn_model_init(&model, blob, arena, need, &opt) == TN_OK);
    tn_tensor_view in;
    REQUIRE(tn_model_input(&model, &in) == TN_OK);
    memset(in.data, 0x5A, in.bytes);
    /* Validation happened at load: running a valid model cannot fail. */
    REQUIRE(tn_model_run(&model) == TN_OK);
    if (blob->canary != NULL) {
      tn_status st = tn_model_self_test(&model);
      REQUIRE(st == TN_OK || st == TN_ERR_SELFTEST);
    }
    free(arena);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;
  /* An exact-size heap copy: any read past the end is an ASan report. */
  uint8_t* buf = (uint8_t*)malloc(size ? size : 1);
  if (buf == NULL) return 0;
  memcpy(buf, data, size);
  tn_blob blob;
  if (tn_blob_parse(buf, size, NULL, &blob) == TN_OK) use_blob(&blob);
  uint8_t digest[TN_BLOB_DIGEST_SIZE];
  if (tn_blob_compute_digest(buf, size, digest) == TN_OK) {
    memcpy(buf + 48, digest, sizeof(digest));
    if (tn_blob_parse(buf, size, NULL, &blob) == TN_OK) use_blob(&blob);
  }
  free(buf);
  return 0;
}
