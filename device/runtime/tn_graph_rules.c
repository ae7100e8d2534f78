/*
 * The graph rules of blob format v1, in one place: which ops exist and in
 * which part of the model, which record fields each op uses, how output
 * shapes follow from input shapes and parameters, how many weight and
 * quantization bytes each op needs, the ranges of quantization words, and
 * the tile geometry (input rows of an output tile, L1 footprint). The
 * parser, the planner, the cost model and the executor all call these.
 */
#include <string.h>

#include "runtime/tn_runtime_internal.h"

/* The kernels' contracts (kernels/tn_kernels.h), enforced at load time so
 * that no kernel call on a validated model can fail: reduction length, bias
 * range and the area of a global pooling window. */
#define TN_MAX_REDUCTION 16384u /* TN_KERNELS_MAX_REDUCTION */
#define TN_MAX_BIAS (1L << 30)  /* TN_KERNELS_MAX_BIAS */
#define TN_MAX_POOL_AREA 65536u

int tn_op_is_known(uint32_t type) {
  return tn_op_is_int8(type) || tn_op_is_f32(type) || type == TN_OP_DEQUANTIZE;
}

int tn_op_is_int8(uint32_t type) {
  return type >= TN_OP_CONV2D && type <= TN_OP_SOFTMAX;
}

int tn_op_is_f32(uint32_t type) {
  return type >= TN_OP_PWCONV_F32 && type <= TN_OP_AVGPOOL_F32;
}

int tn_op_has_weights(uint32_t type) {
  return type == TN_OP_CONV2D || type == TN_OP_DWCONV2D ||
         type == TN_OP_PWCONV || type == TN_OP_FC;
}

int tn_op_has_params(uint32_t type) {
  return type == TN_OP_PWCONV_F32 || type == TN_OP_FC_F32;
}

int tn_op_is_tileable(uint32_t type) {
  return tn_op_has_weights(type) || type == TN_OP_MAXPOOL ||
         type == TN_OP_AVGPOOL || type == TN_OP_GLOBAL_AVGPOOL ||
         type == TN_OP_ADD;
}

uint8_t tn_op_kernel_class(uint32_t type) {
  switch (type) {
    case TN_OP_CONV2D:
    case TN_OP_PWCONV:
      return TN_KCLASS_CONV;
    case TN_OP_DWCONV2D:
      return TN_KCLASS_DEPTHWISE;
    case TN_OP_FC:
      return TN_KCLASS_FC;
    case TN_OP_MAXPOOL:
    case TN_OP_AVGPOOL:
    case TN_OP_GLOBAL_AVGPOOL:
    case TN_OP_ADD:
    case TN_OP_DEQUANTIZE:
    case TN_OP_RELU_F32:
      return TN_KCLASS_ELEMENTWISE;
    case TN_OP_SOFTMAX:
      return TN_KCLASS_SOFTMAX;
    case TN_OP_PWCONV_F32:
    case TN_OP_FC_F32:
    case TN_OP_AVGPOOL_F32:
      return TN_KCLASS_FP32;
    default:
      return TN_KCLASS_NONE;
  }
}

/* Ops whose kernel/stride/dilation/padding fields are meaningful. */
static int uses_window(uint32_t type) {
  return type == TN_OP_CONV2D || type == TN_OP_DWCONV2D ||
         type == TN_OP_MAXPOOL || type == TN_OP_AVGPOOL ||
         type == TN_OP_AVGPOOL_F32;
}

/* Ops with a fused int8 output clamp. */
static int uses_clamp(uint32_t type) {
  return tn_op_has_weights(type) || type == TN_OP_MAXPOOL ||
         type == TN_OP_AVGPOOL || type == TN_OP_GLOBAL_AVGPOOL ||
         type == TN_OP_ADD;
}

static uint32_t element_count(const tn_tensor_desc* t) {
  /* REQUIRES: tn_tensor_bytes accepted t (so this fits 2^24). */
  return t->h * t->w * t->c;
}

