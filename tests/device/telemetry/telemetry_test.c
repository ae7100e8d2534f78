/*
 * Tests of the telemetry room on the host and under QEMU: the documented
 * byte layout of a record, encode/decode round trips (largest and smallest
 * records), every field rule rejected by decoder and encoder, truncated and
 * over-long input, a byte-flip sweep that must either be refused or decode to
 * a record that re-encodes to the same bytes, and the accumulator: counts,
 * mean confidence, histograms, sorted error list with overflow, energy
 * carried across intervals, saturation, model description rules and time
 * going backwards.
 */
#include <string.h>

#include "telemetry/tn_telemetry.h"
#include "tn_test.h"

/* The largest record: time and model known, four slots, sixteen class bins,
 * six error kinds. */
static void full_record(tn_telemetry_record* r) {
  memset(r, 0, sizeof(*r));
  r->flags = TN_TELEMETRY_FLAG_TIME_VALID | TN_TELEMETRY_FLAG_MODEL_VALID;
  r->boot_count = 7;
  r->uptime_s = 3600;
  r->interval_ms = 60000;
  r->unix_ms = 1700000000123ull;
  for (int i = 0; i < 16; ++i) r->model_id[i] = (uint8_t)(0x10 + i);
  r->model_version = 3;
  r->active_slot = 1;
  r->slot_count = 4;
  r->slot_states[0] = TN_TELEMETRY_SLOT_VALID;
  r->slot_states[1] = TN_TELEMETRY_SLOT_ACTIVE;
  r->slot_states[2] = TN_TELEMETRY_SLOT_EMPTY;
  r->slot_states[3] = TN_TELEMETRY_SLOT_FAILED;
  r->inference_count = 1000;
  r->class_count = 16;
  for (int i = 0; i < 16; ++i) r->class_counts[i] = 50u + (uint32_t)i;
  static const uint32_t hist[8] = {0, 0, 10, 40, 100, 250, 300, 300};
  memcpy(r->confidence_hist, hist, sizeof(hist));
  r->confidence_mean_q16 = 50000;
  r->feedback_total = 120;
  r->feedback_correct = 100;
  r->energy_uj = 123456789ull;
  r->cycles = 9876543210ull;
  r->error_kinds = 6;
  static const uint16_t codes[6] = {7, 36, 40, 96, 128, 160};
  for (int i = 0; i < 6; ++i) {
    r->errors[i].status = codes[i];
    r->errors[i].count = (uint32_t)i + 1u;
  }
  r->errors_other = 5;
}

/* The smallest record: nothing known, nothing counted. */
static void empty_record(tn_telemetry_record* r) {
  memset(r, 0, sizeof(*r));
  r->active_slot = TN_TELEMETRY_NO_SLOT;
}

static size_t encode(const tn_telemetry_record* r, uint8_t* out) {
  size_t n = 0;
  TN_CHECK_STATUS(
      tn_telemetry_record_encode(r, out, TN_TELEMETRY_RECORD_MAX, &n), TN_OK);
  return n;
}

