/*
 * On-device training: FP32 forward and backward operators (HWC layout, one
 * sample per call), losses, SGD with momentum / weight decay / FedProx, a
 * trainable-tail executor that fine-tunes a list of FP32 layers on top of a
 * frozen front-end, a quantized latent-replay buffer, and a prototype
 * classifier for few-shot open-set recognition. Portable C11: no heap, no OS;
 * every buffer belongs to the caller, every function that can fail returns
 * tn_status and checks its arguments before touching memory.
 *
 * Determinism. Every operator defines the order in which each output sums
 * its terms (stated per operator below), and every implementation of it,
 * the plain reference and the `_fast` variant alike, follows that order, so
 * results are bit-identical across implementations and targets (with
 * -ffp-contract=off; transcendental functions come from base/tn_math.h).
 *
 * Gradient accumulation. Backward operators OVERWRITE the input gradient
 * (grad_in) and ACCUMULATE (+=) into the weight and bias gradients, so a
 * mini-batch is: zero the gradients, call backward once per sample, then one
 * optimizer step (tn_sgd_step_f32 with grad_scale = 1 / batch size). Any of
 * grad_in, grad_w, grad_b may be NULL to skip that gradient.
 *
 * Layouts (row-major, last index fastest):
 *   activations      [H][W][C]
 *   conv2d weights   [Cout][Kh][Kw][Cin]   bias [Cout]
 *   depthwise        [Kh][Kw][C]           bias [C]   (multiplier 1)
 *   pointwise / FC   [Cout][Cin]           bias [Cout]
 * Padded input positions contribute nothing (they are skipped, not added as
 * zero products). Output buffers must not overlap inputs unless a function
 * says otherwise.
 */
#ifndef TN_TRAIN_TN_TRAIN_H_
#define TN_TRAIN_TN_TRAIN_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"
#include "base/tn_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest element count of any tensor or parameter array an operator
 * accepts (2^26 floats = 256 MiB); larger shapes give TN_ERR_ARG. */
#define TN_TRAIN_MAX_ELEMENTS (1u << 26)

/* ================================================================ shapes == */

/* An activation tensor's shape, [H][W][C]; every dimension >= 1. */
typedef struct tn_train_shape {
  uint16_t h, w, c;
} tn_train_shape;

/* Number of elements h*w*c (0 when the shape is invalid). */
uint32_t tn_train_shape_count(tn_train_shape s);

/* conv2d and depthwise conv2d. Output size per axis:
 *   out = (in + pad_before + pad_after - kernel) / stride + 1
 * REQUIRES: kernel, stride >= 1; each pad < its kernel size; out >= 1.
 * out_c is the number of output channels of conv2d; depthwise ignores it
 * (its output has in.c channels). */
typedef struct tn_train_conv {
  tn_train_shape in;
  uint16_t out_c;
  uint8_t kernel_h, kernel_w;
  uint8_t stride_h, stride_w;
  uint8_t pad_top, pad_bottom, pad_left, pad_right;
} tn_train_conv;

/* Pointwise (1x1, stride 1) convolution: a dense layer applied to each of
 * the in.h * in.w pixels. */
typedef struct tn_train_pointwise {
  tn_train_shape in;
  uint16_t out_c;
} tn_train_pointwise;

/* Fully connected layer over a flattened input. */
typedef struct tn_train_fc {
  uint32_t in_features;
  uint32_t out_features;
} tn_train_fc;

/* Average pooling without padding (windows lie inside the input):
 *   out = (in - kernel) / stride + 1 per axis. */
typedef struct tn_train_pool {
  tn_train_shape in;
  uint8_t kernel_h, kernel_w;
  uint8_t stride_h, stride_w;
} tn_train_pool;

/* Output shapes; TN_ERR_ARG when the parameters are out of range. */
tn_status tn_conv2d_out_shape(const tn_train_conv* p, tn_train_shape* out);
tn_status tn_dwconv2d_out_shape(const tn_train_conv* p, tn_train_shape* out);
tn_status tn_avgpool_out_shape(const tn_train_pool* p, tn_train_shape* out);

/* ============================================================= operators == */

/* conv2d. Forward: each output sums w*x over (ky, kx, ci) in ascending
 * order starting from +0, then adds the bias (b may be NULL: no bias).
 * Backward: grad_w[co][ky][kx][ci] and grad_b[co] accumulate their terms in
 * ascending (oy, ox) order; grad_in is zeroed, then receives the terms of
 * each (oy, ox, ky, kx, co) in that lexicographic order. */
