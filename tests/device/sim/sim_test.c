/*
 * Tests of the virtual node on in-memory storage (so they also run under
 * QEMU): HELLO answered with the node's identity, the same identity after a
 * restart from the same storage, corrupt storage refused, PING/PONG, NACK
 * codes for unsupported, unknown, malformed and wrong-version requests,
 * duplicate requests answered from the cache without running twice, a
 * byte stream with garbage fed in random chunks, and a node asked for
 * telemetry refusing to start without a crypto port (sealed telemetry itself
 * is tested on the host by sim_telemetry_test.c).
 */
#include <string.h>

#include "base/tn_rng.h"
#include "link/tn_link.h"
#include "sim/tn_sim.h"
#include "tn_test.h"

/* Deterministic entropy: 16 bytes counting up from `next`; counts calls. */
typedef struct fake_entropy {
  uint8_t next;
  int calls;
} fake_entropy;

static tn_status fake_entropy_fill(void* ctx, uint8_t* out, size_t len) {
  fake_entropy* e = (fake_entropy*)ctx;
  ++e->calls;
  for (size_t i = 0; i < len; ++i) out[i] = e->next++;
  return TN_OK;
}

static tn_status failing_entropy(void* ctx, uint8_t* out, size_t len) {
  (void)ctx;
  (void)out;
  (void)len;
  return TN_ERR_BUSY;
}

static void config_for(tn_sim_config* cfg, tn_sim_mem_storage* mem,
                       fake_entropy* e, tn_target target) {
  tn_sim_config_init(cfg);
  cfg->target = target;
  cfg->firmware_version = "sim 2.0";
  cfg->storage = tn_sim_mem_storage_interface(mem);
  cfg->entropy = fake_entropy_fill;
  cfg->entropy_ctx = e;
}

/* Sends one request through the node and decodes the single response frame
 * into *resp (payload copied to resp_payload). Returns the response length
 * in wire bytes (0: no response). */
static size_t exchange(tn_sim_node* node, uint8_t type, uint8_t flags,
                       uint16_t seq, const uint8_t* payload, size_t len,
                       tn_link_frame* resp, uint8_t* resp_payload) {
  static uint8_t wire[TN_LINK_MAX_WIRE_FRAME];
  static tn_link_decoder dec;
  tn_link_frame f = {type, flags, seq, (uint16_t)len, payload, 0};
  size_t n = 0;
  size_t used = 0;
  const tn_link_frame* in = NULL;
  tn_link_decoder_init(&dec);
  TN_CHECK_STATUS(tn_link_frame_encode(&f, wire, sizeof(wire), &n), TN_OK);
  TN_CHECK_STATUS(tn_link_decoder_feed(&dec, wire, n, &used, &in), TN_OK);
  if (in == NULL) return 0;
  const uint8_t* out = NULL;
  size_t out_len = 0;
  TN_CHECK_STATUS(tn_sim_node_handle(node, in, &out, &out_len), TN_OK);
  if (out_len == 0) return 0;
  static tn_link_decoder rdec;
  tn_link_decoder_init(&rdec);
  const tn_link_frame* r = NULL;
  TN_CHECK_STATUS(tn_link_decoder_feed(&rdec, out, out_len, &used, &r), TN_OK);
  TN_CHECK_EQ(used, out_len);
  if (r == NULL) return 0;
  *resp = *r;
  memcpy(resp_payload, r->payload, r->payload_len);
  resp->payload = resp_payload;
  return out_len;
}

static void hello(tn_sim_node* node, uint16_t seq, tn_link_hello_reply* reply) {
  uint8_t p[8];
  size_t n = 0;
  tn_link_hello h = {TN_LINK_VERSION, 512};
  TN_CHECK_STATUS(tn_link_hello_encode(&h, p, sizeof(p), &n), TN_OK);
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  size_t len = exchange(node, TN_LINK_MSG_HELLO, 0, seq, p, n, &resp, rp);
  TN_REQUIRE(len > 0);
  TN_CHECK_EQ(resp.type, TN_LINK_MSG_HELLO_REPLY);
  TN_CHECK_EQ(resp.flags, TN_LINK_FLAG_RESPONSE);
  TN_CHECK_EQ(resp.seq, seq);
  TN_CHECK_STATUS(
      tn_link_hello_reply_decode(resp.payload, resp.payload_len, reply), TN_OK);
}

