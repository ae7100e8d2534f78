/*
 * Tests of the prototype classifier: cosine scores against hand values,
 * incremental enrolment, threshold calibration on hand-made scores (FAR
 * bounds, ties, extremes, NaN), and a few-shot open-set scenario on
 * synthetic embeddings: 10-shot enrolment of five keywords, threshold
 * calibrated on held-out scores for a 5% false-acceptance target, FAR on the
 * calibration negatives <= 5% and known-word accuracy checked on fresh
 * queries.
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train.h"
#include "train_test_util.h"

static float g_storage[4096];

TN_TEST(scores_and_incremental_enrolment) {
  tn_protos p;
  const size_t need = tn_protos_buffer_size(4, 2);
  TN_CHECK_EQ(need, 4 * (8 + 8));
  TN_CHECK_STATUS(tn_protos_init(&p, 4, 2, g_storage, need - 1),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_protos_init(&p, 0, 2, g_storage, need), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_protos_init(&p, 4, 2, g_storage, need), TN_OK);
  TN_CHECK_EQ(tn_protos_memory(&p), need);
  const float q[2] = {3.0f, 4.0f};
  uint32_t label;
  TN_CHECK_STATUS(tn_protos_classify(&p, q, &label, NULL), TN_ERR_STATE);

  const float e0[2] = {2.0f, 0.0f}, e1[2] = {0.0f, 5.0f};
  TN_CHECK_STATUS(tn_protos_add_example(&p, 0, e0), TN_OK);
  TN_CHECK_STATUS(tn_protos_add_example(&p, 2, e1), TN_OK);
  TN_CHECK_EQ(p.num_classes, 3);
  float s[4];
  TN_CHECK_STATUS(tn_protos_scores(&p, q, s), TN_OK);
  /* cos((3,4), (1,0)) = 0.6, class 1 empty, cos((3,4), (0,1)) = 0.8. */
  TN_CHECK(s[0] == 0.6f && s[1] == -2.0f && s[2] == 0.8f);
  float score;
  TN_CHECK_STATUS(tn_protos_classify(&p, q, &label, &score), TN_OK);
  TN_CHECK(label == 2 && score == 0.8f);
  /* A second class-0 example along (0, 1): prototype (1, 1) / sqrt 2. */
  const float e2[2] = {0.0f, 0.5f};
  TN_CHECK_STATUS(tn_protos_add_example(&p, 0, e2), TN_OK);
  TN_CHECK_STATUS(tn_protos_scores(&p, q, s), TN_OK);
  TN_CHECK(s[0] > 0.98994f && s[0] < 0.98995f); /* 7 / (5 sqrt 2) */
  TN_CHECK_STATUS(tn_protos_classify(&p, q, &label, NULL), TN_OK);
  TN_CHECK_EQ(label, 0);
  p.threshold = 0.995f;
  TN_CHECK_STATUS(tn_protos_classify(&p, q, &label, NULL), TN_OK);
  TN_CHECK_EQ(label, TN_PROTOS_UNKNOWN);
  tn_test_digest("protos.scores", s, 3 * sizeof(float));

  const float zero[2] = {0.0f, 0.0f};
  TN_CHECK_STATUS(tn_protos_add_example(&p, 1, zero), TN_ERR_NUMERIC);
  TN_CHECK_STATUS(tn_protos_add_example(&p, 4, e0), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_protos_scores(&p, zero, s), TN_ERR_NUMERIC);
}

