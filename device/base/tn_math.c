/*
 * Deterministic elementary functions (see tn_math.h). Every floating-point
 * operation here is a single IEEE-754 binary32 + - * / whose evaluation order
 * is fixed by the source; the library is compiled with -ffp-contract=off so
 * no multiply-add is fused. Polynomial coefficients are Taylor coefficients
 * rounded to binary32, except tanh's, which are a least-squares fit of
 * (tanh(x) - x) / x^3 on [0, 0.625] in x^2, weighted for relative error.
 */
#include "base/tn_math.h"

#define TN_LN2_HI 6.93145751953125e-1f    /* ln 2 to 16 bits: k*HI is exact */
#define TN_LN2_LO 1.42860682030941723e-6f /* ln 2 - TN_LN2_HI */
#define TN_LOG2E 1.44269502e+0f

static float tn__nan(void) {
  return tn_f32_from_bits(TN_F32_CANONICAL_NAN_BITS);
}

/* 2^k as a float, for -126 <= k <= 127. */
static float tn__pow2(int32_t k) {
  return tn_f32_from_bits((uint32_t)(k + 127) << 23);
}

/* ---------------------------------------------------------------- exp -- */

float tn_expf(float x) {
  uint32_t ax = tn_f32_bits(x) & 0x7fffffffu;
  if (ax > 0x7f800000u) return tn__nan();
  if (x > 8.87228317e+1f) return tn_f32_from_bits(0x7f800000u); /* +inf */
  if (x < -1.04e+2f) return 0.0f;
  if (ax < 0x31800000u) return 1.0f + x; /* |x| < 2^-28: e^x rounds so */

  /* x = k ln2 + r with |r| <= ln2/2 (plus rounding slack). */
  float t = x * TN_LOG2E;
  int32_t k = (int32_t)(t + (t < 0.0f ? -0.5f : 0.5f));
  float kf = (float)k;
  float r = (x - kf * TN_LN2_HI) - kf * TN_LN2_LO;

  /* e^r = 1 + r + r^2 (1/2 + r/6 + ... + r^5/5040); truncation < 0.13 ulp.*/
  float q = 1.98412701e-4f;
  q = 1.38888892e-3f + r * q;
  q = 8.33333377e-3f + r * q;
  q = 4.16666679e-2f + r * q;
  q = 1.66666672e-1f + r * q;
  q = 5.0e-1f + r * q;
  float p = 1.0f + (r + (r * r) * q);

  /* Scale by 2^k, k in [-150, 128], with a single rounding. */
  if (k > 127) return (p * tn__pow2(127)) * tn__pow2(k - 127);
  if (k < -126) return (p * tn__pow2(k + 100)) * tn__pow2(-100);
  return p * tn__pow2(k);
}

/* ---------------------------------------------------------------- log -- */

float tn_logf(float x) {
  uint32_t ix = tn_f32_bits(x);
  if ((ix & 0x7fffffffu) > 0x7f800000u) return tn__nan();
  if ((ix & 0x7fffffffu) == 0) return tn_f32_from_bits(0xff800000u);
  if (ix & 0x80000000u) return tn__nan();
  if (ix == 0x7f800000u) return x;

  int32_t e = 0;
  if (ix < 0x00800000u) { /* subnormal: scale by 2^25 (exact) */
    x = x * 3.3554432e+7f;
    ix = tn_f32_bits(x);
    e = -25;
  }
  e += (int32_t)(ix >> 23) - 127;
  uint32_t mbits = (ix & 0x007fffffu) | 0x3f800000u; /* m in [1, 2) */
  if (mbits > 0x3fb504f3u) {                         /* m > sqrt(2) */
    mbits -= 0x00800000u;                            /* m / 2 */
    e += 1;
  }
  /* x = 2^e (1 + f) with f in [sqrt(1/2) - 1, sqrt(2) - 1]; f is exact. */
  float f = tn_f32_from_bits(mbits) - 1.0f;

  /* With s = f / (2 + f): log(1 + f) = 2 atanh(s) = 2s + s R(s^2) and
   * 2s = f - s f, hence log(1 + f) = f - s (f - R). */
  float s = f / (2.0f + f);
  float z = s * s;
  float rr = 2.22222224e-1f;
  rr = 2.85714298e-1f + z * rr;
  rr = 4.00000006e-1f + z * rr;
  rr = 6.66666687e-1f + z * rr;
  rr = z * rr;
  float log1p = f - s * (f - rr);

  float ef = (float)e;
  return (ef * TN_LN2_LO + log1p) + ef * TN_LN2_HI;
}

