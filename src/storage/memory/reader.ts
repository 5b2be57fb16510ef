// The memory backend's trace reader: gets by trace ID, searches by scanning a tenant's traces newest first. A
// StorageContext signal that aborts stops an iteration before its next chunk (and a search between traces).
import {
  type FoundTraceId,
  type GetTraceParams,
  type Operation,
  type OperationQuery,
  type StorageContext,
  type TraceChunk,
  type TraceQuery,
  type TraceReader,
  checkGetTraceParams,
  checkOperationQuery,
  checkTraceQuery,
  type SearchCapabilities,
  TraceSummarizer,
  type TraceSummary,
} from '../api/index.js';
import { type SpanView, chunkTrace, spanMatches } from '../api/semantics.js';
import { type MemoryState, type StoredTrace, spanViews } from './state.js';

/** Whether a span of the trace meets the query; one view object serves the whole scan. */
function anySpanMatches(tr: StoredTrace, cq: ReturnType<typeof checkTraceQuery>): boolean {
  const v: SpanView = { span: tr.spans[0]!, ...tr.origins[0]! };
  for (let i = 0; i < tr.spans.length; i++) {
    Object.assign(v, tr.origins[i]!);
    v.span = tr.spans[i]!;
    if (spanMatches(v, cq)) return true;
  }
  return false;
}

export class MemoryTraceReader implements TraceReader {
  constructor(private readonly state: MemoryState) {}

  /** any service when none is named; every filter on one span */
  searchCapabilities(): Promise<SearchCapabilities> {
    return Promise.resolve({ withoutServiceName: true, sameSpanConjunction: true });
  }

  private chunks(tr: StoredTrace): Generator<TraceChunk> {
    return chunkTrace(tr.id, spanViews(tr), this.state.limits.chunkSize);
  }

  async *getTraces(params: GetTraceParams[], ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const checked = checkGetTraceParams(params);
    const t = this.state.tenant(ctx);
    if (!t) return;
    const signal = ctx?.signal;
    const seen = new Set<string>();
    for (const p of checked) {
      if (seen.has(p.traceId)) continue;
      seen.add(p.traceId);
      const tr = t.traces.get(p.traceId);
      if (!tr) continue;
      if (p.start !== undefined || p.end !== undefined) {
        const inWindow = tr.spans.some((s) => (p.start === undefined || s.startTimeUnixNano >= p.start) && (p.end === undefined || s.startTimeUnixNano <= p.end));
        if (!inWindow) continue;
      }
      for (const c of this.chunks(tr)) {
        signal?.throwIfAborted();
        yield [c];
      }
    }
  }

  async getServices(ctx?: StorageContext): Promise<string[]> {
    return [...(this.state.tenant(ctx)?.services.keys() ?? [])].sort();
  }

  async getOperations(q: OperationQuery, ctx?: StorageContext): Promise<Operation[]> {
    checkOperationQuery(q);
    const ops = this.state.tenant(ctx)?.services.get(q.service);
    if (!ops) return [];
    const kind = q.spanKind?.toLowerCase();
    return [...ops.values()].flatMap((byKind) => [...byKind.values()]).filter((o) => !kind || o.spanKind === kind).sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
  }

  private *matching(q: TraceQuery, ctx?: StorageContext): Generator<StoredTrace> {
    const cq = checkTraceQuery(q);
    const t = this.state.tenant(ctx);
    if (!t) return;
    const signal = ctx?.signal;
    const all = [...t.traces.values()];
    let found = 0;
    for (let i = all.length - 1; i >= 0 && found < cq.searchDepth; i--) {
      signal?.throwIfAborted();
      const tr = all[i]!;
      if (anySpanMatches(tr, cq)) {
        found++;
        yield tr;
      }
    }
  }

  async *findTraceIds(q: TraceQuery, ctx?: StorageContext): AsyncIterable<FoundTraceId[]> {
    const batch: FoundTraceId[] = [];
    for (const tr of this.matching(q, ctx)) batch.push({ traceId: tr.id, start: tr.start, end: tr.end });
    if (batch.length) yield batch;
  }

  /** straight from the stored spans, by the shared rules: no chunks are built */
  async *findTraceSummaries(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceSummary[]> {
    const out: TraceSummary[] = [];
    for (const tr of this.matching(q, ctx)) {
      const s = new TraceSummarizer(tr.id);
      for (let i = 0; i < tr.spans.length; i++) s.span(tr.spans[i]!, tr.origins[i]!.service);
      out.push(s.summary());
    }
    if (out.length) yield out;
  }

  async *findTraces(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const signal = ctx?.signal;
    for (const tr of this.matching(q, ctx))
      for (const c of this.chunks(tr)) {
        signal?.throwIfAborted();
        yield [c];
      }
  }
}
