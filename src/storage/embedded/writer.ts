// The embedded backend's trace writer. A batch is prepared and checked whole, written in one transaction (with the
// batches that arrive while the one before commits, see ./group.ts), and acknowledged only after it committed. Each
// span is one record keyed by trace, start, span ID and a hash of the record (a span written again lands on the same
// key); its refs go into the postings of every index term it falls under (see ./keys.ts).
import { InvalidArgumentError, type ResourceSpans, SPAN_KIND_NAMES, type StorageContext, type TraceWriter, serviceOf } from '../api/index.js';
import { encodeAttributes } from '../../otlp/otlp-json.js';
import { type SpanView, validateBatch } from '../api/semantics.js';
import { type Db, EMPTY, type EmbeddedDb, Postings, sha1 } from './db.js';
import type { Numbering } from './numbering.js';
import { MAX_KEY_BYTES, MAX_KEY_STRING_BYTES, POSTING_TAIL, REF_BYTES, key, kstr, lstr, nameKey, tag, u32, u64 } from './keys.js';
import { type KeyDictionary, contentHash, encodeRecord } from './record.js';

/** The value of a 'v' or 'p' entry: the whole name when its key holds only a hash of it. */
const fullName = (s: string): Buffer => (Buffer.byteLength(s) > MAX_KEY_STRING_BYTES ? Buffer.from(s, 'utf8') : EMPTY);

/** What one writeTraces call will commit, and the cache entries it may add once committed. */
interface PendingWrite {
  puts: [Db, Buffer, Buffer][];
  /** resources and scopes this batch stores (their numbers were not committed), by tag and hash */
  numbered: Map<string, [Numbering, string, number]>;
  ops: Set<string>;
  keys: Map<string, number>;
}

/** Keys longer than this, or new once the dictionary holds this many, are written whole in each record. */
const MAX_DICTIONARY_KEY_BYTES = 256;
export const MAX_DICTIONARY_KEYS = 100_000;

export class EmbeddedTraceWriter implements TraceWriter {
  private readonly spans: Db;
  private readonly meta: Db;

  constructor(private readonly db: EmbeddedDb) {
    this.spans = db.spans;
    this.meta = db.meta;
  }

  /**
   * The number of a resource or scope, given as its JSON, in `nums`: stored under `byHash` (content hash -> number)
   * and `byNumber` (number -> JSON). A batch that uses a number not yet stored writes both entries.
   */
  private numberOf(json: string, nums: Numbering, byHash: string, byNumber: string, w: PendingWrite): number {
    const h = sha1(json);
    const id = h.toString('hex');
    let n = nums.get(id);
    if (n === undefined) {
      // stored by an earlier run
      const stored = this.meta.get(key(tag(byHash), h));
      if (stored?.length === 4) {
        n = stored.readUInt32BE(0);
        nums.learn(id, n);
        return n;
      }
      n = nums.take(id);
    }
    if (!nums.isCommitted(id) && !w.numbered.has(byHash + id)) {
      w.numbered.set(byHash + id, [nums, id, n]);
      nums.use(id);
      w.puts.push([this.meta, key(tag(byHash), h), u32(n)], [this.meta, key(tag(byNumber), u32(n)), Buffer.from(json)]);
    }
    return n;
  }

  async writeTraces(traces: ResourceSpans[], _ctx?: StorageContext): Promise<void> {
    validateBatch(traces);
    const db = this.db;
    // the store is being purged: prepare against what it holds afterwards
    for (let p = db.groups.paused; p; p = db.groups.paused) await p;
    const known = db.knownOperations;
    // everything is prepared and checked before the transaction, so nothing inside it can fail half-way; the
    // caches learn about new resources, scopes and operations only once they are committed
    const w: PendingWrite = { puts: [], numbered: new Map(), ops: new Set(), keys: new Map() };
    try {
      await this.write(traces, w);
    } catch (e) {
      // the numbers this batch took and nobody stored are free again
      for (const [nums, id, n] of w.numbered.values()) nums.release(id, n);
      for (const [k, id] of w.keys) db.keyNumbers.release(k, id);
      throw e;
    }
    for (const [nums, id, n] of w.numbered.values()) nums.learn(id, n);
    for (const id of w.ops) known.add(id);
    for (const [k, id] of w.keys) db.learnKey(k, id);
  }

