/*
 * Tests of the binary16-storage operators. Their contract is "widen
 * exactly, follow the FP32 operator's summation order, round once to
 * binary16", so this test emulates them with software binary16 conversions
 * (written here from the IEEE-754 definition) around the FP32 operators.
 * Where _Float16 exists (the host), the library's results must equal the
 * emulation bit for bit; where it does not (rv32 with GCC 12), the
 * emulation alone runs. Either way the same digests are printed, so the
 * rv32 run checks the host's binary16 results against an independent
 * implementation on another target.
 */
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train.h"
#include "train_test_util.h"

/* binary32 -> binary16, round to nearest even. */
static uint16_t f16_from_f32(float f) {
  const uint32_t x = tn_f32_bits(f);
  const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 */
  if (ax <= 0x33000000u) return sign;                       /* <= 2^-25 */
  const int32_t e = (int32_t)(ax >> 23) - 127;
  const uint32_t m = (ax & 0x007fffffu) | 0x00800000u;
  uint32_t shift, code;
  if (e < -14) { /* binary16 subnormal: units of 2^-24 */
    shift = (uint32_t)(-1 - e);
    code = m >> shift;
  } else {
    shift = 13;
    code = ((uint32_t)(e + 15) << 10) | ((m >> 13) & 0x3ffu);
  }
  const uint32_t rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  if (rest > half || (rest == half && (code & 1u))) ++code;
  return (uint16_t)(sign | code);
}

/* binary16 -> binary32, exact. */
static float f32_from_f16(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1fu) return tn_f32_from_bits(sign | 0x7f800000u | (m << 13));
  if (e == 0) {
    if (m == 0) return tn_f32_from_bits(sign);
    e = 1;
    while ((m & 0x400u) == 0) { /* at most 10 steps */
      m <<= 1;
      --e;
    }
    m &= 0x3ffu;
  }
  return tn_f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
}

static void widen(const uint16_t* h, float* f, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) f[i] = f32_from_f16(h[i]);
}
static void narrow(const float* f, uint16_t* h, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) h[i] = f16_from_f32(f[i]);
}
static void random_f16(tn_rng* rng, uint16_t* h, uint32_t n, float amp) {
  for (uint32_t i = 0; i < n; ++i) {
    h[i] = f16_from_f32(amp * (2.0f * tn_rng_unit_f32(rng) - 1.0f));
  }
}

TN_TEST(software_conversions) {
  TN_CHECK_EQ(f16_from_f32(1.0f), 0x3c00);
  TN_CHECK_EQ(f16_from_f32(-2.0f), 0xc000);
  TN_CHECK_EQ(f16_from_f32(65504.0f), 0x7bff);
  TN_CHECK_EQ(f16_from_f32(65520.0f), 0x7c00); /* tie to even: inf */
  TN_CHECK_EQ(f16_from_f32(65519.0f), 0x7bff);
  TN_CHECK_EQ(f16_from_f32(5.9604645e-8f), 0x0001); /* 2^-24 */
  TN_CHECK_EQ(f16_from_f32(2.9802322e-8f), 0x0000); /* 2^-25: tie to 0 */
  TN_CHECK_EQ(f16_from_f32(6.1035156e-5f), 0x0400); /* 2^-14 */
  TN_CHECK_EQ(f16_from_f32(1.0009765625f), 0x3c01);
  TN_CHECK_EQ(f16_from_f32(1.00048828125f), 0x3c00); /* tie to even */
  TN_CHECK_EQ(f16_from_f32(1.00146484375f), 0x3c02); /* tie to even */
  /* Every finite binary16 value widens and narrows back to itself. */
  int bad = 0;
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    if ((h & 0x7c00u) == 0x7c00u) continue;
    bad += f16_from_f32(f32_from_f16((uint16_t)h)) != h;
  }
  TN_CHECK_EQ(bad, 0);
#if TN_TRAIN_HAVE_F16
  /* The compiler's conversions agree with these on a sweep of floats. */
  int diff = 0;
  for (uint32_t b = 0; b < 0x7f800000u; b += 0x1001u) {
    const float f = tn_f32_from_bits(b);
    const tn_f16 h = (tn_f16)f;
    uint16_t hb;
    memcpy(&hb, &h, 2);
    diff += hb != f16_from_f32(f);
  }
  TN_CHECK_EQ(diff, 0);
#endif
}

enum { kRows = 6, kIn = 16, kOut = 12 };

