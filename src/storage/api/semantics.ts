// Query and write semantics shared by every backend, so all of them answer the same way: batch validation,
// same-span matching of a query (with the special keys), regrouping of spans into OTLP containers, and
// dependency edges derived from parent/child spans.
import { InvalidArgumentError } from './errors.js';
import { type Resource, type ResourceSpans, SPAN_KIND_NAMES, STATUS_NAMES, type Scope, type Span, StatusCode, attr, attrToString, isLazySpan } from './model.js';
import type { CheckedQuery, DependencyLink } from './query.js';

/** A span with the resource and scope it came with, and its service name. */
export interface SpanView {
  span: Span;
  resource: Resource;
  resourceSchemaUrl: string;
  scope: Scope;
  scopeSchemaUrl: string;
  service: string;
}

const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** Checks a whole batch before any of it is stored (nothing half-written). */
export function validateBatch(traces: readonly ResourceSpans[]): void {
  for (let i = 0; i < traces.length; i++) {
    const scopes = traces[i]!.scopeSpans;
    for (let j = 0; j < scopes.length; j++) {
      const spans = scopes[j]!.spans;
      for (let k = 0; k < spans.length; k++) {
        const s = spans[k]!;
        if (!(isLazySpan(s) && s.verified)) validateSpan(s, `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`);
      }
    }
  }
}

function validateSpan(s: Span, p: string): void {
  if (!TRACE_ID.test(s.traceId) || s.traceId === ZERO_TRACE) throw new InvalidArgumentError(`${p}.traceId`, `${JSON.stringify(s.traceId)} is not a trace ID: expected 32 lowercase hex characters, not all zero`);
  if (!SPAN_ID.test(s.spanId) || s.spanId === ZERO_SPAN) throw new InvalidArgumentError(`${p}.spanId`, `${JSON.stringify(s.spanId)} is not a span ID: expected 16 lowercase hex characters, not all zero`);
  if (s.parentSpanId && !SPAN_ID.test(s.parentSpanId)) throw new InvalidArgumentError(`${p}.parentSpanId`, `${JSON.stringify(s.parentSpanId)} is not a span ID: expected 16 lowercase hex characters or empty`);
  if (s.endTimeUnixNano !== 0n && s.endTimeUnixNano < s.startTimeUnixNano) throw new InvalidArgumentError(`${p}.endTimeUnixNano`, 'is before startTimeUnixNano: the duration would be negative');
}

export const spanDuration = (s: Span): bigint => (s.endTimeUnixNano > s.startTimeUnixNano ? s.endTimeUnixNano - s.startTimeUnixNano : 0n);

const anyAttr = (attrs: readonly { key: string; value: unknown }[], key: string, want: string): boolean =>
  attrs.some((a) => a.key === key && attrToString(a.value as never) === want);

/** Whether one span satisfies `key = want` under the special-key rules of TraceQuery.attributes. */
export function matchesAttribute(st: SpanView, key: string, want: string): boolean {
  const s = st.span;
  switch (key) {
    case 'error':
      return want === 'true' ? s.status.code === StatusCode.Error : want === 'false' ? s.status.code !== StatusCode.Error : false;
    case 'span.kind':
      return SPAN_KIND_NAMES[s.kind] === want.toLowerCase().replace(/^span_kind_/, '');
    case 'span.status':
      return STATUS_NAMES[s.status.code].toLowerCase() === want.toLowerCase().replace(/^status_code_/, '');
    case 'scope.name':
      return st.scope.name === want;
    case 'scope.version':
      return st.scope.version === want;
  }
  if (key.startsWith('resource.')) {
    const v = attr(st.resource.attributes, key.slice('resource.'.length));
    return v !== undefined && attrToString(v) === want;
  }
  return (
    anyAttr(s.attributes, key, want) ||
    anyAttr(st.scope.attributes, key, want) ||
    anyAttr(st.resource.attributes, key, want) ||
    s.events.some((e) => anyAttr(e.attributes, key, want)) ||
    s.links.some((l) => anyAttr(l.attributes, key, want))
  );
}

