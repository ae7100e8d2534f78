/*
 * Tests of the trainable tail: layer-list validation and buffer sizing,
 * binding errors, a seven-layer tail (every layer type) equal bit for bit
 * to the same chain of operators called by hand, frozen layers, and a small
 * FC-ReLU-FC network trained inside the test to at least 95% accuracy on a
 * synthetic separable four-class problem generated with tn_rng.
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train.h"
#include "train_test_util.h"

/* Layer-list helpers. */
static tn_tail_layer layer(uint8_t op, uint16_t out_c, uint8_t k, uint8_t s,
                           uint8_t pad) {
  tn_tail_layer l;
  memset(&l, 0, sizeof(l));
  l.op = op;
  l.out_c = out_c;
  l.kernel_h = l.kernel_w = k;
  l.stride_h = l.stride_w = s;
  l.pad_top = l.pad_bottom = l.pad_left = l.pad_right = pad;
  return l;
}

static float g_params[2048], g_grads[2048], g_mom[2048], g_acts[2048],
    g_scratch[512];

static tn_tail_buffers all_buffers(void) {
  tn_tail_buffers b = {g_params,
                       g_grads,
                       g_mom,
                       g_acts,
                       g_scratch,
                       {sizeof(g_params), sizeof(g_grads), sizeof(g_mom),
                        sizeof(g_acts), sizeof(g_scratch)}};
  return b;
}

TN_TEST(init_validates_and_sizes) {
  tn_tail t;
  const tn_train_shape in = {5, 4, 3};
  tn_tail_layer ls[3] = {layer(TN_TAIL_POINTWISE, 8, 0, 0, 0),
                         layer(TN_TAIL_RELU, 0, 0, 0, 0),
                         layer(TN_TAIL_FC, 4, 0, 0, 0)};
  TN_CHECK_STATUS(tn_tail_init(&t, ls, 3, in), TN_OK);
  tn_tail_sizes s;
  TN_CHECK_STATUS(tn_tail_buffer_sizes(&t, &s), TN_OK);
  /* pointwise 3->8: 24 + 8; FC 160->4: 640 + 4. */
  TN_CHECK_EQ(s.params, 4 * (24 + 8 + 640 + 4));
  TN_CHECK_EQ(s.grads, s.params);
  /* pointwise output 160 floats (ReLU in place), FC output 4. */
  TN_CHECK_EQ(s.activations, 4 * (160 + 4));
  TN_CHECK_EQ(s.scratch, 2 * 4 * 160);
  tn_train_shape os = tn_tail_output_shape(&t);
  TN_CHECK(os.h == 1 && os.w == 1 && os.c == 4);

  /* Bad lists. */
  TN_CHECK_STATUS(tn_tail_init(&t, ls, 0, in), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_tail_init(&t, ls, TN_TAIL_MAX_LAYERS + 1, in), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_tail_init(NULL, ls, 3, in), TN_ERR_NULL);
  tn_tail_layer bad[2] = {layer(99, 4, 0, 0, 0),
                          layer(TN_TAIL_RELU, 0, 0, 0, 0)};
  TN_CHECK_STATUS(tn_tail_init(&t, bad, 2, in), TN_ERR_ARG);
  bad[0] = layer(TN_TAIL_DEPTHWISE, 0, 3, 1, 3); /* pad >= kernel */
  TN_CHECK_STATUS(tn_tail_init(&t, bad, 1, in), TN_ERR_ARG);
  bad[0] = layer(TN_TAIL_AVGPOOL, 0, 6, 1, 0); /* window > input */
  TN_CHECK_STATUS(tn_tail_init(&t, bad, 1, in), TN_ERR_ARG);
  bad[0] = layer(TN_TAIL_FC, 0, 0, 0, 0);
  TN_CHECK_STATUS(tn_tail_init(&t, bad, 1, in), TN_ERR_ARG);
  const tn_train_shape none = {0, 4, 3};
  TN_CHECK_STATUS(tn_tail_init(&t, ls, 3, none), TN_ERR_ARG);
  /* A failed init leaves an unusable tail. */
  TN_CHECK_STATUS(tn_tail_buffer_sizes(&t, &s), TN_ERR_STATE);

  /* Binding. */
  TN_CHECK_STATUS(tn_tail_init(&t, ls, 3, in), TN_OK);
  float x[60] = {0};
  TN_CHECK_STATUS(tn_tail_forward(&t, x, NULL), TN_ERR_STATE); /* unbound */
  tn_tail_buffers b = all_buffers();
  b.sizes.activations = 4 * 100;
  TN_CHECK_STATUS(tn_tail_bind(&t, &b), TN_ERR_BUFFER_TOO_SMALL);
  b = all_buffers();
  b.scratch = NULL;
  TN_CHECK_STATUS(tn_tail_bind(&t, &b), TN_ERR_NULL);
  b = all_buffers();
  b.params = (float*)(void*)((char*)g_params + 2);
  TN_CHECK_STATUS(tn_tail_bind(&t, &b), TN_ERR_ARG);
  b = all_buffers();
  TN_CHECK_STATUS(tn_tail_bind(&t, &b), TN_OK);
  float g[4] = {0};
  TN_CHECK_STATUS(tn_tail_backward(&t, g, NULL), TN_ERR_STATE);
  float* w;
  float* bias;
  uint32_t nw, nb;
  TN_CHECK_STATUS(tn_tail_layer_params(&t, 2, &w, &nw, &bias, &nb), TN_OK);
  TN_CHECK(w == g_params + 32 && nw == 640 && bias == g_params + 672 &&
           nb == 4);
  TN_CHECK_STATUS(tn_tail_layer_params(&t, 1, &w, &nw, &bias, &nb), TN_OK);
  TN_CHECK(w == NULL && nw == 0 && bias == NULL && nb == 0);
  TN_CHECK_STATUS(tn_tail_layer_params(&t, 3, &w, &nw, &bias, &nb), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_tail_train_sample(&t, x, 4, NULL), TN_ERR_ARG);
  /* Momentum step without a momentum buffer. */
  b.momentum = NULL;
  TN_CHECK_STATUS(tn_tail_bind(&t, &b), TN_OK);
  tn_sgd_params sp = {0.1f, 0.9f, 0.0f, 0.0f, 1.0f};
  TN_CHECK_STATUS(tn_tail_step(&t, &sp, NULL), TN_ERR_NULL);
}

