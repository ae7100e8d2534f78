/*
 * TNTL (global tail) and TNUP (node update) encoders and validating
 * decoders, and the hashes that bind them: the frozen-part hash of a model
 * blob and the round binding. The decoders are the trust boundary of this
 * room: every read is preceded by a bound check against the validated size,
 * every count is checked before it bounds a loop.
 */
#include <string.h>

#include "adapt/tn_adapt_internal.h"
#include "secure/tn_secure.h"

/* ---- Hashes ------------------------------------------------------------ */

static const char kFrozenDomain[] = "tinyfleet-frozen-v1";

static tn_status put_section(tn_sha256_ctx* ctx, uint16_t type,
                             const uint8_t* p, uint32_t size) {
  if (p == NULL) return TN_OK;
  uint8_t hdr[6];
  tn_store_u16le(hdr, type);
  tn_store_u32le(hdr + 2, size);
  tn_status st = tn_sha256_update(ctx, hdr, sizeof(hdr));
  if (st == TN_OK) st = tn_sha256_update(ctx, p, size);
  return st;
}

tn_status tn_blob_frozen_sha256(const tn_blob* blob,
                                uint8_t out[TN_ADAPT_HASH_SIZE]) {
  if (blob == NULL || out == NULL) return TN_ERR_NULL;
  /* Sizes of the fixed-layout sections follow from the graph counts
   * (docs/formats/model-blob.md §§ 4.1, 4.5). */
  const uint32_t graph_size =
      16u + 24u * (uint32_t)blob->tensor_count + 48u * blob->op_count;
  const uint32_t plan_size =
      32u + 12u * (uint32_t)blob->tensor_count + 12u * blob->op_count;
  tn_sha256_ctx ctx;
  uint8_t target[2];
  tn_store_u16le(target, (uint16_t)blob->target);
  tn_status st = tn_sha256_init(&ctx);
  if (st == TN_OK) {
    st = tn_sha256_update(&ctx, kFrozenDomain, sizeof(kFrozenDomain) - 1);
  }
  if (st == TN_OK) st = tn_sha256_update(&ctx, target, sizeof(target));
  if (st == TN_OK) {
    st = put_section(&ctx, TN_SECTION_GRAPH, blob->graph, graph_size);
  }
  if (st == TN_OK) {
    st = put_section(&ctx, TN_SECTION_WEIGHTS, blob->weights,
                     blob->weights_size);
  }
  if (st == TN_OK) {
    st = put_section(&ctx, TN_SECTION_QUANT, blob->quant, blob->quant_size);
  }
  if (st == TN_OK) {
    st = put_section(&ctx, TN_SECTION_MEMORY_PLAN, blob->plan, plan_size);
  }
  if (st == TN_OK && blob->has_tail && blob->tail_params != NULL) {
    /* The TAIL section's 16-byte header precedes the parameters. */
    st = put_section(&ctx, TN_SECTION_TAIL, blob->tail_params - 16, 16);
  }
  if (st == TN_OK) st = tn_sha256_final(&ctx, out);
  return st;
}

tn_status tn_round_binding(const char* round_id, size_t len,
                           uint8_t out[TN_ADAPT_HASH_SIZE]) {
  if (out == NULL || (round_id == NULL && len != 0)) return TN_ERR_NULL;
  return tn_sha256(round_id, len, out);
}

/* ---- Helpers ----------------------------------------------------------- */

int tn_adapt_f32_finite(float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof(bits));
  return ((bits >> 23) & 0xFFu) != 0xFFu;
}

float tn_adapt_load_f32(const uint8_t* p) {
  uint32_t bits = tn_load_u32le(p);
  float v;
  memcpy(&v, &bits, sizeof(v));
  return v;
}

void tn_adapt_store_f32(uint8_t* p, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof(bits));
  tn_store_u32le(p, bits);
}

/* ---- TNTL ---------------------------------------------------------------- */

size_t tn_tntl_size(uint32_t param_count) {
  if (param_count == 0 || param_count > TN_ADAPT_MAX_PARAMS) return 0;
  return TN_TNTL_OVERHEAD + 4u * (size_t)param_count;
}

