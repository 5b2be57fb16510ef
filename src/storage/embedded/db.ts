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
import { InvalidArgumentError, type Resource, ResourceExhaustedError, SPAN_KIND_NAMES, STATUS_NAMES, type Scope, StatusCode, UnavailableError, attrToString } from '../api/index.js';
import { decodeAttributes, decodeSpan } from '../../otlp/otlp-json.js';
import type { SpanView } from '../api/semantics.js';
import { type SpanRef, hex, key, kstr, lstr, prefixEnd, refFromTail, refTail, tag, u64 } from './keys.js';

export interface EmbeddedConfig {
  /** directory of the database (created if missing) */
  path: string;
  /** spans per chunk when streaming a trace */
  maxSpansPerChunk?: number;
  /** attribute values longer than this are indexed by their hash */
  maxIndexedValueBytes?: number;
}

export type Db = Database<Buffer, Buffer>;

export const EMPTY = Buffer.alloc(0);
export const MAX_U64 = 0xffffffffffffffffn;
const LONG_VALUE_MARK = '\u0000sha1:';

export interface StoredResource {
  resource: Resource;
  schemaUrl: string;
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
  /** resources and scopes known to be stored, by content hash (filled by commits and reads) */
  readonly resources = new Map<string, StoredResource>();
  readonly scopes = new Map<string, StoredScope>();
  /** operations already recorded in meta */
  readonly knownOperations = new Set<string>();
  readonly chunkSize: number;
  private readonly maxValueBytes: number;
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

  /** The next write sequence number; recorded under 'q' by the commit that uses it. */
  nextSeq(): bigint {
    return ++this.seq;
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

  indexValue(v: string): string {
    return Buffer.byteLength(v) > this.maxValueBytes ? LONG_VALUE_MARK + sha1(v).toString('hex') : v;
  }

  /**
   * The (key, value) pairs a span is indexed under. Fewer than it can be searched by: error=false, span.status
   * unset, scope.version and `resource.`-prefixed keys have no entries of their own; queries on them drive on
   * the other criteria (or the plain key) and the per-span check decides (see the reader's queryPair).
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

  /** Every index key of a span (written with it, removed with it). */
  indexKeys(v: SpanView): Buffer[] {
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

  // ---- span records ----

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

  decodeRecord(raw: Buffer): SpanView {
    const j = JSON.parse(raw.toString()) as { r: string; c: string; s: string; span: unknown };
    const r = this.loadResource(j.r);
    const c = this.loadScope(j.c);
    return { span: decodeSpan(j.span, 'span'), resource: r.resource, resourceSchemaUrl: r.schemaUrl, scope: c.scope, scopeSchemaUrl: c.schemaUrl, service: j.s };
  }

  /** Every span of a trace, in key order (start time). */
  traceSpans(traceId: string): SpanView[] {
    const p = hex(traceId);
    const out: SpanView[] = [];
    for (const { value } of this.spans.getRange({ start: p, end: prefixEnd(p) })) out.push(this.decodeRecord(value));
    return out;
  }

  /** Index entries under `prefix` whose start lies in [min, max], newest first. */
  *stream(prefix: Buffer, min?: bigint, max?: bigint): Generator<SpanRef> {
    const hi = prefixEnd(key(prefix, u64(max ?? MAX_U64)));
    const lo = key(prefix, u64(min ?? 0n)); // exclusive, but every key at `min` is longer than `lo`, so included
    for (const k of this.index.getKeys({ start: hi, end: lo, reverse: true })) {
      if (k.length - prefix.length !== 32) continue; // defensive: a key of another shape under this prefix
      yield refFromTail(k);
    }
  }

  /** Forgets what the caches know (after the databases were cleared). */
  forget(): void {
    this.resources.clear();
    this.scopes.clear();
    this.knownOperations.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.close();
  }

  /** bytes used by the database files */
  diskBytes(): number {
    const s = this.root.getStats() as { pageSize?: number; lastPageNumber?: number };
    return (s.lastPageNumber ?? 0) * (s.pageSize ?? 4096);
  }
}
