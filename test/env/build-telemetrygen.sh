#!/usr/bin/env bash
# Builds the OpenTelemetry load generator telemetrygen (Go module
# github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen) for the ingest benchmark, and caches
# it. Cold: about 2 minutes on 2 cores. Warm: instant.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
export GOFLAGS="${GOFLAGS:--buildvcs=false}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
log() { printf '[build-telemetrygen %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
pkg="github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen"
bin_dir="$JSO_CACHE/bin/telemetrygen-$TELEMETRYGEN_VERSION"
[ -x "$bin_dir/telemetrygen" ] && { log "telemetrygen $TELEMETRYGEN_VERSION: cached in $bin_dir"; exit 0; }
command -v go >/dev/null || { echo "go is not installed: install Go >= 1.26" >&2; exit 1; }

# one build at a time per cache (several checkouts may share it): the lock is released when this script exits
mkdir -p "$JSO_CACHE"
if command -v flock >/dev/null; then
  exec 9>"$JSO_CACHE/.telemetrygen.lock"
  flock 9
  [ -x "$bin_dir/telemetrygen" ] && { log "telemetrygen $TELEMETRYGEN_VERSION: built meanwhile in $bin_dir"; exit 0; }
fi

mod="$JSO_CACHE/src/telemetrygen-$TELEMETRYGEN_VERSION"
mkdir -p "$mod" "$bin_dir"
cd "$mod"
[ -f go.mod ] || go mod init jso.local/telemetrygen-build >/dev/null 2>&1
( while sleep 30; do log "still building telemetrygen ..."; done ) & hb=$!
trap 'kill $hb 2>/dev/null || true' EXIT
log "telemetrygen $TELEMETRYGEN_VERSION: resolving modules"
# a module of our own that requires telemetrygen as a tool: `go install` refuses modules whose go.mod has replaces
go get -tool "$pkg@$TELEMETRYGEN_VERSION" >get.log 2>&1 || { cat get.log >&2; exit 1; }
log "telemetrygen $TELEMETRYGEN_VERSION: compiling"
# build to a temporary name, then rename: a reader never sees a half-written binary
go build -ldflags "-s -w" -o "$bin_dir/telemetrygen.tmp" "$pkg"
mv "$bin_dir/telemetrygen.tmp" "$bin_dir/telemetrygen"
log "telemetrygen $TELEMETRYGEN_VERSION: built into $bin_dir"
