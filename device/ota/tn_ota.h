/*
 * Model updates on the node: A/B model slots in non-volatile memory, the
 * resumable chunked transfer of a model blob into the inactive slot, its
 * verification (SHA-256 of what was written, the runtime's blob parser with
 * the node's target profile, an ECDSA P-256 signature by the gateway's
 * model-signing key and the anti-rollback floor), activation on trial with
 * the blob's canary self-test, confirmation, automatic revert and rollback.
 * docs/formats/ota.md is the normative description of the slot layout, the
 * persisted records, the transfer and boot rules and the status codes; the
 * link messages are in docs/formats/link-protocol.md.
 *
 * Two interfaces connect the room to the hardware: the slot flash (byte
 * regions of non-volatile memory, one per slot, read / written / erased at
 * an offset) and the node's named-region storage (small records). Every
 * state change is persisted before it takes effect, as a new record written
 * next to the previous one (two copies per record, the newer valid one
 * wins), so a reset at any point leaves either the old or the new state,
 * never a half-written slot table.
 *
 * Portable C11, no heap, no OS: every buffer belongs to the caller. A tn_ota
 * is not thread-safe. The file-backed slot flash at the end is for host
 * builds only (ISO C stdio).
 */
#ifndef TN_OTA_TN_OTA_H_
#define TN_OTA_TN_OTA_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"
#include "link/tn_link.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Limits                                                                    */
/* ------------------------------------------------------------------------ */

#define TN_OTA_MIN_SLOTS 2u
#define TN_OTA_MAX_SLOTS 4u /* = TN_LINK_MAX_SLOTS */
#define TN_OTA_NO_SLOT 0xFFu
#define TN_OTA_ARTIFACT_ID_SIZE 16u
#define TN_OTA_MODEL_ID_SIZE 16u
#define TN_OTA_SHA256_SIZE 32u
#define TN_OTA_PUBLIC_KEY_SIZE 65u /* 0x04 || X || Y, P-256 uncompressed */
#define TN_OTA_KEY_ID_SIZE 8u      /* SHA-256 prefix of the public key */
/* Slot size of a GAP9 node: 2 MB of non-volatile memory as two slots. */
#define TN_OTA_GAP9_SLOT_SIZE (1024u * 1024u)

/* Named regions this room owns in the node storage (two copies each). */
#define TN_OTA_TABLE_REGION_A "ota_table_a"
#define TN_OTA_TABLE_REGION_B "ota_table_b"
#define TN_OTA_TRANSFER_REGION_A "ota_xfer_a"
#define TN_OTA_TRANSFER_REGION_B "ota_xfer_b"
#define TN_OTA_KEY_REGION_A "ota_key_a"
#define TN_OTA_KEY_REGION_B "ota_key_b"
/* Largest record this room writes (the storage contract allows 128). */
#define TN_OTA_RECORD_MAX 128u

/* ------------------------------------------------------------------------ */
/* Interfaces the node supplies                                              */
/* ------------------------------------------------------------------------ */

/* Named non-volatile regions: the contract of the virtual node's
 * tn_sim_storage and of tn_secure_storage (names of 1..15 characters
 * [a-z0-9_], regions of at most 128 bytes).
 * read: copies region `name` into buf (cap bytes) and sets *len; returns
 *   TN_ERR_NOT_FOUND when it was never written, TN_ERR_BUFFER_TOO_SMALL
 *   when it is larger than cap, TN_ERR_STORAGE on a device failure.
 * write: replaces region `name` with `len` bytes; TN_ERR_STORAGE on
 *   failure. This room does not rely on writes being all or nothing: it
 *   alternates between two regions per record and checks each copy. */
typedef struct tn_ota_storage {
  void* ctx;
  tn_status (*read)(void* ctx, const char* name, uint8_t* buf, size_t cap,
                    size_t* len);
  tn_status (*write)(void* ctx, const char* name, const uint8_t* data,
                     size_t len);
} tn_ota_storage;