/* --------------------------------------------------------------- sqrt -- */

float tn_sqrtf_soft(float x) {
  uint32_t ix = tn_f32_bits(x);
  if ((ix & 0x7fffffffu) > 0x7f800000u) return tn__nan();
  if ((ix & 0x7fffffffu) == 0) return x; /* +-0 */
  if (ix & 0x80000000u) return tn__nan();
  if (ix == 0x7f800000u) return x;

  /* x = m 2^E with m an integer in [2^23, 2^24). */
  int32_t be = (int32_t)(ix >> 23);
  uint32_t m = ix & 0x007fffffu;
  if (be == 0) { /* subnormal: normalise; at most 23 shifts */
    be = 1;
    while ((m & 0x00800000u) == 0) {
      m <<= 1;
      --be;
    }
  } else {
    m |= 0x00800000u;
  }
  int32_t ex = be - 127 - 23;

  /* n = m 2^s with E - s even and n in [2^48, 2^50), so the integer root
   * has exactly 25 bits: 24 for the result and one rounding bit. */
  int32_t s = (ex & 1) ? 25 : 26;
  uint64_t n = (uint64_t)m << s;
  uint64_t root = 0;
  uint64_t rem = n;
  uint64_t bit = (uint64_t)1 << 50;
  for (int i = 0; i < 26; ++i) { /* bit-by-bit integer square root */
    if (rem >= root + bit) {
      rem -= root + bit;
      root = (root >> 1) + bit;
    } else {
      root >>= 1;
    }
    bit >>= 2;
  }
  /* root = floor(sqrt(n)), rem = n - root^2. */
  uint32_t mant = (uint32_t)(root >> 1);
  int32_t exp2 = (ex - s) / 2 + 1; /* sqrt(x) ~ mant 2^exp2 */
  if ((root & 1u) && (rem != 0 || (mant & 1u))) {
    ++mant;
    if (mant == 0x01000000u) {
      mant >>= 1;
      ++exp2;
    }
  }
  uint32_t bexp = (uint32_t)(exp2 + 23 + 127);
  return tn_f32_from_bits((bexp << 23) | (mant & 0x007fffffu));
}

/* The hardware square root where the target has one (IEEE-754 requires it
 * to be correctly rounded, so it agrees with tn_sqrtf_soft bit for bit).
 * Inline instructions rather than sqrtf() keep libm and errno out. */
#if defined(__SSE_MATH__) && (defined(__x86_64__) || defined(__i386__))
#include <xmmintrin.h>
#define TN_HAVE_HW_SQRT 1
static float tn__hw_sqrtf(float x) {
  return _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(x)));
}
#elif defined(__riscv) && defined(__riscv_fsqrt) && defined(__riscv_flen)
#define TN_HAVE_HW_SQRT 1
static float tn__hw_sqrtf(float x) {
  float y;
  __asm__("fsqrt.s %0, %1" : "=f"(y) : "f"(x));
  return y;
}
#else
#define TN_HAVE_HW_SQRT 0
#endif

float tn_sqrtf(float x) {
#if TN_HAVE_HW_SQRT
  /* Special cases first: hardware NaN encodings differ between targets. */
  uint32_t ix = tn_f32_bits(x);
  if ((ix & 0x7fffffffu) > 0x7f800000u) return tn__nan();
  if ((ix & 0x80000000u) && (ix & 0x7fffffffu)) return tn__nan();
  return tn__hw_sqrtf(x);
#else
  return tn_sqrtf_soft(x);
#endif
}

