/*
 * libFuzzer target for the node's OTA request handler (device/ota). The
 * input is a session: byte 0 configures the node (bit 0: NOR-like flash
 * with 512-byte erase units, bit 1: mappable flash, bit 2: unsigned blobs
 * accepted, bit 3: progress persisted every 700 bytes), then records of
 *   op u8 | len u16le | payload[len]
 * where op % 12 picks: 0..7 a request (MODEL_BEGIN, MODEL_CHUNK,
 * MODEL_COMMIT, MODEL_STATUS, ACTIVATE, CONFIRM, ROLLBACK, SET_MODEL_KEY)
 * whose payload goes to tn_ota_handle; 8 a node reset (the room is opened
 * again from storage); 9 the next storage write is torn; 10 the next flash
 * write is cut half way; 11 nothing. Each session starts from empty
 * storage and flash. After every step the reported state must encode as a
 * valid MODEL_STATUS_REPLY and HELLO slot table, a typed reply must decode,
 * and every reset must boot: no sequence of requests, torn record writes
 * and cut flash writes may leave a node that cannot start. Signatures use a
 * stand-in verifier (r[0] == 0xA5) so that the fuzzer can reach activation.
 * Seeds: tests/device/ota/ota_seed_writer.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "link/tn_link.h"
#include "ota/tn_ota.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#define REQUIRE(cond)              \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

#define SLOT_SIZE 8192u
#define REGIONS 8
#define REGION_CAP 128

typedef struct region {
  char name[16];
  int used;
  size_t len;
  uint8_t data[REGION_CAP];
} region;

static region g_regions[REGIONS];
static int g_tear_next;
static int g_cut_next;
static uint8_t g_flash_bytes[2 * SLOT_SIZE];
static tn_ota_mem_flash g_mem;
static uint8_t g_blob_buffer[SLOT_SIZE];
static uint64_t g_arena[65536 / 8];
static tn_ota g_ota;

static region* find(const char* name, int create) {
  for (int i = 0; i < REGIONS; ++i) {
    if (g_regions[i].used && strcmp(g_regions[i].name, name) == 0) {
      return &g_regions[i];
    }
  }
  for (int i = 0; create && i < REGIONS; ++i) {
    if (!g_regions[i].used) {
      memset(&g_regions[i], 0, sizeof(g_regions[i]));
      memcpy(g_regions[i].name, name, strlen(name) + 1);
      return &g_regions[i];
    }
  }
  return NULL;
}

static tn_status st_read(void* ctx, const char* name, uint8_t* buf, size_t cap,
                         size_t* len) {
  (void)ctx;
  region* r = find(name, 0);
  if (r == NULL) return TN_ERR_NOT_FOUND;
  if (r->len > cap) return TN_ERR_BUFFER_TOO_SMALL;
  memcpy(buf, r->data, r->len);
  *len = r->len;
  return TN_OK;
}

static tn_status st_write(void* ctx, const char* name, const uint8_t* data,
                          size_t len) {
  (void)ctx;
  REQUIRE(len <= REGION_CAP && strlen(name) <= 15);
  region* r = find(name, 1);
  REQUIRE(r != NULL);
  r->used = 1;
  if (g_tear_next) {
    g_tear_next = 0;
    memcpy(r->data, data, len / 2); /* half the bytes, then the reset */
    r->len = len;
    return TN_ERR_STORAGE;
  }
  memcpy(r->data, data, len);
  r->len = len;
  return TN_OK;
}

static tn_status fl_read(void* ctx, uint8_t slot, uint32_t off, uint8_t* buf,
                         uint32_t len) {
  tn_ota_flash f = tn_ota_mem_flash_interface((tn_ota_mem_flash*)ctx);
  return f.read(f.ctx, slot, off, buf, len);
}

static tn_status fl_write(void* ctx, uint8_t slot, uint32_t off,
                          const uint8_t* data, uint32_t len) {
  tn_ota_flash f = tn_ota_mem_flash_interface((tn_ota_mem_flash*)ctx);
  if (g_cut_next) {
    g_cut_next = 0;
    (void)f.write(f.ctx, slot, off, data, len / 2);
    return TN_ERR_STORAGE;
  }
  return f.write(f.ctx, slot, off, data, len);
}

static tn_status fl_erase(void* ctx, uint8_t slot, uint32_t off, uint32_t len) {
  tn_ota_flash f = tn_ota_mem_flash_interface((tn_ota_mem_flash*)ctx);
  return f.erase(f.ctx, slot, off, len);
}

static const uint8_t* fl_map(void* ctx, uint8_t slot) {
  tn_ota_flash f = tn_ota_mem_flash_interface((tn_ota_mem_flash*)ctx);
  return f.map(f.ctx, slot);
}

static tn_status stub_check_key(void* ctx, const uint8_t key[65]) {
  (void)ctx;
  return key[1] != 0 ? TN_OK : TN_ERR_KEY_INVALID;
}