/* Slot flash: `slot_count` regions of `slot_size` bytes of non-volatile
 * memory. Offsets and lengths passed by this room always satisfy
 * offset + len <= slot_size and slot < slot_count.
 * read:  copies len bytes at `offset` of `slot` into buf.
 * write: programs len bytes at `offset`. With erase_size 0 (MRAM, files)
 *   any byte may be written at any time. With erase_size > 0 (NOR flash) a
 *   write may only clear bits, so bytes are written once after an erase;
 *   writing the same value again is harmless.
 * erase: (required when erase_size > 0) sets [offset, offset + len) to
 *   0xFF; offset and len are multiples of erase_size.
 * map:   (optional) the slot's bytes readable in place (memory-mapped), or
 *   NULL; when absent the room copies a blob into the blob buffer.
 * read, write and erase return TN_OK or TN_ERR_STORAGE. */
typedef struct tn_ota_flash {
  void* ctx;
  uint8_t slot_count;  /* TN_OTA_MIN_SLOTS..TN_OTA_MAX_SLOTS */
  uint32_t slot_size;  /* bytes per slot, > 0 */
  uint32_t erase_size; /* erase unit in bytes, dividing slot_size; 0: none */
  tn_status (*read)(void* ctx, uint8_t slot, uint32_t offset, uint8_t* buf,
                    uint32_t len);
  tn_status (*write)(void* ctx, uint8_t slot, uint32_t offset,
                     const uint8_t* data, uint32_t len);
  tn_status (*erase)(void* ctx, uint8_t slot, uint32_t offset, uint32_t len);
  const uint8_t* (*map)(void* ctx, uint8_t slot);
} tn_ota_flash;

/* Signature checks. Both functions NULL (the default) use the crypto port
 * of device/secure: tn_p256_check_public_key and tn_p256_ecdsa_verify, so
 * a build without a port cannot take a model key or verify a signature
 * (TN_ERR_UNSUPPORTED). Builds and tests may supply both functions instead.
 * check_key: TN_OK when `key` (65 bytes, byte 0 is 0x04) is usable, else
 *   TN_ERR_KEY_INVALID (or TN_ERR_UNSUPPORTED / TN_ERR_CRYPTO).
 * verify: TN_OK when (r, s) is a valid signature of the 32-byte `digest`
 *   under `key`; TN_ERR_BLOB_SIGNATURE (or TN_ERR_AUTH) when it is not;
 *   TN_ERR_UNSUPPORTED / TN_ERR_CRYPTO when it cannot tell. */
typedef struct tn_ota_verifier {
  void* ctx;
  tn_status (*check_key)(void* ctx, const uint8_t key[TN_OTA_PUBLIC_KEY_SIZE]);
  tn_status (*verify)(void* ctx, const uint8_t key[TN_OTA_PUBLIC_KEY_SIZE],
                      const uint8_t digest[32], const uint8_t r[32],
                      const uint8_t s[32]);
} tn_ota_verifier;

/* ------------------------------------------------------------------------ */
/* Deltas (docs/formats/ota.md, section 9)                                   */
/* ------------------------------------------------------------------------ */

/* A delta rebuilds a result blob from the blob the node runs (its base):
 * a 192-byte header naming base and result, then operations, each a 12-byte
 * op header (kind u8, source u8, reserved u16, offset u32le, length u32le)
 * that writes the next `length` bytes of the result:
 *   COPY     from base region `source` at `offset` (no payload);
 *   LITERAL  the `length` payload bytes that follow (source, offset 0);
 *   PATCH    base region `source` at `offset` XOR a masked payload: per
 *            group of 8 result bytes (fewer at the end) a mask byte whose
 *            bit i says that a payload byte for group byte i follows (else
 *            the base byte is kept).
 * Base regions: TN_OTA_DELTA_HEAD is the base's bytes before its first
 * section (header, section table, padding); i < section_count is section i
 * of the base up to the next section's offset (or the base's total_size). */
#define TN_OTA_DELTA_MAGIC 0x4C444E54u /* bytes "TNDL" read as u32 LE */
#define TN_OTA_DELTA_VERSION 1u
#define TN_OTA_DELTA_HEADER_SIZE 192u
#define TN_OTA_DELTA_OP_SIZE 12u
#define TN_OTA_DELTA_SIGNATURE_SIZE 80u /* the SIGNATURE section's payload */
#define TN_OTA_DELTA_FLAG_SIGNED 0x1u   /* the result is signed */
/* Offset of the result's SHA-256 in the header: what MODEL_BEGIN_DELTA
 * carries as its sha256. */
