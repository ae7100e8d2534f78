/*
 * Node link: the framed binary protocol between a node (MCU) and its agent,
 * over UART, TCP or in-process. One implementation serves both ends. It
 * provides CRC-32 and COBS primitives, the frame encoder and a streaming
 * frame decoder, stop-and-wait reliability helpers (request sequence
 * tracking and the duplicate-request response cache), and explicit
 * little-endian codecs for every message payload. docs/formats/
 * link-protocol.md is the normative description of the bytes on the wire.
 *
 * Portable C11, no heap, no OS: every buffer and state struct lives in
 * caller memory and has a compile-time maximum size. Nothing here keeps
 * global state; a struct is owned by its caller and not thread-safe.
 */
#ifndef TN_LINK_TN_LINK_H_
#define TN_LINK_TN_LINK_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Limits and frame layout                                                   */
/* ------------------------------------------------------------------------ */

/* Link protocol version carried in byte 0 of every frame and in HELLO. */
#define TN_LINK_VERSION 1u

/* Header: version u8, type u8, flags u8, seq u16le, payload_len u16le. */
#define TN_LINK_HEADER_SIZE 7u
#define TN_LINK_CRC_SIZE 4u
#define TN_LINK_MAX_PAYLOAD 1024u
/* Smallest max_payload a peer may announce in HELLO (every fixed-size
 * message, HELLO_REPLY included, fits in it). */
#define TN_LINK_MIN_PAYLOAD 256u

/* A frame before COBS: header | payload | CRC-32 (little-endian). */
#define TN_LINK_MAX_RAW_FRAME \
  (TN_LINK_HEADER_SIZE + TN_LINK_MAX_PAYLOAD + TN_LINK_CRC_SIZE)

/* Worst-case COBS output for n input bytes (one code byte per 254 data
 * bytes, plus the final code byte). */
#define TN_LINK_COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)

/* A frame on the wire: 0x00 | COBS(raw frame) | 0x00. */
#define TN_LINK_MAX_WIRE_FRAME \
  (TN_LINK_COBS_MAX_ENCODED(TN_LINK_MAX_RAW_FRAME) + 2u)

/* Frame flags. Bits not listed are reserved: senders set them to zero and
 * the decoder rejects frames that have them set (TN_ERR_MSG_MALFORMED). */
#define TN_LINK_FLAG_ACK_REQUESTED 0x01u /* answer with ACK on success */
#define TN_LINK_FLAG_RESPONSE 0x02u      /* answers the peer's request `seq` */
#define TN_LINK_FLAGS_KNOWN (TN_LINK_FLAG_ACK_REQUESTED | TN_LINK_FLAG_RESPONSE)

/* Message types (header byte 1). Values are stable. */
typedef enum tn_link_msg_type {
  TN_LINK_MSG_HELLO = 0x01,        /* agent -> node request */
  TN_LINK_MSG_HELLO_REPLY = 0x02,  /* node -> agent response */
  TN_LINK_MSG_PING = 0x03,         /* either direction, request */
  TN_LINK_MSG_PONG = 0x04,         /* response to PING */
  TN_LINK_MSG_HEARTBEAT = 0x05,    /* node -> agent, request */
  TN_LINK_MSG_ACK = 0x06,          /* response: request succeeded */
  TN_LINK_MSG_NACK = 0x07,         /* response: request failed, with status */
  TN_LINK_MSG_TELEMETRY = 0x10,    /* node -> agent, sealed record */
  TN_LINK_MSG_MODEL_BEGIN = 0x20,  /* agent -> node, start a transfer */
  TN_LINK_MSG_MODEL_CHUNK = 0x21,  /* agent -> node, bytes at an offset */
  TN_LINK_MSG_MODEL_COMMIT = 0x22, /* agent -> node, verify and store */
  TN_LINK_MSG_MODEL_STATUS = 0x23, /* agent -> node, transfer and slots */
  TN_LINK_MSG_MODEL_STATUS_REPLY = 0x24, /* response to MODEL_STATUS */
  /* agent -> node, start a delta transfer (MODEL_BEGIN's payload) */
  TN_LINK_MSG_MODEL_BEGIN_DELTA = 0x25,
  TN_LINK_MSG_ACTIVATE = 0x28,      /* agent -> node, boot a slot on trial */
  TN_LINK_MSG_CONFIRM = 0x29,       /* agent -> node, keep the trial slot */
  TN_LINK_MSG_ROLLBACK = 0x2A,      /* agent -> node, abandon a slot */
  TN_LINK_MSG_SET_MODEL_KEY = 0x2B, /* agent -> node, model-signing key */
  TN_LINK_MSG_TRAIN = 0x30,         /* agent -> node, start a training job */
  TN_LINK_MSG_UPDATE_CHUNK = 0x31,  /* response to UPDATE_READ */
  TN_LINK_MSG_TRAIN_TAIL = 0x32,    /* agent -> node, global tail bytes */
  TN_LINK_MSG_TRAIN_STATUS = 0x33,  /* agent -> node, job progress */
  TN_LINK_MSG_TRAIN_STATUS_REPLY = 0x34, /* response to TRAIN_STATUS */
  TN_LINK_MSG_UPDATE_READ = 0x35,        /* agent -> node, read update bytes */
  TN_LINK_MSG_TRAIN_CANCEL = 0x36,       /* agent -> node, stop a job */
  TN_LINK_MSG_INFER_REQUEST = 0x40,      /* agent -> node request */
  TN_LINK_MSG_INFER_RESULT = 0x41,       /* response to INFER_REQUEST */
  TN_LINK_MSG_KEY_INFO = 0x50,           /* agent -> node, node public key */
  TN_LINK_MSG_KEY_INFO_REPLY = 0x51,     /* response to KEY_INFO */
  TN_LINK_MSG_SET_GATEWAY_KEY = 0x52     /* agent -> node, telemetry key */
} tn_link_msg_type;

