# Project-wide build settings: language levels, warnings, ccache and the
# helpers every room uses to declare its library and tests.
include_guard(GLOBAL)

set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS OFF)
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

find_program(TF_CCACHE ccache)
if(TF_CCACHE)
  set(CMAKE_C_COMPILER_LAUNCHER ${TF_CCACHE})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${TF_CCACHE})
endif()

# Warnings apply to the project's own targets only (generated code is exempt).
set(TF_WARNINGS -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-align
    -Wwrite-strings -Wundef -Wno-unused-parameter)
set(TF_C_WARNINGS ${TF_WARNINGS} -Wstrict-prototypes -Wmissing-prototypes)
# GCC 12 reports false -Wrestrict positives inside libstdc++'s string
# concatenation at -O3 (GCC bug 105329); keep the check for C only.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND TF_WARNINGS -Wno-restrict)
endif()
option(TF_WERROR "Treat warnings as errors" ON)
if(TF_WERROR)
  list(APPEND TF_WARNINGS -Werror)
  list(APPEND TF_C_WARNINGS -Werror)
endif()

function(tf_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:${TF_C_WARNINGS}>
    $<$<COMPILE_LANGUAGE:CXX>:${TF_WARNINGS}>)
endfunction()

# tf_device_library(<room> SOURCES ...): one static C library per firmware
# room, named tn_<room>; its public header is device/<room>/tn_<room>.h and
# the include root is device/.
function(tf_device_library room)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(tn_${room} STATIC ${A_SOURCES})
  target_include_directories(tn_${room} PUBLIC ${PROJECT_SOURCE_DIR}/device)
  target_link_libraries(tn_${room} PUBLIC ${A_DEPS})
  # Bit-exact results across targets: no fused multiply-add contraction.
  target_compile_options(tn_${room} PRIVATE -ffp-contract=off)
  tf_warnings(tn_${room})
endfunction()
