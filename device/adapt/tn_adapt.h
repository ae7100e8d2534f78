/*
 * Adaptation rounds on the node: the two artifacts a round exchanges and the
 * node's local training job. A round's global tail travels to the node as a
 * TNTL artifact; the node fine-tunes it on its own data and answers with a
 * TNUP update (an int8-quantized, optionally sparse delta bound to the round
 * and to the frozen part it was trained against). docs/formats/update.md is
 * the normative description of both byte formats and of the frozen-part
 * hash. The same code runs on the node, in the agent and in the gateway, so
 * every side validates the same way.
 *
 * Trust boundary: tn_tntl_decode and tn_tnup_decode are the only functions
 * that read untrusted bytes; they check every size, count, bound, value and
 * the trailing SHA-256 before filling a view, and the other functions trust
 * a view that decoded successfully.
 *
 * Portable C11, no heap, no OS: every buffer belongs to the caller, every
 * loop is bounded by a validated count, every fallible function returns
 * tn_status. Objects are not thread-safe.
 */
#ifndef TN_ADAPT_TN_ADAPT_H_
#define TN_ADAPT_TN_ADAPT_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"
#include "base/tn_rng.h"
#include "dsp/tn_dsp.h"
#include "link/tn_link.h"
#include "runtime/tn_runtime.h"
#include "train/tn_train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Format constants (docs/formats/update.md).                                */
/* ------------------------------------------------------------------------ */

#define TN_ADAPT_HASH_SIZE 32u
#define TN_ADAPT_FORMAT_VERSION 1u
/* Largest parameter vector either format carries (4 Mi floats, far above
 * any tail that fits a GAP9's 1.5 MB of L2). */
#define TN_ADAPT_MAX_PARAMS (1u << 22)

#define TN_TNTL_HEADER_SIZE 44u
#define TN_TNTL_OVERHEAD (TN_TNTL_HEADER_SIZE + TN_ADAPT_HASH_SIZE)

#define TN_TNUP_HEADER_SIZE 132u
#define TN_TNUP_TENSOR_HEADER_SIZE 12u
#define TN_TNUP_MAX_TENSORS 32u
#define TN_TNUP_FLAG_SPARSE 0x1u
/* Largest valid TNUP: every tensor header and 5 bytes per coordinate. */
#define TN_TNUP_MAX_BYTES                             \
  (TN_TNUP_HEADER_SIZE + TN_ADAPT_HASH_SIZE +         \
   TN_TNUP_MAX_TENSORS * TN_TNUP_TENSOR_HEADER_SIZE + \
   5u * TN_ADAPT_MAX_PARAMS)

/* ------------------------------------------------------------------------ */
/* Hashes.                                                                   */
/* ------------------------------------------------------------------------ */

/* SHA-256 of the frozen part of a parsed blob: everything that defines the
 * int8 front-end and the structure of the tail but not the tail's parameter
 * values (definition in docs/formats/update.md § 1). Two blobs that differ
 * only in tail parameters, canary, metadata, version, rollback counter or
 * signature have the same frozen hash. Equal to the gateway model report's
 * frozen_sha256 (hex). */
tn_status tn_blob_frozen_sha256(const tn_blob* blob,
                                uint8_t out[TN_ADAPT_HASH_SIZE]);

/* round_binding of an update: SHA-256 of the round id's bytes (UTF-8, no
 * terminator). len may be 0. */
tn_status tn_round_binding(const char* round_id, size_t len,
                           uint8_t out[TN_ADAPT_HASH_SIZE]);

/* ------------------------------------------------------------------------ */
/* TNTL: a global tail.                                                      */
/* ------------------------------------------------------------------------ */

/* A decoded TNTL: a view into the caller's bytes (which must outlive it). */
typedef struct tn_tntl {
  uint8_t frozen_sha256[TN_ADAPT_HASH_SIZE];
  uint8_t sha256[TN_ADAPT_HASH_SIZE]; /* the trailing hash */
  uint32_t param_count;
  const uint8_t* params; /* param_count f32, little-endian, unaligned */
  uint32_t size;         /* bytes of the artifact */
} tn_tntl;

