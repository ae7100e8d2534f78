/*
 * MFCC front-end: configuration checks, the tables tn_mfcc_init()
 * precomputes into caller memory (scaled Hann window, FFT twiddles and
 * bit-reversal permutation, sparse mel filterbank, DCT-II matrix), the
 * per-frame pipeline and the int8 quantization. The transform itself is in
 * tn_rfft_f32.c. Every table value comes from base/tn_math.h, so the tables
 * are the same bits on every target.
 */
#include "base/tn_math.h"
#include "dsp/tn_dsp.h"
#include "dsp/tn_dsp_internal.h"

#define TN_PI_F 3.14159265358979f

tn_mfcc_config tn_mfcc_config_kws(void) {
  tn_mfcc_config c;
  c.sample_rate = TN_KWS_SAMPLE_RATE;
  c.window = TN_KWS_WINDOW;
  c.stride = TN_KWS_STRIDE;
  c.fft_size = TN_KWS_FFT_SIZE;
  c.mel_bands = TN_KWS_MEL_BANDS;
  c.coeffs = TN_KWS_COEFFS;
  c.low_hz = TN_KWS_LOW_HZ;
  c.high_hz = TN_KWS_HIGH_HZ;
  c.log_floor = TN_KWS_LOG_FLOOR;
  c.s8_scale = TN_KWS_S8_SCALE;
  c.s8_zero_point = TN_KWS_S8_ZERO_POINT;
  return c;
}

/* HTK mel scale. */
static float hz_to_mel(float hz) {
  return 1127.0f * tn_logf(1.0f + hz / 700.0f);
}

/* Mel value of the filter edge e (0 .. bands + 1). */
static float mel_edge(float mel_lo, float mel_step, uint32_t e) {
  return mel_lo + (float)e * mel_step;
}

/* Weight of a bin at mel value m in band b (edges e_b < e_b+1 < e_b+2), or
 * 0 outside the open support. */
static float band_weight(float m, float left, float center, float right) {
  if (!(m > left) || !(m < right)) return 0.0f;
  if (m <= center) return (m - left) / (center - left);
  return (right - m) / (right - center);
}

uint32_t tn_mfcc_bins(const tn_mfcc_config* config) {
  const uint32_t half = config->fft_size / 2u;
  const float top =
      config->high_hz * (float)config->fft_size / (float)config->sample_rate;
  uint32_t k = top >= (float)half ? half : (uint32_t)top;
  return k + 1u;
}

/* Walks the filterbank in bin order. For every (band, bin, weight > 0) it
 * either counts (first/count non-NULL) or writes the packed weight
 * (weights non-NULL, first/count already filled and offsets given).
 * Bins are visited once; each falls in at most two bands. */
static void walk_filterbank(const tn_mfcc_config* c, uint16_t* first,
                            uint16_t* count, const uint16_t* offset,
                            float* weights) {
  const uint32_t bands = c->mel_bands;
  const uint32_t bins = tn_mfcc_bins(c);
  const float mel_lo = hz_to_mel(c->low_hz);
  const float mel_hi = hz_to_mel(c->high_hz);
  const float mel_step = (mel_hi - mel_lo) / (float)(bands + 1u);
  const float hz_per_bin = (float)c->sample_rate / (float)c->fft_size;
  uint32_t j = 0; /* largest edge index with edge <= m (or 0) */
  for (uint32_t k = 1; k < bins; ++k) {
    const float m = hz_to_mel((float)k * hz_per_bin);
    while (j + 1u <= bands + 1u && mel_edge(mel_lo, mel_step, j + 1u) <= m) {
      ++j;
    }
    /* Candidate bands whose open support (e_b, e_b+2) may hold m. */
    const uint32_t b_lo = j >= 2u ? j - 2u : 0u;
    const uint32_t b_hi = j < bands ? j : bands - 1u;
    for (uint32_t b = b_lo; b <= b_hi; ++b) {
      const float w = band_weight(m, mel_edge(mel_lo, mel_step, b),
                                  mel_edge(mel_lo, mel_step, b + 1u),
                                  mel_edge(mel_lo, mel_step, b + 2u));
      if (w <= 0.0f) continue;
      if (weights == NULL) {
        if (count[b] == 0u) first[b] = (uint16_t)k;
        ++count[b];
      } else {
        weights[offset[b] + (k - first[b])] = w;
      }
    }
  }
}

