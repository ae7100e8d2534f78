/*
 * The engine behind tn_conv2d_s8_fast and tn_pwconv2d_s8_fast: convolution
 * as a matrix product. Once per call the weights are unpacked (sub-byte
 * weights included) and re-laid four output channels interleaved, and the
 * input offset is folded into per-channel biases (bias + input_offset *
 * sum(w)); then, four output pixels at a time, the receptive fields are
 * gathered (im2col) into a tile with the same interleaving, padded positions
 * holding the input zero point so they contribute exactly zero. A 4x4
 * register-blocked inner loop, unrolled four times along the reduction, then
 * computes 16 accumulators with 8 byte loads per 16 multiply-adds. The sums
 * are exactly the reference's: every term and partial sum stays inside int32
 * (see TN_KERNELS_MAX_REDUCTION / TN_KERNELS_MAX_BIAS), so the order of
 * summation does not matter.
 */
#include <string.h>

#include "kernels/tn_kernels_internal.h"

static int32_t round_up4(int32_t v) { return (v + 3) & ~3; }

size_t tn_conv_gemm_s8_buffer_size(int32_t out_c, int32_t k) {
  size_t oc = (size_t)round_up4(out_c);
  size_t kp = (size_t)tn_gemm_k_padded(k);
  return 3u + oc * sizeof(tn_chan_q) + oc * kp + 4u * kp;
}

/* Packs weights [out_c][k] into [block][kp][4] (zeros beyond out_c and k)
 * and prepares the per-channel requantization table. */
static void pack_weights(const tn_weights* weights, const int32_t* bias,
                         const tn_quant_params* quant, int32_t input_offset,
                         int32_t out_c, int32_t k, int32_t kp, int8_t* packed,
                         tn_chan_q* chan) {
  int32_t oc_pad = round_up4(out_c);
  for (int32_t oc = 0; oc < oc_pad; ++oc) {
    int8_t* dst = packed + (size_t)(oc >> 2) * (size_t)kp * 4u + (oc & 3);
    int32_t sum = 0;
    if (oc < out_c) {
      tn_weights_unpack_run(weights, (size_t)oc * (size_t)k, (size_t)k, dst,
                            4u);
      for (int32_t i = 0; i < k; ++i) sum += dst[(size_t)i * 4u];
      for (int32_t i = k; i < kp; ++i) dst[(size_t)i * 4u] = 0;
      int32_t qi = tn_quant_index(quant, oc);
      int32_t shift = quant->shift[qi];
      chan[oc].bias = (bias ? bias[oc] : 0) + input_offset * sum;
      chan[oc].multiplier = quant->multiplier[qi];
      /* |x| <= 128 and |w| <= 128 bound every term of the GEMM sum. */
      const int64_t bound =
          (int64_t)(chan[oc].bias < 0 ? -chan[oc].bias : chan[oc].bias) +
          (int64_t)k * 16384;
      tn_chan_q_set_shift(&chan[oc], shift, bound);
    } else {
      /* Padding channel: zero weights, outputs never stored; marked narrow
       * so it does not force its block onto the general path. */
      for (int32_t i = 0; i < kp; ++i) dst[(size_t)i * 4u] = 0;
      memset(&chan[oc], 0, sizeof(chan[oc]));
      tn_chan_q_set_shift(&chan[oc], -1, 0);
    }
  }
}

/* First filter tap (of `kernel`, spaced `dil`) whose input coordinate
 * origin + tap * dil is >= 0, and one past the last that is < extent. */
static void valid_taps(int32_t origin, int32_t extent, int32_t kernel,
                       int32_t dil, int32_t* first, int32_t* end) {
  int32_t lo = origin < 0 ? (-origin + dil - 1) / dil : 0;
  int32_t hi = extent > origin ? (extent - origin + dil - 1) / dil : 0;
  if (hi > kernel) hi = kernel;
  if (lo > hi) lo = hi;
  *first = lo;
  *end = hi;
}

/* Copies n bytes to every 4th byte of dst. */
static void copy_strided4(int8_t* dst, const int8_t* src, int32_t n) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    dst[0] = src[i];
    dst[4] = src[i + 1];
    dst[8] = src[i + 2];
    dst[12] = src[i + 3];
    dst += 16;
  }
  for (; i < n; ++i, dst += 4) *dst = src[i];
}

/* Gathers the receptive field of output pixel (oy, ox) into column `col` of
 * the [kp][4] tile: the window is clipped to the image once, positions
 * outside get the input zero point, and each valid filter row is copied as
 * one run when dilation_w is 1. */