/** Whether one span meets every predicate of the query (the same-span conjunction). */
export function spanMatches(st: SpanView, q: CheckedQuery): boolean {
  const s = st.span;
  if (q.serviceName && st.service !== q.serviceName) return false;
  if (q.operationName && s.name !== q.operationName) return false;
  if (q.startTimeMin !== undefined && s.startTimeUnixNano < q.startTimeMin) return false;
  if (q.startTimeMax !== undefined && s.startTimeUnixNano > q.startTimeMax) return false;
  if (q.durationMin !== undefined || q.durationMax !== undefined) {
    const d = spanDuration(s);
    if (q.durationMin !== undefined && d < q.durationMin) return false;
    if (q.durationMax !== undefined && d > q.durationMax) return false;
  }
  for (const [k, v] of q.attributes) if (!matchesAttribute(st, k, v)) return false;
  return true;
}

/** Regroups spans into OTLP ResourceSpans/ScopeSpans, sharing resource and scope objects. */
export function groupSpans(spans: readonly SpanView[]): ResourceSpans[] {
  const out: ResourceSpans[] = [];
  let rs: ResourceSpans | undefined;
  let lastResource: Resource | undefined;
  let lastScope: Scope | undefined;
  for (const st of spans) {
    if (!rs || st.resource !== lastResource) {
      rs = { resource: st.resource, schemaUrl: st.resourceSchemaUrl, scopeSpans: [] };
      out.push(rs);
      lastResource = st.resource;
      lastScope = undefined;
    }
    if (st.scope !== lastScope) {
      rs.scopeSpans.push({ scope: st.scope, schemaUrl: st.scopeSchemaUrl, spans: [] });
      lastScope = st.scope;
    }
    rs.scopeSpans[rs.scopeSpans.length - 1]!.spans.push(st.span);
  }
  return out;
}

/** Calls `edge(parent, child)` for every span whose parent span (same trace) belongs to another service. */
export function forEachDependency(trace: readonly { span: Pick<Span, 'spanId' | 'parentSpanId'>; service: string }[], edge: (parent: string, child: string) => void): void {
  const serviceOfSpan = new Map<string, string>();
  for (const s of trace) serviceOfSpan.set(s.span.spanId, s.service);
  for (const s of trace) {
    const parent = s.span.parentSpanId ? serviceOfSpan.get(s.span.parentSpanId) : undefined;
    if (parent && s.service && parent !== s.service) edge(parent, s.service);
  }
}

/** Splits a trace's spans into chunks of at most `size` spans. */
export function* chunkTrace(traceId: string, spans: readonly SpanView[], size: number): Generator<{ traceId: string; resourceSpans: ResourceSpans[] }> {
  for (let i = 0; i < spans.length; i += size) yield { traceId, resourceSpans: groupSpans(spans.slice(i, i + size)) };
}

/** Sums dependency links by (parent, child); the result is sorted. */
export class DependencyTotals {
  private readonly edges = new Map<string, DependencyLink>();

  add(parent: string, child: string, n: number, source?: string): void {
    const k = `${parent}\u0000${child}`;
    const e = this.edges.get(k);
    if (e) e.callCount += n;
    else this.edges.set(k, { parent, child, callCount: n, ...(source ? { source } : {}) });
  }

  list(): DependencyLink[] {
    return [...this.edges.values()].sort((a, b) => a.parent.localeCompare(b.parent) || a.child.localeCompare(b.child));
  }
}

/** Validates links given to DependencyWriter.writeDependencies. */
export function checkDependencyLinks(links: readonly DependencyLink[]): void {
  links.forEach((l, i) => {
    if (!l.parent || !l.child) throw new InvalidArgumentError(`links[${i}]`, 'parent and child service names are required');
    if (!Number.isInteger(l.callCount) || l.callCount < 0) throw new InvalidArgumentError(`links[${i}].callCount`, 'must be a non-negative integer');
  });
}
