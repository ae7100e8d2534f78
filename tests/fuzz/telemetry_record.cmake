# Telemetry records: arbitrary bytes into the record decoder (accepted
# records must re-encode to the same bytes), and input-driven sequences of
# accumulator calls whose records must always satisfy the format's rules.
tf_fuzz_target(telemetry_record
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/telemetry_record_fuzz.c
  DEPS tn_telemetry tn_base)
