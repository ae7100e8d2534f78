/*
 * Tests of the link framing: CRC-32 check value, COBS vectors and edge cases,
 * the frame encoder against bytes computed independently (the examples of
 * docs/formats/link-protocol.md), and the streaming decoder fed byte by byte
 * and in random chunks, rejecting corrupt, oversize, truncated and garbage
 * input with the right code and recovering for the next good frame.
 */
#include <string.h>

#include "base/tn_rng.h"
#include "link/tn_link.h"
#include "tn_test.h"

/* ---- helpers --------------------------------------------------------------
 */

/* Builds a raw frame (header | payload | CRC) with an explicit header, so
 * tests can make frames the encoder refuses to produce. Returns its size. */
static size_t make_raw(uint8_t* raw, uint8_t version, uint8_t type,
                       uint8_t flags, uint16_t seq, uint16_t len_field,
                       const uint8_t* payload, size_t payload_size) {
  raw[0] = version;
  raw[1] = type;
  raw[2] = flags;
  tn_store_u16le(raw + 3, seq);
  tn_store_u16le(raw + 5, len_field);
  if (payload_size > 0) memcpy(raw + 7, payload, payload_size);
  size_t body = 7 + payload_size;
  tn_store_u32le(raw + body, tn_link_crc32(0, raw, body));
  return body + 4;
}

/* Wraps raw bytes as a wire frame 0x00 | COBS | 0x00. */
static size_t wrap_wire(const uint8_t* raw, size_t n, uint8_t* out,
                        size_t cap) {
  size_t len = 0;
  TN_CHECK_STATUS(tn_link_cobs_encode(raw, n, out + 1, cap - 2, &len), TN_OK);
  out[0] = 0;
  out[1 + len] = 0;
  return len + 2;
}

/* Collects decoded frames and errors from a decoder. */
typedef struct collected {
  size_t frames;
  size_t errors;
  tn_status last_error;
  uint16_t seqs[64];
  uint64_t payload_hash[64];
  uint16_t payload_lens[64];
} collected;

static void feed_all(tn_link_decoder* dec, const uint8_t* data, size_t size,
                     collected* c) {
  while (size > 0) {
    size_t used = 0;
    const tn_link_frame* f = NULL;
    tn_status st = tn_link_decoder_feed(dec, data, size, &used, &f);
    TN_REQUIRE(used > 0 && used <= size);
    data += used;
    size -= used;
    if (st != TN_OK) {
      TN_CHECK(f == NULL);
      ++c->errors;
      c->last_error = st;
    } else if (f != NULL) {
      if (c->frames < 64) {
        c->seqs[c->frames] = f->seq;
        c->payload_lens[c->frames] = f->payload_len;
        c->payload_hash[c->frames] =
            tn_test_fnv1a(TN_TEST_FNV_SEED, f->payload, f->payload_len);
      }
      ++c->frames;
    } else {
      TN_CHECK_EQ(size, 0);
    }
  }
}

/* ---- CRC-32 ---------------------------------------------------------------
 */

TN_TEST(crc32_check_value_and_chaining) {
  const uint8_t check[] = "123456789";
  TN_CHECK_EQ(tn_link_crc32(0, check, 9), 0xCBF43926u);
  uint32_t chained = tn_link_crc32(tn_link_crc32(0, check, 4), check + 4, 5);
  TN_CHECK_EQ(chained, 0xCBF43926u);
  TN_CHECK_EQ(tn_link_crc32(0, check, 0), 0u);
  /* Published CRC-32 of one 0x00 byte and of "a". */
  const uint8_t zero = 0;
  TN_CHECK_EQ(tn_link_crc32(0, &zero, 1), 0xD202EF8Du);
  TN_CHECK_EQ(tn_link_crc32(0, (const uint8_t*)"a", 1), 0xE8B7BE43u);
  uint8_t buf[1024];
  for (size_t i = 0; i < sizeof(buf); ++i) buf[i] = (uint8_t)(i * 7 + 3);
  uint32_t crcs[4] = {tn_link_crc32(0, check, 9), tn_link_crc32(0, buf, 1),
                      tn_link_crc32(0, buf, 255),
                      tn_link_crc32(0, buf, sizeof(buf))};
  tn_test_digest("crc32.values", crcs, sizeof(crcs));
}

/* ---- COBS -----------------------------------------------------------------
 */

typedef struct cobs_vector {
  const uint8_t* in;
  size_t in_len;
  const uint8_t* out;
  size_t out_len;
} cobs_vector;