tn_status tn_tensor_bytes(const tn_tensor_desc* t, uint32_t* bytes) {
  uint32_t elem;
  if (t->dtype == TN_DTYPE_INT8) {
    elem = 1;
  } else if (t->dtype == TN_DTYPE_FLOAT32) {
    elem = 4;
  } else {
    return TN_ERR_BLOB_GRAPH;
  }
  if (t->h == 0 || t->w == 0 || t->c == 0 || t->h > TN_BLOB_MAX_DIM ||
      t->w > TN_BLOB_MAX_DIM || t->c > TN_BLOB_MAX_DIM) {
    return TN_ERR_BLOB_SHAPE;
  }
  uint64_t n = (uint64_t)t->h * t->w;
  if (n > TN_BLOB_MAX_ELEMENTS) return TN_ERR_BLOB_SHAPE;
  n *= t->c;
  if (n > TN_BLOB_MAX_ELEMENTS) return TN_ERR_BLOB_SHAPE;
  *bytes = (uint32_t)n * elem;
  return TN_OK;
}

uint32_t tn_packed_bytes(uint32_t count, uint32_t bits) {
  return (uint32_t)(((uint64_t)count * bits + 7u) / 8u);
}

uint32_t tn_op_weight_count(const tn_op_desc* op, const tn_tensor_desc* in0,
                            const tn_tensor_desc* out) {
  /* out c rows of `reduction` weights; for depthwise, kh * kw taps of c. */
  return out->c * tn_op_reduction(op, in0);
}

static int same_dims(const tn_tensor_desc* a, const tn_tensor_desc* b) {
  return a->h == b->h && a->w == b->w && a->c == b->c;
}

static int same_quant(const tn_tensor_desc* a, const tn_tensor_desc* b) {
  return tn_f32_bits(a->scale) == tn_f32_bits(b->scale) &&
         a->zero_point == b->zero_point;
}

/* Output extent of a window op along one axis; 0 when the dilated kernel
 * does not fit the padded input. */
static uint32_t window_out(uint32_t in, uint32_t pad0, uint32_t pad1,
                           uint32_t k, uint32_t d, uint32_t s) {
  uint32_t eff = (k - 1u) * d + 1u; /* <= 4033 */
  uint32_t padded = in + pad0 + pad1;
  if (padded < eff) return 0;
  return (padded - eff) / s + 1u;
}

uint32_t tn_op_reduction(const tn_op_desc* op, const tn_tensor_desc* in0) {
  switch (op->type) {
    case TN_OP_CONV2D:
      return (uint32_t)op->kernel_h * op->kernel_w * in0->c;
    case TN_OP_DWCONV2D:
      return (uint32_t)op->kernel_h * op->kernel_w;
    case TN_OP_PWCONV:
    case TN_OP_PWCONV_F32:
      return in0->c;
    case TN_OP_FC:
    case TN_OP_FC_F32:
      return element_count(in0);
    default:
      return 0;
  }
}

uint32_t tn_op_weight_bytes(const tn_op_desc* op, const tn_tensor_desc* in0,
                            const tn_tensor_desc* out) {
  uint32_t red = tn_op_reduction(op, in0);
  switch (op->type) {
    case TN_OP_CONV2D:
    case TN_OP_PWCONV:
    case TN_OP_FC:
    case TN_OP_DWCONV2D:
      /* The whole tensor packed as one stream in layout order. */
      return tn_packed_bytes(tn_op_weight_count(op, in0, out), op->weight_bits);
    case TN_OP_PWCONV_F32:
    case TN_OP_FC_F32:
      return 4u * (out->c * red + out->c);
    default:
      return 0;
  }
}

uint32_t tn_op_quant_bytes(const tn_op_desc* op, const tn_tensor_desc* out) {
  if (tn_op_has_weights(op->type)) return 12u * out->c;
  if (op->type == TN_OP_ADD) return 4u * TN_QUANT_ADD_WORDS;
  if (op->type == TN_OP_SOFTMAX) return 4u * TN_QUANT_SOFTMAX_WORDS;
  return 0;
}

