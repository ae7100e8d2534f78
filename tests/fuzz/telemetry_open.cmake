# Sealed records: arbitrary bytes into tn_seal_open and the header peek
# under a fixed key; records sealed from the input must open again, and any
# single changed byte must make them fail; the replay window driven by the
# input. Needs the host crypto port, so it exists only in builds that
# link one.
get_target_property(tn_fuzz_crypto_port tn_secure TN_CRYPTO_PORT)
if(tn_fuzz_crypto_port STREQUAL "mbedtls")
  tf_fuzz_target(telemetry_open
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/telemetry_open_fuzz.c
    DEPS tn_secure tn_base)
endif()
