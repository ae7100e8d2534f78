/*
 * Tests of the MFCC front-end (dsp/tn_dsp.h): configuration checks and
 * buffer contracts, golden properties (digital silence, a tone lands in the
 * mel band centred on it, a 2x louder input adds ln 4 to every log-mel
 * energy), exact agreement between the frame and whole-signal functions,
 * the int8 rounding rule, and digests of the tables and of the features of
 * several signals (host and rv32 must agree bit for bit). On the host only,
 * every signal is also run through a double-precision reference written
 * here (direct DFT, libm) and the maximum absolute errors are printed and
 * bounded; the rv32 build compiles the reference out (TN_DSP_TEST_REF).
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_base.h"
#include "base/tn_math.h"
#include "base/tn_rng.h"
#include "dsp/tn_dsp.h"
#include "tn_test.h"

#if !defined(__riscv)
#define TN_DSP_TEST_REF 1
#include <math.h>
#define REF_PI 3.14159265358979323846
#else
#define TN_DSP_TEST_REF 0
#endif

#define N_SAMPLES TN_KWS_CLIP_SAMPLES
#define N_FEAT TN_KWS_FEATURES

/* Bounds the host comparison enforces. Measured (gcc 12, x86-64): log-mel
 * 1.1e-3 and MFCC 4.6e-4 at worst, both on the pure tone in bands 90 dB
 * below its peak; at most 6e-5 and 2e-5 on noise and the vowel. */
#define MAX_LOGMEL_ERR 2e-3
#define MAX_COEFF_ERR 1e-3

static uint8_t g_state[16384];
static uint8_t g_scratch[8192];
static int16_t g_pcm[N_SAMPLES];
static float g_feat[N_FEAT];
static float g_feat2[N_FEAT];
static int8_t g_q[N_FEAT];
static int8_t g_q2[N_FEAT];

static tn_mfcc kws_front_end(void) {
  tn_mfcc m;
  memset(&m, 0, sizeof(m));
  tn_mfcc_config c = tn_mfcc_config_kws();
  tn_status st = tn_mfcc_init(&m, &c, g_state, sizeof(g_state));
  TN_CHECK_STATUS(st, TN_OK);
  return m;
}

