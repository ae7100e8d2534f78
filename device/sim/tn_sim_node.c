/*
 * The virtual node: boot (identity, slot table and boot counter loaded from
 * storage or created on the first start) and the link request handler,
 * including the telemetry key agreement requests. Stored regions are small
 * records -- a 4-byte magic, a format byte, the fields little-endian, and a
 * CRC-32 over everything before it -- so a torn or foreign region is
 * detected rather than trusted. (The sealing state keeps its own regions,
 * see device/secure; the telemetry sender is tn_sim_telemetry.c. With model
 * updates the slot table is device/ota's, kept in its own regions, and
 * copied into the HELLO reply after every request that may change it.)
 */
#include <string.h>

#include "sim/tn_sim.h"
#include "sim/tn_sim_internal.h"

#define REGION_FORMAT 1u

#define IDENTITY_REGION "identity"
#define IDENTITY_SIZE (4u + 1u + TN_LINK_HARDWARE_ID_SIZE + 4u)
#define SLOTS_REGION "slots"
#define SLOT_RECORD_SIZE (1u + TN_LINK_MODEL_ID_SIZE + 4u)
#define BOOT_REGION "boot"
#define BOOT_SIZE (4u + 1u + 4u + 4u)

static const uint8_t kIdentityMagic[4] = {'T', 'N', 'I', 'D'};
static const uint8_t kSlotsMagic[4] = {'T', 'N', 'S', 'L'};
static const uint8_t kBootMagic[4] = {'T', 'N', 'B', 'C'};

void tn_sim_config_init(tn_sim_config* cfg) {
  if (cfg == NULL) return;
  memset(cfg, 0, sizeof(*cfg));
  cfg->target = TN_TARGET_HOST;
}

/* Writes magic and format at the start of a region record. */
static void record_open(uint8_t* rec, const uint8_t magic[4]) {
  memcpy(rec, magic, 4);
  rec[4] = REGION_FORMAT;
}

/* Appends the CRC over rec[0..body) at rec + body. */
static void record_seal(uint8_t* rec, size_t body) {
  tn_store_u32le(rec + body, tn_link_crc32(0, rec, body));
}

/* Checks magic, format and CRC of a record of `size` bytes. */
static int record_ok(const uint8_t* rec, size_t size, const uint8_t magic[4]) {
  if (size < 9 || memcmp(rec, magic, 4) != 0 || rec[4] != REGION_FORMAT) {
    return 0;
  }
  return tn_link_crc32(0, rec, size - 4) == tn_load_u32le(rec + size - 4);
}

static tn_status load_identity(tn_sim_node* node, const tn_sim_config* cfg) {
  uint8_t rec[TN_SIM_REGION_MAX];
  size_t len = 0;
  tn_status st = node->storage.read(node->storage.ctx, IDENTITY_REGION, rec,
                                    sizeof(rec), &len);
  if (st == TN_OK) {
    if (len != IDENTITY_SIZE || !record_ok(rec, len, kIdentityMagic)) {
      return TN_ERR_STORAGE;
    }
    memcpy(node->info.hardware_id, rec + 5, TN_LINK_HARDWARE_ID_SIZE);
    return TN_OK;
  }
  if (st == TN_ERR_BUFFER_TOO_SMALL) return TN_ERR_STORAGE;
  if (st != TN_ERR_NOT_FOUND) return st;
  st = cfg->entropy(cfg->entropy_ctx, node->info.hardware_id,
                    TN_LINK_HARDWARE_ID_SIZE);
  if (st != TN_OK) return st;
  record_open(rec, kIdentityMagic);
  memcpy(rec + 5, node->info.hardware_id, TN_LINK_HARDWARE_ID_SIZE);
  record_seal(rec, IDENTITY_SIZE - 4);
  return node->storage.write(node->storage.ctx, IDENTITY_REGION, rec,
                             IDENTITY_SIZE);
}

