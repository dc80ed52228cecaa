# Shared by scripts/kube/control-plane.sh and scripts/cluster/cluster.sh
# (sourced, not run): components run as local processes, and their
# certificates. The caller defines log() and sets $dir (pids and logs) and
# $pki (certificates).

# A process that exited but is not yet reaped by init still answers kill -0.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# running_pid NAME [MATCH]: pid of the component NAME we started, if it is
# still that process: its command line must contain MATCH (default NAME),
# so a recycled pid is not taken for ours.
running_pid() {
  local name=$1 match=${2:-$1} pidfile="$dir/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && alive "$pid" || return 1
  # grep reads to the end (no -q): an early exit would fail the pipe.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -- "$match" >/dev/null || return 1
  echo "$pid"
}

# launch NAME COMMAND...: start detached (setsid); pid in DIR/NAME.pid, log in DIR/NAME.log.
launch() {
  local name=$1; shift
  # setsid execs in place (this background child is not a group leader), so
  # $! is the component's own pid.
  setsid "$@" </dev/null >>"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

# launched NAME: the process launch NAME started is still alive. For the
# wait right after launch, where running_pid could misjudge it: until the exec
# chain (setsid, env, nice...) reaches the component, and while an exec is
# under way, its command line is the shell's, another program's, or empty.
# The pid cannot have been recycled within that wait.
launched() {
  local pid
  pid=$(cat "$dir/$1.pid" 2>/dev/null) && [ -n "$pid" ] && alive "$pid"
}

fail_with_log() {
  log "$1; last lines of $dir/$2.log:"
  tail -n 30 "$dir/$2.log" >&2 || true
  exit 1
}

# stop_one NAME [MATCH]: SIGTERM, SIGKILL after 20 s.
stop_one() {
  local name=$1 pid i t
  pid=$(running_pid "$@") || { rm -f "$dir/$name.pid"; return 0; }
  t=$(date +%s%N)
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    log "$name did not stop after 20 s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
  fi
  log "stopped $name (pid $pid) in $((($(date +%s%N) - t) / 1000000)) ms"
  rm -f "$dir/$name.pid"
}

# make_ca CN: a new CA in $pki/ca.{crt,key}.
make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" -subj "/CN=$1" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# issue NAME SUBJECT EXTENDED-KEY-USAGE [SANS]: a leaf certificate signed by
# the CA, in $pki/NAME.{crt,key}.
issue() {
  local name=$1 subj=$2 eku=$3 san=${4:-}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" -subj "$subj" 2>/dev/null
  {
    echo 'basicConstraints=CA:FALSE'
    echo 'keyUsage=critical,digitalSignature,keyEncipherment'
    echo "extendedKeyUsage=$eku"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

# Service-account token signing key pair, $pki/sa.{key,pub}.
make_sa_keys() {
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

# write_kubeconfig FILE SERVER CONTEXT USER CERT: a kubeconfig for the
# identity in $pki/CERT.{crt,key}, trusting $pki/ca.crt.
write_kubeconfig() {
  local file=$1 server=$2 context=$3 user=$4 cert=$5 tmp="$1.tmp"
  cat >"$tmp" <<EOC
apiVersion: v1
kind: Config
clusters:
- name: $context
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$pki/$cert.crt")
    client-key-data: $(base64 -w0 <"$pki/$cert.key")
contexts:
- name: $context
  context:
    cluster: $context
    user: $user
    namespace: default
current-context: $context
EOC
  chmod 600 "$tmp"
  mv -f "$tmp" "$file"
}

# launch_etcd ETCD CLIENT-PORT PEER-PORT: a one-member etcd on loopback with
# its data in $dir/etcd-data, unless ours is running. No fsync: these
# clusters are thrown away.
launch_etcd() {
  local etcd=$1 client=$2 peer=$3
  running_pid etcd "$etcd" >/dev/null && return 0
  log "starting etcd on 127.0.0.1:$client (peer $peer)"
  mkdir -p "$dir/etcd-data"
  chmod 700 "$dir/etcd-data"
  launch etcd "$etcd" \
    --name ridepulse \
    --data-dir "$dir/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$client" \
    --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "ridepulse=http://127.0.0.1:$peer" \
    --unsafe-no-fsync \
    --log-level warn
}
