#!/usr/bin/env bash
# End-to-end test of the main job (deploy/run-demo.sh, what `make run` runs):
# the gateway starts, 8 simulated nodes enroll and come online, the CLI,
# metrics and dashboard answer, a stop is clean, and a second run on the same
# data keeps every device identity.
# Usage: run_demo_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
var=$(mktemp -d)
out=$var/demo.out
demo_pid=
cleanup() {
  [[ -n $demo_pid ]] && kill -TERM "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null
  rm -rf "$var"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- demo output:" >&2; cat "$out" >&2 || true; exit 1; }

cli() { "$build/server/cli/tinyfleet" --timeout 5 "$@"; }

start_demo() {
  : >"$out"
  TINYFLEET_BUILD=$build TINYFLEET_VAR=$var/state TINYFLEET_AGENTS=8 \
    TINYFLEET_GRPC_PORT=0 TINYFLEET_HTTP_PORT=0 "$src/deploy/run-demo.sh" >"$out" 2>&1 &
  demo_pid=$!
  for _ in $(seq 1 600); do
    grep -q "Press Ctrl-C" "$out" && break
    kill -0 "$demo_pid" 2>/dev/null || fail "run-demo exited early"
    sleep 0.1
  done
  grep -q "Press Ctrl-C" "$out" || fail "run-demo did not report readiness"
  export TINYFLEET_ADDRESS=$(sed -n 's/^ *gRPC (TLS) *//p' "$out")
  export TINYFLEET_CA=$var/state/gateway/pki/ca.crt
  export TINYFLEET_TOKEN_FILE=$var/state/gateway/admin.token
  http=$(sed -n 's|^ *metrics *http://\([^/]*\)/metrics|\1|p' "$out")
  [[ -n $TINYFLEET_ADDRESS && -n $http ]] || fail "addresses not printed"
}

online_ids() {
  cli --json devices list --online | sed -n 's/.*"device_id": "\([^"]*\)".*/\1/p' | sort
}

wait_online() {  # $1: expected count
  for _ in $(seq 1 600); do
    [[ $(online_ids | wc -l) -eq $1 ]] && return 0
    sleep 0.1
  done
  fail "expected $1 devices online, have $(online_ids | wc -l)"
}

stop_demo() {
  kill -TERM "$demo_pid"
  wait "$demo_pid" || fail "run-demo exited with an error"
  demo_pid=
  grep -q "run-demo: stopped" "$out" || fail "no clean stop"
}

# First run: fresh data, 8 enrollments.
start_demo
wait_online 8
first=$(online_ids)
grep -q "created 8 enrollment token" "$out" || fail "tokens were not created"
# (Whole bodies first: grep -q closing the pipe early would fail curl.)
metrics=$(curl -sf "http://$http/metrics") || fail "metrics endpoint"
grep -q '^tinyfleet_agents_connected 8' <<<"$metrics" || fail "metrics"
page=$(curl -sf "http://$http/") || fail "dashboard endpoint"
grep -q '<title>tinyfleet</title>' <<<"$page" || fail "dashboard page"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$http/api/v1/devices")
[[ $code == 401 ]] || fail "unauthenticated JSON API answered $code"
devices=$(curl -sf -H "Authorization: Bearer $(cat "$TINYFLEET_TOKEN_FILE")" \
  "http://$http/api/v1/devices") || fail "JSON API endpoint"
grep -q '"total_count":8' <<<"$devices" || fail "JSON API"
stop_demo

# Second run: the same devices come back; no new enrollment.
start_demo
grep -q "already enrolled" "$out" || fail "second run enrolled again"
wait_online 8
second=$(online_ids)
[[ "$first" == "$second" ]] || fail "device identities changed between runs"
[[ $(cli --json devices list | grep -c '"device_id"') -eq 8 ]] || fail "extra devices"
stop_demo
echo "PASS: 8 nodes online twice with the same identities; clean stops"