TN_TEST(tail_equals_operator_chain) {
  /* 5x4x3 -> conv2d 6 (3x3, pad 1) -> relu -> depthwise (3x3, stride 2,
   * pad 1) -> avgpool 2x2 stride 1 -> pointwise 5 -> relu -> gap -> fc 3. */
  const tn_train_shape in = {5, 4, 3};
  const tn_tail_layer ls[8] = {layer(TN_TAIL_CONV2D, 6, 3, 1, 1),
                               layer(TN_TAIL_RELU, 0, 0, 0, 0),
                               layer(TN_TAIL_DEPTHWISE, 0, 3, 2, 1),
                               layer(TN_TAIL_AVGPOOL, 0, 2, 1, 0),
                               layer(TN_TAIL_POINTWISE, 5, 0, 0, 0),
                               layer(TN_TAIL_RELU, 0, 0, 0, 0),
                               layer(TN_TAIL_GLOBAL_AVGPOOL, 0, 0, 0, 0),
                               layer(TN_TAIL_FC, 3, 0, 0, 0)};
  tn_tail t;
  TN_REQUIRE(tn_tail_init(&t, ls, 8, in) == TN_OK);
  tn_tail_buffers bufs = all_buffers();
  TN_REQUIRE(tn_tail_bind(&t, &bufs) == TN_OK);
  tn_rng rng;
  tn_rng_seed(&rng, 31, 1);
  tn_tail_sizes s;
  TN_REQUIRE(tn_tail_buffer_sizes(&t, &s) == TN_OK);
  const uint32_t np = (uint32_t)(s.params / 4);
  fill_uniform(&rng, g_params, np, -0.6f, 0.6f);
  float x[60];
  fill_uniform(&rng, x, 60, -1.0f, 1.0f);
  TN_CHECK_STATUS(tn_tail_zero_grad(&t), TN_OK);
  float loss;
  TN_CHECK_STATUS(tn_tail_train_sample(&t, x, 1, &loss), TN_OK);
  static float tail_grads[2048];
  memcpy(tail_grads, g_grads, s.params);
  const float* tail_out;
  TN_CHECK_STATUS(tn_tail_forward(&t, x, &tail_out), TN_OK);
  float out_copy[3];
  memcpy(out_copy, tail_out, sizeof(out_copy));

  /* The same chain by hand with the reference operators. */
  float *w[8], *b[8];
  uint32_t nw[8], nb[8];
  for (uint32_t i = 0; i < 8; ++i) {
    TN_REQUIRE(tn_tail_layer_params(&t, i, &w[i], &nw[i], &b[i], &nb[i]) ==
               TN_OK);
  }
  const tn_train_conv c0 = {{5, 4, 3}, 6, 3, 3, 1, 1, 1, 1, 1, 1};
  const tn_train_conv c2 = {{5, 4, 6}, 0, 3, 3, 2, 2, 1, 1, 1, 1};
  const tn_train_pool p3 = {{3, 2, 6}, 2, 2, 1, 1};
  const tn_train_pointwise p4 = {{2, 1, 6}, 5};
  const tn_train_shape s6 = {2, 1, 5};
  const tn_train_fc f7 = {5, 3};
  float a0[120], a1[120], a2[36], a3[12], a4[10], a5[10], a6[5], a7[3];
  TN_CHECK_STATUS(tn_conv2d_forward_f32(&c0, x, w[0], b[0], a0), TN_OK);
  TN_CHECK_STATUS(tn_relu_forward_f32(120, a0, a1), TN_OK);
  TN_CHECK_STATUS(tn_dwconv2d_forward_f32(&c2, a1, w[2], b[2], a2), TN_OK);
  TN_CHECK_STATUS(tn_avgpool_forward_f32(&p3, a2, a3), TN_OK);
  TN_CHECK_STATUS(tn_pointwise_forward_f32(&p4, a3, w[4], b[4], a4), TN_OK);
  TN_CHECK_STATUS(tn_relu_forward_f32(10, a4, a5), TN_OK);
  TN_CHECK_STATUS(tn_global_avgpool_forward_f32(s6, a5, a6), TN_OK);
  TN_CHECK_STATUS(tn_fc_forward_f32(&f7, a6, w[7], b[7], a7), TN_OK);
  TN_CHECK(memcmp(a7, out_copy, sizeof(a7)) == 0);

  static float hg[2048];
  memset(hg, 0, sizeof(hg));
  float* gw[8];
  for (uint32_t i = 0; i < 8; ++i) gw[i] = hg + (w[i] ? w[i] - g_params : 0);
  float l2, d7[3], d6[5], d5[10], d4[10], d3[12], d2[36], d1[120], d0[120];
  TN_CHECK_STATUS(tn_softmax_xent_f32(3, a7, 1, &l2, d7, NULL), TN_OK);
  TN_CHECK(l2 == loss);
  TN_CHECK_STATUS(
      tn_fc_backward_f32(&f7, a6, w[7], d7, d6, gw[7], gw[7] + nw[7]), TN_OK);
  TN_CHECK_STATUS(tn_global_avgpool_backward_f32(s6, d6, d5), TN_OK);
  TN_CHECK_STATUS(tn_relu_backward_f32(10, a5, d5, d4), TN_OK);
  TN_CHECK_STATUS(
      tn_pointwise_backward_f32(&p4, a3, w[4], d4, d3, gw[4], gw[4] + nw[4]),
      TN_OK);
  TN_CHECK_STATUS(tn_avgpool_backward_f32(&p3, d3, d2), TN_OK);
  TN_CHECK_STATUS(
      tn_dwconv2d_backward_f32(&c2, a1, w[2], d2, d1, gw[2], gw[2] + nw[2]),
      TN_OK);
  TN_CHECK_STATUS(tn_relu_backward_f32(120, a1, d1, d0), TN_OK);
  float dx[60];
  TN_CHECK_STATUS(
      tn_conv2d_backward_f32(&c0, x, w[0], d0, dx, gw[0], gw[0] + nw[0]),
      TN_OK);
  TN_CHECK(memcmp(hg, tail_grads, s.params) == 0);

  /* The tail's input gradient, when asked for, equals dx. */
  float tail_dx[60];
  TN_CHECK_STATUS(tn_tail_backward(&t, d7, tail_dx), TN_OK);
  TN_CHECK(memcmp(tail_dx, dx, sizeof(dx)) == 0);
  tn_test_digest("chain.out", out_copy, sizeof(out_copy));
  tn_test_digest("chain.grads", tail_grads, s.params);
  tn_test_digest("chain.grad_input", tail_dx, sizeof(tail_dx));
}