#define TN_OTA_DELTA_RESULT_SHA256_OFFSET 80u
#define TN_OTA_DELTA_HEAD 0xFFu /* base region: before the first section */
#define TN_OTA_DELTA_COPY 1u
#define TN_OTA_DELTA_LITERAL 2u
#define TN_OTA_DELTA_PATCH 3u

/* The delta header. */
typedef struct tn_ota_delta_header {
  uint32_t result_size;      /* bytes of the result blob, >= 96 */
  uint16_t target;           /* the result's target (tn_target) */
  uint16_t flags;            /* TN_OTA_DELTA_FLAG_* */
  uint8_t base_digest[32];   /* the base blob's digest (model-blob.md 6) */
  uint8_t result_digest[32]; /* the result blob's digest */
  uint8_t result_sha256[32]; /* SHA-256 of the result's bytes */
  /* The result's SIGNATURE section payload when SIGNED, else zero. */
  uint8_t signature[TN_OTA_DELTA_SIGNATURE_SIZE];
} tn_ota_delta_header;

/* Decodes and checks a delta header (the first TN_OTA_DELTA_HEADER_SIZE
 * bytes of `data`): magic, version, header size, flags, a result of at
 * least a blob header, a zero signature when unsigned. Pure; reads only
 * `data`. Errors: TN_ERR_NULL, TN_ERR_OTA_DELTA. */
tn_status tn_ota_delta_header_parse(const uint8_t* data, size_t size,
                                    tn_ota_delta_header* h);

/* The decoder's position in a delta: everything a resumed transfer needs
 * besides the base and the bytes not yet received. */
typedef struct tn_ota_delta_state {
  uint32_t result_size; /* 0 until the header was accepted */
  uint32_t written;     /* result bytes written */
  uint8_t op;           /* operation in progress: 0, LITERAL or PATCH */
  uint8_t mask;         /* PATCH: mask of the current group */
  uint8_t bit;          /* PATCH: next group byte (0..7), 8: mask next */
  uint32_t op_left;     /* result bytes the operation still writes */
  uint32_t op_src;      /* base offset the PATCH reads next */
} tn_ota_delta_state;

/* A streaming delta decoder: the state plus an operation header or delta
 * header received only in part (held here until complete). */
typedef struct tn_ota_delta_decoder {
  tn_ota_delta_state s;
  uint16_t hold_len;
  uint8_t hold[TN_OTA_DELTA_HEADER_SIZE];
} tn_ota_delta_decoder;

/* Where a decoder reads the base and writes the result. `base_size` bounds
 * every base read. on_header may refuse a header (its status is returned by
 * tn_ota_delta_feed). read_base / write return TN_OK or TN_ERR_STORAGE. */
typedef struct tn_ota_delta_io {
  void* ctx;
  uint32_t base_size;
  tn_status (*on_header)(void* ctx, const tn_ota_delta_header* h);
  tn_status (*read_base)(void* ctx, uint32_t offset, uint8_t* buf,
                         uint32_t len);
  tn_status (*write)(void* ctx, uint32_t offset, const uint8_t* data,
                     uint32_t len);
} tn_ota_delta_io;

/* Starts a decoder at the beginning of a delta. */
void tn_ota_delta_decoder_init(tn_ota_delta_decoder* d);

/* Consumes `len` delta bytes: result bytes are written in order, each
 * exactly once from the decoder's position on, through io->write; base
 * bytes are read through io->read_base (region bounds come from the base's
 * own header and section table). Loops are bounded by len and the result
 * size. Errors: TN_ERR_NULL, TN_ERR_OTA_DELTA (an operation that does not
 * decode, names a missing base region or range, or runs past the result),
 * on_header's refusals, TN_ERR_STORAGE (io). After an error the decoder is
 * in an unspecified state: restore a copy taken before the call. */
