// Group commit of the trace writer. Batches that arrive while a commit is on its way to disk are written together in
// the next one, and their postings are folded: the group adds one posting per index term and hour, whatever the
// number of batches in it. The group lists its spans of each hour once, in a span table, and its postings name
// spans by their places there (see ./keys.ts and ./posting.ts): fewer, smaller index entries than one per batch and
// term, and a commit touches fewer pages. Each batch is acknowledged once the commit that holds it is on disk; a
// failed commit fails every batch in it, none of which was acknowledged. A group takes up to MAX_GROUP_SPANS spans
// (after a slow commit, the batches queued meanwhile make several groups, not one huge one); purging the store and
// closing it go through the same queue.
import { UnavailableError } from '../api/index.js';
import type { Db, EmbeddedDb, Posting } from './db.js';
import { groupBytes, key, postingTail, tag, u32 } from './keys.js';
import { type PackedRef, encodePosting, encodeSpanTable } from './posting.js';

/** What one batch adds: its puts (span records, meta) and its postings, checked and ready to commit. */
export interface PreparedBatch {
  puts: [Db, Buffer, Buffer][];
  postings: Iterable<Posting>;
  /** how many spans it writes */
  spans: number;
}

class Group {
  readonly puts: [Db, Buffer, Buffer][] = [];
  /** the group's postings, by term: tag, bucket and term parts */
  readonly postings = new Map<string, Posting>();
  spans = 0;
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
    this.spans += b.spans;
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

/** Spans a group takes before the next batch starts another: a group's index is built in one synchronous step. */
export const MAX_GROUP_SPANS = 20_000;

/** Work that runs alone in the commit queue: after the groups before it, before those after it. */
class Exclusive {
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (e: unknown) => void;

  constructor(readonly run: () => Promise<void>) {
    this.done = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.done.catch(() => undefined);
  }
}

export class GroupCommitter {
  /** what waits to commit, in order; a last group takes batches while what is before it commits */
  private readonly queue: (Group | Exclusive)[] = [];
  private busy = false;
  private closing: string | undefined;
  /** resolved once the queue is empty */
  private idle: Promise<void> = Promise.resolve();
  private resolveIdle: () => void = () => undefined;
  /** while exclusive work is queued or runs: new batches wait for it before they are prepared */
  private pause: Promise<void> | undefined;

  constructor(private readonly db: EmbeddedDb) {}

  /** Writes `batch` in the next commit with room for it; resolves once that commit is on disk. */
  write(batch: PreparedBatch): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new UnavailableError(this.closing));
    let g = this.queue[this.queue.length - 1];
    // a batch is never split: one larger than a group's share makes a group of its own
    if (!(g instanceof Group) || (g.spans > 0 && g.spans + batch.spans > MAX_GROUP_SPANS)) this.queue.push((g = new Group()));
    g.add(batch);
    this.kick();
    return g.done;
  }

  /** What a batch waits for before it is prepared (exclusive work in the queue), if anything. */
  get paused(): Promise<void> | undefined {
    return this.pause;
  }

  /**
   * Runs `fn` once every group queued so far has committed, with no other commit of this queue alongside; batches
   * prepared meanwhile wait (see paused) and commit after it.
   */
  exclusive(fn: () => Promise<void>): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new UnavailableError(this.closing));
    const x = new Exclusive(fn);
    this.queue.push(x);
    const pause = x.done.then(
      () => undefined,
      () => undefined,
    );
    this.pause = pause;
    void pause.then(() => {
      if (this.pause === pause) this.pause = undefined;
    });
    this.kick();
    return x.done;
  }

  /**
   * Refuses batches from now on with an Unavailable error saying `why`, and resolves once those already queued have
   * committed (or failed).
   */
  close(why: string): Promise<void> {
    this.closing ??= why;
    return this.busy ? this.idle : Promise.resolve();
  }

  private kick(): void {
    if (this.busy) return;
    this.busy = true;
    this.idle = new Promise<void>((res) => (this.resolveIdle = res));
    void this.drain();
  }

  private async drain(): Promise<void> {
    try {
      for (let g = this.queue.shift(); g; g = this.queue.shift()) {
        if (g instanceof Exclusive) {
          try {
            await g.run();
            g.resolve();
          } catch (e) {
            g.reject(e);
          }
          continue;
        }
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
      this.resolveIdle();
    }
  }
}
