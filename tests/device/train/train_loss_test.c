/*
 * Tests of the losses and the optimizer: softmax cross-entropy (hand
 * values, stability with extreme logits, gradient against finite
 * differences), L2 normalisation, triplet loss (gradient through the
 * normalisation against double-precision finite differences, inactive
 * margin), SGD with momentum / weight decay / FedProx against values
 * computed by hand, and mini-batch accumulation.
 */
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train.h"
#include "train_test_util.h"

TN_TEST(softmax_xent_hand_values_and_stability) {
  const float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  float loss, grad[4], probs[4];
  TN_CHECK_STATUS(tn_softmax_xent_f32(4, z, 1, &loss, grad, probs), TN_OK);
  TN_CHECK(loss == tn_logf(4.0f)); /* log 4 */
  TN_CHECK(loss > 1.3862943f && loss < 1.3862945f);
  TN_CHECK(grad[0] == 0.25f && grad[1] == -0.75f && grad[2] == 0.25f &&
           grad[3] == 0.25f);
  TN_CHECK(probs[3] == 0.25f);

  /* Extreme logits: no overflow, no NaN. */
  const float big[3] = {1000.0f, 0.0f, -1000.0f};
  TN_CHECK_STATUS(tn_softmax_xent_f32(3, big, 0, &loss, grad, NULL), TN_OK);
  TN_CHECK(loss == 0.0f);
  TN_CHECK(grad[0] == 0.0f && grad[1] == 0.0f && grad[2] == 0.0f);
  TN_CHECK_STATUS(tn_softmax_xent_f32(3, big, 2, &loss, grad, NULL), TN_OK);
  TN_CHECK(loss == 2000.0f);
  TN_CHECK(grad[0] == 1.0f && grad[2] == -1.0f);

  /* Random logits: probabilities sum to 1, gradient sums to 0 and matches
   * central differences of the loss. */
  tn_rng rng;
  tn_rng_seed(&rng, 21, 3);
  float zz[12], g[12], p[12];
  fill_uniform(&rng, zz, 12, -4.0f, 4.0f);
  TN_CHECK_STATUS(tn_softmax_xent_f32(12, zz, 5, &loss, g, p), TN_OK);
  float ps = 0.0f, gs = 0.0f;
  for (int i = 0; i < 12; ++i) {
    ps += p[i];
    gs += g[i];
  }
  TN_CHECK(ps > 0.99999f && ps < 1.00001f);
  TN_CHECK(gs > -1e-5f && gs < 1e-5f);
  /* loss = -log p[label] */
  float nl = -tn_logf(p[5]);
  TN_CHECK(nl - loss < 1e-5f && loss - nl < 1e-5f);
  for (int i = 0; i < 12; ++i) {
    float keep = zz[i], up, down;
    zz[i] = keep + 1e-2f;
    TN_CHECK_STATUS(tn_softmax_xent_f32(12, zz, 5, &up, NULL, NULL), TN_OK);
    zz[i] = keep - 1e-2f;
    TN_CHECK_STATUS(tn_softmax_xent_f32(12, zz, 5, &down, NULL, NULL), TN_OK);
    zz[i] = keep;
    float fd = (up - down) / 2e-2f;
    TN_CHECK(fd - g[i] < 2e-3f && g[i] - fd < 2e-3f);
  }
  tn_test_digest("xent.loss", &loss, sizeof(loss));
  tn_test_digest("xent.grad", g, sizeof(g));
  tn_test_digest("xent.probs", p, sizeof(p));

  /* Bad input. */
  float nan_z[2] = {0.0f, tn_f32_from_bits(0x7fc00000u)};
  TN_CHECK_STATUS(tn_softmax_xent_f32(2, nan_z, 0, &loss, g, NULL),
                  TN_ERR_NUMERIC);
  TN_CHECK_STATUS(tn_softmax_xent_f32(4, z, 4, &loss, g, NULL), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_softmax_xent_f32(0, z, 0, &loss, g, NULL), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_softmax_xent_f32(4, z, 0, NULL, g, NULL), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_softmax_xent_f32(12, zz, 0, &loss, zz, NULL),
                  TN_ERR_ARG); /* grad aliasing the logits */
}

TN_TEST(l2_normalize) {
  float v[2] = {3.0f, 4.0f}, out[2], n;
  TN_CHECK_STATUS(tn_l2_normalize_f32(2, v, out, &n), TN_OK);
  TN_CHECK(n == 5.0f && out[0] == 0.6f && out[1] == 0.8f);
  TN_CHECK_STATUS(tn_l2_normalize_f32(2, v, v, NULL), TN_OK); /* in place */
  TN_CHECK(v[0] == 0.6f && v[1] == 0.8f);
  float z[3] = {0.0f, 0.0f, 0.0f};
  TN_CHECK_STATUS(tn_l2_normalize_f32(3, z, z, NULL), TN_ERR_NUMERIC);
}

/* Double-precision triplet loss for finite differences. */
typedef struct triplet_ctx {
  uint32_t dim;
  double *a, *p, *n;
  double margin;
} triplet_ctx;

