/* Implementation of the OTA test fixture (see ota_fixture.h). */
#include "ota_fixture.h"

#include <string.h>

#include "model_fixture.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"

/* ---- Storage double ------------------------------------------------------ */

void ota_test_storage_init(ota_test_storage* s) {
  memset(s, 0, sizeof(*s));
  s->fail_after = -1;
}

static ota_test_region* find_region(ota_test_storage* s, const char* name) {
  for (int i = 0; i < OTA_TEST_REGIONS; ++i) {
    if (s->regions[i].used && strcmp(s->regions[i].name, name) == 0) {
      return &s->regions[i];
    }
  }
  return NULL;
}

static tn_status storage_read(void* ctx, const char* name, uint8_t* buf,
                              size_t cap, size_t* len) {
  ota_test_storage* s = (ota_test_storage*)ctx;
  ota_test_region* r = find_region(s, name);
  if (r == NULL) return TN_ERR_NOT_FOUND;
  if (r->len > cap) return TN_ERR_BUFFER_TOO_SMALL;
  memcpy(buf, r->data, r->len);
  *len = r->len;
  return TN_OK;
}

static tn_status storage_write(void* ctx, const char* name, const uint8_t* data,
                               size_t len) {
  ota_test_storage* s = (ota_test_storage*)ctx;
  if (len > OTA_TEST_REGION_CAP || strlen(name) > 15) return TN_ERR_ARG;
  ota_test_region* r = find_region(s, name);
  for (int i = 0; r == NULL && i < OTA_TEST_REGIONS; ++i) {
    if (!s->regions[i].used) {
      r = &s->regions[i];
      memset(r, 0, sizeof(*r));
      memcpy(r->name, name, strlen(name) + 1);
    }
  }
  if (r == NULL) return TN_ERR_STORAGE;
  if (s->fail_after == 0) {
    if (s->tear) {
      /* A cut write: half of the new bytes over the old region. */
      r->used = 1;
      memcpy(r->data, data, len / 2);
      r->len = len;
      s->tear = 0;
    }
    return TN_ERR_STORAGE;
  }
  if (s->fail_after > 0) --s->fail_after;
  r->used = 1;
  memcpy(r->data, data, len);
  r->len = len;
  ++s->writes;
  return TN_OK;
}

tn_ota_storage ota_test_storage_interface(ota_test_storage* s) {
  tn_ota_storage st;
  st.ctx = s;
  st.read = storage_read;
  st.write = storage_write;
  return st;
}

int ota_test_storage_damage(ota_test_storage* s, const char* name) {
  ota_test_region* r = find_region(s, name);
  if (r == NULL || r->len == 0) return 0;
  r->data[r->len / 2] ^= 0x5A;
  return 1;
}

/* ---- Slot flash double --------------------------------------------------- */

static uint8_t g_flash_memory[4u * 65536u];

void ota_test_flash_init(ota_test_flash* f, uint8_t slot_count,
                         uint32_t slot_size, uint32_t erase_size,
                         int mappable) {
  memset(f, 0, sizeof(*f));
  f->mappable = mappable;
  f->cut_after = -1;
  if ((uint64_t)slot_count * slot_size > sizeof(g_flash_memory)) return;
  (void)tn_ota_mem_flash_init(&f->mem, g_flash_memory, slot_count, slot_size,
                              erase_size);
}

static tn_status flash_read(void* ctx, uint8_t slot, uint32_t offset,
                            uint8_t* buf, uint32_t len) {
  ota_test_flash* f = (ota_test_flash*)ctx;
  tn_ota_flash inner = tn_ota_mem_flash_interface(&f->mem);
  return inner.read(inner.ctx, slot, offset, buf, len);
}

static tn_status flash_write(void* ctx, uint8_t slot, uint32_t offset,
                             const uint8_t* data, uint32_t len) {
  ota_test_flash* f = (ota_test_flash*)ctx;
  tn_ota_flash inner = tn_ota_mem_flash_interface(&f->mem);
  if (f->cut_after == 0) {
    f->cut_after = -1;
    (void)inner.write(inner.ctx, slot, offset, data, len / 2);
    return TN_ERR_STORAGE;
  }
  if (f->cut_after > 0) --f->cut_after;
  tn_status st = inner.write(inner.ctx, slot, offset, data, len);
  if (st == TN_OK) f->bytes_written += len;
  return st;
}

static tn_status flash_erase(void* ctx, uint8_t slot, uint32_t offset,
                             uint32_t len) {
  ota_test_flash* f = (ota_test_flash*)ctx;
  tn_ota_flash inner = tn_ota_mem_flash_interface(&f->mem);
  return inner.erase(inner.ctx, slot, offset, len);
}

static const uint8_t* flash_map(void* ctx, uint8_t slot) {
  ota_test_flash* f = (ota_test_flash*)ctx;
  tn_ota_flash inner = tn_ota_mem_flash_interface(&f->mem);
  return inner.map(inner.ctx, slot);
}

