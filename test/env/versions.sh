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
