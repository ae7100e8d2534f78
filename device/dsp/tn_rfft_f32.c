/*
 * Power spectrum of a windowed, zero-padded real frame with an iterative
 * radix-2 FFT. The N-point real transform packs even and odd samples into
 * one N/2-point complex sequence z[n] = x[2n] + i x[2n+1], transforms it
 * (decimation in time, bit-reversed load) and recovers the real spectrum
 * with the split formula
 *   X[k] = (Z[k] + conj(Z[M-k])) / 2
 *          - i e^{-2 pi i k / N} (Z[k] - conj(Z[M-k])) / 2,   M = N / 2,
 * evaluated only for the bins the mel filters read. Single precision, one
 * fixed order of operations (see tn_dsp.h on determinism).
 */
#include "dsp/tn_dsp_internal.h"

void tn_rfft_power_f32(const tn_mfcc* mfcc, const int16_t* frame, float* fft,
                       float* power) {
  const uint32_t n_fft = mfcc->config.fft_size;
  const uint32_t m = n_fft / 2u; /* complex points */
  const uint32_t window = mfcc->config.window;
  const float* w = mfcc->window;
  const float* tw = mfcc->twiddles;

  /* Windowed load into bit-reversed order; samples past the window are
   * the zero padding. */
  for (uint32_t n = 0; n < m; ++n) {
    const uint32_t i0 = 2u * n, i1 = 2u * n + 1u;
    float* dst = fft + 2u * mfcc->bitrev[n];
    dst[0] = i0 < window ? (float)frame[i0] * w[i0] : 0.0f;
    dst[1] = i1 < window ? (float)frame[i1] * w[i1] : 0.0f;
  }

  /* Butterflies. At stage `len` the twiddle e^{-2 pi i j / len} is entry
   * j * N / len of the N-point table; j = 0 (twiddle 1) skips the
   * multiplication. */
  for (uint32_t len = 2; len <= m; len <<= 1) {
    const uint32_t half = len / 2u;
    const uint32_t step = n_fft / len;
    for (uint32_t start = 0; start < m; start += len) {
      float* a = fft + 2u * start;
      float* b = a + 2u * half;
      {
        const float tr = b[0], ti = b[1];
        const float ur = a[0], ui = a[1];
        a[0] = ur + tr;
        a[1] = ui + ti;
        b[0] = ur - tr;
        b[1] = ui - ti;
      }
      for (uint32_t j = 1; j < half; ++j) {
        const float c = tw[2u * j * step];
        const float s = tw[2u * j * step + 1u];
        const float br = b[2u * j], bi = b[2u * j + 1u];
        /* (c - i s)(br + i bi) */
        const float tr = c * br + s * bi;
        const float ti = c * bi - s * br;
        const float ur = a[2u * j], ui = a[2u * j + 1u];
        a[2u * j] = ur + tr;
        a[2u * j + 1u] = ui + ti;
        b[2u * j] = ur - tr;
        b[2u * j + 1u] = ui - ti;
      }
    }
  }

  /* Split into the real spectrum. */
  const uint32_t bins = mfcc->bins;
  {
    const float x0 = fft[0] + fft[1];
    power[0] = x0 * x0;
  }
  for (uint32_t k = 1; k < bins && k < m; ++k) {
    const float ar = fft[2u * k], ai = fft[2u * k + 1u];
    const float br = fft[2u * (m - k)], bi = -fft[2u * (m - k) + 1u];
    const float er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);
    /* o = -i (a - b) / 2 */
    const float or_ = 0.5f * (ai - bi), oi = -0.5f * (ar - br);
    const float c = tw[2u * k], s = tw[2u * k + 1u];
    /* X = e + (c - i s) o */
    const float xr = er + (c * or_ + s * oi);
    const float xi = ei + (c * oi - s * or_);
    power[k] = xr * xr + xi * xi;
  }
  if (bins == m + 1u) {
    const float xm = fft[0] - fft[1];
    power[m] = xm * xm;
  }
}
