#!/usr/bin/env bash
# A real Apache Kafka (KRaft) on loopback: one node, or a cluster of several,
# each node broker and controller at once.
#
#   kafka.sh install                      fetch the broker jars (cached, keyed by version)
#   kafka.sh start [--port P] [--data D] [--host H] [--nodes N] [--node K] [--secure DIR]
#                                         format storage if needed, start, wait until it serves;
#                                         prints the bootstrap servers (host:port,...)
#   kafka.sh stop  [--port P] [--data D] [--nodes N] [--node K]
#                                         SIGTERM, wait, SIGKILL after 30 s
#   kafka.sh kill  [--port P] [--data D] [--nodes N] [--node K]
#                                         SIGKILL (crash tests)
#   kafka.sh pid   [--data D] [--nodes N] --node K
#                                         the process id of node K
#   kafka.sh status [--port P] [--host H] exit 0 when the port serves
#   kafka.sh classpath                    the classpath of the broker and its tools
#   kafka.sh version                      the Kafka version these commands use
#
# KAFKA_VERSION selects the release (default: the newest Kafka 4 release, the
# one in pom.xml); 3.9.x stays supported, and CI runs the worker's crash tests
# on it as well. Each version has its own cache directory. A data directory
# remembers the version that formatted it; another version refuses it (pass
# another --data) rather than upgrade it in place.
#
# --nodes N (default 1) runs N nodes: node k serves clients on P + 2(k-1) and
# its controller on the port after, keeps its data in D/node-k, and the
# cluster replicates as production clusters do (replication factor 3, or N
# when smaller; min.insync.replicas 2; the transaction and offsets logs
# replicated alike). --node K restricts start, stop and kill to node K, the
# way a crash test takes one broker away and brings it back. One node keeps
# its data in D itself.
#
# --host H (default 127.0.0.1) is the address clients connect to: the broker
# listens and advertises there. Pods of a local cluster reach the host at its
# node address (scripts/cluster/cluster.sh: 10.244.0.1), which the host's own
# clients reach as well. The controller listener stays on loopback.
#
# --secure DIR adds two TLS listeners to each node, beside its plaintext one
# (which the nodes keep for themselves and for setup): SSL on its client port
# + 100, requiring a client certificate (mutual TLS), and SASL_SSL on its
# client port + 200 with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. DIR holds what
# scripts/kafka/certs.sh writes: the broker's key and certificate, the
# authority that clients' certificates must be signed by, and the SASL users
# (the SCRAM ones are written when the storage is formatted).
#
# The cache lives in $RIDEPULSE_CACHE (default: $XDG_CACHE_HOME/ridepulse or
# ~/.cache/ridepulse), never inside the repository.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
default_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
kafka_version=${KAFKA_VERSION:-$default_version}
case "$kafka_version" in
  3.[0-9]*) kafka_line=3 ;;
  4.[0-9]*) kafka_line=4 ;;
  *) echo "kafka.sh: KAFKA_VERSION '$kafka_version' is not a Kafka 3.x or 4.x release" >&2; exit 2 ;;
esac
cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
install_dir="$cache_root/kafka-$kafka_version"
lib="$install_dir/lib"

port=9092
host=127.0.0.1
data=""
nodes=1
only=""
secure=""
cmd=${1:-}
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --node) only=$2; shift 2 ;;
    --secure) secure=$(cd "$2" && pwd); shift 2 ;;
    *) echo "kafka.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$data" ] || data="${TMPDIR:-/tmp}/ridepulse-kafka-$port"
case "$nodes" in ''|*[!0-9]*|0) echo "kafka.sh: --nodes must be a positive whole number" >&2; exit 2 ;; esac
if [ -n "$only" ] && { [ "$only" -lt 1 ] || [ "$only" -gt "$nodes" ]; }; then echo "kafka.sh: --node must be between 1 and $nodes" >&2; exit 2; fi

