// The operator's check of a grpc backend: the remote answers GetServices (with the TLS settings and token the runtime
// will use). Nothing is provisioned: the remote storage owns its schema.
import type { CheckResult } from '../../api/backend-plugin.js';
import { backendErrorMessage, boundedText } from '../../api/redact.js';
import { StorageError } from '../api/errors.js';
import { type GrpcConfig, grpcSettings } from './config.js';
import { GrpcBackend } from './store.js';

const NOTHING_TO_PROVISION = { status: 'True', reason: 'NothingToProvision', message: 'the remote storage owns its schema' } as const;

export async function runGrpcCheck(config: GrpcConfig, secret: { token?: string; ca?: string }): Promise<CheckResult> {
  const backend = new GrpcBackend(grpcSettings(config, secret));
  try {
    await backend.getServices();
    return { reachable: { status: 'True', reason: 'Connected', message: `${config.endpoint} answers jaeger.storage.v2 GetServices` }, schema: NOTHING_TO_PROVISION };
  } catch (e) {
    const denied = e instanceof StorageError && /UNAUTHENTICATED|PERMISSION_DENIED/.test(e.message);
    return {
      reachable: { status: 'False', reason: denied ? 'AuthenticationFailed' : 'Unreachable', message: boundedText(`${config.endpoint}: ${backendErrorMessage(e)}`) },
      schema: { status: 'Unknown', reason: 'Pending', message: 'waiting for the backend connection' },
    };
  } finally {
    await backend.close();
  }
}
