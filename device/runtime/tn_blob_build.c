/*
 * The model blob builder: lays out the sections a caller provides (graph,
 * weights, quantization words, FP32 tail, memory plan, canary, metadata,
 * signature slot) in format v1 order, writes them little-endian into a
 * caller buffer, computes the digest and finally runs the parser over the
 * result, so a blob that leaves the builder is one the node accepts.
 */
#include <string.h>

#include "runtime/tn_runtime_internal.h"

typedef struct tn_build_layout {
  uint32_t count;
  uint16_t types[TN_SECTION_SIGNATURE];
  uint32_t offsets[TN_SECTION_SIGNATURE];
  uint32_t sizes[TN_SECTION_SIGNATURE];
  uint32_t total;
} tn_build_layout;

tn_status tn_blob_builder_init(tn_blob_builder* b,
                               const tn_blob_header_desc* header) {
  if (b == NULL || header == NULL) return TN_ERR_NULL;
  memset(b, 0, sizeof(*b));
  b->header = *header;
  return TN_OK;
}

tn_status tn_blob_builder_set_graph(tn_blob_builder* b,
                                    const tn_graph_desc* graph) {
  if (b == NULL || graph == NULL) return TN_ERR_NULL;
  if (graph->tensor_count == 0 || graph->tensor_count > TN_BLOB_MAX_TENSORS ||
      graph->op_count == 0 || graph->op_count > TN_BLOB_MAX_OPS) {
    return TN_ERR_BLOB_GRAPH;
  }
  if (graph->tensors == NULL || graph->ops == NULL) return TN_ERR_NULL;
  b->graph = graph;
  return TN_OK;
}

tn_status tn_blob_builder_set_plan(tn_blob_builder* b,
                                   const tn_memory_plan* plan) {
  if (b == NULL || plan == NULL) return TN_ERR_NULL;
  if (plan->placements == NULL || plan->tiles == NULL) return TN_ERR_NULL;
  b->plan = plan;
  return TN_OK;
}

tn_status tn_blob_builder_set_weights(tn_blob_builder* b, const void* data,
                                      uint32_t size) {
  if (b == NULL || (data == NULL && size != 0)) return TN_ERR_NULL;
  b->weights = (const uint8_t*)data;
  b->weights_size = size;
  return TN_OK;
}

tn_status tn_blob_builder_set_quant(tn_blob_builder* b, const int32_t* words,
                                    uint32_t count) {
  if (b == NULL || (words == NULL && count != 0)) return TN_ERR_NULL;
  if (count > 0x3FFFFFFFu) return TN_ERR_OVERFLOW;
  b->quant = words;
  b->quant_words = count;
  return TN_OK;
}

tn_status tn_blob_builder_set_tail(tn_blob_builder* b,
                                   const tn_tail_desc* tail) {
  if (b == NULL || tail == NULL) return TN_ERR_NULL;
  if (tail->params == NULL && tail->param_count != 0) return TN_ERR_NULL;
  if (tail->param_count > 0x3FFFFFF0u) return TN_ERR_OVERFLOW;
  b->tail = tail;
  return TN_OK;
}

tn_status tn_blob_builder_set_canary(tn_blob_builder* b, const void* input,
                                     uint32_t input_size, const void* output,
                                     uint32_t output_size) {
  if (b == NULL || input == NULL || output == NULL) return TN_ERR_NULL;
  if (input_size > 0x7FFFFFF0u || output_size > 0x7FFFFFF0u) {
    return TN_ERR_OVERFLOW;
  }
  b->canary_input = input;
  b->canary_input_size = input_size;
  b->canary_output = output;
  b->canary_output_size = output_size;
  return TN_OK;
}

tn_status tn_blob_builder_set_metadata(tn_blob_builder* b,
                                       const tn_blob_metadata* meta) {
  if (b == NULL || meta == NULL) return TN_ERR_NULL;
  b->metadata = *meta;
  b->has_metadata = 1;
  return TN_OK;
}

tn_status tn_blob_builder_reserve_signature(tn_blob_builder* b) {
  if (b == NULL) return TN_ERR_NULL;
  b->reserve_signature = 1;
  return TN_OK;
}