static int16_t clamp16(int32_t v) {
  return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

/* ---- test signals (integer or tn_math arithmetic only: same on every
 * target) ------------------------------------------------------------- */

static void make_silence(int16_t* x) { memset(x, 0, N_SAMPLES * 2u); }

/* A sine of `hz` and peak `amp` (in int16 units). */
static void make_tone(int16_t* x, float hz, float amp) {
  for (uint32_t n = 0; n < N_SAMPLES; ++n) {
    /* Reduce the phase in cycles first so the argument stays small. */
    float cycles = (float)n * hz / (float)TN_KWS_SAMPLE_RATE;
    cycles -= (float)(int32_t)cycles;
    float v = amp * tn_sinf(cycles * 6.28318530718f);
    x[n] = clamp16((int32_t)(v >= 0.0f ? v + 0.5f : v - 0.5f));
  }
}

/* Uniform white noise of the given peak amplitude. */
static void make_noise(int16_t* x, int32_t amp, uint64_t seed) {
  tn_rng r;
  tn_rng_seed(&r, seed, 7);
  for (uint32_t n = 0; n < N_SAMPLES; ++n) {
    x[n] = clamp16(tn_rng_range(&r, -amp, amp));
  }
}

/* Speech-like: a glottal pulse train with a gliding pitch through three
 * fixed-point formant resonators (700, 1220, 2600 Hz), with a syllable
 * envelope and a little noise. Integer arithmetic only. */
static void make_vowel(int16_t* x, uint64_t seed) {
  static const int32_t a1[3] = {31260, 28390, 17740}; /* 2 r cos(w), Q14 */
  static const int32_t a2[3] = {15240, 14880, 14200}; /* r^2, Q14 */
  int32_t y1[3] = {0, 0, 0}, y2[3] = {0, 0, 0};
  tn_rng r;
  tn_rng_seed(&r, seed, 11);
  uint32_t phase = 0;
  for (uint32_t n = 0; n < N_SAMPLES; ++n) {
    /* Pitch glides 110 -> 170 Hz; phase in 1/65536 of a period. */
    uint32_t f0 = 110u + (60u * n) / N_SAMPLES;
    uint32_t prev = phase;
    phase = (phase + (f0 << 16) / TN_KWS_SAMPLE_RATE) & 0xffffu;
    int32_t excite = (phase < prev ? 6000 : 0) + tn_rng_range(&r, -40, 40);
    int32_t out = 0;
    for (int k = 0; k < 3; ++k) {
      int32_t y = excite + ((a1[k] * y1[k]) >> 14) - ((a2[k] * y2[k]) >> 14);
      y = y > 200000 ? 200000 : (y < -200000 ? -200000 : y);
      y2[k] = y1[k];
      y1[k] = y;
      out += y >> (k + 1);
    }
    /* Syllable envelope: silent first 0.2 s, a 0.6 s vowel, silent end. */
    int32_t env = 0;
    if (n >= 3200u && n < 12800u) {
      uint32_t t = n - 3200u;
      env = t < 800u ? (int32_t)t * 32 / 800 : 32;
      if (n > 12000u) env = (int32_t)(12800u - n) * 32 / 800;
    }
    x[n] = clamp16(out * env / 64 + tn_rng_range(&r, -3, 3));
  }
}

/* A linear chirp 100 Hz -> 7 kHz at a moderate level. */
static void make_chirp(int16_t* x) {
  float phase = 0.0f;
  for (uint32_t n = 0; n < N_SAMPLES; ++n) {
    float hz = 100.0f + 6900.0f * (float)n / (float)N_SAMPLES;
    phase += hz / (float)TN_KWS_SAMPLE_RATE;
    phase -= (float)(int32_t)phase;
    float v = 8000.0f * tn_sinf(phase * 6.28318530718f);
    x[n] = clamp16((int32_t)v);
  }
}

/* ---- double-precision reference (host only) ------------------------- */
#if TN_DSP_TEST_REF
static double ref_mel(double hz) { return 1127.0 * log(1.0 + hz / 700.0); }

/* Log-mel energies and MFCCs of frame `x` (window samples) in double. */
static void ref_frame(const int16_t* x, double* logmel, double* coeffs) {
  const int nfft = TN_KWS_FFT_SIZE, win = TN_KWS_WINDOW;
  const int bands = TN_KWS_MEL_BANDS, bins = nfft / 2 + 1;
  static double cos_t[TN_KWS_FFT_SIZE], sin_t[TN_KWS_FFT_SIZE];
  static int init = 0;
  if (!init) {
    for (int i = 0; i < nfft; ++i) {
      cos_t[i] = cos(2.0 * REF_PI * i / nfft);
      sin_t[i] = sin(2.0 * REF_PI * i / nfft);
    }
    init = 1;
  }
  double xw[TN_KWS_WINDOW];
  for (int n = 0; n < win; ++n) {
    xw[n] = x[n] / 32768.0 * (0.5 - 0.5 * cos(2.0 * REF_PI * n / win));
  }
  double power[TN_KWS_FFT_SIZE / 2 + 1];
  for (int k = 0; k < bins; ++k) {
    double re = 0.0, im = 0.0;
    for (int n = 0; n < win; ++n) {
      int i = (int)(((long)k * n) % nfft);
      re += xw[n] * cos_t[i];
      im -= xw[n] * sin_t[i];
    }
    power[k] = re * re + im * im;
  }
  const double lo = ref_mel(TN_KWS_LOW_HZ), hi = ref_mel(TN_KWS_HIGH_HZ);
  const double step = (hi - lo) / (bands + 1);
  for (int b = 0; b < bands; ++b) {
    double l = lo + b * step, c = l + step, r = l + 2.0 * step, e = 0.0;
    for (int k = 1; k < bins; ++k) {
      double m = ref_mel((double)k * TN_KWS_SAMPLE_RATE / nfft);
      double w = 0.0;
      if (m > l && m < r) w = m <= c ? (m - l) / (c - l) : (r - m) / (r - c);
      e += w * power[k];
    }
    logmel[b] = log(e < TN_KWS_LOG_FLOOR ? (double)TN_KWS_LOG_FLOOR : e);
  }
  for (int j = 0; j < (int)TN_KWS_COEFFS; ++j) {
    double s = j == 0 ? sqrt(1.0 / bands) : sqrt(2.0 / bands), acc = 0.0;
    for (int b = 0; b < bands; ++b) {
      acc += logmel[b] * cos(REF_PI * j * (2.0 * b + 1.0) / (2.0 * bands));
    }
    coeffs[j] = s * acc;
  }
}

/* Worst errors seen over every compared signal. */
static double g_worst_logmel, g_worst_coeff;
static long g_q_off_by_one, g_q_total;

/* Compares every frame of g_pcm against the reference. */
static void compare_with_reference(const char* name, const tn_mfcc* m) {
  uint32_t frames = 0;
  TN_CHECK_STATUS(tn_mfcc_compute_f32(m, g_pcm, N_SAMPLES, g_feat, N_FEAT,
                                      &frames, g_scratch, sizeof(g_scratch)),
                  TN_OK);
  double worst_l = 0.0, worst_c = 0.0;
  long off = 0;
  for (uint32_t f = 0; f < frames; ++f) {
    const int16_t* x = g_pcm + f * TN_KWS_STRIDE;
    double rl[TN_KWS_MEL_BANDS], rc[TN_KWS_COEFFS];
    float lm[TN_KWS_MEL_BANDS];
    ref_frame(x, rl, rc);
    TN_CHECK_STATUS(
        tn_mfcc_logmel_frame_f32(m, x, lm, g_scratch, sizeof(g_scratch)),
        TN_OK);
    for (uint32_t b = 0; b < TN_KWS_MEL_BANDS; ++b) {
      double e = fabs((double)lm[b] - rl[b]);
      if (e > worst_l) worst_l = e;
    }
    for (uint32_t j = 0; j < TN_KWS_COEFFS; ++j) {
      double e = fabs((double)g_feat[f * TN_KWS_COEFFS + j] - rc[j]);
      if (e > worst_c) worst_c = e;
      /* int8: the reference quantized the same way may differ by one
       * step only where the value sits at a rounding boundary. */
      float rf = (float)rc[j];
      int8_t rq, q;
      TN_CHECK_STATUS(tn_mfcc_quantize_s8(&rf, 1, TN_KWS_S8_SCALE,
                                          TN_KWS_S8_ZERO_POINT, &rq),
                      TN_OK);
      TN_CHECK_STATUS(
          tn_mfcc_quantize_s8(&g_feat[f * TN_KWS_COEFFS + j], 1,
                              TN_KWS_S8_SCALE, TN_KWS_S8_ZERO_POINT, &q),
          TN_OK);
      int d = q - rq;
      TN_CHECK(d >= -1 && d <= 1);
      if (d != 0) ++off;
      ++g_q_total;
    }
  }
  printf("  %-8s max |error| log-mel %.2e, mfcc %.2e, int8 off by one %ld\n",
         name, worst_l, worst_c, off);
  TN_CHECK(worst_l <= MAX_LOGMEL_ERR);
  TN_CHECK(worst_c <= MAX_COEFF_ERR);
  if (worst_l > g_worst_logmel) g_worst_logmel = worst_l;
  if (worst_c > g_worst_coeff) g_worst_coeff = worst_c;
  g_q_off_by_one += off;
}
#endif

/* ---- cases ------------------------------------------------------------ */

TN_TEST(kws_config_and_sizes) {
  tn_mfcc_config c = tn_mfcc_config_kws();
  TN_CHECK_STATUS(tn_mfcc_config_check(&c), TN_OK);
  size_t state = tn_mfcc_state_buffer_size(&c);
  size_t scratch = tn_mfcc_scratch_buffer_size(&c);
  printf("  state %lu bytes, scratch %lu bytes\n", (unsigned long)state,
         (unsigned long)scratch);
  TN_CHECK(state > 0u && state <= sizeof(g_state));
  TN_CHECK(scratch > 0u && scratch <= sizeof(g_scratch));
  TN_CHECK_EQ(tn_mfcc_frame_count(&c, TN_KWS_CLIP_SAMPLES), TN_KWS_FRAMES);
  TN_CHECK_EQ(tn_mfcc_frame_count(&c, 639), 0);
  TN_CHECK_EQ(tn_mfcc_frame_count(&c, 640), 1);
  TN_CHECK_EQ(tn_mfcc_frame_count(&c, 959), 1);
  TN_CHECK_EQ(tn_mfcc_frame_count(&c, 960), 2);
  TN_CHECK_EQ(tn_mfcc_frame_count(NULL, 960), 0);
}

TN_TEST(bad_configs_are_rejected) {
  const tn_mfcc_config good = tn_mfcc_config_kws();
  tn_mfcc_config c;
  TN_CHECK_STATUS(tn_mfcc_config_check(NULL), TN_ERR_NULL);
#define BAD(field, value)                                  \
  do {                                                     \
    c = good;                                              \
    c.field = value;                                       \
    TN_CHECK_STATUS(tn_mfcc_config_check(&c), TN_ERR_ARG); \
    TN_CHECK_EQ(tn_mfcc_state_buffer_size(&c), 0);         \
    TN_CHECK_EQ(tn_mfcc_scratch_buffer_size(&c), 0);       \
  } while (0)
  BAD(sample_rate, 999u);
  BAD(sample_rate, 192001u);
  BAD(fft_size, 1000u);
  BAD(fft_size, 8u);
  BAD(fft_size, 8192u);
  BAD(window, 1u);
  BAD(window, 1025u);
  BAD(stride, 0u);
  BAD(mel_bands, 0u);
  BAD(mel_bands, TN_MFCC_MAX_BANDS + 1u);
  BAD(coeffs, 0u);
  BAD(coeffs, 41u);
  BAD(low_hz, -1.0f);
  BAD(low_hz, 4000.0f);
  BAD(high_hz, 8000.5f);
  BAD(high_hz, tn_f32_from_bits(0x7f800000u));
  BAD(high_hz, tn_f32_from_bits(TN_F32_CANONICAL_NAN_BITS));
  BAD(log_floor, 0.0f);
  BAD(s8_scale, 0.0f);
  BAD(s8_scale, -0.5f);
  BAD(s8_zero_point, 128);
  BAD(s8_zero_point, -129);
  /* 128 bands between 20 and 100 Hz: most bands see no FFT bin. */
  c = good;
  c.mel_bands = 128u;
  c.high_hz = 100.0f;
  TN_CHECK_STATUS(tn_mfcc_config_check(&c), TN_ERR_ARG);
#undef BAD
  /* Other shapes are accepted. */
  c = good;
  c.fft_size = 512u;
  c.window = 400u;
  c.stride = 160u;
  c.high_hz = 8000.0f;
  c.mel_bands = 64u;
  c.coeffs = 13u;
  TN_CHECK_STATUS(tn_mfcc_config_check(&c), TN_OK);
}

TN_TEST(init_checks_buffers) {
  tn_mfcc m;
  tn_mfcc_config c = tn_mfcc_config_kws();
  size_t need = tn_mfcc_state_buffer_size(&c);
  TN_CHECK_STATUS(tn_mfcc_init(NULL, &c, g_state, need), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_mfcc_init(&m, NULL, g_state, need), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_mfcc_init(&m, &c, NULL, need), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_mfcc_init(&m, &c, g_state, need - 1u),
                  TN_ERR_BUFFER_TOO_SMALL);
  c.coeffs = 0;
  TN_CHECK_STATUS(tn_mfcc_init(&m, &c, g_state, sizeof(g_state)), TN_ERR_ARG);
}

TN_TEST(tables_are_well_formed) {
  tn_mfcc m = kws_front_end();
  TN_CHECK_EQ(m.bins, 257); /* 4 kHz = bin 256 */
  uint32_t total = 0;
  float prev_center = 0.0f;
  for (uint32_t b = 0; b < TN_KWS_MEL_BANDS; ++b) {
    TN_CHECK(m.band_count[b] >= 1u);
    TN_CHECK(m.band_first[b] >= 1u); /* DC excluded */
    TN_CHECK(m.band_first[b] + m.band_count[b] <= m.bins);
    /* Weighted centre frequency of each band increases. */
    float num = 0.0f, den = 0.0f;
    for (uint32_t i = 0; i < m.band_count[b]; ++i) {
      float w = m.band_weights[total + i];
      TN_CHECK(w > 0.0f && w <= 1.0f);
      num += w * (float)(m.band_first[b] + i);
      den += w;
    }
    TN_CHECK(num / den > prev_center);
    prev_center = num / den;
    total += m.band_count[b];
  }
  TN_CHECK(total <= 2u * m.bins);
  /* Between the first and last band centres, the rising edge of one band
   * and the falling edge of the previous sum to 1 in every bin. */
  float sum[TN_KWS_FFT_SIZE / 2 + 1];
  memset(sum, 0, sizeof(sum));
  total = 0;
  for (uint32_t b = 0; b < TN_KWS_MEL_BANDS; ++b) {
    for (uint32_t i = 0; i < m.band_count[b]; ++i) {
      sum[m.band_first[b] + i] += m.band_weights[total + i];
    }
    total += m.band_count[b];
  }
  for (uint32_t k = 20; k < 240; ++k) {
    TN_CHECK(sum[k] > 0.9999f && sum[k] < 1.0001f);
  }
  /* Window: periodic Hann scaled by 2^-15; symmetric around n = 320. */
  TN_CHECK(m.window[0] == 0.0f);
  TN_CHECK(m.window[320] == 1.0f / 32768.0f);
  for (uint32_t n = 1; n < 320; ++n) {
    float d = (m.window[n] - m.window[640 - n]) * 32768.0f;
    TN_CHECK(d < 1e-6f && d > -1e-6f);
  }
  /* The state memory, digested as a whole: every table bit for bit. */
  tn_mfcc_config c = tn_mfcc_config_kws();
  tn_test_digest("mfcc_state", g_state, tn_mfcc_state_buffer_size(&c));
}

TN_TEST(unaligned_buffers_give_identical_features) {
  tn_mfcc m = kws_front_end();
  make_vowel(g_pcm, 3);
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, g_pcm, N_SAMPLES, g_feat, N_FEAT,
                                      NULL, g_scratch, sizeof(g_scratch)),
                  TN_OK);
  static uint8_t state2[16384 + 8];
  static uint8_t scratch2[8192 + 8];
  tn_mfcc m2;
  tn_mfcc_config c = tn_mfcc_config_kws();
  TN_CHECK_STATUS(tn_mfcc_init(&m2, &c, state2 + 1, sizeof(state2) - 1), TN_OK);
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m2, g_pcm, N_SAMPLES, g_feat2, N_FEAT,
                                      NULL, scratch2 + 3, sizeof(scratch2) - 3),
                  TN_OK);
  TN_CHECK(memcmp(g_feat, g_feat2, sizeof(g_feat)) == 0);
}

