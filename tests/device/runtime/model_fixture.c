/* Implementation of the runtime test fixture (see model_fixture.h). */
#include "model_fixture.h"

#include <string.h>

void fx_init(fixture_model* m, uint64_t seed, uint32_t h, uint32_t w,
             uint32_t c) {
  memset(m, 0, sizeof(*m));
  tn_rng_seed(&m->rng, seed, 7u);
  m->graph.tensors = m->tensors;
  m->graph.ops = m->ops;
  m->graph.input_tensor = fx_tensor(m, TN_DTYPE_INT8, h, w, c, 0.05f,
                                    tn_rng_range(&m->rng, -10, 10));
}

uint16_t fx_tensor(fixture_model* m, uint8_t dtype, uint32_t h, uint32_t w,
                   uint32_t c, float scale, int32_t zero_point) {
  uint32_t id = m->graph.tensor_count++;
  tn_tensor_desc* t = &m->tensors[id];
  t->dtype = dtype;
  t->h = h;
  t->w = w;
  t->c = c;
  t->scale = dtype == TN_DTYPE_INT8 ? scale : 0.0f;
  t->zero_point = dtype == TN_DTYPE_INT8 ? zero_point : 0;
  return (uint16_t)id;
}

static tn_op_desc* new_op(fixture_model* m, uint8_t type, uint16_t in) {
  tn_op_desc* op = &m->ops[m->graph.op_count++];
  memset(op, 0, sizeof(*op));
  op->type = type;
  op->input0 = in;
  op->input1 = TN_NO_TENSOR;
  return op;
}

/* Stores value `v` as element `i` of a `bits`-bit stream packed low bits
 * first (the kernels' sub-byte format); 8 bits is a plain byte. */
static void put_weight(uint8_t* stream, uint32_t i, uint32_t bits, int32_t v) {
  uint32_t bit = i * bits;
  uint32_t mask = (1u << bits) - 1u;
  stream[bit / 8u] |= (uint8_t)(((uint32_t)v & mask) << (bit % 8u));
}

/* Power-of-two exponent e with 0.75 * 2^e close to `scale` (no libm). */
static int32_t shift_for(float scale) {
  int32_t e = 0;
  float s = scale / 0.75f;
  for (int i = 0; i < 64 && s < 0.70710678f; ++i) {
    s *= 2.0f;
    --e;
  }
  for (int i = 0; i < 64 && s > 1.41421356f; ++i) {
    s *= 0.5f;
    ++e;
  }
  return e;
}

/* Random weights and requantization for a weighted op with `rows` output
 * channels of `red` taps. */
static void fill_weighted(fixture_model* m, tn_op_desc* op, uint32_t rows,
                          uint32_t red) {
  int32_t lo = op->weight_bits == 8 ? -128 : op->weight_bits == 4 ? -8 : -2;
  int32_t hi = -lo - 1;
  float w_std = op->weight_bits == 8   ? 74.0f
                : op->weight_bits == 4 ? 4.6f
                                       : 1.1f;
  uint32_t count = rows * red;
  op->weights_offset = m->weights_size;
  op->weights_size = (count * op->weight_bits + 7u) / 8u;
  uint8_t* stream = m->weights + m->weights_size;
  memset(stream, 0, op->weights_size);
  for (uint32_t i = 0; i < count; ++i) {
    put_weight(stream, i, op->weight_bits, tn_rng_range(&m->rng, lo, hi));
  }
  m->weights_size += op->weights_size;
  /* Aim at outputs with a spread of about 40 around the zero point. */
  float root = 1.0f;
  while (root * root < (float)red) root += 1.0f;
  int32_t shift = shift_for(40.0f / (root * 60.0f * w_std));
  op->quant_offset = 4u * m->quant_words;
  op->quant_size = 12u * rows;
  int32_t* q = m->quant + m->quant_words;
  for (uint32_t r = 0; r < rows; ++r) {
    q[r] = tn_rng_range(&m->rng, -3000, 3000);
    q[rows + r] = tn_rng_range(&m->rng, 1 << 30, 0x7FFFFFFF);
    q[2 * rows + r] = shift + tn_rng_range(&m->rng, -1, 0);
  }
  m->quant_words += 3u * rows;
}