TN_TEST(layout_matches_the_format_document) {
  TN_CHECK_EQ(TN_TELEMETRY_FIXED_SIZE, 112);
  TN_CHECK_EQ(TN_TELEMETRY_RECORD_MAX, 216);
  tn_telemetry_record r;
  full_record(&r);
  uint8_t b[TN_TELEMETRY_RECORD_MAX];
  size_t n = encode(&r, b);
  TN_REQUIRE(n == 216);
  TN_CHECK_EQ(tn_telemetry_record_size(&r), 216);
  /* Offsets of docs/formats/telemetry.md, section 2, with n = 4 slots,
   * c = 16 classes, k = 6 error kinds. */
  TN_CHECK_EQ(b[0], 1);
  TN_CHECK_EQ(b[1], 3);
  TN_CHECK_EQ(tn_load_u32le(b + 2), 7);
  TN_CHECK_EQ(tn_load_u32le(b + 6), 3600);
  TN_CHECK_EQ(tn_load_u32le(b + 10), 60000);
  TN_CHECK(tn_load_u64le(b + 14) == 1700000000123ull);
  TN_CHECK_EQ(b[22], 0x10);
  TN_CHECK_EQ(b[37], 0x1F);
  TN_CHECK_EQ(tn_load_u32le(b + 38), 3);
  TN_CHECK_EQ(b[42], 1);
  TN_CHECK_EQ(b[43], 4);
  TN_CHECK_EQ(b[44], 1);
  TN_CHECK_EQ(b[45], 2);
  TN_CHECK_EQ(b[47], 4);
  TN_CHECK_EQ(tn_load_u32le(b + 48), 1000);
  TN_CHECK_EQ(b[52], 16);
  TN_CHECK_EQ(tn_load_u32le(b + 53), 50);
  TN_CHECK_EQ(tn_load_u32le(b + 53 + 60), 65);
  TN_CHECK_EQ(tn_load_u16le(b + 117), 50000);
  TN_CHECK_EQ(tn_load_u32le(b + 119 + 8), 10);
  TN_CHECK_EQ(tn_load_u32le(b + 119 + 28), 300);
  TN_CHECK_EQ(tn_load_u32le(b + 151), 120);
  TN_CHECK_EQ(tn_load_u32le(b + 155), 100);
  TN_CHECK(tn_load_u64le(b + 159) == 123456789ull);
  TN_CHECK(tn_load_u64le(b + 167) == 9876543210ull);
  TN_CHECK_EQ(b[175], 6);
  TN_CHECK_EQ(tn_load_u16le(b + 176), 7);
  TN_CHECK_EQ(tn_load_u32le(b + 178), 1);
  TN_CHECK_EQ(tn_load_u16le(b + 206), 160);
  TN_CHECK_EQ(tn_load_u32le(b + 208), 6);
  TN_CHECK_EQ(tn_load_u32le(b + 212), 5);
  tn_test_digest("full_record", b, n);

  tn_telemetry_record e;
  empty_record(&e);
  uint8_t eb[TN_TELEMETRY_RECORD_MAX];
  size_t en = encode(&e, eb);
  TN_CHECK_EQ(en, TN_TELEMETRY_FIXED_SIZE);
  TN_CHECK_EQ(eb[42], 0xFF);
  TN_CHECK_EQ(eb[43], 0);
  tn_test_digest("empty_record", eb, en);
}

TN_TEST(round_trips_are_canonical) {
  tn_telemetry_record recs[2];
  full_record(&recs[0]);
  empty_record(&recs[1]);
  for (int i = 0; i < 2; ++i) {
    uint8_t b[TN_TELEMETRY_RECORD_MAX];
    size_t n = encode(&recs[i], b);
    tn_telemetry_record d;
    TN_CHECK_STATUS(tn_telemetry_record_decode(b, n, &d), TN_OK);
    TN_CHECK(memcmp(&d, &recs[i], sizeof(d)) == 0);
    uint8_t again[TN_TELEMETRY_RECORD_MAX];
    size_t n2 = encode(&d, again);
    TN_CHECK_EQ(n2, n);
    TN_CHECK(memcmp(again, b, n) == 0);
  }
  /* A cap one byte short is refused, and nothing else is wrong. */
  uint8_t b[TN_TELEMETRY_RECORD_MAX];
  size_t n = 0;
  TN_CHECK_STATUS(tn_telemetry_record_encode(&recs[0], b, 215, &n),
                  TN_ERR_BUFFER_TOO_SMALL);
  TN_CHECK_STATUS(tn_telemetry_record_encode(NULL, b, 216, &n), TN_ERR_NULL);
  TN_CHECK_STATUS(tn_telemetry_record_decode(NULL, 3, &recs[0]), TN_ERR_NULL);
}

/* Encodes the full record, applies `patch` at `offset` (little-endian,
 * `width` bytes) and expects `want` from the decoder. */
static void expect_patch(size_t offset, size_t width, uint64_t value,
                         tn_status want) {
  tn_telemetry_record r;
  full_record(&r);
  uint8_t b[TN_TELEMETRY_RECORD_MAX];
  size_t n = encode(&r, b);
  for (size_t i = 0; i < width; ++i)
    b[offset + i] = (uint8_t)(value >> (8 * i));
  tn_telemetry_record d;
  tn_status st = tn_telemetry_record_decode(b, n, &d);
  if (st != want) {
    tn_test_fail(__FILE__, __LINE__, "patched record status", (long long)st,
                 (long long)want);
    TN_CHECK_EQ(offset, 0); /* names the failing patch */
  }
}

