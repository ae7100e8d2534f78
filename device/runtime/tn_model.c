/*
 * The executor: binds a validated blob to one caller arena and runs its ops
 * in order, int8 ops with the kernels room and the FP32 tail with the
 * training room's operators. Tileable layers can run tile by tile through
 * an emulated L1 buffer exactly as the memory plan says (input slab with
 * its halo and per-tile padding, channel slices of weights and
 * quantization words, output scattered back into L2), which is how the
 * GAP port moves data with the cluster DMA; the result is bit-identical to
 * untiled execution. The blob was validated at load, so run-time checks
 * here are limited to what depends on data; a kernel error after
 * validation is a broken invariant and is returned as is.
 */
#include <string.h>

#include "kernels/tn_kernels.h"
#include "runtime/tn_runtime_internal.h"
#include "train/tn_train.h"

/* ---- Arena layout ----------------------------------------------------- */

typedef struct tn_arena_layout {
  uint64_t l2, l1, quant, tail, tile, scratch; /* offsets */
  uint64_t scratch_size;
  uint64_t total;
} tn_arena_layout;

static uint64_t up8(uint64_t v) { return (v + 7u) & ~(uint64_t)7u; }

static void dims_of(const tn_tensor_desc* t, tn_dims* d) {
  d->h = (int32_t)t->h;
  d->w = (int32_t)t->w;
  d->c = (int32_t)t->c;
}

static tn_conv_params conv_params(const tn_op_desc* op,
                                  const tn_tensor_desc* in,
                                  const tn_tensor_desc* out) {
  tn_conv_params p;
  p.stride_h = op->stride_h;
  p.stride_w = op->stride_w;
  p.dilation_h = op->dilation_h;
  p.dilation_w = op->dilation_w;
  p.padding.top = op->pad_top;
  p.padding.bottom = op->pad_bottom;
  p.padding.left = op->pad_left;
  p.padding.right = op->pad_right;
  p.input_offset = -in->zero_point;
  p.output_offset = out->zero_point;
  p.activation.min = op->act_min;
  p.activation.max = op->act_max;
  return p;
}

/* Kernel scratch of a weighted op over the given sub-problem. */
static size_t kernel_scratch(const tn_op_desc* op, const tn_tensor_desc* in,
                             const tn_tensor_desc* out, const tn_dims* in_dims,
                             const tn_dims* out_dims) {
  tn_conv_params p = conv_params(op, in, out);
  tn_dims f = {op->kernel_h, op->kernel_w, in_dims->c};
  switch (op->type) {
    case TN_OP_CONV2D:
      return tn_conv2d_s8_auto_buffer_size(&p, in_dims, &f, out_dims);
    case TN_OP_DWCONV2D:
      return tn_dwconv2d_s8_auto_buffer_size(&p, in_dims, &f, out_dims);
    case TN_OP_PWCONV:
      f.h = f.w = 1;
      return tn_pwconv2d_s8_auto_buffer_size(&p, in_dims, &f, out_dims);
    case TN_OP_FC:
      return tn_fc_s8_auto_buffer_size(in_dims->h * in_dims->w * in_dims->c,
                                       out_dims->c);
    default:
      return 0;
  }
}

