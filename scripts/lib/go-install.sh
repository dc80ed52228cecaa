# Sourced by the build scripts of the Go tools the tests run (Prometheus,
# MinIO): builds them from source through the Go module proxy into a cache
# directory outside the repository, keyed by version, once, under a lock.
#
#   go_install_cached NAME VERSION BINARIES LDFLAGS PACKAGE@VERSION...
#
# BINARIES: space-separated names the packages install. Prints the bin
# directory on stdout; with --print as the script's first argument, prints it
# without building.
go_install_cached() {
  local name=$1 version=$2 binaries=$3 ldflags=$4
  shift 4
  local cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
  local install_dir="$cache_root/$name-$version"
  local bin="$install_dir/bin" b
  all_present() {
    [ -f "$bin/.complete" ] || return 1
    for b in $binaries; do [ -x "$bin/$b" ] || return 1; done
  }
  if [ "${GO_INSTALL_PRINT:-}" = 1 ] || all_present; then echo "$bin"; return 0; fi
  command -v go >/dev/null || { echo "$name: Go is required" >&2; return 1; }
  mkdir -p "$bin"
  exec 9>"$install_dir/.lock"
  if command -v flock >/dev/null; then
    flock 9
    if all_present; then echo "$bin"; return 0; fi
  fi
  local work start
  work=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-$name-build.XXXXXX")
  start=$(date +%s)
  echo "$name: building $version into $bin (Go: $(go env GOVERSION))" >&2
  if ! (cd "$work" && CGO_ENABLED=0 GOWORK=off GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" GOBIN="$work/bin" \
    go install -trimpath -ldflags "$ldflags" "$@"); then
    rm -rf "$work"
    return 1
  fi
  for b in $binaries; do mv -f "$work/bin/$b" "$bin/"; done
  rm -rf "$work"
  touch "$bin/.complete"
  echo "$name: done in $(($(date +%s) - start)) s" >&2
  echo "$bin"
}
