/*
 * Private to the runtime room: byte layout of the blob records (offsets
 * within each record, all little-endian), their decoders and encoders, and
 * the graph rules shared by the parser, the planner, the cost model and the
 * executor (op classes, shape and size rules, tile geometry), so that each
 * rule exists exactly once.
 */
#ifndef TN_RUNTIME_TN_RUNTIME_INTERNAL_H_
#define TN_RUNTIME_TN_RUNTIME_INTERNAL_H_

#include "runtime/tn_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Header fields (offsets within the 96-byte header). */
enum {
  TN_HDR_MAGIC = 0,
  TN_HDR_VERSION = 4,
  TN_HDR_HEADER_SIZE = 6,
  TN_HDR_TOTAL_SIZE = 8,
  TN_HDR_TARGET = 12,
  TN_HDR_SECTION_COUNT = 14,
  TN_HDR_MODEL_ID = 16,
  TN_HDR_MODEL_VERSION = 32,
  TN_HDR_ROLLBACK = 36,
  TN_HDR_FLAGS = 40,
  TN_HDR_RESERVED0 = 44, /* u32 */
  TN_HDR_DIGEST = 48,
  TN_HDR_RESERVED1 = 80 /* 16 bytes */
};

/* Section table entry. */
enum {
  TN_SEC_TYPE = 0,
  TN_SEC_FLAGS = 2,
  TN_SEC_OFFSET = 4,
  TN_SEC_SIZE = 8,
  TN_SEC_RESERVED = 12
};

/* GRAPH section: header, then tensor records, then op records. */
enum {
  TN_GRAPH_HEADER_SIZE = 16,
  TN_GRAPH_TENSOR_COUNT = 0,
  TN_GRAPH_OP_COUNT = 2,
  TN_GRAPH_INPUT = 4,
  TN_GRAPH_OUTPUT = 6,
  TN_GRAPH_RESERVED = 8, /* 8 bytes */
  TN_TENSOR_RECORD_SIZE = 24,
  TN_OP_RECORD_SIZE = 48
};

/* TAIL section: header, then FP32 parameters. */
enum {
  TN_TAILSEC_HEADER_SIZE = 16,
  TN_TAILSEC_CUT = 0,
  TN_TAILSEC_FIRST_OP = 2,
  TN_TAILSEC_LAYERS = 4,
  TN_TAILSEC_RESERVED0 = 6, /* u16 */
  TN_TAILSEC_PARAM_BYTES = 8,
  TN_TAILSEC_RESERVED1 = 12 /* u32 */
};

/* MEMORY_PLAN section: header, placements, tiles. */
enum {
  TN_PLAN_HEADER_SIZE = 32,
  TN_PLAN_TARGET = 0,
  TN_PLAN_TENSOR_COUNT = 2,
  TN_PLAN_OP_COUNT = 4,
  TN_PLAN_RESERVED0 = 6, /* u16 */
  TN_PLAN_L2_ARENA = 8,
  TN_PLAN_L1_ARENA = 12,
  TN_PLAN_L1_TILE = 16,
  TN_PLAN_RESERVED1 = 20, /* 12 bytes */
  TN_PLACEMENT_RECORD_SIZE = 12,
  TN_TILE_RECORD_SIZE = 12
};

/* CANARY section: header, input bytes padded to 4, output bytes. */
enum {
  TN_CANARY_HEADER_SIZE = 16,
  TN_CANARY_INPUT_SIZE = 0,
  TN_CANARY_OUTPUT_SIZE = 4,
  TN_CANARY_RESERVED = 8 /* 8 bytes */
};

/* METADATA section. */
enum {
  TN_META_SIZE = 32,
  TN_META_MACS = 0,
  TN_META_CYCLES = 8,
  TN_META_ENERGY = 16,
  TN_META_RESERVED = 24
};

/* SIGNATURE section. */
enum {
  TN_SIG_ALGORITHM = 0,
  TN_SIG_RESERVED = 4,
  TN_SIG_KEY_ID = 8,
  TN_SIG_R = 16,
  TN_SIG_S = 48
};

/* Record codecs (no validation: callers bound the pointers). */
void tn_tensor_decode(const uint8_t* rec, tn_tensor_desc* out);
void tn_tensor_encode(const tn_tensor_desc* t, uint8_t* rec);
void tn_op_decode(const uint8_t* rec, tn_op_desc* out);
void tn_op_encode(const tn_op_desc* op, uint8_t* rec);
uint32_t tn_f32_bits(float f);
float tn_f32_from_bits(uint32_t bits);

/* Quantization blocks (int32 words; see the format document). Weighted ops
 * carry bias[c], multiplier[c], shift[c]; ADD carries left_shift, then
 * (multiplier, shift) for input 0, input 1 and the output; SOFTMAX carries
 * input multiplier, input left shift and diff_min. */
#define TN_QUANT_ADD_WORDS 7u
#define TN_QUANT_SOFTMAX_WORDS 3u
#define TN_REQUANT_SHIFT_MIN (-31)
#define TN_REQUANT_SHIFT_MAX 30
#define TN_ADD_LEFT_SHIFT_MAX 20
/* int8 softmax output quantization: scale 1/256 (bits), zero point -128. */
#define TN_SOFTMAX_OUTPUT_SCALE_BITS 0x3B800000u
#define TN_SOFTMAX_OUTPUT_ZERO_POINT (-128)

