// The runtime Deployment: the config by hash-named ConfigMap, what the backend needs in the pod, the Secrets of
// spec.runtime.security as files, and a locked-down pod.
import type { V1Deployment } from '@kubernetes/client-node';
import { ANNOTATION_CONFIG_HASH, ANNOTATION_SECRETS, CONFIG_FILE, CONFIG_MOUNT, POD_NAMESPACE_ENV, POD_NAME_ENV, PORT_NAMES } from '../../../api/contract.js';
import { DEFAULT_PORTS } from '../../../api/runtime-config.js';
import { hashOf } from './config.js';
import { type BuildContext, commonLabels, configMapName, selectorLabels } from './context.js';
import { securityVolumes } from './security.js';

export function workload(ctx: BuildContext): V1Deployment {
  const { ts, spec, backendPod: bp } = ctx;
  const rt = spec.runtime ?? {};
  const sec = securityVolumes(spec);
  const resources: { requests?: Record<string, string>; limits?: Record<string, string> } = {};
  if (rt.resources?.requests) resources.requests = { ...rt.resources.requests };
  if (rt.resources?.limits) resources.limits = { ...rt.resources.limits };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: ctx.name, namespace: ctx.namespace, labels: commonLabels(ts, 'runtime'), ownerReferences: ctx.owner },
    spec: {
      replicas: rt.replicas ?? 1,
      selector: { matchLabels: selectorLabels(ts) },
      strategy: bp.singleWriter ? { type: 'Recreate' } : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      revisionHistoryLimit: 3,
      template: {
        metadata: { labels: commonLabels(ts, 'runtime'), annotations: { [ANNOTATION_CONFIG_HASH]: ctx.configHash, ...(ctx.secretsVersion ? { [ANNOTATION_SECRETS]: hashOf(ctx.secretsVersion) } : {}) } },
        spec: {
          serviceAccountName: ctx.name,
          automountServiceAccountToken: true,
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'runtime',
              image: rt.image ?? ctx.settings.runtimeImage,
              imagePullPolicy: rt.imagePullPolicy ?? 'IfNotPresent',
              args: ['runtime', '--config', `${CONFIG_MOUNT}/${CONFIG_FILE}`],
              env: [
                { name: POD_NAME_ENV, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: POD_NAMESPACE_ENV, valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
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
          volumes: [{ name: 'config', configMap: { name: configMapName(ts, ctx.configHash) } }, ...bp.volumes, ...sec.volumes],
        },
      },
    },
  };
}
