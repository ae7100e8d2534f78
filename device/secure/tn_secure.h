/*
 * Node security room: primitives that protect what a node stores and sends.
 * It offers a portable SHA-256 (FIPS 180-4), HMAC-SHA256 and HKDF-SHA256
 * (RFC 2104, RFC 5869), ECDSA P-256 verification of signed model blobs, and
 * sealed telemetry: AES-128-GCM records under a
 * per-device key agreed with the gateway by static P-256 ECDH and HKDF, a
 * record counter that never repeats across resets, and the gateway's side of
 * the same (key derivation, opening, a replay window).
 * docs/formats/telemetry.md is the normative description of the bytes.
 *
 * Hashing, HKDF, record layout, counters and the replay window are portable
 * C11 and run on every target. AES-GCM, P-256 arithmetic and ECDSA come from
 * a crypto port (tn_secure_port.h): mbedTLS on the host; a build without a
 * port (the bare rv32 build) answers TN_ERR_UNSUPPORTED for them, and
 * tn_secure_crypto_available() says which one is linked.
 *
 * No heap in this room's code, no OS, no global state: every struct lives in
 * caller memory and is not thread-safe; functions that take only const
 * structs may run concurrently on shared keys. (The mbedTLS host port lets
 * mbedTLS allocate internally; see tn_secure_port.h.)
 */
#ifndef TN_SECURE_TN_SECURE_H_
#define TN_SECURE_TN_SECURE_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TN_SHA256_DIGEST_SIZE 32u
#define TN_SHA256_BLOCK_SIZE 64u

/* Incremental SHA-256 state. Treat the fields as private. */
typedef struct tn_sha256_ctx {
  uint32_t state[8];
  uint64_t length;                     /* bytes absorbed so far */
  uint8_t block[TN_SHA256_BLOCK_SIZE]; /* pending partial block */
  uint32_t block_len;                  /* bytes pending in `block` */
} tn_sha256_ctx;

/* Starts a new hash. Returns TN_ERR_NULL when ctx is NULL. */
tn_status tn_sha256_init(tn_sha256_ctx* ctx);

/* Absorbs `size` bytes. `data` may be NULL only when size is 0. Fails with
 * TN_ERR_OVERFLOW once more than 2^61 - 1 bytes would have been hashed
 * (the limit of the 64-bit bit-length field); the context is then unusable
 * until the next init. */
tn_status tn_sha256_update(tn_sha256_ctx* ctx, const void* data, size_t size);

/* Pads, writes the 32-byte digest to `digest` and wipes the context. */
tn_status tn_sha256_final(tn_sha256_ctx* ctx,
                          uint8_t digest[TN_SHA256_DIGEST_SIZE]);

/* One-shot SHA-256 of `size` bytes at `data`. */
tn_status tn_sha256(const void* data, size_t size,
                    uint8_t digest[TN_SHA256_DIGEST_SIZE]);

/* ------------------------------------------------------------------------ */
/* HMAC-SHA256 and HKDF-SHA256 (portable)                                    */
/* ------------------------------------------------------------------------ */

#define TN_HMAC_SHA256_SIZE 32u
/* Longest HKDF-SHA256 output (RFC 5869: 255 blocks). */
#define TN_HKDF_SHA256_MAX_OKM (255u * TN_HMAC_SHA256_SIZE)

/* HMAC-SHA256 (RFC 2104) of `size` bytes under a key of any length. `key`
 * and `data` may be NULL only when their length is 0. Errors: TN_ERR_NULL. */
tn_status tn_hmac_sha256(const uint8_t* key, size_t key_len,
                         const uint8_t* data, size_t size,
                         uint8_t mac[TN_HMAC_SHA256_SIZE]);

/* HKDF-Extract: prk = HMAC-SHA256(salt, ikm). An empty salt stands for 32
 * zero bytes (RFC 5869, 2.2). Errors: TN_ERR_NULL. */
tn_status tn_hkdf_sha256_extract(const uint8_t* salt, size_t salt_len,
                                 const uint8_t* ikm, size_t ikm_len,
                                 uint8_t prk[TN_HMAC_SHA256_SIZE]);

/* HKDF-Expand: okm_len bytes (1..TN_HKDF_SHA256_MAX_OKM) from `prk` and
 * `info`. Errors: TN_ERR_NULL, TN_ERR_ARG for okm_len out of range. */
tn_status tn_hkdf_sha256_expand(const uint8_t prk[TN_HMAC_SHA256_SIZE],
                                const uint8_t* info, size_t info_len,
                                uint8_t* okm, size_t okm_len);

