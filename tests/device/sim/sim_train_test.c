/*
 * Tests of the virtual node's training jobs over link frames: a node with a
 * shard of the keyword users set (argv[1]) runs the DS-CNN-S model with a
 * trainable tail (argv[2], installed in slot A). It refuses a job for
 * another frozen part or without a running model, takes the tail in chunks
 * (refusing gaps), trains in slices while it keeps answering requests, and
 * hands out the update with UPDATE_READ; repeated requests are idempotent;
 * TRAIN_CANCEL stops a job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapt/tn_adapt.h"
#include "ota_fixture.h"
#include "secure/tn_secure.h"
#include "sim/tn_sim.h"
#include "tn_test.h"

static const char* g_users_path;
static const char* g_blob_path;
static uint8_t* g_users;
static tn_fset_view g_set;
static tn_adapt_shard g_shard;
static uint32_t g_index[512];
static tn_adapt_data g_data;

static uint8_t g_blob[65536];
static size_t g_blob_size;
static uint8_t g_frozen[32];
static float g_start[4096];
static uint32_t g_params;
static uint8_t g_tntl[32768];
static size_t g_tntl_size;

static tn_sim_mem_storage g_mem;
static tn_sim_node g_node;
static ota_test_flash g_flash;
static uint8_t g_ota_blob[65536];
static uint64_t g_ota_arena[(1u << 20) / 8];
static uint8_t g_train_blob[65536];
static uint64_t g_train_arena[(1u << 20) / 8];
static uint64_t g_workspace[(1u << 20) / 8];
static uint8_t g_tail[32768];
static float g_residual[4096];
static uint16_t g_seq = 10;

static tn_status entropy(void* ctx, uint8_t* out, size_t len) {
  (void)ctx;
  for (size_t i = 0; i < len; ++i) out[i] = (uint8_t)(i * 7 + 1);
  return TN_OK;
}

static size_t read_file(const char* path, uint8_t* buf, size_t cap) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return 0;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

static int load_fixtures(void) {
  g_users = (uint8_t*)malloc(1u << 21);
  size_t n = read_file(g_users_path, g_users, 1u << 21);
  if (n == 0 || tn_fset_open(g_users, n, &g_set) != TN_OK) return 0;
  if (tn_adapt_shard_init(&g_shard, &g_set, 5, 4, g_index, 512) != TN_OK) {
    return 0;
  }
  g_data = tn_adapt_shard_data(&g_shard);
  g_blob_size = read_file(g_blob_path, g_blob, sizeof(g_blob));
  tn_blob b;
  if (g_blob_size == 0 || g_blob_size == sizeof(g_blob) ||
      tn_blob_parse(g_blob, g_blob_size, NULL, &b) != TN_OK ||
      tn_blob_frozen_sha256(&b, g_frozen) != TN_OK) {
    return 0;
  }
  g_params = b.tail_param_bytes / 4;
  for (uint32_t i = 0; i < g_params; ++i) {
    uint32_t bits = tn_load_u32le(b.tail_params + 4 * i);
    memcpy(&g_start[i], &bits, 4);
  }
  return tn_tntl_encode(g_frozen, g_start, g_params, g_tntl, sizeof(g_tntl),
                        &g_tntl_size) == TN_OK;
}

static tn_status boot(int with_train, int with_ota) {
  tn_sim_config cfg;
  tn_sim_config_init(&cfg);
  cfg.target = TN_TARGET_GAP9;
  cfg.storage = tn_sim_mem_storage_interface(&g_mem);
  cfg.entropy = entropy;
  if (with_ota) {
    tn_ota_config_init(&cfg.ota);
    cfg.ota.flash = ota_test_flash_interface(&g_flash);
    cfg.ota.blob_buffer = g_ota_blob;
    cfg.ota.blob_buffer_size = sizeof(g_ota_blob);
    cfg.ota.arena = g_ota_arena;
    cfg.ota.arena_size = sizeof(g_ota_arena);
    cfg.ota.accept_unsigned = 1;
  }
  if (with_train) {
    cfg.train.data = &g_data;
    cfg.train.blob_buffer = g_train_blob;
    cfg.train.blob_buffer_size = sizeof(g_train_blob);
    cfg.train.arena = g_train_arena;
    cfg.train.arena_size = sizeof(g_train_arena);
    cfg.train.workspace = g_workspace;
    cfg.train.workspace_size = sizeof(g_workspace);
    cfg.train.tail_buffer = g_tail;
    cfg.train.tail_buffer_size = sizeof(g_tail);
    cfg.train.residual = g_residual;
    cfg.train.residual_capacity = 4096;
    cfg.train.slice = 3;
  }
  return tn_sim_node_open(&g_node, &cfg);
}

static void fresh(void) {
  tn_sim_mem_storage_init(&g_mem);
  ota_test_flash_init(&g_flash, 2, 65536, 0, 0);
  TN_CHECK_STATUS(boot(1, 1), TN_OK);
}

/* Sends a request; returns the ACK/NACK status, or 0 with a typed reply
 * copied to reply (its length in *reply_len). */
