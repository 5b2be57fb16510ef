// Trace summaries (one row per trace of a search, as Jaeger's search page lists them) and what a backend's search
// can do. The types follow TraceSummary / SearchCapabilities of jaeger-idl (api_v3 and storage/v2). A backend may
// compute summaries itself (TraceReader.findTraceSummaries); every other one gets them from findTraces through
// summarizeTraces, so that all of them answer with the same rules, written once here:
//  - spanCount, errorSpanCount (status ERROR) and, per service.name, the same two counts, services sorted by name
//    (at most MAX_SUMMARY_SERVICES of them, so that one summary stays far below a gRPC message limit);
//    a span ID counts once (a backend may keep a span written twice, e.g. by a retried batch, twice);
//  - minStartTimeUnixNano / maxEndTimeUnixNano: the earliest start and latest end of any span;
//  - orphanSpanCount: spans whose parent span ID is set but names no span of the trace;
//  - the root: the earliest-starting span without a parent (ties: the lowest span ID); a trace that has none
//    (its root not stored, or not yet) takes its earliest-starting orphan, as a partial trace's best name.
import { type ResourceSpans, type Span, StatusCode, type TraceChunk, serviceOf } from './model.js';

export interface ServiceSummary {
  name: string;
  spanCount: number;
  errorSpanCount: number;
}

export interface TraceSummary {
  traceId: string;
  rootServiceName: string;
  rootOperationName: string;
  minStartTimeUnixNano: bigint;
  maxEndTimeUnixNano: bigint;
  spanCount: number;
  errorSpanCount: number;
  orphanSpanCount: number;
  /** one per service.name seen, sorted by name */
  services: ServiceSummary[];
}

/** What a backend's search serves (jaeger.storage.v2.SearchCapabilities); its zero value is the least capable. */
export interface SearchCapabilities {
  /** a search without a service name reads as "any service" (else it is refused) */
  withoutServiceName: boolean;
  /** all attribute filters of a search hold on one span (else they may hold on different spans of a trace) */
  sameSpanConjunction: boolean;
}

export const LEAST_CAPABLE: Readonly<SearchCapabilities> = Object.freeze({ withoutServiceName: false, sameSpanConjunction: false });

/** What a summary reads of a span: a backend may read only these fields. */
export type SummarySpan = Pick<Span, 'spanId' | 'parentSpanId' | 'name' | 'startTimeUnixNano' | 'endTimeUnixNano'> & { status: { code: StatusCode } };

/** the most services one summary lists (the first by name); its span and error counts cover every span */
export const MAX_SUMMARY_SERVICES = 1_000;

/** what the root choice keeps of a span: a copy, so that a summarised trace's spans are not held */
interface RootCandidate {
  spanId: string;
  parentSpanId: string;
  name: string;
  start: bigint;
  service: string;
}

/** Accumulates the spans of one trace, in any order and over any number of chunks, into its summary. */
export class TraceSummarizer {
  private readonly ids = new Set<string>();
  /** the spans that name a parent (copies of the fields the root choice reads) */
  private readonly children: RootCandidate[] = [];
  private readonly services = new Map<string, ServiceSummary>();
  private root: (RootCandidate & { orphan: boolean }) | undefined;
  private spanCount = 0;
  private errors = 0;
  private minStart: bigint | undefined;
  private maxEnd: bigint | undefined;

  constructor(readonly traceId: string) {}

  add(resourceSpans: readonly ResourceSpans[]): void {
    for (const rs of resourceSpans) {
      const service = serviceOf(rs.resource);
      for (const ss of rs.scopeSpans) for (const s of ss.spans) this.span(s, service);
    }
  }

  /** one span of service.name `service` */
  span(s: SummarySpan, service: string): void {
    if (this.ids.has(s.spanId)) return;
    let svc = this.services.get(service);
    if (!svc) this.services.set(service, (svc = { name: service, spanCount: 0, errorSpanCount: 0 }));
    this.ids.add(s.spanId);
    this.spanCount++;
    svc.spanCount++;
    if (s.status.code === StatusCode.Error) {
      this.errors++;
      svc.errorSpanCount++;
    }
    if (this.minStart === undefined || s.startTimeUnixNano < this.minStart) this.minStart = s.startTimeUnixNano;
    const end = s.endTimeUnixNano > s.startTimeUnixNano ? s.endTimeUnixNano : s.startTimeUnixNano;
    if (this.maxEnd === undefined || end > this.maxEnd) this.maxEnd = end;
    const c: RootCandidate = { spanId: s.spanId, parentSpanId: s.parentSpanId, name: s.name, start: s.startTimeUnixNano, service };
    if (s.parentSpanId) this.children.push(c);
    else this.consider(c, false);
  }

  /** keeps `s` as the root when it beats the current one: parentless over orphan, then earlier, then lower ID */
  private consider(c: RootCandidate, orphan: boolean): void {
    const r = this.root;
    if (r && (r.orphan !== orphan ? orphan : r.start !== c.start ? c.start > r.start : c.spanId >= r.spanId)) return;
    this.root = { ...c, orphan };
  }

  summary(): TraceSummary {
    let orphans = 0;
    for (const c of this.children) {
      if (this.ids.has(c.parentSpanId)) continue;
      orphans++;
      if (!this.root || this.root.orphan) this.consider(c, true);
    }
    return {
      traceId: this.traceId,
      rootServiceName: this.root?.service ?? '',
      rootOperationName: this.root?.name ?? '',
      minStartTimeUnixNano: this.minStart ?? 0n,
      maxEndTimeUnixNano: this.maxEnd ?? 0n,
      spanCount: this.spanCount,
      errorSpanCount: this.errors,
      orphanSpanCount: orphans,
      services: [...this.services.values()]
        .filter((s) => s.spanCount > 0)
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .slice(0, MAX_SUMMARY_SERVICES),
    };
  }
}

/**
 * The summaries of the traces a chunk stream holds, one batch per batch of chunks that completes a trace. Chunks of
 * one trace are consecutive (the TraceReader contract), so a trace is summarised when the next one starts.
 */
export async function* summarizeTraces(chunks: AsyncIterable<TraceChunk[]>): AsyncIterable<TraceSummary[]> {
  let current: TraceSummarizer | undefined;
  for await (const batch of chunks) {
    const out: TraceSummary[] = [];
    for (const c of batch) {
      if (current?.traceId !== c.traceId) {
        if (current) out.push(current.summary());
        current = new TraceSummarizer(c.traceId);
      }
      current.add(c.resourceSpans);
    }
    if (out.length) yield out;
  }
  if (current) yield [current.summary()];
}
