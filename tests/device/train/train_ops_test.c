/*
 * Tests of the FP32 training operators: each forward against a
 * double-precision forward written here, each backward (input, weight and
 * bias gradients) against central finite differences of that double
 * forward, gradient accumulation, the `_fast` variants bit for bit against
 * the references over random shapes, and argument validation. Every output
 * is digested so host and rv32 must agree bit for bit.
 */
#include <string.h>

#include "train/tn_train.h"
#include "train_test_util.h"

#define MAXN 512

/* ------------------------------------------------ double references -- */

typedef struct conv_ctx {
  tn_train_conv p;
  tn_train_shape out;
  int depthwise;
  double *x, *w, *b, *r;
} conv_ctx;

static void conv_forward_d(const conv_ctx* c, double* y) {
  const tn_train_conv* p = &c->p;
  for (int oy = 0; oy < c->out.h; ++oy) {
    for (int ox = 0; ox < c->out.w; ++ox) {
      for (int co = 0; co < c->out.c; ++co) {
        double acc = c->b[co];
        for (int ky = 0; ky < p->kernel_h; ++ky) {
          for (int kx = 0; kx < p->kernel_w; ++kx) {
            int iy = oy * p->stride_h - p->pad_top + ky;
            int ix = ox * p->stride_w - p->pad_left + kx;
            if (iy < 0 || ix < 0 || iy >= p->in.h || ix >= p->in.w) continue;
            if (c->depthwise) {
              acc += c->w[(ky * p->kernel_w + kx) * p->in.c + co] *
                     c->x[(iy * p->in.w + ix) * p->in.c + co];
              continue;
            }
            for (int ci = 0; ci < p->in.c; ++ci) {
              acc +=
                  c->w[((co * p->kernel_h + ky) * p->kernel_w + kx) * p->in.c +
                       ci] *
                  c->x[(iy * p->in.w + ix) * p->in.c + ci];
            }
          }
        }
        y[(oy * c->out.w + ox) * c->out.c + co] = acc;
      }
    }
  }
}

static double conv_loss(const void* vctx) {
  const conv_ctx* c = (const conv_ctx*)vctx;
  static double y[MAXN];
  conv_forward_d(c, y);
  double l = 0.0;
  uint32_t n = tn_train_shape_count(c->out);
  for (uint32_t i = 0; i < n; ++i) l += c->r[i] * y[i];
  return l;
}

/* Forward, backward, finite differences and accumulation for one conv2d or
 * depthwise configuration. */
