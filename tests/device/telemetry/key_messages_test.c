/*
 * Tests of the link messages of the telemetry key agreement, on the host and
 * under QEMU: KEY_INFO, KEY_INFO_REPLY and SET_GATEWAY_KEY payloads byte by
 * byte against link-protocol.md, canonical round trips, every rule broken
 * and refused by decoder and encoder, truncated and over-long payloads, and
 * the type tables and requester rules for the new types (KEY_INFO has a
 * typed reply; SET_GATEWAY_KEY is answered by ACK/NACK).
 */
#include <string.h>

#include "link/tn_link.h"
#include "tn_test.h"

static const char kDeviceId[] = "dev-abcdefghij0123456789";

static void sample_public_key(uint8_t* key) {
  key[0] = 0x04;
  for (int i = 1; i < 65; ++i) key[i] = (uint8_t)(i * 7);
}

static void sealing_reply(tn_link_key_info_reply* m) {
  memset(m, 0, sizeof(*m));
  sample_public_key(m->node_public_key);
  m->key_state = TN_LINK_KEY_STATE_SEALING;
  for (int i = 0; i < 8; ++i) m->gateway_key_id[i] = (uint8_t)(0xD0 + i);
  strcpy(m->device_id, kDeviceId);
}

TN_TEST(key_info_is_empty) {
  uint8_t out[4];
  size_t n = 9;
  TN_CHECK_STATUS(tn_link_key_info_encode(out, sizeof(out), &n), TN_OK);
  TN_CHECK_EQ(n, 0);
  TN_CHECK_STATUS(tn_link_key_info_decode(NULL, 0), TN_OK);
  TN_CHECK_STATUS(tn_link_key_info_decode(out, 1), TN_ERR_MSG_MALFORMED);
  TN_CHECK_STATUS(tn_link_key_info_encode(NULL, 0, &n), TN_ERR_NULL);
}

TN_TEST(key_info_reply_layout_and_round_trips) {
  tn_link_key_info_reply m;
  sealing_reply(&m);
  uint8_t b[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n), TN_OK);
  TN_REQUIRE(n == 75 + 24);
  TN_CHECK_EQ(b[0], 0x04);
  TN_CHECK_EQ(b[64], (uint8_t)(64 * 7));
  TN_CHECK_EQ(b[65], 1);
  TN_CHECK_EQ(b[66], 0xD0);
  TN_CHECK_EQ(b[73], 0xD7);
  TN_CHECK_EQ(b[74], 24);
  TN_CHECK(memcmp(b + 75, kDeviceId, 24) == 0);
  tn_test_digest("key_info_reply_sealing", b, n);
  tn_link_key_info_reply d;
  TN_CHECK_STATUS(tn_link_key_info_reply_decode(b, n, &d), TN_OK);
  TN_CHECK(memcmp(&d, &m, sizeof(d)) == 0);

  /* No key yet: 75 bytes, zero key id, empty device id. */
  memset(&m, 0, sizeof(m));
  sample_public_key(m.node_public_key);
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n), TN_OK);
  TN_CHECK_EQ(n, 75);
  TN_CHECK_EQ(b[65], 0);
  TN_CHECK_EQ(b[74], 0);
  tn_test_digest("key_info_reply_none", b, n);
  TN_CHECK_STATUS(tn_link_key_info_reply_decode(b, n, &d), TN_OK);
  TN_CHECK(memcmp(&d, &m, sizeof(d)) == 0);

  /* The longest device id: 107 bytes. */
  sealing_reply(&m);
  memset(m.device_id, '~', 32);
  m.device_id[32] = '\0';
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n), TN_OK);
  TN_CHECK_EQ(n, 107);
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, 106, &n),
                  TN_ERR_BUFFER_TOO_SMALL);
}

/* Encodes the sealing reply, patches one byte, expects MALFORMED. */
static void expect_reply_refused(size_t at, uint8_t value) {
  tn_link_key_info_reply m;
  sealing_reply(&m);
  uint8_t b[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n), TN_OK);
  b[at] = value;
  tn_link_key_info_reply d;
  tn_status st = tn_link_key_info_reply_decode(b, n, &d);
  if (st != TN_ERR_MSG_MALFORMED) {
    TN_CHECK_STATUS(st, TN_ERR_MSG_MALFORMED);
    TN_CHECK_EQ(at, 0); /* names the patch */
  }
}

