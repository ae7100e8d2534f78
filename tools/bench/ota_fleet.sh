#!/usr/bin/env bash
# OTA fan-out benchmark: one gateway and N simulated agent + node pairs
# (tinyfleet-fleetsim; virtual nodes with A/B slots on disk) on 127.0.0.1,
# over TLS. A DS-CNN (default: the trained keyword-spotting fixture) is
# compiled for GAP9 with a K-layer FP32 tail and rolled out to every node in
# one wave. For a 100 kB blob, use the untrained wide fixture (made by
# tools/models/synth_dscnn.py --channels 132):
#   tools/bench/ota_fleet.sh 1000 1 tests/fixtures/ota/ds_cnn_w132_untrained.onnx
#
# Reports: blob size, time from `rollouts create` to every node confirmed
# (download, relay in <= 1 KiB link frames, signature and digest check,
# activation, self-test, confirm), and the bytes the gateway served
# (tinyfleet_artifact_bytes_served_total) against N x blob size.
#
# Usage: tools/bench/ota_fleet.sh N [tail_layers] [model.onnx]
# Needs a release build (cmake --preset release && cmake --build --preset release).
set -euo pipefail
n=${1:?usage: ota_fleet.sh N [tail_layers] [model.onnx]}
tail_layers=${2:-2}
src=$(cd "$(dirname "$0")/../.." && pwd)
onnx=$(realpath "${3:-$src/tests/fixtures/kws/ds_cnn_s.onnx}")
build=${TINYFLEET_BUILD:-$src/build/release}
work=$(mktemp -d)
gw_pid=
fs_pid=
trap '[[ -n $fs_pid ]] && kill $fs_pid 2>/dev/null; [[ -n $gw_pid ]] && kill $gw_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cli() { "$build/server/cli/tinyfleet" --timeout 30 "$@"; }
field() { sed -n "s/.*\"$1\": *\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" | head -n 1; }

"$build/server/main/tinyfleet-gateway" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --data-dir "$work/gw" --heartbeat-ms 5000 --log-level warning >"$work/gw.out" 2>"$work/gw.err" &
gw_pid=$!
for _ in $(seq 1 300); do grep -q '^grpc_port=' "$work/gw.out" && break; sleep 0.05; done
port=$(sed -n 's/^grpc_port=\([0-9]*\).*/\1/p' "$work/gw.out")
http=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$work/gw.out")
export TINYFLEET_ADDRESS=127.0.0.1:$port TINYFLEET_CA=$work/gw/pki/ca.crt \
  TINYFLEET_TOKEN_FILE=$work/gw/admin.token
cli tokens create --count "$n" --ttl 2h --label bench=ota --out "$work/tokens" >/dev/null
"$build/agent/fleetsim/tinyfleet-fleetsim" --agents "$n" --gateway 127.0.0.1:$port \
  --ca "$TINYFLEET_CA" --state-dir "$work/fleet" --tokens-file "$work/tokens" \
  --target gap9 --report-ms 0 --enroll-threads "${FLEETSIM_THREADS:-16}" >"$work/fs.out" 2>&1 &
fs_pid=$!
while ! grep -q "all .* online" "$work/fs.out" 2>/dev/null; do
  kill -0 $fs_pid 2>/dev/null || { cat "$work/fs.out"; exit 1; }
  sleep 0.1
done

push=$(cli --json models push "$onnx" --name kws \
  --calib "$src/tests/fixtures/kws/kws_calib.tnfs" --target gap9 --tail "$tail_layers")
ref=$(field ref <<<"$push")
size=$(field blob_bytes <<<"$push")
served() {
  curl -sf "http://127.0.0.1:$http/metrics" |
    sed -n 's/^tinyfleet_artifact_bytes_served_total \([0-9.e+]*\)/\1/p'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
s0=$(served); s0=${s0:-0}
g0=$(cpu_ticks $gw_pid); f0=$(cpu_ticks $fs_pid)
t0=$(date +%s.%N)
rollout=$(cli --json rollouts create "$ref" --selector bench=ota --waves 100 | field rollout_id)
while :; do
  r=$(cli --json rollouts show "$rollout")
  state=$(field state <<<"$r")
  [[ $state == ROLLOUT_STATE_COMPLETED || $state == ROLLOUT_STATE_ABORTED ]] && break
  sleep 0.1
done
t1=$(date +%s.%N)
g1=$(cpu_ticks $gw_pid); f1=$(cpu_ticks $fs_pid)
s1=$(served)
[[ $state == ROLLOUT_STATE_COMPLETED ]] || { echo "rollout ended $state"; echo "$r"; exit 1; }
awk -v n="$n" -v sz="$size" -v t0="$t0" -v t1="$t1" -v a="$s0" -v b="$s1" -v k="$tail_layers" 'BEGIN {
  printf "nodes %d  blob %d B (tail %d layers)  all confirmed after %.2f s  served %.0f B = %.3f x N x blob\n",
    n, sz, k, t1 - t0, b - a, (b - a) / (n * sz) }'
awk -v g="$((g1 - g0))" -v f="$((f1 - f0))" -v hz="$hz" 'BEGIN {
  printf "CPU during the rollout: gateway %.1f s, fleetsim (agents + nodes) %.1f s\n", g / hz, f / hz }'
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
