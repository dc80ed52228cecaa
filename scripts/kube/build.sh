#!/usr/bin/env bash
# Build a Kubernetes control plane (etcd, kube-apiserver, kubectl) and helm
# from source through the Go module proxy, cached outside the repository, keyed
# by version.
#
#   build.sh          build what is missing, print the bin directory on stdout
#   build.sh --print  print the bin directory only (no build)
#
# The pinned versions and the wrapper-module technique that makes
# k8s.io/kubernetes and etcd buildable from the module proxy live in
# common.sh, shared with scripts/cluster/build.sh (the node components).
#
# Requirements: Go (the version etcd's go.mod asks for, or GOTOOLCHAIN=auto),
# network access to a Go module proxy. Nothing is written inside the repository.
set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Kubernetes commands to build (main packages under k8s.io/kubernetes/cmd/):
# the control plane of the tests. The node's components are
# scripts/cluster/build.sh's.
K8S_COMPONENTS=(kube-apiserver kube-controller-manager kubectl)

install_dir="$kube_cache_root/kube-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION"
bin="$install_dir/bin"
marker="$bin/.complete"

log() { echo "kube/build.sh: $*" >&2; }

all_present() {
  [ -f "$marker" ] || return 1
  [ -x "$bin/etcd" ] || return 1
  [ -x "$bin/helm" ] || return 1
  local c
  for c in "${K8S_COMPONENTS[@]}"; do [ -x "$bin/$c" ] || return 1; done
}

kube_install_prologue "$install_dir" "$bin" all_present "$@"

work=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-kube-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

kube_go_env

build_helm() {
  [ -x "$bin/helm" ] && return 0
  log "building helm $HELM_VERSION"
  (cd "$work" && GOBIN="$work/helm-bin" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION")
  "$work/helm-bin/helm" version --short >&2
  mv -f "$work/helm-bin/helm" "$bin/helm"
}

start=$(date +%s)
log "building into $bin (Go: $(go env GOVERSION), module cache: $(go env GOMODCACHE))"
kube_build_etcd "$work" "$bin"
kube_build_commands "$work" "$bin" "${K8S_COMPONENTS[@]}"
build_helm
touch "$marker"
log "done in $(($(date +%s) - start)) s"
echo "$bin"
