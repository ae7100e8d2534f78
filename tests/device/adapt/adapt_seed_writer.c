/*
 * Writes the seed corpus of the adapt_codec fuzzer: a TNTL, a dense and a
 * sparse TNUP, each prefixed with the fuzzer's mode byte (bit 7: recompute
 * the trailing hash), and TRAIN parameters and a TRAIN_STATUS_REPLY (mode
 * 2, then the message selector). Usage: adapt_seed_writer <directory>.
 */
#include <stdio.h>
#include <string.h>

#include "adapt/tn_adapt.h"
#include "link/tn_link.h"

static uint8_t g_buf[4096];

static int write_seed(const char* dir, const char* name, uint8_t mode,
                      const uint8_t* data, size_t size) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE* f = fopen(path, "wb");
  if (f == NULL) return 1;
  int bad = fwrite(&mode, 1, 1, f) != 1 || fwrite(data, 1, size, f) != size;
  return fclose(f) != 0 || bad;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <directory>\n", argv[0]);
    return 2;
  }
  uint8_t frozen[TN_ADAPT_HASH_SIZE];
  for (uint32_t i = 0; i < TN_ADAPT_HASH_SIZE; ++i) frozen[i] = (uint8_t)i;
  float params[20];
  for (uint32_t i = 0; i < 20; ++i) params[i] = (float)i * 0.125f - 1.0f;
  size_t w = 0;
  int bad = 0;
  if (tn_tntl_encode(frozen, params, 20, g_buf, sizeof(g_buf), &w) != TN_OK) {
    return 1;
  }
  bad |= write_seed(argv[1], "tntl", 0x00, g_buf, w);
  bad |= write_seed(argv[1], "tntl_rehash", 0x80, g_buf, w);

  tn_tnup_meta m;
  memset(&m, 0, sizeof(m));
  memcpy(m.frozen_sha256, frozen, sizeof(frozen));
  m.samples = 10;
  m.loss_before = 2.0f;
  m.loss_after = 1.0f;
  m.accuracy_before = 0.25f;
  m.accuracy_after = 0.5f;
  const uint32_t sizes[3] = {12, 4, 4};
  float residual[20] = {0};
  uint32_t scratch[20];
  const float ratios[2] = {0.0f, 0.3f};
  const char* names[2][2] = {{"tnup_dense", "tnup_dense_rehash"},
                             {"tnup_sparse", "tnup_sparse_rehash"}};
  for (int s = 0; s < 2; ++s) {
    float delta[20];
    for (uint32_t i = 0; i < 20; ++i) delta[i] = params[19 - i] * 0.01f;
    tn_update_compress c = {0.0f, ratios[s]};
    if (tn_tnup_build(&m, sizes, 3, delta, residual, &c, scratch,
                      sizeof(scratch), g_buf, sizeof(g_buf), &w) != TN_OK) {
      return 1;
    }
    bad |= write_seed(argv[1], names[s][0], 0x01, g_buf, w);
    bad |= write_seed(argv[1], names[s][1], 0x81, g_buf, w);
  }

  tn_link_train_params p;
  memset(&p, 0, sizeof(p));
  p.kind = TN_LINK_TRAIN_LATENT_REPLAY;
  p.replay_bits = 8;
  p.replay_samples = 64;
  p.tail_size = 3196;
  p.seed = 7;
  p.local_epochs = 2;
  p.batch_size = 8;
  p.learning_rate = 0.05f;
  p.momentum = 0.9f;
  p.top_k_ratio = 0.1f;
  g_buf[0] = 0; /* selector: TRAIN parameters */
  if (tn_link_train_params_encode(&p, g_buf + 1, sizeof(g_buf) - 1, &w) !=
      TN_OK) {
    return 1;
  }
  bad |= write_seed(argv[1], "link_train_params", 0x02, g_buf, w + 1);
  tn_link_train_status_reply r;
  memset(&r, 0, sizeof(r));
  r.job_id = 3;
  r.state = TN_LINK_TRAIN_DONE;
  r.tail_received = r.tail_size = 3196;
  r.steps_done = r.steps_total = 100;
  r.update_size = 968;
  r.samples = 40;
  r.loss_before = 1.0f;
  r.accuracy_after = 0.5f;
  g_buf[0] = 2; /* selector: TRAIN_STATUS_REPLY */
  if (tn_link_train_status_reply_encode(&r, g_buf + 1, sizeof(g_buf) - 1, &w) !=
      TN_OK) {
    return 1;
  }
  bad |= write_seed(argv[1], "link_train_status_reply", 0x02, g_buf, w + 1);
  return bad;
}
