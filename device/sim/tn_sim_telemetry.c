/*
 * The virtual node's telemetry sender: a synthetic inference workload fed
 * into the telemetry accumulator, one sealed record per reporting interval,
 * and stop-and-wait delivery over the node's own request direction of the
 * link (identical bytes on timeout, a new sequence number after a NACK). At
 * most one record is in flight; while it waits, the next interval keeps
 * accumulating, so no statistic is lost -- the next record just covers a
 * longer interval.
 *
 * The workload is deterministic per hardware id (tn_rng seeded with it), so
 * a simulated fleet shows varied but repeatable dashboards: each node gets
 * its own inference rate, accuracy and cost per inference for a pretended
 * 12-class keyword spotter.
 */
#include <string.h>

#include "sim/tn_sim.h"
#include "sim/tn_sim_internal.h"

/* A TELEMETRY payload (6 bytes of header) with the largest sealed record
 * fits the smallest payload a peer may announce, so no negotiation can make
 * a record unsendable. */
#define TELEMETRY_HEADER 6u
_Static_assert(TELEMETRY_HEADER + TN_SIM_SEALED_MAX <= TN_LINK_MIN_PAYLOAD,
               "a sealed record fits every negotiated payload");

#define SYNTH_CLASSES 12u
/* Energy model of the pretended target: 40 pJ per cycle (a GAP9 cluster at
 * roughly 10 mW and 240 MHz). */
#define SYNTH_PJ_PER_CYCLE 40u

static const tn_status kSynthErrors[] = {TN_ERR_TIMEOUT, TN_ERR_NUMERIC,
                                         TN_ERR_BUSY};

static void workload_init(tn_sim_workload* w, const uint8_t* hardware_id) {
  memset(w, 0, sizeof(*w));
  tn_rng_seed(&w->rng, tn_load_u64le(hardware_id),
              tn_load_u64le(hardware_id + 8));
  w->period_ms = 500u + tn_rng_below(&w->rng, 1000u);
  w->accuracy_permille = 820u + tn_rng_below(&w->rng, 150u);
  w->base_cycles = 1200000u + tn_rng_below(&w->rng, 600000u);
  w->classes = SYNTH_CLASSES;
  w->next_event_ms = w->period_ms;
}

/* One pretended inference: a true class (a quarter of them the "silence"
 * class 0), a prediction that is right with the node's accuracy, a
 * confidence that is higher when it is right, and now and then a labelled
 * feedback or an error. */
static void synthesize_one(tn_sim_node* node) {
  tn_sim_workload* w = &node->workload;
  uint32_t classes = w->classes;
  uint32_t truth = tn_rng_below(&w->rng, 4u) == 0
                       ? 0u
                       : 1u + tn_rng_below(&w->rng, classes - 1u);
  int correct = tn_rng_below(&w->rng, 1000u) < w->accuracy_permille;
  uint32_t predicted =
      correct ? truth
              : (truth + 1u + tn_rng_below(&w->rng, classes - 1u)) % classes;
  int32_t confidence = correct ? tn_rng_range(&w->rng, 150, 255)
                               : tn_rng_range(&w->rng, 60, 190);
  uint32_t cycles = w->base_cycles + tn_rng_below(&w->rng, w->base_cycles / 8u);
  uint32_t energy_nj =
      (uint32_t)((uint64_t)cycles * SYNTH_PJ_PER_CYCLE / 1000u);
  (void)tn_telemetry_note_inference(&node->acc, (uint16_t)predicted,
                                    (uint8_t)confidence, cycles, energy_nj);
  if (tn_rng_below(&w->rng, 8u) == 0) {
    (void)tn_telemetry_note_feedback(&node->acc, correct);
  }
  if (tn_rng_below(&w->rng, 400u) == 0) {
    uint32_t which =
        tn_rng_below(&w->rng, (uint32_t)TN_ARRAY_SIZE(kSynthErrors));
    (void)tn_telemetry_note_error(&node->acc, kSynthErrors[which]);
  }
}

/* Adds the inferences due up to now_ms, at most TN_SIM_MAX_SYNTH_PER_POLL;
 * beyond that the backlog is skipped. */