TN_TEST(digital_silence) {
  tn_mfcc m = kws_front_end();
  make_silence(g_pcm);
  uint32_t frames = 0;
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, g_pcm, N_SAMPLES, g_feat, N_FEAT,
                                      &frames, g_scratch, sizeof(g_scratch)),
                  TN_OK);
  TN_CHECK_EQ(frames, TN_KWS_FRAMES);
  /* Every log-mel energy is ln(floor): c0 = sqrt(40) ln(1e-6) = -87.3782,
   * the other coefficients are 0 up to rounding. */
  const float c0 = tn_sqrtf(40.0f) * tn_logf(TN_KWS_LOG_FLOOR);
  for (uint32_t f = 0; f < frames; ++f) {
    float d0 = g_feat[f * TN_KWS_COEFFS] - c0;
    TN_CHECK(d0 < 1e-4f && d0 > -1e-4f);
    TN_CHECK(c0 < -87.37f && c0 > -87.39f);
    for (uint32_t j = 1; j < TN_KWS_COEFFS; ++j) {
      float v = g_feat[f * TN_KWS_COEFFS + j];
      TN_CHECK(v < 1e-4f && v > -1e-4f);
    }
  }
  TN_CHECK_STATUS(tn_mfcc_compute_s8(&m, g_pcm, N_SAMPLES, g_q, N_FEAT, NULL,
                                     g_scratch, sizeof(g_scratch)),
                  TN_OK);
  /* c0 is round(-87.378 / scale) + zero point, clamped; the other
   * coefficients are the zero point. */
  int32_t q0 = (int32_t)(c0 / TN_KWS_S8_SCALE - 0.5f) + TN_KWS_S8_ZERO_POINT;
  TN_CHECK_EQ(g_q[0], q0 < -128 ? -128 : q0);
  TN_CHECK_EQ(g_q[1], TN_KWS_S8_ZERO_POINT);
  TN_CHECK_EQ(g_q[N_FEAT - 1], TN_KWS_S8_ZERO_POINT);
  tn_test_digest("silence_f32", g_feat, sizeof(g_feat));
  tn_test_digest("silence_s8", g_q, sizeof(g_q));
}

