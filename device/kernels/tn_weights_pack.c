/*
 * Sub-byte weight storage: packing int8 values into 4-bit or 2-bit signed
 * fields (low bits first within each byte) and unpacking them again with
 * sign extension. The kernels read packed weights through the same
 * definitions, so a model compiled with tn_weights_pack() is read back
 * exactly.
 */
#include <string.h>

#include "kernels/tn_kernels_internal.h"

size_t tn_weights_packed_size(size_t count, int32_t bits) {
  if (bits != 8 && bits != 4 && bits != 2) return 0;
  size_t per_byte = (size_t)(8 / bits);
  if (count > SIZE_MAX - (per_byte - 1u)) return 0;
  return (count + per_byte - 1u) / per_byte;
}

/* Sign-extends the low `bits` bits of `field` (0 <= field < 2^bits). */
static int8_t sign_extend(uint32_t field, int32_t bits) {
  uint32_t half = 1u << (bits - 1);
  return (int8_t)((int32_t)field - (field >= half ? (int32_t)(half << 1) : 0));
}

int8_t tn_weights_get(const tn_weights* w, size_t index) {
  if (w->bits == 8) return ((const int8_t*)w->data)[index];
  const uint8_t* bytes = (const uint8_t*)w->data;
  size_t bit = index * (size_t)w->bits;
  uint32_t field =
      ((uint32_t)bytes[bit >> 3] >> (bit & 7u)) & ((1u << w->bits) - 1u);
  return sign_extend(field, w->bits);
}

void tn_weights_unpack_run(const tn_weights* w, size_t first, size_t count,
                           int8_t* out, size_t stride) {
  if (w->bits == 8) {
    const int8_t* src = (const int8_t*)w->data + first;
    for (size_t i = 0; i < count; ++i) out[i * stride] = src[i];
    return;
  }
  const uint8_t* bytes = (const uint8_t*)w->data;
  size_t i = 0;
  if (w->bits == 4) {
    /* Leading odd element, then two per byte: (v ^ 8) - 8 sign-extends. */
    if ((first & 1u) && count > 0) {
      out[0] = tn_weights_get(w, first);
      i = 1;
    }
    const uint8_t* p = bytes + ((first + i) >> 1);
    for (; i + 2 <= count; i += 2, ++p) {
      const int32_t b = *p;
      out[i * stride] = (int8_t)(((b & 15) ^ 8) - 8);
      out[(i + 1) * stride] = (int8_t)(((b >> 4) ^ 8) - 8);
    }
  } else {
    /* Up to three leading elements, then four per byte: (v ^ 2) - 2. */
    for (; i < count && ((first + i) & 3u); ++i) {
      out[i * stride] = tn_weights_get(w, first + i);
    }
    const uint8_t* p = bytes + ((first + i) >> 2);
    for (; i + 4 <= count; i += 4, ++p) {
      const int32_t b = *p;
      out[i * stride] = (int8_t)(((b & 3) ^ 2) - 2);
      out[(i + 1) * stride] = (int8_t)((((b >> 2) & 3) ^ 2) - 2);
      out[(i + 2) * stride] = (int8_t)((((b >> 4) & 3) ^ 2) - 2);
      out[(i + 3) * stride] = (int8_t)(((b >> 6) ^ 2) - 2);
    }
  }
  for (; i < count; ++i) out[i * stride] = tn_weights_get(w, first + i);
}

tn_status tn_weights_pack(const int8_t* values, size_t count, int32_t bits,
                          uint8_t* out, size_t out_size) {
  if ((values == NULL || out == NULL) && count != 0) return TN_ERR_NULL;
  size_t need = tn_weights_packed_size(count, bits);
  if (need == 0 && count != 0) return TN_ERR_ARG;
  if (bits == 8) {
    if (out_size < count) return TN_ERR_BUFFER_TOO_SMALL;
    if (count) memcpy(out, values, count);
    return TN_OK;
  }
  int32_t lo = -(1 << (bits - 1));
  int32_t hi = (1 << (bits - 1)) - 1;
  for (size_t i = 0; i < count; ++i) {
    if (values[i] < lo || values[i] > hi) return TN_ERR_ARG;
  }
  if (out_size < need) return TN_ERR_BUFFER_TOO_SMALL;
  uint32_t mask = (1u << bits) - 1u;
  memset(out, 0, need);
  for (size_t i = 0; i < count; ++i) {
    size_t bit = i * (size_t)bits;
    uint32_t field = (uint32_t)(int32_t)values[i] & mask;
    out[bit >> 3] = (uint8_t)(out[bit >> 3] | (field << (bit & 7u)));
  }
  return TN_OK;
}

tn_status tn_weights_unpack(const tn_weights* w, size_t packed_size,
                            size_t first, size_t count, int8_t* out) {
  if (w == NULL || (count != 0 && (w->data == NULL || out == NULL))) {
    return TN_ERR_NULL;
  }
  if (w->bits != 8 && w->bits != 4 && w->bits != 2) return TN_ERR_ARG;
  if (first > SIZE_MAX - count) return TN_ERR_ARG;
  size_t end = first + count;
  if (end > SIZE_MAX / 8u) return TN_ERR_ARG;
  if (tn_weights_packed_size(end, w->bits) > packed_size ||
      (end != 0 && tn_weights_packed_size(end, w->bits) == 0)) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  tn_weights_unpack_run(w, first, count, out, 1);
  return TN_OK;
}