uint16_t fx_conv_rect(fixture_model* m, uint8_t type, uint16_t in,
                      uint32_t out_c, const fx_window* win, uint8_t bits,
                      int8_t act_min, int8_t act_max) {
  const tn_tensor_desc* x = &m->tensors[in];
  fx_window one = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
  const fx_window* g = type == TN_OP_PWCONV ? &one : win;
  uint32_t eh = (g->kh - 1u) * g->dh + 1u, ew = (g->kw - 1u) * g->dw + 1u;
  uint32_t oh = (x->h + g->pt + g->pb - eh) / g->sh + 1u;
  uint32_t ow = (x->w + g->pl + g->pr - ew) / g->sw + 1u;
  if (type == TN_OP_DWCONV2D) out_c = x->c;
  uint32_t red = type == TN_OP_CONV2D     ? (uint32_t)g->kh * g->kw * x->c
                 : type == TN_OP_DWCONV2D ? (uint32_t)g->kh * g->kw
                                          : x->c;
  uint16_t out = fx_tensor(m, TN_DTYPE_INT8, oh, ow, out_c, 0.05f,
                           tn_rng_range(&m->rng, -20, 20));
  tn_op_desc* op = new_op(m, type, in);
  op->output = out;
  op->kernel_h = g->kh;
  op->kernel_w = g->kw;
  op->stride_h = g->sh;
  op->stride_w = g->sw;
  op->dilation_h = g->dh;
  op->dilation_w = g->dw;
  op->pad_top = g->pt;
  op->pad_bottom = g->pb;
  op->pad_left = g->pl;
  op->pad_right = g->pr;
  op->weight_bits = bits;
  op->act_min = act_min;
  op->act_max = act_max;
  fill_weighted(m, op, out_c, red);
  return out;
}

uint16_t fx_conv(fixture_model* m, uint8_t type, uint16_t in, uint32_t out_c,
                 uint8_t k, uint8_t stride, uint8_t pad, uint8_t bits,
                 int8_t act_min, int8_t act_max) {
  fx_window w = {k, k, stride, stride, 1, 1, pad, pad, pad, pad};
  return fx_conv_rect(m, type, in, out_c, &w, bits, act_min, act_max);
}

uint16_t fx_fc(fixture_model* m, uint16_t in, uint32_t out_n, uint8_t bits) {
  const tn_tensor_desc* x = &m->tensors[in];
  uint32_t red = x->h * x->w * x->c;
  uint16_t out = fx_tensor(m, TN_DTYPE_INT8, 1, 1, out_n, 0.05f,
                           tn_rng_range(&m->rng, -20, 20));
  tn_op_desc* op = new_op(m, TN_OP_FC, in);
  op->output = out;
  op->weight_bits = bits;
  op->act_min = -128;
  op->act_max = 127;
  fill_weighted(m, op, out_n, red);
  return out;
}

uint16_t fx_pool(fixture_model* m, uint8_t type, uint16_t in, uint8_t k,
                 uint8_t stride, uint8_t pad) {
  const tn_tensor_desc* x = &m->tensors[in];
  uint32_t oh = (x->h + 2u * pad - k) / stride + 1u;
  uint32_t ow = (x->w + 2u * pad - k) / stride + 1u;
  uint16_t out =
      fx_tensor(m, TN_DTYPE_INT8, oh, ow, x->c, x->scale, x->zero_point);
  tn_op_desc* op = new_op(m, type, in);
  op->output = out;
  op->kernel_h = op->kernel_w = k;
  op->stride_h = op->stride_w = stride;
  op->dilation_h = op->dilation_w = 1;
  op->pad_top = op->pad_bottom = op->pad_left = op->pad_right = pad;
  op->act_min = -128;
  op->act_max = 127;
  return out;
}

uint16_t fx_global_avgpool(fixture_model* m, uint16_t in) {
  const tn_tensor_desc* x = &m->tensors[in];
  uint16_t out =
      fx_tensor(m, TN_DTYPE_INT8, 1, 1, x->c, x->scale, x->zero_point);
  tn_op_desc* op = new_op(m, TN_OP_GLOBAL_AVGPOOL, in);
  op->output = out;
  op->act_min = -128;
  op->act_max = 127;
  return out;
}

uint16_t fx_add(fixture_model* m, uint16_t a, uint16_t b) {
  const tn_tensor_desc* x = &m->tensors[a];
  uint16_t out = fx_tensor(m, TN_DTYPE_INT8, x->h, x->w, x->c, 0.05f,
                           tn_rng_range(&m->rng, -10, 10));
  tn_op_desc* op = new_op(m, TN_OP_ADD, a);
  op->input1 = b;
  op->output = out;
  op->act_min = -128;
  op->act_max = 127;
  op->quant_offset = 4u * m->quant_words;
  op->quant_size = 4u * 7u;
  int32_t* q = m->quant + m->quant_words;
  /* Equal input and output scales: out = zp + (a - zpa) + (b - zpb). */
  q[0] = 20;
  q[1] = 1 << 30;
  q[2] = 0;
  q[3] = 1 << 30;
  q[4] = 0;
  q[5] = 1 << 30;
  q[6] = -18;
  m->quant_words += 7u;
  return out;
}

