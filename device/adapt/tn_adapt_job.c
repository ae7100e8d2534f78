/*
 * The node's training job: from a round's TNTL and TRAIN parameters to a
 * TNUP, in bounded slices so that the node keeps serving its link while it
 * trains. Latents of the local samples are computed once with the frozen
 * int8 front-end; evaluation and training then run only the FP32 tail.
 * Every loop is bounded by a count validated at start; all memory is the
 * caller's workspace, carved once.
 */
#include <string.h>

#include "adapt/tn_adapt_internal.h"
#include "secure/tn_secure.h"

#define ALIGN8(x) (((x) + 7u) & ~(size_t)7u)
#define RNG_STREAM 0x61646170u /* "adap" */

/* Everything a job's layout depends on, read from the model. */
typedef struct job_shape {
  tn_tail_layer layers[TN_TAIL_MAX_LAYERS];
  uint32_t layer_count;
  tn_train_shape input;
  float* params;
  uint32_t param_count;
  uint32_t cut_bytes;
  uint32_t cut_elems;
  uint32_t input_bytes;
} job_shape;

static tn_status read_shape(tn_model* model, job_shape* s) {
  tn_status st =
      tn_model_tail_spec(model, s->layers, TN_TAIL_MAX_LAYERS, &s->layer_count,
                         &s->input, &s->params, &s->param_count);
  if (st != TN_OK) return st;
  tn_tensor_view cut, in;
  st = tn_model_cut(model, &cut);
  if (st == TN_OK) st = tn_model_input(model, &in);
  if (st != TN_OK) return st;
  if (cut.desc.dtype != TN_DTYPE_INT8 || in.desc.dtype != TN_DTYPE_INT8) {
    return TN_ERR_UNSUPPORTED;
  }
  s->cut_bytes = cut.bytes;
  s->cut_elems = cut.bytes;
  s->input_bytes = in.bytes;
  return TN_OK;
}

static int sparse_of(const tn_link_train_params* p) {
  return p->top_k_ratio > 0.0f;
}

static int replay_of(const tn_link_train_params* p) {
  return p->kind == TN_LINK_TRAIN_LATENT_REPLAY;
}

static int few_shot_of(const tn_link_train_params* p) {
  return p->kind == TN_LINK_TRAIN_FEW_SHOT;
}

static int self_learning_of(const tn_link_train_params* p) {
  return p->kind == TN_LINK_TRAIN_SELF_LEARNING;
}

/* Kinds that enrol prototypes from shots. */
static int protos_of(const tn_link_train_params* p) {
  return few_shot_of(p) || self_learning_of(p);
}

static int negative_class(uint64_t negatives, uint32_t label) {
  return label < 64u && ((negatives >> label) & 1u) != 0;
}

/* The embedding of a tail: the output of layer num_layers - 2 (the
 * features before the classifier), or the tail's input (*layer =
 * UINT32_MAX) for a one-layer tail. */
static void embed_choice(const tn_tail* tail, uint32_t cut_elems,
                         uint32_t* layer, uint32_t* dim) {
  if (tail->num_layers < 2) {
    *layer = UINT32_MAX;
    *dim = cut_elems;
    return;
  }
  *layer = tail->num_layers - 2u;
  *dim = tn_train_shape_count(tail->shapes[tail->num_layers - 1u]);
}

static tn_replay_config replay_config(const tn_link_train_params* p,
                                      uint32_t sample_len, uint32_t classes) {
  tn_replay_config c;
  memset(&c, 0, sizeof(c));
  c.capacity = p->replay_samples;
  c.sample_len = sample_len;
  c.bits = p->replay_bits;
  c.num_classes = (uint16_t)classes;
  c.policy = TN_REPLAY_CLASS_BALANCED;
  c.scale = 1.0f;
  c.zero_point = 0;
  return c;
}

/* Sizes of the workspace areas, in carve order. */
typedef struct job_layout {
  tn_tail_sizes tail;
  size_t w0, delta, input, latents, labels, order, entries, replay, update,
      scratch;
  /* FEW_SHOT and SELF_LEARNING. */
  size_t embed, embeds, scores, shot_labels, class_shots, roles, fit_samples,
      protos;
  uint32_t embed_layer, embed_dim;
  size_t total;
  uint32_t tensor_sizes[TN_TNUP_MAX_TENSORS];
  uint32_t tensor_count;
  uint32_t max_tensor;
  uint32_t classes;
} job_layout;

