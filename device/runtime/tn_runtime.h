/*
 * Model runtime: the model blob format v1 (docs/formats/model-blob.md), its
 * validating parser, a builder that writes blobs, the L1/L2 memory planner
 * for the target profiles, a GAP9 cycle and energy cost model, and the
 * executor that runs a validated model (frozen int8 front-end with the
 * kernels room, trainable FP32 tail with the train room) inside one
 * caller-provided arena.
 *
 * Trust boundary: tn_blob_parse() is the only function that reads untrusted
 * bytes. It validates every offset, size, count, shape, parameter and the
 * memory plan before anything else uses the blob; every other function here
 * takes a tn_blob that parsed successfully and trusts it. Nothing in this
 * room allocates; every buffer belongs to the caller. Objects are not
 * thread-safe; distinct objects may be used from distinct threads.
 */
#ifndef TN_RUNTIME_TN_RUNTIME_H_
#define TN_RUNTIME_TN_RUNTIME_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"
#include "train/tn_train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Format constants (see docs/formats/model-blob.md for the byte layout).    */
/* ------------------------------------------------------------------------ */

#define TN_BLOB_MAGIC 0x424D4E54u /* bytes "TNMB" read as u32 LE */
#define TN_BLOB_FORMAT_VERSION 1u
#define TN_BLOB_HEADER_SIZE 96u
#define TN_BLOB_SECTION_ENTRY_SIZE 16u
#define TN_BLOB_DIGEST_OFFSET 48u
#define TN_BLOB_DIGEST_SIZE 32u
#define TN_BLOB_MODEL_ID_SIZE 16u
#define TN_BLOB_SECTION_ALIGN 8u

/* Limits every valid blob respects (checked by the parser). */
#define TN_BLOB_MAX_SECTIONS 16u
#define TN_BLOB_MAX_TENSORS 256u
#define TN_BLOB_MAX_OPS 256u
#define TN_BLOB_MAX_DIM 32767u          /* each of h, w, c */
#define TN_BLOB_MAX_ELEMENTS (1u << 24) /* per tensor */
#define TN_BLOB_MAX_KERNEL 64u          /* kernel_h, kernel_w */
#define TN_BLOB_MAX_STRIDE 64u          /* stride_h, stride_w */
#define TN_BLOB_MAX_DILATION 64u        /* dilation_h, dilation_w */
#define TN_BLOB_MAX_PAD 64u             /* each padding side */
#define TN_BLOB_ARENA_ALIGN 8u          /* placement offset alignment */

/* Header flags. Unknown bits are rejected (TN_ERR_BLOB_VERSION). */
#define TN_BLOB_FLAG_SIGNED 0x1u /* a signature section must be present */

/* Section table entry flags. */
#define TN_SECTION_FLAG_OPTIONAL 0x1u /* an unknown type may be skipped */

typedef enum tn_section_type {
  TN_SECTION_GRAPH = 1,       /* tensors and ops (required) */
  TN_SECTION_WEIGHTS = 2,     /* int8 / packed 4- and 2-bit weights */
  TN_SECTION_QUANT = 3,       /* int32 words: bias, multipliers, shifts */
  TN_SECTION_TAIL = 4,        /* trainable FP32 tail and the cut tensor */
  TN_SECTION_MEMORY_PLAN = 5, /* placements and tiling (required) */
  TN_SECTION_CANARY = 6,      /* self-test input and expected output */
  TN_SECTION_METADATA = 7,    /* MACs and GAP9 cost estimates */
  TN_SECTION_SIGNATURE = 8    /* ECDSA P-256 over the digest; last */
} tn_section_type;

typedef enum tn_dtype {
  TN_DTYPE_INT8 = 1,
  TN_DTYPE_FLOAT32 = 2,
} tn_dtype;

/* Graph operations. Values are stable (they appear in blobs). The int8 ops
 * form the frozen front-end; DEQUANTIZE starts the FP32 tail at the cut. */