static void synthesize(tn_sim_node* node, uint64_t now_ms) {
  tn_sim_workload* w = &node->workload;
  for (uint32_t n = 0; w->next_event_ms <= now_ms; ++n) {
    if (n == TN_SIM_MAX_SYNTH_PER_POLL) {
      w->next_event_ms = now_ms + w->period_ms;
      break;
    }
    synthesize_one(node);
    /* Inter-arrival times spread over [period/2, 3 period/2]. */
    w->next_event_ms +=
        w->period_ms / 2u + tn_rng_below(&w->rng, w->period_ms + 1u);
  }
}

/* The model description the record reports: the running slot of the slot
 * table, if any, and the pretended class count. */
static void describe_model(tn_sim_node* node) {
  tn_telemetry_model m;
  memset(&m, 0, sizeof(m));
  m.active_slot = TN_TELEMETRY_NO_SLOT;
  m.class_count = node->workload.classes;
  m.slot_count = node->info.slot_count;
  for (uint8_t i = 0; i < node->info.slot_count; ++i) {
    const tn_link_slot* s = &node->info.slots[i];
    m.slot_states[i] = s->state;
    if (s->state == TN_LINK_SLOT_ACTIVE ||
        s->state == TN_LINK_SLOT_PENDING_CONFIRM) {
      m.active_slot = i;
      memcpy(m.model_id, s->model_id, TN_TELEMETRY_MODEL_ID_SIZE);
      m.model_version = s->model_version;
    }
  }
  /* The slot table obeys the link's rules (checked at open), which are the
   * record's; a refusal would only keep the previous description. */
  (void)tn_telemetry_set_model(&node->acc, &m);
}

tn_status tn_sim_telemetry_open(tn_sim_node* node, const tn_sim_config* cfg) {
  tn_secure_storage storage;
  storage.ctx = cfg->storage.ctx;
  storage.read = cfg->storage.read;
  storage.write = cfg->storage.write;
  tn_status st = tn_sealer_open(&node->sealer, &storage, cfg->entropy,
                                cfg->entropy_ctx, cfg->counter_block);
  if (st != TN_OK) return st;
  node->telemetry = 1;
  node->telemetry_interval_ms = cfg->telemetry_interval_ms != 0
                                    ? cfg->telemetry_interval_ms
                                    : TN_SIM_DEFAULT_TELEMETRY_INTERVAL_MS;
  node->telemetry_retry_ms = cfg->telemetry_retry_ms != 0
                                 ? cfg->telemetry_retry_ms
                                 : TN_SIM_DEFAULT_TELEMETRY_RETRY_MS;
  tn_telemetry_init(&node->acc, 0);
  workload_init(&node->workload, node->info.hardware_id);
  describe_model(node);
  tn_link_requester_init(&node->requester,
                         (uint16_t)tn_rng_u32(&node->workload.rng));
  return TN_OK;
}

/* Frames the pending sealed record as a new TELEMETRY request (new seq,
 * ACK_REQUESTED) into node->out. */
static tn_status frame_pending(tn_sim_node* node) {
  uint8_t payload[TELEMETRY_HEADER + TN_SIM_SEALED_MAX];
  tn_link_telemetry m;
  m.record_counter = (uint32_t)node->pending_counter;
  m.record_len = node->pending_len;
  m.record = node->pending_record;
  size_t n = 0;
  if (tn_link_telemetry_encode(&m, payload, sizeof(payload), &n) != TN_OK) {
    return TN_ERR_INTERNAL;
  }
  uint16_t seq = 0;
  if (tn_link_requester_start(&node->requester, TN_LINK_MSG_TELEMETRY,
                              TN_LINK_FLAG_ACK_REQUESTED, &seq) != TN_OK) {
    return TN_ERR_INTERNAL;
  }
  tn_link_frame f = {TN_LINK_MSG_TELEMETRY,
                     TN_LINK_FLAG_ACK_REQUESTED,
                     seq,
                     (uint16_t)n,
                     payload,
                     0};
  size_t wire = 0;
  if (tn_link_frame_encode(&f, node->out, sizeof(node->out), &wire) != TN_OK) {
    tn_link_requester_cancel(&node->requester);
    return TN_ERR_INTERNAL;
  }
  node->out_len = (uint16_t)wire;
  return TN_OK;
}