TN_TEST(hello_reply_carries_identity) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  tn_sim_mem_storage_init(&mem);
  fake_entropy e = {0xA0, 0};
  tn_sim_config cfg;
  config_for(&cfg, &mem, &e, TN_TARGET_GAP9);
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_OK);
  TN_CHECK_EQ(e.calls, 1);
  TN_CHECK_EQ(node.boot_count, 1);

  tn_link_hello_reply r;
  hello(&node, 5, &r);
  for (size_t i = 0; i < TN_LINK_HARDWARE_ID_SIZE; ++i) {
    TN_CHECK_EQ(r.hardware_id[i], 0xA0 + i);
  }
  TN_CHECK_EQ(r.link_version, TN_LINK_VERSION);
  TN_CHECK_EQ(r.target, TN_TARGET_GAP9);
  TN_CHECK(strcmp(r.firmware_version, "sim 2.0") == 0);
  TN_CHECK_EQ(r.max_payload, TN_LINK_MAX_PAYLOAD);
  TN_CHECK_EQ(r.capabilities, 0);
  TN_CHECK_EQ(r.slot_count, TN_SIM_DEFAULT_SLOTS);
  TN_CHECK_EQ(r.slots[0].state, TN_LINK_SLOT_EMPTY);
  TN_CHECK_EQ(r.slots[1].state, TN_LINK_SLOT_EMPTY);
  TN_CHECK_EQ(node.peer_max_payload, 512);
  /* The documented example (docs/formats/link-protocol.md): this node's
   * reply to a HELLO with seq 1, computed independently. */
  static const uint8_t documented[] = {
      0x00, 0x05, 0x01, 0x02, 0x02, 0x01, 0x02, 0x4b, 0x13, 0x01, 0xa0, 0xa1,
      0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad,
      0xae, 0xaf, 0x03, 0x01, 0x01, 0x01, 0x01, 0x0b, 0x04, 0x07, 0x73, 0x69,
      0x6d, 0x20, 0x32, 0x2e, 0x30, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
      0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
      0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
      0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x05,
      0xf8, 0x77, 0x98, 0xdf, 0x00,
  };
  const uint8_t h1[3] = {1, 0x00, 0x04};
  tn_link_frame f1 = {TN_LINK_MSG_HELLO, 0, 1, 3, h1, 0};
  const uint8_t* doc_out = NULL;
  size_t doc_len = 0;
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &f1, &doc_out, &doc_len), TN_OK);
  TN_CHECK_EQ(doc_len, sizeof(documented));
  TN_CHECK(doc_len == sizeof(documented) &&
           memcmp(doc_out, documented, doc_len) == 0);
  /* The exact response bytes, for the host/rv32 comparison. */
  const uint8_t* out = NULL;
  size_t out_len = 0;
  uint8_t p[3] = {1, 0x00, 0x02};
  tn_link_frame f = {TN_LINK_MSG_HELLO, 0, 6, 3, p, 0};
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &f, &out, &out_len), TN_OK);
  TN_REQUIRE(out_len > 0);
  tn_test_digest("sim.hello_reply", out, out_len);
}

