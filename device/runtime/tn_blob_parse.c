/*
 * The model blob parser and validator: the only code of the runtime that
 * reads untrusted bytes. It checks the header, the section table, the
 * digest and signature, then every record of every section against the
 * format's rules, and only then fills a tn_blob view. Every read is bounded
 * by a size validated before it, every size computation is overflow
 * checked, and every loop is bounded by a validated count.
 */
#include <string.h>

#include "runtime/tn_runtime_internal.h"
#include "secure/tn_secure.h"

/* Section index by type (1..8); 0 unused. */
#define TN_SECTION_TYPE_MAX 8u

typedef struct tn_section_ref {
  uint32_t offset;
  uint32_t size;
  uint8_t present;
} tn_section_ref;

typedef struct tn_blob_layout {
  uint32_t total_size;
  uint32_t signed_end; /* end of the bytes covered by the digest */
  tn_section_ref sections[TN_SECTION_TYPE_MAX + 1];
} tn_blob_layout;

static int all_zero(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

/* Header and section table checks shared by the parser and
 * tn_blob_compute_digest. */
static tn_status check_layout(const uint8_t* data, size_t size,
                              tn_blob_layout* layout) {
  if (data == NULL) return TN_ERR_NULL;
  if (size < 4) return TN_ERR_BLOB_TRUNCATED;
  if (tn_load_u32le(data + TN_HDR_MAGIC) != TN_BLOB_MAGIC) {
    return TN_ERR_BLOB_MAGIC;
  }
  if (size < TN_BLOB_HEADER_SIZE) return TN_ERR_BLOB_TRUNCATED;
  if (tn_load_u16le(data + TN_HDR_VERSION) != TN_BLOB_FORMAT_VERSION ||
      tn_load_u16le(data + TN_HDR_HEADER_SIZE) != TN_BLOB_HEADER_SIZE) {
    return TN_ERR_BLOB_VERSION;
  }
  uint32_t total = tn_load_u32le(data + TN_HDR_TOTAL_SIZE);
  if ((uint64_t)total > (uint64_t)size) return TN_ERR_BLOB_TRUNCATED;
  if ((tn_load_u32le(data + TN_HDR_FLAGS) & ~TN_BLOB_FLAG_SIGNED) != 0 ||
      tn_load_u32le(data + TN_HDR_RESERVED0) != 0 ||
      !all_zero(data + TN_HDR_RESERVED1, 16)) {
    return TN_ERR_BLOB_VERSION;
  }
  uint32_t target = tn_load_u16le(data + TN_HDR_TARGET);
  if (target != TN_TARGET_HOST && target != TN_TARGET_GAP8 &&
      target != TN_TARGET_GAP9) {
    return TN_ERR_BLOB_TARGET;
  }

  uint32_t count = tn_load_u16le(data + TN_HDR_SECTION_COUNT);
  if (count == 0 || count > TN_BLOB_MAX_SECTIONS) return TN_ERR_BLOB_BOUNDS;
  uint32_t table_end = TN_BLOB_HEADER_SIZE + count * TN_BLOB_SECTION_ENTRY_SIZE;
  if (table_end > total) return TN_ERR_BLOB_BOUNDS;

  memset(layout, 0, sizeof(*layout));
  layout->total_size = total;
  layout->signed_end = total;
  uint64_t prev_end = table_end;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* e =
        data + TN_BLOB_HEADER_SIZE + (size_t)i * TN_BLOB_SECTION_ENTRY_SIZE;
    uint32_t type = tn_load_u16le(e + TN_SEC_TYPE);
    uint32_t flags = tn_load_u16le(e + TN_SEC_FLAGS);
    uint32_t offset = tn_load_u32le(e + TN_SEC_OFFSET);
    uint32_t sec_size = tn_load_u32le(e + TN_SEC_SIZE);
    if ((flags & ~TN_SECTION_FLAG_OPTIONAL) != 0 ||
        tn_load_u32le(e + TN_SEC_RESERVED) != 0) {
      return TN_ERR_BLOB_VERSION;
    }
    if (offset % TN_BLOB_SECTION_ALIGN != 0 || (uint64_t)offset < prev_end) {
      return TN_ERR_BLOB_BOUNDS;
    }
    uint64_t end = (uint64_t)offset + (uint64_t)sec_size;
    if (end > total) return TN_ERR_BLOB_BOUNDS;
    prev_end = end;
    if (type == 0 || type > TN_SECTION_TYPE_MAX) {
      if (flags & TN_SECTION_FLAG_OPTIONAL) continue;
      return TN_ERR_BLOB_VERSION;
    }
    if (layout->sections[type].present) return TN_ERR_BLOB_BOUNDS;
    layout->sections[type].present = 1;
    layout->sections[type].offset = offset;
    layout->sections[type].size = sec_size;
    if (type == TN_SECTION_SIGNATURE) {
      /* The signature is the last section and is not covered by the
       * digest. */
      if (i + 1 != count) return TN_ERR_BLOB_BOUNDS;
      layout->signed_end = offset;
    }
  }
  if (prev_end != total) return TN_ERR_BLOB_BOUNDS;
  return TN_OK;
}

