#!/usr/bin/env bash
# Checks the built images the way Kubernetes runs them (any non-root UID,
# read-only root filesystem, no capabilities, no privilege escalation):
#
#   1. the worker with a bad configuration exits non-zero naming the variable,
#      before it connects to anything;
#   2. the operator with no cluster to talk to exits non-zero saying so;
#   3. an OpA and an OpB worker against a real Kafka broker on this host
#      (scripts/kafka/kafka.sh, on port $SMOKE_KAFKA_PORT, default 30992)
#      become ready (/readyz), with OpB's state on a volume of its own.
#
#   smoke.sh [version]   default: the version in worker/package.json
#
# Run scripts/images/build.sh first. The containers use the host's network
# (the private engine has no bridge) and ports from $SMOKE_HTTP_PORT
# (default 30980) up; the broker is stopped again if this script started it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
version=${1:-$(node -p "require('$repo/worker/package.json').version")}
worker="ridepulse/worker:$version"
operator="ridepulse/operator:$version"
kafka_port=${SMOKE_KAFKA_PORT:-30992}
http_port=${SMOKE_HTTP_PORT:-30980}
run_id="rp-smoke-$$"

log() { echo "smoke.sh: $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

eval "$(bash "$here/docker.sh" env)"
docker info >/dev/null 2>&1 || fail "no Docker engine answers (scripts/images/docker.sh start)"
for image in "$worker" "$operator"; do
  docker image inspect "$image" >/dev/null 2>&1 || fail "$image is missing (scripts/images/build.sh)"
done

# What a pod's securityContext enforces, with a UID that is not the image's own.
hardened=(--read-only --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges)

# 1. A bad configuration is reported by variable, without any network.
out=$(docker run --rm "${hardened[@]}" --network none -e ROLE=opb -e SHARD=x "$worker" 2>&1) && fail "worker accepted SHARD=x"
grep -q 'SHARD' <<<"$out" || fail "worker's error does not name SHARD: $out"
grep -q 'DATA_DIR' <<<"$out" || fail "worker's error does not name DATA_DIR: $out"
log "ok: worker with a bad configuration exits non-zero naming SHARD and DATA_DIR"

# 2. No cluster: a clear message, not a stack trace.
out=$(docker run --rm "${hardened[@]}" --network none "$operator" 2>&1) && fail "operator ran without a cluster"
grep -q 'no Kubernetes API server configured' <<<"$out" || fail "operator's error is unclear: $out"
log "ok: operator without a cluster exits non-zero: $out"

# 3. Real workers against a real broker.
started_kafka=""
kafka_data=""
cleanup() {
  docker rm -f "$run_id-opa" "$run_id-opb" >/dev/null 2>&1 || true
  if [ -n "$started_kafka" ]; then bash "$repo/scripts/kafka/kafka.sh" stop --port "$kafka_port" --data "$kafka_data"; fi
  [ -z "$kafka_data" ] || rm -rf "$kafka_data"
}
trap cleanup EXIT
if bash "$repo/scripts/kafka/kafka.sh" status --port "$kafka_port"; then
  fail "port $kafka_port already serves; set SMOKE_KAFKA_PORT to a free port"
fi
# A fresh data directory: nothing left from an earlier run can make it pass.
kafka_data=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-smoke-kafka.XXXXXX")
started_kafka=1
bash "$repo/scripts/kafka/kafka.sh" start --port "$kafka_port" --data "$kafka_data" >/dev/null

# Topic names of the run's own: the workers create them (one partition each).
pipeline_env=(
  -e KAFKA_BROKERS="127.0.0.1:$kafka_port" -e PIPELINE=smoke
  -e TOPIC_ORDERS=smoke.orders -e TOPIC_ENRICHED=smoke.enriched -e TOPIC_DLQ=smoke.dlq
  -e TOPIC_OUTPUT=smoke.output -e TOPIC_LATE=smoke.late
  -e TOPIC_CHANGELOG=smoke-changelog -e TOPIC_SNAPSHOTS=smoke-snapshots
  -e ORDERS_PARTITIONS=1 -e SHARDS=1 -e TOPIC_REPLICATION_FACTOR=1 -e HTTP_HOST=127.0.0.1
)
docker run -d --name "$run_id-opa" "${hardened[@]}" --network host "${pipeline_env[@]}" \
  -e ROLE=opa -e OPA_INDEX=0 -e HTTP_PORT="$http_port" "$worker" >/dev/null
# OpB's data volume: writable by the UID it runs as, as fsGroup makes it on Kubernetes.
docker run -d --name "$run_id-opb" "${hardened[@]}" --network host "${pipeline_env[@]}" \
  --tmpfs /data:rw,uid=65532,gid=65532,mode=0700 \
  -e ROLE=opb -e SHARD=0 -e DATA_DIR=/data -e HTTP_PORT=$((http_port + 1)) "$worker" >/dev/null

ready() { curl -fs -o /dev/null "http://127.0.0.1:$1/readyz"; }
for role in opa opb; do
  port=$http_port
  [ "$role" = opa ] || port=$((http_port + 1))
  t0=$SECONDS
  until ready "$port"; do
    if [ "$(docker inspect --format '{{.State.Running}}' "$run_id-$role")" != true ]; then
      docker logs "$run_id-$role" 2>&1 | tail -n 20 >&2
      fail "$role exited before it was ready"
    fi
    if [ $((SECONDS - t0)) -ge 60 ]; then
      docker logs "$run_id-$role" 2>&1 | tail -n 20 >&2
      fail "$role not ready within 60 s"
    fi
    sleep 0.5
  done
  log "ok: $role ready on :$port after $((SECONDS - t0)) s (read-only root, UID 65532)"
done

# A few rides through OpA and OpB: Kafka transactions from inside the
# containers and OpB's LMDB store on its volume, not only start-up.
# The console producer moved to the tools package in Kafka 4.
case "$(bash "$repo/scripts/kafka/kafka.sh" version)" in
  3.*) console_producer=kafka.tools.ConsoleProducer ;;
  *) console_producer=org.apache.kafka.tools.ConsoleProducer ;;
