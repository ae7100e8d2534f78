/*
 * Private to the adapt room: field offsets of the TNTL and TNUP layouts
 * (docs/formats/update.md) and the small helpers the codec, the compressor
 * and the training job share.
 */
#ifndef TN_ADAPT_TN_ADAPT_INTERNAL_H_
#define TN_ADAPT_TN_ADAPT_INTERNAL_H_

#include "adapt/tn_adapt.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  TN_TNTL_MAGIC_OFF = 0,
  TN_TNTL_VERSION_OFF = 4,
  TN_TNTL_RESERVED_OFF = 6,
  TN_TNTL_FROZEN_OFF = 8,
  TN_TNTL_COUNT_OFF = 40
};

enum {
  TN_TNUP_MAGIC_OFF = 0,
  TN_TNUP_VERSION_OFF = 4,
  TN_TNUP_FLAGS_OFF = 6,
  TN_TNUP_BINDING_OFF = 8,
  TN_TNUP_FROZEN_OFF = 40,
  TN_TNUP_START_OFF = 72,
  TN_TNUP_SAMPLES_OFF = 104,
  TN_TNUP_ATTEMPT_OFF = 108,
  TN_TNUP_LOSS_BEFORE_OFF = 112,
  TN_TNUP_LOSS_AFTER_OFF = 116,
  TN_TNUP_ACC_BEFORE_OFF = 120,
  TN_TNUP_ACC_AFTER_OFF = 124,
  TN_TNUP_COUNT_OFF = 128,
  TN_TNUP_RESERVED_OFF = 130
};

int tn_adapt_f32_finite(float v);
float tn_adapt_load_f32(const uint8_t* p);
void tn_adapt_store_f32(uint8_t* p, float v);

/* Validates `meta` and writes the 132-byte TNUP header. */
tn_status tn_tnup_encode_header(const tn_tnup_meta* meta, int sparse,
                                uint32_t tensor_count, uint8_t* out);

#ifdef __cplusplus
}
#endif

#endif /* TN_ADAPT_TN_ADAPT_INTERNAL_H_ */
