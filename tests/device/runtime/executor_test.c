/* Executor: golden end-to-end inference of small hand-built graphs against
 * an independent reference written here (int64 accumulation, TFLite
 * rounding spelled out, FP32 sums in the documented order), tiled ==
 * untiled bit for bit, front-end / tail split with replayed latents, the
 * trainable tail shared with the training room, and the canary self-test. */
#include <string.h>

#include "model_fixture.h"
#include "runtime/tn_runtime.h"
#include "tn_test.h"

static fixture_model g_model;
static uint8_t g_blob[64 * 1024];
static size_t g_size;
static uint64_t g_arena[96 * 1024 / 8];
static uint64_t g_arena2[96 * 1024 / 8];

/* ---- Reference arithmetic -------------------------------------------- */

/* round(a * b / 2^31), ties away from zero, saturating the one overflow. */
static int32_t ref_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  int64_t ab = (int64_t)a * b;
  int64_t mag = ab >= 0 ? ab : -ab;
  int64_t q = (mag + (1ll << 30)) >> 31;
  return (int32_t)(ab >= 0 ? q : -q);
}

/* x / 2^e rounded to nearest, ties away from zero. */
static int32_t ref_div_pot(int32_t x, int e) {
  if (e == 0) return x;
  int64_t v = x, d = 1ll << e;
  return (int32_t)(v >= 0 ? (v + d / 2) / d : -((-v + d / 2) / d));
}

static int32_t ref_requant(int32_t acc, int32_t mult, int32_t shift) {
  int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  int64_t shifted = (int64_t)acc * ((int64_t)1 << left);
  return ref_div_pot(ref_high_mul((int32_t)shifted, mult), right);
}

