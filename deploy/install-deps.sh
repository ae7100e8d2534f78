#!/usr/bin/env bash
# Installs the Debian 12 packages tinyfleet needs to build, run and test.
#
# Idempotent: packages already present are skipped, so a second run does no
# network access at all. Runs apt-get as root directly, or through sudo.
#
# Usage: deploy/install-deps.sh [--with-tools]
#   --with-tools  also install what model training in tools/ needs (PyTorch,
#                 ONNX), which the gateway, the simulated fleet and the tests
#                 do not.
set -euo pipefail

packages=(
  # Build.
  build-essential cmake ninja-build ccache pkg-config git
  # Gateway and agent.
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libboost-dev libboost-program-options-dev
  libsqlite3-dev libssl-dev openssl nlohmann-json3-dev prometheus-cpp-dev
  # Node firmware crypto on the host, and model import.
  libmbedtls-dev libonnx-dev libonnx-testdata
  # Tests, fuzzers and benchmarks.
  googletest libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  # Cross build of the node firmware and its emulator.
  gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc
  # Keyword-spotting data pipeline test (speech synthesis, feature reader).
  espeak-ng flite sox python3-numpy
  # Dashboard browser test (playwright-core drives this Chromium; it never
  # downloads a browser) and promtool for the Prometheus rules test. The
  # prometheus package also installs a Prometheus service, enabled where
  # systemd runs; `systemctl disable --now prometheus` if it is not wanted.
  chromium prometheus
)
if [[ "${1:-}" == "--with-tools" ]]; then
  packages+=(python3-torch python3-onnx)
fi
# The dashboard is bundled with Node.js and npm. A machine that already has a
# `node` (e.g. Node.js 20 from another source) keeps it; otherwise Debian's
# are installed. Vite needs Node.js 20.19 or newer: with an older node the
# build embeds a placeholder page instead of the dashboard and says so.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and neither root nor sudo" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
