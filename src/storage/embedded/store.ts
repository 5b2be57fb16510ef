// The embedded backend: one persistent, crash-safe LMDB environment on local disk (our equivalent of Jaeger's
// Badger store). Why LMDB (npm `lmdb`): ACID transactions over a copy-on-write B+tree, so a committed batch
// survives kill -9 and the file needs no recovery on open (it reopens in milliseconds); ordered binary keys for
// range scans; readers never block the writer; the native build ships inside the npm package.
//
// A batch is written in one transaction and acknowledged only after it committed. Key layout: ./keys.ts.
// Search: index streams (service or service+operation, one per attribute) are merge-joined on
// (start, traceId, spanId) newest first, so every candidate is one span that meets all indexed criteria; each
// candidate is then checked against the whole query (durations, ranges) on the span record itself.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { type Database, type RootDatabase, open } from 'lmdb';
import {
  type DependencyLink,
  type FoundTraceId,
  type GetTraceParams,
  InvalidArgumentError,
  type Operation,
  ResourceExhaustedError,
  UnavailableError,
  type OperationQuery,
  type Resource,
  type ResourceSpans,
  SPAN_KIND_NAMES,
  STATUS_NAMES,
  type Scope,
  type ServiceOperationValues,
  StatusCode,
  type StorageContext,
  type Throughput,
  type TimeRange,
  type TraceChunk,
  type TraceQuery,
  attrToString,
  checkGetTraceParams,
  checkTimeRange,
  checkTraceQuery,
  serviceOf,
} from '../api/index.js';
import { decodeAttributes, decodeSpan, encodeAttributes, encodeSpan } from '../../otlp/otlp-json.js';
import { DependencyTotals, SingleStoreBackend, type SpanView, checkDependencyLinks, chunkTrace, forEachDependency, spanMatches, validateBatch } from '../api/semantics.js';
import { MAX_KEY_BYTES, MAX_KEY_STRING_BYTES, type SpanRef, compareRefs, hex, key, kstr, lstr, prefixEnd, refFromTail, refTail, tag, u64 } from './keys.js';

export interface EmbeddedConfig {
  /** directory of the database (created if missing) */
  path: string;
  /** spans per chunk when streaming a trace */
  maxSpansPerChunk?: number;
  /** attribute values longer than this are indexed by their hash */
  maxIndexedValueBytes?: number;
}

const EMPTY = Buffer.alloc(0);
const MAX_U64 = 0xffffffffffffffffn;
const LONG_VALUE_MARK = '\u0000sha1:';

interface StoredResource {
  resource: Resource;
  schemaUrl: string;
}
interface StoredScope {
  scope: Scope;
  schemaUrl: string;
}

const sha1 = (s: string): Buffer => createHash('sha1').update(s).digest().subarray(0, 8);
const contentHash = (b: Buffer): Buffer => createHash('sha1').update(b).digest().subarray(0, 8);

/** The value of a 'v' or 'p' entry: the whole name when its key holds only a hash of it. */
const fullName = (s: string): Buffer => (Buffer.byteLength(s) > MAX_KEY_STRING_BYTES ? Buffer.from(s, 'utf8') : EMPTY);

/** What one writeTraces call will commit, and the cache entries it may add once committed. */
interface PendingWrite {
  puts: [Database<Buffer, Buffer>, Buffer, Buffer][];
  resources: Map<string, StoredResource>;
  scopes: Map<string, StoredScope>;
  ops: Set<string>;
}

/**
 * The error for a failed commit. A full disk (ENOSPC, LMDB's map full, or an I/O error while the volume has no
 * room left) is ResourceExhausted, so the runtime refuses new spans instead of taking what it cannot keep.
 */
