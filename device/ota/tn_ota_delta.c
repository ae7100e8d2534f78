/*
 * The delta decoder: parses a delta header and streams COPY, LITERAL and
 * PATCH operations into a result, reading the base through a callback, with
 * a fixed amount of state (tn_ota_delta_decoder) that a node persists to
 * resume after a reset. tn_ota_delta_apply runs the same decoder over memory
 * for the gateway's self-check. docs/formats/ota.md, section 9, is the
 * normative format.
 */
#include <string.h>

#include "ota/tn_ota.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"

/* Result bytes produced per base read by COPY and PATCH. */
#define DELTA_BLOCK 128u

tn_status tn_ota_delta_header_parse(const uint8_t* data, size_t size,
                                    tn_ota_delta_header* h) {
  if (data == NULL || h == NULL) return TN_ERR_NULL;
  if (size < TN_OTA_DELTA_HEADER_SIZE) return TN_ERR_OTA_DELTA;
  if (tn_load_u32le(data) != TN_OTA_DELTA_MAGIC ||
      tn_load_u16le(data + 4) != TN_OTA_DELTA_VERSION ||
      tn_load_u16le(data + 6) != TN_OTA_DELTA_HEADER_SIZE) {
    return TN_ERR_OTA_DELTA;
  }
  memset(h, 0, sizeof(*h));
  h->result_size = tn_load_u32le(data + 8);
  h->target = tn_load_u16le(data + 12);
  h->flags = tn_load_u16le(data + 14);
  memcpy(h->base_digest, data + 16, 32);
  memcpy(h->result_digest, data + 48, 32);
  memcpy(h->result_sha256, data + TN_OTA_DELTA_RESULT_SHA256_OFFSET, 32);
  memcpy(h->signature, data + 112, TN_OTA_DELTA_SIGNATURE_SIZE);
  if ((h->flags & ~TN_OTA_DELTA_FLAG_SIGNED) != 0 ||
      h->result_size < TN_BLOB_HEADER_SIZE) {
    return TN_ERR_OTA_DELTA;
  }
  if ((h->flags & TN_OTA_DELTA_FLAG_SIGNED) == 0) {
    uint8_t acc = 0;
    for (uint32_t i = 0; i < TN_OTA_DELTA_SIGNATURE_SIZE; ++i) {
      acc |= h->signature[i];
    }
    if (acc != 0) return TN_ERR_OTA_DELTA;
  }
  return TN_OK;
}

void tn_ota_delta_decoder_init(tn_ota_delta_decoder* d) {
  if (d != NULL) memset(d, 0, sizeof(*d));
}

tn_status tn_ota_delta_done(const tn_ota_delta_decoder* d) {
  if (d == NULL) return TN_ERR_NULL;
  const tn_ota_delta_state* s = &d->s;
  return s->result_size != 0 && d->hold_len == 0 && s->op == 0 &&
                 s->written == s->result_size
             ? TN_OK
             : TN_ERR_OTA_DELTA;
}

/* Base region `index` as [*start, *end), from the base's own header and
 * section table read through io. */
static tn_status base_region(const tn_ota_delta_io* io, uint8_t index,
                             uint32_t* start, uint32_t* end) {
  uint8_t hdr[8];
  if (io->base_size < TN_BLOB_HEADER_SIZE) return TN_ERR_OTA_DELTA;
  tn_status st = io->read_base(io->ctx, 8, hdr, sizeof(hdr));
  if (st != TN_OK) return TN_ERR_STORAGE;
  uint32_t total = tn_load_u32le(hdr);
  uint16_t count = tn_load_u16le(hdr + 6);
  if (count == 0 || count > TN_BLOB_MAX_SECTIONS || total > io->base_size ||
      (index != TN_OTA_DELTA_HEAD && index >= count)) {
    return TN_ERR_OTA_DELTA;
  }
  uint32_t table_end =
      TN_BLOB_HEADER_SIZE + (uint32_t)count * TN_BLOB_SECTION_ENTRY_SIZE;
  if (table_end > total) return TN_ERR_OTA_DELTA;
  /* Offsets of entries `first` and `first + 1` (or total_size). */
  uint32_t first = index == TN_OTA_DELTA_HEAD ? 0u : index;
  uint8_t e[4];
  st = io->read_base(io->ctx, TN_BLOB_HEADER_SIZE + first * 16u + 4u, e, 4);
  if (st != TN_OK) return TN_ERR_STORAGE;
  uint32_t a = tn_load_u32le(e);
  uint32_t b = total;
  if (index != TN_OTA_DELTA_HEAD && index + 1u < count) {
    st = io->read_base(io->ctx, TN_BLOB_HEADER_SIZE + (first + 1u) * 16u + 4u,
                       e, 4);
    if (st != TN_OK) return TN_ERR_STORAGE;
    b = tn_load_u32le(e);
  }
  if (index == TN_OTA_DELTA_HEAD) {
    b = a;
    a = 0;
  }
  if (a > b || b > total) return TN_ERR_OTA_DELTA;
  *start = a;
  *end = b;
  return TN_OK;
}