/* Returns "HELLO", "PONG", ... or "UNKNOWN". Never NULL. */
const char* tn_link_msg_type_str(uint8_t type);

/* Returns 1 when `type` is one of tn_link_msg_type, else 0. */
int tn_link_msg_type_known(uint8_t type);

/* The typed response to a request type (HELLO -> HELLO_REPLY, PING -> PONG,
 * INFER_REQUEST -> INFER_RESULT, KEY_INFO -> KEY_INFO_REPLY, MODEL_STATUS ->
 * MODEL_STATUS_REPLY), or 0 when the type has none (its answer, if any, is
 * ACK or NACK). */
uint8_t tn_link_reply_type(uint8_t request_type);

/* Returns 1 when a request frame (RESPONSE flag clear) of this type and
 * flags gets exactly one response: its type has a typed reply, or
 * ACK_REQUESTED is set. Otherwise the receiver sends nothing, even on
 * failure. Returns 0 for frames with the RESPONSE flag. */
int tn_link_expects_response(uint8_t type, uint8_t flags);

/* ------------------------------------------------------------------------ */
/* CRC-32 and COBS                                                           */
/* ------------------------------------------------------------------------ */

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial value and
 * final XOR 0xFFFFFFFF). Chainable: start with crc = 0 and pass the previous
 * result to continue. tn_link_crc32(0, "123456789", 9) == 0xCBF43926. */
uint32_t tn_link_crc32(uint32_t crc, const uint8_t* data, size_t size);

/* COBS-encodes `size` bytes into `out` (no delimiters). The output contains
 * no 0x00 and is at most TN_LINK_COBS_MAX_ENCODED(size) bytes; an empty input
 * encodes as the single byte 0x01. `in` may be NULL when size is 0.
 * Errors: TN_ERR_NULL, TN_ERR_BUFFER_TOO_SMALL. */
tn_status tn_link_cobs_encode(const uint8_t* in, size_t size, uint8_t* out,
                              size_t cap, size_t* out_len);

/* Decodes one COBS block sequence (no delimiters) into `out`.
 * Errors: TN_ERR_FRAME_ENCODING (a 0x00 byte, or a block running past the
 * end, or empty input), TN_ERR_BUFFER_TOO_SMALL, TN_ERR_NULL. */
tn_status tn_link_cobs_decode(const uint8_t* in, size_t size, uint8_t* out,
                              size_t cap, size_t* out_len);

/* ------------------------------------------------------------------------ */
/* Frames                                                                    */
/* ------------------------------------------------------------------------ */

/* One frame. For encoding the caller fills type, flags, seq, payload_len and
 * payload (borrowed, may be NULL when payload_len is 0); crc is ignored. A
 * decoded frame's payload points into the decoder's buffer (see
 * tn_link_decoder_feed) and crc holds the CRC-32 the frame carried. */
typedef struct tn_link_frame {
  uint8_t type;         /* tn_link_msg_type, or any value for unknown */
  uint8_t flags;        /* TN_LINK_FLAG_* */
  uint16_t seq;         /* request sequence number (see link-protocol.md) */
  uint16_t payload_len; /* 0..TN_LINK_MAX_PAYLOAD */
  const uint8_t* payload;
  uint32_t crc;
} tn_link_frame;

/* Upper bound on the wire bytes of a frame with a payload of `payload_len`
 * bytes, both delimiters included; 0 when payload_len is above
 * TN_LINK_MAX_PAYLOAD. */
size_t tn_link_max_encoded_size(size_t payload_len);

/* Encodes `frame` as 0x00 | COBS(header | payload | CRC-32) | 0x00 into
 * `out` and sets *out_len. `out` must not overlap the payload.
 * A cap of tn_link_max_encoded_size(payload_len) is always enough.
 * Errors: TN_ERR_NULL, TN_ERR_FRAME_OVERSIZE (payload_len above the limit),
 * TN_ERR_ARG (reserved flag bits set), TN_ERR_BUFFER_TOO_SMALL. */
tn_status tn_link_frame_encode(const tn_link_frame* frame, uint8_t* out,
                               size_t cap, size_t* out_len);

/* Validates a raw (already COBS-decoded) frame and fills `frame`, whose
 * payload then points into `raw`. Checks, in this order:
 *   size < 11                           TN_ERR_FRAME_TRUNCATED
 *   header payload_len > 1024           TN_ERR_FRAME_OVERSIZE
 *   size < 11 + payload_len             TN_ERR_FRAME_TRUNCATED
 *   size > 11 + payload_len             TN_ERR_FRAME_LENGTH
 *   CRC-32 mismatch                     TN_ERR_FRAME_CRC
 *   version != TN_LINK_VERSION          TN_ERR_PROTOCOL_VERSION
 *   reserved flag bits set              TN_ERR_MSG_MALFORMED
 * The message type is not checked here. */
tn_status tn_link_frame_parse(const uint8_t* raw, size_t size,
                              tn_link_frame* frame);

/* Streaming decoder: feed it arbitrary chunks of the byte stream; it decodes
 * COBS on the fly into its own buffer and yields verified frames. After any
 * error it resynchronises at the next 0x00. Empty frames (consecutive 0x00
 * bytes) are skipped silently. Fields are private except the counters. */