tn_status tn_tntl_encode(const uint8_t frozen_sha256[TN_ADAPT_HASH_SIZE],
                         const float* params, uint32_t param_count,
                         uint8_t* out, size_t capacity, size_t* written) {
  if (frozen_sha256 == NULL || params == NULL || out == NULL ||
      written == NULL) {
    return TN_ERR_NULL;
  }
  size_t size = tn_tntl_size(param_count);
  if (size == 0) return TN_ERR_UPDATE_BOUNDS;
  if (capacity < size) return TN_ERR_BUFFER_TOO_SMALL;
  for (uint32_t i = 0; i < param_count; ++i) {
    if (!tn_adapt_f32_finite(params[i])) return TN_ERR_UPDATE_VALUE;
  }
  memcpy(out + TN_TNTL_MAGIC_OFF, "TNTL", 4);
  tn_store_u16le(out + TN_TNTL_VERSION_OFF, TN_ADAPT_FORMAT_VERSION);
  tn_store_u16le(out + TN_TNTL_RESERVED_OFF, 0);
  memcpy(out + TN_TNTL_FROZEN_OFF, frozen_sha256, TN_ADAPT_HASH_SIZE);
  tn_store_u32le(out + TN_TNTL_COUNT_OFF, param_count);
  for (uint32_t i = 0; i < param_count; ++i) {
    tn_adapt_store_f32(out + TN_TNTL_HEADER_SIZE + 4u * (size_t)i, params[i]);
  }
  size_t body = size - TN_ADAPT_HASH_SIZE;
  tn_status st = tn_sha256(out, body, out + body);
  if (st != TN_OK) return st;
  *written = size;
  return TN_OK;
}

tn_status tn_tntl_decode(const uint8_t* data, size_t size, tn_tntl* out) {
  if (data == NULL || out == NULL) return TN_ERR_NULL;
  if (size < TN_TNTL_OVERHEAD) return TN_ERR_UPDATE_BOUNDS;
  if (memcmp(data + TN_TNTL_MAGIC_OFF, "TNTL", 4) != 0 ||
      tn_load_u16le(data + TN_TNTL_VERSION_OFF) != TN_ADAPT_FORMAT_VERSION ||
      tn_load_u16le(data + TN_TNTL_RESERVED_OFF) != 0) {
    return TN_ERR_UPDATE_FORMAT;
  }
  uint32_t count = tn_load_u32le(data + TN_TNTL_COUNT_OFF);
  size_t expect = tn_tntl_size(count);
  if (expect == 0 || expect != size) return TN_ERR_UPDATE_BOUNDS;
  uint8_t digest[TN_ADAPT_HASH_SIZE];
  size_t body = size - TN_ADAPT_HASH_SIZE;
  tn_status st = tn_sha256(data, body, digest);
  if (st != TN_OK) return st;
  if (memcmp(digest, data + body, TN_ADAPT_HASH_SIZE) != 0) {
    return TN_ERR_UPDATE_CHECKSUM;
  }
  const uint8_t* params = data + TN_TNTL_HEADER_SIZE;
  for (uint32_t i = 0; i < count; ++i) {
    if (!tn_adapt_f32_finite(tn_adapt_load_f32(params + 4u * (size_t)i))) {
      return TN_ERR_UPDATE_VALUE;
    }
  }
  memcpy(out->frozen_sha256, data + TN_TNTL_FROZEN_OFF, TN_ADAPT_HASH_SIZE);
  memcpy(out->sha256, digest, TN_ADAPT_HASH_SIZE);
  out->param_count = count;
  out->params = params;
  out->size = (uint32_t)size;
  return TN_OK;
}

tn_status tn_tntl_read_params(const tn_tntl* t, float* out, uint32_t capacity) {
  if (t == NULL || out == NULL) return TN_ERR_NULL;
  if (capacity < t->param_count) return TN_ERR_BUFFER_TOO_SMALL;
  for (uint32_t i = 0; i < t->param_count; ++i) {
    out[i] = tn_adapt_load_f32(t->params + 4u * (size_t)i);
  }
  return TN_OK;
}

