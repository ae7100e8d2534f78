#!/usr/bin/env bash
# End-to-end: a rollout survives `kill -9` of the gateway. A gateway and a
# simulated fleet (tinyfleet-fleetsim, virtual nodes with A/B slots on disk)
# start on 127.0.0.1; the CLI pushes the keyword-spotting fixture and starts
# a two-wave rollout; once the first wave has confirmed, the gateway is
# killed with SIGKILL and started again on the same data and port. The
# rollout must complete and every node must run the new model; no node may
# have been sent the artifact twice (gateway bytes served <= 1.1 x size x N).
# Usage: ota_kill_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
n=8
work=$(mktemp -d)
gw_pid=
fs_pid=
cleanup() {
  local rc=$?
  if [[ -n $fs_pid ]]; then kill -TERM "$fs_pid" 2>/dev/null || true; wait "$fs_pid" 2>/dev/null || true; fi
  if [[ -n $gw_pid ]]; then kill -KILL "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in gw.err fs.out; do echo "--- $f" >&2; tail -n 30 "$work/$f" >&2 || true; done
  exit 1
}
cli() { "$build/server/cli/tinyfleet" --timeout 5 "$@"; }

start_gateway() {  # $1: port (0 = any)
  "$build/server/main/tinyfleet-gateway" --listen "127.0.0.1:$1" \
    --http-listen 127.0.0.1:0 --data-dir "$work/gw" --heartbeat-ms 500 \
    --log-level warning >"$work/gw.out" 2>>"$work/gw.err" &
  gw_pid=$!
  for _ in $(seq 1 300); do
    grep -q '^grpc_port=' "$work/gw.out" 2>/dev/null && break
    kill -0 "$gw_pid" 2>/dev/null || fail "gateway exited"
    sleep 0.05
  done
  port=$(sed -n 's/^grpc_port=\([0-9]*\).*/\1/p' "$work/gw.out")
  http=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$work/gw.out")
  [[ -n $port ]] || fail "gateway did not report its port"
  export TINYFLEET_ADDRESS=127.0.0.1:$port
}

rollout_json() { cli --json rollouts show "$rollout"; }
field() { sed -n "s/.*\"$1\": *\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" | head -n 1; }

start_gateway 0
export TINYFLEET_CA=$work/gw/pki/ca.crt TINYFLEET_TOKEN_FILE=$work/gw/admin.token
cli tokens create --count $n --ttl 1h --label fleet=e2e --out "$work/tokens" >/dev/null ||
  fail "tokens"
"$build/agent/fleetsim/tinyfleet-fleetsim" --agents $n --gateway "127.0.0.1:$port" \
  --ca "$TINYFLEET_CA" --state-dir "$work/fleet" --tokens-file "$work/tokens" \
  --target gap8 --report-ms 0 >"$work/fs.out" 2>&1 &
fs_pid=$!
for _ in $(seq 1 600); do
  [[ $(cli devices list --online 2>/dev/null | grep -c '^dev-') -eq $n ]] && break
  sleep 0.1
done
[[ $(cli devices list --online | grep -c '^dev-') -eq $n ]] || fail "fleet not online"

push=$(cli --json models push "$src/tests/fixtures/kws/ds_cnn_s.onnx" --name kws \
  --calib "$src/tests/fixtures/kws/kws_calib.tnfs" --target gap8) || fail "models push"
ref=$(field ref <<<"$push")
size=$(field blob_bytes <<<"$push")
model_id=$(field model_id <<<"$push")
[[ -n $ref && -n $size && -n $model_id ]] || fail "push answered: $push"

rollout=$(cli --json rollouts create "$ref" --selector fleet=e2e --waves 50,100 |
  field rollout_id) || fail "rollouts create"
[[ -n $rollout ]] || fail "no rollout id"

# Kill the gateway as soon as the first wave has confirmed members.
for _ in $(seq 1 600); do
  rollout_json | grep -q '"confirmed": [1-9]' && break
  sleep 0.05
done
rollout_json | grep -q '"confirmed": [1-9]' || fail "first wave never confirmed"
kill -KILL "$gw_pid"
wait "$gw_pid" 2>/dev/null || true

start_gateway "$port"
for _ in $(seq 1 1200); do
  state=$(rollout_json | field state)
  [[ $state == ROLLOUT_STATE_COMPLETED || $state == ROLLOUT_STATE_ABORTED ]] && break
  sleep 0.1
done
[[ $state == ROLLOUT_STATE_COMPLETED ]] || fail "rollout ended $state: $(rollout_json)"

# Every node reports the new model in its active slot.
for _ in $(seq 1 200); do
  running=$(cli --json devices list | grep -o "\"model_id\": \"$model_id\"" | wc -l)
  [[ $running -ge $n ]] && break
  sleep 0.1
done
[[ $running -ge $n ]] || fail "only $running of $n nodes report the new model"

# Bytes served after the restart: only what had not been delivered before.
served_after=$(curl -sf "http://127.0.0.1:$http/metrics" |
  sed -n 's/^tinyfleet_artifact_bytes_served_total \([0-9.e+]*\)/\1/p')
awk -v a="$served_after" -v s="$size" -v n="$n" 'BEGIN { exit !(a <= 1.1 * s * n) }' ||
  fail "gateway served $served_after bytes after the restart for $n x $size"
echo "ota_kill_test: rollout $rollout completed across kill -9; $n nodes run $ref"