static int is_finite(float x) { return tn_isfinitef(x); }

tn_status tn_mfcc_config_check(const tn_mfcc_config* c) {
  if (c == NULL) return TN_ERR_NULL;
  const uint32_t n = c->fft_size;
  if (c->sample_rate < 1000u || c->sample_rate > 192000u) return TN_ERR_ARG;
  if (n < TN_MFCC_MIN_FFT || n > TN_MFCC_MAX_FFT || (n & (n - 1u)) != 0u) {
    return TN_ERR_ARG;
  }
  if (c->window < 2u || c->window > n || c->stride < 1u) return TN_ERR_ARG;
  if (c->mel_bands < 1u || c->mel_bands > TN_MFCC_MAX_BANDS) return TN_ERR_ARG;
  if (c->coeffs < 1u || c->coeffs > c->mel_bands) return TN_ERR_ARG;
  if (!is_finite(c->low_hz) || !is_finite(c->high_hz) || !(c->low_hz >= 0.0f) ||
      !(c->low_hz < c->high_hz) ||
      !(c->high_hz <= 0.5f * (float)c->sample_rate)) {
    return TN_ERR_ARG;
  }
  if (!is_finite(c->log_floor) || !(c->log_floor > 0.0f)) return TN_ERR_ARG;
  if (!is_finite(c->s8_scale) || !(c->s8_scale > 0.0f)) return TN_ERR_ARG;
  if (c->s8_zero_point < -128 || c->s8_zero_point > 127) return TN_ERR_ARG;
  /* Every band must see at least one bin. */
  uint16_t first[TN_MFCC_MAX_BANDS] = {0};
  uint16_t count[TN_MFCC_MAX_BANDS] = {0};
  walk_filterbank(c, first, count, NULL, NULL);
  for (uint32_t b = 0; b < c->mel_bands; ++b) {
    if (count[b] == 0u) return TN_ERR_ARG;
  }
  return TN_OK;
}

/* Layout of the state memory after 4-byte alignment: float tables first,
 * then uint16 tables. */
typedef struct state_layout {
  size_t window, twiddles, weights, dct; /* float offsets */
  size_t floats;
  size_t bitrev, first, count; /* uint16 offsets after the floats */
  size_t halves;
} state_layout;

static state_layout layout_of(const tn_mfcc_config* c) {
  state_layout l;
  const size_t bins = tn_mfcc_bins(c);
  l.window = 0;
  l.twiddles = l.window + c->window;
  l.weights = l.twiddles + c->fft_size; /* fft_size / 2 (cos, sin) pairs */
  l.dct = l.weights + 2u * bins;        /* each bin in <= 2 bands */
  l.floats = l.dct + (size_t)c->coeffs * c->mel_bands;
  l.bitrev = 0;
  l.first = l.bitrev + c->fft_size / 2u;
  l.count = l.first + c->mel_bands;
  l.halves = l.count + c->mel_bands;
  return l;
}

size_t tn_mfcc_state_buffer_size(const tn_mfcc_config* config) {
  if (tn_mfcc_config_check(config) != TN_OK) return 0;
  const state_layout l = layout_of(config);
  return 3u + l.floats * sizeof(float) + l.halves * sizeof(uint16_t);
}

/* Scratch: fft[fft_size] | power[bins] | logmel[bands] | coeffs[coeffs]. */
size_t tn_mfcc_scratch_buffer_size(const tn_mfcc_config* config) {
  if (tn_mfcc_config_check(config) != TN_OK) return 0;
  return 3u + sizeof(float) * ((size_t)config->fft_size + tn_mfcc_bins(config) +
                               config->mel_bands + config->coeffs);
}

