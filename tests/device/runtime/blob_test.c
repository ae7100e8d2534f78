/* Builder -> parser round trips of model blobs: every record, section and
 * header field survives, the digest matches an independent recomputation,
 * the signature hook sees the right bytes, and builder misuse fails. */
#include <string.h>

#include "model_fixture.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"
#include "tn_test.h"

static uint8_t g_blob[48 * 1024];
static size_t g_size;
static fixture_model g_model;

static int tensor_equal(const tn_tensor_desc* a, const tn_tensor_desc* b) {
  return a->dtype == b->dtype && a->h == b->h && a->w == b->w && a->c == b->c &&
         memcmp(&a->scale, &b->scale, sizeof(float)) == 0 &&
         a->zero_point == b->zero_point;
}

static int op_equal(const tn_op_desc* a, const tn_op_desc* b) {
  return a->type == b->type && a->weight_bits == b->weight_bits &&
         a->input0 == b->input0 && a->input1 == b->input1 &&
         a->output == b->output && a->kernel_h == b->kernel_h &&
         a->kernel_w == b->kernel_w && a->stride_h == b->stride_h &&
         a->stride_w == b->stride_w && a->dilation_h == b->dilation_h &&
         a->dilation_w == b->dilation_w && a->pad_top == b->pad_top &&
         a->pad_bottom == b->pad_bottom && a->pad_left == b->pad_left &&
         a->pad_right == b->pad_right && a->act_min == b->act_min &&
         a->act_max == b->act_max && a->weights_offset == b->weights_offset &&
         a->weights_size == b->weights_size &&
         a->quant_offset == b->quant_offset && a->quant_size == b->quant_size;
}

static uint32_t load32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

/* Digest per the format document, computed here from first principles:
 * SHA-256 over [0, signed_end) with bytes 48..79 read as zero. */
static void reference_digest(const uint8_t* blob, uint32_t signed_end,
                             uint8_t out[32]) {
  static uint8_t copy[sizeof(g_blob)];
  memcpy(copy, blob, signed_end);
  memset(copy + 48, 0, 32);
  TN_CHECK_STATUS(tn_sha256(copy, signed_end, out), TN_OK);
}

