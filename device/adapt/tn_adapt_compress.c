/*
 * Update compression on the node: L2 clipping of the whole delta,
 * symmetric per-tensor int8 quantization, per-tensor top-k sparsification
 * with error feedback, and the TNUP writer that combines them. Every loop
 * is bounded by a validated element count; selection sorts an index array
 * in caller scratch with heap sort (no recursion, O(n log n), no heap).
 */
#include <string.h>

#include "adapt/tn_adapt_internal.h"
#include "secure/tn_secure.h"

static float absf(float v) { return v < 0.0f ? -v : v; }

/* Round half away from zero of |r| <= 127.5. */
static int8_t round_s8(float r) {
  int32_t q = r >= 0.0f ? (int32_t)(r + 0.5f) : -(int32_t)(-r + 0.5f);
  if (q > 127) q = 127;
  if (q < -127) q = -127;
  return (int8_t)q;
}

static float sym_scale(float max_abs) {
  float scale = max_abs / 127.0f;
  return scale > 0.0f ? scale : 1.0f;
}

tn_status tn_quantize_sym_s8(uint32_t n, const float* in, int8_t* out,
                             float* scale) {
  if (in == NULL || out == NULL || scale == NULL) return TN_ERR_NULL;
  if (n == 0) return TN_ERR_ARG;
  float max_abs = 0.0f;
  for (uint32_t i = 0; i < n; ++i) {
    if (!tn_adapt_f32_finite(in[i])) return TN_ERR_UPDATE_VALUE;
    if (absf(in[i]) > max_abs) max_abs = absf(in[i]);
  }
  const float s = sym_scale(max_abs);
  for (uint32_t i = 0; i < n; ++i) {
    out[i] = max_abs > 0.0f ? round_s8(in[i] / s) : 0;
  }
  *scale = s;
  return TN_OK;
}

tn_status tn_l2_clip_f32(uint32_t n, float* v, float clip_norm, float* norm) {
  if (v == NULL) return TN_ERR_NULL;
  if (!tn_adapt_f32_finite(clip_norm) || !(clip_norm > 0.0f)) {
    return TN_ERR_ARG;
  }
  double sum = 0.0;
  for (uint32_t i = 0; i < n; ++i) {
    if (!tn_adapt_f32_finite(v[i])) return TN_ERR_UPDATE_VALUE;
    sum += (double)v[i] * (double)v[i];
  }
  /* sqrt by Newton iterations on a double: no libm on the node. */
  double r = sum > 1.0 ? sum : 1.0;
  for (int it = 0; it < 64 && sum > 0.0; ++it) {
    double next = 0.5 * (r + sum / r);
    if (next >= r) break;
    r = next;
  }
  const double l2 = sum > 0.0 ? r : 0.0;
  if (norm != NULL) *norm = (float)l2;
  if (l2 > (double)clip_norm) {
    const float factor = (float)((double)clip_norm / l2);
    for (uint32_t i = 0; i < n; ++i) v[i] *= factor;
  }
  return TN_OK;
}

uint32_t tn_topk_count(uint32_t n, float ratio) {
  if (n == 0 || !tn_adapt_f32_finite(ratio) || !(ratio > 0.0f)) return 0;
  if (ratio >= 1.0f) return n;
  double want = (double)ratio * (double)n;
  uint32_t k = (uint32_t)want;
  if ((double)k < want) ++k;
  if (k < 1) k = 1;
  if (k > n) k = n;
  return k;
}

/* Heap sort of idx[0..n) by "before": by_rank orders by |v| descending then
 * index ascending; otherwise by index ascending. */
static int before(const float* v, int by_rank, uint32_t a, uint32_t b) {
  if (by_rank) {
    float fa = absf(v[a]), fb = absf(v[b]);
    if (fa != fb) return fa > fb;
  }
  return a < b;
}

static void sift(uint32_t* idx, uint32_t start, uint32_t end, const float* v,
                 int by_rank) {
  /* Max-heap on "comes later", so the heap sort leaves the array in
   * "before" order. */
  uint32_t root = start;
  for (;;) {
    uint32_t child = 2u * root + 1u;
    if (child >= end) return;
    if (child + 1u < end && before(v, by_rank, idx[child], idx[child + 1u])) {
      ++child;
    }
    if (!before(v, by_rank, idx[root], idx[child])) return;
    uint32_t tmp = idx[root];
    idx[root] = idx[child];
    idx[child] = tmp;
    root = child;
  }
}

