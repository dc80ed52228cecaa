#!/usr/bin/env bash
# Build Chaos Mesh's controller (chaos-controller-manager) from source through
# the Go module proxy, cached outside the repository, keyed by version.
#
#   build.sh          build if missing, print the bin directory on stdout
#   build.sh --print  print the bin directory only (no build)
#   build.sh --crds   print the directory of Chaos Mesh's CRDs in the Go module
#                     cache (config/crd/bases of the same module version),
#                     downloading the module if needed
#   build.sh --chart  print the directory of Chaos Mesh's Helm chart in the Go
#                     module cache (helm/chaos-mesh of the same version)
#
# Only the controller is built: PodChaos pod-kill is carried out by the
# controller alone through the API server (chaos-daemon, the daemon on every node,
# is needed only for network, I/O, stress and time chaos).
#
# Chaos Mesh's module path has no /v2, so its v2.x release tags are not valid
# module versions; a commit is named by a pseudo-version. Its go.mod replaces
# the github.com/chaos-mesh/chaos-mesh/api module with ./api (a nested module
# that the module zip leaves out) and pins the Kubernetes modules with
# replaces, which Go ignores outside the main module. So, as for Kubernetes in
# scripts/kube/common.sh, a throwaway wrapper module requires chaos-mesh,
# points the api module at a published version, and repeats every other
# replace of chaos-mesh's go.mod.
#
# Requirements: Go (the version Chaos Mesh's go.mod asks for, or
# GOTOOLCHAIN=auto), network access to a Go module proxy.
set -euo pipefail

# --- pinned versions ---------------------------------------------------------
# The natural pin is a release tag's commit, e.g. v2.7.3 (7778666ea871):
# v0.9.1-0.20250821041220-7778666ea871. The module proxy this was written
# against refused it ("403 Forbidden: This module version is not available")
# and served only the versions below for these two modules (what `@latest`
# resolves to), so they are pinned; set CHAOS_MESH_VERSION and
# CHAOS_MESH_API_VERSION to build another commit where the proxy serves it.
CHAOS_MESH_VERSION=${CHAOS_MESH_VERSION:-v0.9.1-0.20260902003049-47411975a8cb}
CHAOS_MESH_API_VERSION=${CHAOS_MESH_API_VERSION:-v0.0.0-20260906172039-d70b66ad97ac}
# -----------------------------------------------------------------------------

module=github.com/chaos-mesh/chaos-mesh
cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
install_dir="$cache_root/chaos-mesh-$CHAOS_MESH_VERSION-api-$CHAOS_MESH_API_VERSION"
bin="$install_dir/bin"
marker="$bin/.complete"

log() { echo "chaos/build.sh: $*" >&2; }

export CGO_ENABLED=0 GOWORK=off
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"

# download_field MODULE@VERSION FIELD: one field of `go mod download -json`.
download_field() {
  local out
  out=$(cd "${TMPDIR:-/tmp}" && go mod download -json "$1") || { log "go mod download $1 failed:"; echo "$out" >&2; exit 1; }
  sed -n "s/^[ \t]*\"$2\": \"\(.*\)\",\{0,1\}\$/\1/p" <<<"$out"
}

# A folder of the pinned Chaos Mesh module in the Go module cache ($1), checked
# for what must be in it ($2, default the folder itself).
module_dir() {
  command -v go >/dev/null || { log "Go is required (https://go.dev/dl/)"; exit 1; }
  local dir
  dir=$(download_field "$module@$CHAOS_MESH_VERSION" Dir)
  [ -e "$dir/$1/${2:-.}" ] || { log "no $1 in $dir"; exit 1; }
  echo "$dir/$1"
}

case "${1:-}" in
  --print) echo "$bin"; exit 0 ;;
  --crds) module_dir config/crd/bases; exit 0 ;;
  --chart) module_dir helm/chaos-mesh Chart.yaml; exit 0 ;;
  "") ;;
  *) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac

[ -f "$marker" ] && [ -x "$bin/chaos-controller-manager" ] && { echo "$bin"; exit 0; }
command -v go >/dev/null || { log "Go is required (https://go.dev/dl/)"; exit 1; }
mkdir -p "$bin"
# Parallel runs may call this script: one builds, the others wait for it.
exec 9>"$install_dir/.lock"
if command -v flock >/dev/null; then
  flock 9
  [ -f "$marker" ] && [ -x "$bin/chaos-controller-manager" ] && { echo "$bin"; exit 0; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-chaos-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
log "resolving $module@$CHAOS_MESH_VERSION (Go: $(go env GOVERSION), module cache: $(go env GOMODCACHE))"
gomod=$(download_field "$module@$CHAOS_MESH_VERSION" GoMod)
src=$(download_field "$module@$CHAOS_MESH_VERSION" Dir)
if [ -z "$gomod" ] || [ ! -f "$src/go.sum" ]; then
  log "no go.mod or go.sum for $module@$CHAOS_MESH_VERSION"
  exit 1
fi

# Every replace directive of chaos-mesh's go.mod whose target is a module
# version (not a ./ path), one per line as "old => new version".
module_replaces() {
  awk '
    /^replace[ \t]*\(/ { inrep = 1; next }
    inrep && /^\)/     { inrep = 0; next }
    /^replace[ \t]/    { sub(/^replace[ \t]+/, ""); print; next }
    inrep && NF        { sub(/^[ \t]+/, ""); print }
  ' "$1" | awk '{ for (i = 1; i <= NF; i++) if ($i == "=>") break; if ($(i + 1) !~ /^\.\.?\//) print }'
}

{
  echo "module ridepulse.invalid/chaos-build"
  echo
  sed -n 's/^go \(.*\)/go \1/p' "$gomod"
  echo
  echo "require $module $CHAOS_MESH_VERSION"
  echo "replace $module/api => $module/api $CHAOS_MESH_API_VERSION"
  while read -r line; do echo "replace $line"; done < <(module_replaces "$gomod")
} >"$work/go.mod"
# Chaos Mesh's own go.sum (in the module, so itself covered by the checksum
# database) vouches for its dependencies: some of them, such as
# github.com/chaos-mesh/fx-logr v0.1.0, may be missing from the checksum
# database a proxy mirrors ("verifying module: ... 404 Not Found").
cp "$src/go.sum" "$work/go.sum"
chmod u+w "$work/go.sum"
log "building chaos-controller-manager (wrapper go.mod: $(grep -c '^replace' "$work/go.mod") replaces)"
ld="-s -w -X $module/pkg/version.gitVersion=$CHAOS_MESH_VERSION -X $module/pkg/version.gitCommit=${CHAOS_MESH_VERSION##*-}"
(cd "$work" && go build -trimpath -ldflags "$ld" -o "$work/chaos-controller-manager" "$module/cmd/chaos-controller-manager")
"$work/chaos-controller-manager" --version >&2
mv -f "$work/chaos-controller-manager" "$bin/chaos-controller-manager"
touch "$marker"
log "done in $(($(date +%s) - start)) s"
echo "$bin"