TN_TEST(decoder_rejects_every_broken_rule) {
  const tn_status bad = TN_ERR_MSG_MALFORMED;
  expect_patch(0, 1, 2, TN_ERR_UNSUPPORTED); /* another format version */
  expect_patch(0, 1, 0, TN_ERR_UNSUPPORTED);
  expect_patch(1, 1, 0x07, bad); /* reserved flag bit */
  expect_patch(1, 1, 0x80, bad);
  expect_patch(1, 1, 0x02, bad);       /* unix_ms without TIME_VALID */
  expect_patch(1, 1, 0x01, bad);       /* active slot, no MODEL_VALID */
  expect_patch(42, 1, 0xFF, bad);      /* MODEL_VALID, no slot */
  expect_patch(42, 1, 0, bad);         /* names a non-running slot */
  expect_patch(42, 1, 4, bad);         /* beyond slot_count */
  expect_patch(43, 1, 5, bad);         /* too many slots */
  expect_patch(43, 1, 1, bad);         /* count disagrees with length */
  expect_patch(46, 1, 5, bad);         /* unknown slot state */
  expect_patch(44, 1, 3, bad);         /* two running slots */
  expect_patch(52, 1, 17, bad);        /* too many class bins */
  expect_patch(53, 4, 200, bad);       /* bins above inference_count */
  expect_patch(48, 4, 919, bad);       /* inference_count below bins */
  expect_patch(119 + 8, 4, 11, bad);   /* histogram sum too high */
  expect_patch(119 + 28, 4, 299, bad); /* histogram sum too low */
  expect_patch(117, 2, 16383, bad);    /* mean below lowest bin */
  expect_patch(117, 2, 65281, bad);    /* mean above highest bin */
  expect_patch(155, 4, 121, bad);      /* more correct than labelled */
  expect_patch(175, 1, 7, bad);        /* too many error kinds */
  expect_patch(176, 2, 0, bad);        /* status 0 is not an error */
  expect_patch(182, 2, 7, bad);        /* not strictly ascending */
  expect_patch(182, 2, 6, bad);
  expect_patch(178, 4, 0, bad); /* zero count */
  /* Each patch above changes one rule only: the unpatched value passes. */
  expect_patch(117, 2, 16384, TN_OK);
  expect_patch(117, 2, 65280, TN_OK);
  expect_patch(155, 4, 120, TN_OK);

  /* Rules of records without time and model. */
  tn_telemetry_record e;
  empty_record(&e);
  uint8_t b[TN_TELEMETRY_RECORD_MAX];
  size_t n = encode(&e, b);
  static const size_t nonzero_offsets[] = {14, 21, 22, 37, 38, 41};
  for (size_t i = 0; i < TN_ARRAY_SIZE(nonzero_offsets); ++i) {
    uint8_t c[TN_TELEMETRY_RECORD_MAX];
    memcpy(c, b, n);
    c[nonzero_offsets[i]] = 1; /* unix_ms, model_id, model_version */
    TN_CHECK_STATUS(tn_telemetry_record_decode(c, n, &e), bad);
  }
  /* With no slots and no bins the mean sits at 49: not 0 without
   * inferences. */
  uint8_t c[TN_TELEMETRY_RECORD_MAX];
  memcpy(c, b, n);
  tn_store_u16le(c + 49, 1);
  TN_CHECK_STATUS(tn_telemetry_record_decode(c, n, &e), bad);
}

TN_TEST(decoder_rejects_wrong_lengths) {
  tn_telemetry_record r;
  full_record(&r);
  uint8_t b[TN_TELEMETRY_RECORD_MAX + 1];
  size_t n = encode(&r, b);
  tn_telemetry_record d;
  for (size_t len = 0; len < n; ++len) {
    TN_CHECK_STATUS(tn_telemetry_record_decode(b, len, &d),
                    TN_ERR_MSG_MALFORMED);
  }
  b[n] = 0;
  TN_CHECK_STATUS(tn_telemetry_record_decode(b, n + 1, &d),
                  TN_ERR_MSG_MALFORMED);
  /* A shorter record with trailing bytes up to the maximum. */
  tn_telemetry_record e;
  empty_record(&e);
  uint8_t eb[TN_TELEMETRY_RECORD_MAX];
  size_t en = encode(&e, eb);
  memset(eb + en, 0, sizeof(eb) - en);
  TN_CHECK_STATUS(tn_telemetry_record_decode(eb, sizeof(eb), &d),
                  TN_ERR_MSG_MALFORMED);
}

