/*
 * Quantized latent-replay buffer (see tn_train.h): 8- or 7-bit codes with
 * one scale and zero point, densely packed, labels and per-class counters,
 * all inside one caller buffer; reservoir or class-balanced insertion; and
 * the mini-batch composer that mixes new samples with replays.
 */
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train_internal.h"

/* Upper bound on the storage of one buffer, keeping every size in 32 bits
 * on 32-bit targets. */
#define TN_REPLAY_MAX_BYTES (1u << 30)

static int tn__replay_config_ok(const tn_replay_config* c) {
  if (!c) return 0;
  if (c->capacity == 0 || c->sample_len == 0 || c->num_classes == 0) return 0;
  if (c->bits != 7 && c->bits != 8) return 0;
  if (c->policy != TN_REPLAY_RESERVOIR &&
      c->policy != TN_REPLAY_CLASS_BALANCED) {
    return 0;
  }
  if (!(c->scale > 0.0f) || !tn_isfinitef(c->scale)) return 0;
  if (c->zero_point < 0 || c->zero_point > (1 << c->bits) - 1) return 0;
  if (c->sample_len > TN_TRAIN_MAX_ELEMENTS) return 0;
  return 1;
}

static uint32_t tn__packed_bytes(uint32_t n, uint8_t bits) {
  return (uint32_t)(((uint64_t)n * bits + 7u) / 8u);
}

/* Byte offsets of the labels and class counters, and the total size;
 * 0 total when too large. */
static size_t tn__replay_layout(const tn_replay_config* c, size_t* labels_at,
                                size_t* counts_at) {
  uint64_t samples =
      (uint64_t)c->capacity * tn__packed_bytes(c->sample_len, c->bits);
  uint64_t lab = (samples + 3u) & ~(uint64_t)3u;
  uint64_t cnt = (lab + 2u * (uint64_t)c->capacity + 3u) & ~(uint64_t)3u;
  uint64_t total = cnt + 8u * (uint64_t)c->num_classes;
  if (total > TN_REPLAY_MAX_BYTES) return 0;
  *labels_at = (size_t)lab;
  *counts_at = (size_t)cnt;
  return (size_t)total;
}

size_t tn_replay_buffer_size(const tn_replay_config* cfg) {
  if (!tn__replay_config_ok(cfg)) return 0;
  size_t a, b;
  return tn__replay_layout(cfg, &a, &b);
}

tn_status tn_replay_calibrate(float lo, float hi, uint8_t bits, float* scale,
                              int32_t* zero_point) {
  if (!scale || !zero_point) return TN_ERR_NULL;
  if (bits != 7 && bits != 8) return TN_ERR_ARG;
  if (!tn_isfinitef(lo) || !tn_isfinitef(hi) || lo > hi) return TN_ERR_ARG;
  if (lo > 0.0f) lo = 0.0f;
  if (hi < 0.0f) hi = 0.0f;
  const int32_t qmax = (1 << bits) - 1;
  if (hi == lo) {
    *scale = 1.0f;
    *zero_point = 0;
    return TN_OK;
  }
  const float s = (hi - lo) / (float)qmax;
  if (!(s > 0.0f) || !tn_isfinitef(s)) return TN_ERR_ARG;
  const float z = -lo / s; /* in [0, qmax] up to rounding */
  int32_t zp = (int32_t)(z + 0.5f);
  if (zp < 0) zp = 0;
  if (zp > qmax) zp = qmax;
  *scale = s;
  *zero_point = zp;
  return TN_OK;
}

/* round(x / scale) + zero_point, half away from zero, saturated to
 * [0, qmax]; NaN gives zero_point. */