static void check_conv(const tn_train_conv* p, int depthwise, const char* label,
                       uint64_t seed) {
  static float x[MAXN], w[MAXN], b[64], y[MAXN], r[MAXN];
  static float gi[MAXN], gw[MAXN], gb[64];
  static double xd[MAXN], wd[MAXN], bd[64], rd[MAXN], yd[MAXN];
  static double fx[MAXN], fw[MAXN], fb[64];
  tn_rng rng;
  tn_rng_seed(&rng, seed, 7);
  conv_ctx c = {*p, {0, 0, 0}, depthwise, xd, wd, bd, rd};
  tn_status st = depthwise ? tn_dwconv2d_out_shape(p, &c.out)
                           : tn_conv2d_out_shape(p, &c.out);
  TN_REQUIRE(st == TN_OK);
  const uint32_t nx = tn_train_shape_count(p->in);
  const uint32_t ny = tn_train_shape_count(c.out);
  const uint32_t nb = c.out.c;
  const uint32_t nw = depthwise
                          ? (uint32_t)p->kernel_h * p->kernel_w * p->in.c
                          : (uint32_t)nb * p->kernel_h * p->kernel_w * p->in.c;
  TN_REQUIRE(nx <= MAXN && ny <= MAXN && nw <= MAXN && nb <= 64);
  fill_uniform(&rng, x, nx, -1.0f, 1.0f);
  fill_uniform(&rng, w, nw, -1.0f, 1.0f);
  fill_uniform(&rng, b, nb, -0.5f, 0.5f);
  fill_uniform(&rng, r, ny, -1.0f, 1.0f);
  to_double(x, xd, nx);
  to_double(w, wd, nw);
  to_double(b, bd, nb);
  to_double(r, rd, ny);

  st = depthwise ? tn_dwconv2d_forward_f32(p, x, w, b, y)
                 : tn_conv2d_forward_f32(p, x, w, b, y);
  TN_CHECK_STATUS(st, TN_OK);
  conv_forward_d(&c, yd);
  CHECK_CLOSE(y, yd, ny, 1e-5);

  memset(gw, 0, sizeof(gw));
  memset(gb, 0, sizeof(gb));
  st = depthwise ? tn_dwconv2d_backward_f32(p, x, w, r, gi, gw, gb)
                 : tn_conv2d_backward_f32(p, x, w, r, gi, gw, gb);
  TN_CHECK_STATUS(st, TN_OK);
  finite_diff(conv_loss, &c, xd, nx, 1e-3, fx);
  finite_diff(conv_loss, &c, wd, nw, 1e-3, fw);
  finite_diff(conv_loss, &c, bd, nb, 1e-3, fb);
  CHECK_CLOSE(gi, fx, nx, 1e-4);
  CHECK_CLOSE(gw, fw, nw, 1e-4);
  CHECK_CLOSE(gb, fb, nb, 1e-4);

  char name[64];
  strcpy(name, label);
  tn_test_digest(strcat(name, ".y"), y, ny * sizeof(float));
  strcpy(name, label);
  tn_test_digest(strcat(name, ".grad_in"), gi, nx * sizeof(float));
  strcpy(name, label);
  tn_test_digest(strcat(name, ".grad_w"), gw, nw * sizeof(float));
  strcpy(name, label);
  tn_test_digest(strcat(name, ".grad_b"), gb, nb * sizeof(float));

  /* A second sample accumulates: the weight gradient doubles. */
  st = depthwise ? tn_dwconv2d_backward_f32(p, x, w, r, NULL, gw, gb)
                 : tn_conv2d_backward_f32(p, x, w, r, NULL, gw, gb);
  TN_CHECK_STATUS(st, TN_OK);
  for (uint32_t i = 0; i < nw; ++i) fw[i] *= 2.0;
  for (uint32_t i = 0; i < nb; ++i) fb[i] *= 2.0;
  CHECK_CLOSE(gw, fw, nw, 2e-4);
  CHECK_CLOSE(gb, fb, nb, 2e-4);
}

TN_TEST(conv2d_gradients_match_finite_differences) {
  /* Stride 2 with padding on all sides. */
  tn_train_conv a = {{5, 5, 2}, 3, 3, 3, 2, 2, 1, 1, 1, 1};
  check_conv(&a, 0, "conv2d.a", 1);
  /* Non-square kernel, different strides, asymmetric padding. */
  tn_train_conv b = {{4, 6, 3}, 2, 2, 3, 1, 2, 1, 0, 0, 2};
  check_conv(&b, 0, "conv2d.b", 2);
  /* Stride larger than the kernel (skipped input pixels). */
  tn_train_conv c = {{7, 7, 2}, 2, 2, 2, 3, 3, 0, 0, 0, 0};
  check_conv(&c, 0, "conv2d.c", 3);
}

TN_TEST(dwconv2d_gradients_match_finite_differences) {
  tn_train_conv a = {{5, 4, 3}, 0, 3, 3, 1, 1, 1, 1, 1, 1};
  check_conv(&a, 1, "dwconv2d.a", 4);
  tn_train_conv b = {{6, 6, 2}, 0, 3, 2, 2, 2, 0, 1, 1, 0};
  check_conv(&b, 1, "dwconv2d.b", 5);
}

/* ------------------------------------------------------------ dense -- */

