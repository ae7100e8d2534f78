/*
 * The telemetry record's binary codec (format version 1): the field rules
 * shared by encoder and decoder, a bounded little-endian cursor, and the two
 * directions. Both sides apply the one rule function, so the encoder never
 * produces bytes the decoder rejects, and the decoder rebuilds exactly the
 * struct the encoder was given (canonical encoding).
 */
#include <string.h>

#include "telemetry/tn_telemetry.h"

/* The layout constants in the header must add up. */
_Static_assert(TN_TELEMETRY_FIXED_SIZE ==
                   2u + 4u + 4u + 4u + 8u + TN_TELEMETRY_MODEL_ID_SIZE + 4u +
                       1u + 1u + 4u + 1u + 2u +
                       4u * TN_TELEMETRY_CONFIDENCE_BINS + 4u + 4u + 8u + 8u +
                       1u + 4u,
               "fixed part of the record layout");

static int slot_state_ok(uint8_t s) { return s <= TN_TELEMETRY_SLOT_FAILED; }

static int is_running_state(uint8_t s) {
  return s == TN_TELEMETRY_SLOT_ACTIVE ||
         s == TN_TELEMETRY_SLOT_PENDING_CONFIRM;
}

/* Slot rules shared with tn_telemetry_set_model: states in range, at most
 * one running slot, and active_slot naming exactly that slot (or NO_SLOT
 * when none runs). */
static int slots_ok(uint8_t active_slot, uint8_t slot_count,
                    const uint8_t* states) {
  if (slot_count > TN_TELEMETRY_MAX_SLOTS) return 0;
  unsigned running = 0;
  uint8_t running_index = TN_TELEMETRY_NO_SLOT;
  for (uint8_t i = 0; i < slot_count; ++i) {
    if (!slot_state_ok(states[i])) return 0;
    if (is_running_state(states[i])) {
      ++running;
      running_index = i;
    }
  }
  if (running > 1) return 0;
  return active_slot == running_index;
}