static tn_status write_out(const tn_ota_delta_io* io, tn_ota_delta_state* s,
                           const uint8_t* data, uint32_t n) {
  if (io->write(io->ctx, s->written, data, n) != TN_OK) return TN_ERR_STORAGE;
  s->written += n;
  return TN_OK;
}

/* Executes a COPY of `len` bytes from base offset `src`. */
static tn_status run_copy(const tn_ota_delta_io* io, tn_ota_delta_state* s,
                          uint32_t src, uint32_t len) {
  uint8_t buf[DELTA_BLOCK];
  /* At most len / DELTA_BLOCK + 1 iterations. */
  while (len > 0) {
    uint32_t n = len < DELTA_BLOCK ? len : DELTA_BLOCK;
    if (io->read_base(io->ctx, src, buf, n) != TN_OK) return TN_ERR_STORAGE;
    tn_status st = write_out(io, s, buf, n);
    if (st != TN_OK) return st;
    src += n;
    len -= n;
  }
  return TN_OK;
}

/* Decodes one complete operation header held in d->hold. */
static tn_status start_op(tn_ota_delta_decoder* d, const tn_ota_delta_io* io) {
  tn_ota_delta_state* s = &d->s;
  const uint8_t* h = d->hold;
  uint8_t kind = h[0];
  uint8_t source = h[1];
  uint32_t offset = tn_load_u32le(h + 4);
  uint32_t len = tn_load_u32le(h + 8);
  if (tn_load_u16le(h + 2) != 0 || len == 0 ||
      len > s->result_size - s->written) {
    return TN_ERR_OTA_DELTA;
  }
  if (kind == TN_OTA_DELTA_LITERAL) {
    if (source != 0 || offset != 0) return TN_ERR_OTA_DELTA;
    s->op = TN_OTA_DELTA_LITERAL;
    s->op_left = len;
    return TN_OK;
  }
  if (kind != TN_OTA_DELTA_COPY && kind != TN_OTA_DELTA_PATCH) {
    return TN_ERR_OTA_DELTA;
  }
  uint32_t start = 0;
  uint32_t end = 0;
  tn_status st = base_region(io, source, &start, &end);
  if (st != TN_OK) return st;
  if ((uint64_t)offset + len > (uint64_t)(end - start)) {
    return TN_ERR_OTA_DELTA;
  }
  if (kind == TN_OTA_DELTA_COPY) return run_copy(io, s, start + offset, len);
  s->op = TN_OTA_DELTA_PATCH;
  s->op_left = len;
  s->op_src = start + offset;
  s->mask = 0;
  s->bit = 8;
  return TN_OK;
}

/* A PATCH can write its next byte without input: inside a group, on a
 * byte the mask leaves unchanged. */
static int patch_runs_dry(const tn_ota_delta_state* s) {
  return s->op == TN_OTA_DELTA_PATCH && s->bit < 8 &&
         ((s->mask >> s->bit) & 1u) == 0;
}

/* Produces up to DELTA_BLOCK bytes of the open PATCH from data[*pos, len). */
static tn_status run_patch(const tn_ota_delta_io* io, tn_ota_delta_state* s,
                           const uint8_t* data, uint32_t len, uint32_t* pos) {
  uint8_t buf[DELTA_BLOCK];
  uint32_t want = s->op_left < DELTA_BLOCK ? s->op_left : DELTA_BLOCK;
  if (io->read_base(io->ctx, s->op_src, buf, want) != TN_OK) {
    return TN_ERR_STORAGE;
  }
  uint32_t k = 0;
  /* At most `want` iterations that produce a byte, plus mask reads. */
  while (k < want) {
    if (s->bit == 8) {
      if (*pos == len) break;
      uint32_t group = s->op_left - k < 8 ? s->op_left - k : 8;
      uint8_t m = data[*pos];
      if (group < 8 && (m >> group) != 0) return TN_ERR_OTA_DELTA;
      ++*pos;
      s->mask = m;
      s->bit = 0;
    }
    if ((s->mask >> s->bit) & 1u) {
      if (*pos == len) break;
      buf[k] ^= data[(*pos)++];
    }
    ++k;
    ++s->bit;
    if (s->op_left - k == 0) s->bit = 8;
  }
  if (k > 0) {
    tn_status st = write_out(io, s, buf, k);
    if (st != TN_OK) return st;
    s->op_src += k;
    s->op_left -= k;
    if (s->op_left == 0) s->op = 0;
  }
  return TN_OK;
}

