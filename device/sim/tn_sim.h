/*
 * Virtual node: the node's side of the link in portable C. A tn_sim_node
 * holds the node's identity (hardware id, firmware version, target profile,
 * capabilities, A/B slot table), persists it through a small storage
 * interface (function pointers reading and writing named regions, so the
 * same code can sit on real flash), and answers decoded link frames: HELLO
 * with its identity, PING with PONG, and NACK TN_ERR_UNSUPPORTED for message
 * types it does not implement yet. Retried requests are answered from the
 * link's response cache without running twice.
 *
 * A node configured with a slot flash (tn_sim_config.ota) takes model
 * updates through device/ota: MODEL_BEGIN / MODEL_CHUNK / MODEL_COMMIT,
 * MODEL_STATUS, ACTIVATE / CONFIRM / ROLLBACK and SET_MODEL_KEY; it then
 * advertises TN_LINK_CAP_MODEL_UPDATE, and its HELLO reply and telemetry
 * report the OTA room's slot table (the running model's id and version).
 *
 * A node configured with a data shard (tn_sim_config.train) and model
 * updates trains the model of its running slot on request (device/adapt)
 * and advertises TN_LINK_CAP_TRAIN.
 *
 * A node configured with TN_LINK_CAP_TELEMETRY also takes part in the
 * telemetry key agreement (KEY_INFO, SET_GATEWAY_KEY) and, once a gateway
 * key is set, sends a sealed TELEMETRY record per reporting interval: the
 * host loop calls tn_sim_node_poll with the time, the node synthesizes a
 * plausible inference workload (deterministic per hardware id) into its
 * telemetry accumulator, seals the interval's record and hands out the frame;
 * it resends the identical frame until the agent acknowledges it. Sealing
 * needs the crypto port (device/secure), so such a node opens only in builds
 * that have one.
 *
 * Portable C11, no heap, no OS; every struct lives in caller memory and is
 * not thread-safe. The file-backed storage at the end is for host builds
 * only (ISO C stdio).
 */
#ifndef TN_SIM_TN_SIM_H_
#define TN_SIM_TN_SIM_H_

#include <stddef.h>
#include <stdint.h>

#include "adapt/tn_adapt.h"
#include "base/tn_base.h"
#include "base/tn_rng.h"
#include "link/tn_link.h"
#include "ota/tn_ota.h"
#include "secure/tn_secure.h"
#include "telemetry/tn_telemetry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Storage interface                                                         */
/* ------------------------------------------------------------------------ */

/* Region names: 1..15 characters of [a-z0-9_]. The node uses "identity",
 * "slots" (without model updates) and "boot", with telemetry also the
 * regions of the sealing state ("node_key", "tel_key", "tel_counter", see
 * device/secure), and with model updates the six regions of device/ota
 * ("ota_table_a", ...); each region is at most TN_SIM_REGION_MAX bytes. */
#define TN_SIM_REGION_NAME_MAX 15u
#define TN_SIM_REGION_MAX 128u

/* Named non-volatile regions. Both functions are required.
 * read: copies region `name` into buf (cap bytes) and sets *len. Returns
 *   TN_ERR_NOT_FOUND when the region was never written,
 *   TN_ERR_BUFFER_TOO_SMALL when it is larger than cap, TN_ERR_STORAGE on a
 *   device failure.
 * write: replaces region `name` with `len` bytes, all or nothing. Returns
 *   TN_ERR_STORAGE on failure, TN_ERR_BUFFER_TOO_SMALL when it does not fit.
 * Both return TN_ERR_ARG for an invalid name. */
typedef struct tn_sim_storage {
  void* ctx;
  tn_status (*read)(void* ctx, const char* name, uint8_t* buf, size_t cap,
                    size_t* len);
  tn_status (*write)(void* ctx, const char* name, const uint8_t* data,
                     size_t len);
} tn_sim_storage;

/* Returns 1 when `name` is a valid region name. */
int tn_sim_region_name_ok(const char* name);

/* In-memory storage: a fixed table of regions in caller memory (tests, and
 * simulations that need no persistence across processes). */
