import { API_VERSION, GROUP, VERSION } from './common.js';
import { samplingPolicySpec, samplingPolicyStatus } from './samplingpolicy.js';
import { type FieldError, type Node, type OpenAPISchema, applyDefaults } from './schema.js';
import { streamingJobSpec, streamingJobStatus } from './streamingjob.js';
import { TRACESTORE_NAME, traceStoreSpec, traceStoreStatus } from './tracestore.js';

interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'number' | 'boolean';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface KindDef {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: Node<unknown>;
  status: Node<unknown>;
  printerColumns: PrinterColumn[];
  rootRules?: { rule: string; message: string; fieldPath?: string }[];
}

const cond = (type: string, field: 'status' | 'reason' | 'message') => `.status.conditions[?(@.type=="${type}")].${field}`;
const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const KINDS: Record<'TraceStore' | 'SamplingPolicy' | 'StreamingJob', KindDef> = {
  TraceStore: {
    kind: 'TraceStore',
    plural: 'tracestores',
    singular: 'tracestore',
    shortNames: ['ts', 'jts'],
    description: 'A Jaeger trace storage backend and the runtime pods that ingest OTLP and answer Jaeger queries for it.',
    spec: traceStoreSpec as Node<unknown>,
    status: traceStoreStatus as Node<unknown>,
    rootRules: [{ rule: TRACESTORE_NAME.rule, message: TRACESTORE_NAME.message, fieldPath: TRACESTORE_NAME.fieldPath }],
    printerColumns: [
      { name: 'Backend', type: 'string', jsonPath: '.status.backend' },
      { name: 'Ready', type: 'string', jsonPath: cond('Ready', 'status') },
      { name: 'Reason', type: 'string', jsonPath: cond('Ready', 'reason') },
      { name: 'Pods', type: 'integer', jsonPath: '.status.readyReplicas', description: 'ready runtime pods' },
      age,
      { name: 'Message', type: 'string', jsonPath: cond('Ready', 'message'), priority: 1 },
    ],
  },
  SamplingPolicy: {
    kind: 'SamplingPolicy',
    plural: 'samplingpolicies',
    singular: 'samplingpolicy',
    shortNames: ['sp', 'jsp'],
    description: 'Sampling strategies and ingest rules enforced by the runtimes of a TraceStore.',
    spec: samplingPolicySpec as Node<unknown>,
    status: samplingPolicyStatus as Node<unknown>,
    printerColumns: [
      { name: 'TraceStore', type: 'string', jsonPath: '.spec.targetRef.name' },
      { name: 'Accepted', type: 'string', jsonPath: cond('Accepted', 'status') },
      { name: 'Propagated', type: 'string', jsonPath: cond('Propagated', 'status') },
      age,
    ],
  },
  StreamingJob: {
    kind: 'StreamingJob',
    plural: 'streamingjobs',
    singular: 'streamingjob',
    shortNames: ['sj', 'jsj'],
    description: 'An analytics job computed continuously over the span stream of a TraceStore.',
    spec: streamingJobSpec as Node<unknown>,
    status: streamingJobStatus as Node<unknown>,
    printerColumns: [
      { name: 'TraceStore', type: 'string', jsonPath: '.spec.traceStoreRef.name' },
      { name: 'Kind', type: 'string', jsonPath: '.spec.kind' },
      { name: 'Ready', type: 'string', jsonPath: cond('Ready', 'status') },
      age,
    ],
  },
};

export type KindName = keyof typeof KINDS;

export function crdFor(def: KindDef): Record<string, unknown> {
  const schema: OpenAPISchema = {
    type: 'object',
    description: def.description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: def.rootRules?.some((r) => r.fieldPath?.startsWith('.metadata.')) ? { type: 'object', properties: { name: { type: 'string' } } } : { type: 'object' },
      spec: def.spec.toOpenAPI(),
      status: def.status.toOpenAPI(),
    },
  };
  if (def.rootRules) schema['x-kubernetes-validations'] = def.rootRules;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'jaeger-storage-operator' } },
    spec: {
      group: GROUP,
      names: { kind: def.kind, listKind: `${def.kind}List`, plural: def.plural, singular: def.singular, shortNames: def.shortNames, categories: ['jaeger', 'all-jaeger'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns,
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

export const allCrds = (): Record<string, unknown>[] => Object.values(KINDS).map(crdFor);

/**
 * Re-validates an object the API server already admitted: schema checks and the TS twins of the CEL rules.
 * Returns the errors with full field paths (e.g. spec.backend.memory.maxTraces).
 */
export function validateSpec(kind: KindName, spec: unknown, oldSpec?: unknown): FieldError[] {
  const errors: FieldError[] = [];
  if (spec === undefined || spec === null) return [{ field: 'spec', message: 'is required' }];
  KINDS[kind].spec.validate(spec, 'spec', errors, oldSpec);
  return errors;
}

/** The spec with the CRD's defaults filled in, as the API server would store it. */
export function withDefaults<T>(kind: KindName, spec: T): T {
  return applyDefaults(KINDS[kind].spec.toOpenAPI(), spec);
}

export { API_VERSION };
