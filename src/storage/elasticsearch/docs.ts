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
import { createHash, hash } from 'node:crypto';
import {
  type AttrValue,
  type KeyValue,
  type Resource,
  SPAN_KIND_NAMES,
  STATUS_NAMES,
  type Scope,
  type Span,
  type SpanEvent,
  SpanKind,
  type SpanLink,
  StatusCode,
  attrToString,
} from '../api/model.js';
import { decodeAttributes, decodeSpan, encodeAnyValue, encodeAttributes } from '../../otlp/otlp-json.js';
import type { SpanView } from '../api/semantics.js';

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

// Documents are written as strings, not by JSON.stringify of objects: most of a document is shared by the spans of
// one (resource, scope) or repeats from span to span (attribute keys, and the values of keys that take few values),
// and is encoded once. The output is the same,
// byte for byte, as JSON.stringify of the documented layout (the document ID hashes the record), so documents written
// before and after stay one document per span. Strings are escaped by JSON.stringify; IDs are not, as the writer
// only takes spans that passed validateBatch (lowercase hex).

/** JSON of a string: quoted and escaped */
const q = (s: string): string => JSON.stringify(s);

/** What the documents of the spans of one (resource, scope) share. */
export class ScopeDocParts {
  /** `{"resource":…,"resourceSchemaUrl":…,"scope":…,"scopeSchemaUrl":…,"span":` */
  readonly recordHead: string;
  /** `,"service":…,"name":` */
  readonly serviceField: string;
  /** the resource and scope terms (deduplicated), in JSON, each after a comma */
  readonly termsJson: string;
  /** the same terms: a span's own term equal to one of them is left out */
  readonly terms: ReadonlySet<string>;
  /** the keys of the resource and scope attributes: only a span attribute with one of these can repeat a term */
  readonly keys: ReadonlySet<string>;

  constructor(
    readonly resource: Resource,
    resourceSchemaUrl: string,
    readonly scope: Scope,
    scopeSchemaUrl: string,
    readonly service: string,
  ) {
    const head = JSON.stringify({
      resource: { attributes: encodeAttributes(resource.attributes), droppedAttributesCount: resource.droppedAttributesCount },
      resourceSchemaUrl,
      scope: { name: scope.name, version: scope.version, attributes: encodeAttributes(scope.attributes), droppedAttributesCount: scope.droppedAttributesCount },
      scopeSchemaUrl,
      span: 0,
    });
    this.recordHead = head.slice(0, -2);
    this.serviceField = `,"service":${q(service)},"name":`;
    const terms = new Set<string>();
    const keys = new Set<string>();
    for (const a of scope.attributes) terms.add(term('a', a.key, attrToString(a.value)));
    for (const a of resource.attributes) terms.add(term('a', a.key, attrToString(a.value)));
    for (const a of [...scope.attributes, ...resource.attributes]) keys.add(a.key);
    for (const a of resource.attributes) terms.add(term('r', a.key, attrToString(a.value)));
    terms.add(term('s', 'scope.name', scope.name));
    terms.add(term('s', 'scope.version', scope.version));
    this.terms = terms;
    this.keys = keys;
    let json = '';
    for (const t of terms) json += `,${q(t)}`;
    this.termsJson = json;
  }
}

/** What an attribute key contributes to a document, cached: keys repeat from span to span. */
interface KeyParts {
  /** `{"key":…,"value":` */
  readonly rec: string;
  /** the start of its term, `a\0<key>\0` */
  readonly raw: string;
  /** the same in JSON, without the closing quote */
  readonly term: string;
  /** the last span (by sequence number) that had this key: a key seen twice in one span is encoded the slow way */
  span: number;
  /** its values seen so far, while they are few (most keys take few values: methods, codes, hosts) */
  values: Map<AttrValue, ValueParts> | undefined;
}

/** What an attribute (key and value) contributes to a document. */
interface ValueParts {
  /** its OTLP/JSON in the record */
  readonly rec: string;
  /** its term in JSON, after a comma */
  readonly term: string;
  /** its term */
  readonly raw: string;
}