/* Op classes. */
int tn_op_is_known(uint32_t type);
int tn_op_is_int8(uint32_t type);     /* front-end op (DEQUANTIZE excluded) */
int tn_op_is_f32(uint32_t type);      /* tail op (DEQUANTIZE excluded) */
int tn_op_has_weights(uint32_t type); /* int8 CONV/DW/PW/FC */
int tn_op_has_params(uint32_t type);  /* FP32 PW/FC */
int tn_op_is_tileable(uint32_t type);
uint8_t tn_op_kernel_class(uint32_t type);

/* Byte size of a tensor; TN_ERR_BLOB_SHAPE for a zero or too large dim,
 * too many elements, or an unknown dtype. */
tn_status tn_tensor_bytes(const tn_tensor_desc* t, uint32_t* bytes);

/* Bytes of `count` weights of `bits` bits packed, rounded up to a byte. */
uint32_t tn_packed_bytes(uint32_t count, uint32_t bits);

/* Full structural check of one op against its tensors (in1 NULL unless
 * ADD): dtypes, parameter ranges, shape relations, expected weight and
 * quantization sizes. Does not check section ranges or quant values.
 * Returns TN_ERR_BLOB_GRAPH, _SHAPE or _QUANT. */
tn_status tn_op_check(const tn_op_desc* op, const tn_tensor_desc* in0,
                      const tn_tensor_desc* in1, const tn_tensor_desc* out);

/* Expected weights_size in bytes (int8: packed weights; FP32: weights plus
 * bias floats) and quant_size in bytes for an op with these tensors.
 * REQUIRES: tn_op_check passed. */
uint32_t tn_op_weight_bytes(const tn_op_desc* op, const tn_tensor_desc* in0,
                            const tn_tensor_desc* out);
uint32_t tn_op_quant_bytes(const tn_op_desc* op, const tn_tensor_desc* out);

/* Number of weights of a weighted int8 op (out c x reduction). */
uint32_t tn_op_weight_count(const tn_op_desc* op, const tn_tensor_desc* in0,
                            const tn_tensor_desc* out);

/* Number of accumulated products per output (the reduction length) of a
 * weighted op. */
uint32_t tn_op_reduction(const tn_op_desc* op, const tn_tensor_desc* in0);

/* Validates the int32 words of an op's quantization block (multipliers,
 * shifts, bias ranges). TN_ERR_BLOB_QUANT on a bad value. */
tn_status tn_op_check_quant(const tn_op_desc* op, const tn_tensor_desc* in0,
                            const tn_tensor_desc* out, const uint8_t* words);

/* Multiply-accumulates of one op (0 for ops without MACs). */
uint64_t tn_op_macs_desc(const tn_op_desc* op, const tn_tensor_desc* in0,
                         const tn_tensor_desc* out);

/* Input rows an output tile of `tile_h` rows reads (clipped to the input
 * height). */
uint32_t tn_tile_input_rows(const tn_op_desc* op, const tn_tensor_desc* in0,
                            uint32_t tile_h);

/* L1 footprint of a tile (see tn_tile_l1_bytes in the public header), from
 * descriptors. */
tn_status tn_tile_footprint(const tn_op_desc* op, const tn_tensor_desc* in0,
                            const tn_tensor_desc* out, uint32_t tile_h,
                            uint32_t tile_c, uint32_t* bytes);

/* L2 <-> L1 bytes moved when an op runs in tiles of tile_h x tile_c, loop
 * order channel tiles outer, row tiles inner: an input slab (with its
 * halo) per tile, weights and quantization words once per channel tile,
 * every output byte once. REQUIRES: tile sizes within the output. */
uint64_t tn_tile_transfer_bytes(const tn_op_desc* op, const tn_tensor_desc* in0,
                                const tn_tensor_desc* out, uint32_t tile_h,
                                uint32_t tile_c);

/* Checked arithmetic: return nonzero on overflow. */
static inline int tn_mul_u32(uint32_t a, uint32_t b, uint32_t* out) {
  uint64_t p = (uint64_t)a * (uint64_t)b;
  if (p > 0xFFFFFFFFu) return 1;
  *out = (uint32_t)p;
  return 0;
}
static inline int tn_add_u32(uint32_t a, uint32_t b, uint32_t* out) {
  uint64_t s = (uint64_t)a + (uint64_t)b;
  if (s > 0xFFFFFFFFu) return 1;
  *out = (uint32_t)s;
  return 0;
}
/* Two's complement reinterpretation without implementation-defined
 * conversions. */
static inline int32_t tn_i32_from_u32(uint32_t u) {
  return u <= 0x7FFFFFFFu ? (int32_t)u : -(int32_t)(~u) - 1;
}
static inline uint32_t tn_align_up8(uint32_t v) { return (v + 7u) & ~7u; }

#ifdef __cplusplus
}
#endif

#endif /* TN_RUNTIME_TN_RUNTIME_INTERNAL_H_ */
