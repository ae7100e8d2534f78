/*
 * Instruction counts of the training room on rv32 (run under QEMU with
 * -icount shift=0, i.e. device/port/rv32/run-qemu.sh, so the minstret CSR
 * counts exactly the retired instructions): one training step of the
 * DS-CNN-S-like tail (pointwise 64->64 + ReLU + global average pool +
 * FC 64->12 on a 25x5x64 latent), its operators (reference and `_fast`),
 * the deterministic math functions, the replay buffer and the prototype
 * classifier; then the memory each structure needs. Prints one line per
 * figure: "icount <name> <instructions> [<instructions per unit> x100]".
 */
#include <stdio.h>
#include <string.h>

#include "base/tn_math.h"
#include "base/tn_rng.h"
#include "train/tn_train.h"

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

/* Prints total instructions and instructions per unit (x100). */
static void report(const char* name, uint64_t n, uint64_t units) {
  unsigned long long per100 = units ? (n * 100u + units / 2u) / units : 0u;
  printf("icount %-34s %12llu  %8llu.%02llu per unit (%llu units)\n", name,
         (unsigned long long)n, per100 / 100u, per100 % 100u,
         (unsigned long long)units);
}

#define H 25
#define W 5
#define C 64
#define CLASSES 12
#define LATENT (H * W * C)

static float g_x[LATENT], g_y[LATENT], g_gi[LATENT], g_g[LATENT];
static float g_w[C * C], g_gw[C * C], g_b[C], g_gb[C];
static float g_params[C * C + C + C * CLASSES + CLASSES];
static float g_grads[C * C + C + C * CLASSES + CLASSES];
static float g_mom[C * C + C + C * CLASSES + CLASSES];
static float g_acts[LATENT + C + CLASSES];
static float g_scratch[2 * LATENT];
static uint8_t g_replay[64 * LATENT + 4096] __attribute__((aligned(4)));
static float g_protos[CLASSES * C + 2 * CLASSES];

static void fill(tn_rng* rng, float* v, uint32_t n, float amp) {
  for (uint32_t i = 0; i < n; ++i) {
    v[i] = amp * (2.0f * tn_rng_unit_f32(rng) - 1.0f);
  }
}

static int tail_figures(tn_rng* rng) {
  tn_tail_layer ls[4];
  memset(ls, 0, sizeof(ls));
  ls[0].op = TN_TAIL_POINTWISE;
  ls[0].out_c = C;
  ls[1].op = TN_TAIL_RELU;
  ls[2].op = TN_TAIL_GLOBAL_AVGPOOL;
  ls[3].op = TN_TAIL_FC;
  ls[3].out_c = CLASSES;
  const tn_train_shape in = {H, W, C};
  tn_tail t;
  if (tn_tail_init(&t, ls, 4, in) != TN_OK) return 1;
  tn_tail_sizes s;
  tn_tail_buffer_sizes(&t, &s);
  tn_tail_buffers b = {g_params,
                       g_grads,
                       g_mom,
                       g_acts,
                       g_scratch,
                       {sizeof(g_params), sizeof(g_grads), sizeof(g_mom),
                        sizeof(g_acts), sizeof(g_scratch)}};
  if (tn_tail_bind(&t, &b) != TN_OK) return 1;
  fill(rng, g_params, (uint32_t)(s.params / 4), 0.15f);
  fill(rng, g_x, LATENT, 1.0f);
  for (uint32_t i = 0; i < LATENT; ++i) g_x[i] = g_x[i] < 0 ? -g_x[i] : g_x[i];
  const uint64_t macs = 2ull * LATENT * C + 3ull * C * CLASSES;

  uint64_t t0 = instret();
  const float* out;
  tn_tail_forward(&t, g_x, &out);
  uint64_t t1 = instret();
  report("tail.forward", t1 - t0, (uint64_t)LATENT * C + C * CLASSES);

  tn_tail_zero_grad(&t);
  float loss;
  t0 = instret();
  tn_status st = tn_tail_train_sample(&t, g_x, 3, &loss);
  t1 = instret();
  if (st != TN_OK) return 1;
  report("tail.train_sample(fwd+bwd)", t1 - t0, macs);

  const tn_sgd_params p = {0.01f, 0.9f, 1e-4f, 0.0f, 1.0f / 8.0f};
  t0 = instret();
  st = tn_tail_step(&t, &p, NULL);
  t1 = instret();
  if (st != TN_OK) return 1;
  report("tail.sgd_step(momentum,wd)", t1 - t0, s.params / 4);

  printf(
      "memory tail params %lu, grads %lu, momentum %lu, activations %lu, "
      "scratch %lu bytes; struct tn_tail %lu bytes\n",
      (unsigned long)s.params, (unsigned long)s.grads,
      (unsigned long)s.momentum, (unsigned long)s.activations,
      (unsigned long)s.scratch, (unsigned long)sizeof(tn_tail));
  return 0;
}

