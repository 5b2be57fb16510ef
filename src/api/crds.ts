import { type BackendAvailability, backendAvailabilityRules } from './backend-plugin.js';
import { API_VERSION, GROUP, VERSION } from './common.js';
import { samplingPolicySpec, samplingPolicyStatus } from './samplingpolicy.js';
import { type CelRuleSpec, type FieldError, type Node, type OpenAPISchema, applyDefaults } from './schema.js';
import { streamingJobSpec, streamingJobStatus } from './streamingjob.js';
import { BACKEND_TYPES, TRACESTORE_NAME, traceStoreSpec, traceStoreStatus } from './tracestore.js';

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
  /** rules and notes that depend on what this build can deploy (the plug-in table), at a path inside spec */
  availability?: (a: BackendAvailability) => { at: string[]; rules: CelRuleSpec[]; notes: Record<string, string> }[];
}

/** Adds the availability rules to the spec schema, and to each listed property's description its note. */
function withAvailability(spec: OpenAPISchema, def: KindDef, a: BackendAvailability): OpenAPISchema {
  for (const { at, rules, notes } of def.availability?.(a) ?? []) {
    let s = spec;
    for (const k of at) s = s.properties?.[k] ?? s;
    if (rules.length) s['x-kubernetes-validations'] = [...(s['x-kubernetes-validations'] ?? []), ...rules];
    for (const [k, note] of Object.entries(notes)) {
      const p = s.properties?.[k];
      if (p) p.description = `${p.description ?? k} (${note})`;
    }
  }
  return spec;
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
    availability: (a) => [
      {
        at: ['backend'],
        rules: backendAvailabilityRules(a),
        notes: Object.fromEntries(BACKEND_TYPES.filter((t) => a[t] !== undefined).map((t) => [t, `not available in this version: ${a[t]}`])),
      },
    ],
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
      { name: 'Reason', type: 'string', jsonPath: cond('Propagated', 'reason'), description: 'why the policy is not enforced yet (NotAccepted: the message names the Accepted reason)' },
      age,
      { name: 'Message', type: 'string', jsonPath: cond('Propagated', 'message'), priority: 1 },
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
      { name: 'Reason', type: 'string', jsonPath: cond('Ready', 'reason') },
      age,
      { name: 'Message', type: 'string', jsonPath: cond('Ready', 'message'), priority: 1 },
    ],
  },
};

export type KindName = keyof typeof KINDS;

/** The CRD of one kind; `backends` (from the plug-in table) decides which backend types are admitted. */
export function crdFor(def: KindDef, backends: BackendAvailability): Record<string, unknown> {
  const schema: OpenAPISchema = {
    type: 'object',
    description: def.description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', description: `the versioned schema of this object: ${API_VERSION}` },
      kind: { type: 'string', description: `the kind of this object: ${def.kind}` },
      // the API server documents metadata itself (ObjectMeta) and refuses anything here but type and name
      metadata: def.rootRules?.some((r) => r.fieldPath?.startsWith('.metadata.')) ? { type: 'object', properties: { name: { type: 'string' } } } : { type: 'object' },
      spec: withAvailability(def.spec.toOpenAPI(), def, backends),
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

export const allCrds = (backends: BackendAvailability): Record<string, unknown>[] => Object.values(KINDS).map((d) => crdFor(d, backends));

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