static void check_round_trip(fixture_model* m, int with_canary) {
  size_t size = 0;
  int8_t canary_in[240];
  float canary_out_f[4];
  int8_t canary_out_q[4];
  for (int i = 0; i < 240; ++i) canary_in[i] = (int8_t)(i * 37);
  for (int i = 0; i < 4; ++i) {
    canary_out_f[i] = 0.25f * (float)i - 0.3f;
    canary_out_q[i] = (int8_t)(i - 2);
  }
  const void* cout =
      m->has_tail ? (const void*)canary_out_f : (const void*)canary_out_q;
  TN_CHECK_STATUS(fx_plan(m, TN_TARGET_GAP9), TN_OK);
  TN_REQUIRE(fx_build(m, TN_TARGET_GAP9, 0, with_canary ? canary_in : NULL,
                      cout, g_blob, sizeof(g_blob), &size) == TN_OK);
  g_size = size;
  tn_blob blob;
  TN_REQUIRE(tn_blob_parse(g_blob, size, NULL, &blob) == TN_OK);

  TN_CHECK_EQ(blob.size, size);
  TN_CHECK_EQ(blob.target, TN_TARGET_GAP9);
  TN_CHECK_EQ(blob.model_version, 3);
  TN_CHECK_EQ(blob.rollback_counter, 2);
  TN_CHECK_EQ(blob.model_id[15], 15);
  TN_CHECK_EQ(blob.tensor_count, m->graph.tensor_count);
  TN_CHECK_EQ(blob.op_count, m->graph.op_count);
  TN_CHECK_EQ(blob.input_tensor, m->graph.input_tensor);
  TN_CHECK_EQ(blob.output_tensor, m->graph.output_tensor);
  TN_CHECK_EQ(blob.has_tail, m->has_tail);
  for (uint32_t i = 0; i < m->graph.tensor_count; ++i) {
    tn_tensor_desc t;
    tn_placement p;
    TN_CHECK_STATUS(tn_blob_tensor(&blob, i, &t), TN_OK);
    TN_CHECK(tensor_equal(&t, &m->tensors[i]));
    TN_CHECK_STATUS(tn_blob_placement(&blob, i, &p), TN_OK);
    TN_CHECK_EQ(p.level, m->placements[i].level);
    TN_CHECK_EQ(p.offset, m->placements[i].offset);
    TN_CHECK_EQ(p.size, m->placements[i].size);
  }
  for (uint32_t i = 0; i < m->graph.op_count; ++i) {
    tn_op_desc op;
    tn_tile tile;
    TN_CHECK_STATUS(tn_blob_op(&blob, i, &op), TN_OK);
    TN_CHECK(op_equal(&op, &m->ops[i]));
    TN_CHECK_STATUS(tn_blob_tile(&blob, i, &tile), TN_OK);
    TN_CHECK_EQ(tile.tile_h, m->tiles[i].tile_h);
    TN_CHECK_EQ(tile.tile_c, m->tiles[i].tile_c);
    TN_CHECK_EQ(tile.l1_bytes, m->tiles[i].l1_bytes);
  }
  TN_CHECK_STATUS(
      tn_blob_tensor(&blob, blob.tensor_count, &(tn_tensor_desc){0}),
      TN_ERR_ARG);
  TN_CHECK_EQ(blob.weights_size, m->weights_size);
  TN_CHECK(memcmp(blob.weights, m->weights, m->weights_size) == 0);
  TN_CHECK_EQ(blob.quant_size, 4u * m->quant_words);
  for (uint32_t i = 0; i < m->quant_words; ++i) {
    TN_CHECK_EQ((int32_t)load32(blob.quant + 4u * i), m->quant[i]);
  }
  if (m->has_tail) {
    TN_CHECK_EQ(blob.cut_tensor, m->tail.cut_tensor);
    TN_CHECK_EQ(blob.tail_first_op, m->tail.first_op);
    TN_CHECK_EQ(blob.trainable_layers, m->tail.trainable_layers);
    TN_CHECK_EQ(blob.tail_param_bytes, 4u * m->param_count);
    for (uint32_t i = 0; i < m->param_count; ++i) {
      uint32_t bits;
      memcpy(&bits, &m->params[i], 4);
      TN_CHECK_EQ(load32(blob.tail_params + 4u * i), bits);
    }
  } else {
    TN_CHECK_EQ(blob.cut_tensor, TN_NO_TENSOR);
    TN_CHECK_EQ(blob.tail_first_op, blob.op_count);
  }
  TN_CHECK_EQ(blob.l2_arena_bytes, m->plan.l2_arena_bytes);
  TN_CHECK_EQ(blob.l1_tile_bytes, m->plan.l1_tile_bytes);
  TN_CHECK(blob.meta_macs > 0);
  TN_CHECK(blob.meta_cycles > 0);
  TN_CHECK((blob.canary != NULL) == (with_canary != 0));

  /* Whole-graph decode equals the description. */
  tn_tensor_desc tensors[FX_MAX_TENSORS];
  tn_op_desc ops[FX_MAX_OPS];
  tn_graph_desc g;
  TN_CHECK_STATUS(tn_blob_graph(&blob, tensors, 1, ops, FX_MAX_OPS, &g),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(
      tn_blob_graph(&blob, tensors, FX_MAX_TENSORS, ops, FX_MAX_OPS, &g),
      TN_OK);
  TN_CHECK_EQ(g.op_count, m->graph.op_count);
  TN_CHECK(op_equal(&ops[0], &m->ops[0]));

  uint8_t d1[32], d2[32];
  TN_CHECK_STATUS(tn_blob_compute_digest(g_blob, size, d1), TN_OK);
  reference_digest(g_blob, (uint32_t)size, d2);
  TN_CHECK(memcmp(d1, d2, 32) == 0);
  TN_CHECK(memcmp(d1, blob.digest, 32) == 0);
  TN_CHECK(memcmp(d1, g_blob + 48, 32) == 0);
}

TN_TEST(int8_model_round_trip) {
  fx_small_cnn(&g_model, 1, 0);
  check_round_trip(&g_model, 1);
  /* The bytes themselves are identical on every target. */
  tn_test_digest("blob.int8_model", g_blob, g_size);
}

TN_TEST(tail_model_round_trip) {
  fx_small_cnn(&g_model, 2, 1);
  check_round_trip(&g_model, 1);
  tn_test_digest("blob.tail_model", g_blob, g_size);
}

TN_TEST(round_trip_without_canary) {
  fx_small_cnn(&g_model, 3, 1);
  check_round_trip(&g_model, 0);
}

TN_TEST(every_op_type_round_trips) {
  fixture_model* m = &g_model;
  fx_init(m, 4, 9, 9, 4);
  uint16_t x = m->graph.input_tensor;
  uint16_t a = fx_conv(m, TN_OP_CONV2D, x, 8, 3, 2, 1, 4, -128, 127);
  uint16_t b = fx_conv(m, TN_OP_DWCONV2D, a, 8, 3, 1, 1, 2, -128, 127);
  uint16_t c = fx_conv(m, TN_OP_PWCONV, b, 8, 1, 1, 0, 8, -128, 127);
  uint16_t d = fx_add(m, a, c);
  uint16_t e = fx_pool(m, TN_OP_AVGPOOL, d, 3, 1, 1);
  uint16_t f = fx_global_avgpool(m, e);
  uint16_t g = fx_reshape(m, f, 1, 1, 8);
  uint16_t h = fx_fc(m, g, 5, 8);
  uint16_t s = fx_softmax(m, h);
  uint16_t t = fx_cut(m, s);
  uint16_t y = fx_fc_f32(m, t, 3);
  fx_finish(m, y);
  check_round_trip(m, 0);
  tn_test_digest("blob.all_ops", g_blob, g_size);
}

TN_TEST(builder_size_and_capacity) {
  fx_small_cnn(&g_model, 5, 0);
  TN_REQUIRE(fx_plan(&g_model, TN_TARGET_GAP8) == TN_OK);
  size_t written = 0;
  TN_REQUIRE(fx_build(&g_model, TN_TARGET_GAP8, 0, NULL, NULL, g_blob,
                      sizeof(g_blob), &written) == TN_OK);
  TN_CHECK_STATUS(fx_build(&g_model, TN_TARGET_GAP8, 0, NULL, NULL, g_blob,
                           written - 1, &written),
                  TN_ERR_BUFFER_TOO_SMALL);
  /* A plan made for another target is refused by the built blob's parse. */
  TN_CHECK_STATUS(fx_build(&g_model, TN_TARGET_GAP9, 0, NULL, NULL, g_blob,
                           sizeof(g_blob), &written),
                  TN_ERR_BLOB_PLAN);
  tn_blob_builder b;
  tn_blob_header_desc h = {TN_TARGET_GAP8, {0}, 1, 0};
  size_t size;
  TN_CHECK_STATUS(tn_blob_builder_init(&b, &h), TN_OK);
  TN_CHECK_STATUS(tn_blob_builder_size(&b, &size), TN_ERR_BLOB_GRAPH);
  TN_CHECK_STATUS(tn_blob_builder_set_graph(&b, &g_model.graph), TN_OK);
  TN_CHECK_STATUS(tn_blob_builder_size(&b, &size), TN_ERR_BLOB_PLAN);
  TN_CHECK_STATUS(tn_blob_builder_set_weights(&b, NULL, 4), TN_ERR_NULL);
}

TN_TEST(builder_rejects_invalid_description) {
  fx_small_cnn(&g_model, 6, 0);
  TN_REQUIRE(fx_plan(&g_model, TN_TARGET_GAP9) == TN_OK);
  size_t written = 0;
  /* A weight range that disagrees with the shape. */
  g_model.ops[0].weights_size -= 1;
  TN_CHECK_STATUS(fx_build(&g_model, TN_TARGET_GAP9, 0, NULL, NULL, g_blob,
                           sizeof(g_blob), &written),
                  TN_ERR_BLOB_SHAPE);
  g_model.ops[0].weights_size += 1;
  /* A shift the kernels do not accept. */
  g_model.quant[2u * 8u] = 40;
  TN_CHECK_STATUS(fx_build(&g_model, TN_TARGET_GAP9, 0, NULL, NULL, g_blob,
                           sizeof(g_blob), &written),
                  TN_ERR_BLOB_QUANT);
}

typedef struct verify_probe {
  int calls;
  uint8_t digest[32];
  uint8_t r0, s31, key0;
  tn_status answer;
} verify_probe;

static tn_status probe_verify(void* ctx, const uint8_t digest[32],
                              const tn_blob_signature* sig) {
  verify_probe* p = (verify_probe*)ctx;
  ++p->calls;
  memcpy(p->digest, digest, 32);
  p->r0 = sig->r[0];
  p->s31 = sig->s[31];
  p->key0 = sig->key_id[0];
  return p->answer;
}

TN_TEST(signature_slot_and_hook) {
  fx_small_cnn(&g_model, 7, 1);
  TN_REQUIRE(fx_plan(&g_model, TN_TARGET_GAP9) == TN_OK);
  size_t size = 0;
  TN_REQUIRE(fx_build(&g_model, TN_TARGET_GAP9, 1, NULL, NULL, g_blob,
                      sizeof(g_blob), &size) == TN_OK);
  uint8_t before[32];
  TN_CHECK_STATUS(tn_blob_compute_digest(g_blob, size, before), TN_OK);
  uint8_t key[8] = {0xA5, 1, 2, 3, 4, 5, 6, 7}, r[32], s[32];
  for (int i = 0; i < 32; ++i) {
    r[i] = (uint8_t)(0x10 + i);
    s[i] = (uint8_t)(0x80 + i);
  }
  tn_blob_signature sig = {TN_SIGNATURE_ALG_ECDSA_P256, key, r, s};
  TN_CHECK_STATUS(tn_blob_set_signature(g_blob, size, &sig), TN_OK);
  uint8_t after[32];
  TN_CHECK_STATUS(tn_blob_compute_digest(g_blob, size, after), TN_OK);
  TN_CHECK(memcmp(before, after, 32) == 0); /* signature not covered */

  verify_probe probe;
  memset(&probe, 0, sizeof(probe));
  tn_blob_parse_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.verify = probe_verify;
  opt.verify_ctx = &probe;
  opt.require_signature = 1;
  tn_blob blob;
  TN_CHECK_STATUS(tn_blob_parse(g_blob, size, &opt, &blob), TN_OK);
  TN_CHECK_EQ(probe.calls, 1);
  TN_CHECK(memcmp(probe.digest, before, 32) == 0);
  TN_CHECK_EQ(probe.r0, 0x10);
  TN_CHECK_EQ(probe.s31, 0x80 + 31);
  TN_CHECK_EQ(probe.key0, 0xA5);
  tn_blob_signature got;
  TN_CHECK_STATUS(tn_blob_signature_get(&blob, &got), TN_OK);
  TN_CHECK_EQ(got.algorithm, TN_SIGNATURE_ALG_ECDSA_P256);
  TN_CHECK_EQ(got.s[0], 0x80);

  probe.answer = TN_ERR_BLOB_SIGNATURE;
  TN_CHECK_STATUS(tn_blob_parse(g_blob, size, &opt, &blob),
                  TN_ERR_BLOB_SIGNATURE);

  /* Unsigned blob: required signature missing. */
  fx_small_cnn(&g_model, 7, 1);
  TN_REQUIRE(fx_plan(&g_model, TN_TARGET_GAP9) == TN_OK);
  TN_REQUIRE(fx_build(&g_model, TN_TARGET_GAP9, 0, NULL, NULL, g_blob,
                      sizeof(g_blob), &size) == TN_OK);
  TN_CHECK_STATUS(tn_blob_parse(g_blob, size, &opt, &blob),
                  TN_ERR_BLOB_SIGNATURE);
  TN_CHECK_STATUS(tn_blob_parse(g_blob, size, NULL, &blob), TN_OK);
  TN_CHECK_STATUS(tn_blob_signature_get(&blob, &got), TN_ERR_NOT_FOUND);
  TN_CHECK_STATUS(tn_blob_set_signature(g_blob, size, &sig), TN_ERR_NOT_FOUND);
}

TN_TEST(target_and_rollback_options) {
  fx_small_cnn(&g_model, 8, 0);
  TN_REQUIRE(fx_plan(&g_model, TN_TARGET_HOST) == TN_OK);
  size_t size = 0;
  TN_REQUIRE(fx_build(&g_model, TN_TARGET_HOST, 0, NULL, NULL, g_blob,
                      sizeof(g_blob), &size) == TN_OK);
  tn_blob_parse_options opt;
  memset(&opt, 0, sizeof(opt));
  tn_blob blob;
  opt.expected_target = TN_TARGET_HOST;
  TN_CHECK_STATUS(tn_blob_parse(g_blob, size, &opt, &blob), TN_OK);
  opt.expected_target = TN_TARGET_GAP9;
  TN_CHECK_STATUS(tn_blob_parse(g_blob, size, &opt, &blob), TN_ERR_BLOB_TARGET);
  opt.expected_target = TN_TARGET_UNSPECIFIED;
  opt.min_rollback_counter = 2;
  TN_CHECK_STATUS(tn_blob_parse(g_blob, size, &opt, &blob), TN_OK);
  opt.min_rollback_counter = 3;
  TN_CHECK_STATUS(tn_blob_parse(g_blob, size, &opt, &blob), TN_ERR_ROLLBACK);
  /* A larger buffer than total_size is fine. */
  TN_CHECK_STATUS(tn_blob_parse(g_blob, size + 100, NULL, &blob), TN_OK);
  TN_CHECK_EQ(blob.size, size);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(int8_model_round_trip),
      TN_CASE(tail_model_round_trip),
      TN_CASE(round_trip_without_canary),
      TN_CASE(every_op_type_round_trips),
      TN_CASE(builder_size_and_capacity),
      TN_CASE(builder_rejects_invalid_description),
      TN_CASE(signature_slot_and_hook),
      TN_CASE(target_and_rollback_options),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
