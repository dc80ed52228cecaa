#!/usr/bin/env bash
# The whole test suite, on the supported Node.js: installs what it needs, builds, lints, runs the unit
# tests, then the integration tests against a real Kafka broker and a real
# Kubernetes API server that the vitest global setups start
# (scripts/kafka/kafka.sh and scripts/kube/control-plane.sh, their binaries
# cached outside the repository). The broker is the newest Kafka 4 release;
# the crash, fencing and recovery-race tests then run again on Kafka 3.9,
# the oldest release supported.
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything below runs on the supported Node.js, fetched once (scripts/node.sh).
PATH="$(bash scripts/node.sh):$PATH"
export PATH
bash scripts/setup.sh
# etcd, kube-apiserver, kubectl and helm, built from source once per version.
kube_bin=$(bash scripts/kube/build.sh)
# Prometheus and promtool, built from source once per version, for the monitoring kit's tests.
bash scripts/prometheus/build.sh >/dev/null
# MinIO, built from source once per version: the S3-compatible store of the snapshot-copy tests.
bash scripts/minio/build.sh >/dev/null
npm run build
npx eslint .
"$kube_bin/helm" lint --strict helm/ridepulse-operator
npx vitest run --project unit
npx vitest run --project integration
KAFKA_VERSION=3.9.1 bash scripts/kafka/kafka.sh install
KAFKA_VERSION=3.9.1 npx vitest run --project integration \
  worker/test/crash.int.test.ts worker/test/recovery-race.int.test.ts \
  kafka/src/kafka.int.test.ts kafka/src/transaction-version.int.test.ts
