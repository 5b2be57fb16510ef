// The `backend.clickhouse` section of the runtime config, and from it the connection settings. Credentials and the
// CA never appear in the config: the operator passes the credentials Secret as environment references
// (JSO_BACKEND_USERNAME / JSO_BACKEND_PASSWORD, valueFrom secretKeyRef) and mounts the CA Secret under
// BACKEND_CA_DIR; the Secret references stay in the section so the runtime knows the CA's key.
import { BACKEND_CA_DIR as CA_DIR, BACKEND_CA_DIR_ENV, BACKEND_PASSWORD_ENV, BACKEND_USERNAME_ENV } from '../../api/backend-plugin.js';
import { objectName, secretKey, secretKeyRef } from '../../api/common.js';
import { type Infer, arr, bool, enumOf, obj, str } from '../../api/schema.js';
import { parseDurationMs } from '../api/duration.js';
import { readMountedCa } from '../api/mounted-ca.js';
import type { ClickHouseBackendConfig } from './connection.js';
import { type SchemaParams, checkIdentifier } from './schema.js';

export const CLICKHOUSE_DEFAULTS = { database: 'jaeger', partitionBy: 'day', usernameKey: 'username', passwordKey: 'password', caKey: 'ca.crt' } as const;

export const clickhouseConfigSchema = obj(
  {
    endpoints: arr(str({ pattern: '^https?://[^\\s/?#]+([/?#]\\S*)?$', patternHint: 'a URL such as http://clickhouse.example:8123', maxLength: 2048 }), { minItems: 1, maxItems: 32 }),
    credentialsSecretRef: obj(
      {
        name: objectName('the Secret the credentials come from (as env JSO_BACKEND_USERNAME / JSO_BACKEND_PASSWORD)'),
        usernameKey: secretKey('key holding the user name', CLICKHOUSE_DEFAULTS.usernameKey),
        passwordKey: secretKey('key holding the password', CLICKHOUSE_DEFAULTS.passwordKey),
      },
      ['name'],
    ),
    allowPlaintextCredentials: bool({ description: 'credentials may go over http:// endpoints', default: false }),
    tls: obj(
      {
        enabled: bool({ default: false }),
        caSecretRef: secretKeyRef('the Secret mounted at BACKEND_CA_DIR (or $JSO_BACKEND_CA_DIR); `key` is the CA bundle file', CLICKHOUSE_DEFAULTS.caKey),
        insecureSkipVerify: bool({ description: 'skip certificate verification (testing only)', default: false }),
      },
      [],
    ),
    database: str({ default: CLICKHOUSE_DEFAULTS.database, pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$', patternHint: 'letters, digits and "_"' }),
    cluster: str({ maxLength: 128, pattern: '^([A-Za-z_][A-Za-z0-9_]{0,63})?$', patternHint: 'letters, digits and "_"' }),
    partitionBy: enumOf(['day', 'hour'] as const, { default: CLICKHOUSE_DEFAULTS.partitionBy }),
    asyncInsert: bool({ description: 'send inserts as ClickHouse async inserts (acknowledged once the server flushed them)', default: false }),
  },
  ['endpoints'],
  { description: 'ClickHouse connection and database' },
);

export type ClickHouseConfig = Infer<typeof clickhouseConfigSchema>;

export interface ClickHouseSecrets {
  username?: string;
  password?: string;
  ca?: string;
}

/** Connection settings from the config section plus credentials and CA obtained by the caller. Pure. */
export function clickhouseSettings(config: ClickHouseConfig, retention: string | undefined, secret: ClickHouseSecrets = {}): ClickHouseBackendConfig {
  return {
    endpoints: [...config.endpoints],
    database: config.database ?? CLICKHOUSE_DEFAULTS.database,
    ...(config.cluster ? { cluster: config.cluster } : {}),
    partitionBy: config.partitionBy ?? CLICKHOUSE_DEFAULTS.partitionBy,
    ...(config.asyncInsert ? { asyncInsert: true } : {}),
    ...(secret.username !== undefined ? { username: secret.username, password: secret.password ?? '' } : {}),
    ...(config.tls?.enabled ? { tls: { ...(secret.ca ? { ca: secret.ca } : {}), rejectUnauthorized: !(config.tls.insecureSkipVerify ?? false) } } : {}),
    ...(retention ? { retention } : {}),
  };
}

/** The runtime's settings: credentials from the environment, the CA from the mounted Secret. */
export function clickhouseBackendConfig(config: ClickHouseConfig, retention: string | undefined, env: NodeJS.ProcessEnv = process.env, caDir = env[BACKEND_CA_DIR_ENV] ?? CA_DIR): ClickHouseBackendConfig {
  const ca = config.tls?.enabled && config.tls.caSecretRef ? readMountedCa(config.tls.caSecretRef.key ?? CLICKHOUSE_DEFAULTS.caKey, 'backend.clickhouse.tls.caSecretRef', env, caDir) : undefined;
  const user = env[BACKEND_USERNAME_ENV];
  return clickhouseSettings(config, retention, { ...(user !== undefined ? { username: user, password: env[BACKEND_PASSWORD_ENV] ?? '' } : {}), ...(ca ? { ca } : {}) });
}

/** The schema parameters of a backend config (retention as TTL seconds; none: kept until deleted). */
export function schemaParams(cfg: ClickHouseBackendConfig): SchemaParams {
  return {
    database: checkIdentifier('database', cfg.database),
    ...(cfg.cluster ? { cluster: checkIdentifier('cluster', cfg.cluster) } : {}),
    partitionBy: cfg.partitionBy ?? 'day',
    ttlSeconds: cfg.retention ? Math.ceil(parseDurationMs(cfg.retention) / 1000) : 0,
  };
}
