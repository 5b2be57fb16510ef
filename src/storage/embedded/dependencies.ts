// The embedded backend's dependency store: links derived from the spans in the window (through the time index),
// plus links written by the dependencies job under 'g' at(8) seq(8).
import { type DependencyLink, type DependencyReader, type DependencyWriter, type StorageContext, type TimeRange, checkTimeRange } from '../api/index.js';
import { DependencyTotals, checkDependencyLinks, forEachDependency } from '../api/semantics.js';
import { EMPTY, type EmbeddedDb } from './db.js';
import { key, prefixEnd, tag, u64 } from './keys.js';

export class EmbeddedDependencyStore implements DependencyReader, DependencyWriter {
  constructor(private readonly db: EmbeddedDb) {}

  async getDependencies(r: TimeRange, ctx?: StorageContext): Promise<DependencyLink[]> {
    checkTimeRange(r);
    const db = this.db;
    const totals = new DependencyTotals();
    const add = totals.add.bind(totals);
    const traces = new Set<string>();
    for (const ref of db.stream('T', EMPTY, r.start, r.end)) traces.add(ref.traceId);
    for (const id of traces) {
      ctx?.signal?.throwIfAborted();
      forEachDependency(db.traceSpans(id), (p, c) => add(p, c, 1));
    }
    const g = tag('g');
    for (const { value } of db.meta.getRange({ start: key(g, u64(r.start)), end: prefixEnd(key(g, u64(r.end))) })) {
      for (const l of JSON.parse(value.toString()) as DependencyLink[]) add(l.parent, l.child, l.callCount, l.source);
    }
    return totals.list();
  }

  async writeDependencies(at: bigint, links: DependencyLink[], _ctx?: StorageContext): Promise<void> {
    checkDependencyLinks(links);
    await this.db.commitNumbered((seq) => this.db.meta.putSync(key(tag('g'), u64(at), u64(seq)), Buffer.from(JSON.stringify(links))));
  }
}
