// The Cassandra dependency store, sampling store, lease lock and purger.
import {
  DEFAULT_TENANT,
  type DependencyLink,
  type DependencyReader,
  type DependencyWriter,
  InvalidArgumentError,
  type Lock,
  type Purger,
  type SamplingStore,
  type ServiceOperationValues,
  type StorageContext,
  type Throughput,
  type TimeRange,
  checkTimeRange,
} from '../api/index.js';
import { DependencyTotals, checkDependencyLinks, forEachDependency } from '../api/semantics.js';
import type { CassandraConnection } from './connection.js';
import { DATA_TABLES, DAY_NS, TRACE_LIST_SHARDS, bucketOf } from './schema.js';

/** the most days one dependencies or throughput read covers (older days are past any retention worth reading) */
const MAX_DAYS = 400;

function days(r: TimeRange): number[] {
  const first = bucketOf(r.start, DAY_NS);
  const last = bucketOf(r.end, DAY_NS);
  const out: number[] = [];
  for (let d = last; d >= first && out.length < MAX_DAYS; d--) out.push(d);
  return out;
}

/** the most traces one dependencies read derives edges from (the newest hours of the window first) */
export const MAX_DEPENDENCY_TRACES = 200_000;

/** the most hours of a window one dependencies read scans (the newest): 31 days */
export const MAX_DEPENDENCY_HOURS = 31 * 24;

/** the hours of a window, newest first, at most MAX_DEPENDENCY_HOURS */
function hours(r: TimeRange): number[] {
  const first = bucketOf(r.start);
  const out: number[] = [];
  for (let h = bucketOf(r.end); h >= first && out.length < MAX_DEPENDENCY_HOURS; h--) out.push(h);
  return out;
}

/**
 * Dependencies: edges derived at read time from the traces with a span starting in the window (traces_by_hour, its
 * shards read in parallel, newest hour first, each trace once; at most MAX_DEPENDENCY_TRACES traces of the newest
 * MAX_DEPENDENCY_HOURS hours; then each trace's identity columns: span ID, parent ID, service, start), plus the
 * links the dependencies job wrote.
 */
export class CassandraDependencyStore implements DependencyReader, DependencyWriter {
  constructor(private readonly conn: CassandraConnection) {}

  /** adds the edges of one trace if one of its spans starts in the window */
  private async traceEdges(tenant: string, traceId: Buffer, r: TimeRange, totals: DependencyTotals, signal?: AbortSignal): Promise<void> {
    const spans: { span: { spanId: string; parentSpanId: string }; service: string }[] = [];
    let inWindow = false;
    for await (const page of this.conn.pages('SELECT span_id, parent_id, service, start_ns FROM ks.spans WHERE tenant = ? AND trace_id = ?', [tenant, traceId], 5000, signal)) {
      for (const s of page) {
        const start = s.get('start_ns') as bigint;
        if (start >= r.start && start <= r.end) inWindow = true;
        const parent = s.get('parent_id') as Buffer | null;
        spans.push({ span: { spanId: (s.get('span_id') as Buffer).toString('hex'), parentSpanId: parent ? parent.toString('hex') : '' }, service: (s.get('service') as string | null) ?? '' });
      }
    }
    if (inWindow) forEachDependency(spans, (p, c) => totals.add(p, c, 1));
  }

  async getDependencies(r: TimeRange, ctx?: StorageContext): Promise<DependencyLink[]> {
    checkTimeRange(r);
    const signal = ctx?.signal;
    const tenant = ctx?.tenant ?? DEFAULT_TENANT;
    const totals = new DependencyTotals();
    // a trace with spans in several hours is listed in each: its edges count once
    const seen = new Set<string>();
    for (const hour of hours(r)) {
      if (seen.size >= MAX_DEPENDENCY_TRACES) break;
      await Promise.all(
        Array.from({ length: TRACE_LIST_SHARDS }, async (_, shard) => {
          for await (const rows of this.conn.pages('SELECT trace_id FROM ks.traces_by_hour WHERE tenant = ? AND hour = ? AND shard = ?', [tenant, hour, shard], 1000, signal)) {
            const fresh: Buffer[] = [];
            for (const row of rows) {
              const id = row.get('trace_id') as Buffer;
              const key = id.toString('hex');
              if (seen.has(key) || seen.size >= MAX_DEPENDENCY_TRACES) continue;
              seen.add(key);
              fresh.push(id);
            }
            await Promise.all(fresh.map((id) => this.traceEdges(tenant, id, r, totals, signal)));
            if (seen.size >= MAX_DEPENDENCY_TRACES) return;
          }
        }),
      );
    }
    for (const day of days(r)) {
      for await (const rows of this.conn.pages('SELECT parent, child, call_count, source, ts FROM ks.dependencies WHERE tenant = ? AND day = ? AND ts >= ? AND ts <= ?', [tenant, day, r.start, r.end], 5000, signal)) {
        for (const l of rows) totals.add(l.get('parent') as string, l.get('child') as string, Number(l.get('call_count') as bigint), (l.get('source') as string | null) ?? undefined);
      }
    }
    return totals.list();
  }

  async writeDependencies(at: bigint, links: DependencyLink[], ctx?: StorageContext): Promise<void> {
    checkDependencyLinks(links);
    const day = bucketOf(at, DAY_NS);
    await Promise.all(
      links.map((l) =>
        this.conn.exec('INSERT INTO ks.dependencies (tenant, day, ts, parent, child, call_count, source) VALUES (?, ?, ?, ?, ?, ?, ?)', [ctx?.tenant ?? DEFAULT_TENANT, day, at, l.parent, l.child, BigInt(l.callCount), l.source ?? null], {
          write: true,
          ...(ctx?.signal ? { signal: ctx.signal } : {}),
        }),
      ),
    );
  }
}