static tn_status digest_of(const uint8_t* data, const tn_blob_layout* layout,
                           uint8_t digest[TN_BLOB_DIGEST_SIZE]) {
  static const uint8_t kZeros[TN_BLOB_DIGEST_SIZE] = {0};
  tn_sha256_ctx ctx;
  tn_status st = tn_sha256_init(&ctx);
  if (st == TN_OK) st = tn_sha256_update(&ctx, data, TN_HDR_DIGEST);
  if (st == TN_OK) st = tn_sha256_update(&ctx, kZeros, sizeof(kZeros));
  if (st == TN_OK) {
    uint32_t from = TN_HDR_DIGEST + TN_BLOB_DIGEST_SIZE;
    st = tn_sha256_update(&ctx, data + from, layout->signed_end - from);
  }
  if (st == TN_OK) st = tn_sha256_final(&ctx, digest);
  return st;
}

tn_status tn_blob_compute_digest(const uint8_t* data, size_t size,
                                 uint8_t digest[TN_BLOB_DIGEST_SIZE]) {
  if (digest == NULL) return TN_ERR_NULL;
  tn_blob_layout layout;
  tn_status st = check_layout(data, size, &layout);
  if (st != TN_OK) return st;
  return digest_of(data, &layout, digest);
}

/* ---- Graph ------------------------------------------------------------ */

static const uint8_t* tensor_rec(const uint8_t* graph, uint32_t i) {
  return graph + TN_GRAPH_HEADER_SIZE + (size_t)i * TN_TENSOR_RECORD_SIZE;
}

static const uint8_t* op_rec(const uint8_t* graph, uint32_t tensors,
                             uint32_t i) {
  return graph + TN_GRAPH_HEADER_SIZE +
         (size_t)tensors * TN_TENSOR_RECORD_SIZE +
         (size_t)i * TN_OP_RECORD_SIZE;
}

/* Checks that [offset, offset + size) lies within a region of `limit`
 * bytes and that offset is a multiple of `align`. */
static int range_ok(uint32_t offset, uint32_t size, uint32_t limit,
                    uint32_t align) {
  if (offset % align != 0) return 0;
  return (uint64_t)offset + (uint64_t)size <= (uint64_t)limit;
}

/* Per-tensor facts the validator derives. */
typedef struct tn_lifetimes {
  uint16_t first[TN_BLOB_MAX_TENSORS]; /* producing op (0 for the input) */
  uint16_t last[TN_BLOB_MAX_TENSORS];  /* last reading op, op_count = end */
  uint16_t root[TN_BLOB_MAX_TENSORS];  /* RESHAPE alias root */
  uint8_t produced[TN_BLOB_MAX_TENSORS];
} tn_lifetimes;

typedef struct tn_parse_state {
  const uint8_t* graph;
  uint32_t tensor_count;
  uint32_t op_count;
  const uint8_t* weights;
  uint32_t weights_size;
  const uint8_t* quant;
  uint32_t quant_size;
  uint32_t tail_param_bytes;
  const uint8_t* tail_params;
  int has_tail;
  uint32_t cut;
  uint32_t first_tail_op;
  uint64_t macs;
} tn_parse_state;

static tn_status check_tensor(const uint8_t* rec) {
  if (rec[1] != 0 || tn_load_u16le(rec + 2) != 0) return TN_ERR_BLOB_GRAPH;
  tn_tensor_desc t;
  tn_tensor_decode(rec, &t);
  if (t.dtype != TN_DTYPE_INT8 && t.dtype != TN_DTYPE_FLOAT32) {
    return TN_ERR_BLOB_GRAPH;
  }
  uint32_t bytes;
  tn_status st = tn_tensor_bytes(&t, &bytes);
  if (st != TN_OK) return st;
  uint32_t scale_bits = tn_f32_bits(t.scale);
  if (t.dtype == TN_DTYPE_INT8) {
    /* Positive, finite and normal: sign 0, exponent neither 0 nor 255. */
    uint32_t exponent = (scale_bits >> 23) & 0xFFu;
    if ((scale_bits >> 31) != 0 || exponent == 0 || exponent == 0xFFu) {
      return TN_ERR_BLOB_QUANT;
    }
    if (t.zero_point < -128 || t.zero_point > 127) return TN_ERR_BLOB_QUANT;
  } else if (scale_bits != 0 || t.zero_point != 0) {
    return TN_ERR_BLOB_QUANT;
  }
  return TN_OK;
}