#define TN_SIM_MEM_REGIONS 16u
typedef struct tn_sim_mem_region {
  char name[TN_SIM_REGION_NAME_MAX + 1];
  uint8_t used;
  uint16_t len;
  uint8_t data[TN_SIM_REGION_MAX];
} tn_sim_mem_region;
typedef struct tn_sim_mem_storage {
  tn_sim_mem_region regions[TN_SIM_MEM_REGIONS];
  uint32_t writes; /* successful writes, for tests */
} tn_sim_mem_storage;

/* Empties `mem`. */
void tn_sim_mem_storage_init(tn_sim_mem_storage* mem);

/* The storage interface over `mem` (borrowed: `mem` must outlive its use).
 * A write to a new name fails with TN_ERR_STORAGE when all regions are
 * taken. */
tn_sim_storage tn_sim_mem_storage_interface(tn_sim_mem_storage* mem);

/* ------------------------------------------------------------------------ */
/* The node                                                                  */
/* ------------------------------------------------------------------------ */

/* Firmware version reported when the configuration names none. */
#define TN_SIM_DEFAULT_FIRMWARE_VERSION "tinyfleet-node 0.1.0"
/* Slots of a fresh node: A and B. */
#define TN_SIM_DEFAULT_SLOTS 2u
/* Telemetry defaults: one record a minute; an unacknowledged record is sent
 * again after two seconds. */
#define TN_SIM_DEFAULT_TELEMETRY_INTERVAL_MS 60000u
#define TN_SIM_DEFAULT_TELEMETRY_RETRY_MS 2000u
/* Synthetic inferences counted per tn_sim_node_poll call at most (a node
 * polled rarely skips the rest rather than loop for long). */
#define TN_SIM_MAX_SYNTH_PER_POLL 20000u
/* Largest sealed record the node produces. */
#define TN_SIM_SEALED_MAX TN_SEAL_SEALED_SIZE(TN_TELEMETRY_RECORD_MAX)

/* Local training (TN_LINK_CAP_TRAIN, device/adapt). The node trains the
 * model in its running slot on `data` (its local shard) when the agent sends
 * a job (TRAIN, TRAIN_TAIL, TRAIN_STATUS, UPDATE_READ, TRAIN_CANCEL); the
 * job advances by `slice` units of work per tn_sim_node_poll call, so the
 * node keeps answering its link while it trains. Jobs live in RAM: a reset
 * forgets them (the agent starts the job again; the same seed gives the
 * same update). All buffers are borrowed and must outlive the node; arena
 * and workspace are 8-byte aligned. */
#define TN_SIM_DEFAULT_TRAIN_SLICE 4u
typedef struct tn_sim_train_config {
  const tn_adapt_data* data; /* NULL (default): the node does not train */
  uint8_t* blob_buffer;      /* a copy of the running blob */
  uint32_t blob_buffer_size;
  void* arena; /* the training model's arena */
  uint32_t arena_size;
  void* workspace; /* tn_adapt_job workspace */
  size_t workspace_size;
  uint8_t* tail_buffer; /* the received TNTL */
  uint32_t tail_buffer_size;
  float* residual; /* error feedback of sparse updates */
  uint32_t residual_capacity;
  uint32_t slice; /* work units per poll. Default (0): 4 */
} tn_sim_train_config;

/* The node's training job as TRAIN_STATUS reports it. Private. */
typedef struct tn_sim_training {
  uint32_t job_id; /* 0: none */
  uint8_t state;   /* TN_LINK_TRAIN_* */
  uint16_t status;
  tn_link_train_params params;
  uint32_t tail_received;
  uint8_t model_loaded; /* blob, model and frozen describe the running slot */
  uint8_t model_slot;
  uint32_t model_version;
  uint8_t model_id[TN_LINK_MODEL_ID_SIZE];
  tn_blob blob;
  tn_model model;
  uint8_t frozen[TN_ADAPT_HASH_SIZE];
  tn_adapt_job job;
} tn_sim_training;

/* Fills `out` (16 bytes) with unpredictable bytes; TN_OK or an error. */
typedef tn_status (*tn_sim_entropy_fn)(void* ctx, uint8_t* out, size_t len);