typedef enum tn_op_type {
  TN_OP_CONV2D = 1,         /* int8 conv, weights [cout][kh][kw][cin] */
  TN_OP_DWCONV2D = 2,       /* int8 depthwise (multiplier 1), [kh][kw][c] */
  TN_OP_PWCONV = 3,         /* int8 1x1 conv, weights [cout][cin] */
  TN_OP_FC = 4,             /* int8 fully connected, weights [n][h*w*c] */
  TN_OP_MAXPOOL = 5,        /* int8 max pool (window, stride, padding) */
  TN_OP_AVGPOOL = 6,        /* int8 average pool (padding not counted) */
  TN_OP_GLOBAL_AVGPOOL = 7, /* int8 mean over h and w -> [1,1,c] */
  TN_OP_ADD = 8,            /* int8 residual add of two tensors */
  TN_OP_RESHAPE = 9,        /* same bytes, new shape (flatten in HWC) */
  TN_OP_SOFTMAX = 10,       /* int8 softmax over c */
  TN_OP_DEQUANTIZE = 11,    /* the cut: int8 latent -> FP32 */
  TN_OP_PWCONV_F32 = 32,    /* FP32 1x1 conv, params W[cout][cin], b[cout] */
  TN_OP_FC_F32 = 33,        /* FP32 fully connected, W[n][k], b[n] */
  TN_OP_RELU_F32 = 34,      /* FP32 max(x, 0) */
  TN_OP_AVGPOOL_F32 = 35    /* FP32 average pool (no padding) */
} tn_op_type;

#define TN_NO_TENSOR 0xFFFFu

/* A tensor of the graph: batch 1, layout HWC. For int8 tensors real value =
 * scale * (q - zero_point) with scale > 0 and finite and zero_point in
 * [-128, 127]; FP32 tensors have scale 0 and zero_point 0. */
typedef struct tn_tensor_desc {
  uint8_t dtype; /* tn_dtype */
  uint32_t h, w, c;
  float scale;
  int32_t zero_point;
} tn_tensor_desc;

/* One op. Unused fields must be zero (unused tensor ids TN_NO_TENSOR); the
 * parser enforces this so that every blob has one canonical meaning.
 * weights_* are byte ranges in the WEIGHTS section (int8 ops) or in the
 * TAIL parameter area (FP32 ops, weights then bias); quant_* is a byte range
 * of int32 words in the QUANT section whose layout depends on the op (see
 * the format document, "Quantization blocks"). */
typedef struct tn_op_desc {
  uint8_t type;        /* tn_op_type */
  uint8_t weight_bits; /* 8, 4 or 2 for weighted int8 ops, else 0 */
  uint16_t input0;
  uint16_t input1; /* ADD only, else TN_NO_TENSOR */
  uint16_t output;
  uint8_t kernel_h, kernel_w;
  uint8_t stride_h, stride_w;
  uint8_t dilation_h, dilation_w;
  uint8_t pad_top, pad_bottom, pad_left, pad_right;
  int8_t act_min, act_max; /* int8 output clamp (int8 ops), else 0 */
  uint32_t weights_offset, weights_size;
  uint32_t quant_offset, quant_size;
} tn_op_desc;

/* A graph description: ops in execution order. */
typedef struct tn_graph_desc {
  const tn_tensor_desc* tensors;
  uint32_t tensor_count;
  const tn_op_desc* ops;
  uint32_t op_count;
  uint16_t input_tensor;
  uint16_t output_tensor;
} tn_graph_desc;

/* The trainable FP32 tail: ops [first_op, op_count) run in FP32 on the
 * dequantized cut tensor (the latent-replay cut). `params` holds every tail
 * op's weights and biases (FP32), addressed by the ops' weights_* ranges. */
