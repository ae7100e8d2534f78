/*
 * Payload codecs of the session messages -- HELLO and its reply, PING/PONG,
 * HEARTBEAT, ACK/NACK and TELEMETRY -- and the tables that relate message
 * types (names, typed replies, which requests get a response). Each codec
 * applies one validation function on both sides, so an encoder never
 * produces bytes its decoder rejects.
 */
#include <string.h>

#include "link/tn_link.h"
#include "link/tn_link_codec.h"

const char* tn_link_msg_type_str(uint8_t type) {
  switch (type) {
    case TN_LINK_MSG_HELLO:
      return "HELLO";
    case TN_LINK_MSG_HELLO_REPLY:
      return "HELLO_REPLY";
    case TN_LINK_MSG_PING:
      return "PING";
    case TN_LINK_MSG_PONG:
      return "PONG";
    case TN_LINK_MSG_HEARTBEAT:
      return "HEARTBEAT";
    case TN_LINK_MSG_ACK:
      return "ACK";
    case TN_LINK_MSG_NACK:
      return "NACK";
    case TN_LINK_MSG_TELEMETRY:
      return "TELEMETRY";
    case TN_LINK_MSG_MODEL_BEGIN:
      return "MODEL_BEGIN";
    case TN_LINK_MSG_MODEL_CHUNK:
      return "MODEL_CHUNK";
    case TN_LINK_MSG_MODEL_COMMIT:
      return "MODEL_COMMIT";
    case TN_LINK_MSG_MODEL_STATUS:
      return "MODEL_STATUS";
    case TN_LINK_MSG_MODEL_STATUS_REPLY:
      return "MODEL_STATUS_REPLY";
    case TN_LINK_MSG_MODEL_BEGIN_DELTA:
      return "MODEL_BEGIN_DELTA";
    case TN_LINK_MSG_ACTIVATE:
      return "ACTIVATE";
    case TN_LINK_MSG_CONFIRM:
      return "CONFIRM";
    case TN_LINK_MSG_ROLLBACK:
      return "ROLLBACK";
    case TN_LINK_MSG_SET_MODEL_KEY:
      return "SET_MODEL_KEY";
    case TN_LINK_MSG_TRAIN:
      return "TRAIN";
    case TN_LINK_MSG_UPDATE_CHUNK:
      return "UPDATE_CHUNK";
    case TN_LINK_MSG_TRAIN_TAIL:
      return "TRAIN_TAIL";
    case TN_LINK_MSG_TRAIN_STATUS:
      return "TRAIN_STATUS";
    case TN_LINK_MSG_TRAIN_STATUS_REPLY:
      return "TRAIN_STATUS_REPLY";
    case TN_LINK_MSG_UPDATE_READ:
      return "UPDATE_READ";
    case TN_LINK_MSG_TRAIN_CANCEL:
      return "TRAIN_CANCEL";
    case TN_LINK_MSG_INFER_REQUEST:
      return "INFER_REQUEST";
    case TN_LINK_MSG_INFER_RESULT:
      return "INFER_RESULT";
    case TN_LINK_MSG_KEY_INFO:
      return "KEY_INFO";
    case TN_LINK_MSG_KEY_INFO_REPLY:
      return "KEY_INFO_REPLY";
    case TN_LINK_MSG_SET_GATEWAY_KEY:
      return "SET_GATEWAY_KEY";
    default:
      break;
  }
  return "UNKNOWN";
}

int tn_link_msg_type_known(uint8_t type) {
  return strcmp(tn_link_msg_type_str(type), "UNKNOWN") != 0;
}

uint8_t tn_link_reply_type(uint8_t request_type) {
  switch (request_type) {
    case TN_LINK_MSG_HELLO:
      return TN_LINK_MSG_HELLO_REPLY;
    case TN_LINK_MSG_PING:
      return TN_LINK_MSG_PONG;
    case TN_LINK_MSG_INFER_REQUEST:
      return TN_LINK_MSG_INFER_RESULT;
    case TN_LINK_MSG_KEY_INFO:
      return TN_LINK_MSG_KEY_INFO_REPLY;
    case TN_LINK_MSG_MODEL_STATUS:
      return TN_LINK_MSG_MODEL_STATUS_REPLY;
    case TN_LINK_MSG_TRAIN_STATUS:
      return TN_LINK_MSG_TRAIN_STATUS_REPLY;
    case TN_LINK_MSG_UPDATE_READ:
      return TN_LINK_MSG_UPDATE_CHUNK;
    default:
      break;
  }
  return 0;
}

int tn_link_expects_response(uint8_t type, uint8_t flags) {
  if (flags & TN_LINK_FLAG_RESPONSE) return 0;
  if (flags & TN_LINK_FLAG_ACK_REQUESTED) return 1;
  return tn_link_reply_type(type) != 0;
}