// Bounds of the caches: they start over (between spans) beyond these, so odd keys and values cannot grow them
// without end. A key with more values than VALUES_PER_KEY is not cached by value any more.
const KEY_CACHE_LIMIT = 4096;
const VALUE_CACHE_LIMIT = 16_384;
const VALUES_PER_KEY = 64;
const CACHED_STRING_LENGTH = 64;
const keyCache = new Map<string, KeyParts>();
let cachedValues = 0;
let spanSeq = 0;

function keyParts(key: string): KeyParts {
  let k = keyCache.get(key);
  if (k === undefined) {
    const raw = `a\u0000${fit(key)}\u0000`;
    k = { rec: `{"key":${q(key)},"value":`, raw, term: q(raw).slice(0, -1), span: 0, values: new Map() };
    keyCache.set(key, k);
  }
  return k;
}

/** The parts of a key and value, cached for short scalar values of keys that take few values; else undefined. */
function cachedValue(k: KeyParts, v: AttrValue): ValueParts | undefined {
  const values = k.values;
  if (values === undefined || v === null || typeof v === 'object' || (typeof v === 'string' && v.length > CACHED_STRING_LENGTH)) return undefined;
  let p = values.get(v);
  if (p === undefined) {
    if (values.size >= VALUES_PER_KEY) {
      k.values = undefined;
      return undefined;
    }
    const json = valueJson(v);
    p = { rec: `${k.rec}${json}}`, term: `,${k.term}${valueTail}`, raw: k.raw + valueRaw };
    values.set(v, p);
    cachedValues++;
  }
  return p;
}

// The last attribute value encoded by valueJson, as its term has it: raw, and in JSON without the opening quote.
// (Module state rather than a returned object: this runs for every attribute of every span.)
let valueRaw = '';
let valueTail = '';

/** The OTLP/JSON AnyValue of an attribute value (as encodeAnyValue), and its term text in valueRaw/valueTail. */
function valueJson(v: AttrValue): string {
  switch (typeof v) {
    case 'string': {
      const j = q(v);
      if (v.length > LONG_VALUE) {
        valueRaw = fit(v);
        valueTail = `${valueRaw}"`;
      } else {
        valueRaw = v;
        valueTail = j.slice(1);
      }
      return `{"stringValue":${j}}`;
    }
    case 'boolean':
      valueRaw = v ? 'true' : 'false';
      valueTail = v ? 'true"' : 'false"';
      return v ? '{"boolValue":true}' : '{"boolValue":false}';
    case 'bigint': {
      const s = v.toString();
      valueRaw = s;
      valueTail = `${s}"`;
      return `{"intValue":"${s}"}`;
    }
    case 'number':
      // digits, sign, point, exponent, NaN or Inf: nothing to escape
      valueRaw = attrToString(v);
      valueTail = `${valueRaw}"`;
      return Number.isFinite(v) ? `{"doubleValue":${v}}` : `{"doubleValue":"${v}"}`;
  }
  valueRaw = fit(attrToString(v));
  valueTail = q(valueRaw).slice(1);
  return JSON.stringify(encodeAnyValue(v));
}

/** OTLP/JSON of attributes (as encodeAttributes) */
function attributesJson(attrs: readonly KeyValue[]): string {
  let out = '';
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    out += `${i ? ',' : ''}${keyParts(a.key).rec}${valueJson(a.value)}}`;
  }
  return out;
}

function eventsJson(events: readonly SpanEvent[]): string {
  let out = '';
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    out += `${i ? ',' : ''}{"timeUnixNano":"${e.timeUnixNano}","name":${q(e.name)},"attributes":[${attributesJson(e.attributes)}],"droppedAttributesCount":${e.droppedAttributesCount}}`;
  }
  return out;
}

function linksJson(links: readonly SpanLink[]): string {
  let out = '';
  for (let i = 0; i < links.length; i++) {
    const l = links[i]!;
    out += `${i ? ',' : ''}{"traceId":${q(l.traceId)},"spanId":${q(l.spanId)},"traceState":${q(l.traceState)},"attributes":[${attributesJson(l.attributes)}],"droppedAttributesCount":${l.droppedAttributesCount},"flags":${l.flags}}`;
  }
  return out;
}