static void operator_figures(tn_rng* rng) {
  const tn_train_pointwise p = {{H, W, C}, C};
  fill(rng, g_x, LATENT, 1.0f);
  fill(rng, g_w, C * C, 0.2f);
  fill(rng, g_b, C, 0.1f);
  fill(rng, g_g, LATENT, 0.1f);
  const uint64_t macs = (uint64_t)LATENT * C;
  uint64_t t0 = instret();
  tn_pointwise_forward_f32(&p, g_x, g_w, g_b, g_y);
  uint64_t t1 = instret();
  report("pointwise_forward_f32", t1 - t0, macs);
  t0 = instret();
  tn_pointwise_forward_f32_fast(&p, g_x, g_w, g_b, g_y);
  t1 = instret();
  report("pointwise_forward_f32_fast", t1 - t0, macs);
  t0 = instret();
  tn_pointwise_backward_f32(&p, g_x, g_w, g_g, g_gi, g_gw, g_gb);
  t1 = instret();
  report("pointwise_backward_f32", t1 - t0, 2 * macs);
  t0 = instret();
  tn_pointwise_backward_f32_fast(&p, g_x, g_w, g_g, g_gi, g_gw, g_gb);
  t1 = instret();
  report("pointwise_backward_f32_fast", t1 - t0, 2 * macs);
  const tn_train_fc fc = {C, CLASSES};
  t0 = instret();
  tn_fc_forward_f32(&fc, g_x, g_w, g_b, g_y);
  t1 = instret();
  report("fc_forward_f32(64->12)", t1 - t0, C * CLASSES);
  t0 = instret();
  tn_fc_forward_f32_fast(&fc, g_x, g_w, g_b, g_y);
  t1 = instret();
  report("fc_forward_f32_fast(64->12)", t1 - t0, C * CLASSES);
}

static void math_figures(void) {
  static float xs[256];
  for (int i = 0; i < 256; ++i) xs[i] = -8.0f + (float)i * 0.0625f;
  volatile float sink = 0.0f;
  struct {
    const char* name;
    float (*fn)(float);
    float offset;
  } fns[] = {{"tn_expf", tn_expf, 0.0f},        {"tn_logf", tn_logf, 8.5f},
             {"tn_sinf", tn_sinf, 0.0f},        {"tn_cosf", tn_cosf, 0.0f},
             {"tn_tanhf", tn_tanhf, 0.0f},      {"tn_sqrtf", tn_sqrtf, 8.5f},
             {"tn_sigmoidf", tn_sigmoidf, 0.0f}};
  for (size_t f = 0; f < sizeof(fns) / sizeof(fns[0]); ++f) {
    uint64_t t0 = instret();
    for (int i = 0; i < 256; ++i) sink += fns[f].fn(xs[i] + fns[f].offset);
    uint64_t t1 = instret();
    report(fns[f].name, t1 - t0, 256);
  }
  (void)sink;
}

static int replay_figures(tn_rng* rng) {
  fill(rng, g_x, LATENT, 2.0f);
  for (uint8_t bits = 8; bits >= 7; --bits) {
    float scale;
    int32_t zp;
    tn_replay_calibrate(-2.0f, 2.0f, bits, &scale, &zp);
    const tn_replay_config c = {
        64, LATENT, bits, CLASSES, TN_REPLAY_RESERVOIR, scale, zp};
    tn_replay r;
    if (tn_replay_init(&r, &c, g_replay, sizeof(g_replay), rng) != TN_OK) {
      return 1;
    }
    uint64_t t0 = instret();
    tn_replay_insert(&r, g_x, 1, NULL);
    uint64_t t1 = instret();
    report(bits == 8 ? "replay_insert(8-bit)" : "replay_insert(7-bit)", t1 - t0,
           LATENT);
    uint16_t label;
    t0 = instret();
    tn_replay_get(&r, 0, g_y, &label);
    t1 = instret();
    report(bits == 8 ? "replay_get(8-bit)" : "replay_get(7-bit)", t1 - t0,
           LATENT);
    const tn_replay_config big = {
        3000, LATENT, bits, CLASSES, TN_REPLAY_RESERVOIR, scale, zp};
    printf(
        "memory replay 3000 x 25x5x64 at %u bits: %lu bytes "
        "(float32: %lu bytes)\n",
        (unsigned)bits, (unsigned long)tn_replay_buffer_size(&big),
        (unsigned long)(3000ul * (4ul * LATENT + 2ul)));
  }
  printf("memory struct tn_replay %lu bytes\n",
         (unsigned long)sizeof(tn_replay));
  return 0;
}

static int protos_figures(tn_rng* rng) {
  tn_protos p;
  if (tn_protos_init(&p, CLASSES, C, g_protos, sizeof(g_protos)) != TN_OK) {
    return 1;
  }
  float e[C];
  for (uint32_t c = 0; c < CLASSES; ++c) {
    fill(rng, e, C, 1.0f);
    tn_protos_add_example(&p, c, e);
  }
  fill(rng, e, C, 1.0f);
  uint32_t label;
  float score;
  uint64_t t0 = instret();
  tn_protos_add_example(&p, 0, e);
  uint64_t t1 = instret();
  report("protos_add_example(64)", t1 - t0, 1);
  t0 = instret();
  tn_protos_classify(&p, e, &label, &score);
  t1 = instret();
  report("protos_classify(12x64)", t1 - t0, 1);
  printf("memory protos 12 x 64: %lu bytes; struct tn_protos %lu bytes\n",
         (unsigned long)tn_protos_memory(&p), (unsigned long)sizeof(tn_protos));
  return 0;
}

int main(void) {
  tn_rng rng;
  tn_rng_seed(&rng, 2024, 1);
  int rc = tail_figures(&rng);
  operator_figures(&rng);
  math_figures();
  rc |= replay_figures(&rng);
  rc |= protos_figures(&rng);
  fflush(stdout);
  return rc;
}