static tn_status arena_layout(const tn_blob* blob,
                              const tn_model_options* options,
                              tn_arena_layout* l) {
  int tiled = options != NULL && options->tiled;
  uint64_t scratch = 0;
  for (uint32_t i = 0; i < blob->op_count; ++i) {
    tn_op_desc op;
    tn_tensor_desc in, out;
    tn_tile tile;
    (void)tn_blob_op(blob, i, &op);
    if (!tn_op_has_weights(op.type)) continue;
    (void)tn_blob_tensor(blob, op.input0, &in);
    (void)tn_blob_tensor(blob, op.output, &out);
    (void)tn_blob_tile(blob, i, &tile);
    tn_dims din, dout;
    dims_of(&in, &din);
    dims_of(&out, &dout);
    size_t s = kernel_scratch(&op, &in, &out, &din, &dout);
    if (s > scratch) scratch = s;
    if (tiled) {
      /* The largest tile: full slab rows, full channel slice. */
      din.h = (int32_t)tn_tile_input_rows(&op, &in, tile.tile_h);
      if (op.type == TN_OP_DWCONV2D) din.c = (int32_t)tile.tile_c;
      dout.h = (int32_t)tile.tile_h;
      dout.c = (int32_t)tile.tile_c;
      s = kernel_scratch(&op, &in, &out, &din, &dout);
      if (s > scratch) scratch = s;
    }
  }
  l->l2 = 0;
  l->l1 = up8(blob->l2_arena_bytes);
  l->quant = l->l1 + up8(blob->l1_arena_bytes);
  l->tail = l->quant + up8(blob->quant_size);
  l->tile = l->tail + up8(blob->tail_param_bytes);
  l->scratch = l->tile + (tiled ? up8(blob->l1_tile_bytes) : 0);
  l->scratch_size = scratch;
  l->total = l->scratch + up8(scratch);
  if (l->total > (uint64_t)SIZE_MAX) return TN_ERR_OVERFLOW;
  return TN_OK;
}

tn_status tn_model_arena_size(const tn_blob* blob,
                              const tn_model_options* options, size_t* size) {
  if (blob == NULL || size == NULL) return TN_ERR_NULL;
  tn_arena_layout l;
  tn_status st = arena_layout(blob, options, &l);
  if (st != TN_OK) return st;
  *size = (size_t)l.total;
  return TN_OK;
}

tn_status tn_model_init(tn_model* model, const tn_blob* blob, void* arena,
                        size_t arena_size, const tn_model_options* options) {
  if (model == NULL || blob == NULL || arena == NULL) return TN_ERR_NULL;
  if (((uintptr_t)arena & 7u) != 0) return TN_ERR_ARG;
  tn_arena_layout l;
  tn_status st = arena_layout(blob, options, &l);
  if (st != TN_OK) return st;
  if (arena_size < l.total) return TN_ERR_BUFFER_TOO_SMALL;
  memset(model, 0, sizeof(*model));
  model->blob = *blob;
  if (options != NULL) model->options = *options;
  model->arena = (uint8_t*)arena;
  model->arena_size = arena_size;
  model->l2 = model->arena + l.l2;
  model->l1 = model->arena + l.l1;
  model->quant = (int32_t*)(void*)(model->arena + l.quant);
  model->tail = (float*)(void*)(model->arena + l.tail);
  model->tile = model->options.tiled ? model->arena + l.tile : NULL;
  model->scratch = model->arena + l.scratch;
  model->scratch_size = (size_t)l.scratch_size;
  memset(model->arena, 0, (size_t)l.total);
  for (uint32_t i = 0; i < blob->quant_size / 4u; ++i) {
    model->quant[i] = tn_i32_from_u32(tn_load_u32le(blob->quant + 4u * i));
  }
  for (uint32_t i = 0; i < blob->tail_param_bytes / 4u; ++i) {
    model->tail[i] =
        tn_f32_from_bits(tn_load_u32le(blob->tail_params + 4u * i));
  }
  return TN_OK;
}

/* ---- Tensors ---------------------------------------------------------- */

static uint8_t* tensor_data(const tn_model* m, uint32_t id) {
  tn_placement p;
  (void)tn_blob_placement(&m->blob, id, &p);
  return (p.level == TN_MEM_L1 ? m->l1 : m->l2) + p.offset;
}

static tn_status view_of(tn_model* m, uint32_t id, tn_tensor_view* view) {
  if (m == NULL || view == NULL) return TN_ERR_NULL;
  (void)tn_blob_tensor(&m->blob, id, &view->desc);
  (void)tn_tensor_bytes(&view->desc, &view->bytes);
  view->data = tensor_data(m, id);
  return TN_OK;
}

tn_status tn_model_input(tn_model* model, tn_tensor_view* view) {
  if (model == NULL) return TN_ERR_NULL;
  return view_of(model, model->blob.input_tensor, view);
}

tn_status tn_model_output(tn_model* model, tn_tensor_view* view) {
  if (model == NULL) return TN_ERR_NULL;
  return view_of(model, model->blob.output_tensor, view);
}