typedef struct tn_link_decoder {
  uint8_t buf[TN_LINK_MAX_RAW_FRAME];
  uint16_t len;            /* decoded bytes of the frame in progress */
  uint8_t block_code;      /* code byte of the current COBS block; 0 = none */
  uint8_t block_left;      /* data bytes still due in the current block */
  uint8_t discarding;      /* dropping bytes up to the next 0x00 */
  tn_link_frame frame;     /* the frame last yielded; points into buf */
  uint32_t frames_ok;      /* frames yielded */
  uint32_t frames_dropped; /* frames rejected (one per error returned) */
} tn_link_decoder;

/* Resets `dec` to "between frames" and zeroes its counters. */
void tn_link_decoder_init(tn_link_decoder* dec);

/* Consumes bytes of `data` until a frame completes, a frame is rejected, or
 * the input ends; *consumed says how many bytes were used (feed the rest in
 * a following call). Outcomes:
 *   TN_OK, *frame != NULL   a verified frame; it points into `dec` and stays
 *                           valid until the next feed or init on `dec`.
 *   TN_OK, *frame == NULL   every byte consumed, no frame complete yet.
 *   error                   one frame was dropped for that reason
 *                           (TN_ERR_FRAME_ENCODING, TN_ERR_FRAME_OVERSIZE --
 *                           reported as soon as the decoded frame exceeds
 *                           TN_LINK_MAX_RAW_FRAME, after which bytes are
 *                           skipped to the next 0x00 --, or any error of
 *                           tn_link_frame_parse); *frame is NULL and the
 *                           decoder is ready for the next frame.
 *   TN_ERR_NULL             a NULL argument (nothing consumed). */
tn_status tn_link_decoder_feed(tn_link_decoder* dec, const uint8_t* data,
                               size_t size, size_t* consumed,
                               const tn_link_frame** frame);

/* ------------------------------------------------------------------------ */
/* Reliability: stop-and-wait requests and the duplicate-request cache       */
/* ------------------------------------------------------------------------ */

/* The sending side of one direction. At most one request that expects a
 * response is outstanding; a retry re-sends the identical frame bytes. */
typedef struct tn_link_requester {
  uint16_t next_seq;
  uint16_t seq;    /* of the outstanding request */
  uint8_t type;    /* of the outstanding request */
  uint8_t waiting; /* 1 while a request awaits its response */
} tn_link_requester;

/* Starts numbering at `first_seq` (agents pick a random value per
 * connection; any value is valid). */
void tn_link_requester_init(tn_link_requester* req, uint16_t first_seq);

/* Allocates the sequence number for a new request of `type` with `flags`;
 * when tn_link_expects_response(type, flags) the request becomes
 * outstanding. Errors: TN_ERR_BUSY while another request is outstanding,
 * TN_ERR_ARG when flags has RESPONSE or reserved bits, TN_ERR_NULL. */
tn_status tn_link_requester_start(tn_link_requester* req, uint8_t type,
                                  uint8_t flags, uint16_t* seq);

/* Matches a received response frame (RESPONSE flag set) against the
 * outstanding request. TN_OK: it answers it (typed reply of the right type,
 * or ACK/NACK naming the request's seq and type) and the request is no longer
 * outstanding; the caller then decodes the payload. TN_ERR_STATE: nothing is
 * outstanding. TN_ERR_SEQUENCE: another seq (a stale or duplicated answer;
 * ignore it). TN_ERR_MSG_TYPE: right seq, wrong response type.
 * TN_ERR_MSG_MALFORMED: an ACK/NACK payload that does not decode.
 * TN_ERR_ARG: the frame is not a response. */
tn_status tn_link_requester_accept(tn_link_requester* req,
                                   const tn_link_frame* response);

/* Gives up the outstanding request (after the caller's last retry). */
void tn_link_requester_cancel(tn_link_requester* req);

/* The receiving side of one direction: remembers the last request handled
 * (seq, type and frame CRC) together with the exact wire bytes of its
 * response, so that a retried request is answered again without being
 * executed twice. */
typedef struct tn_link_responder {
  uint8_t valid;         /* an entry is recorded */
  uint8_t type;          /* of the recorded request */
  uint16_t seq;          /* of the recorded request */
  uint32_t crc;          /* frame CRC of the recorded request */
  uint16_t response_len; /* 0: the request got no response */
  uint8_t response[TN_LINK_MAX_WIRE_FRAME];
} tn_link_responder;

/* Forgets any recorded request. HELLO opens a session: receivers call this
 * before handling a HELLO and never replay one from the cache. */
void tn_link_responder_init(tn_link_responder* rsp);

/* Returns 1 when `request` repeats the recorded request (same seq, type and
 * CRC) and sets *response / *response_len to the recorded answer (length 0
 * when it had none); the caller re-sends it and does not execute the
 * request. Returns 0 otherwise (and for frames with the RESPONSE flag). */
int tn_link_responder_repeat(const tn_link_responder* rsp,
                             const tn_link_frame* request,
                             const uint8_t** response, size_t* response_len);

/* Starts handling a new request: forgets the recorded entry and returns the
 * buffer of TN_LINK_MAX_WIRE_FRAME bytes to encode its response into. */
uint8_t* tn_link_responder_begin(tn_link_responder* rsp);

/* Records `request` as handled, its response being the first response_len
 * bytes of the buffer returned by tn_link_responder_begin.
 * Errors: TN_ERR_ARG when response_len exceeds the buffer, TN_ERR_NULL. */
tn_status tn_link_responder_finish(tn_link_responder* rsp,
                                   const tn_link_frame* request,
                                   size_t response_len);

