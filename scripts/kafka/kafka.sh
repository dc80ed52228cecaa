#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft, broker+controller) on loopback.
#
#   kafka.sh install                      fetch the broker jars (cached, keyed by version)
#   kafka.sh start [--port P] [--data D] [--host H]
#                                         format storage if needed, start, wait until it serves
#   kafka.sh stop  [--port P] [--data D]  SIGTERM, wait, SIGKILL after 30 s
#   kafka.sh kill  [--port P] [--data D]  SIGKILL (crash tests)
#   kafka.sh status [--port P] [--host H] exit 0 when the port serves
#   kafka.sh classpath                    the classpath of the broker and its tools
#
# --host H (default 127.0.0.1) is the address clients connect to: the broker
# listens and advertises there. Pods of a local cluster reach the host at its
# node address (scripts/cluster/cluster.sh: 10.244.0.1), which the host's own
# clients reach as well. The controller listener stays on loopback.
#
# The cache lives in $RIDEPULSE_CACHE (default: $XDG_CACHE_HOME/ridepulse or
# ~/.cache/ridepulse), never inside the repository.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
install_dir="$cache_root/kafka-$kafka_version"
lib="$install_dir/lib"

port=9092
host=127.0.0.1
data=""
cmd=${1:-}
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    *) echo "kafka.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
controller_port=$((port + 1))
[ -n "$data" ] || data="${TMPDIR:-/tmp}/ridepulse-kafka-$port"
pidfile="$data/kafka.pid"

log() { echo "kafka.sh: $*" >&2; }

install() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch the Kafka jars"; exit 1; }
  command -v java >/dev/null || { log "Java 17+ is required to run Kafka"; exit 1; }
  log "fetching Apache Kafka $kafka_version into $install_dir"
  local tmp
  tmp=$(mktemp -d "$cache_root.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache_root"; mktemp -d "$cache_root.tmp.XXXXXX"; })
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$tmp/lib" >&2
  touch "$tmp/lib/.complete"
  mkdir -p "$install_dir"
  rm -rf "$lib"
  mv "$tmp/lib" "$lib"
  rmdir "$tmp"
}

serving() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
  install
  mkdir -p "$data/logs"
  if pid=$(running_pid); then
    log "already running (pid $pid) on $host:$port"
    echo "$host:$port"
    return 0
  fi
  if serving "$port"; then log "port $port is taken by another process"; exit 1; fi
  local props="$data/server.properties"
  cat >"$props" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://$host:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data/logs
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
auto.create.topics.enable=false
log.cleaner.backoff.ms=1000
EOF
  if [ ! -f "$data/logs/meta.properties" ]; then
    local id
    id=$(java -cp "$lib/*" -Dlog4j.configuration="file:$here/log4j.properties" kafka.tools.StorageTool random-uuid)
    java -cp "$lib/*" -Dlog4j.configuration="file:$here/log4j.properties" \
      kafka.tools.StorageTool format -t "$id" -c "$props" >"$data/format.log" 2>&1 \
      || { cat "$data/format.log" >&2; exit 1; }
  fi
  # setsid: the broker outlives the shell that started it and is not hit by
  # signals sent to that shell's process group.
  setsid java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC \
    -Dlog4j.configuration="file:$here/log4j.properties" \
    -cp "$lib/*" kafka.Kafka "$props" >"$data/server.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + 90))
  until serving "$port"; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "broker exited during start; last lines of $data/server.log:"
      tail -n 30 "$data/server.log" >&2
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then log "broker did not open port $port within 90 s"; exit 1; fi
    sleep 0.2
  done
  log "Kafka $kafka_version serving on $host:$port (data $data, pid $(cat "$pidfile"))"
  echo "$host:$port"
}

stop() {
  local sig=${1:-TERM} pid
  pid=$(running_pid) || { rm -f "$pidfile"; return 0; }
  kill "-$sig" "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid"; fi
    sleep 0.2
  done
  rm -f "$pidfile"
}

case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  status) serving "$port" ;;
  classpath) install; echo "$lib/*" ;;
  *) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
