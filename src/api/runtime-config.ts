// The runtime's configuration (operator <-> runtime contract): rendered by the operator into a ConfigMap, or
// written by hand for `npm run runtime -- --config FILE` (loaded by runtime/config.ts). Declared with the same schema builder as the CRDs, so it is validated at
// start with errors that name the field.
import { staticSamplingPolicy } from './samplingpolicy.js';
import { backend, type ListenerGroupName, tenancy } from './tracestore.js';
import { DURATION_HINT, DURATION_PATTERN } from './common.js';
import { MEMORY_DEFAULTS as MD } from '../storage/memory/limits.js';
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

/**
 * The memory backend's section as the runtime reads it: the TraceStore's `maxTraces` plus the runtime's own memory
 * bounds, which the operator does not render (maxBytes then follows the container's memory limit).
 */
export const runtimeMemoryBackend = obj(
  {
    maxTraces: int({ description: 'traces kept per tenant; the oldest are evicted first', minimum: 1, maximum: 100_000_000, default: MD.maxTraces }),
    maxBytes: int({ description: 'estimated heap bytes of stored spans (all tenants); above it the oldest traces are evicted. Unset: half the container memory limit (cgroup), or no byte bound without one', minimum: 1_048_576, maximum: Number.MAX_SAFE_INTEGER }),
    maxSpansPerTrace: int({ description: 'spans kept per trace; further spans are refused and counted', minimum: 1, maximum: 100_000_000, default: MD.maxSpansPerTrace }),
    maxServices: int({ description: 'services in the services/operations index per tenant; spans of further services are stored, not indexed', minimum: 1, maximum: 10_000_000, default: MD.maxServices }),
    maxOperationsPerService: int({ description: 'operations indexed per service', minimum: 1, maximum: 10_000_000, default: MD.maxOperationsPerService }),
    maxOperations: int({ description: 'operations indexed per tenant, all services together', minimum: 1, maximum: 100_000_000, default: MD.maxOperations }),
  },
  [],
  { description: 'in-process store; data is lost when the runtime restarts' },
);

type BackendSection = Omit<Infer<typeof backend>, 'memory'> & { memory?: Infer<typeof runtimeMemoryBackend> };

/** The TraceStore's backend section with the memory part replaced by runtimeMemoryBackend (other backends as is). */
const runtimeBackend: Node<BackendSection> = {
  toOpenAPI: () => {
    const s = backend.toOpenAPI();
    return { ...s, properties: { ...s.properties, memory: runtimeMemoryBackend.toOpenAPI() } };
  },
  validate(v, path, errors, old) {
    const rec = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    if (rec?.memory === undefined || rec.memory === null) return backend.validate(v, path, errors, old);
    // the shared rules (exactly one backend, ...) see an empty memory section; its fields are checked here
    backend.validate({ ...rec, memory: {} }, path, errors, old);
    runtimeMemoryBackend.validate(rec.memory, `${path}.memory`, errors);
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
        writers: int({ description: 'concurrent backend writes', minimum: 1, maximum: 64, default: 2 }),
        maxAttempts: int({ description: 'tries of a write failing with an error other than "unavailable" or "full" before the bad spans are isolated and dead-lettered', minimum: 1, maximum: 100, default: 5 }),
        maxRequestBytes: int({ description: 'largest OTLP request, after decompression', minimum: 1024, maximum: 1_073_741_824, default: 16_777_216 }),
        maxInflightBytes: int({ description: 'request bytes held at once across all receivers (reading, decoding, waiting for the commit); beyond it 429 / RESOURCE_EXHAUSTED', minimum: 1024, maximum: 17_179_869_184, default: 134_217_728 }),
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
