/*
 * Tests of few-shot enrolment and self-learning (tn_train.h, "few-shot
 * enrolment and self-learning") on small synthetic embeddings whose answers
 * are worked out by hand: tail embeddings of a two-layer tail, leave-one-out
 * scores, the open-set threshold at the exact false-acceptance quantile,
 * pseudo-label acceptance by score and margin, self-learning from a few
 * enrolled examples, and the fine-tuning loop with and without latent
 * replay.
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train.h"
#include "train_test_util.h"

static float g_storage[2048];

static int near(float a, float b, float tol) {
  const float d = a - b;
  return d <= tol && -d <= tol;
}

/* The smallest float above a positive finite x. */
static float next_up_pos(float x) {
  return tn_f32_from_bits(tn_f32_bits(x) + 1u);
}

/* A tail bound to static buffers (sizes checked by tn_tail_bind). */
typedef struct test_tail {
  tn_tail t;
  float params[256], grads[256], momentum[256], acts[256], scratch[256];
} test_tail;

static tn_status make_tail(test_tail* tt, const tn_tail_layer* layers,
                           uint32_t n, tn_train_shape in) {
  tn_status st = tn_tail_init(&tt->t, layers, n, in);
  if (st != TN_OK) return st;
  memset(tt->params, 0, sizeof(tt->params));
  memset(tt->momentum, 0, sizeof(tt->momentum));
  tn_tail_buffers b = {tt->params, tt->grads,   tt->momentum,
                       tt->acts,   tt->scratch, {0, 0, 0, 0, 0}};
  b.sizes.params = b.sizes.grads = b.sizes.momentum = b.sizes.activations =
      b.sizes.scratch = sizeof(tt->params);
  return tn_tail_bind(&tt->t, &b);
}

static test_tail g_tail;

