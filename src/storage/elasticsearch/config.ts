// The `backend.opensearch` / `backend.elasticsearch` section of the runtime config, and from it the backend's
// settings. Credentials and the CA never appear in the config: the operator passes the credentials Secret as
// environment references (JSO_BACKEND_USERNAME / JSO_BACKEND_PASSWORD, valueFrom secretKeyRef) and mounts the CA
// Secret under BACKEND_CA_DIR; the Secret references stay in the section so the runtime knows the CA's key.
import { BACKEND_CA_DIR as CA_DIR, BACKEND_CA_DIR_ENV, BACKEND_PASSWORD_ENV as PASSWORD_ENV, BACKEND_USERNAME_ENV as USERNAME_ENV } from '../../api/backend-plugin.js';
import { duration, objectName, secretKey, secretKeyRef } from '../../api/common.js';
import { type Infer, arr, bool, enumOf, int, obj, quantity, str } from '../../api/schema.js';
import { readMountedCa } from '../api/mounted-ca.js';
import type { SearchBackendConfig } from './store.js';

export const SEARCH_DEFAULTS = { layout: 'daily', shards: 5, replicas: 1, usernameKey: 'username', passwordKey: 'password', caKey: 'ca.crt' } as const;

export const searchConfigSchema = obj(
  {
    endpoints: arr(str({ pattern: '^https?://[^\\s/?#]+([/?#]\\S*)?$', patternHint: 'a URL such as https://opensearch.example:9200', maxLength: 2048 }), { minItems: 1, maxItems: 32 }),
    credentialsSecretRef: obj(
      {
        name: objectName('the Secret the credentials come from (as env JSO_BACKEND_USERNAME / JSO_BACKEND_PASSWORD)'),
        usernameKey: secretKey('key holding the user name', SEARCH_DEFAULTS.usernameKey),
        passwordKey: secretKey('key holding the password', SEARCH_DEFAULTS.passwordKey),
      },
      ['name'],
    ),
    allowPlaintextCredentials: bool({ description: 'credentials may go over http:// endpoints', default: false }),
    tls: obj(
      {
        enabled: bool({ default: false }),
        caSecretRef: secretKeyRef('the Secret mounted at BACKEND_CA_DIR (or $JSO_BACKEND_CA_DIR); `key` is the CA bundle file', SEARCH_DEFAULTS.caKey),
        insecureSkipVerify: bool({ description: 'skip certificate verification (testing only)', default: false }),
      },
      [],
    ),
    indexPrefix: str({ maxLength: 64, pattern: '^[a-z0-9][a-z0-9_.-]*$', patternHint: 'lowercase letters, digits, "-", "_" and ".", starting with a letter or digit' }),
    layout: enumOf(['daily', 'rollover', 'dataStream'] as const, { default: SEARCH_DEFAULTS.layout }),
    shards: int({ minimum: 1, maximum: 1024, default: SEARCH_DEFAULTS.shards }),
    replicas: int({ minimum: 0, maximum: 16, default: SEARCH_DEFAULTS.replicas }),
    rolloverAfter: obj({ maxAge: duration('roll over when the write index is this old'), maxPrimaryShardSize: quantity({ description: 'roll over when a primary shard reaches this size' }) }, []),
  },
  ['endpoints'],
  { description: 'Elasticsearch / OpenSearch connection and index layout' },
);

export type SearchConfig = Infer<typeof searchConfigSchema>;

/** Settings from the config section plus credentials and CA obtained by the caller (environment and files, or Secrets). */
export function searchSettings(config: SearchConfig, retention: string | undefined, secret: { username?: string; password?: string; ca?: string } = {}): SearchBackendConfig {
  return {
    endpoints: config.endpoints,
    ...(secret.username !== undefined ? { username: secret.username, password: secret.password ?? '' } : {}),
    ...(secret.ca ? { ca: secret.ca } : {}),
    insecureSkipVerify: config.tls?.insecureSkipVerify ?? false,
    indexPrefix: config.indexPrefix ?? '',
    layout: config.layout ?? SEARCH_DEFAULTS.layout,
    shards: config.shards ?? SEARCH_DEFAULTS.shards,
    replicas: config.replicas ?? SEARCH_DEFAULTS.replicas,
    ...(config.rolloverAfter?.maxAge ? { rolloverMaxAge: config.rolloverAfter.maxAge } : {}),
    ...(config.rolloverAfter?.maxPrimaryShardSize ? { rolloverMaxPrimaryShardSize: config.rolloverAfter.maxPrimaryShardSize } : {}),
    ...(retention ? { retention } : {}),
  };
}

/** The runtime's settings: credentials from the environment, the CA from the mounted Secret. */
export function searchBackendConfig(config: SearchConfig, retention: string | undefined, env: NodeJS.ProcessEnv = process.env, caDir = env[BACKEND_CA_DIR_ENV] ?? CA_DIR): SearchBackendConfig {
  const ca = config.tls?.caSecretRef ? readMountedCa(config.tls.caSecretRef.key ?? SEARCH_DEFAULTS.caKey, 'backend.tls.caSecretRef', env, caDir) : undefined;
  return searchSettings(config, retention, { ...(env[USERNAME_ENV] !== undefined ? { username: env[USERNAME_ENV], password: env[PASSWORD_ENV] ?? '' } : {}), ...(ca ? { ca } : {}) });
}