TN_TEST(cobs_published_vectors) {
  static const uint8_t in1[] = {0x00};
  static const uint8_t out1[] = {0x01, 0x01};
  static const uint8_t in2[] = {0x00, 0x00};
  static const uint8_t out2[] = {0x01, 0x01, 0x01};
  static const uint8_t in3[] = {0x00, 0x11, 0x00};
  static const uint8_t out3[] = {0x01, 0x02, 0x11, 0x01};
  static const uint8_t in4[] = {0x11, 0x22, 0x00, 0x33};
  static const uint8_t out4[] = {0x03, 0x11, 0x22, 0x02, 0x33};
  static const uint8_t in5[] = {0x11, 0x22, 0x33, 0x44};
  static const uint8_t out5[] = {0x05, 0x11, 0x22, 0x33, 0x44};
  static const uint8_t in6[] = {0x11, 0x00, 0x00, 0x00};
  static const uint8_t out6[] = {0x02, 0x11, 0x01, 0x01, 0x01};
  static const uint8_t out_empty[] = {0x01};
  const cobs_vector v[] = {
      {in1, sizeof(in1), out1, sizeof(out1)},
      {in2, sizeof(in2), out2, sizeof(out2)},
      {in3, sizeof(in3), out3, sizeof(out3)},
      {in4, sizeof(in4), out4, sizeof(out4)},
      {in5, sizeof(in5), out5, sizeof(out5)},
      {in6, sizeof(in6), out6, sizeof(out6)},
      {NULL, 0, out_empty, sizeof(out_empty)},
  };
  for (size_t i = 0; i < TN_ARRAY_SIZE(v); ++i) {
    uint8_t enc[16];
    uint8_t dec[16];
    size_t n = 0;
    TN_CHECK_STATUS(
        tn_link_cobs_encode(v[i].in, v[i].in_len, enc, sizeof(enc), &n), TN_OK);
    TN_CHECK_EQ(n, v[i].out_len);
    TN_CHECK(n == v[i].out_len && memcmp(enc, v[i].out, n) == 0);
    size_t m = 99;
    TN_CHECK_STATUS(
        tn_link_cobs_decode(v[i].out, v[i].out_len, dec, sizeof(dec), &m),
        TN_OK);
    TN_CHECK_EQ(m, v[i].in_len);
    TN_CHECK(m == v[i].in_len && (m == 0 || memcmp(dec, v[i].in, m) == 0));
  }
}

/* The 254/255-byte run cases of the original COBS description. */
TN_TEST(cobs_long_runs) {
  uint8_t in[256];
  uint8_t enc[300];
  uint8_t dec[300];
  size_t n = 0;
  size_t m = 0;
  /* 01..FE (254 bytes): one full block, no trailing empty block. */
  for (size_t i = 0; i < 254; ++i) in[i] = (uint8_t)(i + 1);
  TN_CHECK_STATUS(tn_link_cobs_encode(in, 254, enc, sizeof(enc), &n), TN_OK);
  TN_CHECK_EQ(n, 255);
  TN_CHECK_EQ(enc[0], 0xFF);
  TN_CHECK(memcmp(enc + 1, in, 254) == 0);
  tn_test_digest("cobs.run254", enc, n);
  /* The same run followed by an explicit empty block decodes the same. */
  enc[255] = 0x01;
  TN_CHECK_STATUS(tn_link_cobs_decode(enc, 256, dec, sizeof(dec), &m), TN_OK);
  TN_CHECK(m == 254 && memcmp(dec, in, 254) == 0);
  /* 00 01..FE (255 bytes) -> 01 FF 01..FE. */
  in[0] = 0;
  for (size_t i = 1; i < 255; ++i) in[i] = (uint8_t)i;
  TN_CHECK_STATUS(tn_link_cobs_encode(in, 255, enc, sizeof(enc), &n), TN_OK);
  TN_CHECK_EQ(n, 256);
  TN_CHECK(enc[0] == 0x01 && enc[1] == 0xFF && enc[255] == 0xFE);
  /* 01..FF (255 bytes) -> FF 01..FE 02 FF. */
  for (size_t i = 0; i < 255; ++i) in[i] = (uint8_t)(i + 1);
  TN_CHECK_STATUS(tn_link_cobs_encode(in, 255, enc, sizeof(enc), &n), TN_OK);
  TN_CHECK_EQ(n, 257);
  TN_CHECK(enc[0] == 0xFF && enc[255] == 0x02 && enc[256] == 0xFF);
  tn_test_digest("cobs.run255", enc, n);
  /* 02..FF 00 (255 bytes) -> FF 02..FF 01 01. */
  for (size_t i = 0; i < 254; ++i) in[i] = (uint8_t)(i + 2);
  in[254] = 0;
  TN_CHECK_STATUS(tn_link_cobs_encode(in, 255, enc, sizeof(enc), &n), TN_OK);
  TN_CHECK_EQ(n, 257);
  TN_CHECK(enc[0] == 0xFF && enc[255] == 0x01 && enc[256] == 0x01);
  /* 03..FF 00 01 (255 bytes) -> FE 03..FF 02 01. */
  for (size_t i = 0; i < 253; ++i) in[i] = (uint8_t)(i + 3);
  in[253] = 0;
  in[254] = 1;
  TN_CHECK_STATUS(tn_link_cobs_encode(in, 255, enc, sizeof(enc), &n), TN_OK);
  TN_CHECK_EQ(n, 256);
  TN_CHECK(enc[0] == 0xFE && enc[254] == 0x02 && enc[255] == 0x01);
  TN_CHECK_STATUS(tn_link_cobs_decode(enc, n, dec, sizeof(dec), &m), TN_OK);
  TN_CHECK(m == 255 && memcmp(dec, in, 255) == 0);
}

