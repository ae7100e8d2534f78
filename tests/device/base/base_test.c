/* Tests of the firmware base room: status names, byte order helpers, PCG32. */
#include <string.h>

#include "base/tn_base.h"
#include "base/tn_rng.h"
#include "tn_test.h"

TN_TEST(status_names_are_stable) {
  TN_CHECK(strcmp(tn_status_str(TN_OK), "TN_OK") == 0);
  TN_CHECK(strcmp(tn_status_str(TN_ERR_FRAME_CRC), "TN_ERR_FRAME_CRC") == 0);
  TN_CHECK(strcmp(tn_status_str((tn_status)9999), "TN_ERR_UNKNOWN") == 0);
  TN_CHECK(strcmp(tn_target_str(TN_TARGET_GAP9), "gap9") == 0);
}

TN_TEST(little_endian_round_trip) {
  uint8_t buf[8];
  tn_store_u32le(buf, 0x11223344u);
  TN_CHECK_EQ(buf[0], 0x44);
  TN_CHECK_EQ(buf[3], 0x11);
  TN_CHECK_EQ(tn_load_u32le(buf), 0x11223344u);
  tn_store_u64le(buf, 0x0102030405060708ULL);
  TN_CHECK(tn_load_u64le(buf) == 0x0102030405060708ULL);
  tn_store_u16le(buf, 0xbeef);
  TN_CHECK_EQ(tn_load_u16le(buf), 0xbeef);
}

TN_TEST(pcg32_known_sequence_and_bounds) {
  tn_rng rng;
  uint32_t out[64];
  tn_rng_seed(&rng, 42u, 54u);
  /* First outputs of PCG32 for seed 42, stream 54 (the reference demo). */
  TN_CHECK_EQ(tn_rng_u32(&rng), 0xa15c02b7u);
  TN_CHECK_EQ(tn_rng_u32(&rng), 0x7b47f409u);
  for (int i = 0; i < 64; ++i) out[i] = tn_rng_below(&rng, 10);
  for (int i = 0; i < 64; ++i) TN_CHECK(out[i] < 10);
  for (int i = 0; i < 1000; ++i) {
    int32_t v = tn_rng_range(&rng, -5, 5);
    TN_CHECK(v >= -5 && v <= 5);
    float f = tn_rng_unit_f32(&rng);
    TN_CHECK(f >= 0.0f && f < 1.0f);
  }
  tn_test_digest("pcg32.below10", out, sizeof(out));
}

int main(void) {
  static const tn_test_case cases[] = {
      TN_CASE(status_names_are_stable),
      TN_CASE(little_endian_round_trip),
      TN_CASE(pcg32_known_sequence_and_bounds),
  };
  return tn_test_main(cases, TN_ARRAY_SIZE(cases));
}