TN_TEST(frozen_layers_keep_their_weights) {
  const tn_train_shape in = {1, 1, 6};
  tn_tail_layer ls[3] = {layer(TN_TAIL_FC, 5, 0, 0, 0),
                         layer(TN_TAIL_RELU, 0, 0, 0, 0),
                         layer(TN_TAIL_FC, 3, 0, 0, 0)};
  ls[0].frozen = 1;
  tn_tail t;
  TN_REQUIRE(tn_tail_init(&t, ls, 3, in) == TN_OK);
  tn_tail_buffers bufs = all_buffers();
  TN_REQUIRE(tn_tail_bind(&t, &bufs) == TN_OK);
  tn_rng rng;
  tn_rng_seed(&rng, 32, 1);
  fill_uniform(&rng, g_params, 53, -0.8f, 0.8f);
  memset(g_mom, 0, sizeof(g_mom));
  float before[53];
  memcpy(before, g_params, sizeof(before));
  float x[6];
  fill_uniform(&rng, x, 6, -1.0f, 1.0f);
  TN_CHECK_STATUS(tn_tail_zero_grad(&t), TN_OK);
  TN_CHECK_STATUS(tn_tail_train_sample(&t, x, 2, NULL), TN_OK);
  for (int i = 0; i < 35; ++i) TN_CHECK(g_grads[i] == 0.0f);
  int nonzero = 0;
  for (int i = 35; i < 53; ++i) nonzero += g_grads[i] != 0.0f;
  TN_CHECK(nonzero > 0);
  tn_sgd_params sp = {0.1f, 0.9f, 0.01f, 0.0f, 1.0f};
  TN_CHECK_STATUS(tn_tail_step(&t, &sp, NULL), TN_OK);
  TN_CHECK(memcmp(before, g_params, 35 * sizeof(float)) == 0);
  TN_CHECK(memcmp(before + 35, g_params + 35, 18 * sizeof(float)) != 0);
  /* A non-finite gradient stops the step before any change. */
  memcpy(before, g_params, sizeof(before));
  g_grads[40] = tn_f32_from_bits(0x7fc00000u);
  TN_CHECK_STATUS(tn_tail_step(&t, &sp, NULL), TN_ERR_NUMERIC);
  TN_CHECK(memcmp(before, g_params, sizeof(before)) == 0);
  tn_test_digest("frozen.params", g_params, 53 * sizeof(float));
}