TN_TEST(cobs_round_trips_and_bound) {
  static uint8_t in[TN_LINK_MAX_RAW_FRAME];
  static uint8_t enc[TN_LINK_COBS_MAX_ENCODED(TN_LINK_MAX_RAW_FRAME)];
  static uint8_t dec[TN_LINK_MAX_RAW_FRAME];
  tn_rng rng;
  tn_rng_seed(&rng, 7, 1);
  uint64_t h = TN_TEST_FNV_SEED;
  /* Patterns: all zero, all non-zero, sparse zeros, random. */
  for (int pattern = 0; pattern < 4; ++pattern) {
    for (size_t len = 0; len <= TN_LINK_MAX_RAW_FRAME;
         len += (len < 520 ? 1 : 37)) {
      for (size_t i = 0; i < len; ++i) {
        uint32_t r = tn_rng_u32(&rng);
        in[i] = pattern == 0   ? 0
                : pattern == 1 ? (uint8_t)(1 + r % 255)
                : pattern == 2 ? (uint8_t)((r % 300) == 0 ? 0 : 0x5A)
                               : (uint8_t)r;
      }
      size_t n = 0;
      size_t m = 0;
      TN_CHECK_STATUS(tn_link_cobs_encode(in, len, enc, sizeof(enc), &n),
                      TN_OK);
      TN_CHECK(n <= TN_LINK_COBS_MAX_ENCODED(len));
      TN_CHECK(memchr(enc, 0, n) == NULL);
      TN_CHECK_STATUS(tn_link_cobs_decode(enc, n, dec, sizeof(dec), &m), TN_OK);
      TN_CHECK_EQ(m, len);
      TN_CHECK(m == len && (len == 0 || memcmp(in, dec, len) == 0));
      h = tn_test_fnv1a(h, enc, n);
    }
  }
  tn_test_digest("cobs.roundtrips", &h, sizeof(h));
  /* The all-zero maximum: one code byte per input byte plus one. */
  memset(in, 0, sizeof(in));
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_cobs_encode(in, sizeof(in), enc, sizeof(enc), &n),
                  TN_OK);
  TN_CHECK_EQ(n, sizeof(in) + 1);
  /* The all-non-zero maximum reaches the bound exactly. */
  memset(in, 0x77, sizeof(in));
  TN_CHECK_STATUS(tn_link_cobs_encode(in, sizeof(in), enc, sizeof(enc), &n),
                  TN_OK);
  TN_CHECK_EQ(n, TN_LINK_COBS_MAX_ENCODED(sizeof(in)));
}

TN_TEST(cobs_rejects_bad_input_and_small_buffers) {
  uint8_t out[8];
  size_t n = 0;
  const uint8_t overrun[] = {0x05, 0x11, 0x22};
  const uint8_t inner_zero[] = {0x03, 0x11, 0x00};
  const uint8_t code_zero[] = {0x02, 0x11, 0x00, 0x01};
  TN_CHECK_STATUS(tn_link_cobs_decode(overrun, 0, out, sizeof(out), &n),
                  TN_ERR_FRAME_ENCODING);
  TN_CHECK_STATUS(tn_link_cobs_decode(overrun, 3, out, sizeof(out), &n),
                  TN_ERR_FRAME_ENCODING);
  TN_CHECK_STATUS(tn_link_cobs_decode(inner_zero, 3, out, sizeof(out), &n),
                  TN_ERR_FRAME_ENCODING);
  TN_CHECK_STATUS(tn_link_cobs_decode(code_zero, 4, out, sizeof(out), &n),
                  TN_ERR_FRAME_ENCODING);
  const uint8_t ok[] = {0x03, 0x11, 0x22, 0x02, 0x33};
  TN_CHECK_STATUS(tn_link_cobs_decode(ok, 5, out, 3, &n),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_link_cobs_decode(ok, 5, out, 4, &n), TN_OK);
  TN_CHECK_EQ(n, 4);
  /* Encoding into every capacity below the need fails and stays inside. */
  const uint8_t in[] = {0x11, 0x22, 0x00, 0x33};
  for (size_t cap = 0; cap < 5; ++cap) {
    uint8_t guard[8];
    memset(guard, 0xEE, sizeof(guard));
    TN_CHECK_STATUS(tn_link_cobs_encode(in, sizeof(in), guard, cap, &n),
                    TN_ERR_BUFFER_TOO_SMALL);
    for (size_t i = cap; i < sizeof(guard); ++i) TN_CHECK_EQ(guard[i], 0xEE);
  }
  TN_CHECK_STATUS(tn_link_cobs_encode(NULL, 1, out, sizeof(out), &n),
                  TN_ERR_NULL);
}

