#!/usr/bin/env bash
# Installs everything the project needs, idempotently: npm packages and the
# Kafka broker jars (cached outside the repository, keyed by version).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in node npm java mvn; do
  command -v "$tool" >/dev/null || { echo "setup: '$tool' is required (Node 20+, Java 17+, Maven)" >&2; exit 1; }
done
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install` rather than `npm ci`: npm 11 leaves other platforms'
  # optional packages (rollup's) out of the lock file, and `npm ci` then
  # refuses it as out of sync. The lock file still pins every version.
  npm install --no-audit --no-fund
fi
bash scripts/kafka/kafka.sh install