typedef struct tn_sim_config {
  tn_target target;             /* HOST, GAP8 or GAP9. Default: HOST. */
  const char* firmware_version; /* 1..32 printable ASCII characters.
                                   Default (NULL):
                                   TN_SIM_DEFAULT_FIRMWARE_VERSION. */
  uint32_t capabilities;        /* TN_LINK_CAP_* advertised. Default: 0.
                                   With TN_LINK_CAP_TELEMETRY the node keeps
                                   a sealing state and sends telemetry. */
  uint16_t max_payload;         /* 256..1024. Default (0): 1024. */
  tn_sim_storage storage;       /* required; copied */
  tn_sim_entropy_fn entropy;    /* required; used only when no identity
                                   (or, with telemetry, no node key) is
                                   stored yet */
  void* entropy_ctx;
  uint32_t telemetry_interval_ms; /* reporting interval. Default (0):
                                     TN_SIM_DEFAULT_TELEMETRY_INTERVAL_MS */
  uint32_t telemetry_retry_ms;    /* resend an unanswered record after this.
                                     Default (0):
                                     TN_SIM_DEFAULT_TELEMETRY_RETRY_MS */
  uint32_t counter_block;         /* record counters reserved per storage
                                     write. Default (0):
                                     TN_SEAL_COUNTER_BLOCK_DEFAULT */
  /* Model updates. Default (ota.flash.read NULL): none; the update
   * requests answer TN_ERR_UNSUPPORTED and the slot table is the stored
   * "slots" region. With a slot flash the node opens device/ota with this
   * configuration (its target and storage fields are replaced by the
   * node's own) and advertises TN_LINK_CAP_MODEL_UPDATE. Buffers and flash
   * are borrowed and must outlive the node. */
  tn_ota_config ota;
  /* Local training. Default (train.data NULL): none. Requires model updates
   * (the running slot is the model trained); the node then advertises
   * TN_LINK_CAP_TRAIN. */
  tn_sim_train_config train;
} tn_sim_config;

/* Sets every field to its default (storage, entropy and the OTA slot flash
 * empty). */
void tn_sim_config_init(tn_sim_config* cfg);

typedef struct tn_sim_stats {
  uint32_t requests;          /* requests executed */
  uint32_t repeats;           /* retried requests answered from the cache */
  uint32_t nacks;             /* NACKs sent (not counting repeats) */
  uint32_t responses_ignored; /* RESPONSE frames answering nothing */
  uint32_t frames_rejected;   /* frames the decoder dropped (receive) */
  uint32_t telemetry_sent;    /* TELEMETRY requests sent, first attempts */
  uint32_t telemetry_resent;  /* TELEMETRY requests sent again */
  uint32_t telemetry_acked;   /* records acknowledged by the agent */
  uint32_t telemetry_nacked;  /* NACKs received for TELEMETRY */
  uint32_t telemetry_errors;  /* records that could not be sealed */
} tn_sim_stats;

/* The synthetic workload of a virtual node: plausible keyword-spotting
 * statistics from a generator seeded by the hardware id. Private. */
typedef struct tn_sim_workload {
  tn_rng rng;
  uint64_t next_event_ms;     /* time of the next synthetic inference */
  uint32_t period_ms;         /* mean time between inferences */
  uint32_t accuracy_permille; /* share of correct predictions */
  uint32_t base_cycles;       /* cycles of one inference, before jitter */
  uint16_t classes;           /* output classes of the pretended model */
} tn_sim_workload;