uint16_t fx_reshape(fixture_model* m, uint16_t in, uint32_t h, uint32_t w,
                    uint32_t c) {
  const tn_tensor_desc* x = &m->tensors[in];
  uint16_t out = fx_tensor(m, x->dtype, h, w, c, x->scale, x->zero_point);
  tn_op_desc* op = new_op(m, TN_OP_RESHAPE, in);
  op->output = out;
  return out;
}

uint16_t fx_softmax(fixture_model* m, uint16_t in) {
  const tn_tensor_desc* x = &m->tensors[in];
  uint16_t out =
      fx_tensor(m, TN_DTYPE_INT8, x->h, x->w, x->c, 1.0f / 256.0f, -128);
  tn_op_desc* op = new_op(m, TN_OP_SOFTMAX, in);
  op->output = out;
  op->quant_offset = 4u * m->quant_words;
  op->quant_size = 4u * 3u;
  int32_t* q = m->quant + m->quant_words;
  /* Input scale 0.05, beta 1, 5 integer bits: 0.05 * 2^26 = 0.8 * 2^22. */
  q[0] = 1717986918; /* 0.8 * 2^31 */
  q[1] = 22;
  q[2] = -496;
  m->quant_words += 3u;
  return out;
}

uint16_t fx_cut(fixture_model* m, uint16_t cut) {
  const tn_tensor_desc* x = &m->tensors[cut];
  uint16_t out = fx_tensor(m, TN_DTYPE_FLOAT32, x->h, x->w, x->c, 0, 0);
  m->has_tail = 1;
  m->tail.cut_tensor = cut;
  m->tail.first_op = (uint16_t)m->graph.op_count;
  tn_op_desc* op = new_op(m, TN_OP_DEQUANTIZE, cut);
  op->output = out;
  return out;
}

static void fill_params(fixture_model* m, tn_op_desc* op, uint32_t floats) {
  op->weights_offset = 4u * m->param_count;
  op->weights_size = 4u * floats;
  for (uint32_t i = 0; i < floats; ++i) {
    m->params[m->param_count + i] = tn_rng_unit_f32(&m->rng) - 0.5f;
  }
  m->param_count += floats;
  ++m->tail.trainable_layers;
}

uint16_t fx_pw_f32(fixture_model* m, uint16_t in, uint32_t out_c) {
  const tn_tensor_desc* x = &m->tensors[in];
  uint16_t out = fx_tensor(m, TN_DTYPE_FLOAT32, x->h, x->w, out_c, 0, 0);
  tn_op_desc* op = new_op(m, TN_OP_PWCONV_F32, in);
  op->output = out;
  op->kernel_h = op->kernel_w = 1;
  op->stride_h = op->stride_w = 1;
  op->dilation_h = op->dilation_w = 1;
  fill_params(m, op, out_c * x->c + out_c);
  return out;
}

uint16_t fx_fc_f32(fixture_model* m, uint16_t in, uint32_t out_n) {
  const tn_tensor_desc* x = &m->tensors[in];
  uint32_t k = x->h * x->w * x->c;
  uint16_t out = fx_tensor(m, TN_DTYPE_FLOAT32, 1, 1, out_n, 0, 0);
  tn_op_desc* op = new_op(m, TN_OP_FC_F32, in);
  op->output = out;
  fill_params(m, op, out_n * k + out_n);
  return out;
}

uint16_t fx_relu_f32(fixture_model* m, uint16_t in) {
  const tn_tensor_desc* x = &m->tensors[in];
  uint16_t out = fx_tensor(m, TN_DTYPE_FLOAT32, x->h, x->w, x->c, 0, 0);
  tn_op_desc* op = new_op(m, TN_OP_RELU_F32, in);
  op->output = out;
  return out;
}

uint16_t fx_avgpool_f32(fixture_model* m, uint16_t in, uint8_t k,
                        uint8_t stride) {
  const tn_tensor_desc* x = &m->tensors[in];
  uint32_t oh = (x->h - k) / stride + 1u;
  uint32_t ow = (x->w - k) / stride + 1u;
  uint16_t out = fx_tensor(m, TN_DTYPE_FLOAT32, oh, ow, x->c, 0, 0);
  tn_op_desc* op = new_op(m, TN_OP_AVGPOOL_F32, in);
  op->output = out;
  op->kernel_h = op->kernel_w = k;
  op->stride_h = op->stride_w = stride;
  op->dilation_h = op->dilation_w = 1;
  return out;
}

void fx_finish(fixture_model* m, uint16_t out) {
  m->graph.output_tensor = out;
  if (m->has_tail) {
    m->tail.params = m->params;
    m->tail.param_count = m->param_count;
  }
}

tn_status fx_plan(fixture_model* m, tn_target target) {
  return tn_plan_memory(&m->graph, m->has_tail ? &m->tail : NULL, target, NULL,
                        m->placements, m->tiles, &m->plan, &m->report);
}

