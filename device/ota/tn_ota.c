/*
 * The OTA state machine: transfer (begin, chunk, commit with verification),
 * slot changes (activate on trial with the canary self-test and automatic
 * revert, confirm, rollback), the model-signing key and the status reports.
 * Every change is persisted through tn_ota_store_table /
 * tn_ota_store_transfer before the in-memory state adopts it, so memory
 * never runs ahead of storage (docs/formats/ota.md). A delta transfer feeds
 * its chunks to the delta decoder (tn_ota_delta.c), which writes the result
 * into the target slot and reads the base from the running slot; its
 * progress record holds the decoder's state at the last complete operation
 * header, so a reset resumes it like a blob transfer.
 */
#include <string.h>

#include "ota/tn_ota_internal.h"
#include "runtime/tn_runtime.h"
#include "secure/tn_secure.h"

/* Bytes hashed per flash read when the slot is not mappable. */
#define HASH_BLOCK 256u

static tn_status fail(tn_ota* ota, tn_status st) {
  if (st != TN_OK) ota->stats.last_error = (uint32_t)st;
  return st;
}

static int running_state(uint8_t state) {
  return state == TN_LINK_SLOT_ACTIVE || state == TN_LINK_SLOT_PENDING_CONFIRM;
}

/* The slot holds a verified blob (VALID or running). */
static int holds_model(uint8_t state) {
  return state == TN_LINK_SLOT_VALID || running_state(state);
}

/* A trial is in progress. */
static int on_trial(const tn_ota* ota) {
  uint8_t r = ota->table.running;
  return r != TN_OTA_NO_SLOT &&
         ota->table.slots[r].state == TN_LINK_SLOT_PENDING_CONFIRM;
}

/* ---- Transfer ------------------------------------------------------------ */

static int same_artifact(const tn_ota_transfer* x, const tn_link_model_begin* m,
                         uint8_t kind) {
  return x->state != TN_OTA_TRANSFER_NONE && x->kind == kind &&
         memcmp(x->artifact_id, m->artifact_id, TN_OTA_ARTIFACT_ID_SIZE) == 0 &&
         x->total_size == m->total_size &&
         memcmp(x->sha256, m->sha256, TN_OTA_SHA256_SIZE) == 0 &&
         x->slot == m->target_slot;
}

static tn_status begin(tn_ota* ota, const tn_link_model_begin* m,
                       uint8_t kind) {
  if (ota == NULL || m == NULL) return TN_ERR_NULL;
  const tn_ota_flash* f = &ota->cfg.flash;
  if (m->target_slot >= f->slot_count) return fail(ota, TN_ERR_SLOT);
  if (kind == TN_OTA_KIND_DELTA) {
    /* The result's size is checked when the delta header arrives. */
    if (m->total_size < TN_OTA_DELTA_HEADER_SIZE ||
        m->total_size / 2u > f->slot_size) {
      return fail(ota, TN_ERR_OTA_SIZE);
    }
  } else if (m->total_size == 0 || m->total_size > f->slot_size ||
             (f->map == NULL && m->total_size > ota->cfg.blob_buffer_size)) {
    return fail(ota, TN_ERR_OTA_SIZE);
  }
  const tn_ota_transfer* x = &ota->transfer;
  if (same_artifact(x, m, kind)) {
    if (x->state == TN_OTA_TRANSFER_RECEIVING) return TN_OK; /* resume */
    if (holds_model(ota->table.slots[x->slot].state)) return TN_OK;
  }
  uint8_t slot = m->target_slot;
  if (slot == ota->table.running ||
      (on_trial(ota) && slot == ota->table.previous)) {
    return fail(ota, TN_ERR_SLOT);
  }
  if (kind == TN_OTA_KIND_DELTA && ota->table.running == TN_OTA_NO_SLOT) {
    return fail(ota, TN_ERR_OTA_BASE); /* nothing to apply it to */
  }
  /* The slot's old contents are given up before the first byte changes. */
  if (ota->table.slots[slot].state != TN_LINK_SLOT_EMPTY) {
    tn_ota_table t = ota->table;
    memset(&t.slots[slot], 0, sizeof(t.slots[slot]));
    if (t.previous == slot) t.previous = TN_OTA_NO_SLOT;
    tn_status st = tn_ota_store_table(ota, &t);
    if (st != TN_OK) return fail(ota, st);
  }
  tn_ota_transfer nx;
  memset(&nx, 0, sizeof(nx));
  nx.generation = ota->transfer.generation;
  nx.state = TN_OTA_TRANSFER_RECEIVING;
  memcpy(nx.artifact_id, m->artifact_id, TN_OTA_ARTIFACT_ID_SIZE);
  nx.total_size = m->total_size;
  memcpy(nx.sha256, m->sha256, TN_OTA_SHA256_SIZE);
  nx.slot = slot;
  nx.committed = 0;
  nx.kind = kind;
  nx.base_slot = TN_OTA_NO_SLOT;
  tn_status st = tn_ota_store_transfer(ota, &nx);
  if (st != TN_OK) return fail(ota, st);
  ota->received = 0;
  tn_ota_delta_decoder_init(&ota->delta);
  ota->delta_base = TN_OTA_NO_SLOT;
  return TN_OK;
}