static uint16_t call(uint8_t type, const uint8_t* payload, size_t len,
                     uint8_t* reply, size_t* reply_len) {
  static uint8_t wire[TN_LINK_MAX_WIRE_FRAME];
  const uint8_t flags =
      tn_link_reply_type(type) != 0 ? 0 : TN_LINK_FLAG_ACK_REQUESTED;
  tn_link_frame f = {type, flags, ++g_seq, (uint16_t)len, payload, 0};
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&f, wire, sizeof(wire), &n), TN_OK);
  static tn_link_decoder dec;
  tn_link_decoder_init(&dec);
  size_t used = 0;
  const tn_link_frame* in = NULL;
  if (tn_link_decoder_feed(&dec, wire, n, &used, &in) != TN_OK || !in) {
    return 0xFFFF;
  }
  const uint8_t* out = NULL;
  size_t out_len = 0;
  TN_CHECK_STATUS(tn_sim_node_handle(&g_node, in, &out, &out_len), TN_OK);
  static tn_link_decoder rdec;
  tn_link_decoder_init(&rdec);
  const tn_link_frame* r = NULL;
  if (out_len == 0 ||
      tn_link_decoder_feed(&rdec, out, out_len, &used, &r) != TN_OK || !r) {
    return 0xFFFF;
  }
  TN_CHECK_EQ(r->seq, g_seq);
  if (r->type == TN_LINK_MSG_ACK || r->type == TN_LINK_MSG_NACK) {
    tn_link_ack a;
    TN_CHECK_STATUS(r->type == TN_LINK_MSG_ACK
                        ? tn_link_ack_decode(r->payload, r->payload_len, &a)
                        : tn_link_nack_decode(r->payload, r->payload_len, &a),
                    TN_OK);
    return a.status;
  }
  TN_CHECK_EQ(r->type, tn_link_reply_type(type));
  if (reply != NULL) memcpy(reply, r->payload, r->payload_len);
  if (reply_len != NULL) *reply_len = r->payload_len;
  return 0;
}

static void hello(void) {
  uint8_t p[8];
  size_t n = 0;
  tn_link_hello h = {TN_LINK_VERSION, 1024};
  TN_CHECK_STATUS(tn_link_hello_encode(&h, p, sizeof(p), &n), TN_OK);
  uint8_t reply[TN_LINK_MAX_PAYLOAD];
  size_t len = 0;
  TN_CHECK_EQ(call(TN_LINK_MSG_HELLO, p, n, reply, &len), 0);
}

static tn_link_train_params job_params(void) {
  tn_link_train_params p;
  memset(&p, 0, sizeof(p));
  p.kind = TN_LINK_TRAIN_FEDERATED;
  tn_round_binding("r", 1, p.round_binding);
  memcpy(p.frozen_sha256, g_frozen, 32);
  tn_sha256(g_tntl, g_tntl_size, p.tail_sha256);
  p.tail_size = (uint32_t)g_tntl_size;
  p.seed = 5;
  p.attempt = 1;
  p.local_epochs = 2;
  p.batch_size = 8;
  p.learning_rate = 0.001f;
  p.momentum = 0.9f;
  return p;
}