static tn_status plan_layout(const job_shape* s, tn_tail* tail,
                             const tn_link_train_params* p, uint32_t train,
                             uint32_t heldout, job_layout* L) {
  memset(L, 0, sizeof(*L));
  tn_status st = tn_tail_init(tail, s->layers, s->layer_count, s->input);
  if (st != TN_OK) return st;
  st = tn_tail_buffer_sizes(tail, &L->tail);
  if (st != TN_OK) return st;
  if (L->tail.params != (size_t)s->param_count * sizeof(float)) {
    return TN_ERR_INTERNAL;
  }
  uint64_t sum = 0;
  for (uint32_t i = 0; i < tail->num_layers; ++i) {
    const uint32_t counts[2] = {tail->weight_count[i], tail->bias_count[i]};
    for (int k = 0; k < 2; ++k) {
      if (counts[k] == 0) continue;
      if (L->tensor_count == TN_TNUP_MAX_TENSORS) return TN_ERR_UNSUPPORTED;
      L->tensor_sizes[L->tensor_count++] = counts[k];
      if (counts[k] > L->max_tensor) L->max_tensor = counts[k];
      sum += counts[k];
    }
  }
  if (sum != s->param_count || L->tensor_count == 0) return TN_ERR_INTERNAL;
  tn_train_shape out = tn_tail_output_shape(tail);
  L->classes = tn_train_shape_count(out);
  if (L->classes < 2 || L->classes > 0xFFFFu) return TN_ERR_UNSUPPORTED;

  const uint64_t samples = (uint64_t)train + heldout;
  if (samples > TN_TRAIN_MAX_ELEMENTS) return TN_ERR_ARG;
  L->w0 = (size_t)s->param_count * sizeof(float);
  L->delta = L->w0;
  L->input = (size_t)s->cut_elems * sizeof(float);
  L->latents = (size_t)samples * s->cut_bytes;
  L->labels = (size_t)samples * sizeof(uint32_t);
  L->order = (size_t)train * sizeof(uint32_t);
  L->entries = (size_t)p->batch_size * sizeof(tn_batch_entry);
  if (replay_of(p)) {
    tn_replay_config rc = replay_config(p, s->cut_elems, L->classes);
    L->replay = tn_replay_buffer_size(&rc);
    if (L->replay == 0) return TN_ERR_ARG;
  }
  L->update = tn_tnup_max_size(L->tensor_sizes, L->tensor_count, sparse_of(p));
  if (L->update == 0) return TN_ERR_INTERNAL;
  L->scratch = tn_tnup_build_scratch_size(L->max_tensor);
  if (protos_of(p)) {
    embed_choice(tail, s->cut_elems, &L->embed_layer, &L->embed_dim);
    if (L->embed_dim == 0) return TN_ERR_UNSUPPORTED;
    /* Enrolling kinds work on all the node's samples (roles, below). */
    L->order = (size_t)samples * sizeof(uint32_t);
    L->embed = (size_t)L->embed_dim * sizeof(float);
    L->shot_labels = (size_t)samples * sizeof(uint32_t);
    L->class_shots = (size_t)L->classes * sizeof(uint32_t);
    L->roles = (size_t)samples;
    L->protos = tn_protos_buffer_size(L->classes, L->embed_dim);
    if (L->protos == 0) return TN_ERR_ARG;
    if (few_shot_of(p)) {
      L->embeds = (size_t)samples * L->embed_dim * sizeof(float);
      L->scores = (size_t)samples * sizeof(float);
    } else {
      L->fit_samples = (size_t)samples * s->cut_elems * sizeof(float);
    }
  }
  const size_t parts[] = {L->tail.grads,
                          L->tail.momentum,
                          L->tail.activations,
                          L->tail.scratch,
                          L->w0,
                          L->delta,
                          L->input,
                          L->latents,
                          L->labels,
                          L->order,
                          L->entries,
                          L->replay,
                          L->update,
                          L->scratch,
                          L->embed,
                          L->embeds,
                          L->scores,
                          L->shot_labels,
                          L->class_shots,
                          L->roles,
                          L->fit_samples,
                          L->protos};
  size_t total = 0;
  for (size_t i = 0; i < TN_ARRAY_SIZE(parts); ++i) total += ALIGN8(parts[i]);
  L->total = total;
  return TN_OK;
}

tn_status tn_adapt_job_init(tn_adapt_job* job, float* residual,
                            uint32_t residual_capacity) {
  if (job == NULL || (residual == NULL && residual_capacity > 0)) {
    return TN_ERR_NULL;
  }
  memset(job, 0, sizeof(*job));
  job->phase = TN_ADAPT_PHASE_IDLE;
  job->residual = residual;
  job->residual_capacity = residual_capacity;
  return TN_OK;
}

tn_status tn_adapt_job_workspace_size(tn_model* model,
                                      const tn_link_train_params* params,
                                      uint32_t train_count,
                                      uint32_t heldout_count, size_t* size) {
  if (model == NULL || params == NULL || size == NULL) return TN_ERR_NULL;
  job_shape s;
  tn_status st = read_shape(model, &s);
  if (st != TN_OK) return st;
  tn_tail tail;
  job_layout L;
  st = plan_layout(&s, &tail, params, train_count, heldout_count, &L);
  if (st != TN_OK) return st;
  *size = L.total;
  return TN_OK;
}

/* Replays per mini-batch of a LATENT_REPLAY job: a third of the batch
 * (rounded), at most the buffer's fill. */
static uint32_t replays_per_batch(const tn_link_train_params* p,
                                  uint32_t filled) {
  uint32_t rb = (uint32_t)(((uint64_t)p->batch_size + 1u) / 3u);
  return rb < filled ? rb : filled;
}

static uint32_t units_per_epoch(const tn_adapt_job* job) {
  if (!replay_of(&job->params)) return job->new_count;
  const uint32_t filled = job->new_first < job->params.replay_samples
                              ? job->new_first
                              : job->params.replay_samples;
  const uint32_t rb = replays_per_batch(&job->params, filled);
  const uint32_t nb = job->params.batch_size - rb;
  const uint32_t batches = (job->new_count + nb - 1u) / nb;
  return job->new_count + batches * rb;
}

/* Roles of a sample in FEW_SHOT and SELF_LEARNING jobs. The node's
 * samples (train split, then held-out split) are taken per class in that
 * order; with r the sample's rank among its class and k the shots: in a
 * class to enrol, r < k is a SHOT and of the rest the odd (r - k) are EVAL
 * and the even ones POOL (self-learning's unlabelled recordings; unused by
 * FEW_SHOT); in a FEW_SHOT negative class, even r is CALIB (threshold
 * calibration) and odd r EVAL. */
enum { ROLE_NONE = 0, ROLE_SHOT, ROLE_EVAL, ROLE_POOL, ROLE_CALIB };

static uint8_t role_of(int negative, uint32_t rank, uint32_t shots) {
  if (negative) return (rank & 1u) ? ROLE_EVAL : ROLE_CALIB;
  if (rank < shots) return ROLE_SHOT;
  return ((rank - shots) & 1u) ? ROLE_EVAL : ROLE_POOL;
}

/* FEW_SHOT and SELF_LEARNING: checks that the node's samples hold `shots`
 * of every class to enrol (FEW_SHOT: every keyword class, and at least one
 * keyword class and one negative sample; SELF_LEARNING: every class) and
 * leave at least one sample to evaluate on. Reads each sample's label
 * once, into the model's input. TN_ERR_NOT_FOUND when the data falls
 * short, TN_ERR_ARG for a label out of range. counts: `classes`
 * counters. */