static int f32_bits_finite(uint32_t bits) {
  return ((bits >> 23) & 0xFFu) != 0xFFu;
}

/* Validates every op in order and derives lifetimes. */
static tn_status check_ops(tn_parse_state* ps, uint32_t input, uint32_t output,
                           tn_lifetimes* lt, uint32_t* trainable,
                           uint32_t* param_cursor) {
  *trainable = 0;
  *param_cursor = 0;
  for (uint32_t t = 0; t < ps->tensor_count; ++t) {
    lt->first[t] = 0;
    lt->last[t] = 0;
    lt->root[t] = (uint16_t)t;
    lt->produced[t] = 0;
  }
  lt->produced[input] = 1;

  for (uint32_t i = 0; i < ps->op_count; ++i) {
    const uint8_t* rec = op_rec(ps->graph, ps->tensor_count, i);
    if (tn_load_u16le(rec + 2) != 0 || tn_load_u16le(rec + 10) != 0 ||
        !all_zero(rec + 40, 8)) {
      return TN_ERR_BLOB_GRAPH;
    }
    tn_op_desc op;
    tn_op_decode(rec, &op);
    if (!tn_op_is_known(op.type)) return TN_ERR_BLOB_GRAPH;

    /* Int8 ops before the cut, the DEQUANTIZE of the cut tensor at it, FP32
     * ops after it. */
    if (ps->has_tail && i == ps->first_tail_op) {
      if (op.type != TN_OP_DEQUANTIZE || op.input0 != ps->cut) {
        return TN_ERR_BLOB_GRAPH;
      }
    } else if (ps->has_tail && i > ps->first_tail_op) {
      if (!tn_op_is_f32(op.type)) return TN_ERR_BLOB_GRAPH;
    } else if (!tn_op_is_int8(op.type)) {
      return TN_ERR_BLOB_GRAPH;
    }

    /* Tensor ids, a single producer per tensor, use after production (which
     * also rules out cycles: ops are in execution order). */
    if (op.input0 >= ps->tensor_count || op.output >= ps->tensor_count) {
      return TN_ERR_BLOB_GRAPH;
    }
    if (op.input1 != TN_NO_TENSOR && op.input1 >= ps->tensor_count) {
      return TN_ERR_BLOB_GRAPH;
    }
    if (!lt->produced[op.input0]) return TN_ERR_BLOB_GRAPH;
    if (op.input1 != TN_NO_TENSOR && !lt->produced[op.input1]) {
      return TN_ERR_BLOB_GRAPH;
    }
    if (lt->produced[op.output]) return TN_ERR_BLOB_GRAPH;

    tn_tensor_desc in0, in1, out;
    tn_tensor_decode(tensor_rec(ps->graph, op.input0), &in0);
    tn_tensor_decode(tensor_rec(ps->graph, op.output), &out);
    const tn_tensor_desc* in1p = NULL;
    if (op.input1 != TN_NO_TENSOR) {
      tn_tensor_decode(tensor_rec(ps->graph, op.input1), &in1);
      in1p = &in1;
    }
    tn_status st = tn_op_check(&op, &in0, in1p, &out);
    if (st != TN_OK) return st;

    /* Data ranges: tn_op_check verified the sizes the shapes imply and that
     * ops without data have empty ranges. */
    if (tn_op_has_weights(op.type)) {
      if (!range_ok(op.weights_offset, op.weights_size, ps->weights_size, 1)) {
        return TN_ERR_BLOB_BOUNDS;
      }
    } else if (tn_op_has_params(op.type)) {
      /* Tail parameters are packed in op order (the train room's tail
       * layout): each op's range starts where the previous one ended. */
      if (!range_ok(op.weights_offset, op.weights_size, ps->tail_param_bytes,
                    4)) {
        return TN_ERR_BLOB_BOUNDS;
      }
      if (op.weights_offset != *param_cursor) return TN_ERR_BLOB_GRAPH;
      *param_cursor += op.weights_size;
      ++*trainable;
    }
    if (op.quant_size != 0) {
      if (!range_ok(op.quant_offset, op.quant_size, ps->quant_size, 4)) {
        return TN_ERR_BLOB_BOUNDS;
      }
      st = tn_op_check_quant(&op, &in0, &out, ps->quant + op.quant_offset);
      if (st != TN_OK) return st;
    }

    lt->produced[op.output] = 1;
    lt->first[op.output] = (uint16_t)i;
    lt->last[op.output] = (uint16_t)i;
    lt->last[op.input0] = (uint16_t)i;
    if (op.input1 != TN_NO_TENSOR) lt->last[op.input1] = (uint16_t)i;
    if (op.type == TN_OP_RESHAPE) lt->root[op.output] = lt->root[op.input0];
    ps->macs += tn_op_macs_desc(&op, &in0, &out);
  }

  for (uint32_t t = 0; t < ps->tensor_count; ++t) {
    if (!lt->produced[t]) return TN_ERR_BLOB_GRAPH; /* orphan tensor */
  }
  /* The output stays live until the end, and so does the cut: the tail is
   * re-run on replayed latents written into it. */
  lt->last[output] = (uint16_t)ps->op_count;
  if (ps->has_tail) lt->last[ps->cut] = (uint16_t)ps->op_count;
  return TN_OK;
}

