// spec.runtime.security: the Secrets it references, how the pods mount them, and the file paths the runtime reads.
import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { SECURITY_MOUNT, TOKENS_FILE } from '../../../api/contract.js';
import type { RuntimeConfig } from '../../../api/runtime-config.js';
import { LISTENER_GROUPS, type ListenerGroupName, type TraceStore } from '../../../api/tracestore.js';

const GROUP_DIR: Record<ListenerGroupName, string> = { ingest: 'ingest', query: 'query', remoteStorage: 'remote-storage', sampling: 'sampling' };

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

export function securityVolumes(spec: TraceStore['spec']): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
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
export function renderSecurity(spec: TraceStore['spec']): RuntimeConfig['security'] | undefined {
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
