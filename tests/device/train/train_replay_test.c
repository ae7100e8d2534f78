/*
 * Tests of the quantized latent-replay buffer: 7- and 8-bit packing (bit
 * layout against an independent bit writer, round trip, rounding,
 * saturation, NaN), sizing and init errors, reservoir and class-balanced
 * insertion statistics, the mini-batch composer, and the purpose of the
 * whole thing: on a two-task class-incremental toy problem, training on
 * task B with replays of task A keeps task A's accuracy far above training
 * on B alone.
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_math.h"
#include "train/tn_train.h"
#include "train_test_util.h"

TN_TEST(seven_bit_layout_and_round_trip) {
  /* scale 1, zero point 0: the codes are the rounded values. */
  const float v[9] = {1, 2, 127, 0, 64, 3, 5, 126, 9};
  uint8_t packed[8], expect[8];
  TN_CHECK_STATUS(tn_replay_pack(9, v, 7, 1.0f, 0, packed), TN_OK);
  /* Independent bit writer: bit k of code i goes to stream bit 7i + k. */
  memset(expect, 0, sizeof(expect));
  for (int i = 0; i < 9; ++i) {
    for (int k = 0; k < 7; ++k) {
      if (((uint32_t)v[i] >> k) & 1u) {
        expect[(7 * i + k) / 8] |= (uint8_t)(1u << ((7 * i + k) % 8));
      }
    }
  }
  TN_CHECK(memcmp(packed, expect, 8) == 0);
  float back[9];
  TN_CHECK_STATUS(tn_replay_unpack(9, packed, 7, 1.0f, 0, back), TN_OK);
  TN_CHECK(memcmp(back, v, sizeof(v)) == 0);
  tn_test_digest("pack7.layout", packed, sizeof(packed));

  /* Random values: 7 and 8 bits, error at most half a step inside the
   * range; every code value survives a round trip exactly. */
  tn_rng rng;
  tn_rng_seed(&rng, 41, 2);
  enum { N = 301 };
  float x[N], y[N];
  uint8_t buf[N];
  for (int bits = 7; bits <= 8; ++bits) {
    float scale;
    int32_t zp;
    TN_REQUIRE(tn_replay_calibrate(-1.5f, 2.5f, (uint8_t)bits, &scale, &zp) ==
               TN_OK);
    fill_uniform(&rng, x, N, -1.5f, 2.5f);
    TN_CHECK_STATUS(tn_replay_pack(N, x, (uint8_t)bits, scale, zp, buf), TN_OK);
    TN_CHECK_STATUS(tn_replay_unpack(N, buf, (uint8_t)bits, scale, zp, y),
                    TN_OK);
    float worst = 0.0f;
    for (int i = 0; i < N; ++i) {
      float e = x[i] > y[i] ? x[i] - y[i] : y[i] - x[i];
      if (e > worst) worst = e;
    }
    TN_CHECK(worst <= 0.5f * scale * 1.0001f);
    /* Dequantized values re-quantize to themselves. */
    uint8_t again[N];
    TN_CHECK_STATUS(tn_replay_pack(N, y, (uint8_t)bits, scale, zp, again),
                    TN_OK);
    TN_CHECK(memcmp(buf, again, (N * (uint32_t)bits + 7) / 8) == 0);
    tn_test_digest(bits == 7 ? "pack7.random" : "pack8.random", buf,
                   (N * (uint32_t)bits + 7) / 8);
  }

  /* Half away from zero, saturation and NaN. */
  const float odd[6] = {
      2.5f,       -2.5f, 1000.0f, -1000.0f, tn_f32_from_bits(0x7fc00000u),
      0.49999997f};
  uint8_t q[6];
  TN_CHECK_STATUS(tn_replay_pack(6, odd, 8, 1.0f, 100, q), TN_OK);
  TN_CHECK_EQ(q[0], 103);
  TN_CHECK_EQ(q[1], 97);
  TN_CHECK_EQ(q[2], 255);
  TN_CHECK_EQ(q[3], 0);
  TN_CHECK_EQ(q[4], 100);
  TN_CHECK_EQ(q[5], 100);
  TN_CHECK_STATUS(tn_replay_pack(6, odd, 6, 1.0f, 0, q), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_replay_pack(6, odd, 7, 1.0f, 128, q), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_replay_pack(6, odd, 7, 0.0f, 0, q), TN_ERR_ARG);
}