/* ------------------------------------------------------------------------ */
/* Message payloads                                                          */
/*                                                                           */
/* Every payload has an encoder and a decoder. Encoders check the struct by  */
/* the same rules as the decoder (TN_ERR_ARG if it breaks one) and write into */
/* a caller buffer (TN_ERR_BUFFER_TOO_SMALL). Decoders validate every field,  */
/* reject trailing bytes and return TN_ERR_MSG_MALFORMED on any violation.   */
/* Byte-string fields of decoded structs point into the decoded payload.    */
/* Encoding is canonical: decode followed by encode gives the same bytes.    */
/* ------------------------------------------------------------------------ */

#define TN_LINK_HARDWARE_ID_SIZE 16u
#define TN_LINK_MODEL_ID_SIZE 16u
#define TN_LINK_ARTIFACT_ID_SIZE 16u
#define TN_LINK_SHA256_SIZE 32u
#define TN_LINK_FIRMWARE_VERSION_MAX 32u /* bytes, printable ASCII */
#define TN_LINK_MAX_SLOTS 4u
#define TN_LINK_NO_SLOT 0xFFu

/* HELLO (agent -> node). 3 bytes. */
typedef struct tn_link_hello {
  uint8_t link_version; /* the agent's TN_LINK_VERSION; non-zero */
  uint16_t max_payload; /* largest payload the agent accepts, 256..1024 */
} tn_link_hello;
tn_status tn_link_hello_encode(const tn_link_hello* m, uint8_t* out, size_t cap,
                               size_t* out_len);
tn_status tn_link_hello_decode(const uint8_t* payload, size_t size,
                               tn_link_hello* m);

/* Model slot states in the HELLO reply. Values are stable. */
typedef enum tn_link_slot_state {
  TN_LINK_SLOT_EMPTY = 0,           /* nothing stored */
  TN_LINK_SLOT_VALID = 1,           /* verified model, not running */
  TN_LINK_SLOT_ACTIVE = 2,          /* running, confirmed */
  TN_LINK_SLOT_PENDING_CONFIRM = 3, /* running on trial after ACTIVATE */
  TN_LINK_SLOT_FAILED = 4           /* transfer, verification or trial failed */
} tn_link_slot_state;

/* Returns "empty", "valid", "active", "pending-confirm", "failed" or
 * "unknown". Never NULL. */
const char* tn_link_slot_state_str(uint8_t state);

typedef struct tn_link_slot {
  uint8_t state;                           /* tn_link_slot_state */
  uint8_t model_id[TN_LINK_MODEL_ID_SIZE]; /* all zero when EMPTY */
  uint32_t model_version;                  /* 0 when EMPTY */
} tn_link_slot;

/* Capability bits of the HELLO reply; receivers ignore unknown bits. */
#define TN_LINK_CAP_TELEMETRY 0x00000001u /* sends TELEMETRY */
/* MODEL_BEGIN, MODEL_CHUNK, MODEL_COMMIT, MODEL_STATUS, ACTIVATE, CONFIRM,
 * ROLLBACK, SET_MODEL_KEY */
#define TN_LINK_CAP_MODEL_UPDATE 0x00000002u
#define TN_LINK_CAP_TRAIN 0x00000004u /* TRAIN, UPDATE_CHUNK */
#define TN_LINK_CAP_INFER 0x00000008u /* INFER_REQUEST */

/* HELLO_REPLY (node -> agent). 26 + fw_len + 21 * slot_count bytes (at most
 * 142). At most one slot is ACTIVE or PENDING_CONFIRM. */
typedef struct tn_link_hello_reply {
  uint8_t link_version; /* the node's TN_LINK_VERSION; non-zero */
  uint8_t hardware_id[TN_LINK_HARDWARE_ID_SIZE];
  uint8_t target;        /* tn_target: HOST, GAP8 or GAP9 */
  uint32_t capabilities; /* TN_LINK_CAP_* */
  uint16_t max_payload;  /* largest payload the node accepts, 256..1024 */
  /* NUL-terminated, 1..32 printable ASCII characters (0x20..0x7E). */
  char firmware_version[TN_LINK_FIRMWARE_VERSION_MAX + 1];
  uint8_t slot_count; /* 0..TN_LINK_MAX_SLOTS */
  tn_link_slot slots[TN_LINK_MAX_SLOTS];
} tn_link_hello_reply;
tn_status tn_link_hello_reply_encode(const tn_link_hello_reply* m, uint8_t* out,
                                     size_t cap, size_t* out_len);
tn_status tn_link_hello_reply_decode(const uint8_t* payload, size_t size,
                                     tn_link_hello_reply* m);

/* PING and PONG: 4 bytes; the PONG echoes the PING's nonce. */
typedef struct tn_link_ping {
  uint32_t nonce;
} tn_link_ping;
tn_status tn_link_ping_encode(const tn_link_ping* m, uint8_t* out, size_t cap,
                              size_t* out_len);
tn_status tn_link_ping_decode(const uint8_t* payload, size_t size,
                              tn_link_ping* m);

/* HEARTBEAT (node -> agent). 9 bytes. */
typedef struct tn_link_heartbeat {
  uint32_t uptime_s;   /* seconds since boot */
  uint32_t boot_count; /* boots since the identity was created */
  uint8_t active_slot; /* running slot index, or TN_LINK_NO_SLOT */
} tn_link_heartbeat;
tn_status tn_link_heartbeat_encode(const tn_link_heartbeat* m, uint8_t* out,
                                   size_t cap, size_t* out_len);
