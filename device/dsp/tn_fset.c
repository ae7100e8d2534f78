/*
 * Feature data set files, version 1 (docs/formats/dataset.md): the writer
 * the feature extraction tool uses and the validating reader the gateway
 * uses for calibration and evaluation sets. Files come from outside the
 * gateway, so the reader treats them as untrusted: it checks the size
 * against the header before reading anything past it, verifies the CRC-32,
 * then every header field, class name and record, so that afterwards
 * tn_fset_get() only needs an index check.
 */
#include <string.h>

#include "base/tn_math.h"
#include "dsp/tn_dsp.h"
#include "link/tn_link.h"

/* Header field offsets. */
enum {
  kMagic = 0,
  kVersion = 4,
  kHeaderSize = 6,
  kSampleCount = 8,
  kFrames = 12,
  kCoeffs = 14,
  kDtype = 16,
  kClassCount = 17,
  kRecordSize = 18,
  kScale = 20,
  kZeroPoint = 24,
  kSampleRate = 28,
  kWindow = 32,
  kStride = 34,
  kFftSize = 36,
  kMelBands = 38,
  kLowHz = 40,
  kHighHz = 44,
  kLogFloor = 48,
  kFlags = 52,
  kSeed = 56,
  kPreset = 64,
  kReserved = 80
};

#define TN_FSET_MAX_SAMPLES 0x80000000u

const char* tn_fset_split_str(uint32_t split) {
  switch (split) {
    case TN_FSET_SPLIT_TRAIN:
      return "train";
    case TN_FSET_SPLIT_VAL:
      return "val";
    case TN_FSET_SPLIT_TEST:
      return "test";
    case TN_FSET_SPLIT_USERS:
      return "users";
    default:
      return "unknown";
  }
}

/* Shape and count limits, independent of the front-end fields. */
static int shape_ok(const tn_fset_info* info) {
  return info->frames >= 1u && info->frames <= 0xffffu && info->coeffs >= 1u &&
         info->coeffs <= 0xffffu &&
         info->frames * info->coeffs <= TN_FSET_MAX_FEATURES &&
         info->class_count >= 1u && info->class_count <= TN_FSET_MAX_CLASSES &&
         info->sample_count <= TN_FSET_MAX_SAMPLES;
}

/* The front-end fields must describe a valid front-end whose coefficient
 * count matches the features. */
static int front_end_ok(const tn_fset_info* info) {
  if (tn_mfcc_config_check(&info->front_end) != TN_OK) return 0;
  if (info->front_end.window > 0xffffu || info->front_end.stride > 0xffffu ||
      info->front_end.fft_size > 0xffffu ||
      info->front_end.mel_bands > 0xffffu) {
    return 0;
  }
  return info->front_end.coeffs == info->coeffs;
}

/* 1 .. 16 printable ASCII characters, NUL-terminated within 17 bytes. */
static int preset_ok(const char* s) {
  size_t n = 0;
  while (n <= TN_FSET_PRESET_SIZE && s[n] != '\0') {
    if (s[n] < 0x21 || s[n] > 0x7e) return 0;
    ++n;
  }
  return n <= TN_FSET_PRESET_SIZE;
}

size_t tn_fset_record_size(const tn_fset_info* info) {
  if (info == NULL || !shape_ok(info)) return 0;
  return TN_FSET_RECORD_HEADER_SIZE + (size_t)info->frames * info->coeffs;
}

size_t tn_fset_file_size(const tn_fset_info* info) {
  const size_t record = tn_fset_record_size(info);
  if (record == 0u) return 0;
  const size_t fixed = TN_FSET_HEADER_SIZE +
                       TN_FSET_CLASS_NAME_SIZE * (size_t)info->class_count +
                       TN_FSET_TRAILER_SIZE;
  if (info->sample_count > (SIZE_MAX - fixed) / record) return 0;
  return fixed + record * info->sample_count;
}

static size_t records_offset(const tn_fset_info* info) {
  return TN_FSET_HEADER_SIZE +
         TN_FSET_CLASS_NAME_SIZE * (size_t)info->class_count;
}

