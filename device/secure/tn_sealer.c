/*
 * The node's persistent sealing state: the record counter handed out in
 * blocks reserved in storage, the node's P-256 key pair created on the first
 * start, and the key agreed with the gateway. Each lives in its own storage
 * region as a small record -- a 4-byte magic, a format byte, the fields,
 * and the first 4 bytes of SHA-256 over everything before them -- so a torn
 * or foreign region is detected and refused, never silently replaced: a
 * replaced counter could repeat a nonce, a replaced key would cut the node
 * off from its gateway.
 */
#include <string.h>

#include "secure/tn_secure.h"
#include "secure/tn_secure_port.h"

#define REGION_FORMAT 1u
#define REGION_HEAD 5u  /* magic + format */
#define REGION_CHECK 4u /* SHA-256 prefix */
#define REGION_CAP 128u /* largest region of the storage contract */

static const uint8_t kCounterMagic[4] = {'T', 'N', 'S', 'C'};
static const uint8_t kNodeKeyMagic[4] = {'T', 'N', 'N', 'K'};
static const uint8_t kSealKeyMagic[4] = {'T', 'N', 'T', 'K'};

#define COUNTER_BODY 8u /* limit u64le */
#define NODE_KEY_BODY (TN_P256_PRIVATE_KEY_SIZE + TN_P256_PUBLIC_KEY_SIZE)
#define SEAL_KEY_BODY                                                      \
  (TN_SEAL_KEY_SIZE + TN_SEAL_NONCE_SALT_SIZE + TN_SEAL_KEY_ID_SIZE + 1u + \
   TN_SEAL_DEVICE_ID_MAX)
#define REGION_SIZE(body) (REGION_HEAD + (body) + REGION_CHECK)

_Static_assert(REGION_SIZE(NODE_KEY_BODY) <= REGION_CAP, "node key region");
_Static_assert(REGION_SIZE(SEAL_KEY_BODY) <= REGION_CAP, "seal key region");

/* ---- region records ------------------------------------------------------ */

/* Writes magic, format, the body and the check into rec and stores it. */
static tn_status region_write(const tn_secure_storage* s, const char* name,
                              const uint8_t magic[4], const uint8_t* body,
                              size_t body_len) {
  uint8_t rec[REGION_CAP];
  uint8_t digest[TN_SHA256_DIGEST_SIZE];
  size_t n = REGION_SIZE(body_len);
  memcpy(rec, magic, 4);
  rec[4] = REGION_FORMAT;
  memcpy(rec + REGION_HEAD, body, body_len);
  tn_status st = tn_sha256(rec, REGION_HEAD + body_len, digest);
  if (st == TN_OK) {
    memcpy(rec + REGION_HEAD + body_len, digest, REGION_CHECK);
    st = s->write(s->ctx, name, rec, n);
  }
  tn_secure_wipe(rec, sizeof(rec));
  return st;
}

/* Reads a region of exactly REGION_SIZE(body_len) bytes and copies its body
 * out. TN_ERR_NOT_FOUND passes through; any size, magic, format or check
 * mismatch is TN_ERR_STORAGE. */
static tn_status region_read(const tn_secure_storage* s, const char* name,
                             const uint8_t magic[4], uint8_t* body,
                             size_t body_len) {
  uint8_t rec[REGION_CAP];
  uint8_t digest[TN_SHA256_DIGEST_SIZE];
  size_t len = 0;
  tn_status st = s->read(s->ctx, name, rec, sizeof(rec), &len);
  if (st == TN_ERR_BUFFER_TOO_SMALL) st = TN_ERR_STORAGE;
  if (st == TN_OK && (len != REGION_SIZE(body_len) ||
                      memcmp(rec, magic, 4) != 0 || rec[4] != REGION_FORMAT)) {
    st = TN_ERR_STORAGE;
  }
  if (st == TN_OK) st = tn_sha256(rec, REGION_HEAD + body_len, digest);
  if (st == TN_OK &&
      memcmp(digest, rec + REGION_HEAD + body_len, REGION_CHECK) != 0) {
    st = TN_ERR_STORAGE;
  }
  if (st == TN_OK) memcpy(body, rec + REGION_HEAD, body_len);
  tn_secure_wipe(rec, sizeof(rec));
  return st;
}

static int storage_ok(const tn_secure_storage* s) {
  return s != NULL && s->read != NULL && s->write != NULL;
}

/* ---- counter ------------------------------------------------------------- */

