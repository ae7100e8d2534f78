/* Every kind of malformed blob is rejected with its own status. The test
 * edits a valid blob at the byte offsets the format document defines
 * (written out here independently of the runtime's private layout
 * header) and, where the edit is behind the digest, re-digests it so that
 * the check under test is the one that fires. */
#include <string.h>

#include "model_fixture.h"
#include "runtime/tn_runtime.h"
#include "tn_test.h"

static fixture_model g_model;
static uint8_t g_good[32 * 1024];
static size_t g_size;
static uint8_t g_buf[32 * 1024];
static int g_tail;

/* Offsets from docs/formats/model-blob.md. */
enum {
  kHdrVersion = 4,
  kHdrHeaderSize = 6,
  kHdrTotal = 8,
  kHdrTarget = 12,
  kHdrCount = 14,
  kHdrFlags = 40,
  kHdrDigest = 48,
  kHdrReserved = 80,
  kTable = 96,
  kEntry = 16,
  kGraphHeader = 16,
  kTensorRec = 24,
  kOpRec = 48,
  kPlanHeader = 32,
  kPlaceRec = 12,
  kTileRec = 12
};

static void put16(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t* p, uint32_t v) {
  put16(p, v & 0xFFFFu);
  put16(p + 2, v >> 16);
}
static uint32_t get16(const uint8_t* p) { return p[0] | ((uint32_t)p[1] << 8); }
static uint32_t get32(const uint8_t* p) {
  return get16(p) | (get16(p + 2) << 16);
}

static void make_good(int with_tail) {
  g_tail = with_tail;
  fx_small_cnn(&g_model, 11, with_tail);
  int8_t in[240];
  float out_f[4] = {0};
  int8_t out_q[4] = {0};
  for (int i = 0; i < 240; ++i) in[i] = (int8_t)i;
  if (fx_plan(&g_model, TN_TARGET_GAP9) != TN_OK ||
      fx_build(&g_model, TN_TARGET_GAP9, 0, in,
               with_tail ? (const void*)out_f : (const void*)out_q, g_good,
               sizeof(g_good), &g_size) != TN_OK) {
    g_size = 0;
  }
}

static void fresh(void) { memcpy(g_buf, g_good, g_size); }

static void redigest(void) {
  uint8_t d[32];
  if (tn_blob_compute_digest(g_buf, g_size, d) == TN_OK) {
    memcpy(g_buf + kHdrDigest, d, 32);
  }
}

static tn_status parse(void) {
  tn_blob b;
  return tn_blob_parse(g_buf, g_size, NULL, &b);
}

/* Parses after re-digesting. */
static tn_status parse_signed(void) {
  redigest();
  return parse();
}

static uint8_t* entry_of(uint32_t type) {
  uint32_t n = get16(g_buf + kHdrCount);
  for (uint32_t i = 0; i < n && i < 16; ++i) {
    uint8_t* e = g_buf + kTable + i * kEntry;
    if (get16(e) == type) return e;
  }
  return NULL;
}

static uint8_t* section(uint32_t type) {
  uint8_t* e = entry_of(type);
  return e ? g_buf + get32(e + 4) : NULL;
}

static uint8_t* tensor_rec(uint32_t i) {
  return section(TN_SECTION_GRAPH) + kGraphHeader + i * kTensorRec;
}

static uint8_t* op_rec(uint32_t i) {
  uint8_t* g = section(TN_SECTION_GRAPH);
  return g + kGraphHeader + get16(g) * kTensorRec + i * kOpRec;
}

static uint8_t* placement_rec(uint32_t i) {
  return section(TN_SECTION_MEMORY_PLAN) + kPlanHeader + i * kPlaceRec;
}

static uint8_t* tile_rec(uint32_t i) {
  uint8_t* p = section(TN_SECTION_MEMORY_PLAN);
  return p + kPlanHeader + get16(p + 2) * kPlaceRec + i * kTileRec;
}