TN_TEST(embedding_is_the_layer_output) {
  /* FC 2->2, ReLU, FC 2->1. W0 = [[1, 2], [3, -4]], b0 = [0.5, 0]. The
   * ReLU works in place on the FC's output, so only the ReLU's own output
   * can be an embedding. */
  const tn_tail_layer layers[3] = {{TN_TAIL_FC, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0},
                                   {TN_TAIL_RELU, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
                                   {TN_TAIL_FC, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}};
  const tn_train_shape in = {1, 1, 2};
  TN_REQUIRE(make_tail(&g_tail, layers, 3, in) == TN_OK);
  const float w0[6] = {1.0f, 2.0f, 3.0f, -4.0f, 0.5f, 0.0f};
  memcpy(g_tail.params, w0, sizeof(w0));
  const float x[2] = {1.0f, 1.0f};
  float e[4];
  uint32_t dim = 0;
  TN_CHECK_STATUS(tn_tail_embed(&g_tail.t, x, 0, e, 4, &dim), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_tail_embed(&g_tail.t, x, 1, e, 4, &dim), TN_OK);
  TN_CHECK(dim == 2 && e[0] == 3.5f && e[1] == 0.0f);
  TN_CHECK_STATUS(tn_tail_embed(&g_tail.t, x, 2, e, 4, &dim), TN_OK);
  TN_CHECK(dim == 1 && e[0] == 0.0f); /* W1, b1 are zero */
  g_tail.params[6] = 2.0f;
  g_tail.params[7] = -1.0f;
  g_tail.params[8] = 0.25f;
  TN_CHECK_STATUS(tn_tail_embed(&g_tail.t, x, 2, e, 4, &dim), TN_OK);
  TN_CHECK(dim == 1 && e[0] == 7.25f); /* 2 * 3.5 - 1 * 0 + 0.25 */
  TN_CHECK_STATUS(tn_tail_embed(&g_tail.t, x, 1, e, 1, &dim),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_tail_embed(&g_tail.t, x, 3, e, 4, &dim), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_tail_embed(&g_tail.t, NULL, 0, e, 4, &dim), TN_ERR_NULL);
}

TN_TEST(leave_one_out_scores_by_hand) {
  tn_protos p;
  TN_REQUIRE(tn_protos_init(&p, 3, 2, g_storage, sizeof(g_storage)) == TN_OK);
  /* Class 0: directions 0, 90 and 45 degrees (any length). Without the
   * first, the rest sums to the 67.5-degree bisector of the other two. */
  const float a[2] = {2.0f, 0.0f}, b[2] = {0.0f, 3.0f}, c[2] = {0.5f, 0.5f};
  TN_REQUIRE(tn_protos_add_example(&p, 0, a) == TN_OK);
  TN_REQUIRE(tn_protos_add_example(&p, 0, b) == TN_OK);
  TN_REQUIRE(tn_protos_add_example(&p, 0, c) == TN_OK);
  float s;
  TN_CHECK_STATUS(tn_protos_loo_score(&p, 0, a, &s), TN_OK);
  TN_CHECK(near(s, 0.3826834f, 2e-6f)); /* cos 67.5 deg */
  TN_CHECK_STATUS(tn_protos_loo_score(&p, 0, b, &s), TN_OK);
  TN_CHECK(near(s, 0.3826834f, 2e-6f));
  TN_CHECK_STATUS(tn_protos_loo_score(&p, 0, c, &s), TN_OK); /* rest (1,1) */
  TN_CHECK(near(s, 1.0f, 2e-6f));
  /* One example: nothing is left once it is taken out. */
  TN_REQUIRE(tn_protos_add_example(&p, 1, a) == TN_OK);
  TN_CHECK_STATUS(tn_protos_loo_score(&p, 1, a, &s), TN_ERR_STATE);
  TN_CHECK_STATUS(tn_protos_loo_score(&p, 3, a, &s), TN_ERR_ARG);
  const float zero[2] = {0.0f, 0.0f};
  TN_CHECK_STATUS(tn_protos_loo_score(&p, 0, zero, &s), TN_ERR_NUMERIC);
}

/* Five dimensions. Class 0 examples (0.8, 0, +-0.6, 0, 0) sum to a
 * prototype along axis 0, class 1 examples (0, 0.6, 0, +-0.8, 0) to one
 * along axis 1; their leave-one-out scores are 0.64 - 0.36 = 0.28 and
 * 0.36 - 0.64 = -0.28. Negative i (1..20) is (s_i, 0, 0, 0, sqrt(1-s_i^2))
 * with s_i = i / 100: best score s_i (against class 0; 0 against class 1). */
enum { kNeg = 20, kDim5 = 5 };

static void enrol_axes(tn_protos* p, float ex[4][kDim5], uint32_t lab[4]) {
  memset(ex, 0, sizeof(float) * 4 * kDim5);
  ex[0][0] = 0.8f, ex[0][2] = 0.6f, lab[0] = 0;
  ex[1][0] = 0.8f, ex[1][2] = -0.6f, lab[1] = 0;
  ex[2][1] = 0.6f, ex[2][3] = 0.8f, lab[2] = 1;
  ex[3][1] = 0.6f, ex[3][3] = -0.8f, lab[3] = 1;
  for (uint32_t i = 0; i < 4; ++i) {
    TN_REQUIRE(tn_protos_add_example(p, lab[i], ex[i]) == TN_OK);
  }
}

TN_TEST(threshold_at_the_exact_far_quantile) {
  tn_protos p;
  TN_REQUIRE(tn_protos_init(&p, 2, kDim5, g_storage, sizeof(g_storage)) ==
             TN_OK);
  float ex[4][kDim5];
  uint32_t lab[4];
  enrol_axes(&p, ex, lab);
  float neg[kNeg][kDim5];
  float best[kNeg];
  memset(neg, 0, sizeof(neg));
  for (uint32_t i = 0; i < kNeg; ++i) {
    const float s = (float)(i + 1u) / 100.0f;
    neg[i][0] = s;
    neg[i][4] = tn_sqrtf(1.0f - s * s);
    uint32_t l;
    TN_REQUIRE(tn_protos_classify(&p, neg[i], &l, &best[i]) == TN_OK);
    TN_CHECK(l == 0 && near(best[i], s, 1e-6f));
  }
  float scratch[kNeg + 4];
  tn_enroll_report r;
  /* 5% of 20: one negative (s = 0.20) may pass, so the threshold sits just
   * above the second largest, s = 0.19. */
  TN_CHECK_STATUS(tn_enroll_calibrate(&p, &ex[0][0], lab, 4, &neg[0][0], kNeg,
                                      0.05f, scratch, kNeg + 4, &r),
                  TN_OK);
  TN_CHECK(r.threshold == next_up_pos(best[18]));
  TN_CHECK(p.threshold == r.threshold);
  TN_CHECK(r.far == 0.05f && r.n_neg == kNeg && r.n_pos == 4);
  TN_CHECK(r.tar == 0.5f); /* 0.28 twice accepted, -0.28 twice not */
  uint32_t accepted = 0;
  for (uint32_t i = 0; i < kNeg; ++i) {
    uint32_t l;
    TN_REQUIRE(tn_protos_classify(&p, neg[i], &l, NULL) == TN_OK);
    accepted += l != TN_PROTOS_UNKNOWN;
  }
  TN_CHECK_EQ(accepted, 1);
  /* 25%: five pass, threshold just above s = 0.15; 0%: above 0.20. */
  TN_CHECK_STATUS(tn_enroll_calibrate(&p, &ex[0][0], lab, 4, &neg[0][0], kNeg,
                                      0.25f, scratch, kNeg + 4, &r),
                  TN_OK);
  TN_CHECK(r.threshold == next_up_pos(best[14]) && r.far == 0.25f);
  TN_CHECK_STATUS(tn_enroll_calibrate(&p, &ex[0][0], lab, 4, &neg[0][0], kNeg,
                                      0.0f, scratch, kNeg + 4, &r),
                  TN_OK);
  TN_CHECK(r.threshold == next_up_pos(best[19]) && r.far == 0.0f);
  TN_CHECK(r.tar == 0.5f);
  /* Without examples there is no TAR estimate. */
  TN_CHECK_STATUS(tn_enroll_calibrate(&p, NULL, NULL, 0, &neg[0][0], kNeg,
                                      0.05f, scratch, kNeg, &r),
                  TN_OK);
  TN_CHECK(r.n_pos == 0 && r.tar == 0.0f);
  TN_CHECK_STATUS(tn_enroll_calibrate(&p, &ex[0][0], lab, 4, &neg[0][0], kNeg,
                                      0.05f, scratch, kNeg + 3, &r),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_enroll_calibrate(&p, &ex[0][0], lab, 4, &neg[0][0], kNeg,
                                      1.5f, scratch, kNeg + 4, &r),
                  TN_ERR_ARG);
  tn_test_digest("enroll.best", best, sizeof(best));
}

TN_TEST(pseudo_label_needs_score_and_margin) {
  tn_protos p;
  TN_REQUIRE(tn_protos_init(&p, 4, 2, g_storage, sizeof(g_storage)) == TN_OK);
  uint32_t l;
  const float q[2] = {0.8f, 0.6f};
  TN_CHECK_STATUS(tn_protos_pseudo_label(&p, q, 0.0f, 0.0f, &l, NULL, NULL),
                  TN_ERR_STATE);
  /* Classes 0 along x, 1 along y, 2 empty, 3 along -x. */
  const float ex[2] = {1.0f, 0.0f}, ey[2] = {0.0f, 2.0f},
              emx[2] = {-1.0f, 0.0f};
  TN_REQUIRE(tn_protos_add_example(&p, 0, ex) == TN_OK);
  float s, m;
  /* A single class has no runner-up: the margin test always passes. */
  TN_CHECK_STATUS(tn_protos_pseudo_label(&p, q, 0.5f, 2.5f, &l, &s, &m), TN_OK);
  TN_CHECK(l == 0 && m == 3.0f && near(s, 0.8f, 1e-6f));
  TN_REQUIRE(tn_protos_add_example(&p, 1, ey) == TN_OK);
  TN_REQUIRE(tn_protos_add_example(&p, 3, emx) == TN_OK);
  /* Scores 0.8, 0.6, (empty), -0.8: best class 0, lead 0.2. */
  TN_CHECK_STATUS(tn_protos_pseudo_label(&p, q, 0.7f, 0.1f, &l, &s, &m), TN_OK);
  TN_CHECK(l == 0 && near(s, 0.8f, 1e-6f) && near(m, 0.2f, 1e-6f));
  TN_CHECK_STATUS(tn_protos_pseudo_label(&p, q, 0.7f, 0.25f, &l, NULL, NULL),
                  TN_OK);
  TN_CHECK_EQ(l, TN_PROTOS_UNKNOWN); /* not confident enough over class 1 */
  TN_CHECK_STATUS(tn_protos_pseudo_label(&p, q, 0.85f, 0.1f, &l, NULL, NULL),
                  TN_OK);
  TN_CHECK_EQ(l, TN_PROTOS_UNKNOWN); /* too far from every prototype */
  /* A tie between classes 0 and 1: margin 0, lowest class on acceptance. */
  const float tie[2] = {1.0f, 1.0f};
  TN_CHECK_STATUS(tn_protos_pseudo_label(&p, tie, 0.5f, 0.0f, &l, &s, &m),
                  TN_OK);
  TN_CHECK(l == 0 && m == 0.0f);
  TN_CHECK_STATUS(tn_protos_pseudo_label(&p, tie, 0.5f, 0.01f, &l, NULL, NULL),
                  TN_OK);
  TN_CHECK_EQ(l, TN_PROTOS_UNKNOWN);
  const float zero[2] = {0.0f, 0.0f};
  TN_CHECK_STATUS(tn_protos_pseudo_label(&p, zero, 0.5f, 0.0f, &l, NULL, NULL),
                  TN_ERR_NUMERIC);
}

/* Self-learning on three clusters in 8 dimensions: the tail is a frozen
 * identity FC (the embedding layer) and a trainable FC classifier that
 * starts at zero (it predicts class 0 for everything). */
enum { kIn = 8, kCls = 3, kShots = 4, kPool = 60, kOut = 12, kTest = 60 };

static float g_dirs[kCls + 1][kIn];
static float g_pool[kPool + kOut][kIn];
static uint32_t g_pool_true[kPool + kOut];
static uint32_t g_labels[kPool + kOut];

static void sample(tn_rng* rng, uint32_t c, float* x) {
  for (uint32_t d = 0; d < kIn; ++d) {
    x[d] = g_dirs[c][d] + 0.15f * (tn_rng_unit_f32(rng) - 0.5f);
  }
}

static tn_status make_selflearn_tail(void) {
  const tn_tail_layer layers[2] = {
      {TN_TAIL_FC, 1, kIn, 0, 0, 0, 0, 0, 0, 0, 0},
      {TN_TAIL_FC, 0, kCls, 0, 0, 0, 0, 0, 0, 0, 0}};
  const tn_train_shape in = {1, 1, kIn};
  tn_status st = make_tail(&g_tail, layers, 2, in);
  for (uint32_t i = 0; i < kIn; ++i) g_tail.params[i * kIn + i] = 1.0f;
  return st;
}

static uint32_t tail_accuracy(tn_rng* rng) {
  uint32_t correct = 0;
  float x[kIn];
  for (uint32_t i = 0; i < kTest; ++i) {
    sample(rng, i % kCls, x);
    uint32_t l = 99;
    TN_CHECK_STATUS(tn_tail_predict(&g_tail.t, x, &l), TN_OK);
    correct += l == i % kCls;
  }
  return correct;
}

TN_TEST(self_learning_labels_and_fine_tunes) {
  tn_rng rng;
  tn_rng_seed(&rng, 7, 1);
  /* Non-negative unit directions: clusters 0..2 and an unknown word 3
   * halfway between clusters 0 and 1 (so it must fail the margin test). */
  memset(g_dirs, 0, sizeof(g_dirs));
  g_dirs[0][0] = g_dirs[0][1] = 1.0f;
  g_dirs[1][2] = g_dirs[1][3] = 1.0f;
  g_dirs[2][4] = g_dirs[2][5] = 1.0f;
  g_dirs[3][0] = g_dirs[3][1] = g_dirs[3][2] = g_dirs[3][3] = 0.5f;
  TN_REQUIRE(make_selflearn_tail() == TN_OK);
  TN_CHECK_EQ(tail_accuracy(&rng), kTest / kCls); /* all class 0 */

  tn_protos p;
  TN_REQUIRE(tn_protos_init(&p, kCls, kIn, g_storage, sizeof(g_storage)) ==
             TN_OK);
  float x[kIn], e[kIn];
  for (uint32_t i = 0; i < kShots * kCls; ++i) {
    sample(&rng, i % kCls, x);
    TN_REQUIRE(tn_tail_embed(&g_tail.t, x, 0, e, kIn, NULL) == TN_OK);
    TN_REQUIRE(tn_protos_add_example(&p, i % kCls, e) == TN_OK);
  }
  for (uint32_t i = 0; i < kPool + kOut; ++i) {
    g_pool_true[i] = i < kPool ? i % kCls : kCls;
    sample(&rng, g_pool_true[i], g_pool[i]);
  }
  /* The unknown word scores cos 45 deg = 0.707 against classes 0 and 1
   * alike; cluster members score ~0.99 with a lead of ~0.99. */
  uint32_t accepted = 0;
  TN_CHECK_STATUS(
      tn_selflearn_label(&g_tail.t, &p, 0, 0.9f, 0.3f, &g_pool[0][0],
                         kPool + kOut, g_labels, &accepted, e, kIn),
      TN_OK);
  TN_CHECK_EQ(accepted, kPool);
  for (uint32_t i = 0; i < kPool + kOut; ++i) {
    TN_CHECK_EQ(g_labels[i],
                i < kPool ? g_pool_true[i] : (uint32_t)TN_PROTOS_UNKNOWN);
  }
  TN_CHECK_STATUS(tn_selflearn_label(&g_tail.t, &p, 1, 0.9f, 0.3f,
                                     &g_pool[0][0], 1, g_labels, NULL, e, kIn),
                  TN_ERR_ARG); /* layer 1 has 3 values, protos 8 */

  static uint32_t order[kPool + kOut];
  static tn_batch_entry entries[8];
  tn_fit_work work = {order, entries, NULL};
  tn_fit_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.epochs = 10;
  cfg.batch = 8;
  cfg.sgd.lr = 0.5f;
  const tn_fit_data data = {&g_pool[0][0], g_labels, kPool + kOut};
  tn_fit_stats st;
  TN_CHECK_STATUS(
      tn_tail_fit(&g_tail.t, &cfg, &data, NULL, NULL, &rng, &work, NULL, &st),
      TN_OK);
  /* 60 accepted samples, batches of 8: 8 steps per epoch. */
  TN_CHECK(st.fresh == kPool && st.steps == 80 && st.replays == 0);
  TN_CHECK(st.last_loss < st.first_loss);
  const uint32_t correct = tail_accuracy(&rng);
  printf(
      "  self-learning: %u/%u pseudo-labels, accuracy %u/%u, loss "
      "%.3f -> %.3f\n",
      (unsigned)accepted, (unsigned)(kPool + kOut), (unsigned)correct,
      (unsigned)kTest, (double)st.first_loss, (double)st.last_loss);
  TN_CHECK(correct >= kTest - 1u);
  /* The frozen embedding layer did not move. */
  TN_CHECK(g_tail.params[0] == 1.0f && g_tail.params[1] == 0.0f);
  tn_test_digest("selflearn.params", g_tail.params,
                 sizeof(float) * g_tail.t.param_total);
}

/* Replay mixing: 6 fresh samples, batches of 4 with half replays (2 fresh
 * + 2 replays), 2 epochs: 3 steps per epoch, 12 replay entries. Replay
 * values on the 8-bit grid make the FP32 mirror equal to the dequantized
 * codes, so both paths train bit-identically. */
TN_TEST(fit_mixes_replays_and_checks_arguments) {
  const tn_tail_layer layers[1] = {{TN_TAIL_FC, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}};
  const tn_train_shape in = {1, 1, 4};
  static uint8_t storage[1024];
  static float mirror[8][4];
  float fresh[6][4];
  uint32_t labels[6];
  tn_rng data_rng;
  tn_rng_seed(&data_rng, 3, 3);
  for (uint32_t i = 0; i < 6; ++i) {
    fill_uniform(&data_rng, fresh[i], 4, -1.0f, 1.0f);
    labels[i] = 1;
  }
  float trained[2][10];
  for (int use_mirror = 0; use_mirror < 2; ++use_mirror) {
    TN_REQUIRE(make_tail(&g_tail, layers, 1, in) == TN_OK);
    tn_rng replay_rng, fit_rng;
    tn_rng_seed(&replay_rng, 11, 0);
    tn_rng_seed(&fit_rng, 12, 0);
    tn_replay_config rc = {8, 4, 8, 2, TN_REPLAY_RESERVOIR, 0.0f, 0};
    TN_REQUIRE(tn_replay_calibrate(-1.0f, 1.0f, 8, &rc.scale, &rc.zero_point) ==
               TN_OK);
    tn_replay r;
    TN_REQUIRE(tn_replay_init(&r, &rc, storage, sizeof(storage), &replay_rng) ==
               TN_OK);
    for (uint32_t s = 0; s < 8; ++s) {
      float v[4];
      for (uint32_t d = 0; d < 4; ++d) {
        v[d] = rc.scale *
               (float)((int32_t)(s * 7u + d * 13u) % 200 + 20 - rc.zero_point);
      }
      uint32_t slot;
      TN_REQUIRE(tn_replay_insert(&r, v, 0, &slot) == TN_OK && slot == s);
      memcpy(mirror[s], v, sizeof(v));
      float back[4];
      uint16_t l16;
      TN_REQUIRE(tn_replay_get(&r, s, back, &l16) == TN_OK);
      TN_CHECK(memcmp(back, v, sizeof(v)) == 0); /* on the grid */
    }
    uint32_t order[6];
    tn_batch_entry entries[4];
    float tmp[4];
    tn_fit_work work = {order, entries, tmp};
    tn_fit_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.epochs = 2;
    cfg.batch = 4;
    cfg.replay_num = 1;
    cfg.replay_den = 2;
    cfg.sgd.lr = 0.1f;
    cfg.sgd.momentum = 0.5f;
    const tn_fit_data data = {&fresh[0][0], labels, 6};
    tn_fit_stats st;
    TN_CHECK_STATUS(tn_tail_fit(&g_tail.t, &cfg, &data, &r,
                                use_mirror ? &mirror[0][0] : NULL, &fit_rng,
                                &work, NULL, &st),
                    TN_OK);
    TN_CHECK(st.steps == 6 && st.replays == 12 && st.fresh == 6);
    memcpy(trained[use_mirror], g_tail.params, sizeof(float) * 10);

    /* Argument checks. */
    uint32_t bad[6] = {0, 1, 2, 0, 1, 0}; /* class 2 of 2 */
    const tn_fit_data bad_data = {&fresh[0][0], bad, 6};
    TN_CHECK_STATUS(tn_tail_fit(&g_tail.t, &cfg, &bad_data, &r, NULL, &fit_rng,
                                &work, NULL, NULL),
                    TN_ERR_ARG);
    const uint32_t none[6] = {TN_PROTOS_UNKNOWN, TN_PROTOS_UNKNOWN,
                              TN_PROTOS_UNKNOWN, TN_PROTOS_UNKNOWN,
                              TN_PROTOS_UNKNOWN, TN_PROTOS_UNKNOWN};
    const tn_fit_data empty = {&fresh[0][0], none, 6};
    TN_CHECK_STATUS(tn_tail_fit(&g_tail.t, &cfg, &empty, NULL, NULL, &fit_rng,
                                &work, NULL, NULL),
                    TN_ERR_ARG);
    cfg.replay_num = 1;
    cfg.replay_den = 1; /* all replays: no room for fresh samples */
    TN_CHECK_STATUS(tn_tail_fit(&g_tail.t, &cfg, &data, &r, NULL, &fit_rng,
                                &work, NULL, NULL),
                    TN_ERR_ARG);
    cfg.replay_den = 0;
    TN_CHECK_STATUS(tn_tail_fit(&g_tail.t, &cfg, &data, &r, NULL, &fit_rng,
                                &work, NULL, NULL),
                    TN_ERR_ARG);
    cfg.replay_den = 2;
    cfg.sgd.prox_mu = 0.1f; /* FedProx needs its anchor */
    TN_CHECK_STATUS(tn_tail_fit(&g_tail.t, &cfg, &data, &r, NULL, &fit_rng,
                                &work, NULL, NULL),
                    TN_ERR_NULL);
  }
  TN_CHECK(memcmp(trained[0], trained[1], sizeof(trained[0])) == 0);
  /* The fresh samples are all class 1, the replays class 0: both biases
   * moved, in opposite directions. */
  TN_CHECK(trained[0][8] != 0.0f && trained[0][9] != 0.0f);
  tn_test_digest("fit.replay.params", trained[0], sizeof(float) * 10);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(embedding_is_the_layer_output),
      TN_CASE(leave_one_out_scores_by_hand),
      TN_CASE(threshold_at_the_exact_far_quantile),
      TN_CASE(pseudo_label_needs_score_and_margin),
      TN_CASE(self_learning_labels_and_fine_tunes),
      TN_CASE(fit_mixes_replays_and_checks_arguments),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
