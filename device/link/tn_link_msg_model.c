/*
 * Payload codecs of the model and learning messages: the model transfer
 * (MODEL_BEGIN, MODEL_CHUNK, MODEL_COMMIT), slot commands (ACTIVATE, CONFIRM,
 * ROLLBACK), TRAIN and UPDATE_CHUNK, and INFER_REQUEST / INFER_RESULT. Byte
 * fields are length-prefixed and borrowed from the payload on decode.
 */
#include "link/tn_link.h"
#include "link/tn_link_codec.h"

/* ---- MODEL_BEGIN --------------------------------------------------------- */

static int model_begin_ok(const tn_link_model_begin* m) {
  return m->total_size > 0 && m->target_slot < TN_LINK_MAX_SLOTS;
}

tn_status tn_link_model_begin_encode(const tn_link_model_begin* m, uint8_t* out,
                                     size_t cap, size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (!model_begin_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_bytes(&w, m->artifact_id, TN_LINK_ARTIFACT_ID_SIZE);
  tn_link_write_u32(&w, m->total_size);
  tn_link_write_bytes(&w, m->sha256, TN_LINK_SHA256_SIZE);
  tn_link_write_u8(&w, m->target_slot);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_model_begin_decode(const uint8_t* payload, size_t size,
                                     tn_link_model_begin* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  tn_link_read_copy(&r, m->artifact_id, TN_LINK_ARTIFACT_ID_SIZE);
  m->total_size = tn_link_read_u32(&r);
  tn_link_read_copy(&r, m->sha256, TN_LINK_SHA256_SIZE);
  m->target_slot = tn_link_read_u8(&r);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return model_begin_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- MODEL_CHUNK --------------------------------------------------------- */

#define MODEL_CHUNK_FIXED 6u

static int model_chunk_ok(const tn_link_model_chunk* m) {
  if (m->data_len < 1 || m->data_len > TN_LINK_MAX_PAYLOAD - MODEL_CHUNK_FIXED)
    return 0;
  return (uint64_t)m->offset + m->data_len <= 0x100000000ull;
}

tn_status tn_link_model_chunk_encode(const tn_link_model_chunk* m, uint8_t* out,
                                     size_t cap, size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (m->data == NULL && m->data_len > 0) return TN_ERR_NULL;
  if (!model_chunk_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u32(&w, m->offset);
  tn_link_write_u16(&w, m->data_len);
  tn_link_write_bytes(&w, m->data, m->data_len);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_model_chunk_decode(const uint8_t* payload, size_t size,
                                     tn_link_model_chunk* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->offset = tn_link_read_u32(&r);
  m->data_len = tn_link_read_u16(&r);
  m->data = tn_link_read_bytes(&r, m->data_len);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return model_chunk_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- MODEL_COMMIT -------------------------------------------------------- */

tn_status tn_link_model_commit_encode(const tn_link_model_commit* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_bytes(&w, m->artifact_id, TN_LINK_ARTIFACT_ID_SIZE);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_model_commit_decode(const uint8_t* payload, size_t size,
                                      tn_link_model_commit* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  tn_link_read_copy(&r, m->artifact_id, TN_LINK_ARTIFACT_ID_SIZE);
  return tn_link_reader_end(&r);
}

/* ---- ACTIVATE / CONFIRM / ROLLBACK --------------------------------------- */

tn_status tn_link_slot_command_encode(const tn_link_slot_command* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (m->slot >= TN_LINK_MAX_SLOTS) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u8(&w, m->slot);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_slot_command_decode(const uint8_t* payload, size_t size,
                                      tn_link_slot_command* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->slot = tn_link_read_u8(&r);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return m->slot < TN_LINK_MAX_SLOTS ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- TRAIN --------------------------------------------------------------- */

#define TRAIN_FIXED 6u

tn_status tn_link_train_encode(const tn_link_train* m, uint8_t* out, size_t cap,
                               size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (m->params == NULL && m->params_len > 0) return TN_ERR_NULL;
  if (m->params_len > TN_LINK_MAX_PAYLOAD - TRAIN_FIXED) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u32(&w, m->job_id);
  tn_link_write_u16(&w, m->params_len);
  tn_link_write_bytes(&w, m->params, m->params_len);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_train_decode(const uint8_t* payload, size_t size,
                               tn_link_train* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->job_id = tn_link_read_u32(&r);
  m->params_len = tn_link_read_u16(&r);
  m->params = tn_link_read_bytes(&r, m->params_len);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return m->params_len <= TN_LINK_MAX_PAYLOAD - TRAIN_FIXED
             ? TN_OK
             : TN_ERR_MSG_MALFORMED;
}

/* ---- UPDATE_CHUNK -------------------------------------------------------- */

#define UPDATE_CHUNK_FIXED 14u

static int update_chunk_ok(const tn_link_update_chunk* m) {
  if (m->data_len < 1 ||
      m->data_len > TN_LINK_MAX_PAYLOAD - UPDATE_CHUNK_FIXED) {
    return 0;
  }
  return (uint64_t)m->offset + m->data_len <= m->total_size;
}

tn_status tn_link_update_chunk_encode(const tn_link_update_chunk* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (m->data == NULL && m->data_len > 0) return TN_ERR_NULL;
  if (!update_chunk_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u32(&w, m->job_id);
  tn_link_write_u32(&w, m->total_size);
  tn_link_write_u32(&w, m->offset);
  tn_link_write_u16(&w, m->data_len);
  tn_link_write_bytes(&w, m->data, m->data_len);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_update_chunk_decode(const uint8_t* payload, size_t size,
                                      tn_link_update_chunk* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->job_id = tn_link_read_u32(&r);
  m->total_size = tn_link_read_u32(&r);
  m->offset = tn_link_read_u32(&r);
  m->data_len = tn_link_read_u16(&r);
  m->data = tn_link_read_bytes(&r, m->data_len);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return update_chunk_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- INFER_REQUEST ------------------------------------------------------- */

#define INFER_REQUEST_FIXED 2u

static int infer_request_ok(const tn_link_infer_request* m) {
  return m->input_len >= 1 &&
         m->input_len <= TN_LINK_MAX_PAYLOAD - INFER_REQUEST_FIXED;
}

tn_status tn_link_infer_request_encode(const tn_link_infer_request* m,
                                       uint8_t* out, size_t cap,
                                       size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (m->input == NULL && m->input_len > 0) return TN_ERR_NULL;
  if (!infer_request_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u16(&w, m->input_len);
  tn_link_write_bytes(&w, m->input, m->input_len);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_infer_request_decode(const uint8_t* payload, size_t size,
                                       tn_link_infer_request* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->input_len = tn_link_read_u16(&r);
  m->input = tn_link_read_bytes(&r, m->input_len);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return infer_request_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}

/* ---- INFER_RESULT -------------------------------------------------------- */

#define INFER_RESULT_FIXED 10u

static int infer_result_ok(const tn_link_infer_result* m) {
  if (m->output_len > TN_LINK_MAX_PAYLOAD - INFER_RESULT_FIXED) return 0;
  return m->status == 0 || m->output_len == 0;
}

tn_status tn_link_infer_result_encode(const tn_link_infer_result* m,
                                      uint8_t* out, size_t cap,
                                      size_t* out_len) {
  if (m == NULL || out == NULL || out_len == NULL) return TN_ERR_NULL;
  if (m->output == NULL && m->output_len > 0) return TN_ERR_NULL;
  if (!infer_result_ok(m)) return TN_ERR_ARG;
  tn_link_writer w;
  tn_link_writer_init(&w, out, cap);
  tn_link_write_u16(&w, m->status);
  tn_link_write_u16(&w, m->top_class);
  tn_link_write_u32(&w, m->cycles);
  tn_link_write_u16(&w, m->output_len);
  tn_link_write_bytes(&w, m->output, m->output_len);
  return tn_link_writer_end(&w, out_len);
}

tn_status tn_link_infer_result_decode(const uint8_t* payload, size_t size,
                                      tn_link_infer_result* m) {
  if ((payload == NULL && size > 0) || m == NULL) return TN_ERR_NULL;
  tn_link_reader r;
  tn_link_reader_init(&r, payload, size);
  m->status = tn_link_read_u16(&r);
  m->top_class = tn_link_read_u16(&r);
  m->cycles = tn_link_read_u32(&r);
  m->output_len = tn_link_read_u16(&r);
  m->output = tn_link_read_bytes(&r, m->output_len);
  tn_status st = tn_link_reader_end(&r);
  if (st != TN_OK) return st;
  return infer_result_ok(m) ? TN_OK : TN_ERR_MSG_MALFORMED;
}