tn_status tn_mfcc_init(tn_mfcc* mfcc, const tn_mfcc_config* config, void* state,
                       size_t state_size) {
  if (mfcc == NULL || config == NULL || state == NULL) return TN_ERR_NULL;
  tn_status st = tn_mfcc_config_check(config);
  if (st != TN_OK) return st;
  if (state_size < tn_mfcc_state_buffer_size(config)) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  const tn_mfcc_config* c = config;
  const state_layout l = layout_of(c);
  float* f = (float*)(void*)tn_dsp_align4(state);
  uint16_t* h = (uint16_t*)(void*)(f + l.floats);
  float* window = f + l.window;
  float* tw = f + l.twiddles;
  float* weights = f + l.weights;
  float* dct = f + l.dct;
  uint16_t* bitrev = h + l.bitrev;
  uint16_t* first = h + l.first;
  uint16_t* count = h + l.count;

  /* Periodic Hann window, pre-scaled by 2^-15 (int16 to [-1, 1)); the
   * scaling is exact, so it equals scaling the samples first. */
  const float two_pi_over_w = 2.0f * TN_PI_F / (float)c->window;
  for (uint32_t n = 0; n < c->window; ++n) {
    const float hann = 0.5f - 0.5f * tn_cosf((float)n * two_pi_over_w);
    window[n] = hann * (1.0f / 32768.0f);
  }

  /* Twiddles e^{2 pi i k / N} for k < N / 2 (the FFT conjugates them),
   * from angles reduced to the first octant by symmetry: small arguments
   * keep the rounding of k * 2 pi / N, and so the error, small. */
  const uint32_t eighth = c->fft_size / 8u, quarter = c->fft_size / 4u;
  const float two_pi_over_n = 2.0f * TN_PI_F / (float)c->fft_size;
  for (uint32_t k = 0; k < c->fft_size / 2u; ++k) {
    uint32_t j;
    int swap, neg_cos;
    if (k <= eighth) {
      j = k, swap = 0, neg_cos = 0;
    } else if (k <= quarter) {
      j = quarter - k, swap = 1, neg_cos = 0;
    } else if (k <= quarter + eighth) {
      j = k - quarter, swap = 1, neg_cos = 1;
    } else {
      j = 2u * quarter - k, swap = 0, neg_cos = 1;
    }
    const float a = (float)j * two_pi_over_n;
    const float cj = tn_cosf(a), sj = tn_sinf(a);
    const float cos_k = swap ? sj : cj;
    tw[2u * k] = neg_cos ? -cos_k : cos_k;
    tw[2u * k + 1u] = swap ? cj : sj;
  }

  /* Bit reversal over log2(N / 2) bits. */
  uint32_t bits = 0;
  while ((1u << bits) < c->fft_size / 2u) ++bits;
  for (uint32_t i = 0; i < c->fft_size / 2u; ++i) {
    uint32_t r = 0;
    for (uint32_t b = 0; b < bits; ++b) r |= ((i >> b) & 1u) << (bits - 1u - b);
    bitrev[i] = (uint16_t)r;
  }

  /* Mel filterbank: count, lay out, then write the weights. */
  for (uint32_t b = 0; b < c->mel_bands; ++b) {
    first[b] = 0;
    count[b] = 0;
  }
  walk_filterbank(c, first, count, NULL, NULL);
  uint16_t offset[TN_MFCC_MAX_BANDS];
  uint32_t total = 0;
  for (uint32_t b = 0; b < c->mel_bands; ++b) {
    offset[b] = (uint16_t)total;
    total += count[b];
  }
  if (total > 2u * tn_mfcc_bins(c)) return TN_ERR_INTERNAL;
  walk_filterbank(c, first, count, offset, weights);

  /* Orthonormal DCT-II; the angle index j (2b + 1) is reduced mod 4B
   * exactly before it becomes a float. */
  const uint32_t bands = c->mel_bands;
  const float s0 = tn_sqrtf(1.0f / (float)bands);
  const float sj = tn_sqrtf(2.0f / (float)bands);
  const float pi_over_2b = TN_PI_F / (float)(2u * bands);
  for (uint32_t j = 0; j < c->coeffs; ++j) {
    for (uint32_t b = 0; b < bands; ++b) {
      const uint32_t idx = (j * (2u * b + 1u)) % (4u * bands);
      dct[j * bands + b] =
          (j == 0 ? s0 : sj) * tn_cosf((float)idx * pi_over_2b);
    }
  }

  mfcc->config = *c;
  mfcc->bins = tn_mfcc_bins(c);
  mfcc->window = window;
  mfcc->twiddles = tw;
  mfcc->bitrev = bitrev;
  mfcc->band_first = first;
  mfcc->band_count = count;
  mfcc->band_weights = weights;
  mfcc->dct = dct;
  return TN_OK;
}