static tn_status stub_verify(void* ctx, const uint8_t key[65],
                             const uint8_t digest[32], const uint8_t r[32],
                             const uint8_t s[32]) {
  (void)ctx;
  (void)key;
  (void)digest;
  (void)s;
  return r[0] == 0xA5 ? TN_OK : TN_ERR_AUTH;
}

static tn_ota_config g_cfg;

static void boot(void) {
  g_tear_next = 0;
  g_cut_next = 0;
  REQUIRE(tn_ota_open(&g_ota, &g_cfg) == TN_OK);
}

/* What the node reports must always be encodable. */
static void check_state(void) {
  tn_link_model_status_reply m;
  tn_ota_status(&g_ota, &m);
  uint8_t p[128];
  size_t n = 0;
  REQUIRE(tn_link_model_status_reply_encode(&m, p, sizeof(p), &n) == TN_OK);
  tn_link_hello_reply h;
  memset(&h, 0, sizeof(h));
  h.link_version = 1;
  h.target = TN_TARGET_GAP9;
  h.max_payload = 1024;
  h.firmware_version[0] = 'f';
  tn_ota_link_slots(&g_ota, h.slots, &h.slot_count);
  uint8_t hp[256];
  REQUIRE(tn_link_hello_reply_encode(&h, hp, sizeof(hp), &n) == TN_OK);
  if (g_ota.transfer.state == TN_OTA_TRANSFER_RECEIVING) {
    REQUIRE(g_ota.received <= g_ota.transfer.total_size);
    REQUIRE(g_ota.transfer.committed <= g_ota.received);
    REQUIRE(g_ota.table.slots[g_ota.transfer.slot].state == TN_LINK_SLOT_EMPTY);
  }
}

static const uint8_t kTypes[8] = {
    TN_LINK_MSG_MODEL_BEGIN,  TN_LINK_MSG_MODEL_CHUNK,
    TN_LINK_MSG_MODEL_COMMIT, TN_LINK_MSG_MODEL_STATUS,
    TN_LINK_MSG_ACTIVATE,     TN_LINK_MSG_CONFIRM,
    TN_LINK_MSG_ROLLBACK,     TN_LINK_MSG_SET_MODEL_KEY};

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t conf = data[0];
  memset(g_regions, 0, sizeof(g_regions));
  uint32_t erase = (conf & 1u) ? 512u : 0u;
  REQUIRE(tn_ota_mem_flash_init(&g_mem, g_flash_bytes, 2, SLOT_SIZE, erase) ==
          TN_OK);
  tn_ota_config_init(&g_cfg);
  g_cfg.target = TN_TARGET_GAP9;
  g_cfg.storage.ctx = NULL;
  g_cfg.storage.read = st_read;
  g_cfg.storage.write = st_write;
  g_cfg.flash = tn_ota_mem_flash_interface(&g_mem);
  g_cfg.flash.read = fl_read;
  g_cfg.flash.write = fl_write;
  g_cfg.flash.erase = erase ? fl_erase : NULL;
  g_cfg.flash.map = (conf & 2u) ? fl_map : NULL;
  g_cfg.blob_buffer = g_blob_buffer;
  g_cfg.blob_buffer_size = sizeof(g_blob_buffer);
  g_cfg.arena = g_arena;
  g_cfg.arena_size = sizeof(g_arena);
  g_cfg.accept_unsigned = (conf & 4u) ? 1 : 0;
  g_cfg.progress_interval = (conf & 8u) ? 700u : 0u;
  g_cfg.verifier.check_key = stub_check_key;
  g_cfg.verifier.verify = stub_verify;
  boot();
  check_state();

  size_t pos = 1;
  /* Each record consumes at least 3 bytes: at most size / 3 steps. */
  while (size - pos >= 3) {
    uint8_t op = data[pos];
    size_t len = (size_t)data[pos + 1] | ((size_t)data[pos + 2] << 8);
    pos += 3;
    if (len > size - pos) len = size - pos;
    const uint8_t* payload = data + pos;
    pos += len;
    switch (op % 12u) {
      case 8:
        boot();
        break;
      case 9:
        g_tear_next = 1;
        break;
      case 10:
        g_cut_next = 1;
        break;
      case 11:
        break;
      default: {
        uint8_t type = kTypes[op % 8u];
        uint8_t reply_type = 0;
        uint8_t reply[128];
        size_t reply_len = 0;
        tn_status st = tn_ota_handle(&g_ota, type, payload, len, &reply_type,
                                     reply, sizeof(reply), &reply_len);
        REQUIRE(st != TN_ERR_NULL && st != TN_ERR_INTERNAL &&
                st != TN_ERR_BUFFER_TOO_SMALL);
        if (st == TN_OK && reply_type != 0) {
          tn_link_model_status_reply m;
          REQUIRE(reply_type == TN_LINK_MSG_MODEL_STATUS_REPLY);
          REQUIRE(tn_link_model_status_reply_decode(reply, reply_len, &m) ==
                  TN_OK);
        }
        break;
      }
    }
    check_state();
  }
  /* Whatever happened, the node starts again. */
  boot();
  check_state();
  return 0;
}
