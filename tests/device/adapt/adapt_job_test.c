/*
 * Tests of the node's training job on a real shard: one user of the
 * keyword-spotting users set (tests/fixtures/kws/kws_users.tnfs, argv[1])
 * on the DS-CNN-S keyword model compiled with an FP32 trainable tail
 * (argv[2], written by adapt_blob_writer).
 * Training lowers the held-out loss; the update decodes, is bound to the
 * round, the frozen part and the start tail, and applies to the trained
 * tail within its quantization error; the same seed gives the same bytes
 * (also when stepped in small slices), another seed other bytes; latent
 * replay and sparse updates run; a wrong frozen part, tail hash or size is
 * refused. Few-shot enrolment builds prototypes of the keywords from k
 * shots each, calibrates the open-set threshold on the node's negatives
 * and answers with an update without coordinates; self-learning
 * pseudo-labels the rest of the train split and fine-tunes the tail; both
 * refuse a node without k labelled examples per class.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/tn_adapt.h"
#include "secure/tn_secure.h"
#include "tn_test.h"

static const char* g_path;
static const char* g_blob_path;
static uint8_t* g_file;
static size_t g_file_size;
static tn_fset_view g_set;
static tn_adapt_shard g_shard;
static uint32_t g_index[512];
static tn_adapt_data g_data;

static uint8_t g_blob[262144];
static size_t g_blob_size;
static tn_blob g_parsed;
static uint8_t g_frozen[32];
static _Alignas(8) uint8_t g_arena[1u << 20];
static tn_model g_model;
static float g_start[4096];
static uint32_t g_param_count;
static uint8_t g_tntl[32768];
static size_t g_tntl_size;

static _Alignas(8) uint8_t g_ws[1u << 20];
static float g_residual[4096];
static tn_adapt_job g_job;
static uint8_t g_saved[32768];
static size_t g_saved_size;

static int load_blob(void) {
  FILE* f = fopen(g_blob_path, "rb");
  if (f == NULL) return 0;
  g_blob_size = fread(g_blob, 1, sizeof(g_blob), f);
  fclose(f);
  return g_blob_size > 0 && g_blob_size < sizeof(g_blob);
}

static int load_all(void) {
  FILE* f = fopen(g_path, "rb");
  if (f == NULL) return 0;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  g_file = (uint8_t*)malloc((size_t)n);
  g_file_size = fread(g_file, 1, (size_t)n, f);
  fclose(f);
  if (tn_fset_open(g_file, g_file_size, &g_set) != TN_OK) return 0;
  if (tn_adapt_shard_init(&g_shard, &g_set, 3, 4, g_index, 512) != TN_OK) {
    return 0;
  }
  g_data = tn_adapt_shard_data(&g_shard);

  if (!load_blob()) return 0;
  if (tn_blob_parse(g_blob, g_blob_size, NULL, &g_parsed) != TN_OK) return 0;
  if (tn_blob_frozen_sha256(&g_parsed, g_frozen) != TN_OK) return 0;
  size_t need = 0;
  if (tn_model_arena_size(&g_parsed, NULL, &need) != TN_OK ||
      need > sizeof(g_arena)) {
    return 0;
  }
  if (tn_model_init(&g_model, &g_parsed, g_arena, sizeof(g_arena), NULL) !=
      TN_OK) {
    return 0;
  }
  tn_tail_layer layers[TN_TAIL_MAX_LAYERS];
  uint32_t count;
  tn_train_shape in;
  float* params;
  if (tn_model_tail_spec(&g_model, layers, TN_TAIL_MAX_LAYERS, &count, &in,
                         &params, &g_param_count) != TN_OK ||
      g_param_count > 4096) {
    return 0;
  }
  memcpy(g_start, params, g_param_count * sizeof(float));
  return tn_tntl_encode(g_frozen, g_start, g_param_count, g_tntl,
                        sizeof(g_tntl), &g_tntl_size) == TN_OK;
}

static tn_link_train_params base_params(void) {
  tn_link_train_params p;
  memset(&p, 0, sizeof(p));
  p.kind = TN_LINK_TRAIN_FEDERATED;
  tn_round_binding("round-7", 7, p.round_binding);
  memcpy(p.frozen_sha256, g_frozen, 32);
  tn_sha256(g_tntl, g_tntl_size, p.tail_sha256);
  p.tail_size = (uint32_t)g_tntl_size;
  p.seed = 1234;
  p.attempt = 1;
  p.local_epochs = 4;
  p.batch_size = 8;
  p.learning_rate = 0.001f;
  p.momentum = 0.9f;
  p.weight_decay = 1e-4f;
  return p;
}

static tn_status start(const tn_link_train_params* p) {
  return tn_adapt_job_start(&g_job, &g_model, g_frozen, &g_data, p, g_tntl,
                            g_tntl_size, g_ws, sizeof(g_ws));
}

TN_TEST(shard_splits_user_records) {
  TN_CHECK(g_shard.train_count > 0 && g_shard.heldout_count > 0);
  TN_CHECK_EQ(g_shard.heldout_count,
              (g_shard.train_count + g_shard.heldout_count) / 4);
  tn_fset_record r;
  TN_REQUIRE(tn_fset_get(&g_set, g_shard.heldout[0], &r) == TN_OK);
  TN_CHECK_EQ(r.user, 3u);
  TN_CHECK_EQ(r.split, TN_FSET_SPLIT_USERS);
  tn_adapt_shard s;
  TN_CHECK_STATUS(tn_adapt_shard_init(&s, &g_set, 999, 4, g_index, 512),
                  TN_ERR_NOT_FOUND);
  TN_CHECK_STATUS(tn_adapt_shard_init(&s, &g_set, 3, 4, g_index, 10),
                  TN_ERR_BUFFER_TOO_SMALL);
}

TN_TEST(federated_job_lowers_heldout_loss) {
  tn_link_train_params p = base_params();
  size_t need = 0;
  TN_CHECK_STATUS(tn_adapt_job_workspace_size(&g_model, &p, g_data.train_count,
                                              g_data.heldout_count, &need),
                  TN_OK);
  TN_CHECK(need > 0 && need <= sizeof(g_ws));
  TN_REQUIRE(start(&p) == TN_OK);
  TN_CHECK_EQ(tn_adapt_job_phase(&g_job), TN_ADAPT_PHASE_LATENTS);
  TN_CHECK_STATUS(tn_adapt_job_update(&g_job, NULL, NULL, NULL, NULL),
                  TN_ERR_STATE);
  TN_REQUIRE(tn_adapt_job_run(&g_job) == TN_OK);
  TN_CHECK_EQ(tn_adapt_job_phase(&g_job), TN_ADAPT_PHASE_DONE);
  uint32_t done = 0, total = 0;
  tn_adapt_job_progress(&g_job, &done, &total);
  TN_CHECK(done == total && total > 0);
  const uint8_t* bytes;
  size_t size;
  uint8_t sha[32];
  tn_adapt_report rep;
  TN_REQUIRE(tn_adapt_job_update(&g_job, &bytes, &size, sha, &rep) == TN_OK);
  printf("  loss %.4f -> %.4f, accuracy %.3f -> %.3f, %u samples, %zu bytes\n",
         (double)rep.loss_before, (double)rep.loss_after,
         (double)rep.accuracy_before, (double)rep.accuracy_after, rep.samples,
         size);
  TN_CHECK(rep.loss_after < rep.loss_before);
  TN_CHECK_EQ(rep.samples, g_data.train_count);

  tn_tnup u;
  TN_REQUIRE(tn_tnup_decode(bytes, size, &u) == TN_OK);
  TN_CHECK_EQ(u.param_count, g_param_count);
  TN_CHECK(memcmp(u.meta.round_binding, p.round_binding, 32) == 0);
  TN_CHECK(memcmp(u.meta.frozen_sha256, g_frozen, 32) == 0);
  TN_CHECK(memcmp(u.meta.start_sha256, p.tail_sha256, 32) == 0);
  TN_CHECK_EQ(u.meta.attempt, 1u);
  TN_CHECK(u.meta.loss_before == rep.loss_before);
  TN_CHECK_EQ(u.flags, 0u);
  uint8_t digest[32];
  tn_sha256(bytes, size, digest);
  TN_CHECK(memcmp(digest, sha, 32) == 0);

  /* start + delta is the trained tail up to half a quantization step. */
  static float applied[4096];
  TN_REQUIRE(tn_tnup_apply(&u, g_start, g_param_count, applied) == TN_OK);
  tn_tail_layer layers[TN_TAIL_MAX_LAYERS];
  uint32_t count;
  tn_train_shape in;
  float* trained;
  uint32_t n;
  TN_REQUIRE(tn_model_tail_spec(&g_model, layers, TN_TAIL_MAX_LAYERS, &count,
                                &in, &trained, &n) == TN_OK);
  uint32_t base = 0, changed = 0;
  for (uint32_t t = 0; t < u.tensor_count; ++t) {
    tn_tnup_tensor x;
    TN_REQUIRE(tn_tnup_tensor_at(&u, t, &x) == TN_OK);
    for (uint32_t i = 0; i < x.element_count; ++i) {
      float err = applied[base + i] - trained[base + i];
      TN_CHECK(err <= x.scale * 0.5f + 1e-6f && err >= -x.scale * 0.5f - 1e-6f);
      changed += trained[base + i] != g_start[base + i];
    }
    base += x.element_count;
  }
  TN_CHECK(changed > 0);
  memcpy(g_saved, bytes, size);
  g_saved_size = size;
}

