# CMake toolchain for the node firmware on 32-bit RISC-V: Debian's
# riscv64-unknown-elf-gcc with picolibc, semihosting I/O, and a memory map
# that fits QEMU's `virt` machine (RAM at 0x80000000).
#
# TF_RV32_ARCH selects the ISA: rv32imc (integer only, soft float; the
# default) or rv32imfc (single-precision FPU). Executables get the .elf suffix
# are named *.elf by tests/device and run under run-qemu.sh.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv32)
set(CMAKE_C_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_CXX_COMPILER riscv64-unknown-elf-g++)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(TF_RV32_ARCH "rv32imc" CACHE STRING "rv32imc or rv32imfc")
if(TF_RV32_ARCH STREQUAL "rv32imfc")
  set(tf_rv32_flags "-march=rv32imfc -mabi=ilp32f")
elseif(TF_RV32_ARCH STREQUAL "rv32imc")
  set(tf_rv32_flags "-march=rv32imc -mabi=ilp32")
else()
  message(FATAL_ERROR "TF_RV32_ARCH must be rv32imc or rv32imfc")
endif()

set(CMAKE_C_FLAGS_INIT
    "${tf_rv32_flags} -misa-spec=2.2 --specs=picolibc.specs -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${CMAKE_C_FLAGS_INIT}")
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "--oslib=semihost --crt0=semihost \
-Wl,--gc-sections -Wl,--defsym=__flash=0x80000000 -Wl,--defsym=__flash_size=0x00800000 \
-Wl,--defsym=__ram=0x80800000 -Wl,--defsym=__ram_size=0x01000000 -Wl,--defsym=__stack_size=0x00040000")

set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_CURRENT_LIST_DIR}/run-qemu.sh)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