/* ---- Memory plan ------------------------------------------------------- */

static int intervals_meet(uint32_t a0, uint32_t a1, uint32_t b0, uint32_t b1) {
  return a0 <= b1 && b0 <= a1;
}

static tn_status check_plan(const tn_parse_state* ps, const uint8_t* plan,
                            uint32_t plan_size, uint32_t target,
                            const tn_lifetimes* lt, uint32_t* l2_arena,
                            uint32_t* l1_arena, uint32_t* l1_tile) {
  uint64_t want = TN_PLAN_HEADER_SIZE +
                  (uint64_t)ps->tensor_count * TN_PLACEMENT_RECORD_SIZE +
                  (uint64_t)ps->op_count * TN_TILE_RECORD_SIZE;
  if (plan_size != want) return TN_ERR_BLOB_BOUNDS;
  if (tn_load_u16le(plan + TN_PLAN_TARGET) != target ||
      tn_load_u16le(plan + TN_PLAN_TENSOR_COUNT) != ps->tensor_count ||
      tn_load_u16le(plan + TN_PLAN_OP_COUNT) != ps->op_count ||
      tn_load_u16le(plan + TN_PLAN_RESERVED0) != 0 ||
      !all_zero(plan + TN_PLAN_RESERVED1, 12)) {
    return TN_ERR_BLOB_PLAN;
  }
  *l2_arena = tn_load_u32le(plan + TN_PLAN_L2_ARENA);
  *l1_arena = tn_load_u32le(plan + TN_PLAN_L1_ARENA);
  *l1_tile = tn_load_u32le(plan + TN_PLAN_L1_TILE);

  const uint8_t* places = plan + TN_PLAN_HEADER_SIZE;
  for (uint32_t t = 0; t < ps->tensor_count; ++t) {
    const uint8_t* p = places + (size_t)t * TN_PLACEMENT_RECORD_SIZE;
    uint32_t level = p[0];
    uint32_t offset = tn_load_u32le(p + 4);
    uint32_t size = tn_load_u32le(p + 8);
    if (p[1] != 0 || tn_load_u16le(p + 2) != 0) return TN_ERR_BLOB_PLAN;
    if (level != TN_MEM_L2 && level != TN_MEM_L1) return TN_ERR_BLOB_PLAN;
    tn_tensor_desc td;
    uint32_t bytes = 0;
    tn_tensor_decode(tensor_rec(ps->graph, t), &td);
    (void)tn_tensor_bytes(&td, &bytes); /* validated before */
    if (size != bytes) return TN_ERR_BLOB_PLAN;
    uint32_t arena = level == TN_MEM_L2 ? *l2_arena : *l1_arena;
    if (!range_ok(offset, size, arena, TN_BLOB_ARENA_ALIGN)) {
      return TN_ERR_BLOB_PLAN;
    }
  }
  /* Tensors live at the same time must not share bytes, except a RESHAPE
   * output placed exactly on its (transitive) input. */
  for (uint32_t a = 0; a < ps->tensor_count; ++a) {
    const uint8_t* pa = places + (size_t)a * TN_PLACEMENT_RECORD_SIZE;
    uint32_t off_a = tn_load_u32le(pa + 4);
    uint32_t end_a = off_a + tn_load_u32le(pa + 8);
    for (uint32_t b = a + 1; b < ps->tensor_count; ++b) {
      const uint8_t* pb = places + (size_t)b * TN_PLACEMENT_RECORD_SIZE;
      if (pa[0] != pb[0]) continue;
      if (!intervals_meet(lt->first[a], lt->last[a], lt->first[b],
                          lt->last[b])) {
        continue;
      }
      uint32_t off_b = tn_load_u32le(pb + 4);
      uint32_t end_b = off_b + tn_load_u32le(pb + 8);
      if (off_a >= end_b || off_b >= end_a) continue;
      if (lt->root[a] == lt->root[b] && off_a == off_b) continue;
      return TN_ERR_BLOB_PLAN;
    }
  }

  const uint8_t* tiles =
      places + (size_t)ps->tensor_count * TN_PLACEMENT_RECORD_SIZE;
  uint32_t max_l1 = 0;
  for (uint32_t i = 0; i < ps->op_count; ++i) {
    const uint8_t* r = tiles + (size_t)i * TN_TILE_RECORD_SIZE;
    uint32_t th = tn_load_u32le(r);
    uint32_t tc = tn_load_u32le(r + 4);
    uint32_t l1 = tn_load_u32le(r + 8);
    tn_op_desc op;
    tn_tensor_desc in0, out;
    tn_op_decode(op_rec(ps->graph, ps->tensor_count, i), &op);
    tn_tensor_decode(tensor_rec(ps->graph, op.input0), &in0);
    tn_tensor_decode(tensor_rec(ps->graph, op.output), &out);
    if (th == 0 || th > out.h || tc == 0 || tc > out.c) {
      return TN_ERR_BLOB_PLAN;
    }
    uint32_t expect = 0;
    if (tn_tile_footprint(&op, &in0, &out, th, tc, &expect) != TN_OK) {
      return TN_ERR_BLOB_PLAN;
    }
    if (!tn_op_is_tileable(op.type) && (th != out.h || tc != out.c)) {
      return TN_ERR_BLOB_PLAN;
    }
    if (l1 != expect) return TN_ERR_BLOB_PLAN;
    if (l1 > max_l1) max_l1 = l1;
  }
  if (max_l1 != *l1_tile) return TN_ERR_BLOB_PLAN;
  return TN_OK;
}