typedef struct dense_ctx {
  uint32_t rows, in_c, out_c;
  double *x, *w, *b, *r;
} dense_ctx;

static double dense_loss(const void* vctx) {
  const dense_ctx* c = (const dense_ctx*)vctx;
  double l = 0.0;
  for (uint32_t r = 0; r < c->rows; ++r) {
    for (uint32_t o = 0; o < c->out_c; ++o) {
      double acc = c->b[o];
      for (uint32_t i = 0; i < c->in_c; ++i) {
        acc += c->w[o * c->in_c + i] * c->x[r * c->in_c + i];
      }
      l += c->r[r * c->out_c + o] * acc;
    }
  }
  return l;
}

TN_TEST(pointwise_and_fc_gradients_match_finite_differences) {
  static float x[MAXN], w[MAXN], b[64], y[MAXN], r[MAXN];
  static float gi[MAXN], gw[MAXN], gb[64];
  static double xd[MAXN], wd[MAXN], bd[64], rd[MAXN], yd[MAXN];
  static double fx[MAXN], fw[MAXN], fb[64];
  tn_rng rng;
  tn_rng_seed(&rng, 11, 7);
  const tn_train_pointwise pw = {{3, 2, 7}, 5};
  const uint32_t rows = 6, nx = 42, nw = 35, ny = 30;
  fill_uniform(&rng, x, nx, -1.0f, 1.0f);
  fill_uniform(&rng, w, nw, -1.0f, 1.0f);
  fill_uniform(&rng, b, 5, -0.5f, 0.5f);
  fill_uniform(&rng, r, ny, -1.0f, 1.0f);
  to_double(x, xd, nx);
  to_double(w, wd, nw);
  to_double(b, bd, 5);
  to_double(r, rd, ny);
  dense_ctx c = {rows, 7, 5, xd, wd, bd, rd};

  TN_CHECK_STATUS(tn_pointwise_forward_f32(&pw, x, w, b, y), TN_OK);
  for (uint32_t q = 0; q < rows; ++q) {
    for (uint32_t o = 0; o < 5; ++o) {
      double acc = bd[o];
      for (uint32_t i = 0; i < 7; ++i) acc += wd[o * 7 + i] * xd[q * 7 + i];
      yd[q * 5 + o] = acc;
    }
  }
  CHECK_CLOSE(y, yd, ny, 1e-5);
  memset(gw, 0, sizeof(gw));
  memset(gb, 0, sizeof(gb));
  TN_CHECK_STATUS(tn_pointwise_backward_f32(&pw, x, w, r, gi, gw, gb), TN_OK);
  finite_diff(dense_loss, &c, xd, nx, 1e-3, fx);
  finite_diff(dense_loss, &c, wd, nw, 1e-3, fw);
  finite_diff(dense_loss, &c, bd, 5, 1e-3, fb);
  CHECK_CLOSE(gi, fx, nx, 1e-4);
  CHECK_CLOSE(gw, fw, nw, 1e-4);
  CHECK_CLOSE(gb, fb, 5, 1e-4);
  tn_test_digest("pointwise.y", y, ny * sizeof(float));
  tn_test_digest("pointwise.grad_in", gi, nx * sizeof(float));
  tn_test_digest("pointwise.grad_w", gw, nw * sizeof(float));
  tn_test_digest("pointwise.grad_b", gb, 5 * sizeof(float));

  /* FC: one row of 9 inputs, 4 outputs. */
  const tn_train_fc fc = {9, 4};
  dense_ctx f = {1, 9, 4, xd, wd, bd, rd};
  TN_CHECK_STATUS(tn_fc_forward_f32(&fc, x, w, b, y), TN_OK);
  for (uint32_t o = 0; o < 4; ++o) {
    double acc = bd[o];
    for (uint32_t i = 0; i < 9; ++i) acc += wd[o * 9 + i] * xd[i];
    yd[o] = acc;
  }
  CHECK_CLOSE(y, yd, 4, 1e-5);
  memset(gw, 0, sizeof(gw));
  memset(gb, 0, sizeof(gb));
  TN_CHECK_STATUS(tn_fc_backward_f32(&fc, x, w, r, gi, gw, gb), TN_OK);
  finite_diff(dense_loss, &f, xd, 9, 1e-3, fx);
  finite_diff(dense_loss, &f, wd, 36, 1e-3, fw);
  finite_diff(dense_loss, &f, bd, 4, 1e-3, fb);
  CHECK_CLOSE(gi, fx, 9, 1e-4);
  CHECK_CLOSE(gw, fw, 36, 1e-4);
  CHECK_CLOSE(gb, fb, 4, 1e-4);
  tn_test_digest("fc.y", y, 4 * sizeof(float));
  tn_test_digest("fc.grad_in", gi, 9 * sizeof(float));
  tn_test_digest("fc.grad_w", gw, 36 * sizeof(float));
}

