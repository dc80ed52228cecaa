#!/usr/bin/env bash
# Chaos Mesh's controller as a process on this host, against the cluster of
# $KUBECONFIG: enough for PodChaos pod-kill, which the controller carries out
# alone through the API server (no chaos-daemon on the nodes).
#
#   controller.sh start   build if needed (scripts/chaos/build.sh), apply
#                         Chaos Mesh's CRDs from the Go module cache, start the
#                         controller, wait until its metrics port answers
#   controller.sh stop    stop the controller; the CRDs stay (`crds-delete`)
#   controller.sh crds-delete
#                         delete Chaos Mesh's CRDs (and every chaos object)
#   controller.sh status  exit 0 while the controller runs
#
# Chaos Mesh's admission webhooks (defaults and validation of chaos objects)
# are turned off: registering them would need the API server to reach this
# host's port with a certificate it trusts, which a Helm install arranges with
# a Service; the chaos objects applied here spell out every field. The
# controller-runtime webhook server still starts (it serves an authentication
# hook unconditionally), so it gets a throwaway self-signed certificate and a
# loopback address. Leader election is off: one controller.
#
# State (pid, log, certificate) in $RIDEPULSE_CHAOS_DIR, default
# $TMPDIR/ridepulse-chaos. Ports (loopback): metrics 34460, webhook 34461.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dir=${RIDEPULSE_CHAOS_DIR:-${TMPDIR:-/tmp}/ridepulse-chaos}
metrics_port=${CHAOS_METRICS_PORT:-34460}
webhook_port=${CHAOS_WEBHOOK_PORT:-34461}

log() { echo "chaos/controller.sh: $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=../kube/local.sh
. "$repo/scripts/kube/local.sh"

kubectl() { "$(bash "$repo/scripts/kube/build.sh")/kubectl" "$@"; }

start() {
  [ -n "${KUBECONFIG:-}" ] || die "KUBECONFIG must name the cluster's kubeconfig"
  local bin crds t0=$SECONDS
  bin=$(bash "$here/build.sh")
  crds=$(bash "$here/build.sh" --crds)
  mkdir -p "$dir"
  # Server-side: some of these CRDs are too large for the annotation that
  # client-side apply keeps.
  kubectl apply --server-side --force-conflicts --field-manager=ridepulse-chaos -f "$crds" >/dev/null
  kubectl wait --for=condition=Established --timeout=60s -f "$crds" >/dev/null
  if pid=$(running_pid chaos-controller-manager); then
    log "already running (pid $pid)"
    return 0
  fi
  if [ ! -f "$dir/certs/tls.crt" ]; then
    mkdir -p "$dir/certs"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -keyout "$dir/certs/tls.key" -out "$dir/certs/tls.crt" -subj "/CN=chaos-mesh-webhook" \
      -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
  fi
  # nice: the test's own pods and the broker share the machine with it.
  launch chaos-controller-manager env \
    KUBECONFIG="$KUBECONFIG" \
    ENABLE_LEADER_ELECTION=false \
    ENABLED_WEBHOOKS=none \
    SECURITY_MODE=false \
    CERTS_DIR="$dir/certs" \
    WEBHOOK_HOST=127.0.0.1 WEBHOOK_PORT="$webhook_port" \
    METRICS_HOST=127.0.0.1 METRICS_PORT="$metrics_port" \
    nice -n 19 "$bin/chaos-controller-manager"
  local i
  for ((i = 0; i < 300; i++)); do
    curl -fsS --max-time 1 "http://127.0.0.1:$metrics_port/metrics" >/dev/null 2>&1 && break
    launched chaos-controller-manager || fail_with_log "chaos-controller-manager exited" chaos-controller-manager
    sleep 0.2
  done
  launched chaos-controller-manager || fail_with_log "chaos-controller-manager exited" chaos-controller-manager
  log "chaos-controller-manager running (pid $(cat "$dir/chaos-controller-manager.pid"), log $dir/chaos-controller-manager.log) after $((SECONDS - t0)) s"
}

stop() {
  [ -d "$dir" ] || return 0
  local pid i
  if pid=$(running_pid chaos-controller-manager); then
    # It keeps nothing of its own (no lease; the chaos objects live in the
    # API server), yet on SIGTERM it sat out its manager's graceful shutdown
    # for over 20 s: give it 3 s, then SIGKILL.
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
    log "stopped chaos-controller-manager (pid $pid)"
  fi
  rm -rf "$dir"
}

crds_delete() {
  [ -n "${KUBECONFIG:-}" ] || die "KUBECONFIG must name the cluster's kubeconfig"
  kubectl delete --ignore-not-found -f "$(bash "$here/build.sh" --crds)" >/dev/null
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  crds-delete) crds_delete ;;
  status) running_pid chaos-controller-manager >/dev/null ;;
  *) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