tn_status tn_ota_delta_feed(tn_ota_delta_decoder* d, const tn_ota_delta_io* io,
                            const uint8_t* data, uint32_t len);

/* TN_OK when the decoder stands at the end of a complete result (header
 * accepted, no operation open or held, every result byte written), else
 * TN_ERR_OTA_DELTA. */
tn_status tn_ota_delta_done(const tn_ota_delta_decoder* d);

/* Applies a whole delta in memory: `base` (base_size bytes) into `out`
 * (cap bytes), *out_size = the result size. Checks the base digest
 * (TN_ERR_OTA_BASE), the result size against cap (TN_ERR_BUFFER_TOO_SMALL),
 * completeness (TN_ERR_OTA_DELTA) and the result's SHA-256
 * (TN_ERR_BLOB_CHECKSUM). It does not verify the result blob. */
tn_status tn_ota_delta_apply(const uint8_t* base, size_t base_size,
                             const uint8_t* delta, size_t delta_size,
                             uint8_t* out, size_t cap, size_t* out_size);

/* Builds the delta that turns blob `base` into blob `result` (both must
 * pass tn_blob_parse; the result should be signed already, since its
 * signature is part of the delta). Each section of the result is matched
 * with the base section of the same type (the head with the base's head)
 * and sent as a COPY when equal, else as COPY of the common prefix and
 * suffix around a PATCH (same sizes, when smaller) or a LITERAL; sections
 * without a match are LITERAL. Deterministic. Errors: TN_ERR_NULL, the
 * parser's statuses for either blob, TN_ERR_BUFFER_TOO_SMALL. */
tn_status tn_ota_delta_build(const uint8_t* base, size_t base_size,
                             const uint8_t* result, size_t result_size,
                             uint8_t* out, size_t cap, size_t* out_len);

/* ------------------------------------------------------------------------ */
/* Configuration and state                                                   */
/* ------------------------------------------------------------------------ */

typedef struct tn_ota_config {
  /* The node's target profile; blobs for another target are refused
   * (TN_ERR_BLOB_TARGET). Required: HOST, GAP8 or GAP9. */
  tn_target target;
  tn_ota_storage storage; /* required; copied */
  tn_ota_flash flash;     /* required; copied */
  /* Holds one whole blob while it is verified (MODEL_COMMIT) and run
   * (ACTIVATE) when the flash has no `map`; a blob larger than this is
   * refused at MODEL_BEGIN (TN_ERR_OTA_SIZE). May be NULL with a mappable
   * flash. Used only inside tn_ota_commit and tn_ota_activate, so nodes
   * that are never handled concurrently may share one buffer. */
  uint8_t* blob_buffer;
  uint32_t blob_buffer_size;
  /* Model arena for the self-test (tn_model_init; 8-byte aligned). A blob
   * whose model needs more is refused at MODEL_COMMIT
   * (TN_ERR_MEMORY_BUDGET). Required. Shareable like blob_buffer. */
  void* arena;
  uint32_t arena_size;
  /* Transfer progress is persisted once at least this many bytes arrived
   * since the last record, and always at the last byte. Default (0): after
   * every chunk, so a reset costs at most one chunk of re-sent bytes. */
  uint32_t progress_interval;
  /* 0 (default): every blob must carry a signature that verifies under the
   * model key (TN_ERR_BLOB_SIGNATURE otherwise). 1: development nodes also
   * accept unsigned blobs (signed ones are still verified). */
  uint8_t accept_unsigned;
  /* 0 (default): a blob without a CANARY section cannot be self-tested and
   * is refused at MODEL_COMMIT (TN_ERR_SELFTEST). 1: it activates without a
   * self-test. */
  uint8_t allow_no_canary;
  tn_ota_verifier verifier; /* default (zeroed): the crypto port */
} tn_ota_config;

/* Sets every field to its default (storage, flash and buffers empty). */
void tn_ota_config_init(tn_ota_config* cfg);

/* One slot of the persisted slot table. */
typedef struct tn_ota_slot {
  uint8_t state; /* tn_link_slot_state: EMPTY, VALID, ACTIVE,
                    PENDING_CONFIRM, FAILED */
  uint8_t model_id[TN_OTA_MODEL_ID_SIZE]; /* zero when EMPTY */
  uint32_t model_version;                 /* 0 when EMPTY */
  uint32_t rollback_counter;              /* 0 when EMPTY */
  uint16_t reason; /* tn_status that failed the slot, 0 unless FAILED */
} tn_ota_slot;

