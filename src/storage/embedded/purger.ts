// The embedded backend's purger and retention sweep.
import type { Purger } from '../api/index.js';
import type { EmbeddedDb } from './db.js';
import { GROUP_BYTES, POSTING_TAIL, bucketOf, key, prefixEnd, readPostingTail, tag, u32, u64 } from './keys.js';
import { type SpanTable, corrupt, decodePosting, encodePosting } from './posting.js';

/** The smallest key greater than `k`: where a scan resumes after it. */
const after = (k: Buffer): Buffer => Buffer.concat([k, Buffer.from([0])]);

export class EmbeddedPurger implements Purger {
  constructor(private readonly db: EmbeddedDb) {}

  /**
   * Clears the store. It runs in the commit queue: batches queued before it commit first, and batches written
   * meanwhile wait and are prepared against the empty store, so no record names a number the purge deleted.
   */
  async purge(): Promise<void> {
    const db = this.db;
    await db.groups.exclusive(async () => {
      for (const d of [db.spans, db.index, db.meta]) await d.clearAsync();
      db.forget();
      db.writeFormat();
    });
  }

  /**
   * Deletes spans that started before `cutoff` (ns), with their postings, in transactions of about `batch` spans
   * (or index entries). Returns the number of span records deleted. Services and operations stay listed.
   *
   * The 'T' postings of the hours up to the cutoff's name the spans to delete; a posting wholly older than the
   * cutoff goes, one straddling it is rewritten with its newer refs. The other postings of older hours go whole; in
   * the cutoff's own hour, those whose newest ref is older. A posting kept there may still name a deleted span,
   * which searches skip as they skip any ref whose record they do not find.
   *
   * A sweep covers the groups committed when it starts: postings and span tables of groups written while it runs
   * (spans with old start times) are left whole for the next sweep, so it neither chases a steady writer nor drops
   * a span table whose postings it never saw. A group's postings name only its own span tables, so a table goes
   * once its group's postings of that hour are gone.
   */
  async sweep(cutoff: bigint, batch = 2000): Promise<number> {
    const db = this.db;
    const cb = bucketOf(cutoff);
    // every group up to this one is committed (or failed) now; later ones are not this sweep's
    const last = db.settledSeq();
    const ours = (k: Buffer, bucket: number): boolean => readPostingTail(k, k.length - POSTING_TAIL, bucket).group <= last;
    const T = tag('T');
    const end = key(T, u32(cb + 1));
    let deleted = 0;
    for (let from = T; ; ) {
      const work: { k: Buffer; table: SpanTable | undefined; places: number[] }[] = [];
      let n = 0;
      for (const { key: k, value } of db.index.getRange({ start: from, end })) {
        if (k.length !== 5 + POSTING_TAIL) continue; // defensive: a key of another shape
        const bucket = k.readUInt32BE(1);
        if (!ours(k, bucket)) continue;
        const places = decodePosting(value);
        const oldest = places[places.length - 1];
        if (oldest === undefined) {
          work.push({ k, table: undefined, places }); // names nothing: goes
          continue;
        }
        const table = db.spanTable(bucket, readPostingTail(k, 5, bucket).group);
        if (oldest >= table.starts.length) throw corrupt(`a posting names place ${oldest} of a span table of ${table.starts.length}`);
        // the oldest ref is the last
        if (table.starts[oldest]! >= cutoff) continue;
        work.push({ k, table, places });
        n += places.length;
        if (n >= batch) break;
      }
      if (!work.length) break;
      from = after(work[work.length - 1]!.k);
      let removed = 0;
      await db.commit(() => {
        removed = 0;
        for (const { k, table, places } of work) {
          if (!table) {
            db.index.removeSync(k);
            continue;
          }
          const keep: number[] = [];
          for (const place of places) {
            const start = table.starts[place]!;
            if (start >= cutoff) {
              keep.push(place);
              continue;
            }
            // the records' keys: traceId start spanId hash
            const at = table.traces[place]! * 16;
            const p = key(table.ids.subarray(at, at + 16), u64(start));
            for (const sk of db.spans.getKeys({ start: p, end: prefixEnd(p) })) {
              db.spans.removeSync(sk);
              removed++;
            }
          }
          // the newest refs stay, so the key (their newest start) does too
          if (keep.length) db.index.putSync(k, encodePosting(keep));
          else db.index.removeSync(k);
        }
      });
      deleted += removed;
    }
    for (const t of ['S', 'O', 'A']) {
      const hi = key(tag(t), u32(cb + 1));
      await removeKeys(db, tag(t), hi, batch, (k) => {
        if (k.length < 5 + POSTING_TAIL) return true;
        const bucket = k.readUInt32BE(1);
        return ours(k, bucket) && !(bucket === cb && readPostingTail(k, k.length - POSTING_TAIL, cb).newest >= cutoff);
      });
    }
    // span tables of older hours of this sweep's groups, whose postings are gone; those of the cutoff's hour serve
    // the postings kept there
    await removeKeys(db, tag('G'), key(tag('G'), u32(cb)), batch, (k) => !(k.length === 5 + GROUP_BYTES && BigInt(k.readUIntBE(5, GROUP_BYTES)) > last));
    return deleted;
  }
}

/** Removes the index keys in [start, end) that `drop` picks, `batch` keys per commit. */
async function removeKeys(db: EmbeddedDb, start: Buffer, end: Buffer, batch: number, drop: (k: Buffer) => boolean): Promise<void> {
  for (let from = start; ; ) {
    const ks: Buffer[] = [];
    for (const k of db.index.getKeys({ start: from, end })) {
      if (!drop(k)) continue;
      ks.push(k);
      if (ks.length >= batch) break;
    }
    if (!ks.length) return;
    from = after(ks[ks.length - 1]!);
    await db.commit(() => {
      for (const k of ks) db.index.removeSync(k);
    });
  }
}