/* ---- TNUP ---------------------------------------------------------------- */

/* Bytes of one tensor's record after its 12-byte header. */
static uint64_t tensor_body(uint32_t nnz, int sparse) {
  return (uint64_t)nnz * (sparse ? 5u : 1u);
}

static tn_status check_meta(const tn_tnup_meta* m) {
  if (m->samples == 0) return TN_ERR_UPDATE_VALUE;
  const float losses[2] = {m->loss_before, m->loss_after};
  const float accs[2] = {m->accuracy_before, m->accuracy_after};
  for (int i = 0; i < 2; ++i) {
    if (!tn_adapt_f32_finite(losses[i]) || !(losses[i] >= 0.0f)) {
      return TN_ERR_UPDATE_VALUE;
    }
    if (!tn_adapt_f32_finite(accs[i]) || !(accs[i] >= 0.0f) ||
        !(accs[i] <= 1.0f)) {
      return TN_ERR_UPDATE_VALUE;
    }
  }
  return TN_OK;
}

static void write_meta(uint8_t* out, const tn_tnup_meta* m, uint16_t flags,
                       uint16_t tensor_count) {
  memcpy(out + TN_TNUP_MAGIC_OFF, "TNUP", 4);
  tn_store_u16le(out + TN_TNUP_VERSION_OFF, TN_ADAPT_FORMAT_VERSION);
  tn_store_u16le(out + TN_TNUP_FLAGS_OFF, flags);
  memcpy(out + TN_TNUP_BINDING_OFF, m->round_binding, TN_ADAPT_HASH_SIZE);
  memcpy(out + TN_TNUP_FROZEN_OFF, m->frozen_sha256, TN_ADAPT_HASH_SIZE);
  memcpy(out + TN_TNUP_START_OFF, m->start_sha256, TN_ADAPT_HASH_SIZE);
  tn_store_u32le(out + TN_TNUP_SAMPLES_OFF, m->samples);
  tn_store_u32le(out + TN_TNUP_ATTEMPT_OFF, m->attempt);
  tn_adapt_store_f32(out + TN_TNUP_LOSS_BEFORE_OFF, m->loss_before);
  tn_adapt_store_f32(out + TN_TNUP_LOSS_AFTER_OFF, m->loss_after);
  tn_adapt_store_f32(out + TN_TNUP_ACC_BEFORE_OFF, m->accuracy_before);
  tn_adapt_store_f32(out + TN_TNUP_ACC_AFTER_OFF, m->accuracy_after);
  tn_store_u16le(out + TN_TNUP_COUNT_OFF, tensor_count);
  tn_store_u16le(out + TN_TNUP_RESERVED_OFF, 0);
}

static void read_meta(const uint8_t* d, tn_tnup_meta* m) {
  memcpy(m->round_binding, d + TN_TNUP_BINDING_OFF, TN_ADAPT_HASH_SIZE);
  memcpy(m->frozen_sha256, d + TN_TNUP_FROZEN_OFF, TN_ADAPT_HASH_SIZE);
  memcpy(m->start_sha256, d + TN_TNUP_START_OFF, TN_ADAPT_HASH_SIZE);
  m->samples = tn_load_u32le(d + TN_TNUP_SAMPLES_OFF);
  m->attempt = tn_load_u32le(d + TN_TNUP_ATTEMPT_OFF);
  m->loss_before = tn_adapt_load_f32(d + TN_TNUP_LOSS_BEFORE_OFF);
  m->loss_after = tn_adapt_load_f32(d + TN_TNUP_LOSS_AFTER_OFF);
  m->accuracy_before = tn_adapt_load_f32(d + TN_TNUP_ACC_BEFORE_OFF);
  m->accuracy_after = tn_adapt_load_f32(d + TN_TNUP_ACC_AFTER_OFF);
}