/* The slot table (persisted as one record). Invariants: at most one slot is
 * ACTIVE or PENDING_CONFIRM and `running` names it (else NO_SLOT);
 * `previous` is NO_SLOT or a VALID slot other than `running`: the fallback
 * of a trial and the target of ROLLBACK. */
typedef struct tn_ota_table {
  uint32_t generation; /* record generation; private */
  uint32_t rollback_floor;
  uint8_t running;
  uint8_t previous;
  uint8_t slot_count;
  tn_ota_slot slots[TN_OTA_MAX_SLOTS];
} tn_ota_table;

/* The transfer record. NONE: nothing recorded. RECEIVING: bytes
 * [0, committed) of the artifact are in slot `slot`, which is EMPTY in the
 * table. COMMITTED: the artifact was verified into `slot` (kept so that a
 * repeated MODEL_BEGIN or MODEL_COMMIT of it is answered without work). */
#define TN_OTA_TRANSFER_NONE TN_LINK_TRANSFER_NONE
#define TN_OTA_TRANSFER_RECEIVING TN_LINK_TRANSFER_RECEIVING
#define TN_OTA_TRANSFER_COMMITTED TN_LINK_TRANSFER_COMMITTED
/* What a transfer carries: a whole blob (MODEL_BEGIN) or a delta against
 * the running blob (MODEL_BEGIN_DELTA). */
#define TN_OTA_KIND_BLOB 0u
#define TN_OTA_KIND_DELTA 1u
typedef struct tn_ota_transfer {
  uint32_t generation; /* private */
  uint8_t state;       /* TN_OTA_TRANSFER_* */
  uint8_t artifact_id[TN_OTA_ARTIFACT_ID_SIZE];
  uint32_t total_size;
  uint8_t sha256[TN_OTA_SHA256_SIZE];
  uint8_t slot;
  uint32_t committed; /* bytes persisted as received */
  uint8_t kind;       /* TN_OTA_KIND_* */
  /* Delta transfers: the slot the delta reads its base from, set when its
   * header was accepted (else TN_OTA_NO_SLOT), and the decoder's state at
   * `committed` (all zero for blobs). */
  uint8_t base_slot;
  tn_ota_delta_state delta;
} tn_ota_transfer;

/* The trusted model-signing key (persisted). */
typedef struct tn_ota_trust {
  uint32_t generation; /* private */
  uint8_t set;         /* 1 once a key was stored */
  uint8_t public_key[TN_OTA_PUBLIC_KEY_SIZE];
  uint8_t key_id[TN_OTA_KEY_ID_SIZE]; /* SHA-256 prefix of public_key */
} tn_ota_trust;

typedef struct tn_ota_stats {
  uint32_t chunks_written;  /* chunks that wrote new bytes */
  uint32_t chunks_repeated; /* chunks entirely below the received offset */
  uint32_t chunks_refused;  /* chunks answered with an error */
  uint32_t bytes_written;   /* artifact bytes written to the slot flash */
  uint32_t records_written; /* records persisted (all three kinds) */
  uint32_t commits;         /* artifacts verified and stored */
  uint32_t commits_refused; /* MODEL_COMMIT verdicts against the blob */
  uint32_t activations;     /* trials started that passed the self-test */
  uint32_t reverts;         /* trials reverted (self-test or boot rule) */
  uint32_t last_error;      /* last status other than TN_OK returned */
} tn_ota_stats;

/* The room's state. Fields are readable; change them only through the
 * functions below. */
