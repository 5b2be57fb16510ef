// The embedded backend's trace writer. A batch is prepared and checked whole, written in one transaction (with the
// batches that arrive while the one before commits, see ./group.ts), and acknowledged only after it committed. Each
// span is one record keyed by trace, start, span ID and a hash of the record (a span written again lands on the same
// key); its refs go into the postings of every index term it falls under (see ./keys.ts).
import { InvalidArgumentError, type Resource, type ResourceSpans, SPAN_KIND_NAMES, type Scope, type StorageContext, type TraceWriter, serviceOf } from '../api/index.js';
import { encodeAttributes } from '../../otlp/otlp-json.js';
import { type SpanView, validateBatch } from '../api/semantics.js';
import { type Db, EMPTY, type EmbeddedDb, Postings, type StoredResource, type StoredScope, sha1 } from './db.js';
import { GroupCommitter } from './group.js';
import { MAX_KEY_BYTES, MAX_KEY_STRING_BYTES, POSTING_TAIL, REF_BYTES, hex, key, kstr, lstr, nameKey, tag, u32, u64 } from './keys.js';
import { type KeyDictionary, contentHash, encodeRecord } from './record.js';

/** The value of a 'v' or 'p' entry: the whole name when its key holds only a hash of it. */
const fullName = (s: string): Buffer => (Buffer.byteLength(s) > MAX_KEY_STRING_BYTES ? Buffer.from(s, 'utf8') : EMPTY);

/** What one writeTraces call will commit, and the cache entries it may add once committed. */
interface PendingWrite {
  puts: [Db, Buffer, Buffer][];
  resources: Map<string, StoredResource>;
  scopes: Map<string, StoredScope>;
  ops: Set<string>;
  keys: Map<string, number>;
}

/** Keys longer than this, or past this many in the dictionary, are written whole in each record. */
const MAX_DICTIONARY_KEY_BYTES = 256;
const MAX_DICTIONARY_KEYS = 100_000;

export class EmbeddedTraceWriter implements TraceWriter {
  private readonly spans: Db;
  private readonly meta: Db;
  private readonly committer: GroupCommitter;

  constructor(private readonly db: EmbeddedDb) {
    this.spans = db.spans;
    this.meta = db.meta;
    this.committer = new GroupCommitter(db);
  }

  private resourceId(r: Resource, schemaUrl: string, w: PendingWrite): string {
    const json = JSON.stringify({ a: encodeAttributes(r.attributes), d: r.droppedAttributesCount, u: schemaUrl });
    const id = sha1(json).toString('hex');
    if (!this.db.resources.has(id) && !w.resources.has(id)) {
      w.resources.set(id, { resource: r, schemaUrl, service: serviceOf(r) });
      w.puts.push([this.meta, key(tag('r'), hex(id)), Buffer.from(json)]);
    }
    return id;
  }

  private scopeId(sc: Scope, schemaUrl: string, w: PendingWrite): string {
    const json = JSON.stringify({ n: sc.name, v: sc.version, a: encodeAttributes(sc.attributes), d: sc.droppedAttributesCount, u: schemaUrl });
    const id = sha1(json).toString('hex');
    if (!this.db.scopes.has(id) && !w.scopes.has(id)) {
      w.scopes.set(id, { scope: sc, schemaUrl });
      w.puts.push([this.meta, key(tag('c'), hex(id)), Buffer.from(json)]);
    }
    return id;
  }

  async writeTraces(traces: ResourceSpans[], _ctx?: StorageContext): Promise<void> {
    validateBatch(traces);
    const db = this.db;
    const known = db.knownOperations;
    // everything is prepared and checked before the transaction, so nothing inside it can fail half-way; the
    // caches learn about new resources, scopes and operations only once they are committed
    const w: PendingWrite = { puts: [], resources: new Map(), scopes: new Map(), ops: new Set(), keys: new Map() };
    const dict: KeyDictionary = {
      idOf: (k) => {
        let id = db.keyIds.get(k);
        if (id === undefined) {
          id = db.pendingKeys.get(k);
          if (id === undefined) {
            if (k.length > MAX_DICTIONARY_KEY_BYTES / 3 && Buffer.byteLength(k) > MAX_DICTIONARY_KEY_BYTES) return 0;
            if (db.keyIds.size + db.pendingKeys.size >= MAX_DICTIONARY_KEYS) return 0;
            db.pendingKeys.set(k, (id = db.nextKeyId++));
          }
          // not committed yet: this batch writes the entry too, in case the batch that took the number fails
          if (!w.keys.has(k)) {
            w.keys.set(k, id);
            w.puts.push([this.meta, key(tag('k'), u32(id)), Buffer.from(k, 'utf8')]);
          }
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
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      const rid = hex(this.resourceId(rs.resource, rs.schemaUrl, w));
      for (const ss of rs.scopeSpans) {
        const cid = hex(this.scopeId(ss.scope, ss.schemaUrl, w));
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
    await this.committer.write({ puts: w.puts, postings: all });
    for (const [id, r] of w.resources) db.resources.set(id, r);
    for (const [id, c] of w.scopes) db.scopes.set(id, c);
    for (const id of w.ops) known.add(id);
    for (const [k, id] of w.keys) db.learnKey(k, id);
  }
}
