// The memory backend's trace writer: stores spans per tenant within the bounds of ./state.ts (FIFO eviction by
// trace count per tenant and by estimated bytes overall, a span limit per trace, a bounded services index).
import { InvalidArgumentError, type ResourceSpans, SPAN_KIND_NAMES, type StorageContext, type TraceWriter, isLazySpan, serviceOf, spanCount } from '../api/index.js';
import { validateBatch } from '../api/semantics.js';
import { resourceBytes, scopeBytes, spanBytes } from './limits.js';
import type { MemoryLimits, MemoryState, Origin, StoredTrace, Tenant } from './state.js';

export class MemoryTraceWriter implements TraceWriter {
  private readonly limits: MemoryLimits;
  private readonly counts: MemoryState['counts'];

  constructor(private readonly state: MemoryState) {
    this.limits = state.limits;
    this.counts = state.counts;
  }

  /** Indexes (service, kind, name) unless a bound is reached; the span is stored either way. */
  private index(t: Tenant, service: string, kind: string, name: string): void {
    let ops = t.services.get(service);
    if (!ops) {
      if (t.services.size >= this.limits.maxServices) {
        this.counts.servicesNotIndexed++;
        return;
      }
      t.services.set(service, (ops = new Map()));
    }
    // by name, then kind: no key string is built per span
    let kinds = ops.get(name);
    if (kinds?.has(kind)) return;
    const count = t.operationCounts.get(service) ?? 0;
    if (count >= this.limits.maxOperationsPerService || t.operations >= this.limits.maxOperations) {
      this.counts.operationsNotIndexed++;
      return;
    }
    if (!kinds) ops.set(name, (kinds = new Map()));
    kinds.set(kind, { name, spanKind: kind });
    t.operationCounts.set(service, count + 1);
    t.operations++;
  }

  async writeTraces(traces: ResourceSpans[], ctx?: StorageContext): Promise<void> {
    validateBatch(traces);
    const state = this.state;
    const { maxTraces, maxBytes, maxSpansPerTrace } = this.limits;
    const counts = this.counts;
    const t = state.tenant(ctx, true)!;
    // a trace that would exceed maxSpansPerTrace refuses the whole batch before anything is stored, so the caller
    // can isolate the spans that do not fit and tell their client (the runtime bisects down to single spans, and
    // only a refused single span is counted)
    // (skipped when even the longest stored trace plus the whole batch stays within the bound)
    const incoming = new Map<string, number>();
    if (t.longestTrace + spanCount(traces) > maxSpansPerTrace)
      for (const rs of traces) for (const ss of rs.scopeSpans) for (const span of ss.spans) incoming.set(span.traceId, (incoming.get(span.traceId) ?? 0) + 1);
    for (const [id, n] of incoming) {
      const have = t.traces.get(id)?.spans.length ?? 0;
      if (have + n > maxSpansPerTrace) {
        if (n === 1 && incoming.size === 1) counts.spansRefused++;
        throw new InvalidArgumentError('traceId', `trace ${id} already holds ${have} span(s): more than memory.maxSpansPerTrace (${maxSpansPerTrace}) would be stored, so the span is refused`);
      }
    }
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      let spansOfResource = 0;
      for (const ss of rs.scopeSpans) spansOfResource += ss.spans.length;
      // the resource and scope objects are shared by their spans: each span carries its share of their cost
      const resourceShare = spansOfResource ? Math.ceil(resourceBytes(rs.resource) / spansOfResource) : 0;
      for (const ss of rs.scopeSpans) {
        const scopeShare = ss.spans.length ? Math.ceil(scopeBytes(ss.scope) / ss.spans.length) : 0;
        const origin: Origin = { resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, service };
        for (const span of ss.spans) {
          const start = span.startTimeUnixNano;
          const end = span.endTimeUnixNano;
          let tr = t.traces.get(span.traceId);
          if (!tr) {
            tr = { id: span.traceId, spans: [], origins: [], start, end, bytes: 0, tenant: t };
            t.traces.set(span.traceId, tr);
            state.order.add(tr);
            if (t.traces.size > maxTraces) state.evict(t.traces.values().next().value as StoredTrace, 'tracesEvictedMaxTraces');
          }
          // a stored lazy span decodes its attributes and events on each read instead of keeping them
          if (isLazySpan(span)) span.release();
          const bytes = spanBytes(span) + resourceShare + scopeShare;
          if (tr.spans.push(span) > t.longestTrace) t.longestTrace = tr.spans.length;
          tr.origins.push(origin);
          tr.bytes += bytes;
          counts.spans++;
          counts.bytes += bytes;
          if (start < tr.start) tr.start = start;
          if (end > tr.end) tr.end = end;
          if (service) this.index(t, service, SPAN_KIND_NAMES[span.kind] ?? '', span.name);
          if (maxBytes !== undefined) {
            // oldest first, never the trace being written (a single trace is bounded by maxSpansPerTrace)
            while (counts.bytes > maxBytes) {
              const oldest = state.order.values().next().value as StoredTrace;
              if (oldest === tr) break;
              state.evict(oldest, 'tracesEvictedMaxBytes');
            }
          }
        }
      }
    }
  }
}
