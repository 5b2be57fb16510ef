// From the `backend.opensearch` / `backend.elasticsearch` section (the TraceStore's, rendered into the runtime
// config) to the backend's settings. Credentials and the CA never appear in the config: the operator passes the
// credentials Secret as environment references (JSO_BACKEND_USERNAME / JSO_BACKEND_PASSWORD, valueFrom
// secretKeyRef) and mounts the CA Secret under CA_DIR.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKEND_CA_DIR as CA_DIR, BACKEND_PASSWORD_ENV as PASSWORD_ENV, BACKEND_USERNAME_ENV as USERNAME_ENV, type SearchSpec } from '../../api/backend-probe.js';
import { InvalidArgumentError } from '../api/errors.js';
import type { SearchBackendConfig } from './store.js';

export type { SearchSpec };

/** Settings from the spec plus credentials and CA obtained by the caller (environment and files, or Secrets). */
export function searchSettings(spec: SearchSpec, retention: string | undefined, secret: { username?: string; password?: string; ca?: string } = {}): SearchBackendConfig {
  return {
    endpoints: spec.endpoints,
    ...(secret.username !== undefined ? { username: secret.username, password: secret.password ?? '' } : {}),
    ...(secret.ca ? { ca: secret.ca } : {}),
    insecureSkipVerify: spec.tls?.insecureSkipVerify ?? false,
    indexPrefix: spec.indexPrefix ?? '',
    layout: spec.layout ?? 'daily',
    shards: spec.shards ?? 5,
    replicas: spec.replicas ?? 1,
    ...(spec.rolloverAfter?.maxAge ? { rolloverMaxAge: spec.rolloverAfter.maxAge } : {}),
    ...(spec.rolloverAfter?.maxPrimaryShardSize ? { rolloverMaxPrimaryShardSize: spec.rolloverAfter.maxPrimaryShardSize } : {}),
    ...(retention ? { retention } : {}),
  };
}

/** The runtime's settings: credentials from the environment, the CA from the mounted Secret. */
export function searchBackendConfig(spec: SearchSpec, retention: string | undefined, env: NodeJS.ProcessEnv = process.env, caDir = env.JSO_BACKEND_CA_DIR ?? CA_DIR): SearchBackendConfig {
  let ca: string | undefined;
  if (spec.tls?.caSecretRef) {
    const file = join(caDir, spec.tls.caSecretRef.key ?? 'ca.crt');
    try {
      ca = readFileSync(file, 'utf8');
    } catch (e) {
      throw new InvalidArgumentError('backend.tls.caSecretRef', `cannot read the CA bundle at ${file} (${e instanceof Error ? e.message : String(e)}): is the Secret mounted?`);
    }
  }
  return searchSettings(spec, retention, { ...(env[USERNAME_ENV] !== undefined ? { username: env[USERNAME_ENV], password: env[PASSWORD_ENV] ?? '' } : {}), ...(ca ? { ca } : {}) });
}