static tn_status store_slots(tn_sim_node* node) {
  uint8_t rec[TN_SIM_REGION_MAX];
  record_open(rec, kSlotsMagic);
  rec[5] = node->info.slot_count;
  size_t pos = 6;
  for (size_t i = 0; i < node->info.slot_count; ++i) {
    const tn_link_slot* s = &node->info.slots[i];
    rec[pos] = s->state;
    memcpy(rec + pos + 1, s->model_id, TN_LINK_MODEL_ID_SIZE);
    tn_store_u32le(rec + pos + 1 + TN_LINK_MODEL_ID_SIZE, s->model_version);
    pos += SLOT_RECORD_SIZE;
  }
  record_seal(rec, pos);
  return node->storage.write(node->storage.ctx, SLOTS_REGION, rec, pos + 4);
}

static tn_status load_slots(tn_sim_node* node) {
  uint8_t rec[TN_SIM_REGION_MAX];
  size_t len = 0;
  tn_status st = node->storage.read(node->storage.ctx, SLOTS_REGION, rec,
                                    sizeof(rec), &len);
  if (st == TN_ERR_NOT_FOUND) {
    node->info.slot_count = TN_SIM_DEFAULT_SLOTS; /* all EMPTY (zeroed) */
    return store_slots(node);
  }
  if (st == TN_ERR_BUFFER_TOO_SMALL) return TN_ERR_STORAGE;
  if (st != TN_OK) return st;
  if (len < 10 || !record_ok(rec, len, kSlotsMagic)) return TN_ERR_STORAGE;
  uint8_t count = rec[5];
  if (count > TN_LINK_MAX_SLOTS || len != 6u + count * SLOT_RECORD_SIZE + 4u) {
    return TN_ERR_STORAGE;
  }
  node->info.slot_count = count;
  size_t pos = 6;
  for (size_t i = 0; i < count; ++i) {
    tn_link_slot* s = &node->info.slots[i];
    s->state = rec[pos];
    memcpy(s->model_id, rec + pos + 1, TN_LINK_MODEL_ID_SIZE);
    s->model_version = tn_load_u32le(rec + pos + 1 + TN_LINK_MODEL_ID_SIZE);
    pos += SLOT_RECORD_SIZE;
  }
  return TN_OK;
}

static tn_status count_boot(tn_sim_node* node) {
  uint8_t rec[TN_SIM_REGION_MAX];
  size_t len = 0;
  uint32_t previous = 0;
  tn_status st = node->storage.read(node->storage.ctx, BOOT_REGION, rec,
                                    sizeof(rec), &len);
  if (st == TN_OK) {
    if (len != BOOT_SIZE || !record_ok(rec, len, kBootMagic)) {
      return TN_ERR_STORAGE;
    }
    previous = tn_load_u32le(rec + 5);
  } else if (st == TN_ERR_BUFFER_TOO_SMALL) {
    return TN_ERR_STORAGE;
  } else if (st != TN_ERR_NOT_FOUND) {
    return st;
  }
  node->boot_count = previous + 1u;
  record_open(rec, kBootMagic);
  tn_store_u32le(rec + 5, node->boot_count);
  record_seal(rec, BOOT_SIZE - 4);
  return node->storage.write(node->storage.ctx, BOOT_REGION, rec, BOOT_SIZE);
}

/* Copies the OTA room's slot table into what HELLO and telemetry report. */
static void sync_ota_slots(tn_sim_node* node) {
  if (!node->ota_enabled) return;
  tn_ota_link_slots(&node->ota, node->info.slots, &node->info.slot_count);
}

/* Opens device/ota over the node's storage with the node's target. */
static tn_status open_ota(tn_sim_node* node, const tn_sim_config* cfg) {
  tn_ota_config oc = cfg->ota;
  oc.target = cfg->target;
  oc.storage.ctx = node->storage.ctx;
  oc.storage.read = node->storage.read;
  oc.storage.write = node->storage.write;
  tn_status st = tn_ota_open(&node->ota, &oc);
  if (st != TN_OK) return st;
  node->ota_enabled = 1;
  node->info.capabilities |= TN_LINK_CAP_MODEL_UPDATE;
  sync_ota_slots(node);
  return TN_OK;
}

