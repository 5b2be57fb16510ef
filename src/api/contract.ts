// The operator <-> runtime <-> user contract that both sides import: label and annotation names and the names of
// objects one side creates and the other reads. Changing a value here is a breaking change for running clusters.
import { createHash } from 'node:crypto';
import { GROUP } from './common.js';
import type { DEFAULT_PORTS } from './runtime-config.js';
import type { ListenerGroupName } from './tracestore.js';

/** Recommended labels on every object the operator manages; name + instance select a TraceStore's runtime pods. */
export const MANAGED_BY = 'jaeger-storage-operator';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';
/** Label selector matching every object the operator manages (used to scope child informers). */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
/** The value of LABEL_NAME on runtime pods (and the other runtime objects). */
export const RUNTIME_APP = 'jaeger-storage-runtime';
/** app.kubernetes.io/name of the query front pods (spec.query): stock Jaeger v2 reading through the runtime */
export const QUERY_APP = 'jaeger-storage-query';
/** the query front's ports: Jaeger's own defaults (UI and HTTP APIs, api_v3 gRPC, its health check extension) */
export const QUERY_PORTS = { http: 16686, grpc: 16685, health: 13133 } as const;
export const QUERY_PORT_NAMES: Record<keyof typeof QUERY_PORTS, string> = { http: 'query-http', grpc: 'query-grpc', health: 'health' };
/** where the query front's Jaeger configuration is mounted (file CONFIG_FILE) */
export const QUERY_CONFIG_MOUNT = '/etc/jaeger';
/** where the CA of the runtime's remote-storage TLS Secret is mounted in the query front */
export const QUERY_TLS_MOUNT = '/etc/jaeger-remote-storage-tls';
/** where the front's own client certificate (spec.query.remoteStorageClientTls) is mounted */
export const QUERY_CLIENT_TLS_MOUNT = '/etc/jaeger-remote-storage-client-tls';
/** the env var (from secretKeyRef) holding the bearer token the query front sends to the runtime */
export const QUERY_TOKEN_ENV = 'JSO_REMOTE_STORAGE_TOKEN';

/** Hash of the rendered runtime config: on the pod template (rollout trigger) and on the config's ConfigMap. */
export const ANNOTATION_CONFIG_HASH = `${GROUP}/config-hash`;
/** hash of the rest of a child as the operator applies it: a field removed from the spec changes it (query front) */
export const ANNOTATION_APPLIED_HASH = `${GROUP}/applied-hash`;
/** Hash of the versions of the backend Secrets, on the pod template: pods restart when one changes. */
export const ANNOTATION_SECRETS = `${GROUP}/secrets-version`;

/** Where the runtime config is mounted in the runtime pods, and its file name (the ConfigMap key). */
export const CONFIG_MOUNT = '/etc/jaeger-storage';
export const CONFIG_FILE = 'config.yaml';
/** Where the Secrets of spec.runtime.security are mounted: <SECURITY_MOUNT>/<group dir>/{tls,auth}/. */
export const SECURITY_MOUNT = '/etc/jaeger-storage-security';
/** File name of a listener group's bearer tokens inside its auth directory. */
export const TOKENS_FILE = 'tokens';

/** Environment of the runtime container: its own pod's name and namespace (downward API), for its reports. */
export const POD_NAME_ENV = 'POD_NAME';
export const POD_NAMESPACE_ENV = 'POD_NAMESPACE';

/** Container and Service port names of the runtime listeners. */
export const PORT_NAMES: Record<keyof typeof DEFAULT_PORTS, string> = {
  otlpGrpc: 'otlp-grpc',
  otlpHttp: 'otlp-http',
  queryHttp: 'query-http',
  queryGrpc: 'query-grpc',
  remoteStorage: 'remote-storage',
  samplingHttp: 'sampling-http',
  samplingGrpc: 'sampling-grpc',
  admin: 'admin',
};

/** The ports of each listener group (the admin port belongs to none: probes and metrics). */
export const GROUP_PORTS: Record<ListenerGroupName, (keyof typeof DEFAULT_PORTS)[]> = {
  ingest: ['otlpGrpc', 'otlpHttp'],
  query: ['queryHttp', 'queryGrpc'],
  remoteStorage: ['remoteStorage'],
  sampling: ['samplingHttp', 'samplingGrpc'],
};

/** A Secret is usable by TraceStores only with this label set to "true" (the operator caches only such Secrets). */
export const SECRET_ALLOW_LABEL = `${GROUP}/allow`;
/** Label selector of the operator's Secret informer. */
export const SECRET_ALLOW_SELECTOR = `${SECRET_ALLOW_LABEL}=true`;
/** Optional: comma-separated TraceStore names (same namespace) that may use the Secret; absent = any. */
export const SECRET_ALLOWED_TRACESTORES_ANNOTATION = `${GROUP}/allowed-tracestores`;

/**
 * Each TraceStore has one Lease, created and owned by the operator, on which its runtime pods report what they
 * enforce. The runtime may only get and patch this Lease (Role with resourceNames).
 */
export const runtimeReportLeaseName = (traceStore: string): string => `${traceStore}-runtime-report`;
/** Each runtime pod writes `name=generation,...` under the annotation `<prefix><its pod name>` of that Lease. */
export const REPORT_ANNOTATION_PREFIX = `sampling.${GROUP}/`;
/** The name part of a pod's annotation keys: a qualified name of at most 63 characters (generated pod names fit). */
function podKey(podName: string): string {
  return /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(podName)
    ? podName
    : `${podName.slice(0, 52).replace(/[^-A-Za-z0-9_.]/g, '-').replace(/^[^A-Za-z0-9]+/, 'p')}-${createHash('sha256').update(podName).digest('hex').slice(0, 10)}`;
}
export function reportAnnotation(podName: string): string {
  return `${REPORT_ANNOTATION_PREFIX}${podKey(podName)}`;
}
/**
 * A runtime pod whose backend refuses writes for lack of space (the embedded store's disk is full) says so under
 * `<prefix><its pod name>` of the same Lease, the value being the backend's message; the key is removed when
 * writes succeed again. The operator turns it into Ready=False, reason BackendFull.
 */
export const BACKEND_REPORT_ANNOTATION_PREFIX = `backend.${GROUP}/`;
export function backendReportAnnotation(podName: string): string {
  return `${BACKEND_REPORT_ANNOTATION_PREFIX}${podKey(podName)}`;
}

/**
 * Set on a TraceStore whose spec.deletionPolicy is Delete and whose backend keeps data outside the cluster: the
 * operator drops that data (the backend plug-in's cleanup) before it lets the TraceStore go.
 */
export const DELETE_DATA_FINALIZER = `${GROUP}/delete-data`;