tn_status tn_seal_counter_open(tn_seal_counter* c,
                               const tn_secure_storage* storage,
                               uint32_t block) {
  if (c == NULL || !storage_ok(storage)) return TN_ERR_NULL;
  if (block == 0 || block > TN_SEAL_COUNTER_BLOCK_MAX) return TN_ERR_ARG;
  uint8_t body[COUNTER_BODY];
  uint64_t limit = 1; /* a fresh node: the first counter is 1 */
  tn_status st = region_read(storage, TN_SEAL_COUNTER_REGION, kCounterMagic,
                             body, sizeof(body));
  if (st == TN_OK) {
    limit = tn_load_u64le(body);
    if (limit == 0) return TN_ERR_STORAGE; /* never written by this code */
  } else if (st != TN_ERR_NOT_FOUND) {
    return st;
  }
  memset(c, 0, sizeof(*c));
  c->storage = *storage;
  c->next = limit;
  c->limit = limit;
  c->block = block;
  return TN_OK;
}

tn_status tn_seal_counter_take(tn_seal_counter* c, uint64_t* counter) {
  if (c == NULL || counter == NULL || !storage_ok(&c->storage)) {
    return TN_ERR_NULL;
  }
  if (c->next == UINT64_MAX) return TN_ERR_OVERFLOW;
  if (c->next >= c->limit) {
    /* Reserve the next block before handing out any counter from it. */
    uint64_t room = UINT64_MAX - c->next;
    uint64_t limit = c->next + (room < c->block ? room : c->block);
    uint8_t body[COUNTER_BODY];
    tn_store_u64le(body, limit);
    tn_status st = region_write(&c->storage, TN_SEAL_COUNTER_REGION,
                                kCounterMagic, body, sizeof(body));
    if (st != TN_OK) return st;
    c->limit = limit;
  }
  *counter = c->next++;
  return TN_OK;
}

/* ---- node key and agreed key --------------------------------------------- */

static tn_status load_or_create_node_key(tn_sealer* s,
                                         tn_secure_entropy_fn entropy,
                                         void* entropy_ctx) {
  uint8_t body[NODE_KEY_BODY];
  tn_status st = region_read(&s->storage, TN_SEAL_NODE_KEY_REGION,
                             kNodeKeyMagic, body, sizeof(body));
  if (st == TN_OK) {
    memcpy(s->node_key.private_key, body, TN_P256_PRIVATE_KEY_SIZE);
    memcpy(s->node_key.public_key, body + TN_P256_PRIVATE_KEY_SIZE,
           TN_P256_PUBLIC_KEY_SIZE);
    tn_secure_wipe(body, sizeof(body));
    /* The pair must still belong together (a check beyond the region's
     * 4-byte digest, against undetected corruption). */
    uint8_t pub[TN_P256_PUBLIC_KEY_SIZE];
    st = tn_secure_port_p256_public(s->node_key.private_key, pub);
    if (st == TN_ERR_KEY_INVALID ||
        (st == TN_OK &&
         memcmp(pub, s->node_key.public_key, TN_P256_PUBLIC_KEY_SIZE) != 0)) {
      st = TN_ERR_STORAGE;
    }
    return st;
  }
  if (st != TN_ERR_NOT_FOUND) return st;
  if (entropy == NULL) return TN_ERR_NULL;
  st = tn_p256_keypair_generate(entropy, entropy_ctx, &s->node_key);
  if (st != TN_OK) return st;
  memcpy(body, s->node_key.private_key, TN_P256_PRIVATE_KEY_SIZE);
  memcpy(body + TN_P256_PRIVATE_KEY_SIZE, s->node_key.public_key,
         TN_P256_PUBLIC_KEY_SIZE);
  st = region_write(&s->storage, TN_SEAL_NODE_KEY_REGION, kNodeKeyMagic, body,
                    sizeof(body));
  tn_secure_wipe(body, sizeof(body));
  return st;
}

static void seal_key_to_body(const tn_seal_key* k, uint8_t* body) {
  uint8_t* p = body;
  memcpy(p, k->aes_key, TN_SEAL_KEY_SIZE);
  p += TN_SEAL_KEY_SIZE;
  memcpy(p, k->nonce_salt, TN_SEAL_NONCE_SALT_SIZE);
  p += TN_SEAL_NONCE_SALT_SIZE;
  memcpy(p, k->key_id, TN_SEAL_KEY_ID_SIZE);
  p += TN_SEAL_KEY_ID_SIZE;
  *p++ = k->device_id_len;
  memcpy(p, k->device_id, TN_SEAL_DEVICE_ID_MAX);
}