static tn_status check_shots(tn_model* model, const tn_adapt_data* data,
                             const tn_link_train_params* p, uint32_t classes,
                             uint32_t input_bytes, uint32_t* counts) {
  tn_tensor_view in;
  tn_status st = tn_model_input(model, &in);
  if (st != TN_OK) return st;
  if (in.bytes != input_bytes) return TN_ERR_INTERNAL;
  memset(counts, 0, (size_t)classes * sizeof(uint32_t));
  const uint32_t samples = data->train_count + data->heldout_count;
  for (uint32_t i = 0; i < samples; ++i) {
    const uint32_t split =
        i < data->train_count ? TN_ADAPT_SPLIT_TRAIN : TN_ADAPT_SPLIT_HELDOUT;
    const uint32_t j =
        split == TN_ADAPT_SPLIT_TRAIN ? i : i - data->train_count;
    uint32_t label = 0;
    st = data->read(data->ctx, split, j, (int8_t*)in.data, input_bytes, &label);
    if (st != TN_OK) return st;
    if (label >= classes) return TN_ERR_ARG;
    ++counts[label];
  }
  uint32_t enrolled = 0, negatives = 0, eval = 0;
  for (uint32_t c = 0; c < classes; ++c) {
    if (few_shot_of(p) && negative_class(data->negative_classes, c)) {
      negatives += counts[c];
      eval += counts[c] / 2u;
      continue;
    }
    if (counts[c] < p->replay_samples) return TN_ERR_NOT_FOUND;
    eval += (counts[c] - p->replay_samples) / 2u;
    ++enrolled;
  }
  if (enrolled == 0 || eval == 0) return TN_ERR_NOT_FOUND;
  if (few_shot_of(p) && negatives == 0) return TN_ERR_NOT_FOUND;
  return TN_OK;
}

/* Assigns every cached sample its role (labels are known once the latents
 * are); job->class_shots counts ranks and is zero afterwards. */
static void assign_roles(tn_adapt_job* job) {
  const uint32_t samples = job->data.train_count + job->data.heldout_count;
  memset(job->class_shots, 0, (size_t)job->classes * sizeof(uint32_t));
  job->eval_count = 0;
  for (uint32_t i = 0; i < samples; ++i) {
    const uint32_t label = job->labels[i];
    job->roles[i] =
        role_of(negative_class(job->negatives, label),
                job->class_shots[label]++, job->params.replay_samples);
    job->eval_count += job->roles[i] == ROLE_EVAL;
  }
  memset(job->class_shots, 0, (size_t)job->classes * sizeof(uint32_t));
}

/* The next `size` bytes of a workspace whose cursor is 8-byte aligned;
 * the cursor stays aligned. */
static void* take(uint8_t** cursor, size_t size) {
  void* at = *cursor;
  *cursor += ALIGN8(size);
  return at;
}

