#!/usr/bin/env bash
# Builds the control-plane binaries the tests need from Go modules served by the Go module proxy, and caches them.
#   kube-apiserver, kube-controller-manager, kube-scheduler  (k8s.io/kubernetes)
#   etcd                                                    (go.etcd.io/etcd/server/v3)
#   kwok                                                    (sigs.k8s.io/kwok, simulated nodes)
# Cold: several minutes on 2 cores (progress is printed). Warm: instant.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
log() { printf '[build-binaries %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v go >/dev/null || { echo "go is not installed: install Go >= 1.26 (https://go.dev/doc/install)" >&2; exit 1; }

heartbeat() { # prints a line every 30 s so a slow cold build is visibly alive
  local what="$1"; shift
  ( while sleep 30; do log "still building $what ..."; done ) & local hb=$!
  local rc=0; "$@" || rc=$?
  kill "$hb" 2>/dev/null || true; wait "$hb" 2>/dev/null || true
  return $rc
}

build_kubernetes() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler)
  local missing=0; for b in "${want[@]}"; do [ -x "$K8S_BIN_DIR/$b" ] || missing=1; done
  [ $missing = 0 ] && { log "kubernetes $K8S_VERSION: cached in $K8S_BIN_DIR"; return; }
  local mod="$JSO_CACHE/src/kubernetes-$K8S_VERSION"
  mkdir -p "$mod" "$K8S_BIN_DIR"
  log "kubernetes $K8S_VERSION: resolving modules (first run downloads ~1 GiB of sources)"
  local gomod
  gomod="$(cd "$mod" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  [ -f "$gomod" ] || { echo "could not download k8s.io/kubernetes@$K8S_VERSION go.mod" >&2; exit 1; }
  local staging_ver="v0.${K8S_VERSION#v1.}"
  {
    echo "module jso.local/kubernetes-build"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # The kubernetes go.mod replaces each staging module with a local path; point them at the published versions.
    grep -E '^[[:space:]]*k8s.io/[^ ]+ => ./staging/' "$gomod" | awk -v v="$staging_ver" '{print "replace " $1 " => " $1 " " v}'
  } > "$mod/go.mod"
  cat > "$mod/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  (cd "$mod" && heartbeat "go mod tidy" go mod tidy -e >/dev/null 2>"$mod/tidy.log") || { cat "$mod/tidy.log" >&2; exit 1; }
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  log "kubernetes $K8S_VERSION: compiling ${want[*]} (cold: 10-20 min on 2 cores)"
  (cd "$mod" && heartbeat "kubernetes" go build -tags tools -ldflags "$ld" -o "$K8S_BIN_DIR/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
  log "kubernetes $K8S_VERSION: built into $K8S_BIN_DIR"
}

build_etcd() {
  [ -x "$ETCD_BIN_DIR/etcd" ] && { log "etcd $ETCD_VERSION: cached"; return; }
  local mod="$JSO_CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$mod" "$ETCD_BIN_DIR"
  cat > "$mod/go.mod" <<GOMOD
module jso.local/etcd-build

go 1.26.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat > "$mod/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "etcd $ETCD_VERSION: resolving and compiling"
  (cd "$mod" && heartbeat "etcd" sh -c 'go mod tidy >/dev/null && go build -ldflags "-s -w" -o "$0/etcd" .' "$ETCD_BIN_DIR")
  log "etcd $ETCD_VERSION: built"
}

build_kwok() {
  [ -x "$KWOK_BIN_DIR/kwok" ] && { log "kwok $KWOK_VERSION: cached"; return; }
  mkdir -p "$KWOK_BIN_DIR"
  log "kwok $KWOK_VERSION: compiling"
  heartbeat "kwok" env GOBIN="$KWOK_BIN_DIR" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  log "kwok $KWOK_VERSION: built"
}

case "${1:-all}" in
  all) build_etcd; build_kwok; build_kubernetes ;;
  kubernetes) build_kubernetes ;;
  etcd) build_etcd ;;
  kwok) build_kwok ;;
  *) echo "usage: $0 [all|kubernetes|etcd|kwok]" >&2; exit 2 ;;
esac