static int all_zero(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

tn_status tn_telemetry_record_check(const tn_telemetry_record* r) {
  if (r == NULL) return TN_ERR_NULL;
  if (r->flags & (uint8_t)~TN_TELEMETRY_FLAGS_KNOWN) return TN_ERR_ARG;
  if (!(r->flags & TN_TELEMETRY_FLAG_TIME_VALID) && r->unix_ms != 0) {
    return TN_ERR_ARG;
  }
  if (!slots_ok(r->active_slot, r->slot_count, r->slot_states)) {
    return TN_ERR_ARG;
  }
  int model_valid = (r->flags & TN_TELEMETRY_FLAG_MODEL_VALID) != 0;
  if (model_valid != (r->active_slot != TN_TELEMETRY_NO_SLOT)) {
    return TN_ERR_ARG;
  }
  if (!model_valid && (r->model_version != 0 ||
                       !all_zero(r->model_id, TN_TELEMETRY_MODEL_ID_SIZE))) {
    return TN_ERR_ARG;
  }
  if (r->class_count > TN_TELEMETRY_MAX_CLASSES) return TN_ERR_ARG;
  uint64_t class_sum = 0;
  for (uint8_t i = 0; i < r->class_count; ++i) class_sum += r->class_counts[i];
  if (class_sum > r->inference_count) return TN_ERR_ARG;

  uint64_t hist_sum = 0;
  int lowest = -1;
  int highest = -1;
  for (int b = 0; b < (int)TN_TELEMETRY_CONFIDENCE_BINS; ++b) {
    hist_sum += r->confidence_hist[b];
    if (r->confidence_hist[b] != 0) {
      if (lowest < 0) lowest = b;
      highest = b;
    }
  }
  if (hist_sum != r->inference_count) return TN_ERR_ARG;
  if (r->inference_count == 0) {
    if (r->confidence_mean_q16 != 0) return TN_ERR_ARG;
  } else {
    uint32_t lo = 8192u * (uint32_t)lowest;
    uint32_t hi = 8192u * (uint32_t)highest + 7936u;
    if (r->confidence_mean_q16 < lo || r->confidence_mean_q16 > hi) {
      return TN_ERR_ARG;
    }
  }
  if (r->feedback_correct > r->feedback_total) return TN_ERR_ARG;
  if (r->error_kinds > TN_TELEMETRY_MAX_ERROR_KINDS) return TN_ERR_ARG;
  uint32_t previous = 0;
  for (uint8_t i = 0; i < r->error_kinds; ++i) {
    if (r->errors[i].status <= previous || r->errors[i].count == 0) {
      return TN_ERR_ARG;
    }
    previous = r->errors[i].status;
  }
  return TN_OK;
}

size_t tn_telemetry_record_size(const tn_telemetry_record* r) {
  if (tn_telemetry_record_check(r) != TN_OK) return 0;
  return TN_TELEMETRY_FIXED_SIZE + r->slot_count + 4u * r->class_count +
         6u * r->error_kinds;
}

/* ---- bounded cursor ------------------------------------------------------ */

/* Sequential reader over data[0..size); `bad` sticks once a read would pass
 * the end, and every later read yields zeros. */
typedef struct cursor {
  const uint8_t* p;
  size_t size;
  size_t pos;
  int bad;
} cursor;

static const uint8_t* take(cursor* c, size_t n) {
  if (c->bad || c->size - c->pos < n) {
    c->bad = 1;
    return NULL;
  }
  const uint8_t* at = c->p + c->pos;
  c->pos += n;
  return at;
}

static uint8_t get_u8(cursor* c) {
  const uint8_t* at = take(c, 1);
  return at ? at[0] : 0;
}

static uint16_t get_u16(cursor* c) {
  const uint8_t* at = take(c, 2);
  return at ? tn_load_u16le(at) : 0;
}

static uint32_t get_u32(cursor* c) {
  const uint8_t* at = take(c, 4);
  return at ? tn_load_u32le(at) : 0;
}

static uint64_t get_u64(cursor* c) {
  const uint8_t* at = take(c, 8);
  return at ? tn_load_u64le(at) : 0;
}

static void get_bytes(cursor* c, uint8_t* dst, size_t n) {
  const uint8_t* at = take(c, n);
  if (at) {
    memcpy(dst, at, n);
  } else {
    memset(dst, 0, n);
  }
}

/* ---- encode -------------------------------------------------------------- */

tn_status tn_telemetry_record_encode(const tn_telemetry_record* r, uint8_t* out,
                                     size_t cap, size_t* out_len) {
  if (r == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (tn_telemetry_record_check(r) != TN_OK) return TN_ERR_ARG;
  size_t size = tn_telemetry_record_size(r);
  if (size > cap) return TN_ERR_BUFFER_TOO_SMALL;

  uint8_t* p = out;
  *p++ = (uint8_t)TN_TELEMETRY_FORMAT;
  *p++ = r->flags;
  tn_store_u32le(p, r->boot_count);
  p += 4;
  tn_store_u32le(p, r->uptime_s);
  p += 4;
  tn_store_u32le(p, r->interval_ms);
  p += 4;
  tn_store_u64le(p, r->unix_ms);
  p += 8;
  memcpy(p, r->model_id, TN_TELEMETRY_MODEL_ID_SIZE);
  p += TN_TELEMETRY_MODEL_ID_SIZE;
  tn_store_u32le(p, r->model_version);
  p += 4;
  *p++ = r->active_slot;
  *p++ = r->slot_count;
  for (uint8_t i = 0; i < r->slot_count; ++i) *p++ = r->slot_states[i];
  tn_store_u32le(p, r->inference_count);
  p += 4;
  *p++ = r->class_count;
  for (uint8_t i = 0; i < r->class_count; ++i) {
    tn_store_u32le(p, r->class_counts[i]);
    p += 4;
  }
  tn_store_u16le(p, r->confidence_mean_q16);
  p += 2;
  for (size_t b = 0; b < TN_TELEMETRY_CONFIDENCE_BINS; ++b) {
    tn_store_u32le(p, r->confidence_hist[b]);
    p += 4;
  }
  tn_store_u32le(p, r->feedback_total);
  p += 4;
  tn_store_u32le(p, r->feedback_correct);
  p += 4;
  tn_store_u64le(p, r->energy_uj);
  p += 8;
  tn_store_u64le(p, r->cycles);
  p += 8;
  *p++ = r->error_kinds;
  for (uint8_t i = 0; i < r->error_kinds; ++i) {
    tn_store_u16le(p, r->errors[i].status);
    tn_store_u32le(p + 2, r->errors[i].count);
    p += 6;
  }
  tn_store_u32le(p, r->errors_other);
  p += 4;
  if ((size_t)(p - out) != size) return TN_ERR_INTERNAL;
  *out_len = size;
  return TN_OK;
}

/* ---- decode -------------------------------------------------------------- */

tn_status tn_telemetry_record_decode(const uint8_t* data, size_t size,
                                     tn_telemetry_record* r) {
  if ((data == NULL && size > 0) || r == NULL) return TN_ERR_NULL;
  memset(r, 0, sizeof(*r));
  if (size == 0) return TN_ERR_MSG_MALFORMED;
  if (data[0] != TN_TELEMETRY_FORMAT) return TN_ERR_UNSUPPORTED;
  if (size > TN_TELEMETRY_RECORD_MAX) return TN_ERR_MSG_MALFORMED;

  cursor c = {data, size, 1, 0};
  r->flags = get_u8(&c);
  r->boot_count = get_u32(&c);
  r->uptime_s = get_u32(&c);
  r->interval_ms = get_u32(&c);
  r->unix_ms = get_u64(&c);
  get_bytes(&c, r->model_id, TN_TELEMETRY_MODEL_ID_SIZE);
  r->model_version = get_u32(&c);
  r->active_slot = get_u8(&c);
  r->slot_count = get_u8(&c);
  if (r->slot_count > TN_TELEMETRY_MAX_SLOTS) return TN_ERR_MSG_MALFORMED;
  for (uint8_t i = 0; i < r->slot_count; ++i) r->slot_states[i] = get_u8(&c);
  r->inference_count = get_u32(&c);
  r->class_count = get_u8(&c);
  if (r->class_count > TN_TELEMETRY_MAX_CLASSES) return TN_ERR_MSG_MALFORMED;
  for (uint8_t i = 0; i < r->class_count; ++i) {
    r->class_counts[i] = get_u32(&c);
  }
  r->confidence_mean_q16 = get_u16(&c);
  for (size_t b = 0; b < TN_TELEMETRY_CONFIDENCE_BINS; ++b) {
    r->confidence_hist[b] = get_u32(&c);
  }
  r->feedback_total = get_u32(&c);
  r->feedback_correct = get_u32(&c);
  r->energy_uj = get_u64(&c);
  r->cycles = get_u64(&c);
  r->error_kinds = get_u8(&c);
  if (r->error_kinds > TN_TELEMETRY_MAX_ERROR_KINDS) {
    return TN_ERR_MSG_MALFORMED;
  }
  for (uint8_t i = 0; i < r->error_kinds; ++i) {
    r->errors[i].status = get_u16(&c);
    r->errors[i].count = get_u32(&c);
  }
  r->errors_other = get_u32(&c);
  if (c.bad || c.pos != size) return TN_ERR_MSG_MALFORMED;
  return tn_telemetry_record_check(r) == TN_OK ? TN_OK : TN_ERR_MSG_MALFORMED;
}
