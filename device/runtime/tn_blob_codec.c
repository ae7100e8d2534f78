/*
 * Encoders and decoders of the fixed-size blob records (tensor and op
 * records of the GRAPH section) and FP32 bit conversions. Every multi-byte
 * field is little-endian; no record is ever accessed through a cast, so
 * blob bytes need no alignment.
 */
#include <string.h>

#include "runtime/tn_runtime_internal.h"

uint32_t tn_f32_bits(float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof(bits));
  return bits;
}

float tn_f32_from_bits(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof(f));
  return f;
}

/* Tensor record (24 bytes): dtype u8, reserved u8 + u16, h u32, w u32,
 * c u32, scale f32, zero_point i32. */
void tn_tensor_decode(const uint8_t* rec, tn_tensor_desc* out) {
  out->dtype = rec[0];
  out->h = tn_load_u32le(rec + 4);
  out->w = tn_load_u32le(rec + 8);
  out->c = tn_load_u32le(rec + 12);
  out->scale = tn_f32_from_bits(tn_load_u32le(rec + 16));
  out->zero_point = tn_i32_from_u32(tn_load_u32le(rec + 20));
}

void tn_tensor_encode(const tn_tensor_desc* t, uint8_t* rec) {
  memset(rec, 0, TN_TENSOR_RECORD_SIZE);
  rec[0] = t->dtype;
  tn_store_u32le(rec + 4, t->h);
  tn_store_u32le(rec + 8, t->w);
  tn_store_u32le(rec + 12, t->c);
  tn_store_u32le(rec + 16, tn_f32_bits(t->scale));
  tn_store_u32le(rec + 20, (uint32_t)t->zero_point);
}

/* Op record (48 bytes):
 *   0 type u8, 1 weight_bits u8, 2 reserved u16,
 *   4 input0 u16, 6 input1 u16, 8 output u16, 10 reserved u16,
 *   12 kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w,
 *      pad_top, pad_bottom, pad_left, pad_right (u8 each),
 *   22 act_min i8, 23 act_max i8,
 *   24 weights_offset u32, 28 weights_size u32,
 *   32 quant_offset u32, 36 quant_size u32, 40 reserved (8 bytes). */
void tn_op_decode(const uint8_t* rec, tn_op_desc* out) {
  out->type = rec[0];
  out->weight_bits = rec[1];
  out->input0 = tn_load_u16le(rec + 4);
  out->input1 = tn_load_u16le(rec + 6);
  out->output = tn_load_u16le(rec + 8);
  out->kernel_h = rec[12];
  out->kernel_w = rec[13];
  out->stride_h = rec[14];
  out->stride_w = rec[15];
  out->dilation_h = rec[16];
  out->dilation_w = rec[17];
  out->pad_top = rec[18];
  out->pad_bottom = rec[19];
  out->pad_left = rec[20];
  out->pad_right = rec[21];
  /* Two's complement byte to int8 without implementation-defined
   * conversion. */
  out->act_min = (int8_t)((int)rec[22] - ((rec[22] & 0x80u) ? 256 : 0));
  out->act_max = (int8_t)((int)rec[23] - ((rec[23] & 0x80u) ? 256 : 0));
  out->weights_offset = tn_load_u32le(rec + 24);
  out->weights_size = tn_load_u32le(rec + 28);
  out->quant_offset = tn_load_u32le(rec + 32);
  out->quant_size = tn_load_u32le(rec + 36);
}

void tn_op_encode(const tn_op_desc* op, uint8_t* rec) {
  memset(rec, 0, TN_OP_RECORD_SIZE);
  rec[0] = op->type;
  rec[1] = op->weight_bits;
  tn_store_u16le(rec + 4, op->input0);
  tn_store_u16le(rec + 6, op->input1);
  tn_store_u16le(rec + 8, op->output);
  rec[12] = op->kernel_h;
  rec[13] = op->kernel_w;
  rec[14] = op->stride_h;
  rec[15] = op->stride_w;
  rec[16] = op->dilation_h;
  rec[17] = op->dilation_w;
  rec[18] = op->pad_top;
  rec[19] = op->pad_bottom;
  rec[20] = op->pad_left;
  rec[21] = op->pad_right;
  rec[22] = (uint8_t)op->act_min;
  rec[23] = (uint8_t)op->act_max;
  tn_store_u32le(rec + 24, op->weights_offset);
  tn_store_u32le(rec + 28, op->weights_size);
  tn_store_u32le(rec + 32, op->quant_offset);
  tn_store_u32le(rec + 36, op->quant_size);
}
