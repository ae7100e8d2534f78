/*
 * Test fixture of the OTA room: named-region storage and slot flash doubles
 * with fault switches (a write that fails, a torn record, a power cut in the
 * middle of a flash write), a portable stand-in signature scheme for builds
 * without a crypto port, model blobs built with the runtime's builder
 * (tests/device/runtime/model_fixture.h) with a chosen target, model id,
 * version, anti-rollback counter, canary and signature, and a small "agent"
 * that sends an artifact in chunks and counts the bytes it sent. Plain C11,
 * no heap; runs on the host and under QEMU.
 */
#ifndef TESTS_DEVICE_OTA_OTA_FIXTURE_H_
#define TESTS_DEVICE_OTA_OTA_FIXTURE_H_

#include <stddef.h>
#include <stdint.h>

#include "ota/tn_ota.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Storage double ------------------------------------------------------ */

#define OTA_TEST_REGIONS 12
#define OTA_TEST_REGION_CAP 128

typedef struct ota_test_region {
  char name[16];
  int used;
  size_t len;
  uint8_t data[OTA_TEST_REGION_CAP];
} ota_test_region;

typedef struct ota_test_storage {
  ota_test_region regions[OTA_TEST_REGIONS];
  int writes; /* successful writes */
  /* -1: off. n >= 0: n more writes succeed, then every write fails with
   * TN_ERR_STORAGE (and with `tear` set the first failing one leaves the
   * region damaged, as a write cut by a reset would). */
  int fail_after;
  int tear;
} ota_test_storage;

void ota_test_storage_init(ota_test_storage* s);
tn_ota_storage ota_test_storage_interface(ota_test_storage* s);
/* Flips one byte of region `name`; returns 0 when it does not exist. */
int ota_test_storage_damage(ota_test_storage* s, const char* name);

/* ---- Slot flash double --------------------------------------------------- */

typedef struct ota_test_flash {
  tn_ota_mem_flash mem;
  int mappable; /* 0: no map function, blobs go through the blob buffer */
  /* -1: off. n >= 0: n more writes succeed; the next one stores only its
   * first half and fails (a reset in the middle of a flash write). */
  int cut_after;
  uint32_t bytes_written;
} ota_test_flash;

/* Slot flash of `slot_count` slots of `slot_size` bytes over the fixture's
 * static memory (at most 4 x 64 KiB). */
void ota_test_flash_init(ota_test_flash* f, uint8_t slot_count,
                         uint32_t slot_size, uint32_t erase_size, int mappable);
tn_ota_flash ota_test_flash_interface(ota_test_flash* f);

/* ---- Stand-in signatures ------------------------------------------------- */

/* A deterministic 65-byte "public key" (0x04 || 64 bytes from seed). */
void ota_test_key(uint8_t key[TN_OTA_PUBLIC_KEY_SIZE], uint8_t seed);

/* The verifier of the stand-in scheme: a key is valid when it starts with
 * 0x04 and its second byte is not 0; (r, s) verifies when
 * r = SHA-256("tn-test-sig" || key || digest) and s = SHA-256(r || digest).
 * Not a signature scheme: it only lets builds without a crypto port walk
 * the same paths. */
tn_ota_verifier ota_test_verifier(void);

/* Signs a blob built with a reserved signature section with the stand-in
 * scheme under `key` (key id = SHA-256 prefix of the key). */
tn_status ota_test_sign(uint8_t* blob, size_t size,
                        const uint8_t key[TN_OTA_PUBLIC_KEY_SIZE]);

/* ---- Blobs --------------------------------------------------------------- */

typedef struct ota_blob_spec {
  tn_target target;      /* target the blob is built (and planned) for */
  uint8_t model_byte;    /* model id = 16 bytes of this value */
  uint32_t version;      /* model_version */
  uint32_t counter;      /* rollback_counter */
  int reserve_signature; /* 1: signature section reserved (zeroed) */
  int canary;            /* 0: none, 1: correct, 2: wrong expected output */
  int ds_cnn;            /* 0: small CNN, 1: DS-CNN keyword spotter */
  uint64_t seed;         /* weights */
  /* 0: the tail as generated. n > 0: every tail parameter p becomes
   * p * (1 + n / 1000) or p * (1 - n / 1000), alternating -- a tail-only
   * update as a training round makes (DS-CNN only). */
  uint32_t tail_step;
} ota_blob_spec;

/* Defaults: GAP9, model byte 0x11, version 1, counter 1, signature
 * reserved, correct canary, small CNN, seed 1. */
void ota_blob_spec_init(ota_blob_spec* spec);

/* Builds the blob into out (cap bytes) and sets *size. For a canary the
 * model is built once without it, run on a fixed input, and built again
 * with the executor's output as the expected one. */
tn_status ota_build_blob(const ota_blob_spec* spec, uint8_t* out, size_t cap,
                         size_t* size);

/* ---- A node and an agent ------------------------------------------------- */

#define OTA_TEST_BLOB_MAX 65536u

typedef struct ota_test_node {
  ota_test_storage storage;
  ota_test_flash flash;
  tn_ota_config cfg;
  tn_ota ota;
} ota_test_node;

/* A GAP9 node with 2 mappable slots of 64 KiB, no erase, the stand-in
 * verifier, and the fixture's blob buffer and arena. Not opened. */
void ota_test_node_init(ota_test_node* n);

/* Opens (or, after a simulated reset, reopens) the OTA room from the
 * node's storage and flash. */
tn_status ota_test_node_boot(ota_test_node* n);

/* The MODEL_BEGIN of `blob`: artifact id = first 16 bytes of its SHA-256,
 * total size, SHA-256, target slot. */
void ota_test_begin_msg(const uint8_t* blob, size_t size, uint8_t slot,
                        tn_link_model_begin* m);

/* What the agent did. */
typedef struct ota_send_result {
  tn_status status;    /* first failure, or TN_OK */
  uint32_t bytes_sent; /* chunk bytes offered to the node */
  uint32_t chunks;
} ota_send_result;

/* Sends bytes [from, size) of `blob` in chunks of `chunk` bytes through
 * tn_ota_chunk and stops at the first failure. */
void ota_test_send(tn_ota* ota, const uint8_t* blob, size_t size, uint32_t from,
                   uint32_t chunk, ota_send_result* r);

/* MODEL_BEGIN, every chunk, MODEL_COMMIT: the first failing status. */
tn_status ota_test_install(tn_ota* ota, const uint8_t* blob, size_t size,
                           uint8_t slot, uint32_t chunk);

#ifdef __cplusplus
}
#endif

#endif /* TESTS_DEVICE_OTA_OTA_FIXTURE_H_ */
