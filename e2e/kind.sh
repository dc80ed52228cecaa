#!/usr/bin/env bash
# The end-to-end test on kind, for machines with Docker, kind, Go and
# internet access: a kind cluster, our images built with Docker and loaded
# with `kind load docker-image`, Chaos Mesh installed with its own Helm chart
# (the chart of the version scripts/chaos/build.sh pins, read from the Go
# module cache), a broker on this host that the kind node reaches, then the
# same test as e2e/local.sh. Everything is deleted afterwards.
#
#   e2e/kind.sh                      the vitest test
#   e2e/kind.sh bench [--kills 10]   the same scenario as a measurement
#
# Environment: KIND_CLUSTER (ridepulse-e2e), E2E_ROUNDS, E2E_KILLS, E2E_RATE,
# E2E_KAFKA_PORT (39092).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
mode=${1:-test}
[ $# -gt 0 ] && shift
case "$mode" in test | bench) ;; *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;; esac
for tool in docker kind go node npm java mvn; do
  command -v "$tool" >/dev/null || { echo "kind.sh: '$tool' is required" >&2; exit 1; }
done

cluster=${KIND_CLUSTER:-ridepulse-e2e}
kafka_port=${E2E_KAFKA_PORT:-39092}
kafka_data=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-e2e-kafka.XXXXXX")
kubeconfig=$(mktemp "${TMPDIR:-/tmp}/ridepulse-e2e-kubeconfig.XXXXXX")
log() { echo "kind.sh: $*" >&2; }

cleanup() {
  local rc=$?
  set +e
  bash scripts/kafka/kafka.sh stop --port "$kafka_port" --data "$kafka_data"
  rm -rf "$kafka_data"
  kind delete cluster --name "$cluster"
  rm -f "$kubeconfig"
  exit "$rc"
}
trap cleanup EXIT

RIDEPULSE_SKIP_BROWSER=1 bash scripts/setup.sh
npm run build --silent
kube_bin=$(bash scripts/kube/build.sh)
export E2E_KUBECTL="$kube_bin/kubectl" E2E_HELM="$kube_bin/helm"

version() { node -p "require('./$1/package.json').version"; }
operator_image="ridepulse/operator:$(version operator)"
worker_image="ridepulse/worker:$(version worker)"
docker build -f operator/Dockerfile -t "$operator_image" .
docker build -f worker/Dockerfile -t "$worker_image" .

kind create cluster --name "$cluster" --kubeconfig "$kubeconfig" --wait 180s
export KUBECONFIG=$kubeconfig
kind load docker-image --name "$cluster" "$operator_image" "$worker_image"

# Chaos Mesh as its documentation installs it on kind (containerd runtime).
"$E2E_HELM" upgrade --install chaos-mesh "$(bash scripts/chaos/build.sh --chart)" \
  --namespace chaos-mesh --create-namespace \
  --set chaosDaemon.runtime=containerd --set chaosDaemon.socketPath=/run/containerd/containerd.sock \
  --set dashboard.create=false --wait --timeout 10m

# The kind node is a container on Docker's "kind" network: it reaches this
# host at that network's gateway, and so does this host's own traffic.
gateway=$(docker network inspect kind --format '{{range .IPAM.Config}}{{if .Gateway}}{{.Gateway}} {{end}}{{end}}' | tr ' ' '\n' | grep -v : | head -n 1)
[ -n "$gateway" ] || { log "no IPv4 gateway on Docker's kind network"; exit 1; }
bash scripts/kafka/kafka.sh start --host "$gateway" --port "$kafka_port" --data "$kafka_data" >/dev/null

export E2E_KAFKA_BROKERS="$gateway:$kafka_port" E2E_OPERATOR_IMAGE="$operator_image" E2E_WORKER_IMAGE="$worker_image"
case "$mode" in
  test) npx vitest run --config e2e/vitest.config.ts ;;
  bench) node e2e/dist/run.js "$@" ;;
esac