/* ---- frame encoder --------------------------------------------------------
 */

/* The examples of docs/formats/link-protocol.md, computed independently of
 * this implementation. */
TN_TEST(frame_encoder_matches_documented_examples) {
  static const uint8_t hello_payload[] = {0x01, 0x00, 0x04};
  static const uint8_t hello_wire[] = {0x00, 0x03, 0x01, 0x01, 0x02, 0x01,
                                       0x02, 0x03, 0x02, 0x01, 0x06, 0x04,
                                       0x41, 0xc8, 0x4b, 0xfc, 0x00};
  static const uint8_t ping_payload[] = {0xef, 0xbe, 0xad, 0xde};
  static const uint8_t ping_wire[] = {0x00, 0x03, 0x01, 0x03, 0x04, 0x02,
                                      0x01, 0x04, 0x09, 0xef, 0xbe, 0xad,
                                      0xde, 0xf3, 0x24, 0xe3, 0x05, 0x00};
  static const uint8_t pong_wire[] = {0x00, 0x07, 0x01, 0x04, 0x02, 0x02,
                                      0x01, 0x04, 0x09, 0xef, 0xbe, 0xad,
                                      0xde, 0x0c, 0x17, 0xc9, 0xc9, 0x00};
  static const uint8_t nack_payload[] = {0x07, 0x00, 0x20, 0x04, 0x00};
  static const uint8_t nack_wire[] = {0x00, 0x05, 0x01, 0x07, 0x02, 0x07, 0x02,
                                      0x05, 0x02, 0x07, 0x03, 0x20, 0x04, 0x05,
                                      0x24, 0x52, 0xe6, 0x15, 0x00};
  static const uint8_t chunk_payload[] = {0x00, 0x10, 0x00, 0x00, 0x04,
                                          0x00, 0xde, 0xad, 0x00, 0x01};
  static const uint8_t chunk_wire[] = {
      0x00, 0x05, 0x01, 0x21, 0x01, 0x10, 0x02, 0x0a, 0x01, 0x02, 0x10, 0x01,
      0x02, 0x04, 0x03, 0xde, 0xad, 0x06, 0x01, 0x9f, 0xef, 0x1d, 0x95, 0x00,
  };
  static const uint8_t ack_payload[] = {0x10, 0x00, 0x21, 0x00, 0x00};
  static const uint8_t ack_wire[] = {
      0x00, 0x05, 0x01, 0x06, 0x02, 0x10, 0x02, 0x05, 0x02, 0x10,
      0x02, 0x21, 0x01, 0x05, 0xfd, 0x46, 0xa7, 0xab, 0x00,
  };
  struct {
    tn_link_frame f;
    const uint8_t* wire;
    size_t wire_len;
  } cases[] = {
      {{TN_LINK_MSG_HELLO, 0, 0x0001, 3, hello_payload, 0},
       hello_wire,
       sizeof(hello_wire)},
      {{TN_LINK_MSG_PING, 0, 0x0102, 4, ping_payload, 0},
       ping_wire,
       sizeof(ping_wire)},
      {{TN_LINK_MSG_PONG, TN_LINK_FLAG_RESPONSE, 0x0102, 4, ping_payload, 0},
       pong_wire,
       sizeof(pong_wire)},
      {{TN_LINK_MSG_NACK, TN_LINK_FLAG_RESPONSE, 0x0007, 5, nack_payload, 0},
       nack_wire,
       sizeof(nack_wire)},
      {{TN_LINK_MSG_MODEL_CHUNK, TN_LINK_FLAG_ACK_REQUESTED, 0x0010, 10,
        chunk_payload, 0},
       chunk_wire,
       sizeof(chunk_wire)},
      {{TN_LINK_MSG_ACK, TN_LINK_FLAG_RESPONSE, 0x0010, 5, ack_payload, 0},
       ack_wire,
       sizeof(ack_wire)},
  };
  static const char* const kLabels[] = {"frame.hello", "frame.ping",
                                        "frame.pong",  "frame.nack",
                                        "frame.chunk", "frame.ack"};
  for (size_t i = 0; i < TN_ARRAY_SIZE(cases); ++i) {
    uint8_t out[64];
    size_t n = 0;
    TN_CHECK_STATUS(tn_link_frame_encode(&cases[i].f, out, sizeof(out), &n),
                    TN_OK);
    TN_CHECK_EQ(n, cases[i].wire_len);
    TN_CHECK(n == cases[i].wire_len && memcmp(out, cases[i].wire, n) == 0);
    TN_CHECK(n <= tn_link_max_encoded_size(cases[i].f.payload_len));
    tn_test_digest(kLabels[i], out, n);
    /* And the decoder reads them back. */
    tn_link_decoder dec;
    tn_link_decoder_init(&dec);
    size_t used = 0;
    const tn_link_frame* f = NULL;
    TN_CHECK_STATUS(
        tn_link_decoder_feed(&dec, cases[i].wire, cases[i].wire_len, &used, &f),
        TN_OK);
    TN_REQUIRE(f != NULL);
    TN_CHECK_EQ(used, cases[i].wire_len);
    TN_CHECK_EQ(f->type, cases[i].f.type);
    TN_CHECK_EQ(f->flags, cases[i].f.flags);
    TN_CHECK_EQ(f->seq, cases[i].f.seq);
    TN_CHECK_EQ(f->payload_len, cases[i].f.payload_len);
    TN_CHECK(memcmp(f->payload, cases[i].f.payload, f->payload_len) == 0);
  }
}