tn_status tn_conv2d_forward_f32(const tn_train_conv* p, const float* in,
                                const float* w, const float* b, float* out);
tn_status tn_conv2d_backward_f32(const tn_train_conv* p, const float* in,
                                 const float* w, const float* grad_out,
                                 float* grad_in, float* grad_w, float* grad_b);

/* Depthwise conv2d (channel multiplier 1). Forward: each output sums over
 * (ky, kx) ascending from +0, then adds the bias. Backward: grad_w and grad_b
 * accumulate in ascending (oy, ox) order; grad_in is zeroed, then receives
 * terms in (oy, ox, ky, kx) order. */
tn_status tn_dwconv2d_forward_f32(const tn_train_conv* p, const float* in,
                                  const float* w, const float* b, float* out);
tn_status tn_dwconv2d_backward_f32(const tn_train_conv* p, const float* in,
                                   const float* w, const float* grad_out,
                                   float* grad_in, float* grad_w,
                                   float* grad_b);

/* Pointwise convolution. Forward: out[p][co] sums w[co][ci] * in[p][ci] over
 * ci ascending from +0, then adds b[co]. Backward: grad_in[p][ci] sums
 * grad_out[p][co] * w[co][ci] over co ascending from +0; grad_w[co][ci] and
 * grad_b[co] accumulate their per-pixel terms in ascending pixel order.
 * The _fast variants (register-blocked) give bit-identical results. */
tn_status tn_pointwise_forward_f32(const tn_train_pointwise* p, const float* in,
                                   const float* w, const float* b, float* out);
tn_status tn_pointwise_forward_f32_fast(const tn_train_pointwise* p,
                                        const float* in, const float* w,
                                        const float* b, float* out);
tn_status tn_pointwise_backward_f32(const tn_train_pointwise* p,
                                    const float* in, const float* w,
                                    const float* grad_out, float* grad_in,
                                    float* grad_w, float* grad_b);
tn_status tn_pointwise_backward_f32_fast(const tn_train_pointwise* p,
                                         const float* in, const float* w,
                                         const float* grad_out, float* grad_in,
                                         float* grad_w, float* grad_b);

/* Fully connected: the pointwise operator on a single pixel, with the same
 * summation orders. */
tn_status tn_fc_forward_f32(const tn_train_fc* p, const float* in,
                            const float* w, const float* b, float* out);
tn_status tn_fc_forward_f32_fast(const tn_train_fc* p, const float* in,
                                 const float* w, const float* b, float* out);
tn_status tn_fc_backward_f32(const tn_train_fc* p, const float* in,
                             const float* w, const float* grad_out,
                             float* grad_in, float* grad_w, float* grad_b);

/* ReLU over n values; `out` may alias `in`. Backward passes grad_out where
 * the forward OUTPUT (or, equivalently, input) is > 0 and writes +0
 * elsewhere; grad_in may alias grad_out. */
tn_status tn_relu_forward_f32(uint32_t n, const float* in, float* out);
tn_status tn_relu_backward_f32(uint32_t n, const float* out,
                               const float* grad_out, float* grad_in);

/* Average pooling. Forward: each output sums its window in (ky, kx) order
 * from +0 and divides by kernel_h * kernel_w. Backward: grad_in is zeroed,
 * then each window adds grad_out / (kernel_h * kernel_w) to its inputs in
 * (oy, ox, ky, kx) order. */
tn_status tn_avgpool_forward_f32(const tn_train_pool* p, const float* in,
                                 float* out);
tn_status tn_avgpool_backward_f32(const tn_train_pool* p, const float* grad_out,
                                  float* grad_in);

/* Global average pooling [H][W][C] -> [C]: sums pixels in ascending order
 * from +0, divides by H * W. Backward: grad_in[p][c] = grad_out[c] / (H*W). */
tn_status tn_global_avgpool_forward_f32(tn_train_shape in_shape,
                                        const float* in, float* out);
tn_status tn_global_avgpool_backward_f32(tn_train_shape in_shape,
                                         const float* grad_out, float* grad_in);

/* ================================================================ losses == */

/* Softmax cross-entropy of `n` logits against class `label`:
 *   loss = log(sum_i exp(z_i - m)) + m - z_label,  m = max_i z_i
 * (sums in ascending i). grad (may be NULL; may not alias logits) receives
 * d loss / d z = softmax(z) - onehot(label). probs (may be NULL, must not
 * alias grad) receives softmax(z). TN_ERR_NUMERIC when a logit is not
 * finite. */
