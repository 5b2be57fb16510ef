// What a TraceStore's backend needs in the runtime pod: credentials as env from secretKeyRef, the CA as a Secret
// volume, and whether the data lives in the pod (one writer: Recreate rollouts).
import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { BACKEND_CA_DIR as CA_DIR, BACKEND_PASSWORD_ENV as PASSWORD_ENV, BACKEND_USERNAME_ENV as USERNAME_ENV } from '../../api/backend-probe.js';
import { type TraceStore, backendTypeOf } from '../../api/tracestore.js';
import { BACKENDS } from './backends.js';

/** The connection section of a backend that lives outside the pods (Elasticsearch / OpenSearch), if any. */
export function searchSpecOf(spec: TraceStore['spec']) {
  return spec?.backend?.opensearch ?? spec?.backend?.elasticsearch;
}

/** Which referenced Secrets the runtime pods get (only those the TraceStore may use, see secrets.ts). */
export interface SecretUse {
  credentials: boolean;
  ca: boolean;
}

export interface BackendPod {
  env: V1EnvVar[];
  volumes: V1Volume[];
  volumeMounts: V1VolumeMount[];
  singleWriter: boolean;
}

/** `use`: which referenced Secrets the pods get; a refused Secret is not referenced by the pod at all. */
export function backendPod(spec: TraceStore['spec'], use: SecretUse): BackendPod {
  const backend = backendTypeOf(spec.backend);
  const search = searchSpecOf(spec);
  const cred = use.credentials ? search?.credentialsSecretRef : undefined;
  const env: V1EnvVar[] = cred
    ? [
        { name: USERNAME_ENV, valueFrom: { secretKeyRef: { name: cred.name, key: cred.usernameKey ?? 'username' } } },
        { name: PASSWORD_ENV, valueFrom: { secretKeyRef: { name: cred.name, key: cred.passwordKey ?? 'password' } } },
      ]
    : [];
  const caSecret = use.ca ? search?.tls?.caSecretRef?.name : undefined;
  return {
    env,
    volumes: caSecret ? [{ name: 'backend-ca', secret: { secretName: caSecret } }] : [],
    volumeMounts: caSecret ? [{ name: 'backend-ca', mountPath: CA_DIR, readOnly: true }] : [],
    singleWriter: backend ? BACKENDS[backend].singleWriter : false,
  };
}
