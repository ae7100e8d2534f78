/*
 * Node telemetry: what a node reports about itself once per reporting
 * interval -- its running model and slot states, how many inferences it ran
 * and with which classes and confidence, its accuracy on labelled feedback,
 * the energy and cycles it spent, and the errors it met. This room holds the
 * record model, its compact little-endian binary codec (format version 1,
 * at most TN_TELEMETRY_RECORD_MAX bytes, so that a sealed record fits in a
 * single link TELEMETRY frame even at the smallest negotiated payload), and
 * the accumulator the node's inference path feeds. docs/formats/telemetry.md
 * is the normative description of the bytes.
 *
 * The record counter is not part of the record: it is carried, and
 * authenticated, by the sealed envelope around it (device/secure).
 *
 * Portable C11, no heap, no OS, no floating point; every struct lives in
 * caller memory. Nothing here keeps global state; a struct is owned by its
 * caller and not thread-safe.
 */
#ifndef TN_TELEMETRY_TN_TELEMETRY_H_
#define TN_TELEMETRY_TN_TELEMETRY_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Record model and limits                                                   */
/* ------------------------------------------------------------------------ */

/* Record format version (byte 0 of every encoded record). */
#define TN_TELEMETRY_FORMAT 1u

#define TN_TELEMETRY_MODEL_ID_SIZE 16u
#define TN_TELEMETRY_MAX_SLOTS 4u
#define TN_TELEMETRY_NO_SLOT 0xFFu
/* Classes with their own histogram bin; higher class indices are counted in
 * inference_count only. */
#define TN_TELEMETRY_MAX_CLASSES 16u
/* Bins of the top-1 confidence histogram: bin b holds confidences q8 with
 * q8 >> 5 == b, i.e. [b/8, (b+1)/8). */
#define TN_TELEMETRY_CONFIDENCE_BINS 8u
/* Distinct error codes counted one by one; others go to errors_other. */
#define TN_TELEMETRY_MAX_ERROR_KINDS 6u

/* Encoded size without the variable parts (slot states, class bins, error
 * entries), and the largest encoded record. */
#define TN_TELEMETRY_FIXED_SIZE 112u
#define TN_TELEMETRY_RECORD_MAX                       \
  (TN_TELEMETRY_FIXED_SIZE + TN_TELEMETRY_MAX_SLOTS + \
   4u * TN_TELEMETRY_MAX_CLASSES + 6u * TN_TELEMETRY_MAX_ERROR_KINDS)

/* Record flags. Bits not listed are reserved and must be zero. */
#define TN_TELEMETRY_FLAG_TIME_VALID 0x01u  /* unix_ms is meaningful */
#define TN_TELEMETRY_FLAG_MODEL_VALID 0x02u /* a model runs (model_id...) */
#define TN_TELEMETRY_FLAGS_KNOWN \
  (TN_TELEMETRY_FLAG_TIME_VALID | TN_TELEMETRY_FLAG_MODEL_VALID)

/* Slot states; the same values as the link's tn_link_slot_state. */
#define TN_TELEMETRY_SLOT_EMPTY 0u
#define TN_TELEMETRY_SLOT_VALID 1u
#define TN_TELEMETRY_SLOT_ACTIVE 2u
#define TN_TELEMETRY_SLOT_PENDING_CONFIRM 3u
#define TN_TELEMETRY_SLOT_FAILED 4u

/* How often one tn_status occurred during the interval. */
typedef struct tn_telemetry_error {
  uint16_t status; /* a non-zero tn_status */
  uint32_t count;  /* >= 1 */
} tn_telemetry_error;

/* One reporting interval. Field rules (checked by the encoder, TN_ERR_ARG,
 * and the decoder, TN_ERR_MSG_MALFORMED):
 *  - flags has no reserved bit; without TIME_VALID, unix_ms is 0.
 *  - slot_count <= 4; every slot state is 0..4; at most one slot is ACTIVE or
 *    PENDING_CONFIRM.
 *  - active_slot is TN_TELEMETRY_NO_SLOT, or < slot_count and names the slot
 *    that is ACTIVE or PENDING_CONFIRM; MODEL_VALID is set exactly when
 *    active_slot is not NO_SLOT; without it model_id is all zero and
 *    model_version is 0.
 *  - class_count <= 16 and the class bins sum to at most inference_count.
 *  - the confidence bins sum to exactly inference_count; with no inference
 *    confidence_mean_q16 is 0, otherwise it lies inside the span of the
 *    lowest and highest non-empty bin (bin b spans [8192 b, 8192 b + 7936]).
 *  - feedback_correct <= feedback_total.
 *  - error_kinds <= 6; entries have strictly ascending non-zero status and a
 *    count >= 1. */