tn_status tn_sim_node_open(tn_sim_node* node, const tn_sim_config* cfg) {
  if (node == NULL || cfg == NULL) return TN_ERR_NULL;
  if (cfg->storage.read == NULL || cfg->storage.write == NULL ||
      cfg->entropy == NULL) {
    return TN_ERR_NULL;
  }
  /* Telemetry is sealed or not sent at all: without a crypto port the node
   * refuses to start, before it touches storage. */
  if ((cfg->capabilities & TN_LINK_CAP_TELEMETRY) &&
      !tn_secure_crypto_available()) {
    return TN_ERR_UNSUPPORTED;
  }
  memset(node, 0, sizeof(*node));
  node->storage = cfg->storage;
  tn_link_hello_reply* info = &node->info;
  info->link_version = (uint8_t)TN_LINK_VERSION;
  info->target = (uint8_t)cfg->target;
  info->capabilities = cfg->capabilities;
  info->max_payload =
      cfg->max_payload == 0 ? (uint16_t)TN_LINK_MAX_PAYLOAD : cfg->max_payload;
  const char* fw = cfg->firmware_version != NULL
                       ? cfg->firmware_version
                       : TN_SIM_DEFAULT_FIRMWARE_VERSION;
  size_t fw_len = 0;
  while (fw_len <= TN_LINK_FIRMWARE_VERSION_MAX && fw[fw_len] != '\0') {
    ++fw_len;
  }
  if (fw_len > TN_LINK_FIRMWARE_VERSION_MAX) return TN_ERR_ARG;
  memcpy(info->firmware_version, fw, fw_len);
  info->firmware_version[fw_len] = '\0';

  /* The HELLO reply codec checks target, max_payload and the version string
   * by the protocol's rules; check the configuration the same way first. */
  uint8_t scratch[TN_LINK_MIN_PAYLOAD]; /* a HELLO reply fits */
  size_t n = 0;
  if (tn_link_hello_reply_encode(info, scratch, sizeof(scratch), &n) != TN_OK) {
    return TN_ERR_ARG;
  }

  tn_status st = load_identity(node, cfg);
  if (st != TN_OK) return st;
  st = cfg->ota.flash.read != NULL ? open_ota(node, cfg) : load_slots(node);
  if (st != TN_OK) return st;
  st = tn_sim_train_open(node, cfg);
  if (st != TN_OK) return st;
  /* A slot table that breaks the protocol's rules is corrupt storage. */
  if (tn_link_hello_reply_encode(info, scratch, sizeof(scratch), &n) != TN_OK) {
    return TN_ERR_STORAGE;
  }
  st = count_boot(node);
  if (st != TN_OK) return st;
  tn_link_responder_init(&node->responder);
  if (cfg->capabilities & TN_LINK_CAP_TELEMETRY) {
    st = tn_sim_telemetry_open(node, cfg);
    if (st != TN_OK) return st;
  }
  return TN_OK;
}

void tn_sim_node_link_reset(tn_sim_node* node) {
  if (node == NULL) return;
  tn_link_responder_init(&node->responder);
  node->peer_max_payload = 0;
  if (node->pending) node->resend_now = 1;
}

/* Types a node sends as responses; arriving as requests they are protocol
 * errors. */
static int is_response_type(uint8_t type) {
  return type == TN_LINK_MSG_HELLO_REPLY || type == TN_LINK_MSG_PONG ||
         type == TN_LINK_MSG_ACK || type == TN_LINK_MSG_NACK ||
         type == TN_LINK_MSG_INFER_RESULT ||
         type == TN_LINK_MSG_KEY_INFO_REPLY ||
         type == TN_LINK_MSG_MODEL_STATUS_REPLY ||
         type == TN_LINK_MSG_TRAIN_STATUS_REPLY ||
         type == TN_LINK_MSG_UPDATE_CHUNK;
}

/* KEY_INFO: the node's public key and the gateway key it holds. */
static tn_status execute_key_info(tn_sim_node* node, const tn_link_frame* req,
                                  uint8_t* reply, size_t cap,
                                  size_t* reply_len) {
  if (!node->telemetry) return TN_ERR_UNSUPPORTED;
  if (tn_link_key_info_decode(req->payload, req->payload_len) != TN_OK) {
    return TN_ERR_MSG_MALFORMED;
  }
  tn_link_key_info_reply m;
  memset(&m, 0, sizeof(m));
  memcpy(m.node_public_key, node->sealer.node_key.public_key,
         TN_LINK_PUBLIC_KEY_SIZE);
  if (node->sealer.keyed) {
    const tn_seal_key* k = &node->sealer.key;
    m.key_state = TN_LINK_KEY_STATE_SEALING;
    memcpy(m.gateway_key_id, k->key_id, TN_LINK_KEY_ID_SIZE);
    memcpy(m.device_id, k->device_id, k->device_id_len);
    m.device_id[k->device_id_len] = '\0';
  } else {
    m.key_state = TN_LINK_KEY_STATE_NONE;
  }
  return tn_link_key_info_reply_encode(&m, reply, cap, reply_len);
}

