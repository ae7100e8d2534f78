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
      size_t base = (size_t)oc * (size_t)k;
      if (weights->bits == 8) {
        const int8_t* src = (const int8_t*)weights->data + base;
        for (int32_t i = 0; i < k; ++i) {
          dst[(size_t)i * 4u] = src[i];
          sum += src[i];
        }
      } else {
        for (int32_t i = 0; i < k; ++i) {
          int8_t w = tn_weights_get(weights, base + (size_t)i);
          dst[(size_t)i * 4u] = w;
          sum += w;
        }
      }
      for (int32_t i = k; i < kp; ++i) dst[(size_t)i * 4u] = 0;
      int32_t qi = tn_quant_index(quant, oc);
      int32_t shift = quant->shift[qi];
      chan[oc].bias = (bias ? bias[oc] : 0) + input_offset * sum;
      chan[oc].multiplier = quant->multiplier[qi];
      chan[oc].left_shift = shift > 0 ? shift : 0;
      chan[oc].right_shift = shift > 0 ? 0 : -shift;
    } else {
      for (int32_t i = 0; i < kp; ++i) dst[(size_t)i * 4u] = 0;
      chan[oc].bias = 0;
      chan[oc].multiplier = 0;
      chan[oc].left_shift = 0;
      chan[oc].right_shift = 0;
    }
  }
}

/* Gathers the receptive field of output pixel `pix` into column `col` of
 * the [kp][4] tile. Positions outside the image get the input zero point. */
static void gather_pixel(const tn_conv_params* p, const tn_dims* in,
                         const int8_t* input, int32_t kh, int32_t kw,
                         int32_t dil_h, int32_t dil_w, int32_t out_w,
                         int32_t pix, int8_t* tile, int32_t col) {
  const int32_t in_c = in->c;
  const int8_t zero_point = (int8_t)(-p->input_offset);
  const int32_t oy = pix / out_w;
  const int32_t ox = pix - oy * out_w;
  const int32_t y0 = oy * p->stride_h - p->padding.top;
  const int32_t x0 = ox * p->stride_w - p->padding.left;
  int8_t* dst = tile + col;
  for (int32_t ky = 0; ky < kh; ++ky) {
    const int32_t iy = y0 + ky * dil_h;
    const int row_ok = iy >= 0 && iy < in->h;
    for (int32_t kx = 0; kx < kw; ++kx) {
      const int32_t ix = x0 + kx * dil_w;
      if (row_ok && ix >= 0 && ix < in->w) {
        const int8_t* src = input + ((size_t)iy * in->w + ix) * in_c;
        int32_t ic = 0;
        for (; ic + 4 <= in_c; ic += 4) {
          dst[0] = src[ic];
          dst[4] = src[ic + 1];
          dst[8] = src[ic + 2];
          dst[12] = src[ic + 3];
          dst += 16;
        }
        for (; ic < in_c; ++ic) {
          *dst = src[ic];
          dst += 4;
        }
      } else {
        for (int32_t ic = 0; ic < in_c; ++ic) {
          *dst = zero_point;
          dst += 4;
        }
      }
    }
  }
}

/* One reduction step of the 4x4 block at byte offset `o` (a multiple of 4)
 * into the packed weights and the tile. */
#define TN_GEMM_STEP(o)                                              \
  do {                                                               \
    const int32_t w0 = wp[(o) + 0], w1 = wp[(o) + 1];                \
    const int32_t w2 = wp[(o) + 2], w3 = wp[(o) + 3];                \
    int32_t x = xp[(o) + 0];                                         \
    c00 += w0 * x, c10 += w1 * x, c20 += w2 * x, c30 += w3 * x;      \
    x = xp[(o) + 1];                                                 \
    c01 += w0 * x, c11 += w1 * x, c21 += w2 * x, c31 += w3 * x;      \
    x = xp[(o) + 2];                                                 \
    c02 += w0 * x, c12 += w1 * x, c22 += w2 * x, c32 += w3 * x;      \
    x = xp[(o) + 3];                                                 \
    c03 += w0 * x, c13 += w1 * x, c23 += w2 * x, c33 += w3 * x;      \
  } while (0)

/* Multiplies every 4-channel block of `packed` with the tile and writes the
 * requantized outputs of the `np` valid pixels starting at `out`
 * (pixel stride out_c). */
static void gemm_tile(const int8_t* packed, const tn_chan_q* chan,
                      const int8_t* tile, int32_t kp, int32_t out_c,
                      int32_t np, int32_t out_offset, int32_t act_min,
                      int32_t act_max, int8_t* out) {
  const int32_t blocks = (out_c + 3) >> 2;
  const int8_t* tile_end = tile + (size_t)kp * 4u;
  for (int32_t b = 0; b < blocks; ++b) {
    const tn_chan_q* q = chan + (size_t)b * 4u;
    int32_t c00 = q[0].bias, c01 = c00, c02 = c00, c03 = c00;
    int32_t c10 = q[1].bias, c11 = c10, c12 = c10, c13 = c10;
    int32_t c20 = q[2].bias, c21 = c20, c22 = c20, c23 = c20;
    int32_t c30 = q[3].bias, c31 = c30, c32 = c30, c33 = c30;
    const int8_t* wp = packed + (size_t)b * (size_t)kp * 4u;
    const int8_t* xp = tile;
    do {
      TN_GEMM_STEP(0);
      TN_GEMM_STEP(4);
      TN_GEMM_STEP(8);
      TN_GEMM_STEP(12);
      wp += 16;
      xp += 16;
    } while (xp != tile_end);

    const int32_t oc0 = b * 4;
    int32_t acc[4][4] = {{c00, c10, c20, c30},
                         {c01, c11, c21, c31},
                         {c02, c12, c22, c32},
                         {c03, c13, c23, c33}};
    if (np == 4 && oc0 + 4 <= out_c) {
      for (int32_t p = 0; p < 4; ++p) {
        int8_t* o = out + (size_t)p * (size_t)out_c + oc0;
        o[0] = tn_chan_requant(acc[p][0], &q[0], out_offset, act_min, act_max);
        o[1] = tn_chan_requant(acc[p][1], &q[1], out_offset, act_min, act_max);
        o[2] = tn_chan_requant(acc[p][2], &q[2], out_offset, act_min, act_max);
        o[3] = tn_chan_requant(acc[p][3], &q[3], out_offset, act_min, act_max);
      }
    } else {
      const int32_t nc = out_c - oc0 < 4 ? out_c - oc0 : 4;
      for (int32_t p = 0; p < np; ++p) {
        int8_t* o = out + (size_t)p * (size_t)out_c + oc0;
        for (int32_t m = 0; m < nc; ++m) {
          o[m] = tn_chan_requant(acc[p][m], &q[m], out_offset, act_min,
                                 act_max);
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
  pack_weights(weights, bias, quant, params->input_offset, out_c, k, kp,
               packed, chan);
  /* Reduction padding of the tile stays zero for the whole call. */
  memset(tile + (size_t)k * 4u, 0, (size_t)(kp - k) * 4u);

  const int32_t pixels = output_dims->h * output_dims->w;
  for (int32_t p0 = 0; p0 < pixels; p0 += 4) {
    const int32_t np = pixels - p0 < 4 ? pixels - p0 : 4;
    for (int32_t col = 0; col < 4; ++col) {
      if (col < np) {
        gather_pixel(params, input_dims, input, kh, kw, dil_h, dil_w,
                     output_dims->w, p0 + col, tile, col);
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
