// The embedded backend's purger and retention sweep.
import type { Purger } from '../api/index.js';
import type { EmbeddedDb } from './db.js';
import { type SpanRef, hex, key, prefixEnd, refFromTail, refTail, tag, u64 } from './keys.js';

export class EmbeddedPurger implements Purger {
  constructor(private readonly db: EmbeddedDb) {}

  async purge(): Promise<void> {
    const db = this.db;
    for (const d of [db.spans, db.index, db.meta]) await d.clearAsync();
    db.forget();
  }

  /**
   * Deletes spans that started before `cutoff` (ns), with their index entries, in transactions of `batch` spans.
   * Returns the number of span records deleted. Services and operations stay listed.
   */
  async sweep(cutoff: bigint, batch = 2000): Promise<number> {
    const db = this.db;
    let deleted = 0;
    for (;;) {
      const refs: SpanRef[] = [];
      for (const k of db.index.getKeys({ start: tag('T'), end: key(tag('T'), u64(cutoff)), limit: batch })) refs.push(refFromTail(k));
      if (!refs.length) return deleted;
      let n = 0;
      await db.commit(() => {
        n = 0;
        for (const ref of refs) {
          const p = key(hex(ref.traceId), u64(ref.start), hex(ref.spanId));
          for (const { key: sk, value } of db.spans.getRange({ start: p, end: prefixEnd(p) })) {
            for (const ik of db.indexKeys(db.decodeRecord(value))) db.index.removeSync(ik);
            db.spans.removeSync(sk);
            n++;
          }
          db.index.removeSync(key(tag('T'), refTail(ref)));
        }
      });
      deleted += n;
    }
  }
}