tn_status tn_softmax_xent_f32(uint32_t n, const float* logits, uint32_t label,
                              float* loss, float* grad, float* probs);

/* L2 normalisation: out = in / ||in|| (sum of squares ascending, then one
 * division per element). `out` may alias `in`. *norm (may be NULL) receives
 * ||in||. TN_ERR_NUMERIC when ||in|| is zero or not finite. */
tn_status tn_l2_normalize_f32(uint32_t n, const float* in, float* out,
                              float* norm);

/* Triplet loss on L2-normalised embeddings (Rusci & Tuytelaars): with
 * a, p, n the normalised anchor, positive and negative,
 *   loss = max(0, ||a - p||^2 - ||a - n||^2 + margin).
 * The gradients (any may be NULL) are with respect to the RAW, unnormalised
 * embeddings (through the normalisation) and are OVERWRITTEN; they are zero
 * when the loss is zero. TN_ERR_NUMERIC when an embedding has zero norm. */
tn_status tn_triplet_loss_f32(uint32_t dim, const float* anchor,
                              const float* positive, const float* negative,
                              float margin, float* loss, float* grad_anchor,
                              float* grad_positive, float* grad_negative);

/* ============================================================= optimizer == */

/* SGD with momentum, weight decay and an optional FedProx proximal term.
 * For each parameter, in this order of operations:
 *   g  = grad * grad_scale + weight_decay * w + prox_mu * (w - w0)
 *   v  = momentum * v + g          (skipped, v = g, when momentum == 0)
 *   w  = w - lr * v
 * grad_scale is typically 1 / mini-batch size. The prox term is the
 * gradient of prox_mu/2 ||w - w0||^2 (w0: the round's global weights). */
typedef struct tn_sgd_params {
  float lr;           /* learning rate, > 0 */
  float momentum;     /* in [0, 1) */
  float weight_decay; /* >= 0 */
  float prox_mu;      /* >= 0; > 0 requires w0 */
  float grad_scale;   /* > 0 */
} tn_sgd_params;

/* One step over n parameters. velocity may be NULL iff momentum == 0; w0
 * may be NULL iff prox_mu == 0. Gradients are checked first: if any is not
 * finite, returns TN_ERR_NUMERIC and modifies nothing. */
tn_status tn_sgd_step_f32(const tn_sgd_params* p, uint32_t n, float* w,
                          const float* grad, float* velocity, const float* w0);

/* ======================================================= FP16 storage ==== */

/* Where the compiler has _Float16 (TN_TRAIN_HAVE_F16 is 1), FC and pointwise
 * operators exist with activations, weights and biases STORED in binary16
 * and computed in FP32: each operand is widened exactly, the FP32 operator's
 * summation order is followed, and each output is rounded once to binary16
 * (round to nearest even). Weight and bias gradients stay FP32 (accumulated
 * in FP32 buffers); tn_sgd_step_f16 updates binary16 weights from them, the
 * FP32 result rounded once. Compiled out when _Float16 is absent. */
#if defined(__FLT16_MAX__)
#define TN_TRAIN_HAVE_F16 1
typedef _Float16 tn_f16;
tn_status tn_pointwise_forward_f16(const tn_train_pointwise* p,
                                   const tn_f16* in, const tn_f16* w,
                                   const tn_f16* b, tn_f16* out);
tn_status tn_pointwise_backward_f16(const tn_train_pointwise* p,
                                    const tn_f16* in, const tn_f16* w,
                                    const tn_f16* grad_out, tn_f16* grad_in,
                                    float* grad_w, float* grad_b);
tn_status tn_fc_forward_f16(const tn_train_fc* p, const tn_f16* in,
                            const tn_f16* w, const tn_f16* b, tn_f16* out);
tn_status tn_fc_backward_f16(const tn_train_fc* p, const tn_f16* in,
                             const tn_f16* w, const tn_f16* grad_out,
                             tn_f16* grad_in, float* grad_w, float* grad_b);
/* As tn_sgd_step_f32 with binary16 weights (w0 too); velocity stays FP32. */
tn_status tn_sgd_step_f16(const tn_sgd_params* p, uint32_t n, tn_f16* w,
                          const float* grad, float* velocity, const tn_f16* w0);
#else
#define TN_TRAIN_HAVE_F16 0
#endif

/* ======================================================= trainable tail == */

