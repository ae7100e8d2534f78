/*
 * libFuzzer target for telemetry records. The input goes straight to the
 * record decoder; a record it accepts must pass the rule check and encode
 * back to exactly the input (canonical encoding). The same input is then
 * read as a program for the accumulator -- set the model, note inferences,
 * feedback, errors and work, take records at advancing times -- and every
 * record taken must pass the rule check and survive an encode/decode round
 * trip: no sequence of calls may produce a record the gateway would refuse.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "telemetry/tn_telemetry.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define REQUIRE(cond)              \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

static void check_round_trip(const tn_telemetry_record* r) {
  REQUIRE(tn_telemetry_record_check(r) == TN_OK);
  uint8_t b[TN_TELEMETRY_RECORD_MAX];
  size_t n = 0;
  REQUIRE(tn_telemetry_record_encode(r, b, sizeof(b), &n) == TN_OK);
  REQUIRE(n == tn_telemetry_record_size(r));
  tn_telemetry_record d;
  REQUIRE(tn_telemetry_record_decode(b, n, &d) == TN_OK);
  uint8_t again[TN_TELEMETRY_RECORD_MAX];
  size_t n2 = 0;
  REQUIRE(tn_telemetry_record_encode(&d, again, sizeof(again), &n2) == TN_OK);
  REQUIRE(n2 == n && memcmp(again, b, n) == 0);
}

/* Reads input bytes in turn; zeros once the input is used up. */
typedef struct program {
  const uint8_t* p;
  size_t size;
  size_t pos;
} program;

static uint32_t next(program* pr, unsigned bytes) {
  uint32_t v = 0;
  for (unsigned i = 0; i < bytes; ++i) {
    v = (v << 8) | (pr->pos < pr->size ? pr->p[pr->pos] : 0u);
    ++pr->pos;
  }
  return v;
}

static void run_accumulator(const uint8_t* data, size_t size) {
  static tn_telemetry t;
  program pr = {data, size, 0};
  uint64_t now = next(&pr, 2);
  tn_telemetry_init(&t, now);
  /* Each step consumes at least one byte, so this ends. */
  while (pr.pos < pr.size) {
    uint32_t op = next(&pr, 1) % 7u;
    switch (op) {
      case 0: {
        tn_telemetry_model m;
        memset(&m, 0, sizeof(m));
        m.active_slot = (uint8_t)next(&pr, 1);
        m.model_version = next(&pr, 4);
        m.model_id[0] = (uint8_t)next(&pr, 1);
        m.class_count = (uint16_t)next(&pr, 2);
        m.slot_count = (uint8_t)(next(&pr, 1) % 6u);
        for (size_t i = 0; i < TN_TELEMETRY_MAX_SLOTS; ++i) {
          m.slot_states[i] = (uint8_t)(next(&pr, 1) % 6u);
        }
        (void)tn_telemetry_set_model(&t, &m);
        break;
      }
      case 1:
      case 2: {
        uint16_t cls = (uint16_t)next(&pr, 2);
        uint8_t conf = (uint8_t)next(&pr, 1);
        uint32_t cycles = next(&pr, 4);
        uint32_t energy = next(&pr, 4);
        REQUIRE(tn_telemetry_note_inference(&t, cls, conf, cycles, energy) ==
                TN_OK);
        break;
      }
      case 3:
        REQUIRE(tn_telemetry_note_feedback(&t, (int)(next(&pr, 1) & 1u)) ==
                TN_OK);
        break;
      case 4:
        (void)tn_telemetry_note_error(&t, (tn_status)next(&pr, 1));
        break;
      case 5:
        REQUIRE(tn_telemetry_note_work(&t, next(&pr, 4), next(&pr, 4)) ==
                TN_OK);
        break;
      default: {
        tn_telemetry_stamp stamp;
        now += next(&pr, 3);
        stamp.now_ms = now;
        stamp.boot_count = next(&pr, 1);
        stamp.unix_ms = next(&pr, 1) ? 1700000000000ull + now : 0;
        tn_telemetry_record r;
        REQUIRE(tn_telemetry_take_record(&t, &stamp, &r) == TN_OK);
        check_round_trip(&r);
        break;
      }
    }
  }
  tn_telemetry_stamp last = {now, 1, 0};
  tn_telemetry_record r;
  REQUIRE(tn_telemetry_take_record(&t, &last, &r) == TN_OK);
  check_round_trip(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tn_telemetry_record r;
  if (tn_telemetry_record_decode(data, size, &r) == TN_OK) {
    REQUIRE(tn_telemetry_record_check(&r) == TN_OK);
    uint8_t b[TN_TELEMETRY_RECORD_MAX];
    size_t n = 0;
    REQUIRE(tn_telemetry_record_encode(&r, b, sizeof(b), &n) == TN_OK);
    REQUIRE(n == size && memcmp(b, data, size) == 0);
  }
  run_accumulator(data, size);
  return 0;
}