tn_status tn_adapt_job_start(tn_adapt_job* job, tn_model* model,
                             const uint8_t model_frozen[TN_ADAPT_HASH_SIZE],
                             const tn_adapt_data* data,
                             const tn_link_train_params* params,
                             const uint8_t* tntl, size_t tntl_size,
                             void* workspace, size_t workspace_size) {
  if (job == NULL || model == NULL || model_frozen == NULL || data == NULL ||
      params == NULL || tntl == NULL || data->read == NULL) {
    return TN_ERR_NULL;
  }
  job->phase = TN_ADAPT_PHASE_IDLE;
  job->status = TN_OK;
  if (memcmp(model_frozen, params->frozen_sha256, TN_ADAPT_HASH_SIZE) != 0) {
    return TN_ERR_FROZEN_MISMATCH;
  }
  uint8_t digest[TN_ADAPT_HASH_SIZE];
  tn_status st = tn_sha256(tntl, tntl_size, digest);
  if (st != TN_OK) return st;
  if (tntl_size != params->tail_size ||
      memcmp(digest, params->tail_sha256, TN_ADAPT_HASH_SIZE) != 0) {
    return TN_ERR_UPDATE_CHECKSUM;
  }
  tn_tntl t;
  st = tn_tntl_decode(tntl, tntl_size, &t);
  if (st != TN_OK) return st;
  if (memcmp(t.frozen_sha256, model_frozen, TN_ADAPT_HASH_SIZE) != 0) {
    return TN_ERR_FROZEN_MISMATCH;
  }
  job_shape s;
  st = read_shape(model, &s);
  if (st != TN_OK) return st;
  if (s.param_count != t.param_count) return TN_ERR_UPDATE_BOUNDS;
  const uint32_t min_train = replay_of(params) ? 2u : 1u;
  if (data->train_count < min_train || data->heldout_count < 1) {
    return TN_ERR_NOT_FOUND;
  }
  job_layout L;
  st = plan_layout(&s, &job->tail, params, data->train_count,
                   data->heldout_count, &L);
  if (st != TN_OK) return st;
  if (workspace == NULL || workspace_size < L.total) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  if (((uintptr_t)workspace & 7u) != 0) return TN_ERR_ARG;
  if (sparse_of(params) && job->residual_capacity < s.param_count) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }

  /* Carve the workspace. */
  uint8_t* p = (uint8_t*)workspace;
  tn_tail_buffers b;
  memset(&b, 0, sizeof(b));
  b.params = s.params;
  b.sizes = L.tail;
  b.grads = (float*)take(&p, L.tail.grads);
  b.momentum = (float*)take(&p, L.tail.momentum);
  b.activations = (float*)take(&p, L.tail.activations);
  b.scratch = (float*)take(&p, L.tail.scratch);
  job->w0 = (float*)take(&p, L.w0);
  job->delta = (float*)take(&p, L.delta);
  job->input = (float*)take(&p, L.input);
  job->latents = (int8_t*)take(&p, L.latents);
  job->labels = (uint32_t*)take(&p, L.labels);
  job->order = (uint32_t*)take(&p, L.order);
  job->entries = (tn_batch_entry*)take(&p, L.entries);
  job->replay_storage = (uint8_t*)take(&p, L.replay);
  job->replay_storage_size = L.replay;
  job->update = (uint8_t*)take(&p, L.update);
  job->update_capacity = L.update;
  job->build_scratch = take(&p, L.scratch);
  job->build_scratch_size = L.scratch;
  job->embed = (float*)take(&p, L.embed);
  job->embeds = (float*)take(&p, L.embeds);
  job->scores = (float*)take(&p, L.scores);
  job->shot_labels = (uint32_t*)take(&p, L.shot_labels);
  job->class_shots = (uint32_t*)take(&p, L.class_shots);
  job->roles = (uint8_t*)take(&p, L.roles);
  job->fit_samples = (float*)take(&p, L.fit_samples);
  job->protos_storage = take(&p, L.protos);
  job->protos_storage_size = L.protos;
  if (protos_of(params)) {
    st = check_shots(model, data, params, L.classes, s.input_bytes,
                     job->class_shots);
    if (st != TN_OK) return st;
  }

  st = tn_tail_bind(&job->tail, &b);
  if (st != TN_OK) return st;
  st = tn_tntl_read_params(&t, s.params, s.param_count);
  if (st != TN_OK) return st;
  memcpy(job->w0, s.params, (size_t)s.param_count * sizeof(float));
  if (L.tail.momentum > 0) memset(b.momentum, 0, L.tail.momentum);

  if (sparse_of(params) &&
      (job->residual_count != s.param_count ||
       memcmp(job->residual_frozen, model_frozen, TN_ADAPT_HASH_SIZE) != 0)) {
    memset(job->residual, 0, (size_t)s.param_count * sizeof(float));
    job->residual_count = s.param_count;
    memcpy(job->residual_frozen, model_frozen, TN_ADAPT_HASH_SIZE);
  }

  job->params = *params;
  job->model = model;
  job->data = *data;
  job->params_now = s.params;
  job->param_count = s.param_count;
  job->cut_bytes = s.cut_bytes;
  job->input_bytes = s.input_bytes;
  job->classes = L.classes;
  memcpy(job->tensor_sizes, L.tensor_sizes, sizeof(L.tensor_sizes));
  job->tensor_count = L.tensor_count;
  memcpy(job->frozen_sha256, model_frozen, TN_ADAPT_HASH_SIZE);
  memcpy(job->start_sha256, digest, TN_ADAPT_HASH_SIZE);
  if (replay_of(params)) {
    job->new_first = data->train_count / 2u;
    job->new_count = data->train_count - job->new_first;
  } else {
    job->new_first = 0;
    job->new_count = data->train_count;
  }
  tn_rng_seed(&job->rng, params->seed, RNG_STREAM);
  memset(&job->report, 0, sizeof(job->report));
  job->report.samples = data->train_count;
  job->negatives = few_shot_of(params) ? data->negative_classes : 0;
  job->embed_layer = L.embed_layer;
  job->embed_dim = L.embed_dim;
  memset(&job->protos, 0, sizeof(job->protos));
  memset(&job->enroll, 0, sizeof(job->enroll));
  job->shot_count = 0;
  job->neg_count = 0;
  job->accepted = 0;
  job->update_size = 0;
  job->cursor = 0;
  job->epoch = 0;
  job->loss_sum = 0.0;
  job->correct = 0;
  const uint32_t samples = data->train_count + data->heldout_count;
  uint64_t total = (uint64_t)samples + 2u * data->heldout_count;
  if (few_shot_of(params)) {
    /* Both evaluations and the enrolment visit every sample. */
    total = 4u * (uint64_t)samples;
  } else if (self_learning_of(params)) {
    /* As few-shot, plus the labelling pass and at most every sample per
     * epoch (corrected once the pseudo-labels are known). */
    total = 5u * (uint64_t)samples + (uint64_t)params->local_epochs * samples;
  } else {
    total += (uint64_t)params->local_epochs * units_per_epoch(job);
  }
  if (total > UINT32_MAX) return TN_ERR_ARG;
  job->steps_total = (uint32_t)total;
  job->steps_done = 0;
  job->phase = TN_ADAPT_PHASE_LATENTS;
  return TN_OK;
}

/* ---- Phases ------------------------------------------------------------- */

/* Dequantizes cached latent `sample` into job->input exactly as the tail's
 * DEQUANTIZE does. */
static tn_status load_latent(tn_adapt_job* job, uint32_t sample) {
  tn_tensor_view cut;
  tn_status st = tn_model_cut(job->model, &cut);
  if (st != TN_OK) return st;
  memcpy(cut.data, job->latents + (size_t)sample * job->cut_bytes,
         job->cut_bytes);
  return tn_model_cut_f32(job->model, job->input, job->cut_bytes);
}

static tn_status latents_one(tn_adapt_job* job) {
  const uint32_t idx = job->cursor;
  const uint32_t split = idx < job->data.train_count ? TN_ADAPT_SPLIT_TRAIN
                                                     : TN_ADAPT_SPLIT_HELDOUT;
  const uint32_t i =
      split == TN_ADAPT_SPLIT_TRAIN ? idx : idx - job->data.train_count;
  tn_tensor_view in, cut;
  tn_status st = tn_model_input(job->model, &in);
  if (st != TN_OK) return st;
  uint32_t label = 0;
  st = job->data.read(job->data.ctx, split, i, (int8_t*)in.data,
                      job->input_bytes, &label);
  if (st != TN_OK) return st;
  if (label >= job->classes) return TN_ERR_ARG;
  st = tn_model_run_front(job->model);
  if (st == TN_OK) st = tn_model_cut(job->model, &cut);
  if (st != TN_OK) return st;
  memcpy(job->latents + (size_t)idx * job->cut_bytes, cut.data, job->cut_bytes);
  job->labels[idx] = label;
  return TN_OK;
}

/* Fills the replay buffer with the latents of train samples
 * [0, new_first): the node's earlier experience. */