async function commitError(e: unknown, path: string): Promise<Error> {
  let msg = e instanceof Error ? e.message : String(e);
  // lmdb rejects with "Commit failed" and keeps the cause in a second promise, which must be observed too
  const cause = (e as { commitError?: unknown } | undefined)?.commitError;
  if (cause instanceof Promise) {
    msg = await cause.then(
      () => msg,
      (c: unknown) => `${msg}: ${c instanceof Error ? c.message : String(c)}`,
    );
  }
  let free: number | undefined;
  try {
    const st = await statfs(path);
    free = Number(st.bavail) * Number(st.bsize);
  } catch {
    // the volume may be gone: judge by the message alone
  }
  const full = /ENOSPC|No space left|MDB_MAP_FULL/i.test(msg) || (free !== undefined && free < 1024 * 1024 && /Input\/output error|EIO|Commit failed/i.test(msg));
  if (full) return new ResourceExhaustedError(`the embedded store's disk is full (${path}${free !== undefined ? `, ${free} bytes free` : ''}): free space or grow the volume; writes resume by themselves (${msg})`);
  return new UnavailableError(`the embedded store could not commit (${path}): ${msg}`);
}

function readLstr(b: Buffer, o: number): [string, number] {
  const n = b.readUInt16BE(o);
  return [b.toString('utf8', o + 2, o + 2 + n), o + 2 + n];
}

export class EmbeddedStore {
  private readonly root: RootDatabase;
  private readonly spans: Database<Buffer, Buffer>;
  private readonly index: Database<Buffer, Buffer>;
  private readonly meta: Database<Buffer, Buffer>;
  private readonly resources = new Map<string, StoredResource>();
  private readonly scopes = new Map<string, StoredScope>();
  private readonly chunkSize: number;
  private readonly maxValueBytes: number;
  private readonly known = new Set<string>(); // operations already recorded in meta
  private seq = 0n;
  private closed = false;

  constructor(readonly config: EmbeddedConfig) {
    if (!config.path) throw new InvalidArgumentError('embedded.path', 'is required');
    mkdirSync(config.path, { recursive: true });
    // eventTurnBatching off: lmdb's implicit per-event-turn batch leaves a promise nobody can observe, which rejects
    // unhandled when a commit fails (full disk). overlappingSync off: a commit resolves once it is on disk, so an
    // acknowledgement never waits on a second, separately failing flush promise.
    this.root = open({ path: config.path, maxDbs: 4, compression: false, eventTurnBatching: false, overlappingSync: false });
    const opts = { keyEncoding: 'binary' as const, encoding: 'binary' as const };
    this.spans = this.root.openDB<Buffer, Buffer>({ name: 'spans', ...opts });
    this.index = this.root.openDB<Buffer, Buffer>({ name: 'index', ...opts });
    this.meta = this.root.openDB<Buffer, Buffer>({ name: 'meta', ...opts });
    const last = this.meta.get(tag('q'));
    this.seq = last ? last.readBigUInt64BE(0) : 0n;
    this.chunkSize = config.maxSpansPerChunk ?? 1000;
    this.maxValueBytes = config.maxIndexedValueBytes ?? 512;
  }

  // ---- encoding ----

  private indexValue(v: string): string {
    return Buffer.byteLength(v) > this.maxValueBytes ? LONG_VALUE_MARK + sha1(v).toString('hex') : v;
  }

  /**
   * The (key, value) pairs a span is indexed under. Fewer than it can be searched by: error=false, span.status
   * unset, scope.version and `resource.`-prefixed keys have no entries of their own; queries on them drive on
   * the other criteria (or the plain key) and the per-span check decides.
   */
  private indexedPairs(v: SpanView): [string, string][] {
    const s = v.span;
    const out: [string, string][] = [['span.kind', SPAN_KIND_NAMES[s.kind] ?? ''], ['scope.name', v.scope.name]];
    if (s.status.code === StatusCode.Error) out.push(['error', 'true']);
    if (s.status.code !== StatusCode.Unset) out.push(['span.status', STATUS_NAMES[s.status.code].toLowerCase()]);
    const add = (attrs: readonly { key: string; value: unknown }[]) => {
      for (const a of attrs) out.push([a.key, attrToString(a.value as never)]);
    };
    add(s.attributes);
    add(v.scope.attributes);
    add(v.resource.attributes);
    for (const e of s.events) add(e.attributes);
    for (const l of s.links) add(l.attributes);
    return out;
  }

