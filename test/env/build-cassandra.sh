#!/usr/bin/env bash
# Assembles a single-node Cassandra test server that runs on the JVM from Maven Central artifacts
# (org.apache.cassandra:cassandra-all and its runtime dependencies), started by test/env/cassandra/CassandraLauncher.java
# (Cassandra's own main behind a watch on the parent process). Cached; cold: ~1.5 min, warm: instant.
# Result in $CASSANDRA_DIR:
#   lib/*.jar                 Cassandra and its dependencies
#   cassandra-launcher.jar    the CassandraLauncher main class
#   cassandra.jsa             class-data-sharing archive of a start (starts in about half the time); optional at run time
# test/env/cassandra.ts runs it (config templates and JVM options in test/env/cassandra/):
#   java -Xmx512m @test/env/cassandra/jvm.options -XX:SharedArchiveFile="$CASSANDRA_DIR/cassandra.jsa" -Xlog:cds=off \
#     -Xlog:cds+dynamic=off -Dcassandra.config=file:///.../cassandra.yaml -Dcassandra.storagedir=... \
#     -Dlogback.configurationFile=... -cp "$CASSANDRA_DIR/cassandra-launcher.jar:$CASSANDRA_DIR/lib/*" CassandraLauncher
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
log() { printf '[build-cassandra %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[build-cassandra] ERROR: %s\n' "$*" >&2; exit 1; }

src="$here/cassandra"
# the cache is keyed by the version, the pom, the launcher source and JVM options, and the JVM (the CDS archive is only
# valid for the JVM that wrote it)
javaid="$( (java -version 2>&1 || true) | tr '\n' ' ' | sha256sum | cut -c1-8)"
stamp="cassandra=$CASSANDRA_VERSION $(cat "$src/pom.xml" "$src/CassandraLauncher.java" "$here/java/ParentWatch.java" "$src/jvm.options" | sha256sum | cut -c1-16) java=$javaid"
if [ -f "$CASSANDRA_DIR/.stamp" ] && [ "$(cat "$CASSANDRA_DIR/.stamp")" = "$stamp" ] \
  && [ -f "$CASSANDRA_DIR/cassandra-launcher.jar" ] && [ -f "$CASSANDRA_DIR/lib/cassandra-all-$CASSANDRA_VERSION.jar" ]; then
  log "cassandra $CASSANDRA_VERSION: cached in $CASSANDRA_DIR"
  exit 0
fi

fix="install a JDK 17 (e.g. 'apt-get install -y openjdk-17-jdk-headless'), then run: bash test/env/build-cassandra.sh"
command -v java >/dev/null || die "java is not installed: $fix"
command -v javac >/dev/null || die "javac is not installed (a JRE is not enough): $fix"
command -v jar >/dev/null || die "jar is not installed (a JRE is not enough): $fix"
command -v mvn >/dev/null || die "mvn is not installed: install Apache Maven (e.g. 'apt-get install -y maven'), then run: bash test/env/build-cassandra.sh"
jv="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^[[:space:]]*java\.specification\.version = //p')"
# Cassandra 5.0 supports Java 11 and 17 (it installs a SecurityManager, which later JDKs refuse by default)
[ "$jv" = 17 ] || die "java ${jv:-?} cannot run Cassandra $CASSANDRA_VERSION (Java 17 only here): put a JDK 17 first on PATH, then run: bash test/env/build-cassandra.sh"

mkdir -p "$(dirname "$CASSANDRA_DIR")"
work="$(mktemp -d "$(dirname "$CASSANDRA_DIR")/.cassandra-build.XXXXXX")"
( while sleep 30; do log "still building cassandra ..."; done ) & hb=$!
jpid=
trap 'kill $hb 2>/dev/null || true; [ -z "$jpid" ] || kill -KILL "$jpid" 2>/dev/null || true; rm -rf "$work"' EXIT
staging="$work/cassandra-$CASSANDRA_VERSION"
mkdir -p "$staging/lib" "$work/classes"
cp "$src/pom.xml" "$work/pom.xml"

log "cassandra $CASSANDRA_VERSION: resolving org.apache.cassandra:cassandra-all and its runtime dependencies (Maven Central)"
if ! (cd "$work" && mvn -q -B -f pom.xml -Dcassandra.version="$CASSANDRA_VERSION" dependency:copy-dependencies \
  -DoutputDirectory="$staging/lib" -DincludeScope=runtime) >"$work/mvn.log" 2>&1; then
  cat "$work/mvn.log" >&2
  die "mvn could not resolve Cassandra $CASSANDRA_VERSION; check network access to Maven Central, then run: bash test/env/build-cassandra.sh"