/* Centre frequency (Hz) of mel band b, from the same formula as the
 * filterbank but through tn_math. */
static float band_center_hz(uint32_t b) {
  const float lo = 1127.0f * tn_logf(1.0f + TN_KWS_LOW_HZ / 700.0f);
  const float hi = 1127.0f * tn_logf(1.0f + TN_KWS_HIGH_HZ / 700.0f);
  const float mel = lo + (float)(b + 1u) * (hi - lo) / 41.0f;
  return 700.0f * (tn_expf(mel / 1127.0f) - 1.0f);
}

TN_TEST(tone_lands_in_its_mel_band) {
  tn_mfcc m = kws_front_end();
  /* Bands narrower than a few bins cannot resolve a tone; test from band 8
   * (about 280 Hz) up. */
  static const uint32_t bands[] = {8, 12, 17, 23, 30, 36, 39};
  static const float window_sq_sum = 240.0f;
  for (size_t i = 0; i < TN_ARRAY_SIZE(bands); ++i) {
    const uint32_t b = bands[i];
    make_tone(g_pcm, band_center_hz(b), 16000.0f);
    float lm[TN_KWS_MEL_BANDS];
    TN_CHECK_STATUS(tn_mfcc_logmel_frame_f32(&m, g_pcm + 4000, lm, g_scratch,
                                             sizeof(g_scratch)),
                    TN_OK);
    uint32_t best = 0;
    for (uint32_t k = 1; k < TN_KWS_MEL_BANDS; ++k) {
      if (lm[k] > lm[best]) best = k;
    }
    TN_CHECK_EQ(best, b);
    /* Energy of the peak band: at most the tone's whole one-sided energy
     * (Parseval: N * A^2 * sum(hann^2) / 4 with sum(hann^2) = 3 * 640 / 8
     * and A = 16000 / 32768), and most of it lands in this band. */
    const float amp = 16000.0f / 32768.0f;
    const float total = tn_logf(1024.0f * window_sq_sum / 4.0f * amp * amp);
    TN_CHECK(lm[b] < total + 0.01f && lm[b] > total - 0.5f);
    /* Bands far from the tone are far below it (Hann sidelobes). */
    if (b >= 12u) TN_CHECK(lm[b - 8u] < lm[b] - 15.0f);
    if (b + 8u < TN_KWS_MEL_BANDS) TN_CHECK(lm[b + 8u] < lm[b] - 15.0f);
  }
  make_tone(g_pcm, 1000.0f, 12000.0f);
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, g_pcm, N_SAMPLES, g_feat, N_FEAT,
                                      NULL, g_scratch, sizeof(g_scratch)),
                  TN_OK);
  tn_test_digest("tone1k_f32", g_feat, sizeof(g_feat));
}

