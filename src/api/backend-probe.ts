// What the operator asks of a backend that lives outside the runtime pods: connect with the credentials it read from
// the referenced Secrets, provision the schema, and say how far that got. Each such backend's folder implements it;
// the composition roots (cli, local mode, tests) hand the table to the operator, so the operator side loads no
// database client. The operator turns the outcome into BackendReachable / SchemaReady conditions.
import type { TraceStoreSpec } from './tracestore.js';

/** The `backend.opensearch` / `backend.elasticsearch` section of a TraceStore. */
export type SearchSpec = NonNullable<TraceStoreSpec['backend']['opensearch']>;

export type ProbedBackendType = 'opensearch' | 'elasticsearch';

export interface ProbeRequest {
  type: ProbedBackendType;
  spec: SearchSpec;
  retention?: string;
  username?: string;
  password?: string;
  ca?: string;
}

/** The server as it described itself (remote text: print only after checking it). */
export interface ProbedServer {
  distribution: string;
  version: string;
}

export type ProbeOutcome =
  | { stage: 'connect'; reason: 'AuthenticationFailed' | 'UnsupportedVersion' | 'Unreachable'; error: unknown }
  /** the server is another product than the spec names: nothing was provisioned */
  | ({ stage: 'wrongProduct' } & ProbedServer)
  | ({ stage: 'provision'; error: unknown } & ProbedServer)
  | ({ stage: 'ready'; schemaVersion: number; lifecycle: string } & ProbedServer);

export interface BackendProbe {
  /** the schema version this operator provisions: a new one triggers a new check */
  schemaVersion: number;
  probe(req: ProbeRequest): Promise<ProbeOutcome>;
}

export type BackendProbes = Partial<Record<ProbedBackendType, BackendProbe>>;

/** How the runtime pods receive a backend's credentials (env from secretKeyRef) and its CA (a Secret volume). */
export const BACKEND_USERNAME_ENV = 'JSO_BACKEND_USERNAME';
export const BACKEND_PASSWORD_ENV = 'JSO_BACKEND_PASSWORD';
export const BACKEND_CA_DIR = '/etc/jaeger-storage/backend-ca';