tn_status tn_link_heartbeat_decode(const uint8_t* payload, size_t size,
                                   tn_link_heartbeat* m);

/* ACK and NACK: 5 bytes. ACK carries status TN_OK, NACK any other code
 * (including codes this build does not know). */
typedef struct tn_link_ack {
  uint16_t acked_seq; /* seq of the request answered */
  uint8_t acked_type; /* type of the request answered */
  uint16_t status;    /* tn_status */
} tn_link_ack;
tn_status tn_link_ack_encode(const tn_link_ack* m, uint8_t* out, size_t cap,
                             size_t* out_len);
tn_status tn_link_ack_decode(const uint8_t* payload, size_t size,
                             tn_link_ack* m);
tn_status tn_link_nack_encode(const tn_link_ack* m, uint8_t* out, size_t cap,
                              size_t* out_len);
tn_status tn_link_nack_decode(const uint8_t* payload, size_t size,
                              tn_link_ack* m);

/* TELEMETRY (node -> agent): one sealed record the agent relays unread.
 * 6 + record_len bytes, record_len 1..1018. */
typedef struct tn_link_telemetry {
  uint32_t record_counter; /* the node's record counter */
  uint16_t record_len;
  const uint8_t* record; /* sealed bytes, borrowed */
} tn_link_telemetry;
tn_status tn_link_telemetry_encode(const tn_link_telemetry* m, uint8_t* out,
                                   size_t cap, size_t* out_len);
tn_status tn_link_telemetry_decode(const uint8_t* payload, size_t size,
                                   tn_link_telemetry* m);

/* MODEL_BEGIN (agent -> node). 53 bytes. */
typedef struct tn_link_model_begin {
  uint8_t artifact_id[TN_LINK_ARTIFACT_ID_SIZE];
  uint32_t total_size; /* bytes of the artifact, > 0 */
  uint8_t sha256[TN_LINK_SHA256_SIZE];
  uint8_t target_slot; /* < TN_LINK_MAX_SLOTS */
} tn_link_model_begin;
tn_status tn_link_model_begin_encode(const tn_link_model_begin* m, uint8_t* out,
                                     size_t cap, size_t* out_len);
tn_status tn_link_model_begin_decode(const uint8_t* payload, size_t size,
                                     tn_link_model_begin* m);

/* MODEL_CHUNK (agent -> node). 6 + data_len bytes, data_len 1..1018,
 * offset + data_len <= 2^32. */
typedef struct tn_link_model_chunk {
  uint32_t offset; /* byte offset in the artifact */
  uint16_t data_len;
  const uint8_t* data; /* borrowed */
} tn_link_model_chunk;
tn_status tn_link_model_chunk_encode(const tn_link_model_chunk* m, uint8_t* out,
                                     size_t cap, size_t* out_len);
tn_status tn_link_model_chunk_decode(const uint8_t* payload, size_t size,
                                     tn_link_model_chunk* m);

/* MODEL_COMMIT (agent -> node). 16 bytes. */
typedef struct tn_link_model_commit {
  uint8_t artifact_id[TN_LINK_ARTIFACT_ID_SIZE];
} tn_link_model_commit;
tn_status tn_link_model_commit_encode(const tn_link_model_commit* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len);
tn_status tn_link_model_commit_decode(const uint8_t* payload, size_t size,
                                      tn_link_model_commit* m);

/* ACTIVATE, CONFIRM and ROLLBACK (agent -> node). 1 byte. */
typedef struct tn_link_slot_command {
  uint8_t slot; /* < TN_LINK_MAX_SLOTS */
} tn_link_slot_command;
tn_status tn_link_slot_command_encode(const tn_link_slot_command* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len);
tn_status tn_link_slot_command_decode(const uint8_t* payload, size_t size,
                                      tn_link_slot_command* m);

/* TRAIN (agent -> node). 6 + params_len bytes, params_len 0..1018. */
typedef struct tn_link_train {
  uint32_t job_id;
  uint16_t params_len;
  const uint8_t* params; /* opaque parameters, borrowed */
} tn_link_train;
tn_status tn_link_train_encode(const tn_link_train* m, uint8_t* out, size_t cap,
                               size_t* out_len);
tn_status tn_link_train_decode(const uint8_t* payload, size_t size,
                               tn_link_train* m);

/* UPDATE_CHUNK (node -> agent, the response to UPDATE_READ). 14 +
 * data_len bytes, data_len 1..1010, offset + data_len <= total_size. */
typedef struct tn_link_update_chunk {
  uint32_t job_id;
  uint32_t total_size; /* bytes of the whole update */
  uint32_t offset;
  uint16_t data_len;
  const uint8_t* data; /* borrowed */
} tn_link_update_chunk;
tn_status tn_link_update_chunk_encode(const tn_link_update_chunk* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len);
tn_status tn_link_update_chunk_decode(const uint8_t* payload, size_t size,
                                      tn_link_update_chunk* m);

/* INFER_REQUEST (agent -> node). 2 + input_len bytes, input_len 1..1022. */
typedef struct tn_link_infer_request {
  uint16_t input_len;
  const uint8_t* input; /* model input bytes, borrowed */
} tn_link_infer_request;
tn_status tn_link_infer_request_encode(const tn_link_infer_request* m,
                                       uint8_t* out, size_t cap,
                                       size_t* out_len);
tn_status tn_link_infer_request_decode(const uint8_t* payload, size_t size,
                                       tn_link_infer_request* m);

/* INFER_RESULT (node -> agent). 10 + output_len bytes, output_len
 * 0..1014; output_len is 0 when status is not TN_OK. */