static uint32_t tn__quantize(float x, float scale, int32_t zp, int32_t qmax) {
  float v = x / scale;
  if (v != v) return (uint32_t)zp; /* NaN */
  if (v > 512.0f) v = 512.0f;
  if (v < -512.0f) v = -512.0f;
  int32_t t = (int32_t)v;          /* truncates toward zero */
  const float frac = v - (float)t; /* exact: |v| <= 512 */
  if (frac >= 0.5f) ++t;
  if (frac <= -0.5f) --t;
  t += zp;
  if (t < 0) t = 0;
  if (t > qmax) t = qmax;
  return (uint32_t)t;
}

/* Writes code q of value i into a zeroed 7-bit stream. */
static void tn__put7(uint8_t* packed, uint32_t i, uint32_t q) {
  const uint32_t bit = i * 7u;
  const uint32_t at = bit >> 3, off = bit & 7u;
  packed[at] |= (uint8_t)(q << off);
  if (off > 1u) packed[at + 1] |= (uint8_t)(q >> (8u - off));
}

static uint32_t tn__get7(const uint8_t* packed, uint32_t i) {
  const uint32_t bit = i * 7u;
  const uint32_t at = bit >> 3, off = bit & 7u;
  uint32_t v = (uint32_t)packed[at] >> off;
  if (off > 1u) v |= (uint32_t)packed[at + 1] << (8u - off);
  return v & 0x7fu;
}

static void tn__pack(uint32_t n, const float* in, uint8_t bits, float scale,
                     int32_t zp, uint8_t* packed) {
  const int32_t qmax = (1 << bits) - 1;
  if (bits == 8) {
    for (uint32_t i = 0; i < n; ++i) {
      packed[i] = (uint8_t)tn__quantize(in[i], scale, zp, qmax);
    }
    return;
  }
  /* Eight codes fill seven bytes: whole groups with fixed shifts, then the
   * remainder value by value. Same bit layout either way. */
  uint32_t i = 0;
  for (; i + 8u <= n; i += 8u) {
    uint32_t c[8];
    for (uint32_t k = 0; k < 8u; ++k) {
      c[k] = tn__quantize(in[i + k], scale, zp, qmax);
    }
    uint8_t* p = packed + (i / 8u) * 7u;
    for (uint32_t k = 0; k < 7u; ++k) {
      p[k] = (uint8_t)((c[k] >> k) | (c[k + 1u] << (7u - k)));
    }
  }
  if (i < n) memset(packed + (i / 8u) * 7u, 0, tn__packed_bytes(n - i, 7));
  for (; i < n; ++i) tn__put7(packed, i, tn__quantize(in[i], scale, zp, qmax));
}

static void tn__unpack(uint32_t n, const uint8_t* packed, uint8_t bits,
                       float scale, int32_t zp, float* out) {
  if (bits == 8) {
    for (uint32_t i = 0; i < n; ++i) {
      out[i] = scale * (float)((int32_t)packed[i] - zp);
    }
    return;
  }
  uint32_t i = 0;
  for (; i + 8u <= n; i += 8u) {
    const uint8_t* p = packed + (i / 8u) * 7u;
    out[i] = scale * (float)((int32_t)(p[0] & 0x7fu) - zp);
    for (uint32_t k = 1; k < 7u; ++k) {
      const uint32_t c =
          (((uint32_t)p[k - 1u] >> (8u - k)) | ((uint32_t)p[k] << k)) & 0x7fu;
      out[i + k] = scale * (float)((int32_t)c - zp);
    }
    out[i + 7u] = scale * (float)((int32_t)(p[6] >> 1) - zp);
  }
  for (; i < n; ++i) {
    out[i] = scale * (float)((int32_t)tn__get7(packed, i) - zp);
  }
}

static tn_status tn__codec_check(uint32_t n, uint8_t bits, float scale,
                                 int32_t zp) {
  if (n == 0 || n > TN_TRAIN_MAX_ELEMENTS) return TN_ERR_ARG;
  if (bits != 7 && bits != 8) return TN_ERR_ARG;
  if (!(scale > 0.0f) || !tn_isfinitef(scale)) return TN_ERR_ARG;
  if (zp < 0 || zp > (1 << bits) - 1) return TN_ERR_ARG;
  return TN_OK;
}

