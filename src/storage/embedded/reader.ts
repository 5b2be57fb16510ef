// The embedded backend's trace reader. Search: index streams (service or service+operation, one per attribute; each
// the refs of the term's postings, newest first) are merge-joined on (start, traceId), so every candidate is a span
// (rarely a few, started at the same time) that meets all indexed criteria; each candidate is then checked against
// the whole query (durations, ranges) on the span records themselves.
// A StorageContext signal that aborts stops an iteration before its next chunk (and a search between candidates).
import {
  type FoundTraceId,
  type GetTraceParams,
  InvalidArgumentError,
  type Operation,
  type OperationQuery,
  type StorageContext,
  type TraceChunk,
  type TraceQuery,
  type TraceReader,
  checkGetTraceParams,
  checkTraceQuery,
  type SearchCapabilities,
} from '../api/index.js';
import { chunkTrace, spanMatches } from '../api/semantics.js';
import { EMPTY, type EmbeddedDb, MAX_U64 } from './db.js';
import { type SpanRef, compareRefs, hex, key, kstr, lstr, prefixEnd, tag, u64 } from './keys.js';

function readLstr(b: Buffer, o: number): [string, number] {
  const n = b.readUInt16BE(o);
  return [b.toString('utf8', o + 2, o + 2 + n), o + 2 + n];
}

/** The index entry that can drive a query on `key = value`, if there is one (see EmbeddedDb.addToPostings). */
function queryPair(k: string, v: string): [string, string] | undefined {
  switch (k) {
    case 'error':
      return v === 'true' ? ['error', 'true'] : undefined;
    case 'span.kind':
      return [k, v.toLowerCase().replace(/^span_kind_/, '')];
    case 'span.status': {
      const st = v.toLowerCase().replace(/^status_code_/, '');
      return st === 'unset' ? undefined : [k, st];
    }
    case 'scope.version':
      return undefined;
  }
  // resource.X is indexed under plain X (a superset: X may also be a span attribute); the check decides
  return k.startsWith('resource.') ? [k.slice('resource.'.length), v] : [k, v];
}

/** Merge-join of descending streams: yields refs present in every stream. */
function* intersect(streams: Generator<SpanRef>[]): Generator<SpanRef> {
  const heads = streams.map((s) => s.next());
  for (;;) {
    if (heads.some((h) => h.done)) return;
    // the smallest head (in descending order, the one furthest along) is the join target
    let target = heads[0]!.value as SpanRef;
    for (const h of heads) if (compareRefs(h.value as SpanRef, target) < 0) target = h.value as SpanRef;
    let all = true;
    for (let i = 0; i < heads.length; i++) {
      while (!heads[i]!.done && compareRefs(heads[i]!.value as SpanRef, target) > 0) heads[i] = streams[i]!.next();
      if (heads[i]!.done) return;
      if (compareRefs(heads[i]!.value as SpanRef, target) !== 0) all = false;
    }
    if (all) {
      yield target;
      for (let i = 0; i < heads.length; i++) heads[i] = streams[i]!.next();
    }
  }
}

export class EmbeddedTraceReader implements TraceReader {
  constructor(private readonly db: EmbeddedDb) {}

  /** any service when none is named; every filter on one span */
  searchCapabilities(): Promise<SearchCapabilities> {
    return Promise.resolve({ withoutServiceName: true, sameSpanConjunction: true });
  }

  private hasSpanIn(traceId: string, start?: bigint, end?: bigint): boolean {
    const p = hex(traceId);
    const lo = key(p, u64(start ?? 0n));
    const hi = prefixEnd(key(p, u64(end ?? MAX_U64)));
    for (const _ of this.db.spans.getKeys({ start: lo, end: hi, limit: 1 })) return true;
    return false;
  }

  /** The chunks of one trace, checking the signal before each. */
  private *chunks(traceId: string, signal: AbortSignal | undefined): Generator<TraceChunk> {
    signal?.throwIfAborted();
    for (const c of chunkTrace(traceId, this.db.traceSpans(traceId), this.db.chunkSize)) {
      signal?.throwIfAborted();
      yield c;
    }
  }

  async *getTraces(params: GetTraceParams[], ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const checked = checkGetTraceParams(params);
    const seen = new Set<string>();
    for (const p of checked) {
      if (seen.has(p.traceId)) continue;
      seen.add(p.traceId);
      if ((p.start !== undefined || p.end !== undefined) && !this.hasSpanIn(p.traceId, p.start, p.end)) continue;
      for (const c of this.chunks(p.traceId, ctx?.signal)) yield [c];
    }
  }

  async getServices(_ctx?: StorageContext): Promise<string[]> {
    const out: string[] = [];
    const p = tag('v');
    for (const { key: k, value } of this.db.meta.getRange({ start: p, end: prefixEnd(p) })) {
      const [svc] = readLstr(k, 1);
      if (svc) out.push(value.length ? value.toString('utf8') : svc);
    }
    return out.sort();
  }

  async getOperations(q: OperationQuery, _ctx?: StorageContext): Promise<Operation[]> {
    if (typeof q.service !== 'string') throw new InvalidArgumentError('service', 'is required');
    const p = key(tag('p'), kstr(q.service));
    const kind = q.spanKind?.toLowerCase();
    const out: Operation[] = [];
    for (const { key: k, value } of this.db.meta.getRange({ start: p, end: prefixEnd(p) })) {
      const [spanKind, o] = readLstr(k, p.length);
      const [name] = readLstr(k, o);
      if (!kind || kind === spanKind) out.push({ name: value.length ? value.toString('utf8') : name, spanKind });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
  }

  private *matchingTraces(q: TraceQuery, signal: AbortSignal | undefined): Generator<string> {
    const cq = checkTraceQuery(q);
    const db = this.db;
    const min = cq.startTimeMin;
    const max = cq.startTimeMax;
    let streams: Generator<SpanRef>[];
    if (cq.serviceName) {
      const svc = db.nameKey(cq.serviceName);
      streams = [cq.operationName ? db.stream('O', key(svc, kstr(cq.operationName)), min, max) : db.stream('S', svc, min, max)];
      for (const [k, v] of cq.attributes) {
        const pair = queryPair(k, v);
        if (pair) streams.push(db.stream('A', key(svc, db.nameKey(pair[0]), lstr(db.indexValue(pair[1]))), min, max));
      }
    } else {
      streams = [db.stream('T', EMPTY, min, max)];
    }
    const found = new Set<string>();
    for (const ref of streams.length === 1 ? streams[0]! : intersect(streams)) {
      signal?.throwIfAborted();
      if (found.has(ref.traceId)) continue;
      const p = key(hex(ref.traceId), u64(ref.start));
      let ok = false;
      for (const { key: sk, value } of db.spans.getRange({ start: p, end: prefixEnd(p) })) {
        if (spanMatches(db.decodeRecord(sk, value), cq)) {
          ok = true;
          break;
        }
      }
      if (!ok) continue;
      found.add(ref.traceId);
      yield ref.traceId;
      if (found.size >= cq.searchDepth) return;
    }
  }

  async *findTraceIds(q: TraceQuery, ctx?: StorageContext): AsyncIterable<FoundTraceId[]> {
    const out = [...this.matchingTraces(q, ctx?.signal)].map((traceId) => ({ traceId }));
    if (out.length) yield out;
  }

  async *findTraces(q: TraceQuery, ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const signal = ctx?.signal;
    for (const id of [...this.matchingTraces(q, signal)]) for (const c of this.chunks(id, signal)) yield [c];
  }
}
