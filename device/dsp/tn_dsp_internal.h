/*
 * Internals of the dsp room shared between its source files: the real FFT
 * power spectrum and the layout of the caller memory tn_mfcc_init() fills.
 * Not part of the public API.
 */
#ifndef TN_DSP_TN_DSP_INTERNAL_H_
#define TN_DSP_TN_DSP_INTERNAL_H_

#include <stddef.h>
#include <stdint.h>

#include "dsp/tn_dsp.h"

/* Rounds a caller pointer up to a 4-byte boundary (floats and uint16). */
static inline uint8_t* tn_dsp_align4(void* p) {
  uintptr_t u = (uintptr_t)p;
  return (uint8_t*)p + ((4u - (u & 3u)) & 3u);
}

/* Bins (0 .. bins-1) the mel filters of a checked config can read:
 * floor(high_hz * fft_size / sample_rate) + 1, at most fft_size / 2 + 1. */
uint32_t tn_mfcc_bins(const tn_mfcc_config* config);

/* Power spectrum of one frame: loads frame[0 .. window) scaled by the
 * window table (which already holds hann[n] / 32768), zero-pads to
 * fft_size, runs the radix-2 real FFT and writes power[k] = |X[k]|^2 for
 * k in [0, bins). `fft` is scratch of fft_size floats. */
void tn_rfft_power_f32(const tn_mfcc* mfcc, const int16_t* frame, float* fft,
                       float* power);

#endif /* TN_DSP_TN_DSP_INTERNAL_H_ */