tn_status tn_replay_pack(uint32_t n, const float* in, uint8_t bits, float scale,
                         int32_t zero_point, uint8_t* packed) {
  if (!in || !packed) return TN_ERR_NULL;
  tn_status st = tn__codec_check(n, bits, scale, zero_point);
  if (st != TN_OK) return st;
  tn__pack(n, in, bits, scale, zero_point, packed);
  return TN_OK;
}

tn_status tn_replay_unpack(uint32_t n, const uint8_t* packed, uint8_t bits,
                           float scale, int32_t zero_point, float* out) {
  if (!packed || !out) return TN_ERR_NULL;
  tn_status st = tn__codec_check(n, bits, scale, zero_point);
  if (st != TN_OK) return st;
  tn__unpack(n, packed, bits, scale, zero_point, out);
  return TN_OK;
}

tn_status tn_replay_init(tn_replay* r, const tn_replay_config* cfg,
                         void* storage, size_t storage_size, tn_rng* rng) {
  if (!r || !cfg || !storage || !rng) return TN_ERR_NULL;
  if (!tn__replay_config_ok(cfg)) return TN_ERR_ARG;
  size_t labels_at, counts_at;
  const size_t need = tn__replay_layout(cfg, &labels_at, &counts_at);
  if (need == 0) return TN_ERR_ARG;
  if (storage_size < need) return TN_ERR_BUFFER_TOO_SMALL;
  if ((uintptr_t)storage % 4u) return TN_ERR_ARG;
  memset(r, 0, sizeof(*r));
  r->cfg = *cfg;
  r->bytes_per_sample = tn__packed_bytes(cfg->sample_len, cfg->bits);
  uint8_t* base = (uint8_t*)storage;
  r->samples = base;
  r->labels = (uint16_t*)(void*)(base + labels_at);
  r->class_count = (uint32_t*)(void*)(base + counts_at);
  r->class_seen = r->class_count + cfg->num_classes;
  r->storage_size = need;
  r->rng = rng;
  memset(storage, 0, need);
  return TN_OK;
}

/* Slot of the k-th (0-based) stored sample of class c; UINT32_MAX if none. */
static uint32_t tn__nth_of_class(const tn_replay* r, uint16_t c, uint32_t k) {
  for (uint32_t s = 0; s < r->count; ++s) {
    if (r->labels[s] == c) {
      if (k == 0) return s;
      --k;
    }
  }
  return UINT32_MAX;
}

static void tn__store(tn_replay* r, uint32_t slot, const float* sample,
                      uint16_t label, int replacing) {
  if (replacing) --r->class_count[r->labels[slot]];
  tn__pack(r->cfg.sample_len, sample, r->cfg.bits, r->cfg.scale,
           r->cfg.zero_point, r->samples + (size_t)slot * r->bytes_per_sample);
  r->labels[slot] = label;
  ++r->class_count[label];
}

