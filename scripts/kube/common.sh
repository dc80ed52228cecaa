# Shared by scripts/kube/build.sh and scripts/cluster/build.sh (sourced, not
# run): the pinned versions and the wrapper-module build of Kubernetes and
# etcd through the Go module proxy. The caller defines log().
#
# The Kubernetes module (k8s.io/kubernetes) cannot be built with `go install`
# directly: its go.mod replaces the staging modules (k8s.io/api, client-go...)
# with local ./staging paths. kube_build_commands generates a throwaway
# wrapper module that requires k8s.io/kubernetes and points every one of those
# staging modules at its published v0.<minor>.<patch> release instead. etcd
# gets the same treatment for the sibling modules its go.mod replaces with ../
# paths.

# --- pinned versions ---------------------------------------------------------
# Kubernetes: every staging module the build needs must be served, with a
# checksum-database entry, at the matching v0.<minor>.<patch>. The module
# proxy used when this was written lists v1.31.14 but does not serve several
# v0.31.14 / v0.31.13 staging modules (kube-aggregator, pod-security-admission,
# cluster-bootstrap, dynamic-resource-allocation, ...); v1.31.4 is complete.
# Bump the version only after checking that both build scripts still succeed.
K8S_VERSION=v1.31.4
ETCD_VERSION=v3.5.35
# helm's go.mod has no replace directives: `go install` builds it as it is.
HELM_VERSION=v3.16.4
# -----------------------------------------------------------------------------

kube_cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}

kube_go_env() {
  export CGO_ENABLED=0
  export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
  export GOWORK=off
}

# Print "module version" for every replace directive of a go.mod whose target
# is a local path (./ or ../), with the version the same go.mod requires
# ("-" when it does not require that module).
local_replaces() {
  awk '
    /^require[ \t]*\(/ { inreq = 1; next }
    /^replace[ \t]*\(/ { inrep = 1; next }
    /^\)/              { inreq = 0; inrep = 0; next }
    /^require[ \t]/    { req[$2] = $3; next }
    inreq && NF >= 2   { req[$1] = $2; next }
    /^replace[ \t]/    { sub(/^replace[ \t]+/, "") ; line = $0 }
    inrep              { line = $0 }
    line != "" {
      n = split(line, f, /[ \t]+/)
      for (i = 1; i <= n; i++) if (f[i] == "=>") break
      if (i < n && f[i + 1] ~ /^\.\.?\//) {
        mod = f[1]; if (mod == "") mod = f[2]
        rep[mod] = 1
      }
      line = ""
    }
    END { for (m in rep) print m, ((m in req) ? req[m] : "-") }
  ' "$1" | sort
}

gomod_of() { go mod download -json "$1" | sed -n 's/^[ \t]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'; }
info_time() {
  go mod download -json "$1" | sed -n 's/^[ \t]*"Info": "\(.*\)",\{0,1\}$/\1/p' |
    xargs cat | sed -n 's/.*"Time":"\([^"]*\)".*/\1/p'
}

# kube_build_etcd WORK BIN: build etcd $ETCD_VERSION into BIN/etcd.
kube_build_etcd() {
  local work=$1 bin=$2
  [ -x "$bin/etcd" ] && return 0
  local dir="$work/etcd" gomod
  mkdir -p "$dir"
  log "resolving go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  gomod=$(gomod_of "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  {
    echo "module ridepulse.invalid/kube-build/etcd"
    echo
    sed -n 's/^go \(.*\)/go \1/p' "$gomod"
    echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    local m v
    while read -r m v; do
      [ -n "$m" ] && [ "$v" != "-" ] && echo "replace $m => $m $v"
    done < <(local_replaces "$gomod")
  } >"$dir/go.mod"
  log "building etcd $ETCD_VERSION (wrapper go.mod: $(grep -c '^replace' "$dir/go.mod") replaces)"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$dir/etcd" go.etcd.io/etcd/server/v3)
  "$dir/etcd" --version >&2
  mv -f "$dir/etcd" "$bin/etcd"
}

# kube_build_commands WORK BIN COMMAND...: build the missing ones of the given
# main packages under k8s.io/kubernetes/cmd/ at $K8S_VERSION into BIN, in one
# `go build` so shared packages compile once.
kube_build_commands() {
  local work=$1 bin=$2; shift 2
  local c missing=()
  for c in "$@"; do [ -x "$bin/$c" ] || missing+=("$c"); done
  [ ${#missing[@]} -gt 0 ] || return 0

  local dir="$work/kubernetes" gomod staging_version
  mkdir -p "$dir/out"
  log "resolving k8s.io/kubernetes@$K8S_VERSION"
  gomod=$(gomod_of "k8s.io/kubernetes@$K8S_VERSION")
  # v1.31.14 -> v0.31.14: the staging modules are tagged v0.<minor>.<patch>.
  staging_version="v0.${K8S_VERSION#v1.}"
  {
    echo "module ridepulse.invalid/kube-build/kubernetes"
    echo
    sed -n 's/^go \(.*\)/go \1/p' "$gomod"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    local m v
    while read -r m v; do
      case "$m" in
        k8s.io/*) echo "replace $m => $m $staging_version" ;;
        ?*) log "unexpected local replace in k8s.io/kubernetes go.mod: $m"; exit 1 ;;
      esac
    done < <(local_replaces "$gomod")
  } >"$dir/go.mod"

  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local date; date=$(info_time "k8s.io/kubernetes@$K8S_VERSION")
  local ld="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=${date:-1970-01-01T00:00:00Z}"
  done

  local pkgs=()
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  log "building ${missing[*]} $K8S_VERSION (wrapper go.mod: $(grep -c '^replace' "$dir/go.mod") replaces)"
  (cd "$dir" && go build -trimpath -ldflags "$ld" -o "$dir/out/" "${pkgs[@]}")
  for c in "${missing[@]}"; do
    case "$c" in
      kubectl) "$dir/out/$c" version --client >&2 ;;
      *) "$dir/out/$c" --version >&2 ;;
    esac
    mv -f "$dir/out/$c" "$bin/$c"
  done
}

# kube_install_prologue INSTALL_DIR BIN ALL_PRESENT "$@": answer --print, and
# a complete cache, with BIN and exit; otherwise take the per-version lock
# (parallel test runs may call the build scripts) and return to build.
kube_install_prologue() {
  local install_dir=$1 bin=$2 all_present=$3; shift 3
  if [ "${1:-}" = "--print" ]; then echo "$bin"; exit 0; fi
  if "$all_present"; then echo "$bin"; exit 0; fi
  command -v go >/dev/null || { log "Go is required (https://go.dev/dl/)"; exit 1; }
  mkdir -p "$bin"
  exec 9>"$install_dir/.lock"
  if command -v flock >/dev/null; then
    flock 9
    if "$all_present"; then echo "$bin"; exit 0; fi
  fi
}