tn_status tn_ota_begin(tn_ota* ota, const tn_link_model_begin* m) {
  return begin(ota, m, TN_OTA_KIND_BLOB);
}

tn_status tn_ota_begin_delta(tn_ota* ota, const tn_link_model_begin* m) {
  return begin(ota, m, TN_OTA_KIND_DELTA);
}

static tn_status refuse_blob(tn_ota* ota, tn_status reason);
static tn_status check_signature(tn_ota* ota, const uint8_t digest[32],
                                 const uint8_t sig[TN_OTA_DELTA_SIGNATURE_SIZE],
                                 int* no_key);

/* Erases every erase unit that starts in [start, end) of `slot`. */
static tn_status erase_ahead(tn_ota* ota, uint8_t slot, uint32_t start,
                             uint32_t end) {
  const tn_ota_flash* f = &ota->cfg.flash;
  if (f->erase_size == 0) return TN_OK;
  uint32_t es = f->erase_size;
  uint32_t unit = ((start + es - 1u) / es) * es;
  if (unit < start) return TN_ERR_OVERFLOW; /* cannot happen: end <= size */
  /* At most slot_size / erase_size iterations. */
  while (unit < end) {
    tn_status st = f->erase(f->ctx, slot, unit, es);
    if (st != TN_OK) return TN_ERR_STORAGE;
    unit += es;
  }
  return TN_OK;
}

/* ---- Delta transfers: the decoder's callbacks on the node --------------- */

/* Checks a delta header before any byte of its result is written: the
 * result fits, is the one MODEL_BEGIN_DELTA announced, is built for this
 * target, and its base is the running blob; its signature is checked now
 * when the node can (the result is verified in full at MODEL_COMMIT). */
static tn_status node_on_header(void* ctx, const tn_ota_delta_header* h) {
  tn_ota* ota = (tn_ota*)ctx;
  const tn_ota_flash* f = &ota->cfg.flash;
  if (h->result_size > f->slot_size ||
      (f->map == NULL && h->result_size > ota->cfg.blob_buffer_size)) {
    return TN_ERR_OTA_SIZE;
  }
  if (memcmp(h->result_sha256, ota->transfer.sha256, TN_OTA_SHA256_SIZE) != 0) {
    return TN_ERR_OTA_DELTA; /* not the result MODEL_BEGIN_DELTA named */
  }
  if (h->target != (uint16_t)ota->cfg.target) return TN_ERR_BLOB_TARGET;
  uint8_t base = ota->table.running;
  if (base == TN_OTA_NO_SLOT || !holds_model(ota->table.slots[base].state)) {
    return TN_ERR_OTA_BASE;
  }
  uint8_t digest[TN_BLOB_DIGEST_SIZE];
  if (f->read(f->ctx, base, TN_BLOB_DIGEST_OFFSET, digest, sizeof(digest)) !=
      TN_OK) {
    return TN_ERR_STORAGE;
  }
  if (memcmp(digest, h->base_digest, sizeof(digest)) != 0) {
    return TN_ERR_OTA_BASE;
  }
  if (h->flags & TN_OTA_DELTA_FLAG_SIGNED) {
    int no_key = 0;
    tn_status st =
        check_signature(ota, h->result_digest, h->signature, &no_key);
    /* Without a key or a crypto backend the check waits for MODEL_COMMIT,
     * which refuses or keeps the transfer exactly as for a blob. */
    if (st != TN_OK && !no_key && st != TN_ERR_UNSUPPORTED &&
        st != TN_ERR_CRYPTO) {
      return TN_ERR_BLOB_SIGNATURE;
    }
  } else if (!ota->cfg.accept_unsigned) {
    return TN_ERR_BLOB_SIGNATURE;
  }
  ota->delta_base = base;
  return TN_OK;
}

