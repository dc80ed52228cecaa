#!/usr/bin/env bash
# Build MinIO, an S3-compatible object store, from source through the Go
# module proxy, cached outside the repository, keyed by version. The tests,
# the recovery benchmark and the e2e run use it as the store that OpB's
# snapshot copies go to.
#
#   build.sh          build what is missing, print the bin directory on stdout
#   build.sh --print  print the bin directory only (no build)
#
# github.com/minio/minio publishes no semver tags: the module resolves at a
# pseudo-version, pinned here. It runs as a separate test program; nothing
# of it is linked into the project.
#
# Requirements: Go (the version MinIO's go.mod asks for, or GOTOOLCHAIN=auto),
# network access to a Go module proxy.
set -euo pipefail
. "$(dirname "$0")/../lib/go-install.sh"

MINIO_MODULE_VERSION=${MINIO_MODULE_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
[ "${1:-}" = "--print" ] && export GO_INSTALL_PRINT=1
go_install_cached minio "$MINIO_MODULE_VERSION" minio "-s -w" "github.com/minio/minio@$MINIO_MODULE_VERSION"