/* ---- Small sections --------------------------------------------------- */

static tn_status check_tail_header(const uint8_t* sec, uint32_t size,
                                   tn_parse_state* ps, uint32_t* layers) {
  if (size < TN_TAILSEC_HEADER_SIZE) return TN_ERR_BLOB_BOUNDS;
  uint32_t param_bytes = tn_load_u32le(sec + TN_TAILSEC_PARAM_BYTES);
  if (param_bytes % 4 != 0 ||
      (uint64_t)param_bytes + TN_TAILSEC_HEADER_SIZE != size) {
    return TN_ERR_BLOB_BOUNDS;
  }
  if (tn_load_u16le(sec + TN_TAILSEC_RESERVED0) != 0 ||
      tn_load_u32le(sec + TN_TAILSEC_RESERVED1) != 0) {
    return TN_ERR_BLOB_GRAPH;
  }
  ps->has_tail = 1;
  ps->cut = tn_load_u16le(sec + TN_TAILSEC_CUT);
  ps->first_tail_op = tn_load_u16le(sec + TN_TAILSEC_FIRST_OP);
  *layers = tn_load_u16le(sec + TN_TAILSEC_LAYERS);
  ps->tail_param_bytes = param_bytes;
  ps->tail_params = sec + TN_TAILSEC_HEADER_SIZE;
  if (ps->cut >= ps->tensor_count || ps->first_tail_op == 0 ||
      ps->first_tail_op >= ps->op_count) {
    return TN_ERR_BLOB_GRAPH;
  }
  for (uint32_t i = 0; i < param_bytes / 4; ++i) {
    if (!f32_bits_finite(tn_load_u32le(ps->tail_params + 4u * i))) {
      return TN_ERR_BLOB_QUANT;
    }
  }
  return TN_OK;
}

static tn_status check_canary(const uint8_t* sec, uint32_t size,
                              uint32_t input_bytes, uint32_t output_bytes) {
  if (size < TN_CANARY_HEADER_SIZE) return TN_ERR_BLOB_BOUNDS;
  uint32_t in = tn_load_u32le(sec + TN_CANARY_INPUT_SIZE);
  uint32_t out = tn_load_u32le(sec + TN_CANARY_OUTPUT_SIZE);
  if (!all_zero(sec + TN_CANARY_RESERVED, 8)) return TN_ERR_BLOB_GRAPH;
  if (in != input_bytes || out != output_bytes) return TN_ERR_BLOB_SHAPE;
  /* Sizes are tensor sizes (< 2^26), so this cannot overflow. */
  uint64_t want =
      (uint64_t)TN_CANARY_HEADER_SIZE + (((uint64_t)in + 3) & ~3ull) + out;
  if (want != size) return TN_ERR_BLOB_BOUNDS;
  return TN_OK;
}

/* ---- Entry points ----------------------------------------------------- */

