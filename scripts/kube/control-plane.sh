#!/usr/bin/env bash
# A real, throwaway Kubernetes control plane on loopback, for tests: etcd,
# kube-apiserver and kube-controller-manager with the controllers a pipeline
# meets (garbage collection, the StatefulSet controller, PVC protection,
# namespace deletion). No scheduler or kubelet: pods are created, owned,
# collected and protected, but none is scheduled or runs; a test binds a pod
# to a node and marks it ready itself.
#
#   control-plane.sh start [--dir DIR] [--port PORT] [--no-controllers]
#       build the binaries if needed (build.sh), start etcd, kube-apiserver and
#       (unless --no-controllers) kube-controller-manager, wait until /readyz
#       answers ok and the controllers run, print the kubeconfig path (last line)
#   control-plane.sh stop  [--dir DIR] [--port PORT]
#       SIGTERM both, SIGKILL after 20 s
#   control-plane.sh env   [--dir DIR] [--port PORT]
#       print KUBECONFIG=<path>
#   control-plane.sh status [--dir DIR] [--port PORT]
#       exit 0 when /readyz answers ok
#
# PORT (default 16443) is the API server's secure port; etcd uses PORT+1
# (clients) and PORT+2 (peers). DIR (default $TMPDIR/ridepulse-kube-PORT)
# holds the certificates, etcd's data, pids, logs and the admin kubeconfig.
# Starting again with the same DIR reuses its certificates and data; use a
# new DIR (or delete it after stop) for a fresh cluster.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

port=16443
dir=""
controllers=1
cmd=${1:-}
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --no-controllers) controllers=0; shift ;;
    *) echo "control-plane.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
case "$port" in '' | *[!0-9]*) echo "control-plane.sh: bad --port '$port'" >&2; exit 2 ;; esac
[ -n "$dir" ] || dir="${TMPDIR:-/tmp}/ridepulse-kube-$port"
etcd_client_port=$((port + 1))
etcd_peer_port=$((port + 2))
pki="$dir/pki"
kubeconfig="$dir/kubeconfig"

log() { echo "control-plane.sh: $*" >&2; }
# shellcheck source=local.sh
. "$here/local.sh"

ready() {
  [ -f "$pki/admin.crt" ] || return 1
  local out
  out=$(curl -fsS --max-time 5 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$port/readyz" 2>/dev/null) || return 1
  [ "$out" = "ok" ]
}

etcd_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$etcd_client_port/health" 2>/dev/null | grep '"health":"true"' >/dev/null
}

make_pki() {
  [ -f "$pki/.complete" ] && return 0
  command -v openssl >/dev/null || { log "openssl is required"; exit 1; }
  log "generating certificates in $pki"
  rm -rf "$pki"
  mkdir -p "$pki"
  chmod 700 "$pki"
  make_ca ridepulse-test-ca
  issue apiserver "/CN=kube-apiserver" serverAuth \
    'IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local'
  issue admin "/O=system:masters/CN=ridepulse-admin" clientAuth
  # The name Kubernetes' default RBAC binds for the controller-manager.
  issue controller-manager "/CN=system:kube-controller-manager" clientAuth
  make_sa_keys
  touch "$pki/.complete"
}

