#!/usr/bin/env bash
# Assembles a single-node OpenSearch test server that runs on the JVM from Maven Central artifacts
# (org.opensearch:opensearch with the transport-netty4-client, lang-painless and analysis-common modules as
# classpath plugins), started by test/env/opensearch/EmbeddedOpenSearch.java. Cached; cold: ~30 s, warm: instant.
# Result in $OPENSEARCH_DIR:
#   lib/*.jar                 OpenSearch and its modules
#   embedded-opensearch.jar   the EmbeddedOpenSearch main class
#   opensearch.jsa            class-data-sharing archive of a start (halves the start time); optional at run time
#   java -Xmx512m -XX:SharedArchiveFile="$OPENSEARCH_DIR/opensearch.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off \
#     -cp "$OPENSEARCH_DIR/embedded-opensearch.jar:$OPENSEARCH_DIR/lib/*" EmbeddedOpenSearch http.port=9200 path.data=...
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
log() { printf '[build-opensearch %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[build-opensearch] ERROR: %s\n' "$*" >&2; exit 1; }

src="$here/opensearch"
# the cache is keyed by the version, the content of the pom and the launcher source, and the JVM (the CDS archive is
# only valid for the JVM that wrote it)
javaid="$( (java -version 2>&1 || true) | tr '\n' ' ' | sha256sum | cut -c1-8)"
stamp="opensearch=$OPENSEARCH_VERSION $(cat "$src/pom.xml" "$src/EmbeddedOpenSearch.java" "$here/java/ParentWatch.java" | sha256sum | cut -c1-16) java=$javaid"
if [ -f "$OPENSEARCH_DIR/.stamp" ] && [ "$(cat "$OPENSEARCH_DIR/.stamp")" = "$stamp" ] \
  && [ -f "$OPENSEARCH_DIR/embedded-opensearch.jar" ] && [ -f "$OPENSEARCH_DIR/lib/opensearch-$OPENSEARCH_VERSION.jar" ]; then
  log "opensearch $OPENSEARCH_VERSION: cached in $OPENSEARCH_DIR"
  exit 0
fi

command -v java >/dev/null || die "java is not installed: install a JDK >= 17 (e.g. 'apt-get install -y openjdk-17-jdk-headless'), then run: bash test/env/build-opensearch.sh"
command -v javac >/dev/null || die "javac is not installed (a JRE is not enough): install a JDK >= 17 (e.g. 'apt-get install -y openjdk-17-jdk-headless'), then run: bash test/env/build-opensearch.sh"
command -v jar >/dev/null || die "jar is not installed (a JRE is not enough): install a JDK >= 17 (e.g. 'apt-get install -y openjdk-17-jdk-headless'), then run: bash test/env/build-opensearch.sh"
command -v mvn >/dev/null || die "mvn is not installed: install Apache Maven (e.g. 'apt-get install -y maven'), then run: bash test/env/build-opensearch.sh"
jv="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^[[:space:]]*java\.specification\.version = //p')"
[ "${jv%%.*}" -ge 17 ] 2>/dev/null || die "java ${jv:-?} is too old for OpenSearch $OPENSEARCH_VERSION: put a JDK >= 17 first on PATH, then run: bash test/env/build-opensearch.sh"

mkdir -p "$(dirname "$OPENSEARCH_DIR")"
work="$(mktemp -d "$(dirname "$OPENSEARCH_DIR")/.opensearch-build.XXXXXX")"
( while sleep 30; do log "still building opensearch ..."; done ) & hb=$!
jpid=
trap 'kill $hb 2>/dev/null || true; [ -z "$jpid" ] || kill -KILL "$jpid" 2>/dev/null || true; rm -rf "$work"' EXIT
staging="$work/opensearch-$OPENSEARCH_VERSION"
mkdir -p "$staging/lib" "$work/classes"
cp "$src/pom.xml" "$work/pom.xml"

log "opensearch $OPENSEARCH_VERSION: resolving org.opensearch:opensearch and modules (Maven Central)"
if ! (cd "$work" && mvn -q -B -f pom.xml -Dopensearch.version="$OPENSEARCH_VERSION" dependency:copy-dependencies \
  -DoutputDirectory="$staging/lib" -DincludeScope=runtime) >"$work/mvn.log" 2>&1; then
  cat "$work/mvn.log" >&2
  die "mvn could not resolve OpenSearch $OPENSEARCH_VERSION; check network access to Maven Central, then run: bash test/env/build-opensearch.sh"
fi
[ -f "$staging/lib/opensearch-$OPENSEARCH_VERSION.jar" ] || die "mvn did not produce lib/opensearch-$OPENSEARCH_VERSION.jar; run: bash test/env/build-opensearch.sh"
log "opensearch $OPENSEARCH_VERSION: $(find "$staging/lib" -name '*.jar' | wc -l) jars ($(du -sh "$staging/lib" | cut -f1)); compiling EmbeddedOpenSearch"
if ! javac -nowarn -proc:none -cp "$staging/lib/*" -d "$work/classes" "$src/EmbeddedOpenSearch.java" "$here/java/ParentWatch.java" >"$work/javac.log" 2>&1; then
  cat "$work/javac.log" >&2
  die "javac failed on test/env/opensearch/EmbeddedOpenSearch.java against OpenSearch $OPENSEARCH_VERSION; fix it, then run: bash test/env/build-opensearch.sh"
fi
jar cf "$staging/embedded-opensearch.jar" -C "$work/classes" .

rm -rf "$OPENSEARCH_DIR"
mv "$staging" "$OPENSEARCH_DIR"

# one start and stop of the node on loopback, recording the loaded classes into a CDS archive (at the final paths:
# the archive names the jars it was made from); a failure here means the server cannot start at all
log "opensearch $OPENSEARCH_VERSION: test start on 127.0.0.1 (writes the class-data-sharing archive)"
mkdir -p "$work/home"
java -Xms512m -Xmx512m -XX:+UseSerialGC -XX:ArchiveClassesAtExit="$OPENSEARCH_DIR/opensearch.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off \
  -Dopensearch.set.netty.runtime.available.processors=false -Djava.io.tmpdir="$work/home" \
  -cp "$OPENSEARCH_DIR/embedded-opensearch.jar:$OPENSEARCH_DIR/lib/*" EmbeddedOpenSearch http.port=0 path.home="$work/home" >"$work/start.log" 2>&1 & jpid=$!
for _ in $(seq 1200); do grep -q '^OPENSEARCH READY' "$work/start.log" && break; kill -0 $jpid 2>/dev/null || break; sleep 0.1; done
if ! grep -q '^OPENSEARCH READY' "$work/start.log"; then
  kill -KILL $jpid 2>/dev/null || true
  tail -50 "$work/start.log" >&2
  die "the OpenSearch $OPENSEARCH_VERSION test node did not start (log above); run: bash test/env/build-opensearch.sh"
fi
log "opensearch $OPENSEARCH_VERSION: $(grep '^OPENSEARCH READY' "$work/start.log"); stopping"
kill -TERM $jpid
wait $jpid || true
jpid=
[ -s "$OPENSEARCH_DIR/opensearch.jsa" ] || { log "opensearch $OPENSEARCH_VERSION: no CDS archive was written (starts will be slower)"; rm -f "$OPENSEARCH_DIR/opensearch.jsa"; }

echo "$stamp" > "$OPENSEARCH_DIR/.stamp"
log "opensearch $OPENSEARCH_VERSION: ready in $OPENSEARCH_DIR"