TN_TEST(frame_encoder_limits) {
  static uint8_t payload[TN_LINK_MAX_PAYLOAD + 1];
  static uint8_t out[TN_LINK_MAX_WIRE_FRAME + 16];
  memset(payload, 0x33, sizeof(payload));
  tn_link_frame f = {TN_LINK_MSG_TELEMETRY,   0,       9,
                     TN_LINK_MAX_PAYLOAD + 1, payload, 0};
  size_t n = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&f, out, sizeof(out), &n),
                  TN_ERR_FRAME_OVERSIZE);
  TN_CHECK_EQ(tn_link_max_encoded_size(TN_LINK_MAX_PAYLOAD + 1), 0);
  f.payload_len = TN_LINK_MAX_PAYLOAD;
  f.flags = 0x80;
  TN_CHECK_STATUS(tn_link_frame_encode(&f, out, sizeof(out), &n), TN_ERR_ARG);
  f.flags = TN_LINK_FLAG_ACK_REQUESTED;
  f.payload = NULL;
  TN_CHECK_STATUS(tn_link_frame_encode(&f, out, sizeof(out), &n), TN_ERR_NULL);
  f.payload = payload;
  /* The largest frame reaches TN_LINK_MAX_WIRE_FRAME exactly. */
  TN_CHECK_STATUS(tn_link_frame_encode(&f, out, sizeof(out), &n), TN_OK);
  TN_CHECK_EQ(n, TN_LINK_MAX_WIRE_FRAME);
  TN_CHECK_EQ(tn_link_max_encoded_size(TN_LINK_MAX_PAYLOAD),
              TN_LINK_MAX_WIRE_FRAME);
  tn_test_digest("frame.max", out, n);
  /* Every smaller capacity fails without writing past it. */
  size_t need = n;
  for (size_t cap = 0; cap < need; cap += (cap < 40 ? 1 : 97)) {
    memset(out, 0xEE, sizeof(out));
    TN_CHECK_STATUS(tn_link_frame_encode(&f, out, cap, &n),
                    TN_ERR_BUFFER_TOO_SMALL);
    size_t written_past_cap = 0;
    for (size_t i = cap; i < sizeof(out); ++i) {
      written_past_cap += out[i] != 0xEE;
    }
    TN_CHECK_EQ(written_past_cap, 0);
  }
  TN_CHECK_STATUS(tn_link_frame_encode(&f, out, need - 1, &n),
                  TN_ERR_BUFFER_TOO_SMALL);
  /* Every payload size stays within the bound, for both extremes of COBS
   * overhead (no zeros, all zeros). */
  for (size_t len = 0; len <= TN_LINK_MAX_PAYLOAD; len += 7) {
    for (int zeros = 0; zeros < 2; ++zeros) {
      memset(payload, zeros ? 0x00 : 0x5A, len);
      tn_link_frame g = {TN_LINK_MSG_MODEL_CHUNK, 0,       0x4242,
                         (uint16_t)len,           payload, 0};
      TN_CHECK_STATUS(tn_link_frame_encode(&g, out, sizeof(out), &n), TN_OK);
      TN_CHECK(n <= tn_link_max_encoded_size(len));
    }
  }
}

/* ---- streaming decoder ----------------------------------------------------
 */

#define STREAM_FRAMES 12

/* Encodes STREAM_FRAMES frames of varied sizes back to back; returns the
 * stream length and fills the expected seq/length/hash per frame. */
static size_t build_stream(uint8_t* stream, size_t cap, collected* expect) {
  static const uint16_t sizes[STREAM_FRAMES] = {0,   1,   2,   253,  254,  255,
                                                508, 509, 777, 1023, 1024, 17};
  static uint8_t payload[TN_LINK_MAX_PAYLOAD];
  tn_rng rng;
  tn_rng_seed(&rng, 99, 3);
  size_t pos = 0;
  memset(expect, 0, sizeof(*expect));
  for (size_t i = 0; i < STREAM_FRAMES; ++i) {
    for (size_t j = 0; j < sizes[i]; ++j) {
      uint32_t r = tn_rng_u32(&rng);
      /* Every third frame is zero-heavy to stress COBS. */
      payload[j] = (i % 3 == 0) ? (uint8_t)((r & 3) ? 0 : r >> 8) : (uint8_t)r;
    }
    tn_link_frame f = {
        (uint8_t)(i % 2 ? TN_LINK_MSG_MODEL_CHUNK : TN_LINK_MSG_TELEMETRY),
        TN_LINK_FLAG_ACK_REQUESTED,
        (uint16_t)(0xFFF8u + i),
        sizes[i],
        payload,
        0};
    size_t n = 0;
    TN_CHECK_STATUS(tn_link_frame_encode(&f, stream + pos, cap - pos, &n),
                    TN_OK);
    pos += n;
    expect->seqs[i] = f.seq;
    expect->payload_lens[i] = sizes[i];
    expect->payload_hash[i] =
        tn_test_fnv1a(TN_TEST_FNV_SEED, payload, sizes[i]);
  }
  expect->frames = STREAM_FRAMES;
  return pos;
}

