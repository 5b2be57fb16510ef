// The configuration of the query front (spec.query): stock Jaeger v2 with no pipeline of its own (nop receiver and
// exporter), its jaeger_query extension serving the UI and APIs from a `grpc` storage backend that is the runtime's
// remote-storage port, and healthcheckv2 for the probes. Pure: the same spec gives the same YAML (its hash rolls
// the pods). Secrets stay out of it: the bearer token is ${env:...}, read from a secretKeyRef env var.
import { QUERY_CLIENT_TLS_MOUNT, QUERY_PORTS, QUERY_TLS_MOUNT, QUERY_TOKEN_ENV } from '../../../api/contract.js';
import { DEFAULT_PORTS } from '../../../api/runtime-config.js';
import type { TraceStoreSpec } from '../../../api/tracestore.js';
import { canonicalYaml } from './config.js';

/** the name of the storage backend inside the Jaeger configuration */
export const QUERY_STORAGE = 'runtime';

export interface QueryConfigInput {
  spec: TraceStoreSpec;
  /** host of the runtime Service (<name>-runtime.<namespace>.svc) */
  runtimeHost: string;
}

/** the grpc client settings of the remote-storage connection (reader and writer alike) */
function grpcClient(i: QueryConfigInput): Record<string, unknown> {
  const sec = i.spec.runtime?.security?.remoteStorage;
  const tls = sec?.tls
    ? {
        ca_file: `${QUERY_TLS_MOUNT}/ca.crt`,
        server_name_override: i.runtimeHost,
        ...(sec.tls.requireClientCert ? { cert_file: `${QUERY_CLIENT_TLS_MOUNT}/tls.crt`, key_file: `${QUERY_CLIENT_TLS_MOUNT}/tls.key` } : {}),
      }
    : { insecure: true };
  return {
    endpoint: `${i.runtimeHost}:${DEFAULT_PORTS.remoteStorage}`,
    tls,
    ...(sec?.auth ? { headers: { authorization: `Bearer \${env:${QUERY_TOKEN_ENV}}` } } : {}),
  };
}

/** The Jaeger v2 configuration of the query front, as an object (see queryConfigYaml). */
export function queryConfig(i: QueryConfigInput): Record<string, unknown> {
  const basePath = i.spec.query?.basePath;
  const client = grpcClient(i);
  return {
    service: {
      extensions: ['healthcheckv2', 'jaeger_storage', 'jaeger_query'],
      pipelines: { traces: { receivers: ['nop'], exporters: ['nop'] } },
      telemetry: { logs: { level: 'info' }, metrics: { level: 'none' } },
    },
    extensions: {
      healthcheckv2: { use_v2: true, http: { endpoint: `0.0.0.0:${QUERY_PORTS.health}` } },
      jaeger_query: {
        // no self-tracing: nothing in the pod would receive it
        enable_tracing: false,
        ...(basePath ? { base_path: basePath } : {}),
        storage: { traces: QUERY_STORAGE },
        http: { endpoint: `0.0.0.0:${QUERY_PORTS.http}` },
        grpc: { endpoint: `0.0.0.0:${QUERY_PORTS.grpc}` },
      },
      jaeger_storage: { backends: { [QUERY_STORAGE]: { grpc: { ...client, writer: structuredClone(client) } } } },
    },
    receivers: { nop: {} },
    exporters: { nop: {} },
  };
}

export const queryConfigYaml = (i: QueryConfigInput): string => canonicalYaml(queryConfig(i));
