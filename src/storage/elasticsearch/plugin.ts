// Elasticsearch and OpenSearch as plug-ins, made by one function: the data lives in the cluster (many writers, a
// finalizer cleans up), the operator's check connects and provisions, the runtime gets the spec section with the
// Secrets by reference. The search clients are loaded only when a check, a cleanup or a backend runs.
import type { BackendSpec, CheckCondition, SecretReference } from '../../api/backend-plugin.js';
import { printableEndpoints } from '../../api/redact.js';
import { httpCredentialsOf, httpPlaintextCredentialsProblem, httpSecretReferences } from '../api/http-secrets.js';
import type { BackendPlugin } from '../api/plugin.js';
import type { SearchType } from './check.js';
import { type SearchConfig, searchBackendConfig, searchConfigSchema } from './config.js';
import { SCHEMA_VERSION } from './provision.js';

type SearchSpec = BackendSpec<SearchType>;

/** The defined fields of `o` among `keys` (absent ones stay absent, so the rendered config keeps its bytes). */
function defined<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** The runtime config section: the spec's connection and layout fields, Secrets by reference only. Pure. */
export function searchRuntimeSection(spec: SearchSpec): SearchConfig {
  const { credentialsSecretRef: cred, tls, rolloverAfter } = spec;
  return {
    endpoints: [...spec.endpoints],
    ...(cred ? { credentialsSecretRef: defined(cred, ['name', 'usernameKey', 'passwordKey'] as const) } : {}),
    ...defined(spec, ['allowPlaintextCredentials', 'indexPrefix', 'layout', 'shards', 'replicas'] as const),
    ...(tls ? { tls: { ...defined(tls, ['enabled', 'insecureSkipVerify'] as const), ...(tls.caSecretRef ? { caSecretRef: defined(tls.caSecretRef, ['name', 'key'] as const) } : {}) } } : {}),
    ...(rolloverAfter ? { rolloverAfter: defined(rolloverAfter, ['maxAge', 'maxPrimaryShardSize'] as const) } : {}),
  };
}

/** Credentials as env of the runtime container, the CA as a Secret volume at BACKEND_CA_DIR. */
export const searchSecretReferences = (type: SearchType, spec: SearchSpec): SecretReference[] => httpSecretReferences(type, spec);

/** Credentials go over http:// only when the spec says so. */
export const plaintextCredentialsProblem = (type: SearchType, spec: SearchSpec): CheckCondition | undefined => httpPlaintextCredentialsProblem(type, spec);

function searchPlugin<T extends SearchType>(type: T): BackendPlugin<T, SearchConfig> {
  return {
    type,
    traits: { singleWriter: false, externalState: true, tenancy: false, provisions: ['index templates', 'lifecycle policy (ILM / ISM)', 'rollover indices and aliases', 'data stream', 'schema version record'] },
    configSchema: searchConfigSchema,
    runtimeSection: searchRuntimeSection,
    secretReferences: (spec) => searchSecretReferences(type, spec),
    secretPolicy: (spec) => plaintextCredentialsProblem(type, spec),
    check: {
      schemaVersion: SCHEMA_VERSION,
      describe: (spec) => printableEndpoints(spec.endpoints),
      async run(req) {
        const { runCheck } = await import('./check.js');
        return runCheck(type, searchRuntimeSection(req.spec), req.retention, httpCredentialsOf(type, req.spec, req.secrets));
      },
    },
    async cleanup(req) {
      const { cleanupSearch } = await import('./cleanup.js');
      await cleanupSearch(searchRuntimeSection(req.spec), httpCredentialsOf(type, req.spec, req.secrets), req.signal);
    },
    // the same prefix on the same cluster is the same data, whatever else differs
    dataKey: (spec) => JSON.stringify([[...spec.endpoints].map((e) => e.toLowerCase().replace(/\/+$/, '')).sort(), spec.indexPrefix ?? '']),
    async open(config, ctx) {
      const { SearchBackend } = await import('./store.js');
      return new SearchBackend(type, searchBackendConfig(config, ctx.retention, ctx.env));
    },
  };
}

export const opensearchPlugin = searchPlugin('opensearch');
export const elasticsearchPlugin = searchPlugin('elasticsearch');
