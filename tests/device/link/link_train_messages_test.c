/*
 * Tests of the training message codecs: round trips of TRAIN parameters,
 * TRAIN_TAIL, TRAIN_STATUS and its reply, UPDATE_READ and TRAIN_CANCEL;
 * refusal of every rule by both the encoder (TN_ERR_ARG) and the decoder
 * (TN_ERR_MSG_MALFORMED); exact lengths; reply types.
 */
#include <string.h>

#include "link/tn_link.h"
#include "tn_test.h"

static uint8_t g_buf[TN_LINK_MAX_PAYLOAD];

static void put_f32(uint8_t* p, float v) {
  uint32_t b;
  memcpy(&b, &v, 4);
  tn_store_u32le(p, b);
}

static tn_link_train_params sample_params(void) {
  tn_link_train_params p;
  memset(&p, 0, sizeof(p));
  p.kind = TN_LINK_TRAIN_FEDERATED;
  for (int i = 0; i < 32; ++i) {
    p.round_binding[i] = (uint8_t)i;
    p.frozen_sha256[i] = (uint8_t)(100 + i);
    p.tail_sha256[i] = (uint8_t)(200 + i);
  }
  p.tail_size = 3196;
  p.seed = 0x0123456789ABCDEFull;
  p.attempt = 2;
  p.local_epochs = 3;
  p.batch_size = 16;
  p.learning_rate = 0.05f;
  p.momentum = 0.9f;
  p.weight_decay = 1e-4f;
  p.prox_mu = 0.01f;
  p.clip_norm = 5.0f;
  p.top_k_ratio = 0.1f;
  return p;
}

/* Field by field (structs have padding). */
static int same_params(const tn_link_train_params* a,
                       const tn_link_train_params* b) {
  return a->kind == b->kind && a->replay_bits == b->replay_bits &&
         memcmp(a->round_binding, b->round_binding, 32) == 0 &&
         memcmp(a->frozen_sha256, b->frozen_sha256, 32) == 0 &&
         memcmp(a->tail_sha256, b->tail_sha256, 32) == 0 &&
         a->tail_size == b->tail_size && a->seed == b->seed &&
         a->attempt == b->attempt && a->local_epochs == b->local_epochs &&
         a->batch_size == b->batch_size &&
         a->replay_samples == b->replay_samples &&
         a->learning_rate == b->learning_rate && a->momentum == b->momentum &&
         a->weight_decay == b->weight_decay && a->prox_mu == b->prox_mu &&
         a->clip_norm == b->clip_norm && a->top_k_ratio == b->top_k_ratio;
}

TN_TEST(train_params_roundtrip) {
  tn_link_train_params p = sample_params(), q;
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_train_params_encode(&p, g_buf, sizeof(g_buf), &n),
                  TN_OK);
  /* The wire bytes (floats included) are the same on every target. */
  tn_test_digest("train_params", g_buf, n);
  TN_CHECK_EQ(n, TN_LINK_TRAIN_PARAMS_SIZE);
  TN_CHECK_STATUS(tn_link_train_params_decode(g_buf, n, &q), TN_OK);
  TN_CHECK(same_params(&p, &q));
  TN_CHECK_EQ(tn_load_u32le(g_buf + 104), 0x89ABCDEFu);
  TN_CHECK_EQ(tn_load_u32le(g_buf + 108), 0x01234567u);
  TN_CHECK_STATUS(tn_link_train_params_decode(g_buf, n - 1, &q),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(tn_link_train_params_decode(g_buf, n + 1, &q),
                  TN_ERR_MSG_MALFORMED);
  p.kind = TN_LINK_TRAIN_LATENT_REPLAY;
  p.replay_bits = 7;
  p.replay_samples = 300;
  TN_CHECK_STATUS(tn_link_train_params_encode(&p, g_buf, sizeof(g_buf), &n),
                  TN_OK);
  TN_CHECK_STATUS(tn_link_train_params_decode(g_buf, n, &q), TN_OK);
  TN_CHECK(same_params(&p, &q));
  TN_CHECK_EQ(q.replay_bits, 7);
  TN_CHECK_EQ(q.replay_samples, 300u);
}

