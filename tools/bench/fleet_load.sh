#!/usr/bin/env bash
# Fleet load benchmark: one gateway and N simulated agent + node pairs
# (tinyfleet-fleetsim) on this machine, over TLS on 127.0.0.1.
#
# Measures: time from fleetsim start to every node online (fresh enrollment,
# then a second run with existing credentials = reconnection storm), the
# gateway's RSS when all are online, and the gateway's and fleetsim's CPU use
# over a steady-heartbeat window.
#
# Usage: tools/bench/fleet_load.sh N [hold_seconds] [heartbeat_ms]
# Needs a release build (cmake --preset release && cmake --build --preset release).
set -euo pipefail
n=${1:?usage: fleet_load.sh N [hold_seconds] [heartbeat_ms]}
hold=${2:-30}
heartbeat=${3:-5000}
build=${TINYFLEET_BUILD:-build/release}
work=$(mktemp -d)
trap 'kill $gw_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

port=$((20000 + RANDOM % 20000))
"$build/server/main/tinyfleet-gateway" --listen 127.0.0.1:$port --http-listen 127.0.0.1:0 \
  --data-dir "$work/gw" --heartbeat-ms "$heartbeat" --log-level warning >"$work/gw.out" 2>"$work/gw.err" &
gw_pid=$!
export TINYFLEET_ADDRESS=127.0.0.1:$port TINYFLEET_CA=$work/gw/pki/ca.crt \
  TINYFLEET_TOKEN_FILE=$work/gw/admin.token
for _ in $(seq 1 100); do
  "$build/server/cli/tinyfleet" --timeout 2 whoami >/dev/null 2>&1 && break
  sleep 0.1
done
"$build/server/cli/tinyfleet" tokens create --count "$n" --ttl 2h --out "$work/tokens" >/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

run_fleet() {  # $1: label
  local start end fs_pid line
  start=$(date +%s.%N)
  "$build/agent/fleetsim/tinyfleet-fleetsim" --agents "$n" --gateway 127.0.0.1:$port \
    --ca "$TINYFLEET_CA" --state-dir "$work/fleet" --tokens-file "$work/tokens" \
    --report-ms 0 --exit-when-online --hold-seconds "$hold" >"$work/fs.out" 2>&1 &
  fs_pid=$!
  while ! grep -q "all .* online" "$work/fs.out" 2>/dev/null; do
    kill -0 $fs_pid 2>/dev/null || { cat "$work/fs.out"; echo "fleetsim exited early" >&2; exit 1; }
    sleep 0.05
  done
  end=$(date +%s.%N)
  line=$(grep "all .* online" "$work/fs.out")
  local gw_rss=$(rss_mib $gw_pid)
  # Steady state: skip 2 s, then measure CPU over the rest of the hold.
  sleep 2
  local g0=$(cpu_ticks $gw_pid) f0=$(cpu_ticks $fs_pid) t0=$(date +%s.%N)
  local window=$(( hold > 6 ? hold - 4 : 2 ))
  sleep "$window"
  local g1=$(cpu_ticks $gw_pid) f1=$(cpu_ticks $fs_pid) t1=$(date +%s.%N)
  local fs_rss=$(rss_mib $fs_pid)
  wait $fs_pid
  awk -v l="$1" -v n="$n" -v s="$start" -v e="$end" -v gr="$gw_rss" -v fr="$fs_rss" \
      -v g0="$g0" -v g1="$g1" -v f0="$f0" -v f1="$f1" -v t0="$t0" -v t1="$t1" -v hz="$hz" \
      -v line="$line" 'BEGIN {
        dt = t1 - t0;
        printf "%-10s n=%d  all-online %.2f s (fleetsim: %s)  gateway RSS %d MiB  fleetsim RSS %d MiB  steady CPU: gateway %.1f%% fleetsim %.1f%% of one core\n",
          l, n, e - s, line, gr, fr, 100 * (g1 - g0) / hz / dt, 100 * (f1 - f0) / hz / dt }'
}

run_fleet enroll
run_fleet reconnect
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "heartbeat ${heartbeat} ms, hold ${hold} s"