uint32_t tn_mfcc_frame_count(const tn_mfcc_config* config, uint32_t samples) {
  if (config == NULL || config->stride == 0u || samples < config->window) {
    return 0;
  }
  return (samples - config->window) / config->stride + 1u;
}

/* Scratch pointers for one call. */
typedef struct scratch_layout {
  float* fft;
  float* power;
  float* logmel;
  float* coeffs;
} scratch_layout;

static tn_status take_scratch(const tn_mfcc* mfcc, void* scratch,
                              size_t scratch_size, scratch_layout* s) {
  if (scratch == NULL) return TN_ERR_NULL;
  const tn_mfcc_config* c = &mfcc->config;
  const size_t need = 3u + sizeof(float) * ((size_t)c->fft_size + mfcc->bins +
                                            c->mel_bands + c->coeffs);
  if (scratch_size < need) return TN_ERR_BUFFER_TOO_SMALL;
  s->fft = (float*)(void*)tn_dsp_align4(scratch);
  s->power = s->fft + c->fft_size;
  s->logmel = s->power + mfcc->bins;
  s->coeffs = s->logmel + c->mel_bands;
  return TN_OK;
}

static void logmel_frame(const tn_mfcc* mfcc, const int16_t* frame,
                         const scratch_layout* s, float* logmel) {
  const tn_mfcc_config* c = &mfcc->config;
  tn_rfft_power_f32(mfcc, frame, s->fft, s->power);
  const float* w = mfcc->band_weights;
  for (uint32_t b = 0; b < c->mel_bands; ++b) {
    const float* p = s->power + mfcc->band_first[b];
    const uint32_t n = mfcc->band_count[b];
    float e = 0.0f;
    for (uint32_t i = 0; i < n; ++i) e += w[i] * p[i];
    w += n;
    logmel[b] = tn_logf(e < c->log_floor ? c->log_floor : e);
  }
}

static void dct_frame(const tn_mfcc* mfcc, const float* logmel, float* out) {
  const uint32_t bands = mfcc->config.mel_bands;
  for (uint32_t j = 0; j < mfcc->config.coeffs; ++j) {
    const float* row = mfcc->dct + (size_t)j * bands;
    float acc = 0.0f;
    for (uint32_t b = 0; b < bands; ++b) acc += row[b] * logmel[b];
    out[j] = acc;
  }
}

tn_status tn_mfcc_logmel_frame_f32(const tn_mfcc* mfcc, const int16_t* frame,
                                   float* logmel, void* scratch,
                                   size_t scratch_size) {
  if (mfcc == NULL || frame == NULL || logmel == NULL) return TN_ERR_NULL;
  scratch_layout s;
  tn_status st = take_scratch(mfcc, scratch, scratch_size, &s);
  if (st != TN_OK) return st;
  logmel_frame(mfcc, frame, &s, logmel);
  return TN_OK;
}

tn_status tn_mfcc_frame_f32(const tn_mfcc* mfcc, const int16_t* frame,
                            float* coeffs, void* scratch, size_t scratch_size) {
  if (mfcc == NULL || frame == NULL || coeffs == NULL) return TN_ERR_NULL;
  scratch_layout s;
  tn_status st = take_scratch(mfcc, scratch, scratch_size, &s);
  if (st != TN_OK) return st;
  logmel_frame(mfcc, frame, &s, s.logmel);
  dct_frame(mfcc, s.logmel, coeffs);
  return TN_OK;
}