uint64_t tn_op_macs_desc(const tn_op_desc* op, const tn_tensor_desc* in0,
                         const tn_tensor_desc* out) {
  uint64_t outputs = (uint64_t)out->h * out->w * out->c;
  switch (op->type) {
    case TN_OP_CONV2D:
    case TN_OP_DWCONV2D:
    case TN_OP_PWCONV:
    case TN_OP_FC:
    case TN_OP_PWCONV_F32:
    case TN_OP_FC_F32:
      return outputs * tn_op_reduction(op, in0);
    case TN_OP_MAXPOOL:
    case TN_OP_AVGPOOL:
    case TN_OP_AVGPOOL_F32:
      return outputs * op->kernel_h * op->kernel_w;
    case TN_OP_GLOBAL_AVGPOOL:
    case TN_OP_ADD:
    case TN_OP_SOFTMAX:
    case TN_OP_DEQUANTIZE:
    case TN_OP_RELU_F32:
      return (uint64_t)in0->h * in0->w * in0->c;
    default:
      return 0;
  }
}

tn_status tn_op_check(const tn_op_desc* op, const tn_tensor_desc* in0,
                      const tn_tensor_desc* in1, const tn_tensor_desc* out) {
  uint32_t type = op->type;
  if (!tn_op_is_known(type)) return TN_ERR_BLOB_GRAPH;

  /* Operand kinds. */
  if (type == TN_OP_ADD) {
    if (in1 == NULL || op->input1 == TN_NO_TENSOR) return TN_ERR_BLOB_GRAPH;
  } else if (in1 != NULL || op->input1 != TN_NO_TENSOR) {
    return TN_ERR_BLOB_GRAPH;
  }
  if (type == TN_OP_RESHAPE) {
    if (in0->dtype != out->dtype) return TN_ERR_BLOB_GRAPH;
  } else if (type == TN_OP_DEQUANTIZE) {
    if (in0->dtype != TN_DTYPE_INT8 || out->dtype != TN_DTYPE_FLOAT32) {
      return TN_ERR_BLOB_GRAPH;
    }
  } else {
    uint8_t dt = tn_op_is_f32(type) ? TN_DTYPE_FLOAT32 : TN_DTYPE_INT8;
    if (in0->dtype != dt || out->dtype != dt ||
        (in1 != NULL && in1->dtype != dt)) {
      return TN_ERR_BLOB_GRAPH;
    }
  }

  /* Window parameters. */
  if (uses_window(type)) {
    int pool = type == TN_OP_MAXPOOL || type == TN_OP_AVGPOOL ||
               type == TN_OP_AVGPOOL_F32;
    if (op->kernel_h == 0 || op->kernel_w == 0 ||
        op->kernel_h > TN_BLOB_MAX_KERNEL ||
        op->kernel_w > TN_BLOB_MAX_KERNEL || op->stride_h == 0 ||
        op->stride_w == 0 || op->stride_h > TN_BLOB_MAX_STRIDE ||
        op->stride_w > TN_BLOB_MAX_STRIDE || op->dilation_h == 0 ||
        op->dilation_w == 0 || op->dilation_h > TN_BLOB_MAX_DILATION ||
        op->dilation_w > TN_BLOB_MAX_DILATION ||
        op->pad_top > TN_BLOB_MAX_PAD || op->pad_bottom > TN_BLOB_MAX_PAD ||
        op->pad_left > TN_BLOB_MAX_PAD || op->pad_right > TN_BLOB_MAX_PAD) {
      return TN_ERR_BLOB_SHAPE;
    }
    if (pool && (op->dilation_h != 1 || op->dilation_w != 1)) {
      return TN_ERR_BLOB_SHAPE;
    }
    if (type == TN_OP_AVGPOOL_F32 &&
        (op->pad_top | op->pad_bottom | op->pad_left | op->pad_right) != 0) {
      return TN_ERR_BLOB_SHAPE;
    }
    /* Every output must see at least one input element: padding smaller
     * than the dilated kernel. */
    uint32_t eff_h = (op->kernel_h - 1u) * op->dilation_h + 1u;
    uint32_t eff_w = (op->kernel_w - 1u) * op->dilation_w + 1u;
    if (op->pad_top >= eff_h || op->pad_bottom >= eff_h ||
        op->pad_left >= eff_w || op->pad_right >= eff_w) {
      return TN_ERR_BLOB_SHAPE;
    }
    uint32_t oh = window_out(in0->h, op->pad_top, op->pad_bottom, op->kernel_h,
                             op->dilation_h, op->stride_h);
    uint32_t ow = window_out(in0->w, op->pad_left, op->pad_right, op->kernel_w,
                             op->dilation_w, op->stride_w);
    if (oh == 0 || ow == 0) return TN_ERR_BLOB_SHAPE;
    if (out->h != oh || out->w != ow) return TN_ERR_BLOB_SHAPE;
    if (type != TN_OP_CONV2D && out->c != in0->c) return TN_ERR_BLOB_SHAPE;
  } else if (type == TN_OP_PWCONV || type == TN_OP_PWCONV_F32) {
    if (op->kernel_h != 1 || op->kernel_w != 1 || op->stride_h != 1 ||
        op->stride_w != 1 || op->dilation_h != 1 || op->dilation_w != 1 ||
        (op->pad_top | op->pad_bottom | op->pad_left | op->pad_right) != 0) {
      return TN_ERR_BLOB_SHAPE;
    }
    if (out->h != in0->h || out->w != in0->w) return TN_ERR_BLOB_SHAPE;
  } else {
    if ((op->kernel_h | op->kernel_w | op->stride_h | op->stride_w |
         op->dilation_h | op->dilation_w | op->pad_top | op->pad_bottom |
         op->pad_left | op->pad_right) != 0) {
      return TN_ERR_BLOB_SHAPE;
    }
    switch (type) {
      case TN_OP_FC:
      case TN_OP_FC_F32:
        if (out->h != 1 || out->w != 1) return TN_ERR_BLOB_SHAPE;
        break;
      case TN_OP_GLOBAL_AVGPOOL:
        if (out->h != 1 || out->w != 1 || out->c != in0->c ||
            (uint64_t)in0->h * in0->w > TN_MAX_POOL_AREA) {
          return TN_ERR_BLOB_SHAPE;
        }
        break;
      case TN_OP_ADD:
        if (!same_dims(in0, out) || !same_dims(in1, out)) {
          return TN_ERR_BLOB_SHAPE;
        }
        break;
      case TN_OP_RESHAPE:
        if (element_count(in0) != element_count(out)) {
          return TN_ERR_BLOB_SHAPE;
        }
        break;
      default: /* SOFTMAX, DEQUANTIZE, RELU_F32 */
        if (!same_dims(in0, out)) return TN_ERR_BLOB_SHAPE;
        break;
    }
  }

  /* Quantization relations between tensors. */
  if (type == TN_OP_MAXPOOL || type == TN_OP_AVGPOOL ||
      type == TN_OP_GLOBAL_AVGPOOL ||
      (type == TN_OP_RESHAPE && in0->dtype == TN_DTYPE_INT8)) {
    if (!same_quant(in0, out)) return TN_ERR_BLOB_QUANT;
  }
  if (type == TN_OP_SOFTMAX) {
    if (tn_f32_bits(out->scale) != TN_SOFTMAX_OUTPUT_SCALE_BITS ||
        out->zero_point != TN_SOFTMAX_OUTPUT_ZERO_POINT) {
      return TN_ERR_BLOB_QUANT;
    }
  }

  /* Clamp and weight bits. */
  if (uses_clamp(type)) {
    if (op->act_min > op->act_max) return TN_ERR_BLOB_QUANT;
  } else if (op->act_min != 0 || op->act_max != 0) {
    return TN_ERR_BLOB_GRAPH;
  }
  if (tn_op_has_weights(type)) {
    if (op->weight_bits != 8 && op->weight_bits != 4 && op->weight_bits != 2) {
      return TN_ERR_BLOB_QUANT;
    }
    if (tn_op_reduction(op, in0) > TN_MAX_REDUCTION) return TN_ERR_BLOB_SHAPE;
  } else if (op->weight_bits != 0) {
    return TN_ERR_BLOB_GRAPH;
  }
  if (tn_op_has_params(type)) {
    /* out->c * (red + 1) floats must stay addressable. */
    uint64_t floats =
        (uint64_t)out->c * ((uint64_t)tn_op_reduction(op, in0) + 1u);
    if (floats > (1u << 24)) return TN_ERR_BLOB_SHAPE;
  }

  /* Data sizes the shapes imply; ops without data carry empty ranges. */
  if (tn_op_has_weights(type) || tn_op_has_params(type)) {
    if (op->weights_size != tn_op_weight_bytes(op, in0, out)) {
      return TN_ERR_BLOB_SHAPE;
    }
  } else if (op->weights_offset != 0 || op->weights_size != 0) {
    return TN_ERR_BLOB_GRAPH;
  }
  uint32_t qbytes = tn_op_quant_bytes(op, out);
  if (op->quant_size != qbytes) return TN_ERR_BLOB_SHAPE;
  if (qbytes == 0 && op->quant_offset != 0) return TN_ERR_BLOB_GRAPH;
  return TN_OK;
}