fi
[ -f "$staging/lib/cassandra-all-$CASSANDRA_VERSION.jar" ] || die "mvn did not produce lib/cassandra-all-$CASSANDRA_VERSION.jar; run: bash test/env/build-cassandra.sh"
log "cassandra $CASSANDRA_VERSION: $(find "$staging/lib" -name '*.jar' | wc -l) jars ($(du -sh "$staging/lib" | cut -f1)); compiling CassandraLauncher"
if ! javac -nowarn -proc:none -cp "$staging/lib/*" -d "$work/classes" "$src/CassandraLauncher.java" "$here/java/ParentWatch.java" >"$work/javac.log" 2>&1; then
  cat "$work/javac.log" >&2
  die "javac failed on test/env/cassandra/CassandraLauncher.java against Cassandra $CASSANDRA_VERSION; fix it, then run: bash test/env/build-cassandra.sh"
fi
jar cf "$staging/cassandra-launcher.jar" -C "$work/classes" .

rm -rf "$CASSANDRA_DIR"
mv "$staging" "$CASSANDRA_DIR"

# a loopback port below the ephemeral range that nothing answers on
port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  die "no free loopback port found for the test start; run: bash test/env/build-cassandra.sh"
}

# one start and stop of the node on loopback, recording the loaded classes into a CDS archive (at the final paths:
# the archive names the jars it was made from); a failure here means the server cannot start at all
log "cassandra $CASSANDRA_VERSION: test start on 127.0.0.1 (writes the class-data-sharing archive)"
node="$work/node"
mkdir -p "$node/tmp" "$node/data"
storage_port="$(port)"
native_port="$(port)"
sed -e "s|@STORAGE_PORT@|$storage_port|g; s|@NATIVE_PORT@|$native_port|g; s|@DATA_DIR@|$node/data|g" \
  -e "s|@AUTHENTICATOR@|PasswordAuthenticator|g; s|@AUTHORIZER@|CassandraAuthorizer|g" "$src/cassandra.yaml" >"$node/cassandra.yaml"
# as root, without CAP_IPC_LOCK: Cassandra's mlockall at start would otherwise make the whole heap resident (as cassandra.ts)
nolock=()
[ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null || nolock=(setpriv --bounding-set -ipc_lock)
"${nolock[@]}" java -Xmx512m @"$src/jvm.options" -XX:ArchiveClassesAtExit="$CASSANDRA_DIR/cassandra.jsa" -Xlog:cds=off -Xlog:cds+dynamic=off \
  -Djava.io.tmpdir="$node/tmp" -Dcassandra.config="file://$node/cassandra.yaml" -Dcassandra.storagedir="$node/data" \
  -Dlogback.configurationFile="$src/logback.xml" \
  -cp "$CASSANDRA_DIR/cassandra-launcher.jar:$CASSANDRA_DIR/lib/*" CassandraLauncher >"$work/start.log" 2>&1 & jpid=$!
t0=$SECONDS
for _ in $(seq 1800); do grep -q 'Startup complete' "$work/start.log" && break; kill -0 $jpid 2>/dev/null || break; sleep 0.1; done
if ! grep -q 'Startup complete' "$work/start.log" || ! (exec 3<>"/dev/tcp/127.0.0.1/$native_port") 2>/dev/null; then
  kill -KILL $jpid 2>/dev/null || true
  tail -50 "$work/start.log" >&2
  die "the Cassandra $CASSANDRA_VERSION test node did not start (log above); run: bash test/env/build-cassandra.sh"
fi
log "cassandra $CASSANDRA_VERSION: started in $((SECONDS - t0)) s, CQL on 127.0.0.1:$native_port; stopping"
kill -TERM $jpid
wait $jpid || true
jpid=
[ -s "$CASSANDRA_DIR/cassandra.jsa" ] || { log "cassandra $CASSANDRA_VERSION: no CDS archive was written (starts will be slower)"; rm -f "$CASSANDRA_DIR/cassandra.jsa"; }

echo "$stamp" > "$CASSANDRA_DIR/.stamp"
log "cassandra $CASSANDRA_VERSION: ready in $CASSANDRA_DIR"