static tn_status node_read_base(void* ctx, uint32_t offset, uint8_t* buf,
                                uint32_t len) {
  tn_ota* ota = (tn_ota*)ctx;
  const tn_ota_flash* f = &ota->cfg.flash;
  if (ota->delta_base >= f->slot_count || offset > f->slot_size ||
      len > f->slot_size - offset) {
    return TN_ERR_STORAGE;
  }
  return f->read(f->ctx, ota->delta_base, offset, buf, len) == TN_OK
             ? TN_OK
             : TN_ERR_STORAGE;
}

static tn_status erase_ahead(tn_ota* ota, uint8_t slot, uint32_t start,
                             uint32_t end);

static tn_status node_write(void* ctx, uint32_t offset, const uint8_t* data,
                            uint32_t len) {
  tn_ota* ota = (tn_ota*)ctx;
  const tn_ota_flash* f = &ota->cfg.flash;
  uint8_t slot = ota->transfer.slot;
  if (offset > f->slot_size || len > f->slot_size - offset) {
    return TN_ERR_STORAGE;
  }
  tn_status st = erase_ahead(ota, slot, offset, offset + len);
  if (st != TN_OK) return TN_ERR_STORAGE;
  return f->write(f->ctx, slot, offset, data, len) == TN_OK ? TN_OK
                                                            : TN_ERR_STORAGE;
}

/* Statuses that say nothing about the delta: the transfer is kept. */
static int transient(tn_status st) {
  return st == TN_ERR_STORAGE || st == TN_ERR_CRYPTO ||
         st == TN_ERR_UNSUPPORTED;
}

tn_status tn_ota_chunk(tn_ota* ota, uint32_t offset, const uint8_t* data,
                       uint32_t len) {
  if (ota == NULL || (data == NULL && len > 0)) return TN_ERR_NULL;
  tn_status st = TN_OK;
  const tn_ota_transfer* x = &ota->transfer;
  uint64_t end64 = (uint64_t)offset + len;
  if (len == 0) {
    st = TN_ERR_ARG;
  } else if (x->state != TN_OTA_TRANSFER_RECEIVING) {
    st = TN_ERR_STATE;
  } else if (end64 > x->total_size) {
    st = TN_ERR_OTA_OFFSET;
  } else if (end64 <= ota->received) {
    ++ota->stats.chunks_repeated; /* already stored: idempotent */
    return TN_OK;
  } else if (offset > ota->received) {
    st = TN_ERR_OTA_OFFSET; /* a gap */
  }
  if (st != TN_OK) {
    ++ota->stats.chunks_refused;
    return fail(ota, st);
  }
  const tn_ota_flash* f = &ota->cfg.flash;
  uint32_t end = (uint32_t)end64;
  uint32_t start = ota->received;
  int is_delta = x->kind == TN_OTA_KIND_DELTA;
  /* The decoder before this chunk: restored when it is not acknowledged,
   * so that the retry decodes the same bytes again. */
  tn_ota_delta_decoder saved = ota->delta;
  uint8_t saved_base = ota->delta_base;
  if (is_delta) {
    tn_ota_delta_io io = {ota, f->slot_size, node_on_header, node_read_base,
                          node_write};
    st = tn_ota_delta_feed(&ota->delta, &io, data + (start - offset),
                           end - start);
    if (st == TN_OK && end == x->total_size) {
      st = tn_ota_delta_done(&ota->delta); /* the last byte ends the result */
    }
    if (st != TN_OK) {
      ota->delta = saved;
      ota->delta_base = saved_base;
      ++ota->stats.chunks_refused;
      if (transient(st)) return fail(ota, st);
      return refuse_blob(ota, st); /* a verdict against the delta */
    }
  } else {
    st = erase_ahead(ota, x->slot, start, end);
    if (st == TN_OK) {
      st = f->write(f->ctx, x->slot, start, data + (start - offset),
                    end - start) == TN_OK
               ? TN_OK
               : TN_ERR_STORAGE;
    }
    if (st != TN_OK) {
      ++ota->stats.chunks_refused;
      return fail(ota, st);
    }
  }
  uint32_t before = ota->received;
  ota->received = end;
  /* Progress is recorded at a point the decoder can resume from: before an
   * operation header received only in part. */
  uint32_t clean = is_delta ? end - ota->delta.hold_len : end;
  uint32_t unsaved = clean - x->committed;
  if (unsaved > 0 &&
      (ota->cfg.progress_interval == 0 ||
       unsaved >= ota->cfg.progress_interval || end == x->total_size)) {
    tn_ota_transfer nx = *x;
    nx.committed = clean;
    if (is_delta) {
      nx.delta = ota->delta.s;
      nx.base_slot = ota->delta_base;
    }
    st = tn_ota_store_transfer(ota, &nx);
    if (st != TN_OK) {
      /* Not acknowledged: the retry writes the same bytes again. */
      ota->received = before;
      ota->delta = saved;
      ota->delta_base = saved_base;
      ++ota->stats.chunks_refused;
      return fail(ota, st);
    }
  }
  ++ota->stats.chunks_written;
  ota->stats.bytes_written +=
      is_delta ? ota->delta.s.written - saved.s.written : end - start;
  return TN_OK;
}