/* Extract then Expand. Errors as for the two steps. */
tn_status tn_hkdf_sha256(const uint8_t* salt, size_t salt_len,
                         const uint8_t* ikm, size_t ikm_len,
                         const uint8_t* info, size_t info_len, uint8_t* okm,
                         size_t okm_len);

/* Overwrites `size` bytes with zeros in a way the compiler keeps. */
void tn_secure_wipe(void* p, size_t size);

/* ------------------------------------------------------------------------ */
/* Storage and entropy the node supplies                                     */
/* ------------------------------------------------------------------------ */

/* Named non-volatile regions, the same contract as the virtual node's
 * tn_sim_storage: names of 1..15 characters [a-z0-9_], regions of at most
 * 128 bytes, whole-region writes that are all or nothing.
 * read: copies region `name` into buf (cap bytes) and sets *len; returns
 *   TN_ERR_NOT_FOUND when it was never written, TN_ERR_BUFFER_TOO_SMALL when
 *   it is larger than cap, TN_ERR_STORAGE on a device failure.
 * write: replaces region `name` with `len` bytes; TN_ERR_STORAGE on
 *   failure. */
typedef struct tn_secure_storage {
  void* ctx;
  tn_status (*read)(void* ctx, const char* name, uint8_t* buf, size_t cap,
                    size_t* len);
  tn_status (*write)(void* ctx, const char* name, const uint8_t* data,
                     size_t len);
} tn_secure_storage;

/* Fills `out` with `len` unpredictable bytes; TN_OK or an error. */
typedef tn_status (*tn_secure_entropy_fn)(void* ctx, uint8_t* out, size_t len);

/* Regions this room owns (see docs/formats/telemetry.md, section 6). */
#define TN_SEAL_COUNTER_REGION "tel_counter"
#define TN_SEAL_NODE_KEY_REGION "node_key"
#define TN_SEAL_KEY_REGION "tel_key"

/* ------------------------------------------------------------------------ */
/* P-256 keys (crypto port)                                                  */
/* ------------------------------------------------------------------------ */

/* 1 when this build links a crypto port (AES-GCM and P-256 work), 0 when
 * those functions answer TN_ERR_UNSUPPORTED. */
int tn_secure_crypto_available(void);

/* Private keys are 32-byte big-endian scalars in [1, n-1]; public keys are
 * 65-byte uncompressed points 0x04 || X || Y (SEC 1, 2.3.3). */
#define TN_P256_PRIVATE_KEY_SIZE 32u
#define TN_P256_PUBLIC_KEY_SIZE 65u

typedef struct tn_p256_keypair {
  uint8_t private_key[TN_P256_PRIVATE_KEY_SIZE];
  uint8_t public_key[TN_P256_PUBLIC_KEY_SIZE];
} tn_p256_keypair;

/* Creates a key pair from the entropy source: 32 bytes at a time, retried
 * (at most 16 draws) while they are not a valid scalar. Errors: TN_ERR_NULL,
 * TN_ERR_UNSUPPORTED (no port), the entropy source's error, TN_ERR_CRYPTO
 * (no valid scalar drawn, or a backend failure). */
tn_status tn_p256_keypair_generate(tn_secure_entropy_fn entropy, void* ctx,
                                   tn_p256_keypair* kp);

/* Computes the public key of `private_key`. Errors: TN_ERR_NULL,
 * TN_ERR_UNSUPPORTED, TN_ERR_KEY_INVALID (scalar 0 or >= n), TN_ERR_CRYPTO.
 */
tn_status tn_p256_public_key(
    const uint8_t private_key[TN_P256_PRIVATE_KEY_SIZE],
    uint8_t public_key[TN_P256_PUBLIC_KEY_SIZE]);

/* TN_OK when `public_key` is an uncompressed point on P-256 other than the
 * point at infinity. Errors: TN_ERR_NULL, TN_ERR_UNSUPPORTED,
 * TN_ERR_KEY_INVALID. */
tn_status tn_p256_check_public_key(
    const uint8_t public_key[TN_P256_PUBLIC_KEY_SIZE]);

/* ECDSA P-256 signature check (FIPS 186-4) of a 32-byte message hash, used
 * as it is (model blobs sign their SHA-256 digest this way, see
 * docs/formats/model-blob.md section 4.8). r and s are 32-byte big-endian
 * integers. TN_OK when the signature verifies under `public_key`.
 * Errors: TN_ERR_NULL, TN_ERR_AUTH (the signature does not verify, r or s
 * out of range included), TN_ERR_KEY_INVALID (the key is not a point on
 * P-256), TN_ERR_UNSUPPORTED (no crypto port), TN_ERR_CRYPTO. Thread-safe.
 */