const char* tn_link_slot_state_str(uint8_t state) {
  switch (state) {
    case TN_LINK_SLOT_EMPTY:
      return "empty";
    case TN_LINK_SLOT_VALID:
      return "valid";
    case TN_LINK_SLOT_ACTIVE:
      return "active";
    case TN_LINK_SLOT_PENDING_CONFIRM:
      return "pending-confirm";
    case TN_LINK_SLOT_FAILED:
      return "failed";
    default:
      break;
  }
  return "unknown";
}

static int max_payload_ok(uint16_t v) {
  return v >= TN_LINK_MIN_PAYLOAD && v <= TN_LINK_MAX_PAYLOAD;
}

/* ---- HELLO --------------------------------------------------------------- */

static int hello_ok(const tn_link_hello* m) {
  return m->link_version != 0 && max_payload_ok(m->max_payload);
}

tn_status tn_link_hello_encode(const tn_link_hello* m, uint8_t* out, size_t cap,
                               size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (!hello_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u8(&w, m->link_version);
  tn_link_write_u16(&w, m->max_payload);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_hello_decode(const uint8_t* payload, size_t size,
                               tn_link_hello* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->link_version = tn_link_read_u8(&r);
  m->max_payload = tn_link_read_u16(&r);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return hello_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- HELLO_REPLY --------------------------------------------------------- */

static int target_ok(uint8_t t) {
  return t == TN_TARGET_HOST || t == TN_TARGET_GAP8 || t == TN_TARGET_GAP9;
}

/* Length of a valid firmware version string (1..32 printable ASCII
 * characters, NUL-terminated within the array), or 0 when invalid. */
static size_t firmware_version_len(const char* s) {
  size_t n = 0;
  while (n <= TN_LINK_FIRMWARE_VERSION_MAX && s[n] != '\0') {
    unsigned char c = (unsigned char)s[n];
    if (c < 0x20 || c > 0x7E) return 0;
    ++n;
  }
  if (n > TN_LINK_FIRMWARE_VERSION_MAX) return 0;
  return n;
}

static int slot_ok(const tn_link_slot* s) {
  if (s->state > TN_LINK_SLOT_FAILED) return 0;
  if (s->state == TN_LINK_SLOT_EMPTY) {
    if (s->model_version != 0) return 0;
    for (size_t i = 0; i < TN_LINK_MODEL_ID_SIZE; ++i) {
      if (s->model_id[i] != 0) return 0;
    }
  }
  return 1;
}

static int hello_reply_ok(const tn_link_hello_reply* m) {
  if (m->link_version == 0 || !target_ok(m->target)) return 0;
  if (!max_payload_ok(m->max_payload)) return 0;
  if (firmware_version_len(m->firmware_version) == 0) return 0;
  if (m->slot_count > TN_LINK_MAX_SLOTS) return 0;
  unsigned running = 0;
  for (size_t i = 0; i < m->slot_count; ++i) {
    if (!slot_ok(&m->slots[i])) return 0;
    if (m->slots[i].state == TN_LINK_SLOT_ACTIVE ||
        m->slots[i].state == TN_LINK_SLOT_PENDING_CONFIRM) {
      ++running;
    }
  }
  return running <= 1;
}

tn_status tn_link_hello_reply_encode(const tn_link_hello_reply* m, uint8_t* out,
                                     size_t cap, size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (!hello_reply_ok(m)) return TN_ERR_ARG;
  size_t fw_len = firmware_version_len(m->firmware_version);
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u8(&w, m->link_version);
  tn_link_write_bytes(&w, m->hardware_id, TN_LINK_HARDWARE_ID_SIZE);
  tn_link_write_u8(&w, m->target);
  tn_link_write_u32(&w, m->capabilities);
  tn_link_write_u16(&w, m->max_payload);
  tn_link_write_u8(&w, (uint8_t)fw_len);
  tn_link_write_bytes(&w, (const uint8_t*)m->firmware_version, fw_len);
  tn_link_write_u8(&w, m->slot_count);
  for (size_t i = 0; i < m->slot_count; ++i) {
    tn_link_write_u8(&w, m->slots[i].state);
    tn_link_write_bytes(&w, m->slots[i].model_id, TN_LINK_MODEL_ID_SIZE);
    tn_link_write_u32(&w, m->slots[i].model_version);
  }
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_hello_reply_decode(const uint8_t* payload, size_t size,
                                     tn_link_hello_reply* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  memset(m, 0, sizeof(*m));
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->link_version = tn_link_read_u8(&r);
  tn_link_read_copy(&r, m->hardware_id, TN_LINK_HARDWARE_ID_SIZE);
  m->target = tn_link_read_u8(&r);
  m->capabilities = tn_link_read_u32(&r);
  m->max_payload = tn_link_read_u16(&r);
  uint8_t fw_len = tn_link_read_u8(&r);
  if (fw_len == 0 || fw_len > TN_LINK_FIRMWARE_VERSION_MAX) {
    return TN_ERR_MSG_MALFORMED;
  }
  const uint8_t* fw = tn_link_read_bytes(&r, fw_len);
  if (fw == NULL) return TN_ERR_MSG_MALFORMED;
  for (size_t i = 0; i < fw_len; ++i) {
    /* A NUL would shorten the string and break canonical re-encoding; the
     * range check below rejects it with every other control byte. */
    m->firmware_version[i] = (char)fw[i];
    if (fw[i] < 0x20 || fw[i] > 0x7E) return TN_ERR_MSG_MALFORMED;
  }
  m->firmware_version[fw_len] = '\0';
  m->slot_count = tn_link_read_u8(&r);
  if (m->slot_count > TN_LINK_MAX_SLOTS) return TN_ERR_MSG_MALFORMED;
  for (size_t i = 0; i < m->slot_count; ++i) {
    m->slots[i].state = tn_link_read_u8(&r);
    tn_link_read_copy(&r, m->slots[i].model_id, TN_LINK_MODEL_ID_SIZE);
    m->slots[i].model_version = tn_link_read_u32(&r);
  }
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return hello_reply_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- PING / PONG --------------------------------------------------------- */

tn_status tn_link_ping_encode(const tn_link_ping* m, uint8_t* out, size_t cap,
                              size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u32(&w, m->nonce);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_ping_decode(const uint8_t* payload, size_t size,
                              tn_link_ping* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->nonce = tn_link_read_u32(&r);
  return tn_link_reader_end(&r);
}

/* ---- HEARTBEAT ----------------------------------------------------------- */

static int slot_index_ok(uint8_t slot) { return slot < TN_LINK_MAX_SLOTS; }

static int heartbeat_ok(const tn_link_heartbeat* m) {
  return m->active_slot == TN_LINK_NO_SLOT || slot_index_ok(m->active_slot);
}

tn_status tn_link_heartbeat_encode(const tn_link_heartbeat* m, uint8_t* out,
                                   size_t cap, size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (!heartbeat_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u32(&w, m->uptime_s);
  tn_link_write_u32(&w, m->boot_count);
  tn_link_write_u8(&w, m->active_slot);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_heartbeat_decode(const uint8_t* payload, size_t size,
                                   tn_link_heartbeat* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->uptime_s = tn_link_read_u32(&r);
  m->boot_count = tn_link_read_u32(&r);
  m->active_slot = tn_link_read_u8(&r);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return heartbeat_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- ACK / NACK ---------------------------------------------------------- */

static tn_status ack_encode(const tn_link_ack* m, int negative, uint8_t* out,
                            size_t cap, size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if ((m->status != 0) != negative) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u16(&w, m->acked_seq);
  tn_link_write_u8(&w, m->acked_type);
  tn_link_write_u16(&w, m->status);
  return tn_link_writer_end(&w, out_len);
}

static tn_status ack_decode(const uint8_t* payload, size_t size, int negative,
                            tn_link_ack* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->acked_seq = tn_link_read_u16(&r);
  m->acked_type = tn_link_read_u8(&r);
  m->status = tn_link_read_u16(&r);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return ((m->status != 0) == negative) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

tn_status tn_link_ack_encode(const tn_link_ack* m, uint8_t* out, size_t cap,
                             size_t* out_len) {
  return ack_encode(m, 0, out, cap, out_len);
}

tn_status tn_link_ack_decode(const uint8_t* payload, size_t size,
                             tn_link_ack* m) {
  return ack_decode(payload, size, 0, m);
}

tn_status tn_link_nack_encode(const tn_link_ack* m, uint8_t* out, size_t cap,
                              size_t* out_len) {
  return ack_encode(m, 1, out, cap, out_len);
}

tn_status tn_link_nack_decode(const uint8_t* payload, size_t size,
                              tn_link_ack* m) {
  return ack_decode(payload, size, 1, m);
}

/* ---- TELEMETRY ----------------------------------------------------------- */

#define TELEMETRY_FIXED 6u

static int telemetry_ok(const tn_link_telemetry* m) {
  return m->record_len >= 1 &&
         m->record_len <= TN_LINK_MAX_PAYLOAD - TELEMETRY_FIXED;
}

tn_status tn_link_telemetry_encode(const tn_link_telemetry* m, uint8_t* out,
                                   size_t cap, size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (m->record == NULL && m->record_len > 0) return TN_ERR_NULL;
  if (!telemetry_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u32(&w, m->record_counter);
  tn_link_write_u16(&w, m->record_len);
  tn_link_write_bytes(&w, m->record, m->record_len);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_telemetry_decode(const uint8_t* payload, size_t size,
                                   tn_link_telemetry* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->record_counter = tn_link_read_u32(&r);
  m->record_len = tn_link_read_u16(&r);
  m->record = tn_link_read_bytes(&r, m->record_len);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return telemetry_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}