tn_status tn_ota_delta_feed(tn_ota_delta_decoder* d, const tn_ota_delta_io* io,
                            const uint8_t* data, uint32_t len) {
  if (d == NULL || io == NULL || (data == NULL && len > 0) ||
      io->read_base == NULL || io->write == NULL) {
    return TN_ERR_NULL;
  }
  tn_ota_delta_state* s = &d->s;
  uint32_t pos = 0;
  tn_status st = TN_OK;
  /* Every iteration consumes input or writes result bytes: at most
   * len + result_size + 1 iterations. */
  for (;;) {
    if (pos == len && !patch_runs_dry(s)) break;
    if (s->result_size == 0) {
      uint32_t take = TN_OTA_DELTA_HEADER_SIZE - d->hold_len;
      if (take > len - pos) take = len - pos;
      memcpy(d->hold + d->hold_len, data + pos, take);
      d->hold_len = (uint16_t)(d->hold_len + take);
      pos += take;
      if (d->hold_len < TN_OTA_DELTA_HEADER_SIZE) continue;
      tn_ota_delta_header h;
      st = tn_ota_delta_header_parse(d->hold, d->hold_len, &h);
      if (st == TN_OK && io->on_header != NULL) st = io->on_header(io->ctx, &h);
      if (st != TN_OK) return st;
      memset(s, 0, sizeof(*s));
      s->result_size = h.result_size;
      d->hold_len = 0;
    } else if (s->op == 0) {
      uint32_t take = TN_OTA_DELTA_OP_SIZE - d->hold_len;
      if (take > len - pos) take = len - pos;
      memcpy(d->hold + d->hold_len, data + pos, take);
      d->hold_len = (uint16_t)(d->hold_len + take);
      pos += take;
      if (d->hold_len < TN_OTA_DELTA_OP_SIZE) continue;
      d->hold_len = 0;
      st = start_op(d, io);
      if (st != TN_OK) return st;
    } else if (s->op == TN_OTA_DELTA_LITERAL) {
      uint32_t n = s->op_left < len - pos ? s->op_left : len - pos;
      st = write_out(io, s, data + pos, n);
      if (st != TN_OK) return st;
      pos += n;
      s->op_left -= n;
      if (s->op_left == 0) s->op = 0;
    } else if (s->op == TN_OTA_DELTA_PATCH) {
      st = run_patch(io, s, data, len, &pos);
      if (st != TN_OK) return st;
    } else {
      return TN_ERR_OTA_DELTA; /* a state no feed produces */
    }
  }
  return TN_OK;
}

/* ---- In memory ----------------------------------------------------------- */

typedef struct mem_io {
  const uint8_t* base;
  size_t base_size;
  uint8_t* out;
  size_t cap;
  tn_ota_delta_header header;
} mem_io;

static tn_status mem_on_header(void* ctx, const tn_ota_delta_header* h) {
  mem_io* m = (mem_io*)ctx;
  if (memcmp(m->base + TN_BLOB_DIGEST_OFFSET, h->base_digest, 32) != 0) {
    return TN_ERR_OTA_BASE;
  }
  if (h->result_size > m->cap) return TN_ERR_BUFFER_TOO_SMALL;
  m->header = *h;
  return TN_OK;
}

static tn_status mem_read_base(void* ctx, uint32_t offset, uint8_t* buf,
                               uint32_t len) {
  mem_io* m = (mem_io*)ctx;
  if (offset > m->base_size || len > m->base_size - offset) {
    return TN_ERR_STORAGE;
  }
  memcpy(buf, m->base + offset, len);
  return TN_OK;
}

static tn_status mem_write(void* ctx, uint32_t offset, const uint8_t* data,
                           uint32_t len) {
  mem_io* m = (mem_io*)ctx;
  if (offset > m->cap || len > m->cap - offset) return TN_ERR_STORAGE;
  memcpy(m->out + offset, data, len);
  return TN_OK;
}

tn_status tn_ota_delta_apply(const uint8_t* base, size_t base_size,
                             const uint8_t* delta, size_t delta_size,
                             uint8_t* out, size_t cap, size_t* out_size) {
  if (base == NULL || delta == NULL || out == NULL || out_size == NULL) {
    return TN_ERR_NULL;
  }
  if (base_size < TN_BLOB_HEADER_SIZE || base_size > 0xFFFFFFFFu ||
      delta_size > 0xFFFFFFFFu) {
    return TN_ERR_ARG;
  }
  mem_io m;
  memset(&m, 0, sizeof(m));
  m.base = base;
  m.base_size = base_size;
  m.out = out;
  m.cap = cap;
  tn_ota_delta_io io = {&m, (uint32_t)base_size, mem_on_header, mem_read_base,
                        mem_write};
  tn_ota_delta_decoder d;
  tn_ota_delta_decoder_init(&d);
  tn_status st = tn_ota_delta_feed(&d, &io, delta, (uint32_t)delta_size);
  if (st == TN_OK) st = tn_ota_delta_done(&d);
  if (st != TN_OK) return st;
  uint8_t digest[32];
  st = tn_sha256(out, d.s.result_size, digest);
  if (st != TN_OK) return st;
  if (memcmp(digest, m.header.result_sha256, 32) != 0) {
    return TN_ERR_BLOB_CHECKSUM;
  }
  *out_size = d.s.result_size;
  return TN_OK;
}
