/*
 * Payload codecs of the model update status and trust messages:
 * MODEL_STATUS (empty), MODEL_STATUS_REPLY (transfer progress, running and
 * previous slot, anti-rollback floor, model-signing key id and per-slot
 * state, failure reason and counter) and SET_MODEL_KEY (the gateway's
 * model-signing public key). One validation function per message serves
 * encoder and decoder, so an encoder never writes bytes its decoder
 * refuses.
 */
#include "link/tn_link.h"
#include "link/tn_link_codec.h"

#define STATUS_REPLY_FIXED 42u
#define SLOT_STATUS_SIZE 7u

static int all_zero(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

/* A slot reference: NO_SLOT or an index below `count`. */
static int slot_ref_ok(uint8_t slot, uint8_t count) {
  return slot == TN_LINK_NO_SLOT || slot < count;
}

/* ---- MODEL_STATUS -------------------------------------------------------- */

tn_status tn_link_model_status_encode(uint8_t* out, size_t cap,
                                      size_t* out_len) {
  if (out == NULL || out_len == NULL) return TN_ERR_NULL;
  (void)cap;
  *out_len = 0;
  return TN_OK;
}

tn_status tn_link_model_status_decode(const uint8_t* payload, size_t size) {
  (void)payload;
  return size == 0 ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- MODEL_STATUS_REPLY -------------------------------------------------- */

static int status_reply_ok(const tn_link_model_status_reply* m) {
  if (m->slot_count > TN_LINK_MAX_SLOTS) return 0;
  if (m->transfer == TN_LINK_TRANSFER_NONE) {
    if (!all_zero(m->artifact_id, TN_LINK_ARTIFACT_ID_SIZE) ||
        m->target_slot != TN_LINK_NO_SLOT || m->total_size != 0 ||
        m->committed_offset != 0) {
      return 0;
    }
  } else if (m->transfer == TN_LINK_TRANSFER_RECEIVING ||
             m->transfer == TN_LINK_TRANSFER_COMMITTED) {
    if (m->target_slot >= m->slot_count || m->total_size == 0 ||
        m->committed_offset > m->total_size) {
      return 0;
    }
    if (m->transfer == TN_LINK_TRANSFER_COMMITTED &&
        m->committed_offset != m->total_size) {
      return 0;
    }
  } else {
    return 0;
  }
  if (!slot_ref_ok(m->running_slot, m->slot_count) ||
      !slot_ref_ok(m->previous_slot, m->slot_count)) {
    return 0;
  }
  if (m->running_slot == m->previous_slot &&
      m->running_slot != TN_LINK_NO_SLOT) {
    return 0;
  }
  if (m->key_state == TN_LINK_MODEL_KEY_NONE) {
    if (!all_zero(m->model_key_id, TN_LINK_KEY_ID_SIZE)) return 0;
  } else if (m->key_state != TN_LINK_MODEL_KEY_SET) {
    return 0;
  }
  for (uint8_t i = 0; i < m->slot_count; ++i) {
    const tn_link_slot_status* s = &m->slots[i];
    if (s->state > TN_LINK_SLOT_FAILED) return 0;
    if (s->state != TN_LINK_SLOT_FAILED && s->reason != 0) return 0;
  }
  return 1;
}

tn_status tn_link_model_status_reply_encode(const tn_link_model_status_reply* m,
                                            uint8_t* out, size_t cap,
                                            size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (!status_reply_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u8(&w, m->transfer);
  tn_link_write_bytes(&w, m->artifact_id, TN_LINK_ARTIFACT_ID_SIZE);
  tn_link_write_u8(&w, m->target_slot);
  tn_link_write_u32(&w, m->total_size);
  tn_link_write_u32(&w, m->committed_offset);
  tn_link_write_u8(&w, m->running_slot);
  tn_link_write_u8(&w, m->previous_slot);
  tn_link_write_u32(&w, m->rollback_floor);
  tn_link_write_u8(&w, m->key_state);
  tn_link_write_bytes(&w, m->model_key_id, TN_LINK_KEY_ID_SIZE);
  tn_link_write_u8(&w, m->slot_count);
  for (uint8_t i = 0; i < m->slot_count; ++i) {
    tn_link_write_u8(&w, m->slots[i].state);
    tn_link_write_u16(&w, m->slots[i].reason);
    tn_link_write_u32(&w, m->slots[i].rollback_counter);
  }
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_model_status_reply_decode(const uint8_t* payload, size_t size,
                                            tn_link_model_status_reply* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->transfer = tn_link_read_u8(&r);
  tn_link_read_copy(&r, m->artifact_id, TN_LINK_ARTIFACT_ID_SIZE);
  m->target_slot = tn_link_read_u8(&r);
  m->total_size = tn_link_read_u32(&r);
  m->committed_offset = tn_link_read_u32(&r);
  m->running_slot = tn_link_read_u8(&r);
  m->previous_slot = tn_link_read_u8(&r);
  m->rollback_floor = tn_link_read_u32(&r);
  m->key_state = tn_link_read_u8(&r);
  tn_link_read_copy(&r, m->model_key_id, TN_LINK_KEY_ID_SIZE);
  m->slot_count = tn_link_read_u8(&r);
  /* Bounded by the declared count, which must also match the length. */
  if (m->slot_count > TN_LINK_MAX_SLOTS ||
      size != STATUS_REPLY_FIXED + SLOT_STATUS_SIZE * (size_t)m->slot_count) {
    return TN_ERR_MSG_MALFORMED;
  }
  for (uint8_t i = 0; i < TN_LINK_MAX_SLOTS; ++i) {
    tn_link_slot_status* s = &m->slots[i];
    if (i < m->slot_count) {
      s->state = tn_link_read_u8(&r);
      s->reason = tn_link_read_u16(&r);
      s->rollback_counter = tn_link_read_u32(&r);
    } else {
      s->state = 0;
      s->reason = 0;
      s->rollback_counter = 0;
    }
  }
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return status_reply_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- SET_MODEL_KEY ------------------------------------------------------- */

tn_status tn_link_set_model_key_encode(const tn_link_set_model_key* m,
                                       uint8_t* out, size_t cap,
                                       size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (m->public_key[0] != 0x04) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_bytes(&w, m->public_key, TN_LINK_PUBLIC_KEY_SIZE);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_set_model_key_decode(const uint8_t* payload, size_t size,
                                       tn_link_set_model_key* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  tn_link_read_copy(&r, m->public_key, TN_LINK_PUBLIC_KEY_SIZE);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return m->public_key[0] == 0x04 ? TN_OK : TN_ERR_MSG_MALFORMED;
}
