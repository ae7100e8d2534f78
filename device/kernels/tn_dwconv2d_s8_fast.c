/*
 * Optimized portable int8 depthwise convolution (channel multiplier 1).
 * Once per call the weights are unpacked and re-laid as [channel block][tap]
 * [4], and the input offset is folded into the per-channel biases. Output
 * pixels are processed in pairs: for each pixel a table holds one input
 * pointer per filter tap, pointing at a row of zero points when the tap falls
 * in the padding, so the inner loop has no bounds tests and padded taps add
 * exactly zero. Pairs run over the flattened output (across row ends, so
 * odd widths waste nothing); each tap feeds 4 channels x 2 pixels of
 * accumulators from 4 weight loads and 8 input loads. Channels beyond the last
 * multiple of 4 take a scalar path. Bit-exact with tn_dwconv2d_s8.
 */
#include <string.h>

#include "kernels/tn_kernels_internal.h"

/* Scratch: [tap pointer table of one pixel pair: taps x 2][chan
 * 4*ceil(c/4)][packed weights taps * 4*ceil(c/4)][zero-point row
 * 4*ceil(c/4)], with alignment slack. */
static size_t dw_scratch_size(int32_t c, int32_t taps) {
  size_t cp = ((size_t)c + 3u) & ~(size_t)3u;
  return (sizeof(const int8_t*) - 1u) + 2u * (size_t)taps * sizeof(int8_t*) +
         cp * sizeof(tn_chan_q) + (size_t)taps * cp + cp;
}

size_t tn_dwconv2d_s8_fast_buffer_size(const tn_conv_params* params,
                                       const tn_dims* input_dims,
                                       const tn_dims* filter_dims,
                                       const tn_dims* output_dims) {
  if (tn_check_conv_shape(TN_CONV_DEPTHWISE, params, input_dims, filter_dims,
                          output_dims) != TN_OK) {
    return 0;
  }
  return dw_scratch_size(input_dims->c, filter_dims->h * filter_dims->w);
}

/* Fills tap pointers for output pixel (oy, ox) into table[2 * t + col]. */
static void build_taps(const tn_conv_params* p, const tn_dims* in,
                       const int8_t* input, const int8_t* zero_row, int32_t kh,
                       int32_t kw, int32_t oy, int32_t ox, const int8_t** table,
                       int32_t col) {
  const int32_t y0 = oy * p->stride_h - p->padding.top;
  const int32_t x0 = ox * p->stride_w - p->padding.left;
  const int8_t** t = table + col;
  for (int32_t ky = 0; ky < kh; ++ky) {
    const int32_t iy = y0 + ky * p->dilation_h;
    const int row_ok = iy >= 0 && iy < in->h;
    for (int32_t kx = 0; kx < kw; ++kx) {
      const int32_t ix = x0 + kx * p->dilation_w;
      *t = (row_ok && ix >= 0 && ix < in->w)
               ? input + ((size_t)iy * in->w + ix) * in->c
               : zero_row;
      t += 2;
    }
  }
}