TN_TEST(calibration_on_hand_scores) {
  float neg[5] = {0.1f, 0.5f, 0.3f, 0.9f, 0.7f};
  const float pos[4] = {0.95f, 0.8f, 0.6f, 0.75f};
  float t, far, tar;
  TN_CHECK_STATUS(tn_protos_calibrate(5, neg, 4, pos, 0.2f, &t, &far, &tar),
                  TN_OK);
  /* One negative (0.9) may pass: threshold just above 0.7. */
  TN_CHECK(t > 0.7f && t < 0.7000001f);
  TN_CHECK(far == 0.2f);
  TN_CHECK(tar == 0.75f);                     /* 0.95, 0.8, 0.75 */
  TN_CHECK(neg[0] == 0.1f && neg[4] == 0.9f); /* sorted in place */
  TN_CHECK_STATUS(tn_protos_calibrate(5, neg, 4, pos, 0.0f, &t, &far, &tar),
                  TN_OK);
  TN_CHECK(t > 0.9f && far == 0.0f && tar == 0.25f);
  TN_CHECK_STATUS(tn_protos_calibrate(5, neg, 0, NULL, 1.0f, &t, &far, NULL),
                  TN_OK);
  TN_CHECK(t == 0.1f && far == 1.0f);
  /* Ties: four equal negatives, target 25% -> none of them may pass. */
  float tied[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  TN_CHECK_STATUS(tn_protos_calibrate(4, tied, 0, NULL, 0.25f, &t, &far, NULL),
                  TN_OK);
  TN_CHECK(t > 0.5f && far == 0.0f);
  float nan_scores[2] = {0.1f, tn_f32_from_bits(0x7fc00000u)};
  TN_CHECK_STATUS(
      tn_protos_calibrate(2, nan_scores, 0, NULL, 0.1f, &t, &far, NULL),
      TN_ERR_NUMERIC);
  TN_CHECK_STATUS(tn_protos_calibrate(5, neg, 0, NULL, 1.5f, &t, &far, NULL),
                  TN_ERR_ARG);
  TN_CHECK_STATUS(tn_protos_calibrate(0, neg, 0, NULL, 0.1f, &t, &far, NULL),
                  TN_ERR_ARG);
}

enum { kDim = 16, kKnown = 5, kUnknown = 6, kShots = 10 };

/* Embedding of word w: its unit direction plus noise, randomly scaled
 * (scale does not matter to cosine scores). */
static void embed(tn_rng* rng, const float dirs[][kDim], uint32_t w, float* e) {
  const float gain = 0.5f + 2.0f * tn_rng_unit_f32(rng);
  for (uint32_t d = 0; d < kDim; ++d) {
    const float u = tn_rng_unit_f32(rng) + tn_rng_unit_f32(rng) - 1.0f;
    e[d] = gain * (dirs[w][d] + 0.55f * u);
  }
}

TN_TEST(few_shot_open_set_meets_far_target) {
  float dirs[kKnown + kUnknown][kDim];
  tn_rng rng;
  tn_rng_seed(&rng, 51, 4);
  for (uint32_t w = 0; w < kKnown + kUnknown; ++w) {
    fill_uniform(&rng, dirs[w], kDim, -1.0f, 1.0f);
    TN_REQUIRE(tn_l2_normalize_f32(kDim, dirs[w], dirs[w], NULL) == TN_OK);
  }
  tn_protos p;
  TN_REQUIRE(tn_protos_init(&p, 8, kDim, g_storage, sizeof(g_storage)) ==
             TN_OK);
  float e[kDim];
  for (uint32_t w = 0; w < kKnown; ++w) {
    for (uint32_t s = 0; s < kShots; ++s) {
      embed(&rng, dirs, w, e);
      TN_CHECK_STATUS(tn_protos_add_example(&p, w, e), TN_OK);
    }
  }
  /* Held-out calibration scores: best score of known and unknown words. */
  enum { kCal = 200 };
  static float pos[kCal], neg[kCal];
  for (uint32_t i = 0; i < kCal; ++i) {
    uint32_t l;
    embed(&rng, dirs, i % kKnown, e);
    TN_CHECK_STATUS(tn_protos_classify(&p, e, &l, &pos[i]), TN_OK);
    embed(&rng, dirs, kKnown + i % kUnknown, e);
    TN_CHECK_STATUS(tn_protos_classify(&p, e, &l, &neg[i]), TN_OK);
  }
  float t, far, tar;
  TN_CHECK_STATUS(
      tn_protos_calibrate(kCal, neg, kCal, pos, 0.05f, &t, &far, &tar), TN_OK);
  TN_CHECK(far <= 0.05f);
  p.threshold = t;

  /* Fresh queries: known words mostly recognised, unknowns mostly
   * rejected. */
  uint32_t correct = 0, false_accept = 0;
  for (uint32_t i = 0; i < kCal; ++i) {
    uint32_t l;
    embed(&rng, dirs, i % kKnown, e);
    TN_CHECK_STATUS(tn_protos_classify(&p, e, &l, NULL), TN_OK);
    correct += l == i % kKnown;
    embed(&rng, dirs, kKnown + i % kUnknown, e);
    TN_CHECK_STATUS(tn_protos_classify(&p, e, &l, NULL), TN_OK);
    false_accept += l != TN_PROTOS_UNKNOWN;
  }
  printf(
      "  threshold %.4f: calibration FAR %.3f, TAR %.3f; fresh queries: "
      "%u/%u known correct, %u/%u unknown accepted\n",
      (double)t, (double)far, (double)tar, (unsigned)correct, (unsigned)kCal,
      (unsigned)false_accept, (unsigned)kCal);
  TN_CHECK(correct * 100u >= 80u * kCal);
  TN_CHECK(false_accept * 100u <= 12u * kCal);
  tn_test_digest("openset.threshold", &t, sizeof(t));
  tn_test_digest("openset.protos", g_storage, tn_protos_memory(&p));
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(scores_and_incremental_enrolment),
      TN_CASE(calibration_on_hand_scores),
      TN_CASE(few_shot_open_set_meets_far_target),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
