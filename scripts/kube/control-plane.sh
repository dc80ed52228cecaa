#!/usr/bin/env bash
# A real, throwaway Kubernetes API server (etcd + kube-apiserver) on loopback,
# for tests. No controller-manager, scheduler or kubelet: objects are stored
# and served, but nothing reconciles them (no pods run, namespaces deleted stay
# Terminating, no service-account tokens are minted).
#
#   control-plane.sh start [--dir DIR] [--port PORT]
#       build the binaries if needed (build.sh), start etcd and kube-apiserver,
#       wait until /readyz answers ok, print the kubeconfig path (last line)
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
cmd=${1:-}
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
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

# pid of a component we started, if it is still that process.
running_pid() {
  local name=$1 pidfile="$dir/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: the process must be our binary.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name" || return 1
  echo "$pid"
}

ready() {
  [ -f "$pki/admin.crt" ] || return 1
  local out
  out=$(curl -fsS --max-time 5 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$port/readyz" 2>/dev/null) || return 1
  [ "$out" = "ok" ]
}

etcd_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$etcd_client_port/health" 2>/dev/null | grep -q '"health":"true"'
}

# Sign a leaf certificate with the test CA. $1 name, $2 subject, $3 extensions.
issue() {
  local name=$1 subj=$2 ext=$3
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" -subj "$subj" 2>/dev/null
  printf '%s\n' "$ext" >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

make_pki() {
  [ -f "$pki/.complete" ] && return 0
  command -v openssl >/dev/null || { log "openssl is required"; exit 1; }
  log "generating certificates in $pki"
  rm -rf "$pki"
  mkdir -p "$pki"
  chmod 700 "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" -subj "/CN=ridepulse-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  issue apiserver "/CN=kube-apiserver" "$(printf '%s\n' \
    'basicConstraints=CA:FALSE' \
    'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' \
    'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local')"
  issue admin "/O=system:masters/CN=ridepulse-admin" "$(printf '%s\n' \
    'basicConstraints=CA:FALSE' \
    'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=clientAuth')"
  # Service-account token signing key pair.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  touch "$pki/.complete"
}

write_kubeconfig() {
  local tmp="$kubeconfig.tmp"
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ridepulse-test
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: ridepulse-admin
  user:
    client-certificate-data: $(base64 -w0 <"$pki/admin.crt")
    client-key-data: $(base64 -w0 <"$pki/admin.key")
contexts:
- name: ridepulse-test
  context:
    cluster: ridepulse-test
    user: ridepulse-admin
    namespace: default
current-context: ridepulse-test
EOF
  chmod 600 "$tmp"
  mv -f "$tmp" "$kubeconfig"
}

# Start a binary in its own session; pid in DIR/<name>.pid, log in DIR/<name>.log.
launch() {
  local name=$1; shift
  # setsid execs in place (this background child is not a group leader), so
  # $! is the component's own pid.
  setsid "$@" </dev/null >>"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

fail_with_log() {
  log "$1; last lines of $dir/$2.log:"
  tail -n 30 "$dir/$2.log" >&2 || true
  exit 1
}

start() {
  command -v curl >/dev/null || { log "curl is required"; exit 1; }
  local bin started
  bin=$("$here/build.sh")
  mkdir -p "$dir"
  started=$(date +%s%N)

  if running_pid kube-apiserver >/dev/null && ready; then
    log "already running on 127.0.0.1:$port"
    write_kubeconfig
    echo "$kubeconfig"
    return 0
  fi
  make_pki
  write_kubeconfig

  if ! running_pid etcd >/dev/null; then
    log "starting etcd on 127.0.0.1:$etcd_client_port (peer $etcd_peer_port)"
    mkdir -p "$dir/etcd-data"
    chmod 700 "$dir/etcd-data"
    launch etcd "$bin/etcd" \
      --name ridepulse \
      --data-dir "$dir/etcd-data" \
      --listen-client-urls "http://127.0.0.1:$etcd_client_port" \
      --advertise-client-urls "http://127.0.0.1:$etcd_client_port" \
      --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
      --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
      --initial-cluster "ridepulse=http://127.0.0.1:$etcd_peer_port" \
      --unsafe-no-fsync \
      --log-level warn
  fi
  local i
  for ((i = 0; i < 300; i++)); do
    etcd_healthy && break
    running_pid etcd >/dev/null || fail_with_log "etcd exited" etcd
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
    running_pid kube-apiserver >/dev/null || fail_with_log "kube-apiserver exited" kube-apiserver
    sleep 0.5
  done
  ready || fail_with_log "kube-apiserver not ready after 60 s" kube-apiserver
  log "ready in $((($(date +%s%N) - started) / 1000000)) ms (logs and pids in $dir)"
  echo "$kubeconfig"
}

stop_one() {
  local name=$1 pid i
  pid=$(running_pid "$name") || { rm -f "$dir/$name.pid"; return 0; }
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop after 20 s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/$name.pid"
}

case "$cmd" in
  start) start ;;
  stop)
    stop_one kube-apiserver
    stop_one etcd
    ;;
  env) echo "KUBECONFIG=$kubeconfig" ;;
  status) ready ;;
  *)
    echo "usage: control-plane.sh start|stop|env|status [--dir DIR] [--port PORT]" >&2
    exit 2
    ;;
esac
