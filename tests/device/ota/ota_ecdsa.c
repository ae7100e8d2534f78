/* Implementation of the host-only signing helper (see ota_ecdsa.h). */
#include "ota_ecdsa.h"

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <string.h>

#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"

tn_status ota_signer_init(ota_signer* s, uint8_t seed) {
  for (int i = 0; i < 32; ++i) s->private_key[i] = (uint8_t)(seed + i * 3);
  s->private_key[0] = 0x3F; /* well below the group order */
  return tn_p256_public_key(s->private_key, s->public_key);
}

/* Blinding randomness for mbedTLS; deterministic is fine in a test. */
static int test_rng(void* ctx, unsigned char* out, size_t len) {
  uint32_t* state = (uint32_t*)ctx;
  for (size_t i = 0; i < len; ++i) {
    *state = *state * 1103515245u + 12345u;
    out[i] = (unsigned char)(*state >> 16);
  }
  return 0;
}

tn_status ota_signer_sign_hash(const ota_signer* s, const uint8_t hash[32],
                               uint8_t r[32], uint8_t sig_s[32]) {
  mbedtls_ecp_group grp;
  mbedtls_mpi d, mr, ms;
  mbedtls_ecp_group_init(&grp);
  mbedtls_mpi_init(&d);
  mbedtls_mpi_init(&mr);
  mbedtls_mpi_init(&ms);
  uint32_t rng_state = 7;
  int rc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
  if (rc == 0) rc = mbedtls_mpi_read_binary(&d, s->private_key, 32);
  if (rc == 0) {
    rc = mbedtls_ecdsa_sign_det_ext(&grp, &mr, &ms, &d, hash, 32,
                                    MBEDTLS_MD_SHA256, test_rng, &rng_state);
  }
  if (rc == 0) rc = mbedtls_mpi_write_binary(&mr, r, 32);
  if (rc == 0) rc = mbedtls_mpi_write_binary(&ms, sig_s, 32);
  mbedtls_mpi_free(&ms);
  mbedtls_mpi_free(&mr);
  mbedtls_mpi_free(&d);
  mbedtls_ecp_group_free(&grp);
  return rc == 0 ? TN_OK : TN_ERR_CRYPTO;
}

tn_status ota_signer_sign_blob(const ota_signer* s, uint8_t* blob,
                               size_t size) {
  tn_blob b;
  tn_status st = tn_blob_parse(blob, size, NULL, &b);
  if (st != TN_OK) return st;
  uint8_t id[32], r[32], ss[32];
  st = tn_sha256(s->public_key, sizeof(s->public_key), id);
  if (st == TN_OK) st = ota_signer_sign_hash(s, b.digest, r, ss);
  if (st != TN_OK) return st;
  tn_blob_signature sig = {TN_SIGNATURE_ALG_ECDSA_P256, id, r, ss};
  return tn_blob_set_signature(blob, size, &sig);
}