static uint8_t g_storage[64 * 1024] __attribute__((aligned(8)));

TN_TEST(sizes_and_init_errors) {
  tn_rng rng;
  tn_rng_seed(&rng, 42, 2);
  tn_replay_config c = {100, 1000, 8, 10, TN_REPLAY_RESERVOIR, 0.05f, 128};
  /* 100 * 1000 code bytes, 100 labels, 10 x 2 counters. */
  TN_CHECK_EQ(tn_replay_buffer_size(&c), 100000 + 200 + 80);
  c.bits = 7;
  c.zero_point = 64;
  TN_CHECK_EQ(tn_replay_buffer_size(&c), 87500 + 200 + 80);
  c.bits = 6;
  TN_CHECK_EQ(tn_replay_buffer_size(&c), 0);
  c = (tn_replay_config){20, 100, 7, 4, TN_REPLAY_CLASS_BALANCED, 0.1f, 10};
  tn_replay r;
  const size_t need = tn_replay_buffer_size(&c);
  TN_CHECK_STATUS(tn_replay_init(&r, &c, g_storage, need - 1, &rng),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_replay_init(&r, &c, g_storage + 1, need, &rng),
                  TN_ERR_ARG);
  TN_CHECK_STATUS(tn_replay_init(&r, &c, g_storage, need, NULL), TN_ERR_NULL);
  tn_replay_config bad = c;
  bad.policy = 7;
  TN_CHECK_STATUS(tn_replay_init(&r, &bad, g_storage, need, &rng), TN_ERR_ARG);
  bad = c;
  bad.zero_point = 128; /* beyond 7 bits */
  TN_CHECK_STATUS(tn_replay_init(&r, &bad, g_storage, need, &rng), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_replay_init(&r, &c, g_storage, need, &rng), TN_OK);
  TN_CHECK_EQ(tn_replay_memory(&r), need);
  TN_CHECK_EQ(tn_replay_memory_f32(&r), 20 * (400 + 2));
  float s[100] = {0}, out[100];
  TN_CHECK_STATUS(tn_replay_insert(&r, s, 4, NULL), TN_ERR_ARG); /* label */
  TN_CHECK_STATUS(tn_replay_get(&r, 0, out, NULL), TN_ERR_ARG);  /* empty */
  uint32_t slot;
  TN_CHECK_STATUS(tn_replay_insert(&r, s, 3, &slot), TN_OK);
  TN_CHECK_EQ(slot, 0);
  uint16_t label;
  TN_CHECK_STATUS(tn_replay_get(&r, 0, out, &label), TN_OK);
  TN_CHECK_EQ(label, 3);
  tn_batch_entry e[4];
  uint32_t n;
  TN_CHECK_STATUS(tn_replay_compose(&r, 0, 1, 2, e, &n), TN_ERR_ARG);
}

/* Offers `n` samples whose two values encode their index (base 256) and
 * whose labels come from label_of(i). */
static void offer_stream(tn_replay* r, uint32_t n,
                         uint16_t (*label_of)(uint32_t)) {
  for (uint32_t i = 0; i < n; ++i) {
    const float s[2] = {(float)(i / 256u), (float)(i % 256u)};
    TN_CHECK_STATUS(tn_replay_insert(r, s, label_of(i), NULL), TN_OK);
  }
}

static uint16_t label_mod10(uint32_t i) { return (uint16_t)(i % 10u); }

/* 90% class 0, 5% each class 1 and 2. */
static uint16_t label_skewed(uint32_t i) {
  const uint32_t k = (i * 7919u) % 20u;
  return (uint16_t)(k < 18u ? 0u : k - 17u);
}

