/*
 * Few-shot enrolment on the node (see tn_train.h, "few-shot enrolment and
 * self-learning"): embeddings from a tail layer, leave-one-out scores of the
 * enrolment examples, open-set threshold calibration for a target
 * false-acceptance rate, and pseudo-labels with a confidence margin. Works
 * on the prototype classifier's caller-owned state; no allocation.
 */
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train_internal.h"

/* Lead reported when only one class is enrolled: above any cosine gap. */
#define TN_ENROLL_NO_RUNNER_UP 3.0f

tn_status tn_tail_embed(tn_tail* t, const float* input, uint32_t layer,
                        float* out, uint32_t capacity, uint32_t* dim) {
  if (!t || !input || !out) return TN_ERR_NULL;
  if (!t->bound) return TN_ERR_STATE;
  if (layer >= t->num_layers) return TN_ERR_ARG;
  /* A layer whose output the next layer (an in-place ReLU) overwrites. */
  if (layer + 1u < t->num_layers &&
      t->act_offset[layer + 1u] == t->act_offset[layer]) {
    return TN_ERR_ARG;
  }
  const uint32_t n = tn_train_shape_count(t->shapes[layer + 1u]);
  if (capacity < n) return TN_ERR_BUFFER_TOO_SMALL;
  tn_status st = tn_tail_forward(t, input, NULL);
  if (st != TN_OK) return st;
  memcpy(out, t->buf.activations + t->act_offset[layer], sizeof(float) * n);
  if (dim) *dim = n;
  return TN_OK;
}

/* Sum of squares in ascending order; TN_ERR_NUMERIC when not > 0 or not
 * finite. */
static tn_status tn__norm(uint32_t n, const float* v, float* norm) {
  float ss = 0.0f;
  for (uint32_t i = 0; i < n; ++i) ss += v[i] * v[i];
  if (!(ss > 0.0f) || !tn_isfinitef(ss)) return TN_ERR_NUMERIC;
  *norm = tn_sqrtf(ss);
  return TN_OK;
}

tn_status tn_protos_loo_score(const tn_protos* p, uint32_t label,
                              const float* embedding, float* score) {
  if (!p || !embedding || !score) return TN_ERR_NULL;
  if (!p->sums) return TN_ERR_STATE;
  if (label >= p->max_classes) return TN_ERR_ARG;
  if (p->counts[label] < 2u) return TN_ERR_STATE;
  float ne;
  tn_status st = tn__norm(p->dim, embedding, &ne);
  if (st != TN_OK) return st;
  const float* sum = p->sums + (size_t)label * p->dim;
  /* The rest r = sum - e / ||e||; score = (e . r) / (||e|| ||r||). The
   * example is normalised exactly as tn_protos_add_example did. */
  float dot = 0.0f, rr = 0.0f;
  for (uint32_t i = 0; i < p->dim; ++i) {
    const float r = sum[i] - embedding[i] / ne;
    dot += embedding[i] * r;
    rr += r * r;
  }
  if (!(rr > 0.0f) || !tn_isfinitef(rr) || !tn_isfinitef(dot)) {
    return TN_ERR_NUMERIC;
  }
  *score = (dot / ne) / tn_sqrtf(rr);
  return TN_OK;
}

tn_status tn_enroll_calibrate(tn_protos* p, const float* examples,
                              const uint32_t* labels, uint32_t n_examples,
                              const float* negatives, uint32_t n_neg,
                              float target_far, float* scratch,
                              uint32_t scratch_count,
                              tn_enroll_report* report) {
  if (!p || !negatives || !scratch) return TN_ERR_NULL;
  if (n_examples && (!examples || !labels)) return TN_ERR_NULL;
  if (!p->sums || p->num_classes == 0) return TN_ERR_STATE;
  if (n_neg == 0 || n_neg > TN_TRAIN_MAX_ELEMENTS ||
      n_examples > TN_TRAIN_MAX_ELEMENTS) {
    return TN_ERR_ARG;
  }
  if ((uint64_t)n_neg + n_examples > scratch_count) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  if (!(target_far >= 0.0f && target_far <= 1.0f)) return TN_ERR_ARG;
  float* neg = scratch;
  float* pos = scratch + n_neg;
  for (uint32_t i = 0; i < n_neg; ++i) {
    uint32_t label;
    tn_status st =
        tn_protos_classify(p, negatives + (size_t)i * p->dim, &label, &neg[i]);
    if (st != TN_OK) return st;
  }
  uint32_t n_pos = 0;
  for (uint32_t i = 0; i < n_examples; ++i) {
    if (labels[i] >= p->max_classes) return TN_ERR_ARG;
    if (p->counts[labels[i]] < 2u) continue;
    tn_status st = tn_protos_loo_score(
        p, labels[i], examples + (size_t)i * p->dim, &pos[n_pos]);
    if (st != TN_OK) return st;
    ++n_pos;
  }
  float t, far, tar = 0.0f;
  tn_status st = tn_protos_calibrate(n_neg, neg, n_pos, pos, target_far, &t,
                                     &far, n_pos ? &tar : NULL);
  if (st != TN_OK) return st;
  p->threshold = t;
  if (report) {
    report->threshold = t;
    report->far = far;
    report->tar = tar;
    report->n_neg = n_neg;
    report->n_pos = n_pos;
  }
  return TN_OK;
}

tn_status tn_protos_pseudo_label(const tn_protos* p, const float* embedding,
                                 float min_score, float min_margin,
                                 uint32_t* label, float* score, float* margin) {
  if (!p || !embedding || !label) return TN_ERR_NULL;
  if (!p->sums) return TN_ERR_STATE;
  if (!tn_isfinitef(min_score) || !tn_isfinitef(min_margin)) {
    return TN_ERR_ARG;
  }
  float nq;
  tn_status st = tn__norm(p->dim, embedding, &nq);
  if (st != TN_OK) return st;
  uint32_t best = TN_PROTOS_UNKNOWN;
  float best_score = 0.0f, second = 0.0f;
  uint32_t scored = 0;
  for (uint32_t c = 0; c < p->num_classes; ++c) {
    if (p->counts[c] == 0 || !(p->norms[c] > 0.0f)) continue;
    /* Same arithmetic as tn_protos_scores: (q . sum / ||q||) / ||sum||. */
    const float* sum = p->sums + (size_t)c * p->dim;
    float dot = 0.0f;
    for (uint32_t i = 0; i < p->dim; ++i) dot += embedding[i] * sum[i];
    const float s = (dot / nq) / p->norms[c];
    if (scored == 0 || s > best_score) {
      if (scored) second = best_score;
      best_score = s;
      best = c;
    } else if (scored == 1 || s > second) {
      second = s;
    }
    ++scored;
  }
  if (scored == 0) return TN_ERR_STATE;
  const float lead = scored > 1 ? best_score - second : TN_ENROLL_NO_RUNNER_UP;
  *label = (best_score >= min_score && lead >= min_margin) ? best
                                                           : TN_PROTOS_UNKNOWN;
  if (score) *score = best_score;
  if (margin) *margin = lead;
  return TN_OK;
}