TN_TEST(valid_blob_parses) {
  make_good(0);
  TN_REQUIRE(g_size > 0);
  fresh();
  TN_CHECK_STATUS(parse(), TN_OK);
  TN_CHECK_STATUS(tn_blob_parse(NULL, 10, NULL, NULL), TN_ERR_NULL);
  tn_test_digest("reject.good_blob", g_good, g_size);
}

TN_TEST(truncated_at_every_length) {
  make_good(1);
  TN_REQUIRE(g_size > 0);
  tn_blob b;
  int wrong = 0;
  for (size_t len = 0; len < g_size; ++len) {
    if (tn_blob_parse(g_good, len, NULL, &b) != TN_ERR_BLOB_TRUNCATED) {
      ++wrong;
    }
  }
  TN_CHECK_EQ(wrong, 0);
  TN_CHECK_STATUS(tn_blob_parse(g_good, g_size, NULL, &b), TN_OK);
}

TN_TEST(header_fields) {
  make_good(0);
  TN_REQUIRE(g_size > 0);
  fresh();
  g_buf[0] ^= 1;
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_MAGIC);
  static const uint8_t zeros[128] = {0};
  tn_blob b;
  TN_CHECK_STATUS(tn_blob_parse(zeros, sizeof(zeros), NULL, &b),
                  TN_ERR_BLOB_MAGIC);
  fresh();
  put16(g_buf + kHdrVersion, 2);
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_VERSION);
  fresh();
  put16(g_buf + kHdrHeaderSize, 100);
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_VERSION);
  fresh();
  put32(g_buf + kHdrFlags, 0x4);
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_VERSION);
  fresh();
  g_buf[kHdrReserved + 3] = 1;
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_VERSION);
  fresh();
  put16(g_buf + kHdrTarget, 7);
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_TARGET);
  fresh();
  put16(g_buf + kHdrTarget, 0);
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_TARGET);
  /* Flagged as signed without a signature section. */
  fresh();
  put32(g_buf + kHdrFlags, TN_BLOB_FLAG_SIGNED);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SIGNATURE);
}

TN_TEST(section_table) {
  make_good(0);
  TN_REQUIRE(g_size > 0);
  uint32_t n = get16(g_good + kHdrCount);
  TN_REQUIRE(n >= 4);
  fresh();
  put16(g_buf + kHdrCount, 0);
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put16(g_buf + kHdrCount, 17);
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put32(g_buf + kHdrTotal, kTable + 8);
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_BOUNDS);
  /* total_size ends before the last section. */
  fresh();
  put32(g_buf + kHdrTotal, (uint32_t)g_size - 8);
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_BOUNDS);
  uint8_t* e1 = g_buf + kTable + 1 * kEntry;
  uint8_t* e2 = g_buf + kTable + 2 * kEntry;
  fresh();
  put32(e1 + 4, get32(e1 + 4) + 4); /* misaligned */
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put32(e1 + 4, 0x7FFFFFF8u); /* offset outside */
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put32(e1 + 8, 0xFFFFFFFFu); /* offset + size overflows 32 bits */
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put32(e2 + 4, get32(e1 + 4)); /* overlapping sections */
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put32(e1 + 4, 8); /* inside the header */
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put16(e2, get16(e1)); /* duplicate type */
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put16(e2 + 2, 0x8); /* unknown entry flag */
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_VERSION);
  fresh();
  put32(e2 + 12, 1); /* reserved */
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_VERSION);
  /* Unknown section types: required ones are refused, optional ones are
   * skipped (here the metadata section becomes an unknown optional one). */
  fresh();
  put16(entry_of(TN_SECTION_METADATA), 99);
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_VERSION);
  fresh();
  uint8_t* meta = entry_of(TN_SECTION_METADATA);
  put16(meta, 99);
  put16(meta + 2, TN_SECTION_FLAG_OPTIONAL);
  TN_CHECK_STATUS(parse_signed(), TN_OK);
  /* Required sections missing. */
  fresh();
  uint8_t* graph = entry_of(TN_SECTION_GRAPH);
  put16(graph, 99);
  put16(graph + 2, TN_SECTION_FLAG_OPTIONAL);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  uint8_t* plan = entry_of(TN_SECTION_MEMORY_PLAN);
  put16(plan, 99);
  put16(plan + 2, TN_SECTION_FLAG_OPTIONAL);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_PLAN);
}

