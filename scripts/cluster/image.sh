#!/usr/bin/env bash
# Assemble the cluster's small images locally, with no registry and no Docker
# engine: a root filesystem directory packed as an OCI image layout tarball
# that `ctr images import` loads into containerd.
#
#   image.sh pause     the pod sandbox image: our own pause.c, built static
#   image.sh busybox   Debian's busybox-static with a link per applet (the
#                      pods that make local volumes' directories, the smoke check)
#
# Prints "<image reference> <tarball path>" on stdout. Tarballs are cached
# outside the repository, keyed by a hash of their inputs, and built
# reproducibly (fixed timestamps and owners), so the same inputs give the same
# image digest.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../kube/common.sh
. "$here/../kube/common.sh"
cache="$kube_cache_root/cluster-images"

# Names under "localhost/": containerd keeps such a reference as it is
# instead of qualifying it with a public registry, and nothing ever tries to
# pull it from anywhere.
PAUSE_REF=localhost/ridepulse/pause:1
BUSYBOX_REF=localhost/ridepulse/busybox:1

log() { echo "cluster/image.sh: $*" >&2; }

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) log "unsupported machine $(uname -m)"; exit 1 ;;
esac

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# Deterministic tar of a directory's contents.
det_tar() {
  # mktemp makes directories 0700: the image's / must be 0755 for non-root users.
  chmod 755 "$1"
  tar -C "$1" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -cf "$2" .
}

# pack ROOTFS REF CONFIG OUT: one-layer OCI image layout of ROOTFS named REF,
# CONFIG the JSON of the image config's "config" object, written to OUT.
pack() {
  local rootfs=$1 ref=$2 config=$3 out=$4
  local layout; layout=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-image.XXXXXX")
  local blobs="$layout/blobs/sha256"
  mkdir -p "$blobs"

  det_tar "$rootfs" "$layout/layer.tar"
  local diff_id; diff_id=$(sha "$layout/layer.tar")
  gzip -n -9 "$layout/layer.tar"
  local layer_digest; layer_digest=$(sha "$layout/layer.tar.gz")
  local layer_size; layer_size=$(size "$layout/layer.tar.gz")
  mv "$layout/layer.tar.gz" "$blobs/$layer_digest"

  printf '{"architecture":"%s","os":"linux","config":%s,"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$arch" "$config" "$diff_id" >"$layout/config.json"
  local config_digest; config_digest=$(sha "$layout/config.json")
  local config_size; config_size=$(size "$layout/config.json")
  mv "$layout/config.json" "$blobs/$config_digest"

  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer_digest" "$layer_size" >"$layout/manifest.json"
  local manifest_digest; manifest_digest=$(sha "$layout/manifest.json")
  local manifest_size; manifest_size=$(size "$layout/manifest.json")
  mv "$layout/manifest.json" "$blobs/$manifest_digest"

  # containerd names the imported image after io.containerd.image.name.
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest_digest" "$manifest_size" "$arch" "$ref" "${ref##*:}" >"$layout/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"

  mkdir -p "$(dirname "$out")"
  det_tar "$layout" "$out.tmp"
  mv -f "$out.tmp" "$out"
  rm -rf "$layout"
  log "$ref: $(size "$out") bytes, manifest sha256:$manifest_digest"
}

build_pause() {
  command -v gcc >/dev/null || { log "gcc is required for the pause image"; exit 1; }
  local key; key=$( (cat "$here/pause.c" "$0"; gcc --version | head -1) | sha256sum | cut -c1-16)
  local out="$cache/pause-$key.tar"
  if [ ! -f "$out" ]; then
    local root; root=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-rootfs.XXXXXX")
    gcc -Os -static -s -Wall -Wextra -Werror -o "$root/pause" "$here/pause.c"
    pack "$root" "$PAUSE_REF" '{"Entrypoint":["/pause"],"User":"65535:65535"}' "$out"
    rm -rf "$root"
  fi
  echo "$PAUSE_REF $out"
}

build_busybox() {
  local busybox
  busybox=$(command -v busybox || true)
  # The dynamically linked busybox would need a libc in the image.
  if [ -z "$busybox" ] || file -L "$busybox" 2>/dev/null | grep 'dynamically linked' >/dev/null; then
    log "Debian's busybox-static is required (apt-get install busybox-static)"; exit 1
  fi
  local key; key=$( (cat "$busybox" "$0") | sha256sum | cut -c1-16)
  local out="$cache/busybox-$key.tar"
  if [ ! -f "$out" ]; then
    local root; root=$(mktemp -d "${TMPDIR:-/tmp}/ridepulse-rootfs.XXXXXX")
    mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev"
    chmod 1777 "$root/tmp"
    cp "$busybox" "$root/bin/busybox"
    local applet
    for applet in $("$busybox" --list); do
      [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    pack "$root" "$BUSYBOX_REF" '{"Env":["PATH=/bin"],"Cmd":["sh"]}' "$out"
    rm -rf "$root"
  fi
  echo "$BUSYBOX_REF $out"
}

case "${1:-}" in
  pause) build_pause ;;
  busybox) build_busybox ;;
  *) echo "usage: image.sh pause|busybox" >&2; exit 2 ;;
esac
