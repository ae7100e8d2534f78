/*
 * The trainable tail: an ordered list of FP32 layers with caller-provided
 * parameter, gradient, momentum, activation and scratch buffers. Init
 * validates the list once and computes every shape, offset and size; the
 * forward, backward and step calls then only dispatch to the operators.
 * Pointwise and FC layers use the register-blocked `_fast` operators, which
 * are bit-identical to the references.
 */
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train_internal.h"

static tn_train_conv tn__layer_conv(const tn_tail_layer* l, tn_train_shape in) {
  tn_train_conv c;
  c.in = in;
  c.out_c = l->out_c;
  c.kernel_h = l->kernel_h;
  c.kernel_w = l->kernel_w;
  c.stride_h = l->stride_h;
  c.stride_w = l->stride_w;
  c.pad_top = l->pad_top;
  c.pad_bottom = l->pad_bottom;
  c.pad_left = l->pad_left;
  c.pad_right = l->pad_right;
  return c;
}

static tn_train_pool tn__layer_pool(const tn_tail_layer* l, tn_train_shape in) {
  tn_train_pool p;
  p.in = in;
  p.kernel_h = l->kernel_h;
  p.kernel_w = l->kernel_w;
  p.stride_h = l->stride_h;
  p.stride_w = l->stride_w;
  return p;
}

/* Output shape and parameter counts of one layer. */
static tn_status tn__layer_plan(const tn_tail_layer* l, tn_train_shape in,
                                tn_train_shape* out, uint32_t* wcount,
                                uint32_t* bcount) {
  *wcount = 0;
  *bcount = 0;
  const uint32_t in_count = tn_train_shape_count(in);
  if (!in_count) return TN_ERR_ARG;
  switch (l->op) {
    case TN_TAIL_FC: {
      if (l->out_c == 0) return TN_ERR_ARG;
      *wcount = tn__count3(in_count, l->out_c, 1);
      if (!*wcount) return TN_ERR_ARG;
      *bcount = l->out_c;
      out->h = 1;
      out->w = 1;
      out->c = l->out_c;
      return TN_OK;
    }
    case TN_TAIL_POINTWISE: {
      tn_train_pointwise p = {in, l->out_c};
      uint32_t pixels;
      tn_status st = tn__pointwise_check(&p, &pixels);
      if (st != TN_OK) return st;
      *wcount = (uint32_t)l->out_c * in.c;
      *bcount = l->out_c;
      out->h = in.h;
      out->w = in.w;
      out->c = l->out_c;
      return TN_OK;
    }
    case TN_TAIL_DEPTHWISE:
    case TN_TAIL_CONV2D: {
      const int dw = l->op == TN_TAIL_DEPTHWISE;
      tn_train_conv c = tn__layer_conv(l, in);
      tn_status st = tn__conv_check(&c, dw, out);
      if (st != TN_OK) return st;
      *wcount = dw ? (uint32_t)l->kernel_h * l->kernel_w * in.c
                   : tn__count4(l->out_c, l->kernel_h, l->kernel_w, in.c);
      *bcount = out->c;
      return TN_OK;
    }
    case TN_TAIL_RELU:
      *out = in;
      return TN_OK;
    case TN_TAIL_AVGPOOL: {
      tn_train_pool p = tn__layer_pool(l, in);
      return tn_avgpool_out_shape(&p, out);
    }
    case TN_TAIL_GLOBAL_AVGPOOL:
      out->h = 1;
      out->w = 1;
      out->c = in.c;
      return TN_OK;
    default:
      return TN_ERR_ARG;
  }
}