tn_status tn_model_tensor(tn_model* model, uint32_t id, tn_tensor_view* view) {
  if (model == NULL) return TN_ERR_NULL;
  if (id >= model->blob.tensor_count) return TN_ERR_ARG;
  return view_of(model, id, view);
}

tn_status tn_model_cut(tn_model* model, tn_tensor_view* view) {
  if (model == NULL) return TN_ERR_NULL;
  if (!model->blob.has_tail) return TN_ERR_NOT_FOUND;
  return view_of(model, model->blob.cut_tensor, view);
}

/* ---- int8 ops on explicit buffers -------------------------------------- */

/* One int8 op (or one tile of it) on explicit buffers: the input has
 * `in_dims` and the op's padding replaced by `pad`; the output has
 * `out_dims`; bias / multiplier / shift point at the channel slice. */
typedef struct tn_subproblem {
  const int8_t* in;
  const int8_t* in2; /* ADD */
  tn_dims in_dims;
  tn_padding pad;
  const uint8_t* weights;
  const int32_t* bias;
  const int32_t* mult;
  const int32_t* shift;
  int8_t* out;
  tn_dims out_dims;
} tn_subproblem;

static tn_status run_int8(tn_model* m, const tn_op_desc* op,
                          const tn_tensor_desc* in, const tn_tensor_desc* in2,
                          const tn_tensor_desc* out, const tn_subproblem* s) {
  const int32_t* q = m->quant + op->quant_offset / 4u;
  switch (op->type) {
    case TN_OP_CONV2D:
    case TN_OP_DWCONV2D:
    case TN_OP_PWCONV: {
      tn_conv_params p = conv_params(op, in, out);
      p.padding = s->pad;
      tn_quant_params qp = {s->mult, s->shift, 1};
      tn_weights w = {s->weights, op->weight_bits};
      tn_dims f = {op->kernel_h, op->kernel_w, s->in_dims.c};
      if (op->type == TN_OP_CONV2D) {
        return tn_conv2d_s8_auto(&p, &qp, &s->in_dims, s->in, &f, &w, s->bias,
                                 &s->out_dims, s->out, m->scratch,
                                 m->scratch_size);
      }
      if (op->type == TN_OP_DWCONV2D) {
        return tn_dwconv2d_s8_auto(&p, &qp, &s->in_dims, s->in, &f, &w, s->bias,
                                   &s->out_dims, s->out, m->scratch,
                                   m->scratch_size);
      }
      return tn_pwconv2d_s8_auto(&p, &qp, &s->in_dims, s->in, &f, &w, s->bias,
                                 &s->out_dims, s->out, m->scratch,
                                 m->scratch_size);
    }
    case TN_OP_FC: {
      tn_fc_params p = {
          -in->zero_point, out->zero_point, {op->act_min, op->act_max}};
      tn_quant_params qp = {s->mult, s->shift, 1};
      tn_weights w = {s->weights, op->weight_bits};
      return tn_fc_s8_auto(&p, &qp, s->in_dims.h * s->in_dims.w * s->in_dims.c,
                           s->in, s->out_dims.c, &w, s->bias, s->out,
                           m->scratch, m->scratch_size);
    }
    case TN_OP_MAXPOOL:
    case TN_OP_AVGPOOL: {
      tn_pool_params p;
      p.filter_h = op->kernel_h;
      p.filter_w = op->kernel_w;
      p.stride_h = op->stride_h;
      p.stride_w = op->stride_w;
      p.padding = s->pad;
      p.activation.min = op->act_min;
      p.activation.max = op->act_max;
      if (op->type == TN_OP_MAXPOOL) {
        return tn_maxpool_s8(&p, &s->in_dims, s->in, &s->out_dims, s->out);
      }
      return tn_avgpool_s8(&p, &s->in_dims, s->in, &s->out_dims, s->out);
    }
    case TN_OP_GLOBAL_AVGPOOL: {
      tn_activation act = {op->act_min, op->act_max};
      return tn_global_avgpool_s8(&s->in_dims, s->in, act, s->out);
    }
    case TN_OP_ADD: {
      tn_add_params p;
      p.input1_offset = -in->zero_point;
      p.input2_offset = -in2->zero_point;
      p.left_shift = q[0];
      p.input1_multiplier = q[1];
      p.input1_shift = q[2];
      p.input2_multiplier = q[3];
      p.input2_shift = q[4];
      p.output_multiplier = q[5];
      p.output_shift = q[6];
      p.output_offset = out->zero_point;
      p.activation.min = op->act_min;
      p.activation.max = op->act_max;
      size_t n =
          (size_t)s->out_dims.h * (size_t)s->out_dims.w * (size_t)s->out_dims.c;
      return tn_add_s8(&p, n, s->in, s->in2, s->out);
    }
    case TN_OP_SOFTMAX: {
      tn_softmax_params p = {q[0], q[1], q[2]};
      return tn_softmax_s8(&p, s->in_dims.h * s->in_dims.w, s->in_dims.c, s->in,
                           s->out);
    }
    default:
      return TN_ERR_INTERNAL;
  }
}