  /** The index entry that can drive a query on `key = value`, if there is one (see indexedPairs). */
  private queryPair(k: string, v: string): [string, string] | undefined {
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

  private indexKeys(v: SpanView): Buffer[] {
    const s = v.span;
    const ref = refTail({ start: s.startTimeUnixNano, traceId: s.traceId, spanId: s.spanId });
    const svc = kstr(v.service);
    const keys = [key(tag('S'), svc, ref), key(tag('O'), svc, kstr(s.name), ref), key(tag('T'), ref)];
    const seen = new Set<string>();
    for (const [k, val] of this.indexedPairs(v)) {
      const iv = this.indexValue(val);
      const id = `${k}\u0000${iv}`;
      if (seen.has(id)) continue;
      seen.add(id);
      keys.push(key(tag('A'), svc, kstr(k), lstr(iv), ref));
    }
    return keys;
  }

  private resourceId(r: Resource, schemaUrl: string, w: PendingWrite): string {
    const json = JSON.stringify({ a: encodeAttributes(r.attributes), d: r.droppedAttributesCount, u: schemaUrl });
    const id = sha1(json).toString('hex');
    if (!this.resources.has(id) && !w.resources.has(id)) {
      w.resources.set(id, { resource: r, schemaUrl });
      w.puts.push([this.meta, key(tag('r'), hex(id)), Buffer.from(json)]);
    }
    return id;
  }

  private scopeId(sc: Scope, schemaUrl: string, w: PendingWrite): string {
    const json = JSON.stringify({ n: sc.name, v: sc.version, a: encodeAttributes(sc.attributes), d: sc.droppedAttributesCount, u: schemaUrl });
    const id = sha1(json).toString('hex');
    if (!this.scopes.has(id) && !w.scopes.has(id)) {
      w.scopes.set(id, { scope: sc, schemaUrl });
      w.puts.push([this.meta, key(tag('c'), hex(id)), Buffer.from(json)]);
    }
    return id;
  }

  /**
   * Runs `fn` as one atomic unit: a child transaction of the next commit, rolled back whole if `fn` throws, and
   * acknowledged only once committed to disk. Commit failures become typed errors (a full disk says so).
   */
  private async commit(fn: () => void): Promise<void> {
    try {
      // with overlappingSync off (see the constructor), the commit resolves once it is synced to disk
      await this.root.childTransaction(fn);
    } catch (e) {
      throw await commitError(e, this.config.path);
    }
  }

  private loadResource(id: string): StoredResource {
    let r = this.resources.get(id);
    if (!r) {
      const raw = this.meta.get(key(tag('r'), hex(id)));
      const j = raw ? (JSON.parse(raw.toString()) as { a: unknown; d: number; u: string }) : { a: [], d: 0, u: '' };
      r = { resource: { attributes: decodeAttributes(j.a, 'resource.attributes'), droppedAttributesCount: j.d }, schemaUrl: j.u };
      this.resources.set(id, r);
    }
    return r;
  }

  private loadScope(id: string): StoredScope {
    let s = this.scopes.get(id);
    if (!s) {
      const raw = this.meta.get(key(tag('c'), hex(id)));
      const j = raw ? (JSON.parse(raw.toString()) as { n: string; v: string; a: unknown; d: number; u: string }) : { n: '', v: '', a: [], d: 0, u: '' };
      s = { scope: { name: j.n, version: j.v, attributes: decodeAttributes(j.a, 'scope.attributes'), droppedAttributesCount: j.d }, schemaUrl: j.u };
      this.scopes.set(id, s);
    }
    return s;
  }

  private decodeRecord(raw: Buffer): SpanView {
    const j = JSON.parse(raw.toString()) as { r: string; c: string; s: string; span: unknown };
    const r = this.loadResource(j.r);
    const c = this.loadScope(j.c);
    return { span: decodeSpan(j.span, 'span'), resource: r.resource, resourceSchemaUrl: r.schemaUrl, scope: c.scope, scopeSchemaUrl: c.schemaUrl, service: j.s };
  }

  // ---- writes ----

  async writeTraces(traces: ResourceSpans[], _ctx?: StorageContext): Promise<void> {
    validateBatch(traces);
    // everything is prepared and checked before the transaction, so nothing inside it can fail half-way; the
    // caches learn about new resources, scopes and operations only once they are committed
    const w: PendingWrite = { puts: [], resources: new Map(), scopes: new Map(), ops: new Set() };
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      const rid = this.resourceId(rs.resource, rs.schemaUrl, w);
      for (const ss of rs.scopeSpans) {
        const cid = this.scopeId(ss.scope, ss.schemaUrl, w);
        for (const span of ss.spans) {
          const view: SpanView = { span, resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, service };
          const record = Buffer.from(JSON.stringify({ r: rid, c: cid, s: service, span: encodeSpan(span) }));
          // keyed by a hash of the record: a span written again (a client retrying) lands on the same key
          w.puts.push([this.spans, key(hex(span.traceId), u64(span.startTimeUnixNano), hex(span.spanId), contentHash(record)), record]);
          for (const k of this.indexKeys(view)) w.puts.push([this.index, k, EMPTY]);
          const op = key(tag('p'), kstr(service), lstr(SPAN_KIND_NAMES[span.kind] ?? ''), kstr(span.name));
          const opId = op.toString('base64');
          if (!this.known.has(opId) && !w.ops.has(opId)) {
            w.ops.add(opId);
            w.puts.push([this.meta, key(tag('v'), kstr(service)), fullName(service)], [this.meta, op, fullName(span.name)]);
          }
        }
      }
    }
    for (const [, k] of w.puts) if (k.length > MAX_KEY_BYTES) throw new InvalidArgumentError('span', `yields a ${k.length}-byte index key, more than the embedded store's ${MAX_KEY_BYTES}`);
    await this.commit(() => {
      for (const [db, k, v] of w.puts) db.putSync(k, v);
    });
    for (const [id, r] of w.resources) this.resources.set(id, r);
    for (const [id, c] of w.scopes) this.scopes.set(id, c);
    for (const id of w.ops) this.known.add(id);
  }