static void check_same(const collected* got, const collected* want) {
  TN_CHECK_EQ(got->errors, 0);
  TN_CHECK_EQ(got->frames, want->frames);
  for (size_t i = 0; i < want->frames && i < got->frames; ++i) {
    TN_CHECK_EQ(got->seqs[i], want->seqs[i]);
    TN_CHECK_EQ(got->payload_lens[i], want->payload_lens[i]);
    TN_CHECK(got->payload_hash[i] == want->payload_hash[i]);
  }
}

TN_TEST(decoder_byte_at_a_time_and_random_chunks) {
  static uint8_t stream[STREAM_FRAMES * TN_LINK_MAX_WIRE_FRAME];
  static tn_link_decoder dec;
  collected want;
  size_t len = build_stream(stream, sizeof(stream), &want);
  tn_test_digest("decoder.stream", stream, len);

  collected got;
  memset(&got, 0, sizeof(got));
  tn_link_decoder_init(&dec);
  for (size_t i = 0; i < len; ++i) feed_all(&dec, stream + i, 1, &got);
  check_same(&got, &want);
  TN_CHECK_EQ(dec.frames_ok, STREAM_FRAMES);
  TN_CHECK_EQ(dec.frames_dropped, 0);

  memset(&got, 0, sizeof(got));
  tn_link_decoder_init(&dec);
  feed_all(&dec, stream, len, &got);
  check_same(&got, &want);

  tn_rng rng;
  tn_rng_seed(&rng, 2024, 5);
  for (int round = 0; round < 20; ++round) {
    memset(&got, 0, sizeof(got));
    tn_link_decoder_init(&dec);
    size_t pos = 0;
    while (pos < len) {
      size_t chunk = 1 + tn_rng_below(&rng, round < 10 ? 64 : 3000);
      if (chunk > len - pos) chunk = len - pos;
      feed_all(&dec, stream + pos, chunk, &got);
      pos += chunk;
    }
    check_same(&got, &want);
  }
  TN_CHECK_EQ(got.frames, STREAM_FRAMES);
}

/* Feeds good1 | bad | good2 and checks: both good frames decode, `bad`
 * yields exactly the expected error once. */
static void check_rejected(const uint8_t* bad, size_t bad_len,
                           tn_status expected) {
  static uint8_t stream[3 * TN_LINK_MAX_WIRE_FRAME + 3200];
  static tn_link_decoder dec;
  const uint8_t p1[] = {1, 2, 3};
  const uint8_t p2[] = {4, 0, 6, 0};
  tn_link_frame g1 = {TN_LINK_MSG_PING, 0, 100, 3, p1, 0};
  tn_link_frame g2 = {TN_LINK_MSG_PING, 0, 101, 4, p2, 0};
  size_t n = 0;
  size_t pos = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&g1, stream, sizeof(stream), &n), TN_OK);
  pos += n;
  TN_REQUIRE(bad_len <= sizeof(stream) - pos - TN_LINK_MAX_WIRE_FRAME);
  memcpy(stream + pos, bad, bad_len);
  pos += bad_len;
  TN_CHECK_STATUS(
      tn_link_frame_encode(&g2, stream + pos, sizeof(stream) - pos, &n), TN_OK);
  pos += n;
  /* Byte at a time and all at once must agree. */
  for (int mode = 0; mode < 2; ++mode) {
    collected got;
    memset(&got, 0, sizeof(got));
    tn_link_decoder_init(&dec);
    if (mode == 0) {
      feed_all(&dec, stream, pos, &got);
    } else {
      for (size_t i = 0; i < pos; ++i) feed_all(&dec, stream + i, 1, &got);
    }
    TN_CHECK_EQ(got.frames, 2);
    TN_CHECK_EQ(got.seqs[0], 100);
    TN_CHECK_EQ(got.seqs[1], 101);
    TN_CHECK_EQ(got.errors, 1);
    TN_CHECK_STATUS(got.last_error, expected);
    TN_CHECK_EQ(dec.frames_dropped, 1);
  }
}

