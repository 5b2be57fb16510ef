// Desired state of a TraceStore's runtime, as pure functions of the TraceStore and the operator's settings.
import { createHash } from 'node:crypto';
import type { V1ConfigMap, V1Deployment, V1LabelSelector, V1Lease, V1ObjectMeta, V1Role, V1RoleBinding, V1Service, V1ServiceAccount, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { runtimeReportLeaseName } from '../../api/contract.js';
import { stringify } from 'yaml';
import { API_VERSION } from '../../api/common.js';
import { type BackendType, LISTENER_GROUPS, type ListenerGroupName, type TraceStore, backendTypeOf } from '../../api/tracestore.js';
import { withDefaults } from '../../api/crds.js';
export type { SecretUse } from './backend-pod.js';
import { DEFAULT_PORTS, type RuntimeConfig } from '../../api/runtime-config.js';
import { type SecretUse, backendPod, backendSpecOf } from './backend-pod.js';
import { type OperatorBackendPlugin, type OperatorPluginTable, isAvailable } from '../../api/backend-plugin.js';

export const MANAGED_BY = 'jaeger-storage-operator';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';
export const ANNOTATION_CONFIG_HASH = 'storage.jaegertracing.io/config-hash';
export const ANNOTATION_SECRETS = 'storage.jaegertracing.io/secrets-version';
export const RUNTIME_APP = 'jaeger-storage-runtime';
export const CONFIG_MOUNT = '/etc/jaeger-storage';
export const CONFIG_FILE = 'config.yaml';

/** Label selector matching every object the operator manages (used to scope child informers). */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

export interface OperatorSettings {
  runtimeImage: string;
  /** the backend plug-ins (src/storage/plugins.ts), handed in by the composition root */
  plugins: OperatorPluginTable;
}

/** The plug-in serving this spec's backend; throws for a type this version does not serve (reconcile checks first). */
export function pluginFor(spec: TraceStore['spec'], plugins: OperatorPluginTable): OperatorBackendPlugin {
  const type = backendTypeOf(spec?.backend);
  if (!type) throw new Error('a validated spec with exactly one backend is needed');
  const p = plugins[type] as OperatorPluginTable[BackendType];
  if (!isAvailable(p)) throw new Error(`the ${type} backend is not in this version: ${p.notInThisVersion}`);
  return p;
}

export interface DesiredRuntime {
  backend: BackendType;
  config: RuntimeConfig;
  configHash: string;
  configMap: V1ConfigMap;
  deployment: V1Deployment;
  service: V1Service;
  serviceAccount: V1ServiceAccount;
  role: V1Role;
  roleBinding: V1RoleBinding;
  /** where the runtime pods report what they enforce (one annotation per pod) */
  reportLease: V1Lease;
  /** spec.runtime.networkPolicy.enabled: the policy admitting each listener group from its peers */
  networkPolicy?: NetworkPolicy;
}

/** A NetworkPolicy in its JSON form (the client-node model names the `from` field `_from`). */
export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: V1ObjectMeta;
  spec: {
    podSelector: V1LabelSelector;
    policyTypes: string[];
    ingress: { ports: { protocol: string; port: number }[]; from?: NetworkPolicyPeer[] }[];
  };
}
export type NetworkPolicyPeer = NonNullable<NonNullable<NonNullable<TraceStore['spec']['runtime']>['networkPolicy']>['ingest']>['from'][number];

/** Where the Secrets of spec.runtime.security are mounted: <SECURITY_MOUNT>/<group dir>/{tls,auth}/. */
export const SECURITY_MOUNT = '/etc/jaeger-storage-security';
const GROUP_DIR: Record<ListenerGroupName, string> = { ingest: 'ingest', query: 'query', remoteStorage: 'remote-storage', sampling: 'sampling' };
export const TOKENS_FILE = 'tokens';

/** The ports of each listener group (the admin port belongs to none: probes and metrics). */
export const GROUP_PORTS: Record<ListenerGroupName, (keyof typeof DEFAULT_PORTS)[]> = {
  ingest: ['otlpGrpc', 'otlpHttp'],
  query: ['queryHttp', 'queryGrpc'],
  remoteStorage: ['remoteStorage'],
  sampling: ['samplingHttp', 'samplingGrpc'],
};