/* Untiled: the whole op straight from the arena. */
static tn_status run_int8_whole(tn_model* m, const tn_op_desc* op,
                                const tn_tensor_desc* in,
                                const tn_tensor_desc* in2,
                                const tn_tensor_desc* out) {
  tn_subproblem s;
  memset(&s, 0, sizeof(s));
  s.in = (const int8_t*)tensor_data(m, op->input0);
  if (op->input1 != TN_NO_TENSOR) {
    s.in2 = (const int8_t*)tensor_data(m, op->input1);
  }
  dims_of(in, &s.in_dims);
  dims_of(out, &s.out_dims);
  s.pad.top = op->pad_top;
  s.pad.bottom = op->pad_bottom;
  s.pad.left = op->pad_left;
  s.pad.right = op->pad_right;
  if (tn_op_has_weights(op->type)) {
    const int32_t* q = m->quant + op->quant_offset / 4u;
    s.weights = m->blob.weights + op->weights_offset;
    s.bias = q;
    s.mult = q + out->c;
    s.shift = q + 2u * out->c;
  }
  s.out = (int8_t*)tensor_data(m, op->output);
  return run_int8(m, op, in, in2, out, &s);
}

/* Copies weights [first, first + count) of a packed stream to the start of
 * a fresh stream at `dst` (whole bytes when aligned, else element by
 * element). */
static void copy_weights(const uint8_t* src, uint32_t bits, uint32_t first,
                         uint32_t count, uint8_t* dst, uint32_t dst_first) {
  if (bits == 8) {
    memcpy(dst + dst_first, src + first, count);
    return;
  }
  tn_weights w = {src, (int32_t)bits};
  uint32_t mask = (1u << bits) - 1u;
  for (uint32_t i = 0; i < count; ++i) {
    int8_t v = tn_weights_get(&w, (size_t)first + i);
    uint32_t bit = (dst_first + i) * bits;
    dst[bit / 8u] = (uint8_t)(dst[bit / 8u] & ~(mask << (bit % 8u)));
    dst[bit / 8u] |= (uint8_t)(((uint32_t)(uint8_t)v & mask) << (bit % 8u));
  }
}

/* Copies rows [r0, r0 + rows) and channels [c0, c0 + cc) of an HWC tensor
 * of width w and c channels into a dense [rows][w][cc] buffer. */
static void gather(const int8_t* src, uint32_t w, uint32_t c, uint32_t r0,
                   uint32_t rows, uint32_t c0, uint32_t cc, int8_t* dst) {
  if (cc == c) {
    memcpy(dst, src + (size_t)r0 * w * c, (size_t)rows * w * c);
    return;
  }
  for (uint32_t p = 0; p < rows * w; ++p) {
    memcpy(dst + (size_t)p * cc, src + ((size_t)r0 * w + p) * c + c0, cc);
  }
}

/* The inverse of gather. */
static void scatter(const int8_t* src, uint32_t w, uint32_t c, uint32_t r0,
                    uint32_t rows, uint32_t c0, uint32_t cc, int8_t* dst) {
  for (uint32_t p = 0; p < rows * w; ++p) {
    memcpy(dst + ((size_t)r0 * w + p) * c + c0, src + (size_t)p * cc, cc);
  }
}

