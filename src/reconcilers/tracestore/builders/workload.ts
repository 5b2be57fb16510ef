// The runtime workload: a Deployment, or a StatefulSet when the backend keeps its data on a volume of the pod. Both
// carry the same pod: the config by hash-named ConfigMap, what the backend needs in the pod, the Secrets of
// spec.runtime.security as files, and a locked-down pod.
import type { V1Deployment, V1PodTemplateSpec, V1StatefulSet } from '@kubernetes/client-node';
import { ANNOTATION_CONFIG_HASH, ANNOTATION_SECRETS, CONFIG_FILE, CONFIG_MOUNT, POD_NAMESPACE_ENV, POD_NAME_ENV, PORT_NAMES } from '../../../api/contract.js';
import { DEFAULT_PORTS } from '../../../api/runtime-config.js';
import { DATA_VOLUME } from '../backend-pod.js';
import { hashOf } from './config.js';
import { type BuildContext, commonLabels, configMapName, selectorLabels } from './context.js';
import { securityVolumes } from './security.js';

/** The PersistentVolumeClaim a StatefulSet creates for its pod `ordinal` from the data volume's template. */
export const dataClaimName = (statefulSet: string, ordinal = 0): string => `${DATA_VOLUME}-${statefulSet}-${ordinal}`;

function podTemplate(ctx: BuildContext): V1PodTemplateSpec {
  const { ts, spec, backendPod: bp } = ctx;
  const rt = spec.runtime ?? {};
  const sec = securityVolumes(spec);
  const resources: { requests?: Record<string, string>; limits?: Record<string, string> } = {};
  if (rt.resources?.requests) resources.requests = { ...rt.resources.requests };
  if (rt.resources?.limits) resources.limits = { ...rt.resources.limits };
  return {
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
  };
}

/** The runtime Deployment; undefined when the backend's data lives on a volume of the pod (see statefulSet). */
export function workload(ctx: BuildContext): V1Deployment | undefined {
  if (ctx.backendPod.dataVolume) return undefined;
  const { ts, spec, backendPod: bp } = ctx;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: ctx.name, namespace: ctx.namespace, labels: commonLabels(ts, 'runtime'), ownerReferences: ctx.owner },
    spec: {
      replicas: spec.runtime?.replicas ?? 1,
      selector: { matchLabels: selectorLabels(ts) },
      strategy: bp.singleWriter ? { type: 'Recreate' } : { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      revisionHistoryLimit: 3,
      template: podTemplate(ctx),
    },
  };
}

/**
 * The runtime StatefulSet of a backend with a data volume: one replica (admission allows 0 or 1) whose
 * volumeClaimTemplate requests the volume. A StatefulSet never surges: its one pod has a fixed name, and a rolling
 * update deletes it and creates the successor only once it is gone, so two writers never open the volume at once.
 * Parallel rather than OrderedReady: with one pod there is no order to keep, and OrderedReady never replaces a pod
 * that is not Ready (a bad image, a claim not bound yet), so a corrected spec would wait for a manual pod deletion.
 * deletionPolicy Delete also deletes the claim with the StatefulSet; Retain keeps it (and the data) for a
 * TraceStore created again under the same name.
 */
export function statefulSet(ctx: BuildContext): V1StatefulSet | undefined {
  const v = ctx.backendPod.dataVolume;
  if (!v) return undefined;
  const { ts, spec } = ctx;
  const keep = spec.deletionPolicy === 'Delete' ? 'Delete' : 'Retain';
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: ctx.name, namespace: ctx.namespace, labels: commonLabels(ts, 'runtime'), ownerReferences: ctx.owner },
    spec: {
      replicas: spec.runtime?.replicas ?? 1,
      serviceName: ctx.name,
      selector: { matchLabels: selectorLabels(ts) },
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: keep, whenScaled: 'Retain' },
      revisionHistoryLimit: 3,
      template: podTemplate(ctx),
      volumeClaimTemplates: [
        {
          // the managed labels let the operator watch the claim it did not create itself
          metadata: { name: DATA_VOLUME, labels: commonLabels(ts, 'data') },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: v.size } },
            ...(v.storageClassName ? { storageClassName: v.storageClassName } : {}),
          },
        },
      ],
    },
  };
}
