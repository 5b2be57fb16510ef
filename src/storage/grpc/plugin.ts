// A remote jaeger.storage.v2 server as a plug-in: the data lives in the remote (many runtime replicas may write,
// the operator deletes nothing there), the operator's check calls GetServices, the runtime gets the spec section
// with the token and CA Secrets by reference. The gRPC client is loaded only when a check or a backend runs.
import { BACKEND_CA_DIR, BACKEND_TOKEN_ENV, type BackendSpec, type CheckCondition, type SecretReference } from '../../api/backend-plugin.js';
import type { BackendPlugin } from '../api/plugin.js';
import { GRPC_DEFAULTS, type GrpcConfig, grpcBackendConfig, grpcConfigSchema } from './config.js';

type GrpcSpec = BackendSpec<'grpc'>;

const TOKEN_FIELD = 'spec.backend.grpc.tokenSecretRef';
const CA_FIELD = 'spec.backend.grpc.tls.caSecretRef';

/** The runtime config section: the spec's connection fields, Secrets by reference only. Pure. */
export function grpcRuntimeSection(spec: GrpcSpec): GrpcConfig {
  const { tls } = spec;
  return {
    endpoint: spec.endpoint,
    ...(spec.writerEndpoint !== undefined ? { writerEndpoint: spec.writerEndpoint } : {}),
    ...(tls
      ? {
          tls: {
            ...(tls.enabled !== undefined ? { enabled: tls.enabled } : {}),
            ...(tls.caSecretRef ? { caSecretRef: { name: tls.caSecretRef.name, ...(tls.caSecretRef.key !== undefined ? { key: tls.caSecretRef.key } : {}) } } : {}),
            ...(tls.serverName !== undefined ? { serverName: tls.serverName } : {}),
          },
        }
      : {}),
    ...(spec.tokenSecretRef ? { tokenSecretRef: { name: spec.tokenSecretRef.name, ...(spec.tokenSecretRef.key !== undefined ? { key: spec.tokenSecretRef.key } : {}) } } : {}),
    ...(spec.allowPlaintextCredentials !== undefined ? { allowPlaintextCredentials: spec.allowPlaintextCredentials } : {}),
    ...(spec.timeout !== undefined ? { timeout: spec.timeout } : {}),
  };
}

/** The token as env of the runtime container, the CA as a Secret volume at BACKEND_CA_DIR. */
export function grpcSecretReferences(spec: GrpcSpec): SecretReference[] {
  const refs: SecretReference[] = [];
  const token = spec.tokenSecretRef;
  if (token) {
    const key = token.key ?? GRPC_DEFAULTS.tokenKey;
    refs.push({ field: TOKEN_FIELD, name: token.name, keys: [key], env: [{ name: BACKEND_TOKEN_ENV, key }] });
  }
  const ca = spec.tls?.caSecretRef;
  if (ca) refs.push({ field: CA_FIELD, name: ca.name, keys: [ca.key ?? GRPC_DEFAULTS.caKey], mountPath: BACKEND_CA_DIR });
  return refs;
}

/** A token goes without TLS only when the spec says so. */
export function grpcPlaintextTokenProblem(spec: GrpcSpec): CheckCondition | undefined {
  if (!spec.tokenSecretRef || spec.tls?.enabled || spec.allowPlaintextCredentials) return undefined;
  return {
    status: 'False',
    reason: 'InsecureCredentials',
    message: `spec.backend.grpc.tls.enabled is false, so the token of ${TOKEN_FIELD} would travel unencrypted: enable TLS, or set spec.backend.grpc.allowPlaintextCredentials: true to accept that`,
  };
}

function secretsOf(spec: GrpcSpec, secrets: Record<string, Record<string, string>>): { token?: string; ca?: string } {
  const out: { token?: string; ca?: string } = {};
  const token = spec.tokenSecretRef && secrets[TOKEN_FIELD]?.[spec.tokenSecretRef.key ?? GRPC_DEFAULTS.tokenKey];
  if (token) out.token = token;
  const ca = spec.tls?.caSecretRef && secrets[CA_FIELD]?.[spec.tls.caSecretRef.key ?? GRPC_DEFAULTS.caKey];
  if (ca) out.ca = ca;
  return out;
}

export const grpcPlugin: BackendPlugin<'grpc', GrpcConfig> = {
  type: 'grpc',
  traits: { singleWriter: false, externalState: false, tenancy: false, provisions: [] },
  configSchema: grpcConfigSchema,
  runtimeSection: grpcRuntimeSection,
  secretReferences: grpcSecretReferences,
  secretPolicy: grpcPlaintextTokenProblem,
  check: {
    schemaVersion: 1,
    describe: (spec) => spec.endpoint,
    async run(req) {
      const { runGrpcCheck } = await import('./check.js');
      return runGrpcCheck(grpcRuntimeSection(req.spec), secretsOf(req.spec, req.secrets));
    },
  },
  async open(config, ctx) {
    const { GrpcBackend } = await import('./store.js');
    return new GrpcBackend(grpcBackendConfig(config, ctx.env));
  },
};
