/*
 * The telemetry accumulator: constant-time, integer-only counting on the
 * node's inference path, and the step that turns one interval's counts into
 * a record and starts the next interval. Every count saturates instead of
 * wrapping, in a way that keeps the record's cross-field rules true, so a
 * record taken from the accumulator always encodes.
 */
#include "telemetry/tn_telemetry.h"

#include <string.h>

static uint32_t sat_inc32(uint32_t v) { return v == UINT32_MAX ? v : v + 1u; }

static uint64_t sat_add64(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Clears the per-interval counts; keeps the model and the energy rest. */
static void clear_counts(tn_telemetry* t) {
  t->inference_count = 0;
  memset(t->class_counts, 0, sizeof(t->class_counts));
  t->confidence_sum = 0;
  memset(t->confidence_hist, 0, sizeof(t->confidence_hist));
  t->feedback_total = 0;
  t->feedback_correct = 0;
  t->cycles = 0;
  t->error_kinds = 0;
  memset(t->errors, 0, sizeof(t->errors));
  t->errors_other = 0;
}

void tn_telemetry_init(tn_telemetry* t, uint64_t now_ms) {
  if (t == NULL) return;
  memset(t, 0, sizeof(*t));
  t->interval_start_ms = now_ms;
  t->model.active_slot = TN_TELEMETRY_NO_SLOT;
}

tn_status tn_telemetry_set_model(tn_telemetry* t, const tn_telemetry_model* m) {
  if (t == NULL || m == NULL) return TN_ERR_NULL;
  if (m->slot_count > TN_TELEMETRY_MAX_SLOTS) return TN_ERR_ARG;
  unsigned running = 0;
  uint8_t running_index = TN_TELEMETRY_NO_SLOT;
  for (uint8_t i = 0; i < m->slot_count; ++i) {
    uint8_t s = m->slot_states[i];
    if (s > TN_TELEMETRY_SLOT_FAILED) return TN_ERR_ARG;
    if (s == TN_TELEMETRY_SLOT_ACTIVE ||
        s == TN_TELEMETRY_SLOT_PENDING_CONFIRM) {
      ++running;
      running_index = i;
    }
  }
  if (running > 1 || m->active_slot != running_index) return TN_ERR_ARG;
  t->model = *m;
  /* Entries beyond slot_count are not reported; keep them clean. */
  for (size_t i = m->slot_count; i < TN_TELEMETRY_MAX_SLOTS; ++i) {
    t->model.slot_states[i] = 0;
  }
  if (m->active_slot == TN_TELEMETRY_NO_SLOT) {
    memset(t->model.model_id, 0, sizeof(t->model.model_id));
    t->model.model_version = 0;
  }
  return TN_OK;
}

tn_status tn_telemetry_note_inference(tn_telemetry* t, uint16_t top_class,
                                      uint8_t confidence_q8, uint32_t cycles,
                                      uint32_t energy_nj) {
  if (t == NULL) return TN_ERR_NULL;
  t->cycles = sat_add64(t->cycles, cycles);
  t->energy_nj = sat_add64(t->energy_nj, energy_nj);
  /* A saturated count stops every per-inference statistic together, so the
   * bins keep summing to inference_count. */
  if (t->inference_count == UINT32_MAX) return TN_OK;
  ++t->inference_count;
  uint16_t bins = t->model.class_count < TN_TELEMETRY_MAX_CLASSES
                      ? t->model.class_count
                      : (uint16_t)TN_TELEMETRY_MAX_CLASSES;
  if (top_class < bins) ++t->class_counts[top_class];
  t->confidence_sum += confidence_q8;
  ++t->confidence_hist[confidence_q8 >> 5];
  return TN_OK;
}

tn_status tn_telemetry_note_feedback(tn_telemetry* t, int correct) {
  if (t == NULL) return TN_ERR_NULL;
  if (t->feedback_total == UINT32_MAX) return TN_OK;
  ++t->feedback_total;
  if (correct) ++t->feedback_correct;
  return TN_OK;
}

tn_status tn_telemetry_note_error(tn_telemetry* t, tn_status status) {
  if (t == NULL) return TN_ERR_NULL;
  if (status == TN_OK) return TN_OK;
  if ((uint32_t)status > 0xFFFFu) return TN_ERR_ARG;
  uint16_t code = (uint16_t)status;
  /* The list is sorted by code; find the code or the place to insert it. */
  uint8_t at = 0;
  while (at < t->error_kinds && t->errors[at].status < code) ++at;
  if (at < t->error_kinds && t->errors[at].status == code) {
    t->errors[at].count = sat_inc32(t->errors[at].count);
    return TN_OK;
  }
  if (t->error_kinds == TN_TELEMETRY_MAX_ERROR_KINDS) {
    t->errors_other = sat_inc32(t->errors_other);
    return TN_OK;
  }
  for (uint8_t i = t->error_kinds; i > at; --i) t->errors[i] = t->errors[i - 1];
  t->errors[at].status = code;
  t->errors[at].count = 1;
  ++t->error_kinds;
  return TN_OK;
}

tn_status tn_telemetry_note_work(tn_telemetry* t, uint64_t cycles,
                                 uint64_t energy_nj) {
  if (t == NULL) return TN_ERR_NULL;
  t->cycles = sat_add64(t->cycles, cycles);
  t->energy_nj = sat_add64(t->energy_nj, energy_nj);
  return TN_OK;
}

tn_status tn_telemetry_take_record(tn_telemetry* t,
                                   const tn_telemetry_stamp* stamp,
                                   tn_telemetry_record* out) {
  if (t == NULL || stamp == NULL || out == NULL) return TN_ERR_NULL;
  if (stamp->now_ms < t->interval_start_ms) return TN_ERR_ARG;
  memset(out, 0, sizeof(*out));

  const tn_telemetry_model* m = &t->model;
  out->flags = 0;
  if (stamp->unix_ms != 0) {
    out->flags |= TN_TELEMETRY_FLAG_TIME_VALID;
    out->unix_ms = stamp->unix_ms;
  }
  if (m->active_slot != TN_TELEMETRY_NO_SLOT) {
    out->flags |= TN_TELEMETRY_FLAG_MODEL_VALID;
    memcpy(out->model_id, m->model_id, TN_TELEMETRY_MODEL_ID_SIZE);
    out->model_version = m->model_version;
  }
  out->boot_count = stamp->boot_count;
  uint64_t uptime_s = stamp->now_ms / 1000u;
  out->uptime_s = uptime_s > UINT32_MAX ? UINT32_MAX : (uint32_t)uptime_s;
  uint64_t interval = stamp->now_ms - t->interval_start_ms;
  out->interval_ms = interval > UINT32_MAX ? UINT32_MAX : (uint32_t)interval;
  out->active_slot = m->active_slot;
  out->slot_count = m->slot_count;
  memcpy(out->slot_states, m->slot_states, TN_TELEMETRY_MAX_SLOTS);

  out->inference_count = t->inference_count;
  out->class_count = m->class_count < TN_TELEMETRY_MAX_CLASSES
                         ? (uint8_t)m->class_count
                         : (uint8_t)TN_TELEMETRY_MAX_CLASSES;
  memcpy(out->class_counts, t->class_counts, sizeof(out->class_counts));
  /* Bins above a class_count lowered mid-interval are not reported. */
  for (size_t i = out->class_count; i < TN_TELEMETRY_MAX_CLASSES; ++i) {
    out->class_counts[i] = 0;
  }
  if (t->inference_count > 0) {
    /* Mean of the q8 values times 256, rounded to nearest; the sum is below
     * 2^40, so the product cannot overflow. */
    uint64_t n = t->inference_count;
    uint64_t q16 = (t->confidence_sum * 256u + n / 2u) / n;
    out->confidence_mean_q16 = (uint16_t)q16;
  }
  memcpy(out->confidence_hist, t->confidence_hist,
         sizeof(out->confidence_hist));
  out->feedback_total = t->feedback_total;
  out->feedback_correct = t->feedback_correct;
  out->energy_uj = t->energy_nj / 1000u;
  out->cycles = t->cycles;
  out->error_kinds = t->error_kinds;
  memcpy(out->errors, t->errors, sizeof(out->errors));
  out->errors_other = t->errors_other;

  /* The next interval starts now; the sub-microjoule rest carries over so
   * that energy is not lost to rounding over many intervals. */
  t->energy_nj %= 1000u;
  clear_counts(t);
  t->interval_start_ms = stamp->now_ms;
  return TN_OK;
}