static tn_status fill_replay(tn_adapt_job* job) {
  float lo = 0.0f, hi = 0.0f;
  for (uint32_t k = 0; k < job->new_first; ++k) {
    tn_status st = load_latent(job, k);
    if (st != TN_OK) return st;
    for (uint32_t j = 0; j < job->cut_bytes; ++j) {
      if (job->input[j] < lo) lo = job->input[j];
      if (job->input[j] > hi) hi = job->input[j];
    }
  }
  tn_replay_config rc =
      replay_config(&job->params, job->cut_bytes, job->classes);
  tn_status st =
      tn_replay_calibrate(lo, hi, rc.bits, &rc.scale, &rc.zero_point);
  if (st == TN_OK) {
    st = tn_replay_init(&job->replay, &rc, job->replay_storage,
                        job->replay_storage_size, &job->rng);
  }
  for (uint32_t k = 0; st == TN_OK && k < job->new_first; ++k) {
    st = load_latent(job, k);
    if (st == TN_OK) {
      st = tn_replay_insert(&job->replay, job->input, (uint16_t)job->labels[k],
                            NULL);
    }
  }
  return st;
}

static tn_status eval_at(tn_adapt_job* job, uint32_t sample) {
  tn_status st = load_latent(job, sample);
  const float* out = NULL;
  if (st == TN_OK) st = tn_tail_forward(&job->tail, job->input, &out);
  float loss = 0.0f;
  if (st == TN_OK) {
    st = tn_softmax_xent_f32(job->classes, out, job->labels[sample], &loss,
                             NULL, NULL);
  }
  if (st != TN_OK) return st;
  uint32_t best = 0;
  for (uint32_t c = 1; c < job->classes; ++c) {
    if (out[c] > out[best]) best = c;
  }
  job->loss_sum += (double)loss;
  if (few_shot_of(&job->params) &&
      negative_class(job->negatives, job->labels[sample])) {
    /* Open-set: a negative is right when the tail calls it a negative. */
    job->correct += negative_class(job->negatives, best);
  } else {
    job->correct += best == job->labels[sample];
  }
  return TN_OK;
}

/* The embedding of cached latent `sample` into job->embed (the latent
 * stays dequantized in job->input). *usable is 0 for an embedding with no
 * direction (all zero, e.g. silence after a ReLU), which the prototype
 * classifier cannot score: it is neither enrolled nor labelled, and counts
 * as rejected. */
static tn_status embed_one(tn_adapt_job* job, uint32_t sample, int* usable) {
  tn_status st = load_latent(job, sample);
  if (st != TN_OK) return st;
  if (job->embed_layer == UINT32_MAX) {
    memcpy(job->embed, job->input, (size_t)job->embed_dim * sizeof(float));
  } else {
    st = tn_tail_embed(&job->tail, job->input, job->embed_layer, job->embed,
                       job->embed_dim, NULL);
    if (st != TN_OK) return st;
  }
  float ss = 0.0f;
  for (uint32_t i = 0; i < job->embed_dim; ++i) {
    ss += job->embed[i] * job->embed[i];
  }
  if (!tn_adapt_f32_finite(ss)) return TN_ERR_NUMERIC;
  *usable = ss > 0.0f;
  return TN_OK;
}

/* FEW_SHOT after enrolment: the prototypes with the open-set threshold on
 * evaluation sample `sample`. */
static tn_status eval_protos_at(tn_adapt_job* job, uint32_t sample) {
  int usable = 0;
  tn_status st = embed_one(job, sample, &usable);
  uint32_t label = TN_PROTOS_UNKNOWN;
  float score = 0.0f;
  if (st == TN_OK && usable) {
    st = tn_protos_classify(&job->protos, job->embed, &label, &score);
  }
  if (st != TN_OK) return st;
  const uint32_t truth = job->labels[sample];
  if (negative_class(job->negatives, truth)) {
    job->correct += label == TN_PROTOS_UNKNOWN;
  } else {
    job->correct += label == truth;
  }
  return TN_OK;
}

static tn_status start_enroll(tn_adapt_job* job) {
  memset(job->class_shots, 0, (size_t)job->classes * sizeof(uint32_t));
  job->shot_count = 0;
  job->neg_count = 0;
  return tn_protos_init(&job->protos, job->classes, job->embed_dim,
                        job->protos_storage, job->protos_storage_size);
}

/* Enrolment pass, sample job->cursor: a shot becomes an example of its
 * class's prototype; FEW_SHOT keeps the embeddings of the shots (from the
 * front of job->embeds) and of the calibration negatives (from the back)
 * for the calibration. */
static tn_status enroll_one(tn_adapt_job* job) {
  const uint32_t idx = job->cursor;
  const uint32_t label = job->labels[idx];
  const uint8_t role = job->roles[idx];
  const int few = few_shot_of(&job->params);
  if (!few) job->shot_labels[idx] = TN_PROTOS_UNKNOWN;
  if (role != ROLE_SHOT && !(few && role == ROLE_CALIB)) return TN_OK;
  int usable = 0;
  tn_status st = embed_one(job, idx, &usable);
  if (st != TN_OK || !usable) return st;
  const size_t dim = job->embed_dim;
  if (role == ROLE_SHOT) {
    st = tn_protos_add_example(&job->protos, label, job->embed);
    if (st != TN_OK) return st;
    if (few) {
      memcpy(job->embeds + (size_t)job->shot_count * dim, job->embed,
             dim * sizeof(float));
      job->shot_labels[job->shot_count] = label;
    } else {
      job->shot_labels[idx] = label;
    }
    ++job->shot_count;
  } else {
    ++job->neg_count;
    const uint32_t samples = job->data.train_count + job->data.heldout_count;
    memcpy(job->embeds + (size_t)(samples - job->neg_count) * dim, job->embed,
           dim * sizeof(float));
  }
  return TN_OK;
}

static tn_status calibrate(tn_adapt_job* job) {
  const uint32_t samples = job->data.train_count + job->data.heldout_count;
  if (job->shot_count == 0 || job->neg_count == 0) return TN_ERR_NOT_FOUND;
  const float* negatives =
      job->embeds + (size_t)(samples - job->neg_count) * job->embed_dim;
  return tn_enroll_calibrate(&job->protos, job->embeds, job->shot_labels,
                             job->shot_count, negatives, job->neg_count,
                             job->params.target_far, job->scores, samples,
                             &job->enroll);
}

/* SELF_LEARNING labelling pass, sample job->cursor: its latent in FP32
 * for the fit and, for a pool sample, its pseudo-label. */
