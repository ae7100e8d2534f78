# ONNX models: arbitrary bytes into the model compiler's importer; models
# that import are checked against the IR's invariants and, when small, run
# by the float reference, quantized, lowered and built into a blob that the
# runtime's parser must accept. Seeds: small models of the supported ops
# (corpus/onnx_importer). The fuzz build has no host libraries, so the
# importer's sources (and the Status type) are compiled into the fuzzer and
# the ONNX protobuf schema is found here.
if(TF_FUZZ)
  find_package(Protobuf QUIET)
  find_package(ONNX CONFIG QUIET)
  if(Protobuf_FOUND AND ONNX_FOUND)
    set(tf_models_dir ${PROJECT_SOURCE_DIR}/server/models)
    tf_fuzz_target(onnx_importer
      SOURCES ${CMAKE_CURRENT_LIST_DIR}/onnx_importer_fuzz.cc
              ${tf_models_dir}/onnx_importer.cc
              ${tf_models_dir}/optimize.cc
              ${tf_models_dir}/graph.cc
              ${tf_models_dir}/float_executor.cc
              ${tf_models_dir}/lowering.cc
              ${PROJECT_SOURCE_DIR}/common/status.cc
      DEPS tn_runtime tn_kernels tn_train tn_base)
    target_include_directories(fuzz_onnx_importer PRIVATE ${PROJECT_SOURCE_DIR})
    # Imported targets cannot take the sanitizer flags tf_fuzz_target adds
    # to its DEPS, so the schema library is linked here.
    target_link_libraries(fuzz_onnx_importer PRIVATE onnx_proto)
  else()
    message(STATUS "fuzz: ONNX or protobuf not found, no onnx_importer fuzzer")
  endif()
elseif(TF_FUZZ_SUBBUILD)
  tf_fuzz_target(onnx_importer SECONDS 30)
endif()
