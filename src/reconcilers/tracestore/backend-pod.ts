// What a TraceStore's backend needs in the runtime pod, from its plug-in: each usable Secret reference as env from
// secretKeyRef and/or a read-only Secret volume, the plug-in's own volumes, and whether the data lives in the pod
// (one writer: Recreate rollouts).
import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { DataVolume, OperatorBackendPlugin, SecretReference } from '../../api/backend-plugin.js';
import type { BackendType, TraceStore } from '../../api/tracestore.js';

/** The fields (SecretReference.field) of the referenced Secrets the pods may get; a refused Secret is not referenced by the pod at all. */
export type SecretUse = ReadonlySet<string>;

export interface BackendPod {
  env: V1EnvVar[];
  volumes: V1Volume[];
  volumeMounts: V1VolumeMount[];
  singleWriter: boolean;
  /** a persistent volume per pod for the backend's data: the runtime runs as a StatefulSet */
  dataVolume?: DataVolume;
}

/** The volumeClaimTemplate of a data volume: its PersistentVolumeClaim is `data-<statefulset>-<ordinal>`. */
export const DATA_VOLUME = 'data';

/** The plug-in's section of the spec (the spec is validated: exactly one backend is set). */
export function backendSpecOf<T extends BackendType>(spec: TraceStore['spec'], plugin: OperatorBackendPlugin<T>): NonNullable<TraceStore['spec']['backend'][T]> {
  const section = spec.backend[plugin.type];
  if (section === undefined || section === null) throw new Error(`spec.backend.${plugin.type} is not set`);
  return section as NonNullable<TraceStore['spec']['backend'][T]>;
}

/** The Secrets the backend spec references (empty for a backend without any). */
export function secretReferences(spec: TraceStore['spec'], plugin: OperatorBackendPlugin): SecretReference[] {
  return plugin.secretReferences(backendSpecOf(spec, plugin));
}

/** Volume names of Secret references: `backend-<n>`; the first CA keeps its historic name so existing pods do not roll. */
const volumeName = (i: number): string => (i === 0 ? 'backend-ca' : `backend-secret-${i}`);

export function backendPod(spec: TraceStore['spec'], plugin: OperatorBackendPlugin, use: SecretUse): BackendPod {
  const env: V1EnvVar[] = [];
  const volumes: V1Volume[] = [];
  const volumeMounts: V1VolumeMount[] = [];
  for (const ref of secretReferences(spec, plugin)) {
    if (!use.has(ref.field)) continue;
    for (const e of ref.env ?? []) env.push({ name: e.name, valueFrom: { secretKeyRef: { name: ref.name, key: e.key } } });
    if (ref.mountPath) {
      const name = volumeName(volumes.length);
      volumes.push({ name, secret: { secretName: ref.name } });
      volumeMounts.push({ name, mountPath: ref.mountPath, readOnly: true });
    }
  }
  const needs = plugin.podNeeds?.(backendSpecOf(spec, plugin)) ?? {};
  for (const v of needs.volumes ?? []) {
    volumes.push({ name: v.name, ...(v.emptyDir ? { emptyDir: v.emptyDir } : {}), ...(v.persistentVolumeClaim ? { persistentVolumeClaim: v.persistentVolumeClaim } : {}) });
    volumeMounts.push({ name: v.name, mountPath: v.mountPath });
  }
  if (needs.dataVolume) volumeMounts.push({ name: DATA_VOLUME, mountPath: needs.dataVolume.mountPath });
  return { env, volumes, volumeMounts, singleWriter: plugin.traits.singleWriter, ...(needs.dataVolume ? { dataVolume: needs.dataVolume } : {}) };
}