TN_TEST(reservoir_and_class_balanced_policies) {
  tn_rng rng;
  tn_rng_seed(&rng, 43, 2);
  tn_replay r;
  tn_replay_config c = {100, 2, 8, 10, TN_REPLAY_RESERVOIR, 1.0f, 0};
  TN_REQUIRE(tn_replay_init(&r, &c, g_storage, sizeof(g_storage), &rng) ==
             TN_OK);
  offer_stream(&r, 1000, label_mod10);
  TN_CHECK_EQ(r.count, 100);
  TN_CHECK_EQ(r.seen, 1000);
  /* The kept indices are a uniform sample of 0..999. */
  uint32_t sum = 0, early = 0, late = 0;
  uint16_t idx[100];
  for (uint32_t s = 0; s < 100; ++s) {
    float v[2];
    TN_REQUIRE(tn_replay_get(&r, s, v, NULL) == TN_OK);
    const uint32_t i = (uint32_t)v[0] * 256u + (uint32_t)v[1];
    idx[s] = (uint16_t)i;
    sum += i;
    early += i < 500u;
    late += i >= 500u;
  }
  printf("  reservoir: mean kept index %u (uniform: 499.5)\n",
         (unsigned)(sum / 100u));
  TN_CHECK(sum / 100u > 400u && sum / 100u < 600u);
  TN_CHECK(early >= 30u && late >= 30u);
  tn_test_digest("reservoir.kept", idx, sizeof(idx));

  /* Skewed stream: reservoir keeps the skew, class-balanced evens it out. */
  uint32_t counts[2][3];
  for (int policy = 0; policy < 2; ++policy) {
    c = (tn_replay_config){60, 2, 8, 3, (uint8_t)policy, 1.0f, 0};
    TN_REQUIRE(tn_replay_init(&r, &c, g_storage, sizeof(g_storage), &rng) ==
               TN_OK);
    offer_stream(&r, 1000, label_skewed);
    uint32_t total = 0;
    for (int k = 0; k < 3; ++k) {
      counts[policy][k] = r.class_count[k];
      total += r.class_count[k];
    }
    TN_CHECK_EQ(total, 60);
    /* Counters agree with the stored labels. */
    uint32_t recount[3] = {0, 0, 0};
    for (uint32_t s = 0; s < r.count; ++s) ++recount[r.labels[s]];
    TN_CHECK(memcmp(recount, counts[policy], sizeof(recount)) == 0);
  }
  printf(
      "  skewed stream 90/5/5%%: reservoir keeps %u/%u/%u, "
      "class-balanced %u/%u/%u\n",
      (unsigned)counts[0][0], (unsigned)counts[0][1], (unsigned)counts[0][2],
      (unsigned)counts[1][0], (unsigned)counts[1][1], (unsigned)counts[1][2]);
  TN_CHECK(counts[0][0] >= 45u);
  TN_CHECK(counts[1][0] <= 25u && counts[1][1] >= 17u && counts[1][2] >= 17u);
  tn_test_digest("policies.counts", counts, sizeof(counts));
}

TN_TEST(compose_mixes_new_and_distinct_replays) {
  tn_rng rng;
  tn_rng_seed(&rng, 44, 2);
  tn_replay r;
  const tn_replay_config c = {50, 2, 8, 10, TN_REPLAY_RESERVOIR, 1.0f, 0};
  TN_REQUIRE(tn_replay_init(&r, &c, g_storage, sizeof(g_storage), &rng) ==
             TN_OK);
  offer_stream(&r, 50, label_mod10);
  TN_CHECK_EQ(tn_replay_batch_split(&r, 16, 1, 4), 4);
  TN_CHECK_EQ(tn_replay_batch_split(&r, 16, 1, 2), 8);
  TN_CHECK_EQ(tn_replay_batch_split(&r, 200, 1, 2), 50); /* capped */
  TN_CHECK_EQ(tn_replay_batch_split(&r, 16, 1, 0), 0);
  uint64_t h = TN_TEST_FNV_SEED;
  for (int trial = 0; trial < 20; ++trial) {
    tn_batch_entry e[40];
    uint32_t n;
    TN_REQUIRE(tn_replay_compose(&r, 100, 10, 30, e, &n) == TN_OK);
    TN_CHECK_EQ(n, 40);
    uint8_t seen_new[10] = {0}, seen_rep[50] = {0};
    int dup = 0, bad = 0;
    for (uint32_t i = 0; i < n; ++i) {
      if (e[i].from_replay) {
        if (e[i].index >= 50u) {
          ++bad;
          continue;
        }
        dup += seen_rep[e[i].index]++ != 0;
      } else {
        if (e[i].index < 100u || e[i].index >= 110u) {
          ++bad;
          continue;
        }
        dup += seen_new[e[i].index - 100u]++ != 0;
      }
    }
    TN_CHECK_EQ(dup, 0);
    TN_CHECK_EQ(bad, 0);
    for (int i = 0; i < 10; ++i) TN_CHECK_EQ(seen_new[i], 1);
    for (uint32_t i = 0; i < n; ++i) { /* fields only: skip padding */
      const uint32_t v = e[i].index * 2u + e[i].from_replay;
      h = tn_test_fnv1a(h, &v, sizeof(v));
    }
  }
  tn_test_digest("compose.batches", &h, sizeof(h));
}

