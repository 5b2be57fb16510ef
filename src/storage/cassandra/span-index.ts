// Index rows of a span beyond its attributes: the span fields Jaeger's special query keys name (span.kind,
// span.status and error, scope.name, scope.version) as terms of span_by_attribute, and the duration rows of
// span_by_duration_class; with what the reader asks of them.
//
// A special term's key starts with U+0000, which no attribute term has (the writer's attribute terms are cut at
// their first U+0000), so a row of one is exact: the span it points at has that kind, status or scope.
import { type Scope, type Span, SPAN_KIND_NAMES, STATUS_NAMES, StatusCode } from '../api/index.js';
import { spanDuration } from '../api/semantics.js';
import type { Params } from './connection.js';
import { MAX_INDEXED } from './writer.js';


const INSERT_BY_ATTRIBUTE = 'INSERT INTO ks.span_by_attribute (tenant, service, key, value, bucket, start_ns, trace_id, span_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';
const INSERT_BY_DURATION = 'INSERT INTO ks.span_by_duration_class (tenant, service, operation, bucket, class, start_ns, trace_id, span_id, duration_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';

/** the index key of a special query key */
export const specialKey = (key: 'span.kind' | 'span.status' | 'scope.name' | 'scope.version'): string => `\u0000${key}`;

/** The special terms of a span: its kind (unless unspecified), its status (unless unset), its scope's name and version (unless empty). */
export function specialTerms(span: Span, scope: Scope): [string, string][] {
  const out: [string, string][] = [];
  const kind = SPAN_KIND_NAMES[span.kind] ?? '';
  if (kind) out.push([specialKey('span.kind'), kind]);
  if (span.status.code !== StatusCode.Unset) out.push([specialKey('span.status'), STATUS_NAMES[span.status.code].toLowerCase()]);
  if (scope.name && scope.name.length <= MAX_INDEXED) out.push([specialKey('scope.name'), scope.name]);
  if (scope.version && scope.version.length <= MAX_INDEXED) out.push([specialKey('scope.version'), scope.version]);
  return out;
}

/**
 * The term of span_by_attribute that holds exactly the spans meeting a special query key's `key = value`, or
 * undefined when the key is not special or its spans have no term (error=false, span.status=unset, an unspecified
 * kind, an empty or long scope name or version, a value the key never has): such a query is answered from another index.
 */
export function specialQueryTerm(key: string, value: string): [string, string] | undefined {
  switch (key) {
    case 'error':
      return value === 'true' ? [specialKey('span.status'), 'error'] : undefined;
    case 'span.kind': {
      const kind = value.toLowerCase().replace(/^span_kind_/, '');
      return kind && Object.values(SPAN_KIND_NAMES).includes(kind) ? [specialKey(key), kind] : undefined;
    }
    case 'span.status': {
      const st = value.toLowerCase().replace(/^status_code_/, '');
      return st === 'ok' || st === 'error' ? [specialKey(key), st] : undefined;
    }
    case 'scope.name':
    case 'scope.version':
      return value && value.length <= MAX_INDEXED ? [specialKey(key), value] : undefined;
  }
  return undefined;
}

/** keys whose meaning is a span field (the reader never looks them up as attributes in the index) */
export const SPECIAL_QUERY_KEYS: ReadonlySet<string> = new Set(['error', 'span.kind', 'span.status', 'scope.name', 'scope.version']);

/** Durations in ns are indexed in classes: 0 below 1 µs, then one per decimal order of magnitude, 10 from 1,000 s up. */
export const MAX_DURATION_CLASS = 10;

export function durationClass(ns: bigint): number {
  if (ns < 1000n) return 0;
  return Math.min(MAX_DURATION_CLASS, ns.toString().length - 3);
}

/** The classes a duration range [min, max] covers, in order. */
export function durationClasses(min: bigint, max: bigint): number[] {
  const out: number[] = [];
  for (let c = durationClass(min); c <= durationClass(max); c++) out.push(c);
  return out;
}

/**
 * The statements of a span's special terms and duration rows (per service, and per service and operation).
 * `ids` are the trace and span IDs as written in the other tables.
 */
export function spanIndexRows(tenant: string, service: string, span: Span, scope: Scope, bucket: number, ids: { traceId: Buffer; spanId: Buffer }): [string, Params][] {
  const start = span.startTimeUnixNano;
  const duration = spanDuration(span);
  const cls = durationClass(duration);
  const out: [string, Params][] = [
    [INSERT_BY_DURATION, [tenant, service, '', bucket, cls, start, ids.traceId, ids.spanId, duration]],
    [INSERT_BY_DURATION, [tenant, service, span.name, bucket, cls, start, ids.traceId, ids.spanId, duration]],
  ];
  for (const [k, v] of specialTerms(span, scope)) out.push([INSERT_BY_ATTRIBUTE, [tenant, service, k, v, bucket, start, ids.traceId, ids.spanId]]);
  return out;
}
