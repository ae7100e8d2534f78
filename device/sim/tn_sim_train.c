/*
 * The virtual node's training jobs: the link requests TRAIN, TRAIN_TAIL,
 * TRAIN_STATUS, UPDATE_READ and TRAIN_CANCEL (docs/formats/link-protocol.md,
 * "Training") over device/adapt's job, run on a copy of the blob in the
 * running slot and on the node's local shard. The job advances in slices
 * from tn_sim_node_poll. Requests are idempotent: a repeated TRAIN of the
 * current job, a TRAIN_TAIL chunk below the received offset and a cancel of
 * a job that is not there all succeed without changing anything.
 */
#include <string.h>

#include "sim/tn_sim_internal.h"

/* Protocol errors the handler answers must not be TN_ERR_ARG or
 * TN_ERR_BUFFER_TOO_SMALL, which tn_sim_node_handle reads as "our reply did
 * not encode". */
static tn_status as_nack(tn_status st) {
  if (st == TN_ERR_ARG) return TN_ERR_MSG_MALFORMED;
  if (st == TN_ERR_BUFFER_TOO_SMALL) return TN_ERR_MEMORY_BUDGET;
  return st;
}

tn_status tn_sim_train_open(tn_sim_node* node, const tn_sim_config* cfg) {
  const tn_sim_train_config* t = &cfg->train;
  if (t->data == NULL) return TN_OK;
  if (!node->ota_enabled || t->blob_buffer == NULL || t->arena == NULL ||
      t->workspace == NULL || t->tail_buffer == NULL || t->data->read == NULL ||
      ((uintptr_t)t->arena & 7u) != 0 || ((uintptr_t)t->workspace & 7u) != 0) {
    return TN_ERR_ARG;
  }
  node->train_cfg = *t;
  if (node->train_cfg.slice == 0) {
    node->train_cfg.slice = TN_SIM_DEFAULT_TRAIN_SLICE;
  }
  tn_status st =
      tn_adapt_job_init(&node->training.job, t->residual, t->residual_capacity);
  if (st != TN_OK) return st;
  node->train_enabled = 1;
  node->info.capabilities |= TN_LINK_CAP_TRAIN;
  return TN_OK;
}

/* Loads the running slot's blob into the training model (once per slot
 * content). TN_ERR_NOT_FOUND when no slot runs. */
static tn_status load_model(tn_sim_node* node) {
  tn_sim_training* tr = &node->training;
  const tn_ota_table* table = &node->ota.table;
  const uint8_t slot = table->running;
  if (slot == TN_OTA_NO_SLOT || slot >= table->slot_count) {
    return TN_ERR_NOT_FOUND;
  }
  const tn_ota_slot* s = &table->slots[slot];
  if (tr->model_loaded && tr->model_slot == slot &&
      tr->model_version == s->model_version &&
      memcmp(tr->model_id, s->model_id, TN_LINK_MODEL_ID_SIZE) == 0) {
    return TN_OK;
  }
  tr->model_loaded = 0;
  const tn_ota_flash* flash = &node->ota.cfg.flash;
  uint8_t header[TN_BLOB_HEADER_SIZE];
  tn_status st =
      flash->read(flash->ctx, slot, 0, header, (uint32_t)sizeof(header));
  if (st != TN_OK) return st;
  const uint32_t size = tn_load_u32le(header + 8);
  if (size < TN_BLOB_HEADER_SIZE || size > flash->slot_size ||
      size > node->train_cfg.blob_buffer_size) {
    return TN_ERR_MEMORY_BUDGET;
  }
  st = flash->read(flash->ctx, slot, 0, node->train_cfg.blob_buffer, size);
  if (st == TN_OK) {
    st = tn_blob_parse(node->train_cfg.blob_buffer, size, NULL, &tr->blob);
  }
  size_t need = 0;
  if (st == TN_OK) st = tn_model_arena_size(&tr->blob, NULL, &need);
  if (st != TN_OK) return st;
  if (need > node->train_cfg.arena_size) return TN_ERR_MEMORY_BUDGET;
  st = tn_model_init(&tr->model, &tr->blob, node->train_cfg.arena,
                     node->train_cfg.arena_size, NULL);
  if (st == TN_OK) st = tn_blob_frozen_sha256(&tr->blob, tr->frozen);
  if (st != TN_OK) return st;
  tr->model_slot = slot;
  tr->model_version = s->model_version;
  memcpy(tr->model_id, s->model_id, TN_LINK_MODEL_ID_SIZE);
  tr->model_loaded = 1;
  return TN_OK;
}

static void stop_job(tn_sim_training* tr, uint8_t state, tn_status status) {
  tn_adapt_job_cancel(&tr->job);
  tr->state = state;
  tr->status = (uint16_t)status;
}

