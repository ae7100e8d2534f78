# Sub-builds driven from the host build so that one `cmake --build` and one
# `ctest` cover everything:
#   - rv32imc: the firmware rooms and their tests cross-compiled for RISC-V;
#     tests/device registers rv32.* tests that run them under QEMU and compare
#     their outputs with the host's bit for bit.
#   - fuzz: clang + libFuzzer builds of the parsers of untrusted bytes;
#     tests/fuzz registers short fuzz.* runs.
include_guard(GLOBAL)
include(ExternalProject)

set(tf_launcher_args)
if(TF_CCACHE)
  list(APPEND tf_launcher_args -DCMAKE_C_COMPILER_LAUNCHER=${TF_CCACHE}
       -DCMAKE_CXX_COMPILER_LAUNCHER=${TF_CCACHE})
endif()

if(TF_RV32)
  ExternalProject_Add(tf_rv32imc
    SOURCE_DIR ${PROJECT_SOURCE_DIR}
    BINARY_DIR ${TF_RV32_BINARY_DIR}
    CMAKE_ARGS
      -DCMAKE_TOOLCHAIN_FILE=${PROJECT_SOURCE_DIR}/device/port/rv32/toolchain.cmake
      -DTF_RV32_ARCH=rv32imc -DCMAKE_BUILD_TYPE=Release
      -DTF_BUILD_HOST=OFF -DTF_BUILD_BENCHMARKS=OFF -DTF_BUILD_TESTS=ON
      ${tf_launcher_args}
    BUILD_ALWAYS ON
    INSTALL_COMMAND ""
    USES_TERMINAL_BUILD ON)
endif()

if(TF_FUZZ_SUBBUILD)
  find_program(TF_CLANG clang REQUIRED)
  find_program(TF_CLANGXX clang++ REQUIRED)
  ExternalProject_Add(tf_fuzz
    SOURCE_DIR ${PROJECT_SOURCE_DIR}
    BINARY_DIR ${TF_FUZZ_BINARY_DIR}
    CMAKE_ARGS
      -DCMAKE_C_COMPILER=${TF_CLANG} -DCMAKE_CXX_COMPILER=${TF_CLANGXX}
      -DCMAKE_BUILD_TYPE=RelWithDebInfo
      -DTF_FUZZ=ON -DTF_BUILD_HOST=OFF -DTF_BUILD_TESTS=OFF
      -DTF_BUILD_BENCHMARKS=OFF
      ${tf_launcher_args}
    BUILD_ALWAYS ON
    INSTALL_COMMAND ""
    USES_TERMINAL_BUILD ON)
endif()