TN_TEST(identity_survives_restart) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  tn_sim_mem_storage_init(&mem);
  fake_entropy e = {0x11, 0};
  tn_sim_config cfg;
  config_for(&cfg, &mem, &e, TN_TARGET_GAP8);
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_OK);
  tn_link_hello_reply first;
  hello(&node, 1, &first);

  /* Restart from the same storage with a different entropy source and
   * another profile: the hardware id stays, entropy is not consulted. */
  fake_entropy e2 = {0x77, 0};
  config_for(&cfg, &mem, &e2, TN_TARGET_HOST);
  memset(&node, 0xCD, sizeof(node));
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_OK);
  TN_CHECK_EQ(e2.calls, 0);
  TN_CHECK_EQ(node.boot_count, 2);
  tn_link_hello_reply second;
  hello(&node, 1, &second);
  TN_CHECK(memcmp(first.hardware_id, second.hardware_id, 16) == 0);
  TN_CHECK_EQ(second.target, TN_TARGET_HOST);
  tn_test_digest("sim.identity", second.hardware_id, 16);

  /* A third boot counts on. */
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_OK);
  TN_CHECK_EQ(node.boot_count, 3);

  /* Fresh storage: a new identity from the entropy source. */
  static tn_sim_mem_storage other;
  tn_sim_mem_storage_init(&other);
  config_for(&cfg, &other, &e2, TN_TARGET_HOST);
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_OK);
  TN_CHECK_EQ(e2.calls, 1);
  TN_CHECK(memcmp(node.info.hardware_id, first.hardware_id, 16) != 0);
  TN_CHECK_EQ(node.boot_count, 1);
}

TN_TEST(corrupt_or_failing_storage_is_refused) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  tn_sim_mem_storage_init(&mem);
  fake_entropy e = {0x30, 0};
  tn_sim_config cfg;
  config_for(&cfg, &mem, &e, TN_TARGET_GAP9);
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_OK);
  uint8_t id[16];
  memcpy(id, node.info.hardware_id, 16);

  /* Flip one bit of the stored identity: refused, and left as it was. */
  tn_sim_mem_region* ident = NULL;
  for (size_t i = 0; i < TN_SIM_MEM_REGIONS; ++i) {
    if (mem.regions[i].used && strcmp(mem.regions[i].name, "identity") == 0) {
      ident = &mem.regions[i];
    }
  }
  TN_REQUIRE(ident != NULL);
  ident->data[7] ^= 0x04;
  uint32_t writes = mem.writes;
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_ERR_STORAGE);
  TN_CHECK_EQ(mem.writes, writes);
  ident->data[7] ^= 0x04;
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_OK);
  TN_CHECK(memcmp(node.info.hardware_id, id, 16) == 0);
  /* A truncated identity region. */
  ident->len = 10;
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_ERR_STORAGE);

  /* A failing entropy source on first boot is reported, nothing stored. */
  static tn_sim_mem_storage empty;
  tn_sim_mem_storage_init(&empty);
  config_for(&cfg, &empty, &e, TN_TARGET_GAP9);
  cfg.entropy = failing_entropy;
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_ERR_BUSY);
  TN_CHECK_EQ(empty.writes, 0);
}

/* Stores a slot table record as the node keeps it: "TNSL", format 1, count,
 * count * (state, model id, version), CRC-32. */
static void put_slots(tn_sim_mem_storage* mem, const tn_link_slot* slots,
                      uint8_t count) {
  uint8_t rec[TN_SIM_REGION_MAX];
  memcpy(rec, "TNSL", 4);
  rec[4] = 1;
  rec[5] = count;
  size_t pos = 6;
  for (uint8_t i = 0; i < count; ++i) {
    rec[pos] = slots[i].state;
    memcpy(rec + pos + 1, slots[i].model_id, 16);
    tn_store_u32le(rec + pos + 17, slots[i].model_version);
    pos += 21;
  }
  tn_store_u32le(rec + pos, tn_link_crc32(0, rec, pos));
  tn_sim_storage s = tn_sim_mem_storage_interface(mem);
  TN_CHECK_STATUS(s.write(s.ctx, "slots", rec, pos + 4), TN_OK);
}