static tn_status execute_train(tn_sim_node* node, const tn_link_frame* req) {
  tn_sim_training* tr = &node->training;
  tn_link_train m;
  tn_link_train_params p;
  memset(&p, 0, sizeof(p)); /* padding too: jobs are compared bytewise */
  if (tn_link_train_decode(req->payload, req->payload_len, &m) != TN_OK ||
      m.job_id == 0 ||
      tn_link_train_params_decode(m.params, m.params_len, &p) != TN_OK) {
    return TN_ERR_MSG_MALFORMED;
  }
  /* The current job again (an agent that restarted): nothing to do. */
  if (tr->job_id == m.job_id && tr->state != TN_LINK_TRAIN_IDLE &&
      tr->state != TN_LINK_TRAIN_CANCELLED &&
      tr->state != TN_LINK_TRAIN_FAILED &&
      memcmp(&tr->params, &p, sizeof(p)) == 0) {
    return TN_OK;
  }
  tn_status st = load_model(node);
  if (st != TN_OK) return as_nack(st);
  if (memcmp(tr->frozen, p.frozen_sha256, TN_ADAPT_HASH_SIZE) != 0) {
    return TN_ERR_FROZEN_MISMATCH;
  }
  if (p.tail_size > node->train_cfg.tail_buffer_size) {
    return TN_ERR_MEMORY_BUDGET;
  }
  size_t need = 0;
  st = tn_adapt_job_workspace_size(&tr->model, &p,
                                   node->train_cfg.data->train_count,
                                   node->train_cfg.data->heldout_count, &need);
  if (st != TN_OK) return as_nack(st);
  if (need > node->train_cfg.workspace_size) return TN_ERR_MEMORY_BUDGET;
  tn_adapt_job_cancel(&tr->job);
  tr->job_id = m.job_id;
  memcpy(&tr->params, &p, sizeof(p));
  tr->state = TN_LINK_TRAIN_RECEIVING;
  tr->status = 0;
  tr->tail_received = 0;
  return TN_OK;
}

static tn_status execute_tail(tn_sim_node* node, const tn_link_frame* req) {
  tn_sim_training* tr = &node->training;
  tn_link_train_tail m;
  if (tn_link_train_tail_decode(req->payload, req->payload_len, &m) != TN_OK) {
    return TN_ERR_MSG_MALFORMED;
  }
  if (m.job_id == 0 || m.job_id != tr->job_id) return TN_ERR_NOT_FOUND;
  const uint64_t end = (uint64_t)m.offset + m.data_len;
  if (end > tr->params.tail_size) return TN_ERR_OTA_OFFSET;
  if (tr->state != TN_LINK_TRAIN_RECEIVING) {
    /* A repeated chunk of a tail already complete. */
    return (tr->state == TN_LINK_TRAIN_RUNNING ||
            tr->state == TN_LINK_TRAIN_DONE) &&
                   end <= tr->tail_received
               ? TN_OK
               : TN_ERR_STATE;
  }
  if (m.offset > tr->tail_received) return TN_ERR_OTA_OFFSET;
  memcpy(node->train_cfg.tail_buffer + m.offset, m.data, m.data_len);
  if (end > tr->tail_received) tr->tail_received = (uint32_t)end;
  if (tr->tail_received < tr->params.tail_size) return TN_OK;
  tn_status st = tn_adapt_job_start(
      &tr->job, &tr->model, tr->frozen, node->train_cfg.data, &tr->params,
      node->train_cfg.tail_buffer, tr->params.tail_size,
      node->train_cfg.workspace, node->train_cfg.workspace_size);
  if (st != TN_OK) {
    st = as_nack(st);
    stop_job(tr, TN_LINK_TRAIN_FAILED, st);
    return st;
  }
  tr->state = TN_LINK_TRAIN_RUNNING;
  return TN_OK;
}

static tn_status execute_status(tn_sim_node* node, const tn_link_frame* req,
                                uint8_t* reply, size_t cap, size_t* len) {
  tn_sim_training* tr = &node->training;
  tn_link_train_status q;
  if (tn_link_train_status_decode(req->payload, req->payload_len, &q) !=
      TN_OK) {
    return TN_ERR_MSG_MALFORMED;
  }
  tn_link_train_status_reply r;
  memset(&r, 0, sizeof(r));
  if (tr->job_id != 0 && tr->state != TN_LINK_TRAIN_IDLE) {
    r.job_id = tr->job_id;
    r.state = tr->state;
    r.status = tr->status;
    r.tail_received = tr->tail_received;
    r.tail_size = tr->params.tail_size;
    tn_adapt_job_progress(&tr->job, &r.steps_done, &r.steps_total);
    if (tr->state != TN_LINK_TRAIN_RUNNING && tr->state != TN_LINK_TRAIN_DONE) {
      r.steps_done = r.steps_total = 0;
    }
    if (tr->state == TN_LINK_TRAIN_DONE) {
      size_t size = 0;
      tn_adapt_report rep;
      tn_status st =
          tn_adapt_job_update(&tr->job, NULL, &size, r.update_sha256, &rep);
      if (st != TN_OK) return TN_ERR_INTERNAL;
      r.update_size = (uint32_t)size;
      r.samples = rep.samples;
      r.loss_before = rep.loss_before;
      r.loss_after = rep.loss_after;
      r.accuracy_before = rep.accuracy_before;
      r.accuracy_after = rep.accuracy_after;
    }
  }
  return tn_link_train_status_reply_encode(&r, reply, cap, len);
}