TN_TEST(train_params_rules) {
  size_t n = 0;
  tn_link_train_params good = sample_params();
  TN_REQUIRE(tn_link_train_params_encode(&good, g_buf, sizeof(g_buf), &n) ==
             TN_OK);
  uint8_t ok[TN_LINK_TRAIN_PARAMS_SIZE];
  memcpy(ok, g_buf, sizeof(ok));
  tn_link_train_params q;
  /* Each entry: byte offset, and a bad u8 / u16 / u32 / f32 value. */
  struct {
    uint32_t at, size;
    uint32_t u;
    float f;
  } bad[] = {
      {0, 1, 0, 0},       /* kind 0 */
      {0, 1, 5, 0},       /* unknown kind */
      {1, 1, 8, 0},       /* replay bits with federated */
      {2, 2, 1, 0},       /* reserved */
      {100, 4, 0, 0},     /* tail size 0 */
      {116, 2, 0, 0},     /* epochs 0 */
      {118, 2, 0, 0},     /* batch 0 */
      {120, 4, 10, 0},    /* replay samples with federated */
      {124, 0, 0, 0.0f},  /* lr 0 */
      {124, 0, 0, -1.0f}, /* lr < 0 */
      {128, 0, 0, 1.0f},  /* momentum 1 */
      {132, 0, 0, -0.1f}, /* weight decay < 0 */
      {136, 0, 0, -0.1f}, /* prox_mu < 0 */
      {140, 0, 0, -1.0f}, /* clip < 0 */
      {144, 0, 0, 1.5f},  /* top-k > 1 */
      {148, 4, 1, 0},     /* reserved */
  };
  for (uint32_t i = 0; i < TN_ARRAY_SIZE(bad); ++i) {
    memcpy(g_buf, ok, sizeof(ok));
    uint8_t* p = g_buf + bad[i].at;
    if (bad[i].size == 1) p[0] = (uint8_t)bad[i].u;
    if (bad[i].size == 2) tn_store_u16le(p, (uint16_t)bad[i].u);
    if (bad[i].size == 4) tn_store_u32le(p, bad[i].u);
    if (bad[i].size == 0) put_f32(p, bad[i].f);
    TN_CHECK_STATUS(tn_link_train_params_decode(g_buf, sizeof(ok), &q),
                    TN_ERR_MSG_MALFORMED);
  }
  /* NaN learning rate. */
  memcpy(g_buf, ok, sizeof(ok));
  tn_store_u32le(g_buf + 124, 0x7FC00000u);
  TN_CHECK_STATUS(tn_link_train_params_decode(g_buf, sizeof(ok), &q),
                  TN_ERR_MSG_MALFORMED);
  /* Latent replay without bits or samples. */
  tn_link_train_params p = good;
  p.kind = TN_LINK_TRAIN_LATENT_REPLAY;
  p.replay_bits = 6;
  p.replay_samples = 10;
  TN_CHECK_STATUS(tn_link_train_params_encode(&p, g_buf, sizeof(g_buf), &n),
                  TN_ERR_ARG);
  p.replay_bits = 8;
  p.replay_samples = 0;
  TN_CHECK_STATUS(tn_link_train_params_encode(&p, g_buf, sizeof(g_buf), &n),
                  TN_ERR_ARG);
  p = good;
  p.momentum = -0.5f;
  TN_CHECK_STATUS(tn_link_train_params_encode(&p, g_buf, sizeof(g_buf), &n),
                  TN_ERR_ARG);
  TN_CHECK_STATUS(tn_link_train_params_encode(&good, g_buf, 151, &n),
                  TN_ERR_BUFFER_TOO_SMALL);
}

TN_TEST(train_tail_roundtrip_and_rules) {
  uint8_t data[1014];
  for (uint32_t i = 0; i < sizeof(data); ++i) data[i] = (uint8_t)(i * 3);
  tn_link_train_tail m = {7, 2048, 1014, data}, d;
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_train_tail_encode(&m, g_buf, sizeof(g_buf), &n),
                  TN_OK);
  TN_CHECK_EQ(n, 1024u);
  TN_CHECK_STATUS(tn_link_train_tail_decode(g_buf, n, &d), TN_OK);
  TN_CHECK(d.job_id == 7 && d.offset == 2048 && d.data_len == 1014);
  TN_CHECK(memcmp(d.data, data, 1014) == 0);
  m.data_len = 1015;
  TN_CHECK_STATUS(tn_link_train_tail_encode(&m, g_buf, sizeof(g_buf), &n),
                  TN_ERR_ARG);
  m.data_len = 0;
  TN_CHECK_STATUS(tn_link_train_tail_encode(&m, g_buf, sizeof(g_buf), &n),
                  TN_ERR_ARG);
  m.data_len = 16;
  m.offset = 0xFFFFFFF8u;
  TN_CHECK_STATUS(tn_link_train_tail_encode(&m, g_buf, sizeof(g_buf), &n),
                  TN_ERR_ARG);
  m.offset = 0;
  TN_REQUIRE(tn_link_train_tail_encode(&m, g_buf, sizeof(g_buf), &n) == TN_OK);
  TN_CHECK_STATUS(tn_link_train_tail_decode(g_buf, n - 1, &d),
                  TN_ERR_MSG_MALFORMED);
  tn_store_u16le(g_buf + 8, 0);
  TN_CHECK_STATUS(tn_link_train_tail_decode(g_buf, 10, &d),
                  TN_ERR_MSG_MALFORMED);
}