typedef struct tn_tail_desc {
  uint16_t cut_tensor;       /* int8 tensor where the front-end ends */
  uint16_t first_op;         /* index of the DEQUANTIZE op */
  uint16_t trainable_layers; /* tail ops that carry parameters */
  const float* params;
  uint32_t param_count; /* floats */
} tn_tail_desc;

/* ------------------------------------------------------------------------ */
/* Target profiles and memory plans.                                         */
/* ------------------------------------------------------------------------ */

/* Memory of a target, in bytes. nvm_bytes 0 means "not checked" (GAP8
 * boards keep blobs in external flash of board-specific size). */
typedef struct tn_target_profile {
  tn_target target;
  uint32_t l1_bytes;
  uint32_t l2_bytes;
  uint32_t nvm_bytes;
} tn_target_profile;

/* The profile of `target`; TN_ERR_BLOB_TARGET when it has none. */
tn_status tn_target_profile_get(tn_target target, tn_target_profile* out);

typedef enum tn_memory_level {
  TN_MEM_L2 = 1, /* the L2 activation arena */
  TN_MEM_L1 = 2  /* resident in the L1 arena for the whole run */
} tn_memory_level;

/* Where one tensor lives: [offset, offset + size) of its level's arena. */
typedef struct tn_placement {
  uint8_t level; /* tn_memory_level */
  uint32_t offset;
  uint32_t size; /* the tensor's byte size */
} tn_placement;

/* How one op is tiled: the output is computed in tiles of tile_h rows by
 * tile_c channels (loop order: channel tiles outer, row tiles inner).
 * l1_bytes is the L1 footprint of the tiles including double buffering;
 * 0 for ops that run in place from L2 (RESHAPE, SOFTMAX, DEQUANTIZE and the
 * FP32 ops), which always have tile_h = out h and tile_c = out c. */
typedef struct tn_tile {
  uint32_t tile_h;
  uint32_t tile_c;
  uint32_t l1_bytes;
} tn_tile;

/* A memory plan for one graph on one target. The arrays have one entry per
 * tensor and per op. */
typedef struct tn_memory_plan {
  tn_target target;
  uint32_t l2_arena_bytes; /* activation arena in L2 (the peak) */
  uint32_t l1_arena_bytes; /* L1-resident tensors */
  uint32_t l1_tile_bytes;  /* max l1_bytes over ops */
  const tn_placement* placements;
  const tn_tile* tiles;
} tn_memory_plan;

/* L1 footprint in bytes of computing op `op_index` of `graph` in tiles of
 * `tile_h` x `tile_c` output rows x channels: input slab (with halo),
 * weights and quantization block of the channel slice and output tile;
 * input, weights, quantization and output doubled when there is more than
 * one tile (kernel scratch is not part of it: it is allocated apart by
 * the port). 0 for ops that do not tile. Fails with TN_ERR_ARG for tile
 * sizes out of [1, out h] x [1, out c] and TN_ERR_OVERFLOW above 2^32-1. */
tn_status tn_tile_l1_bytes(const tn_graph_desc* graph, uint32_t op_index,
                           uint32_t tile_h, uint32_t tile_c, uint32_t* bytes);

typedef struct tn_plan_options {
  /* Budgets; zero fields take the target profile's value. */
  uint32_t l1_budget;
  uint32_t l2_budget;
  /* Bytes that live in L2 at run time besides activations, quantization
   * blocks and tail parameters (which the planner counts itself from the
   * ops' ranges), e.g. application buffers. */
  uint32_t extra_l2_bytes;
} tn_plan_options;

/* What the planner found; filled on success and on TN_ERR_MEMORY_BUDGET. */
typedef struct tn_plan_report {
  uint32_t l2_peak_bytes; /* activation arena */
  uint32_t l2_required;   /* arena + resident bytes */
  uint32_t l2_budget;
  uint32_t l1_peak_bytes; /* largest tile footprint */
  uint32_t l1_budget;
  uint32_t tiled_ops; /* ops computed in more than one tile */
  /* On TN_ERR_MEMORY_BUDGET: which memory (TN_MEM_L1 or TN_MEM_L2), the op
   * that does not fit (L1; else TN_BLOB_MAX_OPS) and by how many bytes the
   * requirement exceeds the budget. */
  uint8_t failed_level;
  uint32_t failed_op;
  uint32_t overshoot_bytes;
} tn_plan_report;

