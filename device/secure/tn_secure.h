/*
 * Node security room: primitives that protect what a node stores and sends.
 * At present it offers a portable SHA-256 (FIPS 180-4), used to check the
 * integrity of model blobs and later as the hash under signatures and
 * sealed records. Portable C11, no heap, no OS; a context is owned by its
 * caller and is not thread-safe.
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

#ifdef __cplusplus
}
#endif

#endif /* TN_SECURE_TN_SECURE_H_ */