static double sqrt_d(double x) {
  double y = x > 1.0 ? x : 1.0;
  for (int i = 0; i < 80; ++i) y = 0.5 * (y + x / y);
  return y;
}

static double triplet_loss_d(const void* vctx) {
  const triplet_ctx* c = (const triplet_ctx*)vctx;
  double na = 0, np = 0, nn = 0;
  for (uint32_t i = 0; i < c->dim; ++i) {
    na += c->a[i] * c->a[i];
    np += c->p[i] * c->p[i];
    nn += c->n[i] * c->n[i];
  }
  na = sqrt_d(na);
  np = sqrt_d(np);
  nn = sqrt_d(nn);
  double dap = 0, dan = 0;
  for (uint32_t i = 0; i < c->dim; ++i) {
    double dp = c->a[i] / na - c->p[i] / np;
    double dn = c->a[i] / na - c->n[i] / nn;
    dap += dp * dp;
    dan += dn * dn;
  }
  double l = dap - dan + c->margin;
  return l > 0 ? l : 0;
}

TN_TEST(triplet_gradients_match_finite_differences) {
  enum { D = 16 };
  float a[D], p[D], n[D], ga[D], gp[D], gn[D], loss;
  double ad[D], pd[D], nd[D], fa[D], fp[D], fn[D];
  tn_rng rng;
  tn_rng_seed(&rng, 22, 3);
  fill_uniform(&rng, a, D, -1.0f, 1.0f);
  for (int i = 0; i < D; ++i)
    p[i] = a[i] + 0.6f * (tn_rng_unit_f32(&rng) - 0.5f);
  for (int i = 0; i < D; ++i)
    n[i] = a[i] + 1.6f * (tn_rng_unit_f32(&rng) - 0.5f);
  const float margin = 1.0f; /* active: d_ap - d_an + margin > 0 */
  TN_CHECK_STATUS(tn_triplet_loss_f32(D, a, p, n, margin, &loss, ga, gp, gn),
                  TN_OK);
  TN_CHECK(loss > 0.0f);
  to_double(a, ad, D);
  to_double(p, pd, D);
  to_double(n, nd, D);
  triplet_ctx c = {D, ad, pd, nd, 1.0};
  double ld = triplet_loss_d(&c);
  TN_CHECK(abs_d((double)loss - ld) < 1e-5);
  finite_diff(triplet_loss_d, &c, ad, D, 1e-5, fa);
  finite_diff(triplet_loss_d, &c, pd, D, 1e-5, fp);
  finite_diff(triplet_loss_d, &c, nd, D, 1e-5, fn);
  CHECK_CLOSE(ga, fa, D, 1e-4);
  CHECK_CLOSE(gp, fp, D, 1e-4);
  CHECK_CLOSE(gn, fn, D, 1e-4);
  /* Scale invariance: each gradient is orthogonal to its embedding. */
  float dot = 0.0f;
  for (int i = 0; i < D; ++i) dot += ga[i] * a[i];
  TN_CHECK(dot < 1e-5f && dot > -1e-5f);
  tn_test_digest("triplet.loss", &loss, sizeof(loss));
  tn_test_digest("triplet.grad_a", ga, sizeof(ga));
  tn_test_digest("triplet.grad_p", gp, sizeof(gp));
  tn_test_digest("triplet.grad_n", gn, sizeof(gn));

  /* Inactive margin: zero loss and zero gradients. */
  TN_CHECK_STATUS(tn_triplet_loss_f32(D, a, p, n, -4.0f, &loss, ga, gp, gn),
                  TN_OK);
  TN_CHECK(loss == 0.0f);
  for (int i = 0; i < D; ++i) TN_CHECK(ga[i] == 0.0f && gn[i] == 0.0f);
  float zero[D];
  memset(zero, 0, sizeof(zero));
  TN_CHECK_STATUS(tn_triplet_loss_f32(D, a, zero, n, 1.0f, &loss, ga, gp, gn),
                  TN_ERR_NUMERIC);
  TN_CHECK_STATUS(tn_triplet_loss_f32(0, a, p, n, 1.0f, &loss, ga, gp, gn),
                  TN_ERR_ARG);
}

