/*
 * The host crypto port over mbedTLS 2.28 (libmbedcrypto): AES-128-GCM
 * through mbedtls_gcm, and P-256 through mbedtls_ecp / mbedtls_ecdh /
 * mbedtls_ecdsa. Every
 * call sets up and frees its own contexts on the stack, so calls share no
 * state and may run concurrently. mbedTLS allocates internally here (its
 * cipher and bignum layers use calloc); that is a property of this host
 * port, documented in tn_secure_port.h. Scalar multiplications pass no RNG:
 * mbedTLS 2.28 then blinds them with an internal generator seeded from the
 * secret scalar, as its documentation describes.
 */
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>
#include <string.h>

#include "secure/tn_secure_port.h"

int tn_secure_port_available(void) { return 1; }

tn_status tn_secure_port_gcm_seal(const uint8_t key[16],
                                  const uint8_t nonce[12], const uint8_t* aad,
                                  size_t aad_len, const uint8_t* in,
                                  size_t size, uint8_t* out, uint8_t tag[16]) {
  mbedtls_gcm_context gcm;
  mbedtls_gcm_init(&gcm);
  int rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 128);
  if (rc == 0) {
    rc = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, size, nonce, 12,
                                   aad, aad_len, in, out, 16, tag);
  }
  mbedtls_gcm_free(&gcm);
  if (rc != 0) {
    if (size > 0) mbedtls_platform_zeroize(out, size);
    mbedtls_platform_zeroize(tag, 16);
    return TN_ERR_CRYPTO;
  }
  return TN_OK;
}

tn_status tn_secure_port_gcm_open(const uint8_t key[16],
                                  const uint8_t nonce[12], const uint8_t* aad,
                                  size_t aad_len, const uint8_t* in,
                                  size_t size, const uint8_t tag[16],
                                  uint8_t* out) {
  mbedtls_gcm_context gcm;
  mbedtls_gcm_init(&gcm);
  int rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 128);
  if (rc == 0) {
    /* Compares the tag in constant time and wipes `out` on mismatch. */
    rc = mbedtls_gcm_auth_decrypt(&gcm, size, nonce, 12, aad, aad_len, tag, 16,
                                  in, out);
  }
  mbedtls_gcm_free(&gcm);
  if (rc == 0) return TN_OK;
  if (size > 0) mbedtls_platform_zeroize(out, size);
  return rc == MBEDTLS_ERR_GCM_AUTH_FAILED ? TN_ERR_AUTH : TN_ERR_CRYPTO;
}

/* Loads P-256 and a private scalar, checking 1 <= d < n. */
static tn_status load_private(mbedtls_ecp_group* grp, mbedtls_mpi* d,
                              const uint8_t private_key[32]) {
  if (mbedtls_ecp_group_load(grp, MBEDTLS_ECP_DP_SECP256R1) != 0) {
    return TN_ERR_CRYPTO;
  }
  if (mbedtls_mpi_read_binary(d, private_key, 32) != 0) return TN_ERR_CRYPTO;
  if (mbedtls_ecp_check_privkey(grp, d) != 0) return TN_ERR_KEY_INVALID;
  return TN_OK;
}

/* Reads an uncompressed point and checks that it lies on the curve and is
 * not the point at infinity (so no small-subgroup or invalid-curve point
 * reaches a scalar multiplication). */
static tn_status load_public(const mbedtls_ecp_group* grp, mbedtls_ecp_point* q,
                             const uint8_t public_key[65]) {
  if (public_key[0] != 0x04) return TN_ERR_KEY_INVALID;
  if (mbedtls_ecp_point_read_binary(grp, q, public_key, 65) != 0) {
    return TN_ERR_KEY_INVALID;
  }
  if (mbedtls_ecp_check_pubkey(grp, q) != 0) return TN_ERR_KEY_INVALID;
  return TN_OK;
}

