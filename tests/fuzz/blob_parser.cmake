# Model blobs: arbitrary bytes into the blob parser (as is, and with the
# digest repaired so mutations reach the content checks); accepted blobs are
# decoded, costed and executed. Seeds: valid blobs from the builder
# (tests/device/runtime/seed_writer.c).
tf_fuzz_target(blob_parser
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/blob_parser_fuzz.c
  DEPS tn_runtime tn_secure tn_kernels tn_train tn_base)