/* Takes the interval's record into the staging buffer. */
static tn_status stage_record(tn_sim_node* node, uint64_t now_ms) {
  describe_model(node);
  tn_telemetry_stamp stamp;
  stamp.now_ms = now_ms;
  stamp.boot_count = node->boot_count;
  stamp.unix_ms = 0; /* the virtual node keeps no wall clock */
  tn_telemetry_record rec;
  tn_status st = tn_telemetry_take_record(&node->acc, &stamp, &rec);
  size_t n = 0;
  if (st == TN_OK) {
    st = tn_telemetry_record_encode(&rec, node->staged_record,
                                    sizeof(node->staged_record), &n);
  }
  if (st != TN_OK) return TN_ERR_INTERNAL;
  node->staged = 1;
  node->staged_len = (uint16_t)n;
  return TN_OK;
}

static void hand_out(tn_sim_node* node, uint64_t now_ms, const uint8_t** frame,
                     size_t* frame_len) {
  node->last_send_ms = now_ms;
  node->resend_now = 0;
  *frame = node->out;
  *frame_len = node->out_len;
}

tn_status tn_sim_node_poll(tn_sim_node* node, uint64_t now_ms,
                           const uint8_t** frame, size_t* frame_len) {
  if (frame != NULL) *frame = NULL;
  if (frame_len != NULL) *frame_len = 0;
  if (node == NULL || frame == NULL || frame_len == NULL) return TN_ERR_NULL;
  tn_sim_train_poll(node);
  if (!node->telemetry) return TN_OK;
  if (now_ms < node->clock_ms) return TN_ERR_ARG;
  node->clock_ms = now_ms;
  synthesize(node, now_ms);
  if (!node->sealer.keyed || node->peer_max_payload == 0) return TN_OK;

  if (node->pending) {
    if (node->requester.waiting) {
      /* Unanswered: the identical bytes again. */
      if (node->resend_now ||
          now_ms - node->last_send_ms >= node->telemetry_retry_ms) {
        ++node->stats.telemetry_resent;
        hand_out(node, now_ms, frame, frame_len);
      }
      return TN_OK;
    }
    /* NACKed: offer the record again an interval later, as a new request
     * (the agent's response cache would repeat the NACK for the old one). */
    if (node->resend_now ||
        now_ms - node->last_send_ms >= node->telemetry_interval_ms) {
      tn_status st = frame_pending(node);
      if (st != TN_OK) return st;
      ++node->stats.telemetry_resent;
      hand_out(node, now_ms, frame, frame_len);
    }
    return TN_OK;
  }

  if (!node->staged) {
    if (now_ms - node->acc.interval_start_ms < node->telemetry_interval_ms) {
      return TN_OK;
    }
    tn_status st = stage_record(node, now_ms);
    if (st != TN_OK) return st;
  }
  size_t sealed_len = 0;
  uint64_t counter = 0;
  tn_status st =
      tn_sealer_seal(&node->sealer, node->staged_record, node->staged_len,
                     node->pending_record, sizeof(node->pending_record),
                     &sealed_len, &counter);
  if (st != TN_OK) {
    ++node->stats.telemetry_errors; /* kept staged; tried at the next poll */
    return TN_OK;
  }
  node->staged = 0;
  node->pending = 1;
  node->pending_len = (uint16_t)sealed_len;
  node->pending_counter = counter;
  st = frame_pending(node);
  if (st != TN_OK) return st;
  ++node->stats.telemetry_sent;
  hand_out(node, now_ms, frame, frame_len);
  return TN_OK;
}

int tn_sim_telemetry_response(tn_sim_node* node, const tn_link_frame* frame) {
  if (!node->telemetry || !node->pending || !node->requester.waiting) {
    return 0;
  }
  if (tn_link_requester_accept(&node->requester, frame) != TN_OK) return 0;
  if (frame->type == TN_LINK_MSG_ACK) {
    node->pending = 0;
    ++node->stats.telemetry_acked;
  } else {
    /* The wait for the next offer starts now. */
    node->last_send_ms = node->clock_ms;
    ++node->stats.telemetry_nacked;
  }
  node->resend_now = 0;
  return 1;
}