tn_status tn_tail_init(tn_tail* t, const tn_tail_layer* layers,
                       uint32_t num_layers, tn_train_shape input) {
  if (!t || !layers) return TN_ERR_NULL;
  memset(t, 0, sizeof(*t));
  if (num_layers == 0 || num_layers > TN_TAIL_MAX_LAYERS) return TN_ERR_ARG;
  if (!tn_train_shape_count(input)) return TN_ERR_ARG;
  t->shapes[0] = input;
  uint64_t params = 0, acts = 0;
  uint32_t max_act = tn_train_shape_count(input);
  for (uint32_t i = 0; i < num_layers; ++i) {
    uint32_t wc, bc;
    tn_train_shape out;
    tn_status st = tn__layer_plan(&layers[i], t->shapes[i], &out, &wc, &bc);
    if (st != TN_OK) {
      memset(t, 0, sizeof(*t));
      return st;
    }
    t->layers[i] = layers[i];
    t->shapes[i + 1] = out;
    t->param_offset[i] = (uint32_t)params;
    t->weight_count[i] = wc;
    t->bias_count[i] = bc;
    params += (uint64_t)wc + bc;
    const uint32_t oc = tn_train_shape_count(out);
    if (layers[i].op == TN_TAIL_RELU && i > 0) {
      t->act_offset[i] = t->act_offset[i - 1]; /* in place */
    } else {
      t->act_offset[i] = (uint32_t)acts;
      acts += oc;
    }
    if (oc > max_act) max_act = oc;
    if (params > TN_TRAIN_MAX_ELEMENTS || acts > TN_TRAIN_MAX_ELEMENTS) {
      memset(t, 0, sizeof(*t));
      return TN_ERR_ARG;
    }
  }
  t->num_layers = num_layers;
  t->param_total = (uint32_t)params;
  t->act_total = (uint32_t)acts;
  t->max_act = max_act;
  return TN_OK;
}

tn_status tn_tail_buffer_sizes(const tn_tail* t, tn_tail_sizes* sizes) {
  if (!t || !sizes) return TN_ERR_NULL;
  if (t->num_layers == 0) return TN_ERR_STATE;
  sizes->params = sizeof(float) * (size_t)t->param_total;
  sizes->grads = sizes->params;
  sizes->momentum = sizes->params;
  sizes->activations = sizeof(float) * (size_t)t->act_total;
  sizes->scratch = 2u * sizeof(float) * (size_t)t->max_act;
  return TN_OK;
}

static int tn__misaligned(const float* p) {
  return ((uintptr_t)p % _Alignof(float)) != 0;
}

tn_status tn_tail_bind(tn_tail* t, const tn_tail_buffers* b) {
  if (!t || !b) return TN_ERR_NULL;
  if (t->num_layers == 0) return TN_ERR_STATE;
  tn_tail_sizes need;
  (void)tn_tail_buffer_sizes(t, &need);
  if ((need.params && (!b->params || !b->grads)) || !b->activations ||
      !b->scratch) {
    return TN_ERR_NULL;
  }
  if (b->sizes.params < need.params || b->sizes.grads < need.grads ||
      b->sizes.activations < need.activations ||
      b->sizes.scratch < need.scratch) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  if (b->momentum && b->sizes.momentum < need.momentum) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  if ((b->params && tn__misaligned(b->params)) ||
      (b->grads && tn__misaligned(b->grads)) ||
      (b->momentum && tn__misaligned(b->momentum)) ||
      tn__misaligned(b->activations) || tn__misaligned(b->scratch)) {
    return TN_ERR_ARG;
  }
  t->buf = *b;
  t->bound = 1;
  t->forward_done = 0;
  t->input = NULL;
  return TN_OK;
}

tn_status tn_tail_layer_params(const tn_tail* t, uint32_t layer,
                               float** weights, uint32_t* weight_count,
                               float** bias, uint32_t* bias_count) {
  if (!t) return TN_ERR_NULL;
  if (!t->bound) return TN_ERR_STATE;
  if (layer >= t->num_layers) return TN_ERR_ARG;
  const uint32_t wc = t->weight_count[layer], bc = t->bias_count[layer];
  float* w = wc ? t->buf.params + t->param_offset[layer] : NULL;
  if (weights) *weights = wc ? w : NULL;
  if (weight_count) *weight_count = wc;
  if (bias) *bias = bc ? w + wc : NULL;
  if (bias_count) *bias_count = bc;
  return TN_OK;
}

tn_train_shape tn_tail_output_shape(const tn_tail* t) {
  tn_train_shape none = {0, 0, 0};
  if (!t || t->num_layers == 0) return none;
  return t->shapes[t->num_layers];
}

/* Input of layer i during the current pass. */
static const float* tn__layer_in(const tn_tail* t, uint32_t i) {
  return i == 0 ? t->input : t->buf.activations + t->act_offset[i - 1];
}