/* Bytes of a TNTL carrying `param_count` floats; 0 when param_count is 0
 * or above TN_ADAPT_MAX_PARAMS. */
size_t tn_tntl_size(uint32_t param_count);

/* Writes a TNTL. Every parameter must be finite (TN_ERR_UPDATE_VALUE).
 * TN_ERR_BUFFER_TOO_SMALL when capacity < tn_tntl_size(param_count). */
tn_status tn_tntl_encode(const uint8_t frozen_sha256[TN_ADAPT_HASH_SIZE],
                         const float* params, uint32_t param_count,
                         uint8_t* out, size_t capacity, size_t* written);

/* Validates exactly `size` bytes as a TNTL. Statuses, in check order:
 * TN_ERR_UPDATE_BOUNDS (shorter than the fixed part), _FORMAT (magic,
 * version, reserved), _BOUNDS (param_count 0 or above the limit, size not
 * exactly the one param_count gives), _CHECKSUM, _VALUE (a non-finite
 * parameter). On failure *out is left unchanged. */
tn_status tn_tntl_decode(const uint8_t* data, size_t size, tn_tntl* out);

/* Copies the parameters to `out` (capacity floats >= param_count). */
tn_status tn_tntl_read_params(const tn_tntl* t, float* out, uint32_t capacity);

/* ------------------------------------------------------------------------ */
/* TNUP: a node's update.                                                    */
/* ------------------------------------------------------------------------ */

/* The training report an update carries. */
typedef struct tn_tnup_meta {
  uint8_t round_binding[TN_ADAPT_HASH_SIZE];
  uint8_t frozen_sha256[TN_ADAPT_HASH_SIZE];
  uint8_t start_sha256[TN_ADAPT_HASH_SIZE]; /* SHA-256 of the whole TNTL */
  uint32_t samples;                         /* > 0 */
  uint32_t attempt;
  float loss_before; /* finite, >= 0; on the node's held-out split */
  float loss_after;
  float accuracy_before; /* in [0, 1] */
  float accuracy_after;
} tn_tnup_meta;

/* One tensor of an update. For a decoded update the pointers point into
 * the update's bytes: `indices` holds nnz u32 little-endian values (NULL for
 * a dense tensor) and `values` nnz int8 values. */
typedef struct tn_tnup_tensor {
  uint32_t element_count;
  float scale;
  uint32_t nnz;
  const uint8_t* indices;
  const int8_t* values;
} tn_tnup_tensor;

/* A decoded TNUP: a view into the caller's bytes. */
typedef struct tn_tnup {
  tn_tnup_meta meta;
  uint8_t sha256[TN_ADAPT_HASH_SIZE];
  uint16_t flags;        /* TN_TNUP_FLAG_SPARSE: every tensor is sparse */
  uint16_t tensor_count; /* 1 .. TN_TNUP_MAX_TENSORS */
  uint32_t param_count;  /* sum of the tensors' element counts */
  uint32_t max_tensor;   /* largest element count */
  const uint8_t* data;
  uint32_t size;
} tn_tnup;

/* Validates exactly `size` bytes as a TNUP. Statuses, in check order:
 * TN_ERR_UPDATE_BOUNDS (shorter than the fixed part), _FORMAT (magic,
 * version, unknown flags, reserved), _CHECKSUM, _VALUE (samples 0,
 * non-finite or negative loss, accuracy outside [0, 1]), _BOUNDS
 * (tensor_count, element counts, nnz, a tensor running past the end, bytes
 * left after the last tensor, a parameter total above the limit, indices not
 * strictly increasing or out of range), _VALUE (a scale not finite and > 0,
 * or so large that 128 * scale overflows). Checks run tensor by tensor.
 * On failure *out is left unchanged. */