typedef struct tn_telemetry_record {
  uint8_t flags;        /* TN_TELEMETRY_FLAG_* */
  uint32_t boot_count;  /* boots since the node's identity was created */
  uint32_t uptime_s;    /* seconds since boot at the end of the interval */
  uint32_t interval_ms; /* length of the interval */
  uint64_t unix_ms;     /* wall time at the end of the interval (ms since
                           1970-01-01 UTC) when TIME_VALID, else 0 */
  uint8_t model_id[TN_TELEMETRY_MODEL_ID_SIZE]; /* running model */
  uint32_t model_version;                       /* running model */
  uint8_t active_slot;                          /* or TN_TELEMETRY_NO_SLOT */
  uint8_t slot_count;
  uint8_t slot_states[TN_TELEMETRY_MAX_SLOTS];
  uint32_t inference_count;
  uint8_t class_count; /* histogram bins used, 0..16 */
  uint32_t class_counts[TN_TELEMETRY_MAX_CLASSES];
  /* Mean top-1 confidence in units of 1/65536 (the mean of the q8 values
   * times 256, rounded to nearest): 0..65280. */
  uint16_t confidence_mean_q16;
  uint32_t confidence_hist[TN_TELEMETRY_CONFIDENCE_BINS];
  uint32_t feedback_total;   /* inferences whose true label became known */
  uint32_t feedback_correct; /* of those, predicted correctly */
  uint64_t energy_uj;        /* estimated energy spent, microjoules */
  uint64_t cycles;           /* cycles spent in inference and other work */
  uint8_t error_kinds;
  tn_telemetry_error errors[TN_TELEMETRY_MAX_ERROR_KINDS];
  uint32_t errors_other; /* occurrences of codes that did not fit `errors` */
} tn_telemetry_record;

/* TN_OK when `rec` satisfies every field rule, TN_ERR_ARG otherwise,
 * TN_ERR_NULL for NULL. */
tn_status tn_telemetry_record_check(const tn_telemetry_record* rec);

/* Encoded size of a valid record, 0 for an invalid one or NULL. */
size_t tn_telemetry_record_size(const tn_telemetry_record* rec);

/* Encodes `rec` into `out` (cap bytes) and sets *out_len. A cap of
 * TN_TELEMETRY_RECORD_MAX is always enough. Encoding is canonical: decoding
 * the output gives `rec` back (fields beyond class_count and error_kinds
 * excepted, which are not encoded), and re-encoding gives the same bytes.
 * Errors: TN_ERR_NULL, TN_ERR_ARG (a field rule is broken),
 * TN_ERR_BUFFER_TOO_SMALL. */
tn_status tn_telemetry_record_encode(const tn_telemetry_record* rec,
                                     uint8_t* out, size_t cap, size_t* out_len);

/* Decodes and validates `size` bytes. Unused array entries of *rec are
 * zeroed. Errors: TN_ERR_NULL; TN_ERR_UNSUPPORTED when byte 0 is another
 * format version; TN_ERR_MSG_MALFORMED for a wrong length (missing or
 * trailing bytes) or any broken field rule. Never reads outside
 * data[0..size). */
tn_status tn_telemetry_record_decode(const uint8_t* data, size_t size,
                                     tn_telemetry_record* rec);

/* ------------------------------------------------------------------------ */
/* Accumulator                                                               */
/* ------------------------------------------------------------------------ */

