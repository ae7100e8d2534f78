/*
 * The crypto port of the security room: the few primitives sealed telemetry
 * and signed model blobs need from a crypto library -- AES-128-GCM with a
 * 96-bit nonce and a 128-bit tag, P-256 scalar multiplication (public key
 * from private key, point validation, ECDH) and ECDSA P-256 signature
 * verification. Everything else (HKDF, record layout, counters) is portable
 * code in this room built on these six functions.
 *
 * Exactly one implementation is linked into tn_secure:
 *   tn_secure_port_mbedtls.c  host builds, mbedTLS 2.28 (libmbedcrypto);
 *   tn_secure_port_none.c     builds without a crypto library (the bare
 *                             rv32 build): every function answers
 *                             TN_ERR_UNSUPPORTED;
 * and a GAP SDK port supplies its own file with the same contract (for
 * example over the SoC's AES engine and a P-256 library).
 *
 * Contract common to all functions: no global mutable state (safe to call
 * from several threads at once), no output released on failure, and no
 * allocation required of the caller. Heap use inside the library is a
 * property of the port: Debian's mbedTLS is built without
 * MBEDTLS_PLATFORM_MEMORY, so its cipher layer (GCM) and its bignum code
 * (ECP) allocate with the C library's calloc internally on the host; a
 * firmware port must not.
 */
#ifndef TN_SECURE_TN_SECURE_PORT_H_
#define TN_SECURE_TN_SECURE_PORT_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this port implements the functions below, 0 for the empty port. */
int tn_secure_port_available(void);

/* AES-128-GCM encryption: out[0..size) = ciphertext of in[0..size), tag =
 * the 16-byte tag over aad and ciphertext. `in` and `out` do not overlap;
 * aad and in may be NULL when their sizes are 0.
 * Errors: TN_ERR_UNSUPPORTED, TN_ERR_CRYPTO. */
tn_status tn_secure_port_gcm_seal(const uint8_t key[16],
                                  const uint8_t nonce[12], const uint8_t* aad,
                                  size_t aad_len, const uint8_t* in,
                                  size_t size, uint8_t* out, uint8_t tag[16]);

/* AES-128-GCM decryption with tag verification in constant time. On
 * TN_ERR_AUTH (tag mismatch) or any other failure out[0..size) is zeroed.
 * Errors: TN_ERR_AUTH, TN_ERR_UNSUPPORTED, TN_ERR_CRYPTO. */
tn_status tn_secure_port_gcm_open(const uint8_t key[16],
                                  const uint8_t nonce[12], const uint8_t* aad,
                                  size_t aad_len, const uint8_t* in,
                                  size_t size, const uint8_t tag[16],
                                  uint8_t* out);

/* public_key = private_key * G, uncompressed (0x04 || X || Y).
 * Errors: TN_ERR_KEY_INVALID (scalar 0 or >= n), TN_ERR_UNSUPPORTED,
 * TN_ERR_CRYPTO. */
tn_status tn_secure_port_p256_public(const uint8_t private_key[32],
                                     uint8_t public_key[65]);

/* TN_OK when public_key is an uncompressed encoding of a point on P-256
 * (not the point at infinity). Errors: TN_ERR_KEY_INVALID,
 * TN_ERR_UNSUPPORTED, TN_ERR_CRYPTO. */
tn_status tn_secure_port_p256_check(const uint8_t public_key[65]);

/* ECDH: shared = X coordinate (32 bytes, big-endian) of
 * private_key * peer_public_key, after validating the peer's point.
 * Errors: TN_ERR_KEY_INVALID (peer point invalid, or scalar 0 or >= n),
 * TN_ERR_UNSUPPORTED, TN_ERR_CRYPTO. `shared` is zeroed on failure. */
tn_status tn_secure_port_p256_ecdh(const uint8_t private_key[32],
                                   const uint8_t peer_public_key[65],
                                   uint8_t shared[32]);

/* ECDSA P-256 verification (FIPS 186-4): TN_OK when (r, s), two 32-byte
 * big-endian integers, is a valid signature of the 32-byte message hash
 * `hash` (used as it is: no further hashing) under `public_key`, an
 * uncompressed point that is validated first. r or s outside [1, n-1] is an
 * invalid signature, not an error.
 * Errors: TN_ERR_AUTH (the signature does not verify), TN_ERR_KEY_INVALID
 * (the key is not a point on P-256), TN_ERR_UNSUPPORTED, TN_ERR_CRYPTO. */
tn_status tn_secure_port_p256_verify(const uint8_t public_key[65],
                                     const uint8_t hash[32],
                                     const uint8_t r[32], const uint8_t s[32]);

#ifdef __cplusplus
}
#endif

#endif /* TN_SECURE_TN_SECURE_PORT_H_ */