static int8_t clamp8(int32_t v, int32_t lo, int32_t hi) {
  return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

/* Weight `i` of op `op` from the fixture's packed stream. */
static int32_t weight(const fixture_model* m, const tn_op_desc* op,
                      uint32_t i) {
  const uint8_t* s = m->weights + op->weights_offset;
  uint32_t bits = op->weight_bits, bit = i * bits;
  uint32_t v = (s[bit / 8] >> (bit % 8)) & ((1u << bits) - 1u);
  return (v & (1u << (bits - 1))) ? (int32_t)v - (1 << bits) : (int32_t)v;
}

/* Reference of one int8 op over whole tensors. */
static void ref_op(const fixture_model* m, uint32_t index, int8_t* const* t) {
  const tn_op_desc* op = &m->ops[index];
  const tn_tensor_desc* xi = &m->tensors[op->input0];
  const tn_tensor_desc* yo = &m->tensors[op->output];
  const int8_t* x = t[op->input0];
  int8_t* y = t[op->output];
  const int32_t* q = m->quant + op->quant_offset / 4;
  int32_t zx = xi->zero_point, zy = yo->zero_point;
  uint32_t n = yo->h * yo->w * yo->c;
  if (op->type == TN_OP_RESHAPE) {
    memcpy(y, x, n);
    return;
  }
  if (op->type == TN_OP_ADD) {
    /* TFLite int8 ADD: both inputs to a common fixed-point scale, sum,
     * requantize. */
    const int8_t* x2 = t[op->input1];
    int32_t z2 = m->tensors[op->input1].zero_point;
    for (uint32_t i = 0; i < n; ++i) {
      int32_t s1 = ref_requant((x[i] - zx) * (1 << q[0]), q[1], q[2]);
      int32_t s2 = ref_requant((x2[i] - z2) * (1 << q[0]), q[3], q[4]);
      y[i] = clamp8(zy + ref_requant(s1 + s2, q[5], q[6]), op->act_min,
                    op->act_max);
    }
    return;
  }
  for (uint32_t oy = 0; oy < yo->h; ++oy) {
    for (uint32_t ox = 0; ox < yo->w; ++ox) {
      for (uint32_t oc = 0; oc < yo->c; ++oc) {
        int64_t acc = 0;
        int32_t best = -129, count = 0;
        if (op->type == TN_OP_FC) {
          uint32_t k = xi->h * xi->w * xi->c;
          for (uint32_t i = 0; i < k; ++i) {
            acc += (int64_t)(x[i] - zx) * weight(m, op, oc * k + i);
          }
        } else if (op->type == TN_OP_PWCONV) {
          for (uint32_t ic = 0; ic < xi->c; ++ic) {
            acc += (int64_t)(x[(oy * xi->w + ox) * xi->c + ic] - zx) *
                   weight(m, op, oc * xi->c + ic);
          }
        } else if (op->type == TN_OP_GLOBAL_AVGPOOL) {
          for (uint32_t p = 0; p < xi->h * xi->w; ++p) acc += x[p * xi->c + oc];
          count = (int32_t)(xi->h * xi->w);
        } else {
          for (uint32_t ky = 0; ky < op->kernel_h; ++ky) {
            for (uint32_t kx = 0; kx < op->kernel_w; ++kx) {
              int32_t iy = (int32_t)(oy * op->stride_h + ky * op->dilation_h) -
                           op->pad_top;
              int32_t ix = (int32_t)(ox * op->stride_w + kx * op->dilation_w) -
                           op->pad_left;
              if (iy < 0 || ix < 0 || iy >= (int32_t)xi->h ||
                  ix >= (int32_t)xi->w) {
                continue;
              }
              const int8_t* px =
                  x + ((uint32_t)iy * xi->w + (uint32_t)ix) * xi->c;
              uint32_t tap = ky * op->kernel_w + kx;
              if (op->type == TN_OP_CONV2D) {
                for (uint32_t ic = 0; ic < xi->c; ++ic) {
                  acc +=
                      (int64_t)(px[ic] - zx) *
                      weight(m, op,
                             (oc * op->kernel_h * op->kernel_w + tap) * xi->c +
                                 ic);
                }
              } else if (op->type == TN_OP_DWCONV2D) {
                acc += (int64_t)(px[oc] - zx) * weight(m, op, tap * xi->c + oc);
              } else if (op->type == TN_OP_MAXPOOL) {
                if (px[oc] > best) best = px[oc];
              } else { /* AVGPOOL */
                acc += px[oc];
                ++count;
              }
            }
          }
        }
        int32_t v;
        if (op->type == TN_OP_MAXPOOL) {
          v = best;
        } else if (op->type == TN_OP_AVGPOOL ||
                   op->type == TN_OP_GLOBAL_AVGPOOL) {
          int64_t a = acc >= 0 ? acc : -acc;
          int64_t r = (a + count / 2) / count; /* half away from zero */
          v = (int32_t)(acc >= 0 ? r : -r);
        } else {
          v = zy + ref_requant((int32_t)(acc + q[oc]), q[yo->c + oc],
                               q[2 * yo->c + oc]);
        }
        y[(oy * yo->w + ox) * yo->c + oc] = clamp8(v, op->act_min, op->act_max);
      }
    }
  }
}

/* FP32 reference of the tail ops, sums ascending from +0 then bias. */
static void ref_tail_op(const fixture_model* m, uint32_t index, float* const* t,
                        int8_t* const* q8) {
  const tn_op_desc* op = &m->ops[index];
  const tn_tensor_desc* xi = &m->tensors[op->input0];
  const tn_tensor_desc* yo = &m->tensors[op->output];
  float* y = t[op->output];
  const float* p = m->params + op->weights_offset / 4;
  if (op->type == TN_OP_DEQUANTIZE) {
    for (uint32_t i = 0; i < xi->h * xi->w * xi->c; ++i) {
      y[i] = xi->scale * (float)(q8[op->input0][i] - xi->zero_point);
    }
    return;
  }
  const float* x = t[op->input0];
  if (op->type == TN_OP_RELU_F32) {
    for (uint32_t i = 0; i < xi->h * xi->w * xi->c; ++i) {
      y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
  } else if (op->type == TN_OP_PWCONV_F32 || op->type == TN_OP_FC_F32) {
    uint32_t k = op->type == TN_OP_FC_F32 ? xi->h * xi->w * xi->c : xi->c;
    uint32_t pixels = op->type == TN_OP_FC_F32 ? 1 : xi->h * xi->w;
    for (uint32_t px = 0; px < pixels; ++px) {
      for (uint32_t o = 0; o < yo->c; ++o) {
        float s = 0.0f;
        for (uint32_t i = 0; i < k; ++i) s += p[o * k + i] * x[px * k + i];
        y[px * yo->c + o] = s + p[yo->c * k + o];
      }
    }
  } else { /* AVGPOOL_F32 */
    for (uint32_t oy = 0; oy < yo->h; ++oy) {
      for (uint32_t ox = 0; ox < yo->w; ++ox) {
        for (uint32_t c = 0; c < yo->c; ++c) {
          float s = 0.0f;
          for (uint32_t ky = 0; ky < op->kernel_h; ++ky) {
            for (uint32_t kx = 0; kx < op->kernel_w; ++kx) {
              s += x[((oy * op->stride_h + ky) * xi->w + ox * op->stride_w +
                      kx) *
                         xi->c +
                     c];
            }
          }
          y[(oy * yo->w + ox) * yo->c + c] =
              s / (float)(op->kernel_h * op->kernel_w);
        }
      }
    }
  }
}

/* Runs the reference over the whole model: int8 tensors in `q8` (each
 * REF_MAX bytes), FP32 tensors in `f32`. */
#define REF_MAX 4096
static int8_t g_ref8[FX_MAX_TENSORS][REF_MAX];
static float g_ref32[FX_MAX_TENSORS][REF_MAX / 4];

static void run_reference(const fixture_model* m, const int8_t* input) {
  int8_t* q8[FX_MAX_TENSORS];
  float* f32[FX_MAX_TENSORS];
  for (uint32_t i = 0; i < FX_MAX_TENSORS; ++i) {
    q8[i] = g_ref8[i];
    f32[i] = g_ref32[i];
  }
  const tn_tensor_desc* in = &m->tensors[m->graph.input_tensor];
  memcpy(q8[m->graph.input_tensor], input, in->h * in->w * in->c);
  for (uint32_t i = 0; i < m->graph.op_count; ++i) {
    uint8_t type = m->ops[i].type;
    if (type == TN_OP_DEQUANTIZE || type >= TN_OP_PWCONV_F32) {
      ref_tail_op(m, i, f32, q8);
    } else {
      ref_op(m, i, q8);
    }
  }
}

/* ---- Helpers ----------------------------------------------------------- */

static void random_input(int8_t* x, uint32_t n, uint64_t seed) {
  tn_rng rng;
  tn_rng_seed(&rng, seed, 3);
  for (uint32_t i = 0; i < n; ++i) x[i] = (int8_t)tn_rng_range(&rng, -128, 127);
}

static tn_status load(tn_target target, const tn_plan_options* plan_options,
                      const void* canary_in, const void* canary_out,
                      tn_blob* blob) {
  tn_status st =
      tn_plan_memory(&g_model.graph, g_model.has_tail ? &g_model.tail : NULL,
                     target, plan_options, g_model.placements, g_model.tiles,
                     &g_model.plan, &g_model.report);
  if (st != TN_OK) return st;
  st = fx_build(&g_model, target, 0, canary_in, canary_out, g_blob,
                sizeof(g_blob), &g_size);
  if (st != TN_OK) return st;
  return tn_blob_parse(g_blob, g_size, NULL, blob);
}

static tn_status start(tn_model* model, const tn_blob* blob, int tiled,
                       uint64_t* arena) {
  tn_model_options opt = {(uint8_t)tiled};
  size_t need = 0;
  tn_status st = tn_model_arena_size(blob, &opt, &need);
  if (st != TN_OK) return st;
  if (need > sizeof(g_arena)) return TN_ERR_BUFFER_TOO_SMALL;
  return tn_model_init(model, blob, arena, need, &opt);
}

static tn_status infer(tn_model* model, const int8_t* x) {
  tn_tensor_view in;
  tn_status st = tn_model_input(model, &in);
  if (st != TN_OK) return st;
  memcpy(in.data, x, in.bytes);
  return tn_model_run(model);
}

/* ---- Tests ------------------------------------------------------------- */

TN_TEST(golden_conv_relu_pool_fc) {
  fx_small_cnn(&g_model, 41, 0);
  tn_blob blob;
  TN_REQUIRE(load(TN_TARGET_GAP9, NULL, NULL, NULL, &blob) == TN_OK);
  tn_model model;
  TN_REQUIRE(start(&model, &blob, 0, g_arena) == TN_OK);
  int8_t x[240];
  for (uint64_t sample = 0; sample < 8; ++sample) {
    random_input(x, sizeof(x), 100 + sample);
    TN_REQUIRE(infer(&model, x) == TN_OK);
    run_reference(&g_model, x);
    tn_tensor_view out;
    TN_REQUIRE(tn_model_output(&model, &out) == TN_OK);
    TN_CHECK_EQ(out.bytes, 4);
    TN_CHECK(memcmp(out.data, g_ref8[g_model.graph.output_tensor], 4) == 0);
    if (sample == 0) tn_test_digest("exec.golden.logits", out.data, out.bytes);
  }
  /* The reference exercised more than the clamp: some ReLU outputs are
   * positive and the logits differ. */
  const int8_t* conv = g_ref8[1];
  int positive = 0;
  for (int i = 0; i < 640; ++i)
    positive += conv[i] > g_model.tensors[1].zero_point;
  TN_CHECK(positive > 50);
}

TN_TEST(golden_every_int8_op) {
  fixture_model* m = &g_model;
  fx_init(m, 42, 9, 9, 4);
  uint16_t x0 = m->graph.input_tensor;
  uint16_t a = fx_conv(m, TN_OP_CONV2D, x0, 8, 3, 2, 1, 4, -128, 127);
  uint16_t b = fx_conv(m, TN_OP_DWCONV2D, a, 8, 3, 1, 1, 2, -100, 100);
  uint16_t c = fx_conv(m, TN_OP_PWCONV, b, 8, 1, 1, 0, 8, -128, 127);
  uint16_t d = fx_add(m, a, c);
  uint16_t e = fx_pool(m, TN_OP_AVGPOOL, d, 3, 1, 1);
  uint16_t f = fx_global_avgpool(m, e);
  uint16_t g = fx_reshape(m, f, 1, 1, 8);
  uint16_t h = fx_fc(m, g, 5, 8);
  uint16_t sm = fx_softmax(m, h);
  fx_finish(m, sm);
  tn_blob blob;
  TN_REQUIRE(load(TN_TARGET_GAP8, NULL, NULL, NULL, &blob) == TN_OK);
  tn_model model;
  TN_REQUIRE(start(&model, &blob, 0, g_arena) == TN_OK);
  int8_t x[9 * 9 * 4];
  random_input(x, sizeof(x), 7);
  TN_REQUIRE(infer(&model, x) == TN_OK);
  run_reference(m, x);
  /* Every int8 op up to the FC equals the reference; the softmax (the
   * kernels room tests its arithmetic) yields probabilities in 1/256 that
   * sum to about one and keep the FC's arg-max. */
  tn_tensor_view fc;
  TN_REQUIRE(tn_model_tensor(&model, h, &fc) == TN_OK);
  TN_CHECK(memcmp(fc.data, g_ref8[h], 5) == 0);
  tn_tensor_view out;
  TN_REQUIRE(tn_model_output(&model, &out) == TN_OK);
  const int8_t* p = (const int8_t*)out.data;
  int32_t sum = 0, best = 0;
  for (int i = 0; i < 5; ++i) {
    sum += p[i] + 128;
    if (g_ref8[h][i] > g_ref8[h][best]) best = i;
  }
  TN_CHECK(sum >= 250 && sum <= 262);
  for (int i = 0; i < 5; ++i) TN_CHECK(p[i] <= p[best]);
  tn_test_digest("exec.every_op.fc", fc.data, fc.bytes);
  tn_test_digest("exec.every_op.softmax", out.data, out.bytes);
}

/* A model whose layers are all forced into several tiles by a tiny L1
 * budget: 4- and 2-bit weights with channel slices that start mid-byte,
 * depthwise channel slices, halos with padding, pools, add, FC. */
static void tiling_model(fixture_model* m) {
  fx_init(m, 43, 14, 12, 6);
  uint16_t x0 = m->graph.input_tensor;
  uint16_t a = fx_conv(m, TN_OP_CONV2D, x0, 10, 3, 1, 1, 4, -128, 127);
  uint16_t b = fx_conv(m, TN_OP_DWCONV2D, a, 10, 3, 1, 1, 2, -128, 127);
  uint16_t c = fx_conv(m, TN_OP_PWCONV, b, 10, 1, 1, 0, 4, -128, 127);
  uint16_t d = fx_add(m, a, c);
  uint16_t e = fx_pool(m, TN_OP_AVGPOOL, d, 3, 1, 1);
  uint16_t g = fx_global_avgpool(m, e);
  uint16_t f = fx_pool(m, TN_OP_MAXPOOL, e, 2, 2, 0);
  uint16_t h = fx_fc(m, f, 10, 4);
  uint16_t y = fx_add(m, h, g);
  fx_finish(m, y);
}

TN_TEST(tiled_equals_untiled) {
  tiling_model(&g_model);
  tn_plan_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.l1_budget = 1500;
  tn_blob blob;
  TN_REQUIRE(load(TN_TARGET_GAP8, &opt, NULL, NULL, &blob) == TN_OK);
  /* Every op but the last (a tiny add) is split into several tiles: each
   * kind of tileable op goes through the tile path. */
  for (uint32_t i = 0; i + 1 < g_model.graph.op_count; ++i) {
    const tn_tensor_desc* out = &g_model.tensors[g_model.ops[i].output];
    TN_CHECK(g_model.tiles[i].tile_h < out->h ||
             g_model.tiles[i].tile_c < out->c);
  }
  tn_model whole, tiled;
  TN_REQUIRE(start(&whole, &blob, 0, g_arena) == TN_OK);
  TN_REQUIRE(start(&tiled, &blob, 1, g_arena2) == TN_OK);
  int8_t x[14 * 12 * 6];
  for (uint64_t sample = 0; sample < 3; ++sample) {
    random_input(x, sizeof(x), 300 + sample);
    TN_REQUIRE(infer(&whole, x) == TN_OK);
    TN_REQUIRE(infer(&tiled, x) == TN_OK);
    tn_tensor_view a, b;
    TN_REQUIRE(tn_model_output(&whole, &a) == TN_OK);
    TN_REQUIRE(tn_model_output(&tiled, &b) == TN_OK);
    TN_CHECK(memcmp(a.data, b.data, a.bytes) == 0);
    if (sample == 0) tn_test_digest("exec.tiled.out", b.data, b.bytes);
  }
  /* And both equal the reference. */
  random_input(x, sizeof(x), 999);
  run_reference(&g_model, x);
  TN_REQUIRE(infer(&tiled, x) == TN_OK);
  tn_tensor_view out;
  TN_REQUIRE(tn_model_output(&tiled, &out) == TN_OK);
  TN_CHECK(memcmp(out.data, g_ref8[g_model.graph.output_tensor], out.bytes) ==
           0);
}

TN_TEST(front_tail_split_and_replay) {
  fx_small_cnn(&g_model, 44, 1);
  tn_blob blob;
  TN_REQUIRE(load(TN_TARGET_HOST, NULL, NULL, NULL, &blob) == TN_OK);
  tn_model model;
  TN_REQUIRE(start(&model, &blob, 0, g_arena) == TN_OK);
  int8_t x[240];
  random_input(x, sizeof(x), 5);
  tn_tensor_view in, cut, out;
  TN_REQUIRE(tn_model_input(&model, &in) == TN_OK);
  memcpy(in.data, x, in.bytes);
  TN_REQUIRE(tn_model_run_front(&model) == TN_OK);
  TN_REQUIRE(tn_model_cut(&model, &cut) == TN_OK);
  run_reference(&g_model, x);
  TN_CHECK_EQ(cut.desc.dtype, TN_DTYPE_INT8);
  TN_CHECK(memcmp(cut.data, g_ref8[g_model.tail.cut_tensor], cut.bytes) == 0);
  TN_REQUIRE(tn_model_run_tail(&model) == TN_OK);
  TN_REQUIRE(tn_model_output(&model, &out) == TN_OK);
  TN_CHECK_EQ(out.desc.dtype, TN_DTYPE_FLOAT32);
  TN_CHECK_EQ(out.bytes, 16);
  TN_CHECK(memcmp(out.data, g_ref32[g_model.graph.output_tensor], 16) == 0);
  tn_test_digest("exec.tail.logits", out.data, out.bytes);

  /* A replayed latent written into the cut gives the tail's answer for it. */
  int8_t replay[160];
  random_input(replay, sizeof(replay), 6);
  memcpy(cut.data, replay, sizeof(replay));
  TN_REQUIRE(tn_model_run_tail(&model) == TN_OK);
  memcpy(g_ref8[g_model.tail.cut_tensor], replay, sizeof(replay));
  for (uint32_t i = g_model.tail.first_op; i < g_model.graph.op_count; ++i) {
    float* f32[FX_MAX_TENSORS];
    int8_t* q8[FX_MAX_TENSORS];
    for (uint32_t k = 0; k < FX_MAX_TENSORS; ++k) {
      f32[k] = g_ref32[k];
      q8[k] = g_ref8[k];
    }
    ref_tail_op(&g_model, i, f32, q8);
  }
  TN_CHECK(memcmp(out.data, g_ref32[g_model.graph.output_tensor], 16) == 0);
  tn_test_digest("exec.replay.logits", out.data, out.bytes);

  /* An int8-only model has no cut. */
  fx_small_cnn(&g_model, 45, 0);
  TN_REQUIRE(load(TN_TARGET_HOST, NULL, NULL, NULL, &blob) == TN_OK);
  TN_REQUIRE(start(&model, &blob, 0, g_arena) == TN_OK);
  TN_CHECK_STATUS(tn_model_cut(&model, &cut), TN_ERR_NOT_FOUND);
  TN_CHECK_STATUS(tn_model_run_tail(&model), TN_ERR_NOT_FOUND);
}

TN_TEST(tail_trains_in_place_with_the_train_room) {
  fx_small_cnn(&g_model, 46, 1);
  tn_blob blob;
  TN_REQUIRE(load(TN_TARGET_GAP9, NULL, NULL, NULL, &blob) == TN_OK);
  tn_model model;
  TN_REQUIRE(start(&model, &blob, 0, g_arena) == TN_OK);
  TN_CHECK_EQ(tn_model_tail_layer_count(&model), 2);
  tn_tail_view v;
  TN_REQUIRE(tn_model_tail_layer(&model, 1, &v) == TN_OK);
  TN_CHECK_EQ(v.type, TN_OP_FC_F32);
  TN_CHECK_EQ(v.weight_count, 4u * 24u);
  TN_CHECK_EQ(v.bias_count, 4);
  TN_CHECK_STATUS(tn_model_tail_layer(&model, 2, &v), TN_ERR_NOT_FOUND);

  /* The training room's tail over the same parameters computes the same
   * logits as the executor. */
  tn_tail_layer layers[TN_TAIL_MAX_LAYERS];
  uint32_t count = 0, params_n = 0;
  tn_train_shape shape;
  float* params = NULL;
  TN_REQUIRE(tn_model_tail_spec(&model, layers, TN_TAIL_MAX_LAYERS, &count,
                                &shape, &params, &params_n) == TN_OK);
  TN_CHECK_EQ(count, 4);
  static tn_tail tail;
  TN_REQUIRE(tn_tail_init(&tail, layers, count, shape) == TN_OK);
  tn_tail_sizes sizes;
  TN_REQUIRE(tn_tail_buffer_sizes(&tail, &sizes) == TN_OK);
  TN_CHECK_EQ(sizes.params, 4u * params_n);
  static float grads[4096], acts[4096], scratch[4096];
  TN_REQUIRE(sizes.grads <= sizeof(grads) &&
             sizes.activations <= sizeof(acts) &&
             sizes.scratch <= sizeof(scratch));
  tn_tail_buffers buf = {params, grads, NULL, acts, scratch, sizes};
  TN_REQUIRE(tn_tail_bind(&tail, &buf) == TN_OK);

  int8_t x[240];
  random_input(x, sizeof(x), 8);
  TN_REQUIRE(infer(&model, x) == TN_OK);
  tn_tensor_view out;
  TN_REQUIRE(tn_model_output(&model, &out) == TN_OK);
  static float latent[160];
  TN_CHECK_STATUS(tn_model_cut_f32(&model, latent, 10),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_REQUIRE(tn_model_cut_f32(&model, latent, 160) == TN_OK);
  const float* logits = NULL;
  TN_REQUIRE(tn_tail_forward(&tail, latent, &logits) == TN_OK);
  TN_CHECK(memcmp(logits, out.data, 16) == 0);

  /* One SGD step through the train room changes what the executor runs. */
  float before[4];
  memcpy(before, out.data, sizeof(before));
  TN_REQUIRE(tn_tail_zero_grad(&tail) == TN_OK);
  TN_REQUIRE(tn_tail_train_sample(&tail, latent, 2, NULL) == TN_OK);
  tn_sgd_params sgd = {0.5f, 0.0f, 0.0f, 0.0f, 1.0f};
  TN_REQUIRE(tn_tail_step(&tail, &sgd, NULL) == TN_OK);
  TN_REQUIRE(tn_model_run_tail(&model) == TN_OK);
  TN_CHECK(memcmp(before, out.data, sizeof(before)) != 0);
  /* Class 2's logit went up relative to the others' mean. */
  const float* after = (const float*)out.data;
  TN_CHECK(after[2] - before[2] > 0.0f);
  tn_test_digest("exec.trained.logits", out.data, out.bytes);
}

TN_TEST(canary_self_test) {
  fx_small_cnn(&g_model, 47, 1);
  tn_blob blob;
  TN_REQUIRE(load(TN_TARGET_GAP9, NULL, NULL, NULL, &blob) == TN_OK);
  tn_model model;
  TN_REQUIRE(start(&model, &blob, 0, g_arena) == TN_OK);
  TN_CHECK_STATUS(tn_model_self_test(&model), TN_ERR_NOT_FOUND);
  int8_t x[240];
  random_input(x, sizeof(x), 9);
  TN_REQUIRE(infer(&model, x) == TN_OK);
  float expected[4];
  tn_tensor_view out;
  TN_REQUIRE(tn_model_output(&model, &out) == TN_OK);
  memcpy(expected, out.data, sizeof(expected));

  TN_REQUIRE(load(TN_TARGET_GAP9, NULL, x, expected, &blob) == TN_OK);
  TN_REQUIRE(start(&model, &blob, 0, g_arena) == TN_OK);
  TN_CHECK_STATUS(tn_model_self_test(&model), TN_OK);
  /* A wrong expected value (last byte of the blob's canary section). */
  expected[3] += 1.0f;
  TN_REQUIRE(load(TN_TARGET_GAP9, NULL, x, expected, &blob) == TN_OK);
  TN_REQUIRE(start(&model, &blob, 0, g_arena) == TN_OK);
  TN_CHECK_STATUS(tn_model_self_test(&model), TN_ERR_SELFTEST);
}

TN_TEST(arena_contract) {
  fx_small_cnn(&g_model, 48, 1);
  tn_blob blob;
  TN_REQUIRE(load(TN_TARGET_GAP9, NULL, NULL, NULL, &blob) == TN_OK);
  size_t need = 0;
  TN_REQUIRE(tn_model_arena_size(&blob, NULL, &need) == TN_OK);
  TN_CHECK(need >=
           blob.l2_arena_bytes + blob.quant_size + blob.tail_param_bytes);
  tn_model model;
  TN_CHECK_STATUS(tn_model_init(&model, &blob, g_arena, need - 1, NULL),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(
      tn_model_init(&model, &blob, (uint8_t*)g_arena + 4, need, NULL),
      TN_ERR_ARG);
  TN_CHECK_STATUS(tn_model_init(&model, &blob, g_arena, need, NULL), TN_OK);
  uint64_t fields[1] = {need};
  tn_test_digest("exec.arena_size", fields, sizeof(fields));
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(golden_conv_relu_pool_fc),
      TN_CASE(golden_every_int8_op),
      TN_CASE(tiled_equals_untiled),
      TN_CASE(front_tail_split_and_replay),
      TN_CASE(tail_trains_in_place_with_the_train_room),
      TN_CASE(canary_self_test),
      TN_CASE(arena_contract),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