TN_TEST(stored_slot_table_is_reported) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  tn_sim_mem_storage_init(&mem);
  tn_link_slot slots[2];
  memset(slots, 0, sizeof(slots));
  slots[0].state = TN_LINK_SLOT_VALID;
  memset(slots[0].model_id, 0x5A, 16);
  slots[0].model_version = 3;
  slots[1].state = TN_LINK_SLOT_PENDING_CONFIRM;
  memset(slots[1].model_id, 0x6B, 16);
  slots[1].model_version = 4;
  put_slots(&mem, slots, 2);
  fake_entropy e = {0, 0};
  tn_sim_config cfg;
  config_for(&cfg, &mem, &e, TN_TARGET_GAP9);
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_OK);
  tn_link_hello_reply r;
  hello(&node, 9, &r);
  TN_CHECK_EQ(r.slot_count, 2);
  TN_CHECK_EQ(r.slots[0].state, TN_LINK_SLOT_VALID);
  TN_CHECK_EQ(r.slots[0].model_version, 3);
  TN_CHECK_EQ(r.slots[1].state, TN_LINK_SLOT_PENDING_CONFIRM);
  TN_CHECK_EQ(r.slots[1].model_id[15], 0x6B);
  TN_CHECK_EQ(r.slots[1].model_version, 4);

  /* A table the protocol forbids (two running slots) is corrupt storage. */
  slots[0].state = TN_LINK_SLOT_ACTIVE;
  put_slots(&mem, slots, 2);
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_ERR_STORAGE);
}

TN_TEST(bad_configuration_is_refused) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  tn_sim_mem_storage_init(&mem);
  fake_entropy e = {0, 0};
  tn_sim_config cfg;
  config_for(&cfg, &mem, &e, TN_TARGET_GAP9);
  cfg.firmware_version = "0123456789abcdef0123456789abcdefX"; /* 33 */
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_ERR_ARG);
  cfg.firmware_version = "tab\there";
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_ERR_ARG);
  cfg.firmware_version = "";
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_ERR_ARG);
  cfg.firmware_version = NULL; /* the default */
  cfg.target = TN_TARGET_UNSPECIFIED;
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_ERR_ARG);
  cfg.target = TN_TARGET_GAP9;
  cfg.max_payload = 100;
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_ERR_ARG);
  cfg.max_payload = 0;
  cfg.entropy = NULL;
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_ERR_NULL);
  TN_CHECK_EQ(mem.writes, 0); /* nothing stored by a refused open */
  cfg.entropy = fake_entropy_fill;
  TN_CHECK_STATUS(tn_sim_node_open(&node, &cfg), TN_OK);
  TN_CHECK(
      strcmp(node.info.firmware_version, TN_SIM_DEFAULT_FIRMWARE_VERSION) == 0);
}

static void open_default(tn_sim_node* node, tn_sim_mem_storage* mem) {
  static fake_entropy e;
  e.next = 0x42;
  e.calls = 0;
  tn_sim_mem_storage_init(mem);
  tn_sim_config cfg;
  config_for(&cfg, mem, &e, TN_TARGET_GAP9);
  TN_CHECK_STATUS(tn_sim_node_open(node, &cfg), TN_OK);
}

/* Expects a NACK for (type, flags, payload) naming `code`. */
static void expect_nack(tn_sim_node* node, uint8_t type, uint8_t flags,
                        uint16_t seq, const uint8_t* p, size_t n,
                        tn_status code) {
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  size_t len = exchange(node, type, flags, seq, p, n, &resp, rp);
  TN_REQUIRE(len > 0);
  TN_CHECK_EQ(resp.type, TN_LINK_MSG_NACK);
  TN_CHECK_EQ(resp.seq, seq);
  tn_link_ack a;
  TN_CHECK_STATUS(tn_link_nack_decode(resp.payload, resp.payload_len, &a),
                  TN_OK);
  TN_CHECK_EQ(a.acked_seq, seq);
  TN_CHECK_EQ(a.acked_type, type);
  TN_CHECK_STATUS(a.status, code);
}