TN_TEST(same_seed_same_bytes_in_slices) {
  tn_link_train_params p = base_params();
  TN_REQUIRE(start(&p) == TN_OK);
  int finished = 0;
  uint32_t calls = 0;
  while (!finished && calls < 100000) {
    TN_REQUIRE(tn_adapt_job_step(&g_job, 7, &finished) == TN_OK);
    ++calls;
  }
  TN_CHECK(calls > 10);
  const uint8_t* bytes;
  size_t size;
  TN_REQUIRE(tn_adapt_job_update(&g_job, &bytes, &size, NULL, NULL) == TN_OK);
  TN_CHECK_EQ(size, g_saved_size);
  TN_CHECK(memcmp(bytes, g_saved, size) == 0);

  p.seed = 99;
  TN_REQUIRE(start(&p) == TN_OK);
  TN_REQUIRE(tn_adapt_job_run(&g_job) == TN_OK);
  TN_REQUIRE(tn_adapt_job_update(&g_job, &bytes, &size, NULL, NULL) == TN_OK);
  TN_CHECK(size != g_saved_size || memcmp(bytes, g_saved, size) != 0);
}

TN_TEST(fedprox_and_sparse_updates) {
  tn_adapt_job_init(&g_job, g_residual, 4096);
  tn_link_train_params p = base_params();
  p.prox_mu = 0.5f;
  p.top_k_ratio = 0.1f;
  p.clip_norm = 1.0f;
  TN_REQUIRE(start(&p) == TN_OK);
  TN_REQUIRE(tn_adapt_job_run(&g_job) == TN_OK);
  const uint8_t* bytes;
  size_t size;
  TN_REQUIRE(tn_adapt_job_update(&g_job, &bytes, &size, NULL, NULL) == TN_OK);
  tn_tnup u;
  TN_REQUIRE(tn_tnup_decode(bytes, size, &u) == TN_OK);
  TN_CHECK_EQ(u.flags, TN_TNUP_FLAG_SPARSE);
  TN_CHECK(size < g_saved_size);
  uint32_t carried = 0;
  for (uint32_t i = 0; i < g_param_count; ++i) carried += g_residual[i] != 0;
  TN_CHECK(carried > g_param_count / 2);
  /* Without residual memory a sparse job cannot start. */
  tn_adapt_job_init(&g_job, NULL, 0);
  TN_CHECK_STATUS(start(&p), TN_ERR_BUFFER_TOO_SMALL);
}