/* Common checks of the whole-signal functions; *frames_out gets the count. */
static tn_status check_signal(const tn_mfcc* mfcc, const int16_t* pcm,
                              uint32_t samples, const void* out,
                              size_t out_capacity, uint32_t* frames_out) {
  if (mfcc == NULL || pcm == NULL || out == NULL) return TN_ERR_NULL;
  const uint32_t frames = tn_mfcc_frame_count(&mfcc->config, samples);
  if (frames == 0u) return TN_ERR_ARG;
  if (out_capacity / mfcc->config.coeffs < frames) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  *frames_out = frames;
  return TN_OK;
}

tn_status tn_mfcc_compute_f32(const tn_mfcc* mfcc, const int16_t* pcm,
                              uint32_t samples, float* out, size_t out_capacity,
                              uint32_t* frames, void* scratch,
                              size_t scratch_size) {
  uint32_t n = 0;
  tn_status st = check_signal(mfcc, pcm, samples, out, out_capacity, &n);
  if (st != TN_OK) return st;
  scratch_layout s;
  st = take_scratch(mfcc, scratch, scratch_size, &s);
  if (st != TN_OK) return st;
  const tn_mfcc_config* c = &mfcc->config;
  for (uint32_t f = 0; f < n; ++f) {
    logmel_frame(mfcc, pcm + (size_t)f * c->stride, &s, s.logmel);
    dct_frame(mfcc, s.logmel, out + (size_t)f * c->coeffs);
  }
  if (frames != NULL) *frames = n;
  return TN_OK;
}

tn_status tn_mfcc_compute_s8(const tn_mfcc* mfcc, const int16_t* pcm,
                             uint32_t samples, int8_t* out, size_t out_capacity,
                             uint32_t* frames, void* scratch,
                             size_t scratch_size) {
  uint32_t n = 0;
  tn_status st = check_signal(mfcc, pcm, samples, out, out_capacity, &n);
  if (st != TN_OK) return st;
  scratch_layout s;
  st = take_scratch(mfcc, scratch, scratch_size, &s);
  if (st != TN_OK) return st;
  const tn_mfcc_config* c = &mfcc->config;
  for (uint32_t f = 0; f < n; ++f) {
    logmel_frame(mfcc, pcm + (size_t)f * c->stride, &s, s.logmel);
    dct_frame(mfcc, s.logmel, s.coeffs);
    st = tn_mfcc_quantize_s8(s.coeffs, c->coeffs, c->s8_scale, c->s8_zero_point,
                             out + (size_t)f * c->coeffs);
    if (st != TN_OK) return st;
  }
  if (frames != NULL) *frames = n;
  return TN_OK;
}

tn_status tn_mfcc_quantize_s8(const float* x, size_t count, float scale,
                              int32_t zero_point, int8_t* q) {
  if ((x == NULL || q == NULL) && count > 0u) return TN_ERR_NULL;
  if (!is_finite(scale) || !(scale > 0.0f)) return TN_ERR_ARG;
  if (zero_point < -128 || zero_point > 127) return TN_ERR_ARG;
  for (size_t i = 0; i < count; ++i) {
    const float r = x[i] / scale;
    int32_t v;
    if (r != r) {
      v = 0; /* NaN */
    } else if (r >= 512.0f) {
      v = 512;
    } else if (r <= -512.0f) {
      v = -512;
    } else {
      /* Truncate, then round half away from zero on the exact remainder
       * (adding 0.5 first would round 0.49999997 up). */
      v = (int32_t)r;
      const float frac = r - (float)v;
      if (frac >= 0.5f) {
        ++v;
      } else if (frac <= -0.5f) {
        --v;
      }
    }
    v += zero_point;
    q[i] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
  }
  return TN_OK;
}