TN_TEST(key_info_reply_rules) {
  expect_reply_refused(0, 0x02); /* compressed point prefix */
  expect_reply_refused(0, 0x00);
  expect_reply_refused(65, 2);  /* unknown key state */
  expect_reply_refused(65, 0);  /* NONE with a key id and a device id */
  expect_reply_refused(74, 0);  /* SEALING without a device id */
  expect_reply_refused(74, 23); /* length disagrees with the payload */
  expect_reply_refused(74, 33);
  expect_reply_refused(75, ' '); /* space is not allowed */
  expect_reply_refused(98, 0x7F);
  expect_reply_refused(80, 0x00);

  tn_link_key_info_reply m;
  memset(&m, 0, sizeof(m));
  sample_public_key(m.node_public_key);
  uint8_t b[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n), TN_OK);
  tn_link_key_info_reply d;
  b[70] = 1; /* NONE with a non-zero key id */
  TN_CHECK_STATUS(tn_link_key_info_reply_decode(b, n, &d),
                  TN_ERR_MSG_MALFORMED);

  /* Every truncation and a trailing byte. */
  sealing_reply(&m);
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n), TN_OK);
  for (size_t len = 0; len < n; ++len) {
    TN_CHECK_STATUS(tn_link_key_info_reply_decode(b, len, &d),
                    TN_ERR_MSG_MALFORMED);
  }
  b[n] = 'x';
  TN_CHECK_STATUS(tn_link_key_info_reply_decode(b, n + 1, &d),
                  TN_ERR_MSG_MALFORMED);

  /* The encoder refuses what the decoder rejects. */
  sealing_reply(&m);
  m.node_public_key[0] = 0x03;
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n),
                  TN_ERR_ARG);
  sealing_reply(&m);
  m.key_state = TN_LINK_KEY_STATE_NONE;
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n),
                  TN_ERR_ARG);
  sealing_reply(&m);
  m.device_id[0] = '\0';
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n),
                  TN_ERR_ARG);
  sealing_reply(&m);
  m.device_id[3] = '\t';
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n),
                  TN_ERR_ARG);
  sealing_reply(&m);
  memset(m.device_id, 'a', sizeof(m.device_id)); /* no NUL within 33 */
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(&m, b, sizeof(b), &n),
                  TN_ERR_ARG);
  TN_CHECK_STATUS(tn_link_key_info_reply_encode(NULL, b, sizeof(b), &n),
                  TN_ERR_NULL);
  TN_CHECK_STATUS(tn_link_key_info_reply_decode(NULL, 3, &d), TN_ERR_NULL);
}

static void gateway_key(tn_link_set_gateway_key* m) {
  memset(m, 0, sizeof(*m));
  sample_public_key(m->gateway_public_key);
  strcpy(m->device_id, kDeviceId);
}

