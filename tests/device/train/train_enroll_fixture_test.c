/*
 * Few-shot enrolment and self-learning on real data: the keyword-spotting
 * DS-CNN fixture compiled with a two-layer trainable tail, run by the node
 * runtime on held-out user 1's recordings (tests/fixtures/kws). Host only:
 * it reads the compiled blob and the feature files named on the command
 * line (blob, users file, calibration file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsp/tn_dsp.h"
#include "runtime/tn_runtime.h"
#include "tn_test.h"
#include "train/tn_train.h"

enum {
  kClasses = 12,
  kUnknown = 1,
  kFirstWord = 2,
  kUser = 1,
  kShots = 5,
  kMaxLatent = 8000,
  kMaxSamples = 160,
  kEmbed = 64
};

static const char* g_paths[3];

static uint8_t* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  const long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t* buf = n > 0 ? (uint8_t*)malloc((size_t)n) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

/* Host-side test state (the firmware code under test allocates nothing). */
static tn_model g_model;
static tn_tail g_tail;
static float g_latent[kMaxSamples][kMaxLatent];
static uint32_t g_label[kMaxSamples], g_ord[kMaxSamples];
static uint32_t g_count;
static float g_neg[64][kEmbed];
static uint32_t g_neg_count;

/* Latents of the records of `file` accepted by (user, label filter). */
static uint32_t extract(const uint8_t* file, size_t size, uint32_t user,
                        int unknown_only, float (*out)[kMaxLatent],
                        uint32_t* labels, uint32_t* ords, uint32_t cap) {
  tn_fset_view v;
  if (tn_fset_open(file, size, &v) != TN_OK) return 0;
  tn_tensor_view in;
  if (tn_model_input(&g_model, &in) != TN_OK) return 0;
  uint32_t n = 0, seen[kClasses] = {0};
  for (uint32_t i = 0; i < v.info.sample_count && n < cap; ++i) {
    tn_fset_record r;
    if (tn_fset_get(&v, i, &r) != TN_OK || r.label >= kClasses) return 0;
    if (r.user != user || (unknown_only && r.label != kUnknown)) continue;
    memcpy(in.data, r.features, in.bytes);
    if (tn_model_run_front(&g_model) != TN_OK) return 0;
    if (tn_model_cut_f32(&g_model, out[n], kMaxLatent) != TN_OK) return 0;
    labels[n] = r.label;
    ords[n] = seen[r.label]++;
    ++n;
  }
  return n;
}