TN_TEST(ping_and_nack_codes) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  open_default(&node, &mem);
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  uint8_t p[8];
  tn_store_u32le(p, 0xC0FFEE01u);
  size_t len = exchange(&node, TN_LINK_MSG_PING, 0, 77, p, 4, &resp, rp);
  TN_REQUIRE(len > 0);
  TN_CHECK_EQ(resp.type, TN_LINK_MSG_PONG);
  TN_CHECK_EQ(resp.seq, 77);
  tn_link_ping pong;
  TN_CHECK_STATUS(tn_link_ping_decode(resp.payload, resp.payload_len, &pong),
                  TN_OK);
  TN_CHECK_EQ(pong.nonce, 0xC0FFEE01u);

  /* Every type the node knows but does not implement yet. */
  static const uint8_t later[] = {
      TN_LINK_MSG_HEARTBEAT,    TN_LINK_MSG_TELEMETRY,
      TN_LINK_MSG_MODEL_BEGIN,  TN_LINK_MSG_MODEL_CHUNK,
      TN_LINK_MSG_MODEL_COMMIT, TN_LINK_MSG_ACTIVATE,
      TN_LINK_MSG_CONFIRM,      TN_LINK_MSG_ROLLBACK,
      TN_LINK_MSG_TRAIN,        TN_LINK_MSG_TRAIN_TAIL,
      TN_LINK_MSG_TRAIN_CANCEL, TN_LINK_MSG_INFER_REQUEST};
  for (size_t i = 0; i < TN_ARRAY_SIZE(later); ++i) {
    expect_nack(&node, later[i], TN_LINK_FLAG_ACK_REQUESTED,
                (uint16_t)(100 + i), p, 1, TN_ERR_UNSUPPORTED);
  }
  /* INFER_REQUEST has a typed reply, so it is answered even unasked. */
  expect_nack(&node, TN_LINK_MSG_INFER_REQUEST, 0, 120, p, 3,
              TN_ERR_UNSUPPORTED);
  /* Without ACK_REQUESTED and without a typed reply: no answer at all. */
  TN_CHECK_EQ(exchange(&node, TN_LINK_MSG_MODEL_CHUNK, 0, 121, p, 1, &resp, rp),
              0);
  /* Unknown types and response types sent as requests. */
  expect_nack(&node, 0x7F, TN_LINK_FLAG_ACK_REQUESTED, 122, p, 0,
              TN_ERR_MSG_TYPE);
  expect_nack(&node, TN_LINK_MSG_ACK, TN_LINK_FLAG_ACK_REQUESTED, 123, p, 0,
              TN_ERR_MSG_TYPE);
  expect_nack(&node, TN_LINK_MSG_UPDATE_CHUNK, TN_LINK_FLAG_ACK_REQUESTED, 131,
              p, 0, TN_ERR_MSG_TYPE);
  /* Malformed payloads and a foreign link version. */
  expect_nack(&node, TN_LINK_MSG_PING, 0, 124, p, 3, TN_ERR_MSG_MALFORMED);
  const uint8_t hello_short[] = {1, 0};
  expect_nack(&node, TN_LINK_MSG_HELLO, 0, 125, hello_short, 2,
              TN_ERR_MSG_MALFORMED);
  const uint8_t hello_v2[] = {2, 0, 4};
  expect_nack(&node, TN_LINK_MSG_HELLO, 0, 126, hello_v2, 3,
              TN_ERR_PROTOCOL_VERSION);
  /* Responses are not requests: ignored. */
  TN_CHECK_EQ(exchange(&node, TN_LINK_MSG_PONG, TN_LINK_FLAG_RESPONSE, 127, p,
                       4, &resp, rp),
              0);
  TN_CHECK_EQ(node.stats.responses_ignored, 1);
  TN_CHECK_EQ(node.stats.nacks, TN_ARRAY_SIZE(later) + 7);
}