TN_TEST(flipped_bytes_are_refused_or_canonical) {
  tn_telemetry_record r;
  full_record(&r);
  uint8_t b[TN_TELEMETRY_RECORD_MAX];
  size_t n = encode(&r, b);
  static const uint8_t masks[] = {0x01, 0x02, 0x10, 0x80, 0xFF};
  uint32_t accepted = 0;
  uint64_t h = TN_TEST_FNV_SEED;
  for (size_t i = 0; i < n; ++i) {
    for (size_t m = 0; m < TN_ARRAY_SIZE(masks); ++m) {
      uint8_t c[TN_TELEMETRY_RECORD_MAX];
      memcpy(c, b, n);
      c[i] ^= masks[m];
      tn_telemetry_record d;
      tn_status st = tn_telemetry_record_decode(c, n, &d);
      uint8_t outcome = (uint8_t)st;
      h = tn_test_fnv1a(h, &outcome, 1);
      if (st != TN_OK) continue;
      ++accepted;
      uint8_t again[TN_TELEMETRY_RECORD_MAX];
      size_t n2 = 0;
      TN_CHECK_STATUS(tn_telemetry_record_encode(&d, again, sizeof(again), &n2),
                      TN_OK);
      TN_CHECK(n2 == n && memcmp(again, c, n) == 0);
    }
  }
  TN_CHECK(accepted > 0); /* counters and ids accept any value */
  tn_test_digest("flip_outcomes", &h, sizeof(h));
}

TN_TEST(encoder_refuses_what_the_decoder_rejects) {
  tn_telemetry_record r;
  uint8_t b[TN_TELEMETRY_RECORD_MAX];
  size_t n = 0;
#define EXPECT_REFUSED(mutation)                                      \
  do {                                                                \
    full_record(&r);                                                  \
    mutation;                                                         \
    TN_CHECK_STATUS(tn_telemetry_record_check(&r), TN_ERR_ARG);       \
    TN_CHECK_STATUS(tn_telemetry_record_encode(&r, b, sizeof(b), &n), \
                    TN_ERR_ARG);                                      \
    TN_CHECK_EQ(tn_telemetry_record_size(&r), 0);                     \
  } while (0)
  EXPECT_REFUSED(r.flags |= 0x04);
  EXPECT_REFUSED(r.flags &= (uint8_t)~TN_TELEMETRY_FLAG_TIME_VALID);
  EXPECT_REFUSED(r.flags &= (uint8_t)~TN_TELEMETRY_FLAG_MODEL_VALID);
  EXPECT_REFUSED(r.slot_count = 5);
  EXPECT_REFUSED(r.slot_states[2] = 9);
  EXPECT_REFUSED(r.slot_states[0] = TN_TELEMETRY_SLOT_PENDING_CONFIRM);
  EXPECT_REFUSED(r.active_slot = 3);
  EXPECT_REFUSED(r.class_count = 17);
  EXPECT_REFUSED(r.class_counts[3] += 200);
  EXPECT_REFUSED(r.confidence_hist[0] = 1);
  EXPECT_REFUSED(r.confidence_mean_q16 = 100);
  EXPECT_REFUSED(r.feedback_correct = 121);
  EXPECT_REFUSED(r.error_kinds = 7);
  EXPECT_REFUSED(r.errors[5].status = 128);
  EXPECT_REFUSED(r.errors[2].count = 0);
  EXPECT_REFUSED((r.flags = TN_TELEMETRY_FLAG_TIME_VALID,
                  r.active_slot = TN_TELEMETRY_NO_SLOT,
                  r.slot_states[1] = TN_TELEMETRY_SLOT_VALID));
#undef EXPECT_REFUSED
  /* Classes beyond the bins and an empty model id with a model are fine. */
  full_record(&r);
  r.class_counts[0] = 130; /* bins now sum to 1000 */
  TN_CHECK_STATUS(tn_telemetry_record_check(&r), TN_OK);
  memset(r.model_id, 0, sizeof(r.model_id));
  TN_CHECK_STATUS(tn_telemetry_record_check(&r), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_record_check(NULL), TN_ERR_NULL);
}