/* What the node runs, as the record reports it. */
typedef struct tn_telemetry_model {
  uint8_t active_slot; /* running slot or TN_TELEMETRY_NO_SLOT */
  uint8_t model_id[TN_TELEMETRY_MODEL_ID_SIZE]; /* ignored without a slot */
  uint32_t model_version;                       /* ignored without a slot */
  uint16_t class_count; /* output classes; the first 16 get a bin */
  uint8_t slot_count;   /* 0..4 */
  uint8_t slot_states[TN_TELEMETRY_MAX_SLOTS];
} tn_telemetry_model;

/* The interval in progress. Treat the fields as private. Counts saturate:
 * once inference_count reaches UINT32_MAX further inferences are not
 * counted (their cycles and energy still are), so the record's rules hold. */
typedef struct tn_telemetry {
  uint64_t interval_start_ms;
  uint32_t inference_count;
  uint32_t class_counts[TN_TELEMETRY_MAX_CLASSES];
  uint64_t confidence_sum; /* sum of the q8 confidences */
  uint32_t confidence_hist[TN_TELEMETRY_CONFIDENCE_BINS];
  uint32_t feedback_total;
  uint32_t feedback_correct;
  uint64_t energy_nj; /* includes the sub-microjoule rest of past intervals */
  uint64_t cycles;
  uint8_t error_kinds;
  tn_telemetry_error errors[TN_TELEMETRY_MAX_ERROR_KINDS];
  uint32_t errors_other;
  tn_telemetry_model model;
} tn_telemetry;

/* Starts the first interval at `now_ms` (the node's uptime in milliseconds,
 * on the clock later passed to tn_telemetry_take_record) with no model
 * (active slot NO_SLOT, no classes, no slots). */
void tn_telemetry_init(tn_telemetry* t, uint64_t now_ms);

/* Records what the node runs; takes effect for the record taken next (the
 * record reports the model at the end of its interval). Errors: TN_ERR_NULL,
 * TN_ERR_ARG when the description breaks the record's slot rules (more than
 * 4 slots, a state above 4, an active slot that is not the one ACTIVE or
 * PENDING_CONFIRM slot). */
tn_status tn_telemetry_set_model(tn_telemetry* t, const tn_telemetry_model* m);

/* Counts one inference: its arg-max class, its top-1 confidence in units of
 * 1/256 (0..255), and the cycles and energy (nanojoules) it cost. Classes at
 * or above min(class_count, 16) have no bin. Errors: TN_ERR_NULL. */
tn_status tn_telemetry_note_inference(tn_telemetry* t, uint16_t top_class,
                                      uint8_t confidence_q8, uint32_t cycles,
                                      uint32_t energy_nj);

/* Counts one labelled feedback: whether the prediction it refers to was
 * correct. Errors: TN_ERR_NULL. */
tn_status tn_telemetry_note_feedback(tn_telemetry* t, int correct);

/* Counts one occurrence of a failure. TN_OK itself is ignored. Errors:
 * TN_ERR_NULL, TN_ERR_ARG for a code above 0xFFFF. */
tn_status tn_telemetry_note_error(tn_telemetry* t, tn_status status);

/* Adds cycles and energy (nanojoules) spent outside inference (training,
 * communication). Errors: TN_ERR_NULL. */
tn_status tn_telemetry_note_work(tn_telemetry* t, uint64_t cycles,
                                 uint64_t energy_nj);

/* When and where the record is taken. */
typedef struct tn_telemetry_stamp {
  uint64_t now_ms;     /* uptime in ms, same clock as tn_telemetry_init */
  uint32_t boot_count; /* the node's boot counter */
  uint64_t unix_ms;    /* wall time in ms, or 0 when the node has none */
} tn_telemetry_stamp;

/* Produces the record of the interval [start, stamp->now_ms) into *out and
 * starts the next interval at stamp->now_ms with every count at zero (the
 * model description and the sub-microjoule energy rest carry over).
 * interval_ms and uptime_s saturate at UINT32_MAX. The record always
 * satisfies tn_telemetry_record_check. Errors: TN_ERR_NULL, TN_ERR_ARG when
 * now_ms is before the interval's start (nothing changes then). */
tn_status tn_telemetry_take_record(tn_telemetry* t,
                                   const tn_telemetry_stamp* stamp,
                                   tn_telemetry_record* out);

#ifdef __cplusplus
}
#endif

#endif /* TN_TELEMETRY_TN_TELEMETRY_H_ */