TN_TEST(fast_variants_are_bit_exact) {
  static float x[MAXN], w[MAXN], b[32], r[MAXN];
  static float y0[MAXN], y1[MAXN], gi0[MAXN], gi1[MAXN];
  static float gw0[MAXN], gw1[MAXN], gb0[32], gb1[32];
  tn_rng rng;
  tn_rng_seed(&rng, 12, 7);
  uint64_t h = TN_TEST_FNV_SEED;
  int mismatches = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const uint16_t hh = (uint16_t)tn_rng_range(&rng, 1, 3);
    const uint16_t ww = (uint16_t)tn_rng_range(&rng, 1, 3);
    const uint16_t ic = (uint16_t)tn_rng_range(&rng, 1, 13);
    const uint16_t oc = (uint16_t)tn_rng_range(&rng, 1, 11);
    const tn_train_pointwise p = {{hh, ww, ic}, oc};
    const uint32_t rows = (uint32_t)hh * ww;
    fill_uniform(&rng, x, rows * ic, -2.0f, 2.0f);
    fill_uniform(&rng, w, (uint32_t)oc * ic, -1.0f, 1.0f);
    fill_uniform(&rng, b, oc, -1.0f, 1.0f);
    fill_uniform(&rng, r, rows * oc, -1.0f, 1.0f);
    /* Non-zero starting gradients check the accumulation order too. */
    fill_uniform(&rng, gw0, (uint32_t)oc * ic, -1.0f, 1.0f);
    memcpy(gw1, gw0, sizeof(float) * oc * ic);
    fill_uniform(&rng, gb0, oc, -1.0f, 1.0f);
    memcpy(gb1, gb0, sizeof(float) * oc);
    const float* bias = (trial % 5 == 4) ? NULL : b;
    TN_CHECK_STATUS(tn_pointwise_forward_f32(&p, x, w, bias, y0), TN_OK);
    TN_CHECK_STATUS(tn_pointwise_forward_f32_fast(&p, x, w, bias, y1), TN_OK);
    TN_CHECK_STATUS(tn_pointwise_backward_f32(&p, x, w, r, gi0, gw0, gb0),
                    TN_OK);
    TN_CHECK_STATUS(tn_pointwise_backward_f32_fast(&p, x, w, r, gi1, gw1, gb1),
                    TN_OK);
    mismatches += memcmp(y0, y1, sizeof(float) * rows * oc) != 0;
    mismatches += memcmp(gi0, gi1, sizeof(float) * rows * ic) != 0;
    mismatches += memcmp(gw0, gw1, sizeof(float) * oc * ic) != 0;
    mismatches += memcmp(gb0, gb1, sizeof(float) * oc) != 0;
    const tn_train_fc fc = {rows * ic, oc};
    if ((uint32_t)oc * rows * ic <= MAXN) {
      TN_CHECK_STATUS(tn_fc_forward_f32(&fc, x, w, bias, y0), TN_OK);
      TN_CHECK_STATUS(tn_fc_forward_f32_fast(&fc, x, w, bias, y1), TN_OK);
      mismatches += memcmp(y0, y1, sizeof(float) * oc) != 0;
    }
    h = tn_test_fnv1a(h, y1, sizeof(float) * oc);
    h = tn_test_fnv1a(h, gi1, sizeof(float) * rows * ic);
    h = tn_test_fnv1a(h, gw1, sizeof(float) * oc * ic);
  }
  TN_CHECK_EQ(mismatches, 0);
  tn_test_digest("fast.random_shapes", &h, sizeof(h));
}

