/*
 * Audio front-end of the keyword-spotting models: MFCC features computed the
 * same way on the node and in the gateway, and the feature data set file
 * format (docs/formats/dataset.md) the gateway and the training tools read.
 * Portable C11, no heap, no OS; every buffer belongs to the caller.
 *
 * MFCC pipeline, per frame of `window` int16 samples taken every `stride`
 * samples:
 *   x[n]   = pcm[n] / 32768 * hann[n]            (periodic Hann window)
 *   X[k]   = real FFT of x zero-padded to fft_size (radix-2, own code)
 *   P[k]   = |X[k]|^2                            (power spectrum)
 *   E[b]   = sum_k melw[b][k] * P[k]             (triangular mel filters,
 *            HTK mel scale 1127 ln(1 + f/700), edges evenly spaced in mel
 *            between low_hz and high_hz, DC bin excluded)
 *   L[b]   = ln(max(E[b], log_floor))
 *   c[j]   = s_j sum_b L[b] cos(pi j (2b + 1) / (2 mel_bands))   (DCT-II,
 *            orthonormal: s_0 = sqrt(1/B), s_j = sqrt(2/B))
 * for j = 0 .. coeffs-1. Features are frame-major: out[frame * coeffs + j].
 * The int8 form is q = clamp(round_half_away(c / scale) + zero_point,
 * -128, 127), i.e. c ~= scale * (q - zero_point) as in TFLite.
 *
 * Why an FFT and not a DFT: the filters read the 257 bins up to 4 kHz of a
 * 640-sample window. A direct DFT costs 640 x 257 complex multiply-adds,
 * about 660k flops per frame; the 1024-point real FFT (one 512-point complex
 * radix-2 FFT plus a split pass over the needed bins) about 25k, 26x fewer
 * (measured on rv32imfc: 72k instructions for the whole power spectrum).
 * Zero padding to 1024 only interpolates the spectrum; the filters are
 * defined on the bin frequencies k * sample_rate / fft_size.
 *
 * Determinism: all arithmetic is IEEE-754 single precision + - * / in a
 * fixed order, the tables come from base/tn_math.h at init time, and the
 * library is compiled with -ffp-contract=off, so the features are identical
 * bit for bit on the host (gateway, tools) and on rv32 (node).
 */
#ifndef TN_DSP_TN_DSP_H_
#define TN_DSP_TN_DSP_H_

#include <stddef.h>
#include <stdint.h>

#include "base/tn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* The keyword-spotting front-end: the defaults of tn_mfcc_config_kws().    */

#define TN_KWS_SAMPLE_RATE 16000u
#define TN_KWS_CLIP_SAMPLES 16000u /* one second */
#define TN_KWS_WINDOW 640u         /* 40 ms */
#define TN_KWS_STRIDE 320u         /* 20 ms */
#define TN_KWS_FFT_SIZE 1024u
#define TN_KWS_MEL_BANDS 40u
#define TN_KWS_COEFFS 10u
#define TN_KWS_FRAMES 49u /* (16000 - 640) / 320 + 1 */
#define TN_KWS_FEATURES (TN_KWS_FRAMES * TN_KWS_COEFFS) /* 490 */
#define TN_KWS_LOW_HZ 20.0f
#define TN_KWS_HIGH_HZ 4000.0f
#define TN_KWS_LOG_FLOOR 1e-6f
/* int8 quantization of the features: c ~= TN_KWS_S8_SCALE * (q - zp), range
 * [-88.0, 39.5]. It holds c0 of digital silence (-87.38) and everything the
 * large synthetic set produces (c0 up to 33.2, c1..c9 in [-29.0, 38.4])
 * without clipping; louder input saturates. The scale is a power of two,
 * so c / scale is exact and q is the exact rounding of c.
 * docs/formats/dataset.md. */
#define TN_KWS_S8_SCALE 0.5f
#define TN_KWS_S8_ZERO_POINT 48

/* Limits tn_mfcc_config_check() enforces. */
#define TN_MFCC_MIN_FFT 16u
#define TN_MFCC_MAX_FFT 4096u
#define TN_MFCC_MAX_BANDS 128u

/* Front-end parameters. Every field must be set; tn_mfcc_config_kws()
 * gives the keyword-spotting values above. */
typedef struct tn_mfcc_config {
  uint32_t sample_rate;  /* Hz, 1000 .. 192000 */
  uint32_t window;       /* samples per frame, 2 .. fft_size */
  uint32_t stride;       /* samples between frame starts, >= 1 */
  uint32_t fft_size;     /* power of two, TN_MFCC_MIN_FFT .. TN_MFCC_MAX_FFT */
  uint32_t mel_bands;    /* 1 .. TN_MFCC_MAX_BANDS */
  uint32_t coeffs;       /* DCT outputs kept, 1 .. mel_bands */
  float low_hz;          /* lowest filter edge, 0 <= low_hz < high_hz */
  float high_hz;         /* highest filter edge, <= sample_rate / 2 */
  float log_floor;       /* energies below it are clamped, > 0 */
  float s8_scale;        /* int8 feature scale, finite, > 0 */
  int32_t s8_zero_point; /* int8 feature zero point, -128 .. 127 */
} tn_mfcc_config;