TN_TEST(decoder_rejects_each_fault_with_its_code) {
  static uint8_t raw[TN_LINK_MAX_RAW_FRAME + 64];
  static uint8_t wire[TN_LINK_MAX_WIRE_FRAME + 64];
  static uint8_t payload[TN_LINK_MAX_PAYLOAD + 8];
  for (size_t i = 0; i < sizeof(payload); ++i) payload[i] = (uint8_t)(i + 1);
  size_t r;
  size_t w;

  /* Bad CRC: a bit flipped in the payload after the CRC was computed. */
  r = make_raw(raw, 1, TN_LINK_MSG_PING, 0, 7, 4, payload, 4);
  raw[8] ^= 0x10;
  w = wrap_wire(raw, r, wire, sizeof(wire));
  check_rejected(wire, w, TN_ERR_FRAME_CRC);
  /* Bad CRC: a bit flipped in the CRC itself. */
  r = make_raw(raw, 1, TN_LINK_MSG_PING, 0, 7, 4, payload, 4);
  raw[r - 1] ^= 0x01;
  w = wrap_wire(raw, r, wire, sizeof(wire));
  check_rejected(wire, w, TN_ERR_FRAME_CRC);

  /* Truncated: fewer bytes than a header and CRC. */
  w = wrap_wire(raw, 10, wire, sizeof(wire));
  check_rejected(wire, w, TN_ERR_FRAME_TRUNCATED);
  /* Truncated: the header announces 100 payload bytes, 50 are there. */
  r = make_raw(raw, 1, TN_LINK_MSG_TELEMETRY, 0, 7, 100, payload, 50);
  w = wrap_wire(raw, r, wire, sizeof(wire));
  check_rejected(wire, w, TN_ERR_FRAME_TRUNCATED);
  /* Longer than the header says. */
  r = make_raw(raw, 1, TN_LINK_MSG_TELEMETRY, 0, 7, 10, payload, 20);
  w = wrap_wire(raw, r, wire, sizeof(wire));
  check_rejected(wire, w, TN_ERR_FRAME_LENGTH);

  /* Oversize: the header announces 1025 bytes (the frame itself is short). */
  r = make_raw(raw, 1, TN_LINK_MSG_TELEMETRY, 0, 7, 1025, payload, 30);
  w = wrap_wire(raw, r, wire, sizeof(wire));
  check_rejected(wire, w, TN_ERR_FRAME_OVERSIZE);
  /* Oversize: a complete frame with a 1025-byte payload overflows the
   * decoder's buffer before its end. */
  r = make_raw(raw, 1, TN_LINK_MSG_TELEMETRY, 0, 7, 1025, payload, 1025);
  w = wrap_wire(raw, r, wire, sizeof(wire));
  check_rejected(wire, w, TN_ERR_FRAME_OVERSIZE);
  /* Oversize: 3000 bytes without a delimiter. */
  {
    static uint8_t noise[3002];
    memset(noise, 0x41, sizeof(noise));
    noise[0] = 0;
    noise[sizeof(noise) - 1] = 0;
    check_rejected(noise, sizeof(noise), TN_ERR_FRAME_OVERSIZE);
  }

  /* Bad COBS: the wire frame cut inside a block. */
  r = make_raw(raw, 1, TN_LINK_MSG_PING, 0, 7, 4, payload, 4);
  w = wrap_wire(raw, r, wire, sizeof(wire));
  wire[w - 3] = 0x00; /* the frame now ends two bytes early */
  check_rejected(wire, w - 2, TN_ERR_FRAME_ENCODING);
  /* Garbage between frames. */
  {
    const uint8_t garbage[] = {'h', 'e', 'l', 'l', 'o'};
    check_rejected(garbage, sizeof(garbage), TN_ERR_FRAME_ENCODING);
  }

  /* Another protocol version with a valid CRC. */
  r = make_raw(raw, 2, TN_LINK_MSG_PING, 0, 7, 4, payload, 4);
  w = wrap_wire(raw, r, wire, sizeof(wire));
  check_rejected(wire, w, TN_ERR_PROTOCOL_VERSION);
  /* Reserved flag bits. */
  r = make_raw(raw, 1, TN_LINK_MSG_PING, 0x04, 7, 4, payload, 4);
  w = wrap_wire(raw, r, wire, sizeof(wire));
  check_rejected(wire, w, TN_ERR_MSG_MALFORMED);

  /* The same checks through tn_link_frame_parse directly. */
  tn_link_frame f;
  r = make_raw(raw, 1, TN_LINK_MSG_PING, 0, 7, 4, payload, 4);
  TN_CHECK_STATUS(tn_link_frame_parse(raw, r, &f), TN_OK);
  TN_CHECK_EQ(f.crc, tn_load_u32le(raw + r - 4));
  TN_CHECK_STATUS(tn_link_frame_parse(raw, r - 1, &f), TN_ERR_FRAME_TRUNCATED);
  TN_CHECK_STATUS(tn_link_frame_parse(raw, 0, &f), TN_ERR_FRAME_TRUNCATED);
  TN_CHECK_STATUS(tn_link_frame_parse(raw, r + 1, &f), TN_ERR_FRAME_LENGTH);
}

