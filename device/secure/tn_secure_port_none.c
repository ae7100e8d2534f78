/*
 * The empty crypto port, linked when the build has no crypto library (the
 * bare rv32 build): it says so through tn_secure_port_available() and
 * answers every primitive with TN_ERR_UNSUPPORTED, so that the portable
 * parts of the room (hashing, HKDF, record layout, counters, replay window)
 * still build and run everywhere. A firmware port replaces this file.
 */
#include <string.h>

#include "secure/tn_secure_port.h"

int tn_secure_port_available(void) { return 0; }

tn_status tn_secure_port_gcm_seal(const uint8_t key[16],
                                  const uint8_t nonce[12], const uint8_t* aad,
                                  size_t aad_len, const uint8_t* in,
                                  size_t size, uint8_t* out, uint8_t tag[16]) {
  (void)key;
  (void)nonce;
  (void)aad;
  (void)aad_len;
  (void)in;
  if (size > 0) memset(out, 0, size);
  memset(tag, 0, 16);
  return TN_ERR_UNSUPPORTED;
}

tn_status tn_secure_port_gcm_open(const uint8_t key[16],
                                  const uint8_t nonce[12], const uint8_t* aad,
                                  size_t aad_len, const uint8_t* in,
                                  size_t size, const uint8_t tag[16],
                                  uint8_t* out) {
  (void)key;
  (void)nonce;
  (void)aad;
  (void)aad_len;
  (void)in;
  (void)tag;
  if (size > 0) memset(out, 0, size);
  return TN_ERR_UNSUPPORTED;
}

tn_status tn_secure_port_p256_public(const uint8_t private_key[32],
                                     uint8_t public_key[65]) {
  (void)private_key;
  memset(public_key, 0, 65);
  return TN_ERR_UNSUPPORTED;
}

tn_status tn_secure_port_p256_check(const uint8_t public_key[65]) {
  (void)public_key;
  return TN_ERR_UNSUPPORTED;
}

tn_status tn_secure_port_p256_ecdh(const uint8_t private_key[32],
                                   const uint8_t peer_public_key[65],
                                   uint8_t shared[32]) {
  (void)private_key;
  (void)peer_public_key;
  memset(shared, 0, 32);
  return TN_ERR_UNSUPPORTED;
}

tn_status tn_secure_port_p256_verify(const uint8_t public_key[65],
                                     const uint8_t hash[32],
                                     const uint8_t r[32], const uint8_t s[32]) {
  (void)public_key;
  (void)hash;
  (void)r;
  (void)s;
  return TN_ERR_UNSUPPORTED;
}