/* A class name slot: 1 .. 16 printable ASCII bytes, then NULs only. */
static int class_slot_ok(const uint8_t* slot) {
  size_t n = 0;
  while (n < TN_FSET_CLASS_NAME_SIZE && slot[n] != 0u) {
    if (slot[n] < 0x20 || slot[n] > 0x7e) return 0;
    ++n;
  }
  if (n == 0u) return 0;
  for (size_t i = n; i < TN_FSET_CLASS_NAME_SIZE; ++i) {
    if (slot[i] != 0u) return 0;
  }
  return 1;
}

static int record_fields_ok(const tn_fset_info* info, uint32_t label,
                            uint32_t split, uint32_t user) {
  if (label >= info->class_count || split >= TN_FSET_SPLIT_COUNT) return 0;
  if (user > 0xffffu) return 0;
  /* Users' records carry their user id; the others none. */
  return (split == TN_FSET_SPLIT_USERS) == (user != 0u);
}

tn_status tn_fset_write_header(const tn_fset_info* info,
                               const char* const* class_names, uint8_t* out,
                               size_t out_size) {
  if (info == NULL || class_names == NULL || out == NULL) return TN_ERR_NULL;
  if (!shape_ok(info) || !front_end_ok(info) || !preset_ok(info->preset)) {
    return TN_ERR_ARG;
  }
  if (tn_fset_record_size(info) > 0xffffu || tn_fset_file_size(info) == 0u) {
    return TN_ERR_ARG;
  }
  if (out_size < records_offset(info)) return TN_ERR_BUFFER_TOO_SMALL;
  /* Names first, so a bad name leaves `out` untouched. */
  for (uint32_t c = 0; c < info->class_count; ++c) {
    const char* name = class_names[c];
    if (name == NULL) return TN_ERR_NULL;
    size_t n = strlen(name);
    if (n == 0u || n > TN_FSET_CLASS_NAME_SIZE) return TN_ERR_ARG;
    for (size_t i = 0; i < n; ++i) {
      if (name[i] < 0x20 || name[i] > 0x7e) return TN_ERR_ARG;
    }
    for (uint32_t d = 0; d < c; ++d) {
      if (strcmp(class_names[d], name) == 0) return TN_ERR_ARG;
    }
  }
  memset(out, 0, records_offset(info));
  const tn_mfcc_config* fe = &info->front_end;
  tn_store_u32le(out + kMagic, TN_FSET_MAGIC);
  tn_store_u16le(out + kVersion, TN_FSET_VERSION);
  tn_store_u16le(out + kHeaderSize, TN_FSET_HEADER_SIZE);
  tn_store_u32le(out + kSampleCount, info->sample_count);
  tn_store_u16le(out + kFrames, (uint16_t)info->frames);
  tn_store_u16le(out + kCoeffs, (uint16_t)info->coeffs);
  out[kDtype] = TN_FSET_DTYPE_S8;
  out[kClassCount] = (uint8_t)info->class_count;
  tn_store_u16le(out + kRecordSize, (uint16_t)tn_fset_record_size(info));
  tn_store_u32le(out + kScale, tn_f32_bits(fe->s8_scale));
  tn_store_u32le(out + kZeroPoint, (uint32_t)fe->s8_zero_point);
  tn_store_u32le(out + kSampleRate, fe->sample_rate);
  tn_store_u16le(out + kWindow, (uint16_t)fe->window);
  tn_store_u16le(out + kStride, (uint16_t)fe->stride);
  tn_store_u16le(out + kFftSize, (uint16_t)fe->fft_size);
  tn_store_u16le(out + kMelBands, (uint16_t)fe->mel_bands);
  tn_store_u32le(out + kLowHz, tn_f32_bits(fe->low_hz));
  tn_store_u32le(out + kHighHz, tn_f32_bits(fe->high_hz));
  tn_store_u32le(out + kLogFloor, tn_f32_bits(fe->log_floor));
  tn_store_u64le(out + kSeed, info->seed);
  memcpy(out + kPreset, info->preset, strlen(info->preset));
  for (uint32_t c = 0; c < info->class_count; ++c) {
    memcpy(out + TN_FSET_HEADER_SIZE + TN_FSET_CLASS_NAME_SIZE * c,
           class_names[c], strlen(class_names[c]));
  }
  return TN_OK;
}

