// What every narrow object of the embedded backend shares: one LMDB environment on local disk (our equivalent of
// Jaeger's Badger store) with its three databases, the caches of resources, scopes and operations already stored,
// the span record codec and index key derivation, and the commit that turns failures into typed errors.
//
// Why LMDB (npm `lmdb`): ACID transactions over a copy-on-write B+tree, so a committed batch survives kill -9 and
// the file needs no recovery on open (it reopens in milliseconds); ordered binary keys for range scans; readers
// never block the writer; the native build ships inside the npm package. Key layout: ./keys.ts.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { type Database, type RootDatabase, open } from 'lmdb';
import { InvalidArgumentError, type KeyValue, type Resource, ResourceExhaustedError, SPAN_KIND_NAMES, STATUS_NAMES, type Scope, StatusCode, StorageError, UnavailableError, attrToString, serviceOf } from '../api/index.js';
import { decodeAttributes } from '../../otlp/otlp-json.js';
import type { SpanView } from '../api/semantics.js';
import { FORMAT_VERSION, POSTING_TAIL, type SpanRef, bucketOf, compareRefs, groupBytes, hex, key, kstr, lstr, nameKey, postingsFrom, prefixEnd, readPostingTail, tag, u32, u64 } from './keys.js';
import { type SpanTable, corrupt, decodePosting, decodeSpanTable } from './posting.js';
import { Numbering } from './numbering.js';
import { DirLock } from './dirlock.js';
import { GroupCommitter } from './group.js';
import { type KeyDictionary, decodeRecord } from './record.js';

export interface EmbeddedConfig {
  /** directory of the database (created if missing) */
  path: string;
  /** spans per chunk when streaming a trace */
  maxSpansPerChunk?: number;
  /** attribute values longer than this are indexed by their hash */
  maxIndexedValueBytes?: number;
  /** estimated bytes of span tables kept in memory */
  maxCachedTableBytes?: number;
  /** names the string dictionary numbers; a new name once it holds this many is written whole */
  maxDictionaryKeys?: number;
  /** spans that started longer ago than this are deleted by maintain() (unset: kept until deleted otherwise) */
  retentionMs?: number;
}

export type Db = Database<Buffer, Buffer>;

export const EMPTY = Buffer.alloc(0);
export const MAX_U64 = 0xffffffffffffffffn;
const LONG_VALUE_MARK = '\u0000sha1:';
/** Resources and scopes (decoded, and numbers by hash) kept in memory, each kind: a store may hold any number of them */
const MAX_CACHED_NUMBERS = 100_000;
/** Bytes of span tables kept in memory for searches and sweeps, as tableCost estimates them */
const MAX_CACHED_TABLE_BYTES = 64 * 1024 * 1024;
/**
 * What a cached span table costs in memory: its arrays (12 bytes a ref, 16 a trace) and the objects around them,
 * which dominate for the small tables of groups of one small batch.
 */
const tableCost = (t: SpanTable): number => 700 + t.ids.length + t.starts.length * 12;

export interface StoredResource {
  resource: Resource;
  schemaUrl: string;
  service: string;
}

/** The refs (start(8) traceId(16)) of a batch's spans under one index term and time bucket. */
export interface Posting {
  t: string;
  bucket: number;
  parts: Buffer;
  refs: Buffer[];
}

interface ServicePostings {
  all: Posting;
  time: Posting;
  ops: Map<string, Posting>;
  attrs: Map<string, Map<string, Posting>>;
}

const addRef = (p: Posting, ref: Buffer): void => {
  if (p.refs[p.refs.length - 1] !== ref) p.refs.push(ref);
};

/** The postings of one batch, by bucket, service and term. */
export class Postings {
  private readonly buckets = new Map<number, { time: Posting; services: Map<string, ServicePostings> }>();

  service(bucket: number, svc: string, names: (s: string) => Buffer): ServicePostings {
    let b = this.buckets.get(bucket);
    if (!b) this.buckets.set(bucket, (b = { time: { t: 'T', bucket, parts: EMPTY, refs: [] }, services: new Map() }));
    let sp = b.services.get(svc);
    if (!sp) b.services.set(svc, (sp = { all: { t: 'S', bucket, parts: names(svc), refs: [] }, time: b.time, ops: new Map(), attrs: new Map() }));
    return sp;
  }