tn_status tn_tnup_decode(const uint8_t* data, size_t size, tn_tnup* out);

/* Tensor `index` (< tensor_count) of a decoded update. Walks the tensors
 * before it (at most TN_TNUP_MAX_TENSORS). */
tn_status tn_tnup_tensor_at(const tn_tnup* u, uint32_t index,
                            tn_tnup_tensor* out);

/* The delta the update encodes (q * scale, absent coordinates 0) as
 * param_count floats in tail order. TN_ERR_BUFFER_TOO_SMALL when capacity
 * < param_count. */
tn_status tn_tnup_delta(const tn_tnup* u, float* delta, uint32_t capacity);

/* out = start + delta, n floats; TN_ERR_UPDATE_BOUNDS when n differs from
 * the update's param_count, TN_ERR_NUMERIC when a result is not finite (out
 * is then partly written). out may alias start. */
tn_status tn_tnup_apply(const tn_tnup* u, const float* start, uint32_t n,
                        float* out);

/* ------------------------------------------------------------------------ */
/* Compression primitives.                                                   */
/* ------------------------------------------------------------------------ */

/* Symmetric int8 quantization of n values: scale = max|x| / 127, q =
 * round-half-away(x / scale) clamped to [-127, 127]. An all-zero input
 * gets scale 1 and zero codes. TN_ERR_UPDATE_VALUE on a non-finite input. */
tn_status tn_quantize_sym_s8(uint32_t n, const float* in, int8_t* out,
                             float* scale);

/* Scales v in place so that its L2 norm is at most clip_norm (> 0). *norm
 * (may be NULL) receives the norm before clipping (sum of squares in
 * ascending order, in double). */
tn_status tn_l2_clip_f32(uint32_t n, float* v, float clip_norm, float* norm);

/* Number of coordinates top-k keeps of a tensor of n elements for a ratio
 * in (0, 1]: ceil(ratio * n), at least 1, at most n. 0 for ratio <= 0. */
uint32_t tn_topk_count(uint32_t n, float ratio);

/* Indices of the k largest |v| (ties: lower index first), written to
 * `indices` in ascending order. scratch holds n u32 values. */
tn_status tn_topk_select(uint32_t n, const float* v, uint32_t k,
                         uint32_t* indices, uint32_t* scratch);

/* How a node compresses its delta. */
typedef struct tn_update_compress {
  float clip_norm;   /* 0: no clipping; else > 0, applied to the whole delta */
  float top_k_ratio; /* 0: dense; in (0, 1]: per-tensor top-k + feedback */
} tn_update_compress;

/* Scratch bytes tn_tnup_build needs for a largest tensor of `max_tensor`
 * elements. */
size_t tn_tnup_build_scratch_size(uint32_t max_tensor);

/* Upper bound of the bytes tn_tnup_build writes. */
size_t tn_tnup_max_size(const uint32_t* tensor_sizes, uint32_t tensor_count,
                        int sparse);

/* Compresses a raw delta into a TNUP:
 *  1. clip the whole delta (in place) to clip_norm when it is > 0;
 *  2. dense (top_k_ratio == 0): quantize each tensor (`residual` unused);
 *     sparse: p = delta + residual; per tensor keep the top-k |p|, quantize
 *     the kept values, and set residual = p - transmitted (the dropped
 *     coordinates and the kept ones' quantization error), carried into the
 *     next update.
 * tensor_sizes: element counts in tail order, summing to the delta's size.
 * residual: as many floats as the delta; required iff top_k_ratio > 0.
 * scratch: tn_tnup_build_scratch_size(max tensor) bytes, 4-byte aligned. */
tn_status tn_tnup_build(const tn_tnup_meta* meta, const uint32_t* tensor_sizes,
                        uint32_t tensor_count, float* delta, float* residual,
                        const tn_update_compress* compress, void* scratch,
                        size_t scratch_size, uint8_t* out, size_t capacity,
                        size_t* written);