/** The Secrets referenced by spec.runtime.security, with the spec field of each. */
export function securitySecrets(spec: TraceStore['spec'] | undefined): { group: ListenerGroupName; kind: 'tls' | 'auth'; field: string; name: string; keys: string[] }[] {
  const sec = spec?.runtime?.security;
  const out: ReturnType<typeof securitySecrets> = [];
  for (const g of LISTENER_GROUPS) {
    const c = sec?.[g];
    if (c?.tls) out.push({ group: g, kind: 'tls', field: `spec.runtime.security.${g}.tls.secretRef`, name: c.tls.secretRef.name, keys: ['tls.crt', 'tls.key', ...(c.tls.requireClientCert ? ['ca.crt'] : [])] });
    if (c?.auth) out.push({ group: g, kind: 'auth', field: `spec.runtime.security.${g}.auth.tokenSecretRef`, name: c.auth.tokenSecretRef.name, keys: [c.auth.tokenSecretRef.key ?? 'token'] });
  }
  return out;
}

function securityVolumes(spec: TraceStore['spec']): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  for (const s of securitySecrets(spec)) {
    const name = `${s.kind}-${GROUP_DIR[s.group]}`;
    // only the keys the runtime reads; a missing key keeps the pod from starting (kubelet event names it)
    const items = s.kind === 'tls' ? s.keys.map((k) => ({ key: k, path: k })) : [{ key: s.keys[0]!, path: TOKENS_FILE }];
    volumes.push({ name, secret: { secretName: s.name, items, defaultMode: 0o440 } });
    mounts.push({ name, mountPath: `${SECURITY_MOUNT}/${GROUP_DIR[s.group]}/${s.kind}`, readOnly: true });
  }
  return { volumes, mounts };
}

/** The runtime's security section: file paths of the mounted Secrets. */
function renderSecurity(spec: TraceStore['spec']): RuntimeConfig['security'] | undefined {
  const sec = spec.runtime?.security;
  if (!sec) return undefined;
  const out: NonNullable<RuntimeConfig['security']> = {};
  for (const g of LISTENER_GROUPS) {
    const c = sec[g];
    if (!c?.tls && !c?.auth) continue;
    const dir = `${SECURITY_MOUNT}/${GROUP_DIR[g]}`;
    out[g] = {
      ...(c.tls ? { tls: { certFile: `${dir}/tls/tls.crt`, keyFile: `${dir}/tls/tls.key`, ...(c.tls.requireClientCert ? { clientCaFile: `${dir}/tls/ca.crt` } : {}) } } : {}),
      ...(c.auth ? { auth: { bearerTokenFile: `${dir}/auth/${TOKENS_FILE}` } } : {}),
    };
  }
  return Object.keys(out).length ? out : undefined;
}

/** The NetworkPolicy of spec.runtime.networkPolicy (undefined when not enabled). */
export function renderNetworkPolicy(ts: TraceStore, meta: V1ObjectMeta): NetworkPolicy | undefined {
  const np = withDefaults('TraceStore', ts.spec).runtime?.networkPolicy;
  if (!np?.enabled) return undefined;
  const port = (k: keyof typeof DEFAULT_PORTS) => ({ protocol: 'TCP', port: DEFAULT_PORTS[k] });
  const rules: NetworkPolicy['spec']['ingress'] = LISTENER_GROUPS.map((g) => ({
    ports: GROUP_PORTS[g].map(port),
    // a group without peers: pods of this namespace only (an empty podSelector here selects this namespace's pods)
    from: np[g]?.from ?? [{ podSelector: {} }],
  }));
  // probes and Prometheus reach the admin port from anywhere (kubelet traffic comes from the node)
  rules.push({ ports: [port('admin')] });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta,
    spec: { podSelector: { matchLabels: selectorLabels(ts) }, policyTypes: ['Ingress'], ingress: rules },
  };
}

export const runtimeName = (ts: TraceStore): string => `${ts.metadata.name}-runtime`;
export const configMapName = (ts: TraceStore, hash: string): string => `${runtimeName(ts)}-${hash}`;

export function selectorLabels(ts: TraceStore): Record<string, string> {
  return { [LABEL_NAME]: RUNTIME_APP, [LABEL_INSTANCE]: ts.metadata.name };
}

function commonLabels(ts: TraceStore, component: string): Record<string, string> {
  return { ...selectorLabels(ts), [LABEL_COMPONENT]: component, [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_PART_OF]: 'jaeger' };
}