tn_status tn_tail_forward(tn_tail* t, const float* input,
                          const float** output) {
  if (!t || !input) return TN_ERR_NULL;
  if (!t->bound) return TN_ERR_STATE;
  t->input = input;
  t->forward_done = 0;
  for (uint32_t i = 0; i < t->num_layers; ++i) {
    const tn_tail_layer* l = &t->layers[i];
    const tn_train_shape in = t->shapes[i];
    const float* x = tn__layer_in(t, i);
    float* y = t->buf.activations + t->act_offset[i];
    const float* w =
        t->weight_count[i] ? t->buf.params + t->param_offset[i] : NULL;
    const float* b = w ? w + t->weight_count[i] : NULL;
    tn_status st = TN_OK;
    switch (l->op) {
      case TN_TAIL_FC: {
        tn_train_fc p = {tn_train_shape_count(in), l->out_c};
        st = tn_fc_forward_f32_fast(&p, x, w, b, y);
        break;
      }
      case TN_TAIL_POINTWISE: {
        tn_train_pointwise p = {in, l->out_c};
        st = tn_pointwise_forward_f32_fast(&p, x, w, b, y);
        break;
      }
      case TN_TAIL_DEPTHWISE: {
        tn_train_conv c = tn__layer_conv(l, in);
        st = tn_dwconv2d_forward_f32(&c, x, w, b, y);
        break;
      }
      case TN_TAIL_CONV2D: {
        tn_train_conv c = tn__layer_conv(l, in);
        st = tn_conv2d_forward_f32(&c, x, w, b, y);
        break;
      }
      case TN_TAIL_RELU:
        st = tn_relu_forward_f32(tn_train_shape_count(in), x, y);
        break;
      case TN_TAIL_AVGPOOL: {
        tn_train_pool p = tn__layer_pool(l, in);
        st = tn_avgpool_forward_f32(&p, x, y);
        break;
      }
      case TN_TAIL_GLOBAL_AVGPOOL:
        st = tn_global_avgpool_forward_f32(in, x, y);
        break;
      default:
        st = TN_ERR_INTERNAL; /* validated at init */
        break;
    }
    if (st != TN_OK) return st;
  }
  t->forward_done = 1;
  if (output) {
    *output = t->buf.activations + t->act_offset[t->num_layers - 1];
  }
  return TN_OK;
}

/* Lowest layer backward must reach when the input gradient is not wanted:
 * the first layer with trainable parameters, or num_layers if none. */
static uint32_t tn__first_trainable(const tn_tail* t) {
  for (uint32_t i = 0; i < t->num_layers; ++i) {
    if (t->weight_count[i] && !t->layers[i].frozen) return i;
  }
  return t->num_layers;
}

tn_status tn_tail_backward(tn_tail* t, const float* grad_output,
                           float* grad_input) {
  if (!t || !grad_output) return TN_ERR_NULL;
  if (!t->bound) return TN_ERR_STATE;
  if (!t->forward_done) return TN_ERR_STATE;
  const uint32_t stop = grad_input ? 0 : tn__first_trainable(t);
  float* scratch_a = t->buf.scratch;
  float* scratch_b = t->buf.scratch + t->max_act;
  const float* g = grad_output;
  for (uint32_t k = t->num_layers; k > stop; --k) {
    const uint32_t i = k - 1;
    const tn_tail_layer* l = &t->layers[i];
    const tn_train_shape in = t->shapes[i];
    const float* x = tn__layer_in(t, i);
    const float* y = t->buf.activations + t->act_offset[i];
    const float* w =
        t->weight_count[i] ? t->buf.params + t->param_offset[i] : NULL;
    const int train = t->weight_count[i] && !l->frozen;
    float* gw = train ? t->buf.grads + t->param_offset[i] : NULL;
    float* gb = train ? gw + t->weight_count[i] : NULL;
    float* gi;
    if (i > stop) {
      gi = g == scratch_a ? scratch_b : scratch_a;
    } else {
      gi = grad_input; /* NULL unless the caller wants it */
    }
    tn_status st = TN_OK;
    switch (l->op) {
      case TN_TAIL_FC: {
        tn_train_fc p = {tn_train_shape_count(in), l->out_c};
        st = tn_fc_backward_f32(&p, x, w, g, gi, gw, gb);
        break;
      }
      case TN_TAIL_POINTWISE: {
        tn_train_pointwise p = {in, l->out_c};
        st = tn_pointwise_backward_f32_fast(&p, x, w, g, gi, gw, gb);
        break;
      }
      case TN_TAIL_DEPTHWISE: {
        tn_train_conv c = tn__layer_conv(l, in);
        st = tn_dwconv2d_backward_f32(&c, x, w, g, gi, gw, gb);
        break;
      }
      case TN_TAIL_CONV2D: {
        tn_train_conv c = tn__layer_conv(l, in);
        st = tn_conv2d_backward_f32(&c, x, w, g, gi, gw, gb);
        break;
      }
      case TN_TAIL_RELU:
        if (gi) st = tn_relu_backward_f32(tn_train_shape_count(in), y, g, gi);
        break;
      case TN_TAIL_AVGPOOL: {
        tn_train_pool p = tn__layer_pool(l, in);
        if (gi) st = tn_avgpool_backward_f32(&p, g, gi);
        break;
      }
      case TN_TAIL_GLOBAL_AVGPOOL:
        if (gi) st = tn_global_avgpool_backward_f32(in, g, gi);
        break;
      default:
        st = TN_ERR_INTERNAL;
        break;
    }
    if (st != TN_OK) return st;
    g = gi;
  }
  return TN_OK;
}