/* Size of an update without coordinates (tn_tnup_build_empty). */
size_t tn_tnup_empty_size(uint32_t tensor_count);

/* Writes an update that changes nothing: SPARSE, every tensor with scale 1
 * and no coordinates (docs/formats/update.md § 4, "Updates without a
 * delta"). It carries a report (meta) for a job whose result stays on the
 * node, e.g. few-shot enrolment. tensor_sizes as for tn_tnup_build.
 * TN_ERR_BUFFER_TOO_SMALL when capacity < tn_tnup_empty_size(). */
tn_status tn_tnup_build_empty(const tn_tnup_meta* meta,
                              const uint32_t* tensor_sizes,
                              uint32_t tensor_count, uint8_t* out,
                              size_t capacity, size_t* written);

/* ------------------------------------------------------------------------ */
/* Local data.                                                               */
/* ------------------------------------------------------------------------ */

/* Splits of a node's local data. */
#define TN_ADAPT_SPLIT_TRAIN 0u
#define TN_ADAPT_SPLIT_HELDOUT 1u

/* Where a training job reads its samples. read() writes sample `index` of
 * `split` (index < the split's count) as the model's int8 input bytes
 * (exactly input_bytes) and its label; any status but TN_OK fails the
 * job. negative_classes: bit c set means class c (< 64) is not a keyword
 * but an open-set negative (keyword spotting: `_silence_`, `_unknown_`);
 * few-shot jobs never enrol it and calibrate their threshold on its
 * samples. */
typedef struct tn_adapt_data {
  void* ctx;
  uint32_t train_count;
  uint32_t heldout_count;
  tn_status (*read)(void* ctx, uint32_t split, uint32_t index, int8_t* input,
                    uint32_t input_bytes, uint32_t* label);
  uint64_t negative_classes;
} tn_adapt_data;

/* One user's shard of a feature data set (docs/formats/dataset.md): the
 * records of split "users" with user id `user`, in file order; every
 * `heldout_every`-th of them (the 4th, 8th, ... for 4) is held out, the rest
 * is the train split. The index arrays are caller memory. */
typedef struct tn_adapt_shard {
  const tn_fset_view* set;
  uint32_t* train;   /* record indices */
  uint32_t* heldout; /* record indices */
  uint32_t train_count;
  uint32_t heldout_count;
} tn_adapt_shard;

/* Selects user `user`'s records of `set` (borrowed) into `index`
 * (capacity entries, shared by both splits). TN_ERR_NOT_FOUND when the user
 * has fewer than 2 records, TN_ERR_BUFFER_TOO_SMALL when capacity is short,
 * TN_ERR_ARG for heldout_every < 2. */
tn_status tn_adapt_shard_init(tn_adapt_shard* shard, const tn_fset_view* set,
                              uint32_t user, uint32_t heldout_every,
                              uint32_t* index, uint32_t capacity);

/* The shard as a job's data source (it borrows `shard`). Its
 * negative_classes are the classes (< 64) whose name in the data set
 * begins with '_' (the Speech Commands `_silence_` and `_unknown_`). */
tn_adapt_data tn_adapt_shard_data(tn_adapt_shard* shard);

/* ------------------------------------------------------------------------ */
/* The node's training job.                                                  */
/* ------------------------------------------------------------------------ */

/* Job phases. FEDERATED and LATENT_REPLAY: LATENTS, EVAL_BEFORE, TRAIN,
 * EVAL_AFTER; FEW_SHOT: LATENTS, EVAL_BEFORE, ENROLL, EVAL_AFTER;
 * SELF_LEARNING: LATENTS, EVAL_BEFORE, ENROLL, LABEL, TRAIN, EVAL_AFTER;
 * then DONE or FAILED. */
