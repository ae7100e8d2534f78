/*
 * Boot of the OTA room: configuration checks, loading the three persisted
 * records (slot table, transfer, model key), and the boot rules -- a trial
 * interrupted by a reset reverts to its fallback, and a transfer record that
 * no longer matches the slot table is dropped (docs/formats/ota.md,
 * section 6).
 */
#include <stdint.h>
#include <string.h>

#include "ota/tn_ota_internal.h"
#include "secure/tn_secure.h"

void tn_ota_config_init(tn_ota_config* cfg) {
  if (cfg == NULL) return;
  memset(cfg, 0, sizeof(*cfg));
  cfg->target = TN_TARGET_HOST;
}

static int config_ok(const tn_ota_config* cfg) {
  if (cfg->target != TN_TARGET_HOST && cfg->target != TN_TARGET_GAP8 &&
      cfg->target != TN_TARGET_GAP9) {
    return 0;
  }
  const tn_ota_flash* f = &cfg->flash;
  if (f->slot_count < TN_OTA_MIN_SLOTS || f->slot_count > TN_OTA_MAX_SLOTS ||
      f->slot_size == 0) {
    return 0;
  }
  if (f->erase_size != 0 &&
      (f->erase == NULL || f->slot_size % f->erase_size != 0)) {
    return 0;
  }
  if (f->map == NULL &&
      (cfg->blob_buffer == NULL || cfg->blob_buffer_size == 0)) {
    return 0;
  }
  if (cfg->arena == NULL || cfg->arena_size == 0 ||
      ((uintptr_t)cfg->arena & 7u) != 0) {
    return 0;
  }
  if ((cfg->verifier.check_key == NULL) != (cfg->verifier.verify == NULL)) {
    return 0;
  }
  return 1;
}

static void fresh_table(tn_ota_table* t, uint8_t slot_count) {
  memset(t, 0, sizeof(*t));
  t->running = TN_OTA_NO_SLOT;
  t->previous = TN_OTA_NO_SLOT;
  t->slot_count = slot_count;
}

static void clear_transfer(tn_ota_transfer* x) {
  uint32_t gen = x->generation;
  memset(x, 0, sizeof(*x));
  x->generation = gen;
  x->state = TN_OTA_TRANSFER_NONE;
  x->slot = TN_OTA_NO_SLOT;
  x->base_slot = TN_OTA_NO_SLOT;
}

static tn_status load_table(tn_ota* ota) {
  uint8_t count = ota->cfg.flash.slot_count;
  uint8_t body[TN_OTA_RECORD_MAX];
  int found = 0;
  uint32_t gen = 0;
  uint8_t copy = 1;
  tn_status st =
      tn_ota_record_load(&ota->cfg.storage, &tn_ota_table_kind, body,
                         TN_OTA_TABLE_BODY(count), &found, &gen, &copy);
  if (st != TN_OK) return st;
  fresh_table(&ota->table, count);
  ota->table_copy = copy;
  if (!found) return TN_OK;
  tn_ota_table_decode(body, count, &ota->table);
  ota->table.generation = gen;
  return tn_ota_table_check(&ota->table, count) ? TN_OK : TN_ERR_STORAGE;
}

/* The delta fields of a transfer record describe a decoder position the
 * room could have reached (all zero for a blob transfer). */
static int delta_record_ok(const tn_ota_transfer* x, const tn_ota_flash* f) {
  const tn_ota_delta_state* d = &x->delta;
  if (x->kind == TN_OTA_KIND_BLOB) {
    return x->base_slot == TN_OTA_NO_SLOT && d->result_size == 0 &&
           d->written == 0 && d->op == 0 && d->op_left == 0 && d->op_src == 0 &&
           d->mask == 0 && d->bit == 0;
  }
  if (x->kind != TN_OTA_KIND_DELTA) return 0;
  if (d->result_size == 0) {
    /* Header not accepted yet: nothing decoded. */
    return x->committed == 0 && x->base_slot == TN_OTA_NO_SLOT &&
           d->written == 0 && d->op == 0 && d->op_left == 0;
  }
  if (x->base_slot >= f->slot_count || x->base_slot == x->slot ||
      x->committed < TN_OTA_DELTA_HEADER_SIZE ||
      d->result_size > f->slot_size || d->written > d->result_size ||
      d->op_left > d->result_size - d->written || d->bit > 8) {
    return 0;
  }
  if (d->op == 0) return d->op_left == 0;
  if (d->op == TN_OTA_DELTA_LITERAL) return d->op_left > 0;
  return d->op == TN_OTA_DELTA_PATCH && d->op_left > 0 &&
         d->op_src <= f->slot_size;
}

