#!/usr/bin/env bash
# Builds the operator and worker images from their Dockerfiles, as written,
# and saves each to a tarball a container runtime can import
# (`ctr -n k8s.io images import <tar>`).
#
#   build.sh [operator|worker]...   default: both
#
# Steps: a Docker engine (scripts/images/docker.sh start: the machine's own, or
# a private one), the base image the Dockerfiles name (scripts/images/base.sh:
# assembled locally, no registry needed), `docker build` from the repository
# root, then `docker save` to $RIDEPULSE_CACHE/images
# (default ~/.cache/ridepulse/images): ridepulse-<name>-<version>.tar.
# Tags: ridepulse/<name>:<version>, the version from <name>/package.json
# (RIDEPULSE_IMAGE_VERSION overrides). A tarball is written again only when
# its image changed. Prints each image's size and the tarball's path.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
out="$cache_root/images"

log() { echo "build.sh: $*" >&2; }
die() { log "$*"; exit 1; }

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(operator worker)
for name in "${names[@]}"; do
  [ -f "$repo/$name/Dockerfile" ] || die "no Dockerfile for '$name' (expected $name/Dockerfile)"
done

bash "$here/docker.sh" start
engine_env=$(bash "$here/docker.sh" env)
eval "$engine_env"
# The private engine has no bridge network (see docker.sh): builds reach the
# npm registry through the host's network instead.
build_args=()
[ -z "$engine_env" ] || build_args+=(--network host)

t0=$SECONDS
bash "$here/base.sh" >/dev/null
log "base image ready in $((SECONDS - t0)) s"

mkdir -p "$out"
summary=()
for name in "${names[@]}"; do
  version=${RIDEPULSE_IMAGE_VERSION:-$(node -p "require('$repo/$name/package.json').version")}
  image="ridepulse/$name:$version"
  t0=$SECONDS
  log "building $image"
  (cd "$repo" && docker build "${build_args[@]}" -f "$name/Dockerfile" -t "$image" .) >"$out/build-$name.log" 2>&1 \
    || { tail -n 40 "$out/build-$name.log" >&2; die "docker build of $image failed (log: $out/build-$name.log)"; }
  build_s=$((SECONDS - t0))

  id=$(docker image inspect --format '{{.Id}}' "$image")
  tar="$out/ridepulse-$name-$version.tar"
  # The tarball is rewritten only for a new image: importing it again is then
  # a no-op for the runtime as well.
  if [ ! -f "$tar" ] || [ "$(cat "$tar.id" 2>/dev/null)" != "$id" ]; then
    docker save -o "$tar.tmp" "$image"
    mv "$tar.tmp" "$tar"
    echo "$id" >"$tar.id"
  fi
  size=$(docker image inspect --format '{{.Size}}' "$image")
  summary+=("$(printf '%-28s %4d MB  built in %3d s  %s (%d MB)' "$image" $((size / 1000000)) "$build_s" "$tar" $(($(stat -c %s "$tar") / 1000000)))")
done
printf '%s\n' "${summary[@]}"