/** A span's own terms, each after a comma, when it has event or link attributes or repeats a key: through a set. */
function spanTermsSlow(attrs: readonly KeyValue[], events: readonly SpanEvent[], links: readonly SpanLink[], parts: ScopeDocParts): string {
  const out = new Set<string>();
  const add = (attrs: readonly KeyValue[]) => {
    for (const a of attrs) {
      const t = term('a', a.key, attrToString(a.value));
      if (!parts.terms.has(t)) out.add(t);
    }
  };
  add(attrs);
  for (const e of events) add(e.attributes);
  for (const l of links) add(l.attributes);
  let json = '';
  for (const t of out) json += `,${q(t)}`;
  return json;
}

const hasAttributes = (xs: readonly { attributes: readonly KeyValue[] }[]): boolean => xs.some((x) => x.attributes.length > 0);

/** the JSON of the special terms, by value: error, span.kind, span.status */
const ERROR_TERMS = [q(term('s', 'error', 'false')), q(term('s', 'error', 'true'))];
const KIND_TERMS = new Map<SpanKind, string>(Object.entries(SPAN_KIND_NAMES).map(([k, n]) => [Number(k) as SpanKind, q(term('s', 'span.kind', n))]));
const STATUS_TERMS = new Map<StatusCode, string>(Object.entries(STATUS_NAMES).map(([c, n]) => [Number(c) as StatusCode, q(term('s', 'span.status', n.toLowerCase()))]));

// the second of the last span start formatted, as spans of a batch mostly start within the same second
let lastSecond = '';
let lastSecondIso = '';

/**
 * An NDJSON bulk body, UTF-8 encoded as it is written: what is written is off the JS heap at once (the collector
 * neither copies nor marks it while the request is out) and the HTTP layer sends it as it is. `ends` holds where
 * each operation (action line and document line) ends, so that a part of the body can be sent again.
 */
export class BulkBody {
  buf: Buffer;
  at = 0;
  readonly ends: number[] = [];

  constructor(capacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  /** appends a string as UTF-8 */
  write(s: string): void {
    // a UTF-16 unit takes at most 3 bytes of UTF-8: only a string that might not fit is measured
    if (this.buf.length - this.at < s.length * 3) this.reserve(Buffer.byteLength(s));
    this.at += this.buf.write(s, this.at);
  }

  /** appends one operation: its action and document lines, joined by a newline */
  op(lines: string): void {
    this.write(`${lines}\n`);
    this.ends.push(this.at);
  }

  private reserve(n: number): void {
    if (this.buf.length - this.at >= n) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }

  /** the bytes of operations [from, to) */
  slice(from: number, to: number): Buffer {
    return this.buf.subarray(from ? this.ends[from - 1]! : 0, this.ends[to - 1]!);
  }
}

/** the length of a document ID: trace ID, span ID and 16 characters of hash, joined by dashes */
const DOC_ID_LENGTH = 32 + 1 + 16 + 1 + 16;
const HASH_PLACEHOLDER = '0'.repeat(16);
/** where the document ID starts in a document: after `{"docId":"` */
const DOC_ID_AT = '{"docId":"'.length;

/**
 * Appends the bulk operation of a span of the (resource, scope) `parts` describes: `action` is its action line up
 * to the document ID (`{"index":{"_index":"…","_id":"`). The document ID hashes the record's UTF-8 bytes, known
 * once they are written: its hash part is filled in afterwards, in the action and in the document.
 */
export function writeDoc(out: BulkBody, action: string, parts: ScopeDocParts, s: Span): void {
  if (keyCache.size > KEY_CACHE_LIMIT || cachedValues > VALUE_CACHE_LIMIT) {
    keyCache.clear();
    cachedValues = 0;
  }
  const seq = ++spanSeq;
  // a lazy span reads IDs and times from its bytes on every access: each is read once
  const traceId = s.traceId;
  const spanId = s.spanId;
  const parentSpanId = s.parentSpanId;
  const startNs = s.startTimeUnixNano;
  const endNs = s.endTimeUnixNano;
  const kind = s.kind;
  const name = q(s.name);
  const status = s.status;
  const start = startNs.toString();
  const attrs = s.attributes;
  const events = s.events;
  const links = s.links;

  let attrsJson = '';
  let terms = '';
  let slow = false;
  const sharedKeys = parts.keys;
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    const kp = keyParts(a.key);
    if (kp.span === seq) slow = true;
    kp.span = seq;
    if (i) attrsJson += ',';
    const vp = cachedValue(kp, a.value);
    if (vp) {
      attrsJson += vp.rec;
      if (sharedKeys.size && sharedKeys.has(a.key) && parts.terms.has(vp.raw)) continue;
      terms += vp.term;
    } else {
      attrsJson += `${kp.rec}${valueJson(a.value)}}`;
      if (sharedKeys.size && sharedKeys.has(a.key) && parts.terms.has(kp.raw + valueRaw)) continue;
      terms += `,${kp.term}${valueTail}`;
    }
  }
  if (slow || hasAttributes(events) || hasAttributes(links)) terms = spanTermsSlow(attrs, events, links, parts);

