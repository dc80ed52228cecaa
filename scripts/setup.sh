#!/usr/bin/env bash
# Installs everything the project needs, idempotently: the supported Node.js
# (scripts/node.sh), npm packages, the Kafka broker jars (cached outside the
# repository, keyed by version) and Chromium for the board's browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in npm java mvn; do
  command -v "$tool" >/dev/null || { echo "setup: '$tool' is required (any Node.js with npm, Java 17+, Maven)" >&2; exit 1; }
done
PATH="$(bash scripts/node.sh):$PATH"
export PATH
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install` rather than `npm ci`: npm 11 leaves other platforms'
  # optional packages (rollup's) out of the lock file, and `npm ci` then
  # refuses it as out of sync. The lock file still pins every version.
  npm install --no-audit --no-fund
fi
bash scripts/kafka/kafka.sh install
# The board's browser tests drive Debian's Chromium; nothing downloads a browser of its own.
if [ "${RIDEPULSE_SKIP_BROWSER:-}" != 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: the board's tests need Chromium at /usr/bin/chromium (Debian package chromium)" >&2
  fi
fi