static tn_telemetry_model kws_model(void) {
  tn_telemetry_model m;
  memset(&m, 0, sizeof(m));
  m.active_slot = 0;
  for (int i = 0; i < 16; ++i) m.model_id[i] = (uint8_t)(0xA0 + i);
  m.model_version = 2;
  m.class_count = 12;
  m.slot_count = 2;
  m.slot_states[0] = TN_TELEMETRY_SLOT_ACTIVE;
  m.slot_states[1] = TN_TELEMETRY_SLOT_VALID;
  return m;
}

TN_TEST(accumulator_counts_one_interval) {
  static tn_telemetry t;
  tn_telemetry_init(&t, 5000);
  tn_telemetry_model m = kws_model();
  TN_CHECK_STATUS(tn_telemetry_set_model(&t, &m), TN_OK);
  /* Confidences 0, 31 | 32 | 255, 200: bins 0, 0, 1, 7, 6. */
  TN_CHECK_STATUS(tn_telemetry_note_inference(&t, 0, 0, 1000, 1500), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_inference(&t, 3, 31, 1000, 1500), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_inference(&t, 3, 32, 1000, 1500), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_inference(&t, 11, 255, 1000, 1500), TN_OK);
  /* Class 12 is beyond the model's 12 classes: no bin. */
  TN_CHECK_STATUS(tn_telemetry_note_inference(&t, 12, 200, 1000, 1500), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_feedback(&t, 1), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_feedback(&t, 0), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_feedback(&t, 1), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_work(&t, 500, 250), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_error(&t, TN_OK), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_error(&t, TN_ERR_TIMEOUT), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_error(&t, TN_ERR_ARG), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_error(&t, TN_ERR_TIMEOUT), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_error(&t, (tn_status)0x10000), TN_ERR_ARG);

  tn_telemetry_stamp stamp = {65000, 4, 0};
  tn_telemetry_record r;
  TN_CHECK_STATUS(tn_telemetry_take_record(&t, &stamp, &r), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_record_check(&r), TN_OK);
  TN_CHECK_EQ(r.flags, TN_TELEMETRY_FLAG_MODEL_VALID);
  TN_CHECK_EQ(r.boot_count, 4);
  TN_CHECK_EQ(r.uptime_s, 65);
  TN_CHECK_EQ(r.interval_ms, 60000);
  TN_CHECK_EQ(r.model_version, 2);
  TN_CHECK_EQ(r.model_id[15], 0xAF);
  TN_CHECK_EQ(r.active_slot, 0);
  TN_CHECK_EQ(r.slot_count, 2);
  TN_CHECK_EQ(r.inference_count, 5);
  TN_CHECK_EQ(r.class_count, 12);
  TN_CHECK_EQ(r.class_counts[0], 1);
  TN_CHECK_EQ(r.class_counts[3], 2);
  TN_CHECK_EQ(r.class_counts[11], 1);
  TN_CHECK_EQ(r.confidence_hist[0], 2);
  TN_CHECK_EQ(r.confidence_hist[1], 1);
  TN_CHECK_EQ(r.confidence_hist[6], 1);
  TN_CHECK_EQ(r.confidence_hist[7], 1);
  /* (0 + 31 + 32 + 255 + 200) * 256 / 5 = 26521.6 -> 26522. */
  TN_CHECK_EQ(r.confidence_mean_q16, 26522);
  TN_CHECK_EQ(r.feedback_total, 3);
  TN_CHECK_EQ(r.feedback_correct, 2);
  TN_CHECK_EQ(r.cycles, 5500);
  /* 5 * 1500 + 250 = 7750 nJ: 7 uJ, 750 nJ carried. */
  TN_CHECK_EQ(r.energy_uj, 7);
  TN_CHECK_EQ(r.error_kinds, 2);
  TN_CHECK_EQ(r.errors[0].status, TN_ERR_ARG);
  TN_CHECK_EQ(r.errors[0].count, 1);
  TN_CHECK_EQ(r.errors[1].status, TN_ERR_TIMEOUT);
  TN_CHECK_EQ(r.errors[1].count, 2);
  uint8_t b[TN_TELEMETRY_RECORD_MAX];
  size_t n = encode(&r, b);
  tn_test_digest("interval_1", b, n);

  /* The next interval starts empty, keeps the model and the energy rest. */
  TN_CHECK_STATUS(tn_telemetry_note_work(&t, 0, 250), TN_OK);
  tn_telemetry_stamp later = {66000, 4, 1700000000000ull};
  TN_CHECK_STATUS(tn_telemetry_take_record(&t, &later, &r), TN_OK);
  TN_CHECK_EQ(r.interval_ms, 1000);
  TN_CHECK_EQ(r.inference_count, 0);
  TN_CHECK_EQ(r.confidence_mean_q16, 0);
  TN_CHECK_EQ(r.error_kinds, 0);
  TN_CHECK_EQ(r.energy_uj, 1); /* 750 + 250 nJ */
  TN_CHECK_EQ(r.flags,
              TN_TELEMETRY_FLAG_MODEL_VALID | TN_TELEMETRY_FLAG_TIME_VALID);
  TN_CHECK(r.unix_ms == 1700000000000ull);
  n = encode(&r, b);
  tn_test_digest("interval_2", b, n);

  /* Time going backwards is refused and changes nothing. */
  tn_telemetry_stamp back = {65999, 4, 0};
  TN_CHECK_STATUS(tn_telemetry_take_record(&t, &back, &r), TN_ERR_ARG);
  TN_CHECK(t.interval_start_ms == 66000);
  TN_CHECK_STATUS(tn_telemetry_take_record(NULL, &back, &r), TN_ERR_NULL);
}