/* SHA-256 of bytes [0, size) of `slot`. */
static tn_status hash_slot(tn_ota* ota, uint8_t slot, uint32_t size,
                           uint8_t digest[TN_OTA_SHA256_SIZE]) {
  const tn_ota_flash* f = &ota->cfg.flash;
  const uint8_t* mapped = f->map != NULL ? f->map(f->ctx, slot) : NULL;
  if (mapped != NULL) return tn_sha256(mapped, size, digest);
  tn_sha256_ctx ctx;
  uint8_t block[HASH_BLOCK];
  tn_status st = tn_sha256_init(&ctx);
  /* At most size / HASH_BLOCK + 1 iterations. */
  for (uint32_t pos = 0; st == TN_OK && pos < size; pos += HASH_BLOCK) {
    uint32_t n = size - pos < HASH_BLOCK ? size - pos : HASH_BLOCK;
    st = f->read(f->ctx, slot, pos, block, n) == TN_OK ? TN_OK : TN_ERR_STORAGE;
    if (st == TN_OK) st = tn_sha256_update(&ctx, block, n);
  }
  if (st != TN_OK) return st;
  return tn_sha256_final(&ctx, digest);
}

/* The first `size` bytes of `slot` readable in memory: mapped, or copied
 * into the blob buffer. */
static tn_status slot_bytes(tn_ota* ota, uint8_t slot, uint32_t size,
                            const uint8_t** data) {
  const tn_ota_flash* f = &ota->cfg.flash;
  const uint8_t* mapped = f->map != NULL ? f->map(f->ctx, slot) : NULL;
  if (mapped != NULL) {
    *data = mapped;
    return TN_OK;
  }
  if (ota->cfg.blob_buffer == NULL || size > ota->cfg.blob_buffer_size) {
    return TN_ERR_OTA_SIZE;
  }
  if (f->read(f->ctx, slot, 0, ota->cfg.blob_buffer, size) != TN_OK) {
    return TN_ERR_STORAGE;
  }
  *data = ota->cfg.blob_buffer;
  return TN_OK;
}

/* What the signature hook needs; `no_key` records that it ran without a
 * model key. */
typedef struct verify_ctx {
  tn_ota* ota;
  int no_key;
} verify_ctx;

static tn_status verify_signature(void* ctx, const uint8_t digest[32],
                                  const tn_blob_signature* sig) {
  verify_ctx* v = (verify_ctx*)ctx;
  const tn_ota_trust* trust = &v->ota->trust;
  if (!trust->set) {
    v->no_key = 1;
    return TN_ERR_BLOB_SIGNATURE;
  }
  if (memcmp(sig->key_id, trust->key_id, TN_OTA_KEY_ID_SIZE) != 0) {
    return TN_ERR_BLOB_SIGNATURE; /* signed by another key */
  }
  const tn_ota_verifier* vf = &v->ota->cfg.verifier;
  tn_status st =
      vf->verify != NULL
          ? vf->verify(vf->ctx, trust->public_key, digest, sig->r, sig->s)
          : tn_p256_ecdsa_verify(trust->public_key, digest, sig->r, sig->s);
  if (st == TN_ERR_AUTH || st == TN_ERR_KEY_INVALID) {
    return TN_ERR_BLOB_SIGNATURE;
  }
  return st;
}