TN_TEST(duplicate_requests_are_not_run_twice) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  open_default(&node, &mem);
  uint8_t begin[53];
  memset(begin, 0x01, sizeof(begin));
  tn_link_frame req = {TN_LINK_MSG_MODEL_BEGIN,
                       TN_LINK_FLAG_ACK_REQUESTED,
                       7,
                       sizeof(begin),
                       begin,
                       0x11111111u};
  const uint8_t* out = NULL;
  size_t n1 = 0;
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &req, &out, &n1), TN_OK);
  TN_REQUIRE(n1 > 0 && n1 <= 64);
  uint8_t first[64];
  memcpy(first, out, n1);
  TN_CHECK_EQ(node.stats.requests, 1);

  /* The retry: same seq, type and CRC -> same bytes, not executed. */
  size_t n2 = 0;
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &req, &out, &n2), TN_OK);
  TN_CHECK_EQ(n2, n1);
  TN_CHECK(n2 == n1 && memcmp(out, first, n1) == 0);
  TN_CHECK_EQ(node.stats.requests, 1);
  TN_CHECK_EQ(node.stats.repeats, 1);
  TN_CHECK_EQ(node.stats.nacks, 1);

  /* Same seq, new contents: executed. */
  req.crc = 0x22222222u;
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &req, &out, &n2), TN_OK);
  TN_CHECK_EQ(node.stats.requests, 2);

  /* PING retried: the cached PONG, even after the node's state moved on. */
  uint8_t p[4];
  tn_store_u32le(p, 5);
  tn_link_frame ping = {TN_LINK_MSG_PING, 0, 8, 4, p, 0x33333333u};
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &ping, &out, &n1), TN_OK);
  memcpy(first, out, n1);
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &ping, &out, &n2), TN_OK);
  TN_CHECK(n2 == n1 && memcmp(out, first, n1) == 0);
  TN_CHECK_EQ(node.stats.requests, 3);
  TN_CHECK_EQ(node.stats.repeats, 2);

  /* HELLO opens a session: always executed, never replayed. */
  const uint8_t h[3] = {1, 0x00, 0x04};
  tn_link_frame hello_req = {TN_LINK_MSG_HELLO, 0, 9, 3, h, 0x44444444u};
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &hello_req, &out, &n1), TN_OK);
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &hello_req, &out, &n2), TN_OK);
  TN_CHECK_EQ(node.stats.requests, 5);
  TN_CHECK_EQ(node.stats.repeats, 2);
  /* ...and it forgets the cached PING. */
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &ping, &out, &n2), TN_OK);
  TN_CHECK_EQ(node.stats.requests, 6);

  /* A fire-and-forget request retried: still not executed twice. */
  tn_link_frame hb = {TN_LINK_MSG_HEARTBEAT, 0, 10, 0, NULL, 0x55555555u};
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &hb, &out, &n1), TN_OK);
  TN_CHECK_EQ(n1, 0);
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &hb, &out, &n1), TN_OK);
  TN_CHECK_EQ(n1, 0);
  TN_CHECK_EQ(node.stats.requests, 7);
  TN_CHECK_EQ(node.stats.repeats, 3);

  /* A new connection forgets the cache. */
  tn_sim_node_link_reset(&node);
  TN_CHECK_STATUS(tn_sim_node_handle(&node, &hb, &out, &n1), TN_OK);
  TN_CHECK_EQ(node.stats.requests, 8);
}

/* Collects everything the node writes. */
typedef struct sink {
  uint8_t data[8192];
  size_t len;
} sink;

static tn_status sink_write(void* ctx, const uint8_t* data, size_t len) {
  sink* s = (sink*)ctx;
  if (len > sizeof(s->data) - s->len) return TN_ERR_BUFFER_TOO_SMALL;
  memcpy(s->data + s->len, data, len);
  s->len += len;
  return TN_OK;
}