tn_status tn_tnup_encode_header(const tn_tnup_meta* meta, int sparse,
                                uint32_t tensor_count, uint8_t* out) {
  tn_status st = check_meta(meta);
  if (st != TN_OK) return st;
  if (tensor_count == 0 || tensor_count > TN_TNUP_MAX_TENSORS) {
    return TN_ERR_UPDATE_BOUNDS;
  }
  write_meta(out, meta, sparse ? TN_TNUP_FLAG_SPARSE : 0,
             (uint16_t)tensor_count);
  return TN_OK;
}

tn_status tn_tnup_decode(const uint8_t* data, size_t size, tn_tnup* out) {
  if (data == NULL || out == NULL) return TN_ERR_NULL;
  if (size < (size_t)TN_TNUP_HEADER_SIZE + TN_ADAPT_HASH_SIZE) {
    return TN_ERR_UPDATE_BOUNDS;
  }
  if (size > TN_TNUP_MAX_BYTES) return TN_ERR_UPDATE_BOUNDS;
  uint16_t flags = tn_load_u16le(data + TN_TNUP_FLAGS_OFF);
  if (memcmp(data + TN_TNUP_MAGIC_OFF, "TNUP", 4) != 0 ||
      tn_load_u16le(data + TN_TNUP_VERSION_OFF) != TN_ADAPT_FORMAT_VERSION ||
      (flags & ~TN_TNUP_FLAG_SPARSE) != 0 ||
      tn_load_u16le(data + TN_TNUP_RESERVED_OFF) != 0) {
    return TN_ERR_UPDATE_FORMAT;
  }
  uint8_t digest[TN_ADAPT_HASH_SIZE];
  const size_t body = size - TN_ADAPT_HASH_SIZE;
  tn_status st = tn_sha256(data, body, digest);
  if (st != TN_OK) return st;
  if (memcmp(digest, data + body, TN_ADAPT_HASH_SIZE) != 0) {
    return TN_ERR_UPDATE_CHECKSUM;
  }
  tn_tnup_meta meta;
  read_meta(data, &meta);
  st = check_meta(&meta);
  if (st != TN_OK) return st;

  const int sparse = (flags & TN_TNUP_FLAG_SPARSE) != 0;
  const uint32_t count = tn_load_u16le(data + TN_TNUP_COUNT_OFF);
  if (count == 0 || count > TN_TNUP_MAX_TENSORS) return TN_ERR_UPDATE_BOUNDS;
  uint64_t pos = TN_TNUP_HEADER_SIZE;
  uint64_t total = 0;
  uint32_t max_tensor = 0;
  for (uint32_t t = 0; t < count; ++t) {
    if (pos + TN_TNUP_TENSOR_HEADER_SIZE > body) return TN_ERR_UPDATE_BOUNDS;
    const uint8_t* h = data + pos;
    uint32_t n = tn_load_u32le(h);
    float scale = tn_adapt_load_f32(h + 4);
    uint32_t nnz = tn_load_u32le(h + 8);
    if (n == 0 || n > TN_ADAPT_MAX_PARAMS) return TN_ERR_UPDATE_BOUNDS;
    if (sparse ? nnz > n : nnz != n) return TN_ERR_UPDATE_BOUNDS;
    total += n;
    if (total > TN_ADAPT_MAX_PARAMS) return TN_ERR_UPDATE_BOUNDS;
    pos += TN_TNUP_TENSOR_HEADER_SIZE;
    if (pos + tensor_body(nnz, sparse) > body) return TN_ERR_UPDATE_BOUNDS;
    if (sparse) {
      const uint8_t* idx = data + pos;
      uint32_t prev = 0;
      for (uint32_t i = 0; i < nnz; ++i) {
        uint32_t v = tn_load_u32le(idx + 4u * (size_t)i);
        if (v >= n || (i > 0 && v <= prev)) return TN_ERR_UPDATE_BOUNDS;
        prev = v;
      }
    }
    /* |q| <= 128, so q * scale stays finite when 128 * scale does. */
    if (!tn_adapt_f32_finite(scale) || !(scale > 0.0f) ||
        !tn_adapt_f32_finite(scale * 128.0f)) {
      return TN_ERR_UPDATE_VALUE;
    }
    pos += tensor_body(nnz, sparse);
    if (n > max_tensor) max_tensor = n;
  }
  if (pos != body) return TN_ERR_UPDATE_BOUNDS;

  out->meta = meta;
  memcpy(out->sha256, digest, TN_ADAPT_HASH_SIZE);
  out->flags = flags;
  out->tensor_count = (uint16_t)count;
  out->param_count = (uint32_t)total;
  out->max_tensor = max_tensor;
  out->data = data;
  out->size = (uint32_t)size;
  return TN_OK;
}

