#!/usr/bin/env bash
# Fetches the upstream .proto files that tests load with @grpc/proto-loader, so that our gRPC services are checked
# by a client built from the published definitions rather than from our own codec. Cached; warm: instant.
#   opentelemetry/proto/**  from the Maven Central jar io.opentelemetry.proto:opentelemetry-proto:$OTEL_PROTO_VERSION
#   api_v3/, api_v2/, storage/v2/, expression/v1/
#                           from the Go module github.com/jaegertracing/jaeger-idl@$JAEGER_IDL_VERSION (proto/), with
#                           their OpenAPI and field_behavior options stripped (strip-proto-options.mjs: documentation
#                           only, their imports are in neither protobufjs nor the module)
#   gogoproto/gogo.proto    from the Go module github.com/gogo/protobuf@$GOGO_PROTO_VERSION (imported by api_v2)
#   (google/api and google/protobuf imports resolve from the protobufjs package in node_modules)
# Result: $JSO_CACHE/protos, an include directory for proto-loader.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
log() { printf '[fetch-protos %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[fetch-protos] ERROR: %s\n' "$*" >&2; exit 1; }

stamp="otel=$OTEL_PROTO_VERSION jaeger-idl=$JAEGER_IDL_VERSION gogo=$GOGO_PROTO_VERSION stripped"
if [ -f "$PROTOS_DIR/.versions" ] && [ "$(cat "$PROTOS_DIR/.versions")" = "$stamp" ] \
  && [ -f "$PROTOS_DIR/opentelemetry/proto/trace/v1/trace.proto" ] && [ -f "$PROTOS_DIR/api_v3/query_service.proto" ] && [ -f "$PROTOS_DIR/storage/v2/capabilities.proto" ] && [ -f "$PROTOS_DIR/gogoproto/gogo.proto" ]; then
  log "protos ($stamp): cached in $PROTOS_DIR"
  exit 0
fi

command -v mvn >/dev/null || die "mvn is not installed: install Apache Maven (e.g. 'apt-get install -y maven'), then run: bash test/env/fetch-protos.sh"
command -v go >/dev/null || die "go is not installed: install Go >= 1.26 (https://go.dev/doc/install), then run: bash test/env/fetch-protos.sh"
command -v unzip >/dev/null || die "unzip is not installed: install it (e.g. 'apt-get install -y unzip'), then run: bash test/env/fetch-protos.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
staging="$work/protos"
mkdir -p "$staging"

artifact="io.opentelemetry.proto:opentelemetry-proto:$OTEL_PROTO_VERSION"
log "opentelemetry-proto $OTEL_PROTO_VERSION: fetching $artifact (Maven Central)"
if ! mvn -q -B dependency:copy -Dartifact="$artifact" -DoutputDirectory="$work/jar" >"$work/mvn.log" 2>&1; then
  cat "$work/mvn.log" >&2
  die "mvn could not fetch $artifact; check network access to Maven Central, then run: bash test/env/fetch-protos.sh"
fi
jar="$work/jar/opentelemetry-proto-$OTEL_PROTO_VERSION.jar"
[ -f "$jar" ] || die "mvn did not produce $jar"
log "opentelemetry-proto $OTEL_PROTO_VERSION: extracting *.proto"
unzip -q -o "$jar" '*.proto' -d "$staging"
[ -f "$staging/opentelemetry/proto/trace/v1/trace.proto" ] || die "$jar has no opentelemetry/proto/trace/v1/trace.proto"

module="github.com/jaegertracing/jaeger-idl@$JAEGER_IDL_VERSION"
log "jaeger-idl $JAEGER_IDL_VERSION: downloading $module (Go module proxy)"
# outside any module, so that go does not consult or change a go.mod
dir="$(cd "$work" && GO111MODULE=on GOFLAGS=-mod=mod go mod download -json "$module" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
[ -n "$dir" ] && [ -d "$dir/proto" ] || die "go mod download $module gave no proto/ directory; run: bash test/env/fetch-protos.sh"
log "jaeger-idl $JAEGER_IDL_VERSION: copying proto/{api_v3,api_v2,storage/v2,expression/v1} from $dir"
mkdir -p "$staging/storage" "$staging/expression"
cp -R "$dir/proto/api_v3" "$dir/proto/api_v2" "$staging/"
cp -R "$dir/proto/storage/v2" "$staging/storage/"
cp -R "$dir/proto/expression/v1" "$staging/expression/"
chmod -R u+w "$staging"
command -v node >/dev/null || die "node is not on PATH: run: export PATH=\"\$(bash test/env/node.sh):\$PATH\", then: bash test/env/fetch-protos.sh"
node "$here/strip-proto-options.mjs" "$staging"/api_v3/*.proto "$staging"/storage/v2/*.proto "$staging"/expression/v1/*.proto
gogo="github.com/gogo/protobuf@$GOGO_PROTO_VERSION"
log "gogoproto $GOGO_PROTO_VERSION: downloading $gogo (Go module proxy)"
gdir="$(cd "$work" && GO111MODULE=on GOFLAGS=-mod=mod go mod download -json "$gogo" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
[ -n "$gdir" ] && [ -f "$gdir/gogoproto/gogo.proto" ] || die "go mod download $gogo gave no gogoproto/gogo.proto; run: bash test/env/fetch-protos.sh"
mkdir -p "$staging/gogoproto"
cp "$gdir/gogoproto/gogo.proto" "$staging/gogoproto/"
chmod -R u+w "$staging"

echo "$stamp" > "$staging/.versions"
rm -rf "$PROTOS_DIR"
mkdir -p "$(dirname "$PROTOS_DIR")"
mv "$staging" "$PROTOS_DIR"
log "protos ($stamp): ready in $PROTOS_DIR ($(find "$PROTOS_DIR" -name '*.proto' | wc -l) files)"