/* ----------------------------------------------------- relu and pools -- */

typedef struct vec_ctx {
  const tn_train_pool* pool; /* NULL: global average pool or ReLU */
  tn_train_shape in;
  int relu;
  double *x, *r;
} vec_ctx;

static double pool_loss(const void* vctx) {
  const vec_ctx* c = (const vec_ctx*)vctx;
  double l = 0.0;
  const uint32_t n = tn_train_shape_count(c->in);
  if (c->relu) {
    for (uint32_t i = 0; i < n; ++i) l += c->r[i] * (c->x[i] > 0 ? c->x[i] : 0);
    return l;
  }
  if (!c->pool) {
    const uint32_t px = (uint32_t)c->in.h * c->in.w;
    for (uint32_t ch = 0; ch < c->in.c; ++ch) {
      double s = 0.0;
      for (uint32_t q = 0; q < px; ++q) s += c->x[q * c->in.c + ch];
      l += c->r[ch] * s / px;
    }
    return l;
  }
  const tn_train_pool* p = c->pool;
  const int oh = (p->in.h - p->kernel_h) / p->stride_h + 1;
  const int ow = (p->in.w - p->kernel_w) / p->stride_w + 1;
  for (int oy = 0; oy < oh; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      for (int ch = 0; ch < p->in.c; ++ch) {
        double s = 0.0;
        for (int ky = 0; ky < p->kernel_h; ++ky) {
          for (int kx = 0; kx < p->kernel_w; ++kx) {
            s += c->x[((oy * p->stride_h + ky) * p->in.w + ox * p->stride_w +
                       kx) *
                          p->in.c +
                      ch];
          }
        }
        l += c->r[(oy * ow + ox) * p->in.c + ch] * s /
             (p->kernel_h * p->kernel_w);
      }
    }
  }
  return l;
}

