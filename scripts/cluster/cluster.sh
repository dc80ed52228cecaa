#!/usr/bin/env bash
# A single-node Kubernetes cluster on this host, assembled from upstream
# parts: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet and kube-proxy of the pinned release (built from source by
# scripts/kube/build.sh and scripts/cluster/build.sh), Debian's containerd,
# runc and CNI plugins, locally assembled images (scripts/cluster/image.sh)
# and a local-path provisioner behind a default StorageClass.
#
#   cluster.sh up      build what is missing, start everything, wait until the
#                      node is Ready; prints the kubeconfig path (last line)
#   cluster.sh down    stop everything and undo every change to the host
#   cluster.sh status  print each component's state; exit 0 when the node is Ready
#   cluster.sh env     print KUBECONFIG=<path>
#   cluster.sh load TAR...
#                      import image tarballs (docker save or OCI layouts) into
#                      the node's runtime, where pods find them without a pull
#
# Needs root (kubelet, containerd and CNI change mounts, cgroups, network
# devices and iptables). Everything lives in one directory (default
# $TMPDIR/ridepulse-cluster, or $RIDEPULSE_CLUSTER_DIR): certificates,
# kubeconfigs, etcd's data, containerd's root and state, the kubelet's root,
# pod logs, volumes, pids and logs. `down` removes it.
#
# Addresses: the node's IP is the gateway of the pod bridge (10.244.0.1), a
# device this script creates, so the cluster does not depend on how the host
# is networked and pods reach the host (the API server, a Kafka broker) there.
# Ports, all above the NodePort range: API server 34443 (every address),
# etcd 34444/34445, kubelet 34446 (node IP), the rest on 127.0.0.1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

dir=${RIDEPULSE_CLUSTER_DIR:-${TMPDIR:-/tmp}/ridepulse-cluster}
node_name=ridepulse-node
bridge=rp-cni0
pod_cidr=10.244.0.0/24
node_ip=10.244.0.1
service_cidr=10.96.0.0/24
service_ip=10.96.0.1
apiserver_port=34443
etcd_client_port=34444
etcd_peer_port=34445
kubelet_port=34446
kubelet_healthz_port=34447
controller_manager_port=34448
scheduler_port=34449
proxy_metrics_port=34450
proxy_healthz_port=34451

pki="$dir/pki"
kubeconfig="$dir/admin.kubeconfig"
containerd_dir="$dir/containerd"
sock="$containerd_dir/containerd.sock"
# Kernel settings the kubelet and the bridge need; their values before `up`
# are kept in $state_file and restored by `down`. The kubelet sets the
# vm.* and kernel.* ones itself (unless told to fail instead).
sysctls=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables vm.overcommit_memory vm.panic_on_oom
  kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
state_file="$dir/host-sysctls"