/* The trainable back-end of a split model: an ordered list of FP32 layers
 * run on the (dequantized) output of the frozen front-end. Independent of
 * the model blob: the caller describes the layers, the tail computes shapes
 * and buffer sizes, the caller provides the buffers and fills the
 * parameters.
 *
 * Parameter layout (params, grads, momentum and a FedProx anchor all share
 * it): layers in order; each layer with parameters contributes its weights
 * (layout as in the operator section) followed by its bias.
 *
 * Activations: the output of each layer is kept for the backward pass
 * (ReLU after the first layer works in place on its input's slot). The
 * tail's input is NOT copied: it must stay unchanged between forward and
 * backward.
 *
 * Thread-safety: none; a tn_tail is used by one caller at a time. */

#define TN_TAIL_MAX_LAYERS 16

typedef enum tn_tail_op {
  TN_TAIL_FC = 1,            /* flattens its input; params: fc */
  TN_TAIL_POINTWISE = 2,     /* params: out_c */
  TN_TAIL_DEPTHWISE = 3,     /* params: kernel, stride, pad */
  TN_TAIL_CONV2D = 4,        /* params: out_c, kernel, stride, pad */
  TN_TAIL_RELU = 5,          /* no params */
  TN_TAIL_AVGPOOL = 6,       /* params: kernel, stride */
  TN_TAIL_GLOBAL_AVGPOOL = 7 /* output [1][1][C] */
} tn_tail_op;

typedef struct tn_tail_layer {
  uint8_t op;     /* a tn_tail_op */
  uint8_t frozen; /* 1: weights not trained (gradients still pass through) */
  uint16_t out_c; /* FC: out_features; pointwise, conv2d: out channels */
  uint8_t kernel_h, kernel_w, stride_h, stride_w;
  uint8_t pad_top, pad_bottom, pad_left, pad_right;
} tn_tail_layer;

/* Sizes in bytes of the buffers a tail needs (tn_tail_buffer_sizes). */
typedef struct tn_tail_sizes {
  size_t params;      /* all weights and biases */
  size_t grads;       /* same size as params */
  size_t momentum;    /* same size as params; only if momentum is used */
  size_t activations; /* every layer's saved output */
  size_t scratch;     /* two gradient ping-pong buffers for backward */
} tn_tail_sizes;

/* Caller memory bound to a tail. Each buffer is float-aligned and at least
 * the size tn_tail_buffer_sizes reports; momentum may be NULL (then only
 * momentum == 0 steps are allowed). The tail never frees anything. */
typedef struct tn_tail_buffers {
  float* params;
  float* grads;
  float* momentum;
  float* activations;
  float* scratch;
  tn_tail_sizes sizes; /* the sizes of the buffers above, in bytes */
} tn_tail_buffers;

typedef struct tn_tail {
  uint32_t num_layers;
  tn_tail_layer layers[TN_TAIL_MAX_LAYERS];
  tn_train_shape shapes[TN_TAIL_MAX_LAYERS + 1]; /* [0] input, [i+1] out i */
  uint32_t param_offset[TN_TAIL_MAX_LAYERS];     /* floats, weights first */
  uint32_t weight_count[TN_TAIL_MAX_LAYERS];
  uint32_t bias_count[TN_TAIL_MAX_LAYERS];
  uint32_t act_offset[TN_TAIL_MAX_LAYERS];  /* floats, output of layer i */
  uint32_t param_total, act_total, max_act; /* floats */
  tn_tail_buffers buf;
  const float* input; /* of the last forward */
  uint8_t bound;
  uint8_t forward_done;
} tn_tail;

/* Validates the layer list against the input shape and computes every
 * shape, offset and size. Errors: TN_ERR_NULL, TN_ERR_ARG (unknown op, bad
 * kernel/stride/pad, a shape that does not fit, more than
 * TN_TAIL_MAX_LAYERS, or a size above TN_TRAIN_MAX_ELEMENTS). */
tn_status tn_tail_init(tn_tail* t, const tn_tail_layer* layers,
                       uint32_t num_layers, tn_train_shape input);

/* Buffer sizes in bytes for an initialised tail. */
tn_status tn_tail_buffer_sizes(const tn_tail* t, tn_tail_sizes* sizes);

/* Binds caller buffers (checked against the required sizes:
 * TN_ERR_BUFFER_TOO_SMALL). Does not initialise parameters: the caller
 * writes them through tn_tail_layer_params() or fills `params` directly. */
tn_status tn_tail_bind(tn_tail* t, const tn_tail_buffers* buffers);

/* Pointers to layer `layer`'s weights and bias inside the bound params
 * buffer and their element counts (both 0 and NULL for layers without
 * parameters). Any output pointer may be NULL. */
