// The ClickHouse backend's other stores: dependencies computed in SQL (plus links a job wrote), the adaptive
// sampling tables, leases, and purge.
import {
  type DependencyLink,
  type DependencyReader,
  type DependencyWriter,
  type Lock,
  type Purger,
  type SamplingStore,
  type ServiceOperationValues,
  type Throughput,
  type TimeRange,
  checkTimeRange,
} from '../api/index.js';
import { DependencyTotals, checkDependencyLinks } from '../api/semantics.js';
import type { ClickHouseConnection } from './connection.js';
import { TABLES } from './schema.js';

/**
 * The parent -> child service edges of the traces that start in the window, with call counts, in one query: the
 * traces from trace_times, their spans in the traces' own time range, each span joined with its parent in the same
 * trace (on a cluster the spans of a trace live on one shard, so the join stays local). Pure SQL text.
 */
export function dependenciesSql(db: string): string {
  const traces = `SELECT trace_id FROM ${db}.trace_times WHERE start_ns <= {end:Int64} GROUP BY trace_id HAVING min(start_ns) >= {start:Int64}`;
  const spans = (cols: string): string => `SELECT ${cols} FROM ${db}.spans WHERE start_ns >= {start:Int64} AND start_ns <= {last:Int64} AND trace_id IN (${traces})`;
  return (
    `SELECT p.service AS parent, c.service AS child, count() AS calls\n` +
    `FROM (${spans("trace_id, parent_span_id, service")} AND parent_span_id != '') AS c\n` +
    `INNER JOIN (${spans('trace_id, span_id, service')}) AS p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id\n` +
    `WHERE p.service != c.service AND p.service != '' AND c.service != ''\nGROUP BY parent, child`
  );
}

export class ClickHouseDependencyStore implements DependencyReader, DependencyWriter {
  constructor(private readonly conn: ClickHouseConnection) {}

  async getDependencies(r: TimeRange): Promise<DependencyLink[]> {
    checkTimeRange(r);
    const db = this.conn.database;
    // the last span start of those traces bounds the spans read
    const [bound] = await this.conn.rows<[string | null]>(
      `SELECT toString(max(e)) FROM (SELECT max(end_ns) AS e FROM ${db}.trace_times WHERE start_ns <= {end:Int64} GROUP BY trace_id HAVING min(start_ns) >= {start:Int64})`,
      { start: r.start, end: r.end },
    );
    const totals = new DependencyTotals();
    const last = bound?.[0] ? BigInt(bound[0]) : r.end;
    const [derived, written] = await Promise.all([
      this.conn.rows<[string, string, string]>(dependenciesSql(db), { start: r.start, end: r.end, last: last > r.end ? last : r.end }),
      this.conn.rows<[string, string, string, string]>(`SELECT parent, child, toString(call_count), source FROM ${db}.dependencies WHERE at_ns >= {start:Int64} AND at_ns <= {end:Int64}`, { start: r.start, end: r.end }),
    ]);
    for (const [p, c, n] of derived) totals.add(p, c, Number(n));
    for (const [p, c, n, source] of written) totals.add(p, c, Number(n), source || undefined);
    return totals.list();
  }

  async writeDependencies(at: bigint, links: DependencyLink[]): Promise<void> {
    checkDependencyLinks(links);
    if (!links.length) return;
    const lines = links.map((l) => JSON.stringify({ at_ns: at.toString(), parent: l.parent, child: l.child, call_count: l.callCount, source: l.source ?? '' }));
    await this.conn.insert(`${this.conn.database}.dependencies`, lines);
  }
}

export class ClickHouseSamplingStore implements SamplingStore {
  constructor(private readonly conn: ClickHouseConnection) {}

  async insertThroughput(at: bigint, throughput: Throughput[]): Promise<void> {
    if (!throughput.length) return;
    const lines = throughput.map((t) => JSON.stringify({ at_ns: at.toString(), service: t.service, operation: t.operation, count: t.count, probabilities: t.probabilities }));
    await this.conn.insert(`${this.conn.database}.throughput`, lines);
  }