typedef enum tn_adapt_phase {
  TN_ADAPT_PHASE_IDLE = 0,
  TN_ADAPT_PHASE_LATENTS = 1, /* front-end once per sample, latents cached */
  TN_ADAPT_PHASE_EVAL_BEFORE = 2,
  TN_ADAPT_PHASE_TRAIN = 3,
  TN_ADAPT_PHASE_EVAL_AFTER = 4,
  TN_ADAPT_PHASE_DONE = 5,
  TN_ADAPT_PHASE_FAILED = 6,
  TN_ADAPT_PHASE_ENROLL = 7, /* few-shot, self-learning: prototypes */
  TN_ADAPT_PHASE_LABEL = 8   /* self-learning: pseudo-labels */
} tn_adapt_phase;

/* Pseudo-labelling of self-learning jobs (tn_protos_pseudo_label): the
 * best prototype's cosine score and its lead over the runner-up. */
#define TN_ADAPT_SELFLEARN_MIN_SCORE 0.8f
#define TN_ADAPT_SELFLEARN_MIN_MARGIN 0.05f

/* A training job: from a started TNTL to a TNUP.
 *
 * The job caches the int8 latent (the cut tensor) of every local sample
 * once, so each training step runs only the FP32 tail. It measures mean
 * loss and accuracy on the held-out split before and after training, trains
 * local_epochs passes of mini-batches (SGD with momentum and weight decay,
 * the FedProx term against the start tail when prox_mu > 0) in an order
 * drawn from `seed`, and compresses trained - start into a TNUP. A
 * LATENT_REPLAY job treats the first half of the train split as earlier
 * experience: it stores its latents in a tn_replay buffer (replay_bits,
 * replay_samples slots, class-balanced) and trains on the second half with
 * every mini-batch one-third replays.
 *
 * FEW_SHOT and SELF_LEARNING jobs work on embeddings: the output of tail
 * layer num_layers - 2 (the features before the classifier), or the tail's
 * input itself for a one-layer tail. They use all of the node's samples
 * (train split, then held-out split), split per class by rank r within the
 * class, with k = params->replay_samples ("shots"): in a class to enrol,
 * r < k are the labelled SHOTS, and of the rest odd r - k are EVALUATION
 * samples and even r - k the unlabelled POOL; in a FEW_SHOT negative class
 * (data->negative_classes) even r CALIBRATE the threshold and odd r are
 * EVALUATION samples. (A per-class split: a node's held-out split need not
 * hold every class.) Evaluation "before" and "after" is on the evaluation
 * samples.
 *
 * FEW_SHOT: prototypes of every keyword class from its shots; the open-set
 * threshold calibrated for params->target_far with tn_enroll_calibrate on
 * the calibration negatives. The tail is not changed; the update has no
 * coordinates (tn_tnup_build_empty). Report: samples = enrolled shots;
 * accuracy is open-set accuracy (a keyword sample is right when given its
 * class, a negative when rejected: an unknown label from the prototypes, a
 * negative class from the tail) before (the tail's arg-max) and after (the
 * prototypes with the threshold); loss_after = loss_before (the tail's).
 * The prototypes stay with the job until the next start or cancel
 * (tn_adapt_job_protos).
 *
 * SELF_LEARNING: prototypes of every class from its shots; every pool
 * sample pseudo-labelled (TN_ADAPT_SELFLEARN_MIN_SCORE, _MIN_MARGIN) or
 * left out; the tail fine-tuned with tn_tail_fit (one epoch per slice,
 * mini-batches of batch_size, SGD as for FEDERATED) on the shots and the
 * accepted samples; the update is trained - start as for FEDERATED.
 * samples = shots + accepted. Extra memory: every sample's latent in FP32
 * (samples x cut elements x 4 bytes).
 *
 * Determinism: given the same model, data, parameters and TNTL, every step
 * is a fixed sequence of operations, so the update bytes are identical on
 * every run and target.
 *
 * Memory: a workspace of tn_adapt_job_workspace_size() bytes (8-byte
 * aligned) carved at start, plus the error-feedback residual given at init,
 * which survives jobs (it is reset when the frozen hash or parameter count
 * changes). Not thread-safe. */