TN_TEST(doubling_the_input_adds_ln4) {
  tn_mfcc m = kws_front_end();
  static int16_t loud[N_SAMPLES];
  make_vowel(g_pcm, 5);
  for (uint32_t n = 0; n < N_SAMPLES; ++n) {
    int32_t v = g_pcm[n];
    g_pcm[n] = (int16_t)(v / 2);
    loud[n] = (int16_t)(2 * (v / 2));
  }
  const float ln4 = tn_logf(4.0f);
  int compared = 0;
  for (uint32_t f = 0; f < TN_KWS_FRAMES; f += 4) {
    float a[TN_KWS_MEL_BANDS], b[TN_KWS_MEL_BANDS];
    TN_CHECK_STATUS(tn_mfcc_logmel_frame_f32(&m, g_pcm + f * TN_KWS_STRIDE, a,
                                             g_scratch, sizeof(g_scratch)),
                    TN_OK);
    TN_CHECK_STATUS(tn_mfcc_logmel_frame_f32(&m, loud + f * TN_KWS_STRIDE, b,
                                             g_scratch, sizeof(g_scratch)),
                    TN_OK);
    for (uint32_t k = 0; k < TN_KWS_MEL_BANDS; ++k) {
      if (a[k] < tn_logf(TN_KWS_LOG_FLOOR) + 2.0f) continue; /* floored */
      float d = b[k] - a[k] - ln4;
      TN_CHECK(d < 1e-4f && d > -1e-4f);
      ++compared;
    }
  }
  TN_CHECK(compared > 200);
}

