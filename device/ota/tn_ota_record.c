/*
 * Persisted records of the OTA room: the double-buffered record layer
 * (two regions per record, the newer valid copy wins, a new generation
 * always goes to the other region) and the byte layout of the slot table
 * and transfer records. docs/formats/ota.md, section 3, is the normative
 * layout.
 */
#include <string.h>

#include "ota/tn_ota_internal.h"

/* Transfer records written before deltas existed end after `committed`
 * (58 bytes): such a transfer is a blob transfer (kind 0, no base slot,
 * no delta progress). */
#define TN_OTA_TRANSFER_BODY_V0 58u
static const uint8_t
    transfer_v0_suffix[TN_OTA_TRANSFER_BODY - TN_OTA_TRANSFER_BODY_V0] = {
        TN_OTA_KIND_BLOB, TN_OTA_NO_SLOT};

const tn_ota_record_kind tn_ota_table_kind = {
    {TN_OTA_TABLE_REGION_A, TN_OTA_TABLE_REGION_B},
    {'T', 'N', 'O', 'T'},
    0,
    NULL};
const tn_ota_record_kind tn_ota_transfer_kind = {
    {TN_OTA_TRANSFER_REGION_A, TN_OTA_TRANSFER_REGION_B},
    {'T', 'N', 'O', 'X'},
    TN_OTA_TRANSFER_BODY_V0,
    transfer_v0_suffix};
const tn_ota_record_kind tn_ota_key_kind = {
    {TN_OTA_KEY_REGION_A, TN_OTA_KEY_REGION_B}, {'T', 'N', 'O', 'K'}, 0, NULL};

/* Reads one copy. *state: 0 never written, 1 valid, 2 damaged (a cut or
 * corrupted write), 3 foreign (intact, but of another format or size: a
 * record this configuration cannot read). */
static tn_status read_copy(const tn_ota_storage* storage,
                           const tn_ota_record_kind* kind, int which,
                           uint8_t* rec, size_t body_len, int* state,
                           uint32_t* generation, size_t* read_body_len) {
  size_t len = 0;
  tn_status st = storage->read(storage->ctx, kind->region[which], rec,
                               TN_OTA_RECORD_MAX, &len);
  *state = 0;
  if (st == TN_ERR_NOT_FOUND) return TN_OK;
  if (st == TN_ERR_BUFFER_TOO_SMALL) {
    *state = 2;
    return TN_OK;
  }
  if (st != TN_OK) return st;
  size_t want = body_len + TN_OTA_RECORD_OVERHEAD;
  if (len < TN_OTA_RECORD_OVERHEAD || memcmp(rec, kind->magic, 4) != 0 ||
      tn_link_crc32(0, rec, len - 4) != tn_load_u32le(rec + len - 4)) {
    *state = 2;
    return TN_OK;
  }
  int legacy = kind->legacy_body_len != 0 && kind->legacy_body_len < body_len &&
               len == kind->legacy_body_len + TN_OTA_RECORD_OVERHEAD;
  if ((len != want && !legacy) || rec[4] != TN_OTA_RECORD_FORMAT) {
    *state = 3;
    return TN_OK;
  }
  *state = 1;
  *read_body_len = len - TN_OTA_RECORD_OVERHEAD;
  *generation = tn_load_u32le(rec + 5);
  return TN_OK;
}

tn_status tn_ota_record_load(const tn_ota_storage* storage,
                             const tn_ota_record_kind* kind, uint8_t* body,
                             size_t body_len, int* found, uint32_t* generation,
                             uint8_t* copy) {
  uint8_t rec[2][TN_OTA_RECORD_MAX];
  int state[2];
  uint32_t gen[2] = {0, 0};
  size_t read_len[2] = {0, 0};
  *found = 0;
  *copy = 1;
  *generation = 0;
  if (body_len + TN_OTA_RECORD_OVERHEAD > TN_OTA_RECORD_MAX) {
    return TN_ERR_INTERNAL;
  }
  for (int i = 0; i < 2; ++i) {
    tn_status st = read_copy(storage, kind, i, rec[i], body_len, &state[i],
                             &gen[i], &read_len[i]);
    if (st != TN_OK) return st;
    if (state[i] == 3) return TN_ERR_STORAGE;
  }
  int pick = -1;
  if (state[0] == 1 && state[1] == 1) {
    /* Generations are consecutive; compare modulo 2^32. */
    pick = (int32_t)(gen[1] - gen[0]) > 0 ? 1 : 0;
  } else if (state[0] == 1) {
    pick = 0;
  } else if (state[1] == 1) {
    pick = 1;
  }
  if (pick < 0) {
    /* No valid copy. Region A is always written first, and a failed write
     * never moves on to the other region, so a damaged copy beside one
     * that was never written is a first write cut short: no record yet.
     * Two damaged copies cannot come from cut writes: refused. */
    return (state[0] == 2 && state[1] == 2) ? TN_ERR_STORAGE : TN_OK;
  }
  memcpy(body, rec[pick] + TN_OTA_RECORD_HEADER, read_len[pick]);
  if (read_len[pick] < body_len) {
    /* An earlier body size (read_copy accepts only legacy_body_len). */
    memcpy(body + read_len[pick], kind->legacy_suffix,
           body_len - read_len[pick]);
  }
  *found = 1;
  *generation = gen[pick];
  *copy = (uint8_t)pick;
  return TN_OK;
}