typedef struct tn_adapt_report {
  uint32_t samples; /* train samples the update was computed from */
  float loss_before, loss_after;
  float accuracy_before, accuracy_after;
} tn_adapt_report;

typedef struct tn_adapt_job {
  /* Fields are private; read them through the functions below. */
  uint8_t phase; /* tn_adapt_phase */
  tn_status status;
  tn_link_train_params params;
  tn_model* model;
  tn_adapt_data data;
  tn_tail tail;
  float* params_now; /* the model's tail parameters */
  float* w0;         /* start tail */
  float* delta;
  float* input;     /* one dequantized latent */
  int8_t* latents;  /* [train + heldout][cut bytes] */
  uint32_t* labels; /* [train + heldout] */
  uint32_t* order;  /* a permutation of the trained samples */
  tn_batch_entry* entries;
  uint8_t* replay_storage;
  size_t replay_storage_size;
  tn_replay replay;
  uint8_t* update;
  size_t update_capacity;
  size_t update_size;
  uint8_t update_sha256[TN_ADAPT_HASH_SIZE];
  void* build_scratch;
  size_t build_scratch_size;
  uint32_t tensor_sizes[TN_TNUP_MAX_TENSORS];
  uint32_t tensor_count;
  uint32_t param_count;
  uint32_t cut_bytes;
  uint32_t input_bytes;
  uint32_t classes;
  uint32_t new_first; /* first trained sample (LATENT_REPLAY: half) */
  uint32_t new_count;
  tn_rng rng;
  /* FEW_SHOT and SELF_LEARNING. */
  uint64_t negatives;   /* data.negative_classes (FEW_SHOT), else 0 */
  uint32_t embed_layer; /* UINT32_MAX: the tail's input */
  uint32_t embed_dim;
  float* embed;          /* one embedding */
  float* embeds;         /* FEW_SHOT: [samples][embed_dim], shots, negatives */
  float* scores;         /* FEW_SHOT: calibration scratch, samples floats */
  uint32_t* shot_labels; /* [samples] FEW_SHOT: of the shots; SELF_LEARNING:
                            the label fitted on, or TN_PROTOS_UNKNOWN */
  uint32_t* class_shots; /* [classes] rank counters */
  uint8_t* roles;        /* [train + heldout] role of each sample */
  uint32_t eval_count;   /* samples evaluated on */
  float* fit_samples;    /* SELF_LEARNING: [samples][cut elements] */
  void* protos_storage;
  size_t protos_storage_size;
  tn_protos protos;
  tn_enroll_report enroll;
  uint32_t shot_count;
  uint32_t neg_count;
  uint32_t accepted; /* SELF_LEARNING: pseudo-labels accepted */
  /* Progress. */
  uint32_t cursor; /* sample index within the phase */
  uint32_t epoch;
  uint32_t steps_done, steps_total;
  double loss_sum;
  uint32_t correct;
  tn_adapt_report report;
  uint8_t frozen_sha256[TN_ADAPT_HASH_SIZE];
  uint8_t start_sha256[TN_ADAPT_HASH_SIZE];
  /* Error feedback, kept across jobs. */
  float* residual;
  uint32_t residual_capacity;
  uint32_t residual_count; /* 0: none yet */
  uint8_t residual_frozen[TN_ADAPT_HASH_SIZE];
} tn_adapt_job;

/* Prepares an idle job. `residual` (residual_capacity floats, may be NULL
 * with capacity 0) holds the error-feedback state of sparse updates; a job
 * with top_k_ratio > 0 needs capacity >= the tail's parameter count. */
tn_status tn_adapt_job_init(tn_adapt_job* job, float* residual,
                            uint32_t residual_capacity);

