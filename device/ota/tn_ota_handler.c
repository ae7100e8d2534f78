/*
 * The OTA room on the node link: decodes the payload of each model update
 * request (MODEL_BEGIN, MODEL_BEGIN_DELTA, MODEL_CHUNK, MODEL_COMMIT,
 * MODEL_STATUS, ACTIVATE, CONFIRM, ROLLBACK, SET_MODEL_KEY), runs the operation
 * and says how to answer: ACK, the MODEL_STATUS_REPLY payload, or the NACK
 * status. Framing, sequence numbers and the duplicate-request cache stay with
 * the caller.
 */
#include <string.h>

#include "ota/tn_ota.h"

int tn_ota_handles(uint8_t type) {
  switch (type) {
    case TN_LINK_MSG_MODEL_BEGIN:
    case TN_LINK_MSG_MODEL_BEGIN_DELTA:
    case TN_LINK_MSG_MODEL_CHUNK:
    case TN_LINK_MSG_MODEL_COMMIT:
    case TN_LINK_MSG_MODEL_STATUS:
    case TN_LINK_MSG_ACTIVATE:
    case TN_LINK_MSG_CONFIRM:
    case TN_LINK_MSG_ROLLBACK:
    case TN_LINK_MSG_SET_MODEL_KEY:
      return 1;
    default:
      return 0;
  }
}

tn_status tn_ota_handle(tn_ota* ota, uint8_t type, const uint8_t* payload,
                        size_t size, uint8_t* reply_type, uint8_t* reply,
                        size_t cap, size_t* reply_len) {
  if (ota == NULL || reply_type == NULL || reply == NULL || reply_len == NULL ||
      (payload == NULL && size > 0)) {
    return TN_ERR_NULL;
  }
  *reply_type = 0;
  *reply_len = 0;
  switch (type) {
    case TN_LINK_MSG_MODEL_BEGIN: {
      tn_link_model_begin m;
      if (tn_link_model_begin_decode(payload, size, &m) != TN_OK) {
        return TN_ERR_MSG_MALFORMED;
      }
      return tn_ota_begin(ota, &m);
    }
    case TN_LINK_MSG_MODEL_BEGIN_DELTA: {
      tn_link_model_begin m;
      if (tn_link_model_begin_decode(payload, size, &m) != TN_OK) {
        return TN_ERR_MSG_MALFORMED;
      }
      return tn_ota_begin_delta(ota, &m);
    }
    case TN_LINK_MSG_MODEL_CHUNK: {
      tn_link_model_chunk m;
      if (tn_link_model_chunk_decode(payload, size, &m) != TN_OK) {
        return TN_ERR_MSG_MALFORMED;
      }
      return tn_ota_chunk(ota, m.offset, m.data, m.data_len);
    }
    case TN_LINK_MSG_MODEL_COMMIT: {
      tn_link_model_commit m;
      if (tn_link_model_commit_decode(payload, size, &m) != TN_OK) {
        return TN_ERR_MSG_MALFORMED;
      }
      return tn_ota_commit(ota, m.artifact_id);
    }
    case TN_LINK_MSG_MODEL_STATUS: {
      if (tn_link_model_status_decode(payload, size) != TN_OK) {
        return TN_ERR_MSG_MALFORMED;
      }
      tn_link_model_status_reply m;
      tn_ota_status(ota, &m);
      *reply_type = TN_LINK_MSG_MODEL_STATUS_REPLY;
      return tn_link_model_status_reply_encode(&m, reply, cap, reply_len);
    }
    case TN_LINK_MSG_ACTIVATE:
    case TN_LINK_MSG_CONFIRM:
    case TN_LINK_MSG_ROLLBACK: {
      tn_link_slot_command m;
      if (tn_link_slot_command_decode(payload, size, &m) != TN_OK) {
        return TN_ERR_MSG_MALFORMED;
      }
      if (type == TN_LINK_MSG_ACTIVATE) return tn_ota_activate(ota, m.slot);
      if (type == TN_LINK_MSG_CONFIRM) return tn_ota_confirm(ota, m.slot);
      return tn_ota_rollback(ota, m.slot);
    }
    case TN_LINK_MSG_SET_MODEL_KEY: {
      tn_link_set_model_key m;
      if (tn_link_set_model_key_decode(payload, size, &m) != TN_OK) {
        return TN_ERR_MSG_MALFORMED;
      }
      return tn_ota_set_model_key(ota, m.public_key);
    }
    default:
      return TN_ERR_MSG_TYPE;
  }
}
