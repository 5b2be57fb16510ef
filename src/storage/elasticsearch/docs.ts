// Span documents. Each span is one document, whose ID (also in docId) is trace, span and a hash of the content, so
// a span written twice lands on the same document. It has:
//  - keyword fields the queries use: traceId, spanId, parentSpanId, service, name, kind;
//  - times: startTimeMillis (date, lets the server skip shards and indices), startTimeNanos and durationNanos
//    (long, exact ns), and @timestamp (date_nanos, RFC 3339) for data streams;
//  - `match`, a keyword array with one term per (key, value) that TraceQuery.attributes can ask for, built by
//    the same rules as the shared matcher (semantics.ts), so a search on the server finds exactly the spans the
//    matcher would accept: "a\0key\0value" for span, scope, resource, event and link attributes, "r\0key\0value"
//    for resource.<key>, "s\0<special>\0value" for error, span.kind, span.status, scope.name and scope.version;
//    values longer than LONG_VALUE are indexed and queried by their SHA-256;
//  - `record`, the span with its resource and scope in OTLP/JSON (stored, not indexed), so reads lose nothing.
import { createHash } from 'node:crypto';
import { type KeyValue, type ResourceSpans, SPAN_KIND_NAMES, STATUS_NAMES, StatusCode, attrToString, serviceOf } from '../api/model.js';
import { decodeAttributes, decodeSpan, encodeAttributes, encodeSpan } from '../../otlp/otlp-json.js';
import type { SpanView } from '../api/semantics.js';
import { spanDuration } from '../api/semantics.js';

export const LONG_VALUE = 256;

export interface SpanDoc {
  /** the document ID again, as a sort tie-breaker for paging */
  docId: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  service: string;
  name: string;
  kind: string;
  startTimeMillis: number;
  startTimeNanos: string;
  durationNanos: string;
  '@timestamp': string;
  match: string[];
  record: StoredRecord;
}

interface StoredRecord {
  resource: { attributes: unknown; droppedAttributesCount: number };
  resourceSchemaUrl: string;
  scope: { name: string; version: string; attributes: unknown; droppedAttributesCount: number };
  scopeSchemaUrl: string;
  span: unknown;
}

const fit = (v: string): string => (v.length > LONG_VALUE ? `#sha256:${createHash('sha256').update(v).digest('hex')}` : v);
// keys are bounded the same way, so no term comes near Lucene's 32,766-byte limit and no span is refused for a long name
const term = (kind: 'a' | 'r' | 's', key: string, value: string): string => `${kind}\u0000${fit(key)}\u0000${fit(value)}`;

