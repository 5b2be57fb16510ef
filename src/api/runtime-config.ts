// The runtime's configuration (operator <-> runtime contract): rendered by the operator into a ConfigMap, or
// written by hand for `npm run runtime -- --config FILE` (loaded by runtime/config.ts). Declared with the same schema builder as the CRDs, so it is validated at
// start with errors that name the field.
import { staticSamplingPolicy } from './samplingpolicy.js';
import { BACKEND_TYPES, type BackendType, type ListenerGroupName, tenancy } from './tracestore.js';
import { DURATION_HINT, DURATION_PATTERN } from './common.js';
import { applyDefaults, arr, bool, enumOf, int, num, obj, str, type FieldError, type Infer, type Node } from './schema.js';

const listen = (def: string) =>
  str({ pattern: '^([^\\s]*):([0-9]{1,5})$', patternHint: 'host:port, e.g. 0.0.0.0:4317 or 127.0.0.1:0', default: def });

export const DEFAULT_PORTS = {
  otlpGrpc: 4317,
  otlpHttp: 4318,
  queryHttp: 16686,
  queryGrpc: 16685,
  remoteStorage: 17271,
  samplingHttp: 5778,
  samplingGrpc: 5779,
  admin: 8888,
} as const;

/** Every listener on one address, e.g. listenAll('127.0.0.1:0') for free loopback ports. */
export const listenAll = (hostPort: string): Record<keyof typeof DEFAULT_PORTS, string> =>
  Object.fromEntries(Object.keys(DEFAULT_PORTS).map((k) => [k, hostPort])) as Record<keyof typeof DEFAULT_PORTS, string>;

/** A backend's section: its fields belong to the backend's plug-in, which validates them when the runtime opens it. */
export type RuntimeBackendSection = { [key: string]: unknown };
export type RuntimeBackends = { [T in BackendType]?: RuntimeBackendSection };

const isSection = (v: unknown): v is RuntimeBackendSection => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The `backend` section: exactly one known backend whose value is an object. Its fields are the plug-in's
 * (storage/<backend>/), checked against the plug-in's configSchema at start with the same ConfigError.
 */
const runtimeBackend: Node<RuntimeBackends> = {
  toOpenAPI: () => ({
    type: 'object',
    description: `the storage backend: exactly one of ${BACKEND_TYPES.join(', ')}`,
    properties: Object.fromEntries(BACKEND_TYPES.map((t) => [t, { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }])),
  }),
  validate(v, path, errors) {
    if (!isSection(v)) {
      errors.push({ field: path, message: `must be an object with exactly one backend: one of ${BACKEND_TYPES.join(', ')}` });
      return;
    }
    const known: readonly string[] = BACKEND_TYPES;
    for (const k of Object.keys(v)) if (!known.includes(k)) errors.push({ field: `${path}.${k}`, message: `is not a known backend (known: ${BACKEND_TYPES.join(', ')})` });
    const set = BACKEND_TYPES.filter((t) => v[t] !== undefined && v[t] !== null);
    if (set.length !== 1) errors.push({ field: path, message: `exactly one backend must be set: one of ${BACKEND_TYPES.join(', ')}${set.length ? ` (got ${set.join(', ')})` : ''}` });
    for (const t of set) if (!isSection(v[t])) errors.push({ field: `${path}.${t}`, message: 'must be an object' });
  },
};

const filePath = (description: string) => str({ description, minLength: 1, maxLength: 4096 });

/** TLS and bearer-token auth of one listener group; files are re-read when they change (Secret volumes rotate in place). */
const listenerGroupSecurity = obj(
  {
    tls: obj(
      {
        certFile: filePath('PEM certificate chain the listeners present'),
        keyFile: filePath('PEM private key of certFile'),
        clientCaFile: filePath('PEM CA bundle: when set, clients must present a certificate signed by it (mTLS)'),
      },
      ['certFile', 'keyFile'],
      { description: 'serve TLS (HTTPS, gRPC over TLS) instead of plaintext' },
    ),
    auth: obj(
      {
        bearerTokenFile: filePath('file of accepted bearer tokens, one per line (several during a rotation); blank lines are ignored'),
      },
      ['bearerTokenFile'],
      { description: 'require "Authorization: Bearer <token>" (HTTP) or "authorization" metadata (gRPC); grpc.health.v1 stays open' },
    ),
  },
  [],
);

export type ListenerGroup = ListenerGroupName;

