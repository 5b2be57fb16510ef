#!/usr/bin/env bash
# Installs the engine of the ClickHouse test server: the npm package chdb (ClickHouse's engine as an in-process library,
# libchdb, with its native addon for this platform) in its own directory, outside the repository's node_modules.
# test/env/clickhouse-front.ts opens one chdb session on a data directory and serves the ClickHouse HTTP interface over
# it; test/env/clickhouse.ts starts that front. Cached; cold: ~15 s (a ~550 MB native library), warm: instant.
# Result in $CHDB_DIR:
#   package.json, node_modules/chdb (and @chdb/lib-<platform>)   loaded by clickhouse-front.js with createRequire
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
log() { printf '[build-clickhouse %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[build-clickhouse] ERROR: %s\n' "$*" >&2; exit 1; }

stamp="chdb=$CHDB_VERSION node=$(node -p 'process.versions.modules' 2>/dev/null || echo '?') $(uname -s)-$(uname -m)"
if [ -f "$CHDB_DIR/.stamp" ] && [ "$(cat "$CHDB_DIR/.stamp")" = "$stamp" ] && [ -f "$CHDB_DIR/node_modules/chdb/package.json" ]; then
  log "chdb $CHDB_VERSION: cached in $CHDB_DIR"
  exit 0
fi

command -v node >/dev/null || die "node is not on PATH: run 'export PATH=\"\$(bash test/env/node.sh):\$PATH\"', then: bash test/env/build-clickhouse.sh"
command -v npm >/dev/null || die "npm is not on PATH: run 'export PATH=\"\$(bash test/env/node.sh):\$PATH\"', then: bash test/env/build-clickhouse.sh"

mkdir -p "$(dirname "$CHDB_DIR")"
work="$(mktemp -d "$(dirname "$CHDB_DIR")/.chdb-build.XXXXXX")"
( while sleep 30; do log "still installing chdb ..."; done ) & hb=$!
trap 'kill $hb 2>/dev/null || true; rm -rf "$work"' EXIT
staging="$work/chdb-$CHDB_VERSION"
mkdir -p "$staging"
printf '{\n  "name": "jso-test-chdb",\n  "private": true,\n  "description": "the ClickHouse engine of the tests, installed by test/env/build-clickhouse.sh"\n}\n' >"$staging/package.json"

log "chdb $CHDB_VERSION: npm install (the package and its native library for $(uname -s)-$(uname -m))"
if ! (cd "$staging" && npm install --no-audit --no-fund --no-save --loglevel=error "chdb@$CHDB_VERSION") >"$work/npm.log" 2>&1; then
  cat "$work/npm.log" >&2
  die "npm could not install chdb@$CHDB_VERSION; check access to the npm registry, then run: bash test/env/build-clickhouse.sh"
fi
[ -f "$staging/node_modules/chdb/package.json" ] || die "npm did not install node_modules/chdb; run: bash test/env/build-clickhouse.sh"

log "chdb $CHDB_VERSION: $(du -sh "$staging/node_modules" | cut -f1) installed; loading the engine once"
if ! (cd "$staging" && node -e '
  const { Session } = require("chdb");
  const fs = require("fs"), os = require("os"), path = require("path");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jso-chdb-check-"));
  const s = new Session(dir);
  try { process.stdout.write(s.query("SELECT version()", "TSV")); } finally { s.close(); fs.rmSync(dir, { recursive: true, force: true }); }
' >"$work/check.log" 2>&1); then
  cat "$work/check.log" >&2
  die "chdb $CHDB_VERSION was installed but its engine does not load on this machine (log above); run: bash test/env/build-clickhouse.sh"
fi
log "chdb $CHDB_VERSION: engine ClickHouse $(tr -d '\n' <"$work/check.log")"

rm -rf "$CHDB_DIR"
mv "$staging" "$CHDB_DIR"
echo "$stamp" >"$CHDB_DIR/.stamp"
log "chdb $CHDB_VERSION: ready in $CHDB_DIR"