/* Synthetic four-class problem: class centres in [-1, 1]^8, samples are a
 * centre plus noise (0.85 times a sum of three uniforms: std ~0.43). */
enum { kDim = 8, kClasses = 4, kTrain = 256, kTest = 200 };

static void make_dataset(tn_rng* rng, float centres[kClasses][kDim], float* x,
                         uint32_t* y, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t c = tn_rng_below(rng, kClasses);
    y[i] = c;
    for (uint32_t d = 0; d < kDim; ++d) {
      float u = tn_rng_unit_f32(rng) + tn_rng_unit_f32(rng) +
                tn_rng_unit_f32(rng) - 1.5f;
      x[i * kDim + d] = centres[c][d] + 0.85f * u;
    }
  }
}

static uint32_t correct_count(tn_tail* t, const float* x, const uint32_t* y,
                              uint32_t n) {
  uint32_t ok = 0;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t p;
    if (tn_tail_predict(t, x + i * kDim, &p) == TN_OK && p == y[i]) ++ok;
  }
  return ok;
}

TN_TEST(small_network_learns_toy_problem) {
  static float xtr[kTrain * kDim], xte[kTest * kDim];
  static uint32_t ytr[kTrain], yte[kTest];
  float centres[kClasses][kDim];
  tn_rng rng;
  tn_rng_seed(&rng, 33, 1);
  fill_uniform(&rng, &centres[0][0], kClasses * kDim, -1.0f, 1.0f);
  make_dataset(&rng, centres, xtr, ytr, kTrain);
  make_dataset(&rng, centres, xte, yte, kTest);

  const tn_train_shape in = {1, 1, kDim};
  const tn_tail_layer ls[3] = {layer(TN_TAIL_FC, 16, 0, 0, 0),
                               layer(TN_TAIL_RELU, 0, 0, 0, 0),
                               layer(TN_TAIL_FC, kClasses, 0, 0, 0)};
  tn_tail t;
  TN_REQUIRE(tn_tail_init(&t, ls, 3, in) == TN_OK);
  tn_tail_buffers bufs = all_buffers();
  TN_REQUIRE(tn_tail_bind(&t, &bufs) == TN_OK);
  float *w0, *w2;
  uint32_t n0, n2;
  TN_REQUIRE(tn_tail_layer_params(&t, 0, &w0, &n0, NULL, NULL) == TN_OK);
  TN_REQUIRE(tn_tail_layer_params(&t, 2, &w2, &n2, NULL, NULL) == TN_OK);
  memset(g_params, 0, sizeof(g_params));
  memset(g_mom, 0, sizeof(g_mom));
  fill_uniform(&rng, w0, n0, -0.5f, 0.5f); /* ~ Glorot for 8 -> 16 */
  fill_uniform(&rng, w2, n2, -0.5f, 0.5f);

  const uint32_t before = correct_count(&t, xte, yte, kTest);
  const tn_sgd_params sp = {0.1f, 0.9f, 1e-4f, 0.0f, 1.0f / 8.0f};
  float epoch_loss[15];
  uint32_t order[kTrain];
  for (uint32_t i = 0; i < kTrain; ++i) order[i] = i;
  for (int epoch = 0; epoch < 15; ++epoch) {
    for (uint32_t i = kTrain; i > 1; --i) { /* shuffle */
      uint32_t j = tn_rng_below(&rng, i), tmp = order[i - 1];
      order[i - 1] = order[j];
      order[j] = tmp;
    }
    float sum = 0.0f;
    for (uint32_t start = 0; start < kTrain; start += 8) {
      TN_CHECK_STATUS(tn_tail_zero_grad(&t), TN_OK);
      for (uint32_t k = 0; k < 8; ++k) {
        const uint32_t s = order[start + k];
        float l;
        TN_CHECK_STATUS(tn_tail_train_sample(&t, xtr + s * kDim, ytr[s], &l),
                        TN_OK);
        sum += l;
      }
      TN_CHECK_STATUS(tn_tail_step(&t, &sp, NULL), TN_OK);
    }
    epoch_loss[epoch] = sum / (float)kTrain;
  }
  const uint32_t after = correct_count(&t, xte, yte, kTest);
  printf("  toy problem: test accuracy %u/%u before, %u/%u after training\n",
         (unsigned)before, (unsigned)kTest, (unsigned)after, (unsigned)kTest);
  TN_CHECK(after * 100u >= 95u * kTest); /* >= 95% */
  TN_CHECK(before * 100u < 60u * kTest); /* it was not solved at start */
  TN_CHECK(epoch_loss[14] < 0.5f * epoch_loss[0]);
  tn_test_digest("toy.epoch_loss", epoch_loss, sizeof(epoch_loss));
  tn_test_digest("toy.params", g_params, (n0 + 16 + n2 + kClasses) * 4);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(init_validates_and_sizes),
      TN_CASE(tail_equals_operator_chain),
      TN_CASE(frozen_layers_keep_their_weights),
      TN_CASE(small_network_learns_toy_problem),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