typedef struct tn_ota {
  tn_ota_config cfg;
  tn_ota_table table;
  tn_ota_transfer transfer;
  uint32_t received; /* bytes of the transfer received (>= committed) */
  /* Delta transfers: the decoder at `received` (may run ahead of the
   * transfer record's state, like `received` of `committed`). */
  tn_ota_delta_decoder delta;
  uint8_t delta_base; /* the slot the delta reads, or TN_OTA_NO_SLOT */
  tn_ota_trust trust;
  uint8_t table_copy;    /* region (0: A, 1: B) holding the current table */
  uint8_t transfer_copy; /* same for the transfer record */
  uint8_t trust_copy;    /* same for the key record */
  uint8_t booted_revert; /* tn_ota_open reverted a trial */
  tn_ota_stats stats;
} tn_ota;

/* ------------------------------------------------------------------------ */
/* Boot                                                                      */
/* ------------------------------------------------------------------------ */

/* Loads the slot table, the transfer record and the model key from storage
 * (a fresh node starts with every slot EMPTY, floor 0, no transfer, no key)
 * and applies the boot rules (docs/formats/ota.md, section 6):
 *   - a slot still PENDING_CONFIRM was on trial when the node reset: it is
 *     marked FAILED with reason TN_ERR_OTA_TRIAL_RESET and the previous slot
 *     runs again (ACTIVE), or none when there was none;
 *   - a RECEIVING transfer whose slot is not EMPTY, or a COMMITTED one whose
 *     slot is EMPTY, is dropped;
 *   - a RECEIVING transfer resumes at its persisted offset.
 * A record whose both copies are damaged, or that breaks an invariant, is
 * TN_ERR_STORAGE and is never replaced silently.
 * Errors: TN_ERR_NULL, TN_ERR_ARG (bad configuration: target, slot count or
 * size, erase size, missing functions or buffers), TN_ERR_STORAGE and the
 * storage's own errors. */
tn_status tn_ota_open(tn_ota* ota, const tn_ota_config* cfg);

/* ------------------------------------------------------------------------ */
/* Transfer                                                                  */
/* ------------------------------------------------------------------------ */

/* Starts, resumes or confirms a transfer into `m->target_slot`:
 *   - the same artifact (id, size, SHA-256, slot) is RECEIVING: kept, to be
 *     resumed at its received offset;
 *   - it is COMMITTED and its slot still holds it: nothing to do;
 *   - otherwise a new transfer: the slot is marked EMPTY (persisted) and the
 *     transfer recorded at offset 0.
 * Errors: TN_ERR_SLOT (slot out of range, running, or the fallback of a
 * trial), TN_ERR_OTA_SIZE (zero, larger than the slot, or larger than the
 * blob buffer of an unmappable flash), storage errors. */
tn_status tn_ota_begin(tn_ota* ota, const tn_link_model_begin* m);

/* MODEL_BEGIN_DELTA: as tn_ota_begin, for a delta of `m->total_size` bytes
 * against the running blob; `m->sha256` is the SHA-256 of the RESULT blob.
 * The chunks are decoded as they arrive and the result is written into the
 * target slot (docs/formats/ota.md, section 9); MODEL_COMMIT verifies the
 * result exactly as a whole blob. Errors: as tn_ota_begin, TN_ERR_OTA_BASE
 * (no model runs), TN_ERR_OTA_SIZE (shorter than a delta header or longer
 * than twice the slot). */
tn_status tn_ota_begin_delta(tn_ota* ota, const tn_link_model_begin* m);

/* Stores `len` bytes at `offset` of the artifact being received:
 *   - offset + len <= received: a repeat, acknowledged without a write;
 *   - offset <= received < offset + len: the bytes from `received` on are
 *     written (erasing each erase unit that starts among them first);
 *   - offset > received: a gap, TN_ERR_OTA_OFFSET.
 * Progress is persisted per cfg.progress_interval.
 * Errors: TN_ERR_NULL, TN_ERR_ARG (len 0), TN_ERR_STATE (no transfer is
 * receiving), TN_ERR_OTA_OFFSET (gap, or past total_size), TN_ERR_STORAGE
 * (flash or record write; the received offset is then unchanged). A delta
 * transfer decodes the bytes as they arrive; a delta that does not decode,
 * whose base is not the running blob or whose header is refused ends the
 * transfer with the slot FAILED and that status as the reason
 * (TN_ERR_OTA_DELTA, TN_ERR_OTA_BASE, TN_ERR_OTA_SIZE, TN_ERR_BLOB_TARGET,
 * TN_ERR_BLOB_SIGNATURE). */
