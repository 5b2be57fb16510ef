import { conditions, duration, localObjectRef, type Resource } from './common.js';
import { arr, enumOf, int, obj, str, type CelRule, type Infer } from './schema.js';

export const STREAMING_KINDS = ['dependencies', 'spanMetrics', 'serviceGraph', 'anomalyDetection', 'export'] as const;

const dimensionsOnlyForMetrics: CelRule<{ kind: string; dimensions?: string[] }> = {
  rule: "!has(self.dimensions) || self.kind == 'spanMetrics' || self.kind == 'serviceGraph'",
  message: 'dimensions apply only to kind spanMetrics or serviceGraph',
  fieldPath: '.dimensions',
  check: (s) => s.dimensions === undefined || s.kind === 'spanMetrics' || s.kind === 'serviceGraph',
};

export const streamingJobSpec = obj(
  {
    traceStoreRef: localObjectRef('the TraceStore whose span stream feeds this job and stores its results'),
    kind: enumOf(STREAMING_KINDS, { description: 'what the job computes' }),
    window: duration('aggregation window', '1m'),
    dimensions: arr(str({ minLength: 1, maxLength: 256, description: 'span or resource attribute key' }), {
      listType: 'set',
      maxItems: 32,
      description: 'attribute keys the results are grouped by (spanMetrics and serviceGraph only)',
    }),
    output: obj({ format: enumOf(['traceStore', 'parquet', 'arrow'] as const, { default: 'traceStore', description: 'where results go' }) }, [], { description: 'where and how results are written' }),
  },
  ['traceStoreRef', 'kind'],
  { description: 'what the job computes over the span stream of a TraceStore (schema only: no controller runs jobs in this version)', rules: [dimensionsOnlyForMetrics] },
);

export const streamingJobStatus = obj(
  {
    observedGeneration: int({ minimum: 0, description: 'the .metadata.generation the status reflects' }),
    conditions,
    lastWindowEnd: str({ format: 'date-time', description: 'end of the last window processed' }),
    lagSeconds: int({ minimum: 0, description: 'how far processing trails ingest' }),
  },
  [],
  { description: 'conditions (Ready) and progress of the job' },
);

export type StreamingJobSpec = Infer<typeof streamingJobSpec>;
export type StreamingJob = Resource<StreamingJobSpec, Infer<typeof streamingJobStatus>>;