  const kindName = SPAN_KIND_NAMES[kind];
  const startTimeMillis = start.length > 6 ? Number(start.slice(0, -6)) : 0;
  const second = start.length > 9 ? start.slice(0, -9) : '0';
  if (second !== lastSecond) {
    lastSecond = second;
    lastSecondIso = new Date(Number(second) * 1000).toISOString().slice(0, 19);
  }
  const timestamp = `${lastSecondIso}.${start.length > 9 ? start.slice(-9) : start.padStart(9, '0')}Z`;
  const match = `${ERROR_TERMS[status.code === StatusCode.Error ? 1 : 0]},${KIND_TERMS.get(kind) ?? q(term('s', 'span.kind', kindName))},${STATUS_TERMS.get(status.code) ?? q(term('s', 'span.status', STATUS_NAMES[status.code].toLowerCase()))}${terms}${parts.termsJson}`;
  const id = `${traceId}-${spanId}-`;

  const opStart = out.at;
  out.write(
    `${action}${id}${HASH_PLACEHOLDER}"}}\n{"docId":"${id}${HASH_PLACEHOLDER}","traceId":"${traceId}","spanId":"${spanId}","parentSpanId":"${parentSpanId}"${parts.serviceField}${name},"kind":"${kindName}","startTimeMillis":${startTimeMillis},"startTimeNanos":"${start}","durationNanos":"${endNs > startNs ? endNs - startNs : 0n}","@timestamp":"${timestamp}","match":[${match}],"record":`,
  );
  const recordStart = out.at;
  let record = `${parts.recordHead}{"traceId":"${traceId}","spanId":"${spanId}","name":${name},"kind":${kind},"startTimeUnixNano":"${start}","endTimeUnixNano":"${endNs}","attributes":[${attrsJson}],"events":[${events.length ? eventsJson(events) : ''}],"links":[${links.length ? linksJson(links) : ''}],"status":{"code":${status.code},"message":${q(status.message)}},"droppedAttributesCount":${s.droppedAttributesCount},"droppedEventsCount":${s.droppedEventsCount},"droppedLinksCount":${s.droppedLinksCount},"flags":${s.flags}`;
  if (parentSpanId) record += `,"parentSpanId":"${parentSpanId}"`;
  if (s.traceState) record += `,"traceState":${q(s.traceState)}`;
  out.write(`${record}}}}\n`);
  const buf = out.buf;
  const digest = hash('sha256', buf.subarray(recordStart, out.at - 2), 'base64url').slice(0, 16);
  // the action's ID ends 3 bytes before its line does, the document's starts at DOC_ID_AT of the next line
  const actionEnd = buf.indexOf(0x0a, opStart);
  buf.write(digest, actionEnd - 3 - 16, 'latin1');
  buf.write(digest, actionEnd + 1 + DOC_ID_AT + DOC_ID_LENGTH - 16, 'latin1');
  out.ends.push(out.at);
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
