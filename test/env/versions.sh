# Pinned versions of the real servers the tests start. Sourced by the scripts in test/env/.
K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
JSO_CACHE="${JSO_CACHE:-$HOME/.cache/jaeger-storage-operator}"
K8S_BIN_DIR="$JSO_CACHE/bin/kubernetes-$K8S_VERSION"
ETCD_BIN_DIR="$JSO_CACHE/bin/etcd-$ETCD_VERSION"
KWOK_BIN_DIR="$JSO_CACHE/bin/kwok-$KWOK_VERSION"
JAEGER_VERSION="${JAEGER_VERSION:-v1.76.0}" # Go module tag of Jaeger v2.13.0
JAEGER_BIN_DIR="$JSO_CACHE/bin/jaeger-$JAEGER_VERSION"
OTEL_PROTO_VERSION="${OTEL_PROTO_VERSION:-1.8.0-alpha}" # Maven Central io.opentelemetry.proto:opentelemetry-proto
JAEGER_IDL_VERSION="${JAEGER_IDL_VERSION:-v0.14.0}"      # Go module github.com/jaegertracing/jaeger-idl
GOGO_PROTO_VERSION="${GOGO_PROTO_VERSION:-v1.3.2}"
PROTOS_DIR="$JSO_CACHE/protos"
OPENSEARCH_VERSION="${OPENSEARCH_VERSION:-2.19.6}" # Maven Central org.opensearch:opensearch (+ netty4, painless, analysis-common), on Java 17
OPENSEARCH_DIR="$JSO_CACHE/opensearch-$OPENSEARCH_VERSION"
CASSANDRA_VERSION="${CASSANDRA_VERSION:-5.0.9}" # Maven Central org.apache.cassandra:cassandra-all, one JVM on Java 17
CASSANDRA_DIR="$JSO_CACHE/cassandra-$CASSANDRA_VERSION"
# Maven Central org.elasticsearch.distribution.integ-test-zip:elasticsearch (Elasticsearch's own minimal distribution:
# core, transport-netty4, x-pack-core, x-pack-security; no ILM, data streams or GET /). The first is the default node.
ELASTICSEARCH_VERSIONS="${ELASTICSEARCH_VERSIONS:-9.2.4 8.19.9}"
ELASTICSEARCH_USER="${ELASTICSEARCH_USER:-jso-es}" # the system user the node runs as when the tests run as root
TELEMETRYGEN_VERSION="${TELEMETRYGEN_VERSION:-v0.161.0}" # Go module github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen
# Node for tests, benchmarks and CI: the major of the image's node:26-slim, installed from the npm registry by node.sh
NODE_VERSION="${NODE_VERSION:-26.12.1}"
NODE_DIR="$JSO_CACHE/node-$NODE_VERSION"
CHDB_VERSION="${CHDB_VERSION:-3.4.0}" # npm chdb: the ClickHouse engine in-process (libchdb), served over HTTP by test/env/clickhouse-front.ts
CHDB_DIR="$JSO_CACHE/chdb-$CHDB_VERSION"