static tn_status label_one(tn_adapt_job* job) {
  const uint32_t idx = job->cursor;
  int usable = 0;
  tn_status st = embed_one(job, idx, &usable);
  if (st != TN_OK) return st;
  memcpy(job->fit_samples + (size_t)idx * job->cut_bytes, job->input,
         (size_t)job->cut_bytes * sizeof(float));
  if (job->roles[idx] != ROLE_POOL || !usable) return TN_OK;
  /* tn_selflearn_label's rule on the embedding already computed. */
  uint32_t label = TN_PROTOS_UNKNOWN;
  st = tn_protos_pseudo_label(
      &job->protos, job->embed, TN_ADAPT_SELFLEARN_MIN_SCORE,
      TN_ADAPT_SELFLEARN_MIN_MARGIN, &label, NULL, NULL);
  if (st != TN_OK) return st;
  job->shot_labels[idx] = label;
  job->accepted += label != TN_PROTOS_UNKNOWN;
  return TN_OK;
}

/* SELF_LEARNING: one epoch of tn_tail_fit over the shots and the accepted
 * pseudo-labels; *units receives the samples it trained on. */
static tn_status fit_epoch(tn_adapt_job* job, uint32_t* units) {
  const tn_link_train_params* p = &job->params;
  tn_fit_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.epochs = 1;
  cfg.batch = p->batch_size;
  cfg.replay_num = 0;
  cfg.replay_den = 1;
  cfg.sgd.lr = p->learning_rate;
  cfg.sgd.momentum = p->momentum;
  cfg.sgd.weight_decay = p->weight_decay;
  cfg.sgd.prox_mu = p->prox_mu;
  cfg.sgd.grad_scale = 1.0f;
  tn_fit_data fresh;
  fresh.samples = job->fit_samples;
  fresh.labels = job->shot_labels;
  fresh.count = job->data.train_count + job->data.heldout_count;
  tn_fit_work work;
  work.order = job->order;
  work.entries = job->entries;
  work.sample = job->input;
  tn_fit_stats stats;
  tn_status st = tn_tail_fit(&job->tail, &cfg, &fresh, NULL, NULL, &job->rng,
                             &work, p->prox_mu > 0.0f ? job->w0 : NULL, &stats);
  if (st != TN_OK) return st;
  *units = stats.fresh;
  return TN_OK;
}

static void finish_eval(tn_adapt_job* job, uint32_t n, float* loss,
                        float* accuracy) {
  *loss = (float)(job->loss_sum / (double)n);
  *accuracy = (float)((double)job->correct / (double)n);
  job->loss_sum = 0.0;
  job->correct = 0;
  job->cursor = 0;
}

static void shuffle(tn_adapt_job* job) {
  for (uint32_t i = 0; i < job->new_count; ++i) job->order[i] = i;
  for (uint32_t i = job->new_count; i > 1; --i) {
    uint32_t j = tn_rng_below(&job->rng, i);
    uint32_t tmp = job->order[i - 1];
    job->order[i - 1] = job->order[j];
    job->order[j] = tmp;
  }
}

/* One mini-batch; *units receives the samples it trained on. */
static tn_status train_batch(tn_adapt_job* job, uint32_t* units) {
  const tn_link_train_params* p = &job->params;
  if (job->cursor == 0) shuffle(job);
  uint32_t rb = 0;
  uint32_t nb = p->batch_size;
  if (replay_of(p)) {
    rb = replays_per_batch(p, job->replay.count);
    nb = p->batch_size - rb;
  }
  const uint32_t left = job->new_count - job->cursor;
  if (nb > left) nb = left;
  uint32_t count = nb;
  tn_status st = tn_tail_zero_grad(&job->tail);
  if (st != TN_OK) return st;
  if (rb > 0) {
    st = tn_replay_compose(&job->replay, job->cursor, nb, rb, job->entries,
                           &count);
    if (st != TN_OK) return st;
  } else {
    for (uint32_t k = 0; k < nb; ++k) {
      job->entries[k].from_replay = 0;
      job->entries[k].index = job->cursor + k;
    }
  }
  for (uint32_t k = 0; k < count; ++k) {
    uint32_t label;
    if (job->entries[k].from_replay) {
      uint16_t l16 = 0;
      st = tn_replay_get(&job->replay, job->entries[k].index, job->input, &l16);
      label = l16;
    } else {
      const uint32_t sample =
          job->new_first + job->order[job->entries[k].index];
      st = load_latent(job, sample);
      label = job->labels[sample];
    }
    if (st == TN_OK)
      st = tn_tail_train_sample(&job->tail, job->input, label, NULL);
    if (st != TN_OK) return st;
  }
  tn_sgd_params sgd;
  sgd.lr = p->learning_rate;
  sgd.momentum = p->momentum;
  sgd.weight_decay = p->weight_decay;
  sgd.prox_mu = p->prox_mu;
  sgd.grad_scale = 1.0f / (float)count;
  st = tn_tail_step(&job->tail, &sgd, p->prox_mu > 0.0f ? job->w0 : NULL);
  if (st != TN_OK) return st;
  job->cursor += nb;
  *units = count;
  return TN_OK;
}

static tn_status build_update(tn_adapt_job* job) {
  tn_tnup_meta m;
  memcpy(m.round_binding, job->params.round_binding, TN_ADAPT_HASH_SIZE);
  memcpy(m.frozen_sha256, job->frozen_sha256, TN_ADAPT_HASH_SIZE);
  memcpy(m.start_sha256, job->start_sha256, TN_ADAPT_HASH_SIZE);
  m.samples = job->report.samples;
  m.attempt = job->params.attempt;
  m.loss_before = job->report.loss_before;
  m.loss_after = job->report.loss_after;
  m.accuracy_before = job->report.accuracy_before;
  m.accuracy_after = job->report.accuracy_after;
  tn_status st;
  if (few_shot_of(&job->params)) {
    /* The result is the node's prototypes; the tail is unchanged. */
    st = tn_tnup_build_empty(&m, job->tensor_sizes, job->tensor_count,
                             job->update, job->update_capacity,
                             &job->update_size);
    if (st != TN_OK) return st;
    return tn_sha256(job->update, job->update_size, job->update_sha256);
  }
  for (uint32_t i = 0; i < job->param_count; ++i) {
    job->delta[i] = job->params_now[i] - job->w0[i];
  }
  tn_update_compress c = {job->params.clip_norm, job->params.top_k_ratio};
  st = tn_tnup_build(&m, job->tensor_sizes, job->tensor_count, job->delta,
                     job->residual, &c, job->build_scratch,
                     job->build_scratch_size, job->update, job->update_capacity,
                     &job->update_size);
  if (st != TN_OK) return st;
  return tn_sha256(job->update, job->update_size, job->update_sha256);
}