tn_status tn_tail_train_sample(tn_tail* t, const float* input, uint32_t label,
                               float* loss) {
  if (!t || !input) return TN_ERR_NULL;
  const float* logits;
  tn_status st = tn_tail_forward(t, input, &logits);
  if (st != TN_OK) return st;
  const uint32_t classes = tn_train_shape_count(t->shapes[t->num_layers]);
  if (label >= classes) return TN_ERR_ARG;
  /* The loss gradient lives in the second scratch half; backward's first
   * layer then writes into the first half. */
  float* grad = t->buf.scratch + t->max_act;
  float l;
  st = tn_softmax_xent_f32(classes, logits, label, &l, grad, NULL);
  if (st != TN_OK) return st;
  if (loss) *loss = l;
  return tn_tail_backward(t, grad, NULL);
}

tn_status tn_tail_predict(tn_tail* t, const float* input, uint32_t* label) {
  if (!t || !input || !label) return TN_ERR_NULL;
  const float* out;
  tn_status st = tn_tail_forward(t, input, &out);
  if (st != TN_OK) return st;
  const uint32_t n = tn_train_shape_count(t->shapes[t->num_layers]);
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; ++i) {
    if (out[i] > out[best]) best = i;
  }
  *label = best;
  return TN_OK;
}

tn_status tn_tail_zero_grad(tn_tail* t) {
  if (!t) return TN_ERR_NULL;
  if (!t->bound) return TN_ERR_STATE;
  if (t->param_total) {
    memset(t->buf.grads, 0, sizeof(float) * (size_t)t->param_total);
  }
  return TN_OK;
}

tn_status tn_tail_step(tn_tail* t, const tn_sgd_params* p, const float* w0) {
  if (!t || !p) return TN_ERR_NULL;
  if (!t->bound) return TN_ERR_STATE;
  if (p->momentum > 0.0f && !t->buf.momentum) return TN_ERR_NULL;
  if (p->prox_mu > 0.0f && !w0) return TN_ERR_NULL;
  /* All gradients are checked before any weight changes. */
  for (uint32_t i = 0; i < t->num_layers; ++i) {
    if (!t->weight_count[i] || t->layers[i].frozen) continue;
    const float* g = t->buf.grads + t->param_offset[i];
    const uint32_t n = t->weight_count[i] + t->bias_count[i];
    for (uint32_t j = 0; j < n; ++j) {
      if (!tn_isfinitef(g[j])) return TN_ERR_NUMERIC;
    }
  }
  for (uint32_t i = 0; i < t->num_layers; ++i) {
    if (!t->weight_count[i] || t->layers[i].frozen) continue;
    const uint32_t off = t->param_offset[i];
    const uint32_t n = t->weight_count[i] + t->bias_count[i];
    tn_status st = tn_sgd_step_f32(
        p, n, t->buf.params + off, t->buf.grads + off,
        t->buf.momentum ? t->buf.momentum + off : NULL, w0 ? w0 + off : NULL);
    if (st != TN_OK) return st;
  }
  return TN_OK;
}