/* Plans `graph` (with its FP32 `tail`, or NULL) for `target`: tensor
 * lifetimes, placement of every activation in the L2 arena (greedy by
 * size, reusing memory of dead tensors; RESHAPE outputs alias their input;
 * the output and the cut stay live to the end), and per op that does not
 * fit L1 the tile sizes within the budget that move the fewest L2 <-> L1
 * bytes, then use the most L1. Writes graph->tensor_count
 * placements and graph->op_count tiles to the caller's arrays and fills
 * `plan` (which points at them). `options` may be NULL. The graph is
 * checked with the parser's rules for ids, order and shapes
 * (TN_ERR_BLOB_GRAPH / _SHAPE / _QUANT). Fails with TN_ERR_MEMORY_BUDGET
 * (details in `report`, which may be NULL) when the model cannot fit. */
tn_status tn_plan_memory(const tn_graph_desc* graph, const tn_tail_desc* tail,
                         tn_target target, const tn_plan_options* options,
                         tn_placement* placements, tn_tile* tiles,
                         tn_memory_plan* plan, tn_plan_report* report);

/* ------------------------------------------------------------------------ */
/* Cost model (GAP9 cluster; constants documented in docs/benchmarks and     */
/* docs/formats/model-blob.md "Cost model").                                 */
/* ------------------------------------------------------------------------ */

typedef enum tn_kernel_class {
  TN_KCLASS_NONE = 0,        /* no compute (RESHAPE) */
  TN_KCLASS_CONV = 1,        /* int8 conv2d and pointwise */
  TN_KCLASS_DEPTHWISE = 2,   /* int8 depthwise */
  TN_KCLASS_FC = 3,          /* int8 fully connected */
  TN_KCLASS_ELEMENTWISE = 4, /* pools, add, dequantize, ReLU */
  TN_KCLASS_SOFTMAX = 5,
  TN_KCLASS_FP32 = 6, /* FP32 tail MACs */
  TN_KCLASS_COUNT = 7
} tn_kernel_class;

/* Throughput and power figures of a target. Rates are fixed point with 3
 * decimals ("milli"): 15500 means 15.5 per cycle. */
typedef struct tn_cost_profile {
  uint32_t freq_mhz; /* cluster clock */
  uint32_t power_uw; /* average active power at freq_mhz */
  uint32_t mmac_per_cycle[TN_KCLASS_COUNT]; /* MACs or elements per cycle */
  uint32_t layer_overhead_cycles; /* per op: setup, fork/join, barrier */
  uint32_t tile_overhead_cycles;  /* per tile: DMA programming, waits */
  uint32_t dma_mbytes_per_cycle;  /* L2 <-> L1 bytes per cycle (milli) */
  uint32_t train_macs_factor;     /* training step MACs / forward MACs */
} tn_cost_profile;

/* The documented GAP9 profile (cluster at 370 MHz). Never NULL. */
const tn_cost_profile* tn_cost_profile_gap9(void);

typedef struct tn_layer_cost {
  uint8_t kernel_class; /* tn_kernel_class */
  uint64_t macs;        /* multiply-accumulates (or elements) */
  uint64_t compute_cycles;
  uint64_t transfer_bytes; /* L2 <-> L1 traffic of all tiles */
  uint64_t transfer_cycles;
  uint64_t overhead_cycles;
  uint64_t cycles;    /* the estimate */
  uint64_t energy_pj; /* cycles x power / frequency */
  uint32_t tiles;
} tn_layer_cost;

