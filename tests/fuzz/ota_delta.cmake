# Deltas: arbitrary bytes as a delta against a fixed base, decoded whole and
# in chunks (as a node receives them); both must agree, every base read and
# result write must stay in bounds and in order, and the in-memory applier
# must agree. Seeds: corpus/ota_delta, deltas against the harness's base
# with every operation kind.
tf_fuzz_target(ota_delta
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/ota_delta_fuzz.c
  DEPS tn_ota tn_runtime tn_link tn_secure tn_kernels tn_train tn_base)