  *all(): Generator<Posting> {
    for (const b of this.buckets.values()) {
      yield b.time;
      for (const sp of b.services.values()) {
        yield sp.all;
        yield* sp.ops.values();
        for (const m of sp.attrs.values()) yield* m.values();
      }
    }
  }
}

/** Merges two lists of refs, each newest first, into one (a ref in both once). */
function mergeRefs(a: SpanRef[], b: SpanRef[]): SpanRef[] {
  const out: SpanRef[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const c = compareRefs(a[i]!, b[j]!);
    if (c > 0) out.push(a[i++]!);
    else if (c < 0) out.push(b[j++]!);
    else {
      out.push(a[i++]!);
      j++;
    }
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}
export interface StoredScope {
  scope: Scope;
  schemaUrl: string;
}

export const sha1 = (s: string): Buffer => createHash('sha1').update(s).digest().subarray(0, 8);

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

export class EmbeddedDb {
  readonly root: RootDatabase;
  readonly spans: Db;
  readonly index: Db;
  readonly meta: Db;
  /** resources and scopes read or written, by number */
  readonly resources = new Map<number, StoredResource>();
  readonly scopes = new Map<number, StoredScope>();
  /** the numbers of resources and scopes, by content hash (see ./numbering.ts); the writer looks up the others in meta */
  readonly resourceNumbers = new Numbering(MAX_CACHED_NUMBERS);
  readonly scopeNumbers = new Numbering(MAX_CACHED_NUMBERS);
  /** operations already recorded in meta */
  readonly knownOperations = new Set<string>();
  /**
   * The string dictionary of span records' attribute keys and index keys' names (see ./record.ts, ./keys.ts):
   * numbers by string, and strings by number. Every string holds one number for good.
   */
  readonly keyNumbers = new Numbering();
  private readonly keyNames = new Map<number, string>();
  /** the dictionary, for reading records */
  readonly keys: KeyDictionary = { idOf: () => 0, keyOf: (id) => this.keyOf(id) };
  readonly chunkSize: number;
  private readonly maxValueBytes: number;
  private seq = 0n;
  /** sequence numbers handed out whose commits have not ended */
  private readonly unsettled = new Set<bigint>();
  private closed = false;
  /** the commit queue of span batches (see ./group.ts), which purges and close go through too */
  readonly groups: GroupCommitter = new GroupCommitter(this);
  /** this process's hold on the directory (see ./dirlock.ts) */
  private readonly dirLock: DirLock;
  /** span tables read ('G' entries, see ./keys.ts), by bucket and group; they never change once written */
  private readonly tables = new Map<string, SpanTable>();
  private tableBytes = 0;
  private readonly maxTableBytes: number;

  constructor(readonly config: EmbeddedConfig) {
    if (!config.path) throw new InvalidArgumentError('embedded.path', 'is required');
    mkdirSync(config.path, { recursive: true });
    this.dirLock = DirLock.take(config.path);
    try {
      this.root = this.openRoot();
    } catch (e) {
      this.dirLock.release();
      throw e;
    }
    const opts = { keyEncoding: 'binary' as const, encoding: 'binary' as const };
    this.spans = this.root.openDB<Buffer, Buffer>({ name: 'spans', ...opts });
    this.index = this.root.openDB<Buffer, Buffer>({ name: 'index', ...opts });
    this.meta = this.root.openDB<Buffer, Buffer>({ name: 'meta', ...opts });
    try {
      this.checkFormat();
    } catch (e) {
      this.root.close().catch(() => undefined);
      this.dirLock.release();
      throw e;
    }
    for (const { key: k, value } of this.meta.getRange({ start: tag('k'), end: prefixEnd(tag('k')) })) this.learnKey(value.toString('utf8'), k.readUInt32BE(1));
    for (const [t, nums] of [['R', this.resourceNumbers], ['C', this.scopeNumbers]] as const) {
      for (const k of this.meta.getKeys({ start: prefixEnd(tag(t)), end: tag(t), reverse: true, limit: 1 })) if (k.length === 5) nums.reserve(k.readUInt32BE(1));
    }
    const last = this.meta.get(tag('q'));
    this.seq = last ? last.readBigUInt64BE(0) : 0n;
    this.chunkSize = config.maxSpansPerChunk ?? 1000;
    this.maxValueBytes = config.maxIndexedValueBytes ?? 512;
    this.maxTableBytes = config.maxCachedTableBytes ?? MAX_CACHED_TABLE_BYTES;
  }

  private openRoot(): RootDatabase {
    // eventTurnBatching off: lmdb's implicit per-event-turn batch leaves a promise nobody can observe, which rejects
    // unhandled when a commit fails (full disk). overlappingSync off: a commit resolves once it is on disk, so an
    // acknowledgement never waits on a second, separately failing flush promise. noMemInit: pages are not zeroed
    // before use (less work per write; the file is private to the runtime).
    return open({ path: this.config.path, maxDbs: 4, compression: false, eventTurnBatching: false, overlappingSync: false, noMemInit: true });
  }

  /**
   * Records the format version in a new store (or one holding nothing but another version's mark), and refuses a
   * store written in another layout: reading it as this one would return wrong results rather than fail.
   */
  private checkFormat(): void {
    const V = tag('V');
    const v = this.meta.get(V);
    if (v?.length === 4 && v.readUInt32BE(0) === FORMAT_VERSION) return;
    const used = [this.spans, this.index, this.meta].some((d) => {
      for (const k of d.getKeys({ limit: 2 })) if (d !== this.meta || !k.equals(V)) return true;
      return false;
    });
    if (used) {
      const dir = this.config.path;
      const found = v?.length === 4 ? v.readUInt32BE(0) : undefined;
      if (found !== undefined && found > FORMAT_VERSION) {
        throw new StorageError('Internal', `the embedded store in ${dir} was written in format ${found}, and this runtime reads format ${FORMAT_VERSION}: this runtime is older than the store: run a runtime that reads format ${found}`);
      }
      throw new StorageError(
        'Internal',
        `the embedded store in ${dir} was written in ${found !== undefined ? `format ${found}` : 'an older format without a version'}; this runtime reads format ${FORMAT_VERSION}. Its data cannot be read: move or delete ${dir} (or point dataDir at an empty directory) and start again`,
      );
    }
    this.writeFormat();
  }

  /** Marks the store as written in this format (on creation, and after a purge cleared it). */
  writeFormat(): void {
    this.meta.putSync(tag('V'), u32(FORMAT_VERSION));
  }

  /** Records that key number `id` stands for `name` (once committed, or read from the store). */
  learnKey(name: string, id: number): void {
    this.keyNumbers.learn(name, id);
    this.keyNames.set(id, name);
  }

  private keyOf(id: number): string {
    let name = this.keyNames.get(id);
    if (name === undefined) {
      // committed by a batch whose writer has not recorded it yet
      const raw = this.meta.get(key(tag('k'), u32(id)));
      if (!raw) throw new StorageError('Internal', `the embedded store (${this.config.path}) lacks dictionary entry #${id} that a span record names`);
      name = raw.toString('utf8');
      this.keyNames.set(id, name);
    }
    return name;
  }

  /**
   * The next write sequence number; recorded under 'q' (recordSeq) by the commit that uses it, which reports its end
   * (committed or failed) through settle.
   */
  nextSeq(): bigint {
    const s = ++this.seq;
    this.unsettled.add(s);
    return s;
  }

  /** Records that the commit that took `seq` ended, committed or failed. */
  settle(seq: bigint): void {
    this.unsettled.delete(seq);
  }

  /** The highest sequence number at and below which every commit has ended: no group of that number or lower can still appear. */
  settledSeq(): bigint {
    let s = this.seq;
    for (const u of this.unsettled) if (u - 1n < s) s = u - 1n;
    return s;
  }

  /** Commits `fn` under a new sequence number, recorded with it (see nextSeq). */
  async commitNumbered(fn: (seq: bigint) => void): Promise<void> {
    const seq = this.nextSeq();
    try {
      await this.commit(() => {
        fn(seq);
        this.recordSeq(seq);
      });
    } finally {
      this.settle(seq);
    }
  }

  /**
   * Records `seq` as used, inside a commit. Never lowers the record, whatever order commits land in: a reopened
   * store must not hand out a number again (a group's number keys its span tables).
   */
  recordSeq(seq: bigint): void {
    const q = this.meta.get(tag('q'));
    if (!q || q.length !== 8 || q.readBigUInt64BE(0) < seq) this.meta.putSync(tag('q'), u64(seq));
  }

  /**
   * Runs `fn` as one atomic unit: a child transaction of the next commit, rolled back whole if `fn` throws, and
   * acknowledged only once committed to disk. Commit failures become typed errors (a full disk says so).
   */
  async commit(fn: () => void): Promise<void> {
    try {
      // with overlappingSync off (see the constructor), the commit resolves once it is synced to disk
      await this.root.childTransaction(fn);
    } catch (e) {
      throw await commitError(e, this.config.path);
    }
  }

  // ---- index keys ----

  /** How index keys name `s` (a service or attribute key): by its dictionary number once it has one. */
  nameKey(s: string): Buffer {
    return nameKey(s, this.keyNumbers.get(s));
  }

  indexValue(v: string): string {
    return Buffer.byteLength(v) > this.maxValueBytes ? LONG_VALUE_MARK + sha1(v).toString('hex') : v;
  }

  /**
   * Adds a span's ref to the batch's postings of every term it is indexed under: service, service + operation, time,
   * and service + attribute for fewer attributes than it can be searched by: error=false, span.status unset,
   * scope.version and `resource.`-prefixed keys have no postings of their own; queries on them drive on the other
   * criteria (or the plain key) and the per-span check decides (see the reader's queryPair).
   */
  addToPostings(postings: Postings, v: SpanView, ref: Buffer, names: (s: string) => Buffer): void {
    const s = v.span;
    const sp = postings.service(bucketOf(s.startTimeUnixNano), v.service, names);
    addRef(sp.all, ref);
    addRef(sp.time, ref);
    let op = sp.ops.get(s.name);
    if (!op) sp.ops.set(s.name, (op = { t: 'O', bucket: sp.all.bucket, parts: key(sp.all.parts, kstr(s.name)), refs: [] }));
    addRef(op, ref);
    const add = (k: string, val: string) => {
      const iv = this.indexValue(val);
      let byValue = sp.attrs.get(k);
      if (!byValue) sp.attrs.set(k, (byValue = new Map()));
      let p = byValue.get(iv);
      if (!p) byValue.set(iv, (p = { t: 'A', bucket: sp.all.bucket, parts: key(sp.all.parts, names(k), lstr(iv)), refs: [] }));
      addRef(p, ref); // a pair listed twice (say by the span and its resource) is one ref
    };
    const addAll = (attrs: readonly KeyValue[]) => {
      for (const a of attrs) add(a.key, attrToString(a.value));
    };
    add('span.kind', SPAN_KIND_NAMES[s.kind] ?? '');
    add('scope.name', v.scope.name);
    if (s.status.code === StatusCode.Error) add('error', 'true');
    if (s.status.code !== StatusCode.Unset) add('span.status', STATUS_NAMES[s.status.code].toLowerCase());
    addAll(s.attributes);
    addAll(v.scope.attributes);
    addAll(v.resource.attributes);
    for (const e of s.events) addAll(e.attributes);
    for (const l of s.links) addAll(l.attributes);
  }

  // ---- span records ----

  private loadResource(n: number): StoredResource {
    let r = this.resources.get(n);
    if (!r) {
      const raw = this.meta.get(key(tag('R'), u32(n)));
      const j = raw ? (JSON.parse(raw.toString()) as { a: unknown; d: number; u: string }) : { a: [], d: 0, u: '' };
      const resource = { attributes: decodeAttributes(j.a, 'resource.attributes'), droppedAttributesCount: j.d };
      r = { resource, schemaUrl: j.u, service: serviceOf(resource) };
      if (this.resources.size >= MAX_CACHED_NUMBERS) this.resources.clear();
      this.resources.set(n, r);
    }
    return r;
  }

  private loadScope(n: number): StoredScope {
    let s = this.scopes.get(n);
    if (!s) {
      const raw = this.meta.get(key(tag('C'), u32(n)));
      const j = raw ? (JSON.parse(raw.toString()) as { n: string; v: string; a: unknown; d: number; u: string }) : { n: '', v: '', a: [], d: 0, u: '' };
      s = { scope: { name: j.n, version: j.v, attributes: decodeAttributes(j.a, 'scope.attributes'), droppedAttributesCount: j.d }, schemaUrl: j.u };
      if (this.scopes.size >= MAX_CACHED_NUMBERS) this.scopes.clear();
      this.scopes.set(n, s);
    }
    return s;
  }

  /** The span stored under `k` (a key of the spans database) as `raw`. */
  decodeRecord(k: Buffer, raw: Buffer): SpanView {
    const d = decodeRecord(k, raw, this.keys);
    const r = this.loadResource(d.resource);
    const c = this.loadScope(d.scope);
    return { span: d.span, resource: r.resource, resourceSchemaUrl: r.schemaUrl, scope: c.scope, scopeSchemaUrl: c.schemaUrl, service: r.service };
  }

  /** Every span of a trace, in key order (start time). */
  traceSpans(traceId: string): SpanView[] {
    const p = hex(traceId);
    const out: SpanView[] = [];
    for (const { key: k, value } of this.spans.getRange({ start: p, end: prefixEnd(p) })) out.push(this.decodeRecord(k, value));
    return out;
  }

  /**
   * The time buckets holding spans within [min, max], newest first: the 'T' postings say which exist, so a wide
   * window skips the empty hours in one seek each.
   */
  private *buckets(min: bigint, max: bigint): Generator<number> {
    const floor = bucketOf(min);
    const T = tag('T');
    for (let b = bucketOf(max); b >= floor; ) {
      let found: number | undefined;
      for (const k of this.index.getKeys({ start: prefixEnd(key(T, u32(b))), end: T, reverse: true, limit: 1 })) found = k.readUInt32BE(1);
      if (found === undefined || found < floor) return;
      yield found;
      b = found - 1;
    }
  }

  /** The span table of group `group` in bucket `bucket`, whose places its postings name. */
  spanTable(bucket: number, group: bigint): SpanTable {
    const id = `${bucket}:${group}`;
    let t = this.tables.get(id);
    if (!t) {
      const raw = this.index.get(key(tag('G'), u32(bucket), groupBytes(group)));
      if (!raw) throw corrupt(`no span table for group ${group} in hour ${bucket}, which a posting names`);
      t = decodeSpanTable(raw);
      const cost = tableCost(t);
      if (this.tableBytes + cost > this.maxTableBytes) {
        this.tables.clear();
        this.tableBytes = 0;
      }
      if (cost <= this.maxTableBytes) {
        this.tables.set(id, t);
        this.tableBytes += cost;
      }
    }
    return t;
  }

  /**
   * The refs under one index term (`t` and its `parts`, see ./keys.ts) whose start lies in [min, max], newest
   * first. Postings come in order of their newest ref, and may overlap: a ref is released once no posting still to
   * be read can hold a newer one.
   */
  *stream(t: string, parts: Buffer, min = 0n, max = MAX_U64): Generator<SpanRef> {
    for (const b of this.buckets(min, max)) {
      const p = key(tag(t), u32(b), parts);
      let pending: SpanRef[] = [];
      // exclusive, but every key whose newest start is min is longer than the bound, so included
      for (const { key: k, value } of this.index.getRange({ start: prefixEnd(p), end: postingsFrom(p, b, min), reverse: true })) {
        if (k.length !== p.length + POSTING_TAIL) continue; // defensive: a key of another shape under this prefix
        const { newest, group } = readPostingTail(k, p.length, b);
        let i = 0;
        while (i < pending.length && pending[i]!.start > newest) yield pending[i++]!;
        if (i) pending = pending.slice(i);
        const table = this.spanTable(b, group);
        const fresh: SpanRef[] = [];
        for (const place of decodePosting(value)) {
          if (place >= table.starts.length) throw corrupt(`a posting names place ${place} of a span table of ${table.starts.length}`);
          const start = table.starts[place]!;
          if (start > max) continue;
          if (start < min) break;
          const at = table.traces[place]! * 16;
          fresh.push({ start, traceId: table.ids.toString('hex', at, at + 16) });
        }
        pending = pending.length ? mergeRefs(pending, fresh) : fresh;
      }
      yield* pending;
    }
  }

  /** The estimated bytes of the span tables cached. */
  get cachedTableBytes(): number {
    return this.tableBytes;
  }

  /** Forgets what the caches know (after the databases were cleared). */
  forget(): void {
    this.resources.clear();
    this.scopes.clear();
    this.resourceNumbers.forget();
    this.scopeNumbers.forget();
    this.knownOperations.clear();
    this.keyNumbers.forget();
    this.keyNames.clear();
    this.tables.clear();
    this.tableBytes = 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      // batches already queued commit first; later ones are refused
      await this.groups.close(`the embedded store (${this.config.path}) is closing: the batch was not written`);
      await this.root.close();
    } finally {
      this.dirLock.release();
    }
  }

  /** bytes used by the database files */
  diskBytes(): number {
    const s = this.root.getStats() as { pageSize?: number; lastPageNumber?: number };
    return (s.lastPageNumber ?? 0) * (s.pageSize ?? 4096);
  }
}