/* ------------------------------------------------------------ sin/cos -- */

/* 2/pi in binary, preceded by 32 zero bits: bit j (from the most
 * significant bit of word 0) is the binary digit of weight 2^-(j-31). */
static const uint32_t kTwoOverPi[8] = {
    0x00000000u, 0xa2f9836eu, 0x4e441529u, 0xfc2757d1u,
    0xf534ddc0u, 0xdb629599u, 0x3c439041u, 0xfe5163abu,
};

/* pi/2 in unsigned Q1.31. */
#define TN_PIO2_Q31 3373259426u

/* Number of leading zero bits of a nonzero 64-bit value. */
static int tn__clz64(uint64_t v) {
  int n = 0;
  if ((v >> 32) == 0) {
    n += 32;
    v <<= 32;
  }
  if ((v >> 48) == 0) {
    n += 16;
    v <<= 16;
  }
  if ((v >> 56) == 0) {
    n += 8;
    v <<= 8;
  }
  if ((v >> 60) == 0) {
    n += 4;
    v <<= 4;
  }
  if ((v >> 62) == 0) {
    n += 2;
    v <<= 2;
  }
  if ((v >> 63) == 0) n += 1;
  return n;
}

/* Reduces a finite |x| >= pi/4 (given as its bits) to r in [-pi/4, pi/4]
 * and the quadrant q in 0..3 with |x| = (4j + q) pi/2 + r. Exact integer
 * arithmetic: |x| 2/pi is formed from 96 bits of 2/pi around the binary
 * point of the product, giving 64 fraction bits (error < 2^-70 quarter
 * turns). */
static uint32_t tn__reduce_pio2(uint32_t ax, float* r) {
  int32_t e = (int32_t)(ax >> 23) - 127; /* >= -1 here */
  uint64_t m = (ax & 0x007fffffu) | 0x00800000u;

  /* The 96-bit window of 2/pi starting at table bit e + 7. */
  int32_t j0 = e + 7;
  int32_t w = j0 >> 5;
  int32_t sh = j0 & 31;
  uint32_t win[3];
  for (int i = 0; i < 3; ++i) {
    uint32_t hi = kTwoOverPi[w + i];
    uint32_t lo = kTwoOverPi[w + i + 1];
    win[i] = sh ? (hi << sh) | (lo >> (32 - sh)) : hi;
  }
  /* |x| 2/pi mod 4 = m * win * 2^-94 (a 120-bit product). */
  uint64_t p2 = m * win[2];
  uint64_t p1 = m * win[1] + (p2 >> 32);
  uint64_t p0 = m * win[0] + (p1 >> 32);
  uint32_t q = (uint32_t)(p0 >> 30) & 3u;
  uint64_t frac = ((p0 & 0x3fffffffu) << 34) | ((p1 & 0xffffffffu) << 2) |
                  ((p2 & 0xffffffffu) >> 30);

  /* Round to the nearest quadrant: frac in [-1/2, 1/2) quarter turns. */
  int negative = 0;
  if (frac >> 63) {
    q = (q + 1u) & 3u;
    frac = (uint64_t)0 - frac;
    negative = 1;
  }
  if (frac == 0) {
    *r = 0.0f;
    return q;
  }
  /* r = frac 2^-64 pi/2, from the top 32 bits of frac times pi/2. */
  int lz = tn__clz64(frac);
  uint64_t top = (frac << lz) >> 32;
  uint64_t prod = top * TN_PIO2_Q31; /* r = prod 2^(-63 - lz) */
  int b = (prod >> 63) ? 63 : 62;    /* leading bit of prod */
  int drop = b - 23;
  uint64_t mant = prod >> drop;
  uint64_t rest = prod & (((uint64_t)1 << drop) - 1u);
  uint64_t half = (uint64_t)1 << (drop - 1);
  if (rest > half || (rest == half && (mant & 1u))) {
    ++mant;
    if (mant == ((uint64_t)1 << 24)) {
      mant >>= 1;
      ++b;
    }
  }
  uint32_t bexp = (uint32_t)(b - 63 - lz + 127);
  uint32_t bits = (bexp << 23) | ((uint32_t)mant & 0x007fffffu);
  if (negative) bits |= 0x80000000u;
  *r = tn_f32_from_bits(bits);
  return q;
}