tn_status tn_ota_chunk(tn_ota* ota, uint32_t offset, const uint8_t* data,
                       uint32_t len);

/* Verifies the received artifact and stores it as a VALID slot, in this
 * order: every byte received (TN_ERR_OTA_INCOMPLETE), SHA-256 of the slot
 * bytes equal to MODEL_BEGIN's (TN_ERR_BLOB_CHECKSUM), the blob parser with
 * this node's target (TN_ERR_BLOB_TARGET and the other blob statuses), the
 * signature under the model key (TN_ERR_BLOB_SIGNATURE: unsigned, bad
 * signature, another key, or no key set), the anti-rollback floor
 * (TN_ERR_ROLLBACK), the blob's contents (TN_ERR_BLOB_*), no bytes after
 * the blob (TN_ERR_BLOB_BOUNDS), a canary (TN_ERR_SELFTEST) and the model
 * arena (TN_ERR_MEMORY_BUDGET). A verdict against the blob marks the slot
 * FAILED with that reason and ends the transfer. Two failures leave the
 * transfer complete so that MODEL_COMMIT can be sent again: a signed blob while
 * no model key is set (TN_ERR_BLOB_SIGNATURE: set the key, then commit), and
 * storage or crypto-backend errors. Committing the artifact that is already
 * COMMITTED answers TN_OK. Errors besides the verdicts: TN_ERR_NULL,
 * TN_ERR_NOT_FOUND (no transfer of this artifact id). */
tn_status tn_ota_commit(tn_ota* ota,
                        const uint8_t artifact_id[TN_OTA_ARTIFACT_ID_SIZE]);

/* ------------------------------------------------------------------------ */
/* Slots                                                                     */
/* ------------------------------------------------------------------------ */

/* Boots `slot` on trial: persists it as PENDING_CONFIRM with the running
 * slot as its fallback (`previous`), then loads its blob (parser with the
 * node's target; the digest is checked again, the signature was checked at
 * commit), binds a tn_model over the slot bytes and runs the canary
 * self-test. On success the slot stays PENDING_CONFIRM until tn_ota_confirm.
 * On failure the node reverts by itself: the slot becomes FAILED with the
 * reason, the fallback runs again, a COMMITTED transfer record of the slot
 * is dropped, and the reason is returned (TN_ERR_SELFTEST for a canary
 * mismatch). Activating the running slot is
 * TN_OK without change.
 * Errors: TN_ERR_SLOT (out of range, not VALID, or another slot is on
 * trial), TN_ERR_ROLLBACK (the slot's counter is below the floor), the
 * verdicts above, storage errors. */
tn_status tn_ota_activate(tn_ota* ota, uint8_t slot);

/* Keeps the trial slot: ACTIVE, and the anti-rollback floor raised to its
 * counter, in one record. The previous slot stays VALID as the ROLLBACK
 * target. Confirming the ACTIVE slot is TN_OK without change.
 * Errors: TN_ERR_SLOT (not the running slot), storage errors. */
tn_status tn_ota_confirm(tn_ota* ota, uint8_t slot);

/* Abandons the running `slot` (on trial or confirmed) for the previous one:
 * the previous slot becomes ACTIVE, `slot` stays VALID and becomes the new
 * previous one. Errors: TN_ERR_SLOT (`slot` is not running, or there is no
 * previous VALID slot), TN_ERR_ROLLBACK (the previous slot's counter is
 * below the floor: a version the floor revoked never runs again), storage
 * errors. */
tn_status tn_ota_rollback(tn_ota* ota, uint8_t slot);

/* ------------------------------------------------------------------------ */
/* Trust                                                                     */
/* ------------------------------------------------------------------------ */

/* Installs (or replaces) the gateway's model-signing public key after the
 * verifier's check_key, persisted before it is used. Blobs already
 * committed are not checked again. Errors: TN_ERR_NULL, TN_ERR_KEY_INVALID,
 * TN_ERR_UNSUPPORTED (no crypto port and no verifier), storage errors; on
 * failure the previous key stays in force. */