TN_TEST(whole_signal_equals_frame_by_frame) {
  tn_mfcc m = kws_front_end();
  make_noise(g_pcm, 3000, 17);
  uint32_t frames = 0;
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, g_pcm, N_SAMPLES, g_feat, N_FEAT,
                                      &frames, g_scratch, sizeof(g_scratch)),
                  TN_OK);
  for (uint32_t f = 0; f < frames; ++f) {
    float c[TN_KWS_COEFFS];
    TN_CHECK_STATUS(tn_mfcc_frame_f32(&m, g_pcm + f * TN_KWS_STRIDE, c,
                                      g_scratch, sizeof(g_scratch)),
                    TN_OK);
    TN_CHECK(memcmp(c, g_feat + f * TN_KWS_COEFFS, sizeof(c)) == 0);
  }
  /* compute_s8 == quantize(compute_f32). */
  TN_CHECK_STATUS(tn_mfcc_compute_s8(&m, g_pcm, N_SAMPLES, g_q, N_FEAT, NULL,
                                     g_scratch, sizeof(g_scratch)),
                  TN_OK);
  TN_CHECK_STATUS(tn_mfcc_quantize_s8(g_feat, N_FEAT, TN_KWS_S8_SCALE,
                                      TN_KWS_S8_ZERO_POINT, g_q2),
                  TN_OK);
  TN_CHECK(memcmp(g_q, g_q2, sizeof(g_q)) == 0);
  /* A longer signal gives more frames; the first 49 are the same. */
  static int16_t longer[N_SAMPLES + 700];
  memcpy(longer, g_pcm, sizeof(g_pcm));
  memset(longer + N_SAMPLES, 0, 700 * sizeof(int16_t));
  static float more[(TN_KWS_FRAMES + 3) * TN_KWS_COEFFS];
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, longer, N_SAMPLES + 700, more,
                                      TN_ARRAY_SIZE(more), &frames, g_scratch,
                                      sizeof(g_scratch)),
                  TN_OK);
  TN_CHECK_EQ(frames, TN_KWS_FRAMES + 2);
  TN_CHECK(memcmp(more, g_feat, sizeof(g_feat)) == 0);
}