TN_TEST(checksum) {
  make_good(0);
  TN_REQUIRE(g_size > 0);
  fresh();
  section(TN_SECTION_WEIGHTS)[5] ^= 0x40;
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_CHECKSUM);
  fresh();
  g_buf[kHdrDigest + 31] ^= 1;
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_CHECKSUM);
  fresh();
  put32(g_buf + 32, 4); /* model version, covered by the digest */
  TN_CHECK_STATUS(parse(), TN_ERR_BLOB_CHECKSUM);
  TN_CHECK_STATUS(parse_signed(), TN_OK);
}

TN_TEST(graph_counts_and_ids) {
  make_good(0);
  TN_REQUIRE(g_size > 0);
  uint8_t* g;
  fresh();
  put16(section(TN_SECTION_GRAPH), 0);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  put16(section(TN_SECTION_GRAPH), 65535); /* huge tensor count */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  put16(section(TN_SECTION_GRAPH) + 2, 257); /* op count above the limit */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  g = section(TN_SECTION_GRAPH);
  put16(g, get16(g) - 1); /* counts disagree with the section size */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put16(section(TN_SECTION_GRAPH) + 6, 200); /* output id out of range */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  put16(op_rec(0) + 4, 999); /* input id out of range */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  put16(op_rec(1) + 8, 0); /* writes the graph input */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  put16(op_rec(1) + 8, 1); /* tensor 1 produced twice */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  put16(op_rec(0) + 4, 2); /* reads a tensor produced later: a cycle */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  put16(op_rec(1) + 4, 2); /* reads its own output */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  op_rec(2)[0] = 77; /* unknown op type */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  op_rec(2)[0] = TN_OP_FC_F32; /* FP32 op without a tail */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  put16(op_rec(0) + 6, 0); /* second input on a conv */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  op_rec(0)[42] = 1; /* reserved */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  tensor_rec(1)[0] = 9; /* unknown dtype */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
}

TN_TEST(shapes) {
  make_good(0);
  TN_REQUIRE(g_size > 0);
  fresh();
  put32(tensor_rec(1) + 4, 70000); /* dim above the limit */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  put32(tensor_rec(1) + 4, 65535); /* h * w * c overflows 32 bits */
  put32(tensor_rec(1) + 8, 65535);
  put32(tensor_rec(1) + 12, 65535);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  put32(tensor_rec(1) + 12, 0); /* zero channels */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  put32(tensor_rec(1) + 12, 9); /* conv out channels disagree with weights */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  put32(tensor_rec(1) + 4, 9); /* output height disagrees with the window */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  op_rec(0)[14] = 0; /* stride 0 */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  op_rec(0)[16] = 0; /* dilation 0 */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  op_rec(0)[13] = 11; /* kernel wider than the padded input (8 + 2) */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  op_rec(0)[12] = 200; /* kernel above the limit */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  op_rec(0)[18] = 3; /* padding as large as the kernel */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  put32(op_rec(0) + 28, get32(op_rec(0) + 28) + 1); /* weights_size */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  put32(op_rec(0) + 36, get32(op_rec(0) + 36) - 4); /* quant_size */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
}

TN_TEST(data_ranges) {
  make_good(0);
  TN_REQUIRE(g_size > 0);
  uint32_t wsize = get32(entry_of(TN_SECTION_WEIGHTS) + 8);
  fresh();
  put32(op_rec(2) + 24, wsize - 4); /* weights run past the section */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put32(op_rec(2) + 24, 0xFFFFFFF0u); /* offset + size overflows */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put32(op_rec(2) + 32, get32(op_rec(2) + 32) + 2); /* misaligned quant */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put32(op_rec(1) + 24, 16); /* a pool with a weight range */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
}

