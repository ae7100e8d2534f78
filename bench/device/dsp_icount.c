/*
 * Instruction counts of the audio front-end (device/dsp) on rv32, run under
 * QEMU with -icount shift=0 (device/port/rv32/run-qemu.sh), where the
 * minstret CSR counts exactly the retired instructions: table setup
 * (tn_mfcc_init), the power spectrum of one frame (windowing + 1024-point
 * real FFT), one log-mel frame, one MFCC frame, a whole one-second clip to
 * int8 (49 frames) and the validation of a feature data set file. Prints
 * one line per figure: "icount <name> <instructions> <per unit>".
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_rng.h"
#include "dsp/tn_dsp.h"
#include "dsp/tn_dsp_internal.h"

static uint64_t instret(void) {
#if defined(__riscv)
  uint32_t hi, lo, hi2;
  do {
    __asm__ volatile("csrr %0, minstreth" : "=r"(hi));
    __asm__ volatile("csrr %0, minstret" : "=r"(lo));
    __asm__ volatile("csrr %0, minstreth" : "=r"(hi2));
  } while (hi != hi2);
  return ((uint64_t)hi << 32) | lo;
#else
  return 0; /* host build: counts are meaningless */
#endif
}

static void report(const char* name, uint64_t n, uint64_t units) {
  unsigned long long per100 = units ? (n * 100u + units / 2u) / units : 0u;
  printf("icount %-30s %12llu  %10llu.%02llu per unit (%llu units)\n", name,
         (unsigned long long)n, per100 / 100u, per100 % 100u,
         (unsigned long long)units);
}

static uint8_t g_state[16384];
static uint8_t g_scratch[8192];
static int16_t g_pcm[TN_KWS_CLIP_SAMPLES];
static float g_fft[TN_KWS_FFT_SIZE];
static float g_power[TN_KWS_FFT_SIZE / 2 + 1];
static float g_out[TN_KWS_MEL_BANDS];
static int8_t g_q[TN_KWS_FEATURES];
static uint8_t g_file[128 + 12 * 16 + 100 * 498 + 4];

int main(void) {
  /* Speech-level noise: every frame goes through the whole pipeline. */
  tn_rng rng;
  tn_rng_seed(&rng, 1, 1);
  for (uint32_t n = 0; n < TN_KWS_CLIP_SAMPLES; ++n) {
    g_pcm[n] = (int16_t)tn_rng_range(&rng, -3000, 3000);
  }
  tn_mfcc_config c = tn_mfcc_config_kws();
  tn_mfcc m;
  uint64_t t0 = instret();
  tn_status st = tn_mfcc_init(&m, &c, g_state, sizeof(g_state));
  uint64_t t1 = instret();
  if (st != TN_OK) return 1;
  report("mfcc.init(tables)", t1 - t0, 1);
  printf("memory state %lu B, scratch %lu B\n",
         (unsigned long)tn_mfcc_state_buffer_size(&c),
         (unsigned long)tn_mfcc_scratch_buffer_size(&c));

  t0 = instret();
  tn_rfft_power_f32(&m, g_pcm, g_fft, g_power);
  t1 = instret();
  report("frame.power_spectrum(fft1024)", t1 - t0, 1);

  t0 = instret();
  st = tn_mfcc_logmel_frame_f32(&m, g_pcm, g_out, g_scratch, sizeof(g_scratch));
  t1 = instret();
  if (st != TN_OK) return 1;
  report("frame.logmel(40)", t1 - t0, 1);

  t0 = instret();
  st = tn_mfcc_frame_f32(&m, g_pcm, g_out, g_scratch, sizeof(g_scratch));
  t1 = instret();
  if (st != TN_OK) return 1;
  report("frame.mfcc(10)", t1 - t0, 1);

  uint32_t frames = 0;
  t0 = instret();
  st = tn_mfcc_compute_s8(&m, g_pcm, TN_KWS_CLIP_SAMPLES, g_q, TN_KWS_FEATURES,
                          &frames, g_scratch, sizeof(g_scratch));
  t1 = instret();
  if (st != TN_OK) return 1;
  report("clip.mfcc_s8(1s, per frame)", t1 - t0, frames);

  /* A 100-sample feature file: write, then validate. */
  static const char* const names[] = {"_silence_", "_unknown_", "yes",  "no",
                                      "up",        "down",      "left", "right",
                                      "on",        "off",       "stop", "go"};
  tn_fset_info info;
  memset(&info, 0, sizeof(info));
  info.sample_count = 100;
  info.frames = TN_KWS_FRAMES;
  info.coeffs = TN_KWS_COEFFS;
  info.class_count = 12;
  info.front_end = c;
  const size_t size = tn_fset_file_size(&info);
  if (size != sizeof(g_file)) return 1;
  if (tn_fset_write_header(&info, names, g_file, size) != TN_OK) return 1;
  for (uint32_t i = 0; i < 100; ++i) {
    tn_fset_record r = {i % 12u, 0, 0, i, g_q};
    if (tn_fset_write_record(&info, i, &r, g_file, size) != TN_OK) return 1;
  }
  if (tn_fset_finish(g_file, size) != TN_OK) return 1;
  tn_fset_view v;
  t0 = instret();
  st = tn_fset_open(g_file, size, &v);
  t1 = instret();
  if (st != TN_OK) return 1;
  report("fset.open(100 samples)", t1 - t0, 100);
  return 0;
}