/* -------------------------------------------------- forgetting study -- */

enum { kDim = 8, kClasses = 4, kPerTask = 200, kTestPerTask = 100 };

static float g_centres[kClasses][kDim];

/* Latent features of class c: its centre plus noise. */
static void make_latent(tn_rng* rng, uint32_t c, float* x) {
  for (uint32_t d = 0; d < kDim; ++d) {
    const float u = tn_rng_unit_f32(rng) + tn_rng_unit_f32(rng) - 1.0f;
    x[d] = g_centres[c][d] + 0.6f * u;
  }
}

static float g_params[512], g_grads[512], g_mom[512], g_acts[64], g_scratch[64];

static void init_tail(tn_tail* t, tn_rng* rng) {
  tn_tail_layer ls[3];
  memset(ls, 0, sizeof(ls));
  ls[0].op = TN_TAIL_FC;
  ls[0].out_c = 16;
  ls[1].op = TN_TAIL_RELU;
  ls[2].op = TN_TAIL_FC;
  ls[2].out_c = kClasses;
  const tn_train_shape in = {1, 1, kDim};
  tn_tail_buffers b = {g_params,
                       g_grads,
                       g_mom,
                       g_acts,
                       g_scratch,
                       {sizeof(g_params), sizeof(g_grads), sizeof(g_mom),
                        sizeof(g_acts), sizeof(g_scratch)}};
  if (tn_tail_init(t, ls, 3, in) != TN_OK || tn_tail_bind(t, &b) != TN_OK) {
    TN_CHECK(0);
    return;
  }
  memset(g_params, 0, sizeof(g_params));
  memset(g_mom, 0, sizeof(g_mom));
  fill_uniform(rng, g_params, 8 * 16, -0.5f, 0.5f);
  fill_uniform(rng, g_params + 8 * 16 + 16, 16 * kClasses, -0.5f, 0.5f);
}

static const tn_sgd_params kSgd = {0.05f, 0.9f, 0.0f, 0.0f, 1.0f / 8.0f};

/* Percent of test samples of classes [c0, c0 + 2) classified correctly. */
static uint32_t task_accuracy(tn_tail* t, const float* x, const uint32_t* y) {
  uint32_t ok = 0;
  for (uint32_t i = 0; i < 2 * kTestPerTask; ++i) {
    uint32_t p;
    if (tn_tail_predict(t, x + i * kDim, &p) == TN_OK && p == y[i]) ++ok;
  }
  return ok * 100u / (2 * kTestPerTask);
}

static void make_task(tn_rng* rng, uint32_t c0, float* x, uint32_t* y,
                      uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    y[i] = c0 + (i & 1u);
    make_latent(rng, y[i], x + i * kDim);
  }
}

/* Trains on task A, then on task B with `replay_bits` (0: no replay) and
 * returns task A's test accuracy afterwards. */