TN_TEST(quantization) {
  make_good(0);
  TN_REQUIRE(g_size > 0);
  uint8_t* q;
  fresh();
  put32(tensor_rec(1) + 16, 0x7FC00000u); /* NaN scale */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  fresh();
  put32(tensor_rec(1) + 16, 0xBF800000u); /* negative scale */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  fresh();
  put32(tensor_rec(1) + 20, 300); /* zero point outside int8 */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  fresh();
  put32(tensor_rec(2) + 20, get32(tensor_rec(1) + 20) + 1); /* pool requant */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  fresh();
  op_rec(0)[1] = 3; /* 3-bit weights */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  fresh();
  op_rec(0)[22] = 100; /* act_min > act_max */
  op_rec(0)[23] = 50;
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  /* Conv block: bias[8], multiplier[8], shift[8]. */
  fresh();
  q = section(TN_SECTION_QUANT);
  put32(q + 4 * 16, 40); /* shift */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  fresh();
  q = section(TN_SECTION_QUANT);
  put32(q + 4 * 8, 0x80000000u); /* negative multiplier */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  fresh();
  q = section(TN_SECTION_QUANT);
  put32(q, 0x7FFFFFF0u); /* bias that could overflow the accumulator */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
}

TN_TEST(op_specific_quantization) {
  /* The every-op model: conv, dw, pw, add (op 3), avgpool, global pool,
   * reshape, fc, softmax (op 8), cut, fc_f32. */
  fixture_model* m = &g_model;
  fx_init(m, 12, 9, 9, 4);
  uint16_t a =
      fx_conv(m, TN_OP_CONV2D, m->graph.input_tensor, 8, 3, 2, 1, 4, -128, 127);
  uint16_t b = fx_conv(m, TN_OP_DWCONV2D, a, 8, 3, 1, 1, 2, -128, 127);
  uint16_t c = fx_conv(m, TN_OP_PWCONV, b, 8, 1, 1, 0, 8, -128, 127);
  uint16_t d = fx_add(m, a, c);
  uint16_t e = fx_pool(m, TN_OP_AVGPOOL, d, 3, 1, 1);
  uint16_t f = fx_global_avgpool(m, e);
  uint16_t g = fx_reshape(m, f, 1, 1, 8);
  uint16_t h = fx_fc(m, g, 5, 8);
  uint16_t sm = fx_softmax(m, h);
  uint16_t t = fx_cut(m, sm);
  fx_finish(m, fx_fc_f32(m, t, 3));
  TN_REQUIRE(fx_plan(m, TN_TARGET_GAP9) == TN_OK);
  TN_REQUIRE(fx_build(m, TN_TARGET_GAP9, 0, NULL, NULL, g_good, sizeof(g_good),
                      &g_size) == TN_OK);
  TN_REQUIRE(m->ops[3].type == TN_OP_ADD && m->ops[8].type == TN_OP_SOFTMAX);
  uint8_t* q;
  fresh();
  TN_CHECK_STATUS(parse(), TN_OK);
  /* Bias limit of the kernels: |bias| <= 2^30. */
  fresh();
  q = section(TN_SECTION_QUANT);
  put32(q, 1u << 30);
  TN_CHECK_STATUS(parse_signed(), TN_OK);
  put32(q, (1u << 30) + 1u);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  put32(q, 0u - (1u << 30) - 1u);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  /* ADD: an input shift must not shift left; left_shift <= 20. */
  fresh();
  q = section(TN_SECTION_QUANT) + get32(op_rec(3) + 32);
  put32(q + 8, 1);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  fresh();
  q = section(TN_SECTION_QUANT) + get32(op_rec(3) + 32);
  put32(q, 21);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  /* SOFTMAX: diff_min <= 0, left shift within [0, 31]. */
  fresh();
  q = section(TN_SECTION_QUANT) + get32(op_rec(8) + 32);
  put32(q + 8, 5);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  fresh();
  q = section(TN_SECTION_QUANT) + get32(op_rec(8) + 32);
  put32(q + 4, 32);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  /* Softmax output quantization is fixed (scale 1/256, zero point -128). */
  fresh();
  put32(tensor_rec(sm) + 20, 0);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
}

