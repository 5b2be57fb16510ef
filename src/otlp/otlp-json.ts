// OTLP/JSON (the protobuf JSON mapping with OTLP's rules: hex trace/span IDs, integer enums, int64 as strings)
// to and from the storage model. Decoding validates as it goes; errors name the exact path.
import { type AttrValue, type KeyValue, MAX_VALUE_DEPTH, type ResourceSpans, type Scope, type Span, type SpanEvent, type SpanLink, SpanKind, StatusCode } from '../storage/api/model.js';
import { InvalidArgumentError } from '../storage/api/errors.js';
import { normalizeSpanId, normalizeTraceId } from '../storage/api/ids.js';

type Json = Record<string, unknown>;

const get = (o: Json, camel: string): unknown => (o[camel] !== undefined ? o[camel] : o[camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)]);

function obj(v: unknown, path: string): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError(path, 'must be an object');
  return v as Json;
}

function list(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidArgumentError(path, 'must be a list');
  return v;
}

function str(v: unknown, path: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new InvalidArgumentError(path, 'must be a string');
  return v;
}

function uint(v: unknown, path: string): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError(path, 'must be an unsigned 32-bit integer');
  return n;
}

function int64(v: unknown, path: string): bigint {
  if (v === undefined || v === null) return 0n;
  // the same range for numbers as for strings: a number such as 1e20 must not slip past the bound and be stored
  // as a value no reader accepts back
  const b = typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : typeof v === 'string' && /^-?\d{1,20}$/.test(v) ? BigInt(v) : undefined;
  if (b !== undefined && b >= -(2n ** 63n) && b < 2n ** 64n) return b;
  throw new InvalidArgumentError(path, 'must be a 64-bit integer (a JSON number or a decimal string)');
}

function enumValue<T extends number>(v: unknown, path: string, names: Record<string, T>, max: number): T {
  if (v === undefined || v === null) return 0 as T;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) return v as T;
  // own names only: "toString" or "__proto__" would otherwise yield an inherited function or object as the value
  if (typeof v === 'string' && Object.hasOwn(names, v)) return names[v]!;
  throw new InvalidArgumentError(path, `must be an integer 0..${max} or one of ${Object.keys(names).join(', ')}`);
}

const KIND_NAMES: Record<string, SpanKind> = {
  SPAN_KIND_UNSPECIFIED: SpanKind.Unspecified,
  SPAN_KIND_INTERNAL: SpanKind.Internal,
  SPAN_KIND_SERVER: SpanKind.Server,
  SPAN_KIND_CLIENT: SpanKind.Client,
  SPAN_KIND_PRODUCER: SpanKind.Producer,
  SPAN_KIND_CONSUMER: SpanKind.Consumer,
};
const STATUS_CODE_NAMES: Record<string, StatusCode> = { STATUS_CODE_UNSET: StatusCode.Unset, STATUS_CODE_OK: StatusCode.Ok, STATUS_CODE_ERROR: StatusCode.Error };

export function decodeAnyValue(v: unknown, path: string, depth = 0): AttrValue {
  if (depth >= MAX_VALUE_DEPTH) throw new InvalidArgumentError(path, `is nested deeper than ${MAX_VALUE_DEPTH} levels of arrays and key-value lists: flatten it`);
  const o = obj(v, path);
  if (o.stringValue !== undefined || o.string_value !== undefined) return str(get(o, 'stringValue'), `${path}.stringValue`);
  const b = get(o, 'boolValue');
  if (b !== undefined) {
    if (typeof b !== 'boolean') throw new InvalidArgumentError(`${path}.boolValue`, 'must be true or false');
    return b;
  }
  const i = get(o, 'intValue');
  if (i !== undefined) return int64(i, `${path}.intValue`);
  const d = get(o, 'doubleValue');
  if (d !== undefined) {
    if (typeof d === 'number') return d;
    if (typeof d === 'string' && ['NaN', 'Infinity', '-Infinity'].includes(d)) return Number(d);
    throw new InvalidArgumentError(`${path}.doubleValue`, 'must be a number');
  }
  const bytes = get(o, 'bytesValue');
  if (bytes !== undefined) {
    if (typeof bytes !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(bytes)) throw new InvalidArgumentError(`${path}.bytesValue`, 'must be base64');
    return new Uint8Array(Buffer.from(bytes, 'base64'));
  }
  const arr = get(o, 'arrayValue');
  if (arr !== undefined) return { array: list(obj(arr, `${path}.arrayValue`).values, `${path}.arrayValue.values`).map((x, k) => decodeAnyValue(x, `${path}.arrayValue.values[${k}]`, depth + 1)) };
  const kvl = get(o, 'kvlistValue');
  if (kvl !== undefined) return { kvlist: decodeAttributes(obj(kvl, `${path}.kvlistValue`).values, `${path}.kvlistValue.values`, depth + 1) };
  return null;
}

