#!/usr/bin/env bash
# Installs the Elasticsearch test servers: Elasticsearch's integration-test distribution from Maven Central
# (org.elasticsearch.distribution.integ-test-zip:elasticsearch:<version>:zip) for each of $ELASTICSEARCH_VERSIONS,
# unpacked under $JSO_CACHE/elasticsearch-<version>, plus a file realm with the test users, and one test start of each
# on loopback. Elasticsearch refuses to run as root: when run as root this creates the system user
# $ELASTICSEARCH_USER, which test/env/elasticsearch.ts drops to. Cached; cold: ~1 min, warm: instant.
# Result in $JSO_CACHE/elasticsearch-<version>:
#   home/          the distribution (bin/elasticsearch, lib/, modules/, config/)
#   users-conf/    users, users_roles and roles.yml of the file realm: jaeger / jaeger-test-password (superuser),
#                  storage / storage-test-password (jaeger_storage: the least privileges the README documents for
#                  a TraceStore's user), viewer / viewer-test-password (the built-in viewer role, read-only)
#   java-home      the JDK (>= 21) the test start ran on
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$here/versions.sh"
log() { printf '[build-elasticsearch %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[build-elasticsearch] ERROR: %s\n' "$*" >&2; exit 1; }

command -v mvn >/dev/null || die "mvn is not installed: install Apache Maven (e.g. 'apt-get install -y maven'), then run: bash test/env/build-elasticsearch.sh"
command -v unzip >/dev/null || die "unzip is not installed (e.g. 'apt-get install -y unzip'), then run: bash test/env/build-elasticsearch.sh"
command -v setpriv >/dev/null || die "setpriv (util-linux) is not installed, then run: bash test/env/build-elasticsearch.sh"