TN_TEST(set_gateway_key_layout_rules_and_round_trips) {
  tn_link_set_gateway_key m;
  gateway_key(&m);
  uint8_t b[TN_LINK_MAX_PAYLOAD];
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_set_gateway_key_encode(&m, b, sizeof(b), &n), TN_OK);
  TN_REQUIRE(n == 66 + 24);
  TN_CHECK_EQ(b[0], 0x04);
  TN_CHECK_EQ(b[65], 24);
  TN_CHECK(memcmp(b + 66, kDeviceId, 24) == 0);
  tn_test_digest("set_gateway_key", b, n);
  tn_link_set_gateway_key d;
  TN_CHECK_STATUS(tn_link_set_gateway_key_decode(b, n, &d), TN_OK);
  TN_CHECK(memcmp(&d, &m, sizeof(d)) == 0);

  uint8_t c[TN_LINK_MAX_PAYLOAD];
  static const struct {
    size_t at;
    uint8_t value;
  } patches[] = {{0, 0x02}, {0, 0x00}, {65, 0},    {65, 23},
                 {65, 33},  {66, ' '}, {89, 0x80}, {70, 0x00}};
  for (size_t i = 0; i < TN_ARRAY_SIZE(patches); ++i) {
    memcpy(c, b, n);
    c[patches[i].at] = patches[i].value;
    TN_CHECK_STATUS(tn_link_set_gateway_key_decode(c, n, &d),
                    TN_ERR_MSG_MALFORMED);
  }
  for (size_t len = 0; len < n; ++len) {
    TN_CHECK_STATUS(tn_link_set_gateway_key_decode(b, len, &d),
                    TN_ERR_MSG_MALFORMED);
  }
  b[n] = 'x';
  TN_CHECK_STATUS(tn_link_set_gateway_key_decode(b, n + 1, &d),
                  TN_ERR_MSG_MALFORMED);

  gateway_key(&m);
  m.gateway_public_key[0] = 0x02;
  TN_CHECK_STATUS(tn_link_set_gateway_key_encode(&m, b, sizeof(b), &n),
                  TN_ERR_ARG);
  gateway_key(&m);
  m.device_id[0] = '\0';
  TN_CHECK_STATUS(tn_link_set_gateway_key_encode(&m, b, sizeof(b), &n),
                  TN_ERR_ARG);
  gateway_key(&m);
  TN_CHECK_STATUS(tn_link_set_gateway_key_encode(&m, b, 89, &n),
                  TN_ERR_BUFFER_TOO_SMALL);
}

TN_TEST(type_tables_and_requester_rules) {
  TN_CHECK(strcmp(tn_link_msg_type_str(TN_LINK_MSG_KEY_INFO), "KEY_INFO") == 0);
  TN_CHECK(strcmp(tn_link_msg_type_str(TN_LINK_MSG_KEY_INFO_REPLY),
                  "KEY_INFO_REPLY") == 0);
  TN_CHECK(strcmp(tn_link_msg_type_str(TN_LINK_MSG_SET_GATEWAY_KEY),
                  "SET_GATEWAY_KEY") == 0);
  TN_CHECK(tn_link_msg_type_known(0x50) && tn_link_msg_type_known(0x51) &&
           tn_link_msg_type_known(0x52));
  TN_CHECK(!tn_link_msg_type_known(0x53));
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_KEY_INFO),
              TN_LINK_MSG_KEY_INFO_REPLY);
  TN_CHECK_EQ(tn_link_reply_type(TN_LINK_MSG_SET_GATEWAY_KEY), 0);
  TN_CHECK(tn_link_expects_response(TN_LINK_MSG_KEY_INFO, 0));
  TN_CHECK(!tn_link_expects_response(TN_LINK_MSG_SET_GATEWAY_KEY, 0));
  TN_CHECK(tn_link_expects_response(TN_LINK_MSG_SET_GATEWAY_KEY,
                                    TN_LINK_FLAG_ACK_REQUESTED));

  /* KEY_INFO is answered by KEY_INFO_REPLY or NACK, never by ACK. */
  tn_link_requester req;
  tn_link_requester_init(&req, 40);
  uint16_t seq = 0;
  TN_CHECK_STATUS(tn_link_requester_start(&req, TN_LINK_MSG_KEY_INFO, 0, &seq),
                  TN_OK);
  uint8_t ack_payload[5];
  size_t n = 0;
  tn_link_ack ack = {seq, TN_LINK_MSG_KEY_INFO, 0};
  TN_CHECK_STATUS(tn_link_ack_encode(&ack, ack_payload, 5, &n), TN_OK);
  tn_link_frame r = {
      TN_LINK_MSG_ACK, TN_LINK_FLAG_RESPONSE, seq, 5, ack_payload, 0};
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &r), TN_ERR_MSG_TYPE);
  r.type = TN_LINK_MSG_KEY_INFO_REPLY;
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &r), TN_OK);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(key_info_is_empty),
      TN_CASE(key_info_reply_layout_and_round_trips),
      TN_CASE(key_info_reply_rules),
      TN_CASE(set_gateway_key_layout_rules_and_round_trips),
      TN_CASE(type_tables_and_requester_rules),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
