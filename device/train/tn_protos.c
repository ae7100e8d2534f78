/*
 * Prototype classifier for few-shot open-set recognition (see tn_train.h):
 * per-class sums of L2-normalised embeddings, cosine scores, an open-set
 * threshold calibrated for a target false-acceptance rate. All state lives
 * in one caller buffer.
 */
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train_internal.h"

#define TN_PROTOS_EMPTY_SCORE (-2.0f)

/* Bytes for max_classes prototypes of dim floats; 0 when too large. */
size_t tn_protos_buffer_size(uint32_t max_classes, uint32_t dim) {
  if (max_classes == 0 || dim == 0) return 0;
  uint64_t floats = (uint64_t)max_classes * dim;
  if (floats > TN_TRAIN_MAX_ELEMENTS) return 0;
  return (size_t)(4u * (floats + 2u * (uint64_t)max_classes));
}

tn_status tn_protos_init(tn_protos* p, uint32_t max_classes, uint32_t dim,
                         void* storage, size_t storage_size) {
  if (!p || !storage) return TN_ERR_NULL;
  const size_t need = tn_protos_buffer_size(max_classes, dim);
  if (need == 0) return TN_ERR_ARG;
  if (storage_size < need) return TN_ERR_BUFFER_TOO_SMALL;
  if ((uintptr_t)storage % 4u) return TN_ERR_ARG;
  memset(p, 0, sizeof(*p));
  memset(storage, 0, need);
  p->dim = dim;
  p->max_classes = max_classes;
  p->threshold = TN_PROTOS_EMPTY_SCORE;
  p->sums = (float*)storage;
  p->norms = p->sums + (size_t)max_classes * dim;
  p->counts = (uint32_t*)(void*)(p->norms + max_classes);
  p->storage_size = need;
  return TN_OK;
}

tn_status tn_protos_add_example(tn_protos* p, uint32_t label,
                                const float* embedding) {
  if (!p || !embedding) return TN_ERR_NULL;
  if (!p->sums) return TN_ERR_STATE;
  if (label >= p->max_classes) return TN_ERR_ARG;
  if (p->counts[label] == UINT32_MAX) return TN_ERR_OVERFLOW;
  float ss = 0.0f;
  for (uint32_t i = 0; i < p->dim; ++i) ss += embedding[i] * embedding[i];
  if (!(ss > 0.0f) || !tn_isfinitef(ss)) return TN_ERR_NUMERIC;
  const float n = tn_sqrtf(ss);
  float* sum = p->sums + (size_t)label * p->dim;
  float s2 = 0.0f;
  for (uint32_t i = 0; i < p->dim; ++i) {
    sum[i] += embedding[i] / n;
    s2 += sum[i] * sum[i];
  }
  p->norms[label] = tn_sqrtf(s2);
  ++p->counts[label];
  if (label + 1u > p->num_classes) p->num_classes = label + 1u;
  return TN_OK;
}

/* Norm of a query; TN_ERR_NUMERIC when zero or not finite. */
static tn_status tn__query_norm(const tn_protos* p, const float* q,
                                float* norm) {
  float ss = 0.0f;
  for (uint32_t i = 0; i < p->dim; ++i) ss += q[i] * q[i];
  if (!(ss > 0.0f) || !tn_isfinitef(ss)) return TN_ERR_NUMERIC;
  *norm = tn_sqrtf(ss);
  return TN_OK;
}

/* Cosine of query q (norm nq) with class c: (q . sum / nq) / ||sum||. */
static float tn__score(const tn_protos* p, const float* q, float nq,
                       uint32_t c) {
  if (p->counts[c] == 0 || !(p->norms[c] > 0.0f)) {
    return TN_PROTOS_EMPTY_SCORE;
  }
  const float* sum = p->sums + (size_t)c * p->dim;
  float dot = 0.0f;
  for (uint32_t i = 0; i < p->dim; ++i) dot += q[i] * sum[i];
  return (dot / nq) / p->norms[c];
}

tn_status tn_protos_scores(const tn_protos* p, const float* embedding,
                           float* scores) {
  if (!p || !embedding || !scores) return TN_ERR_NULL;
  if (!p->sums) return TN_ERR_STATE;
  float nq;
  tn_status st = tn__query_norm(p, embedding, &nq);
  if (st != TN_OK) return st;
  for (uint32_t c = 0; c < p->num_classes; ++c) {
    scores[c] = tn__score(p, embedding, nq, c);
  }
  return TN_OK;
}

