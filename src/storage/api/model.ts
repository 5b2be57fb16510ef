// The in-memory OTLP trace model every backend reads and writes. One representation, decoded once:
//  - trace IDs are 32 and span IDs 16 lowercase hex characters ('' for "no parent");
//  - times are nanoseconds since the epoch as bigint (exact for the whole int64 range);
//  - attribute values keep their OTLP type: string, boolean, bigint (int64), number (double), Uint8Array (bytes),
//    { array }, { kvlist }, or null for an empty value.
// Stores take ownership of what they are given and hand out read-only views (no deep copies on either side).

export type AttrValue = string | boolean | bigint | number | Uint8Array | { array: AttrValue[] } | { kvlist: KeyValue[] } | null;

/**
 * The deepest an attribute value may nest (arrays and key-value lists inside each other). Deeper values are
 * rejected when decoded, so no stored value can exhaust the stack of a reader, an encoder or a matcher.
 */
export const MAX_VALUE_DEPTH = 32;

export interface KeyValue {
  key: string;
  value: AttrValue;
}

/** OTLP SpanKind numbers. */
export enum SpanKind {
  Unspecified = 0,
  Internal = 1,
  Server = 2,
  Client = 3,
  Producer = 4,
  Consumer = 5,
}

/** OTLP Status.code numbers. */
export enum StatusCode {
  Unset = 0,
  Ok = 1,
  Error = 2,
}

export interface SpanEvent {
  timeUnixNano: bigint;
  name: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  flags: number;
}

export interface Span {
  traceId: string;
  spanId: string;
  traceState: string;
  parentSpanId: string;
  flags: number;
  name: string;
  kind: SpanKind;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  events: SpanEvent[];
  droppedEventsCount: number;
  links: SpanLink[];
  droppedLinksCount: number;
  status: { code: StatusCode; message: string };
}

export interface Scope {
  name: string;
  version: string;
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface ScopeSpans {
  scope: Scope;
  schemaUrl: string;
  spans: Span[];
}

export interface Resource {
  attributes: KeyValue[];
  droppedAttributesCount: number;
}

export interface ResourceSpans {
  resource: Resource;
  schemaUrl: string;
  scopeSpans: ScopeSpans[];
}

/** A batch of spans as OTLP sends it (TracesData.resourceSpans). */
export type Traces = ResourceSpans[];

/** Part or all of one trace. Consecutive chunks with the same traceId belong to one trace. */
export interface TraceChunk {
  traceId: string;
  resourceSpans: ResourceSpans[];
}

export const SPAN_KIND_NAMES: Record<SpanKind, string> = {
  [SpanKind.Unspecified]: '',
  [SpanKind.Internal]: 'internal',
  [SpanKind.Server]: 'server',
  [SpanKind.Client]: 'client',
  [SpanKind.Producer]: 'producer',
  [SpanKind.Consumer]: 'consumer',
};

export const STATUS_NAMES: Record<StatusCode, string> = { [StatusCode.Unset]: 'Unset', [StatusCode.Ok]: 'Ok', [StatusCode.Error]: 'Error' };

export function spanKindFromName(name: string): SpanKind | undefined {
  const n = name.toLowerCase().replace(/^span_kind_/, '');
  if (n === '' || n === 'unspecified') return SpanKind.Unspecified;
  const hit = (Object.entries(SPAN_KIND_NAMES) as [string, string][]).find(([, v]) => v === n);
  return hit ? (Number(hit[0]) as SpanKind) : undefined;
}

export const attr = (attrs: readonly KeyValue[] | undefined, key: string): AttrValue | undefined => attrs?.find((a) => a.key === key)?.value;

/** service.name of a resource ('' when absent or not a string). */
export function serviceOf(resource: Resource | undefined): string {
  const v = attr(resource?.attributes, 'service.name');
  return typeof v === 'string' ? v : '';
}

function formatDouble(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return v.toFixed(0);
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
  return String(v);
}

/** The value as a string, as OpenTelemetry's AsString does (attribute search compares these). */
export function attrToString(v: AttrValue): string {
  if (v === null) return '';
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'number':
      return formatDouble(v);
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return JSON.stringify(toPlain(v));
}

function toPlain(v: AttrValue): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? Number(v) : v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if ('array' in v) return v.array.map(toPlain);
  // keys sorted, as OpenTelemetry's AsString (Go's JSON of a map) renders them
  return Object.fromEntries([...v.kvlist].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((kv) => [kv.key, toPlain(kv.value)]));
}

/** Count of spans in a batch. */
export const spanCount = (t: readonly ResourceSpans[]): number => t.reduce((n, rs) => n + rs.scopeSpans.reduce((m, ss) => m + ss.spans.length, 0), 0);

/**
 * A span that keeps its attributes and events as the bytes they arrived in and decodes them when they are read.
 * Receivers hand these to the stores: ingest then costs a pass over the IDs, names and times only, and a store
 * that keeps spans in memory keeps the compact encoded form. Assigning `attributes` or `events` replaces the
 * encoded part for good; until `release()`, what a read decodes is kept too (so in-place changes stick).
 */
export interface LazySpan extends Span {
  /** bytes of the encoded span it holds (its attributes and events are decoded from these) */
  readonly encodedSize: number;
  /** the attributes and events it holds decoded, each undefined while only encoded, and attributes added to them */
  held(): { attributes?: KeyValue[]; events?: SpanEvent[]; added?: KeyValue[] };
  /** adds an attribute without decoding the others (reads see it after them) */
  addAttribute(kv: KeyValue): void;
  /** from now on a read decodes afresh and keeps nothing, so a stored span costs its encoded bytes only */
  release(): void;
  /** whether its IDs and times are still those its decoder checked (then a store need not check them again) */
  readonly verified: boolean;
}

export const isLazySpan = (s: Span): s is LazySpan => typeof (s as Partial<LazySpan>).release === 'function';

/** Adds an attribute to a span; a lazily decoded one stays encoded. */
export function addAttribute(s: Span, kv: KeyValue): void {
  if (isLazySpan(s)) s.addAttribute(kv);
  else s.attributes.push(kv);
}

/** A span whose unspecified fields are empty (no parent, kind unspecified, no attributes, events or links). */
export function newSpan(fields: Partial<Span> & Pick<Span, 'traceId' | 'spanId'>): Span {
  return {
    traceState: '',
    parentSpanId: '',
    flags: 0,
    name: '',
    kind: SpanKind.Unspecified,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { code: StatusCode.Unset, message: '' },
    ...fields,
  };
}

/** One resource with service.name = `service` and one instrumentation scope holding `spans`. */
export function serviceBatch(service: string, spans: Span[], scope: Partial<Scope> = {}): ResourceSpans {
  return {
    resource: { attributes: [{ key: 'service.name', value: service }], droppedAttributesCount: 0 },
    schemaUrl: '',
    scopeSpans: [{ scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0, ...scope }, schemaUrl: '', spans }],
  };
}