/* The keyword-spotting front-end (TN_KWS_* values). */
tn_mfcc_config tn_mfcc_config_kws(void);

/* TN_OK when every field is in its documented range, else TN_ERR_ARG
 * (TN_ERR_NULL for a NULL config). Every mel band must also cover at least
 * one FFT bin. */
tn_status tn_mfcc_config_check(const tn_mfcc_config* config);

/* Bytes of the caller memory tn_mfcc_init() fills with precomputed tables
 * (window, twiddles, mel weights, DCT matrix); 0 when the config is
 * invalid. The memory needs no particular alignment and must outlive the
 * tn_mfcc that points into it. KWS front-end: 11499 bytes. */
size_t tn_mfcc_state_buffer_size(const tn_mfcc_config* config);

/* Bytes of per-call scratch every compute function needs (one FFT buffer,
 * the mel energies and one frame's coefficients); 0 when the config is
 * invalid. No alignment needed. KWS front-end: 5327 bytes. */
size_t tn_mfcc_scratch_buffer_size(const tn_mfcc_config* config);

/* A ready front-end: the config and pointers into the caller's state
 * memory. Treat as opaque; it is read-only after init, so one tn_mfcc may
 * serve several threads as long as each passes its own scratch. */
typedef struct tn_mfcc {
  tn_mfcc_config config;
  uint32_t bins;              /* FFT bins the filters read: 0 .. bins-1 */
  const float* window;        /* [window]: hann[n] / 32768 */
  const float* twiddles;      /* [fft_size / 2][2]: cos, sin of 2 pi k / N */
  const uint16_t* bitrev;     /* [fft_size / 2] bit-reversal permutation */
  const uint16_t* band_first; /* [mel_bands] first bin with a weight */
  const uint16_t* band_count; /* [mel_bands] bins with a weight */
  const float* band_weights;  /* packed weights, band after band */
  const float* dct;           /* [coeffs][mel_bands] */
} tn_mfcc;

/* Checks `config` and precomputes its tables into `state` (state_size >=
 * tn_mfcc_state_buffer_size(config)). Returns TN_ERR_NULL, TN_ERR_ARG or
 * TN_ERR_BUFFER_TOO_SMALL without touching `mfcc` on failure. */
tn_status tn_mfcc_init(tn_mfcc* mfcc, const tn_mfcc_config* config, void* state,
                       size_t state_size);

/* Frames produced from `samples` samples: (samples - window) / stride + 1,
 * or 0 when samples < window. */
uint32_t tn_mfcc_frame_count(const tn_mfcc_config* config, uint32_t samples);

/* Log-mel energies L[0 .. mel_bands-1] of one frame of `window` samples. */
tn_status tn_mfcc_logmel_frame_f32(const tn_mfcc* mfcc, const int16_t* frame,
                                   float* logmel, void* scratch,
                                   size_t scratch_size);

/* MFCCs c[0 .. coeffs-1] of one frame of `window` samples. */
tn_status tn_mfcc_frame_f32(const tn_mfcc* mfcc, const int16_t* frame,
                            float* coeffs, void* scratch, size_t scratch_size);

/* Features of a whole signal: tn_mfcc_frame_count() frames of `coeffs`
 * values each, frame-major, into `out` (out_capacity values; must hold them
 * all). *frames (may be NULL) receives the frame count. Fewer than `window`
 * samples is TN_ERR_ARG. */
tn_status tn_mfcc_compute_f32(const tn_mfcc* mfcc, const int16_t* pcm,
                              uint32_t samples, float* out, size_t out_capacity,
                              uint32_t* frames, void* scratch,
                              size_t scratch_size);

/* As tn_mfcc_compute_f32, quantized to int8 with the config's s8_scale and
 * s8_zero_point (tn_mfcc_quantize_s8). */
tn_status tn_mfcc_compute_s8(const tn_mfcc* mfcc, const int16_t* pcm,
                             uint32_t samples, int8_t* out, size_t out_capacity,
                             uint32_t* frames, void* scratch,
                             size_t scratch_size);

/* q[i] = clamp(round_half_away_from_zero(x[i] / scale) + zero_point,
 * -128, 127); NaN maps to zero_point. scale must be finite and > 0,
 * zero_point in [-128, 127], else TN_ERR_ARG. */
tn_status tn_mfcc_quantize_s8(const float* x, size_t count, float scale,
                              int32_t zero_point, int8_t* q);