TN_TEST(error_list_keeps_the_first_six_codes_sorted) {
  static tn_telemetry t;
  tn_telemetry_init(&t, 0);
  static const tn_status codes[] = {
      TN_ERR_STORAGE, TN_ERR_ARG,    TN_ERR_TIMEOUT, TN_ERR_AUTH,
      TN_ERR_NUMERIC, TN_ERR_BUSY,   TN_ERR_SLOT,    TN_ERR_ARG,
      TN_ERR_CRYPTO,  TN_ERR_STORAGE};
  for (size_t i = 0; i < TN_ARRAY_SIZE(codes); ++i) {
    TN_CHECK_STATUS(tn_telemetry_note_error(&t, codes[i]), TN_OK);
  }
  tn_telemetry_stamp stamp = {10, 1, 0};
  tn_telemetry_record r;
  TN_CHECK_STATUS(tn_telemetry_take_record(&t, &stamp, &r), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_record_check(&r), TN_OK);
  TN_CHECK_EQ(r.error_kinds, 6);
  static const uint16_t want[6] = {1, 9, 40, 96, 128, 160};
  for (int i = 0; i < 6; ++i) TN_CHECK_EQ(r.errors[i].status, want[i]);
  TN_CHECK_EQ(r.errors[0].count, 2);
  TN_CHECK_EQ(r.errors[5].count, 2);
  TN_CHECK_EQ(r.errors_other, 2); /* SLOT and CRYPTO did not fit */
  uint8_t b[TN_TELEMETRY_RECORD_MAX];
  size_t n = encode(&r, b);
  tn_test_digest("error_list", b, n);
}

