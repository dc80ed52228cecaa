#!/usr/bin/env bash
# Build Prometheus and promtool from source through the Go module proxy,
# cached outside the repository, keyed by version.
#
#   build.sh          build what is missing, print the bin directory on stdout
#   build.sh --print  print the bin directory only (no build)
#
# github.com/prometheus/prometheus publishes its 3.x releases as v0.3xx.y
# module versions (v0.316.0 is 3.16.0). Built without the web UI's assets:
# the HTTP API, the rules and the scraping are all there.
#
# Requirements: Go (the version Prometheus's go.mod asks for, or
# GOTOOLCHAIN=auto), network access to a Go module proxy.
set -euo pipefail

PROMETHEUS_MODULE_VERSION=${PROMETHEUS_MODULE_VERSION:-v0.316.0}
cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
install_dir="$cache_root/prometheus-$PROMETHEUS_MODULE_VERSION"
bin="$install_dir/bin"

log() { echo "prometheus/build.sh: $*" >&2; }
all_present() { [ -f "$bin/.complete" ] && [ -x "$bin/prometheus" ] && [ -x "$bin/promtool" ]; }

if [ "${1:-}" = "--print" ]; then echo "$bin"; exit 0; fi
if all_present; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { log "Go is required"; exit 1; }
mkdir -p "$bin"
exec 9>"$install_dir/.lock"
if command -v flock >/dev/null; then
  flock 9
  if all_present; then echo "$bin"; exit 0; fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-prometheus-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0 GOWORK=off GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"

start=$(date +%s)
log "building prometheus and promtool $PROMETHEUS_MODULE_VERSION into $bin (Go: $(go env GOVERSION))"
# The version the binaries report: the release the module version stands for.
release="3.$(echo "$PROMETHEUS_MODULE_VERSION" | sed -E 's/^v0\.3([0-9]+)\.([0-9]+)$/\1.\2/')"
ldflags="-s -w -X github.com/prometheus/common/version.Version=$release"
(cd "$work" && GOBIN="$work/bin" go install -trimpath -ldflags "$ldflags" \
  "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION")
"$work/bin/promtool" --version >&2
mv -f "$work/bin/prometheus" "$work/bin/promtool" "$bin/"
touch "$bin/.complete"
log "done in $(($(date +%s) - start)) s"
echo "$bin"
