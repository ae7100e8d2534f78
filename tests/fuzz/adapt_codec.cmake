# Adaptation-round artifacts: arbitrary bytes (with the trailing hash
# optionally recomputed) into the TNTL and TNUP decoders; accepted tails
# must re-encode to the input, accepted updates must expand and apply
# inside their bounds. Also the link's training message decoders, whose
# accepted payloads must re-encode to the same bytes. Seeds:
# tests/device/adapt/adapt_seed_writer.c.
tf_fuzz_target(adapt_codec
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/adapt_codec_fuzz.c
  DEPS tn_adapt tn_link tn_runtime tn_train tn_kernels tn_secure tn_base)