  private async write(traces: ResourceSpans[], w: PendingWrite): Promise<void> {
    const db = this.db;
    const known = db.knownOperations;
    const maxKeys = db.config.maxDictionaryKeys ?? MAX_DICTIONARY_KEYS;
    const dict: KeyDictionary = {
      idOf: (k) => {
        const nums = db.keyNumbers;
        let id = nums.get(k);
        if (id === undefined) {
          if (k.length > MAX_DICTIONARY_KEY_BYTES / 3 && Buffer.byteLength(k) > MAX_DICTIONARY_KEY_BYTES) return 0;
          // only stored numbers count, as after a restart: a name without a number once the dictionary is full
          // never gets one (stored numbers only grow), so it is indexed by string for good
          if (nums.committedSize >= maxKeys) return 0;
          id = nums.take(k);
        }
        // not stored yet: this batch writes the entry too, in case the batch that took the number fails
        if (!nums.isCommitted(k) && !w.keys.has(k)) {
          w.keys.set(k, id);
          nums.use(k);
          w.puts.push([this.meta, key(tag('k'), u32(id)), Buffer.from(k, 'utf8')]);
        }
        return id + 1;
      },
      keyOf: () => '',
    };
    const names = (s: string): Buffer => {
      const id = dict.idOf(s);
      return nameKey(s, id ? id - 1 : undefined);
    };
    const postings = new Postings();
    let spans = 0;
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      const rjson = JSON.stringify({ a: encodeAttributes(rs.resource.attributes), d: rs.resource.droppedAttributesCount, u: rs.schemaUrl });
      const rid = this.numberOf(rjson, db.resourceNumbers, 'r', 'R', w);
      for (const ss of rs.scopeSpans) {
        const sc = ss.scope;
        const cjson = JSON.stringify({ n: sc.name, v: sc.version, a: encodeAttributes(sc.attributes), d: sc.droppedAttributesCount, u: ss.schemaUrl });
        const cid = this.numberOf(cjson, db.scopeNumbers, 'c', 'C', w);
        spans += ss.spans.length;
        for (const span of ss.spans) {
          const view: SpanView = { span, resource: rs.resource, resourceSchemaUrl: rs.schemaUrl, scope: ss.scope, scopeSchemaUrl: ss.schemaUrl, service };
          const record = encodeRecord(rid, cid, span, dict);
          const ref = Buffer.allocUnsafe(REF_BYTES); // start traceId
          u64(span.startTimeUnixNano).copy(ref, 0);
          ref.write(span.traceId, 8, 16, 'hex');
          // keyed by a hash of the record: a span written again (a client retrying) lands on the same key
          const sk = Buffer.allocUnsafe(40); // traceId start spanId hash
          ref.copy(sk, 0, 8, 24);
          ref.copy(sk, 16, 0, 8);
          sk.write(span.spanId, 24, 8, 'hex');
          contentHash(record).copy(sk, 32);
          w.puts.push([this.spans, sk, record]);
          db.addToPostings(postings, view, ref, names);
          const opId = `${service.length}:${service}${span.kind}:${span.name}`;
          if (!known.has(opId) && !w.ops.has(opId)) {
            w.ops.add(opId);
            const op = key(tag('p'), kstr(service), lstr(SPAN_KIND_NAMES[span.kind] ?? ''), kstr(span.name));
            w.puts.push([this.meta, key(tag('v'), kstr(service)), fullName(service)], [this.meta, op, fullName(span.name)]);
          }
        }
      }
    }
    const all = [...postings.all()];
    // checked before the batch joins a commit, so a bad batch fails alone and nothing of it is written
    for (const [, k] of w.puts) if (k.length > MAX_KEY_BYTES) throw new InvalidArgumentError('span', `yields a ${k.length}-byte index key, more than the embedded store's ${MAX_KEY_BYTES}`);
    for (const p of all) {
      const n = 5 + p.parts.length + POSTING_TAIL;
      if (n > MAX_KEY_BYTES) throw new InvalidArgumentError('span', `yields a ${n}-byte index key, more than the embedded store's ${MAX_KEY_BYTES}`);
    }
    await db.groups.write({ puts: w.puts, postings: all, spans });
  }
}
