#!/usr/bin/env bash
# A Docker engine to build the project's images with.
#
#   docker.sh start   use the engine `docker` already reaches; otherwise install
#                     Debian's docker.io if needed and start a private dockerd;
#                     wait until `docker info` answers
#   docker.sh env     print `export DOCKER_HOST=…` for the private engine (nothing
#                     when the machine's own engine is used): eval "$(docker.sh env)"
#   docker.sh status  exit 0 when the engine answers
#   docker.sh stop    stop the private engine (a machine's own engine is left alone)
#
# The private engine keeps everything in $RIDEPULSE_CACHE/docker (default
# ~/.cache/ridepulse/docker): its data root, exec root, socket, pid file and
# log, so it cannot clash with another engine or container runtime on the
# host. It is started:
# - in a mount namespace of its own with an empty /run/containerd, because
#   dockerd adopts a containerd it finds at /run/containerd/containerd.sock;
#   this way it always runs the containerd it supervises itself, and its
#   container mounts stay out of the host's mount table;
# - without a bridge and without touching iptables or ip_forward: when dockerd
#   turns on forwarding it also sets the FORWARD policy to DROP, which breaks
#   any other bridge on the host (a local Kubernetes node's pod network, say).
#   Builds and containers therefore use the host's network (`--network host`).
set -euo pipefail

cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
dir="$cache_root/docker"
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
logfile="$dir/dockerd.log"

log() { echo "docker.sh: $*" >&2; }

private_running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# The machine's own engine (a DOCKER_HOST set by the user, or the default
# socket) wins over ours: a user who has Docker keeps using it.
own_engine_answers() {
  ! private_running && DOCKER_HOST=${DOCKER_HOST:-} docker info >/dev/null 2>&1
}

private_answers() {
  DOCKER_HOST="unix://$sock" docker info >/dev/null 2>&1
}

install() {
  if command -v dockerd >/dev/null && command -v docker >/dev/null; then return 0; fi
  [ "$(id -u)" = 0 ] || { log "dockerd is missing; install Docker (Debian: apt-get install docker.io) or run as root"; exit 1; }
  command -v apt-get >/dev/null || { log "dockerd is missing and this is not a Debian-like system: install Docker"; exit 1; }
  log "installing Debian's docker.io"
  # No recommends: apparmor and needrestart are of no use to a build engine.
  # Debian's package only starts its service where an init system allows it;
  # this script starts its own engine either way.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null; }
}

start() {
  if private_answers; then return 0; fi
  if own_engine_answers; then log "using the engine docker already reaches"; return 0; fi
  install
  [ "$(id -u)" = 0 ] || { log "starting a private dockerd needs root"; exit 1; }
  command -v unshare >/dev/null || { log "unshare (util-linux) is required"; exit 1; }
  mkdir -p "$dir/data" "$dir/exec"
  if private_running; then
    log "dockerd (pid $(cat "$pidfile")) runs but does not answer yet"
  else
    # Our own (empty) daemon config, so a system-wide /etc/docker/daemon.json
    # cannot change where this engine keeps its state.
    echo '{}' >"$dir/daemon.json"
    # The mount point must exist to hide it; an empty directory is harmless.
    mkdir -p /run/containerd
    # setsid: the engine outlives the shell that started it and is not hit by
    # signals sent to that shell's process group. nice: builds run beside
    # other work on the machine and should yield to it.
    setsid nice -n 19 unshare --mount --propagation private -- sh -c '
      mount -t tmpfs -o mode=0711 tmpfs /run/containerd
      exec "$@"' dockerd dockerd \
      --config-file "$dir/daemon.json" \
      --data-root "$dir/data" \
      --exec-root "$dir/exec" \
      --pidfile "$pidfile" \
      --host "unix://$sock" \
      --bridge none \
      --iptables=false \
      --ip6tables=false \
      --ip-forward=false \
      --ip-masq=false \
      --userland-proxy=false \
      >"$logfile" 2>&1 </dev/null &
  fi
  local deadline=$((SECONDS + 60))
  until private_answers; do
    if [ $SECONDS -ge $deadline ]; then
      log "dockerd did not answer within 60 s; last lines of $logfile:"
      tail -n 30 "$logfile" >&2
      exit 1
    fi
    sleep 0.3
  done
  log "dockerd $(DOCKER_HOST="unix://$sock" docker version --format '{{.Server.Version}}') ready (pid $(cat "$pidfile"), socket $sock, log $logfile)"
}

env_() {
  if private_answers; then echo "export DOCKER_HOST=unix://$sock"; fi
}

status() {
  private_answers || own_engine_answers
}

stop() {
  private_running || { rm -f "$pidfile"; return 0; }
  local pid
  pid=$(cat "$pidfile")
  # dockerd stops its containers and its containerd on SIGTERM.
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then log "dockerd did not stop within 30 s: SIGKILL"; kill -KILL "$pid"; fi
    sleep 0.2
  done
  rm -f "$pidfile"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  env) env_ ;;
  status) status ;;
  stop) stop ;;
  *) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