typedef struct tn_model_cost {
  uint64_t macs;   /* all ops */
  uint64_t cycles; /* inference, all ops */
  uint64_t energy_pj;
  uint64_t front_cycles;      /* ops before the cut */
  uint64_t tail_cycles;       /* ops from the cut */
  uint64_t train_step_cycles; /* one forward+backward step of the tail */
  uint64_t train_step_energy_pj;
} tn_model_cost;

/* Cost of op `op_index` computed with `tile` (NULL: untiled). */
tn_status tn_cost_layer(const tn_graph_desc* graph, uint32_t op_index,
                        const tn_tile* tile, const tn_cost_profile* profile,
                        tn_layer_cost* cost);

/* Sum over all ops; `tiles` may be NULL (untiled); `tail_first_op` is the
 * first tail op (op_count when there is no tail). */
tn_status tn_cost_model(const tn_graph_desc* graph, const tn_tile* tiles,
                        uint32_t tail_first_op, const tn_cost_profile* profile,
                        tn_model_cost* cost);

/* Multiply-accumulates of one op (0 for ops without MACs). */
uint64_t tn_op_macs(const tn_graph_desc* graph, uint32_t op_index);

/* ------------------------------------------------------------------------ */
/* Parsed blob.                                                              */
/* ------------------------------------------------------------------------ */

/* The signature section (80 bytes): algorithm 1 = ECDSA P-256 over the
 * SHA-256 digest, key id, and r || s big-endian. */
#define TN_SIGNATURE_SECTION_SIZE 80u
#define TN_SIGNATURE_ALG_ECDSA_P256 1u
typedef struct tn_blob_signature {
  uint32_t algorithm;
  const uint8_t* key_id; /* 8 bytes, in the blob */
  const uint8_t* r;      /* 32 bytes, in the blob */
  const uint8_t* s;      /* 32 bytes, in the blob */
} tn_blob_signature;

/* Signature check hook (implemented by the security room). Returns TN_OK
 * when `sig` is a valid signature of `digest` by a trusted key, else
 * TN_ERR_BLOB_SIGNATURE (or TN_ERR_CRYPTO on backend failure). */
typedef tn_status (*tn_blob_verify_fn)(void* ctx, const uint8_t digest[32],
                                       const tn_blob_signature* sig);

typedef struct tn_blob_parse_options {
  /* Required target; TN_TARGET_UNSPECIFIED accepts any known target. */
  tn_target expected_target;
  /* Reject blobs whose anti-rollback counter is below this. */
  uint32_t min_rollback_counter;
  /* Reject blobs without a signature section. */
  uint8_t require_signature;
  /* When set, called with the digest and the signature (if present). */
  tn_blob_verify_fn verify;
  void* verify_ctx;
} tn_blob_parse_options;

/* A validated view of a blob. Points into the caller's bytes, which must
 * stay unchanged while the view is used. Treat fields as read-only. */
typedef struct tn_blob {
  const uint8_t* data;
  uint32_t size; /* total_size */
  tn_target target;
  uint8_t model_id[TN_BLOB_MODEL_ID_SIZE];
  uint32_t model_version;
  uint32_t rollback_counter;
  uint32_t flags;
  uint8_t digest[TN_BLOB_DIGEST_SIZE];
  /* Sections (NULL / 0 when absent). */
  const uint8_t* graph;
  const uint8_t* weights;
  uint32_t weights_size;
  const uint8_t* quant;
  uint32_t quant_size;
  const uint8_t* tail_params;
  uint32_t tail_param_bytes;
  const uint8_t* plan;
  const uint8_t* canary;
  const uint8_t* metadata;
  const uint8_t* signature;
  /* Graph summary. */
  uint16_t tensor_count;
  uint16_t op_count;
  uint16_t input_tensor;
  uint16_t output_tensor;
  uint8_t has_tail;
  uint16_t cut_tensor;    /* TN_NO_TENSOR without a tail */
  uint16_t tail_first_op; /* op_count without a tail */
  uint16_t trainable_layers;
  /* Memory plan summary. */
  uint32_t l2_arena_bytes;
  uint32_t l1_arena_bytes;
  uint32_t l1_tile_bytes;
  /* Metadata (0 when absent). */
  uint64_t meta_macs;
  uint64_t meta_cycles;
  uint64_t meta_energy_pj;
} tn_blob;