TN_TEST(tail_section) {
  make_good(1);
  TN_REQUIRE(g_size > 0);
  fresh();
  TN_CHECK_STATUS(parse(), TN_OK);
  uint8_t* t;
  fresh();
  t = section(TN_SECTION_TAIL);
  put32(t + 16 + 8, 0x7F800000u); /* +Inf parameter */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_QUANT);
  fresh();
  t = section(TN_SECTION_TAIL);
  put16(t + 2, 3); /* first tail op is not the DEQUANTIZE */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  t = section(TN_SECTION_TAIL);
  put16(t + 4, 1); /* trainable layer count */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  t = section(TN_SECTION_TAIL);
  put16(t, 1); /* cut differs from the DEQUANTIZE input */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  t = section(TN_SECTION_TAIL);
  put32(t + 8, get32(t + 8) - 4); /* parameter bytes disagree with size */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_BOUNDS);
  fresh();
  put32(op_rec(6) + 24, 4u * 1000u); /* FC_F32 params beyond the tail */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_BOUNDS);
  fresh();
  op_rec(3)[0] = TN_OP_CONV2D; /* int8 op after the cut */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
  fresh();
  put32(op_rec(3) + 24, 4); /* tail parameters not packed in op order */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
}

TN_TEST(memory_plan) {
  make_good(0);
  TN_REQUIRE(g_size > 0);
  fresh();
  /* The input (240 bytes) placed inside the conv output (640 bytes), which
   * is live at the same time: in bounds, aligned, but overlapping. */
  TN_REQUIRE(get32(placement_rec(0) + 8) <= get32(placement_rec(1) + 8));
  put32(placement_rec(0) + 4, get32(placement_rec(1) + 4));
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_PLAN);
  /* Bytes may be shared by tensors whose lives do not meet: the FC output
   * (ops 2..end) inside the conv output (ops 0..1), whose other neighbours
   * were already disjoint from it. */
  fresh();
  put32(placement_rec(3) + 4, get32(placement_rec(1) + 4));
  TN_CHECK_STATUS(parse_signed(), TN_OK);
  fresh();
  put32(placement_rec(1) + 4, 0x40000000u); /* beyond the arena */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_PLAN);
  fresh();
  put32(placement_rec(1) + 4, get32(placement_rec(1) + 4) + 4); /* align */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_PLAN);
  fresh();
  put32(placement_rec(1) + 8, 4); /* size disagrees with the tensor */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_PLAN);
  fresh();
  placement_rec(1)[0] = 3; /* unknown memory level */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_PLAN);
  fresh();
  put32(tile_rec(0), 0); /* zero tile height */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_PLAN);
  fresh();
  put32(tile_rec(0) + 8, get32(tile_rec(0) + 8) + 8); /* footprint */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_PLAN);
  fresh();
  put16(section(TN_SECTION_MEMORY_PLAN), TN_TARGET_GAP8); /* plan target */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_PLAN);
  /* A plan whose arena exceeds GAP9's 1.5 MB L2. */
  fresh();
  put32(section(TN_SECTION_MEMORY_PLAN) + 8, 1600u * 1024u);
  TN_CHECK_STATUS(parse_signed(), TN_ERR_MEMORY_BUDGET);
}

TN_TEST(canary_and_metadata) {
  make_good(0);
  TN_REQUIRE(g_size > 0);
  fresh();
  put32(section(TN_SECTION_CANARY), 100); /* input size != input tensor */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_SHAPE);
  fresh();
  put32(section(TN_SECTION_METADATA), 12345); /* MACs disagree */
  TN_CHECK_STATUS(parse_signed(), TN_ERR_BLOB_GRAPH);
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(valid_blob_parses),
      TN_CASE(truncated_at_every_length),
      TN_CASE(header_fields),
      TN_CASE(section_table),
      TN_CASE(checksum),
      TN_CASE(graph_counts_and_ids),
      TN_CASE(shapes),
      TN_CASE(data_ranges),
      TN_CASE(quantization),
      TN_CASE(op_specific_quantization),
      TN_CASE(tail_section),
      TN_CASE(memory_plan),
      TN_CASE(canary_and_metadata),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