/** RFC 3339 with nanoseconds, as date_nanos accepts. */
export function rfc3339Nanos(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${frac}Z`;
}

function matchTerms(st: SpanView): string[] {
  const out = new Set<string>();
  const add = (attrs: readonly KeyValue[]) => {
    for (const a of attrs) out.add(term('a', a.key, attrToString(a.value)));
  };
  const s = st.span;
  add(s.attributes);
  add(st.scope.attributes);
  add(st.resource.attributes);
  for (const e of s.events) add(e.attributes);
  for (const l of s.links) add(l.attributes);
  for (const a of st.resource.attributes) out.add(term('r', a.key, attrToString(a.value)));
  out.add(term('s', 'error', s.status.code === StatusCode.Error ? 'true' : 'false'));
  out.add(term('s', 'span.kind', SPAN_KIND_NAMES[s.kind]));
  out.add(term('s', 'span.status', STATUS_NAMES[s.status.code].toLowerCase()));
  out.add(term('s', 'scope.name', st.scope.name));
  out.add(term('s', 'scope.version', st.scope.version));
  return [...out];
}

/**
 * The term a query attribute must find, or undefined when no span can match it (e.g. error=maybe), under the
 * rules of matchesAttribute in semantics.ts.
 */
export function queryTerm(key: string, want: string): string | undefined {
  switch (key) {
    case 'error':
      return want === 'true' || want === 'false' ? term('s', 'error', want) : undefined;
    case 'span.kind':
      return term('s', 'span.kind', want.toLowerCase().replace(/^span_kind_/, ''));
    case 'span.status':
      return term('s', 'span.status', want.toLowerCase().replace(/^status_code_/, ''));
    case 'scope.name':
    case 'scope.version':
      return term('s', key, want);
  }
  if (key.startsWith('resource.')) return term('r', key.slice('resource.'.length), want);
  return term('a', key, want);
}

export function spanViews(traces: readonly ResourceSpans[]): SpanView[] {
  const out: SpanView[] = [];
  for (const rs of traces) {
    const service = serviceOf(rs.resource);
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) out.push({ span, resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, service });
    }
  }
  return out;
}

/** The document of a span, serialized once: `json` goes into the bulk body as it is. */
export interface EncodedDoc {
  docId: string;
  json: string;
  service: string;
  name: string;
  kind: string;
  startTimeMillis: number;
}

export function toDoc(st: SpanView): EncodedDoc {
  const s = st.span;
  const record = JSON.stringify({
    resource: { attributes: encodeAttributes(st.resource.attributes), droppedAttributesCount: st.resource.droppedAttributesCount },
    resourceSchemaUrl: st.resourceSchemaUrl,
    scope: { name: st.scope.name, version: st.scope.version, attributes: encodeAttributes(st.scope.attributes), droppedAttributesCount: st.scope.droppedAttributesCount },
    scopeSchemaUrl: st.scopeSchemaUrl,
    span: encodeSpan(s),
  });
  const docId = `${s.traceId}-${s.spanId}-${createHash('sha256').update(record).digest('base64url').slice(0, 16)}`;
  const fields: Omit<SpanDoc, 'record'> = {
    docId,
    traceId: s.traceId,
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    service: st.service,
    name: s.name,
    kind: SPAN_KIND_NAMES[s.kind],
    startTimeMillis: Number(s.startTimeUnixNano / 1_000_000n),
    startTimeNanos: s.startTimeUnixNano.toString(),
    durationNanos: spanDuration(s).toString(),
    '@timestamp': rfc3339Nanos(s.startTimeUnixNano),
    match: matchTerms(st),
  };
  const json = `${JSON.stringify(fields).slice(0, -1)},"record":${record}}`;
  return { docId, json, service: fields.service, name: fields.name, kind: fields.kind, startTimeMillis: fields.startTimeMillis };
}

/** Resource and scope objects are shared between the spans of one read that carry equal ones. */
export class RecordDecoder {
  private readonly resources = new Map<string, SpanView['resource']>();
  private readonly scopes = new Map<string, SpanView['scope']>();

  decode(doc: Pick<SpanDoc, 'record' | 'service'>): SpanView {
    const r = doc.record;
    const rk = JSON.stringify(r.resource);
    let resource = this.resources.get(rk);
    if (!resource) this.resources.set(rk, (resource = { attributes: decodeAttributes(r.resource.attributes, 'record.resource.attributes'), droppedAttributesCount: r.resource.droppedAttributesCount }));
    const sk = JSON.stringify(r.scope);
    let scope = this.scopes.get(sk);
    if (!scope) {
      this.scopes.set(sk, (scope = { name: r.scope.name, version: r.scope.version, attributes: decodeAttributes(r.scope.attributes, 'record.scope.attributes'), droppedAttributesCount: r.scope.droppedAttributesCount }));
    }
    return { span: decodeSpan(r.span, 'record.span'), resource, resourceSchemaUrl: r.resourceSchemaUrl, scope, scopeSchemaUrl: r.scopeSchemaUrl, service: doc.service };
  }
}

/** The span mapping shared by every layout (dynamic: strict, so stray fields fail loudly). */
export const SPAN_MAPPING = {
  dynamic: 'strict',
  // the search terms are indexed, not stored: reads decode `record`
  _source: { excludes: ['match'] },
  properties: {
    docId: { type: 'keyword' },
    traceId: { type: 'keyword' },
    spanId: { type: 'keyword' },
    parentSpanId: { type: 'keyword' },
    service: { type: 'keyword' },
    name: { type: 'keyword' },
    kind: { type: 'keyword' },
    startTimeMillis: { type: 'date', format: 'epoch_millis' },
    startTimeNanos: { type: 'long' },
    durationNanos: { type: 'long' },
    '@timestamp': { type: 'date_nanos' },
    match: { type: 'keyword' },
    record: { type: 'object', enabled: false },
  },
} as const;

export const SERVICE_MAPPING = {
  dynamic: 'strict',
  properties: { service: { type: 'keyword' }, name: { type: 'keyword' }, kind: { type: 'keyword' }, lastSeenMillis: { type: 'date', format: 'epoch_millis' } },
} as const;
