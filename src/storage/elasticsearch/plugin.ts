// Elasticsearch and OpenSearch as plug-ins, made by one function: the data lives in the cluster (many writers, a
// finalizer cleans up), the operator's check connects and provisions, the runtime gets the spec section with the
// Secrets by reference. The search clients are loaded only when a check, a cleanup or a backend runs.
import { BACKEND_CA_DIR, BACKEND_PASSWORD_ENV, BACKEND_USERNAME_ENV, type BackendSpec, type CheckCondition, type SecretReference } from '../../api/backend-plugin.js';
import { printableEndpoints } from '../../api/redact.js';
import type { BackendPlugin } from '../api/plugin.js';
import type { SearchCredentials, SearchType } from './check.js';
import { SEARCH_DEFAULTS, type SearchConfig, searchBackendConfig, searchConfigSchema } from './config.js';
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

const credentialsField = (type: SearchType) => `spec.backend.${type}.credentialsSecretRef`;
const caField = (type: SearchType) => `spec.backend.${type}.tls.caSecretRef`;

/** Credentials as env of the runtime container, the CA as a Secret volume at BACKEND_CA_DIR. */
export function searchSecretReferences(type: SearchType, spec: SearchSpec): SecretReference[] {
  const refs: SecretReference[] = [];
  const cred = spec.credentialsSecretRef;
  if (cred) {
    const usernameKey = cred.usernameKey ?? SEARCH_DEFAULTS.usernameKey;
    const passwordKey = cred.passwordKey ?? SEARCH_DEFAULTS.passwordKey;
    refs.push({
      field: credentialsField(type),
      name: cred.name,
      keys: [usernameKey, passwordKey],
      env: [
        { name: BACKEND_USERNAME_ENV, key: usernameKey },
        { name: BACKEND_PASSWORD_ENV, key: passwordKey },
      ],
    });
  }
  const ca = spec.tls?.caSecretRef;
  if (ca) refs.push({ field: caField(type), name: ca.name, keys: [ca.key ?? SEARCH_DEFAULTS.caKey], mountPath: BACKEND_CA_DIR });
  return refs;
}

/** Credentials go over http:// only when the spec says so. */
export function plaintextCredentialsProblem(type: SearchType, spec: SearchSpec): CheckCondition | undefined {
  if (!spec.credentialsSecretRef || spec.allowPlaintextCredentials) return undefined;
  const plain = spec.endpoints.filter((e) => !e.toLowerCase().startsWith('https://'));
  if (!plain.length) return undefined;
  const field = `spec.backend.${type}`;
  return {
    status: 'False',
    reason: 'InsecureCredentials',
    message: `${field}.endpoints: ${printableEndpoints(plain)} ${plain.length === 1 ? 'is' : 'are'} plain http://, so the credentials of ${field}.credentialsSecretRef would travel unencrypted: use https:// endpoints, or set ${field}.allowPlaintextCredentials: true to accept that`,
  };
}

/** The Secret values the operator read for this spec, as the clients take them. */
function credentialsOf(type: SearchType, spec: SearchSpec, secrets: Record<string, Record<string, string>>): SearchCredentials {
  const out: SearchCredentials = {};
  const cred = spec.credentialsSecretRef;
  if (cred) {
    const values = secrets[credentialsField(type)] ?? {};
    const username = values[cred.usernameKey ?? SEARCH_DEFAULTS.usernameKey];
    if (username !== undefined) {
      out.username = username;
      out.password = values[cred.passwordKey ?? SEARCH_DEFAULTS.passwordKey] ?? '';
    }
  }
  const ca = spec.tls?.caSecretRef;
  if (ca) {
    const pem = secrets[caField(type)]?.[ca.key ?? SEARCH_DEFAULTS.caKey];
    if (pem) out.ca = pem;
  }
  return out;
}

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
        return runCheck(type, searchRuntimeSection(req.spec), req.retention, credentialsOf(type, req.spec, req.secrets));
      },
    },
    async cleanup(req) {
      const { cleanupSearch } = await import('./cleanup.js');
      await cleanupSearch(searchRuntimeSection(req.spec), credentialsOf(type, req.spec, req.secrets), req.signal);
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