tn_status tn_fset_write_record(const tn_fset_info* info, uint32_t index,
                               const tn_fset_record* record, uint8_t* file,
                               size_t file_size) {
  if (info == NULL || record == NULL || file == NULL ||
      record->features == NULL) {
    return TN_ERR_NULL;
  }
  const size_t size = tn_fset_file_size(info);
  if (size == 0u || index >= info->sample_count) return TN_ERR_ARG;
  if (file_size < size) return TN_ERR_BUFFER_TOO_SMALL;
  if (!record_fields_ok(info, record->label, record->split, record->user)) {
    return TN_ERR_ARG;
  }
  const size_t rs = tn_fset_record_size(info);
  uint8_t* r = file + records_offset(info) + rs * index;
  r[0] = (uint8_t)record->label;
  r[1] = (uint8_t)record->split;
  tn_store_u16le(r + 2, (uint16_t)record->user);
  tn_store_u32le(r + 4, record->source);
  memcpy(r + TN_FSET_RECORD_HEADER_SIZE, record->features,
         rs - TN_FSET_RECORD_HEADER_SIZE);
  return TN_OK;
}

tn_status tn_fset_finish(uint8_t* file, size_t file_size) {
  if (file == NULL) return TN_ERR_NULL;
  if (file_size < TN_FSET_HEADER_SIZE + TN_FSET_TRAILER_SIZE) {
    return TN_ERR_BUFFER_TOO_SMALL;
  }
  const size_t body = file_size - TN_FSET_TRAILER_SIZE;
  tn_store_u32le(file + body, tn_link_crc32(0, file, body));
  return TN_OK;
}

/* Header fields into `info`; TN_OK when the header alone is consistent. */
static tn_status parse_header(const uint8_t* d, tn_fset_info* info) {
  if (d[kDtype] != TN_FSET_DTYPE_S8) return TN_ERR_ARG;
  if (tn_load_u32le(d + kFlags) != 0u) return TN_ERR_ARG;
  for (size_t i = kReserved; i < TN_FSET_HEADER_SIZE; ++i) {
    if (d[i] != 0u) return TN_ERR_ARG;
  }
  memset(info, 0, sizeof(*info));
  info->sample_count = tn_load_u32le(d + kSampleCount);
  info->frames = tn_load_u16le(d + kFrames);
  info->coeffs = tn_load_u16le(d + kCoeffs);
  info->class_count = d[kClassCount];
  tn_mfcc_config* fe = &info->front_end;
  fe->sample_rate = tn_load_u32le(d + kSampleRate);
  fe->window = tn_load_u16le(d + kWindow);
  fe->stride = tn_load_u16le(d + kStride);
  fe->fft_size = tn_load_u16le(d + kFftSize);
  fe->mel_bands = tn_load_u16le(d + kMelBands);
  fe->coeffs = info->coeffs;
  fe->low_hz = tn_f32_from_bits(tn_load_u32le(d + kLowHz));
  fe->high_hz = tn_f32_from_bits(tn_load_u32le(d + kHighHz));
  fe->log_floor = tn_f32_from_bits(tn_load_u32le(d + kLogFloor));
  fe->s8_scale = tn_f32_from_bits(tn_load_u32le(d + kScale));
  fe->s8_zero_point = (int32_t)tn_load_u32le(d + kZeroPoint);
  info->seed = tn_load_u64le(d + kSeed);
  /* Preset: printable ASCII, then NULs only (may be empty). */
  size_t n = 0;
  while (n < TN_FSET_PRESET_SIZE && d[kPreset + n] != 0u) {
    if (d[kPreset + n] < 0x21 || d[kPreset + n] > 0x7e) return TN_ERR_ARG;
    info->preset[n] = (char)d[kPreset + n];
    ++n;
  }
  for (size_t i = n; i < TN_FSET_PRESET_SIZE; ++i) {
    if (d[kPreset + i] != 0u) return TN_ERR_ARG;
  }
  info->preset[n] = '\0';
  if (!shape_ok(info) || !front_end_ok(info)) return TN_ERR_ARG;
  if (tn_load_u16le(d + kRecordSize) != tn_fset_record_size(info)) {
    return TN_ERR_ARG;
  }
  return TN_OK;
}