# Node k (1-based): its client port, controller port and data directory.
node_port() { echo $((port + 2 * ($1 - 1))); }
node_controller_port() { echo $(($(node_port "$1") + 1)); }
node_data() { if [ "$nodes" = 1 ]; then echo "$data"; else echo "$data/node-$1"; fi; }
node_pidfile() { echo "$(node_data "$1")/kafka.pid"; }
selected_nodes() { if [ -n "$only" ]; then echo "$only"; else seq 1 "$nodes"; fi; }
replication=$((nodes < 3 ? nodes : 3))
min_isr=$((replication < 2 ? 1 : 2))
voters() {
  local k list=""
  for k in $(seq 1 "$nodes"); do list="$list${list:+,}$k@127.0.0.1:$(node_controller_port "$k")"; done
  echo "$list"
}
bootstrap() {
  local k list=""
  for k in $(seq 1 "$nodes"); do list="$list${list:+,}$host:$(node_port "$k")"; done
  echo "$list"
}

log() { echo "kafka.sh: $*" >&2; }

# Kafka 3.x logs through reload4j, Kafka 4 through Log4j 2: one file each.
log_opts=(-Dlog4j.configuration="file:$here/log4j.properties" -Dlog4j2.configurationFile="file:$here/log4j2.xml")

install() {
  if [ -f "$lib/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch the Kafka jars"; exit 1; }
  command -v java >/dev/null || { log "Java 17+ is required to run Kafka"; exit 1; }
  log "fetching Apache Kafka $kafka_version into $install_dir"
  local tmp
  tmp=$(mktemp -d "$cache_root.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache_root"; mktemp -d "$cache_root.tmp.XXXXXX"; })
  # Maven's output only when it fails (even -q writes stray terminal codes).
  if ! mvn -q -B -f "$here/pom.xml" -Dkafka.version="$kafka_version" -P "kafka-$kafka_line" \
    dependency:copy-dependencies -DoutputDirectory="$tmp/lib" >"$tmp/maven.log" 2>&1; then
    cat "$tmp/maven.log" >&2
    log "fetching Kafka $kafka_version failed; Maven's output is above"
    rm -rf "$tmp"
    exit 1
  fi
  rm -f "$tmp/maven.log"
  touch "$tmp/lib/.complete"
  mkdir -p "$install_dir"
  rm -rf "$lib"
  mv "$tmp/lib" "$lib"
  rmdir "$tmp"
}

serving() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