/* Validates `size` bytes at `data` as a model blob and fills `blob`.
 * Pure: reads only [data, data + size), writes only *blob, copies nothing,
 * and uses about 2 KiB of stack. `options` may be NULL (defaults: any
 * target, no rollback floor, signature optional and not verified).
 * Statuses, in check order (details in docs/formats/model-blob.md § 5):
 * TN_ERR_BLOB_TRUNCATED (shorter than 4 bytes, the header or total_size),
 * _MAGIC, _VERSION (format version, header size, unknown flags, reserved
 * bytes, unknown required section), _TARGET (unknown), _BOUNDS (section
 * table and section extents), _TARGET (not the expected one), _CHECKSUM,
 * _SIGNATURE, TN_ERR_ROLLBACK, then the contents: _GRAPH (op types, tensor
 * ids, order, cycles, tail structure, missing graph), _SHAPE (dims,
 * windows, weight and quantization sizes, size overflow), _QUANT (scales,
 * zero points, clamps, multipliers, shifts, bias, non-finite FP32), _PLAN
 * (missing plan, placements, overlaps of live tensors, tiles) and
 * TN_ERR_MEMORY_BUDGET (exceeds the target's memory). On failure *blob is
 * left unchanged. A buffer larger than total_size is accepted. */
tn_status tn_blob_parse(const uint8_t* data, size_t size,
                        const tn_blob_parse_options* options, tn_blob* blob);

/* Computes the blob digest of `data` as defined by the format (SHA-256 of
 * [0, signed end) with the digest field read as zeros) after checking only
 * the header and section table (statuses as in tn_blob_parse). */
tn_status tn_blob_compute_digest(const uint8_t* data, size_t size,
                                 uint8_t digest[TN_BLOB_DIGEST_SIZE]);

/* Decoders of a parsed blob's records (REQUIRES: index in range). */
tn_status tn_blob_tensor(const tn_blob* blob, uint32_t index,
                         tn_tensor_desc* out);
tn_status tn_blob_op(const tn_blob* blob, uint32_t index, tn_op_desc* out);
tn_status tn_blob_placement(const tn_blob* blob, uint32_t index,
                            tn_placement* out);
tn_status tn_blob_tile(const tn_blob* blob, uint32_t index, tn_tile* out);
tn_status tn_blob_signature_get(const tn_blob* blob, tn_blob_signature* out);

/* Decodes the whole graph into caller arrays of at least tensor_count and
 * op_count entries (either may be NULL to skip it) and fills `graph`. */
tn_status tn_blob_graph(const tn_blob* blob, tn_tensor_desc* tensors,
                        uint32_t tensor_capacity, tn_op_desc* ops,
                        uint32_t op_capacity, tn_graph_desc* graph);

/* ------------------------------------------------------------------------ */
/* Builder.                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct tn_blob_header_desc {
  tn_target target;
  uint8_t model_id[TN_BLOB_MODEL_ID_SIZE];
  uint32_t model_version;
  uint32_t rollback_counter;
} tn_blob_header_desc;

typedef struct tn_blob_metadata {
  uint64_t macs;
  uint64_t cycles;
  uint64_t energy_pj;
} tn_blob_metadata;

/* Assembles a blob from parts that stay owned by the caller and must
 * outlive the builder (nothing is copied before finish). Usage: init, set
 * the graph and plan (required) and any other parts, then finish. */
