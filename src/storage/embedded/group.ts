// Group commit of the trace writer. Batches that arrive while a commit is on its way to disk are written together in
// the next one, and their postings are folded: the group adds one posting per index term and hour, whatever the
// number of batches in it. The group lists its spans of each hour once, in a span table, and its postings name
// spans by their places there (see ./keys.ts and ./posting.ts): fewer, smaller index entries than one per batch and
// term, and a commit touches fewer pages. Each batch is acknowledged once the commit that holds it is on disk; a
// failed commit fails every batch in it, none of which was acknowledged.
import type { Db, EmbeddedDb, Posting } from './db.js';
import { groupBytes, key, postingTail, tag, u32 } from './keys.js';
import { type PackedRef, encodePosting, encodeSpanTable } from './posting.js';

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

  /**
   * The index entries of the group numbered `group`: per hour its span table, and its postings. Every span is in
   * its hour's 'T' posting, so those give the tables; a ref's place is found by the ref itself (each span's ref
   * is one Buffer, shared by all the postings it is in).
   */
  indexPuts(group: bigint): [Buffer, Buffer][] {
    const out: [Buffer, Buffer][] = [];
    const g = groupBytes(group);
    const places = new Map<Buffer, number>();
    const tables = new Map<number, PackedRef[]>();
    for (const p of this.postings.values()) {
      if (p.t !== 'T') continue;
      // newest first (start, then trace ID, descending), as streams read them; equal refs share a place
      p.refs.sort((a, b) => Buffer.compare(b, a));
      const traces = new Map<string, number>();
      const refs: PackedRef[] = [];
      let last: Buffer | undefined;
      for (const r of p.refs) {
        if (!last?.equals(r)) {
          const t = r.toString('latin1', 8, 24);
          let i = traces.get(t);
          if (i === undefined) traces.set(t, (i = traces.size));
          refs.push({ start: r.readBigUInt64BE(0), trace: i });
          last = r;
        }
        places.set(r, refs.length - 1);
      }
      const ids = Buffer.allocUnsafe(traces.size * 16);
      for (const [t, i] of traces) ids.write(t, i * 16, 16, 'latin1');
      tables.set(p.bucket, refs);
      out.push([key(tag('G'), u32(p.bucket), g), encodeSpanTable(ids, refs)]);
    }
    for (const p of this.postings.values()) {
      const refs = tables.get(p.bucket)!;
      const at = new Uint32Array(p.refs.length);
      for (let i = 0; i < at.length; i++) at[i] = places.get(p.refs[i]!)!;
      at.sort();
      let n = 0;
      for (let i = 0; i < at.length; i++) if (!n || at[i] !== at[n - 1]) at[n++] = at[i]!;
      const value = encodePosting(at.subarray(0, n));
      // the key carries the newest start, which orders a term's postings, and the group, whose span table it reads
      out.push([key(tag(p.t), u32(p.bucket), p.parts, postingTail(p.bucket, refs[at[0]!]!.start, group)), value]);
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
        const seq = this.db.nextSeq();
        try {
          const index = g.indexPuts(seq);
          const db = this.db;
          await db.commit(() => {
            for (const [d, k, v] of g.puts) d.putSync(k, v);
            for (const [k, v] of index) db.index.putSync(k, v);
            db.recordSeq(seq);
          });
          g.resolve();
        } catch (e) {
          g.reject(e);
        } finally {
          this.db.settle(seq);
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