/* The signature section payload `sig` over `digest` under the model key:
 * the same checks the blob parser's hook makes (algorithm, reserved bytes,
 * key id, ECDSA). *no_key is set when no model key is stored. */
static tn_status check_signature(tn_ota* ota, const uint8_t digest[32],
                                 const uint8_t sig[TN_OTA_DELTA_SIGNATURE_SIZE],
                                 int* no_key) {
  if (tn_load_u32le(sig) != 1u || tn_load_u32le(sig + 4) != 0) {
    return TN_ERR_BLOB_SIGNATURE;
  }
  tn_blob_signature s;
  s.algorithm = 1;
  s.key_id = sig + 8;
  s.r = sig + 16;
  s.s = sig + 48;
  verify_ctx v = {ota, 0};
  tn_status st = verify_signature(&v, digest, &s);
  *no_key = v.no_key;
  return st;
}

/* Verdict against the received blob: FAILED with the reason, transfer
 * ended. */
static tn_status refuse_blob(tn_ota* ota, tn_status reason) {
  uint8_t slot = ota->transfer.slot;
  tn_ota_table t = ota->table;
  memset(&t.slots[slot], 0, sizeof(t.slots[slot]));
  t.slots[slot].state = TN_LINK_SLOT_FAILED;
  t.slots[slot].reason = (uint16_t)reason;
  tn_status st = tn_ota_store_table(ota, &t);
  if (st != TN_OK) return fail(ota, st);
  tn_ota_transfer none;
  memset(&none, 0, sizeof(none));
  none.generation = ota->transfer.generation;
  none.state = TN_OTA_TRANSFER_NONE;
  none.slot = TN_OTA_NO_SLOT;
  none.base_slot = TN_OTA_NO_SLOT;
  st = tn_ota_store_transfer(ota, &none);
  if (st != TN_OK) return fail(ota, st);
  ota->received = 0;
  tn_ota_delta_decoder_init(&ota->delta);
  ota->delta_base = TN_OTA_NO_SLOT;
  ++ota->stats.commits_refused;
  return fail(ota, reason);
}