/* SET_GATEWAY_KEY: agree the sealing key; ACK once it is stored. */
static tn_status execute_set_gateway_key(tn_sim_node* node,
                                         const tn_link_frame* req) {
  if (!node->telemetry) return TN_ERR_UNSUPPORTED;
  tn_link_set_gateway_key m;
  if (tn_link_set_gateway_key_decode(req->payload, req->payload_len, &m) !=
      TN_OK) {
    return TN_ERR_MSG_MALFORMED;
  }
  size_t id_len = strlen(m.device_id);
  tn_status st = tn_sealer_set_gateway_key(&node->sealer, m.gateway_public_key,
                                           (const uint8_t*)m.device_id, id_len);
  /* The link decoder already enforced the device id rules; an argument
   * error here would read as a bug in handle(), so name the real cause. */
  return st == TN_ERR_ARG ? TN_ERR_MSG_MALFORMED : st;
}

/* Executes a request. On success fills the typed reply (*reply_type != 0) or
 * leaves *reply_type 0 for an ACK; otherwise returns the NACK status. */
static tn_status execute(tn_sim_node* node, const tn_link_frame* req,
                         uint8_t* reply_type, uint8_t* reply, size_t cap,
                         size_t* reply_len) {
  *reply_type = 0;
  *reply_len = 0;
  switch (req->type) {
    case TN_LINK_MSG_HELLO: {
      tn_link_hello hello;
      if (tn_link_hello_decode(req->payload, req->payload_len, &hello) !=
          TN_OK) {
        return TN_ERR_MSG_MALFORMED;
      }
      if (hello.link_version != TN_LINK_VERSION) {
        return TN_ERR_PROTOCOL_VERSION;
      }
      node->peer_max_payload = hello.max_payload < node->info.max_payload
                                   ? hello.max_payload
                                   : node->info.max_payload;
      *reply_type = TN_LINK_MSG_HELLO_REPLY;
      return tn_link_hello_reply_encode(&node->info, reply, cap, reply_len);
    }
    case TN_LINK_MSG_PING: {
      tn_link_ping ping;
      if (tn_link_ping_decode(req->payload, req->payload_len, &ping) != TN_OK) {
        return TN_ERR_MSG_MALFORMED;
      }
      *reply_type = TN_LINK_MSG_PONG;
      return tn_link_ping_encode(&ping, reply, cap, reply_len);
    }
    case TN_LINK_MSG_KEY_INFO:
      *reply_type = TN_LINK_MSG_KEY_INFO_REPLY;
      return execute_key_info(node, req, reply, cap, reply_len);
    case TN_LINK_MSG_SET_GATEWAY_KEY:
      return execute_set_gateway_key(node, req);
    default:
      break;
  }
  if (node->ota_enabled && tn_ota_handles(req->type)) {
    tn_status st =
        tn_ota_handle(&node->ota, req->type, req->payload, req->payload_len,
                      reply_type, reply, cap, reply_len);
    sync_ota_slots(node);
    /* An argument error cannot come from a payload that decoded; keep the
     * caller's "our reply did not encode" meaning for real encoder bugs. */
    if (st == TN_ERR_ARG && *reply_type == 0) st = TN_ERR_MSG_MALFORMED;
    return st;
  }

  if (node->train_enabled && tn_sim_train_handles(req->type)) {
    return tn_sim_train_handle(node, req, reply_type, reply, cap, reply_len);
  }
  if (!tn_link_msg_type_known(req->type) || is_response_type(req->type)) {
    return TN_ERR_MSG_TYPE;
  }
  return TN_ERR_UNSUPPORTED;
}