export function decodeAttributes(v: unknown, path: string, depth = 0): KeyValue[] {
  return list(v, path).map((x, i) => {
    const kv = obj(x, `${path}[${i}]`);
    return { key: str(kv.key, `${path}[${i}].key`), value: decodeAnyValue(kv.value, `${path}[${i}].value`, depth) };
  });
}

export function decodeEvent(v: unknown, path: string): SpanEvent {
  const o = obj(v, path);
  return {
    timeUnixNano: int64(get(o, 'timeUnixNano'), `${path}.timeUnixNano`),
    name: str(o.name, `${path}.name`),
    attributes: decodeAttributes(o.attributes, `${path}.attributes`),
    droppedAttributesCount: uint(get(o, 'droppedAttributesCount'), `${path}.droppedAttributesCount`),
  };
}

export function decodeLink(v: unknown, path: string): SpanLink {
  const o = obj(v, path);
  return {
    traceId: normalizeTraceId(str(get(o, 'traceId'), `${path}.traceId`), `${path}.traceId`),
    spanId: normalizeSpanId(str(get(o, 'spanId'), `${path}.spanId`), `${path}.spanId`),
    traceState: str(get(o, 'traceState'), `${path}.traceState`),
    attributes: decodeAttributes(o.attributes, `${path}.attributes`),
    droppedAttributesCount: uint(get(o, 'droppedAttributesCount'), `${path}.droppedAttributesCount`),
    flags: uint(o.flags, `${path}.flags`),
  };
}

export function decodeSpan(v: unknown, path: string): Span {
  const o = obj(v, path);
  const parent = str(get(o, 'parentSpanId'), `${path}.parentSpanId`);
  const status = obj(o.status, `${path}.status`);
  const start = int64(get(o, 'startTimeUnixNano'), `${path}.startTimeUnixNano`);
  const end = int64(get(o, 'endTimeUnixNano'), `${path}.endTimeUnixNano`);
  if (start < 0n) throw new InvalidArgumentError(`${path}.startTimeUnixNano`, 'must not be negative (nanoseconds since the Unix epoch)');
  if (end !== 0n && end < start) throw new InvalidArgumentError(`${path}.endTimeUnixNano`, 'is before startTimeUnixNano: the duration would be negative');
  return {
    traceId: normalizeTraceId(str(get(o, 'traceId'), `${path}.traceId`), `${path}.traceId`),
    spanId: normalizeSpanId(str(get(o, 'spanId'), `${path}.spanId`), `${path}.spanId`),
    traceState: str(get(o, 'traceState'), `${path}.traceState`),
    parentSpanId: parent ? normalizeSpanId(parent, `${path}.parentSpanId`) : '',
    flags: uint(o.flags, `${path}.flags`),
    name: str(o.name, `${path}.name`),
    kind: enumValue(o.kind, `${path}.kind`, KIND_NAMES, 5),
    startTimeUnixNano: start,
    endTimeUnixNano: end,
    attributes: decodeAttributes(o.attributes, `${path}.attributes`),
    droppedAttributesCount: uint(get(o, 'droppedAttributesCount'), `${path}.droppedAttributesCount`),
    events: list(o.events, `${path}.events`).map((e, i) => decodeEvent(e, `${path}.events[${i}]`)),
    droppedEventsCount: uint(get(o, 'droppedEventsCount'), `${path}.droppedEventsCount`),
    links: list(o.links, `${path}.links`).map((l, i) => decodeLink(l, `${path}.links[${i}]`)),
    droppedLinksCount: uint(get(o, 'droppedLinksCount'), `${path}.droppedLinksCount`),
    status: { code: enumValue(status.code, `${path}.status.code`, STATUS_CODE_NAMES, 2), message: str(status.message, `${path}.status.message`) },
  };
}

function decodeScope(v: unknown, path: string): Scope {
  const o = obj(v, path);
  return {
    name: str(o.name, `${path}.name`),
    version: str(o.version, `${path}.version`),
    attributes: decodeAttributes(o.attributes, `${path}.attributes`),
    droppedAttributesCount: uint(get(o, 'droppedAttributesCount'), `${path}.droppedAttributesCount`),
  };
}

/** Decodes an OTLP/JSON TracesData (or ExportTraceServiceRequest) object; any bad field fails the whole request. */
export function decodeTracesJson(value: unknown): ResourceSpans[] {
  return decode(value, undefined);
}

export interface LenientDecoded {
  traces: ResourceSpans[];
  /** spans left out because something inside them was invalid */
  rejected: number;
  problems: string[];
}