static tn_status execute_read(tn_sim_node* node, const tn_link_frame* req,
                              uint8_t* reply, size_t cap, size_t* len) {
  tn_sim_training* tr = &node->training;
  tn_link_update_read q;
  if (tn_link_update_read_decode(req->payload, req->payload_len, &q) != TN_OK) {
    return TN_ERR_MSG_MALFORMED;
  }
  if (q.job_id == 0 || q.job_id != tr->job_id) return TN_ERR_NOT_FOUND;
  if (tr->state != TN_LINK_TRAIN_DONE) return TN_ERR_STATE;
  const uint8_t* data = NULL;
  size_t size = 0;
  if (tn_adapt_job_update(&tr->job, &data, &size, NULL, NULL) != TN_OK) {
    return TN_ERR_INTERNAL;
  }
  if (q.offset >= size) return TN_ERR_OTA_OFFSET;
  uint32_t n = q.max_len;
  const uint32_t peer =
      node->peer_max_payload > 14u ? node->peer_max_payload - 14u : 0u;
  if (n > peer) n = peer;
  if (n > cap - 14u) n = (uint32_t)(cap - 14u);
  if (n > size - q.offset) n = (uint32_t)(size - q.offset);
  if (n == 0) return TN_ERR_STATE;
  tn_link_update_chunk c;
  c.job_id = q.job_id;
  c.total_size = (uint32_t)size;
  c.offset = q.offset;
  c.data_len = (uint16_t)n;
  c.data = data + q.offset;
  return tn_link_update_chunk_encode(&c, reply, cap, len);
}

static tn_status execute_cancel(tn_sim_node* node, const tn_link_frame* req) {
  tn_sim_training* tr = &node->training;
  tn_link_train_cancel m;
  if (tn_link_train_cancel_decode(req->payload, req->payload_len, &m) !=
      TN_OK) {
    return TN_ERR_MSG_MALFORMED;
  }
  if (m.job_id != 0 && m.job_id == tr->job_id &&
      tr->state != TN_LINK_TRAIN_IDLE) {
    stop_job(tr, TN_LINK_TRAIN_CANCELLED, TN_OK);
  }
  return TN_OK;
}

int tn_sim_train_handles(uint8_t type) {
  return type == TN_LINK_MSG_TRAIN || type == TN_LINK_MSG_TRAIN_TAIL ||
         type == TN_LINK_MSG_TRAIN_STATUS || type == TN_LINK_MSG_UPDATE_READ ||
         type == TN_LINK_MSG_TRAIN_CANCEL;
}

tn_status tn_sim_train_handle(tn_sim_node* node, const tn_link_frame* req,
                              uint8_t* reply_type, uint8_t* reply, size_t cap,
                              size_t* reply_len) {
  *reply_type = 0;
  *reply_len = 0;
  if (!node->train_enabled) return TN_ERR_UNSUPPORTED;
  switch (req->type) {
    case TN_LINK_MSG_TRAIN:
      return execute_train(node, req);
    case TN_LINK_MSG_TRAIN_TAIL:
      return execute_tail(node, req);
    case TN_LINK_MSG_TRAIN_STATUS:
      *reply_type = TN_LINK_MSG_TRAIN_STATUS_REPLY;
      return execute_status(node, req, reply, cap, reply_len);
    case TN_LINK_MSG_UPDATE_READ:
      *reply_type = TN_LINK_MSG_UPDATE_CHUNK;
      return execute_read(node, req, reply, cap, reply_len);
    case TN_LINK_MSG_TRAIN_CANCEL:
      return execute_cancel(node, req);
    default:
      return TN_ERR_MSG_TYPE;
  }
}

void tn_sim_train_poll(tn_sim_node* node) {
  if (!node->train_enabled) return;
  tn_sim_training* tr = &node->training;
  if (tr->state != TN_LINK_TRAIN_RUNNING) return;
  int finished = 0;
  tn_status st = tn_adapt_job_step(&tr->job, node->train_cfg.slice, &finished);
  if (st != TN_OK) {
    /* The job keeps its update buffer only when done. */
    tr->state = TN_LINK_TRAIN_FAILED;
    tr->status = (uint16_t)st;
    return;
  }
  if (finished) tr->state = TN_LINK_TRAIN_DONE;
}

int tn_sim_node_busy(const tn_sim_node* node) {
  return node != NULL && node->train_enabled &&
         node->training.state == TN_LINK_TRAIN_RUNNING;
}