/* sin(r) for |r| <= pi/4: r + r^3 (-1/6 + r^2/120 - ...); truncation error
 * below 0.05 ulp. */
static float tn__sin_poly(float r) {
  float z = r * r;
  float p = 2.75573188e-6f;
  p = -1.98412701e-4f + z * p;
  p = 8.33333377e-3f + z * p;
  p = -1.66666672e-1f + z * p;
  return r + (r * z) * p;
}

/* cos(r) for |r| <= pi/4: 1 - r^2/2 + r^4 (1/24 - r^2/720 + ...). */
static float tn__cos_poly(float r) {
  float z = r * r;
  float p = -2.75573200e-7f;
  p = 2.48015876e-5f + z * p;
  p = -1.38888892e-3f + z * p;
  p = 4.16666679e-2f + z * p;
  return (1.0f - 0.5f * z) + (z * z) * p;
}

float tn_sinf(float x) {
  uint32_t ix = tn_f32_bits(x);
  uint32_t ax = ix & 0x7fffffffu;
  if (ax >= 0x7f800000u) return tn__nan();
  if (ax < 0x39800000u) return x; /* |x| < 2^-12: sin x rounds to x */
  if (ax <= 0x3f490fdbu) return tn__sin_poly(x);
  float r;
  uint32_t q = tn__reduce_pio2(ax, &r);
  float y = (q & 1u) ? tn__cos_poly(r) : tn__sin_poly(r);
  if (q & 2u) y = -y;
  return (ix & 0x80000000u) ? -y : y;
}

float tn_cosf(float x) {
  uint32_t ax = tn_f32_bits(x) & 0x7fffffffu;
  if (ax >= 0x7f800000u) return tn__nan();
  if (ax < 0x39800000u) return 1.0f; /* cos x rounds to 1 */
  if (ax <= 0x3f490fdbu) return tn__cos_poly(tn_f32_from_bits(ax));
  float r;
  uint32_t q = tn__reduce_pio2(ax, &r);
  switch (q) {
    case 0u:
      return tn__cos_poly(r);
    case 1u:
      return -tn__sin_poly(r);
    case 2u:
      return -tn__cos_poly(r);
    default:
      return tn__sin_poly(r);
  }
}

/* --------------------------------------------------------- tanh/sigmoid -- */

float tn_tanhf(float x) {
  uint32_t ix = tn_f32_bits(x);
  uint32_t ax = ix & 0x7fffffffu;
  if (ax > 0x7f800000u) return tn__nan();
  if (ax < 0x39800000u) return x; /* |x| < 2^-12 */
  float a = tn_f32_from_bits(ax);
  float y;
  if (a < 6.25e-1f) {
    float z = a * a;
    float p = -5.71896276e-3f;
    p = 2.06531249e-2f + z * p;
    p = -5.37446588e-2f + z * p;
    p = 1.33315131e-1f + z * p;
    p = -3.33332866e-1f + z * p;
    y = a + (a * z) * p;
  } else if (a < 1.0e+1f) {
    y = 1.0f - 2.0f / (tn_expf(a + a) + 1.0f);
  } else {
    y = 1.0f;
  }
  return (ix & 0x80000000u) ? -y : y;
}

float tn_sigmoidf(float x) {
  if ((tn_f32_bits(x) & 0x7fffffffu) > 0x7f800000u) return tn__nan();
  if (x < 0.0f) { /* e^x / (1 + e^x): no overflow, keeps tiny results */
    float e = tn_expf(x);
    return e / (1.0f + e);
  }
  return 1.0f / (1.0f + tn_expf(-x));
}
