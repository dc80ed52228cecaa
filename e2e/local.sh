#!/usr/bin/env bash
# The end-to-end test on this host, with nothing but the project's scripts:
# builds what is missing (cached outside the repository), starts the
# single-node cluster, loads our images into it, runs a broker the pods
# reach, runs Chaos Mesh's controller, then the test, and tears all of it
# down again, whatever the outcome.
#
#   e2e/local.sh                      the vitest test (E2E_KILLS kills per round, default 3)
#   e2e/local.sh bench [--kills 10]   the same scenario as a measurement (npm run e2e)
#   e2e/local.sh standby [--keys 10000,100000,1000000 --kills 50 --freeze-kills 5 --rate 1000]
#                                     standby failover at several state sizes, results in bench/results/
#
# Needs root (the cluster). Environment: E2E_ROUNDS (chaos-mesh,kubectl),
# E2E_KILLS, E2E_RATE, E2E_KAFKA_PORT (39092). Prints how long each step took.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
mode=${1:-test}
[ $# -gt 0 ] && shift
case "$mode" in test | bench | standby) ;; *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "local.sh: needs root (the cluster)" >&2; exit 1; }
# The test side runs on the supported Node.js (scripts/node.sh).
PATH="$(bash scripts/node.sh):$PATH"
export PATH

# The node's address (scripts/cluster/cluster.sh): pods reach the host there.
node_ip=10.244.0.1
kafka_port=${E2E_KAFKA_PORT:-39092}
kafka_data=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-e2e-kafka.XXXXXX")
rounds=${E2E_ROUNDS:-chaos-mesh,kubectl}
timings=()
log() { echo "local.sh: $*" >&2; }
step() {
  local what=$1 t=$SECONDS; shift
  log "$what"
  "$@"
  timings+=("$what $((SECONDS - t)) s")
}

cleanup() {
  local rc=$?
  set +e
  log "tearing down"
  bash scripts/chaos/controller.sh stop
  bash scripts/kafka/kafka.sh stop --port "$kafka_port" --data "$kafka_data"
  rm -rf "$kafka_data"
  bash scripts/cluster/cluster.sh down
  # The image build may have started a private Docker engine.
  bash scripts/images/docker.sh stop
  log "steps: $(printf '%s; ' "${timings[@]}")total $((SECONDS - start)) s"
  exit "$rc"
}
start=$SECONDS
trap cleanup EXIT

step "install and build" sh -c 'RIDEPULSE_SKIP_BROWSER=1 bash scripts/setup.sh >&2 && npm run build --silent >&2'
build_images() {
  bash scripts/images/build.sh >&2
  # The engine is needed no more: its memory goes back to the cluster.
  bash scripts/images/docker.sh stop
}
step "images" build_images
cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
version() { node -p "require('./$1/package.json').version"; }
tars=("$cache_root/images/ridepulse-operator-$(version operator).tar" "$cache_root/images/ridepulse-worker-$(version worker).tar")
if [[ "$rounds" == *chaos-mesh* ]]; then step "chaos mesh build" sh -c 'bash scripts/chaos/build.sh >/dev/null'; fi
# The Prometheus that scrapes the run (e2e/src/prometheus.ts).
step "prometheus build" sh -c 'bash scripts/prometheus/build.sh >/dev/null'

up() { kubeconfig=$(bash scripts/cluster/cluster.sh up | tail -n 1); }
step "cluster up" up
export KUBECONFIG=$kubeconfig
step "images into the node" bash scripts/cluster/cluster.sh load "${tars[@]}"
step "kafka" sh -c "bash scripts/kafka/kafka.sh start --host $node_ip --port $kafka_port --data '$kafka_data' >/dev/null"
if [[ "$rounds" == *chaos-mesh* ]]; then step "chaos mesh controller" bash scripts/chaos/controller.sh start; fi

operator_image="ridepulse/operator:$(version operator)"
worker_image="ridepulse/worker:$(version worker)"
export E2E_KAFKA_BROKERS="$node_ip:$kafka_port" E2E_ROUNDS="$rounds" E2E_OPERATOR_IMAGE="$operator_image" E2E_WORKER_IMAGE="$worker_image"
case "$mode" in
  test) step "e2e test" npx vitest run --config e2e/vitest.config.ts ;;
  bench) step "e2e bench" node e2e/dist/run.js "$@" ;;
  # The verifier holds every event of a size in memory: millions at the default rate.
  standby) step "standby bench" node --max-old-space-size=16384 e2e/dist/standby-bench.js "$@" ;;
esac