tn_status tn_dwconv2d_s8_fast(const tn_conv_params* params,
                              const tn_quant_params* quant,
                              const tn_dims* input_dims, const int8_t* input,
                              const tn_dims* filter_dims,
                              const tn_weights* weights, const int32_t* bias,
                              const tn_dims* output_dims, int8_t* output,
                              void* scratch, size_t scratch_size) {
  tn_status st =
      tn_check_conv_call(TN_CONV_DEPTHWISE, params, quant, input_dims, input,
                         filter_dims, weights, bias, output_dims, output);
  if (st != TN_OK) return st;
  const int32_t c = input_dims->c;
  const int32_t kh = filter_dims->h, kw = filter_dims->w;
  const int32_t taps = kh * kw;
  if (scratch == NULL) return TN_ERR_NULL;
  if (scratch_size < dw_scratch_size(c, taps)) return TN_ERR_BUFFER_TOO_SMALL;

  const int32_t cp = (c + 3) & ~3;
  const size_t ptr_align = sizeof(const int8_t*);
  uintptr_t base =
      ((uintptr_t)scratch + (ptr_align - 1u)) & ~(uintptr_t)(ptr_align - 1u);
  const int8_t** table = (const int8_t**)(void*)base;
  tn_chan_q* chan = (tn_chan_q*)(void*)(table + 2u * (size_t)taps);
  int8_t* packed = (int8_t*)(chan + cp);
  int8_t* zero_row = packed + (size_t)taps * (size_t)cp;

  /* Weights [tap][c] -> [block][tap][4], each tap row unpacked through the
   * zero-point row (refilled below); folded bias per channel. */
  for (int32_t t = 0; t < taps; ++t) {
    tn_weights_unpack_run(weights, (size_t)t * (size_t)c, (size_t)c, zero_row,
                          1u);
    for (int32_t ch = 0; ch < cp; ++ch) {
      packed[(size_t)(ch >> 2) * (size_t)taps * 4u + (size_t)t * 4u +
             (ch & 3)] = ch < c ? zero_row[ch] : 0;
    }
  }
  for (int32_t ch = 0; ch < cp; ++ch) {
    if (ch < c) {
      const int8_t* src =
          packed + (size_t)(ch >> 2) * (size_t)taps * 4u + (ch & 3);
      int32_t sum = 0;
      for (int32_t t = 0; t < taps; ++t) sum += src[(size_t)t * 4u];
      int32_t qi = tn_quant_index(quant, ch);
      chan[ch].bias = (bias ? bias[ch] : 0) + params->input_offset * sum;
      chan[ch].multiplier = quant->multiplier[qi];
      const int64_t bound =
          (int64_t)(chan[ch].bias < 0 ? -chan[ch].bias : chan[ch].bias) +
          (int64_t)taps * 16384;
      tn_chan_q_set_shift(&chan[ch], quant->shift[qi], bound);
    } else {
      memset(&chan[ch], 0, sizeof(chan[ch]));
    }
  }
  memset(zero_row, (int)(uint8_t)(int8_t)(-params->input_offset), (size_t)cp);

  const int32_t out_offset = params->output_offset;
  const int32_t act_min = params->activation.min;
  const int32_t act_max = params->activation.max;
  const int32_t full_blocks = c >> 2;
  const int32_t out_w = output_dims->w;
  const int32_t pixels = output_dims->h * out_w;
  const int8_t* const* table_end = table + 2u * (size_t)taps;
  int32_t oy = 0, ox = 0; /* coordinates of pixel p0 */
  for (int32_t p0 = 0; p0 < pixels; p0 += 2) {
    const int pair = p0 + 1 < pixels;
    build_taps(params, input_dims, input, zero_row, kh, kw, oy, ox, table, 0);
    if (++ox == out_w) ox = 0, ++oy;
    if (pair) {
      build_taps(params, input_dims, input, zero_row, kh, kw, oy, ox, table, 1);
      if (++ox == out_w) ox = 0, ++oy;
    } else {
      for (int32_t t = 0; t < taps; ++t) table[2 * t + 1] = table[2 * t];
    }
    int8_t* out_a = output + (size_t)p0 * (size_t)c;
    int8_t* out_b = out_a + c;
    for (int32_t b = 0; b < full_blocks; ++b) {
      const tn_chan_q* q = chan + (size_t)b * 4u;
      int32_t a0 = q[0].bias, a1 = q[1].bias, a2 = q[2].bias, a3 = q[3].bias;
      int32_t b0 = a0, b1 = a1, b2 = a2, b3 = a3;
      const int8_t* wp = packed + (size_t)b * (size_t)taps * 4u;
      const size_t off = (size_t)b * 4u;
      const int8_t* const* tp = table;
      do {
        const int8_t* xa = tp[0] + off;
        const int8_t* xb = tp[1] + off;
        const int32_t w0 = wp[0], w1 = wp[1], w2 = wp[2], w3 = wp[3];
        a0 += w0 * xa[0];
        a1 += w1 * xa[1];
        a2 += w2 * xa[2];
        a3 += w3 * xa[3];
        b0 += w0 * xb[0];
        b1 += w1 * xb[1];
        b2 += w2 * xb[2];
        b3 += w3 * xb[3];
        wp += 4;
        tp += 2;
      } while (tp != table_end);
      int8_t* oa = out_a + off;
      int8_t* ob = out_b + off;
      if (q[0].narrow & q[1].narrow & q[2].narrow & q[3].narrow) {
        oa[0] = tn_chan_requant_narrow(a0, &q[0], out_offset, act_min, act_max);
        oa[1] = tn_chan_requant_narrow(a1, &q[1], out_offset, act_min, act_max);
        oa[2] = tn_chan_requant_narrow(a2, &q[2], out_offset, act_min, act_max);
        oa[3] = tn_chan_requant_narrow(a3, &q[3], out_offset, act_min, act_max);
        if (pair) {
          ob[0] =
              tn_chan_requant_narrow(b0, &q[0], out_offset, act_min, act_max);
          ob[1] =
              tn_chan_requant_narrow(b1, &q[1], out_offset, act_min, act_max);
          ob[2] =
              tn_chan_requant_narrow(b2, &q[2], out_offset, act_min, act_max);
          ob[3] =
              tn_chan_requant_narrow(b3, &q[3], out_offset, act_min, act_max);
        }
      } else {
        oa[0] = tn_chan_requant(a0, &q[0], out_offset, act_min, act_max);
        oa[1] = tn_chan_requant(a1, &q[1], out_offset, act_min, act_max);
        oa[2] = tn_chan_requant(a2, &q[2], out_offset, act_min, act_max);
        oa[3] = tn_chan_requant(a3, &q[3], out_offset, act_min, act_max);
        if (pair) {
          ob[0] = tn_chan_requant(b0, &q[0], out_offset, act_min, act_max);
          ob[1] = tn_chan_requant(b1, &q[1], out_offset, act_min, act_max);
          ob[2] = tn_chan_requant(b2, &q[2], out_offset, act_min, act_max);
          ob[3] = tn_chan_requant(b3, &q[3], out_offset, act_min, act_max);
        }
      }
    }
    for (int32_t ch = full_blocks * 4; ch < c; ++ch) {
      const int8_t* wp =
          packed + (size_t)(ch >> 2) * (size_t)taps * 4u + (ch & 3);
      int32_t a = chan[ch].bias, bb = a;
      for (int32_t t = 0; t < taps; ++t) {
        const int32_t w = wp[(size_t)t * 4u];
        a += w * table[2 * (size_t)t][ch];
        bb += w * table[2 * (size_t)t + 1][ch];
      }
      out_a[ch] = tn_chan_requant(a, &chan[ch], out_offset, act_min, act_max);
      if (pair) {
        out_b[ch] =
            tn_chan_requant(bb, &chan[ch], out_offset, act_min, act_max);
      }
    }
  }
  return TN_OK;
}