tn_status tn_blob_parse(const uint8_t* data, size_t size,
                        const tn_blob_parse_options* options, tn_blob* blob) {
  if (data == NULL || blob == NULL) return TN_ERR_NULL;
  static const tn_blob_parse_options kDefaults = {TN_TARGET_UNSPECIFIED, 0, 0,
                                                  NULL, NULL};
  const tn_blob_parse_options* opt = options ? options : &kDefaults;

  tn_blob_layout layout;
  tn_status st = check_layout(data, size, &layout);
  if (st != TN_OK) return st;
  uint32_t target = tn_load_u16le(data + TN_HDR_TARGET);
  if (opt->expected_target != TN_TARGET_UNSPECIFIED &&
      (uint32_t)opt->expected_target != target) {
    return TN_ERR_BLOB_TARGET;
  }

  /* Integrity before anything reads the contents. */
  uint8_t digest[TN_BLOB_DIGEST_SIZE];
  st = digest_of(data, &layout, digest);
  if (st != TN_OK) return st;
  uint8_t diff = 0;
  for (uint32_t i = 0; i < TN_BLOB_DIGEST_SIZE; ++i) {
    diff |= (uint8_t)(digest[i] ^ data[TN_HDR_DIGEST + i]);
  }
  if (diff != 0) return TN_ERR_BLOB_CHECKSUM;

  /* Signature: presence and size here; the hook judges the bytes. */
  const tn_section_ref* sig = &layout.sections[TN_SECTION_SIGNATURE];
  uint32_t flags = tn_load_u32le(data + TN_HDR_FLAGS);
  int flagged = (flags & TN_BLOB_FLAG_SIGNED) != 0;
  if (flagged != (sig->present != 0)) return TN_ERR_BLOB_SIGNATURE;
  if (opt->require_signature && !sig->present) return TN_ERR_BLOB_SIGNATURE;
  if (sig->present) {
    const uint8_t* s = data + sig->offset;
    if (sig->size != TN_SIGNATURE_SECTION_SIZE ||
        tn_load_u32le(s + TN_SIG_ALGORITHM) != TN_SIGNATURE_ALG_ECDSA_P256 ||
        tn_load_u32le(s + TN_SIG_RESERVED) != 0) {
      return TN_ERR_BLOB_SIGNATURE;
    }
    if (opt->verify != NULL) {
      tn_blob_signature view = {TN_SIGNATURE_ALG_ECDSA_P256, s + TN_SIG_KEY_ID,
                                s + TN_SIG_R, s + TN_SIG_S};
      st = opt->verify(opt->verify_ctx, digest, &view);
      if (st != TN_OK) return st;
    }
  }
  if (tn_load_u32le(data + TN_HDR_ROLLBACK) < opt->min_rollback_counter) {
    return TN_ERR_ROLLBACK;
  }

  /* Graph header and tensors. */
  const tn_section_ref* g = &layout.sections[TN_SECTION_GRAPH];
  if (!g->present) return TN_ERR_BLOB_GRAPH;
  if (!layout.sections[TN_SECTION_MEMORY_PLAN].present) {
    return TN_ERR_BLOB_PLAN;
  }
  if (g->size < TN_GRAPH_HEADER_SIZE) return TN_ERR_BLOB_BOUNDS;
  tn_parse_state ps;
  memset(&ps, 0, sizeof(ps));
  ps.graph = data + g->offset;
  ps.tensor_count = tn_load_u16le(ps.graph + TN_GRAPH_TENSOR_COUNT);
  ps.op_count = tn_load_u16le(ps.graph + TN_GRAPH_OP_COUNT);
  uint32_t input = tn_load_u16le(ps.graph + TN_GRAPH_INPUT);
  uint32_t output = tn_load_u16le(ps.graph + TN_GRAPH_OUTPUT);
  if (ps.tensor_count == 0 || ps.tensor_count > TN_BLOB_MAX_TENSORS ||
      ps.op_count == 0 || ps.op_count > TN_BLOB_MAX_OPS) {
    return TN_ERR_BLOB_GRAPH;
  }
  if ((uint64_t)g->size !=
      TN_GRAPH_HEADER_SIZE + (uint64_t)ps.tensor_count * TN_TENSOR_RECORD_SIZE +
          (uint64_t)ps.op_count * TN_OP_RECORD_SIZE) {
    return TN_ERR_BLOB_BOUNDS;
  }
  if (!all_zero(ps.graph + TN_GRAPH_RESERVED, 8)) return TN_ERR_BLOB_GRAPH;
  if (input >= ps.tensor_count || output >= ps.tensor_count ||
      input == output) {
    return TN_ERR_BLOB_GRAPH;
  }
  for (uint32_t t = 0; t < ps.tensor_count; ++t) {
    st = check_tensor(tensor_rec(ps.graph, t));
    if (st != TN_OK) return st;
  }

  /* Data sections. */
  const tn_section_ref* w = &layout.sections[TN_SECTION_WEIGHTS];
  if (w->present) {
    ps.weights = data + w->offset;
    ps.weights_size = w->size;
  }
  const tn_section_ref* q = &layout.sections[TN_SECTION_QUANT];
  if (q->present) {
    if (q->size % 4 != 0) return TN_ERR_BLOB_BOUNDS;
    ps.quant = data + q->offset;
    ps.quant_size = q->size;
  }
  uint32_t declared_layers = 0;
  const tn_section_ref* tail = &layout.sections[TN_SECTION_TAIL];
  if (tail->present) {
    st = check_tail_header(data + tail->offset, tail->size, &ps,
                           &declared_layers);
    if (st != TN_OK) return st;
  } else {
    ps.first_tail_op = ps.op_count;
  }

  tn_tensor_desc in_t, out_t;
  tn_tensor_decode(tensor_rec(ps.graph, input), &in_t);
  tn_tensor_decode(tensor_rec(ps.graph, output), &out_t);
  if (in_t.dtype != TN_DTYPE_INT8 ||
      out_t.dtype != (ps.has_tail ? TN_DTYPE_FLOAT32 : TN_DTYPE_INT8)) {
    return TN_ERR_BLOB_GRAPH;
  }

  /* Ops, in execution order. */
  tn_lifetimes lt;
  uint32_t trainable = 0, param_end = 0;
  st = check_ops(&ps, input, output, &lt, &trainable, &param_end);
  if (st != TN_OK) return st;
  if (ps.has_tail) {
    tn_tensor_desc cut;
    tn_tensor_decode(tensor_rec(ps.graph, ps.cut), &cut);
    if (cut.dtype != TN_DTYPE_INT8 || trainable != declared_layers ||
        param_end != ps.tail_param_bytes) {
      return TN_ERR_BLOB_GRAPH;
    }
  }

  /* Canary and metadata. */
  uint32_t in_bytes = 0, out_bytes = 0;
  (void)tn_tensor_bytes(&in_t, &in_bytes);
  (void)tn_tensor_bytes(&out_t, &out_bytes);
  const tn_section_ref* c = &layout.sections[TN_SECTION_CANARY];
  if (c->present) {
    st = check_canary(data + c->offset, c->size, in_bytes, out_bytes);
    if (st != TN_OK) return st;
  }
  const tn_section_ref* m = &layout.sections[TN_SECTION_METADATA];
  uint64_t meta_macs = 0, meta_cycles = 0, meta_energy = 0;
  if (m->present) {
    const uint8_t* md = data + m->offset;
    if (m->size != TN_META_SIZE) return TN_ERR_BLOB_BOUNDS;
    if (tn_load_u64le(md + TN_META_RESERVED) != 0) return TN_ERR_BLOB_GRAPH;
    meta_macs = tn_load_u64le(md + TN_META_MACS);
    meta_cycles = tn_load_u64le(md + TN_META_CYCLES);
    meta_energy = tn_load_u64le(md + TN_META_ENERGY);
    if (meta_macs != ps.macs) return TN_ERR_BLOB_GRAPH;
  }

  /* Memory plan and the target's budgets. */
  const tn_section_ref* p = &layout.sections[TN_SECTION_MEMORY_PLAN];
  uint32_t l2_arena = 0, l1_arena = 0, l1_tile = 0;
  st = check_plan(&ps, data + p->offset, p->size, target, &lt, &l2_arena,
                  &l1_arena, &l1_tile);
  if (st != TN_OK) return st;
  tn_target_profile prof;
  st = tn_target_profile_get((tn_target)target, &prof);
  if (st != TN_OK) return st;
  uint64_t l1_need = (uint64_t)l1_arena + l1_tile;
  uint64_t l2_need = (uint64_t)l2_arena + ps.quant_size + ps.tail_param_bytes;
  if (l1_need > prof.l1_bytes || l2_need > prof.l2_bytes ||
      (prof.nvm_bytes != 0 && layout.total_size > prof.nvm_bytes)) {
    return TN_ERR_MEMORY_BUDGET;
  }

  /* Valid: fill the view. */
  memset(blob, 0, sizeof(*blob));
  blob->data = data;
  blob->size = layout.total_size;
  blob->target = (tn_target)target;
  memcpy(blob->model_id, data + TN_HDR_MODEL_ID, TN_BLOB_MODEL_ID_SIZE);
  blob->model_version = tn_load_u32le(data + TN_HDR_MODEL_VERSION);
  blob->rollback_counter = tn_load_u32le(data + TN_HDR_ROLLBACK);
  blob->flags = flags;
  memcpy(blob->digest, digest, TN_BLOB_DIGEST_SIZE);
  blob->graph = ps.graph;
  blob->weights = ps.weights;
  blob->weights_size = ps.weights_size;
  blob->quant = ps.quant;
  blob->quant_size = ps.quant_size;
  blob->tail_params = ps.tail_params;
  blob->tail_param_bytes = ps.tail_param_bytes;
  blob->plan = data + p->offset;
  blob->canary = c->present ? data + c->offset : NULL;
  blob->metadata = m->present ? data + m->offset : NULL;
  blob->signature = sig->present ? data + sig->offset : NULL;
  blob->tensor_count = (uint16_t)ps.tensor_count;
  blob->op_count = (uint16_t)ps.op_count;
  blob->input_tensor = (uint16_t)input;
  blob->output_tensor = (uint16_t)output;
  blob->has_tail = (uint8_t)ps.has_tail;
  blob->cut_tensor = ps.has_tail ? (uint16_t)ps.cut : TN_NO_TENSOR;
  blob->tail_first_op = (uint16_t)ps.first_tail_op;
  blob->trainable_layers = (uint16_t)declared_layers;
  blob->l2_arena_bytes = l2_arena;
  blob->l1_arena_bytes = l1_arena;
  blob->l1_tile_bytes = l1_tile;
  blob->meta_macs = meta_macs;
  blob->meta_cycles = meta_cycles;
  blob->meta_energy_pj = meta_energy;
  return TN_OK;
}

