// Desired state of a TraceStore's runtime, as pure functions of the TraceStore and the operator's settings. The
// children are built by one builder per kind (builders/); desiredRuntime() names them one by one.
import type { V1ConfigMap, V1Deployment, V1Lease, V1Role, V1RoleBinding, V1Service, V1ServiceAccount, V1StatefulSet } from '@kubernetes/client-node';
import { DEFAULT_PORTS, type RuntimeConfig } from '../../api/runtime-config.js';
import type { BackendType, ListenerGroupName, TraceStore } from '../../api/tracestore.js';
import type { SecretUse } from './backend-pod.js';
import { configMap } from './builders/configmap.js';
import { type OperatorSettings, buildContext, runtimeName } from './builders/context.js';
import { reportLease } from './builders/lease.js';
import { type NetworkPolicy, networkPolicy } from './builders/networkpolicy.js';
import { queryEndpoints as queryUi } from './builders/query.js';
import { role } from './builders/role.js';
import { roleBinding } from './builders/rolebinding.js';
import { service } from './builders/service.js';
import { serviceAccount } from './builders/serviceaccount.js';
import { statefulSet, workload } from './builders/workload.js';

export type { SecretUse } from './backend-pod.js';
export { canonicalYaml, hashOf, pluginFor, renderRuntimeConfig } from './builders/config.js';
export { type BuildContext, type BuildOptions, type OperatorSettings, buildContext, commonLabels, configMapName, ownerRef, runtimeName, selectorLabels } from './builders/context.js';
export { CHILD_BUILDERS, CHILD_KINDS, type ChildBuilder, type ChildKind, type ChildObject, type ChildObjects, type DesiredChild, build } from './builders/index.js';
export type { NetworkPolicy, NetworkPolicyPeer } from './builders/networkpolicy.js';
export { securitySecrets } from './builders/security.js';
export { queryConfigHash, queryEndpoints, queryName, querySecrets } from './builders/query.js';
export { dataClaimName } from './builders/workload.js';

export interface DesiredRuntime {
  backend: BackendType;
  config: RuntimeConfig;
  configHash: string;
  configMap: V1ConfigMap;
  /** the runtime pods of a backend without a data volume */
  deployment?: V1Deployment;
  /** the runtime pod of a backend with a data volume (and its volumeClaimTemplate) */
  statefulSet?: V1StatefulSet;
  service: V1Service;
  serviceAccount: V1ServiceAccount;
  role: V1Role;
  roleBinding: V1RoleBinding;
  /** where the runtime pods report what they enforce (one annotation per pod) */
  reportLease: V1Lease;
  /** spec.runtime.networkPolicy.enabled: the policy admitting each listener group from its peers */
  networkPolicy?: NetworkPolicy;
}

/**
 * Every child by name (the same objects build() lists).
 * `secretsVersion`: the versions of the referenced Secrets, carried by the pod template so pods restart on a change.
 * `use`: which referenced Secrets the pods get; a refused Secret is not referenced by the pod at all.
 */
export function desiredRuntime(ts: TraceStore, settings: OperatorSettings, secretsVersion?: string, use: SecretUse = new Set()): DesiredRuntime {
  const ctx = buildContext(ts, settings, { ...(secretsVersion ? { secretsVersion } : {}), use });
  const np = networkPolicy(ctx);
  const dep = workload(ctx);
  const sts = statefulSet(ctx);
  return {
    backend: ctx.backend,
    config: ctx.config,
    configHash: ctx.configHash,
    configMap: configMap(ctx),
    ...(dep ? { deployment: dep } : {}),
    ...(sts ? { statefulSet: sts } : {}),
    service: service(ctx),
    serviceAccount: serviceAccount(ctx),
    role: role(ctx),
    roleBinding: roleBinding(ctx),
    reportLease: reportLease(ctx),
    ...(np ? { networkPolicy: np } : {}),
  };
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
    ...queryUi(ts),
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
