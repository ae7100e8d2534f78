/*
 * Payload codecs of the training messages: the parameters TRAIN carries,
 * TRAIN_TAIL, TRAIN_STATUS and its reply, UPDATE_READ and TRAIN_CANCEL
 * (docs/formats/link-protocol.md, "Training"). Every decoder checks the
 * exact length and every field rule; every encoder refuses what its decoder
 * would refuse, so encoding is canonical.
 */
#include <string.h>

#include "link/tn_link.h"
#include "link/tn_link_codec.h"

static uint32_t f32_bits(float v) {
  uint32_t b;
  memcpy(&b, &v, sizeof(b));
  return b;
}

static float bits_f32(uint32_t b) {
  float v;
  memcpy(&v, &b, sizeof(v));
  return v;
}

static int finite(float v) { return ((f32_bits(v) >> 23) & 0xFFu) != 0xFFu; }

static int all_zero(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

const char* tn_link_train_state_str(uint8_t state) {
  switch (state) {
    case TN_LINK_TRAIN_IDLE:
      return "idle";
    case TN_LINK_TRAIN_RECEIVING:
      return "receiving";
    case TN_LINK_TRAIN_RUNNING:
      return "running";
    case TN_LINK_TRAIN_DONE:
      return "done";
    case TN_LINK_TRAIN_FAILED:
      return "failed";
    case TN_LINK_TRAIN_CANCELLED:
      return "cancelled";
    default:
      break;
  }
  return "unknown";
}

/* ---- TRAIN parameters ---------------------------------------------------- */

/* Largest shot count of FEW_SHOT and SELF_LEARNING jobs. */
#define TRAIN_MAX_SHOTS 65535u

static int train_params_ok(const tn_link_train_params* m) {
  if (m->kind == TN_LINK_TRAIN_FEDERATED) {
    if (m->replay_bits != 0 || m->replay_samples != 0) return 0;
  } else if (m->kind == TN_LINK_TRAIN_LATENT_REPLAY) {
    if ((m->replay_bits != 7 && m->replay_bits != 8) || m->replay_samples == 0)
      return 0;
  } else if (m->kind == TN_LINK_TRAIN_FEW_SHOT ||
             m->kind == TN_LINK_TRAIN_SELF_LEARNING) {
    if (m->replay_bits != 0 || m->replay_samples == 0 ||
        m->replay_samples > TRAIN_MAX_SHOTS) {
      return 0;
    }
  } else {
    return 0;
  }
  if (m->kind == TN_LINK_TRAIN_FEW_SHOT) {
    if (!finite(m->target_far) || !(m->target_far >= 0.0f) ||
        !(m->target_far <= 1.0f)) {
      return 0;
    }
  } else if (f32_bits(m->target_far) != 0) {
    return 0;
  }
  if (m->tail_size == 0 || m->local_epochs == 0 || m->batch_size == 0) {
    return 0;
  }
  if (!finite(m->learning_rate) || !(m->learning_rate > 0.0f)) return 0;
  if (!finite(m->momentum) || !(m->momentum >= 0.0f) || !(m->momentum < 1.0f)) {
    return 0;
  }
  const float nonneg[3] = {m->weight_decay, m->prox_mu, m->clip_norm};
  for (int i = 0; i < 3; ++i) {
    if (!finite(nonneg[i]) || !(nonneg[i] >= 0.0f)) return 0;
  }
  return finite(m->top_k_ratio) && m->top_k_ratio >= 0.0f &&
         m->top_k_ratio <= 1.0f;
}

tn_status tn_link_train_params_encode(const tn_link_train_params* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (!train_params_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u8(&w, m->kind);
  tn_link_write_u8(&w, m->replay_bits);
  tn_link_write_u16(&w, 0);
  tn_link_write_bytes(&w, m->round_binding, TN_LINK_SHA256_SIZE);
  tn_link_write_bytes(&w, m->frozen_sha256, TN_LINK_SHA256_SIZE);
  tn_link_write_bytes(&w, m->tail_sha256, TN_LINK_SHA256_SIZE);
  tn_link_write_u32(&w, m->tail_size);
  tn_link_write_u32(&w, (uint32_t)m->seed);
  tn_link_write_u32(&w, (uint32_t)(m->seed >> 32));
  tn_link_write_u32(&w, m->attempt);
  tn_link_write_u16(&w, m->local_epochs);
  tn_link_write_u16(&w, m->batch_size);
  tn_link_write_u32(&w, m->replay_samples);
  tn_link_write_u32(&w, f32_bits(m->learning_rate));
  tn_link_write_u32(&w, f32_bits(m->momentum));
  tn_link_write_u32(&w, f32_bits(m->weight_decay));
  tn_link_write_u32(&w, f32_bits(m->prox_mu));
  tn_link_write_u32(&w, f32_bits(m->clip_norm));
  tn_link_write_u32(&w, f32_bits(m->top_k_ratio));
  tn_link_write_u32(&w, f32_bits(m->target_far));
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_train_params_decode(const uint8_t* payload, size_t size,
                                      tn_link_train_params* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->kind = tn_link_read_u8(&r);
  m->replay_bits = tn_link_read_u8(&r);
  uint16_t reserved0 = tn_link_read_u16(&r);
  tn_link_read_copy(&r, m->round_binding, TN_LINK_SHA256_SIZE);
  tn_link_read_copy(&r, m->frozen_sha256, TN_LINK_SHA256_SIZE);
  tn_link_read_copy(&r, m->tail_sha256, TN_LINK_SHA256_SIZE);
  m->tail_size = tn_link_read_u32(&r);
  uint64_t lo = tn_link_read_u32(&r);
  uint64_t hi = tn_link_read_u32(&r);
  m->seed = lo | (hi << 32);
  m->attempt = tn_link_read_u32(&r);
  m->local_epochs = tn_link_read_u16(&r);
  m->batch_size = tn_link_read_u16(&r);
  m->replay_samples = tn_link_read_u32(&r);
  m->learning_rate = bits_f32(tn_link_read_u32(&r));
  m->momentum = bits_f32(tn_link_read_u32(&r));
  m->weight_decay = bits_f32(tn_link_read_u32(&r));
  m->prox_mu = bits_f32(tn_link_read_u32(&r));
  m->clip_norm = bits_f32(tn_link_read_u32(&r));
  m->top_k_ratio = bits_f32(tn_link_read_u32(&r));
  /* Reserved (0) except for FEW_SHOT; train_params_ok checks which. */
  m->target_far = bits_f32(tn_link_read_u32(&r));
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  if (reserved0 != 0) return TN_ERR_MSG_MALFORMED;
  return train_params_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- TRAIN_TAIL ---------------------------------------------------------- */

#define TRAIN_TAIL_FIXED 10u

static int train_tail_ok(const tn_link_train_tail* m) {
  if (m->data_len < 1 || m->data_len > TN_LINK_MAX_PAYLOAD - TRAIN_TAIL_FIXED)
    return 0;
  return (uint64_t)m->offset + m->data_len <= 0x100000000ull;
}

tn_status tn_link_train_tail_encode(const tn_link_train_tail* m, uint8_t* out,
                                    size_t cap, size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (m->data == NULL && m->data_len > 0) return TN_ERR_NULL;
  if (!train_tail_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u32(&w, m->job_id);
  tn_link_write_u32(&w, m->offset);
  tn_link_write_u16(&w, m->data_len);
  tn_link_write_bytes(&w, m->data, m->data_len);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_train_tail_decode(const uint8_t* payload, size_t size,
                                    tn_link_train_tail* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->job_id = tn_link_read_u32(&r);
  m->offset = tn_link_read_u32(&r);
  m->data_len = tn_link_read_u16(&r);
  m->data = tn_link_read_bytes(&r, m->data_len);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return train_tail_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- TRAIN_STATUS and TRAIN_CANCEL --------------------------------------- */

static tn_status encode_job_id(uint32_t job_id, uint8_t* out, size_t cap,
                               size_t* out_len) {
  if (out == NULL || out_len == NULL) return TN_ERR_NULL;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u32(&w, job_id);
  return tn_link_writer_end(&w, out_len);
}

static tn_status decode_job_id(const uint8_t* payload, size_t size,
                               uint32_t* job_id) {
  if ((payload == NULL && size > 0) || job_id == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  *job_id = tn_link_read_u32(&r);
  return tn_link_reader_end(&r);
}

tn_status tn_link_train_status_encode(const tn_link_train_status* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len) {
  if (m == NULL) return TN_ERR_NULL;
  return encode_job_id(m->job_id, out, cap, out_len);
}

tn_status tn_link_train_status_decode(const uint8_t* payload, size_t size,
                                      tn_link_train_status* m) {
  if (m == NULL) return TN_ERR_NULL;
  return decode_job_id(payload, size, &m->job_id);
}

tn_status tn_link_train_cancel_encode(const tn_link_train_cancel* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len) {
  if (m == NULL) return TN_ERR_NULL;
  return encode_job_id(m->job_id, out, cap, out_len);
}

tn_status tn_link_train_cancel_decode(const uint8_t* payload, size_t size,
                                      tn_link_train_cancel* m) {
  if (m == NULL) return TN_ERR_NULL;
  return decode_job_id(payload, size, &m->job_id);
}

/* ---- TRAIN_STATUS_REPLY -------------------------------------------------- */

static int figures_zero(const tn_link_train_status_reply* m) {
  return m->update_size == 0 && m->samples == 0 &&
         all_zero(m->update_sha256, TN_LINK_SHA256_SIZE) &&
         f32_bits(m->loss_before) == 0 && f32_bits(m->loss_after) == 0 &&
         f32_bits(m->accuracy_before) == 0 && f32_bits(m->accuracy_after) == 0;
}

static int train_status_reply_ok(const tn_link_train_status_reply* m) {
  if (m->state > TN_LINK_TRAIN_CANCELLED) return 0;
  if (m->state == TN_LINK_TRAIN_IDLE) {
    return m->job_id == 0 && m->status == 0 && m->tail_received == 0 &&
           m->tail_size == 0 && m->steps_done == 0 && m->steps_total == 0 &&
           figures_zero(m);
  }
  if (m->job_id == 0) return 0;
  if ((m->state == TN_LINK_TRAIN_FAILED) != (m->status != 0)) return 0;
  if (m->tail_received > m->tail_size || m->steps_done > m->steps_total) {
    return 0;
  }
  if (m->state != TN_LINK_TRAIN_DONE) return figures_zero(m);
  if (m->update_size == 0 || m->samples == 0) return 0;
  const float losses[2] = {m->loss_before, m->loss_after};
  const float accs[2] = {m->accuracy_before, m->accuracy_after};
  for (int i = 0; i < 2; ++i) {
    if (!finite(losses[i]) || !(losses[i] >= 0.0f)) return 0;
    if (!finite(accs[i]) || !(accs[i] >= 0.0f) || !(accs[i] <= 1.0f)) {
      return 0;
    }
  }
  return 1;
}

tn_status tn_link_train_status_reply_encode(const tn_link_train_status_reply* m,
                                            uint8_t* out, size_t cap,
                                            size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (!train_status_reply_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u32(&w, m->job_id);
  tn_link_write_u8(&w, m->state);
  tn_link_write_u8(&w, 0);
  tn_link_write_u16(&w, m->status);
  tn_link_write_u32(&w, m->tail_received);
  tn_link_write_u32(&w, m->tail_size);
  tn_link_write_u32(&w, m->steps_done);
  tn_link_write_u32(&w, m->steps_total);
  tn_link_write_u32(&w, m->update_size);
  tn_link_write_bytes(&w, m->update_sha256, TN_LINK_SHA256_SIZE);
  tn_link_write_u32(&w, m->samples);
  tn_link_write_u32(&w, f32_bits(m->loss_before));
  tn_link_write_u32(&w, f32_bits(m->loss_after));
  tn_link_write_u32(&w, f32_bits(m->accuracy_before));
  tn_link_write_u32(&w, f32_bits(m->accuracy_after));
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_train_status_reply_decode(const uint8_t* payload, size_t size,
                                            tn_link_train_status_reply* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->job_id = tn_link_read_u32(&r);
  m->state = tn_link_read_u8(&r);
  uint8_t reserved = tn_link_read_u8(&r);
  m->status = tn_link_read_u16(&r);
  m->tail_received = tn_link_read_u32(&r);
  m->tail_size = tn_link_read_u32(&r);
  m->steps_done = tn_link_read_u32(&r);
  m->steps_total = tn_link_read_u32(&r);
  m->update_size = tn_link_read_u32(&r);
  tn_link_read_copy(&r, m->update_sha256, TN_LINK_SHA256_SIZE);
  m->samples = tn_link_read_u32(&r);
  m->loss_before = bits_f32(tn_link_read_u32(&r));
  m->loss_after = bits_f32(tn_link_read_u32(&r));
  m->accuracy_before = bits_f32(tn_link_read_u32(&r));
  m->accuracy_after = bits_f32(tn_link_read_u32(&r));
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  if (reserved != 0) return TN_ERR_MSG_MALFORMED;
  return train_status_reply_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- UPDATE_READ --------------------------------------------------------- */

/* Largest data_len an UPDATE_CHUNK can carry. */
#define UPDATE_READ_MAX (TN_LINK_MAX_PAYLOAD - 14u)

tn_status tn_link_update_read_encode(const tn_link_update_read* m, uint8_t* out,
                                     size_t cap, size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (m->max_len < 1 || m->max_len > UPDATE_READ_MAX) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u32(&w, m->job_id);
  tn_link_write_u32(&w, m->offset);
  tn_link_write_u16(&w, m->max_len);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_update_read_decode(const uint8_t* payload, size_t size,
                                     tn_link_update_read* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->job_id = tn_link_read_u32(&r);
  m->offset = tn_link_read_u32(&r);
  m->max_len = tn_link_read_u16(&r);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return m->max_len >= 1 && m->max_len <= UPDATE_READ_MAX
             ? TN_OK
             : TN_ERR_MSG_MALFORMED;
}