typedef struct tn_sim_node {
  /* What HELLO answers: identity, profile, capabilities, slot table. */
  tn_link_hello_reply info;
  uint32_t boot_count;       /* this boot's number, 1 on the first start */
  uint16_t peer_max_payload; /* from the last HELLO; 0 before any */
  tn_sim_storage storage;
  tn_link_responder responder;
  tn_sim_stats stats;

  /* Model updates; used only when `ota_enabled` is 1. */
  uint8_t ota_enabled;
  tn_ota ota;

  /* Local training; used only when `train_enabled` is 1. Private. */
  uint8_t train_enabled;
  tn_sim_train_config train_cfg;
  tn_sim_training training;

  /* Sealed telemetry; used only when `telemetry` is 1. Private. */
  uint8_t telemetry; /* capabilities include TN_LINK_CAP_TELEMETRY */
  tn_sealer sealer;
  tn_telemetry acc;
  tn_sim_workload workload;
  tn_link_requester requester; /* the node's own requests */
  uint32_t telemetry_interval_ms;
  uint32_t telemetry_retry_ms;
  uint64_t clock_ms; /* latest time passed to tn_sim_node_poll */
  uint8_t staged;    /* a record is taken but not sealed yet */
  uint16_t staged_len;
  uint8_t staged_record[TN_TELEMETRY_RECORD_MAX];
  uint8_t pending;          /* a sealed record awaits the agent's ACK */
  uint8_t resend_now;       /* send it at the next poll (new connection) */
  uint64_t pending_counter; /* its record counter */
  uint64_t last_send_ms;    /* when it was last sent, or NACKed */
  uint16_t pending_len;
  uint8_t pending_record[TN_SIM_SEALED_MAX];
  uint16_t out_len; /* wire bytes of the TELEMETRY frame in flight */
  uint8_t out[TN_LINK_MAX_WIRE_FRAME];
} tn_sim_node;

/* Boots the node: loads the identity from storage, or on the first start
 * creates one (16 bytes from the entropy source) and writes it; loads or
 * creates the slot table (with model updates: opens device/ota, whose boot
 * rules revert a trial interrupted by the reset and resume an interrupted
 * transfer); increments and stores the boot counter. With
 * TN_LINK_CAP_TELEMETRY it also opens the sealing state (tn_sealer_open:
 * the node key pair, created on the first start, any agreed key, and the
 * record counter) and starts the first telemetry interval at time 0.
 * A stored region that is corrupt (size, magic or CRC) fails with
 * TN_ERR_STORAGE and is never replaced: a node does not silently change its
 * identity. Errors: TN_ERR_NULL, TN_ERR_ARG (bad configuration),
 * TN_ERR_STORAGE, TN_ERR_UNSUPPORTED (telemetry without a crypto port), or
 * the storage's or entropy source's own error; with model updates also the
 * errors of tn_ota_open. */
tn_status tn_sim_node_open(tn_sim_node* node, const tn_sim_config* cfg);

/* A new link connection: forgets the response cache and the peer's
 * max_payload. A telemetry record still awaiting its ACK is sent again
 * (identical bytes) at the first poll after the next HELLO. */
void tn_sim_node_link_reset(tn_sim_node* node);

/* Handles one decoded frame. On return *response points to the wire bytes to
 * send (inside `node`, valid until the next call) and *response_len is their
 * count, 0 when nothing is to be sent. HELLO -> HELLO_REPLY; PING -> PONG;
 * with telemetry, KEY_INFO -> KEY_INFO_REPLY and SET_GATEWAY_KEY -> ACK (or
 * NACK TN_ERR_KEY_INVALID for a point not on P-256, TN_ERR_STORAGE when the
 * key cannot be stored); with model updates, MODEL_STATUS ->
 * MODEL_STATUS_REPLY and MODEL_BEGIN, MODEL_CHUNK, MODEL_COMMIT, ACTIVATE,
 * CONFIRM, ROLLBACK, SET_MODEL_KEY -> ACK or NACK with the status of
 * tn_ota_handle (docs/formats/ota.md); with training, TRAIN_STATUS ->
 * TRAIN_STATUS_REPLY, UPDATE_READ -> UPDATE_CHUNK and TRAIN, TRAIN_TAIL,
 * TRAIN_CANCEL -> ACK or NACK (TN_ERR_FROZEN_MISMATCH when the running model
 * is not the one the job names, TN_ERR_NOT_FOUND without a running model or
 * for another job, TN_ERR_OTA_OFFSET for a gap in the tail or a read past
 * the update, TN_ERR_STATE when the job is not in the state the request
 * needs, TN_ERR_MEMORY_BUDGET when it does not fit the node's buffers, or
 * the status of tn_adapt_job_start once the tail is complete); other known
 * types -> NACK TN_ERR_UNSUPPORTED;
 * unknown types -> NACK TN_ERR_MSG_TYPE; undecodable payloads -> NACK
 * TN_ERR_MSG_MALFORMED; a HELLO with another link version -> NACK
 * TN_ERR_PROTOCOL_VERSION. NACK and ACK follow the link's rule: only
 * requests that expect a response get one. A frame with the RESPONSE flag
 * that answers the node's outstanding TELEMETRY request settles it (ACK:
 * the record is delivered; NACK: it is offered again, under a new sequence
 * number, one telemetry interval later); other responses are ignored.
 * Errors: TN_ERR_NULL, or an encoding failure (a bug). */
