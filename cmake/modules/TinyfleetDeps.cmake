# Finds the Debian-packaged dependencies of the host build (gateway, agent,
# CLI, tools). deploy/install-deps.sh installs every one of them.
include_guard(GLOBAL)

find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
find_program(TF_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

find_path(MBEDTLS_INCLUDE_DIR mbedtls/gcm.h REQUIRED)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto REQUIRED)
add_library(tf_mbedcrypto INTERFACE)
target_include_directories(tf_mbedcrypto INTERFACE ${MBEDTLS_INCLUDE_DIR})
target_link_libraries(tf_mbedcrypto INTERFACE ${MBEDCRYPTO_LIBRARY})

if(TF_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(TF_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