tn_status tn_ota_commit(tn_ota* ota,
                        const uint8_t artifact_id[TN_OTA_ARTIFACT_ID_SIZE]) {
  if (ota == NULL || artifact_id == NULL) return TN_ERR_NULL;
  const tn_ota_transfer* x = &ota->transfer;
  int same = x->state != TN_OTA_TRANSFER_NONE &&
             memcmp(x->artifact_id, artifact_id, TN_OTA_ARTIFACT_ID_SIZE) == 0;
  if (same && x->state == TN_OTA_TRANSFER_COMMITTED &&
      holds_model(ota->table.slots[x->slot].state)) {
    return TN_OK; /* committed before */
  }
  if (!same || x->state != TN_OTA_TRANSFER_RECEIVING) {
    return fail(ota, TN_ERR_NOT_FOUND);
  }
  if (ota->received < x->total_size) return fail(ota, TN_ERR_OTA_INCOMPLETE);
  int is_delta = x->kind == TN_OTA_KIND_DELTA;
  if (is_delta && tn_ota_delta_done(&ota->delta) != TN_OK) {
    return refuse_blob(ota, TN_ERR_OTA_DELTA);
  }
  tn_status st;
  if (x->committed < ota->received) {
    tn_ota_transfer nx = *x;
    nx.committed = ota->received;
    if (is_delta) {
      nx.delta = ota->delta.s;
      nx.base_slot = ota->delta_base;
    }
    st = tn_ota_store_transfer(ota, &nx);
    if (st != TN_OK) return fail(ota, st);
  }
  uint8_t slot = x->slot;
  /* From here on a delta's result is verified exactly as a blob. */
  uint32_t size = is_delta ? x->delta.result_size : x->total_size;

  uint8_t digest[TN_OTA_SHA256_SIZE];
  st = hash_slot(ota, slot, size, digest);
  if (st != TN_OK) return fail(ota, st);
  if (memcmp(digest, x->sha256, TN_OTA_SHA256_SIZE) != 0) {
    return refuse_blob(ota, TN_ERR_BLOB_CHECKSUM);
  }
  const uint8_t* data = NULL;
  st = slot_bytes(ota, slot, size, &data);
  if (st != TN_OK) return fail(ota, st);

  verify_ctx vctx = {ota, 0};
  tn_blob_parse_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.expected_target = ota->cfg.target;
  opt.min_rollback_counter = ota->table.rollback_floor;
  opt.require_signature = ota->cfg.accept_unsigned ? 0 : 1;
  opt.verify = verify_signature;
  opt.verify_ctx = &vctx;
  tn_blob blob;
  st = tn_blob_parse(data, size, &opt, &blob);
  if (st == TN_ERR_BLOB_SIGNATURE && vctx.no_key) {
    return fail(ota, st); /* kept: set the model key, then commit again */
  }
  if (st == TN_ERR_UNSUPPORTED || st == TN_ERR_CRYPTO) {
    return fail(ota, st); /* the node cannot judge the signature now */
  }
  if (st == TN_OK && blob.size != size) st = TN_ERR_BLOB_BOUNDS;
  if (st == TN_OK && blob.canary == NULL && !ota->cfg.allow_no_canary) {
    st = TN_ERR_SELFTEST;
  }
  if (st == TN_OK) {
    size_t need = 0;
    st = tn_model_arena_size(&blob, NULL, &need);
    if (st == TN_OK && need > ota->cfg.arena_size) st = TN_ERR_MEMORY_BUDGET;
  }
  if (st != TN_OK) return refuse_blob(ota, st);

  tn_ota_table t = ota->table;
  tn_ota_slot* s = &t.slots[slot];
  s->state = TN_LINK_SLOT_VALID;
  memcpy(s->model_id, blob.model_id, TN_OTA_MODEL_ID_SIZE);
  s->model_version = blob.model_version;
  s->rollback_counter = blob.rollback_counter;
  s->reason = 0;
  st = tn_ota_store_table(ota, &t);
  if (st != TN_OK) return fail(ota, st);
  tn_ota_transfer nx = ota->transfer;
  nx.state = TN_OTA_TRANSFER_COMMITTED;
  nx.committed = size;
  /* Should this write fail, the boot rule drops the RECEIVING record of a
   * slot that is no longer EMPTY; the slot itself is already VALID. */
  st = tn_ota_store_transfer(ota, &nx);
  if (st != TN_OK) return fail(ota, st);
  ota->received = 0;
  ++ota->stats.commits;
  return TN_OK;
}

/* ---- Slots --------------------------------------------------------------- */

/* Loads the blob of `slot` (checked against the slot record) into a model
 * over the arena and runs the canary. */
static tn_status self_test(tn_ota* ota, uint8_t slot) {
  const tn_ota_flash* f = &ota->cfg.flash;
  uint8_t header[TN_BLOB_HEADER_SIZE];
  if (f->slot_size < sizeof(header)) return TN_ERR_BLOB_TRUNCATED;
  if (f->read(f->ctx, slot, 0, header, sizeof(header)) != TN_OK) {
    return TN_ERR_STORAGE;
  }
  uint32_t size = tn_load_u32le(header + 8); /* total_size */
  if (size < sizeof(header) || size > f->slot_size) {
    return TN_ERR_BLOB_TRUNCATED;
  }
  const uint8_t* data = NULL;
  tn_status st = slot_bytes(ota, slot, size, &data);
  if (st != TN_OK) return st;
  tn_blob_parse_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.expected_target = ota->cfg.target;
  tn_blob blob;
  st = tn_blob_parse(data, size, &opt, &blob);
  if (st != TN_OK) return st;
  const tn_ota_slot* s = &ota->table.slots[slot];
  if (memcmp(blob.model_id, s->model_id, TN_OTA_MODEL_ID_SIZE) != 0 ||
      blob.model_version != s->model_version ||
      blob.rollback_counter != s->rollback_counter) {
    return TN_ERR_BLOB_CHECKSUM; /* not the blob that was committed */
  }
  tn_model model;
  st = tn_model_init(&model, &blob, ota->cfg.arena, ota->cfg.arena_size, NULL);
  if (st != TN_OK) return st;
  st = tn_model_self_test(&model);
  if (st == TN_ERR_NOT_FOUND) {
    st = ota->cfg.allow_no_canary ? TN_OK : TN_ERR_SELFTEST;
  }
  return st;
}