esac
now_ms=$(($(date +%s) * 1000))
for i in 1 2 3; do
  printf '{"eventId":"smoke-%d","rideId":"r%d","zone":"Harbor","type":"requested","ts":%d}\n' "$i" "$i" "$now_ms"
done | java -cp "$(bash "$repo/scripts/kafka/kafka.sh" classpath)" \
  -Dlog4j.configuration="file:$repo/scripts/kafka/log4j.properties" \
  -Dlog4j2.configurationFile="file:$repo/scripts/kafka/log4j2.xml" \
  "$console_producer" --bootstrap-server "127.0.0.1:$kafka_port" --topic smoke.orders >/dev/null
status() { curl -fsS "http://127.0.0.1:$((http_port + 1))/status"; }
# Prints OpB's counters; exits 1 while it has committed nothing.
counters() {
  status | node -e '
    const j = JSON.parse(require("fs").readFileSync(0, "utf8"))
    console.log("commits=" + j.commits + " keys=" + j.keys + " inputOffset=" + j.inputOffset)
    process.exit(j.commits > 0 && j.keys > 0 ? 0 : 1)'
}
t0=$SECONDS
until counters >/dev/null; do
  [ $((SECONDS - t0)) -lt 30 ] || { status >&2; fail "OpB did not count the rides within 30 s"; }
  sleep 0.5
done
log "ok: 3 rides went through OpA and OpB in $((SECONDS - t0)) s: $(counters)"
# SIGTERM, as Kubernetes stops a pod: both must exit cleanly.
for role in opa opb; do
  docker stop -t 20 "$run_id-$role" >/dev/null
  code=$(docker inspect --format '{{.State.ExitCode}}' "$run_id-$role")
  [ "$code" = 0 ] || { docker logs "$run_id-$role" 2>&1 | tail -n 20 >&2; fail "$role exited with $code on SIGTERM"; }
done
log "ok: both workers stopped cleanly on SIGTERM"
log "all checks passed for $worker and $operator"
