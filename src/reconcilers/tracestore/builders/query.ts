// The query front of spec.query: stock Jaeger v2 as the UI and query APIs of the store, all named <name>-query: a
// ConfigMap with its configuration (./query-config.ts), a Deployment, a Service and, when asked for, an Ingress.
// None is built while spec.query.enabled is false (the controller then prunes what an earlier spec made).
import type { V1ConfigMap, V1Deployment, V1EnvVar, V1Ingress, V1ObjectMeta, V1Service, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { ANNOTATION_CONFIG_HASH, ANNOTATION_SECRETS, CONFIG_FILE, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, LABEL_PART_OF, MANAGED_BY, QUERY_APP, QUERY_CONFIG_MOUNT, QUERY_PORTS, QUERY_PORT_NAMES, QUERY_TLS_MOUNT, QUERY_TOKEN_ENV } from '../../../api/contract.js';
import { DEFAULT_QUERY_IMAGE, type TraceStore, type TraceStoreSpec } from '../../../api/tracestore.js';
import { hashOf } from './config.js';
import type { BuildContext } from './context.js';
import { queryConfigYaml } from './query-config.js';

export const queryName = (ts: TraceStore): string => `${ts.metadata.name}-query`;

export function querySelector(ts: TraceStore): Record<string, string> {
  return { [LABEL_NAME]: QUERY_APP, [LABEL_INSTANCE]: ts.metadata.name };
}

const queryLabels = (ts: TraceStore): Record<string, string> => ({ ...querySelector(ts), [LABEL_COMPONENT]: 'query', [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_PART_OF]: 'jaeger' });

const enabled = (ctx: BuildContext): boolean => ctx.spec.query?.enabled === true;

const meta = (ctx: BuildContext): V1ObjectMeta => ({ name: queryName(ctx.ts), namespace: ctx.namespace, labels: queryLabels(ctx.ts), ownerReferences: ctx.owner });

const runtimeHost = (ctx: BuildContext): string => `${ctx.name}.${ctx.namespace}.svc`;

/** The Secrets the query front references, with the spec field of each and the keys it reads. */
export function querySecrets(spec: TraceStoreSpec | undefined): { field: string; name: string; keys: string[] }[] {
  if (spec?.query?.enabled !== true) return [];
  const ref = spec.query.remoteStorageToken?.secretRef;
  // only with auth on: a token the runtime would not ask for is neither mounted nor required
  return ref && spec.runtime?.security?.remoteStorage?.auth ? [{ field: 'spec.query.remoteStorageToken.secretRef', name: ref.name, keys: [ref.key ?? 'token'] }] : [];
}

export const queryConfigText = (ctx: BuildContext): string => queryConfigYaml({ spec: ctx.spec, runtimeHost: runtimeHost(ctx) });

/** the hash the query front's pod template carries: its rollout is done when every pod has it */
export const queryConfigHash = (ctx: BuildContext): string => hashOf(queryConfigText(ctx));

export function queryConfigMap(ctx: BuildContext): V1ConfigMap | undefined {
  if (!enabled(ctx)) return undefined;
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(ctx), data: { [CONFIG_FILE]: queryConfigText(ctx) } };
}

export function queryDeployment(ctx: BuildContext): V1Deployment | undefined {
  if (!enabled(ctx)) return undefined;
  const { ts, spec } = ctx;
  const q = spec.query ?? {};
  const tls = spec.runtime?.security?.remoteStorage?.tls;
  const volumes: V1Volume[] = [{ name: 'config', configMap: { name: queryName(ts) } }];
  const mounts: V1VolumeMount[] = [{ name: 'config', mountPath: QUERY_CONFIG_MOUNT, readOnly: true }];
  if (tls) {
    // the runtime's own TLS Secret: its ca.crt verifies the runtime; with requireClientCert its key pair is the client's
    const items = ['ca.crt', ...(tls.requireClientCert ? ['tls.crt', 'tls.key'] : [])].map((k) => ({ key: k, path: k }));
    volumes.push({ name: 'remote-storage-tls', secret: { secretName: tls.secretRef.name, items, defaultMode: 0o440 } });
    mounts.push({ name: 'remote-storage-tls', mountPath: QUERY_TLS_MOUNT, readOnly: true });
  }
  const env: V1EnvVar[] = querySecrets(spec).map((s) => ({ name: QUERY_TOKEN_ENV, valueFrom: { secretKeyRef: { name: s.name, key: s.keys[0]! } } }));
  const resources: { requests?: Record<string, string>; limits?: Record<string, string> } = {};
  if (q.resources?.requests) resources.requests = { ...q.resources.requests };
  if (q.resources?.limits) resources.limits = { ...q.resources.limits };
  return {
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
  };
}

export function queryService(ctx: BuildContext): V1Service | undefined {
  if (!enabled(ctx)) return undefined;
  return {
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
  };
}

export function queryIngress(ctx: BuildContext): V1Ingress | undefined {
  const ing = ctx.spec.query?.ingress;
  if (!enabled(ctx) || !ing) return undefined;
  const m = meta(ctx);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { ...m, ...(ing.annotations && Object.keys(ing.annotations).length ? { annotations: { ...ing.annotations } } : {}) },
    spec: {
      ...(ing.className ? { ingressClassName: ing.className } : {}),
      rules: [{ host: ing.host, http: { paths: [{ path: ctx.spec.query?.basePath || '/', pathType: 'Prefix', backend: { service: { name: queryName(ctx.ts), port: { name: QUERY_PORT_NAMES.http } } } }] } }],
      ...(ing.tls ? { tls: [{ hosts: [ing.host], secretName: ing.tls.secretName }] } : {}),
    },
  };
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