/* Workspace bytes a job on `model` with these parameters and data sizes
 * needs. TN_ERR_NOT_FOUND when the model has no tail. */
tn_status tn_adapt_job_workspace_size(tn_model* model,
                                      const tn_link_train_params* params,
                                      uint32_t train_count,
                                      uint32_t heldout_count, size_t* size);

/* Starts a job (any previous one is dropped). Checks, in order: the
 * model's frozen hash equals params->frozen_sha256 and tntl's
 * (TN_ERR_FROZEN_MISMATCH); the TNTL's size and whole-artifact SHA-256 are
 * the ones params name (TN_ERR_UPDATE_CHECKSUM) and it decodes; its
 * parameter count is the tail's (TN_ERR_UPDATE_BOUNDS); the data has at
 * least one train (two for LATENT_REPLAY) and one held-out sample
 * (TN_ERR_NOT_FOUND); the workspace is large enough
 * (TN_ERR_BUFFER_TOO_SMALL). Then writes the TNTL's parameters into the
 * model's tail. `model` (initialised on the blob whose frozen hash is
 * `model_frozen`), `data` and `workspace` are borrowed until the job ends;
 * the TNTL bytes are not kept. FEW_SHOT and SELF_LEARNING also read every
 * sample's label and refuse (TN_ERR_NOT_FOUND) data without `shots`
 * samples of a class to enrol, without an evaluation sample, or (FEW_SHOT)
 * without a keyword class or a negative sample. */
tn_status tn_adapt_job_start(tn_adapt_job* job, tn_model* model,
                             const uint8_t model_frozen[TN_ADAPT_HASH_SIZE],
                             const tn_adapt_data* data,
                             const tn_link_train_params* params,
                             const uint8_t* tntl, size_t tntl_size,
                             void* workspace, size_t workspace_size);

/* Does up to about `budget` units of work (one unit: a sample through the
 * front-end, through an evaluation or through a training step; a started
 * mini-batch is always finished). *finished (may be NULL) is 1 once the job
 * is DONE or FAILED. Returns the job's status: TN_OK while it runs or once
 * it is done, the failure otherwise (TN_ERR_STATE for an idle job). */
tn_status tn_adapt_job_step(tn_adapt_job* job, uint32_t budget, int* finished);

/* Steps until the job ends (tests and tools). */
tn_status tn_adapt_job_run(tn_adapt_job* job);

/* Drops the current job (the residual is kept). */
void tn_adapt_job_cancel(tn_adapt_job* job);

/* Phase, progress (units done and total) and failure status. */
tn_adapt_phase tn_adapt_job_phase(const tn_adapt_job* job);
void tn_adapt_job_progress(const tn_adapt_job* job, uint32_t* done,
                           uint32_t* total);

/* The prototype classifier of a finished FEW_SHOT or SELF_LEARNING job
 * (in the workspace, valid until the next start or cancel) and, for
 * FEW_SHOT, the open-set calibration (threshold set on *protos). *report
 * may be NULL. TN_ERR_STATE unless such a job is DONE. */
tn_status tn_adapt_job_protos(const tn_adapt_job* job, const tn_protos** protos,
                              tn_enroll_report* report);

/* Pseudo-labels a finished SELF_LEARNING job accepted. TN_ERR_STATE
 * unless such a job is DONE. */
tn_status tn_adapt_job_accepted(const tn_adapt_job* job, uint32_t* accepted);

/* The finished update: bytes in the workspace (valid until the next start
 * or cancel), its SHA-256 and the report. TN_ERR_STATE unless DONE. */
tn_status tn_adapt_job_update(const tn_adapt_job* job, const uint8_t** data,
                              size_t* size, uint8_t sha256[TN_ADAPT_HASH_SIZE],
                              tn_adapt_report* report);

#ifdef __cplusplus
}
#endif

#endif /* TN_ADAPT_TN_ADAPT_H_ */