/* Tiled: channel tiles outer, row tiles inner, each through the tile
 * buffers (input slab, weight and quantization slices, output tile). */
static tn_status run_int8_tiled(tn_model* m, const tn_op_desc* op,
                                const tn_tensor_desc* in,
                                const tn_tensor_desc* in2,
                                const tn_tensor_desc* out,
                                const tn_tile* tile) {
  const int8_t* x = (const int8_t*)tensor_data(m, op->input0);
  const int8_t* x2 = op->input1 != TN_NO_TENSOR
                         ? (const int8_t*)tensor_data(m, op->input1)
                         : NULL;
  int8_t* y = (int8_t*)tensor_data(m, op->output);
  uint32_t th = tile->tile_h, tc = tile->tile_c;
  uint32_t red = tn_op_has_weights(op->type) ? tn_op_reduction(op, in) : 0;
  int window = op->type == TN_OP_CONV2D || op->type == TN_OP_DWCONV2D ||
               op->type == TN_OP_MAXPOOL || op->type == TN_OP_AVGPOOL;
  int all_in_channels = op->type == TN_OP_CONV2D || op->type == TN_OP_PWCONV ||
                        op->type == TN_OP_FC;

  /* Buffer layout inside the tile region, as in the footprint formula. */
  uint64_t rows_max = tn_tile_input_rows(op, in, th);
  uint64_t in_bytes;
  if (op->type == TN_OP_FC) {
    in_bytes = (uint64_t)in->h * in->w * in->c;
  } else if (op->type == TN_OP_ADD) {
    in_bytes = 2u * up8((uint64_t)th * in->w * tc);
  } else {
    in_bytes = rows_max * in->w * (all_in_channels ? in->c : tc);
  }
  uint64_t w_bytes = ((uint64_t)tc * red * op->weight_bits + 7u) / 8u;
  uint64_t q_bytes = tn_op_has_weights(op->type) ? 12u * (uint64_t)tc : 0;
  int8_t* in_buf = (int8_t*)m->tile;
  int8_t* in2_buf = in_buf + up8((uint64_t)th * in->w * tc);
  uint8_t* w_buf = m->tile + up8(in_bytes);
  int32_t* q_buf = (int32_t*)(void*)(w_buf + up8(w_bytes));
  int8_t* out_buf = (int8_t*)(void*)((uint8_t*)q_buf + up8(q_bytes));

  const int32_t* q = m->quant + op->quant_offset / 4u;
  const uint8_t* weights = m->blob.weights + op->weights_offset;
  uint32_t eff_h = window ? (op->kernel_h - 1u) * op->dilation_h + 1u : 1u;
  uint32_t stride_h = window ? op->stride_h : 1u;
  uint32_t pad_top = window ? op->pad_top : 0u;

  for (uint32_t c0 = 0; c0 < out->c; c0 += tc) {
    uint32_t cc = out->c - c0 < tc ? out->c - c0 : tc;
    if (tn_op_has_weights(op->type)) {
      /* Weight rows (or, for depthwise, the channel slice of every tap) and
       * the quantization words of the slice. */
      memset(w_buf, 0, (size_t)w_bytes);
      if (op->type == TN_OP_DWCONV2D) {
        for (uint32_t t = 0; t < red; ++t) {
          copy_weights(weights, op->weight_bits, t * out->c + c0, cc, w_buf,
                       t * cc);
        }
      } else {
        copy_weights(weights, op->weight_bits, c0 * red, cc * red, w_buf, 0);
      }
      memcpy(q_buf, q + c0, cc * sizeof(int32_t));
      memcpy(q_buf + cc, q + out->c + c0, cc * sizeof(int32_t));
      memcpy(q_buf + 2u * cc, q + 2u * out->c + c0, cc * sizeof(int32_t));
    }
    for (uint32_t r0 = 0; r0 < out->h; r0 += th) {
      uint32_t rows_out = out->h - r0 < th ? out->h - r0 : th;
      tn_subproblem s;
      memset(&s, 0, sizeof(s));
      s.pad.left = window ? op->pad_left : 0;
      s.pad.right = window ? op->pad_right : 0;
      uint32_t in_c = all_in_channels ? in->c : cc;
      uint32_t r_begin = 0, r_rows = in->h;
      if (op->type != TN_OP_FC && op->type != TN_OP_GLOBAL_AVGPOOL) {
        /* Input rows [start, end) of the tile, clipped to the tensor; the
         * clipped part becomes this tile's padding. */
        int64_t start = (int64_t)r0 * stride_h - pad_top;
        int64_t end =
            (int64_t)(r0 + rows_out - 1u) * stride_h - pad_top + eff_h;
        int64_t cs = start < 0 ? 0 : start;
        int64_t ce = end > (int64_t)in->h ? (int64_t)in->h : end;
        s.pad.top = (int32_t)(cs - start);
        s.pad.bottom = (int32_t)(end - ce);
        r_begin = (uint32_t)cs;
        r_rows = (uint32_t)(ce - cs);
      }
      if (op->type == TN_OP_FC) {
        memcpy(in_buf, x, (size_t)in->h * in->w * in->c);
        s.in_dims.h = 1;
        s.in_dims.w = 1;
        s.in_dims.c = (int32_t)(in->h * in->w * in->c);
      } else {
        gather(x, in->w, in->c, r_begin, r_rows, c0, in_c, in_buf);
        s.in_dims.h = (int32_t)r_rows;
        s.in_dims.w = (int32_t)in->w;
        s.in_dims.c = (int32_t)in_c;
      }
      s.in = in_buf;
      if (op->type == TN_OP_ADD) {
        gather(x2, in->w, in->c, r_begin, r_rows, c0, in_c, in2_buf);
        s.in2 = in2_buf;
      }
      if (tn_op_has_weights(op->type)) {
        s.weights = w_buf;
        s.bias = q_buf;
        s.mult = q_buf + cc;
        s.shift = q_buf + 2u * cc;
      }
      s.out = out_buf;
      s.out_dims.h = (int32_t)rows_out;
      s.out_dims.w = (int32_t)out->w;
      s.out_dims.c = (int32_t)cc;
      tn_status st = run_int8(m, op, in, in2, out, &s);
      if (st != TN_OK) return st;
      scatter(out_buf, out->w, out->c, r0, rows_out, c0, cc, y);
    }
  }
  return TN_OK;
}

