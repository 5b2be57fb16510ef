// The `backend.grpc` section of the runtime config and from it the client's settings. The token and the CA never
// appear in the config: the operator passes the token Secret as env (JSO_BACKEND_TOKEN, valueFrom secretKeyRef) and
// mounts the CA Secret under BACKEND_CA_DIR; the references stay in the section so the runtime knows the CA's key.
import { BACKEND_CA_DIR, BACKEND_CA_DIR_ENV, BACKEND_TOKEN_ENV } from '../../api/backend-plugin.js';
import { duration, secretKeyRef } from '../../api/common.js';
import { type Infer, bool, obj, str } from '../../api/schema.js';
import { parseDurationMs } from '../api/duration.js';
import { InvalidArgumentError } from '../api/errors.js';
import { readMountedCa } from '../api/mounted-ca.js';
import type { GrpcBackendConfig } from './store.js';

export const GRPC_DEFAULTS = { timeout: '5s', caKey: 'ca.crt', tokenKey: 'token' } as const;

const hostPort = (description: string) => str({ description, pattern: '^[^\\s:/]+:[0-9]{1,5}$', patternHint: 'host:port', maxLength: 512 });

export const grpcConfigSchema = obj(
  {
    endpoint: hostPort('host:port of the jaeger.storage.v2 TraceReader and DependencyReader'),
    writerEndpoint: hostPort('host:port of the OTLP/gRPC TraceService (default: endpoint)'),
    tls: obj(
      {
        enabled: bool({ default: false }),
        caSecretRef: secretKeyRef('the Secret mounted at BACKEND_CA_DIR (or $JSO_BACKEND_CA_DIR); `key` is the CA bundle file', GRPC_DEFAULTS.caKey),
        serverName: str({ maxLength: 253, pattern: '^[A-Za-z0-9.-]+$', patternHint: 'a DNS name' }),
      },
      [],
    ),
    tokenSecretRef: secretKeyRef('the Secret whose token arrives as env JSO_BACKEND_TOKEN', GRPC_DEFAULTS.tokenKey),
    allowPlaintextCredentials: bool({ default: false }),
    timeout: duration('deadline of each call', GRPC_DEFAULTS.timeout),
  },
  ['endpoint'],
  { description: 'remote jaeger.storage.v2 server' },
);

export type GrpcConfig = Infer<typeof grpcConfigSchema>;

/** Settings from the section plus the token and CA obtained by the caller (env and files, or Secrets). */
export function grpcSettings(config: GrpcConfig, secret: { token?: string; ca?: string } = {}): GrpcBackendConfig {
  const tls = config.tls?.enabled ? { ...(secret.ca ? { ca: secret.ca } : {}), ...(config.tls.serverName ? { serverName: config.tls.serverName } : {}) } : undefined;
  return {
    endpoint: config.endpoint,
    ...(config.writerEndpoint ? { writerEndpoint: config.writerEndpoint } : {}),
    ...(tls ? { tls } : {}),
    ...(secret.token ? { token: secret.token } : {}),
    timeoutMs: parseDurationMs(config.timeout ?? GRPC_DEFAULTS.timeout),
  };
}

/** The runtime's settings: the token from the environment, the CA from the mounted Secret. */
export function grpcBackendConfig(config: GrpcConfig, env: NodeJS.ProcessEnv = process.env, caDir = env[BACKEND_CA_DIR_ENV] ?? BACKEND_CA_DIR): GrpcBackendConfig {
  const ca = config.tls?.enabled && config.tls.caSecretRef ? readMountedCa(config.tls.caSecretRef.key ?? GRPC_DEFAULTS.caKey, 'backend.grpc.tls.caSecretRef', env, caDir) : undefined;
  const token = config.tokenSecretRef ? env[BACKEND_TOKEN_ENV] : undefined;
  if (config.tokenSecretRef && !token) throw new InvalidArgumentError('backend.grpc.tokenSecretRef', `is set but ${BACKEND_TOKEN_ENV} is empty: is the Secret referenced?`);
  return grpcSettings(config, { ...(token ? { token } : {}), ...(ca ? { ca } : {}) });
}