/* ---- Accessors of a parsed blob --------------------------------------- */

tn_status tn_blob_tensor(const tn_blob* blob, uint32_t index,
                         tn_tensor_desc* out) {
  if (blob == NULL || out == NULL) return TN_ERR_NULL;
  if (index >= blob->tensor_count) return TN_ERR_ARG;
  tn_tensor_decode(tensor_rec(blob->graph, index), out);
  return TN_OK;
}

tn_status tn_blob_op(const tn_blob* blob, uint32_t index, tn_op_desc* out) {
  if (blob == NULL || out == NULL) return TN_ERR_NULL;
  if (index >= blob->op_count) return TN_ERR_ARG;
  tn_op_decode(op_rec(blob->graph, blob->tensor_count, index), out);
  return TN_OK;
}

tn_status tn_blob_placement(const tn_blob* blob, uint32_t index,
                            tn_placement* out) {
  if (blob == NULL || out == NULL) return TN_ERR_NULL;
  if (index >= blob->tensor_count) return TN_ERR_ARG;
  const uint8_t* p = blob->plan + TN_PLAN_HEADER_SIZE +
                     (size_t)index * TN_PLACEMENT_RECORD_SIZE;
  out->level = p[0];
  out->offset = tn_load_u32le(p + 4);
  out->size = tn_load_u32le(p + 8);
  return TN_OK;
}