export function ownerRef(ts: TraceStore) {
  return { apiVersion: API_VERSION, kind: 'TraceStore', name: ts.metadata.name, uid: ts.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** The runtime configuration rendered for a TraceStore (spec defaults applied, as the API server stores them). */
export function renderRuntimeConfig(ts: TraceStore, plugins: OperatorPluginTable): RuntimeConfig {
  const spec = withDefaults('TraceStore', ts.spec);
  const plugin = pluginFor(spec, plugins);
  const listen = Object.fromEntries(Object.entries(DEFAULT_PORTS).map(([k, p]) => [k, `0.0.0.0:${p}`])) as RuntimeConfig['listen'];
  const cfg: RuntimeConfig = {
    apiVersion: API_VERSION,
    kind: 'RuntimeConfig',
    traceStore: { namespace: ts.metadata.namespace ?? 'default', name: ts.metadata.name },
    backend: { [plugin.type]: plugin.runtimeSection(backendSpecOf(spec, plugin)) } as RuntimeConfig['backend'],
    listen,
    log: { level: spec.runtime?.logLevel ?? 'info' },
    sampling: { watchPolicies: true },
  };
  if (spec.retention) cfg.retention = spec.retention;
  const security = renderSecurity(spec);
  if (security) cfg.security = security;
  // only when set: a TraceStore without it renders (and hashes) as before
  if (spec.tenancy) cfg.tenancy = spec.tenancy;
  return cfg;
}

/** Canonical YAML (sorted keys) so equal configs always hash the same. */
export function canonicalYaml(value: unknown): string {
  return stringify(value, { sortMapEntries: true, lineWidth: 0 });
}

export const hashOf = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 10);

const PORT_NAMES: Record<keyof typeof DEFAULT_PORTS, string> = {
  otlpGrpc: 'otlp-grpc',
  otlpHttp: 'otlp-http',
  queryHttp: 'query-http',
  queryGrpc: 'query-grpc',
  remoteStorage: 'remote-storage',
  samplingHttp: 'sampling-http',
  samplingGrpc: 'sampling-grpc',
  admin: 'admin',
};

/**
 * `secretsVersion`: the versions of the referenced Secrets, carried by the pod template so pods restart on a change.
 * `use`: which referenced Secrets the pods get; a refused Secret is not referenced by the pod at all.
 */
export function desiredRuntime(ts: TraceStore, settings: OperatorSettings, secretsVersion?: string, use: SecretUse = new Set()): DesiredRuntime {
  const spec = withDefaults('TraceStore', ts.spec);
  const backend = backendTypeOf(spec.backend);
  if (!backend) throw new Error('desiredRuntime needs a validated spec with exactly one backend');
  const config = renderRuntimeConfig(ts, settings.plugins);
  const configYaml = canonicalYaml(config);
  const configHash = hashOf(configYaml);
  const ns = ts.metadata.namespace ?? 'default';
  const owner = [ownerRef(ts)];
  const name = runtimeName(ts);
  const rt = spec.runtime ?? {};
  const image = rt.image ?? settings.runtimeImage;

  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: configMapName(ts, configHash),
      namespace: ns,
      labels: { ...commonLabels(ts, 'runtime-config'), [ANNOTATION_CONFIG_HASH]: configHash },
      ownerReferences: owner,
    },
    immutable: true,
    data: { [CONFIG_FILE]: configYaml },
  };

  // what the backend needs in the pod (credentials and CA by reference only)
  const bp = backendPod(spec, pluginFor(spec, settings.plugins), use);
  const sec = securityVolumes(spec);

  const resources: { requests?: Record<string, string>; limits?: Record<string, string> } = {};
  if (rt.resources?.requests) resources.requests = { ...rt.resources.requests };
  if (rt.resources?.limits) resources.limits = { ...rt.resources.limits };

  const deployment: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: commonLabels(ts, 'runtime'), ownerReferences: owner },
    spec: {
      replicas: rt.replicas ?? 1,
      selector: { matchLabels: selectorLabels(ts) },
      strategy: bp.singleWriter ? { type: 'Recreate' } : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      revisionHistoryLimit: 3,
      template: {
        metadata: { labels: commonLabels(ts, 'runtime'), annotations: { [ANNOTATION_CONFIG_HASH]: configHash, ...(secretsVersion ? { [ANNOTATION_SECRETS]: hashOf(secretsVersion) } : {}) } },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'runtime',
              image,
              imagePullPolicy: rt.imagePullPolicy ?? 'IfNotPresent',
              args: ['runtime', '--config', `${CONFIG_MOUNT}/${CONFIG_FILE}`],
              env: [
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                ...bp.env,
              ],
              ports: (Object.keys(DEFAULT_PORTS) as (keyof typeof DEFAULT_PORTS)[]).map((k) => ({ name: PORT_NAMES[k], containerPort: DEFAULT_PORTS[k], protocol: 'TCP' })),
              readinessProbe: { httpGet: { path: '/readyz', port: 'admin' }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'admin' }, periodSeconds: 10, failureThreshold: 6 },
              ...(Object.keys(resources).length ? { resources } : {}),
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: [{ name: 'config', mountPath: CONFIG_MOUNT, readOnly: true }, ...bp.volumeMounts, ...sec.mounts],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: configMap.metadata!.name } }, ...bp.volumes, ...sec.volumes],
        },
      },
    },
  };

  const service: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, labels: commonLabels(ts, 'runtime'), ownerReferences: owner },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(ts),
      ports: (Object.keys(DEFAULT_PORTS) as (keyof typeof DEFAULT_PORTS)[]).map((k) => ({
        name: PORT_NAMES[k],
        port: DEFAULT_PORTS[k],
        targetPort: PORT_NAMES[k],
        protocol: 'TCP',
        ...(k.endsWith('Grpc') || k === 'remoteStorage' ? { appProtocol: 'grpc' } : {}),
      })),
    },
  };

  const meta = { name, namespace: ns, labels: commonLabels(ts, 'runtime'), ownerReferences: owner };
  const serviceAccount: V1ServiceAccount = { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta, automountServiceAccountToken: false };
  // the runtime follows its SamplingPolicies and reports what it enforces on its TraceStore's report Lease: it
  // may read and patch that one Lease and nothing else it could use against other pods
  const leaseName = runtimeReportLeaseName(ts.metadata.name);
  const reportLease: V1Lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: leaseName, namespace: ns, labels: commonLabels(ts, 'runtime-report'), ownerReferences: owner },
  };
  const role: V1Role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta,
    rules: [
      { apiGroups: ['storage.jaegertracing.io'], resources: ['samplingpolicies'], verbs: ['list', 'watch'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [leaseName], verbs: ['get', 'patch'] },
    ],
  };
  const roleBinding: V1RoleBinding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
  };

  const networkPolicy = renderNetworkPolicy(ts, { name, namespace: ns, labels: commonLabels(ts, 'runtime'), ownerReferences: owner });
  return { backend, config, configHash, configMap, deployment, service, serviceAccount, role, roleBinding, reportLease, ...(networkPolicy ? { networkPolicy } : {}) };
}