typedef struct tn_link_infer_result {
  uint16_t status;    /* tn_status of the inference */
  uint16_t top_class; /* arg-max class index */
  uint32_t cycles;    /* cycles spent in inference */
  uint16_t output_len;
  const uint8_t* output; /* raw output tensor bytes, borrowed */
} tn_link_infer_result;
tn_status tn_link_infer_result_encode(const tn_link_infer_result* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len);
tn_status tn_link_infer_result_decode(const uint8_t* payload, size_t size,
                                      tn_link_infer_result* m);

/* ------------------------------------------------------------------------ */
/* Telemetry key agreement                                                   */
/*                                                                           */
/* The agent learns the node's P-256 public key (KEY_INFO), enrolls it with  */
/* the gateway, and hands the gateway's telemetry public key and the device  */
/* id back to the node (SET_GATEWAY_KEY). The node derives its sealing key   */
/* itself; the agent never sees it. Nodes that advertise                      */
/* TN_LINK_CAP_TELEMETRY serve both requests.                                 */
/* ------------------------------------------------------------------------ */

#define TN_LINK_PUBLIC_KEY_SIZE 65u /* 0x04 || X || Y, P-256 uncompressed */
#define TN_LINK_KEY_ID_SIZE 8u      /* SHA-256 prefix of the gateway key */
#define TN_LINK_DEVICE_ID_MAX 32u   /* bytes, printable ASCII without space */

/* Key states in KEY_INFO_REPLY. Values are stable. */
#define TN_LINK_KEY_STATE_NONE 0u /* no gateway key set yet */
#define TN_LINK_KEY_STATE_SEALING            \
  1u /* a gateway key is set; records sealed \
      */

/* KEY_INFO (agent -> node): empty payload. Answered by KEY_INFO_REPLY. */
tn_status tn_link_key_info_encode(uint8_t* out, size_t cap, size_t* out_len);
/* TN_OK for an empty payload, TN_ERR_MSG_MALFORMED otherwise. */
tn_status tn_link_key_info_decode(const uint8_t* payload, size_t size);

/* KEY_INFO_REPLY (node -> agent). 75 + device_id_len bytes (at most 107).
 * Rules: node_public_key starts with 0x04; key_state is NONE or SEALING;
 * with NONE the gateway_key_id is all zero and the device id empty; with
 * SEALING the device id has 1..32 characters 0x21..0x7E. */
typedef struct tn_link_key_info_reply {
  uint8_t node_public_key[TN_LINK_PUBLIC_KEY_SIZE];
  uint8_t key_state;                           /* TN_LINK_KEY_STATE_* */
  uint8_t gateway_key_id[TN_LINK_KEY_ID_SIZE]; /* of the key set, or zero */
  char device_id[TN_LINK_DEVICE_ID_MAX + 1];   /* NUL-terminated */
} tn_link_key_info_reply;
tn_status tn_link_key_info_reply_encode(const tn_link_key_info_reply* m,
                                        uint8_t* out, size_t cap,
                                        size_t* out_len);
tn_status tn_link_key_info_reply_decode(const uint8_t* payload, size_t size,
                                        tn_link_key_info_reply* m);

/* SET_GATEWAY_KEY (agent -> node). 66 + device_id_len bytes (at most 98).
 * Rules: gateway_public_key starts with 0x04 (whether it is a point on the
 * curve is the node's check: NACK TN_ERR_KEY_INVALID); the device id has
 * 1..32 characters 0x21..0x7E. */
typedef struct tn_link_set_gateway_key {
  uint8_t gateway_public_key[TN_LINK_PUBLIC_KEY_SIZE];
  char device_id[TN_LINK_DEVICE_ID_MAX + 1]; /* NUL-terminated */
} tn_link_set_gateway_key;
tn_status tn_link_set_gateway_key_encode(const tn_link_set_gateway_key* m,
                                         uint8_t* out, size_t cap,
                                         size_t* out_len);
tn_status tn_link_set_gateway_key_decode(const uint8_t* payload, size_t size,
                                         tn_link_set_gateway_key* m);

/* ------------------------------------------------------------------------ */
/* Model update status and trust                                             */
/*                                                                           */
/* MODEL_STATUS tells the agent where a transfer stands (so that it resumes  */
/* at the node's committed offset after a reset or a reconnect), what runs,  */
/* why a slot failed and which model-signing key the node trusts.            */
/* SET_MODEL_KEY installs that key. Nodes that advertise                     */
/* TN_LINK_CAP_MODEL_UPDATE serve both requests (docs/formats/ota.md).       */
/* ------------------------------------------------------------------------ */

/* Transfer states in MODEL_STATUS_REPLY. Values are stable. */
#define TN_LINK_TRANSFER_NONE 0u      /* no transfer recorded */
#define TN_LINK_TRANSFER_RECEIVING 1u /* MODEL_BEGIN seen, not committed */
#define TN_LINK_TRANSFER_COMMITTED 2u /* verified and stored in its slot */

/* Key states in MODEL_STATUS_REPLY. Values are stable. */
#define TN_LINK_MODEL_KEY_NONE 0u /* no model-signing key set */
#define TN_LINK_MODEL_KEY_SET 1u  /* a key is set; model_key_id names it */

/* One slot as MODEL_STATUS_REPLY reports it (7 bytes on the wire). */
typedef struct tn_link_slot_status {
  uint8_t state;             /* tn_link_slot_state */
  uint16_t reason;           /* tn_status that failed the slot; 0 unless
                                state is FAILED */
  uint32_t rollback_counter; /* of the stored blob; 0 when EMPTY */
} tn_link_slot_status;

