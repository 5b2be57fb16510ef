// ClickHouse as a plug-in: the data lives in the server (many runtime replicas may write; a finalizer drops the
// database when deletionPolicy is Delete), the operator's check connects and provisions the database, the runtime
// gets the spec section with the Secrets by reference. The HTTP client is loaded only when a check, a cleanup or a
// backend runs.
import type { BackendSpec } from '../../api/backend-plugin.js';
import { printableEndpoints } from '../../api/redact.js';
import { httpCredentialsOf, httpPlaintextCredentialsProblem, httpSecretReferences } from '../api/http-secrets.js';
import type { BackendPlugin } from '../api/plugin.js';
import { CLICKHOUSE_DEFAULTS, type ClickHouseConfig, clickhouseBackendConfig, clickhouseConfigSchema } from './config.js';
import { LATEST_VERSION } from './schema.js';

type ClickHouseSpec = BackendSpec<'clickhouse'>;

/** The runtime config section: the spec's fields, Secrets by reference only. Pure. */
export function clickhouseRuntimeSection(spec: ClickHouseSpec): ClickHouseConfig {
  const { credentialsSecretRef: cred, tls } = spec;
  const out: ClickHouseConfig = { endpoints: [...spec.endpoints] };
  if (cred) out.credentialsSecretRef = { name: cred.name, ...(cred.usernameKey !== undefined ? { usernameKey: cred.usernameKey } : {}), ...(cred.passwordKey !== undefined ? { passwordKey: cred.passwordKey } : {}) };
  if (spec.allowPlaintextCredentials !== undefined) out.allowPlaintextCredentials = spec.allowPlaintextCredentials;
  if (tls) {
    out.tls = {
      ...(tls.enabled !== undefined ? { enabled: tls.enabled } : {}),
      ...(tls.caSecretRef ? { caSecretRef: { name: tls.caSecretRef.name, ...(tls.caSecretRef.key !== undefined ? { key: tls.caSecretRef.key } : {}) } } : {}),
      ...(tls.insecureSkipVerify !== undefined ? { insecureSkipVerify: tls.insecureSkipVerify } : {}),
    };
  }
  if (spec.database !== undefined) out.database = spec.database;
  if (spec.cluster) out.cluster = spec.cluster;
  if (spec.partitionBy !== undefined) out.partitionBy = spec.partitionBy;
  if (spec.asyncInsert !== undefined) out.asyncInsert = spec.asyncInsert;
  return out;
}

export const clickhousePlugin: BackendPlugin<'clickhouse', ClickHouseConfig> = {
  type: 'clickhouse',
  traits: { singleWriter: false, externalState: true, tenancy: false, provisions: ['database', 'tables and materialized views (versioned migrations)', 'TTL from the retention'] },
  configSchema: clickhouseConfigSchema,
  runtimeSection: clickhouseRuntimeSection,
  secretReferences: (spec) => httpSecretReferences('clickhouse', spec),
  secretPolicy: (spec) => httpPlaintextCredentialsProblem('clickhouse', spec),
  check: {
    schemaVersion: LATEST_VERSION,
    describe: (spec) => printableEndpoints(spec.endpoints),
    async run(req) {
      const { runClickHouseCheck } = await import('./check.js');
      return runClickHouseCheck(clickhouseRuntimeSection(req.spec), req.retention, httpCredentialsOf('clickhouse', req.spec, req.secrets), req.owner);
    },
  },
  async cleanup(req) {
    const { cleanupClickHouse } = await import('./check.js');
    return cleanupClickHouse(clickhouseRuntimeSection(req.spec), httpCredentialsOf('clickhouse', req.spec, req.secrets), req.owner, req.signal);
  },
  // the same database on the same servers is the same data
  dataKey: (spec) => JSON.stringify([[...spec.endpoints].map((e) => e.toLowerCase().replace(/\/+$/, '')).sort(), spec.database ?? CLICKHOUSE_DEFAULTS.database]),
  async open(config, ctx) {
    const { ClickHouseBackend } = await import('./store.js');
    return new ClickHouseBackend(clickhouseBackendConfig(config, ctx.retention, ctx.env));
  },
};
