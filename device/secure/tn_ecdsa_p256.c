/*
 * ECDSA P-256 signature verification over the crypto port: the check a node
 * applies to signed model blobs (the signature covers the blob's SHA-256
 * digest, which is the ECDSA message hash as it is). The arithmetic is the
 * port's; this file only checks arguments.
 */
#include "secure/tn_secure.h"
#include "secure/tn_secure_port.h"

tn_status tn_p256_ecdsa_verify(
    const uint8_t public_key[TN_P256_PUBLIC_KEY_SIZE],
    const uint8_t hash[TN_SHA256_DIGEST_SIZE], const uint8_t r[32],
    const uint8_t s[32]) {
  if (public_key == NULL || hash == NULL || r == NULL || s == NULL) {
    return TN_ERR_NULL;
  }
  return tn_secure_port_p256_verify(public_key, hash, r, s);
}
