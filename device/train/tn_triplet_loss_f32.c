/*
 * Triplet loss on L2-normalised embeddings with gradients with respect to
 * the raw embeddings. With u = v / ||v||, the chain rule through the
 * normalisation is  dL/dv = (dL/du - u (u . dL/du)) / ||v||.  Normalised
 * values are recomputed element by element (in[i] / norm, the same
 * expression tn_l2_normalize_f32 uses), so no scratch memory is needed.
 */
#include "base/tn_math.h"
#include "train/tn_train_internal.h"

static tn_status tn__norm(uint32_t n, const float* v, float* norm) {
  float ss = 0.0f;
  for (uint32_t i = 0; i < n; ++i) ss += v[i] * v[i];
  if (!(ss > 0.0f) || !tn_isfinitef(ss)) return TN_ERR_NUMERIC;
  *norm = tn_sqrtf(ss);
  return TN_OK;
}

/* grad (holding dL/du) becomes dL/dv for v with unit vector v / norm. */
static void tn__through_normalize(uint32_t n, const float* v, float norm,
                                  float* grad) {
  float dot = 0.0f;
  for (uint32_t i = 0; i < n; ++i) dot += (v[i] / norm) * grad[i];
  for (uint32_t i = 0; i < n; ++i) {
    grad[i] = (grad[i] - (v[i] / norm) * dot) / norm;
  }
}

tn_status tn_triplet_loss_f32(uint32_t dim, const float* anchor,
                              const float* positive, const float* negative,
                              float margin, float* loss, float* grad_anchor,
                              float* grad_positive, float* grad_negative) {
  if (!anchor || !positive || !negative || !loss) return TN_ERR_NULL;
  if (dim == 0 || dim > TN_TRAIN_MAX_ELEMENTS) return TN_ERR_ARG;
  if (!tn_isfinitef(margin)) return TN_ERR_ARG;
  float na, np, nn;
  tn_status st = tn__norm(dim, anchor, &na);
  if (st == TN_OK) st = tn__norm(dim, positive, &np);
  if (st == TN_OK) st = tn__norm(dim, negative, &nn);
  if (st != TN_OK) return st;

  float d_ap = 0.0f, d_an = 0.0f;
  for (uint32_t i = 0; i < dim; ++i) {
    const float ua = anchor[i] / na;
    const float dp = ua - positive[i] / np;
    const float dn = ua - negative[i] / nn;
    d_ap += dp * dp;
    d_an += dn * dn;
  }
  const float l = (d_ap - d_an) + margin;
  const int active = l > 0.0f;
  *loss = active ? l : 0.0f;

  for (uint32_t i = 0; i < dim; ++i) {
    const float ua = anchor[i] / na;
    const float up = positive[i] / np;
    const float un = negative[i] / nn;
    if (grad_anchor) grad_anchor[i] = active ? 2.0f * (un - up) : 0.0f;
    if (grad_positive) grad_positive[i] = active ? 2.0f * (up - ua) : 0.0f;
    if (grad_negative) grad_negative[i] = active ? 2.0f * (ua - un) : 0.0f;
  }
  if (active) {
    if (grad_anchor) tn__through_normalize(dim, anchor, na, grad_anchor);
    if (grad_positive) tn__through_normalize(dim, positive, np, grad_positive);
    if (grad_negative) tn__through_normalize(dim, negative, nn, grad_negative);
  }
  return TN_OK;
}