/* Appends a section of `size` bytes at the next aligned offset. */
static tn_status add_section(tn_build_layout* l, uint64_t* cursor,
                             uint16_t type, uint64_t size) {
  uint64_t offset = (*cursor + (TN_BLOB_SECTION_ALIGN - 1u)) &
                    ~(uint64_t)(TN_BLOB_SECTION_ALIGN - 1u);
  if (offset + size > 0xFFFFFFFFu) return TN_ERR_OVERFLOW;
  l->types[l->count] = type;
  l->offsets[l->count] = (uint32_t)offset;
  l->sizes[l->count] = (uint32_t)size;
  ++l->count;
  *cursor = offset + size;
  return TN_OK;
}

static tn_status compute_layout(const tn_blob_builder* b, tn_build_layout* l) {
  if (b->graph == NULL) return TN_ERR_BLOB_GRAPH;
  if (b->plan == NULL) return TN_ERR_BLOB_PLAN;
  const tn_graph_desc* g = b->graph;
  memset(l, 0, sizeof(*l));
  uint32_t n = 1u + (b->weights_size ? 1u : 0u) + (b->quant_words ? 1u : 0u) +
               (b->tail ? 1u : 0u) + 1u + (b->canary_input ? 1u : 0u) +
               (b->has_metadata ? 1u : 0u) + (b->reserve_signature ? 1u : 0u);
  uint64_t cursor =
      TN_BLOB_HEADER_SIZE + (uint64_t)n * TN_BLOB_SECTION_ENTRY_SIZE;
  tn_status st = add_section(
      l, &cursor, TN_SECTION_GRAPH,
      TN_GRAPH_HEADER_SIZE + (uint64_t)g->tensor_count * TN_TENSOR_RECORD_SIZE +
          (uint64_t)g->op_count * TN_OP_RECORD_SIZE);
  if (st == TN_OK && b->weights_size) {
    st = add_section(l, &cursor, TN_SECTION_WEIGHTS, b->weights_size);
  }
  if (st == TN_OK && b->quant_words) {
    st = add_section(l, &cursor, TN_SECTION_QUANT, 4ull * b->quant_words);
  }
  if (st == TN_OK && b->tail) {
    st = add_section(l, &cursor, TN_SECTION_TAIL,
                     TN_TAILSEC_HEADER_SIZE + 4ull * b->tail->param_count);
  }
  if (st == TN_OK) {
    st = add_section(l, &cursor, TN_SECTION_MEMORY_PLAN,
                     TN_PLAN_HEADER_SIZE +
                         (uint64_t)g->tensor_count * TN_PLACEMENT_RECORD_SIZE +
                         (uint64_t)g->op_count * TN_TILE_RECORD_SIZE);
  }
  if (st == TN_OK && b->canary_input) {
    st = add_section(l, &cursor, TN_SECTION_CANARY,
                     TN_CANARY_HEADER_SIZE +
                         (((uint64_t)b->canary_input_size + 3u) & ~3ull) +
                         b->canary_output_size);
  }
  if (st == TN_OK && b->has_metadata) {
    st = add_section(l, &cursor, TN_SECTION_METADATA, TN_META_SIZE);
  }
  if (st == TN_OK && b->reserve_signature) {
    st = add_section(l, &cursor, TN_SECTION_SIGNATURE,
                     TN_SIGNATURE_SECTION_SIZE);
  }
  if (st != TN_OK) return st;
  l->total = (uint32_t)cursor;
  return TN_OK;
}

tn_status tn_blob_builder_size(const tn_blob_builder* b, size_t* size) {
  if (b == NULL || size == NULL) return TN_ERR_NULL;
  tn_build_layout l;
  tn_status st = compute_layout(b, &l);
  if (st != TN_OK) return st;
  *size = l.total;
  return TN_OK;
}

static void write_graph(const tn_graph_desc* g, uint8_t* p) {
  tn_store_u16le(p + TN_GRAPH_TENSOR_COUNT, (uint16_t)g->tensor_count);
  tn_store_u16le(p + TN_GRAPH_OP_COUNT, (uint16_t)g->op_count);
  tn_store_u16le(p + TN_GRAPH_INPUT, g->input_tensor);
  tn_store_u16le(p + TN_GRAPH_OUTPUT, g->output_tensor);
  uint8_t* rec = p + TN_GRAPH_HEADER_SIZE;
  for (uint32_t i = 0; i < g->tensor_count; ++i) {
    tn_tensor_encode(&g->tensors[i], rec);
    rec += TN_TENSOR_RECORD_SIZE;
  }
  for (uint32_t i = 0; i < g->op_count; ++i) {
    tn_op_encode(&g->ops[i], rec);
    rec += TN_OP_RECORD_SIZE;
  }
}