TN_TEST(latent_replay_job) {
  tn_adapt_job_init(&g_job, g_residual, 4096);
  tn_link_train_params p = base_params();
  p.kind = TN_LINK_TRAIN_LATENT_REPLAY;
  p.replay_bits = 7;
  p.replay_samples = 24;
  TN_REQUIRE(start(&p) == TN_OK);
  TN_REQUIRE(tn_adapt_job_run(&g_job) == TN_OK);
  TN_CHECK(g_job.replay.count == 24 ||
           g_job.replay.count == g_data.train_count / 2);
  tn_adapt_report rep;
  TN_REQUIRE(tn_adapt_job_update(&g_job, NULL, NULL, NULL, &rep) == TN_OK);
  printf("  replay: loss %.4f -> %.4f\n", (double)rep.loss_before,
         (double)rep.loss_after);
  TN_CHECK(rep.loss_after < rep.loss_before);
}

TN_TEST(start_refuses_mismatches) {
  tn_link_train_params p = base_params();
  uint8_t other[32];
  memcpy(other, g_frozen, 32);
  other[0] ^= 1;
  TN_CHECK_STATUS(tn_adapt_job_start(&g_job, &g_model, other, &g_data, &p,
                                     g_tntl, g_tntl_size, g_ws, sizeof(g_ws)),
                  TN_ERR_FROZEN_MISMATCH);
  /* A TNTL for another frozen part, named correctly by the order. */
  static uint8_t alien[32768];
  size_t alien_size;
  TN_REQUIRE(tn_tntl_encode(other, g_start, g_param_count, alien, sizeof(alien),
                            &alien_size) == TN_OK);
  p.tail_size = (uint32_t)alien_size;
  tn_sha256(alien, alien_size, p.tail_sha256);
  TN_CHECK_STATUS(tn_adapt_job_start(&g_job, &g_model, g_frozen, &g_data, &p,
                                     alien, alien_size, g_ws, sizeof(g_ws)),
                  TN_ERR_FROZEN_MISMATCH);
  /* A tail of another size. */
  TN_REQUIRE(tn_tntl_encode(g_frozen, g_start, g_param_count - 1, alien,
                            sizeof(alien), &alien_size) == TN_OK);
  p.tail_size = (uint32_t)alien_size;
  tn_sha256(alien, alien_size, p.tail_sha256);
  TN_CHECK_STATUS(tn_adapt_job_start(&g_job, &g_model, g_frozen, &g_data, &p,
                                     alien, alien_size, g_ws, sizeof(g_ws)),
                  TN_ERR_UPDATE_BOUNDS);
  /* Bytes that are not the ones the order names. */
  p = base_params();
  p.tail_sha256[5] ^= 1;
  TN_CHECK_STATUS(start(&p), TN_ERR_UPDATE_CHECKSUM);
  p = base_params();
  TN_CHECK_STATUS(tn_adapt_job_start(&g_job, &g_model, g_frozen, &g_data, &p,
                                     g_tntl, g_tntl_size, g_ws, 1024),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_EQ(tn_adapt_job_phase(&g_job), TN_ADAPT_PHASE_IDLE);
  TN_CHECK_STATUS(tn_adapt_job_step(&g_job, 10, NULL), TN_ERR_STATE);
}

static tn_link_train_params few_shot_params(uint32_t shots, float far) {
  tn_link_train_params p = base_params();
  p.kind = TN_LINK_TRAIN_FEW_SHOT;
  p.replay_samples = shots;
  p.target_far = far;
  return p;
}

/* The node's samples (both splits) of `label`, or of the classes in
 * `mask`. */
static uint32_t count_of(uint32_t label, uint64_t mask, int in_mask) {
  uint32_t n = 0;
  const uint32_t all = g_shard.train_count + g_shard.heldout_count;
  for (uint32_t i = 0; i < all; ++i) {
    tn_fset_record r;
    if (tn_fset_get(&g_set, g_shard.train[i], &r) != TN_OK) return 0;
    n += in_mask ? ((mask >> r.label) & 1u) != 0 : r.label == label;
  }
  return n;
}

TN_TEST(shard_marks_negative_classes) {
  /* `_silence_` and `_unknown_` are classes 0 and 1 of the KWS set. */
  TN_CHECK_EQ(g_data.negative_classes, 0x3u);
}

TN_TEST(few_shot_job_enrolls_keywords) {
  tn_adapt_job_init(&g_job, g_residual, 4096);
  tn_link_train_params p = few_shot_params(3, 0.1f);
  size_t need = 0;
  TN_CHECK_STATUS(tn_adapt_job_workspace_size(&g_model, &p, g_data.train_count,
                                              g_data.heldout_count, &need),
                  TN_OK);
  TN_CHECK(need > 0 && need <= sizeof(g_ws));
  TN_CHECK_STATUS(start(&p), TN_OK);
  TN_CHECK_STATUS(tn_adapt_job_protos(&g_job, NULL, NULL), TN_ERR_NULL);
  TN_REQUIRE(tn_adapt_job_run(&g_job) == TN_OK);
  uint32_t done = 0, total = 0;
  tn_adapt_job_progress(&g_job, &done, &total);
  TN_CHECK(done == total && total > 0);
  const uint8_t* bytes;
  size_t size;
  tn_adapt_report rep;
  TN_REQUIRE(tn_adapt_job_update(&g_job, &bytes, &size, NULL, &rep) == TN_OK);
  const tn_protos* protos = NULL;
  tn_enroll_report er;
  TN_REQUIRE(tn_adapt_job_protos(&g_job, &protos, &er) == TN_OK);
  printf(
      "  few-shot: open-set accuracy %.3f (tail) -> %.3f (prototypes), "
      "threshold %.3f, FAR %.3f, TAR %.3f, %u negatives, %zu bytes\n",
      (double)rep.accuracy_before, (double)rep.accuracy_after,
      (double)er.threshold, (double)er.far, (double)er.tar, er.n_neg, size);
  /* k shots of each of the 10 keywords; none of the negative classes. */
  TN_CHECK_EQ(rep.samples, 3u * 10u);
  TN_CHECK_EQ(protos->counts[0], 0u);
  TN_CHECK_EQ(protos->counts[1], 0u);
  for (uint32_t c = 2; c < 12; ++c) TN_CHECK_EQ(protos->counts[c], 3u);
  TN_CHECK(protos->threshold == er.threshold && er.threshold > -1.0f);
  /* Calibrated on (at most) half of the negatives, within the target. */
  TN_CHECK(er.n_neg > 0 && 2u * er.n_neg <= count_of(0, 0x3u, 1) + 1u);
  TN_CHECK(er.far <= 0.1f);
  /* Above what rejecting everything scores (the negatives' share, a
   * quarter of the evaluation samples), and not below the tail's. */
  TN_CHECK(rep.accuracy_after > 0.3f);
  TN_CHECK(rep.accuracy_after >= rep.accuracy_before);
  TN_CHECK(rep.loss_after == rep.loss_before);
  /* The update changes nothing and is small. */
  tn_tnup u;
  TN_REQUIRE(tn_tnup_decode(bytes, size, &u) == TN_OK);
  TN_CHECK_EQ(u.flags, TN_TNUP_FLAG_SPARSE);
  TN_CHECK_EQ(u.param_count, g_param_count);
  TN_CHECK_EQ(size, tn_tnup_empty_size(u.tensor_count));
  TN_CHECK_EQ(u.meta.samples, 30u);
  TN_CHECK(u.meta.accuracy_after == rep.accuracy_after);
  static float delta[4096];
  TN_REQUIRE(tn_tnup_delta(&u, delta, 4096) == TN_OK);
  uint32_t nonzero = 0;
  for (uint32_t i = 0; i < g_param_count; ++i) nonzero += delta[i] != 0.0f;
  TN_CHECK_EQ(nonzero, 0u);
  /* The tail the node runs is still the round's. */
  tn_tail_layer layers[TN_TAIL_MAX_LAYERS];
  uint32_t count, n;
  tn_train_shape in;
  float* now;
  TN_REQUIRE(tn_model_tail_spec(&g_model, layers, TN_TAIL_MAX_LAYERS, &count,
                                &in, &now, &n) == TN_OK);
  TN_CHECK(memcmp(now, g_start, g_param_count * sizeof(float)) == 0);
  /* Deterministic, also in small slices. */
  static uint8_t first[4096];
  TN_REQUIRE(size <= sizeof(first));
  memcpy(first, bytes, size);
  const size_t first_size = size;
  TN_REQUIRE(start(&p) == TN_OK);
  int finished = 0;
  for (uint32_t i = 0; i < 100000 && !finished; ++i) {
    TN_REQUIRE(tn_adapt_job_step(&g_job, 3, &finished) == TN_OK);
  }
  TN_REQUIRE(tn_adapt_job_update(&g_job, &bytes, &size, NULL, NULL) == TN_OK);
  TN_CHECK(size == first_size && memcmp(bytes, first, size) == 0);
  /* A stricter target accepts fewer negatives, at a higher threshold. */
  p.target_far = 0.0f;
  TN_REQUIRE(start(&p) == TN_OK);
  TN_REQUIRE(tn_adapt_job_run(&g_job) == TN_OK);
  tn_enroll_report strict;
  TN_REQUIRE(tn_adapt_job_protos(&g_job, &protos, &strict) == TN_OK);
  TN_CHECK(strict.far == 0.0f);
  TN_CHECK(strict.threshold >= er.threshold);
  TN_CHECK_STATUS(tn_adapt_job_accepted(&g_job, &n), TN_ERR_STATE);
}

TN_TEST(self_learning_job_fine_tunes_on_pseudo_labels) {
  tn_adapt_job_init(&g_job, g_residual, 4096);
  tn_link_train_params p = base_params();
  p.kind = TN_LINK_TRAIN_SELF_LEARNING;
  p.replay_samples = 3;
  TN_REQUIRE(start(&p) == TN_OK);
  TN_REQUIRE(tn_adapt_job_run(&g_job) == TN_OK);
  uint32_t done = 0, total = 0;
  tn_adapt_job_progress(&g_job, &done, &total);
  TN_CHECK(done == total && total > 0);
  const uint8_t* bytes;
  size_t size;
  tn_adapt_report rep;
  TN_REQUIRE(tn_adapt_job_update(&g_job, &bytes, &size, NULL, &rep) == TN_OK);
  uint32_t accepted = 0;
  TN_REQUIRE(tn_adapt_job_accepted(&g_job, &accepted) == TN_OK);
  /* Precision of the pseudo-labels against the shard's true labels. */
  uint32_t right = 0;
  const uint32_t all = g_data.train_count + g_data.heldout_count;
  for (uint32_t i = 0; i < all; ++i) {
    const uint32_t l = g_job.shot_labels[i];
    right += l != TN_PROTOS_UNKNOWN && l == g_job.labels[i];
  }
  const uint32_t shots = 3u * 12u;
  printf(
      "  self-learning: %u of %u accepted (%u right), loss %.4f -> %.4f, "
      "accuracy %.3f -> %.3f\n",
      accepted, all - shots, right - shots, (double)rep.loss_before,
      (double)rep.loss_after, (double)rep.accuracy_before,
      (double)rep.accuracy_after);
  TN_CHECK(accepted > 0 && accepted <= all - shots);
  TN_CHECK_EQ(rep.samples, shots + accepted);
  TN_CHECK(2u * (right - shots) > accepted); /* most pseudo-labels right */
  TN_CHECK(rep.loss_after < rep.loss_before);
  tn_tnup u;
  TN_REQUIRE(tn_tnup_decode(bytes, size, &u) == TN_OK);
  TN_CHECK_EQ(u.flags, 0u);
  TN_CHECK_EQ(u.meta.samples, shots + accepted);
  static float delta[4096];
  TN_REQUIRE(tn_tnup_delta(&u, delta, 4096) == TN_OK);
  uint32_t nonzero = 0;
  for (uint32_t i = 0; i < g_param_count; ++i) nonzero += delta[i] != 0.0f;
  TN_CHECK(nonzero > g_param_count / 2);
  const tn_protos* protos = NULL;
  TN_REQUIRE(tn_adapt_job_protos(&g_job, &protos, NULL) == TN_OK);
  for (uint32_t c = 0; c < 12; ++c) TN_CHECK_EQ(protos->counts[c], 3u);
  /* Deterministic given the seed. */
  static uint8_t first[8192];
  TN_REQUIRE(size <= sizeof(first));
  memcpy(first, bytes, size);
  const size_t first_size = size;
  TN_REQUIRE(start(&p) == TN_OK);
  int finished = 0;
  for (uint32_t i = 0; i < 100000 && !finished; ++i) {
    TN_REQUIRE(tn_adapt_job_step(&g_job, 5, &finished) == TN_OK);
  }
  TN_REQUIRE(tn_adapt_job_update(&g_job, &bytes, &size, NULL, NULL) == TN_OK);
  TN_CHECK(size == first_size && memcmp(bytes, first, size) == 0);
}

TN_TEST(enrolment_needs_labelled_examples) {
  /* Fewer samples of a class than the shots asked for. */
  uint32_t fewest = UINT32_MAX;
  for (uint32_t c = 0; c < 12; ++c) {
    const uint32_t n = count_of(c, 0, 0);
    if (n < fewest) fewest = n;
  }
  tn_link_train_params p = few_shot_params(fewest + 1, 0.05f);
  TN_CHECK_STATUS(start(&p), TN_ERR_NOT_FOUND);
  TN_CHECK_EQ(tn_adapt_job_phase(&g_job), TN_ADAPT_PHASE_IDLE);
  p.kind = TN_LINK_TRAIN_SELF_LEARNING;
  p.target_far = 0.0f;
  TN_CHECK_STATUS(start(&p), TN_ERR_NOT_FOUND);
  /* Every sample a shot: nothing left to evaluate on. */
  p.replay_samples = fewest;
  TN_CHECK_STATUS(start(&p), TN_ERR_NOT_FOUND);
  p.replay_samples = fewest - 2;
  TN_CHECK_STATUS(start(&p), TN_OK);
  /* Few-shot without negatives to calibrate on. */
  tn_adapt_data no_negatives = g_data;
  no_negatives.negative_classes = 0;
  p = few_shot_params(3, 0.05f);
  TN_CHECK_STATUS(
      tn_adapt_job_start(&g_job, &g_model, g_frozen, &no_negatives, &p, g_tntl,
                         g_tntl_size, g_ws, sizeof(g_ws)),
      TN_ERR_NOT_FOUND);
  /* Every class a negative: nothing to enrol. */
  tn_adapt_data all_negative = g_data;
  all_negative.negative_classes = 0xFFFu;
  TN_CHECK_STATUS(
      tn_adapt_job_start(&g_job, &g_model, g_frozen, &all_negative, &p, g_tntl,
                         g_tntl_size, g_ws, sizeof(g_ws)),
      TN_ERR_NOT_FOUND);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s kws_users.tnfs model.blob\n", argv[0]);
    return 2;
  }
  g_path = argv[1];
  g_blob_path = argv[2];
  if (!load_all()) {
    fprintf(stderr, "cannot load the shard or build the model\n");
    return 1;
  }
  tn_adapt_job_init(&g_job, g_residual, 4096);
  static const tn_test_case cases[] = {
      TN_CASE(shard_splits_user_records),
      TN_CASE(federated_job_lowers_heldout_loss),
      TN_CASE(same_seed_same_bytes_in_slices),
      TN_CASE(fedprox_and_sparse_updates),
      TN_CASE(latent_replay_job),
      TN_CASE(start_refuses_mismatches),
      TN_CASE(shard_marks_negative_classes),
      TN_CASE(few_shot_job_enrolls_keywords),
      TN_CASE(self_learning_job_fine_tunes_on_pseudo_labels),
      TN_CASE(enrolment_needs_labelled_examples),
  };
  int rc = tn_test_main(cases, TN_ARRAY_SIZE(cases));
  free(g_file);
  return rc;
}