tn_status tn_tail_layer_params(const tn_tail* t, uint32_t layer,
                               float** weights, uint32_t* weight_count,
                               float** bias, uint32_t* bias_count);

/* Output shape of the whole tail and its element count. */
tn_train_shape tn_tail_output_shape(const tn_tail* t);

/* Runs every layer on `input` (shape given at init). The output is valid
 * until the next forward; *output (may be NULL) points into the
 * activations buffer. */
tn_status tn_tail_forward(tn_tail* t, const float* input, const float** output);

/* Back-propagates grad_output (d loss / d output of the last forward)
 * through every layer, accumulating weight and bias gradients of layers
 * that are not frozen. grad_input (may be NULL) receives d loss / d input;
 * when NULL, propagation stops at the first trainable layer.
 * TN_ERR_STATE without a preceding forward. */
tn_status tn_tail_backward(tn_tail* t, const float* grad_output,
                           float* grad_input);

/* Forward, softmax cross-entropy against `label`, backward: one sample of a
 * mini-batch. *loss (may be NULL) receives the loss. The tail's output must
 * be [1][1][classes] or flat; label < classes. */
tn_status tn_tail_train_sample(tn_tail* t, const float* input, uint32_t label,
                               float* loss);

/* Forward, then the arg-max class (lowest index on ties). */
tn_status tn_tail_predict(tn_tail* t, const float* input, uint32_t* label);

/* Zeroes all gradients (start of a mini-batch). */
tn_status tn_tail_zero_grad(tn_tail* t);

/* One SGD step over the parameters of every layer that is not frozen, using
 * the accumulated gradients. w0 (FedProx anchor, params layout) may be NULL
 * iff p->prox_mu == 0. */
tn_status tn_tail_step(tn_tail* t, const tn_sgd_params* p, const float* w0);

/* ========================================================= latent replay == */

/* A buffer of latent activations at the cut layer (Ravaglia et al.),
 * quantized to 8 or 7 bits with one scale and zero point for the whole
 * buffer:  x ~= scale * (q - zero_point),  q in [0, 2^bits - 1].
 * 7-bit codes are packed densely: value i of a sample occupies bits
 * [7i, 7i + 7) of the sample's bytes, least significant bit first; each
 * sample starts on a byte boundary. Quantization rounds half away from zero
 * and saturates; NaN maps to zero_point.
 *
 * Insertion policies:
 *  - TN_REPLAY_RESERVOIR: reservoir sampling (Vitter's algorithm R): while
 *    not full, append; afterwards the n-th offered sample replaces a
 *    uniformly chosen slot with probability capacity / n, so the buffer is
 *    a uniform sample of everything offered.
 *  - TN_REPLAY_CLASS_BALANCED: class-balanced reservoir: while not full,
 *    append; afterwards a sample of a class that is not the (or a) largest
 *    in the buffer replaces a uniformly chosen slot of the largest class
 *    (lowest class id among equals); a sample of a largest class replaces a
 *    uniformly chosen slot of its own class with probability
 *    (slots of its class) / (samples of its class offered so far).
 * Randomness comes from the tn_rng given at init (owned by the caller,
 * used by this buffer only while it lives).
 *
 * Memory: everything lives in one caller-provided byte buffer of
 * tn_replay_buffer_size() bytes: packed samples, then uint16 labels, then
 * uint32 per-class counters. The tn_replay struct itself holds only sizes
 * and pointers. */

typedef enum tn_replay_policy {
  TN_REPLAY_RESERVOIR = 0,
  TN_REPLAY_CLASS_BALANCED = 1
} tn_replay_policy;

typedef struct tn_replay_config {
  uint32_t capacity;    /* slots, >= 1 */
  uint32_t sample_len;  /* values per sample, >= 1 */
  uint8_t bits;         /* 8 or 7 */
  uint16_t num_classes; /* labels are < num_classes; >= 1 */
  uint8_t policy;       /* a tn_replay_policy */
  float scale;          /* > 0, finite */
  int32_t zero_point;   /* in [0, 2^bits - 1] */
} tn_replay_config;

typedef struct tn_replay {
  tn_replay_config cfg;
  uint32_t bytes_per_sample;
  uint32_t count;        /* filled slots */
  uint32_t seen;         /* samples offered since init */
  uint8_t* samples;      /* capacity * bytes_per_sample */
  uint16_t* labels;      /* capacity */
  uint32_t* class_count; /* num_classes: slots holding each class */
  uint32_t* class_seen;  /* num_classes: samples offered per class */
  size_t storage_size;
  tn_rng* rng;
} tn_replay;