tn_status tn_sim_node_handle(tn_sim_node* node, const tn_link_frame* frame,
                             const uint8_t** response, size_t* response_len);

/* The node's own requests, driven by the caller's clock. `now_ms` is the
 * time in milliseconds since tn_sim_node_open on a monotonic clock; calls
 * must not go back in time. With telemetry and once a gateway key is set
 * and a HELLO opened the session, a call returns in *frame / *frame_len the
 * wire bytes of a TELEMETRY request (ACK_REQUESTED) when
 *   - a reporting interval has elapsed and no record is in flight: the
 *     interval's record is taken, sealed under the next record counter and
 *     framed with a new sequence number;
 *   - the record in flight was not answered within telemetry_retry_ms (or a
 *     new connection started): the identical frame bytes again;
 *   - the record in flight was NACKed one interval ago: the same sealed
 *     record in a frame with a new sequence number.
 * Otherwise *frame_len is 0. The bytes live inside `node` until the next
 * poll. Every call first runs one slice of a running training job, then
 * adds the synthetic inferences due up to now_ms
 * (at most TN_SIM_MAX_SYNTH_PER_POLL). A node without telemetry, or before
 * its key is set, returns nothing. Errors: TN_ERR_NULL, TN_ERR_ARG (time
 * going backwards), TN_ERR_INTERNAL (a frame did not encode: a bug). A
 * record that cannot be sealed (storage failure when reserving counters) is
 * counted in stats.telemetry_errors and kept; sealing it is tried again at
 * the next poll. */
tn_status tn_sim_node_poll(tn_sim_node* node, uint64_t now_ms,
                           const uint8_t** frame, size_t* frame_len);

/* 1 while a training job runs: the host loop should poll again at once
 * rather than wait for input. */
int tn_sim_node_busy(const tn_sim_node* node);

/* Sends `len` bytes to the peer; TN_OK or an error that stops receiving. */
typedef tn_status (*tn_sim_write_fn)(void* ctx, const uint8_t* data,
                                     size_t len);

/* Feeds received bytes through `dec` and handles every complete frame,
 * writing each response with `write`. Frames the decoder rejects are counted
 * in stats.frames_rejected and otherwise ignored (the peer retries). Returns
 * TN_OK, or the first error of `write` or of tn_sim_node_handle. */
tn_status tn_sim_node_receive(tn_sim_node* node, tn_link_decoder* dec,
                              const uint8_t* data, size_t size,
                              tn_sim_write_fn write, void* write_ctx);

/* ------------------------------------------------------------------------ */
/* File-backed storage (host builds only)                                    */
/* ------------------------------------------------------------------------ */

#define TN_SIM_PATH_MAX 512u

/* Regions as files <dir>/<name>.bin, replaced by writing <name>.bin.tmp and
 * renaming it over the old file. */
typedef struct tn_sim_file_storage {
  char dir[TN_SIM_PATH_MAX];
} tn_sim_file_storage;

/* REQUIRES: `dir` exists. Errors: TN_ERR_NULL, TN_ERR_ARG (empty or longer
 * than TN_SIM_PATH_MAX - 32 bytes). */
tn_status tn_sim_file_storage_init(tn_sim_file_storage* fs, const char* dir);

/* The storage interface over `fs` (borrowed). */
tn_sim_storage tn_sim_file_storage_interface(tn_sim_file_storage* fs);

#ifdef __cplusplus
}
#endif

#endif /* TN_SIM_TN_SIM_H_ */