static void gather_pixel(const tn_conv_params* p, const tn_dims* in,
                         const int8_t* input, int32_t kh, int32_t kw,
                         int32_t dil_h, int32_t dil_w, int32_t oy, int32_t ox,
                         int8_t* tile, int32_t col) {
  const int32_t in_c = in->c;
  const int32_t y0 = oy * p->stride_h - p->padding.top;
  const int32_t x0 = ox * p->stride_w - p->padding.left;
  int32_t ky0, ky1, kx0, kx1;
  valid_taps(y0, in->h, kh, dil_h, &ky0, &ky1);
  valid_taps(x0, in->w, kw, dil_w, &kx0, &kx1);
  if (ky0 > 0 || ky1 < kh || kx0 > 0 || kx1 < kw) {
    const int8_t zero_point = (int8_t)(-p->input_offset);
    const int32_t k = kh * kw * in_c;
    for (int32_t i = 0; i < k; ++i) tile[(size_t)i * 4u + col] = zero_point;
  }
  const int32_t run = (kx1 - kx0) * in_c;
  for (int32_t ky = ky0; ky < ky1; ++ky) {
    const int8_t* src = input + ((size_t)(y0 + ky * dil_h) * (size_t)in->w +
                                 (size_t)(x0 + kx0 * dil_w)) *
                                    (size_t)in_c;
    int8_t* dst = tile + (size_t)((ky * kw + kx0) * in_c) * 4u + col;
    if (dil_w == 1) {
      copy_strided4(dst, src, run);
    } else {
      for (int32_t kx = kx0; kx < kx1; ++kx) {
        copy_strided4(dst, src, in_c);
        src += (size_t)dil_w * (size_t)in_c;
        dst += (size_t)in_c * 4u;
      }
    }
  }
}

/* One reduction step of the 4x4 block at byte offset `o` (a multiple of 4)
 * into the packed weights and the tile. */
#define TN_GEMM_STEP(o)                                         \
  do {                                                          \
    const int32_t w0 = wp[(o) + 0], w1 = wp[(o) + 1];           \
    const int32_t w2 = wp[(o) + 2], w3 = wp[(o) + 3];           \
    int32_t x = xp[(o) + 0];                                    \
    c00 += w0 * x, c10 += w1 * x, c20 += w2 * x, c30 += w3 * x; \
    x = xp[(o) + 1];                                            \
    c01 += w0 * x, c11 += w1 * x, c21 += w2 * x, c31 += w3 * x; \
    x = xp[(o) + 2];                                            \
    c02 += w0 * x, c12 += w1 * x, c22 += w2 * x, c32 += w3 * x; \
    x = xp[(o) + 3];                                            \
    c03 += w0 * x, c13 += w1 * x, c23 += w2 * x, c33 += w3 * x; \
  } while (0)

/* The register-blocked inner product of one 4-channel block of packed
 * weights `wp` ([kp][4]) with the tile `xp` ([kp][4]), kp a positive multiple
 * of 4 and xend = xp + 4 * kp. Accumulators start at the folded biases
 * q[0..3].bias; acc[4 * p + m] receives the sum for channel m, pixel p. Kept
 * out of line so that its 16 accumulators own the register file (see
 * CMakeLists.txt for the compiler flags this file gets on GCC). */
TN_NOINLINE static void gemm_4x4(const int8_t* wp, const int8_t* xp,
                                 const int8_t* xend, const tn_chan_q* q,
                                 int32_t* acc) {
  int32_t c00 = q[0].bias, c10 = q[1].bias, c20 = q[2].bias, c30 = q[3].bias;
  int32_t c01 = c00, c11 = c10, c21 = c20, c31 = c30;
  int32_t c02 = c00, c12 = c10, c22 = c20, c32 = c30;
  int32_t c03 = c00, c13 = c10, c23 = c20, c33 = c30;
  do {
    TN_GEMM_STEP(0);
    TN_GEMM_STEP(4);
    TN_GEMM_STEP(8);
    TN_GEMM_STEP(12);
    wp += 16;
    xp += 16;
  } while (xp != xend);
  acc[0] = c00, acc[1] = c10, acc[2] = c20, acc[3] = c30;
  acc[4] = c01, acc[5] = c11, acc[6] = c21, acc[7] = c31;
  acc[8] = c02, acc[9] = c12, acc[10] = c22, acc[11] = c32;
  acc[12] = c03, acc[13] = c13, acc[14] = c23, acc[15] = c33;
}