/** Where clients reach the runtime, as listed in status.endpoints. */
export function endpointsFor(ts: TraceStore): Record<string, string> {
  const host = `${runtimeName(ts)}.${ts.metadata.namespace ?? 'default'}.svc`;
  const sec = ts.spec?.runtime?.security;
  // a group with TLS: https:// for HTTP, grpcs:// for gRPC (plaintext gRPC stays host:port, as before)
  const http = (g: ListenerGroupName, port: number) => `${sec?.[g]?.tls ? 'https' : 'http'}://${host}:${port}`;
  const grpc = (g: ListenerGroupName, port: number) => `${sec?.[g]?.tls ? 'grpcs://' : ''}${host}:${port}`;
  return {
    otlpGrpc: grpc('ingest', DEFAULT_PORTS.otlpGrpc),
    otlpHttp: http('ingest', DEFAULT_PORTS.otlpHttp),
    query: http('query', DEFAULT_PORTS.queryHttp),
    queryGrpc: grpc('query', DEFAULT_PORTS.queryGrpc),
    remoteStorage: grpc('remoteStorage', DEFAULT_PORTS.remoteStorage),
    sampling: http('sampling', DEFAULT_PORTS.samplingHttp),
    samplingGrpc: grpc('sampling', DEFAULT_PORTS.samplingGrpc),
  };
}

/**
 * True when every field of `desired` is present and equal in `actual` (arrays must have the same length and
 * match element by element). Fields the server defaults or other controllers add are ignored, so an object we
 * applied before compares equal and the steady state writes nothing.
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === null || typeof desired !== 'object') {
    if (typeof desired === 'number' && typeof actual === 'string') return String(desired) === actual;
    return desired === actual;
  }
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && actual.length === desired.length && desired.every((d, i) => isSubset(d, actual[i]));
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => v === undefined || isSubset(v, a[k]));
}