/* A requantization (multiplier, shift) pair the kernels accept. */
static int tn_requant_ok(int32_t mult, int32_t shift) {
  return mult >= 0 && shift >= TN_REQUANT_SHIFT_MIN &&
         shift <= TN_REQUANT_SHIFT_MAX;
}

/* left_shift in [0, 20]; input shifts in [-31, 0]; output shift in
 * [-31, 30]; multipliers >= 0. */
static int tn_add_quant_ok(const int32_t* w) {
  if (w[0] < 0 || w[0] > TN_ADD_LEFT_SHIFT_MAX) return 0;
  for (uint32_t i = 1; i + 1 < TN_QUANT_ADD_WORDS; i += 2) {
    if (!tn_requant_ok(w[i], w[i + 1])) return 0;
  }
  return w[2] <= 0 && w[4] <= 0;
}

static int tn_softmax_quant_ok(const int32_t* w) {
  return w[0] >= 0 && w[1] >= 0 && w[1] <= 31 && w[2] <= 0;
}

static int32_t word_at(const uint8_t* words, uint32_t i) {
  return tn_i32_from_u32(tn_load_u32le(words + 4u * i));
}

tn_status tn_op_check_quant(const tn_op_desc* op, const tn_tensor_desc* in0,
                            const tn_tensor_desc* out, const uint8_t* words) {
  (void)in0;
  if (tn_op_has_weights(op->type)) {
    uint32_t c = out->c;
    for (uint32_t i = 0; i < c; ++i) {
      int32_t bias = word_at(words, i);
      int32_t mult = word_at(words, c + i);
      int32_t shift = word_at(words, 2u * c + i);
      if (bias > TN_MAX_BIAS || bias < -TN_MAX_BIAS) return TN_ERR_BLOB_QUANT;
      if (!tn_requant_ok(mult, shift)) return TN_ERR_BLOB_QUANT;
    }
    return TN_OK;
  }
  if (op->type == TN_OP_ADD) {
    int32_t w[TN_QUANT_ADD_WORDS];
    for (uint32_t i = 0; i < TN_QUANT_ADD_WORDS; ++i) w[i] = word_at(words, i);
    return tn_add_quant_ok(w) ? TN_OK : TN_ERR_BLOB_QUANT;
  }
  if (op->type == TN_OP_SOFTMAX) {
    int32_t w[TN_QUANT_SOFTMAX_WORDS];
    for (uint32_t i = 0; i < TN_QUANT_SOFTMAX_WORDS; ++i) {
      w[i] = word_at(words, i);
    }
    return tn_softmax_quant_ok(w) ? TN_OK : TN_ERR_BLOB_QUANT;
  }
  return TN_OK;
}