tn_status tn_tnup_tensor_at(const tn_tnup* u, uint32_t index,
                            tn_tnup_tensor* out) {
  if (u == NULL || out == NULL) return TN_ERR_NULL;
  if (index >= u->tensor_count) return TN_ERR_ARG;
  const int sparse = (u->flags & TN_TNUP_FLAG_SPARSE) != 0;
  size_t pos = TN_TNUP_HEADER_SIZE;
  for (uint32_t t = 0;; ++t) {
    const uint8_t* h = u->data + pos;
    uint32_t nnz = tn_load_u32le(h + 8);
    if (t == index) {
      out->element_count = tn_load_u32le(h);
      out->scale = tn_adapt_load_f32(h + 4);
      out->nnz = nnz;
      const uint8_t* p = h + TN_TNUP_TENSOR_HEADER_SIZE;
      out->indices = sparse ? p : NULL;
      out->values = (const int8_t*)(sparse ? p + 4u * (size_t)nnz : p);
      return TN_OK;
    }
    pos += TN_TNUP_TENSOR_HEADER_SIZE + (size_t)tensor_body(nnz, sparse);
  }
}

tn_status tn_tnup_delta(const tn_tnup* u, float* delta, uint32_t capacity) {
  if (u == NULL || delta == NULL) return TN_ERR_NULL;
  if (capacity < u->param_count) return TN_ERR_BUFFER_TOO_SMALL;
  uint32_t base = 0;
  for (uint32_t t = 0; t < u->tensor_count; ++t) {
    tn_tnup_tensor x;
    tn_status st = tn_tnup_tensor_at(u, t, &x);
    if (st != TN_OK) return st;
    float* d = delta + base;
    if (x.indices == NULL) {
      for (uint32_t i = 0; i < x.element_count; ++i) {
        d[i] = (float)x.values[i] * x.scale;
      }
    } else {
      for (uint32_t i = 0; i < x.element_count; ++i) d[i] = 0.0f;
      for (uint32_t i = 0; i < x.nnz; ++i) {
        d[tn_load_u32le(x.indices + 4u * (size_t)i)] =
            (float)x.values[i] * x.scale;
      }
    }
    base += x.element_count;
  }
  return TN_OK;
}

tn_status tn_tnup_apply(const tn_tnup* u, const float* start, uint32_t n,
                        float* out) {
  if (u == NULL || start == NULL || out == NULL) return TN_ERR_NULL;
  if (n != u->param_count) return TN_ERR_UPDATE_BOUNDS;
  uint32_t base = 0;
  for (uint32_t t = 0; t < u->tensor_count; ++t) {
    tn_tnup_tensor x;
    tn_status st = tn_tnup_tensor_at(u, t, &x);
    if (st != TN_OK) return st;
    if (x.indices == NULL) {
      for (uint32_t i = 0; i < x.element_count; ++i) {
        out[base + i] = start[base + i] + (float)x.values[i] * x.scale;
      }
    } else {
      if (out != start) {
        for (uint32_t i = 0; i < x.element_count; ++i) {
          out[base + i] = start[base + i];
        }
      }
      for (uint32_t i = 0; i < x.nnz; ++i) {
        uint32_t k = base + tn_load_u32le(x.indices + 4u * (size_t)i);
        out[k] = start[k] + (float)x.values[i] * x.scale;
      }
    }
    base += x.element_count;
  }
  for (uint32_t i = 0; i < n; ++i) {
    if (!tn_adapt_f32_finite(out[i])) return TN_ERR_NUMERIC;
  }
  return TN_OK;
}
