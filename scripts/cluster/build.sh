#!/usr/bin/env bash
# Build the node side of a single-node cluster from source through the Go
# module proxy, cached outside the repository, keyed by version:
# kube-controller-manager, kube-scheduler, kubelet and kube-proxy of the same
# pinned Kubernetes release as scripts/kube/build.sh (which builds etcd,
# kube-apiserver, kubectl and helm), crictl, and Rancher's local-path
# provisioner.
#
#   build.sh          build what is missing, print the bin directory on stdout
#   build.sh --print  print the bin directory only (no build)
#
# Requirements: Go, network access to a Go module proxy. Nothing is written
# inside the repository.
set -euo pipefail

# shellcheck source=../kube/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../kube/common.sh"

# kube-proxy is built because pods reach the API server through the
# `kubernetes` Service's cluster IP (in-cluster clients such as the operator
# do): without a service proxy nothing answers on that address.
K8S_COMPONENTS=(kube-controller-manager kube-scheduler kubelet kube-proxy)
# crictl speaks CRI v1, which does not change with the Kubernetes minor; the
# module proxy serves only a few cri-tools tags. Its go.mod has no replaces.
CRICTL_VERSION=v1.34.0
# The dynamic provisioner for the default StorageClass; no replaces either.
LOCAL_PATH_VERSION=v0.0.30

install_dir="$kube_cache_root/cluster-$K8S_VERSION-crictl-$CRICTL_VERSION-local-path-$LOCAL_PATH_VERSION"
bin="$install_dir/bin"
marker="$bin/.complete"

log() { echo "cluster/build.sh: $*" >&2; }

all_present() {
  [ -f "$marker" ] || return 1
  local c
  for c in "${K8S_COMPONENTS[@]}" crictl local-path-provisioner; do [ -x "$bin/$c" ] || return 1; done
}

kube_install_prologue "$install_dir" "$bin" all_present "$@"

work=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-cluster-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

kube_go_env

# go_install NAME PACKAGE@VERSION [LDFLAGS]: a module whose go.mod needs no
# rewriting, built as it is.
go_install() {
  local name=$1 pkg=$2 ld=${3:-}
  [ -x "$bin/$name" ] && return 0
  log "building $pkg"
  (cd "$work" && GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w $ld" "$pkg")
  mv -f "$work/gobin/$name" "$bin/$name"
}

start=$(date +%s)
log "building into $bin (Go: $(go env GOVERSION), module cache: $(go env GOMODCACHE))"
# The tests' control plane (scripts/kube/build.sh) builds the same
# kube-controller-manager from the same sources: taken from there when it is
# built already, instead of compiling it twice.
kube_bin="$kube_cache_root/kube-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION/bin"
if [ ! -x "$bin/kube-controller-manager" ] && [ -x "$kube_bin/kube-controller-manager" ]; then
  cp "$kube_bin/kube-controller-manager" "$bin/kube-controller-manager"
fi
kube_build_commands "$work" "$bin" "${K8S_COMPONENTS[@]}"
go_install crictl "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" \
  "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
go_install local-path-provisioner "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION" \
  "-X main.VERSION=$LOCAL_PATH_VERSION"
"$bin/crictl" --version >&2
"$bin/local-path-provisioner" --version >&2
touch "$marker"
log "done in $(($(date +%s) - start)) s"
echo "$bin"