/** Like decodeTracesJson, but a span with a bad field is left out and counted instead of failing the request. */
export function decodeTracesJsonLenient(value: unknown): LenientDecoded {
  const out: LenientDecoded = { traces: [], rejected: 0, problems: [] };
  out.traces = decode(value, (e) => {
    out.rejected++;
    if (out.problems.length < 5) out.problems.push(e.message);
  });
  return out;
}

function decode(value: unknown, onSpanError: ((e: InvalidArgumentError) => void) | undefined): ResourceSpans[] {
  const spanOrSkip = (sv: unknown, path: string): Span[] => {
    if (!onSpanError) return [decodeSpan(sv, path)];
    try {
      return [decodeSpan(sv, path)];
    } catch (e) {
      if (!(e instanceof InvalidArgumentError)) throw e;
      onSpanError(e);
      return [];
    }
  };
  const root = obj(value, 'request');
  return list(get(root, 'resourceSpans'), 'resourceSpans').map((rsv, i) => {
    const p = `resourceSpans[${i}]`;
    const rs = obj(rsv, p);
    const res = obj(rs.resource, `${p}.resource`);
    return {
      resource: { attributes: decodeAttributes(res.attributes, `${p}.resource.attributes`), droppedAttributesCount: uint(get(res, 'droppedAttributesCount'), `${p}.resource.droppedAttributesCount`) },
      schemaUrl: str(get(rs, 'schemaUrl'), `${p}.schemaUrl`),
      scopeSpans: list(get(rs, 'scopeSpans'), `${p}.scopeSpans`).map((ssv, j) => {
        const q = `${p}.scopeSpans[${j}]`;
        const ss = obj(ssv, q);
        return {
          scope: decodeScope(ss.scope, `${q}.scope`),
          schemaUrl: str(get(ss, 'schemaUrl'), `${q}.schemaUrl`),
          spans: list(ss.spans, `${q}.spans`).flatMap((sv, k) => spanOrSkip(sv, `${q}.spans[${k}]`)),
        };
      }),
    };
  });
}

export function encodeAnyValue(v: AttrValue): Json {
  if (v === null) return {};
  switch (typeof v) {
    case 'string':
      return { stringValue: v };
    case 'boolean':
      return { boolValue: v };
    case 'bigint':
      return { intValue: v.toString() };
    case 'number':
      return { doubleValue: Number.isFinite(v) ? v : String(v) };
  }
  if (v instanceof Uint8Array) return { bytesValue: Buffer.from(v).toString('base64') };
  if ('array' in v) return { arrayValue: { values: v.array.map(encodeAnyValue) } };
  return { kvlistValue: { values: encodeAttributes(v.kvlist) } };
}

export const encodeAttributes = (attrs: readonly KeyValue[]): Json[] => attrs.map((a) => ({ key: a.key, value: encodeAnyValue(a.value) }));

export const encodeEvent = (e: SpanEvent): Json => ({ timeUnixNano: e.timeUnixNano.toString(), name: e.name, attributes: encodeAttributes(e.attributes), droppedAttributesCount: e.droppedAttributesCount });

export const encodeLink = (l: SpanLink): Json => ({ traceId: l.traceId, spanId: l.spanId, traceState: l.traceState, attributes: encodeAttributes(l.attributes), droppedAttributesCount: l.droppedAttributesCount, flags: l.flags });

export function encodeSpan(s: Span): Json {
  const out: Json = {
    traceId: s.traceId,
    spanId: s.spanId,
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: s.startTimeUnixNano.toString(),
    endTimeUnixNano: s.endTimeUnixNano.toString(),
    attributes: encodeAttributes(s.attributes),
    events: s.events.map(encodeEvent),
    links: s.links.map(encodeLink),
    status: { code: s.status.code, message: s.status.message },
    droppedAttributesCount: s.droppedAttributesCount,
    droppedEventsCount: s.droppedEventsCount,
    droppedLinksCount: s.droppedLinksCount,
    flags: s.flags,
  };
  if (s.parentSpanId) out.parentSpanId = s.parentSpanId;
  if (s.traceState) out.traceState = s.traceState;
  return out;
}

/** Encodes to OTLP/JSON TracesData. */
export function encodeTracesJson(traces: readonly ResourceSpans[]): Json {
  return {
    resourceSpans: traces.map((rs) => ({
      resource: { attributes: encodeAttributes(rs.resource.attributes), droppedAttributesCount: rs.resource.droppedAttributesCount },
      schemaUrl: rs.schemaUrl,
      scopeSpans: rs.scopeSpans.map((ss) => ({
        scope: { name: ss.scope.name, version: ss.scope.version, attributes: encodeAttributes(ss.scope.attributes), droppedAttributesCount: ss.scope.droppedAttributesCount },
        schemaUrl: ss.schemaUrl,
        spans: ss.spans.map(encodeSpan),
      })),
    })),
  };
}