  async getThroughput(r: TimeRange): Promise<(Throughput & { at: bigint })[]> {
    checkTimeRange(r);
    const rows = await this.conn.rows<[string, string, string, string, number[]]>(
      `SELECT toString(at_ns), service, operation, toString(count), probabilities FROM ${this.conn.database}.throughput WHERE at_ns >= {start:Int64} AND at_ns <= {end:Int64} ORDER BY at_ns`,
      { start: r.start, end: r.end },
    );
    return rows.map(([at, service, operation, count, probabilities]) => ({ at: BigInt(at), service, operation, count: Number(count), probabilities: probabilities.map(Number) }));
  }

  async insertProbabilitiesAndQps(hostname: string, at: bigint, probabilities: ServiceOperationValues, qps: ServiceOperationValues): Promise<void> {
    await this.conn.insert(`${this.conn.database}.probabilities`, [JSON.stringify({ at_ns: at.toString(), hostname, probabilities: JSON.stringify(probabilities), qps: JSON.stringify(qps) })]);
  }

  async getLatestProbabilities(): Promise<ServiceOperationValues> {
    const [row] = await this.conn.rows<[string]>(`SELECT probabilities FROM ${this.conn.database}.probabilities ORDER BY at_ns DESC LIMIT 1`);
    return row ? (JSON.parse(row[0]) as ServiceOperationValues) : {};
  }
}

/**
 * Leases without compare-and-set: a contender that sees no live lease of another holder records a claim (the
 * server's clock sets its start; a renewal keeps the start of the tenure it renews), then reads the live claims
 * back: the holder is the claim with the earliest start (then the smallest holder name), the same answer for every
 * reader of the same claims. Two contenders whose claims commit while the other reads may both see themselves
 * win for the length of one insert; the next renewal settles it.
 */
export class ClickHouseLock implements Lock {
  constructor(private readonly conn: ClickHouseConnection) {}

  private async holder(resource: string): Promise<{ holder: string; since: string } | undefined> {
    const [row] = await this.conn.rows<[string, string]>(
      `SELECT holder, toString(toUnixTimestamp64Milli(since)) FROM ${this.conn.database}.leases WHERE resource = {r:String} AND expires > now64(3) ORDER BY since, holder LIMIT 1`,
      { r: resource },
    );
    return row ? { holder: row[0], since: row[1] } : undefined;
  }

  async acquire(resource: string, holder: string, ttlMs: number): Promise<boolean> {
    const current = await this.holder(resource);
    if (current && current.holder !== holder) return false;
    // epoch milliseconds, not text: no time zone (or its repeated hour) can move the start of a tenure
    const since = current ? 'fromUnixTimestamp64Milli({since:Int64})' : 'now64(3)';
    await this.conn.command(
      `INSERT INTO ${this.conn.database}.leases (resource, holder, since, expires) SELECT {r:String}, {h:String}, ${since}, now64(3) + toIntervalMillisecond({ttl:UInt32})`,
      { r: resource, h: holder, ttl: Math.max(1, Math.round(ttlMs)), ...(current ? { since: current.since } : {}) },
      { idempotent: false },
    );
    return (await this.holder(resource))?.holder === holder;
  }

  async forfeit(resource: string, holder: string): Promise<boolean> {
    const current = await this.holder(resource);
    if (current?.holder !== holder) return false;
    await this.conn.command(`DELETE FROM ${this.conn.database}.leases WHERE resource = {r:String} AND holder = {h:String}`, { r: resource, h: holder });
    return true;
  }
}

export class ClickHousePurger implements Purger {
  constructor(private readonly conn: ClickHouseConnection) {}

  async purge(): Promise<void> {
    for (const t of TABLES) if (t !== 'schema_migrations' && t !== 'store_owner') await this.conn.command(`TRUNCATE TABLE IF EXISTS ${this.conn.database}.${this.conn.cfg.cluster ? `${t}_local ON CLUSTER ${this.conn.cfg.cluster}` : t}`);
  }
}
