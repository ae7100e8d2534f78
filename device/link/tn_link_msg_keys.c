/*
 * Payload codecs of the telemetry key agreement messages: KEY_INFO (empty),
 * KEY_INFO_REPLY (the node's public key and which gateway key it holds) and
 * SET_GATEWAY_KEY (the gateway's telemetry public key and the device id).
 * As for every message, one rule function per payload serves encoder and
 * decoder, so encoding is canonical and never produces rejected bytes. The
 * link checks only the shape of a public key (its 0x04 prefix); whether it is
 * a point on the curve is decided by the node's crypto.
 */
#include <string.h>

#include "link/tn_link.h"
#include "link/tn_link_codec.h"

/* Length of a valid device id (1..32 characters 0x21..0x7E, NUL-terminated
 * within the array), or 0 when invalid. */
static size_t device_id_len(const char* s) {
  size_t n = 0;
  while (n <= TN_LINK_DEVICE_ID_MAX && s[n] != '\0') {
    unsigned char c = (unsigned char)s[n];
    if (c < 0x21 || c > 0x7E) return 0;
    ++n;
  }
  if (n > TN_LINK_DEVICE_ID_MAX) return 0;
  return n;
}

/* Reads a length-prefixed device id into `dst` (NUL-terminated). Returns
 * the length, or -1 when the bytes break the rules (or run short). */
static int read_device_id(tn_link_reader* r, char* dst) {
  uint8_t len = tn_link_read_u8(r);
  if (len > TN_LINK_DEVICE_ID_MAX) return -1;
  const uint8_t* at = tn_link_read_bytes(r, len);
  if (at == NULL && len > 0) return -1;
  for (size_t i = 0; i < len; ++i) {
    if (at[i] < 0x21 || at[i] > 0x7E) return -1;
    dst[i] = (char)at[i];
  }
  dst[len] = '\0';
  return len;
}

static int all_zero(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

/* ---- KEY_INFO ------------------------------------------------------------ */

tn_status tn_link_key_info_encode(uint8_t* out, size_t cap, size_t* out_len) {
  if (out == NULL || out_len == NULL) return TN_ERR_NULL;
  (void)cap;
  *out_len = 0;
  return TN_OK;
}

tn_status tn_link_key_info_decode(const uint8_t* payload, size_t size) {
  (void)payload;
  return size == 0 ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- KEY_INFO_REPLY ------------------------------------------------------ */

static int key_info_reply_ok(const tn_link_key_info_reply* m) {
  if (m->node_public_key[0] != 0x04) return 0;
  if (m->key_state == TN_LINK_KEY_STATE_NONE) {
    return m->device_id[0] == '\0' &&
           all_zero(m->gateway_key_id, TN_LINK_KEY_ID_SIZE);
  }
  if (m->key_state == TN_LINK_KEY_STATE_SEALING) {
    return device_id_len(m->device_id) > 0;
  }
  return 0;
}

tn_status tn_link_key_info_reply_encode(const tn_link_key_info_reply* m,
                                        uint8_t* out, size_t cap,
                                        size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (!key_info_reply_ok(m)) return TN_ERR_ARG;
  size_t id_len =
      m->key_state == TN_LINK_KEY_STATE_NONE ? 0 : device_id_len(m->device_id);
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_bytes(&w, m->node_public_key, TN_LINK_PUBLIC_KEY_SIZE);
  tn_link_write_u8(&w, m->key_state);
  tn_link_write_bytes(&w, m->gateway_key_id, TN_LINK_KEY_ID_SIZE);
  tn_link_write_u8(&w, (uint8_t)id_len);
  tn_link_write_bytes(&w, (const uint8_t*)m->device_id, id_len);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_key_info_reply_decode(const uint8_t* payload, size_t size,
                                        tn_link_key_info_reply* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  memset(m, 0, sizeof(*m));
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  tn_link_read_copy(&r, m->node_public_key, TN_LINK_PUBLIC_KEY_SIZE);
  m->key_state = tn_link_read_u8(&r);
  tn_link_read_copy(&r, m->gateway_key_id, TN_LINK_KEY_ID_SIZE);
  if (read_device_id(&r, m->device_id) < 0) return TN_ERR_MSG_MALFORMED;
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return key_info_reply_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- SET_GATEWAY_KEY ----------------------------------------------------- */

static int set_gateway_key_ok(const tn_link_set_gateway_key* m) {
  return m->gateway_public_key[0] == 0x04 && device_id_len(m->device_id) > 0;
}

tn_status tn_link_set_gateway_key_encode(const tn_link_set_gateway_key* m,
                                         uint8_t* out, size_t cap,
                                         size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (!set_gateway_key_ok(m)) return TN_ERR_ARG;
  size_t id_len = device_id_len(m->device_id);
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_bytes(&w, m->gateway_public_key, TN_LINK_PUBLIC_KEY_SIZE);
  tn_link_write_u8(&w, (uint8_t)id_len);
  tn_link_write_bytes(&w, (const uint8_t*)m->device_id, id_len);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_set_gateway_key_decode(const uint8_t* payload, size_t size,
                                         tn_link_set_gateway_key* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  memset(m, 0, sizeof(*m));
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  tn_link_read_copy(&r, m->gateway_public_key, TN_LINK_PUBLIC_KEY_SIZE);
  if (read_device_id(&r, m->device_id) < 0) return TN_ERR_MSG_MALFORMED;
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return set_gateway_key_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}
