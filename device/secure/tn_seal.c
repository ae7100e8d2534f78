/*
 * Sealed records and the key agreement behind them: P-256 key helpers over
 * the crypto port, the HKDF key schedule that turns an ECDH secret and a
 * device id into an AES-128 key and a nonce salt, the sealed-record layout
 * (format | counter | ciphertext | tag) with its nonce and associated data,
 * and the gateway's replay window. Layout, nonce, AAD and key schedule are
 * specified in docs/formats/telemetry.md; this file is their one
 * implementation, shared by node and gateway.
 */
#include <string.h>

#include "secure/tn_secure.h"
#include "secure/tn_secure_port.h"

/* Key schedule labels (ASCII, no terminating NUL). */
static const char kHkdfSalt[] = "tinyfleet telemetry salt v1";
static const char kHkdfInfo[] = "tinyfleet telemetry v1";
#define HKDF_SALT_LEN (sizeof(kHkdfSalt) - 1u)
#define HKDF_INFO_LEN (sizeof(kHkdfInfo) - 1u)
#define OKM_LEN (TN_SEAL_KEY_SIZE + TN_SEAL_NONCE_SALT_SIZE)

/* Largest associated data: header, device id length, device id. */
#define AAD_MAX (TN_SEAL_HEADER_SIZE + 1u + TN_SEAL_DEVICE_ID_MAX)

/* Attempts at drawing a private scalar; for P-256 a uniform 256-bit value is
 * out of range with probability below 2^-32, so 16 failures in a row mean a
 * broken entropy source. */
#define KEYGEN_ATTEMPTS 16

int tn_secure_crypto_available(void) { return tn_secure_port_available(); }

/* ---- P-256 keys ---------------------------------------------------------- */

tn_status tn_p256_keypair_generate(tn_secure_entropy_fn entropy, void* ctx,
                                   tn_p256_keypair* kp) {
  if (entropy == NULL || kp == NULL) return TN_ERR_NULL;
  memset(kp, 0, sizeof(*kp));
  if (!tn_secure_port_available()) return TN_ERR_UNSUPPORTED;
  for (int attempt = 0; attempt < KEYGEN_ATTEMPTS; ++attempt) {
    tn_status st = entropy(ctx, kp->private_key, TN_P256_PRIVATE_KEY_SIZE);
    if (st != TN_OK) {
      tn_secure_wipe(kp, sizeof(*kp));
      return st;
    }
    st = tn_secure_port_p256_public(kp->private_key, kp->public_key);
    if (st == TN_OK) return TN_OK;
    if (st != TN_ERR_KEY_INVALID) {
      tn_secure_wipe(kp, sizeof(*kp));
      return st;
    }
  }
  tn_secure_wipe(kp, sizeof(*kp));
  return TN_ERR_CRYPTO;
}

tn_status tn_p256_public_key(
    const uint8_t private_key[TN_P256_PRIVATE_KEY_SIZE],
    uint8_t public_key[TN_P256_PUBLIC_KEY_SIZE]) {
  if (private_key == NULL || public_key == NULL) return TN_ERR_NULL;
  return tn_secure_port_p256_public(private_key, public_key);
}

tn_status tn_p256_check_public_key(
    const uint8_t public_key[TN_P256_PUBLIC_KEY_SIZE]) {
  if (public_key == NULL) return TN_ERR_NULL;
  return tn_secure_port_p256_check(public_key);
}

/* ---- Key schedule -------------------------------------------------------- */

int tn_seal_device_id_ok(const uint8_t* id, size_t len) {
  if (id == NULL || len == 0 || len > TN_SEAL_DEVICE_ID_MAX) return 0;
  for (size_t i = 0; i < len; ++i) {
    if (id[i] < 0x21 || id[i] > 0x7E) return 0;
  }
  return 1;
}

/* A key is usable when its device id obeys the rules (and the bytes past it
 * are zero, so that equal keys compare equal). */
static int key_ok(const tn_seal_key* key) {
  if (!tn_seal_device_id_ok(key->device_id, key->device_id_len)) return 0;
  for (size_t i = key->device_id_len; i < TN_SEAL_DEVICE_ID_MAX; ++i) {
    if (key->device_id[i] != 0) return 0;
  }
  return 1;
}

tn_status tn_seal_key_id(const uint8_t public_key[TN_P256_PUBLIC_KEY_SIZE],
                         uint8_t key_id[TN_SEAL_KEY_ID_SIZE]) {
  if (public_key == NULL || key_id == NULL) return TN_ERR_NULL;
  uint8_t digest[TN_SHA256_DIGEST_SIZE];
  tn_status st = tn_sha256(public_key, TN_P256_PUBLIC_KEY_SIZE, digest);
  if (st != TN_OK) return st;
  memcpy(key_id, digest, TN_SEAL_KEY_ID_SIZE);
  return TN_OK;
}