TN_TEST(compute_checks_arguments) {
  tn_mfcc m = kws_front_end();
  make_noise(g_pcm, 100, 1);
  uint32_t frames = 1234;
  TN_CHECK_STATUS(tn_mfcc_compute_f32(NULL, g_pcm, N_SAMPLES, g_feat, N_FEAT,
                                      &frames, g_scratch, sizeof(g_scratch)),
                  TN_ERR_NULL);
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, NULL, N_SAMPLES, g_feat, N_FEAT,
                                      &frames, g_scratch, sizeof(g_scratch)),
                  TN_ERR_NULL);
  TN_CHECK_STATUS(tn_mfcc_compute_s8(&m, g_pcm, N_SAMPLES, NULL, N_FEAT,
                                     &frames, g_scratch, sizeof(g_scratch)),
                  TN_ERR_NULL);
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, g_pcm, N_SAMPLES, g_feat, N_FEAT,
                                      &frames, NULL, sizeof(g_scratch)),
                  TN_ERR_NULL);
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, g_pcm, 639, g_feat, N_FEAT, &frames,
                                      g_scratch, sizeof(g_scratch)),
                  TN_ERR_ARG);
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, g_pcm, N_SAMPLES, g_feat, N_FEAT - 1,
                                      &frames, g_scratch, sizeof(g_scratch)),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_mfcc_compute_s8(&m, g_pcm, N_SAMPLES, g_q, N_FEAT - 1,
                                     &frames, g_scratch, sizeof(g_scratch)),
                  TN_ERR_BUFFER_TOO_SMALL);
  tn_mfcc_config c = tn_mfcc_config_kws();
  const size_t need = tn_mfcc_scratch_buffer_size(&c);
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, g_pcm, N_SAMPLES, g_feat, N_FEAT,
                                      &frames, g_scratch, need - 1u),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_mfcc_frame_f32(&m, g_pcm, g_feat, g_scratch, need - 1u),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_mfcc_logmel_frame_f32(&m, g_pcm, NULL, g_scratch, need),
                  TN_ERR_NULL);
  TN_CHECK_EQ(frames, 1234); /* untouched by failed calls */
  TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, g_pcm, N_SAMPLES, g_feat, N_FEAT,
                                      &frames, g_scratch, need),
                  TN_OK);
  TN_CHECK_EQ(frames, TN_KWS_FRAMES);
}

