#!/bin/sh
# Runs one firmware test program on the host and under QEMU (rv32) and
# checks that both pass and print identical "digest" lines, i.e. that every
# output the test recorded is bit-for-bit the same on both targets.
# Usage: run-bitexact.sh host_program rv32_program.elf
set -u
here=$(dirname "$0")
host_exe=$1
rv32_elf=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$host_exe" >"$tmp/host.out" 2>&1
host_rc=$?
"$here/run-qemu.sh" "$rv32_elf" >"$tmp/rv32.out" 2>&1
rv32_rc=$?

status=0
if [ $host_rc -ne 0 ]; then
  echo "host run failed (exit $host_rc):"; cat "$tmp/host.out"; status=1
fi
if [ $rv32_rc -ne 0 ]; then
  echo "rv32 run failed (exit $rv32_rc):"; cat "$tmp/rv32.out"; status=1
fi
grep '^digest ' "$tmp/host.out" >"$tmp/host.dig" || true
grep '^digest ' "$tmp/rv32.out" >"$tmp/rv32.dig" || true
n=$(wc -l <"$tmp/host.dig")
if [ "$n" -eq 0 ]; then
  echo "no digest lines: nothing was compared"; status=1
elif ! cmp -s "$tmp/host.dig" "$tmp/rv32.dig"; then
  echo "outputs differ between host and rv32:"
  diff "$tmp/host.dig" "$tmp/rv32.dig" | head -n 40
  status=1
else
  echo "$n outputs bit-exact between host and rv32"
fi
grep -E 'cases passed' "$tmp/rv32.out" || true
exit $status