tn_status tn_protos_classify(const tn_protos* p, const float* embedding,
                             uint32_t* label, float* score) {
  if (!p || !embedding || !label) return TN_ERR_NULL;
  if (!p->sums || p->num_classes == 0) return TN_ERR_STATE;
  float nq;
  tn_status st = tn__query_norm(p, embedding, &nq);
  if (st != TN_OK) return st;
  uint32_t best = 0;
  float best_score = tn__score(p, embedding, nq, 0);
  for (uint32_t c = 1; c < p->num_classes; ++c) {
    const float s = tn__score(p, embedding, nq, c);
    if (s > best_score) {
      best_score = s;
      best = c;
    }
  }
  *label = best_score >= p->threshold ? best : TN_PROTOS_UNKNOWN;
  if (score) *score = best_score;
  return TN_OK;
}

/* Restores the max-heap property below `root` in v[0, n). */
static void tn__sift_down(float* v, uint32_t root, uint32_t n) {
  for (;;) { /* each pass doubles root: at most 32 passes */
    uint32_t child = 2u * root + 1u;
    if (child >= n || child < root) return;
    if (child + 1u < n && v[child + 1u] > v[child]) ++child;
    if (!(v[child] > v[root])) return;
    const float tmp = v[root];
    v[root] = v[child];
    v[child] = tmp;
    root = child;
  }
}

/* Ascending heap sort of n finite floats. */
static void tn__heap_sort(float* v, uint32_t n) {
  for (uint32_t i = n / 2u; i > 0; --i) tn__sift_down(v, i - 1u, n);
  for (uint32_t end = n; end > 1; --end) {
    const float tmp = v[0];
    v[0] = v[end - 1u];
    v[end - 1u] = tmp;
    tn__sift_down(v, 0, end - 1u);
  }
}

/* The smallest float strictly greater than finite x. */
static float tn__next_up(float x) {
  uint32_t b = tn_f32_bits(x);
  if ((b & 0x7fffffffu) == 0) return tn_f32_from_bits(1u);
  return tn_f32_from_bits((b & 0x80000000u) ? b - 1u : b + 1u);
}

tn_status tn_protos_calibrate(uint32_t n_neg, float* neg_scores, uint32_t n_pos,
                              const float* pos_scores, float target_far,
                              float* threshold, float* far, float* tar) {
  if (!neg_scores || !threshold || !far) return TN_ERR_NULL;
  if (tar && n_pos && !pos_scores) return TN_ERR_NULL;
  if (n_neg == 0 || n_neg > TN_TRAIN_MAX_ELEMENTS) return TN_ERR_ARG;
  if (n_pos > TN_TRAIN_MAX_ELEMENTS) return TN_ERR_ARG;
  if (!(target_far >= 0.0f && target_far <= 1.0f)) return TN_ERR_ARG;
  for (uint32_t i = 0; i < n_neg; ++i) {
    if (!tn_isfinitef(neg_scores[i])) return TN_ERR_NUMERIC;
  }
  if (tar) {
    for (uint32_t i = 0; i < n_pos; ++i) {
      if (!tn_isfinitef(pos_scores[i])) return TN_ERR_NUMERIC;
    }
  }
  tn__heap_sort(neg_scores, n_neg);
  /* k = floor(target_far * n_neg) negatives may be accepted. */
  const float nf = (float)n_neg;
  uint32_t k = (uint32_t)(target_far * nf);
  if (k > n_neg) k = n_neg;
  while (k > 0 && (float)k / nf > target_far) --k;
  float t;
  if (k >= n_neg) {
    t = neg_scores[0];
  } else {
    /* Strictly above the (k+1)-th largest: at most k are >= t. */
    t = tn__next_up(neg_scores[n_neg - 1u - k]);
  }
  uint32_t accepted = 0;
  for (uint32_t i = 0; i < n_neg; ++i) accepted += neg_scores[i] >= t;
  *threshold = t;
  *far = (float)accepted / nf;
  if (tar) {
    uint32_t hits = 0;
    for (uint32_t i = 0; i < n_pos; ++i) hits += pos_scores[i] >= t;
    *tar = n_pos ? (float)hits / (float)n_pos : 0.0f;
  }
  return TN_OK;
}

size_t tn_protos_memory(const tn_protos* p) { return p ? p->storage_size : 0; }