static void heap_sort(uint32_t* idx, uint32_t n, const float* v, int by_rank) {
  if (n < 2) return;
  for (uint32_t i = n / 2u; i-- > 0;) sift(idx, i, n, v, by_rank);
  for (uint32_t end = n - 1u; end > 0; --end) {
    uint32_t tmp = idx[0];
    idx[0] = idx[end];
    idx[end] = tmp;
    sift(idx, 0, end, v, by_rank);
  }
}

tn_status tn_topk_select(uint32_t n, const float* v, uint32_t k,
                         uint32_t* indices, uint32_t* scratch) {
  if (v == NULL || indices == NULL || scratch == NULL) return TN_ERR_NULL;
  if (n == 0 || k == 0 || k > n) return TN_ERR_ARG;
  for (uint32_t i = 0; i < n; ++i) {
    if (!tn_adapt_f32_finite(v[i])) return TN_ERR_UPDATE_VALUE;
    scratch[i] = i;
  }
  heap_sort(scratch, n, v, 1);
  heap_sort(scratch, k, v, 0);
  memmove(indices, scratch, (size_t)k * sizeof(uint32_t));
  return TN_OK;
}

size_t tn_tnup_build_scratch_size(uint32_t max_tensor) {
  return (size_t)max_tensor * sizeof(uint32_t);
}

size_t tn_tnup_max_size(const uint32_t* tensor_sizes, uint32_t tensor_count,
                        int sparse) {
  if (tensor_sizes == NULL || tensor_count == 0 ||
      tensor_count > TN_TNUP_MAX_TENSORS) {
    return 0;
  }
  size_t size = TN_TNUP_HEADER_SIZE + TN_ADAPT_HASH_SIZE;
  for (uint32_t t = 0; t < tensor_count; ++t) {
    if (tensor_sizes[t] == 0 || tensor_sizes[t] > TN_ADAPT_MAX_PARAMS) {
      return 0;
    }
    size += TN_TNUP_TENSOR_HEADER_SIZE +
            (size_t)tensor_sizes[t] * (sparse ? 5u : 1u);
  }
  return size;
}

tn_status tn_tnup_build(const tn_tnup_meta* meta, const uint32_t* tensor_sizes,
                        uint32_t tensor_count, float* delta, float* residual,
                        const tn_update_compress* compress, void* scratch,
                        size_t scratch_size, uint8_t* out, size_t capacity,
                        size_t* written) {
  if (meta == NULL || tensor_sizes == NULL || delta == NULL ||
      compress == NULL || out == NULL || written == NULL) {
    return TN_ERR_NULL;
  }
  const float ratio = compress->top_k_ratio;
  const float clip = compress->clip_norm;
  if (!tn_adapt_f32_finite(ratio) || ratio < 0.0f || ratio > 1.0f ||
      !tn_adapt_f32_finite(clip) || clip < 0.0f) {
    return TN_ERR_ARG;
  }
  const int sparse = ratio > 0.0f;
  if (sparse && (residual == NULL || scratch == NULL)) return TN_ERR_NULL;
  if (tensor_count == 0 || tensor_count > TN_TNUP_MAX_TENSORS) {
    return TN_ERR_UPDATE_BOUNDS;
  }
  uint64_t n = 0;
  uint32_t max_tensor = 0;
  size_t size = TN_TNUP_HEADER_SIZE + TN_ADAPT_HASH_SIZE;
  for (uint32_t t = 0; t < tensor_count; ++t) {
    const uint32_t e = tensor_sizes[t];
    if (e == 0 || e > TN_ADAPT_MAX_PARAMS) return TN_ERR_UPDATE_BOUNDS;
    n += e;
    if (n > TN_ADAPT_MAX_PARAMS) return TN_ERR_UPDATE_BOUNDS;
    if (e > max_tensor) max_tensor = e;
    const uint32_t kept = sparse ? tn_topk_count(e, ratio) : e;
    size += TN_TNUP_TENSOR_HEADER_SIZE + (size_t)kept * (sparse ? 5u : 1u);
  }
  if (sparse && scratch_size < tn_tnup_build_scratch_size(max_tensor)) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  if (capacity < size) return TN_ERR_BUFFER_TOO_SMALL;
  for (uint32_t i = 0; i < (uint32_t)n; ++i) {
    if (!tn_adapt_f32_finite(delta[i]) ||
        (sparse && !tn_adapt_f32_finite(residual[i]))) {
      return TN_ERR_UPDATE_VALUE;
    }
  }
  tn_status st = tn_tnup_encode_header(meta, sparse, tensor_count, out);
  if (st != TN_OK) return st;
  if (clip > 0.0f) {
    st = tn_l2_clip_f32((uint32_t)n, delta, clip, NULL);
    if (st != TN_OK) return st;
  }

  size_t pos = TN_TNUP_HEADER_SIZE;
  uint32_t base = 0;
  for (uint32_t t = 0; t < tensor_count; ++t) {
    const uint32_t e = tensor_sizes[t];
    float* d = delta + base;
    uint8_t* h = out + pos;
    tn_store_u32le(h, e);
    pos += TN_TNUP_TENSOR_HEADER_SIZE;
    if (!sparse) {
      float scale;
      st = tn_quantize_sym_s8(e, d, (int8_t*)(out + pos), &scale);
      if (st != TN_OK) return st;
      tn_adapt_store_f32(h + 4, scale);
      tn_store_u32le(h + 8, e);
      pos += e;
    } else {
      float* r = residual + base;
      for (uint32_t i = 0; i < e; ++i) d[i] += r[i];
      const uint32_t k = tn_topk_count(e, ratio);
      uint32_t* idx = (uint32_t*)scratch;
      st = tn_topk_select(e, d, k, idx, idx);
      if (st != TN_OK) return st;
      float max_abs = 0.0f;
      for (uint32_t i = 0; i < k; ++i) {
        if (absf(d[idx[i]]) > max_abs) max_abs = absf(d[idx[i]]);
      }
      const float scale = sym_scale(max_abs);
      for (uint32_t i = 0; i < e; ++i) r[i] = d[i];
      uint8_t* ip = out + pos;
      int8_t* vp = (int8_t*)(out + pos + 4u * (size_t)k);
      for (uint32_t i = 0; i < k; ++i) {
        const uint32_t j = idx[i];
        const int8_t q = max_abs > 0.0f ? round_s8(d[j] / scale) : 0;
        tn_store_u32le(ip + 4u * (size_t)i, j);
        vp[i] = q;
        r[j] = d[j] - (float)q * scale;
      }
      tn_adapt_store_f32(h + 4, scale);
      tn_store_u32le(h + 8, k);
      pos += 5u * (size_t)k;
    }
    base += e;
  }
  st = tn_sha256(out, pos, out + pos);
  if (st != TN_OK) return st;
  *written = pos + TN_ADAPT_HASH_SIZE;
  return TN_OK;
}