tn_status tn_fset_open(const uint8_t* data, size_t size, tn_fset_view* view) {
  if (data == NULL || view == NULL) return TN_ERR_NULL;
  if (size < 8u) return TN_ERR_BLOB_TRUNCATED;
  if (tn_load_u32le(data + kMagic) != TN_FSET_MAGIC) return TN_ERR_BLOB_MAGIC;
  if (tn_load_u16le(data + kVersion) != TN_FSET_VERSION) {
    return TN_ERR_BLOB_VERSION;
  }
  if (tn_load_u16le(data + kHeaderSize) != TN_FSET_HEADER_SIZE) {
    return TN_ERR_ARG;
  }
  if (size < TN_FSET_HEADER_SIZE) return TN_ERR_BLOB_TRUNCATED;
  /* Size first, from the raw counts, so nothing past `size` is read. */
  tn_fset_info shape;
  memset(&shape, 0, sizeof(shape));
  shape.sample_count = tn_load_u32le(data + kSampleCount);
  shape.frames = tn_load_u16le(data + kFrames);
  shape.coeffs = tn_load_u16le(data + kCoeffs);
  shape.class_count = data[kClassCount];
  const size_t expect = tn_fset_file_size(&shape);
  if (expect == 0u) return TN_ERR_ARG;
  if (size < expect) return TN_ERR_BLOB_TRUNCATED;
  if (size > expect) return TN_ERR_ARG;
  const size_t body = size - TN_FSET_TRAILER_SIZE;
  if (tn_link_crc32(0, data, body) != tn_load_u32le(data + body)) {
    return TN_ERR_BLOB_CHECKSUM;
  }
  tn_fset_info info;
  tn_status st = parse_header(data, &info);
  if (st != TN_OK) return st;
  for (uint32_t c = 0; c < info.class_count; ++c) {
    if (!class_slot_ok(data + TN_FSET_HEADER_SIZE +
                       TN_FSET_CLASS_NAME_SIZE * c)) {
      return TN_ERR_ARG;
    }
  }
  for (uint32_t c = 0; c < info.class_count; ++c) {
    for (uint32_t d = 0; d < c; ++d) {
      if (memcmp(data + TN_FSET_HEADER_SIZE + TN_FSET_CLASS_NAME_SIZE * c,
                 data + TN_FSET_HEADER_SIZE + TN_FSET_CLASS_NAME_SIZE * d,
                 TN_FSET_CLASS_NAME_SIZE) == 0) {
        return TN_ERR_ARG;
      }
    }
  }
  const size_t rs = tn_fset_record_size(&info);
  const uint8_t* r = data + records_offset(&info);
  for (uint32_t i = 0; i < info.sample_count; ++i, r += rs) {
    if (!record_fields_ok(&info, r[0], r[1], tn_load_u16le(r + 2))) {
      return TN_ERR_ARG;
    }
  }
  view->info = info;
  view->data = data;
  view->size = size;
  return TN_OK;
}

tn_status tn_fset_get(const tn_fset_view* view, uint32_t index,
                      tn_fset_record* record) {
  if (view == NULL || record == NULL || view->data == NULL) {
    return TN_ERR_NULL;
  }
  if (index >= view->info.sample_count) return TN_ERR_ARG;
  const size_t rs = tn_fset_record_size(&view->info);
  const uint8_t* r = view->data + records_offset(&view->info) + rs * index;
  record->label = r[0];
  record->split = r[1];
  record->user = tn_load_u16le(r + 2);
  record->source = tn_load_u32le(r + 4);
  record->features = (const int8_t*)(const void*)(r + 8);
  return TN_OK;
}

tn_status tn_fset_class_name(const tn_fset_view* view, uint32_t index,
                             char name[TN_FSET_CLASS_NAME_SIZE + 1]) {
  if (view == NULL || name == NULL || view->data == NULL) return TN_ERR_NULL;
  if (index >= view->info.class_count) return TN_ERR_ARG;
  memcpy(name,
         view->data + TN_FSET_HEADER_SIZE + TN_FSET_CLASS_NAME_SIZE * index,
         TN_FSET_CLASS_NAME_SIZE);
  name[TN_FSET_CLASS_NAME_SIZE] = '\0';
  return TN_OK;
}
