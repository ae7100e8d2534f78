/*
 * libFuzzer target for the delta decoder (device/ota, docs/formats/ota.md
 * section 9). Byte 0 of the input picks a chunk size (1..256), the rest is
 * a delta applied to a fixed base of the harness (a blob header and section
 * table with a known digest, then patterned bytes). The delta is decoded
 * twice: whole, and in chunks as a node receives it. Both runs must agree
 * on the status and, when they succeed, on every result byte; the decoder
 * may never read or write outside the base and the result buffer (checked
 * by the io callbacks), and the header parser must accept exactly the
 * headers the decoder accepts. Seeds: corpus/ota_delta, deltas against the
 * harness's base using every operation kind.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ota/tn_ota.h"
#include "runtime/tn_runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define REQUIRE(cond)              \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

#define BASE_SIZE 2048u
#define OUT_CAP 8192u

static uint8_t g_base[BASE_SIZE];
static uint8_t g_out[2][OUT_CAP];
static int g_ready;

/* A base shaped like a blob (header, 3 section entries, sections) -- the
 * decoder only reads its header, table and bytes. */
static void make_base(void) {
  for (uint32_t i = 0; i < BASE_SIZE; ++i) g_base[i] = (uint8_t)(i * 13u + 7u);
  memset(g_base, 0, TN_BLOB_HEADER_SIZE + 3 * 16);
  tn_store_u32le(g_base, TN_BLOB_MAGIC);
  tn_store_u16le(g_base + 4, 1);
  tn_store_u16le(g_base + 6, TN_BLOB_HEADER_SIZE);
  tn_store_u32le(g_base + 8, BASE_SIZE);
  tn_store_u16le(g_base + 12, TN_TARGET_GAP9);
  tn_store_u16le(g_base + 14, 3);
  for (uint32_t i = 0; i < 32; ++i) g_base[48 + i] = (uint8_t)(0xD0 + i);
  static const uint32_t offsets[3] = {152, 1024, 1600};
  for (uint32_t k = 0; k < 3; ++k) {
    uint8_t* e = g_base + TN_BLOB_HEADER_SIZE + 16 * k;
    tn_store_u16le(e, (uint16_t)(k + 1));
    tn_store_u32le(e + 4, offsets[k]);
    tn_store_u32le(e + 8, (k < 2 ? offsets[k + 1] : BASE_SIZE) - offsets[k]);
  }
  g_ready = 1;
}

typedef struct run_io {
  uint8_t* out;
  uint32_t written_max; /* highest result byte written + 1 */
} run_io;

static tn_status on_header(void* ctx, const tn_ota_delta_header* h) {
  (void)ctx;
  if (memcmp(h->base_digest, g_base + 48, 32) != 0) return TN_ERR_OTA_BASE;
  if (h->result_size > OUT_CAP) return TN_ERR_OTA_SIZE;
  return TN_OK;
}

static tn_status read_base(void* ctx, uint32_t offset, uint8_t* buf,
                           uint32_t len) {
  (void)ctx;
  REQUIRE(offset <= BASE_SIZE && len <= BASE_SIZE - offset);
  memcpy(buf, g_base + offset, len);
  return TN_OK;
}

static tn_status write_out(void* ctx, uint32_t offset, const uint8_t* d,
                           uint32_t len) {
  run_io* r = (run_io*)ctx;
  REQUIRE(offset <= OUT_CAP && len <= OUT_CAP - offset);
  /* Result bytes are written in order, each once. */
  REQUIRE(offset == r->written_max);
  memcpy(r->out + offset, d, len);
  r->written_max = offset + len;
  return TN_OK;
}

/* Decodes `delta` in chunks of `chunk` bytes into g_out[which]. */
static tn_status run(const uint8_t* delta, uint32_t n, uint32_t chunk,
                     int which, tn_ota_delta_decoder* d) {
  run_io r = {g_out[which], 0};
  tn_ota_delta_io io = {&r, BASE_SIZE, on_header, read_base, write_out};
  tn_ota_delta_decoder_init(d);
  for (uint32_t pos = 0; pos < n; pos += chunk) {
    uint32_t len = n - pos < chunk ? n - pos : chunk;
    tn_status st = tn_ota_delta_feed(d, &io, delta + pos, len);
    if (st != TN_OK) return st;
    REQUIRE(d->s.written == r.written_max);
    REQUIRE(d->s.written <= d->s.result_size || d->s.result_size == 0);
  }
  return tn_ota_delta_done(d);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!g_ready) make_base();
  if (size < 1 || size > 65536) return 0;
  uint32_t chunk = (uint32_t)data[0] + 1u;
  const uint8_t* delta = data + 1;
  uint32_t n = (uint32_t)(size - 1);

  tn_ota_delta_header h;
  tn_status hs = tn_ota_delta_header_parse(delta, n, &h);

  tn_ota_delta_decoder whole;
  tn_ota_delta_decoder chunked;
  tn_status a = run(delta, n, n == 0 ? 1 : n, 0, &whole);
  tn_status b = run(delta, n, chunk, 1, &chunked);
  REQUIRE(a == b);
  if (a == TN_OK) {
    REQUIRE(hs == TN_OK);
    REQUIRE(whole.s.result_size == h.result_size);
    REQUIRE(chunked.s.written == whole.s.written);
    REQUIRE(memcmp(g_out[0], g_out[1], whole.s.written) == 0);
    /* The in-memory applier agrees (it also checks the result hash). */
    static uint8_t out[OUT_CAP];
    size_t got = 0;
    tn_status c =
        tn_ota_delta_apply(g_base, BASE_SIZE, delta, n, out, sizeof(out), &got);
    REQUIRE(c == TN_OK || c == TN_ERR_BLOB_CHECKSUM);
    if (c == TN_OK) {
      REQUIRE(got == whole.s.result_size);
      REQUIRE(memcmp(out, g_out[0], got) == 0);
    }
  }
  if (hs != TN_OK && n >= TN_OTA_DELTA_HEADER_SIZE) REQUIRE(a == hs);
  return 0;
}
