/*
 * Link frames: the encoder (header, payload and CRC-32 COBS-encoded between
 * two 0x00 delimiters), the validation of a raw frame, and the streaming
 * decoder that turns an arbitrary byte stream into verified frames. The
 * decoder undoes COBS as bytes arrive, so it needs one raw-frame buffer and
 * no copy of the encoded bytes.
 */
#include "link/tn_link.h"
#include "link/tn_link_codec.h"

size_t tn_link_max_encoded_size(size_t payload_len) {
  if (payload_len > TN_LINK_MAX_PAYLOAD) return 0;
  size_t raw = TN_LINK_HEADER_SIZE + payload_len + TN_LINK_CRC_SIZE;
  return TN_LINK_COBS_MAX_ENCODED(raw) + 2u;
}

tn_status tn_link_frame_encode(const tn_link_frame* frame, uint8_t* out,
                               size_t cap, size_t* out_len) {
  if (frame == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (frame->payload_len > TN_LINK_MAX_PAYLOAD) return TN_ERR_FRAME_OVERSIZE;
  if (frame->payload == NULL && frame->payload_len > 0) return TN_ERR_NULL;
  if (frame->flags & (uint8_t)~TN_LINK_FLAGS_KNOWN) return TN_ERR_ARG;
  if (cap < 3) return TN_ERR_BUFFER_TOO_SMALL;

  uint8_t header[TN_LINK_HEADER_SIZE];
  header[0] = (uint8_t)TN_LINK_VERSION;
  header[1] = frame->type;
  header[2] = frame->flags;
  tn_store_u16le(header + 3, frame->seq);
  tn_store_u16le(header + 5, frame->payload_len);
  uint32_t crc = tn_link_crc32(0, header, sizeof(header));
  crc = tn_link_crc32(crc, frame->payload, frame->payload_len);
  uint8_t trailer[TN_LINK_CRC_SIZE];
  tn_store_u32le(trailer, crc);

  out[0] = 0x00;
  tn_link_cobs_writer w;
  tn_link_cobs_writer_init(&w, out + 1, cap - 2);
  tn_link_cobs_put_bytes(&w, header, sizeof(header));
  tn_link_cobs_put_bytes(&w, frame->payload, frame->payload_len);
  tn_link_cobs_put_bytes(&w, trailer, sizeof(trailer));
  size_t n = tn_link_cobs_writer_end(&w);
  if (n == 0) return TN_ERR_BUFFER_TOO_SMALL;
  out[1 + n] = 0x00;
  *out_len = n + 2;
  return TN_OK;
}

tn_status tn_link_frame_parse(const uint8_t* raw, size_t size,
                              tn_link_frame* frame) {
  if (raw == NULL || frame == NULL) return TN_ERR_NULL;
  const size_t overhead = TN_LINK_HEADER_SIZE + TN_LINK_CRC_SIZE;
  if (size < overhead) return TN_ERR_FRAME_TRUNCATED;
  uint16_t payload_len = tn_load_u16le(raw + 5);
  if (payload_len > TN_LINK_MAX_PAYLOAD) return TN_ERR_FRAME_OVERSIZE;
  if (size < overhead + payload_len) return TN_ERR_FRAME_TRUNCATED;
  if (size > overhead + payload_len) return TN_ERR_FRAME_LENGTH;
  size_t body = TN_LINK_HEADER_SIZE + payload_len;
  uint32_t crc = tn_link_crc32(0, raw, body);
  if (crc != tn_load_u32le(raw + body)) return TN_ERR_FRAME_CRC;
  if (raw[0] != TN_LINK_VERSION) return TN_ERR_PROTOCOL_VERSION;
  if (raw[2] & (uint8_t)~TN_LINK_FLAGS_KNOWN) return TN_ERR_MSG_MALFORMED;
  frame->type = raw[1];
  frame->flags = raw[2];
  frame->seq = tn_load_u16le(raw + 3);
  frame->payload_len = payload_len;
  frame->payload = raw + TN_LINK_HEADER_SIZE;
  frame->crc = crc;
  return TN_OK;
}

/* Back to "between frames"; the buffer contents stay (a frame just returned
 * still points into it). */
static void decoder_restart(tn_link_decoder* dec) {
  dec->len = 0;
  dec->block_code = 0;
  dec->block_left = 0;
}

void tn_link_decoder_init(tn_link_decoder* dec) {
  if (dec == NULL) return;
  decoder_restart(dec);
  dec->discarding = 0;
  dec->frames_ok = 0;
  dec->frames_dropped = 0;
}

/* Appends one decoded byte; returns 0 when the frame would exceed the
 * buffer. */
static int decoder_append(tn_link_decoder* dec, uint8_t b) {
  if (dec->len >= TN_LINK_MAX_RAW_FRAME) return 0;
  dec->buf[dec->len++] = b;
  return 1;
}

tn_status tn_link_decoder_feed(tn_link_decoder* dec, const uint8_t* data,
                               size_t size, size_t* consumed,
                               const tn_link_frame** frame) {
  if (frame != NULL) *frame = NULL;
  if (consumed != NULL) *consumed = 0;
  if (dec == NULL || consumed == NULL || frame == NULL ||
      (data == NULL && size > 0)) {
    return TN_ERR_NULL;
  }
  for (size_t i = 0; i < size; ++i) {
    uint8_t b = data[i];
    if (b == 0x00) {
      if (dec->discarding) {
        dec->discarding = 0;
        decoder_restart(dec);
        continue;
      }
      if (dec->block_code == 0) continue; /* empty frame */
      *consumed = i + 1;
      int truncated_block = dec->block_left != 0;
      uint16_t len = dec->len;
      decoder_restart(dec);
      tn_status st = truncated_block
                         ? TN_ERR_FRAME_ENCODING
                         : tn_link_frame_parse(dec->buf, len, &dec->frame);
      if (st != TN_OK) {
        ++dec->frames_dropped;
        return st;
      }
      ++dec->frames_ok;
      *frame = &dec->frame;
      return TN_OK;
    }
    if (dec->discarding) continue;
    int fits;
    if (dec->block_left == 0) {
      /* A code byte: the previous block, unless it was a full 254-byte
       * block, stood for its bytes plus one 0x00. */
      fits = 1;
      if (dec->block_code != 0 && dec->block_code != 0xFF) {
        fits = decoder_append(dec, 0x00);
      }
      dec->block_code = b;
      dec->block_left = (uint8_t)(b - 1u);
    } else {
      fits = decoder_append(dec, b);
      --dec->block_left;
    }
    if (!fits) {
      decoder_restart(dec);
      dec->discarding = 1;
      ++dec->frames_dropped;
      *consumed = i + 1;
      return TN_ERR_FRAME_OVERSIZE;
    }
  }
  *consumed = size;
  return TN_OK;
}