static tn_link_train_status_reply done_reply(void) {
  tn_link_train_status_reply m;
  memset(&m, 0, sizeof(m));
  m.job_id = 42;
  m.state = TN_LINK_TRAIN_DONE;
  m.tail_received = m.tail_size = 3196;
  m.steps_done = m.steps_total = 500;
  m.update_size = 968;
  m.update_sha256[0] = 0xAA;
  m.samples = 80;
  m.loss_before = 1.2f;
  m.loss_after = 0.6f;
  m.accuracy_before = 0.5f;
  m.accuracy_after = 0.8f;
  return m;
}

TN_TEST(train_status_reply_roundtrip_and_rules) {
  tn_link_train_status_reply m = done_reply(), d;
  size_t n = 0;
  TN_CHECK_STATUS(
      tn_link_train_status_reply_encode(&m, g_buf, sizeof(g_buf), &n), TN_OK);
  tn_test_digest("train_status_reply", g_buf, n);
  TN_CHECK_EQ(n, TN_LINK_TRAIN_STATUS_REPLY_SIZE);
  TN_CHECK_STATUS(tn_link_train_status_reply_decode(g_buf, n, &d), TN_OK);
  TN_CHECK(d.job_id == 42 && d.state == TN_LINK_TRAIN_DONE && d.status == 0);
  TN_CHECK(d.tail_received == 3196 && d.tail_size == 3196);
  TN_CHECK(d.steps_done == 500 && d.steps_total == 500);
  TN_CHECK(d.update_size == 968 && d.samples == 80);
  TN_CHECK(memcmp(d.update_sha256, m.update_sha256, 32) == 0);
  TN_CHECK(d.loss_before == 1.2f && d.loss_after == 0.6f);
  TN_CHECK(d.accuracy_before == 0.5f && d.accuracy_after == 0.8f);
  /* Idle: everything zero. */
  tn_link_train_status_reply idle;
  memset(&idle, 0, sizeof(idle));
  TN_CHECK_STATUS(
      tn_link_train_status_reply_encode(&idle, g_buf, sizeof(g_buf), &n),
      TN_OK);
  idle.job_id = 1;
  TN_CHECK_STATUS(
      tn_link_train_status_reply_encode(&idle, g_buf, sizeof(g_buf), &n),
      TN_ERR_ARG);
  /* Broken rules. */
  tn_link_train_status_reply b;
  b = done_reply();
  b.state = 6;
  TN_CHECK_STATUS(tn_link_train_status_reply_encode(&b, g_buf, 80, &n),
                  TN_ERR_ARG);
  b = done_reply();
  b.status = TN_ERR_NUMERIC; /* status without FAILED */
  TN_CHECK_STATUS(tn_link_train_status_reply_encode(&b, g_buf, 80, &n),
                  TN_ERR_ARG);
  b = done_reply();
  b.state = TN_LINK_TRAIN_FAILED; /* FAILED without status */
  TN_CHECK_STATUS(tn_link_train_status_reply_encode(&b, g_buf, 80, &n),
                  TN_ERR_ARG);
  b = done_reply();
  b.state = TN_LINK_TRAIN_RUNNING; /* figures before DONE */
  TN_CHECK_STATUS(tn_link_train_status_reply_encode(&b, g_buf, 80, &n),
                  TN_ERR_ARG);
  b = done_reply();
  b.steps_done = 501;
  TN_CHECK_STATUS(tn_link_train_status_reply_encode(&b, g_buf, 80, &n),
                  TN_ERR_ARG);
  b = done_reply();
  b.tail_received = 3197;
  TN_CHECK_STATUS(tn_link_train_status_reply_encode(&b, g_buf, 80, &n),
                  TN_ERR_ARG);
  b = done_reply();
  b.accuracy_after = 1.5f;
  TN_CHECK_STATUS(tn_link_train_status_reply_encode(&b, g_buf, 80, &n),
                  TN_ERR_ARG);
  b = done_reply();
  b.update_size = 0;
  TN_CHECK_STATUS(tn_link_train_status_reply_encode(&b, g_buf, 80, &n),
                  TN_ERR_ARG);
  /* Decoder: reserved byte, length. */
  TN_REQUIRE(tn_link_train_status_reply_encode(&m, g_buf, 80, &n) == TN_OK);
  g_buf[5] = 1;
  TN_CHECK_STATUS(tn_link_train_status_reply_decode(g_buf, 80, &d),
                  TN_ERR_MSG_MALFORMED);
  g_buf[5] = 0;
  put_f32(g_buf + 64, -1.0f);
  TN_CHECK_STATUS(tn_link_train_status_reply_decode(g_buf, 80, &d),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(tn_link_train_status_reply_decode(g_buf, 79, &d),
                  TN_ERR_MSG_MALFORMED);
  TN_CHECK(strcmp(tn_link_train_state_str(TN_LINK_TRAIN_DONE), "done") == 0);
  TN_CHECK(strcmp(tn_link_train_state_str(9), "unknown") == 0);
}

TN_TEST(small_messages) {
  size_t n = 0;
  tn_link_train_status s = {9}, s2;
  TN_CHECK_STATUS(tn_link_train_status_encode(&s, g_buf, sizeof(g_buf), &n),
                  TN_OK);
  TN_CHECK_EQ(n, 4u);
  TN_CHECK_STATUS(tn_link_train_status_decode(g_buf, 4, &s2), TN_OK);
  TN_CHECK_EQ(s2.job_id, 9u);
  TN_CHECK_STATUS(tn_link_train_status_decode(g_buf, 5, &s2),
                  TN_ERR_MSG_MALFORMED);
  tn_link_train_cancel c = {11}, c2;
  TN_CHECK_STATUS(tn_link_train_cancel_encode(&c, g_buf, sizeof(g_buf), &n),
                  TN_OK);
  TN_CHECK_STATUS(tn_link_train_cancel_decode(g_buf, n, &c2), TN_OK);
  TN_CHECK_EQ(c2.job_id, 11u);
  TN_CHECK_STATUS(tn_link_train_cancel_decode(g_buf, 3, &c2),
                  TN_ERR_MSG_MALFORMED);
  tn_link_update_read r = {5, 1000, 1010}, r2;
  TN_CHECK_STATUS(tn_link_update_read_encode(&r, g_buf, sizeof(g_buf), &n),
                  TN_OK);
  TN_CHECK_EQ(n, 10u);
  TN_CHECK_STATUS(tn_link_update_read_decode(g_buf, n, &r2), TN_OK);
  TN_CHECK(r2.job_id == 5 && r2.offset == 1000 && r2.max_len == 1010);
  r.max_len = 1011;
  TN_CHECK_STATUS(tn_link_update_read_encode(&r, g_buf, sizeof(g_buf), &n),
                  TN_ERR_ARG);
  tn_store_u16le(g_buf + 8, 0);
  TN_CHECK_STATUS(tn_link_update_read_decode(g_buf, 10, &r2),
                  TN_ERR_MSG_MALFORMED);
}

TN_TEST(reply_types) {
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_TRAIN_STATUS),
              TN_LINK_MSG_TRAIN_STATUS_REPLY);
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_UPDATE_READ),
              TN_LINK_MSG_UPDATE_CHUNK);
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_TRAIN_TAIL), 0);
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_TRAIN_CANCEL), 0);
  TN_CHECK(tn_link_msg_type_known(TN_LINK_MSG_TRAIN_TAIL));
  TN_CHECK(strcmp(tn_link_msg_type_str(TN_LINK_MSG_UPDATE_READ),
                  "UPDATE_READ") == 0);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(train_params_roundtrip),
      TN_CASE(train_params_rules),
      TN_CASE(train_tail_roundtrip_and_rules),
      TN_CASE(train_status_reply_roundtrip_and_rules),
      TN_CASE(small_messages),
      TN_CASE(reply_types),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