static void write_plan(const tn_graph_desc* g, const tn_memory_plan* plan,
                       uint8_t* p) {
  tn_store_u16le(p + TN_PLAN_TARGET, (uint16_t)plan->target);
  tn_store_u16le(p + TN_PLAN_TENSOR_COUNT, (uint16_t)g->tensor_count);
  tn_store_u16le(p + TN_PLAN_OP_COUNT, (uint16_t)g->op_count);
  tn_store_u32le(p + TN_PLAN_L2_ARENA, plan->l2_arena_bytes);
  tn_store_u32le(p + TN_PLAN_L1_ARENA, plan->l1_arena_bytes);
  tn_store_u32le(p + TN_PLAN_L1_TILE, plan->l1_tile_bytes);
  uint8_t* rec = p + TN_PLAN_HEADER_SIZE;
  for (uint32_t i = 0; i < g->tensor_count; ++i) {
    rec[0] = plan->placements[i].level;
    tn_store_u32le(rec + 4, plan->placements[i].offset);
    tn_store_u32le(rec + 8, plan->placements[i].size);
    rec += TN_PLACEMENT_RECORD_SIZE;
  }
  for (uint32_t i = 0; i < g->op_count; ++i) {
    tn_store_u32le(rec, plan->tiles[i].tile_h);
    tn_store_u32le(rec + 4, plan->tiles[i].tile_c);
    tn_store_u32le(rec + 8, plan->tiles[i].l1_bytes);
    rec += TN_TILE_RECORD_SIZE;
  }
}

static void write_canary(const tn_blob_builder* b, uint8_t* p) {
  tn_store_u32le(p + TN_CANARY_INPUT_SIZE, b->canary_input_size);
  tn_store_u32le(p + TN_CANARY_OUTPUT_SIZE, b->canary_output_size);
  uint8_t* in = p + TN_CANARY_HEADER_SIZE;
  memcpy(in, b->canary_input, b->canary_input_size);
  uint8_t* out = in + ((b->canary_input_size + 3u) & ~3u);
  /* REQUIRES: output_tensor < tensor_count (checked by finish). */
  const tn_tensor_desc* t = &b->graph->tensors[b->graph->output_tensor];
  if (t->dtype == TN_DTYPE_FLOAT32) {
    /* FP32 outputs are stored little-endian. */
    const uint8_t* src = (const uint8_t*)b->canary_output;
    for (uint32_t i = 0; i + 4u <= b->canary_output_size; i += 4u) {
      float f;
      memcpy(&f, src + i, sizeof(f));
      tn_store_u32le(out + i, tn_f32_bits(f));
    }
  } else {
    memcpy(out, b->canary_output, b->canary_output_size);
  }
}