tn_status tn_ota_record_store(const tn_ota_storage* storage,
                              const tn_ota_record_kind* kind,
                              const uint8_t* body, size_t body_len,
                              uint32_t* generation, uint8_t* copy) {
  uint8_t rec[TN_OTA_RECORD_MAX];
  size_t len = body_len + TN_OTA_RECORD_OVERHEAD;
  if (len > TN_OTA_RECORD_MAX) return TN_ERR_INTERNAL;
  uint32_t next = *generation + 1u;
  uint8_t target = (uint8_t)(*copy ^ 1u);
  memcpy(rec, kind->magic, 4);
  rec[4] = TN_OTA_RECORD_FORMAT;
  tn_store_u32le(rec + 5, next);
  memcpy(rec + TN_OTA_RECORD_HEADER, body, body_len);
  tn_store_u32le(rec + len - 4, tn_link_crc32(0, rec, len - 4));
  tn_status st = storage->write(storage->ctx, kind->region[target], rec, len);
  if (st != TN_OK) return st;
  *generation = next;
  *copy = target;
  return TN_OK;
}

/* ---- Slot table ---------------------------------------------------------- */

size_t tn_ota_table_encode(const tn_ota_table* t, uint8_t* body) {
  tn_store_u32le(body, t->rollback_floor);
  body[4] = t->running;
  body[5] = t->previous;
  body[6] = t->slot_count;
  size_t pos = TN_OTA_TABLE_FIXED;
  for (uint8_t i = 0; i < t->slot_count && i < TN_OTA_MAX_SLOTS; ++i) {
    const tn_ota_slot* s = &t->slots[i];
    body[pos] = s->state;
    memcpy(body + pos + 1, s->model_id, TN_OTA_MODEL_ID_SIZE);
    tn_store_u32le(body + pos + 17, s->model_version);
    tn_store_u32le(body + pos + 21, s->rollback_counter);
    tn_store_u16le(body + pos + 25, s->reason);
    pos += TN_OTA_SLOT_RECORD_SIZE;
  }
  return pos;
}

void tn_ota_table_decode(const uint8_t* body, uint8_t slot_count,
                         tn_ota_table* t) {
  memset(t->slots, 0, sizeof(t->slots));
  t->rollback_floor = tn_load_u32le(body);
  t->running = body[4];
  t->previous = body[5];
  t->slot_count = body[6];
  size_t pos = TN_OTA_TABLE_FIXED;
  for (uint8_t i = 0; i < slot_count && i < TN_OTA_MAX_SLOTS; ++i) {
    tn_ota_slot* s = &t->slots[i];
    s->state = body[pos];
    memcpy(s->model_id, body + pos + 1, TN_OTA_MODEL_ID_SIZE);
    s->model_version = tn_load_u32le(body + pos + 17);
    s->rollback_counter = tn_load_u32le(body + pos + 21);
    s->reason = tn_load_u16le(body + pos + 25);
    pos += TN_OTA_SLOT_RECORD_SIZE;
  }
}

static int slot_is_running(uint8_t state) {
  return state == TN_LINK_SLOT_ACTIVE || state == TN_LINK_SLOT_PENDING_CONFIRM;
}

