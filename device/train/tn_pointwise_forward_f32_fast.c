/*
 * FP32 pointwise convolution forward, register-blocked: two rows (pixels)
 * by four output channels at a time, eight independent accumulators. Each
 * accumulator still sums over ci ascending from +0 and adds the bias last,
 * so the results equal tn_pointwise_forward_f32's bit for bit; the gain is
 * instruction-level parallelism and fewer loads per product.
 */
#include "train/tn_train_internal.h"

/* One row against output channels [co, out_c), four at a time. */
static void tn__dense_row(uint32_t in_c, uint32_t out_c, uint32_t co,
                          const float* x, const float* w, const float* b,
                          float* o) {
  for (; co + 4 <= out_c; co += 4) {
    const float* w0 = w + (size_t)co * in_c;
    const float* w1 = w0 + in_c;
    const float* w2 = w1 + in_c;
    const float* w3 = w2 + in_c;
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    for (uint32_t ci = 0; ci < in_c; ++ci) {
      const float xv = x[ci];
      a0 += w0[ci] * xv;
      a1 += w1[ci] * xv;
      a2 += w2[ci] * xv;
      a3 += w3[ci] * xv;
    }
    if (b) {
      a0 += b[co];
      a1 += b[co + 1];
      a2 += b[co + 2];
      a3 += b[co + 3];
    }
    o[co] = a0;
    o[co + 1] = a1;
    o[co + 2] = a2;
    o[co + 3] = a3;
  }
  for (; co < out_c; ++co) {
    const float* wr = w + (size_t)co * in_c;
    float acc = 0.0f;
    for (uint32_t ci = 0; ci < in_c; ++ci) acc += wr[ci] * x[ci];
    o[co] = b ? acc + b[co] : acc;
  }
}

void tn__dense_forward_fast(uint32_t rows, uint32_t in_c, uint32_t out_c,
                            const float* in, const float* w, const float* b,
                            float* out) {
  uint32_t r = 0;
  for (; r + 2 <= rows; r += 2) {
    const float* x0 = in + (size_t)r * in_c;
    const float* x1 = x0 + in_c;
    float* o0 = out + (size_t)r * out_c;
    float* o1 = o0 + out_c;
    uint32_t co = 0;
    for (; co + 4 <= out_c; co += 4) {
      const float* w0 = w + (size_t)co * in_c;
      const float* w1 = w0 + in_c;
      const float* w2 = w1 + in_c;
      const float* w3 = w2 + in_c;
      float a00 = 0.0f, a01 = 0.0f, a02 = 0.0f, a03 = 0.0f;
      float a10 = 0.0f, a11 = 0.0f, a12 = 0.0f, a13 = 0.0f;
      for (uint32_t ci = 0; ci < in_c; ++ci) {
        const float xa = x0[ci], xb = x1[ci];
        const float wa = w0[ci], wb = w1[ci], wc = w2[ci], wd = w3[ci];
        a00 += wa * xa;
        a01 += wb * xa;
        a02 += wc * xa;
        a03 += wd * xa;
        a10 += wa * xb;
        a11 += wb * xb;
        a12 += wc * xb;
        a13 += wd * xb;
      }
      if (b) {
        a00 += b[co];
        a01 += b[co + 1];
        a02 += b[co + 2];
        a03 += b[co + 3];
        a10 += b[co];
        a11 += b[co + 1];
        a12 += b[co + 2];
        a13 += b[co + 3];
      }
      o0[co] = a00;
      o0[co + 1] = a01;
      o0[co + 2] = a02;
      o0[co + 3] = a03;
      o1[co] = a10;
      o1[co + 1] = a11;
      o1[co + 2] = a12;
      o1[co + 3] = a13;
    }
    tn__dense_row(in_c, out_c, co, x0, w, b, o0);
    tn__dense_row(in_c, out_c, co, x1, w, b, o1);
  }
  for (; r < rows; ++r) {
    tn__dense_row(in_c, out_c, 0, in + (size_t)r * in_c, w, b,
                  out + (size_t)r * out_c);
  }
}

tn_status tn_pointwise_forward_f32_fast(const tn_train_pointwise* p,
                                        const float* in, const float* w,
                                        const float* b, float* out) {
  uint32_t pixels;
  tn_status st = tn__pointwise_check(p, &pixels);
  if (st != TN_OK) return st;
  if (!in || !w || !out) return TN_ERR_NULL;
  tn__dense_forward_fast(pixels, p->in.c, p->out_c, in, w, b, out);
  return TN_OK;
}