typedef struct tn_blob_builder {
  tn_blob_header_desc header;
  const tn_graph_desc* graph;
  const tn_memory_plan* plan;
  const uint8_t* weights;
  uint32_t weights_size;
  const int32_t* quant;
  uint32_t quant_words;
  const tn_tail_desc* tail;
  const void* canary_input;
  uint32_t canary_input_size;
  const void* canary_output;
  uint32_t canary_output_size;
  uint8_t has_metadata;
  tn_blob_metadata metadata;
  uint8_t reserve_signature;
} tn_blob_builder;

tn_status tn_blob_builder_init(tn_blob_builder* b,
                               const tn_blob_header_desc* header);
tn_status tn_blob_builder_set_graph(tn_blob_builder* b,
                                    const tn_graph_desc* graph);
tn_status tn_blob_builder_set_plan(tn_blob_builder* b,
                                   const tn_memory_plan* plan);
/* Weight bytes as the WEIGHTS section (packed sub-byte rows included). */
tn_status tn_blob_builder_set_weights(tn_blob_builder* b, const void* data,
                                      uint32_t size);
/* int32 words of the QUANT section. */
tn_status tn_blob_builder_set_quant(tn_blob_builder* b, const int32_t* words,
                                    uint32_t count);
tn_status tn_blob_builder_set_tail(tn_blob_builder* b,
                                   const tn_tail_desc* tail);
/* Self-test pair: the graph input bytes and the expected output bytes
 * (int8 values, or FP32 values in host order for a tail output). */
tn_status tn_blob_builder_set_canary(tn_blob_builder* b, const void* input,
                                     uint32_t input_size, const void* output,
                                     uint32_t output_size);
tn_status tn_blob_builder_set_metadata(tn_blob_builder* b,
                                       const tn_blob_metadata* meta);
/* Reserves a zeroed signature section and sets TN_BLOB_FLAG_SIGNED; fill it
 * later with tn_blob_set_signature (the digest does not cover it). */
tn_status tn_blob_builder_reserve_signature(tn_blob_builder* b);

/* Exact size of the blob finish will write. */
tn_status tn_blob_builder_size(const tn_blob_builder* b, size_t* size);

/* Serialises into [out, out + capacity), computes the digest, then parses
 * the result with the parser's full rules (expected target = header
 * target), so that a builder never emits an invalid blob: any parser
 * status is returned as is. *written receives the size.
 * TN_ERR_BUFFER_TOO_SMALL when capacity is below tn_blob_builder_size. */
tn_status tn_blob_builder_finish(const tn_blob_builder* b, uint8_t* out,
                                 size_t capacity, size_t* written);

/* Writes the signature section of a blob built with a reserved signature.
 * Does not change the digest. */
tn_status tn_blob_set_signature(uint8_t* data, size_t size,
                                const tn_blob_signature* sig);

/* ------------------------------------------------------------------------ */
/* Executor.                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct tn_model_options {
  /* Run tileable int8 layers tile by tile through an emulated L1 buffer as
   * the plan says (bit-exact with untiled execution); 0 runs every layer
   * untiled straight from the L2 arena. */
  uint8_t tiled;
} tn_model_options;

/* A tensor as seen by the caller: data points into the model arena. */
typedef struct tn_tensor_view {
  void* data;
  uint32_t bytes;
  tn_tensor_desc desc;
} tn_tensor_view;

/* An FP32 tail layer as run by the executor: parameters live in the arena
 * and may be updated in place (weights then bias, FP32). */
typedef struct tn_tail_view {
  uint32_t op_index;
  uint8_t type; /* tn_op_type */
  tn_tensor_desc in;
  tn_tensor_desc out;
  float* weights;
  uint32_t weight_count;
  float* bias;
  uint32_t bias_count;
} tn_tail_view;