TN_TEST(byte_stream_with_garbage_in_random_chunks) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  static tn_link_decoder dec;
  static uint8_t stream[2048];
  static sink first;
  static sink again;
  open_default(&node, &mem);

  /* HELLO, garbage, PING, a CRC-damaged PING, PING retry, MODEL_COMMIT. */
  size_t pos = 0;
  size_t n = 0;
  const uint8_t h[3] = {1, 0x00, 0x04};
  tn_link_frame f1 = {TN_LINK_MSG_HELLO, 0, 1, 3, h, 0};
  TN_CHECK_STATUS(tn_link_frame_encode(&f1, stream + pos, 200, &n), TN_OK);
  pos += n;
  const char* junk = "AT+RESET\r\n";
  memcpy(stream + pos, junk, strlen(junk));
  pos += strlen(junk);
  uint8_t p[4] = {9, 8, 7, 6};
  tn_link_frame f2 = {TN_LINK_MSG_PING, 0, 2, 4, p, 0};
  TN_CHECK_STATUS(tn_link_frame_encode(&f2, stream + pos, 200, &n), TN_OK);
  pos += n;
  TN_CHECK_STATUS(tn_link_frame_encode(&f2, stream + pos, 200, &n), TN_OK);
  stream[pos + n - 3] ^= 0x01; /* inside the CRC */
  pos += n;
  TN_CHECK_STATUS(tn_link_frame_encode(&f2, stream + pos, 200, &n), TN_OK);
  pos += n;
  uint8_t id[16] = {0};
  tn_link_frame f3 = {
      TN_LINK_MSG_MODEL_COMMIT, TN_LINK_FLAG_ACK_REQUESTED, 3, 16, id, 0};
  TN_CHECK_STATUS(tn_link_frame_encode(&f3, stream + pos, 200, &n), TN_OK);
  pos += n;

  first.len = 0;
  tn_sim_node_link_reset(&node);
  tn_link_decoder_init(&dec);
  TN_CHECK_STATUS(
      tn_sim_node_receive(&node, &dec, stream, pos, sink_write, &first), TN_OK);
  /* Responses: HELLO_REPLY, PONG, PONG (replayed), NACK. */
  {
    static tn_link_decoder rdec;
    tn_link_decoder_init(&rdec);
    uint8_t types[8];
    size_t count = 0;
    size_t off = 0;
    while (off < first.len && count < 8) {
      size_t used = 0;
      const tn_link_frame* r = NULL;
      TN_CHECK_STATUS(tn_link_decoder_feed(&rdec, first.data + off,
                                           first.len - off, &used, &r),
                      TN_OK);
      off += used;
      if (r != NULL) types[count++] = r->type;
    }
    TN_CHECK_EQ(count, 4);
    TN_CHECK_EQ(types[0], TN_LINK_MSG_HELLO_REPLY);
    TN_CHECK_EQ(types[1], TN_LINK_MSG_PONG);
    TN_CHECK_EQ(types[2], TN_LINK_MSG_PONG);
    TN_CHECK_EQ(types[3], TN_LINK_MSG_NACK);
  }
  TN_CHECK_EQ(node.stats.frames_rejected, 2); /* garbage and the bad CRC */
  TN_CHECK_EQ(node.stats.repeats, 1);
  tn_test_digest("sim.stream_responses", first.data, first.len);

  /* The same stream in random chunks gives the same bytes out. */
  tn_rng rng;
  tn_rng_seed(&rng, 31, 4);
  for (int round = 0; round < 10; ++round) {
    again.len = 0;
    tn_sim_node_link_reset(&node);
    tn_link_decoder_init(&dec);
    size_t at = 0;
    while (at < pos) {
      size_t chunk = 1 + tn_rng_below(&rng, round < 5 ? 4 : 120);
      if (chunk > pos - at) chunk = pos - at;
      TN_CHECK_STATUS(tn_sim_node_receive(&node, &dec, stream + at, chunk,
                                          sink_write, &again),
                      TN_OK);
      at += chunk;
    }
    TN_CHECK_EQ(again.len, first.len);
    TN_CHECK(again.len == first.len &&
             memcmp(again.data, first.data, first.len) == 0);
  }
}

/* A node that sends telemetry needs the crypto port; without one it refuses
 * to open and writes nothing. */