log() { echo "cluster.sh: $*" >&2; }
# shellcheck source=../kube/local.sh
. "$here/../kube/local.sh"
die() { log "$*"; exit 1; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# --- processes ------------------------------------------------------------------

# wait_for NAME SECONDS CHECK...: poll CHECK every 0.2 s while NAME runs.
wait_for() {
  local name=$1 seconds=$2 i; shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" && return 0
    launched "$name" || fail_with_log "$name exited" "$name"
    sleep 0.2
  done
  fail_with_log "$name not ready after $seconds s" "$name"
}

# --- host prerequisites ---------------------------------------------------------

install_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  # image.sh wants the static busybox (the plain one needs a libc in the image).
  dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep 'ok installed' >/dev/null || missing+=(busybox-static)
  [ ${#missing[@]} -gt 0 ] || return 0
  command -v apt-get >/dev/null || die "missing: ${missing[*]} (Debian packages)"
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Host paths some parts use whatever they are told: the kubelet's device
# plugin socket and container log links, libcni's result cache, libmount's
# table, containerd 1.6's shim sockets.
host_paths=(/var/lib/kubelet /var/log/containers /var/lib/cni /run/mount /run/containerd /run/netns
  /etc/cni /usr/libexec/kubernetes)

# Record, once per cluster, what `down` must put back: the sysctls' values,
# which of the host paths and which nftables tables did not exist yet.
save_host_state() {
  [ -f "$state_file" ] && return 0
  local k p
  for k in "${sysctls[@]}"; do echo "$k=$(sysctl -n "$k")"; done >"$state_file.tmp"
  for p in "${host_paths[@]}"; do [ -e "$p" ] || echo "$p"; done >"$dir/host-absent-paths"
  if command -v nft >/dev/null; then nft list tables >"$dir/host-nft-tables"; fi
  mv "$state_file.tmp" "$state_file"
}

restore_host_state() {
  [ -f "$state_file" ] || return 0
  local line p
  while read -r line; do sysctl -qw "$line" || log "could not restore $line"; done <"$state_file"

  # Our files in shared places, then the places themselves if we made them.
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock
  rm -f /var/lib/cni/results/ridepulse-* 2>/dev/null || true
  if [ -d /var/log/containers ]; then
    find /var/log/containers -maxdepth 1 -type l -lname "$dir/*" -delete
  fi
  while read -r p; do
    [ -d "$p" ] || continue
    find "$p" -depth -type d -empty -delete 2>/dev/null || true
    [ -e "$p" ] && log "left $p in place: something else wrote to it"
  done <"$dir/host-absent-paths"

  # iptables-nft makes the standard tables on first use; drop the ones that
  # were not there before and hold no rule now.
  if [ -f "$dir/host-nft-tables" ] && command -v nft >/dev/null; then
    local family table
    while read -r _ family table; do
      grep -qx "table $family $table" "$dir/host-nft-tables" && continue
      # grep reads to the end (no -q): an early exit would fail the pipe.
      nft -j list table "$family" "$table" | grep '"rule"' >/dev/null && continue
      nft delete table "$family" "$table"
    done < <(nft list tables)
  fi
  rm -f "$state_file"
}

setup_network() {
  sysctl -qw net.ipv4.ip_forward=1
  # Pod-to-service traffic between two pods on the bridge must cross iptables.
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
  fi
  # Not `ip | grep -q`: grep's early exit fails the pipe under pipefail.
  local addrs; addrs=$(ip -4 -o addr show dev "$bridge")
  [[ "$addrs" == *" $node_ip/"* ]] || ip addr add "$node_ip/24" dev "$bridge"
  ip link set "$bridge" up
  # A Docker engine on the host sets the FORWARD policy to DROP, which would
  # cut pods off from each other (bridged traffic crosses iptables) and from
  # the outside: accept what comes from or goes to the pod network.
  if ! iptables -S RIDEPULSE-FORWARD >/dev/null 2>&1; then
    iptables -N RIDEPULSE-FORWARD
    iptables -A RIDEPULSE-FORWARD -s "$pod_cidr" -j ACCEPT
    iptables -A RIDEPULSE-FORWARD -d "$pod_cidr" -j ACCEPT
  fi
  iptables -C FORWARD -j RIDEPULSE-FORWARD 2>/dev/null || iptables -I FORWARD -j RIDEPULSE-FORWARD
}

# --- certificates and kubeconfigs ---------------------------------------------------

make_pki() {
  [ -f "$pki/.complete" ] && return 0
  log "generating certificates in $pki"
  rm -rf "$pki"
  mkdir -p "$pki"
  chmod 700 "$pki"
  make_ca ridepulse-cluster-ca
  issue apiserver "/CN=kube-apiserver" serverAuth \
    "IP:127.0.0.1,IP:$node_ip,IP:$service_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  issue kubelet-server "/CN=$node_name" serverAuth "IP:$node_ip,IP:127.0.0.1,DNS:$node_name"
  # Client identities. The user names are the ones Kubernetes' default RBAC
  # policy binds (system:kube-controller-manager, system:kube-scheduler,
  # system:kube-proxy, system:node:<name> in system:nodes for the Node
  # authorizer); the API server's own client for kubelets, the admin and
  # the provisioner's get their rights from groups or our RBAC.
  issue admin "/O=system:masters/CN=ridepulse-admin" clientAuth
  issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  issue controller-manager "/CN=system:kube-controller-manager" clientAuth
  issue scheduler "/CN=system:kube-scheduler" clientAuth
  issue kubelet "/O=system:nodes/CN=system:node:$node_name" clientAuth
  issue kube-proxy "/CN=system:kube-proxy" clientAuth
  issue local-path "/CN=ridepulse:local-path-provisioner" clientAuth
  make_sa_keys
  touch "$pki/.complete"
}

# kubeconfig_for FILE CERT: a kubeconfig for the identity in pki/CERT.*
kubeconfig_for() { write_kubeconfig "$1" "https://127.0.0.1:$apiserver_port" ridepulse "$2" "$2"; }

# --- readiness checks ------------------------------------------------------------

etcd_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$etcd_client_port/health" 2>/dev/null | grep '"health":"true"' >/dev/null
}

https_ok() {
  local out
  out=$(curl -fsS --max-time 5 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$1" 2>/dev/null) || return 1
  [ "$out" = ok ]
}
apiserver_ready() { https_ok "https://127.0.0.1:$apiserver_port/readyz"; }

containerd_ready() { [ -S "$sock" ] && ctr --address "$sock" version >/dev/null 2>&1; }

kubectl() { "$kube_bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

node_ready() {
  [ "$(kubectl get node "$node_name" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

default_sa_exists() { kubectl get serviceaccount default -n default >/dev/null 2>&1; }

# --- configuration files -----------------------------------------------------------

# Lowering a process's oom_score_adj needs CAP_SYS_RESOURCE. Where root runs
# without it (some sandboxes drop it), runc fails to start any pod ("failed
# to update /proc/self/oom_score_adj: Permission denied") unless containerd
# keeps every score at or above its own.
restrict_oom_score_adj() {
  local eff
  eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
  if (((16#$eff >> 24) & 1)); then echo false; else echo true; fi
}

write_containerd_config() {
  mkdir -p "$containerd_dir" "$dir/cni/net.d"
  cat >"$containerd_dir/config.toml" <<EOF
version = 2
# Everything under the cluster directory, so that it never meets another
# containerd on the host and \`down\` can remove it all.
root = "$containerd_dir/root"
state = "$containerd_dir/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$containerd_dir/opt"

[plugins."io.containerd.grpc.v1.cri"]
  # Assembled locally and imported: no registry is ever asked for it.
  sandbox_image = "$pause_ref"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = $(restrict_oom_score_adj)
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # No systemd on such hosts: cgroupfs, as the kubelet is told too.
        SystemdCgroup = false
        Root = "$containerd_dir/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
EOF
}

write_cni_config() {
  cat >"$dir/cni/net.d/10-ridepulse.conflist.tmp" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "ridepulse",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$dir/cni/ipam",
        "ranges": [[{ "subnet": "$pod_cidr", "gateway": "$node_ip" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  mv -f "$dir/cni/net.d/10-ridepulse.conflist.tmp" "$dir/cni/net.d/10-ridepulse.conflist"
}

write_kubelet_config() {
  mkdir -p "$dir/kubelet" "$dir/pod-logs"
  cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz_port
tlsCertFile: $pki/kubelet-server.crt
tlsPrivateKeyFile: $pki/kubelet-server.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$sock
podLogsDir: $dir/pod-logs
volumePluginDir: $dir/kubelet/volume-plugins
clusterDomain: cluster.local
failSwapOn: false
# Graceful node shutdown needs systemd-logind.
shutdownGracePeriod: 0s
# The images were imported, not pulled: garbage-collecting one would lose it
# for good, so image GC never starts. Eviction thresholds are absolute so a
# large, busy disk does not evict pods.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1Gi
  imagefs.available: 1Gi
EOF
}

addons_manifest() {
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata: { name: local-path-storage }
---
# The provisioner runs on the host with its own client certificate; the pods
# it starts to make and remove volume directories run under this account.
apiVersion: v1
kind: ServiceAccount
metadata: { name: local-path-provisioner, namespace: local-path-storage }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: ridepulse:local-path-provisioner }
rules:
- apiGroups: [""]
  resources: [nodes, persistentvolumeclaims, configmaps, pods, pods/log]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: ridepulse:local-path-provisioner }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "ridepulse:local-path-provisioner" }
subjects:
- { apiGroup: rbac.authorization.k8s.io, kind: User, name: "ridepulse:local-path-provisioner" }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: local-path-provisioner, namespace: local-path-storage }
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, patch, update, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: local-path-provisioner, namespace: local-path-storage }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: local-path-provisioner }
subjects:
- { apiGroup: rbac.authorization.k8s.io, kind: User, name: "ridepulse:local-path-provisioner" }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: local-path-config, namespace: local-path-storage }
data:
  config.json: |-
    {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["$dir/volumes"]}]}
  # Run in a pod of the template below, with the volume's directory in VOL_DIR.
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p "\$VOL_DIR"
  teardown: |-
    #!/bin/sh
    set -eu
    rm -rf "\$VOL_DIR"
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata:
      name: volume-dir
    spec:
      containers:
      - name: volume-dir
        image: $busybox_ref
        imagePullPolicy: Never
---
# Named and marked default as on kind, so charts that leave the class out
# get a local volume here too.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: { storageclass.kubernetes.io/is-default-class: "true" }
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
EOF
}

# --- up ------------------------------------------------------------------------------

up() {
  [ "$(id -u)" = 0 ] || die "needs root (kubelet, containerd and CNI manage mounts, cgroups and network devices)"
  local started; started=$(date +%s%N)
  install_packages
  kube_bin=$(bash "$repo/scripts/kube/build.sh")
  node_bin=$(bash "$here/build.sh")
  local pause busybox pause_tar busybox_tar
  pause=$(bash "$here/image.sh" pause)
  busybox=$(bash "$here/image.sh" busybox)
  pause_ref=${pause% *} pause_tar=${pause#* }
  busybox_ref=${busybox% *} busybox_tar=${busybox#* }
  log "binaries and images ready after $(ms_since "$started") ms"

  # Kernels that build bridge netfilter as a module show no net.bridge.*
  # settings until it is loaded.
  if [ ! -d /proc/sys/net/bridge ]; then
    modprobe br_netfilter 2>/dev/null || die "net.bridge.* missing: load the br_netfilter module"
  fi
  mkdir -p "$dir"
  chmod 700 "$dir"
  save_host_state
  setup_network
  make_pki
  kubeconfig_for "$kubeconfig" admin
  kubeconfig_for "$dir/controller-manager.kubeconfig" controller-manager
  kubeconfig_for "$dir/scheduler.kubeconfig" scheduler
  kubeconfig_for "$dir/kubelet.kubeconfig" kubelet
  kubeconfig_for "$dir/kube-proxy.kubeconfig" kube-proxy
  kubeconfig_for "$dir/local-path.kubeconfig" local-path

  launch_etcd "$kube_bin/etcd" "$etcd_client_port" "$etcd_peer_port"

  # containerd does not depend on the control plane: start it meanwhile.
  write_containerd_config
  write_cni_config
  if ! running_pid containerd containerd >/dev/null; then
    log "starting containerd ($sock)"
    launch containerd containerd --config "$containerd_dir/config.toml"
  fi
  wait_for etcd 30 etcd_healthy

  if ! running_pid kube-apiserver "$kube_bin/kube-apiserver" >/dev/null; then
    log "starting kube-apiserver on port $apiserver_port"
    # Every address: pods reach it through the kubernetes Service at the node
    # IP, the host's users at 127.0.0.1.
    launch kube-apiserver "$kube_bin/kube-apiserver" \
      --bind-address=0.0.0.0 \
      --advertise-address="$node_ip" \
      --secure-port="$apiserver_port" \
      --etcd-servers="http://127.0.0.1:$etcd_client_port" \
      --cert-dir="$pki" \
      --tls-cert-file="$pki/apiserver.crt" \
      --tls-private-key-file="$pki/apiserver.key" \
      --client-ca-file="$pki/ca.crt" \
      --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
      --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
      --kubelet-certificate-authority="$pki/ca.crt" \
      --kubelet-preferred-address-types=InternalIP \
      --service-cluster-ip-range="$service_cidr" \
      --authorization-mode=Node,RBAC \
      --enable-admission-plugins=NodeRestriction \
      --service-account-issuer=https://kubernetes.default.svc.cluster.local \
      --service-account-key-file="$pki/sa.pub" \
      --service-account-signing-key-file="$pki/sa.key" \
      --allow-privileged=true \
      --profiling=false
  fi
  wait_for containerd 30 containerd_ready
  # Idempotent: importing the same tarball again only re-points the name.
  ctr --address "$sock" -n k8s.io images import "$pause_tar" >/dev/null
  ctr --address "$sock" -n k8s.io images import "$busybox_tar" >/dev/null
  wait_for kube-apiserver 60 apiserver_ready
  log "API server ready after $(ms_since "$started") ms"

  if ! running_pid kube-controller-manager "$node_bin/kube-controller-manager" >/dev/null; then
    log "starting kube-controller-manager and kube-scheduler"
    launch kube-controller-manager "$node_bin/kube-controller-manager" \
      --kubeconfig="$dir/controller-manager.kubeconfig" \
      --authentication-kubeconfig="$dir/controller-manager.kubeconfig" \
      --authorization-kubeconfig="$dir/controller-manager.kubeconfig" \
      --bind-address=127.0.0.1 \
      --secure-port="$controller_manager_port" \
      --cert-dir="$dir/controller-manager-certs" \
      --leader-elect=false \
      --use-service-account-credentials=true \
      --service-account-private-key-file="$pki/sa.key" \
      --root-ca-file="$pki/ca.crt" \
      --cluster-signing-cert-file="$pki/ca.crt" \
      --cluster-signing-key-file="$pki/ca.key" \
      --cluster-name=ridepulse \
      --flex-volume-plugin-dir="$dir/kubelet/volume-plugins" \
      --profiling=false
  fi
  if ! running_pid kube-scheduler "$node_bin/kube-scheduler" >/dev/null; then
    launch kube-scheduler "$node_bin/kube-scheduler" \
      --kubeconfig="$dir/scheduler.kubeconfig" \
      --authentication-kubeconfig="$dir/scheduler.kubeconfig" \
      --authorization-kubeconfig="$dir/scheduler.kubeconfig" \
      --bind-address=127.0.0.1 \
      --secure-port="$scheduler_port" \
      --cert-dir="$dir/scheduler-certs" \
      --leader-elect=false \
      --profiling=false
  fi

  write_kubelet_config
  if ! running_pid kubelet "$node_bin/kubelet" >/dev/null; then
    log "starting kubelet ($node_name, $node_ip:$kubelet_port)"
    # --pod-infra-container-image only keeps image GC off the sandbox image.
    launch kubelet "$node_bin/kubelet" \
      --config="$dir/kubelet.yaml" \
      --kubeconfig="$dir/kubelet.kubeconfig" \
      --root-dir="$dir/kubelet" \
      --hostname-override="$node_name" \
      --node-ip="$node_ip" \
      --pod-infra-container-image="$pause_ref"
  fi
  if ! running_pid kube-proxy "$node_bin/kube-proxy" >/dev/null; then
    log "starting kube-proxy"
    # The conntrack flags at 0 leave the host's conntrack settings alone;
    # no localhost NodePorts, so route_localnet stays off; NodePorts only on
    # the node IP, not on the host's other interfaces.
    launch kube-proxy "$node_bin/kube-proxy" \
      --kubeconfig="$dir/kube-proxy.kubeconfig" \
      --hostname-override="$node_name" \
      --proxy-mode=iptables \
      --cluster-cidr="$pod_cidr" \
      --metrics-bind-address="127.0.0.1:$proxy_metrics_port" \
      --healthz-bind-address="127.0.0.1:$proxy_healthz_port" \
      --conntrack-max-per-core=0 \
      --conntrack-tcp-timeout-established=0 \
      --conntrack-tcp-timeout-close-wait=0 \
      --iptables-localhost-nodeports=false \
      --nodeport-addresses=primary
  fi

  addons_manifest | kubectl apply --server-side --field-manager=ridepulse-cluster -f - >/dev/null
  if ! running_pid local-path-provisioner "$node_bin/local-path-provisioner" >/dev/null; then
    log "starting local-path-provisioner (volumes in $dir/volumes)"
    mkdir -p "$dir/volumes"
    launch local-path-provisioner "$node_bin/local-path-provisioner" start \
      --kubeconfig "$dir/local-path.kubeconfig" \
      --namespace local-path-storage \
      --service-account-name local-path-provisioner \
      --provisioner-name rancher.io/local-path
  fi

  wait_for kubelet 120 node_ready
  # Pods are refused until the controller-manager gives the namespace its
  # default service account.
  wait_for kube-controller-manager 60 default_sa_exists
  log "node $node_name Ready; up in $(ms_since "$started") ms (logs and pids in $dir)"
  echo "$kubeconfig"
}

# --- down ------------------------------------------------------------------------------

# Remove the iptables rules and chains the kubelet, kube-proxy, the CNI
# plugins and setup_network made: chains named KUBE-*, CNI-* and
# RIDEPULSE-*, and the jumps to them.
clean_iptables() {
  local tool table line chain
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$tool-save" -t "$table" >/dev/null 2>&1 || continue
      while read -r line; do
        eval "$tool -t $table -D ${line#-A }" 2>/dev/null || true
      done < <("$tool-save" -t "$table" | grep -E '^-A ' | grep -vE '^-A (KUBE|CNI|RIDEPULSE)-' | grep -E -- '-j (KUBE|CNI|RIDEPULSE)-')
      for chain in $("$tool-save" -t "$table" | sed -n 's/^:\(\(KUBE\|CNI\|RIDEPULSE\)-[^ ]*\) .*/\1/p'); do
        "$tool" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$tool-save" -t "$table" | sed -n 's/^:\(\(KUBE\|CNI\|RIDEPULSE\)-[^ ]*\) .*/\1/p'); do
        "$tool" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# The QoS and pod cgroups the kubelet made under every v1 hierarchy (only
# empty directories can go, deepest first).
clean_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ -d "$d" ] && log "could not remove $d"
  done
  return 0
}

# Shims outlive containerd; ours are the ones started with our socket.
kill_our_shims() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -- "-address $sock " >/dev/null || continue
    log "killing leftover shim ${p#/proc/}"
    kill -KILL "${p#/proc/}" 2>/dev/null || true
  done
}

down() {
  [ "$(id -u)" = 0 ] || die "needs root"
  [ -d "$dir" ] || { log "nothing to stop ($dir does not exist)"; return 0; }
  local kube_bin node_bin
  kube_bin=$(bash "$repo/scripts/kube/build.sh" --print)
  node_bin=$(bash "$here/build.sh" --print)
  stop_one local-path-provisioner "$node_bin/local-path-provisioner"
  stop_one kube-proxy "$node_bin/kube-proxy"
  stop_one kubelet "$node_bin/kubelet"
  # With the kubelet gone nothing restarts pods: stop and remove every
  # sandbox through CRI, so the CNI plugins undo their network setup.
  if running_pid containerd containerd >/dev/null && [ -x "$node_bin/crictl" ]; then
    "$node_bin/crictl" --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" --timeout 30s \
      rmp --all --force >/dev/null 2>&1 || log "crictl rmp failed; continuing"
  fi
  stop_one containerd containerd
  kill_our_shims
  stop_one kube-scheduler "$node_bin/kube-scheduler"
  stop_one kube-controller-manager "$node_bin/kube-controller-manager"
  stop_one kube-apiserver "$kube_bin/kube-apiserver"
  stop_one etcd "$kube_bin/etcd"
  [ -x "$node_bin/kube-proxy" ] && "$node_bin/kube-proxy" --cleanup >/dev/null 2>&1 || true

  # Mounts left under the directory (overlay root filesystems, shm, volumes,
  # network namespaces), deepest first.
  local m
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
  ip link show "$bridge" >/dev/null 2>&1 && ip link delete "$bridge"
  clean_iptables
  clean_cgroups
  restore_host_state
  rm -rf "$dir"
  log "down: processes stopped, mounts, $bridge, iptables chains and cgroups removed, sysctls restored"
}

status() {
  local kube_bin node_bin name binary
  kube_bin=$(bash "$repo/scripts/kube/build.sh" --print)
  node_bin=$(bash "$here/build.sh" --print)
  for name in etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet kube-proxy local-path-provisioner; do
    case "$name" in
      etcd | kube-apiserver) binary="$kube_bin/$name" ;;
      containerd) binary=containerd ;;
      *) binary="$node_bin/$name" ;;
    esac
    if pid=$(running_pid "$name" "$binary"); then echo "$name running (pid $pid)"; else echo "$name stopped"; fi
  done
  if [ -f "$kubeconfig" ] && node_ready; then echo "node $node_name Ready"; else echo "node $node_name not Ready"; return 1; fi
}

# Images reach the node the way `kind load image-archive` does it: imported
# into the runtime's k8s.io namespace under the names they were saved with.
load() {
  [ "$(id -u)" = 0 ] || die "needs root"
  running_pid containerd containerd >/dev/null || die "the cluster is not running (cluster.sh up)"
  local tar t
  for tar in "$@"; do
    [ -f "$tar" ] || die "no such file: $tar"
    t=$(date +%s%N)
    ctr --address "$sock" -n k8s.io images import "$tar" >/dev/null
    log "imported $tar in $(ms_since "$t") ms"
  done
}

case "${1:-}" in
  up) up ;;
  load) shift; load "$@" ;;
  down) down ;;
  status) status ;;
  env) echo "KUBECONFIG=$kubeconfig" ;;
  *) echo "usage: cluster.sh up|down|status|env|load TAR..." >&2; exit 2 ;;
esac