# The controllers that act on what a pipeline owns, each with its own
# service account's rights (as in a real cluster); no HTTPS port of its own.
# Pod GC and node lifecycle are left out: the tests' nodes have no kubelet.
start_controllers() {
  local bin=$1 i
  running_pid kube-controller-manager >/dev/null && return 0
  write_kubeconfig "$dir/controller-manager.kubeconfig" "https://127.0.0.1:$port" ridepulse-test controller-manager controller-manager
  log "starting kube-controller-manager (garbage collector, StatefulSet, PVC protection, namespace, disruption)"
  launch kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$dir/controller-manager.kubeconfig" \
    --secure-port=0 \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$pki/sa.key" \
    --root-ca-file="$pki/ca.crt" \
    --controllers=garbage-collector-controller,statefulset-controller,persistentvolumeclaim-protection-controller,namespace-controller,disruption-controller \
    --concurrent-gc-syncs=5 \
    --profiling=false
  # Started when its StatefulSet controller is: the last of them to sync its informers.
  for ((i = 0; i < 120; i++)); do
    grep -q 'Started controller.*statefulset-controller\|controller="statefulset-controller".*Started\|Starting stateful set controller' "$dir/kube-controller-manager.log" 2>/dev/null && return 0
    launched kube-controller-manager || fail_with_log "kube-controller-manager exited" kube-controller-manager
    sleep 0.5
  done
  fail_with_log "kube-controller-manager did not start its controllers within 60 s" kube-controller-manager
}

start() {
  command -v curl >/dev/null || { log "curl is required"; exit 1; }
  local bin started
  bin=$("$here/build.sh")
  mkdir -p "$dir"
  started=$(date +%s%N)

  if running_pid kube-apiserver >/dev/null && ready; then
    log "already running on 127.0.0.1:$port"
    write_kubeconfig "$kubeconfig" "https://127.0.0.1:$port" ridepulse-test ridepulse-admin admin
    echo "$kubeconfig"
    return 0
  fi
  make_pki
  write_kubeconfig "$kubeconfig" "https://127.0.0.1:$port" ridepulse-test ridepulse-admin admin

  launch_etcd "$bin/etcd" "$etcd_client_port" "$etcd_peer_port"
  local i
  for ((i = 0; i < 300; i++)); do
    etcd_healthy && break
    launched etcd || fail_with_log "etcd exited" etcd
    sleep 0.1
  done
  etcd_healthy || fail_with_log "etcd not healthy after 30 s" etcd

  if ! running_pid kube-apiserver >/dev/null; then
    log "starting kube-apiserver on 127.0.0.1:$port"
    # ServiceAccount admission is off: without a controller-manager no
    # namespace gets its "default" service account, and pods would be refused.
    launch kube-apiserver "$bin/kube-apiserver" \
      --bind-address=127.0.0.1 \
      --advertise-address=127.0.0.1 \
      --secure-port="$port" \
      --etcd-servers="http://127.0.0.1:$etcd_client_port" \
      --cert-dir="$pki" \
      --tls-cert-file="$pki/apiserver.crt" \
      --tls-private-key-file="$pki/apiserver.key" \
      --client-ca-file="$pki/ca.crt" \
      --service-cluster-ip-range=10.0.0.0/24 \
      --authorization-mode=RBAC \
      --service-account-issuer=https://kubernetes.default.svc \
      --service-account-key-file="$pki/sa.pub" \
      --service-account-signing-key-file="$pki/sa.key" \
      --disable-admission-plugins=ServiceAccount \
      --enable-priority-and-fairness=false \
      --allow-privileged=true \
      --profiling=false \
      ${KUBE_APISERVER_EXTRA_ARGS:-}
  fi
  for ((i = 0; i < 120; i++)); do
    ready && break
    launched kube-apiserver || fail_with_log "kube-apiserver exited" kube-apiserver
    sleep 0.5
  done
  ready || fail_with_log "kube-apiserver not ready after 60 s" kube-apiserver
  [ "$controllers" = 1 ] && start_controllers "$bin"
  log "ready in $((($(date +%s%N) - started) / 1000000)) ms (logs and pids in $dir)"
  echo "$kubeconfig"
}

case "$cmd" in
  start) start ;;
  stop)
    stop_one kube-controller-manager
    stop_one kube-apiserver
    stop_one etcd
    ;;
  env) echo "KUBECONFIG=$kubeconfig" ;;
  status) ready ;;
  *)
    echo "usage: control-plane.sh start|stop|env|status [--dir DIR] [--port PORT] [--no-controllers]" >&2
    exit 2
    ;;
esac