TN_TEST(f16_operators_match_emulation) {
  static uint16_t x[kRows * kIn], w[kOut * kIn], b[kOut], g[kRows * kOut];
  static uint16_t y[kRows * kOut], gi[kRows * kIn];
  static float xf[kRows * kIn], wf[kOut * kIn], bf[kOut], gf[kRows * kOut];
  static float yf[kRows * kOut], gif[kRows * kIn], gw[kOut * kIn], gb[kOut];
  tn_rng rng;
  tn_rng_seed(&rng, 61, 5);
  random_f16(&rng, x, kRows * kIn, 2.0f);
  random_f16(&rng, w, kOut * kIn, 0.5f);
  random_f16(&rng, b, kOut, 0.5f);
  random_f16(&rng, g, kRows * kOut, 1.0f);
  widen(x, xf, kRows * kIn);
  widen(w, wf, kOut * kIn);
  widen(b, bf, kOut);
  widen(g, gf, kRows * kOut);

  /* Emulation: FP32 reference operators on the widened values. */
  const tn_train_pointwise pw = {{3, 2, kIn}, kOut};
  TN_CHECK_STATUS(tn_pointwise_forward_f32(&pw, xf, wf, bf, yf), TN_OK);
  narrow(yf, y, kRows * kOut);
  memset(gw, 0, sizeof(gw));
  memset(gb, 0, sizeof(gb));
  TN_CHECK_STATUS(tn_pointwise_backward_f32(&pw, xf, wf, gf, gif, gw, gb),
                  TN_OK);
  narrow(gif, gi, kRows * kIn);
  const tn_train_fc fc = {kIn, kOut};
  static uint16_t yfc[kOut], gifc[kIn];
  float yfcf[kOut], gifcf[kIn];
  static float gwfc[kOut * kIn], gbfc[kOut];
  TN_CHECK_STATUS(tn_fc_forward_f32(&fc, xf, wf, bf, yfcf), TN_OK);
  narrow(yfcf, yfc, kOut);
  memset(gwfc, 0, sizeof(gwfc));
  memset(gbfc, 0, sizeof(gbfc));
  TN_CHECK_STATUS(tn_fc_backward_f32(&fc, xf, wf, gf, gifcf, gwfc, gbfc),
                  TN_OK);
  narrow(gifcf, gifc, kIn);
  /* SGD on binary16 weights: the FP32 step on widened weights, rounded. */
  static uint16_t wstep[kOut * kIn];
  static float wsf[kOut * kIn], vel[kOut * kIn];
  memcpy(wsf, wf, sizeof(wsf));
  memset(vel, 0, sizeof(vel));
  const tn_sgd_params sp = {0.25f, 0.5f, 0.01f, 0.0f, 1.0f};
  TN_CHECK_STATUS(tn_sgd_step_f32(&sp, kOut * kIn, wsf, gw, vel, NULL), TN_OK);
  narrow(wsf, wstep, kOut * kIn);

#if TN_TRAIN_HAVE_F16
  /* The library's binary16 operators on the same bits. */
  static tn_f16 xh[kRows * kIn], wh[kOut * kIn], bh[kOut], gh[kRows * kOut];
  static tn_f16 yh[kRows * kOut], gih[kRows * kIn], yfch[kOut], gifch[kIn];
  static float gwh[kOut * kIn], gbh[kOut], velh[kOut * kIn];
  memcpy(xh, x, sizeof(x));
  memcpy(wh, w, sizeof(w));
  memcpy(bh, b, sizeof(b));
  memcpy(gh, g, sizeof(g));
  TN_CHECK_STATUS(tn_pointwise_forward_f16(&pw, xh, wh, bh, yh), TN_OK);
  TN_CHECK(memcmp(yh, y, sizeof(y)) == 0);
  memset(gwh, 0, sizeof(gwh));
  memset(gbh, 0, sizeof(gbh));
  TN_CHECK_STATUS(tn_pointwise_backward_f16(&pw, xh, wh, gh, gih, gwh, gbh),
                  TN_OK);
  TN_CHECK(memcmp(gih, gi, sizeof(gi)) == 0);
  TN_CHECK(memcmp(gwh, gw, sizeof(gw)) == 0);
  TN_CHECK(memcmp(gbh, gb, sizeof(gb)) == 0);
  TN_CHECK_STATUS(tn_fc_forward_f16(&fc, xh, wh, bh, yfch), TN_OK);
  TN_CHECK(memcmp(yfch, yfc, sizeof(yfc)) == 0);
  memset(gwh, 0, sizeof(gwh));
  memset(gbh, 0, sizeof(gbh));
  TN_CHECK_STATUS(tn_fc_backward_f16(&fc, xh, wh, gh, gifch, gwh, gbh), TN_OK);
  TN_CHECK(memcmp(gifch, gifc, sizeof(gifc)) == 0);
  TN_CHECK(memcmp(gwh, gwfc, sizeof(gwfc)) == 0);
  memset(velh, 0, sizeof(velh));
  TN_CHECK_STATUS(tn_sgd_step_f16(&sp, kOut * kIn, wh, gw, velh, NULL), TN_OK);
  TN_CHECK(memcmp(wh, wstep, sizeof(wstep)) == 0);
  TN_CHECK(memcmp(velh, vel, sizeof(vel)) == 0);
  TN_CHECK_STATUS(tn_pointwise_forward_f16(NULL, xh, wh, bh, yh), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_sgd_step_f16(&sp, kOut * kIn, wh, gw, NULL, NULL),
                  TN_ERR_NULL);
#endif
  tn_test_digest("f16.pointwise.y", y, sizeof(y));
  tn_test_digest("f16.pointwise.grad_in", gi, sizeof(gi));
  tn_test_digest("f16.pointwise.grad_w", gw, sizeof(gw));
  tn_test_digest("f16.fc.y", yfc, sizeof(yfc));
  tn_test_digest("f16.fc.grad_in", gifc, sizeof(gifc));
  tn_test_digest("f16.sgd.w", wstep, sizeof(wstep));
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(software_conversions),
      TN_CASE(f16_operators_match_emulation),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