# a JDK >= 21 (Elasticsearch 9 needs it; 8.19 runs on it too): $ES_JAVA_HOME, else the newest under /usr/lib/jvm, else java on PATH
java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^[[:space:]]*java\.specification\.version = //p' | cut -d. -f1; }
jdk=""
for cand in ${ES_JAVA_HOME:-} $(ls -d /usr/lib/jvm/*/ 2>/dev/null | sort -rV) "$(dirname "$(dirname "$(readlink -f "$(command -v java || echo /nonexistent)")")")"; do
  cand="${cand%/}"
  [ -x "$cand/bin/java" ] || continue
  m="$(java_major "$cand")"
  if [ -n "$m" ] && [ "$m" -ge 21 ] 2>/dev/null; then jdk="$cand"; break; fi
done
[ -n "$jdk" ] || die "no JDK >= 21 found (Elasticsearch 9 needs one): install one (e.g. Temurin 25 or 'apt-get install -y openjdk-21-jdk-headless') or set ES_JAVA_HOME, then run: bash test/env/build-elasticsearch.sh"

as_user=()
if [ "$(id -u)" = 0 ]; then
  if ! id "$ELASTICSEARCH_USER" >/dev/null 2>&1; then
    log "creating the system user $ELASTICSEARCH_USER (Elasticsearch refuses to run as root)"
    useradd -r -M -s /usr/sbin/nologin "$ELASTICSEARCH_USER" 2>/dev/null || useradd -r -M "$ELASTICSEARCH_USER" \
      || die "could not create the system user $ELASTICSEARCH_USER; create it (useradd -r -M $ELASTICSEARCH_USER), then run: bash test/env/build-elasticsearch.sh"
  fi
  as_user=(setpriv --reuid "$ELASTICSEARCH_USER" --regid "$ELASTICSEARCH_USER" --clear-groups)
fi

# one build at a time per cache (several checkouts may share it): the lock is released when this script exits
mkdir -p "$JSO_CACHE"
if command -v flock >/dev/null; then
  exec 9>"$JSO_CACHE/.elasticsearch.lock"
  flock 9
fi

for version in $ELASTICSEARCH_VERSIONS; do
  dir="$JSO_CACHE/elasticsearch-$version"
  stamp="elasticsearch=$version $(sha256sum "$0" | cut -c1-16) jdk=$jdk"
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ] && [ -x "$dir/home/bin/elasticsearch" ]; then
    log "elasticsearch $version: cached in $dir"
    continue
  fi
  mkdir -p "$JSO_CACHE"
  work="$(mktemp -d "$JSO_CACHE/.elasticsearch-build.XXXXXX")"
  ( while sleep 30; do log "still installing elasticsearch $version ..."; done ) & hb=$!
  jpid=""
  node=""
  trap 'kill $hb 2>/dev/null || true; [ -z "$jpid" ] || kill -KILL "$jpid" 2>/dev/null || true; rm -rf "$work" ${node:+"$node"}' EXIT

  artifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$version:zip"
  log "elasticsearch $version: fetching $artifact (Maven Central, ~95 MB)"
  if ! mvn -q -B dependency:copy -Dartifact="$artifact" -DoutputDirectory="$work/zip" >"$work/mvn.log" 2>&1; then
    cat "$work/mvn.log" >&2
    die "mvn could not fetch $artifact; check network access to Maven Central, then run: bash test/env/build-elasticsearch.sh"
  fi
  zip="$work/zip/elasticsearch-$version.zip"
  [ -f "$zip" ] || die "mvn reported success but $zip is missing; run: bash test/env/build-elasticsearch.sh"
  unzip -q "$zip" -d "$work"
  rm -rf "$work/zip"
  mv "$work/elasticsearch-$version" "$work/home"
  chmod -R a+rX "$work/home"

  # the file realm's users, written once with the distribution's own tool
  mkdir -p "$work/users-conf"
  cp -r "$work/home/config/." "$work/users-conf/"
  # the role the README documents for a TraceStore's Elasticsearch user
  # (exactly as documented, for the prefix "least" the tests use with this user)
  cat >"$work/users-conf/roles.yml" <<'YML'
jaeger_storage:
  cluster: ["monitor", "manage_index_templates", "manage_ilm"]
  indices:
    - names: ["least-jaeger-*", "least.jaeger.spans*"]
      privileges: ["create_index", "delete_index", "manage", "read", "write", "view_index_metadata"]
YML
  for u in "jaeger jaeger-test-password superuser" "storage storage-test-password jaeger_storage" "viewer viewer-test-password viewer"; do
    set -- $u
    ES_PATH_CONF="$work/users-conf" ES_JAVA_HOME="$jdk" "$work/home/bin/elasticsearch-users" useradd "$1" -p "$2" -r "$3" >"$work/users.log" 2>&1 \
      || { cat "$work/users.log" >&2; die "elasticsearch-users could not add the test user $1; run: bash test/env/build-elasticsearch.sh"; }
  done
  mkdir -p "$work/keep" && cp "$work/users-conf/users" "$work/users-conf/users_roles" "$work/users-conf/roles.yml" "$work/keep/" && rm -rf "$work/users-conf" && mv "$work/keep" "$work/users-conf"
  chmod -R a+rX "$work/users-conf"
  echo "$jdk" >"$work/java-home"

  # one start on loopback, as the node will run in the tests; a failure here means it cannot start at all
  log "elasticsearch $version: test start on 127.0.0.1 with $jdk"
  # outside the cache: the node's user may not traverse $HOME; the distribution is linked in, not copied, when it can be
  node="$(mktemp -d "${TMPDIR:-/tmp}/jso-es-build.XXXXXX")"
  mkdir -p "$node/conf" "$node/data" "$node/logs" "$node/tmp"
  cp -al "$work/home" "$node/home" 2>/dev/null || { rm -rf "$node/home"; cp -a "$work/home" "$node/home"; }
  cp -r "$work/home/config/." "$node/conf/"
  cat >"$node/conf/elasticsearch.yml" <<YML
network.host: 127.0.0.1
http.port: 0
transport.port: 0
discovery.type: single-node
path.data: $node/data
path.logs: $node/logs
xpack.security.enabled: false
YML
  chmod a+rx "$node"
  [ ${#as_user[@]} = 0 ] || chown -R "$ELASTICSEARCH_USER:" "$node/conf" "$node/data" "$node/logs" "$node/tmp"
  (cd "$node/tmp" && ES_PATH_CONF="$node/conf" ES_JAVA_HOME="$jdk" ES_TMPDIR="$node/tmp" ES_JAVA_OPTS="-Xms512m -Xmx512m" \
    exec "${as_user[@]}" "$node/home/bin/elasticsearch" -p "$node/tmp/es.pid") >"$work/start.log" 2>&1 & jpid=$!
  up=""
  for _ in $(seq 900); do
    if grep -q 'publish_address.*127.0.0.1' "$work/start.log" && grep -qE 'started|recovered \[' "$work/start.log"; then up=1; break; fi
    kill -0 $jpid 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$up" ]; then
    kill -KILL $jpid 2>/dev/null || true
    tail -40 "$work/start.log" >&2
    die "the Elasticsearch $version test node did not start (log above); run: bash test/env/build-elasticsearch.sh"
  fi
  log "elasticsearch $version: started; stopping"
  kill -TERM "$(cat "$node/tmp/es.pid" 2>/dev/null || echo $jpid)" 2>/dev/null || true
  wait $jpid || true
  jpid=""
  rm -rf "$node" "$work/start.log" "$work/mvn.log" "$work/users.log"

  rm -rf "$dir"
  mv -T "$work" "$dir"
  chmod a+rx "$dir"
  echo "$stamp" >"$dir/.stamp"
  kill $hb 2>/dev/null || true
  trap - EXIT
  log "elasticsearch $version: ready in $dir"
done