static uint16_t train(uint32_t job, const tn_link_train_params* p) {
  uint8_t params[TN_LINK_TRAIN_PARAMS_SIZE];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_train_params_encode(p, params, sizeof(params), &n),
                  TN_OK);
  tn_link_train t = {job, (uint16_t)n, params};
  uint8_t payload[TN_LINK_MAX_PAYLOAD];
  TN_CHECK_STATUS(tn_link_train_encode(&t, payload, sizeof(payload), &n),
                  TN_OK);
  return call(TN_LINK_MSG_TRAIN, payload, n, NULL, NULL);
}

static uint16_t tail_chunk(uint32_t job, uint32_t offset, uint32_t len) {
  tn_link_train_tail t = {job, offset, (uint16_t)len, g_tntl + offset};
  uint8_t payload[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_train_tail_encode(&t, payload, sizeof(payload), &n),
                  TN_OK);
  return call(TN_LINK_MSG_TRAIN_TAIL, payload, n, NULL, NULL);
}

static tn_link_train_status_reply status(void) {
  tn_link_train_status_reply r;
  memset(&r, 0, sizeof(r));
  tn_link_train_status q = {0};
  uint8_t p[8], reply[TN_LINK_MAX_PAYLOAD];
  size_t n = 0, len = 0;
  TN_CHECK_STATUS(tn_link_train_status_encode(&q, p, sizeof(p), &n), TN_OK);
  TN_CHECK_EQ(call(TN_LINK_MSG_TRAIN_STATUS, p, n, reply, &len), 0);
  TN_CHECK_STATUS(tn_link_train_status_reply_decode(reply, len, &r), TN_OK);
  return r;
}

static void install(void) {
  TN_REQUIRE(ota_test_install(&g_node.ota, g_blob, g_blob_size, 0, 1000) ==
             TN_OK);
  TN_REQUIRE(tn_ota_activate(&g_node.ota, 0) == TN_OK);
  TN_REQUIRE(tn_ota_confirm(&g_node.ota, 0) == TN_OK);
}

static void poll_until_done(uint32_t* polls) {
  const uint8_t* frame;
  size_t len;
  *polls = 0;
  for (uint32_t i = 0; i < 100000; ++i) {
    tn_link_train_status_reply r = status();
    if (r.state != TN_LINK_TRAIN_RUNNING) return;
    TN_REQUIRE(tn_sim_node_poll(&g_node, 0, &frame, &len) == TN_OK);
    ++*polls;
  }
}

TN_TEST(capability_needs_model_updates) {
  tn_sim_mem_storage_init(&g_mem);
  TN_CHECK_STATUS(boot(1, 0), TN_ERR_ARG);
  tn_sim_mem_storage_init(&g_mem);
  ota_test_flash_init(&g_flash, 2, 65536, 0, 0);
  TN_CHECK_STATUS(boot(0, 1), TN_OK);
  TN_CHECK_EQ(g_node.info.capabilities & TN_LINK_CAP_TRAIN, 0u);
  tn_link_train_params p = job_params();
  TN_CHECK_EQ(train(1, &p), TN_ERR_UNSUPPORTED);
  fresh();
  TN_CHECK(g_node.info.capabilities & TN_LINK_CAP_TRAIN);
}