TN_TEST(quantize_rounds_half_away_from_zero) {
  const float below_half = tn_f32_from_bits(0x3effffffu); /* 0.49999997 */
  const float x[] = {0.0f,  0.5f, -0.5f, below_half, -below_half, 1.5f,  2.5f,
                     -2.5f, 1e9f, -1e9f, 63.5f,      -64.5f,      127.4f};
  const int8_t want_zp0[] = {0, 1, -1, 0, 0, 2, 3, -3, 127, -128, 64, -65, 127};
  int8_t q[TN_ARRAY_SIZE(x)];
  TN_CHECK_STATUS(tn_mfcc_quantize_s8(x, TN_ARRAY_SIZE(x), 1.0f, 0, q), TN_OK);
  for (size_t i = 0; i < TN_ARRAY_SIZE(x); ++i) TN_CHECK_EQ(q[i], want_zp0[i]);
  /* Scale and zero point: 1.25 / 0.5 = 2.5 -> 3, + 48. */
  const float y[] = {1.25f, -1.25f, -100.0f, 39.75f,
                     tn_f32_from_bits(TN_F32_CANONICAL_NAN_BITS)};
  const int8_t want[] = {51, 45, -128, 127, 48};
  TN_CHECK_STATUS(tn_mfcc_quantize_s8(y, TN_ARRAY_SIZE(y), 0.5f, 48, q), TN_OK);
  for (size_t i = 0; i < TN_ARRAY_SIZE(y); ++i) TN_CHECK_EQ(q[i], want[i]);
  TN_CHECK_STATUS(tn_mfcc_quantize_s8(y, 1, 0.0f, 0, q), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_mfcc_quantize_s8(y, 1, 1.0f, 128, q), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_mfcc_quantize_s8(NULL, 1, 1.0f, 0, q), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_mfcc_quantize_s8(NULL, 0, 1.0f, 0, NULL), TN_OK);
}

/* Features of every test signal, digested (and compared with the double
 * reference on the host). */
TN_TEST(signals_digest_and_match_reference) {
  tn_mfcc m = kws_front_end();
  static const char* const names[] = {"silence",  "tone440", "noise_lo",
                                      "noise_hi", "vowel",   "chirp"};
  for (size_t s = 0; s < TN_ARRAY_SIZE(names); ++s) {
    switch (s) {
      case 0:
        make_silence(g_pcm);
        break;
      case 1:
        make_tone(g_pcm, 440.0f, 20000.0f);
        break;
      case 2:
        make_noise(g_pcm, 30, 2);
        break;
      case 3:
        make_noise(g_pcm, 30000, 3);
        break;
      case 4:
        make_vowel(g_pcm, 4);
        break;
      default:
        make_chirp(g_pcm);
        break;
    }
    uint32_t frames = 0;
    TN_CHECK_STATUS(tn_mfcc_compute_f32(&m, g_pcm, N_SAMPLES, g_feat, N_FEAT,
                                        &frames, g_scratch, sizeof(g_scratch)),
                    TN_OK);
    TN_CHECK_STATUS(tn_mfcc_compute_s8(&m, g_pcm, N_SAMPLES, g_q, N_FEAT,
                                       &frames, g_scratch, sizeof(g_scratch)),
                    TN_OK);
    char label[32];
    snprintf(label, sizeof(label), "%s_f32", names[s]);
    tn_test_digest(label, g_feat, sizeof(g_feat));
    snprintf(label, sizeof(label), "%s_s8", names[s]);
    tn_test_digest(label, g_q, sizeof(g_q));
#if TN_DSP_TEST_REF
    compare_with_reference(names[s], &m);
#endif
  }
#if TN_DSP_TEST_REF
  printf(
      "  worst: log-mel %.2e (bound %.0e), mfcc %.2e (bound %.0e); int8 "
      "off by one in %ld of %ld values\n",
      g_worst_logmel, MAX_LOGMEL_ERR, g_worst_coeff, MAX_COEFF_ERR,
      g_q_off_by_one, g_q_total);
#endif
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(kws_config_and_sizes),
      TN_CASE(bad_configs_are_rejected),
      TN_CASE(init_checks_buffers),
      TN_CASE(tables_are_well_formed),
      TN_CASE(unaligned_buffers_give_identical_features),
      TN_CASE(digital_silence),
      TN_CASE(tone_lands_in_its_mel_band),
      TN_CASE(doubling_the_input_adds_ln4),
      TN_CASE(whole_signal_equals_frame_by_frame),
      TN_CASE(compute_checks_arguments),
      TN_CASE(quantize_rounds_half_away_from_zero),
      TN_CASE(signals_digest_and_match_reference),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