/* Bytes of storage a buffer with this configuration needs (0 when the
 * configuration is invalid). Includes alignment padding. */
size_t tn_replay_buffer_size(const tn_replay_config* cfg);

/* Chooses scale and zero point so that [lo, hi] (lo <= 0 <= hi after
 * widening to include 0) maps onto the full code range of `bits`. */
tn_status tn_replay_calibrate(float lo, float hi, uint8_t bits, float* scale,
                              int32_t* zero_point);

/* Initialises an empty buffer over `storage` (4-byte aligned, at least
 * tn_replay_buffer_size(cfg) bytes). */
tn_status tn_replay_init(tn_replay* r, const tn_replay_config* cfg,
                         void* storage, size_t storage_size, tn_rng* rng);

/* Offers one sample (sample_len floats) with its label; the policy decides
 * whether and where it is stored. *slot (may be NULL) receives the slot
 * written or UINT32_MAX when the sample was not kept. */
tn_status tn_replay_insert(tn_replay* r, const float* sample, uint16_t label,
                           uint32_t* slot);

/* Dequantizes slot `slot` (< count) into out (sample_len floats). */
tn_status tn_replay_get(const tn_replay* r, uint32_t slot, float* out,
                        uint16_t* label);

/* Bytes of caller memory the buffer occupies (its storage size), and bytes
 * a float32 buffer of the same capacity would need (for comparison). */
size_t tn_replay_memory(const tn_replay* r);
size_t tn_replay_memory_f32(const tn_replay* r);

/* Quantizes / dequantizes n values to packed codes (the buffer's format;
 * exposed for tests and for the gateway's evaluator). `packed` holds
 * ceil(n * bits / 8) bytes. */
tn_status tn_replay_pack(uint32_t n, const float* in, uint8_t bits, float scale,
                         int32_t zero_point, uint8_t* packed);
tn_status tn_replay_unpack(uint32_t n, const uint8_t* packed, uint8_t bits,
                           float scale, int32_t zero_point, float* out);

/* One entry of a composed mini-batch: a new sample (index into the
 * caller's array of new samples) or a replay slot. */
typedef struct tn_batch_entry {
  uint8_t from_replay;
  uint32_t index;
} tn_batch_entry;

/* Number of replays in a mini-batch of `batch` samples for a replay ratio
 * replay_num / replay_den (rounded to nearest, capped at the buffer's
 * count); the rest are new samples. */
uint32_t tn_replay_batch_split(const tn_replay* r, uint32_t batch,
                               uint32_t replay_num, uint32_t replay_den);

/* Composes a mini-batch: new samples new_first .. new_first + new_count - 1
 * and `replay_count` distinct replay slots drawn uniformly (Floyd's
 * algorithm), shuffled together (Fisher-Yates). `entries` holds at least
 * new_count + replay_count entries; *count receives that total.
 * TN_ERR_ARG when replay_count exceeds the buffer's count. */
tn_status tn_replay_compose(tn_replay* r, uint32_t new_first,
                            uint32_t new_count, uint32_t replay_count,
                            tn_batch_entry* entries, uint32_t* count);

/* =================================================== prototype classifier */

/* Few-shot open-set classifier over embeddings (Rusci & Tuytelaars): each
 * class keeps the sum of its examples' L2-normalised embeddings; a query's
 * score for a class is the cosine similarity between the query and that
 * sum (i.e. the class mean). The predicted class is the best-scoring one;
 * it is reported as unknown when its score is below the open-set threshold.
 *
 * Memory: max_classes * (dim + 1) floats and max_classes counters in one
 * caller buffer of tn_protos_buffer_size() bytes. */

#define TN_PROTOS_UNKNOWN UINT32_MAX

typedef struct tn_protos {
  uint32_t dim;
  uint32_t max_classes;
  uint32_t num_classes; /* 1 + highest class id given an example */
  float threshold;      /* accept iff best score >= threshold */
  float* sums;          /* [max_classes][dim] */
  float* norms;         /* [max_classes], ||sum||, 0 when empty */
  uint32_t* counts;     /* [max_classes] */
  size_t storage_size;
} tn_protos;

size_t tn_protos_buffer_size(uint32_t max_classes, uint32_t dim);

/* Empty classifier over `storage` (4-byte aligned). Threshold starts at -2
 * (accept everything: cosine scores are >= -1). */
tn_status tn_protos_init(tn_protos* p, uint32_t max_classes, uint32_t dim,
                         void* storage, size_t storage_size);