TN_TEST(enrol_user_and_self_learn_on_fixture) {
  static uint8_t arena_storage[4u << 20] __attribute__((aligned(8)));
  size_t blob_size = 0, users_size = 0, calib_size = 0;
  uint8_t* blob = read_file(g_paths[0], &blob_size);
  uint8_t* users = read_file(g_paths[1], &users_size);
  uint8_t* calib = read_file(g_paths[2], &calib_size);
  TN_REQUIRE(blob && users && calib);
  tn_blob b;
  TN_REQUIRE(tn_blob_parse(blob, blob_size, NULL, &b) == TN_OK);
  size_t arena = 0;
  TN_REQUIRE(tn_model_arena_size(&b, NULL, &arena) == TN_OK);
  TN_REQUIRE(arena <= sizeof(arena_storage));
  TN_REQUIRE(tn_model_init(&g_model, &b, arena_storage, sizeof(arena_storage),
                           NULL) == TN_OK);
  tn_tail_layer layers[TN_TAIL_MAX_LAYERS];
  uint32_t nl = 0, pc = 0;
  tn_train_shape in;
  float* params = NULL;
  TN_REQUIRE(tn_model_tail_spec(&g_model, layers, TN_TAIL_MAX_LAYERS, &nl, &in,
                                &params, &pc) == TN_OK);
  TN_REQUIRE(tn_train_shape_count(in) == kMaxLatent && nl >= 2);
  TN_REQUIRE(tn_tail_init(&g_tail, layers, nl, in) == TN_OK);
  tn_tail_sizes s;
  TN_REQUIRE(tn_tail_buffer_sizes(&g_tail, &s) == TN_OK);
  static float grads[8192], acts[16384], scratch[32768];
  TN_REQUIRE(s.grads <= sizeof(grads) && s.activations <= sizeof(acts) &&
             s.scratch <= sizeof(scratch));
  tn_tail_buffers tb = {params, grads, NULL, acts, scratch, s};
  tb.sizes.momentum = 0;
  TN_REQUIRE(tn_tail_bind(&g_tail, &tb) == TN_OK);
  const uint32_t embed_layer = nl - 2u; /* pooled features */
  TN_REQUIRE(tn_train_shape_count(g_tail.shapes[embed_layer + 1u]) == kEmbed);

  /* User 1's keywords: ordinals 0-4 enrolled, 5-9 queried. */
  g_count = extract(users, users_size, kUser, 0, g_latent, g_label, g_ord,
                    kMaxSamples);
  TN_REQUIRE(g_count == 120);
  static float proto_storage[kClasses * (kEmbed + 2)];
  tn_protos p;
  TN_REQUIRE(tn_protos_init(&p, kClasses, kEmbed, proto_storage,
                            sizeof(proto_storage)) == TN_OK);
  static float shots[kShots * 10][kEmbed];
  uint32_t shot_label[kShots * 10], n_shots = 0;
  float e[kEmbed];
  for (uint32_t i = 0; i < g_count; ++i) {
    if (g_label[i] < kFirstWord || g_ord[i] >= kShots) continue;
    TN_REQUIRE(tn_tail_embed(&g_tail, g_latent[i], embed_layer, e, kEmbed,
                             NULL) == TN_OK);
    TN_REQUIRE(tn_protos_add_example(&p, g_label[i], e) == TN_OK);
    memcpy(shots[n_shots], e, sizeof(e));
    shot_label[n_shots++] = g_label[i];
  }
  TN_CHECK_EQ(n_shots, kShots * 10);

  /* Negatives the node holds: unknown words of the calibration voices. */
  static float neg_latent[32][kMaxLatent];
  uint32_t neg_label[32], neg_ord[32];
  g_neg_count =
      extract(calib, calib_size, 0, 1, neg_latent, neg_label, neg_ord, 32);
  TN_REQUIRE(g_neg_count >= 20);
  for (uint32_t i = 0; i < g_neg_count; ++i) {
    TN_REQUIRE(tn_tail_embed(&g_tail, neg_latent[i], embed_layer, g_neg[i],
                             kEmbed, NULL) == TN_OK);
  }
  float cal_scratch[64 + kShots * 10];
  tn_enroll_report rep;
  TN_CHECK_STATUS(tn_enroll_calibrate(&p, &shots[0][0], shot_label, n_shots,
                                      &g_neg[0][0], g_neg_count, 0.05f,
                                      cal_scratch, 64 + kShots * 10, &rep),
                  TN_OK);
  TN_CHECK(rep.far <= 0.05f && rep.n_pos == n_shots);

  uint32_t queries = 0, correct = 0, unknown_rejected = 0, unknowns = 0;
  for (uint32_t i = 0; i < g_count; ++i) {
    uint32_t l;
    TN_REQUIRE(tn_tail_embed(&g_tail, g_latent[i], embed_layer, e, kEmbed,
                             NULL) == TN_OK);
    TN_REQUIRE(tn_protos_classify(&p, e, &l, NULL) == TN_OK);
    if (g_label[i] == kUnknown) {
      ++unknowns;
      unknown_rejected += l == TN_PROTOS_UNKNOWN;
    } else if (g_label[i] >= kFirstWord && g_ord[i] >= kShots) {
      ++queries;
      correct += l == g_label[i];
    }
  }
  /* Self-learning: pseudo-labels for the user's query recordings. */
  static uint32_t pseudo[kMaxSamples];
  uint32_t accepted = 0, right = 0;
  TN_CHECK_STATUS(
      tn_selflearn_label(&g_tail, &p, embed_layer, 0.8f, 0.05f, &g_latent[0][0],
                         g_count, pseudo, &accepted, e, kEmbed),
      TN_OK);
  for (uint32_t i = 0; i < g_count; ++i) {
    right += pseudo[i] != TN_PROTOS_UNKNOWN && pseudo[i] == g_label[i];
  }
  printf(
      "  user %d, %d-shot: threshold %.4f (TAR estimate %.2f), %u/%u "
      "keyword queries right and accepted, %u/%u own unknown words "
      "rejected; pseudo-labels %u/%u accepted, %u right\n",
      kUser, kShots, (double)rep.threshold, (double)rep.tar, (unsigned)correct,
      (unsigned)queries, (unsigned)unknown_rejected, (unsigned)unknowns,
      (unsigned)accepted, (unsigned)g_count, (unsigned)right);
  TN_CHECK_EQ(queries, 50);
  TN_CHECK(correct >= 40);         /* >= 80 % at the node's threshold */
  TN_CHECK(unknown_rejected >= 4); /* the user's own unknown words */
  TN_CHECK(accepted >= 40);
  TN_CHECK(right * 100u >= accepted * 95u); /* pseudo-label precision */
  free(blob);
  free(users);
  free(calib);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s BLOB USERS.tnfs CALIB.tnfs\n", argv[0]);
    return 2;
  }
  g_paths[0] = argv[1];
  g_paths[1] = argv[2];
  g_paths[2] = argv[3];
  static const tn_test_case cases[] = {
      TN_CASE(enrol_user_and_self_learn_on_fixture),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