tn_status tn_secure_port_p256_public(const uint8_t private_key[32],
                                     uint8_t public_key[65]) {
  mbedtls_ecp_group grp;
  mbedtls_mpi d;
  mbedtls_ecp_point q;
  mbedtls_ecp_group_init(&grp);
  mbedtls_mpi_init(&d);
  mbedtls_ecp_point_init(&q);
  tn_status st = load_private(&grp, &d, private_key);
  if (st == TN_OK && mbedtls_ecp_mul(&grp, &q, &d, &grp.G, NULL, NULL) != 0) {
    st = TN_ERR_CRYPTO;
  }
  size_t olen = 0;
  if (st == TN_OK &&
      (mbedtls_ecp_point_write_binary(&grp, &q, MBEDTLS_ECP_PF_UNCOMPRESSED,
                                      &olen, public_key, 65) != 0 ||
       olen != 65)) {
    st = TN_ERR_CRYPTO;
  }
  mbedtls_ecp_point_free(&q);
  mbedtls_mpi_free(&d);
  mbedtls_ecp_group_free(&grp);
  if (st != TN_OK) mbedtls_platform_zeroize(public_key, 65);
  return st;
}

tn_status tn_secure_port_p256_check(const uint8_t public_key[65]) {
  mbedtls_ecp_group grp;
  mbedtls_ecp_point q;
  mbedtls_ecp_group_init(&grp);
  mbedtls_ecp_point_init(&q);
  tn_status st = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0
                     ? load_public(&grp, &q, public_key)
                     : TN_ERR_CRYPTO;
  mbedtls_ecp_point_free(&q);
  mbedtls_ecp_group_free(&grp);
  return st;
}

tn_status tn_secure_port_p256_ecdh(const uint8_t private_key[32],
                                   const uint8_t peer_public_key[65],
                                   uint8_t shared[32]) {
  mbedtls_ecp_group grp;
  mbedtls_mpi d;
  mbedtls_mpi z;
  mbedtls_ecp_point q;
  mbedtls_ecp_group_init(&grp);
  mbedtls_mpi_init(&d);
  mbedtls_mpi_init(&z);
  mbedtls_ecp_point_init(&q);
  tn_status st = load_private(&grp, &d, private_key);
  if (st == TN_OK) st = load_public(&grp, &q, peer_public_key);
  if (st == TN_OK &&
      mbedtls_ecdh_compute_shared(&grp, &z, &q, &d, NULL, NULL) != 0) {
    st = TN_ERR_CRYPTO;
  }
  if (st == TN_OK && mbedtls_mpi_write_binary(&z, shared, 32) != 0) {
    st = TN_ERR_CRYPTO;
  }
  mbedtls_ecp_point_free(&q);
  mbedtls_mpi_free(&z);
  mbedtls_mpi_free(&d);
  mbedtls_ecp_group_free(&grp);
  if (st != TN_OK) mbedtls_platform_zeroize(shared, 32);
  return st;
}

tn_status tn_secure_port_p256_verify(const uint8_t public_key[65],
                                     const uint8_t hash[32],
                                     const uint8_t r[32], const uint8_t s[32]) {
  mbedtls_ecp_group grp;
  mbedtls_ecp_point q;
  mbedtls_mpi mr;
  mbedtls_mpi ms;
  mbedtls_ecp_group_init(&grp);
  mbedtls_ecp_point_init(&q);
  mbedtls_mpi_init(&mr);
  mbedtls_mpi_init(&ms);
  tn_status st = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0
                     ? load_public(&grp, &q, public_key)
                     : TN_ERR_CRYPTO;
  if (st == TN_OK && (mbedtls_mpi_read_binary(&mr, r, 32) != 0 ||
                      mbedtls_mpi_read_binary(&ms, s, 32) != 0)) {
    st = TN_ERR_CRYPTO;
  }
  if (st == TN_OK) {
    /* Checks 1 <= r, s < n itself and answers VERIFY_FAILED otherwise. */
    int rc = mbedtls_ecdsa_verify(&grp, hash, 32, &q, &mr, &ms);
    if (rc == MBEDTLS_ERR_ECP_VERIFY_FAILED) {
      st = TN_ERR_AUTH;
    } else if (rc != 0) {
      st = TN_ERR_CRYPTO;
    }
  }
  mbedtls_mpi_free(&ms);
  mbedtls_mpi_free(&mr);
  mbedtls_ecp_point_free(&q);
  mbedtls_ecp_group_free(&grp);
  return st;
}