uint32_t tn_tile_input_rows(const tn_op_desc* op, const tn_tensor_desc* in0,
                            uint32_t tile_h) {
  if (!uses_window(op->type)) {
    if (op->type == TN_OP_FC || op->type == TN_OP_GLOBAL_AVGPOOL) {
      return in0->h;
    }
    return tile_h;
  }
  uint64_t eff = (uint64_t)(op->kernel_h - 1u) * op->dilation_h + 1u;
  uint64_t rows = (uint64_t)(tile_h - 1u) * op->stride_h + eff;
  return rows < in0->h ? (uint32_t)rows : in0->h;
}

tn_status tn_tile_footprint(const tn_op_desc* op, const tn_tensor_desc* in0,
                            const tn_tensor_desc* out, uint32_t tile_h,
                            uint32_t tile_c, uint32_t* bytes) {
  if (tile_h == 0 || tile_h > out->h || tile_c == 0 || tile_c > out->c) {
    return TN_ERR_ARG;
  }
  if (!tn_op_is_tileable(op->type)) {
    *bytes = 0;
    return TN_OK;
  }
  uint64_t rows = tn_tile_input_rows(op, in0, tile_h);
  uint64_t in_bytes, w_bytes = 0, q_bytes = 0;
  switch (op->type) {
    case TN_OP_CONV2D:
    case TN_OP_PWCONV:
      in_bytes = rows * in0->w * in0->c;
      break;
    case TN_OP_FC:
      in_bytes = (uint64_t)in0->h * in0->w * in0->c;
      break;
    case TN_OP_ADD:
      in_bytes = 2u * (((uint64_t)tile_h * in0->w * tile_c + 7u) & ~7ull);
      break;
    default: /* DWCONV2D, pools: a channel slice of the input rows */
      in_bytes = rows * in0->w * tile_c;
      break;
  }
  if (tn_op_has_weights(op->type)) {
    /* The channel slice, repacked as its own stream. */
    w_bytes =
        ((uint64_t)tile_c * tn_op_reduction(op, in0) * op->weight_bits + 7u) /
        8u;
    q_bytes = 12u * (uint64_t)tile_c;
  }
  uint64_t out_bytes = (uint64_t)tile_h * out->w * tile_c;
  uint64_t tiles = (uint64_t)((out->h + tile_h - 1u) / tile_h) *
                   ((out->c + tile_c - 1u) / tile_c);
  uint64_t buffers = ((in_bytes + 7u) & ~7ull) + ((w_bytes + 7u) & ~7ull) +
                     ((q_bytes + 7u) & ~7ull) + ((out_bytes + 7u) & ~7ull);
  if (tiles > 1) buffers *= 2u; /* double buffering */
  uint64_t total = buffers;
  if (total > 0xFFFFFFFFu) return TN_ERR_OVERFLOW;
  *bytes = (uint32_t)total;
  return TN_OK;
}