tn_status tn_p256_ecdsa_verify(
    const uint8_t public_key[TN_P256_PUBLIC_KEY_SIZE],
    const uint8_t hash[TN_SHA256_DIGEST_SIZE], const uint8_t r[32],
    const uint8_t s[32]);

/* ------------------------------------------------------------------------ */
/* Sealed records                                                            */
/*                                                                           */
/* sealed = format u8 (1) | counter u64le | ciphertext | tag (16 bytes)       */
/* AES-128-GCM under the device key; nonce = nonce_salt (4) | counter u64be;  */
/* AAD = format | counter u64le | device_id_len u8 | device_id.               */
/* ------------------------------------------------------------------------ */

#define TN_SEAL_FORMAT 1u
#define TN_SEAL_HEADER_SIZE 9u /* format + counter */
#define TN_SEAL_TAG_SIZE 16u
#define TN_SEAL_OVERHEAD (TN_SEAL_HEADER_SIZE + TN_SEAL_TAG_SIZE)
/* A sealed record fills at most one link TELEMETRY payload's record field
 * (1024 - 6 bytes). */
#define TN_SEAL_MAX_SEALED 1018u
#define TN_SEAL_MAX_PLAINTEXT (TN_SEAL_MAX_SEALED - TN_SEAL_OVERHEAD)
#define TN_SEAL_SEALED_SIZE(plaintext_len) ((plaintext_len) + TN_SEAL_OVERHEAD)

#define TN_SEAL_KEY_SIZE 16u       /* AES-128 */
#define TN_SEAL_NONCE_SALT_SIZE 4u /* fixed part of the 12-byte nonce */
#define TN_SEAL_NONCE_SIZE 12u
#define TN_SEAL_KEY_ID_SIZE 8u /* SHA-256 prefix of the gateway key */
#define TN_SEAL_DEVICE_ID_MAX 32u

/* The device's sealing key: what HKDF derived, the device id bound into
 * every record, and which gateway key it was agreed with. */
typedef struct tn_seal_key {
  uint8_t aes_key[TN_SEAL_KEY_SIZE];
  uint8_t nonce_salt[TN_SEAL_NONCE_SALT_SIZE];
  uint8_t key_id[TN_SEAL_KEY_ID_SIZE]; /* tn_seal_key_id of the gateway key */
  uint8_t device_id_len;               /* 1..32 */
  uint8_t device_id[TN_SEAL_DEVICE_ID_MAX]; /* bytes past the length are 0 */
} tn_seal_key;

/* 1 when `id` is a valid device id: 1..32 bytes of printable ASCII without
 * space (0x21..0x7E), e.g. the gateway's "dev-" + 20 base32 characters. */
int tn_seal_device_id_ok(const uint8_t* id, size_t len);

/* key_id = the first 8 bytes of SHA-256 over the 65-byte public key.
 * Errors: TN_ERR_NULL. Portable (no port needed). */
tn_status tn_seal_key_id(const uint8_t public_key[TN_P256_PUBLIC_KEY_SIZE],
                         uint8_t key_id[TN_SEAL_KEY_ID_SIZE]);

/* The key schedule after ECDH (portable): OKM = HKDF-SHA256(
 *   salt = "tinyfleet telemetry salt v1", ikm = shared_secret (the 32-byte
 *   big-endian X coordinate of the ECDH point),
 *   info = "tinyfleet telemetry v1" || device_id, L = 20);
 * aes_key = OKM[0..16), nonce_salt = OKM[16..20). Sets aes_key, nonce_salt
 * and the device id of *key; key_id is left as it was. Errors: TN_ERR_NULL,
 * TN_ERR_ARG for an invalid device id. */
tn_status tn_seal_derive_key(const uint8_t shared_secret[32],
                             const uint8_t* device_id, size_t device_id_len,
                             tn_seal_key* key);

/* The node's side of the key agreement: ECDH(node private key, gateway
 * public key), then tn_seal_derive_key; key_id identifies the gateway key.
 * Errors: TN_ERR_NULL, TN_ERR_ARG (device id), TN_ERR_KEY_INVALID (gateway
 * key not a valid point, or node key not a valid scalar),
 * TN_ERR_UNSUPPORTED, TN_ERR_CRYPTO. */
tn_status tn_seal_derive_node_side(
    const uint8_t node_private_key[TN_P256_PRIVATE_KEY_SIZE],
    const uint8_t gateway_public_key[TN_P256_PUBLIC_KEY_SIZE],
    const uint8_t* device_id, size_t device_id_len, tn_seal_key* key);