tn_status tn_sim_node_handle(tn_sim_node* node, const tn_link_frame* frame,
                             const uint8_t** response, size_t* response_len) {
  if (response != NULL) *response = NULL;
  if (response_len != NULL) *response_len = 0;
  if (node == NULL || frame == NULL || response == NULL ||
      response_len == NULL) {
    return TN_ERR_NULL;
  }
  if (frame->flags & TN_LINK_FLAG_RESPONSE) {
    if (!tn_sim_telemetry_response(node, frame)) {
      ++node->stats.responses_ignored;
    }
    return TN_OK;
  }
  if (frame->type == TN_LINK_MSG_HELLO) {
    tn_link_responder_init(&node->responder); /* a new session */
  } else if (tn_link_responder_repeat(&node->responder, frame, response,
                                      response_len)) {
    ++node->stats.repeats;
    return TN_OK;
  }
  uint8_t* out = tn_link_responder_begin(&node->responder);
  ++node->stats.requests;

  uint8_t reply[TN_LINK_MAX_PAYLOAD]; /* UPDATE_CHUNK may fill a frame */
  size_t reply_len = 0;
  uint8_t reply_type = 0;
  tn_status result =
      execute(node, frame, &reply_type, reply, sizeof(reply), &reply_len);
  if (result == TN_ERR_BUFFER_TOO_SMALL || result == TN_ERR_ARG) {
    return TN_ERR_INTERNAL; /* our own reply did not encode */
  }

  size_t n = 0;
  if (tn_link_expects_response(frame->type, frame->flags)) {
    tn_link_frame rsp;
    rsp.flags = TN_LINK_FLAG_RESPONSE;
    rsp.seq = frame->seq;
    rsp.crc = 0;
    uint8_t ack_payload[8];
    tn_status st;
    if (result == TN_OK && reply_type != 0) {
      rsp.type = reply_type;
      rsp.payload = reply;
      rsp.payload_len = (uint16_t)reply_len;
      st = TN_OK;
    } else {
      tn_link_ack ack;
      ack.acked_seq = frame->seq;
      ack.acked_type = frame->type;
      ack.status = (uint16_t)result;
      size_t ack_len = 0;
      if (result == TN_OK) {
        rsp.type = TN_LINK_MSG_ACK;
        st = tn_link_ack_encode(&ack, ack_payload, sizeof(ack_payload),
                                &ack_len);
      } else {
        rsp.type = TN_LINK_MSG_NACK;
        ++node->stats.nacks;
        st = tn_link_nack_encode(&ack, ack_payload, sizeof(ack_payload),
                                 &ack_len);
      }
      rsp.payload = ack_payload;
      rsp.payload_len = (uint16_t)ack_len;
    }
    if (st == TN_OK) {
      st = tn_link_frame_encode(&rsp, out, TN_LINK_MAX_WIRE_FRAME, &n);
    }
    if (st != TN_OK) return TN_ERR_INTERNAL;
  }
  tn_status st = tn_link_responder_finish(&node->responder, frame, n);
  if (st != TN_OK) return TN_ERR_INTERNAL;
  *response = out;
  *response_len = n;
  return TN_OK;
}

tn_status tn_sim_node_receive(tn_sim_node* node, tn_link_decoder* dec,
                              const uint8_t* data, size_t size,
                              tn_sim_write_fn write, void* write_ctx) {
  if (node == NULL || dec == NULL || write == NULL ||
      (data == NULL && size > 0)) {
    return TN_ERR_NULL;
  }
  /* Every feed consumes at least one byte, so this runs at most `size`
   * times. */
  while (size > 0) {
    size_t used = 0;
    const tn_link_frame* frame = NULL;
    tn_status st = tn_link_decoder_feed(dec, data, size, &used, &frame);
    if (used == 0 || used > size) return TN_ERR_INTERNAL;
    data += used;
    size -= used;
    if (st != TN_OK) {
      ++node->stats.frames_rejected;
      continue;
    }
    if (frame == NULL) continue;
    const uint8_t* response = NULL;
    size_t response_len = 0;
    st = tn_sim_node_handle(node, frame, &response, &response_len);
    if (st != TN_OK) return st;
    if (response_len > 0) {
      st = write(write_ctx, response, response_len);
      if (st != TN_OK) return st;
    }
  }
  return TN_OK;
}