TN_TEST(refuses_jobs_it_cannot_run) {
  fresh();
  hello();
  tn_link_train_params p = job_params();
  TN_CHECK_EQ(train(1, &p), TN_ERR_NOT_FOUND); /* no running model */
  install();
  p.frozen_sha256[0] ^= 1;
  TN_CHECK_EQ(train(1, &p), TN_ERR_FROZEN_MISMATCH);
  p = job_params();
  TN_CHECK_EQ(train(0, &p), TN_ERR_MSG_MALFORMED); /* job id 0 */
  tn_link_train_status_reply r = status();
  TN_CHECK_EQ(r.state, TN_LINK_TRAIN_IDLE);
  /* A tail whose bytes are not the ones the job names fails the job. */
  p.tail_sha256[3] ^= 1;
  TN_CHECK_EQ(train(2, &p), 0);
  uint32_t off = 0;
  uint16_t last = 0;
  while (off < g_tntl_size) {
    uint32_t n =
        g_tntl_size - off < 1000 ? (uint32_t)(g_tntl_size - off) : 1000;
    last = tail_chunk(2, off, n);
    off += n;
  }
  TN_CHECK_EQ(last, TN_ERR_UPDATE_CHECKSUM);
  r = status();
  TN_CHECK_EQ(r.state, TN_LINK_TRAIN_FAILED);
  TN_CHECK_EQ(r.status, TN_ERR_UPDATE_CHECKSUM);
}

TN_TEST(trains_in_slices_and_serves_the_update) {
  fresh();
  hello();
  install();
  tn_link_train_params p = job_params();
  TN_CHECK_EQ(train(7, &p), 0);
  tn_link_train_status_reply r = status();
  TN_CHECK_EQ(r.state, TN_LINK_TRAIN_RECEIVING);
  TN_CHECK_EQ(r.tail_size, g_tntl_size);
  /* A gap, another job, then the tail in order with one repeat. */
  TN_CHECK_EQ(tail_chunk(7, 1000, 100), TN_ERR_OTA_OFFSET);
  TN_CHECK_EQ(tail_chunk(8, 0, 100), TN_ERR_NOT_FOUND);
  TN_CHECK_EQ(tail_chunk(7, 0, 1000), 0);
  TN_CHECK_EQ(tail_chunk(7, 0, 1000), 0);
  TN_CHECK_EQ(status().tail_received, 1000u);
  for (uint32_t off = 1000; off < g_tntl_size; off += 1000) {
    uint32_t n =
        g_tntl_size - off < 1000 ? (uint32_t)(g_tntl_size - off) : 1000;
    TN_CHECK_EQ(tail_chunk(7, off, n), 0);
  }
  r = status();
  TN_CHECK_EQ(r.state, TN_LINK_TRAIN_RUNNING);
  TN_CHECK(r.steps_total > 0 && r.steps_done == 0);
  /* The same TRAIN again (an agent that restarted) changes nothing. */
  const uint8_t* frame;
  size_t len;
  TN_REQUIRE(tn_sim_node_poll(&g_node, 0, &frame, &len) == TN_OK);
  TN_CHECK_EQ(train(7, &p), 0);
  r = status();
  TN_CHECK_EQ(r.state, TN_LINK_TRAIN_RUNNING);
  TN_CHECK_EQ(r.steps_done, 3u); /* one slice */
  uint32_t polls = 0;
  poll_until_done(&polls);
  TN_CHECK(polls > 10);
  r = status();
  TN_REQUIRE(r.state == TN_LINK_TRAIN_DONE);
  TN_CHECK(r.update_size > 0);
  TN_CHECK(r.loss_after != r.loss_before);
  TN_CHECK_EQ(r.samples, g_data.train_count);

  /* Read the update in 300-byte pieces; the last read is short. */
  static uint8_t update[8192];
  uint32_t got = 0;
  while (got < r.update_size) {
    tn_link_update_read q = {7, got, 300};
    uint8_t pl[16], reply[TN_LINK_MAX_PAYLOAD];
    size_t n = 0, rl = 0;
    TN_REQUIRE(tn_link_update_read_encode(&q, pl, sizeof(pl), &n) == TN_OK);
    TN_REQUIRE(call(TN_LINK_MSG_UPDATE_READ, pl, n, reply, &rl) == 0);
    tn_link_update_chunk c;
    TN_REQUIRE(tn_link_update_chunk_decode(reply, rl, &c) == TN_OK);
    TN_CHECK_EQ(c.offset, got);
    TN_CHECK_EQ(c.total_size, r.update_size);
    memcpy(update + got, c.data, c.data_len);
    got += c.data_len;
  }
  uint8_t sha[32];
  tn_sha256(update, got, sha);
  TN_CHECK(memcmp(sha, r.update_sha256, 32) == 0);
  tn_tnup u;
  TN_CHECK_STATUS(tn_tnup_decode(update, got, &u), TN_OK);
  TN_CHECK(memcmp(u.meta.frozen_sha256, g_frozen, 32) == 0);
  TN_CHECK(u.meta.loss_before == r.loss_before);
  TN_CHECK(u.meta.loss_after == r.loss_after);
  TN_CHECK(u.meta.accuracy_after == r.accuracy_after);
  /* Reads past the end and of another job are refused. */
  tn_link_update_read q = {7, got, 100};
  uint8_t pl[16];
  size_t n = 0;
  tn_link_update_read_encode(&q, pl, sizeof(pl), &n);
  TN_CHECK_EQ(call(TN_LINK_MSG_UPDATE_READ, pl, n, NULL, NULL),
              TN_ERR_OTA_OFFSET);
  q.job_id = 9;
  q.offset = 0;
  tn_link_update_read_encode(&q, pl, sizeof(pl), &n);
  TN_CHECK_EQ(call(TN_LINK_MSG_UPDATE_READ, pl, n, NULL, NULL),
              TN_ERR_NOT_FOUND);
}