tn_status tn_ota_set_model_key(tn_ota* ota,
                               const uint8_t key[TN_OTA_PUBLIC_KEY_SIZE]);

/* ------------------------------------------------------------------------ */
/* Reports and the link                                                      */
/* ------------------------------------------------------------------------ */

/* The slot table as the HELLO reply carries it (slot_count entries). */
void tn_ota_link_slots(const tn_ota* ota, tn_link_slot* slots,
                       uint8_t* slot_count);

/* The MODEL_STATUS_REPLY of the current state. Its committed_offset is,
 * for a receiving transfer, the received offset (every byte below it is in
 * the slot; after a reset it restarts at the persisted progress): where
 * the agent continues. */
void tn_ota_status(const tn_ota* ota, tn_link_model_status_reply* out);

/* 1 for the request types tn_ota_handle serves: MODEL_BEGIN,
 * MODEL_BEGIN_DELTA, MODEL_CHUNK,
 * MODEL_COMMIT, MODEL_STATUS, ACTIVATE, CONFIRM, ROLLBACK, SET_MODEL_KEY. */
int tn_ota_handles(uint8_t type);

/* Executes one request payload of a type tn_ota_handles. On TN_OK,
 * *reply_type is 0 (answer ACK) or the typed reply (MODEL_STATUS_REPLY)
 * whose payload was written to `reply` (cap >= 70 bytes, *reply_len set).
 * Any other status is the NACK code: TN_ERR_MSG_MALFORMED for a payload
 * that does not decode, TN_ERR_MSG_TYPE for a type this room does not
 * serve, or the status of the operation above. */
tn_status tn_ota_handle(tn_ota* ota, uint8_t type, const uint8_t* payload,
                        size_t size, uint8_t* reply_type, uint8_t* reply,
                        size_t cap, size_t* reply_len);

/* ------------------------------------------------------------------------ */
/* Slot flash implementations                                                */
/* ------------------------------------------------------------------------ */

/* In-memory slot flash over caller memory of slot_count * slot_size bytes
 * (tests and simulations). With erase_size > 0 it behaves like NOR flash:
 * erase sets bytes to 0xFF and a write ANDs the new bytes into the old ones,
 * so a missing erase shows up as corrupted data. Mappable. */
typedef struct tn_ota_mem_flash {
  uint8_t* data;
  uint8_t slot_count;
  uint32_t slot_size;
  uint32_t erase_size;
  uint32_t writes; /* write calls, for tests */
  uint32_t erases; /* erase calls, for tests */
} tn_ota_mem_flash;

/* REQUIRES: `data` holds slot_count * slot_size bytes; it is set to 0xFF.
 * Errors: TN_ERR_NULL, TN_ERR_ARG (counts or sizes out of range). */
tn_status tn_ota_mem_flash_init(tn_ota_mem_flash* mem, uint8_t* data,
                                uint8_t slot_count, uint32_t slot_size,
                                uint32_t erase_size);

/* The flash interface over `mem` (borrowed). */
tn_ota_flash tn_ota_mem_flash_interface(tn_ota_mem_flash* mem);

/* File-backed slot flash (host builds only): slot i is the file
 * <dir>/slot<i>.bin, grown as it is written; bytes never written read as
 * 0xFF. Writes are flushed to the operating system before they return, so
 * a killed process keeps them. No erase needed (erase_size 0), not
 * mappable. */
#define TN_OTA_PATH_MAX 512u
typedef struct tn_ota_file_flash {
  char dir[TN_OTA_PATH_MAX];
  uint8_t slot_count;
  uint32_t slot_size;
} tn_ota_file_flash;

/* REQUIRES: `dir` exists. Errors: TN_ERR_NULL, TN_ERR_ARG (empty or too
 * long a path, counts or sizes out of range). */
tn_status tn_ota_file_flash_init(tn_ota_file_flash* ff, const char* dir,
                                 uint8_t slot_count, uint32_t slot_size);

/* The flash interface over `ff` (borrowed). */
tn_ota_flash tn_ota_file_flash_interface(tn_ota_file_flash* ff);

#ifdef __cplusplus
}
#endif

#endif /* TN_OTA_TN_OTA_H_ */
