/*
 * Firmware base: the status codes every device room returns, fixed-width
 * types and a few portable helpers. Portable C11, no heap, no OS.
 *
 * Every fallible firmware function returns tn_status; TN_OK is zero so
 * `if (st != TN_OK)` and `if (st)` both read naturally. Codes are grouped by
 * the room that produces them, but any room may use any code whose meaning
 * fits. Codes are part of the node link protocol (NACK error codes) and of
 * telemetry, so existing values never change; new codes are appended to
 * their group.
 */
#ifndef TN_BASE_TN_BASE_H_
#define TN_BASE_TN_BASE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tn_status {
  TN_OK = 0,

  /* Generic (1..31). */
  TN_ERR_ARG = 1,              /* a parameter is out of its documented range */
  TN_ERR_NULL = 2,             /* a required pointer is NULL */
  TN_ERR_BUFFER_TOO_SMALL = 3, /* caller-provided buffer or scratch too small */
  TN_ERR_UNSUPPORTED = 4,      /* valid request this build cannot serve */
  TN_ERR_STATE = 5,            /* call not allowed in the current state */
  TN_ERR_OVERFLOW = 6,         /* arithmetic on sizes would overflow */
  TN_ERR_INTERNAL = 7,         /* a broken invariant: a bug, never input */
  TN_ERR_NOT_FOUND = 8,        /* the named object does not exist */
  TN_ERR_BUSY = 9,             /* try again later */

  /* Node link framing and messages (32..63). */
  TN_ERR_FRAME_CRC = 32,        /* frame checksum mismatch */
  TN_ERR_FRAME_ENCODING = 33,   /* invalid COBS encoding */
  TN_ERR_FRAME_TRUNCATED = 34,  /* frame shorter than its header says */
  TN_ERR_FRAME_OVERSIZE = 35,   /* frame or payload above the 1 KiB limit */
  TN_ERR_MSG_TYPE = 36,         /* unknown message type */
  TN_ERR_MSG_MALFORMED = 37,    /* payload does not decode as its type */
  TN_ERR_SEQUENCE = 38,         /* unexpected sequence number */
  TN_ERR_PROTOCOL_VERSION = 39, /* peer speaks an incompatible link version */
  TN_ERR_TIMEOUT = 40,          /* no answer within the deadline */
  TN_ERR_FRAME_LENGTH = 41,     /* frame longer than its header says */

  /* Model blob and runtime (64..95). */
  TN_ERR_BLOB_MAGIC = 64,     /* not a model blob */
  TN_ERR_BLOB_VERSION = 65,   /* unsupported blob format version */
  TN_ERR_BLOB_TRUNCATED = 66, /* blob shorter than its header says */
  TN_ERR_BLOB_BOUNDS = 67,    /* an offset or size points outside the blob */
  TN_ERR_BLOB_CHECKSUM = 68,  /* SHA-256 of the contents does not match */
  TN_ERR_BLOB_SIGNATURE = 69, /* signature missing or invalid */
  TN_ERR_BLOB_TARGET = 70,    /* built for another target profile */
  TN_ERR_BLOB_GRAPH = 71,     /* graph malformed: bad op, tensor or edge */
  TN_ERR_BLOB_SHAPE = 72,     /* a shape is inconsistent or too large */
  TN_ERR_BLOB_QUANT = 73,     /* quantization parameter out of range */
  TN_ERR_MEMORY_BUDGET = 74,  /* does not fit the target's memory */
  TN_ERR_ROLLBACK = 75,       /* older than the anti-rollback counter */
  TN_ERR_BLOB_PLAN = 76,      /* memory plan inconsistent with the graph */

  /* Training (96..127). */
  TN_ERR_NUMERIC = 96,          /* NaN or Inf produced */
  TN_ERR_REPLAY_FULL = 97,      /* replay buffer has no free slot */
  TN_ERR_UPDATE_FORMAT = 98,    /* tail/update: bad magic, version, flags,
                                   reserved bytes or layout */
  TN_ERR_UPDATE_CHECKSUM = 99,  /* tail/update: trailing SHA-256 mismatch */
  TN_ERR_UPDATE_BOUNDS = 100,   /* tail/update: a count, size or index out of
                                   range, or truncated */
  TN_ERR_UPDATE_VALUE = 101,    /* tail/update: non-finite value or bad scale */
  TN_ERR_FROZEN_MISMATCH = 102, /* trained against another frozen part */

  /* Security (128..159). */
  TN_ERR_AUTH = 128,        /* authentication tag mismatch */
  TN_ERR_REPLAY = 129,      /* counter not above the last accepted one */
  TN_ERR_CRYPTO = 130,      /* crypto backend failure */
  TN_ERR_KEY_INVALID = 131, /* a key is malformed or not on its curve */
  TN_ERR_NO_KEY = 132,      /* no key agreed yet for this operation */

  /* Storage and OTA (160..191). */
  TN_ERR_STORAGE = 160,         /* non-volatile storage read/write failed */
  TN_ERR_SLOT = 161,            /* slot state does not allow the operation */
  TN_ERR_SELFTEST = 162,        /* activated model failed its self-test */
  TN_ERR_OTA_OFFSET = 163,      /* chunk leaves a gap or runs past the end */
  TN_ERR_OTA_SIZE = 164,        /* artifact does not fit the slot */
  TN_ERR_OTA_INCOMPLETE = 165,  /* commit before every byte arrived */
  TN_ERR_OTA_TRIAL_RESET = 166, /* node reset while a slot was on trial */
  TN_ERR_OTA_BASE = 167,        /* a delta's base is not the running blob */
  TN_ERR_OTA_DELTA = 168        /* a delta that does not decode or overruns */
} tn_status;

/* Returns a static, human-readable name for a status ("TN_ERR_FRAME_CRC").
 * Unknown values yield "TN_ERR_UNKNOWN". Never NULL. */
const char* tn_status_str(tn_status status);

/* Target profiles a model blob and a node can declare. Values are stable:
 * they appear in blobs, link messages and the gRPC API. */
typedef enum tn_target {
  TN_TARGET_UNSPECIFIED = 0,
  TN_TARGET_HOST = 1, /* the host build; no memory limits beyond GAP9's */
  TN_TARGET_GAP8 = 2, /* 64 kB L1, 512 kB L2 */
  TN_TARGET_GAP9 = 3  /* 128 kB L1, 1.5 MB L2, 2 MB non-volatile */
} tn_target;

/* Returns "host", "gap8", "gap9" or "unspecified". Never NULL. */
const char* tn_target_str(tn_target target);

#define TN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Little-endian loads and stores on byte buffers (no alignment required). */
static inline uint16_t tn_load_u16le(const uint8_t* p) {
  return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}
static inline uint32_t tn_load_u32le(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}
static inline uint64_t tn_load_u64le(const uint8_t* p) {
  return (uint64_t)tn_load_u32le(p) | ((uint64_t)tn_load_u32le(p + 4) << 32);
}
static inline void tn_store_u16le(uint8_t* p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void tn_store_u32le(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}
static inline void tn_store_u64le(uint8_t* p, uint64_t v) {
  tn_store_u32le(p, (uint32_t)v);
  tn_store_u32le(p + 4, (uint32_t)(v >> 32));
}

#ifdef __cplusplus
}
#endif

#endif /* TN_BASE_TN_BASE_H_ */