/* The gateway's side: ECDH(gateway private key, node public key), then
 * tn_seal_derive_key; key_id is computed from the gateway's own public key,
 * so both sides hold identical tn_seal_key structs. Errors as for the node
 * side. Thread-safe (no shared state). */
tn_status tn_seal_derive_gateway_side(
    const uint8_t gateway_private_key[TN_P256_PRIVATE_KEY_SIZE],
    const uint8_t node_public_key[TN_P256_PUBLIC_KEY_SIZE],
    const uint8_t* device_id, size_t device_id_len, tn_seal_key* key);

/* Seals `size` bytes (1..TN_SEAL_MAX_PLAINTEXT) under `counter` (>= 1) into
 * `out`, TN_SEAL_SEALED_SIZE(size) bytes, and sets *out_len. `out` must not
 * overlap `plaintext`.
 * REQUIRES: a counter is used at most once per key -- nodes call
 * tn_sealer_seal, which takes counters from the persistent tn_seal_counter;
 * this function exists for tests and for code with its own counter store.
 * Errors: TN_ERR_NULL, TN_ERR_ARG (size or counter out of range, invalid
 * key), TN_ERR_BUFFER_TOO_SMALL, TN_ERR_UNSUPPORTED, TN_ERR_CRYPTO. */
tn_status tn_seal_record_with_counter(const tn_seal_key* key, uint64_t counter,
                                      const uint8_t* plaintext, size_t size,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len);

/* Reads the counter of a sealed record WITHOUT authenticating it (for
 * de-duplication or a window check before the work of opening). Errors:
 * TN_ERR_NULL, TN_ERR_MSG_MALFORMED (length outside
 * TN_SEAL_OVERHEAD+1..TN_SEAL_MAX_SEALED, format byte not 1, counter 0). */
tn_status tn_seal_peek_counter(const uint8_t* sealed, size_t size,
                               uint64_t* counter);

/* Verifies and decrypts a sealed record: on TN_OK, plaintext holds
 * *plaintext_len = size - TN_SEAL_OVERHEAD bytes and *counter the record's
 * authenticated counter. On any failure nothing of the plaintext is released
 * (the buffer is zeroed) and *plaintext_len is 0. Replay and staleness are
 * the caller's to judge (tn_seal_window). `plaintext` must not overlap
 * `sealed`. Errors: TN_ERR_NULL, TN_ERR_MSG_MALFORMED (as for
 * tn_seal_peek_counter), TN_ERR_BUFFER_TOO_SMALL, TN_ERR_ARG (invalid key),
 * TN_ERR_AUTH (tag mismatch: tampered ciphertext, tag, counter or format, or
 * another key or device id), TN_ERR_UNSUPPORTED, TN_ERR_CRYPTO.
 * Thread-safe on a shared key. */
tn_status tn_seal_open(const tn_seal_key* key, const uint8_t* sealed,
                       size_t size, uint8_t* plaintext, size_t cap,
                       size_t* plaintext_len, uint64_t* counter);

/* ------------------------------------------------------------------------ */
/* The record counter: monotonic across resets                               */
/* ------------------------------------------------------------------------ */

#define TN_SEAL_COUNTER_BLOCK_DEFAULT 64u
#define TN_SEAL_COUNTER_BLOCK_MAX 65536u

/* Counters are handed out from blocks reserved in storage: region
 * TN_SEAL_COUNTER_REGION holds `limit`, a value above every counter ever
 * handed out. Taking a counter at the end of the reserved block first
 * persists limit + block; a reset loses the unused rest of the block, and
 * no counter is ever handed out twice. The first counter is 1. Treat the
 * fields as private. */
typedef struct tn_seal_counter {
  tn_secure_storage storage;
  uint64_t next;  /* the counter tn_seal_counter_take hands out next */
  uint64_t limit; /* persisted: counters below it may have been used */
  uint32_t block; /* counters reserved per storage write */
} tn_seal_counter;

/* Loads the persisted limit (a fresh node starts at 1) and sets next to it;
 * nothing is written until the first take. A region that fails its check
 * is TN_ERR_STORAGE and is never replaced (that could reuse counters).
 * Errors: TN_ERR_NULL, TN_ERR_ARG (block 0 or above
 * TN_SEAL_COUNTER_BLOCK_MAX), TN_ERR_STORAGE, the storage's own errors. */
tn_status tn_seal_counter_open(tn_seal_counter* c,
                               const tn_secure_storage* storage,
                               uint32_t block);