static tn_status advance(tn_adapt_job* job, uint32_t* units) {
  tn_status st = TN_OK;
  *units = 0;
  switch (job->phase) {
    case TN_ADAPT_PHASE_LATENTS:
      st = latents_one(job);
      if (st != TN_OK) return st;
      *units = 1;
      if (++job->cursor == job->data.train_count + job->data.heldout_count) {
        job->cursor = 0;
        if (replay_of(&job->params)) st = fill_replay(job);
        if (protos_of(&job->params)) assign_roles(job);
        job->phase = TN_ADAPT_PHASE_EVAL_BEFORE;
      }
      return st;
    case TN_ADAPT_PHASE_EVAL_BEFORE:
    case TN_ADAPT_PHASE_EVAL_AFTER: {
      uint32_t n = job->data.heldout_count;
      if (!protos_of(&job->params)) {
        st = eval_at(job, job->data.train_count + job->cursor);
      } else {
        /* Every sample is visited; the evaluation samples are scored. */
        n = job->data.train_count + job->data.heldout_count;
        if (job->roles[job->cursor] != ROLE_EVAL) {
          st = TN_OK;
        } else if (job->phase == TN_ADAPT_PHASE_EVAL_AFTER &&
                   few_shot_of(&job->params)) {
          st = eval_protos_at(job, job->cursor);
        } else {
          st = eval_at(job, job->cursor);
        }
      }
      if (st != TN_OK) return st;
      *units = 1;
      if (++job->cursor < n) return TN_OK;
      if (protos_of(&job->params)) n = job->eval_count;
      if (job->phase == TN_ADAPT_PHASE_EVAL_BEFORE) {
        finish_eval(job, n, &job->report.loss_before,
                    &job->report.accuracy_before);
        if (protos_of(&job->params)) {
          st = start_enroll(job);
          job->phase = TN_ADAPT_PHASE_ENROLL;
        } else {
          job->phase = TN_ADAPT_PHASE_TRAIN;
        }
        return st;
      }
      finish_eval(job, n, &job->report.loss_after, &job->report.accuracy_after);
      if (few_shot_of(&job->params)) {
        job->report.loss_after = job->report.loss_before;
      }
      st = build_update(job);
      if (st == TN_OK) job->phase = TN_ADAPT_PHASE_DONE;
      return st;
    }
    case TN_ADAPT_PHASE_ENROLL:
      st = enroll_one(job);
      if (st != TN_OK) return st;
      *units = 1;
      if (++job->cursor < job->data.train_count + job->data.heldout_count) {
        return TN_OK;
      }
      job->cursor = 0;
      if (job->shot_count == 0) return TN_ERR_NOT_FOUND;
      if (few_shot_of(&job->params)) {
        st = calibrate(job);
        job->report.samples = job->shot_count;
        job->phase = TN_ADAPT_PHASE_EVAL_AFTER;
      } else {
        job->accepted = 0;
        job->phase = TN_ADAPT_PHASE_LABEL;
      }
      return st;
    case TN_ADAPT_PHASE_LABEL: {
      st = label_one(job);
      if (st != TN_OK) return st;
      *units = 1;
      const uint32_t samples = job->data.train_count + job->data.heldout_count;
      if (++job->cursor < samples) return TN_OK;
      job->cursor = 0;
      const uint32_t fitted = job->shot_count + job->accepted;
      job->report.samples = fitted;
      /* The exact total now that the fitted set is known. */
      job->steps_total -= job->params.local_epochs * (samples - fitted);
      job->phase = TN_ADAPT_PHASE_TRAIN;
      return TN_OK;
    }
    case TN_ADAPT_PHASE_TRAIN:
      if (self_learning_of(&job->params)) {
        st = fit_epoch(job, units);
        if (st != TN_OK) return st;
        if (++job->epoch == job->params.local_epochs) {
          job->phase = TN_ADAPT_PHASE_EVAL_AFTER;
        }
        return TN_OK;
      }
      st = train_batch(job, units);
      if (st != TN_OK) return st;
      if (job->cursor == job->new_count) {
        job->cursor = 0;
        if (++job->epoch == job->params.local_epochs) {
          job->phase = TN_ADAPT_PHASE_EVAL_AFTER;
        }
      }
      return TN_OK;
    default:
      return TN_ERR_STATE;
  }
}

tn_status tn_adapt_job_step(tn_adapt_job* job, uint32_t budget, int* finished) {
  if (job == NULL) return TN_ERR_NULL;
  if (job->phase == TN_ADAPT_PHASE_IDLE) return TN_ERR_STATE;
  uint32_t spent = 0;
  while (spent < budget && job->phase != TN_ADAPT_PHASE_DONE &&
         job->phase != TN_ADAPT_PHASE_FAILED) {
    uint32_t units = 0;
    tn_status st = advance(job, &units);
    if (st != TN_OK) {
      job->status = st;
      job->phase = TN_ADAPT_PHASE_FAILED;
      break;
    }
    spent += units;
    job->steps_done += units;
  }
  if (job->phase == TN_ADAPT_PHASE_DONE) job->steps_done = job->steps_total;
  if (finished != NULL) {
    *finished = job->phase == TN_ADAPT_PHASE_DONE ||
                job->phase == TN_ADAPT_PHASE_FAILED;
  }
  return job->status;
}