/* Adds one example embedding (raw; normalised here) to class `label`. */
tn_status tn_protos_add_example(tn_protos* p, uint32_t label,
                                const float* embedding);

/* Cosine scores of a raw embedding against classes 0 .. num_classes - 1
 * (scores holds num_classes floats; classes without examples score -2). */
tn_status tn_protos_scores(const tn_protos* p, const float* embedding,
                           float* scores);

/* Best class and its score; *label is TN_PROTOS_UNKNOWN when the score is
 * below the threshold. Ties go to the lowest class id. */
tn_status tn_protos_classify(const tn_protos* p, const float* embedding,
                             uint32_t* label, float* score);

/* Open-set threshold for a target false-acceptance rate: the smallest
 * threshold t such that at most floor(target_far * n_neg) of the negative
 * scores (best scores of unknown-word queries) are >= t. neg_scores is
 * sorted in place (heap sort). *far receives the achieved rate on the
 * negatives, *tar (may be NULL, then pos may be NULL) the fraction of
 * positive scores accepted. TN_ERR_NUMERIC on a NaN score. */
tn_status tn_protos_calibrate(uint32_t n_neg, float* neg_scores, uint32_t n_pos,
                              const float* pos_scores, float target_far,
                              float* threshold, float* far, float* tar);

/* Bytes of caller memory the classifier occupies. */
size_t tn_protos_memory(const tn_protos* p);

/* ============================== few-shot enrolment and self-learning ==== */

/* A node enrols a user's own keywords from k recordings each, decides on an
 * open-set threshold for a target false-acceptance rate, pseudo-labels new
 * unlabelled recordings by similarity to the enrolled prototypes, and
 * fine-tunes its tail on them. Everything works on latents (the tail's
 * input at the cut) and embeddings computed on the node; no recording
 * leaves it. Prototype classes are the tail's output classes, so a
 * pseudo-label is directly a training label. */

/* Embedding of one tail input: runs the tail forward and copies the output
 * of layer `layer` (< num_layers; e.g. num_layers - 2, the pooled features
 * before the classifier) into out. *dim (may be NULL) receives its element
 * count. TN_ERR_BUFFER_TOO_SMALL when capacity is below it; TN_ERR_ARG for
 * a layer whose output the next layer overwrites (a layer followed by an
 * in-place ReLU: take the ReLU's output instead). The tail's saved
 * activations are those of this forward afterwards. */
tn_status tn_tail_embed(tn_tail* t, const float* input, uint32_t layer,
                        float* out, uint32_t capacity, uint32_t* dim);

/* Leave-one-out score of an enrolled example: the cosine between the
 * example and its class prototype with the example itself taken out (the
 * class sum minus the example's normalised embedding), i.e. the score the
 * example would get as a query had it not been enrolled. REQUIRES: the
 * example was added to class `label`. TN_ERR_STATE when the class holds
 * fewer than two examples, TN_ERR_NUMERIC when the remaining sum is zero
 * or the embedding has zero norm. */
tn_status tn_protos_loo_score(const tn_protos* p, uint32_t label,
                              const float* embedding, float* score);

/* Outcome of an open-set calibration. */
typedef struct tn_enroll_report {
  float threshold; /* written to the classifier */
  float far;       /* share of the negatives accepted at the threshold */
  float tar;       /* share of the examples' leave-one-out scores accepted */
  uint32_t n_neg;
  uint32_t n_pos;
} tn_enroll_report;

/* Calibrates p->threshold for `target_far` (in [0, 1]) with
 * tn_protos_calibrate: the negative scores are the best scores of the
 * negative (unknown-word) embeddings `negatives` ([n_neg][dim]) against
 * the enrolled prototypes; the positive scores, which only estimate the
 * true-acceptance rate, are the leave-one-out scores of the enrolment
 * examples `examples` ([n_examples][dim], labels[i] its class; classes with
 * a single example are skipped). scratch holds n_neg + n_examples floats.
 * On success p->threshold is set and *report (may be NULL) filled. */
tn_status tn_enroll_calibrate(tn_protos* p, const float* examples,
                              const uint32_t* labels, uint32_t n_examples,
                              const float* negatives, uint32_t n_neg,
                              float target_far, float* scratch,
                              uint32_t scratch_count, tn_enroll_report* report);

/* Pseudo-label of one embedding: the best-scoring class when its score is
 * >= min_score AND it beats the runner-up class by >= min_margin (cosine
 * units; a single enrolled class has no runner-up and passes the margin
 * test); otherwise TN_PROTOS_UNKNOWN. Classes without examples take no
 * part. *score and *margin (may be NULL) receive the best score and its
 * lead over the runner-up (3, more than any cosine difference, when there
 * is none). Ties go to the lowest class id and have margin 0.
 * TN_ERR_STATE when no class has examples. */