TN_TEST(saturated_counts_keep_the_record_valid) {
  static tn_telemetry t;
  tn_telemetry_init(&t, 0);
  tn_telemetry_model m = kws_model();
  TN_CHECK_STATUS(tn_telemetry_set_model(&t, &m), TN_OK);
  /* Reach the limit without 2^32 calls: the counts are private but plain. */
  t.inference_count = UINT32_MAX - 1u;
  t.confidence_hist[7] = UINT32_MAX - 1u;
  t.confidence_sum = (uint64_t)255u * (UINT32_MAX - 1u);
  t.feedback_total = UINT32_MAX;
  t.feedback_correct = UINT32_MAX;
  t.energy_nj = UINT64_MAX - 10u;
  for (int i = 0; i < 3; ++i) {
    TN_CHECK_STATUS(tn_telemetry_note_inference(&t, 1, 255, 7, 100), TN_OK);
    TN_CHECK_STATUS(tn_telemetry_note_feedback(&t, 0), TN_OK);
  }
  TN_CHECK_EQ(t.inference_count, UINT32_MAX);
  TN_CHECK(t.energy_nj == UINT64_MAX);
  tn_telemetry_stamp stamp = {1000, 1, 0};
  tn_telemetry_record r;
  TN_CHECK_STATUS(tn_telemetry_take_record(&t, &stamp, &r), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_record_check(&r), TN_OK);
  TN_CHECK_EQ(r.inference_count, UINT32_MAX);
  TN_CHECK_EQ(r.confidence_mean_q16, 65280);
  TN_CHECK_EQ(r.feedback_total, UINT32_MAX);
  TN_CHECK_EQ(r.cycles, 21);
  /* Uptime and interval saturate at 32 bits. */
  tn_telemetry_stamp far = {(uint64_t)UINT32_MAX * 2000u, 1, 0};
  TN_CHECK_STATUS(tn_telemetry_take_record(&t, &far, &r), TN_OK);
  TN_CHECK_EQ(r.interval_ms, UINT32_MAX);
  TN_CHECK_EQ(r.uptime_s, UINT32_MAX);
}

TN_TEST(model_description_rules) {
  static tn_telemetry t;
  tn_telemetry_init(&t, 0);
  tn_telemetry_model m = kws_model();
  m.active_slot = 1; /* slot 1 is only VALID */
  TN_CHECK_STATUS(tn_telemetry_set_model(&t, &m), TN_ERR_ARG);
  m = kws_model();
  m.slot_states[1] = TN_TELEMETRY_SLOT_PENDING_CONFIRM; /* two running */
  TN_CHECK_STATUS(tn_telemetry_set_model(&t, &m), TN_ERR_ARG);
  m = kws_model();
  m.slot_count = 5;
  TN_CHECK_STATUS(tn_telemetry_set_model(&t, &m), TN_ERR_ARG);
  m = kws_model();
  m.slot_states[1] = 5;
  TN_CHECK_STATUS(tn_telemetry_set_model(&t, &m), TN_ERR_ARG);
  m = kws_model();
  m.active_slot = TN_TELEMETRY_NO_SLOT; /* slot 0 runs but is not named */
  TN_CHECK_STATUS(tn_telemetry_set_model(&t, &m), TN_ERR_ARG);
  TN_CHECK_STATUS(tn_telemetry_set_model(&t, NULL), TN_ERR_NULL);
  /* No running slot: the model id is dropped; 300 classes keep 16 bins. */
  m = kws_model();
  m.active_slot = TN_TELEMETRY_NO_SLOT;
  m.slot_states[0] = TN_TELEMETRY_SLOT_VALID;
  m.class_count = 300;
  TN_CHECK_STATUS(tn_telemetry_set_model(&t, &m), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_inference(&t, 15, 100, 1, 1), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_note_inference(&t, 299, 100, 1, 1), TN_OK);
  tn_telemetry_stamp stamp = {10, 1, 0};
  tn_telemetry_record r;
  TN_CHECK_STATUS(tn_telemetry_take_record(&t, &stamp, &r), TN_OK);
  TN_CHECK_STATUS(tn_telemetry_record_check(&r), TN_OK);
  TN_CHECK_EQ(r.flags, 0);
  TN_CHECK_EQ(r.model_version, 0);
  TN_CHECK_EQ(r.model_id[0], 0);
  TN_CHECK_EQ(r.class_count, 16);
  TN_CHECK_EQ(r.class_counts[15], 1);
  TN_CHECK_EQ(r.inference_count, 2);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(layout_matches_the_format_document),
      TN_CASE(round_trips_are_canonical),
      TN_CASE(decoder_rejects_every_broken_rule),
      TN_CASE(decoder_rejects_wrong_lengths),
      TN_CASE(flipped_bytes_are_refused_or_canonical),
      TN_CASE(encoder_refuses_what_the_decoder_rejects),
      TN_CASE(accumulator_counts_one_interval),
      TN_CASE(error_list_keeps_the_first_six_codes_sorted),
      TN_CASE(saturated_counts_keep_the_record_valid),
      TN_CASE(model_description_rules),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