static tn_status load_transfer(tn_ota* ota) {
  uint8_t body[TN_OTA_TRANSFER_BODY];
  int found = 0;
  uint32_t gen = 0;
  uint8_t copy = 1;
  tn_status st = tn_ota_record_load(&ota->cfg.storage, &tn_ota_transfer_kind,
                                    body, sizeof(body), &found, &gen, &copy);
  if (st != TN_OK) return st;
  memset(&ota->transfer, 0, sizeof(ota->transfer));
  clear_transfer(&ota->transfer);
  ota->transfer_copy = copy;
  if (!found) return TN_OK;
  tn_ota_transfer_decode(body, &ota->transfer);
  ota->transfer.generation = gen;
  const tn_ota_transfer* x = &ota->transfer;
  if (x->state == TN_OTA_TRANSFER_NONE) {
    clear_transfer(&ota->transfer);
    return TN_OK;
  }
  if (x->state > TN_OTA_TRANSFER_COMMITTED ||
      x->slot >= ota->cfg.flash.slot_count || x->total_size == 0 ||
      x->committed > x->total_size ||
      (x->state == TN_OTA_TRANSFER_COMMITTED &&
       x->committed != x->total_size)) {
    return TN_ERR_STORAGE;
  }
  return delta_record_ok(x, &ota->cfg.flash) ? TN_OK : TN_ERR_STORAGE;
}

static tn_status load_key(tn_ota* ota) {
  uint8_t body[TN_OTA_KEY_BODY];
  int found = 0;
  uint32_t gen = 0;
  uint8_t copy = 1;
  tn_status st = tn_ota_record_load(&ota->cfg.storage, &tn_ota_key_kind, body,
                                    sizeof(body), &found, &gen, &copy);
  if (st != TN_OK) return st;
  memset(&ota->trust, 0, sizeof(ota->trust));
  ota->trust_copy = copy;
  if (!found) return TN_OK;
  if (body[0] != 0x04) return TN_ERR_STORAGE;
  uint8_t digest[TN_SHA256_DIGEST_SIZE];
  st = tn_sha256(body, TN_OTA_PUBLIC_KEY_SIZE, digest);
  if (st != TN_OK) return st;
  ota->trust.generation = gen;
  ota->trust.set = 1;
  memcpy(ota->trust.public_key, body, TN_OTA_PUBLIC_KEY_SIZE);
  memcpy(ota->trust.key_id, digest, TN_OTA_KEY_ID_SIZE);
  return TN_OK;
}

/* A reset during a trial: the trial slot failed, its fallback runs again. */
static tn_status revert_interrupted_trial(tn_ota* ota) {
  uint8_t r = ota->table.running;
  if (r == TN_OTA_NO_SLOT ||
      ota->table.slots[r].state != TN_LINK_SLOT_PENDING_CONFIRM) {
    return TN_OK;
  }
  tn_ota_table t = ota->table;
  memset(&t.slots[r], 0, sizeof(t.slots[r]));
  t.slots[r].state = TN_LINK_SLOT_FAILED;
  t.slots[r].reason = (uint16_t)TN_ERR_OTA_TRIAL_RESET;
  t.running = t.previous;
  if (t.running != TN_OTA_NO_SLOT) {
    t.slots[t.running].state = TN_LINK_SLOT_ACTIVE;
  }
  t.previous = TN_OTA_NO_SLOT;
  tn_status st = tn_ota_store_table(ota, &t);
  if (st != TN_OK) return st;
  ota->booted_revert = 1;
  ++ota->stats.reverts;
  return TN_OK;
}

/* Drops a transfer record that no longer describes its slot. */
static tn_status drop_stale_transfer(tn_ota* ota) {
  const tn_ota_transfer* x = &ota->transfer;
  if (x->state == TN_OTA_TRANSFER_NONE) return TN_OK;
  uint8_t state = ota->table.slots[x->slot].state;
  int stale = 0;
  if (x->state == TN_OTA_TRANSFER_RECEIVING) {
    stale =
        state != TN_LINK_SLOT_EMPTY || x->total_size > ota->cfg.flash.slot_size;
  } else {
    stale = state == TN_LINK_SLOT_EMPTY || state == TN_LINK_SLOT_FAILED;
  }
  if (!stale) return TN_OK;
  tn_ota_transfer none = ota->transfer;
  clear_transfer(&none);
  return tn_ota_store_transfer(ota, &none);
}

tn_status tn_ota_open(tn_ota* ota, const tn_ota_config* cfg) {
  if (ota == NULL || cfg == NULL) return TN_ERR_NULL;
  if (cfg->storage.read == NULL || cfg->storage.write == NULL ||
      cfg->flash.read == NULL || cfg->flash.write == NULL) {
    return TN_ERR_NULL;
  }
  if (!config_ok(cfg)) return TN_ERR_ARG;
  memset(ota, 0, sizeof(*ota));
  ota->cfg = *cfg;
  tn_status st = load_table(ota);
  if (st == TN_OK) st = load_transfer(ota);
  if (st == TN_OK) st = load_key(ota);
  if (st == TN_OK) st = revert_interrupted_trial(ota);
  if (st == TN_OK) st = drop_stale_transfer(ota);
  if (st != TN_OK) {
    ota->stats.last_error = (uint32_t)st;
    return st;
  }
  ota->received = ota->transfer.state == TN_OTA_TRANSFER_RECEIVING
                      ? ota->transfer.committed
                      : 0;
  /* A delta resumes at its persisted decoder position. */
  tn_ota_delta_decoder_init(&ota->delta);
  ota->delta.s = ota->transfer.delta;
  ota->delta_base = ota->transfer.base_slot;
  return TN_OK;
}