  // ---- reads ----

  private traceSpans(traceId: string): SpanView[] {
    const p = hex(traceId);
    const out: SpanView[] = [];
    for (const { value } of this.spans.getRange({ start: p, end: prefixEnd(p) })) out.push(this.decodeRecord(value));
    return out;
  }

  private hasSpanIn(traceId: string, start?: bigint, end?: bigint): boolean {
    const p = hex(traceId);
    const lo = key(p, u64(start ?? 0n));
    const hi = prefixEnd(key(p, u64(end ?? MAX_U64)));
    for (const _ of this.spans.getKeys({ start: lo, end: hi, limit: 1 })) return true;
    return false;
  }

  async *getTraces(params: GetTraceParams[], _ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    const checked = checkGetTraceParams(params);
    const seen = new Set<string>();
    for (const p of checked) {
      if (seen.has(p.traceId)) continue;
      seen.add(p.traceId);
      if ((p.start !== undefined || p.end !== undefined) && !this.hasSpanIn(p.traceId, p.start, p.end)) continue;
      const spans = this.traceSpans(p.traceId);
      for (const c of chunkTrace(p.traceId, spans, this.chunkSize)) yield [c];
    }
  }

  async getServices(_ctx?: StorageContext): Promise<string[]> {
    const out: string[] = [];
    const p = tag('v');
    for (const { key: k, value } of this.meta.getRange({ start: p, end: prefixEnd(p) })) {
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
    for (const { key: k, value } of this.meta.getRange({ start: p, end: prefixEnd(p) })) {
      const [spanKind, o] = readLstr(k, p.length);
      const [name] = readLstr(k, o);
      if (!kind || kind === spanKind) out.push({ name: value.length ? value.toString('utf8') : name, spanKind });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.spanKind.localeCompare(b.spanKind));
  }

  /** Index entries under `prefix` whose start lies in [min, max], newest first. */
  private *stream(prefix: Buffer, min?: bigint, max?: bigint): Generator<SpanRef> {
    const hi = prefixEnd(key(prefix, u64(max ?? MAX_U64)));
    const lo = key(prefix, u64(min ?? 0n)); // exclusive, but every key at `min` is longer than `lo`, so included
    for (const k of this.index.getKeys({ start: hi, end: lo, reverse: true })) {
      if (k.length - prefix.length !== 32) continue; // defensive: a key of another shape under this prefix
      yield refFromTail(k);
    }
  }

  /** Merge-join of descending streams: yields refs present in every stream. */
  private *intersect(streams: Generator<SpanRef>[]): Generator<SpanRef> {
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

  private *matchingTraces(q: TraceQuery): Generator<string> {
    const cq = checkTraceQuery(q);
    const min = cq.startTimeMin;
    const max = cq.startTimeMax;
    let streams: Generator<SpanRef>[];
    if (cq.serviceName) {
      const svc = kstr(cq.serviceName);
      streams = [cq.operationName ? this.stream(key(tag('O'), svc, kstr(cq.operationName)), min, max) : this.stream(key(tag('S'), svc), min, max)];
      for (const [k, v] of cq.attributes) {
        const pair = this.queryPair(k, v);
        if (pair) streams.push(this.stream(key(tag('A'), svc, kstr(pair[0]), lstr(this.indexValue(pair[1]))), min, max));
      }
    } else {
      streams = [this.stream(tag('T'), min, max)];
    }
    const found = new Set<string>();
    for (const ref of streams.length === 1 ? streams[0]! : this.intersect(streams)) {
      if (found.has(ref.traceId)) continue;
      const p = key(hex(ref.traceId), u64(ref.start), hex(ref.spanId));
      let ok = false;
      for (const { value } of this.spans.getRange({ start: p, end: prefixEnd(p) })) {
        if (spanMatches(this.decodeRecord(value), cq)) {
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

  async *findTraceIds(q: TraceQuery, _ctx?: StorageContext): AsyncIterable<FoundTraceId[]> {
    const out = [...this.matchingTraces(q)].map((traceId) => ({ traceId }));
    if (out.length) yield out;
  }

  async *findTraces(q: TraceQuery, _ctx?: StorageContext): AsyncIterable<TraceChunk[]> {
    for (const id of [...this.matchingTraces(q)]) for (const c of chunkTrace(id, this.traceSpans(id), this.chunkSize)) yield [c];
  }

  // ---- dependencies ----

  async getDependencies(r: TimeRange, _ctx?: StorageContext): Promise<DependencyLink[]> {
    checkTimeRange(r);
    const totals = new DependencyTotals();
    const add = totals.add.bind(totals);
    const traces = new Set<string>();
    for (const ref of this.stream(tag('T'), r.start, r.end)) traces.add(ref.traceId);
    for (const id of traces) forEachDependency(this.traceSpans(id), (p, c) => add(p, c, 1));
    const g = tag('g');
    for (const { value } of this.meta.getRange({ start: key(g, u64(r.start)), end: prefixEnd(key(g, u64(r.end))) })) {
      for (const l of JSON.parse(value.toString()) as DependencyLink[]) add(l.parent, l.child, l.callCount, l.source);
    }
    return totals.list();
  }

  async writeDependencies(at: bigint, links: DependencyLink[], _ctx?: StorageContext): Promise<void> {
    checkDependencyLinks(links);
    this.seq++;
    const seq = this.seq;
    await this.commit(() => {
      this.meta.putSync(key(tag('g'), u64(at), u64(seq)), Buffer.from(JSON.stringify(links)));
      this.meta.putSync(tag('q'), u64(seq));
    });
  }

  // ---- sampling store and lock ----

  async insertThroughput(at: bigint, throughput: Throughput[]): Promise<void> {
    this.seq++;
    const seq = this.seq;
    await this.commit(() => {
      this.meta.putSync(key(tag('h'), u64(at), u64(seq)), Buffer.from(JSON.stringify(throughput)));
      this.meta.putSync(tag('q'), u64(seq));
    });
  }

  async getThroughput(r: TimeRange): Promise<(Throughput & { at: bigint })[]> {
    checkTimeRange(r);
    const h = tag('h');
    const out: (Throughput & { at: bigint })[] = [];
    for (const { key: k, value } of this.meta.getRange({ start: key(h, u64(r.start)), end: prefixEnd(key(h, u64(r.end))) })) {
      const at = k.readBigUInt64BE(1);
      for (const t of JSON.parse(value.toString()) as Throughput[]) out.push({ ...t, at });
    }
    return out;
  }

  async insertProbabilitiesAndQps(_hostname: string, at: bigint, probabilities: ServiceOperationValues): Promise<void> {
    await this.commit(() => this.meta.putSync(key(tag('b'), u64(at)), Buffer.from(JSON.stringify(probabilities))));
  }

  async getLatestProbabilities(): Promise<ServiceOperationValues> {
    const b = tag('b');
    for (const { value } of this.meta.getRange({ start: prefixEnd(b), end: b, reverse: true, limit: 1 })) return JSON.parse(value.toString()) as ServiceOperationValues;
    return {};
  }

  async acquire(resource: string, holder: string, ttlMs: number): Promise<boolean> {
    if (!holder) throw new InvalidArgumentError('holder', 'must not be empty');
    if (!(ttlMs > 0)) throw new InvalidArgumentError('ttlMs', `must be positive (got ${ttlMs})`);
    const k = key(tag('l'), lstr(resource));
    return this.root.transactionSync(() => {
      const now = Date.now();
      const raw = this.meta.get(k);
      const cur = raw ? (JSON.parse(raw.toString()) as { holder: string; expires: number }) : undefined;
      if (cur && cur.holder !== holder && cur.expires > now) return false;
      this.meta.putSync(k, Buffer.from(JSON.stringify({ holder, expires: now + ttlMs })));
      return true;
    });
  }

  async forfeit(resource: string, holder: string): Promise<boolean> {
    const k = key(tag('l'), lstr(resource));
    return this.root.transactionSync(() => {
      const raw = this.meta.get(k);
      const cur = raw ? (JSON.parse(raw.toString()) as { holder: string; expires: number }) : undefined;
      if (!cur || cur.holder !== holder || cur.expires <= Date.now()) return false;
      this.meta.removeSync(k);
      return true;
    });
  }

  // ---- retention and purge ----

  /**
   * Deletes spans that started before `cutoff` (ns), with their index entries, in transactions of `batch` spans.
   * Returns the number of span records deleted. Services and operations stay listed.
   */
  async sweep(cutoff: bigint, batch = 2000): Promise<number> {
    let deleted = 0;
    for (;;) {
      const refs: SpanRef[] = [];
      for (const k of this.index.getKeys({ start: tag('T'), end: key(tag('T'), u64(cutoff)), limit: batch })) refs.push(refFromTail(k));
      if (!refs.length) return deleted;
      let n = 0;
      await this.commit(() => {
        n = 0;
        for (const ref of refs) {
          const p = key(hex(ref.traceId), u64(ref.start), hex(ref.spanId));
          for (const { key: sk, value } of this.spans.getRange({ start: p, end: prefixEnd(p) })) {
            for (const ik of this.indexKeys(this.decodeRecord(value))) this.index.removeSync(ik);
            this.spans.removeSync(sk);
            n++;
          }
          this.index.removeSync(key(tag('T'), refTail(ref)));
        }
      });
      deleted += n;
    }
  }

  async purge(): Promise<void> {
    for (const db of [this.spans, this.index, this.meta]) await db.clearAsync();
    this.resources.clear();
    this.scopes.clear();
    this.known.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.close();
  }

  /** bytes used by the database files */
  diskBytes(): number {
    const s = this.root.getStats() as { pageSize?: number; treeBranchPageCount?: number; treeLeafPageCount?: number; overflowPages?: number; lastPageNumber?: number };
    return (s.lastPageNumber ?? 0) * (s.pageSize ?? 4096);
  }
}

export class EmbeddedBackend extends SingleStoreBackend<EmbeddedStore> {
  constructor(config: EmbeddedConfig) {
    super('embedded', new EmbeddedStore(config));
  }
}

