#!/usr/bin/env bash
# The Kafka Streams peer of OpB (README.md says what it is and how it is set up).
#
#   run.sh build       build it once with Maven; prints the directory holding the jars
#   run.sh classpath   its classpath (builds first if needed)
#   run.sh command     the java command line that runs it, one argument per line
#   run.sh archive-command
#                      the same, for a training run that writes the class-data
#                      archive (see README.md) to classes.jsa.tmp in the build
#                      directory when it exits; rename it to classes.jsa to use it
#   run.sh run         runs it, configured by the environment (see README.md)
#
# The build is cached outside the repository, under $RIDEPULSE_CACHE (default:
# $XDG_CACHE_HOME/ridepulse or ~/.cache/ridepulse), in a directory named after
# a hash of pom.xml and the sources: an edit builds anew, a rerun reuses it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
hash=$(cd "$here" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
dir="$cache_root/kafka-streams-peer-$hash"
main=dev.ridepulse.peer.DispatchBoard
archive="$dir/classes.jsa"
# Heap for the record cache and the clients; RocksDB lives outside it.
java_opts=${PEER_JAVA_OPTS:--Xms256m -Xmx1g}

log() { echo "run.sh: $*" >&2; }

build() {
  if [ -f "$dir/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to build the Kafka Streams peer"; exit 1; }
  command -v java >/dev/null || { log "Java 17+ is required"; exit 1; }
  mkdir -p "$cache_root"
  log "building the Kafka Streams peer into $dir"
  local tmp
  tmp=$(mktemp -d "$cache_root/kafka-streams-peer.tmp.XXXXXX")
  # The target directory goes to the temporary one too: nothing is written
  # inside the repository.
  # Maven's output only when it fails (even -q writes stray terminal codes).
  if ! mvn -q -B -f "$here/pom.xml" -Dpeer.build.dir="$tmp/target" package >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    log "the build failed; its output is above"
    rm -rf "$tmp"
    exit 1
  fi
  mkdir -p "$tmp/out/lib"
  mv "$tmp/target/lib/"*.jar "$tmp/target/kafka-streams-peer.jar" "$tmp/out/lib/"
  touch "$tmp/out/.complete"
  # Another build of the same sources may have finished first: keep either.
  if [ ! -f "$dir/.complete" ]; then
    rm -rf "$dir"
    mv -T "$tmp/out" "$dir"
  fi
  rm -rf "$tmp"
}

command_line() {
  # Class-data sharing: the JVM maps the classes a previous run loaded instead
  # of loading and verifying them again, which shortens every start.
  local share=()
  if [ "${1:-}" = archive ]; then
    share=("-XX:ArchiveClassesAtExit=$archive.tmp")
  elif [ -f "$archive" ]; then
    share=("-XX:SharedArchiveFile=$archive")
  fi
  # shellcheck disable=SC2086 # java_opts is a list of options
  printf '%s\n' java $java_opts ${share[@]+"${share[@]}"} \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -cp "$dir/lib/*" "$main"
}

case "${1:-}" in
  build) build; echo "$dir" ;;
  classpath) build; echo "$dir/lib/*" ;;
  command) build; command_line ;;
  archive-command) build; command_line archive ;;
  run)
    build
    mapfile -t cmd < <(command_line)
    exec "${cmd[@]}"
    ;;
  *) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