tn_status tn_blob_tile(const tn_blob* blob, uint32_t index, tn_tile* out) {
  if (blob == NULL || out == NULL) return TN_ERR_NULL;
  if (index >= blob->op_count) return TN_ERR_ARG;
  const uint8_t* r = blob->plan + TN_PLAN_HEADER_SIZE +
                     (size_t)blob->tensor_count * TN_PLACEMENT_RECORD_SIZE +
                     (size_t)index * TN_TILE_RECORD_SIZE;
  out->tile_h = tn_load_u32le(r);
  out->tile_c = tn_load_u32le(r + 4);
  out->l1_bytes = tn_load_u32le(r + 8);
  return TN_OK;
}

tn_status tn_blob_signature_get(const tn_blob* blob, tn_blob_signature* out) {
  if (blob == NULL || out == NULL) return TN_ERR_NULL;
  if (blob->signature == NULL) return TN_ERR_NOT_FOUND;
  out->algorithm = tn_load_u32le(blob->signature + TN_SIG_ALGORITHM);
  out->key_id = blob->signature + TN_SIG_KEY_ID;
  out->r = blob->signature + TN_SIG_R;
  out->s = blob->signature + TN_SIG_S;
  return TN_OK;
}

tn_status tn_blob_graph(const tn_blob* blob, tn_tensor_desc* tensors,
                        uint32_t tensor_capacity, tn_op_desc* ops,
                        uint32_t op_capacity, tn_graph_desc* graph) {
  if (blob == NULL || graph == NULL) return TN_ERR_NULL;
  if ((tensors != NULL && tensor_capacity < blob->tensor_count) ||
      (ops != NULL && op_capacity < blob->op_count)) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  if (tensors != NULL) {
    for (uint32_t i = 0; i < blob->tensor_count; ++i) {
      tn_tensor_decode(tensor_rec(blob->graph, i), &tensors[i]);
    }
  }
  if (ops != NULL) {
    for (uint32_t i = 0; i < blob->op_count; ++i) {
      tn_op_decode(op_rec(blob->graph, blob->tensor_count, i), &ops[i]);
    }
  }
  graph->tensors = tensors;
  graph->tensor_count = blob->tensor_count;
  graph->ops = ops;
  graph->op_count = blob->op_count;
  graph->input_tensor = blob->input_tensor;
  graph->output_tensor = blob->output_tensor;
  return TN_OK;
}