size_t tn_tnup_empty_size(uint32_t tensor_count) {
  if (tensor_count < 1 || tensor_count > TN_TNUP_MAX_TENSORS) return 0;
  return TN_TNUP_HEADER_SIZE +
         (size_t)tensor_count * TN_TNUP_TENSOR_HEADER_SIZE + TN_ADAPT_HASH_SIZE;
}

tn_status tn_tnup_build_empty(const tn_tnup_meta* meta,
                              const uint32_t* tensor_sizes,
                              uint32_t tensor_count, uint8_t* out,
                              size_t capacity, size_t* written) {
  if (meta == NULL || tensor_sizes == NULL || out == NULL || written == NULL) {
    return TN_ERR_NULL;
  }
  const size_t size = tn_tnup_empty_size(tensor_count);
  if (size == 0) return TN_ERR_UPDATE_BOUNDS;
  uint64_t total = 0;
  for (uint32_t t = 0; t < tensor_count; ++t) {
    if (tensor_sizes[t] < 1 || tensor_sizes[t] > TN_ADAPT_MAX_PARAMS) {
      return TN_ERR_UPDATE_BOUNDS;
    }
    total += tensor_sizes[t];
  }
  if (total > TN_ADAPT_MAX_PARAMS) return TN_ERR_UPDATE_BOUNDS;
  if (capacity < size) return TN_ERR_BUFFER_TOO_SMALL;
  tn_status st = tn_tnup_encode_header(meta, 1, tensor_count, out);
  if (st != TN_OK) return st;
  size_t pos = TN_TNUP_HEADER_SIZE;
  for (uint32_t t = 0; t < tensor_count; ++t) {
    uint8_t* h = out + pos;
    tn_store_u32le(h, tensor_sizes[t]);
    tn_adapt_store_f32(h + 4, 1.0f);
    tn_store_u32le(h + 8, 0);
    pos += TN_TNUP_TENSOR_HEADER_SIZE;
  }
  st = tn_sha256(out, pos, out + pos);
  if (st != TN_OK) return st;
  *written = pos + TN_ADAPT_HASH_SIZE;
  return TN_OK;
}