TN_TEST(sgd_step_matches_hand_computation) {
  /* Dyadic values: every intermediate is exact, so equality is exact. */
  float w[3] = {1.0f, -2.0f, 0.5f};
  const float grad[3] = {0.5f, 0.25f, -1.0f};
  float vel[3] = {0.5f, -1.0f, 0.0f};
  const float w0[3] = {0.0f, -1.0f, 1.0f};
  tn_sgd_params p = {0.5f, 0.5f, 0.25f, 0.5f, 0.5f};
  TN_CHECK_STATUS(tn_sgd_step_f32(&p, 3, w, grad, vel, w0), TN_OK);
  /* g = grad/2 + w/4 + (w - w0)/2; v = v/2 + g; w -= v/2. */
  TN_CHECK(vel[0] == 1.25f && vel[1] == -1.375f && vel[2] == -0.625f);
  TN_CHECK(w[0] == 0.375f && w[1] == -1.3125f && w[2] == 0.8125f);
  TN_CHECK_STATUS(tn_sgd_step_f32(&p, 3, w, grad, vel, w0), TN_OK);
  TN_CHECK(vel[2] == -0.703125f && w[2] == 1.1640625f);
  tn_test_digest("sgd.w", w, sizeof(w));

  /* Plain SGD: w - lr * g, no velocity buffer needed. */
  float w2[2] = {1.0f, 2.0f};
  const float g2[2] = {1.0f, -4.0f};
  tn_sgd_params plain = {0.125f, 0.0f, 0.0f, 0.0f, 1.0f};
  TN_CHECK_STATUS(tn_sgd_step_f32(&plain, 2, w2, g2, NULL, NULL), TN_OK);
  TN_CHECK(w2[0] == 0.875f && w2[1] == 2.5f);

  /* Rejected parameters and non-finite gradients change nothing. */
  float keep[3];
  memcpy(keep, w, sizeof(w));
  tn_sgd_params bad = p;
  bad.lr = 0.0f;
  TN_CHECK_STATUS(tn_sgd_step_f32(&bad, 3, w, grad, vel, w0), TN_ERR_ARG);
  bad = p;
  bad.momentum = 1.0f;
  TN_CHECK_STATUS(tn_sgd_step_f32(&bad, 3, w, grad, vel, w0), TN_ERR_ARG);
  bad = p;
  bad.grad_scale = 0.0f;
  TN_CHECK_STATUS(tn_sgd_step_f32(&bad, 3, w, grad, vel, w0), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_sgd_step_f32(&p, 3, w, grad, NULL, w0), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_sgd_step_f32(&p, 3, w, grad, vel, NULL), TN_ERR_NULL);
  const float inf_grad[3] = {0.0f, tn_f32_from_bits(0x7f800000u), 0.0f};
  TN_CHECK_STATUS(tn_sgd_step_f32(&p, 3, w, inf_grad, vel, w0), TN_ERR_NUMERIC);
  TN_CHECK(memcmp(keep, w, sizeof(w)) == 0);
}

TN_TEST(minibatch_accumulation_then_one_step) {
  /* FC 6 -> 3, four samples: accumulated gradients / 4 equal the mean
   * gradient computed in double, and one step applies it. */
  enum { IN = 6, OUT = 3, B = 4 };
  float x[B][IN], w[OUT * IN], b[OUT], gw[OUT * IN], gb[OUT], y[OUT], g[OUT];
  double mean_w[OUT * IN], mean_b[OUT];
  const uint32_t labels[B] = {0, 2, 1, 2};
  tn_rng rng;
  tn_rng_seed(&rng, 23, 3);
  fill_uniform(&rng, &x[0][0], B * IN, -1.0f, 1.0f);
  fill_uniform(&rng, w, OUT * IN, -0.5f, 0.5f);
  fill_uniform(&rng, b, OUT, -0.1f, 0.1f);
  memset(gw, 0, sizeof(gw));
  memset(gb, 0, sizeof(gb));
  memset(mean_w, 0, sizeof(mean_w));
  memset(mean_b, 0, sizeof(mean_b));
  const tn_train_fc fc = {IN, OUT};
  for (int s = 0; s < B; ++s) {
    float loss;
    TN_CHECK_STATUS(tn_fc_forward_f32(&fc, x[s], w, b, y), TN_OK);
    TN_CHECK_STATUS(tn_softmax_xent_f32(OUT, y, labels[s], &loss, g, NULL),
                    TN_OK);
    TN_CHECK_STATUS(tn_fc_backward_f32(&fc, x[s], w, g, NULL, gw, gb), TN_OK);
    for (int o = 0; o < OUT; ++o) {
      mean_b[o] += (double)g[o] / B;
      for (int i = 0; i < IN; ++i) {
        mean_w[o * IN + i] += (double)g[o] * x[s][i] / B;
      }
    }
  }
  float w_before[OUT * IN];
  memcpy(w_before, w, sizeof(w));
  tn_sgd_params p = {0.5f, 0.0f, 0.0f, 0.0f, 1.0f / B};
  TN_CHECK_STATUS(tn_sgd_step_f32(&p, OUT * IN, w, gw, NULL, NULL), TN_OK);
  double expect[OUT * IN];
  for (int i = 0; i < OUT * IN; ++i) {
    expect[i] = (double)w_before[i] - 0.5 * mean_w[i];
  }
  CHECK_CLOSE(w, expect, OUT * IN, 1e-6);
  float scaled_b[OUT];
  for (int o = 0; o < OUT; ++o) scaled_b[o] = gb[o] / B;
  CHECK_CLOSE(scaled_b, mean_b, OUT, 1e-6);
  tn_test_digest("minibatch.w", w, sizeof(w));
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(softmax_xent_hand_values_and_stability),
      TN_CASE(l2_normalize),
      TN_CASE(triplet_gradients_match_finite_differences),
      TN_CASE(sgd_step_matches_hand_computation),
      TN_CASE(minibatch_accumulation_then_one_step),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
