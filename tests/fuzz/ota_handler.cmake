# Model updates: sessions of arbitrary OTA requests, node resets, torn
# record writes and cut flash writes into the node's OTA handler; every
# reset must boot and the reported state must stay valid. Seeds: valid
# sessions from tests/device/ota/ota_seed_writer.c.
tf_fuzz_target(ota_handler
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/ota_handler_fuzz.c
  DEPS tn_ota tn_runtime tn_link tn_secure tn_kernels tn_train tn_base)
