# Key agreement messages: arbitrary bytes into the KEY_INFO_REPLY and
# SET_GATEWAY_KEY codecs (canonical re-encoding), public keys from the input
# into point validation and ECDH, and SET_GATEWAY_KEY / KEY_INFO frames into
# a virtual node with telemetry, whose answers must be valid responses.
get_target_property(tn_fuzz_crypto_port tn_secure TN_CRYPTO_PORT)
if(tn_fuzz_crypto_port STREQUAL "mbedtls")
  tf_fuzz_target(telemetry_keys
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/telemetry_keys_fuzz.c
    DEPS tn_sim tn_secure tn_telemetry tn_link tn_base)
endif()