tn_status tn_blob_builder_finish(const tn_blob_builder* b, uint8_t* out,
                                 size_t capacity, size_t* written) {
  if (b == NULL || out == NULL || written == NULL) return TN_ERR_NULL;
  tn_build_layout l;
  tn_status st = compute_layout(b, &l);
  if (st != TN_OK) return st;
  if (capacity < l.total) return TN_ERR_BUFFER_TOO_SMALL;
  if (b->graph->output_tensor >= b->graph->tensor_count) {
    return TN_ERR_BLOB_GRAPH;
  }
  memset(out, 0, l.total);

  tn_store_u32le(out + TN_HDR_MAGIC, TN_BLOB_MAGIC);
  tn_store_u16le(out + TN_HDR_VERSION, TN_BLOB_FORMAT_VERSION);
  tn_store_u16le(out + TN_HDR_HEADER_SIZE, TN_BLOB_HEADER_SIZE);
  tn_store_u32le(out + TN_HDR_TOTAL_SIZE, l.total);
  tn_store_u16le(out + TN_HDR_TARGET, (uint16_t)b->header.target);
  tn_store_u16le(out + TN_HDR_SECTION_COUNT, (uint16_t)l.count);
  memcpy(out + TN_HDR_MODEL_ID, b->header.model_id, TN_BLOB_MODEL_ID_SIZE);
  tn_store_u32le(out + TN_HDR_MODEL_VERSION, b->header.model_version);
  tn_store_u32le(out + TN_HDR_ROLLBACK, b->header.rollback_counter);
  tn_store_u32le(out + TN_HDR_FLAGS,
                 b->reserve_signature ? TN_BLOB_FLAG_SIGNED : 0u);

  for (uint32_t i = 0; i < l.count; ++i) {
    uint8_t* e = out + TN_BLOB_HEADER_SIZE + i * TN_BLOB_SECTION_ENTRY_SIZE;
    tn_store_u16le(e + TN_SEC_TYPE, l.types[i]);
    tn_store_u32le(e + TN_SEC_OFFSET, l.offsets[i]);
    tn_store_u32le(e + TN_SEC_SIZE, l.sizes[i]);
    uint8_t* p = out + l.offsets[i];
    switch (l.types[i]) {
      case TN_SECTION_GRAPH:
        write_graph(b->graph, p);
        break;
      case TN_SECTION_WEIGHTS:
        memcpy(p, b->weights, b->weights_size);
        break;
      case TN_SECTION_QUANT:
        for (uint32_t k = 0; k < b->quant_words; ++k) {
          tn_store_u32le(p + 4u * k, (uint32_t)b->quant[k]);
        }
        break;
      case TN_SECTION_TAIL:
        tn_store_u16le(p + TN_TAILSEC_CUT, b->tail->cut_tensor);
        tn_store_u16le(p + TN_TAILSEC_FIRST_OP, b->tail->first_op);
        tn_store_u16le(p + TN_TAILSEC_LAYERS, b->tail->trainable_layers);
        tn_store_u32le(p + TN_TAILSEC_PARAM_BYTES, 4u * b->tail->param_count);
        for (uint32_t k = 0; k < b->tail->param_count; ++k) {
          tn_store_u32le(p + TN_TAILSEC_HEADER_SIZE + 4u * k,
                         tn_f32_bits(b->tail->params[k]));
        }
        break;
      case TN_SECTION_MEMORY_PLAN:
        write_plan(b->graph, b->plan, p);
        break;
      case TN_SECTION_CANARY:
        write_canary(b, p);
        break;
      case TN_SECTION_METADATA:
        tn_store_u64le(p + TN_META_MACS, b->metadata.macs);
        tn_store_u64le(p + TN_META_CYCLES, b->metadata.cycles);
        tn_store_u64le(p + TN_META_ENERGY, b->metadata.energy_pj);
        break;
      case TN_SECTION_SIGNATURE:
        tn_store_u32le(p + TN_SIG_ALGORITHM, TN_SIGNATURE_ALG_ECDSA_P256);
        break;
      default:
        return TN_ERR_INTERNAL;
    }
  }

  uint8_t digest[TN_BLOB_DIGEST_SIZE];
  st = tn_blob_compute_digest(out, l.total, digest);
  if (st != TN_OK) return st;
  memcpy(out + TN_HDR_DIGEST, digest, TN_BLOB_DIGEST_SIZE);

  tn_blob_parse_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.expected_target = b->header.target;
  tn_blob check;
  st = tn_blob_parse(out, l.total, &opt, &check);
  if (st != TN_OK) return st;
  *written = l.total;
  return TN_OK;
}

tn_status tn_blob_set_signature(uint8_t* data, size_t size,
                                const tn_blob_signature* sig) {
  if (data == NULL || sig == NULL || sig->key_id == NULL || sig->r == NULL ||
      sig->s == NULL) {
    return TN_ERR_NULL;
  }
  uint8_t digest[TN_BLOB_DIGEST_SIZE];
  tn_status st = tn_blob_compute_digest(data, size, digest);
  if (st != TN_OK) return st;
  uint32_t count = tn_load_u16le(data + TN_HDR_SECTION_COUNT);
  const uint8_t* last =
      data + TN_BLOB_HEADER_SIZE + (count - 1u) * TN_BLOB_SECTION_ENTRY_SIZE;
  if (tn_load_u16le(last + TN_SEC_TYPE) != TN_SECTION_SIGNATURE ||
      tn_load_u32le(last + TN_SEC_SIZE) != TN_SIGNATURE_SECTION_SIZE) {
    return TN_ERR_NOT_FOUND;
  }
  uint8_t* p = data + tn_load_u32le(last + TN_SEC_OFFSET);
  tn_store_u32le(p + TN_SIG_ALGORITHM, sig->algorithm);
  tn_store_u32le(p + TN_SIG_RESERVED, 0);
  memcpy(p + TN_SIG_KEY_ID, sig->key_id, 8);
  memcpy(p + TN_SIG_R, sig->r, 32);
  memcpy(p + TN_SIG_S, sig->s, 32);
  return TN_OK;
}