/* Multiplies every 4-channel block of `packed` with the tile and writes the
 * requantized outputs of the `np` valid pixels starting at `out`
 * (pixel stride out_c). */
static void gemm_tile(const int8_t* packed, const tn_chan_q* chan,
                      const int8_t* tile, int32_t kp, int32_t out_c, int32_t np,
                      int32_t out_offset, int32_t act_min, int32_t act_max,
                      int8_t* out) {
  const int32_t blocks = (out_c + 3) >> 2;
  const int8_t* tile_end = tile + (size_t)kp * 4u;
  int32_t acc[16];
  for (int32_t b = 0; b < blocks; ++b) {
    const tn_chan_q* q = chan + (size_t)b * 4u;
    gemm_4x4(packed + (size_t)b * (size_t)kp * 4u, tile, tile_end, q, acc);
    const int32_t oc0 = b * 4;
    const int32_t nc = out_c - oc0 < 4 ? out_c - oc0 : 4;
    if (np == 4 && (q[0].narrow & q[1].narrow & q[2].narrow & q[3].narrow)) {
      for (int32_t m = 0; m < nc; ++m) {
        const tn_chan_q qm = q[m];
        int8_t* o = out + oc0 + m;
        o[0] =
            tn_chan_requant_narrow(acc[m], &qm, out_offset, act_min, act_max);
        o[out_c] = tn_chan_requant_narrow(acc[4 + m], &qm, out_offset, act_min,
                                          act_max);
        o[2 * out_c] = tn_chan_requant_narrow(acc[8 + m], &qm, out_offset,
                                              act_min, act_max);
        o[3 * out_c] = tn_chan_requant_narrow(acc[12 + m], &qm, out_offset,
                                              act_min, act_max);
      }
    } else {
      for (int32_t m = 0; m < nc; ++m) {
        const tn_chan_q qm = q[m];
        int8_t* o = out + oc0 + m;
        for (int32_t p = 0; p < np; ++p) {
          o[(size_t)p * (size_t)out_c] = tn_chan_requant(
              acc[4 * p + m], &qm, out_offset, act_min, act_max);
        }
      }
    }
  }
}

tn_status tn_conv_gemm_s8(const tn_conv_params* params,
                          const tn_quant_params* quant,
                          const tn_dims* input_dims, const int8_t* input,
                          const tn_dims* filter_dims, const tn_weights* weights,
                          const int32_t* bias, const tn_dims* output_dims,
                          int8_t* output, void* scratch, size_t scratch_size) {
  const int32_t kh = filter_dims->h, kw = filter_dims->w;
  const int32_t k = kh * kw * input_dims->c;
  const int32_t kp = tn_gemm_k_padded(k);
  const int32_t out_c = output_dims->c;
  if (scratch == NULL) return TN_ERR_NULL;
  if (scratch_size < tn_conv_gemm_s8_buffer_size(out_c, k)) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  /* 1x1 filters ignore dilation (as the pointwise reference does). */
  const int32_t dil_h = kh == 1 ? 1 : params->dilation_h;
  const int32_t dil_w = kw == 1 ? 1 : params->dilation_w;
  tn_chan_q* chan = (tn_chan_q*)tn_align4(scratch);
  int8_t* packed = (int8_t*)(chan + round_up4(out_c));
  int8_t* tile = packed + (size_t)round_up4(out_c) * (size_t)kp;
  pack_weights(weights, bias, quant, params->input_offset, out_c, k, kp, packed,
               chan);
  /* Reduction padding of the tile stays zero for the whole call. */
  memset(tile + (size_t)k * 4u, 0, (size_t)(kp - k) * 4u);

  const int32_t pixels = output_dims->h * output_dims->w;
  int32_t oy = 0, ox = 0; /* coordinates of the next pixel to gather */
  for (int32_t p0 = 0; p0 < pixels; p0 += 4) {
    const int32_t np = pixels - p0 < 4 ? pixels - p0 : 4;
    for (int32_t col = 0; col < 4; ++col) {
      if (col < np) {
        gather_pixel(params, input_dims, input, kh, kw, dil_h, dil_w, oy, ox,
                     tile, col);
        if (++ox == output_dims->w) ox = 0, ++oy;
      } else {
        for (int32_t i = 0; i < k; ++i) tile[(size_t)i * 4u + col] = 0;
      }
    }
    gemm_tile(packed, chan, tile, kp, out_c, np, params->output_offset,
              params->activation.min, params->activation.max,
              output + (size_t)p0 * (size_t)out_c);
  }
  return TN_OK;
}