int tn_ota_table_check(const tn_ota_table* t, uint8_t slot_count) {
  if (t->slot_count != slot_count || slot_count > TN_OTA_MAX_SLOTS) return 0;
  uint8_t running = TN_OTA_NO_SLOT;
  for (uint8_t i = 0; i < slot_count; ++i) {
    const tn_ota_slot* s = &t->slots[i];
    if (s->state > TN_LINK_SLOT_FAILED) return 0;
    if (s->state != TN_LINK_SLOT_FAILED && s->reason != 0) return 0;
    if (s->state == TN_LINK_SLOT_EMPTY || s->state == TN_LINK_SLOT_FAILED) {
      uint8_t acc = 0;
      for (uint32_t k = 0; k < TN_OTA_MODEL_ID_SIZE; ++k) {
        acc |= s->model_id[k];
      }
      if (acc != 0 || s->model_version != 0 || s->rollback_counter != 0) {
        return 0;
      }
    }
    if (slot_is_running(s->state)) {
      if (running != TN_OTA_NO_SLOT) return 0; /* two running slots */
      running = i;
    }
  }
  if (t->running != running) return 0;
  if (t->previous != TN_OTA_NO_SLOT) {
    if (t->previous >= slot_count || t->previous == t->running ||
        t->slots[t->previous].state != TN_LINK_SLOT_VALID) {
      return 0;
    }
  }
  return 1;
}

/* ---- Transfer ------------------------------------------------------------ */

void tn_ota_transfer_encode(const tn_ota_transfer* x, uint8_t* body) {
  body[0] = x->state;
  memcpy(body + 1, x->artifact_id, TN_OTA_ARTIFACT_ID_SIZE);
  tn_store_u32le(body + 17, x->total_size);
  memcpy(body + 21, x->sha256, TN_OTA_SHA256_SIZE);
  body[53] = x->slot;
  tn_store_u32le(body + 54, x->committed);
  body[58] = x->kind;
  body[59] = x->base_slot;
  tn_store_u32le(body + 60, x->delta.result_size);
  tn_store_u32le(body + 64, x->delta.written);
  body[68] = x->delta.op;
  tn_store_u32le(body + 69, x->delta.op_left);
  tn_store_u32le(body + 73, x->delta.op_src);
  body[77] = x->delta.mask;
  body[78] = x->delta.bit;
}

void tn_ota_transfer_decode(const uint8_t* body, tn_ota_transfer* x) {
  x->state = body[0];
  memcpy(x->artifact_id, body + 1, TN_OTA_ARTIFACT_ID_SIZE);
  x->total_size = tn_load_u32le(body + 17);
  memcpy(x->sha256, body + 21, TN_OTA_SHA256_SIZE);
  x->slot = body[53];
  x->committed = tn_load_u32le(body + 54);
  x->kind = body[58];
  x->base_slot = body[59];
  x->delta.result_size = tn_load_u32le(body + 60);
  x->delta.written = tn_load_u32le(body + 64);
  x->delta.op = body[68];
  x->delta.op_left = tn_load_u32le(body + 69);
  x->delta.op_src = tn_load_u32le(body + 73);
  x->delta.mask = body[77];
  x->delta.bit = body[78];
}

/* ---- Store helpers ------------------------------------------------------- */

tn_status tn_ota_store_table(tn_ota* ota, const tn_ota_table* t) {
  uint8_t body[TN_OTA_RECORD_MAX];
  size_t len = tn_ota_table_encode(t, body);
  uint32_t gen = ota->table.generation;
  uint8_t copy = ota->table_copy;
  tn_status st = tn_ota_record_store(&ota->cfg.storage, &tn_ota_table_kind,
                                     body, len, &gen, &copy);
  if (st != TN_OK) return st;
  ota->table = *t;
  ota->table.generation = gen;
  ota->table_copy = copy;
  ++ota->stats.records_written;
  return TN_OK;
}

tn_status tn_ota_store_transfer(tn_ota* ota, const tn_ota_transfer* x) {
  uint8_t body[TN_OTA_TRANSFER_BODY];
  tn_ota_transfer_encode(x, body);
  uint32_t gen = ota->transfer.generation;
  uint8_t copy = ota->transfer_copy;
  tn_status st = tn_ota_record_store(&ota->cfg.storage, &tn_ota_transfer_kind,
                                     body, sizeof(body), &gen, &copy);
  if (st != TN_OK) return st;
  ota->transfer = *x;
  ota->transfer.generation = gen;
  ota->transfer_copy = copy;
  ++ota->stats.records_written;
  return TN_OK;
}