/* ------------------------------------------------------------------------ */
/* Feature data set files (docs/formats/dataset.md, version 1).             */
/*                                                                          */
/* A file is: a 128-byte header, a class table (16 bytes per class), fixed- */
/* size records (8-byte record header + frames * coeffs int8 features),     */
/* then a CRC-32 of everything before it. Little-endian. The writer below   */
/* fills a caller buffer; the reader validates every field, the size and    */
/* the checksum once, after which records are read by index.               */

#define TN_FSET_MAGIC 0x53464E54u /* bytes "TNFS" */
#define TN_FSET_VERSION 1u
#define TN_FSET_HEADER_SIZE 128u
#define TN_FSET_CLASS_NAME_SIZE 16u
#define TN_FSET_MAX_CLASSES 64u
#define TN_FSET_RECORD_HEADER_SIZE 8u
#define TN_FSET_TRAILER_SIZE 4u
#define TN_FSET_MAX_FEATURES 65536u /* frames * coeffs */
#define TN_FSET_PRESET_SIZE 16u
#define TN_FSET_DTYPE_S8 1u

/* Splits a record may belong to. */
typedef enum tn_fset_split {
  TN_FSET_SPLIT_TRAIN = 0,
  TN_FSET_SPLIT_VAL = 1,
  TN_FSET_SPLIT_TEST = 2,
  TN_FSET_SPLIT_USERS = 3 /* held-out voices of one "user" (user id > 0) */
} tn_fset_split;
#define TN_FSET_SPLIT_COUNT 4u

/* Returns "train", "val", "test", "users" or "unknown". Never NULL. */
const char* tn_fset_split_str(uint32_t split);

/* Everything the header says. */
typedef struct tn_fset_info {
  uint32_t sample_count;    /* records, 0 .. 2^31 */
  uint32_t frames;          /* 1 .. 65535 */
  uint32_t coeffs;          /* 1 .. 65535; frames * coeffs <= MAX_FEATURES */
  uint32_t class_count;     /* 1 .. TN_FSET_MAX_CLASSES */
  tn_mfcc_config front_end; /* the features' front-end and int8 params */
  uint64_t seed;            /* data set seed (opaque) */
  char preset[TN_FSET_PRESET_SIZE + 1]; /* NUL-terminated ASCII */
} tn_fset_info;

/* One record. `features` points into the file (reader) or is the input
 * (writer): frames * coeffs int8 values, frame-major. */
typedef struct tn_fset_record {
  uint32_t label;  /* class index < class_count */
  uint32_t split;  /* tn_fset_split */
  uint32_t user;   /* 0, or the user id (1 .. 65535) for split USERS */
  uint32_t source; /* the row of the sample in its manifest (opaque) */
  const int8_t* features;
} tn_fset_record;

/* Bytes of one record and of a whole file for `info`; 0 when the shape or
 * counts are out of range or the size would not fit a size_t. */
size_t tn_fset_record_size(const tn_fset_info* info);
size_t tn_fset_file_size(const tn_fset_info* info);

/* Writes header and class table for `info` and `class_names` (class_count
 * names, 1 .. 16 printable ASCII characters each, no duplicates) into
 * out[0 .. TN_FSET_HEADER_SIZE + 16 * class_count). */
tn_status tn_fset_write_header(const tn_fset_info* info,
                               const char* const* class_names, uint8_t* out,
                               size_t out_size);

/* Writes record `index` at its place in the file buffer `file` (file_size
 * >= tn_fset_file_size(info)). The record is checked (label, split/user
 * rule) first. */
tn_status tn_fset_write_record(const tn_fset_info* info, uint32_t index,
                               const tn_fset_record* record, uint8_t* file,
                               size_t file_size);

/* Computes and stores the trailing CRC-32 of a complete file buffer of
 * exactly tn_fset_file_size(info) bytes. */
tn_status tn_fset_finish(uint8_t* file, size_t file_size);

/* A validated file. Points into the caller's bytes, which must stay
 * unchanged while it is used. */
typedef struct tn_fset_view {
  tn_fset_info info;
  const uint8_t* data;
  size_t size;
} tn_fset_view;

/* Validates a whole file: magic (else TN_ERR_BLOB_MAGIC), version
 * (TN_ERR_BLOB_VERSION), size (TN_ERR_BLOB_TRUNCATED when shorter,
 * TN_ERR_ARG when longer than the header implies), CRC-32
 * (TN_ERR_BLOB_CHECKSUM), every header field, class name and record
 * (TN_ERR_ARG). Never reads outside data[0 .. size). */
tn_status tn_fset_open(const uint8_t* data, size_t size, tn_fset_view* view);

/* Record `index` (< sample_count) of an opened file. */
tn_status tn_fset_get(const tn_fset_view* view, uint32_t index,
                      tn_fset_record* record);

/* Name of class `index` copied NUL-terminated into name[0 .. 16]. */
tn_status tn_fset_class_name(const tn_fset_view* view, uint32_t index,
                             char name[TN_FSET_CLASS_NAME_SIZE + 1]);

#ifdef __cplusplus
}
#endif

#endif /* TN_DSP_TN_DSP_H_ */