tn_status tn_seal_derive_key(const uint8_t shared_secret[32],
                             const uint8_t* device_id, size_t device_id_len,
                             tn_seal_key* key) {
  if (shared_secret == NULL || device_id == NULL || key == NULL) {
    return TN_ERR_NULL;
  }
  if (!tn_seal_device_id_ok(device_id, device_id_len)) return TN_ERR_ARG;
  uint8_t info[HKDF_INFO_LEN + TN_SEAL_DEVICE_ID_MAX];
  memcpy(info, kHkdfInfo, HKDF_INFO_LEN);
  memcpy(info + HKDF_INFO_LEN, device_id, device_id_len);
  uint8_t okm[OKM_LEN];
  tn_status st =
      tn_hkdf_sha256((const uint8_t*)kHkdfSalt, HKDF_SALT_LEN, shared_secret,
                     32, info, HKDF_INFO_LEN + device_id_len, okm, OKM_LEN);
  if (st == TN_OK) {
    memcpy(key->aes_key, okm, TN_SEAL_KEY_SIZE);
    memcpy(key->nonce_salt, okm + TN_SEAL_KEY_SIZE, TN_SEAL_NONCE_SALT_SIZE);
    memset(key->device_id, 0, sizeof(key->device_id));
    memcpy(key->device_id, device_id, device_id_len);
    key->device_id_len = (uint8_t)device_id_len;
  }
  tn_secure_wipe(okm, sizeof(okm));
  return st;
}

/* ECDH, then the key schedule; `own_private` with `peer_public`. */
static tn_status derive(const uint8_t own_private[TN_P256_PRIVATE_KEY_SIZE],
                        const uint8_t peer_public[TN_P256_PUBLIC_KEY_SIZE],
                        const uint8_t* device_id, size_t device_id_len,
                        tn_seal_key* key) {
  if (!tn_seal_device_id_ok(device_id, device_id_len)) return TN_ERR_ARG;
  uint8_t shared[32];
  tn_status st = tn_secure_port_p256_ecdh(own_private, peer_public, shared);
  if (st == TN_OK) {
    st = tn_seal_derive_key(shared, device_id, device_id_len, key);
  }
  tn_secure_wipe(shared, sizeof(shared));
  return st;
}

tn_status tn_seal_derive_node_side(
    const uint8_t node_private_key[TN_P256_PRIVATE_KEY_SIZE],
    const uint8_t gateway_public_key[TN_P256_PUBLIC_KEY_SIZE],
    const uint8_t* device_id, size_t device_id_len, tn_seal_key* key) {
  if (node_private_key == NULL || gateway_public_key == NULL ||
      device_id == NULL || key == NULL) {
    return TN_ERR_NULL;
  }
  tn_seal_key k;
  memset(&k, 0, sizeof(k));
  tn_status st = derive(node_private_key, gateway_public_key, device_id,
                        device_id_len, &k);
  if (st == TN_OK) st = tn_seal_key_id(gateway_public_key, k.key_id);
  if (st == TN_OK) *key = k;
  tn_secure_wipe(&k, sizeof(k));
  return st;
}

tn_status tn_seal_derive_gateway_side(
    const uint8_t gateway_private_key[TN_P256_PRIVATE_KEY_SIZE],
    const uint8_t node_public_key[TN_P256_PUBLIC_KEY_SIZE],
    const uint8_t* device_id, size_t device_id_len, tn_seal_key* key) {
  if (gateway_private_key == NULL || node_public_key == NULL ||
      device_id == NULL || key == NULL) {
    return TN_ERR_NULL;
  }
  tn_seal_key k;
  memset(&k, 0, sizeof(k));
  tn_status st = derive(gateway_private_key, node_public_key, device_id,
                        device_id_len, &k);
  uint8_t gateway_public[TN_P256_PUBLIC_KEY_SIZE];
  if (st == TN_OK) {
    st = tn_secure_port_p256_public(gateway_private_key, gateway_public);
  }
  if (st == TN_OK) st = tn_seal_key_id(gateway_public, k.key_id);
  if (st == TN_OK) *key = k;
  tn_secure_wipe(&k, sizeof(k));
  return st;
}

/* ---- Sealed records ------------------------------------------------------ */

/* nonce = nonce_salt | counter as 8 big-endian bytes. */
static void make_nonce(const tn_seal_key* key, uint64_t counter,
                       uint8_t nonce[TN_SEAL_NONCE_SIZE]) {
  memcpy(nonce, key->nonce_salt, TN_SEAL_NONCE_SALT_SIZE);
  for (int i = 0; i < 8; ++i) {
    nonce[TN_SEAL_NONCE_SALT_SIZE + i] = (uint8_t)(counter >> (56 - 8 * i));
  }
}

/* AAD = header (format | counter u64le) | device_id_len | device_id.
 * Returns its length. */
static size_t make_aad(const tn_seal_key* key,
                       const uint8_t header[TN_SEAL_HEADER_SIZE],
                       uint8_t aad[AAD_MAX]) {
  memcpy(aad, header, TN_SEAL_HEADER_SIZE);
  aad[TN_SEAL_HEADER_SIZE] = key->device_id_len;
  memcpy(aad + TN_SEAL_HEADER_SIZE + 1, key->device_id, key->device_id_len);
  return TN_SEAL_HEADER_SIZE + 1u + key->device_id_len;
}

