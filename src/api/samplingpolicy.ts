import { conditions, localObjectRef, type Resource } from './common.js';
import { arr, bool, doc, enumOf, int, num, obj, str, type CelRule, type Infer } from './schema.js';

const serviceName = str({ description: 'service name as in the resource attribute service.name', minLength: 1, maxLength: 256 });
const operationName = str({ description: 'operation (span) name', minLength: 1, maxLength: 512 });

type Strategy = { type: 'probabilistic' | 'rateLimiting'; value: number };
const strategyValueInRange: CelRule<Strategy> = {
  rule: "self.type != 'probabilistic' || (self.value >= 0.0 && self.value <= 1.0)",
  message: 'a probabilistic strategy needs a value between 0 and 1 (a sampling probability)',
  fieldPath: '.value',
  check: (s) => s.type !== 'probabilistic' || (s.value >= 0 && s.value <= 1),
};
const rateLimitInRange: CelRule<Strategy> = {
  rule: "self.type != 'rateLimiting' || (self.value >= 0.0 && self.value <= 100000.0)",
  message: 'a rateLimiting strategy needs a value between 0 and 100000 (traces per second)',
  fieldPath: '.value',
  check: (s) => s.type !== 'rateLimiting' || (s.value >= 0 && s.value <= 100000),
};

const strategy = obj(
  {
    type: enumOf(['probabilistic', 'rateLimiting'] as const, { description: 'probabilistic: value is a probability; rateLimiting: traces per second' }),
    value: num({ description: 'probability (0..1) or traces per second' }),
  },
  ['type', 'value'],
  { rules: [strategyValueInRange, rateLimitInRange] },
);

const probability = num({ description: 'sampling probability', minimum: 0, maximum: 1 });

const service = obj(
  {
    name: serviceName,
    default: doc(strategy, 'the strategy of this service (operations without their own probability)'),
    operations: arr(obj({ name: operationName, probability }, ['name', 'probability']), {
      listType: 'map',
      listMapKeys: ['name'],
      maxItems: 1000,
      description: 'per-operation probabilities; they win over adaptive values',
    }),
  },
  ['name'],
);

const adaptiveTarget: CelRule<{ enabled?: boolean; targetSamplesPerSecond?: number }> = {
  rule: '!self.enabled || has(self.targetSamplesPerSecond)',
  message: 'adaptive sampling needs targetSamplesPerSecond when enabled',
  fieldPath: '.targetSamplesPerSecond',
  check: (s) => !s.enabled || s.targetSamplesPerSecond !== undefined,
};

/** The rules of a policy: the CRD's spec without its target (also the runtime config's static policies). */
const ruleProps = {
  priority: int({ description: 'when several policies target one TraceStore, the higher priority wins per service', minimum: 0, maximum: 1000, default: 0 }),
  default: doc(strategy, 'the strategy served to every service that has none of its own'),
  services: arr(service, { listType: 'map', listMapKeys: ['name'], maxItems: 1000, description: 'per-service strategies' }),
  blocklist: obj(
    {
      services: arr(serviceName, { listType: 'set', maxItems: 1000, description: 'services whose spans are all dropped' }),
      operations: arr(obj({ service: serviceName, name: operationName }, ['service', 'name']), { listType: 'map', listMapKeys: ['service', 'name'], maxItems: 1000, description: 'operations of a service whose spans are dropped' }),
    },
    [],
    { description: 'dropped at ingest and served probability 0' },
  ),
  downsampling: obj(
    {
      ratio: num({ description: 'fraction of traces kept, decided consistently by trace ID', minimum: 0, maximum: 1, exclusiveMinimum: true }),
      services: arr(serviceName, { listType: 'set', maxItems: 1000, description: 'only these services (all when empty)' }),
      overrides: arr(
        obj(
          {
            service: serviceName,
            operation: str({ description: 'one operation of the service; the whole service when omitted', minLength: 1, maxLength: 512 }),
            ratio: num({ description: 'fraction kept for this service or operation (1 keeps everything)', minimum: 0, maximum: 1, exclusiveMinimum: true }),
          },
          ['service', 'ratio'],
        ),
        { maxItems: 1000, description: 'per-service and per-operation ratios; they win over ratio' },
      ),
    },
    ['ratio'],
    { description: 'server-side downsampling at ingest, consistent by trace ID on every replica; kept spans carry jaeger.downsampling.ratio' },
  ),
  adaptive: obj(
    {
      enabled: bool({ description: 'compute per-operation probabilities from the observed traffic', default: false }),
      targetSamplesPerSecond: num({ description: 'traces per second each service and operation should be sampled at (required when enabled)', minimum: 0, exclusiveMinimum: true, maximum: 100000 }),
      include: arr(serviceName, { listType: 'set', maxItems: 1000, description: 'only these services (all when empty)' }),
      exclude: arr(serviceName, { listType: 'set', maxItems: 1000, description: 'services left out of adaptive sampling' }),
    },
    [],
    { description: 'adaptive sampling as in Jaeger: probabilities recomputed to meet a target rate', rules: [adaptiveTarget] },
  ),
};

export const samplingPolicySpec = obj({ targetRef: localObjectRef('the TraceStore whose runtimes enforce this policy'), ...ruleProps }, ['targetRef'], {
  description: 'the sampling strategies and ingest rules, and the TraceStore whose runtimes enforce them',
});

/** A policy written into the runtime's configuration file (runtimes without Kubernetes). */
export const staticSamplingPolicy = obj({ name: str({ minLength: 1, maxLength: 253 }), rules: obj(ruleProps) }, ['name', 'rules']);
export type StaticSamplingPolicy = Infer<typeof staticSamplingPolicy>;

export const samplingPolicyStatus = obj(
  {
    observedGeneration: int({ minimum: 0, description: 'the .metadata.generation the status reflects' }),
    conditions,
    runtimes: arr(
      obj({ generation: int({ minimum: 0, description: 'policy generation enforced' }), replicas: int({ minimum: 0, description: 'runtime pods enforcing it' }) }, [
        'generation',
        'replicas',
      ]),
      { maxItems: 64, description: 'how many runtime pods enforce which generation' },
    ),
  },
  [],
  { description: 'Accepted (valid, no conflict, target exists) and Propagated (every runtime pod enforces this generation)' },
);

export type SamplingPolicySpec = Infer<typeof samplingPolicySpec>;
export type SamplingPolicyStatus = Infer<typeof samplingPolicyStatus>;
export type SamplingPolicy = Resource<SamplingPolicySpec, SamplingPolicyStatus>;