tn_status fx_build(fixture_model* m, tn_target target, int reserve_signature,
                   const void* canary_in, const void* canary_out, uint8_t* out,
                   size_t capacity, size_t* written) {
  tn_blob_header_desc h;
  memset(&h, 0, sizeof(h));
  h.target = target;
  for (uint32_t i = 0; i < TN_BLOB_MODEL_ID_SIZE; ++i)
    h.model_id[i] = (uint8_t)i;
  h.model_version = 3;
  h.rollback_counter = 2;
  tn_blob_builder b;
  tn_status st = tn_blob_builder_init(&b, &h);
  if (st == TN_OK) st = tn_blob_builder_set_graph(&b, &m->graph);
  if (st == TN_OK) st = tn_blob_builder_set_plan(&b, &m->plan);
  if (st == TN_OK)
    st = tn_blob_builder_set_weights(&b, m->weights, m->weights_size);
  if (st == TN_OK) st = tn_blob_builder_set_quant(&b, m->quant, m->quant_words);
  if (st == TN_OK && m->has_tail) st = tn_blob_builder_set_tail(&b, &m->tail);
  if (st == TN_OK && canary_in != NULL) {
    uint32_t in_bytes = 0, out_bytes = 0;
    (void)in_bytes;
    const tn_tensor_desc* ti = &m->tensors[m->graph.input_tensor];
    const tn_tensor_desc* to = &m->tensors[m->graph.output_tensor];
    in_bytes = ti->h * ti->w * ti->c;
    out_bytes =
        to->h * to->w * to->c * (to->dtype == TN_DTYPE_FLOAT32 ? 4u : 1u);
    st = tn_blob_builder_set_canary(&b, canary_in, in_bytes, canary_out,
                                    out_bytes);
  }
  if (st == TN_OK) {
    tn_model_cost cost;
    st = tn_cost_model(&m->graph, m->tiles,
                       m->has_tail ? m->tail.first_op : m->graph.op_count,
                       tn_cost_profile_gap9(), &cost);
    tn_blob_metadata meta = {cost.macs, cost.cycles, cost.energy_pj};
    if (st == TN_OK) st = tn_blob_builder_set_metadata(&b, &meta);
  }
  if (st == TN_OK && reserve_signature)
    st = tn_blob_builder_reserve_signature(&b);
  if (st == TN_OK) st = tn_blob_builder_finish(&b, out, capacity, written);
  return st;
}

void fx_small_cnn(fixture_model* m, uint64_t seed, int with_tail) {
  fx_init(m, seed, 10, 8, 3);
  uint16_t x = m->graph.input_tensor;
  /* Conv 3x3 pad 1 with fused ReLU (clamp at the output zero point). */
  uint16_t c1 = fx_conv(m, TN_OP_CONV2D, x, 8, 3, 1, 1, 8, 0, 127);
  m->ops[m->graph.op_count - 1].act_min = (int8_t)m->tensors[c1].zero_point;
  uint16_t p1 = fx_pool(m, TN_OP_MAXPOOL, c1, 2, 2, 0);
  if (!with_tail) {
    uint16_t y = fx_fc(m, p1, 4, 8);
    fx_finish(m, y);
    return;
  }
  uint16_t f = fx_cut(m, p1);
  uint16_t a = fx_pw_f32(m, f, 6);
  uint16_t r = fx_relu_f32(m, a);
  uint16_t g = fx_avgpool_f32(m, r, 2, 2);
  uint16_t y = fx_fc_f32(m, g, 4);
  fx_finish(m, y);
}

void fx_ds_cnn(fixture_model* m, uint64_t seed, int with_tail) {
  fx_init(m, seed, 49, 10, 1);
  /* conv 10x4, stride 2, "same" padding: 49x10 -> 25x5x64. */
  fx_window w1 = {10, 4, 2, 2, 1, 1, 4, 5, 1, 1};
  uint16_t x =
      fx_conv_rect(m, TN_OP_CONV2D, m->graph.input_tensor, 64, &w1, 8, 0, 127);
  m->ops[m->graph.op_count - 1].act_min = (int8_t)m->tensors[x].zero_point;
  for (int i = 0; i < 4; ++i) {
    x = fx_conv(m, TN_OP_DWCONV2D, x, 64, 3, 1, 1, 8, 0, 127);
    m->ops[m->graph.op_count - 1].act_min = (int8_t)m->tensors[x].zero_point;
    x = fx_conv(m, TN_OP_PWCONV, x, 64, 1, 1, 0, 8, 0, 127);
    m->ops[m->graph.op_count - 1].act_min = (int8_t)m->tensors[x].zero_point;
  }
  x = fx_global_avgpool(m, x);
  if (with_tail) {
    uint16_t f = fx_cut(m, x);
    x = fx_fc_f32(m, f, 12);
  } else {
    x = fx_fc(m, x, 12, 8);
  }
  fx_finish(m, x);
}