tn_status tn_tile_l1_bytes(const tn_graph_desc* graph, uint32_t op_index,
                           uint32_t tile_h, uint32_t tile_c, uint32_t* bytes) {
  if (graph == NULL || bytes == NULL) return TN_ERR_NULL;
  if (op_index >= graph->op_count) return TN_ERR_ARG;
  const tn_op_desc* op = &graph->ops[op_index];
  if (op->input0 >= graph->tensor_count || op->output >= graph->tensor_count) {
    return TN_ERR_BLOB_GRAPH;
  }
  return tn_tile_footprint(op, &graph->tensors[op->input0],
                           &graph->tensors[op->output], tile_h, tile_c, bytes);
}

uint64_t tn_tile_transfer_bytes(const tn_op_desc* op, const tn_tensor_desc* in0,
                                const tn_tensor_desc* out, uint32_t tile_h,
                                uint32_t tile_c) {
  uint64_t n_h = (out->h + tile_h - 1u) / tile_h;
  uint64_t n_c = (out->c + tile_c - 1u) / tile_c;
  uint64_t rows = tn_tile_input_rows(op, in0, tile_h);
  uint64_t slab;
  switch (op->type) {
    case TN_OP_CONV2D:
    case TN_OP_PWCONV:
      slab = rows * in0->w * in0->c;
      break;
    case TN_OP_FC:
      slab = (uint64_t)in0->h * in0->w * in0->c;
      break;
    case TN_OP_ADD:
      slab = 2u * (uint64_t)tile_h * in0->w * tile_c;
      break;
    default:
      slab = rows * in0->w * tile_c;
      break;
  }
  uint64_t per_c = 0;
  if (tn_op_has_weights(op->type)) {
    per_c =
        ((uint64_t)tile_c * tn_op_reduction(op, in0) * op->weight_bits + 7u) /
            8u +
        12u * (uint64_t)tile_c;
  }
  return n_h * n_c * slab + n_c * per_c + (uint64_t)out->h * out->w * out->c;
}
