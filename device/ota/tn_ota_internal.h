/*
 * Private to the OTA room: the persisted record layer shared by the state
 * machine (tn_ota.c) and the boot code (tn_ota_boot.c). A record is
 *   magic (4) | format u8 (1) | generation u32le | body | CRC-32 u32le
 * with the CRC (the link's CRC-32) over everything before it. Each record
 * lives in two regions; a new generation is always written to the region
 * that does not hold the current one, so a torn or failed write leaves the
 * current record intact, and loading picks the valid copy with the newer
 * generation.
 */
#ifndef TN_OTA_TN_OTA_INTERNAL_H_
#define TN_OTA_TN_OTA_INTERNAL_H_

#include "ota/tn_ota.h"

#define TN_OTA_RECORD_FORMAT 1u
#define TN_OTA_RECORD_HEADER 9u /* magic, format, generation */
#define TN_OTA_RECORD_OVERHEAD (TN_OTA_RECORD_HEADER + 4u)

/* Body sizes of the three records. */
#define TN_OTA_SLOT_RECORD_SIZE 27u /* state, id, version, counter, reason */
#define TN_OTA_TABLE_FIXED 7u       /* floor, running, previous, count */
#define TN_OTA_TABLE_BODY(n) \
  (TN_OTA_TABLE_FIXED + TN_OTA_SLOT_RECORD_SIZE * (n))
/* state, id, size, sha, slot, committed; kind, base slot, delta state */
#define TN_OTA_TRANSFER_BODY 79u
#define TN_OTA_KEY_BODY TN_OTA_PUBLIC_KEY_SIZE

/* Names and magic of one double-buffered record. */
typedef struct tn_ota_record_kind {
  const char* region[2];
  uint8_t magic[4];
  /* An earlier body size of the same record format whose fields are a
   * prefix of the current body (0: none). A copy of that size loads as the
   * prefix followed by legacy_suffix, the values the added fields take in
   * such a record (docs/formats/ota.md, section 3). */
  uint16_t legacy_body_len;
  const uint8_t* legacy_suffix;
} tn_ota_record_kind;

extern const tn_ota_record_kind tn_ota_table_kind;
extern const tn_ota_record_kind tn_ota_transfer_kind;
extern const tn_ota_record_kind tn_ota_key_kind;

/* Loads the newest valid copy of `kind` whose body is exactly `body_len`
 * bytes (or kind->legacy_body_len, completed as described there) (at most
 * TN_OTA_RECORD_MAX - TN_OTA_RECORD_OVERHEAD) into `body`. Sets *found to 0
 * when there is no record yet -- neither region written, or only the first
 * write, cut short, in one of them -- (body untouched, *copy = 1 so that the
 * next store goes to region A), else to 1 with the generation and the region
 * index. Errors: TN_ERR_STORAGE (both copies damaged, or an intact copy of
 * another format or size), the storage's read errors. */
tn_status tn_ota_record_load(const tn_ota_storage* storage,
                             const tn_ota_record_kind* kind, uint8_t* body,
                             size_t body_len, int* found, uint32_t* generation,
                             uint8_t* copy);

/* Writes `body` as generation *generation + 1 into the region other than
 * *copy; on success updates both. Errors: the storage's write errors (the
 * current copy is then untouched). */
tn_status tn_ota_record_store(const tn_ota_storage* storage,
                              const tn_ota_record_kind* kind,
                              const uint8_t* body, size_t body_len,
                              uint32_t* generation, uint8_t* copy);

/* Record bodies <-> structs. The decoders check only what the layout needs
 * (counts); tn_ota_table_check judges the invariants. */
size_t tn_ota_table_encode(const tn_ota_table* t, uint8_t* body);
void tn_ota_table_decode(const uint8_t* body, uint8_t slot_count,
                         tn_ota_table* t);
void tn_ota_transfer_encode(const tn_ota_transfer* x, uint8_t* body);
void tn_ota_transfer_decode(const uint8_t* body, tn_ota_transfer* x);

/* 1 when `t` satisfies the slot table invariants (tn_ota.h) for
 * `slot_count` slots. */
int tn_ota_table_check(const tn_ota_table* t, uint8_t slot_count);

/* Persists `t` (a modified copy of ota->table) and adopts it on success;
 * counts the record. On failure ota->table is unchanged. */
tn_status tn_ota_store_table(tn_ota* ota, const tn_ota_table* t);
/* Same for the transfer record. */
tn_status tn_ota_store_transfer(tn_ota* ota, const tn_ota_transfer* x);

#endif /* TN_OTA_TN_OTA_INTERNAL_H_ */
