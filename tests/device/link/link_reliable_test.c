/*
 * Tests of stop-and-wait reliability: the requester numbers requests, keeps
 * at most one outstanding and accepts only the response that answers it;
 * the responder recognises a retried request (same seq, type and CRC) and
 * hands back the identical response bytes, but not a new request that reuses
 * the sequence number.
 */
#include <string.h>

#include "link/tn_link.h"
#include "tn_test.h"

/* Builds a response frame carrying an ACK or NACK payload in `buf`. */
static tn_link_frame ack_frame(uint8_t type, uint16_t seq, uint8_t acked_type,
                               uint16_t status, uint8_t* buf) {
  tn_link_ack a = {seq, acked_type, status};
  size_t n = 0;
  tn_status st = type == TN_LINK_MSG_ACK ? tn_link_ack_encode(&a, buf, 8, &n)
                                         : tn_link_nack_encode(&a, buf, 8, &n);
  TN_CHECK_STATUS(st, TN_OK);
  tn_link_frame f = {type, TN_LINK_FLAG_RESPONSE, seq, (uint16_t)n, buf, 0};
  return f;
}

TN_TEST(requester_matches_typed_replies) {
  tn_link_requester req;
  tn_link_requester_init(&req, 0xFFFE);
  uint16_t seq = 0;
  TN_CHECK_STATUS(tn_link_requester_start(&req, TN_LINK_MSG_HELLO, 0, &seq),
                  TN_OK);
  TN_CHECK_EQ(seq, 0xFFFE);
  TN_CHECK_EQ(req.waiting, 1);
  uint16_t other = 0;
  TN_CHECK_STATUS(tn_link_requester_start(&req, TN_LINK_MSG_PING, 0, &other),
                  TN_ERR_BUSY);

  uint8_t payload[4] = {0};
  tn_link_frame stale = {TN_LINK_MSG_HELLO_REPLY,
                         TN_LINK_FLAG_RESPONSE,
                         (uint16_t)(seq - 1),
                         0,
                         payload,
                         0};
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &stale), TN_ERR_SEQUENCE);
  tn_link_frame wrong = {
      TN_LINK_MSG_PONG, TN_LINK_FLAG_RESPONSE, seq, 4, payload, 0};
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &wrong), TN_ERR_MSG_TYPE);
  tn_link_frame not_response = {TN_LINK_MSG_HELLO_REPLY, 0, seq, 0, payload, 0};
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &not_response), TN_ERR_ARG);
  uint8_t buf[8];
  tn_link_frame ack =
      ack_frame(TN_LINK_MSG_ACK, seq, TN_LINK_MSG_HELLO, 0, buf);
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &ack), TN_ERR_MSG_TYPE);
  TN_CHECK_EQ(req.waiting, 1);

  tn_link_frame right = {
      TN_LINK_MSG_HELLO_REPLY, TN_LINK_FLAG_RESPONSE, seq, 0, payload, 0};
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &right), TN_OK);
  TN_CHECK_EQ(req.waiting, 0);
  /* A duplicate of the same answer arriving later is not accepted twice. */
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &right), TN_ERR_STATE);

  /* Sequence numbers wrap. */
  TN_CHECK_STATUS(tn_link_requester_start(&req, TN_LINK_MSG_PING, 0, &seq),
                  TN_OK);
  TN_CHECK_EQ(seq, 0xFFFF);
  tn_link_frame nack =
      ack_frame(TN_LINK_MSG_NACK, seq, TN_LINK_MSG_PING, TN_ERR_BUSY, buf);
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &nack), TN_OK);
  TN_CHECK_STATUS(tn_link_requester_start(&req, TN_LINK_MSG_PING, 0, &seq),
                  TN_OK);
  TN_CHECK_EQ(seq, 0);
  tn_link_requester_cancel(&req);
  TN_CHECK_EQ(req.waiting, 0);
}

TN_TEST(requester_matches_acks_and_fire_and_forget) {
  tn_link_requester req;
  tn_link_requester_init(&req, 10);
  uint16_t seq = 0;
  /* A heartbeat without ACK_REQUESTED waits for nothing. */
  TN_CHECK_STATUS(tn_link_requester_start(&req, TN_LINK_MSG_HEARTBEAT, 0, &seq),
                  TN_OK);
  TN_CHECK_EQ(seq, 10);
  TN_CHECK_EQ(req.waiting, 0);
  TN_CHECK_STATUS(tn_link_requester_start(&req, TN_LINK_MSG_MODEL_CHUNK,
                                          TN_LINK_FLAG_RESPONSE, &seq),
                  TN_ERR_ARG);
  TN_CHECK_STATUS(tn_link_requester_start(&req, TN_LINK_MSG_MODEL_CHUNK,
                                          TN_LINK_FLAG_ACK_REQUESTED, &seq),
                  TN_OK);
  TN_CHECK_EQ(seq, 11);
  TN_CHECK_EQ(req.waiting, 1);
  uint8_t buf[8];
  /* An ACK naming another type or seq in its payload is refused. */
  tn_link_frame f =
      ack_frame(TN_LINK_MSG_ACK, seq, TN_LINK_MSG_MODEL_BEGIN, 0, buf);
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &f), TN_ERR_MSG_TYPE);
  f = ack_frame(TN_LINK_MSG_ACK, seq, TN_LINK_MSG_MODEL_CHUNK, 0, buf);
  tn_store_u16le(buf, 12); /* payload names seq 12, header seq 11 */
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &f), TN_ERR_SEQUENCE);
  f = ack_frame(TN_LINK_MSG_ACK, seq, TN_LINK_MSG_MODEL_CHUNK, 0, buf);
  f.payload_len = 4;
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &f), TN_ERR_MSG_MALFORMED);
  f = ack_frame(TN_LINK_MSG_ACK, seq, TN_LINK_MSG_MODEL_CHUNK, 0, buf);
  TN_CHECK_STATUS(tn_link_requester_accept(&req, &f), TN_OK);
  TN_CHECK_EQ(req.waiting, 0);
}

