/*
 * Shape arithmetic and parameter validation for the training operators:
 * output shapes of conv2d, depthwise conv2d and average pooling, and the
 * checks every operator runs before touching memory.
 */
#include "train/tn_train_internal.h"

uint32_t tn_train_shape_count(tn_train_shape s) {
  return tn__count3(s.h, s.w, s.c);
}

/* Output length of one axis, 0 when the window does not fit. */
static uint32_t tn__axis_out(uint32_t in, uint32_t k, uint32_t s,
                             uint32_t pad_a, uint32_t pad_b) {
  if (k == 0 || s == 0 || pad_a >= k || pad_b >= k) return 0;
  uint32_t span = in + pad_a + pad_b;
  if (span < k) return 0;
  uint32_t out = (span - k) / s + 1u;
  return out > 0xffffu ? 0 : out;
}

tn_status tn__conv_check(const tn_train_conv* p, int depthwise,
                         tn_train_shape* out) {
  if (!p) return TN_ERR_NULL;
  if (!tn_train_shape_count(p->in)) return TN_ERR_ARG;
  uint32_t oh = tn__axis_out(p->in.h, p->kernel_h, p->stride_h, p->pad_top,
                             p->pad_bottom);
  uint32_t ow = tn__axis_out(p->in.w, p->kernel_w, p->stride_w, p->pad_left,
                             p->pad_right);
  if (!oh || !ow) return TN_ERR_ARG;
  uint32_t oc = depthwise ? p->in.c : p->out_c;
  if (!oc) return TN_ERR_ARG;
  if (!tn__count3(oh, ow, oc)) return TN_ERR_ARG;
  uint32_t wcount = depthwise
                        ? tn__count3(p->kernel_h, p->kernel_w, p->in.c)
                        : tn__count4(oc, p->kernel_h, p->kernel_w, p->in.c);
  if (!wcount) return TN_ERR_ARG;
  if (out) {
    out->h = (uint16_t)oh;
    out->w = (uint16_t)ow;
    out->c = (uint16_t)oc;
  }
  return TN_OK;
}

tn_status tn__pointwise_check(const tn_train_pointwise* p, uint32_t* pixels) {
  if (!p) return TN_ERR_NULL;
  if (!tn_train_shape_count(p->in) || p->out_c == 0) return TN_ERR_ARG;
  if (!tn__count3(p->in.h, p->in.w, p->out_c)) return TN_ERR_ARG;
  if (!tn__count3(p->in.c, p->out_c, 1)) return TN_ERR_ARG;
  *pixels = (uint32_t)p->in.h * p->in.w;
  return TN_OK;
}

tn_status tn__fc_check(const tn_train_fc* p) {
  if (!p) return TN_ERR_NULL;
  if (!tn__count3(p->in_features, p->out_features, 1)) return TN_ERR_ARG;
  return TN_OK;
}

tn_status tn_conv2d_out_shape(const tn_train_conv* p, tn_train_shape* out) {
  if (!out) return TN_ERR_NULL;
  return tn__conv_check(p, 0, out);
}

tn_status tn_dwconv2d_out_shape(const tn_train_conv* p, tn_train_shape* out) {
  if (!out) return TN_ERR_NULL;
  return tn__conv_check(p, 1, out);
}

tn_status tn_avgpool_out_shape(const tn_train_pool* p, tn_train_shape* out) {
  if (!p || !out) return TN_ERR_NULL;
  if (!tn_train_shape_count(p->in)) return TN_ERR_ARG;
  uint32_t oh = tn__axis_out(p->in.h, p->kernel_h, p->stride_h, 0, 0);
  uint32_t ow = tn__axis_out(p->in.w, p->kernel_w, p->stride_w, 0, 0);
  if (!oh || !ow) return TN_ERR_ARG;
  out->h = (uint16_t)oh;
  out->w = (uint16_t)ow;
  out->c = p->in.c;
  return TN_OK;
}