/* Hands out the next counter, persisting a new block first when the
 * reserved one is used up. When that write fails nothing is handed out and
 * the error is returned (the next call tries again). Errors: TN_ERR_NULL,
 * TN_ERR_OVERFLOW (the 64-bit space is used up), storage errors. */
tn_status tn_seal_counter_take(tn_seal_counter* c, uint64_t* counter);

/* ------------------------------------------------------------------------ */
/* Replay window (gateway side)                                              */
/* ------------------------------------------------------------------------ */

#define TN_SEAL_WINDOW_SIZE 64u

/* The counters accepted from one device: `highest` (0 before the first) and
 * a bitmap of the 64 counters at and below it (bit i: highest - i was
 * accepted). Store both fields to resume after a restart. */
typedef struct tn_seal_window {
  uint64_t highest;
  uint64_t seen;
} tn_seal_window;

/* An empty window (nothing accepted yet). */
void tn_seal_window_init(tn_seal_window* w);

/* TN_OK when `counter` may be accepted: above `highest`, or within the 64
 * below it and not accepted before. TN_ERR_REPLAY for counter 0, a counter
 * already accepted, or one too old to tell (64 or more below highest).
 * TN_ERR_NULL for NULL. Does not change the window. */
tn_status tn_seal_window_check(const tn_seal_window* w, uint64_t counter);

/* Records `counter` as accepted; call only after tn_seal_open succeeded and
 * tn_seal_window_check said TN_OK, so a forged record never moves the
 * window. Errors: TN_ERR_NULL, TN_ERR_REPLAY (check would have refused). */
tn_status tn_seal_window_accept(tn_seal_window* w, uint64_t counter);

/* ------------------------------------------------------------------------ */
/* The node's sealing state                                                  */
/* ------------------------------------------------------------------------ */

/* Everything a node needs to seal: its P-256 key pair (created on the first
 * start and kept in TN_SEAL_NODE_KEY_REGION), the agreed key (kept in
 * TN_SEAL_KEY_REGION once the gateway's key was set), and the persistent
 * record counter. Fields are readable; change them only through the
 * functions below. */
typedef struct tn_sealer {
  tn_secure_storage storage;
  tn_p256_keypair node_key;
  uint8_t keyed;   /* 1 once a gateway key was set */
  tn_seal_key key; /* valid when keyed */
  tn_seal_counter counter;
} tn_sealer;

/* Loads or creates the node key pair (creation draws from `entropy`),
 * loads the agreed key if one is stored, and opens the counter with
 * `counter_block` (0 picks TN_SEAL_COUNTER_BLOCK_DEFAULT). A stored region
 * that fails its check is TN_ERR_STORAGE and is never replaced. Errors:
 * TN_ERR_NULL, TN_ERR_UNSUPPORTED (no crypto port; nothing is read or
 * written then), TN_ERR_ARG, TN_ERR_STORAGE, the storage's or entropy
 * source's errors, TN_ERR_CRYPTO. */
tn_status tn_sealer_open(tn_sealer* s, const tn_secure_storage* storage,
                         tn_secure_entropy_fn entropy, void* entropy_ctx,
                         uint32_t counter_block);

/* Agrees the sealing key with the gateway: ECDH with `gateway_public_key`,
 * HKDF bound to `device_id`, stored, then used for every later record.
 * Setting a key again (the same or another) replaces it; the record counter
 * is not affected. On failure the previous key stays in force. Errors:
 * TN_ERR_NULL, TN_ERR_ARG (device id), TN_ERR_KEY_INVALID (not a point on
 * P-256), TN_ERR_STORAGE and storage errors, TN_ERR_UNSUPPORTED,
 * TN_ERR_CRYPTO. */
tn_status tn_sealer_set_gateway_key(
    tn_sealer* s, const uint8_t gateway_public_key[TN_P256_PUBLIC_KEY_SIZE],
    const uint8_t* device_id, size_t device_id_len);

/* Takes the next counter and seals `size` bytes with it into `out` (see
 * tn_seal_record_with_counter); *counter receives the counter used. A
 * counter taken is never taken again, even when sealing then fails.
 * Errors: TN_ERR_NULL, TN_ERR_NO_KEY (no gateway key set yet), TN_ERR_ARG,
 * TN_ERR_BUFFER_TOO_SMALL (checked before a counter is taken), counter
 * errors, TN_ERR_UNSUPPORTED, TN_ERR_CRYPTO. */
tn_status tn_sealer_seal(tn_sealer* s, const uint8_t* plaintext, size_t size,
                         uint8_t* out, size_t cap, size_t* out_len,
                         uint64_t* counter);

#ifdef __cplusplus
}
#endif

#endif /* TN_SECURE_TN_SECURE_H_ */