tn_status tn_seal_record_with_counter(const tn_seal_key* key, uint64_t counter,
                                      const uint8_t* plaintext, size_t size,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len) {
  if (key == NULL || plaintext == NULL || out == NULL || out_len == NULL) {
    return TN_ERR_NULL;
  }
  if (!key_ok(key) || counter == 0 || size == 0 ||
      size > TN_SEAL_MAX_PLAINTEXT) {
    return TN_ERR_ARG;
  }
  size_t total = TN_SEAL_SEALED_SIZE(size);
  if (cap < total) return TN_ERR_BUFFER_TOO_SMALL;
  out[0] = (uint8_t)TN_SEAL_FORMAT;
  tn_store_u64le(out + 1, counter);
  uint8_t nonce[TN_SEAL_NONCE_SIZE];
  uint8_t aad[AAD_MAX];
  make_nonce(key, counter, nonce);
  size_t aad_len = make_aad(key, out, aad);
  tn_status st = tn_secure_port_gcm_seal(
      key->aes_key, nonce, aad, aad_len, plaintext, size,
      out + TN_SEAL_HEADER_SIZE, out + TN_SEAL_HEADER_SIZE + size);
  if (st != TN_OK) {
    memset(out, 0, total);
    return st;
  }
  *out_len = total;
  return TN_OK;
}

tn_status tn_seal_peek_counter(const uint8_t* sealed, size_t size,
                               uint64_t* counter) {
  if (sealed == NULL || counter == NULL) return TN_ERR_NULL;
  *counter = 0;
  if (size < TN_SEAL_OVERHEAD + 1u || size > TN_SEAL_MAX_SEALED) {
    return TN_ERR_MSG_MALFORMED;
  }
  if (sealed[0] != TN_SEAL_FORMAT) return TN_ERR_MSG_MALFORMED;
  uint64_t c = tn_load_u64le(sealed + 1);
  if (c == 0) return TN_ERR_MSG_MALFORMED;
  *counter = c;
  return TN_OK;
}

tn_status tn_seal_open(const tn_seal_key* key, const uint8_t* sealed,
                       size_t size, uint8_t* plaintext, size_t cap,
                       size_t* plaintext_len, uint64_t* counter) {
  if (plaintext_len != NULL) *plaintext_len = 0;
  if (counter != NULL) *counter = 0;
  if (key == NULL || sealed == NULL || plaintext == NULL ||
      plaintext_len == NULL || counter == NULL) {
    return TN_ERR_NULL;
  }
  uint64_t c = 0;
  tn_status st = tn_seal_peek_counter(sealed, size, &c);
  if (st != TN_OK) return st;
  size_t n = size - TN_SEAL_OVERHEAD;
  if (cap < n) return TN_ERR_BUFFER_TOO_SMALL;
  if (!key_ok(key)) return TN_ERR_ARG;
  uint8_t nonce[TN_SEAL_NONCE_SIZE];
  uint8_t aad[AAD_MAX];
  make_nonce(key, c, nonce);
  size_t aad_len = make_aad(key, sealed, aad);
  st = tn_secure_port_gcm_open(key->aes_key, nonce, aad, aad_len,
                               sealed + TN_SEAL_HEADER_SIZE, n,
                               sealed + TN_SEAL_HEADER_SIZE + n, plaintext);
  if (st != TN_OK) {
    tn_secure_wipe(plaintext, n);
    return st;
  }
  *plaintext_len = n;
  *counter = c;
  return TN_OK;
}

/* ---- Replay window ------------------------------------------------------- */

void tn_seal_window_init(tn_seal_window* w) {
  if (w == NULL) return;
  w->highest = 0;
  w->seen = 0;
}

tn_status tn_seal_window_check(const tn_seal_window* w, uint64_t counter) {
  if (w == NULL) return TN_ERR_NULL;
  if (counter == 0) return TN_ERR_REPLAY;
  if (counter > w->highest) return TN_OK;
  uint64_t behind = w->highest - counter;
  if (behind >= TN_SEAL_WINDOW_SIZE) return TN_ERR_REPLAY;
  return (w->seen >> behind) & 1u ? TN_ERR_REPLAY : TN_OK;
}

tn_status tn_seal_window_accept(tn_seal_window* w, uint64_t counter) {
  tn_status st = tn_seal_window_check(w, counter);
  if (st != TN_OK) return st;
  if (counter > w->highest) {
    uint64_t ahead = counter - w->highest;
    w->seen = ahead >= TN_SEAL_WINDOW_SIZE ? 0 : w->seen << ahead;
    w->seen |= 1u;
    w->highest = counter;
  } else {
    w->seen |= (uint64_t)1u << (w->highest - counter);
  }
  return TN_OK;
}