/* Rebuilds a key from a region body; 0 when its device id is invalid. */
static int seal_key_from_body(const uint8_t* body, tn_seal_key* k) {
  const uint8_t* p = body;
  memcpy(k->aes_key, p, TN_SEAL_KEY_SIZE);
  p += TN_SEAL_KEY_SIZE;
  memcpy(k->nonce_salt, p, TN_SEAL_NONCE_SALT_SIZE);
  p += TN_SEAL_NONCE_SALT_SIZE;
  memcpy(k->key_id, p, TN_SEAL_KEY_ID_SIZE);
  p += TN_SEAL_KEY_ID_SIZE;
  k->device_id_len = *p++;
  memcpy(k->device_id, p, TN_SEAL_DEVICE_ID_MAX);
  if (!tn_seal_device_id_ok(k->device_id, k->device_id_len)) return 0;
  for (size_t i = k->device_id_len; i < TN_SEAL_DEVICE_ID_MAX; ++i) {
    if (k->device_id[i] != 0) return 0;
  }
  return 1;
}

tn_status tn_sealer_open(tn_sealer* s, const tn_secure_storage* storage,
                         tn_secure_entropy_fn entropy, void* entropy_ctx,
                         uint32_t counter_block) {
  if (s == NULL || !storage_ok(storage) || entropy == NULL) {
    return TN_ERR_NULL;
  }
  memset(s, 0, sizeof(*s));
  if (!tn_secure_port_available()) return TN_ERR_UNSUPPORTED;
  if (counter_block == 0) counter_block = TN_SEAL_COUNTER_BLOCK_DEFAULT;
  if (counter_block > TN_SEAL_COUNTER_BLOCK_MAX) return TN_ERR_ARG;
  s->storage = *storage;

  tn_status st = load_or_create_node_key(s, entropy, entropy_ctx);
  if (st == TN_OK) {
    uint8_t body[SEAL_KEY_BODY];
    st = region_read(&s->storage, TN_SEAL_KEY_REGION, kSealKeyMagic, body,
                     sizeof(body));
    if (st == TN_OK) {
      st = seal_key_from_body(body, &s->key) ? TN_OK : TN_ERR_STORAGE;
      s->keyed = st == TN_OK;
    } else if (st == TN_ERR_NOT_FOUND) {
      st = TN_OK; /* no gateway key yet */
    }
    tn_secure_wipe(body, sizeof(body));
  }
  if (st == TN_OK)
    st = tn_seal_counter_open(&s->counter, storage, counter_block);
  if (st != TN_OK) tn_secure_wipe(s, sizeof(*s));
  return st;
}

tn_status tn_sealer_set_gateway_key(
    tn_sealer* s, const uint8_t gateway_public_key[TN_P256_PUBLIC_KEY_SIZE],
    const uint8_t* device_id, size_t device_id_len) {
  if (s == NULL || gateway_public_key == NULL || device_id == NULL) {
    return TN_ERR_NULL;
  }
  if (!storage_ok(&s->storage)) return TN_ERR_STATE; /* not opened */
  tn_seal_key k;
  memset(&k, 0, sizeof(k));
  tn_status st =
      tn_seal_derive_node_side(s->node_key.private_key, gateway_public_key,
                               device_id, device_id_len, &k);
  uint8_t body[SEAL_KEY_BODY];
  if (st == TN_OK) {
    seal_key_to_body(&k, body);
    st = region_write(&s->storage, TN_SEAL_KEY_REGION, kSealKeyMagic, body,
                      sizeof(body));
    tn_secure_wipe(body, sizeof(body));
  }
  /* The new key takes effect only once it is stored, so a reset never
   * returns to a key the gateway no longer expects. */
  if (st == TN_OK) {
    s->key = k;
    s->keyed = 1;
  }
  tn_secure_wipe(&k, sizeof(k));
  return st;
}

tn_status tn_sealer_seal(tn_sealer* s, const uint8_t* plaintext, size_t size,
                         uint8_t* out, size_t cap, size_t* out_len,
                         uint64_t* counter) {
  if (s == NULL || plaintext == NULL || out == NULL || out_len == NULL ||
      counter == NULL) {
    return TN_ERR_NULL;
  }
  *counter = 0;
  if (!s->keyed) return TN_ERR_NO_KEY;
  if (size == 0 || size > TN_SEAL_MAX_PLAINTEXT) return TN_ERR_ARG;
  if (cap < TN_SEAL_SEALED_SIZE(size)) return TN_ERR_BUFFER_TOO_SMALL;
  uint64_t c = 0;
  tn_status st = tn_seal_counter_take(&s->counter, &c);
  if (st != TN_OK) return st;
  st = tn_seal_record_with_counter(&s->key, c, plaintext, size, out, cap,
                                   out_len);
  if (st == TN_OK) *counter = c;
  return st;
}