/* A runnable model. Fields are private; all memory is in the arena. */
typedef struct tn_model {
  tn_blob blob;
  tn_model_options options;
  uint8_t* arena;
  size_t arena_size;
  uint8_t* l2;      /* activation arena */
  uint8_t* l1;      /* L1-resident tensors */
  uint8_t* tile;    /* emulated L1 tile buffers */
  uint8_t* scratch; /* kernel scratch */
  size_t scratch_size;
  int32_t* quant; /* decoded QUANT words */
  float* tail;    /* trainable FP32 parameters */
} tn_model;

/* Bytes of arena tn_model_init needs for `blob` with `options` (NULL:
 * defaults). The arena must be aligned to 8 bytes. */
tn_status tn_model_arena_size(const tn_blob* blob,
                              const tn_model_options* options, size_t* size);

/* Binds `model` to a parsed `blob` (the blob bytes must outlive the model)
 * and an arena of at least tn_model_arena_size() bytes, which it owns until
 * the model is no longer used. Decodes quantization words and copies the
 * FP32 tail parameters into the arena. */
tn_status tn_model_init(tn_model* model, const tn_blob* blob, void* arena,
                        size_t arena_size, const tn_model_options* options);

/* The graph input (write the sample here before running). */
tn_status tn_model_input(tn_model* model, tn_tensor_view* view);
/* The graph output (int8 tensor, or FP32 logits with a tail). */
tn_status tn_model_output(tn_model* model, tn_tensor_view* view);
/* Any tensor of the graph. Its bytes hold the tensor's value from the op
 * that produces it until the plan reuses them for a later tensor (the
 * input, the output and the cut are never reused). */
tn_status tn_model_tensor(tn_model* model, uint32_t id, tn_tensor_view* view);
/* The int8 cut tensor (the latent); TN_ERR_NOT_FOUND without a tail. It
 * may be overwritten (e.g. with a replayed latent) before tn_model_run_tail. */
tn_status tn_model_cut(tn_model* model, tn_tensor_view* view);

/* The current cut tensor dequantized exactly as the tail's DEQUANTIZE op
 * does it (scale * (q - zero_point) in FP32), into `out` (capacity floats,
 * at least the cut's element count): the input the training room's tail
 * needs for a new sample. TN_ERR_NOT_FOUND without a tail. */
tn_status tn_model_cut_f32(tn_model* model, float* out, uint32_t capacity);

/* Runs the int8 front-end: every op before the cut (all ops without a
 * tail). */
tn_status tn_model_run_front(tn_model* model);
/* Runs the FP32 tail on the current cut tensor (dequantized with its scale
 * and zero point). TN_ERR_NOT_FOUND without a tail. */
tn_status tn_model_run_tail(tn_model* model);
/* Front-end then tail: a full inference. */
tn_status tn_model_run(tn_model* model);

/* Trainable tail layers: count and description of layer `index` (0-based
 * among tail ops with parameters). */
uint32_t tn_model_tail_layer_count(const tn_model* model);
tn_status tn_model_tail_layer(tn_model* model, uint32_t index,
                              tn_tail_view* out);

/* Describes the FP32 tail for the training room's trainable tail: the
 * layers after the DEQUANTIZE (capacity >= their number, at most
 * TN_TAIL_MAX_LAYERS), the cut shape, and the parameter vector in the arena,
 * which has tn_tail's layout. Binding it as tn_tail_buffers.params makes
 * training update the very parameters the executor runs. TN_ERR_NOT_FOUND
 * without a tail. */
tn_status tn_model_tail_spec(tn_model* model, tn_tail_layer* layers,
                             uint32_t capacity, uint32_t* count,
                             tn_train_shape* input, float** params,
                             uint32_t* param_count);

/* Runs the canary input and compares the output bit for bit with the
 * expected one: TN_OK, TN_ERR_SELFTEST on mismatch, TN_ERR_NOT_FOUND when
 * the blob has no canary. Overwrites the input and activations. */
tn_status tn_model_self_test(tn_model* model);

#ifdef __cplusplus
}
#endif

#endif /* TN_RUNTIME_TN_RUNTIME_H_ */