/* Encodes a request frame to wire bytes and decodes it back, so the frame
 * carries its real CRC as a receiver sees it. */
static void through_wire(const tn_link_frame* in, tn_link_decoder* dec,
                         const tn_link_frame** out) {
  uint8_t wire[64];
  size_t n = 0;
  size_t used = 0;
  *out = NULL;
  TN_CHECK_STATUS(tn_link_frame_encode(in, wire, sizeof(wire), &n), TN_OK);
  TN_CHECK_STATUS(tn_link_decoder_feed(dec, wire, n, &used, out), TN_OK);
}

TN_TEST(responder_replays_retries_only) {
  static tn_link_responder rsp;
  static tn_link_decoder dec;
  tn_link_responder_init(&rsp);
  tn_link_decoder_init(&dec);
  const uint8_t p1[] = {1, 2, 3, 4};
  const uint8_t p2[] = {1, 2, 3, 5};
  tn_link_frame req = {
      TN_LINK_MSG_MODEL_CHUNK, TN_LINK_FLAG_ACK_REQUESTED, 7, 4, p1, 0};
  const tn_link_frame* got = NULL;
  through_wire(&req, &dec, &got);
  TN_REQUIRE(got != NULL);
  const uint8_t* cached = NULL;
  size_t cached_len = 0;
  TN_CHECK(!tn_link_responder_repeat(&rsp, got, &cached, &cached_len));

  /* Handle it: the response is written into the responder's buffer. */
  uint8_t* out = tn_link_responder_begin(&rsp);
  TN_REQUIRE(out != NULL);
  uint8_t ack_payload[8];
  tn_link_frame ack =
      ack_frame(TN_LINK_MSG_ACK, 7, TN_LINK_MSG_MODEL_CHUNK, 0, ack_payload);
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&ack, out, TN_LINK_MAX_WIRE_FRAME, &n),
                  TN_OK);
  TN_CHECK_STATUS(tn_link_responder_finish(&rsp, got, n), TN_OK);
  tn_test_digest("responder.ack", out, n);
  uint8_t first[64];
  memcpy(first, out, n);

  /* The identical retry is recognised and answered with the same bytes. */
  through_wire(&req, &dec, &got);
  TN_REQUIRE(got != NULL);
  TN_CHECK(tn_link_responder_repeat(&rsp, got, &cached, &cached_len));
  TN_CHECK_EQ(cached_len, n);
  TN_CHECK(cached_len == n && memcmp(cached, first, n) == 0);

  /* Same seq and type but other contents: a new request. */
  req.payload = p2;
  through_wire(&req, &dec, &got);
  TN_REQUIRE(got != NULL);
  TN_CHECK(!tn_link_responder_repeat(&rsp, got, &cached, &cached_len));
  /* Same contents under another seq: a new request. */
  req.payload = p1;
  req.seq = 8;
  through_wire(&req, &dec, &got);
  TN_REQUIRE(got != NULL);
  TN_CHECK(!tn_link_responder_repeat(&rsp, got, &cached, &cached_len));
  /* A response frame never matches. */
  req.seq = 7;
  req.flags = TN_LINK_FLAG_RESPONSE;
  through_wire(&req, &dec, &got);
  TN_REQUIRE(got != NULL);
  TN_CHECK(!tn_link_responder_repeat(&rsp, got, &cached, &cached_len));

  /* A request recorded without a response replays as "send nothing". */
  req.flags = 0;
  req.type = TN_LINK_MSG_HEARTBEAT;
  through_wire(&req, &dec, &got);
  TN_REQUIRE(got != NULL);
  (void)tn_link_responder_begin(&rsp);
  TN_CHECK_STATUS(tn_link_responder_finish(&rsp, got, 0), TN_OK);
  cached_len = 99;
  TN_CHECK(tn_link_responder_repeat(&rsp, got, &cached, &cached_len));
  TN_CHECK_EQ(cached_len, 0);
  TN_CHECK_STATUS(
      tn_link_responder_finish(&rsp, got, TN_LINK_MAX_WIRE_FRAME + 1),
      TN_ERR_ARG);

  /* begin forgets the entry; init too. */
  (void)tn_link_responder_begin(&rsp);
  TN_CHECK(!tn_link_responder_repeat(&rsp, got, &cached, &cached_len));
  TN_CHECK_STATUS(tn_link_responder_finish(&rsp, got, 0), TN_OK);
  tn_link_responder_init(&rsp);
  TN_CHECK(!tn_link_responder_repeat(&rsp, got, &cached, &cached_len));
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(requester_matches_typed_replies),
      TN_CASE(requester_matches_acks_and_fire_and_forget),
      TN_CASE(responder_replays_retries_only),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