/* MODEL_STATUS (agent -> node): empty payload. Answered by
 * MODEL_STATUS_REPLY. */
tn_status tn_link_model_status_encode(uint8_t* out, size_t cap,
                                      size_t* out_len);
/* TN_OK for an empty payload, TN_ERR_MSG_MALFORMED otherwise. */
tn_status tn_link_model_status_decode(const uint8_t* payload, size_t size);

/* MODEL_STATUS_REPLY (node -> agent). 42 + 7 * slot_count bytes (at most
 * 70). Rules: transfer is NONE, RECEIVING or COMMITTED; with NONE the
 * artifact id is all zero, target_slot 0xFF and both sizes 0; otherwise
 * target_slot < slot_count, total_size > 0 and committed_offset <=
 * total_size (equal with COMMITTED). running_slot and previous_slot are
 * TN_LINK_NO_SLOT or below slot_count and differ unless both are NO_SLOT.
 * key_state is NONE (model_key_id all zero) or SET. slot_count <= 4; each
 * slot state is 0..4 and its reason is 0 unless the state is FAILED. */
typedef struct tn_link_model_status_reply {
  uint8_t transfer; /* TN_LINK_TRANSFER_* */
  uint8_t artifact_id[TN_LINK_ARTIFACT_ID_SIZE];
  uint8_t target_slot;       /* slot being written, or TN_LINK_NO_SLOT */
  uint32_t total_size;       /* bytes of the artifact */
  uint32_t committed_offset; /* bytes stored durably: resume here */
  uint8_t running_slot;      /* ACTIVE or PENDING_CONFIRM slot, or NO_SLOT */
  uint8_t previous_slot;     /* fallback / ROLLBACK target, or NO_SLOT */
  uint32_t rollback_floor;   /* lowest anti-rollback counter accepted */
  uint8_t key_state;         /* TN_LINK_MODEL_KEY_* */
  uint8_t model_key_id[TN_LINK_KEY_ID_SIZE]; /* SHA-256 prefix of the key */
  uint8_t slot_count;
  tn_link_slot_status slots[TN_LINK_MAX_SLOTS];
} tn_link_model_status_reply;
tn_status tn_link_model_status_reply_encode(const tn_link_model_status_reply* m,
                                            uint8_t* out, size_t cap,
                                            size_t* out_len);
tn_status tn_link_model_status_reply_decode(const uint8_t* payload, size_t size,
                                            tn_link_model_status_reply* m);

/* SET_MODEL_KEY (agent -> node). 65 bytes: the gateway's model-signing
 * public key, uncompressed (byte 0 is 0x04; whether it is a point on the
 * curve is the node's check: NACK TN_ERR_KEY_INVALID). */
typedef struct tn_link_set_model_key {
  uint8_t public_key[TN_LINK_PUBLIC_KEY_SIZE];
} tn_link_set_model_key;
tn_status tn_link_set_model_key_encode(const tn_link_set_model_key* m,
                                       uint8_t* out, size_t cap,
                                       size_t* out_len);
tn_status tn_link_set_model_key_decode(const uint8_t* payload, size_t size,
                                       tn_link_set_model_key* m);

/* ------------------------------------------------------------------------ */
/* Training jobs (docs/formats/link-protocol.md, "Training")                 */
/*                                                                           */
/* TRAIN carries a job's parameters (tn_link_train_params in its params      */
/* field); the agent then sends the round's global tail (a TNTL, docs/       */
/* formats/update.md) with TRAIN_TAIL chunks, polls TRAIN_STATUS while the   */
/* node trains, reads the finished update (a TNUP) with UPDATE_READ, each    */
/* answered by an UPDATE_CHUNK, and may stop the job with TRAIN_CANCEL.      */
/* Nodes that advertise TN_LINK_CAP_TRAIN serve all of them.                 */
/* ------------------------------------------------------------------------ */

/* Round kinds in TRAIN parameters (values of the API's RoundKind). */
#define TN_LINK_TRAIN_FEDERATED 1u
#define TN_LINK_TRAIN_LATENT_REPLAY 2u
#define TN_LINK_TRAIN_FEW_SHOT 3u      /* prototypes + open-set threshold */
#define TN_LINK_TRAIN_SELF_LEARNING 4u /* pseudo-labels, then fine-tuning */

/* Job states in TRAIN_STATUS_REPLY. Values are stable. */
#define TN_LINK_TRAIN_IDLE 0u      /* no job */
#define TN_LINK_TRAIN_RECEIVING 1u /* TRAIN accepted, tail bytes arriving */
#define TN_LINK_TRAIN_RUNNING 2u   /* training */
#define TN_LINK_TRAIN_DONE 3u      /* the update is ready for UPDATE_READ */
#define TN_LINK_TRAIN_FAILED 4u    /* stopped; status says why */
#define TN_LINK_TRAIN_CANCELLED 5u /* stopped by TRAIN_CANCEL */

/* Returns "idle", "receiving", "running", "done", "failed", "cancelled" or
 * "unknown". Never NULL. */
const char* tn_link_train_state_str(uint8_t state);

/* The params of TRAIN, version 1: 152 bytes. Rules: kind is one of the
 * four TN_LINK_TRAIN_* kinds; replay_bits is 7 or 8 for LATENT_REPLAY and 0
 * otherwise; replay_samples is the replay buffer's slots (>= 1) for
 * LATENT_REPLAY, the labelled examples per class ("shots", 1..65535) for
 * FEW_SHOT and SELF_LEARNING, and 0 for FEDERATED; target_far (the field
 * reserved at offset 148 for the other kinds) is in [0, 1] for FEW_SHOT and
 * 0 otherwise; tail_size > 0; local_epochs and batch_size >= 1;
 * learning_rate finite and > 0; momentum in [0, 1); weight_decay, prox_mu
 * and clip_norm finite and >= 0; top_k_ratio in [0, 1]. */
