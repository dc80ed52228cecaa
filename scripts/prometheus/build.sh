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
. "$(dirname "$0")/../lib/go-install.sh"

PROMETHEUS_MODULE_VERSION=${PROMETHEUS_MODULE_VERSION:-v0.316.0}
[ "${1:-}" = "--print" ] && export GO_INSTALL_PRINT=1
# The version the binaries report: the release the module version stands for.
release="3.$(echo "$PROMETHEUS_MODULE_VERSION" | sed -E 's/^v0\.3([0-9]+)\.([0-9]+)$/\1.\2/')"
go_install_cached prometheus "$PROMETHEUS_MODULE_VERSION" "prometheus promtool" \
  "-s -w -X github.com/prometheus/common/version.Version=$release" \
  "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" \
  "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