tn_status tn_protos_pseudo_label(const tn_protos* p, const float* embedding,
                                 float min_score, float min_margin,
                                 uint32_t* label, float* score, float* margin);

/* Self-learning, step one: pseudo-labels `count` unlabelled tail inputs
 * (`inputs`, [count][input elements]) by the embedding of tail layer
 * `embed_layer` (as tn_tail_embed) against the enrolled prototypes p
 * (built from embeddings of the same layer and tail parameters).
 * labels[i] receives the pseudo-label or TN_PROTOS_UNKNOWN; *accepted (may
 * be NULL) the number of labelled inputs. embed_scratch holds the
 * embedding (embed_capacity >= p->dim, which must equal the layer's
 * element count, else TN_ERR_ARG). */
tn_status tn_selflearn_label(tn_tail* t, const tn_protos* p,
                             uint32_t embed_layer, float min_score,
                             float min_margin, const float* inputs,
                             uint32_t count, uint32_t* labels,
                             uint32_t* accepted, float* embed_scratch,
                             uint32_t embed_capacity);

/* Mini-batch fine-tuning of a bound tail on a labelled set of tail inputs,
 * optionally mixed with latent replays (self-learning step two, and the
 * latent-replay continual-learning loop).
 *
 * Each epoch visits every fresh sample whose label is not
 * TN_PROTOS_UNKNOWN once, in a new random order (Fisher-Yates). A
 * mini-batch has `batch` entries: r = tn_replay_batch_split(replay, batch,
 * replay_num, replay_den) replay slots (none without a replay buffer) and
 * up to batch - r fresh samples (the last batch of an epoch may be short),
 * composed and shuffled by tn_replay_compose. Per batch: zero gradients,
 * tn_tail_train_sample for each entry, one tn_tail_step with grad_scale
 * = 1 / entries (cfg->sgd.grad_scale is ignored). Deterministic for a
 * given rng state. */
typedef struct tn_fit_config {
  uint32_t epochs;     /* >= 1 */
  uint32_t batch;      /* entries per mini-batch, >= 1; > replays */
  uint32_t replay_num; /* replay share replay_num / replay_den of a batch */
  uint32_t replay_den; /* >= 1 when a replay buffer is given */
  tn_sgd_params sgd;   /* lr, momentum, weight decay, prox_mu */
} tn_fit_config;

/* A labelled set of tail inputs: samples [count][input elements]. */
typedef struct tn_fit_data {
  const float* samples;
  const uint32_t* labels; /* < classes, or TN_PROTOS_UNKNOWN: skipped */
  uint32_t count;
} tn_fit_data;

typedef struct tn_fit_stats {
  uint32_t steps;   /* optimizer steps taken */
  uint32_t fresh;   /* fresh samples used per epoch */
  uint32_t replays; /* replay entries trained on, all epochs */
  float first_loss; /* mean loss of the first epoch */
  float last_loss;  /* mean loss of the last epoch */
} tn_fit_stats;

/* Caller memory for tn_tail_fit. */
typedef struct tn_fit_work {
  uint32_t* order;         /* fresh->count entries */
  tn_batch_entry* entries; /* cfg->batch entries */
  float* sample;           /* one tail input: the dequantized replay */
} tn_fit_work;

/* Runs cfg->epochs epochs. replay (may be NULL) supplies replays; when
 * replay_f32 is non-NULL it holds the FULL-PRECISION values of the replay's
 * slots ([capacity][sample_len] floats) and replays are read from it
 * instead of being dequantized: the FP32 baseline with the very same slot
 * choices. w0 is the FedProx anchor (NULL iff cfg->sgd.prox_mu == 0).
 * Errors: TN_ERR_NULL, TN_ERR_STATE (tail not bound), TN_ERR_ARG (bad
 * config, a label out of range, replay sample_len not the tail input's
 * element count, no usable fresh sample), and any status of the training
 * calls (then the tail holds the steps taken so far). */
tn_status tn_tail_fit(tn_tail* t, const tn_fit_config* cfg,
                      const tn_fit_data* fresh, tn_replay* replay,
                      const float* replay_f32, tn_rng* rng,
                      const tn_fit_work* work, const float* w0,
                      tn_fit_stats* stats);

#ifdef __cplusplus
}
#endif

#endif /* TN_TRAIN_TN_TRAIN_H_ */