export class CassandraSamplingStore implements SamplingStore {
  constructor(private readonly conn: CassandraConnection) {}

  async insertThroughput(at: bigint, throughput: Throughput[]): Promise<void> {
    const day = bucketOf(at, DAY_NS);
    await Promise.all(
      throughput.map((t) =>
        this.conn.exec('INSERT INTO ks.sampling_throughput (day, at, service, operation, count, probabilities) VALUES (?, ?, ?, ?, ?, ?)', [day, at, t.service, t.operation, BigInt(t.count), t.probabilities], { write: true }),
      ),
    );
  }

  async getThroughput(r: TimeRange): Promise<(Throughput & { at: bigint })[]> {
    checkTimeRange(r);
    const out: (Throughput & { at: bigint })[] = [];
    for (const day of days(r)) {
      for await (const rows of this.conn.pages('SELECT at, service, operation, count, probabilities FROM ks.sampling_throughput WHERE day = ? AND at >= ? AND at <= ?', [day, r.start, r.end], 5000)) {
        for (const x of rows)
          out.push({ at: x.get('at') as bigint, service: x.get('service') as string, operation: x.get('operation') as string, count: Number(x.get('count') as bigint), probabilities: (x.get('probabilities') as number[] | null) ?? [] });
      }
    }
    return out;
  }

  async insertProbabilitiesAndQps(hostname: string, at: bigint, probabilities: ServiceOperationValues, qps: ServiceOperationValues): Promise<void> {
    await this.conn.exec('INSERT INTO ks.sampling_probabilities (scope, at, hostname, probabilities, qps) VALUES (0, ?, ?, ?, ?)', [at, hostname, JSON.stringify(probabilities), JSON.stringify(qps)], { write: true });
  }

  async getLatestProbabilities(): Promise<ServiceOperationValues> {
    const rs = await this.conn.exec('SELECT probabilities FROM ks.sampling_probabilities WHERE scope = 0 LIMIT 1', []);
    const v = rs.first()?.get('probabilities') as string | undefined;
    return v ? (JSON.parse(v) as ServiceOperationValues) : {};
  }
}

/** the longest TTL Cassandra accepts, in seconds (20 years) */
export const MAX_TTL_SECONDS = 630_720_000;

const applied = (rs: { rows: { get(c: string): unknown }[] }): boolean => rs.rows[0]?.get('[applied]') === true;

/**
 * A lease per resource with lightweight transactions: taken when absent (INSERT IF NOT EXISTS), renewed by its holder
 * and taken over once expired by compare-and-set on holder and expiry. The expiry column decides (to the ms); the
 * row's TTL, a second past it, only removes leases nobody renews.
 */
export class CassandraLock implements Lock {
  constructor(private readonly conn: CassandraConnection) {}

  async acquire(resource: string, holder: string, ttlMs: number): Promise<boolean> {
    if (!holder) throw new InvalidArgumentError('holder', 'must not be empty');
    const ttl = Math.ceil(ttlMs / 1000) + 1;
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs) || ttl > MAX_TTL_SECONDS) {
      throw new InvalidArgumentError('ttlMs', `must be positive and at most ${(MAX_TTL_SECONDS - 1) * 1000} ms (Cassandra's longest TTL, 20 years) (got ${ttlMs})`);
    }
    const now = Date.now();
    const expires = BigInt(now + Math.round(ttlMs));
    // conditional statements are not retried blindly: a timed-out one may have been applied
    const o = { write: true, idempotent: false };
    // twice at most: an expired lease's row may vanish (its TTL) between the read and the compare-and-set
    for (let attempt = 0; attempt < 2; attempt++) {
      const taken = await this.conn.exec('INSERT INTO ks.leases (resource, holder, expires_ms) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?', [resource, holder, expires, ttl], o);
      if (applied(taken)) return true;
      const row = taken.rows[0]!;
      const cur = row.get('holder') as string | null;
      const curExpires = row.get('expires_ms') as bigint | null;
      if (cur !== holder && curExpires !== null && curExpires > BigInt(now)) return false;
      const cas = await this.conn.exec('UPDATE ks.leases USING TTL ? SET holder = ?, expires_ms = ? WHERE resource = ? IF holder = ? AND expires_ms = ?', [ttl, holder, expires, resource, cur, curExpires], o);
      if (applied(cas)) return true;
      // not applied: another holder changed the row (it says who), or the row is gone (nothing but [applied])
      if (cas.rows[0]?.get('holder') != null) return false;
    }
    return false;
  }

  async forfeit(resource: string, holder: string): Promise<boolean> {
    const rs = await this.conn.exec('DELETE FROM ks.leases WHERE resource = ? IF holder = ? AND expires_ms > ?', [resource, holder, BigInt(Date.now())], { write: true, idempotent: false });
    return applied(rs);
  }
}

export class CassandraPurger implements Purger {
  constructor(
    private readonly conn: CassandraConnection,
    private readonly forget: () => void,
  ) {}

  async purge(): Promise<void> {
    for (const t of DATA_TABLES) await this.conn.client.execute(`TRUNCATE ${this.conn.keyspace}.${t}`, [], { prepare: false });
    this.forget();
  }
}
