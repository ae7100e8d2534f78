#!/bin/sh
# Runs a firmware ELF on QEMU's 32-bit RISC-V `virt` machine with
# semihosting (stdout and exit code pass through). `-icount shift=0` makes
# the instruction counter exact and repeatable, so benchmarks can read
# minstret. Usage: run-qemu.sh program.elf
set -eu
elf=$1
exec qemu-system-riscv32 -M virt -bios none -nographic -monitor none \
  -serial none -icount shift=0 \
  -semihosting-config enable=on,target=native -kernel "$elf"