TN_TEST(relu_and_pool_gradients_match_finite_differences) {
  static float x[MAXN], y[MAXN], r[MAXN], gi[MAXN];
  static double xd[MAXN], rd[MAXN], fx[MAXN];
  tn_rng rng;
  tn_rng_seed(&rng, 13, 7);

  /* ReLU, inputs kept away from the kink at 0. */
  const tn_train_shape rs = {1, 1, 40};
  fill_uniform(&rng, x, 40, -1.0f, 1.0f);
  for (int i = 0; i < 40; ++i) {
    if (x[i] > -0.01f && x[i] < 0.01f) x[i] = 0.5f;
  }
  fill_uniform(&rng, r, 40, -1.0f, 1.0f);
  to_double(x, xd, 40);
  to_double(r, rd, 40);
  TN_CHECK_STATUS(tn_relu_forward_f32(40, x, y), TN_OK);
  TN_CHECK_STATUS(tn_relu_backward_f32(40, y, r, gi), TN_OK);
  vec_ctx rc = {NULL, rs, 1, xd, rd};
  finite_diff(pool_loss, &rc, xd, 40, 1e-4, fx);
  CHECK_CLOSE(gi, fx, 40, 1e-6);
  for (int i = 0; i < 40; ++i) TN_CHECK(y[i] >= 0.0f);
  tn_test_digest("relu.y", y, 40 * sizeof(float));
  tn_test_digest("relu.grad_in", gi, 40 * sizeof(float));
  /* In place. */
  TN_CHECK_STATUS(tn_relu_forward_f32(40, x, x), TN_OK);
  TN_CHECK(memcmp(x, y, 40 * sizeof(float)) == 0);

  /* Average pool with overlapping windows along h. */
  const tn_train_pool p = {{5, 6, 2}, 2, 3, 1, 2};
  tn_train_shape os;
  TN_REQUIRE(tn_avgpool_out_shape(&p, &os) == TN_OK);
  TN_CHECK_EQ(os.h, 4);
  TN_CHECK_EQ(os.w, 2);
  const uint32_t nx = 60, ny = tn_train_shape_count(os);
  fill_uniform(&rng, x, nx, -1.0f, 1.0f);
  fill_uniform(&rng, r, ny, -1.0f, 1.0f);
  to_double(x, xd, nx);
  to_double(r, rd, ny);
  TN_CHECK_STATUS(tn_avgpool_forward_f32(&p, x, y), TN_OK);
  TN_CHECK_STATUS(tn_avgpool_backward_f32(&p, r, gi), TN_OK);
  vec_ctx pc = {&p, p.in, 0, xd, rd};
  finite_diff(pool_loss, &pc, xd, nx, 1e-3, fx);
  CHECK_CLOSE(gi, fx, nx, 1e-5);
  /* Channel 0 of window (0, 0): rows 0-1, columns 0-2. */
  const double y0 = (xd[0] + xd[2] + xd[4] + xd[12] + xd[14] + xd[16]) / 6.0;
  TN_CHECK(abs_d((double)y[0] - y0) < 1e-6);
  tn_test_digest("avgpool.y", y, ny * sizeof(float));
  tn_test_digest("avgpool.grad_in", gi, nx * sizeof(float));

  /* Global average pool. */
  const tn_train_shape gs = {3, 4, 5};
  fill_uniform(&rng, x, 60, -1.0f, 1.0f);
  fill_uniform(&rng, r, 5, -1.0f, 1.0f);
  to_double(x, xd, 60);
  to_double(r, rd, 5);
  TN_CHECK_STATUS(tn_global_avgpool_forward_f32(gs, x, y), TN_OK);
  TN_CHECK_STATUS(tn_global_avgpool_backward_f32(gs, r, gi), TN_OK);
  vec_ctx gc = {NULL, gs, 0, xd, rd};
  finite_diff(pool_loss, &gc, xd, 60, 1e-3, fx);
  CHECK_CLOSE(gi, fx, 60, 1e-5);
  double m = 0.0;
  for (int q = 0; q < 12; ++q) m += xd[q * 5 + 3];
  TN_CHECK(abs_d((double)y[3] - m / 12.0) < 1e-6);
  tn_test_digest("gap.y", y, 5 * sizeof(float));
  tn_test_digest("gap.grad_in", gi, 60 * sizeof(float));
}