tn_status tn_ota_activate(tn_ota* ota, uint8_t slot) {
  if (ota == NULL) return TN_ERR_NULL;
  if (slot >= ota->table.slot_count) return fail(ota, TN_ERR_SLOT);
  if (slot == ota->table.running) return TN_OK;
  if (on_trial(ota) || ota->table.slots[slot].state != TN_LINK_SLOT_VALID) {
    return fail(ota, TN_ERR_SLOT);
  }
  if (ota->table.slots[slot].rollback_counter < ota->table.rollback_floor) {
    return fail(ota, TN_ERR_ROLLBACK);
  }
  /* 1. The trial is recorded first: a reset from here on reverts. */
  tn_ota_table t = ota->table;
  uint8_t fallback = t.running;
  if (fallback != TN_OTA_NO_SLOT) t.slots[fallback].state = TN_LINK_SLOT_VALID;
  t.slots[slot].state = TN_LINK_SLOT_PENDING_CONFIRM;
  t.running = slot;
  t.previous = fallback;
  tn_status st = tn_ota_store_table(ota, &t);
  if (st != TN_OK) return fail(ota, st);

  /* 2. The self-test. */
  tn_status verdict = self_test(ota, slot);
  if (verdict == TN_OK) {
    ++ota->stats.activations;
    return TN_OK;
  }

  /* 3. Revert by ourselves: the trial slot failed, the fallback runs. */
  t = ota->table;
  memset(&t.slots[slot], 0, sizeof(t.slots[slot]));
  t.slots[slot].state = TN_LINK_SLOT_FAILED;
  t.slots[slot].reason = (uint16_t)verdict;
  t.running = fallback;
  if (fallback != TN_OTA_NO_SLOT) t.slots[fallback].state = TN_LINK_SLOT_ACTIVE;
  t.previous = TN_OTA_NO_SLOT;
  st = tn_ota_store_table(ota, &t);
  /* Should the write fail, the trial stays recorded and the boot rule
   * reverts it at the next start. */
  if (st != TN_OK) return fail(ota, st);
  ++ota->stats.reverts;
  /* The committed transfer of this slot is over too (as the boot rule
   * would find): MODEL_STATUS no longer offers it for activation. A failed
   * write leaves it to that rule. */
  if (ota->transfer.state == TN_OTA_TRANSFER_COMMITTED &&
      ota->transfer.slot == slot) {
    tn_ota_transfer none;
    memset(&none, 0, sizeof(none));
    none.generation = ota->transfer.generation;
    none.state = TN_OTA_TRANSFER_NONE;
    none.slot = TN_OTA_NO_SLOT;
    none.base_slot = TN_OTA_NO_SLOT;
    (void)tn_ota_store_transfer(ota, &none);
  }
  return fail(ota, verdict);
}

tn_status tn_ota_confirm(tn_ota* ota, uint8_t slot) {
  if (ota == NULL) return TN_ERR_NULL;
  if (slot >= ota->table.slot_count || slot != ota->table.running) {
    return fail(ota, TN_ERR_SLOT);
  }
  if (ota->table.slots[slot].state == TN_LINK_SLOT_ACTIVE) return TN_OK;
  tn_ota_table t = ota->table;
  t.slots[slot].state = TN_LINK_SLOT_ACTIVE;
  if (t.slots[slot].rollback_counter > t.rollback_floor) {
    t.rollback_floor = t.slots[slot].rollback_counter;
  }
  return fail(ota, tn_ota_store_table(ota, &t));
}

tn_status tn_ota_rollback(tn_ota* ota, uint8_t slot) {
  if (ota == NULL) return TN_ERR_NULL;
  if (slot >= ota->table.slot_count || slot != ota->table.running) {
    return fail(ota, TN_ERR_SLOT);
  }
  uint8_t p = ota->table.previous;
  if (p == TN_OTA_NO_SLOT || ota->table.slots[p].state != TN_LINK_SLOT_VALID) {
    return fail(ota, TN_ERR_SLOT);
  }
  if (ota->table.slots[p].rollback_counter < ota->table.rollback_floor) {
    return fail(ota, TN_ERR_ROLLBACK);
  }
  tn_ota_table t = ota->table;
  t.slots[slot].state = TN_LINK_SLOT_VALID;
  t.slots[p].state = TN_LINK_SLOT_ACTIVE;
  t.running = p;
  t.previous = slot;
  return fail(ota, tn_ota_store_table(ota, &t));
}

