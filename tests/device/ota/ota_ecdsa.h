/*
 * Host-only test helper: ECDSA P-256 signing with mbedTLS the way the
 * gateway's model compiler signs blobs (deterministic ECDSA over the blob
 * digest used as the message hash, key id = first 8 bytes of SHA-256 of the
 * uncompressed public point, r || s as 32-byte big-endian integers).
 */
#ifndef TESTS_DEVICE_OTA_OTA_ECDSA_H_
#define TESTS_DEVICE_OTA_OTA_ECDSA_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ota_signer {
  uint8_t private_key[32];
  uint8_t public_key[65];
} ota_signer;

/* A fixed key pair derived from `seed` (public key through the crypto
 * port). */
tn_status ota_signer_init(ota_signer* s, uint8_t seed);

/* r || s of a deterministic signature of the 32-byte `hash`. */
tn_status ota_signer_sign_hash(const ota_signer* s, const uint8_t hash[32],
                               uint8_t r[32], uint8_t sig_s[32]);

/* Signs a blob built with a reserved signature section. */
tn_status ota_signer_sign_blob(const ota_signer* s, uint8_t* blob, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* TESTS_DEVICE_OTA_OTA_ECDSA_H_ */
