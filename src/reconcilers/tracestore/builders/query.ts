// The query front of spec.query: stock Jaeger v2 as the UI and query APIs of the store, all named <name>-query: a
// ConfigMap with its configuration (./query-config.ts), a Deployment, a Service and, when asked for, an Ingress.
// None is built while spec.query.enabled is false (the controller then prunes what an earlier spec made).
import type { V1ConfigMap, V1Deployment, V1EnvVar, V1Ingress, V1ObjectMeta, V1Service, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { ANNOTATION_APPLIED_HASH, ANNOTATION_CONFIG_HASH, ANNOTATION_SECRETS, CONFIG_FILE, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, LABEL_PART_OF, MANAGED_BY, QUERY_APP, QUERY_CONFIG_MOUNT, QUERY_CLIENT_TLS_MOUNT, QUERY_PORTS, QUERY_PORT_NAMES, QUERY_TLS_MOUNT, QUERY_TOKEN_ENV } from '../../../api/contract.js';
import { DEFAULT_QUERY_IMAGE, type TraceStore, type TraceStoreSpec } from '../../../api/tracestore.js';
import { hashOf } from './config.js';
import type { BuildContext } from './context.js';
import { queryConfigYaml } from './query-config.js';

export const queryName = (ts: TraceStore): string => `${ts.metadata.name}-query`;

export function querySelector(ts: TraceStore): Record<string, string> {
  return { [LABEL_NAME]: QUERY_APP, [LABEL_INSTANCE]: ts.metadata.name };
}

export const queryLabels = (ts: TraceStore): Record<string, string> => ({ ...querySelector(ts), [LABEL_COMPONENT]: 'query', [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_PART_OF]: 'jaeger' });

const enabled = (ctx: BuildContext): boolean => ctx.spec.query?.enabled === true;

const meta = (ctx: BuildContext): V1ObjectMeta => ({ name: queryName(ctx.ts), namespace: ctx.namespace, labels: queryLabels(ctx.ts), ownerReferences: ctx.owner });

const runtimeHost = (ctx: BuildContext): string => `${ctx.name}.${ctx.namespace}.svc`;

/** A Secret the query front uses: the spec field naming it, the keys it reads, and what it is for. */
export interface QuerySecret {
  field: string;
  name: string;
  keys: string[];
  use: 'token' | 'ca' | 'client-tls';
}

/**
 * The Secrets the query front references: the CA of the runtime's remote-storage TLS Secret (its ca.crt only: the
 * runtime's key never reaches the front), the front's own client certificate under requireClientCert, and its token
 * when the runtime asks for one. A Secret the runtime would not ask for is neither mounted nor required.
 */
export function querySecrets(spec: TraceStoreSpec | undefined): QuerySecret[] {
  if (spec?.query?.enabled !== true) return [];
  const rs = spec.runtime?.security?.remoteStorage;
  const out: QuerySecret[] = [];
  if (rs?.tls) out.push({ field: 'spec.runtime.security.remoteStorage.tls.secretRef', name: rs.tls.secretRef.name, keys: ['ca.crt'], use: 'ca' });
  const client = spec.query.remoteStorageClientTls?.secretRef;
  if (rs?.tls?.requireClientCert && client) out.push({ field: 'spec.query.remoteStorageClientTls.secretRef', name: client.name, keys: ['tls.crt', 'tls.key'], use: 'client-tls' });
  const token = spec.query.remoteStorageToken?.secretRef;
  if (rs?.auth && token) out.push({ field: 'spec.query.remoteStorageToken.secretRef', name: token.name, keys: [token.key ?? 'token'], use: 'token' });
  return out;
}

/**
 * `o` with an annotation holding the hash of the rest of it: removing a field from the spec changes the hash, so the
 * object is applied again and server-side apply removes the field (a changed value would be seen anyway).
 */
function stamped<T extends { metadata?: V1ObjectMeta }>(o: T): T {
  const hash = hashOf(JSON.stringify(o));
  return { ...o, metadata: { ...o.metadata, annotations: { ...o.metadata?.annotations, [ANNOTATION_APPLIED_HASH]: hash } } };
}

export const queryConfigText = (ctx: BuildContext): string => queryConfigYaml({ spec: ctx.spec, runtimeHost: runtimeHost(ctx) });

/** the hash the query front's pod template carries: its rollout is done when every pod has it */
export const queryConfigHash = (ctx: BuildContext): string => hashOf(queryConfigText(ctx));

export function queryConfigMap(ctx: BuildContext): V1ConfigMap | undefined {
  if (!enabled(ctx)) return undefined;
  return stamped({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(ctx), data: { [CONFIG_FILE]: queryConfigText(ctx) } });
}

export function queryDeployment(ctx: BuildContext): V1Deployment | undefined {
  if (!enabled(ctx)) return undefined;
  const { ts, spec } = ctx;
  const q = spec.query ?? {};
  const volumes: V1Volume[] = [{ name: 'config', configMap: { name: queryName(ts) } }];
  const mounts: V1VolumeMount[] = [{ name: 'config', mountPath: QUERY_CONFIG_MOUNT, readOnly: true }];
  const env: V1EnvVar[] = [];
  for (const sec of querySecrets(spec)) {
    if (sec.use === 'token') {
      env.push({ name: QUERY_TOKEN_ENV, valueFrom: { secretKeyRef: { name: sec.name, key: sec.keys[0]! } } });
      continue;
    }
    // only the keys the front reads
    const name = sec.use === 'ca' ? 'remote-storage-ca' : 'remote-storage-client-tls';
    volumes.push({ name, secret: { secretName: sec.name, items: sec.keys.map((k) => ({ key: k, path: k })), defaultMode: 0o440 } });
    mounts.push({ name, mountPath: sec.use === 'ca' ? QUERY_TLS_MOUNT : QUERY_CLIENT_TLS_MOUNT, readOnly: true });
  }
  const resources: { requests?: Record<string, string>; limits?: Record<string, string> } = {};
  if (q.resources?.requests) resources.requests = { ...q.resources.requests };
  if (q.resources?.limits) resources.limits = { ...q.resources.limits };
  return stamped({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(ctx),
    spec: {
      replicas: q.replicas ?? 1,
      selector: { matchLabels: querySelector(ts) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      revisionHistoryLimit: 3,
      template: {
        metadata: { labels: queryLabels(ts), annotations: { [ANNOTATION_CONFIG_HASH]: queryConfigHash(ctx), ...(ctx.querySecretsVersion ? { [ANNOTATION_SECRETS]: hashOf(ctx.querySecretsVersion) } : {}) } },
        spec: {
          // Jaeger needs no Kubernetes API access
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'jaeger',
              image: q.image ?? DEFAULT_QUERY_IMAGE,
              imagePullPolicy: q.imagePullPolicy ?? 'IfNotPresent',
              args: ['--config', `${QUERY_CONFIG_MOUNT}/${CONFIG_FILE}`],
              ...(env.length ? { env } : {}),
              ports: (Object.keys(QUERY_PORTS) as (keyof typeof QUERY_PORTS)[]).map((k) => ({ name: QUERY_PORT_NAMES[k], containerPort: QUERY_PORTS[k], protocol: 'TCP' })),
              readinessProbe: { httpGet: { path: '/status', port: QUERY_PORT_NAMES.health }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: '/status', port: QUERY_PORT_NAMES.health }, periodSeconds: 10, failureThreshold: 6 },
              ...(Object.keys(resources).length ? { resources } : {}),
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
    },
  });
}

export function queryService(ctx: BuildContext): V1Service | undefined {
  if (!enabled(ctx)) return undefined;
  return stamped({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(ctx),
    spec: {
      type: ctx.spec.query?.serviceType ?? 'ClusterIP',
      selector: querySelector(ctx.ts),
      ports: [
        { name: QUERY_PORT_NAMES.http, port: QUERY_PORTS.http, targetPort: QUERY_PORT_NAMES.http, protocol: 'TCP', appProtocol: 'http' },
        { name: QUERY_PORT_NAMES.grpc, port: QUERY_PORTS.grpc, targetPort: QUERY_PORT_NAMES.grpc, protocol: 'TCP', appProtocol: 'grpc' },
      ],
    },
  });
}

export function queryIngress(ctx: BuildContext): V1Ingress | undefined {
  const ing = ctx.spec.query?.ingress;
  if (!enabled(ctx) || !ing) return undefined;
  const m = meta(ctx);
  return stamped({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { ...m, ...(ing.annotations && Object.keys(ing.annotations).length ? { annotations: { ...ing.annotations } } : {}) },
    spec: {
      ...(ing.className ? { ingressClassName: ing.className } : {}),
      rules: [{ host: ing.host, http: { paths: [{ path: ctx.spec.query?.basePath || '/', pathType: 'Prefix', backend: { service: { name: queryName(ctx.ts), port: { name: QUERY_PORT_NAMES.http } } } }] } }],
      ...(ing.tls ? { tls: [{ hosts: [ing.host], secretName: ing.tls.secretName }] } : {}),
    },
  });
}

/** The UI addresses for status.endpoints: in the cluster, and through the Ingress when there is one. */
export function queryEndpoints(ts: TraceStore): { ui?: string; uiExternal?: string } {
  const q = ts.spec?.query;
  if (q?.enabled !== true) return {};
  const path = `${q.basePath ?? ''}/`;
  const ing = q.ingress;
  return {
    ui: `http://${queryName(ts)}.${ts.metadata.namespace ?? 'default'}.svc:${QUERY_PORTS.http}${path}`,
    ...(ing ? { uiExternal: `${ing.tls ? 'https' : 'http'}://${ing.host}${path}` } : {}),
  };
}