tn_status tn_replay_insert(tn_replay* r, const float* sample, uint16_t label,
                           uint32_t* slot_out) {
  if (!r || !sample) return TN_ERR_NULL;
  if (!r->samples) return TN_ERR_STATE;
  if (label >= r->cfg.num_classes) return TN_ERR_ARG;
  if (r->seen == UINT32_MAX) return TN_ERR_OVERFLOW;
  ++r->seen;
  if (r->class_seen[label] < UINT32_MAX) ++r->class_seen[label];
  uint32_t slot = UINT32_MAX;
  int replacing = 0;
  if (r->count < r->cfg.capacity) {
    slot = r->count++;
  } else if (r->cfg.policy == TN_REPLAY_RESERVOIR) {
    const uint32_t j = tn_rng_below(r->rng, r->seen);
    if (j < r->cfg.capacity) {
      slot = j;
      replacing = 1;
    }
  } else {
    uint16_t largest = 0;
    for (uint16_t c = 1; c < r->cfg.num_classes; ++c) {
      if (r->class_count[c] > r->class_count[largest]) largest = c;
    }
    const uint32_t own = r->class_count[label];
    if (own < r->class_count[largest]) {
      const uint32_t k = tn_rng_below(r->rng, r->class_count[largest]);
      slot = tn__nth_of_class(r, largest, k);
      replacing = 1;
    } else {
      /* own > 0 here: the label is a largest class of a full buffer. */
      const uint32_t u = tn_rng_below(r->rng, r->class_seen[label]);
      if (u < own) {
        slot = tn__nth_of_class(r, label, tn_rng_below(r->rng, own));
        replacing = 1;
      }
    }
    if (replacing && slot == UINT32_MAX) return TN_ERR_INTERNAL;
  }
  if (slot != UINT32_MAX) tn__store(r, slot, sample, label, replacing);
  if (slot_out) *slot_out = slot;
  return TN_OK;
}

tn_status tn_replay_get(const tn_replay* r, uint32_t slot, float* out,
                        uint16_t* label) {
  if (!r || !out) return TN_ERR_NULL;
  if (slot >= r->count) return TN_ERR_ARG;
  tn__unpack(r->cfg.sample_len, r->samples + (size_t)slot * r->bytes_per_sample,
             r->cfg.bits, r->cfg.scale, r->cfg.zero_point, out);
  if (label) *label = r->labels[slot];
  return TN_OK;
}

size_t tn_replay_memory(const tn_replay* r) { return r ? r->storage_size : 0; }

size_t tn_replay_memory_f32(const tn_replay* r) {
  if (!r) return 0;
  return (size_t)r->cfg.capacity *
         (sizeof(float) * (size_t)r->cfg.sample_len + sizeof(uint16_t));
}

uint32_t tn_replay_batch_split(const tn_replay* r, uint32_t batch,
                               uint32_t replay_num, uint32_t replay_den) {
  if (!r || replay_den == 0) return 0;
  uint64_t n = ((uint64_t)batch * replay_num + replay_den / 2u) / replay_den;
  if (n > batch) n = batch;
  if (n > r->count) n = r->count;
  return (uint32_t)n;
}

tn_status tn_replay_compose(tn_replay* r, uint32_t new_first,
                            uint32_t new_count, uint32_t replay_count,
                            tn_batch_entry* entries, uint32_t* count) {
  if (!r || !entries || !count) return TN_ERR_NULL;
  if (replay_count > r->count) return TN_ERR_ARG;
  if ((uint64_t)new_first + new_count > UINT32_MAX) return TN_ERR_ARG;
  if ((uint64_t)new_count + replay_count > TN_TRAIN_MAX_ELEMENTS) {
    return TN_ERR_ARG;
  }
  const uint32_t total = new_count + replay_count;
  for (uint32_t i = 0; i < new_count; ++i) {
    entries[i].from_replay = 0;
    entries[i].index = new_first + i;
  }
  /* Floyd: a uniformly random replay_count-subset of [0, count). */
  tn_batch_entry* rep = entries + new_count;
  for (uint32_t k = 0; k < replay_count; ++k) {
    const uint32_t j = r->count - replay_count + k;
    uint32_t pick = tn_rng_below(r->rng, j + 1u);
    for (uint32_t m = 0; m < k; ++m) {
      if (rep[m].index == pick) {
        pick = j;
        break;
      }
    }
    rep[k].from_replay = 1;
    rep[k].index = pick;
  }
  /* Fisher-Yates shuffle of the whole batch. */
  for (uint32_t i = total; i > 1; --i) {
    const uint32_t j = tn_rng_below(r->rng, i);
    const tn_batch_entry tmp = entries[i - 1];
    entries[i - 1] = entries[j];
    entries[j] = tmp;
  }
  *count = total;
  return TN_OK;
}