/* ---- FP32 tail ops ---------------------------------------------------- */

static tn_train_shape shape_of(const tn_tensor_desc* t) {
  tn_train_shape s = {(uint16_t)t->h, (uint16_t)t->w, (uint16_t)t->c};
  return s;
}

static tn_status run_f32(tn_model* m, const tn_op_desc* op,
                         const tn_tensor_desc* in, const tn_tensor_desc* out) {
  const float* x = (const float*)(void*)tensor_data(m, op->input0);
  float* y = (float*)(void*)tensor_data(m, op->output);
  const float* params = m->tail + op->weights_offset / 4u;
  switch (op->type) {
    case TN_OP_PWCONV_F32: {
      tn_train_pointwise p = {shape_of(in), (uint16_t)out->c};
      return tn_pointwise_forward_f32_fast(&p, x, params,
                                           params + out->c * in->c, y);
    }
    case TN_OP_FC_F32: {
      uint32_t k = in->h * in->w * in->c;
      tn_train_fc p = {k, out->c};
      return tn_fc_forward_f32_fast(&p, x, params, params + out->c * k, y);
    }
    case TN_OP_RELU_F32:
      return tn_relu_forward_f32(in->h * in->w * in->c, x, y);
    case TN_OP_AVGPOOL_F32: {
      tn_train_pool p = {shape_of(in), op->kernel_h, op->kernel_w, op->stride_h,
                         op->stride_w};
      return tn_avgpool_forward_f32(&p, x, y);
    }
    default:
      return TN_ERR_INTERNAL;
  }
}

/* ---- Running ---------------------------------------------------------- */

/* The cut's dequantization: one exact int-to-float conversion and one
 * rounded multiply per element. */