tn_status tn_adapt_job_run(tn_adapt_job* job) {
  if (job == NULL) return TN_ERR_NULL;
  int finished = 0;
  tn_status st = TN_OK;
  /* Each call makes progress, so steps_total + 1 calls always suffice. */
  const uint32_t calls = job->steps_total + 1u;
  for (uint32_t i = 0; i < calls && !finished; ++i) {
    st = tn_adapt_job_step(job, 256, &finished);
    if (st != TN_OK) return st;
  }
  return finished ? st : TN_ERR_INTERNAL;
}

void tn_adapt_job_cancel(tn_adapt_job* job) {
  if (job == NULL) return;
  job->phase = TN_ADAPT_PHASE_IDLE;
  job->status = TN_OK;
  job->update_size = 0;
}

tn_adapt_phase tn_adapt_job_phase(const tn_adapt_job* job) {
  return job == NULL ? TN_ADAPT_PHASE_IDLE : (tn_adapt_phase)job->phase;
}

void tn_adapt_job_progress(const tn_adapt_job* job, uint32_t* done,
                           uint32_t* total) {
  if (job == NULL) return;
  if (done != NULL) *done = job->steps_done;
  if (total != NULL) *total = job->steps_total;
}

tn_status tn_adapt_job_protos(const tn_adapt_job* job, const tn_protos** protos,
                              tn_enroll_report* report) {
  if (job == NULL || protos == NULL) return TN_ERR_NULL;
  if (job->phase != TN_ADAPT_PHASE_DONE || !protos_of(&job->params)) {
    return TN_ERR_STATE;
  }
  *protos = &job->protos;
  if (report != NULL) *report = job->enroll;
  return TN_OK;
}

tn_status tn_adapt_job_accepted(const tn_adapt_job* job, uint32_t* accepted) {
  if (job == NULL || accepted == NULL) return TN_ERR_NULL;
  if (job->phase != TN_ADAPT_PHASE_DONE || !self_learning_of(&job->params)) {
    return TN_ERR_STATE;
  }
  *accepted = job->accepted;
  return TN_OK;
}

tn_status tn_adapt_job_update(const tn_adapt_job* job, const uint8_t** data,
                              size_t* size, uint8_t sha256[TN_ADAPT_HASH_SIZE],
                              tn_adapt_report* report) {
  if (job == NULL) return TN_ERR_NULL;
  if (job->phase != TN_ADAPT_PHASE_DONE) return TN_ERR_STATE;
  if (data != NULL) *data = job->update;
  if (size != NULL) *size = job->update_size;
  if (sha256 != NULL) memcpy(sha256, job->update_sha256, TN_ADAPT_HASH_SIZE);
  if (report != NULL) *report = job->report;
  return TN_OK;
}

/* ---- Shards ------------------------------------------------------------- */

tn_status tn_adapt_shard_init(tn_adapt_shard* shard, const tn_fset_view* set,
                              uint32_t user, uint32_t heldout_every,
                              uint32_t* index, uint32_t capacity) {
  if (shard == NULL || set == NULL || (index == NULL && capacity > 0)) {
    return TN_ERR_NULL;
  }
  if (heldout_every < 2) return TN_ERR_ARG;
  uint32_t count = 0;
  for (uint32_t i = 0; i < set->info.sample_count; ++i) {
    tn_fset_record r;
    tn_status st = tn_fset_get(set, i, &r);
    if (st != TN_OK) return st;
    if (r.split == TN_FSET_SPLIT_USERS && r.user == user) ++count;
  }
  if (count < 2) return TN_ERR_NOT_FOUND;
  if (count > capacity) return TN_ERR_BUFFER_TOO_SMALL;
  const uint32_t heldout = count / heldout_every;
  const uint32_t train = count - heldout;
  shard->set = set;
  shard->train = index;
  shard->heldout = index + train;
  shard->train_count = 0;
  shard->heldout_count = 0;
  uint32_t k = 0;
  for (uint32_t i = 0; i < set->info.sample_count; ++i) {
    tn_fset_record r;
    tn_status st = tn_fset_get(set, i, &r);
    if (st != TN_OK) return st;
    if (r.split != TN_FSET_SPLIT_USERS || r.user != user) continue;
    if (++k % heldout_every == 0) {
      shard->heldout[shard->heldout_count++] = i;
    } else {
      shard->train[shard->train_count++] = i;
    }
  }
  return (shard->train_count == train && shard->heldout_count == heldout)
             ? TN_OK
             : TN_ERR_INTERNAL;
}

static tn_status shard_read(void* ctx, uint32_t split, uint32_t index,
                            int8_t* input, uint32_t input_bytes,
                            uint32_t* label) {
  const tn_adapt_shard* shard = (const tn_adapt_shard*)ctx;
  const uint32_t* list;
  uint32_t n;
  if (split == TN_ADAPT_SPLIT_TRAIN) {
    list = shard->train;
    n = shard->train_count;
  } else {
    list = shard->heldout;
    n = shard->heldout_count;
  }
  if (index >= n) return TN_ERR_ARG;
  const uint32_t features = shard->set->info.frames * shard->set->info.coeffs;
  if (features != input_bytes) return TN_ERR_BLOB_SHAPE;
  tn_fset_record r;
  tn_status st = tn_fset_get(shard->set, list[index], &r);
  if (st != TN_OK) return st;
  memcpy(input, r.features, features);
  *label = r.label;
  return TN_OK;
}

tn_adapt_data tn_adapt_shard_data(tn_adapt_shard* shard) {
  tn_adapt_data d;
  d.ctx = shard;
  d.train_count = shard != NULL ? shard->train_count : 0;
  d.heldout_count = shard != NULL ? shard->heldout_count : 0;
  d.read = shard_read;
  d.negative_classes = 0;
  if (shard != NULL && shard->set != NULL) {
    const uint32_t n = shard->set->info.class_count;
    for (uint32_t c = 0; c < n && c < 64u; ++c) {
      char name[TN_FSET_CLASS_NAME_SIZE + 1];
      if (tn_fset_class_name(shard->set, c, name) == TN_OK && name[0] == '_') {
        d.negative_classes |= (uint64_t)1u << c;
      }
    }
  }
  return d;
}