#define TN_LINK_TRAIN_PARAMS_SIZE 152u
typedef struct tn_link_train_params {
  uint8_t kind;        /* TN_LINK_TRAIN_* */
  uint8_t replay_bits; /* 7 or 8 (latent replay), else 0 */
  uint8_t round_binding[TN_LINK_SHA256_SIZE]; /* SHA-256 of the round id */
  uint8_t frozen_sha256[TN_LINK_SHA256_SIZE]; /* the model must have it */
  uint8_t tail_sha256[TN_LINK_SHA256_SIZE];   /* of the whole TNTL */
  uint32_t tail_size;                         /* bytes of the TNTL */
  uint64_t seed;                              /* sampling and shuffling */
  uint32_t attempt;                           /* TrainOrder.attempt */
  uint16_t local_epochs;
  uint16_t batch_size;
  uint32_t replay_samples; /* replay slots; FEW_SHOT, SELF_LEARNING: shots */
  float learning_rate;
  float momentum;
  float weight_decay;
  float prox_mu; /* FedProx proximal weight; 0: plain FedAvg training */
  float clip_norm;
  float top_k_ratio;
  float target_far; /* FEW_SHOT: open-set false-acceptance target; else 0 */
} tn_link_train_params;
tn_status tn_link_train_params_encode(const tn_link_train_params* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len);
tn_status tn_link_train_params_decode(const uint8_t* payload, size_t size,
                                      tn_link_train_params* m);

/* TRAIN_TAIL (agent -> node). 10 + data_len bytes, data_len 1..1014,
 * offset + data_len <= 2^32. */
typedef struct tn_link_train_tail {
  uint32_t job_id;
  uint32_t offset; /* byte offset in the TNTL */
  uint16_t data_len;
  const uint8_t* data; /* borrowed */
} tn_link_train_tail;
tn_status tn_link_train_tail_encode(const tn_link_train_tail* m, uint8_t* out,
                                    size_t cap, size_t* out_len);
tn_status tn_link_train_tail_decode(const uint8_t* payload, size_t size,
                                    tn_link_train_tail* m);

/* TRAIN_STATUS (agent -> node): 4 bytes, the job id asked about. Answered
 * by TRAIN_STATUS_REPLY about the node's current job, whatever its id. */
typedef struct tn_link_train_status {
  uint32_t job_id;
} tn_link_train_status;
tn_status tn_link_train_status_encode(const tn_link_train_status* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len);
tn_status tn_link_train_status_decode(const uint8_t* payload, size_t size,
                                      tn_link_train_status* m);

/* TRAIN_STATUS_REPLY (node -> agent). 80 bytes. Rules: state is a
 * TN_LINK_TRAIN_* value; status is 0 unless FAILED (then non-zero);
 * job_id is 0 exactly when IDLE, when every other field is 0;
 * tail_received <= tail_size; steps_done <= steps_total; update_size,
 * update_sha256, samples and the four figures are 0 unless DONE; losses
 * finite and >= 0, accuracies in [0, 1]. */
#define TN_LINK_TRAIN_STATUS_REPLY_SIZE 80u
typedef struct tn_link_train_status_reply {
  uint32_t job_id;
  uint8_t state;   /* TN_LINK_TRAIN_* */
  uint16_t status; /* tn_status that failed the job */
  uint32_t tail_received;
  uint32_t tail_size;
  uint32_t steps_done; /* units of work (samples processed) */
  uint32_t steps_total;
  uint32_t update_size;
  uint8_t update_sha256[TN_LINK_SHA256_SIZE]; /* of the whole TNUP */
  uint32_t samples;
  float loss_before, loss_after, accuracy_before, accuracy_after;
} tn_link_train_status_reply;
tn_status tn_link_train_status_reply_encode(const tn_link_train_status_reply* m,
                                            uint8_t* out, size_t cap,
                                            size_t* out_len);
tn_status tn_link_train_status_reply_decode(const uint8_t* payload, size_t size,
                                            tn_link_train_status_reply* m);

/* UPDATE_READ (agent -> node). 10 bytes; max_len 1..1010. Answered by
 * UPDATE_CHUNK with the bytes at offset (at most max_len, fewer at the
 * end), NACK TN_ERR_STATE when the job is not DONE, TN_ERR_NOT_FOUND for
 * another job id, TN_ERR_ARG for an offset at or past the end. */
typedef struct tn_link_update_read {
  uint32_t job_id;
  uint32_t offset;
  uint16_t max_len;
} tn_link_update_read;
tn_status tn_link_update_read_encode(const tn_link_update_read* m, uint8_t* out,
                                     size_t cap, size_t* out_len);
tn_status tn_link_update_read_decode(const uint8_t* payload, size_t size,
                                     tn_link_update_read* m);

/* TRAIN_CANCEL (agent -> node): 4 bytes, the job id. */
typedef struct tn_link_train_cancel {
  uint32_t job_id;
} tn_link_train_cancel;
tn_status tn_link_train_cancel_encode(const tn_link_train_cancel* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len);
tn_status tn_link_train_cancel_decode(const uint8_t* payload, size_t size,
                                      tn_link_train_cancel* m);

#ifdef __cplusplus
}
#endif

#endif /* TN_LINK_TN_LINK_H_ */
