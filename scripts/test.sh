#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, lints, runs the unit
# tests, then the integration tests against a real Kafka broker that the
# vitest global setup starts (scripts/kafka/kafka.sh, cached outside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run build
npx eslint .
npx vitest run --project unit
npx vitest run --project integration