static void dequantize(const tn_tensor_desc* t, const int8_t* q, float* f) {
  uint32_t n = t->h * t->w * t->c;
  for (uint32_t k = 0; k < n; ++k) {
    f[k] = t->scale * (float)((int32_t)q[k] - t->zero_point);
  }
}

static tn_status run_op(tn_model* m, uint32_t i) {
  tn_op_desc op;
  tn_tensor_desc in, in2, out;
  (void)tn_blob_op(&m->blob, i, &op);
  (void)tn_blob_tensor(&m->blob, op.input0, &in);
  (void)tn_blob_tensor(&m->blob, op.output, &out);
  if (op.input1 != TN_NO_TENSOR)
    (void)tn_blob_tensor(&m->blob, op.input1, &in2);
  switch (op.type) {
    case TN_OP_RESHAPE: {
      uint8_t* src = tensor_data(m, op.input0);
      uint8_t* dst = tensor_data(m, op.output);
      uint32_t bytes = 0;
      (void)tn_tensor_bytes(&in, &bytes);
      if (src != dst) memmove(dst, src, bytes);
      return TN_OK;
    }
    case TN_OP_DEQUANTIZE:
      dequantize(&in, (const int8_t*)tensor_data(m, op.input0),
                 (float*)(void*)tensor_data(m, op.output));
      return TN_OK;
    default:
      break;
  }
  if (tn_op_is_f32(op.type)) return run_f32(m, &op, &in, &out);
  tn_tile tile;
  (void)tn_blob_tile(&m->blob, i, &tile);
  if (m->options.tiled && tn_op_is_tileable(op.type) &&
      (tile.tile_h != out.h || tile.tile_c != out.c)) {
    return run_int8_tiled(m, &op, &in, op.input1 != TN_NO_TENSOR ? &in2 : NULL,
                          &out, &tile);
  }
  return run_int8_whole(m, &op, &in, op.input1 != TN_NO_TENSOR ? &in2 : NULL,
                        &out);
}

static tn_status run_range(tn_model* m, uint32_t first, uint32_t end) {
  for (uint32_t i = first; i < end; ++i) {
    tn_status st = run_op(m, i);
    if (st != TN_OK) return st;
  }
  return TN_OK;
}

tn_status tn_model_cut_f32(tn_model* model, float* out, uint32_t capacity) {
  if (model == NULL || out == NULL) return TN_ERR_NULL;
  if (!model->blob.has_tail) return TN_ERR_NOT_FOUND;
  tn_tensor_desc cut;
  (void)tn_blob_tensor(&model->blob, model->blob.cut_tensor, &cut);
  if (capacity < cut.h * cut.w * cut.c) return TN_ERR_BUFFER_TOO_SMALL;
  dequantize(&cut, (const int8_t*)tensor_data(model, model->blob.cut_tensor),
             out);
  return TN_OK;
}

tn_status tn_model_run_front(tn_model* model) {
  if (model == NULL || model->arena == NULL) return TN_ERR_NULL;
  return run_range(model, 0, model->blob.tail_first_op);
}

tn_status tn_model_run_tail(tn_model* model) {
  if (model == NULL || model->arena == NULL) return TN_ERR_NULL;
  if (!model->blob.has_tail) return TN_ERR_NOT_FOUND;
  return run_range(model, model->blob.tail_first_op, model->blob.op_count);
}

tn_status tn_model_run(tn_model* model) {
  tn_status st = tn_model_run_front(model);
  if (st != TN_OK || !model->blob.has_tail) return st;
  return tn_model_run_tail(model);
}

/* ---- Tail exposure and self-test -------------------------------------- */

uint32_t tn_model_tail_layer_count(const tn_model* model) {
  return model == NULL ? 0 : model->blob.trainable_layers;
}