/* ---- Trust --------------------------------------------------------------- */

tn_status tn_ota_set_model_key(tn_ota* ota,
                               const uint8_t key[TN_OTA_PUBLIC_KEY_SIZE]) {
  if (ota == NULL || key == NULL) return TN_ERR_NULL;
  if (key[0] != 0x04) return fail(ota, TN_ERR_KEY_INVALID);
  const tn_ota_verifier* vf = &ota->cfg.verifier;
  tn_status st = vf->check_key != NULL ? vf->check_key(vf->ctx, key)
                                       : tn_p256_check_public_key(key);
  if (st != TN_OK) return fail(ota, st);
  uint8_t digest[TN_SHA256_DIGEST_SIZE];
  st = tn_sha256(key, TN_OTA_PUBLIC_KEY_SIZE, digest);
  if (st != TN_OK) return fail(ota, st);
  uint32_t gen = ota->trust.generation;
  uint8_t copy = ota->trust_copy;
  st = tn_ota_record_store(&ota->cfg.storage, &tn_ota_key_kind, key,
                           TN_OTA_KEY_BODY, &gen, &copy);
  if (st != TN_OK) return fail(ota, st);
  ota->trust.generation = gen;
  ota->trust_copy = copy;
  ota->trust.set = 1;
  memcpy(ota->trust.public_key, key, TN_OTA_PUBLIC_KEY_SIZE);
  memcpy(ota->trust.key_id, digest, TN_OTA_KEY_ID_SIZE);
  ++ota->stats.records_written;
  return TN_OK;
}

/* ---- Reports ------------------------------------------------------------- */

void tn_ota_link_slots(const tn_ota* ota, tn_link_slot* slots,
                       uint8_t* slot_count) {
  if (ota == NULL || slots == NULL || slot_count == NULL) return;
  *slot_count = ota->table.slot_count;
  for (uint8_t i = 0; i < ota->table.slot_count; ++i) {
    const tn_ota_slot* s = &ota->table.slots[i];
    slots[i].state = s->state;
    if (holds_model(s->state)) {
      memcpy(slots[i].model_id, s->model_id, TN_OTA_MODEL_ID_SIZE);
      slots[i].model_version = s->model_version;
    } else {
      memset(slots[i].model_id, 0, TN_OTA_MODEL_ID_SIZE);
      slots[i].model_version = 0;
    }
  }
}

void tn_ota_status(const tn_ota* ota, tn_link_model_status_reply* out) {
  if (ota == NULL || out == NULL) return;
  memset(out, 0, sizeof(*out));
  const tn_ota_transfer* x = &ota->transfer;
  out->transfer = x->state;
  out->target_slot = TN_LINK_NO_SLOT;
  if (x->state != TN_OTA_TRANSFER_NONE) {
    memcpy(out->artifact_id, x->artifact_id, TN_OTA_ARTIFACT_ID_SIZE);
    out->target_slot = x->slot;
    out->total_size = x->total_size;
    /* The resume point: every byte below it is in the slot. After a reset
     * `received` restarts at the persisted progress. */
    out->committed_offset =
        x->state == TN_OTA_TRANSFER_RECEIVING ? ota->received : x->committed;
  }
  out->running_slot = ota->table.running;
  out->previous_slot = ota->table.previous;
  out->rollback_floor = ota->table.rollback_floor;
  out->key_state =
      ota->trust.set ? TN_LINK_MODEL_KEY_SET : TN_LINK_MODEL_KEY_NONE;
  if (ota->trust.set) {
    memcpy(out->model_key_id, ota->trust.key_id, TN_OTA_KEY_ID_SIZE);
  }
  out->slot_count = ota->table.slot_count;
  for (uint8_t i = 0; i < ota->table.slot_count; ++i) {
    const tn_ota_slot* s = &ota->table.slots[i];
    out->slots[i].state = s->state;
    out->slots[i].reason = s->reason;
    out->slots[i].rollback_counter = s->rollback_counter;
  }
}