static uint32_t forgetting_run(uint8_t replay_bits, uint32_t* acc_b,
                               uint32_t* acc_a_before, float* final_params) {
  static float xa[2 * kPerTask * kDim], xb[2 * kPerTask * kDim];
  static float ta[2 * kTestPerTask * kDim], tb[2 * kTestPerTask * kDim];
  static uint32_t ya[2 * kPerTask], yb[2 * kPerTask];
  static uint32_t tya[2 * kTestPerTask], tyb[2 * kTestPerTask];
  tn_rng rng;
  tn_rng_seed(&rng, 45, 2); /* the same data and init in every run */
  fill_uniform(&rng, &g_centres[0][0], kClasses * kDim, -1.0f, 1.0f);
  make_task(&rng, 0, xa, ya, 2 * kPerTask);
  make_task(&rng, 2, xb, yb, 2 * kPerTask);
  make_task(&rng, 0, ta, tya, 2 * kTestPerTask);
  make_task(&rng, 2, tb, tyb, 2 * kTestPerTask);
  tn_tail t;
  init_tail(&t, &rng);

  /* Task A: 3 epochs of mini-batches of 8; every sample is also offered to
   * the replay buffer on the first pass. */
  tn_rng replay_rng;
  tn_rng_seed(&replay_rng, 46, 2);
  tn_replay r;
  float scale;
  int32_t zp;
  const uint8_t bits = replay_bits ? replay_bits : 8;
  TN_CHECK_STATUS(tn_replay_calibrate(-2.0f, 2.0f, bits, &scale, &zp), TN_OK);
  const tn_replay_config rc = {64,    kDim, bits, kClasses, TN_REPLAY_RESERVOIR,
                               scale, zp};
  TN_CHECK_STATUS(
      tn_replay_init(&r, &rc, g_storage, sizeof(g_storage), &replay_rng),
      TN_OK);
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (uint32_t s = 0; s < 2 * kPerTask; s += 8) {
      TN_CHECK_STATUS(tn_tail_zero_grad(&t), TN_OK);
      for (uint32_t k = 0; k < 8; ++k) {
        const float* x = xa + (s + k) * kDim;
        TN_CHECK_STATUS(tn_tail_train_sample(&t, x, ya[s + k], NULL), TN_OK);
        if (epoch == 0 && replay_bits) {
          TN_CHECK_STATUS(tn_replay_insert(&r, x, (uint16_t)ya[s + k], NULL),
                          TN_OK);
        }
      }
      TN_CHECK_STATUS(tn_tail_step(&t, &kSgd, NULL), TN_OK);
    }
  }
  *acc_a_before = task_accuracy(&t, ta, tya);

  /* Task B: batches of 8 new samples, plus 8 replays when enabled. */
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (uint32_t s = 0; s < 2 * kPerTask; s += 8) {
      tn_batch_entry e[16];
      uint32_t n = 8;
      const uint32_t replays = replay_bits ? 8 : 0;
      TN_CHECK_STATUS(tn_replay_compose(&r, s, 8, replays, e, &n), TN_OK);
      TN_CHECK_STATUS(tn_tail_zero_grad(&t), TN_OK);
      for (uint32_t k = 0; k < n; ++k) {
        float latent[kDim];
        const float* x;
        uint32_t y;
        if (e[k].from_replay) {
          uint16_t l16;
          TN_CHECK_STATUS(tn_replay_get(&r, e[k].index, latent, &l16), TN_OK);
          x = latent;
          y = l16;
        } else {
          x = xb + e[k].index * kDim;
          y = yb[e[k].index];
        }
        TN_CHECK_STATUS(tn_tail_train_sample(&t, x, y, NULL), TN_OK);
      }
      tn_sgd_params p = kSgd;
      p.grad_scale = 1.0f / (float)n;
      TN_CHECK_STATUS(tn_tail_step(&t, &p, NULL), TN_OK);
    }
  }
  *acc_b = task_accuracy(&t, tb, tyb);
  memcpy(final_params, g_params, sizeof(float) * (8 * 16 + 16 + 16 * 4 + 4));
  return task_accuracy(&t, ta, tya);
}

TN_TEST(latent_replay_reduces_forgetting) {
  static float params[3][212];
  uint32_t acc_b[3], before[3], after[3];
  const uint8_t modes[3] = {0, 8, 7};
  for (int m = 0; m < 3; ++m) {
    after[m] = forgetting_run(modes[m], &acc_b[m], &before[m], params[m]);
    printf("  replay %s: task A %u%% after A, %u%% after B; task B %u%%\n",
           modes[m] == 0 ? "off  " : (modes[m] == 8 ? "8-bit" : "7-bit"),
           (unsigned)before[m], (unsigned)after[m], (unsigned)acc_b[m]);
  }
  for (int m = 0; m < 3; ++m) {
    TN_CHECK(before[m] >= 90u); /* task A was learnt */
    TN_CHECK(acc_b[m] >= 90u);  /* task B is learnt */
  }
  /* Without replay task A is forgotten; with replay it is kept. */
  TN_CHECK(after[0] <= 60u);
  TN_CHECK(after[1] >= after[0] + 30u);
  TN_CHECK(after[2] >= after[0] + 30u);
  TN_CHECK(after[1] >= 85u && after[2] >= 85u);
  tn_test_digest("forgetting.accuracy", after, sizeof(after));
  tn_test_digest("forgetting.params", params, sizeof(params));
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(seven_bit_layout_and_round_trip),
      TN_CASE(sizes_and_init_errors),
      TN_CASE(reservoir_and_class_balanced_policies),
      TN_CASE(compose_mixes_new_and_distinct_replays),
      TN_CASE(latent_replay_reduces_forgetting),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