tn_status tn_model_tail_layer(tn_model* model, uint32_t index,
                              tn_tail_view* out) {
  if (model == NULL || out == NULL) return TN_ERR_NULL;
  uint32_t seen = 0;
  for (uint32_t i = model->blob.tail_first_op; i < model->blob.op_count; ++i) {
    tn_op_desc op;
    (void)tn_blob_op(&model->blob, i, &op);
    if (!tn_op_has_params(op.type)) continue;
    if (seen++ != index) continue;
    memset(out, 0, sizeof(*out));
    out->op_index = i;
    out->type = op.type;
    (void)tn_blob_tensor(&model->blob, op.input0, &out->in);
    (void)tn_blob_tensor(&model->blob, op.output, &out->out);
    out->weights = model->tail + op.weights_offset / 4u;
    out->bias_count = out->out.c;
    out->weight_count = op.weights_size / 4u - out->bias_count;
    out->bias = out->weights + out->weight_count;
    return TN_OK;
  }
  return TN_ERR_NOT_FOUND;
}

tn_status tn_model_tail_spec(tn_model* model, tn_tail_layer* layers,
                             uint32_t capacity, uint32_t* count,
                             tn_train_shape* input, float** params,
                             uint32_t* param_count) {
  if (model == NULL || layers == NULL || count == NULL || input == NULL ||
      params == NULL || param_count == NULL) {
    return TN_ERR_NULL;
  }
  if (!model->blob.has_tail) return TN_ERR_NOT_FOUND;
  uint32_t n = 0;
  for (uint32_t i = model->blob.tail_first_op + 1u; i < model->blob.op_count;
       ++i) {
    if (n >= capacity || n >= TN_TAIL_MAX_LAYERS) return TN_ERR_UNSUPPORTED;
    tn_op_desc op;
    tn_tensor_desc out;
    (void)tn_blob_op(&model->blob, i, &op);
    (void)tn_blob_tensor(&model->blob, op.output, &out);
    tn_tail_layer* l = &layers[n++];
    memset(l, 0, sizeof(*l));
    switch (op.type) {
      case TN_OP_FC_F32:
        l->op = TN_TAIL_FC;
        l->out_c = (uint16_t)out.c;
        break;
      case TN_OP_PWCONV_F32:
        l->op = TN_TAIL_POINTWISE;
        l->out_c = (uint16_t)out.c;
        break;
      case TN_OP_RELU_F32:
        l->op = TN_TAIL_RELU;
        break;
      case TN_OP_AVGPOOL_F32:
        l->op = TN_TAIL_AVGPOOL;
        l->kernel_h = op.kernel_h;
        l->kernel_w = op.kernel_w;
        l->stride_h = op.stride_h;
        l->stride_w = op.stride_w;
        break;
      default:
        return TN_ERR_INTERNAL;
    }
  }
  tn_tensor_desc cut;
  (void)tn_blob_tensor(&model->blob, model->blob.cut_tensor, &cut);
  *input = shape_of(&cut);
  *count = n;
  *params = model->tail;
  *param_count = model->blob.tail_param_bytes / 4u;
  return TN_OK;
}

tn_status tn_model_self_test(tn_model* model) {
  if (model == NULL) return TN_ERR_NULL;
  const uint8_t* c = model->blob.canary;
  if (c == NULL) return TN_ERR_NOT_FOUND;
  uint32_t in_size = tn_load_u32le(c + TN_CANARY_INPUT_SIZE);
  uint32_t out_size = tn_load_u32le(c + TN_CANARY_OUTPUT_SIZE);
  tn_tensor_view in, out;
  (void)tn_model_input(model, &in);
  memcpy(in.data, c + TN_CANARY_HEADER_SIZE, in_size);
  tn_status st = tn_model_run(model);
  if (st != TN_OK) return st;
  (void)tn_model_output(model, &out);
  const uint8_t* want = c + TN_CANARY_HEADER_SIZE + ((in_size + 3u) & ~3u);
  const uint8_t* got = (const uint8_t*)out.data;
  if (out.desc.dtype == TN_DTYPE_FLOAT32) {
    for (uint32_t k = 0; k < out_size; k += 4u) {
      float f;
      memcpy(&f, got + k, sizeof(f));
      if (tn_f32_bits(f) != tn_load_u32le(want + k)) return TN_ERR_SELFTEST;
    }
    return TN_OK;
  }
  return memcmp(got, want, out_size) == 0 ? TN_OK : TN_ERR_SELFTEST;
}