/* Random bit flips anywhere in an encoded frame: the frame is never
 * accepted, only frame errors are reported, and the neighbours survive. */
TN_TEST(decoder_survives_random_bit_flips) {
  static uint8_t stream[3 * 64];
  static tn_link_decoder dec;
  const uint8_t p[] = {0x10, 0x00, 0x20, 0x30, 0x00, 0x00, 0x40};
  tn_link_frame g1 = {TN_LINK_MSG_PING, 0, 1, 4, p, 0};
  tn_link_frame mid = {TN_LINK_MSG_TELEMETRY, 0, 2, sizeof(p), p, 0};
  tn_link_frame g2 = {TN_LINK_MSG_PING, 0, 3, 4, p + 3, 0};
  size_t n1 = 0, nm = 0, n2 = 0;
  TN_CHECK_STATUS(tn_link_frame_encode(&g1, stream, 64, &n1), TN_OK);
  TN_CHECK_STATUS(tn_link_frame_encode(&mid, stream + n1, 64, &nm), TN_OK);
  TN_CHECK_STATUS(tn_link_frame_encode(&g2, stream + n1 + nm, 64, &n2), TN_OK);
  size_t len = n1 + nm + n2;
  tn_rng rng;
  tn_rng_seed(&rng, 5, 8);
  uint32_t codes = 0;
  for (int trial = 0; trial < 400; ++trial) {
    static uint8_t copy[3 * 64];
    memcpy(copy, stream, len);
    /* One or two flips inside the middle frame, delimiters included. */
    int flips = 1 + (int)tn_rng_below(&rng, 2);
    for (int k = 0; k < flips; ++k) {
      size_t at = n1 + tn_rng_below(&rng, (uint32_t)nm);
      copy[at] ^= (uint8_t)(1u << tn_rng_below(&rng, 8));
    }
    collected got;
    memset(&got, 0, sizeof(got));
    tn_link_decoder_init(&dec);
    feed_all(&dec, copy, len, &got);
    /* Only the two intact frames come out (a flip that cancels another is
     * the unmodified frame, seq 2). */
    TN_CHECK(got.frames == 2 || got.frames == 3);
    TN_CHECK_EQ(got.seqs[0], 1);
    TN_CHECK_EQ(got.seqs[got.frames - 1], 3);
    if (got.frames == 3) {
      TN_CHECK_EQ(got.seqs[1], 2);
      TN_CHECK_EQ(memcmp(copy, stream, len), 0);
    } else {
      TN_CHECK(got.errors >= 1);
      tn_status e = got.last_error;
      TN_CHECK(e == TN_ERR_FRAME_CRC || e == TN_ERR_FRAME_ENCODING ||
               e == TN_ERR_FRAME_TRUNCATED || e == TN_ERR_FRAME_LENGTH ||
               e == TN_ERR_FRAME_OVERSIZE || e == TN_ERR_PROTOCOL_VERSION ||
               e == TN_ERR_MSG_MALFORMED);
      if (e >= 32 && e < 64) codes |= 1u << (e - 32);
    }
  }
  tn_test_digest("decoder.flip_codes", &codes, sizeof(codes));
}

TN_TEST(decoder_argument_checks) {
  tn_link_decoder dec;
  tn_link_decoder_init(&dec);
  size_t used = 5;
  const tn_link_frame* f = NULL;
  TN_CHECK_STATUS(tn_link_decoder_feed(NULL, (const uint8_t*)"x", 1, &used, &f),
                  TN_ERR_NULL);
  TN_CHECK_EQ(used, 0);
  TN_CHECK_STATUS(tn_link_decoder_feed(&dec, NULL, 1, &used, &f), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_link_decoder_feed(&dec, NULL, 0, &used, &f), TN_OK);
  TN_CHECK(f == NULL);
  /* Only delimiters: empty frames are skipped silently. */
  const uint8_t zeros[8] = {0};
  TN_CHECK_STATUS(tn_link_decoder_feed(&dec, zeros, 8, &used, &f), TN_OK);
  TN_CHECK_EQ(used, 8);
  TN_CHECK(f == NULL);
  TN_CHECK_EQ(dec.frames_dropped, 0);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(crc32_check_value_and_chaining),
      TN_CASE(cobs_published_vectors),
      TN_CASE(cobs_long_runs),
      TN_CASE(cobs_round_trips_and_bound),
      TN_CASE(cobs_rejects_bad_input_and_small_buffers),
      TN_CASE(frame_encoder_matches_documented_examples),
      TN_CASE(frame_encoder_limits),
      TN_CASE(decoder_byte_at_a_time_and_random_chunks),
      TN_CASE(decoder_rejects_each_fault_with_its_code),
      TN_CASE(decoder_survives_random_bit_flips),
      TN_CASE(decoder_argument_checks),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