running_pid() {
  local pidfile pid
  pidfile=$(node_pidfile "$1")
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# The cluster's id, shared by every node's storage.
cluster_id() {
  local file="$data/cluster.id"
  mkdir -p "$data"
  [ -s "$file" ] || java -cp "$lib/*" "${log_opts[@]}" kafka.tools.StorageTool random-uuid >"$file"
  cat "$file"
}

# The TLS listeners of a node serving clients on port P (--secure): its
# lines of server.properties.
secure_props() {
  local p=$1 plain_users="" name password f
  for f in broker.pem ca.crt users; do [ -f "$secure/$f" ] || { log "--secure: $secure/$f is missing (scripts/kafka/certs.sh writes it)"; exit 1; }; done
  while read -r name password; do [ -n "$name" ] && plain_users="$plain_users user_$name=\"$password\""; done <"$secure/users"
  cat <<EOP
listeners=PLAINTEXT://$host:$p,SSL://$host:$((p + 100)),SASL_SSL://$host:$((p + 200)),CONTROLLER://127.0.0.1:$((p + 1))
advertised.listeners=PLAINTEXT://$host:$p,SSL://$host:$((p + 100)),SASL_SSL://$host:$((p + 200))
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
ssl.keystore.type=PEM
ssl.keystore.location=$secure/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$secure/ca.crt
listener.name.ssl.ssl.client.auth=required
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOP
}

# The SCRAM credentials of the SASL users (--secure), one argument per line,
# written into the storage as it is formatted.
scram_args() {
  local name password m
  [ -n "$secure" ] || return 0
  while read -r name password; do
    [ -n "$name" ] || continue
    for m in SCRAM-SHA-256 SCRAM-SHA-512; do printf -- '--add-scram\n%s\n' "$m=[name=$name,password=$password]"; done
  done <"$secure/users"
}

# Writes node k's configuration, formats its storage once, launches it.
launch() {
  local k=$1 dir p cport props pid
  dir=$(node_data "$k")
  p=$(node_port "$k")
  cport=$(node_controller_port "$k")
  mkdir -p "$dir/logs"
  if pid=$(running_pid "$k"); then
    log "node $k already running (pid $pid) on $host:$p"
    return 0
  fi
  if serving "$p"; then log "port $p is taken by another process"; exit 1; fi
  props="$dir/server.properties"
  cat >"$props" <<EOF
process.roles=broker,controller
node.id=$k
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://$host:$p,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://$host:$p
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/logs
num.partitions=1
default.replication.factor=$replication
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$replication
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=3
auto.create.topics.enable=false
log.cleaner.backoff.ms=1000
EOF
  # Later lines win: the secure listeners replace the plaintext-only ones.
  if [ -n "$secure" ]; then secure_props "$p" >>"$props"; fi
  if [ -f "$dir/kafka.version" ] && [ "$(cat "$dir/kafka.version")" != "$kafka_version" ]; then
    log "$dir was formatted by Kafka $(cat "$dir/kafka.version"), not $kafka_version: pass another --data"
    exit 1
  fi
  if [ ! -f "$dir/logs/meta.properties" ]; then
    local scram=()
    mapfile -t scram < <(scram_args)
    java -cp "$lib/*" "${log_opts[@]}" \
      kafka.tools.StorageTool format -t "$(cluster_id)" -c "$props" "${scram[@]}" >"$dir/format.log" 2>&1 \
      || { cat "$dir/format.log" >&2; exit 1; }
    echo "$kafka_version" >"$dir/kafka.version"
  fi
  # setsid: the broker outlives the shell that started it and is not hit by
  # signals sent to that shell's process group.
  setsid java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC \
    "${log_opts[@]}" -cp "$lib/*" kafka.Kafka "$props" >"$dir/server.log" 2>&1 </dev/null &
  echo $! >"$(node_pidfile "$k")"
}

start() {
  install
  local k p dir deadline
  # Every node first: a cluster's controllers need a quorum before any serves.
  for k in $(selected_nodes); do launch "$k"; done
  deadline=$((SECONDS + 120))
  for k in $(selected_nodes); do
    p=$(node_port "$k")
    dir=$(node_data "$k")
    until serving "$p"; do
      if ! kill -0 "$(cat "$(node_pidfile "$k")")" 2>/dev/null; then
        log "node $k exited during start; last lines of $dir/server.log:"
        tail -n 30 "$dir/server.log" >&2
        exit 1
      fi
      if [ $SECONDS -ge $deadline ]; then log "node $k did not open port $p within 120 s"; exit 1; fi
      sleep 0.2
    done
    log "Kafka $kafka_version node $k of $nodes serving on $host:$p (data $dir, pid $(cat "$(node_pidfile "$k")"))"
  done
  bootstrap
}

stop() {
  local sig=$1 k pid deadline
  for k in $(selected_nodes); do
    pid=$(running_pid "$k") || { rm -f "$(node_pidfile "$k")"; continue; }
    kill "-$sig" "$pid"
    deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
      if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid"; fi
      sleep 0.2
    done
    rm -f "$(node_pidfile "$k")"
  done
}

case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  pid) [ -n "$only" ] || { log "pid needs --node"; exit 2; }; running_pid "$only" ;;
  status) serving "$port" ;;
  classpath) install; echo "$lib/*" ;;
  version) echo "$kafka_version" ;;
  *) sed -n '2,48p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
