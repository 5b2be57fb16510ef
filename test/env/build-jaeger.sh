#!/usr/bin/env bash
# Builds the Jaeger v2 binary (Go module github.com/jaegertracing/jaeger, cmd/jaeger) as a peer for
# benchmarks and compatibility tests, and caches it. Cold: several minutes on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
export GOFLAGS="${GOFLAGS:--buildvcs=false}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
log() { printf '[build-jaeger %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
[ -x "$JAEGER_BIN_DIR/jaeger" ] && { log "jaeger $JAEGER_VERSION: cached in $JAEGER_BIN_DIR"; exit 0; }
command -v go >/dev/null || { echo "go is not installed: install Go >= 1.26" >&2; exit 1; }
mod="$JSO_CACHE/src/jaeger-$JAEGER_VERSION"
mkdir -p "$mod" "$JAEGER_BIN_DIR"
cd "$mod"
[ -f go.mod ] || go mod init jso.local/jaeger-build >/dev/null 2>&1
log "jaeger $JAEGER_VERSION: resolving modules"
# the jaeger go.mod pins sarama with a replace directive; a consuming module needs the same replace
gomod="$(GOFLAGS=-mod=mod go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
grep -E '^replace ' "$gomod" | grep -v '=> \.' >> go.mod || true
( while sleep 30; do log "still building jaeger ..."; done ) & hb=$!
trap 'kill $hb 2>/dev/null || true' EXIT
go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" >/dev/null 2>&1 || go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION"
log "jaeger $JAEGER_VERSION: compiling (cold: 10+ min on 2 cores)"
go build -ldflags "-s -w" -o "$JAEGER_BIN_DIR/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
log "jaeger $JAEGER_VERSION: built into $JAEGER_BIN_DIR"