TN_TEST(cancel_stops_a_job) {
  fresh();
  hello();
  install();
  tn_link_train_params p = job_params();
  TN_CHECK_EQ(train(3, &p), 0);
  for (uint32_t off = 0; off < g_tntl_size; off += 1000) {
    uint32_t n =
        g_tntl_size - off < 1000 ? (uint32_t)(g_tntl_size - off) : 1000;
    TN_CHECK_EQ(tail_chunk(3, off, n), 0);
  }
  const uint8_t* frame;
  size_t len;
  TN_REQUIRE(tn_sim_node_poll(&g_node, 0, &frame, &len) == TN_OK);
  tn_link_train_cancel c = {3};
  uint8_t pl[8];
  size_t n = 0;
  TN_REQUIRE(tn_link_train_cancel_encode(&c, pl, sizeof(pl), &n) == TN_OK);
  TN_CHECK_EQ(call(TN_LINK_MSG_TRAIN_CANCEL, pl, n, NULL, NULL), 0);
  TN_CHECK_EQ(status().state, TN_LINK_TRAIN_CANCELLED);
  TN_REQUIRE(tn_sim_node_poll(&g_node, 0, &frame, &len) == TN_OK);
  TN_CHECK_EQ(status().state, TN_LINK_TRAIN_CANCELLED);
  /* Cancelling again, or another job, is harmless. */
  TN_CHECK_EQ(call(TN_LINK_MSG_TRAIN_CANCEL, pl, n, NULL, NULL), 0);
  /* The job can be sent again and starts over. */
  TN_CHECK_EQ(train(3, &p), 0);
  TN_CHECK_EQ(status().state, TN_LINK_TRAIN_RECEIVING);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s kws_users.tnfs model.blob\n", argv[0]);
    return 2;
  }
  g_users_path = argv[1];
  g_blob_path = argv[2];
  if (!load_fixtures()) {
    fprintf(stderr, "cannot load the fixtures\n");
    return 1;
  }
  static const tn_test_case cases[] = {
      TN_CASE(capability_needs_model_updates),
      TN_CASE(refuses_jobs_it_cannot_run),
      TN_CASE(trains_in_slices_and_serves_the_update),
      TN_CASE(cancel_stops_a_job),
  };
  int rc = tn_test_main(cases, TN_ARRAY_SIZE(cases));
  free(g_users);
  return rc;
}