tn_ota_flash ota_test_flash_interface(ota_test_flash* f) {
  tn_ota_flash fl = tn_ota_mem_flash_interface(&f->mem);
  fl.ctx = f;
  fl.read = flash_read;
  fl.write = flash_write;
  fl.erase = f->mem.erase_size != 0 ? flash_erase : NULL;
  fl.map = f->mappable ? flash_map : NULL;
  return fl;
}

/* ---- Stand-in signatures ------------------------------------------------- */

static const char kSigLabel[] = "tn-test-sig";

void ota_test_key(uint8_t key[TN_OTA_PUBLIC_KEY_SIZE], uint8_t seed) {
  key[0] = 0x04;
  for (size_t i = 1; i < TN_OTA_PUBLIC_KEY_SIZE; ++i) {
    key[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
  }
  if (key[1] == 0) key[1] = 1;
}

static void stand_in_rs(const uint8_t key[TN_OTA_PUBLIC_KEY_SIZE],
                        const uint8_t digest[32], uint8_t r[32],
                        uint8_t s[32]) {
  tn_sha256_ctx c;
  (void)tn_sha256_init(&c);
  (void)tn_sha256_update(&c, kSigLabel, sizeof(kSigLabel) - 1u);
  (void)tn_sha256_update(&c, key, TN_OTA_PUBLIC_KEY_SIZE);
  (void)tn_sha256_update(&c, digest, 32);
  (void)tn_sha256_final(&c, r);
  (void)tn_sha256_init(&c);
  (void)tn_sha256_update(&c, r, 32);
  (void)tn_sha256_update(&c, digest, 32);
  (void)tn_sha256_final(&c, s);
}

static tn_status stand_in_check_key(void* ctx,
                                    const uint8_t key[TN_OTA_PUBLIC_KEY_SIZE]) {
  (void)ctx;
  return key[0] == 0x04 && key[1] != 0 ? TN_OK : TN_ERR_KEY_INVALID;
}

static tn_status stand_in_verify(void* ctx,
                                 const uint8_t key[TN_OTA_PUBLIC_KEY_SIZE],
                                 const uint8_t digest[32], const uint8_t r[32],
                                 const uint8_t s[32]) {
  (void)ctx;
  uint8_t rr[32], ss[32];
  stand_in_rs(key, digest, rr, ss);
  return memcmp(rr, r, 32) == 0 && memcmp(ss, s, 32) == 0 ? TN_OK : TN_ERR_AUTH;
}

tn_ota_verifier ota_test_verifier(void) {
  tn_ota_verifier v;
  v.ctx = NULL;
  v.check_key = stand_in_check_key;
  v.verify = stand_in_verify;
  return v;
}

tn_status ota_test_sign(uint8_t* blob, size_t size,
                        const uint8_t key[TN_OTA_PUBLIC_KEY_SIZE]) {
  tn_blob b;
  tn_status st = tn_blob_parse(blob, size, NULL, &b);
  if (st != TN_OK) return st;
  uint8_t id[32], r[32], s[32];
  (void)tn_sha256(key, TN_OTA_PUBLIC_KEY_SIZE, id);
  stand_in_rs(key, b.digest, r, s);
  tn_blob_signature sig = {TN_SIGNATURE_ALG_ECDSA_P256, id, r, s};
  return tn_blob_set_signature(blob, size, &sig);
}

/* ---- Blobs --------------------------------------------------------------- */

void ota_blob_spec_init(ota_blob_spec* spec) {
  memset(spec, 0, sizeof(*spec));
  spec->target = TN_TARGET_GAP9;
  spec->model_byte = 0x11;
  spec->version = 1;
  spec->counter = 1;
  spec->reserve_signature = 1;
  spec->canary = 1;
  spec->seed = 1;
}

static fixture_model g_model;
static uint64_t g_build_arena[65536 / 8];

static tn_status build_once(const ota_blob_spec* spec, const void* canary_in,
                            uint32_t in_bytes, const void* canary_out,
                            uint32_t out_bytes, uint8_t* out, size_t cap,
                            size_t* size) {
  tn_blob_header_desc h;
  memset(&h, 0, sizeof(h));
  h.target = spec->target;
  memset(h.model_id, spec->model_byte, TN_BLOB_MODEL_ID_SIZE);
  h.model_version = spec->version;
  h.rollback_counter = spec->counter;
  tn_blob_builder b;
  fixture_model* m = &g_model;
  tn_status st = tn_blob_builder_init(&b, &h);
  if (st == TN_OK) st = tn_blob_builder_set_graph(&b, &m->graph);
  if (st == TN_OK) st = tn_blob_builder_set_plan(&b, &m->plan);
  if (st == TN_OK) {
    st = tn_blob_builder_set_weights(&b, m->weights, m->weights_size);
  }
  if (st == TN_OK) st = tn_blob_builder_set_quant(&b, m->quant, m->quant_words);
  if (st == TN_OK && m->has_tail) st = tn_blob_builder_set_tail(&b, &m->tail);
  if (st == TN_OK && canary_in != NULL) {
    st = tn_blob_builder_set_canary(&b, canary_in, in_bytes, canary_out,
                                    out_bytes);
  }
  if (st == TN_OK && spec->reserve_signature) {
    st = tn_blob_builder_reserve_signature(&b);
  }
  if (st == TN_OK) st = tn_blob_builder_finish(&b, out, cap, size);
  return st;
}

tn_status ota_build_blob(const ota_blob_spec* spec, uint8_t* out, size_t cap,
                         size_t* size) {
  fixture_model* m = &g_model;
  if (spec->ds_cnn) {
    fx_ds_cnn(m, spec->seed, 1);
  } else {
    fx_small_cnn(m, spec->seed, 1);
  }
  if (spec->tail_step != 0 && m->has_tail) {
    float step = (float)spec->tail_step / 1000.0f;
    for (uint32_t i = 0; i < m->param_count; ++i) {
      m->params[i] *= (i & 1u) ? 1.0f - step : 1.0f + step;
    }
  }
  tn_status st = fx_plan(m, spec->target);
  if (st != TN_OK) return st;
  st = build_once(spec, NULL, 0, NULL, 0, out, cap, size);
  if (st != TN_OK || spec->canary == 0) return st;

  /* Run the model once on a fixed input to learn the expected output. */
  tn_blob blob;
  st = tn_blob_parse(out, *size, NULL, &blob);
  if (st != TN_OK) return st;
  tn_model model;
  st = tn_model_init(&model, &blob, g_build_arena, sizeof(g_build_arena), NULL);
  if (st != TN_OK) return st;
  tn_tensor_view in, result;
  st = tn_model_input(&model, &in);
  if (st != TN_OK) return st;
  static int8_t canary_in[4096];
  static uint8_t canary_out[512];
  if (in.bytes > sizeof(canary_in)) return TN_ERR_BUFFER_TOO_SMALL;
  for (uint32_t i = 0; i < in.bytes; ++i) {
    canary_in[i] = (int8_t)(i * 37u + spec->seed);
  }
  memcpy(in.data, canary_in, in.bytes);
  st = tn_model_run(&model);
  if (st == TN_OK) st = tn_model_output(&model, &result);
  if (st != TN_OK) return st;
  if (result.bytes > sizeof(canary_out)) return TN_ERR_BUFFER_TOO_SMALL;
  memcpy(canary_out, result.data, result.bytes);
  if (spec->canary == 2) canary_out[result.bytes - 1] ^= 0x40;
  return build_once(spec, canary_in, in.bytes, canary_out, result.bytes, out,
                    cap, size);
}

/* ---- A node and an agent ------------------------------------------------- */

static uint8_t g_blob_buffer[OTA_TEST_BLOB_MAX];
static uint64_t g_node_arena[65536 / 8];

void ota_test_node_init(ota_test_node* n) {
  ota_test_storage_init(&n->storage);
  ota_test_flash_init(&n->flash, 2, 65536, 0, 1);
  tn_ota_config_init(&n->cfg);
  n->cfg.target = TN_TARGET_GAP9;
  n->cfg.blob_buffer = g_blob_buffer;
  n->cfg.blob_buffer_size = sizeof(g_blob_buffer);
  n->cfg.arena = g_node_arena;
  n->cfg.arena_size = sizeof(g_node_arena);
  n->cfg.verifier = ota_test_verifier();
}

tn_status ota_test_node_boot(ota_test_node* n) {
  n->cfg.storage = ota_test_storage_interface(&n->storage);
  n->cfg.flash = ota_test_flash_interface(&n->flash);
  return tn_ota_open(&n->ota, &n->cfg);
}

void ota_test_begin_msg(const uint8_t* blob, size_t size, uint8_t slot,
                        tn_link_model_begin* m) {
  memset(m, 0, sizeof(*m));
  (void)tn_sha256(blob, size, m->sha256);
  memcpy(m->artifact_id, m->sha256, TN_LINK_ARTIFACT_ID_SIZE);
  m->total_size = (uint32_t)size;
  m->target_slot = slot;
}

void ota_test_send(tn_ota* ota, const uint8_t* blob, size_t size, uint32_t from,
                   uint32_t chunk, ota_send_result* r) {
  memset(r, 0, sizeof(*r));
  for (uint32_t off = from; off < size; off += chunk) {
    uint32_t n = (uint32_t)size - off < chunk ? (uint32_t)size - off : chunk;
    r->bytes_sent += n;
    ++r->chunks;
    tn_status st = tn_ota_chunk(ota, off, blob + off, n);
    if (st != TN_OK) {
      r->status = st;
      return;
    }
  }
}

tn_status ota_test_install(tn_ota* ota, const uint8_t* blob, size_t size,
                           uint8_t slot, uint32_t chunk) {
  tn_link_model_begin m;
  ota_test_begin_msg(blob, size, slot, &m);
  tn_status st = tn_ota_begin(ota, &m);
  if (st != TN_OK) return st;
  ota_send_result r;
  ota_test_send(ota, blob, size, 0, chunk, &r);
  if (r.status != TN_OK) return r.status;
  return tn_ota_commit(ota, m.artifact_id);
}
