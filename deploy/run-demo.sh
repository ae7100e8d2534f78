#!/usr/bin/env bash
# Runs the main job in the foreground: a tinyfleet gateway on 127.0.0.1 with
# its SQLite store and PKI under ./var/, and a simulated fleet of virtual
# nodes with their agents, enrolled through one-time tokens. Ctrl-C stops
# everything cleanly. A second run reuses ./var/: same CA, same devices.
#
# Environment: TINYFLEET_BUILD (default build/release), TINYFLEET_VAR
# (default ./var), TINYFLEET_AGENTS (default 8), TINYFLEET_GRPC_PORT (7443),
# TINYFLEET_HTTP_PORT (7080); a port of 0 picks a free one.
set -euo pipefail

build=${TINYFLEET_BUILD:-build/release}
var=${TINYFLEET_VAR:-./var}
agents=${TINYFLEET_AGENTS:-8}
grpc_port=${TINYFLEET_GRPC_PORT:-7443}
http_port=${TINYFLEET_HTTP_PORT:-7080}
gateway_bin=$build/server/main/tinyfleet-gateway
cli_bin=$build/server/cli/tinyfleet
fleetsim_bin=$build/agent/fleetsim/tinyfleet-fleetsim

for b in "$gateway_bin" "$cli_bin" "$fleetsim_bin"; do
  [[ -x $b ]] || { echo "run-demo: $b is missing; build first (make build)" >&2; exit 1; }
done
mkdir -p "$var"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "run-demo: stopping fleet and gateway"
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "run-demo: stopped; data kept in $var"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

"$gateway_bin" --listen "127.0.0.1:$grpc_port" --http-listen "127.0.0.1:$http_port" \
  --data-dir "$var/gateway" >"$var/gateway.ports" &
pids+=($!)

# The gateway prints its bound ports first (they differ from the flags when
# those ask for port 0).
for _ in $(seq 1 300); do
  grep -q grpc_port= "$var/gateway.ports" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "run-demo: the gateway exited" >&2; exit 1; }
  sleep 0.1
done
grpc_port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$var/gateway.ports")
http_port=$(sed -n 's/.*http_port=\([0-9]*\).*/\1/p' "$var/gateway.ports")
[[ -n $grpc_port ]] || { echo "run-demo: the gateway did not start" >&2; exit 1; }

export TINYFLEET_ADDRESS="127.0.0.1:$grpc_port"
export TINYFLEET_CA="$var/gateway/pki/ca.crt"
export TINYFLEET_TOKEN_FILE="$var/gateway/admin.token"

# Wait until the gateway answers an authenticated call (at most 30 s).
for _ in $(seq 1 300); do
  if [[ -f $TINYFLEET_CA && -f $TINYFLEET_TOKEN_FILE ]] &&
     "$cli_bin" --timeout 2 whoami >/dev/null 2>&1; then
    break
  fi
  kill -0 "${pids[0]}" 2>/dev/null || { echo "run-demo: the gateway exited" >&2; exit 1; }
  sleep 0.1
done
"$cli_bin" --timeout 2 whoami >/dev/null || { echo "run-demo: gateway not answering" >&2; exit 1; }

# Nodes without credentials need one enrollment token each.
need=0
for ((i=0; i<agents; i++)); do
  node=$(printf 'node-%05d' "$i")
  [[ -f $var/fleet/$node/credentials/device.id ]] || need=$((need + 1))
done
tokens_file=$var/fleet-tokens.txt
: >"$tokens_file"
chmod 600 "$tokens_file"
if (( need > 0 )); then
  "$cli_bin" tokens create --count "$need" --ttl 1h --label demo=fleetsim \
    --description "run-demo fleet" --out "$tokens_file" >/dev/null
  echo "run-demo: created $need enrollment token(s) for new nodes"
else
  echo "run-demo: all $agents nodes already enrolled; reusing their identities"
fi

"$fleetsim_bin" --agents "$agents" --gateway "127.0.0.1:$grpc_port" --ca "$TINYFLEET_CA" \
  --state-dir "$var/fleet" --tokens-file "$tokens_file" --report-ms 30000 &
pids+=($!)

cat <<INFO

  tinyfleet is running.
    gRPC (TLS)   127.0.0.1:$grpc_port
    metrics      http://127.0.0.1:$http_port/metrics
    dashboard    http://127.0.0.1:$http_port/  (sign in with an operator token)
    health       http://127.0.0.1:$http_port/healthz
    data         $var  (gateway.db, pki/, admin.token, fleet/)

  Use the CLI from another shell:
    export TINYFLEET_ADDRESS=127.0.0.1:$grpc_port
    export TINYFLEET_CA=$TINYFLEET_CA
    export TINYFLEET_TOKEN_FILE=$TINYFLEET_TOKEN_FILE
    $cli_bin devices list
    $cli_bin devices show <device-id>
    $cli_bin tokens create --count 1 --ttl 1h

  Press Ctrl-C to stop.

INFO
wait "${pids[0]}"
