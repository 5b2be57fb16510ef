// Group commit of the trace writer. Batches that arrive while a commit is on its way to disk are written together in
// the next one, and their postings are folded: the group adds one posting per index term and hour, whatever the
// number of batches in it, and stores its trace IDs once per hour in a trace table that its postings name traces by
// (see ./keys.ts and ./posting.ts). Fewer, fuller index entries take less disk than one per batch and term, and a
// commit touches fewer pages. Each batch is acknowledged once the commit that holds it is on disk; a failed commit
// fails every batch in it, none of which was acknowledged.
import { type Db, type EmbeddedDb, type Posting } from './db.js';
import { key, tag, u32, u64 } from './keys.js';
import { type PackedRef, encodePosting } from './posting.js';
import { contentHash } from './record.js';

/** What one batch adds: its puts (span records, meta) and its postings, checked and ready to commit. */
export interface PreparedBatch {
  puts: [Db, Buffer, Buffer][];
  postings: Iterable<Posting>;
}

class Group {
  readonly puts: [Db, Buffer, Buffer][] = [];
  /** the group's postings, by term: tag, bucket and term parts */
  readonly postings = new Map<string, Posting>();
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (e: unknown) => void;

  constructor() {
    this.done = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // a batch that is never awaited (its caller gone) must not leave an unhandled rejection behind
    this.done.catch(() => undefined);
  }

  add(b: PreparedBatch): void {
    for (const p of b.puts) this.puts.push(p);
    for (const p of b.postings) {
      const id = `${p.t}${p.bucket}:${p.parts.toString('latin1')}`;
      const mine = this.postings.get(id);
      if (!mine) this.postings.set(id, { ...p, refs: [...p.refs] });
      else for (const r of p.refs) mine.refs.push(r);
    }
  }

  /** The index entries of the group numbered `group`: its postings and, per hour, its trace table. */
  indexPuts(group: number): [Buffer, Buffer][] {
    const out: [Buffer, Buffer][] = [];
    // per bucket, the group's trace IDs (latin1 keys) by their place in the table
    const tables = new Map<number, Map<string, number>>();
    const g = u64(BigInt(group));
    for (const p of this.postings.values()) {
      let table = tables.get(p.bucket);
      if (!table) tables.set(p.bucket, (table = new Map()));
      // newest first (start, then trace ID, descending), as streams read them; one of equal refs
      p.refs.sort((a, b) => Buffer.compare(b, a));
      const refs: PackedRef[] = [];
      let last: Buffer | undefined;
      for (const r of p.refs) {
        if (last?.equals(r)) continue;
        last = r;
        const t = r.toString('latin1', 8, 24);
        let i = table.get(t);
        if (i === undefined) table.set(t, (i = table.size));
        refs.push({ start: r.readBigUInt64BE(0), trace: i });
      }
      const value = encodePosting(group, refs);
      // the key carries the newest start and a hash of the value, so no two postings of a term share a key
      out.push([key(tag(p.t), u32(p.bucket), p.parts, p.refs[0]!.subarray(0, 8), contentHash(value)), value]);
    }
    for (const [bucket, table] of tables) {
      const ids = Buffer.allocUnsafe(table.size * 16);
      for (const [t, i] of table) ids.write(t, i * 16, 16, 'latin1');
      out.push([key(tag('G'), u32(bucket), g), ids]);
    }
    return out;
  }
}

export class GroupCommitter {
  /** the group taking batches while the one before it commits */
  private open: Group | undefined;
  private busy = false;

  constructor(private readonly db: EmbeddedDb) {}

  /** Writes `batch` in the next commit; resolves once that commit is on disk. */
  write(batch: PreparedBatch): Promise<void> {
    const g = (this.open ??= new Group());
    g.add(batch);
    if (!this.busy) void this.drain();
    return g.done;
  }

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      for (let g = this.open; g; g = this.open) {
        this.open = undefined;
        try {
          const seq = this.db.nextSeq();
          const index = g.indexPuts(Number(seq));
          const db = this.db;
          await db.commit(() => {
            for (const [d, k, v] of g.puts) d.putSync(k, v);
            for (const [k, v] of index) db.index.putSync(k, v);
            db.meta.putSync(tag('q'), u64(seq));
          });
          g.resolve();
        } catch (e) {
          g.reject(e);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