export const runtimeConfigSchema = obj(
  {
    apiVersion: enumOf(['storage.jaegertracing.io/v1alpha1'] as const),
    kind: enumOf(['RuntimeConfig'] as const),
    traceStore: obj({ namespace: str({ minLength: 1 }), name: str({ minLength: 1 }) }, ['name']),
    backend: runtimeBackend,
    retention: str({ pattern: DURATION_PATTERN, patternHint: DURATION_HINT }),
    dataDir: str({ description: 'directory of on-disk data (embedded backend)', minLength: 1, default: '/var/lib/jaeger-storage' }),
    listen: obj(
      Object.fromEntries(Object.entries(DEFAULT_PORTS).map(([k, p]) => [k, listen(`0.0.0.0:${p}`)])) as Record<keyof typeof DEFAULT_PORTS, ReturnType<typeof listen>>,
      [],
      { default: {} },
    ),
    security: obj(
      {
        ingest: listenerGroupSecurity,
        query: listenerGroupSecurity,
        remoteStorage: listenerGroupSecurity,
        sampling: listenerGroupSecurity,
        reloadIntervalMs: int({ description: 'how often certificate, key and token files are checked for changes', minimum: 100, maximum: 3_600_000 }),
      },
      [],
      { description: 'per listener group (ingest: OTLP; query: Jaeger query HTTP and gRPC; remoteStorage: jaeger.storage.v2; sampling: remote sampling); the admin port (metrics, probes) stays plaintext and open. Unset: plaintext, no authentication' },
    ),
    tenancy,
    backendMaintenanceMs: int({ description: 'how often the runtime runs backend housekeeping (rollover and retention where no server policy does it)', minimum: 1000, maximum: 86_400_000, default: 300_000 }),
    log: obj({ level: enumOf(['debug', 'info', 'warn', 'error'] as const, { default: 'info' }) }, [], { default: {} }),
    ingest: obj(
      {
        maxQueuedSpans: int({ description: 'spans accepted but not yet written; beyond it receivers answer 429 / RESOURCE_EXHAUSTED', minimum: 1, maximum: 100_000_000, default: 200_000 }),
        batchSpans: int({ description: 'spans per backend write', minimum: 1, maximum: 1_000_000, default: 5_000 }),
        batchAgeMs: int({ description: 'how long a free writer waits for a batch to fill (0: group commit, write at once)', minimum: 0, maximum: 60_000, default: 0 }),
        writers: int({ description: 'concurrent backend writes; unset: what the backend asks for (2; ClickHouse 8, whose writer joins them into few big inserts)', minimum: 1, maximum: 64 }),
        maxAttempts: int({ description: 'tries of a write failing with an error other than "unavailable" or "full" before the bad spans are isolated and dead-lettered', minimum: 1, maximum: 100, default: 5 }),
        maxRequestBytes: int({ description: 'largest OTLP request, after decompression', minimum: 1024, maximum: 1_073_741_824, default: 16_777_216 }),
        maxInflightBytes: int({ description: 'request bytes held at once across all receivers (reading, decoding, waiting for the commit); beyond it 429 / RESOURCE_EXHAUSTED', minimum: 1024, maximum: 17_179_869_184, default: 134_217_728 }),
        decodeThreads: int({ description: 'threads that decode OTLP/protobuf requests beside the main thread (0: the main thread decodes them); unset: two fewer than the CPUs the runtime may use (its affinity and cgroup CPU limit), at most 4', minimum: 0, maximum: 16 }),
        decodeThreadMinBytes: int({ description: 'smallest OTLP/protobuf request sent to a decode thread; smaller ones are decoded on the main thread, where posting them would cost more than it saves', minimum: 0, maximum: 1_073_741_824, default: 16_384 }),
        ackTimeoutMs: int({ description: 'how long a request waits for its spans to be committed before it is answered 503 / UNAVAILABLE (the client retries)', minimum: 100, maximum: 600_000, default: 10_000 }),
        requestTimeoutMs: int({ description: 'an OTLP/HTTP request must arrive whole within this', minimum: 100, maximum: 600_000, default: 30_000 }),
        idleTimeoutMs: int({ description: 'idle OTLP connections (HTTP keep-alive, gRPC) are closed after this', minimum: 100, maximum: 3_600_000, default: 120_000 }),
      },
      [],
      { default: {} },
    ),
    sampling: obj(
      {
        defaultProbability: num({ description: 'probability served when no SamplingPolicy sets a default', minimum: 0, maximum: 1, default: 0.001 }),
        watchPolicies: bool({ description: 'follow the SamplingPolicies that target traceStore through the Kubernetes API', default: false }),
        kubeconfig: str({ description: 'kubeconfig file for watchPolicies; the in-cluster service account (or $KUBECONFIG) when unset', minLength: 1 }),
        podName: str({ description: 'this runtime\'s Pod, where it reports the policy generations it enforces; $POD_NAME when unset', minLength: 1 }),
        policies: arr(staticSamplingPolicy, { maxItems: 100, description: 'policies enforced without Kubernetes (ignored when watchPolicies is on); same rules as a SamplingPolicy spec' }),
        adaptiveIntervalMs: int({ description: 'adaptive sampling: how often throughput is flushed and probabilities recomputed', minimum: 100, maximum: 3_600_000, default: 60_000 }),
      },
      [],
      { default: {} },
    ),
  },
  ['apiVersion', 'kind', 'backend'],
);

export type RuntimeConfig = Infer<typeof runtimeConfigSchema>;

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly errors: FieldError[],
  ) {
    super(`invalid runtime configuration in ${source}:\n${errors.map((e) => `  - ${e.field}: ${e.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates and fills defaults. Throws ConfigError listing every problem. */
export function parseRuntimeConfig(value: unknown, source = 'config'): RuntimeConfig {
  const errors: FieldError[] = [];
  runtimeConfigSchema.validate(value, 'config', errors);
  if (errors.length) throw new ConfigError(source, errors);
  const cfg = applyDefaults(runtimeConfigSchema.toOpenAPI(), value as RuntimeConfig);
  const ingest = cfg.ingest ?? {};
  if (ingest.maxQueuedSpans !== undefined && ingest.batchSpans !== undefined && ingest.maxQueuedSpans < ingest.batchSpans) {
    throw new ConfigError(source, [{ field: 'config.ingest.maxQueuedSpans', message: `${ingest.maxQueuedSpans} is less than ingest.batchSpans (${ingest.batchSpans}): raise maxQueuedSpans or lower batchSpans` }]);
  }
  return cfg;
}

/** The configuration used when none is given: memory backend, default ports. */
export function defaultRuntimeConfig(): RuntimeConfig {
  return parseRuntimeConfig({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', backend: { memory: {} } }, 'defaults');
}