TN_TEST(bad_arguments_are_rejected) {
  float buf[64] = {0};
  tn_train_shape s;
  tn_train_conv ok = {{4, 4, 2}, 2, 3, 3, 1, 1, 1, 1, 1, 1};
  TN_CHECK_STATUS(tn_conv2d_out_shape(&ok, &s), TN_OK);
  TN_CHECK_STATUS(tn_conv2d_out_shape(NULL, &s), TN_ERR_NULL);
  tn_train_conv bad = ok;
  bad.kernel_h = 0;
  TN_CHECK_STATUS(tn_conv2d_forward_f32(&bad, buf, buf, buf, buf), TN_ERR_ARG);
  bad = ok;
  bad.stride_w = 0;
  TN_CHECK_STATUS(tn_conv2d_forward_f32(&bad, buf, buf, buf, buf), TN_ERR_ARG);
  bad = ok;
  bad.pad_left = 3; /* pad >= kernel */
  TN_CHECK_STATUS(tn_dwconv2d_forward_f32(&bad, buf, buf, buf, buf),
                  TN_ERR_ARG);
  bad = ok;
  bad.kernel_h = 9; /* window larger than the padded input */
  TN_CHECK_STATUS(tn_conv2d_backward_f32(&bad, buf, buf, buf, buf, buf, buf),
                  TN_ERR_ARG);
  bad = ok;
  bad.out_c = 0;
  TN_CHECK_STATUS(tn_conv2d_forward_f32(&bad, buf, buf, buf, buf), TN_ERR_ARG);
  bad = ok;
  bad.in.c = 0;
  TN_CHECK_STATUS(tn_dwconv2d_backward_f32(&bad, buf, buf, buf, buf, buf, buf),
                  TN_ERR_ARG);
  bad = ok;
  bad.in.h = 0xffff;
  bad.in.w = 0xffff;
  bad.in.c = 0xffff; /* element count overflows the limit */
  TN_CHECK_STATUS(tn_conv2d_forward_f32(&bad, buf, buf, buf, buf), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_conv2d_forward_f32(&ok, NULL, buf, buf, buf), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_conv2d_backward_f32(&ok, buf, NULL, buf, buf, NULL, NULL),
                  TN_ERR_NULL);
  /* Weight gradient without the input it needs. */
  TN_CHECK_STATUS(tn_conv2d_backward_f32(&ok, NULL, buf, buf, NULL, buf, NULL),
                  TN_ERR_NULL);

  tn_train_pointwise pw = {{2, 2, 3}, 0};
  TN_CHECK_STATUS(tn_pointwise_forward_f32(&pw, buf, buf, buf, buf),
                  TN_ERR_ARG);
  pw.out_c = 2;
  TN_CHECK_STATUS(tn_pointwise_forward_f32_fast(&pw, buf, NULL, buf, buf),
                  TN_ERR_NULL);
  TN_CHECK_STATUS(
      tn_pointwise_backward_f32_fast(&pw, buf, buf, NULL, buf, buf, buf),
      TN_ERR_NULL);
  tn_train_fc fc = {0, 3};
  TN_CHECK_STATUS(tn_fc_forward_f32(&fc, buf, buf, buf, buf), TN_ERR_ARG);
  fc.in_features = 1u << 20;
  fc.out_features = 1u << 10; /* 2^30 weights */
  TN_CHECK_STATUS(tn_fc_backward_f32(&fc, buf, buf, buf, buf, buf, buf),
                  TN_ERR_ARG);
  tn_train_pool pool = {{4, 4, 1}, 5, 1, 1, 1};
  TN_CHECK_STATUS(tn_avgpool_forward_f32(&pool, buf, buf), TN_ERR_ARG);
  pool.kernel_h = 2;
  pool.stride_h = 0;
  TN_CHECK_STATUS(tn_avgpool_backward_f32(&pool, buf, buf), TN_ERR_ARG);
  tn_train_shape zero = {0, 4, 4};
  TN_CHECK_STATUS(tn_global_avgpool_forward_f32(zero, buf, buf), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_relu_forward_f32(4, NULL, buf), TN_ERR_NULL);
  TN_CHECK_STATUS(
      tn_relu_backward_f32(TN_TRAIN_MAX_ELEMENTS + 1u, buf, buf, buf),
      TN_ERR_ARG);
  /* Nothing was written by the rejected calls. */
  for (int i = 0; i < 64; ++i) TN_CHECK(buf[i] == 0.0f);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(conv2d_gradients_match_finite_differences),
      TN_CASE(dwconv2d_gradients_match_finite_differences),
      TN_CASE(pointwise_and_fc_gradients_match_finite_differences),
      TN_CASE(fast_variants_are_bit_exact),
      TN_CASE(relu_and_pool_gradients_match_finite_differences),
      TN_CASE(bad_arguments_are_rejected),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
