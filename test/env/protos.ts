// The upstream .proto files fetched by test/env/fetch-protos.sh, loaded with @grpc/proto-loader: gRPC clients built
// from the published definitions, independent of the runtime's own codec.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REPO_ROOT } from '../../src/local/controlplane.js';

/** The include directory with opentelemetry/proto/**, api_v3/, api_v2/, storage/v2/ and expression/v1/; throws, naming the fix, when missing. */
export function protosDir(): string {
  const dir = execFileSync('bash', ['-c', `source "${join(REPO_ROOT, 'test/env/versions.sh')}"; echo "$PROTOS_DIR"`], { encoding: 'utf8' }).trim();
  for (const f of ['api_v3/query_service.proto', 'api_v3/capabilities.proto', 'storage/v2/capabilities.proto', 'api_v2/sampling.proto', 'gogoproto/gogo.proto', 'opentelemetry/proto/trace/v1/trace.proto']) {
    if (!existsSync(join(dir, f))) throw new Error(`the upstream .proto files are missing (${join(dir, f)}): fetch them with: bash test/env/fetch-protos.sh`);
  }
  return dir;
}

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: Number, defaults: false, oneofs: true };

/** A generic client constructor for `service` (e.g. jaeger.api_v3.QueryService) declared in `file`. */
export function loadService(file: string, service: string, options: protoLoader.Options = {}): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(file, { ...LOADER_OPTIONS, ...options, includeDirs: [protosDir(), join(REPO_ROOT, 'node_modules/protobufjs')] });
  let obj: unknown = grpc.loadPackageDefinition(def);
  for (const part of service.split('.')) obj = (obj as Record<string, unknown> | undefined)?.[part];
  if (typeof obj !== 'function') throw new Error(`${service} is not declared in ${file}`);
  return obj as grpc.ServiceClientConstructor;
}
