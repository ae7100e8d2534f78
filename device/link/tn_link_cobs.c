/*
 * Consistent Overhead Byte Stuffing over whole buffers. COBS removes every
 * 0x00 from a frame at a cost of at most one byte per 254, which leaves 0x00
 * free to delimit frames on the wire. The streaming decoder in
 * tn_link_frame.c applies the same rules byte by byte.
 */
#include "link/tn_link.h"
#include "link/tn_link_codec.h"

tn_status tn_link_cobs_encode(const uint8_t* in, size_t size, uint8_t* out,
                              size_t cap, size_t* out_len) {
  if (out == NULL || out_len == NULL || (in == NULL && size > 0)) {
    return TN_ERR_NULL;
  }
  tn_link_cobs_writer w;
  tn_link_cobs_writer_init(&w, out, cap);
  tn_link_cobs_put_bytes(&w, in, size);
  size_t n = tn_link_cobs_writer_end(&w);
  if (n == 0) return TN_ERR_BUFFER_TOO_SMALL;
  *out_len = n;
  return TN_OK;
}

tn_status tn_link_cobs_decode(const uint8_t* in, size_t size, uint8_t* out,
                              size_t cap, size_t* out_len) {
  if (in == NULL || out_len == NULL || (out == NULL && cap > 0)) {
    return TN_ERR_NULL;
  }
  if (size == 0) return TN_ERR_FRAME_ENCODING;
  size_t i = 0;
  size_t o = 0;
  /* Each iteration consumes at least the code byte, so at most `size`. */
  while (i < size) {
    uint8_t code = in[i++];
    if (code == 0) return TN_ERR_FRAME_ENCODING;
    size_t n = (size_t)code - 1u;
    if (n > size - i) return TN_ERR_FRAME_ENCODING;
    for (size_t j = 0; j < n; ++j) {
      if (in[i + j] == 0) return TN_ERR_FRAME_ENCODING;
      if (o >= cap) return TN_ERR_BUFFER_TOO_SMALL;
      out[o++] = in[i + j];
    }
    i += n;
    if (code != 0xFF && i < size) {
      if (o >= cap) return TN_ERR_BUFFER_TOO_SMALL;
      out[o++] = 0;
    }
  }
  *out_len = o;
  return TN_OK;
}