TN_TEST(telemetry_needs_a_crypto_port) {
  static tn_sim_mem_storage mem;
  static tn_sim_node node;
  fake_entropy e = {0x10, 0};
  tn_sim_config cfg;
  tn_sim_mem_storage_init(&mem);
  config_for(&cfg, &mem, &e, TN_TARGET_GAP9);
  cfg.capabilities = TN_LINK_CAP_TELEMETRY;
  tn_status st = tn_sim_node_open(&node, &cfg);
  if (tn_secure_crypto_available()) {
    TN_CHECK_STATUS(st, TN_OK);
    TN_CHECK_EQ(node.telemetry, 1);
  } else {
    TN_CHECK_STATUS(st, TN_ERR_UNSUPPORTED);
    TN_CHECK_EQ(mem.writes, 0);
    TN_CHECK_EQ(e.calls, 0);
  }
  /* Without the capability, key requests are not served. */
  open_default(&node, &mem);
  tn_link_frame resp;
  uint8_t rp[TN_LINK_MAX_PAYLOAD];
  size_t len = exchange(&node, TN_LINK_MSG_KEY_INFO, 0, 9, NULL, 0, &resp, rp);
  TN_REQUIRE(len > 0);
  TN_CHECK_EQ(resp.type, TN_LINK_MSG_NACK);
  tn_link_ack nack;
  TN_CHECK_STATUS(tn_link_nack_decode(resp.payload, resp.payload_len, &nack),
                  TN_OK);
  TN_CHECK_EQ(nack.status, TN_ERR_UNSUPPORTED);
  const uint8_t* frame = NULL;
  size_t frame_len = 1;
  TN_CHECK_STATUS(tn_sim_node_poll(&node, 1000000, &frame, &frame_len), TN_OK);
  TN_CHECK_EQ(frame_len, 0);
  /* KEY_INFO_REPLY is a response type: refused as a request. */
  expect_nack(&node, TN_LINK_MSG_KEY_INFO_REPLY, TN_LINK_FLAG_ACK_REQUESTED, 10,
              rp, 0, TN_ERR_MSG_TYPE);
}

TN_TEST(mem_storage_contract) {
  static tn_sim_mem_storage mem;
  tn_sim_mem_storage_init(&mem);
  tn_sim_storage s = tn_sim_mem_storage_interface(&mem);
  uint8_t buf[TN_SIM_REGION_MAX + 1];
  size_t len = 0;
  TN_CHECK_STATUS(s.read(s.ctx, "identity", buf, sizeof(buf), &len),
                  TN_ERR_NOT_FOUND);
  TN_CHECK_STATUS(s.write(s.ctx, "Bad-Name", buf, 1), TN_ERR_ARG);
  TN_CHECK_STATUS(s.write(s.ctx, "", buf, 1), TN_ERR_ARG);
  TN_CHECK_STATUS(s.write(s.ctx, "sixteen_chars_xx", buf, 1), TN_ERR_ARG);
  TN_CHECK_STATUS(s.write(s.ctx, "a", buf, TN_SIM_REGION_MAX + 1),
                  TN_ERR_BUFFER_TOO_SMALL);
  memset(buf, 0x3C, sizeof(buf));
  TN_CHECK_STATUS(s.write(s.ctx, "a", buf, 10), TN_OK);
  TN_CHECK_STATUS(s.read(s.ctx, "a", buf, 9, &len), TN_ERR_BUFFER_TOO_SMALL);
  memset(buf, 0, sizeof(buf));
  TN_CHECK_STATUS(s.read(s.ctx, "a", buf, sizeof(buf), &len), TN_OK);
  TN_CHECK_EQ(len, 10);
  TN_CHECK_EQ(buf[9], 0x3C);
  /* Fill every remaining region ("b", "c", ...), then one too many. */
  char name[2] = {'b', '\0'};
  for (size_t i = 1; i < TN_SIM_MEM_REGIONS; ++i, ++name[0]) {
    TN_CHECK_STATUS(s.write(s.ctx, name, buf, 1), TN_OK);
  }
  TN_CHECK_STATUS(s.write(s.ctx, name, buf, 1), TN_ERR_STORAGE); /* full */
  TN_CHECK_STATUS(s.write(s.ctx, "a", buf, 0), TN_OK); /* rewrite is fine */
  TN_CHECK_STATUS(s.read(s.ctx, "a", buf, sizeof(buf), &len), TN_OK);
  TN_CHECK_EQ(len, 0);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(hello_reply_carries_identity),
      TN_CASE(identity_survives_restart),
      TN_CASE(corrupt_or_failing_storage_is_refused),
      TN_CASE(stored_slot_table_is_reported),
      TN_CASE(bad_configuration_is_refused),
      TN_CASE(ping_and_nack_codes),
      TN_CASE(duplicate_requests_are_not_run_twice),
      TN_CASE(byte_stream_with_garbage_in_random_chunks),
      TN_CASE(telemetry_needs_a_crypto_port),
      TN_CASE(mem_storage_contract),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
