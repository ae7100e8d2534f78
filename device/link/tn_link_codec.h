/*
 * Private to the link room: bounded little-endian readers and writers for
 * message payloads. Both carry a sticky error flag, so a codec reads or
 * writes its fields in sequence and checks once at the end; a reader never
 * touches a byte past its size and a writer never one past its capacity.
 */
#ifndef TN_LINK_TN_LINK_CODEC_H_
#define TN_LINK_TN_LINK_CODEC_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/tn_base.h"

typedef struct tn_link_reader {
  const uint8_t* p;
  size_t size;
  size_t pos;
  int bad; /* set when a read ran past `size` */
} tn_link_reader;

static inline void tn_link_reader_init(tn_link_reader* r, const uint8_t* p,
                                       size_t size) {
  r->p = p;
  r->size = size;
  r->pos = 0;
  r->bad = 0;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and marks the
 * reader bad) when fewer than n remain. */
static inline const uint8_t* tn_link_read_bytes(tn_link_reader* r, size_t n) {
  if (r->bad || r->size - r->pos < n) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t* at = r->p + r->pos;
  r->pos += n;
  return at;
}

static inline uint8_t tn_link_read_u8(tn_link_reader* r) {
  const uint8_t* at = tn_link_read_bytes(r, 1);
  return at ? at[0] : 0;
}

static inline uint16_t tn_link_read_u16(tn_link_reader* r) {
  const uint8_t* at = tn_link_read_bytes(r, 2);
  return at ? tn_load_u16le(at) : 0;
}

static inline uint32_t tn_link_read_u32(tn_link_reader* r) {
  const uint8_t* at = tn_link_read_bytes(r, 4);
  return at ? tn_load_u32le(at) : 0;
}

/* Copies n bytes into dst (zero-filled when the read fails). */
static inline void tn_link_read_copy(tn_link_reader* r, uint8_t* dst,
                                     size_t n) {
  const uint8_t* at = tn_link_read_bytes(r, n);
  if (at) {
    memcpy(dst, at, n);
  } else {
    memset(dst, 0, n);
  }
}

/* TN_OK when every read succeeded and the payload was consumed exactly. */
static inline tn_status tn_link_reader_end(const tn_link_reader* r) {
  return (r->bad || r->pos != r->size) ? TN_ERR_MSG_MALFORMED : TN_OK;
}

typedef struct tn_link_writer {
  uint8_t* p;
  size_t cap;
  size_t pos;
  int bad; /* set when a write would pass `cap` */
} tn_link_writer;

static inline void tn_link_writer_init(tn_link_writer* w, uint8_t* p,
                                       size_t cap) {
  w->p = p;
  w->cap = cap;
  w->pos = 0;
  w->bad = 0;
}

/* Reserves the next n bytes and returns them, or NULL when they do not fit. */
static inline uint8_t* tn_link_write_reserve(tn_link_writer* w, size_t n) {
  if (w->bad || w->cap - w->pos < n) {
    w->bad = 1;
    return NULL;
  }
  uint8_t* at = w->p + w->pos;
  w->pos += n;
  return at;
}

static inline void tn_link_write_u8(tn_link_writer* w, uint8_t v) {
  uint8_t* at = tn_link_write_reserve(w, 1);
  if (at) at[0] = v;
}

static inline void tn_link_write_u16(tn_link_writer* w, uint16_t v) {
  uint8_t* at = tn_link_write_reserve(w, 2);
  if (at) tn_store_u16le(at, v);
}

static inline void tn_link_write_u32(tn_link_writer* w, uint32_t v) {
  uint8_t* at = tn_link_write_reserve(w, 4);
  if (at) tn_store_u32le(at, v);
}

/* REQUIRES: src non-NULL when n > 0. */
static inline void tn_link_write_bytes(tn_link_writer* w, const uint8_t* src,
                                       size_t n) {
  uint8_t* at = tn_link_write_reserve(w, n);
  if (at && n > 0) memcpy(at, src, n);
}

/* Sets *out_len and returns TN_OK when every write fit. */
static inline tn_status tn_link_writer_end(const tn_link_writer* w,
                                           size_t* out_len) {
  if (w->bad) return TN_ERR_BUFFER_TOO_SMALL;
  *out_len = w->pos;
  return TN_OK;
}

/* COBS encoder writing block by block into a bounded buffer: each block is a
 * code byte c (1..255) followed by c - 1 non-zero bytes; a block with c < 255
 * stands for its bytes followed by one 0x00, except the last block. As in
 * the original COBS definition, an input that ends with a full 254-byte
 * block gets no final empty block (0x01). */
typedef struct tn_link_cobs_writer {
  uint8_t* out;
  size_t cap;
  size_t pos;         /* next free byte */
  size_t code_pos;    /* where the current block's code byte goes */
  uint8_t code;       /* 1 + data bytes in the current block */
  uint8_t after_full; /* the current block follows a full 254-byte block */
  int bad;            /* set when the output would pass `cap` */
} tn_link_cobs_writer;

/* Starts a block: its code byte is written when the block closes, so a
 * reserved position may sit just past `cap` until then. */
static inline void tn_link_cobs_open_block(tn_link_cobs_writer* w,
                                           uint8_t after_full) {
  w->code_pos = w->pos++;
  w->code = 1;
  w->after_full = after_full;
}

static inline void tn_link_cobs_close_block(tn_link_cobs_writer* w) {
  if (w->code_pos >= w->cap) {
    w->bad = 1;
    return;
  }
  w->out[w->code_pos] = w->code;
}

static inline void tn_link_cobs_writer_init(tn_link_cobs_writer* w,
                                            uint8_t* out, size_t cap) {
  w->out = out;
  w->cap = cap;
  w->pos = 0;
  w->bad = 0;
  tn_link_cobs_open_block(w, 0);
}

static inline void tn_link_cobs_put(tn_link_cobs_writer* w, uint8_t b) {
  if (w->bad) return;
  if (b == 0) {
    tn_link_cobs_close_block(w);
    tn_link_cobs_open_block(w, 0);
    return;
  }
  if (w->pos >= w->cap) {
    w->bad = 1;
    return;
  }
  w->out[w->pos++] = b;
  if (++w->code == 0xFF) {
    tn_link_cobs_close_block(w);
    tn_link_cobs_open_block(w, 1);
  }
}

static inline void tn_link_cobs_put_bytes(tn_link_cobs_writer* w,
                                          const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n && !w->bad; ++i) tn_link_cobs_put(w, p[i]);
}

/* Closes the last block; returns the encoded size, or 0 when it did not
 * fit (an encoding is never empty). */
static inline size_t tn_link_cobs_writer_end(tn_link_cobs_writer* w) {
  if (w->bad) return 0;
  if (w->code == 1 && w->after_full) return w->pos - 1; /* no empty block */
  tn_link_cobs_close_block(w);
  return w->bad ? 0 : w->pos;
}

#endif /* TN_LINK_TN_LINK_CODEC_H_ */
