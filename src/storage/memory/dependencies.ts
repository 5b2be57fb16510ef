// The memory backend's dependency store: links derived from the stored traces of a tenant, plus links written by
// the dependencies job.
import type { DependencyLink, DependencyReader, DependencyWriter, StorageContext, TimeRange } from '../api/index.js';
import { checkTimeRange } from '../api/index.js';
import { DependencyTotals, checkDependencyLinks, forEachDependency } from '../api/semantics.js';
import { type MemoryState, spanViews } from './state.js';

export class MemoryDependencyStore implements DependencyReader, DependencyWriter {
  constructor(private readonly state: MemoryState) {}

  async getDependencies(r: TimeRange, ctx?: StorageContext): Promise<DependencyLink[]> {
    checkTimeRange(r);
    const t = this.state.tenant(ctx);
    const totals = new DependencyTotals();
    const add = totals.add.bind(totals);
    for (const tr of t?.traces.values() ?? []) {
      if (tr.start > r.end || tr.start < r.start) continue;
      forEachDependency(spanViews(tr), (parent, child) => add(parent, child, 1));
    }
    for (const d of t?.dependencies ?? []) if (d.at >= r.start && d.at <= r.end) for (const l of d.links) add(l.parent, l.child, l.callCount, l.source);
    return totals.list();
  }

  async writeDependencies(at: bigint, links: DependencyLink[], ctx?: StorageContext): Promise<void> {
    checkDependencyLinks(links);
    this.state.tenant(ctx, true)!.dependencies.push({ at, links: links.map((l) => ({ ...l })) });
  }
}
