// The Cassandra keyspace of the trace store: versioned CQL migrations, applied in order and recorded in
// schema_migrations. Every table names the query it serves. Spans are kept whole as OTLP protobuf (one TracesData
// per span holding its resource, scope and span: typed attributes, events, links, dropped counts and schema URLs
// survive as OTLP has them, and the hot-path decoder of src/otlp reads them back); the repeated resource and scope
// bytes of a trace's spans sit next to each other in one partition, where the table's LZ4 chunk compression absorbs
// them. Index tables point at a span (trace ID, span ID) so that a search checks only the span it found.
//
// Trace data is kept per tenant: the tenant ('' without multi-tenancy) leads every partition key of the trace,
// name, index and dependency tables; adaptive sampling and leases are the runtime's own and not per tenant.
//
// Time-bucketed tables (spans and indices, written once and expiring together) use TimeWindowCompactionStrategy
// with windows derived from the TTL, so that whole SSTables expire instead of being compacted; their default TTL is
// the retention. A retention change is an ALTER of each table's default TTL and window (applyRetention): rows
// already written keep the TTL they were written with, nothing is rewritten or lost.
import { CQL_RESERVED } from '../../api/tracestore.js';
import { StorageError } from '../api/index.js';

/** The hour buckets of the search indices: a partition holds one service's (or operation's) spans of one hour. */
export const BUCKET_NS = 3_600_000_000_000n;
/** The day buckets of dependency links and of the sampling throughput. */
export const DAY_NS = 86_400_000_000_000n;
/**
 * Partitions per hour of the trace list (traces_by_hour): a trace's shard is the last byte of its ID modulo this,
 * so the writes of an hour spread over as many partitions (and replicas) and a dependencies read scans them in
 * parallel. Part of the schema: changing it needs a migration.
 */
export const TRACE_LIST_SHARDS = 16;
export const traceShard = (traceId: Buffer): number => (traceId[traceId.length - 1] ?? 0) % TRACE_LIST_SHARDS;

export const bucketOf = (ns: bigint, size = BUCKET_NS): number => Number(ns >= 0n ? ns / size : (ns - size + 1n) / size);

/** Tables whose rows age out with the retention (TWCS, default TTL). */
export const TIMED_TABLES = ['spans', 'span_by_service', 'span_by_operation', 'span_by_duration_class', 'span_by_attribute', 'traces_by_hour', 'dependencies', 'sampling_throughput', 'sampling_probabilities'] as const;
/** Name tables: TTL'd too (a service not seen for a retention disappears), but small and rewritten: default compaction. */
export const NAME_TABLES = ['services', 'operations'] as const;
/** Everything purge() empties. */
export const DATA_TABLES = [...TIMED_TABLES, ...NAME_TABLES, 'leases'] as const;

export interface SchemaParams {
  /** default TTL of the data tables, seconds (0: none) */
  ttlSeconds: number;
  /** TWCS window in hours; unset: derived from the TTL (compactionWindowHours) */
  windowHours?: number;
}

export interface Migration {
  version: number;
  description: string;
  statements: (p: SchemaParams) => string[];
}

/** TWCS windows: about 30 per TTL (whole hours), one day when the data never expires. */
export function compactionWindowHours(ttlSeconds: number): number {
  if (ttlSeconds <= 0) return 24;
  return Math.max(1, Math.ceil(ttlSeconds / 3600 / 30));
}

const twcs = (p: SchemaParams): string =>
  `compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'HOURS', 'compaction_window_size': ${p.windowHours ?? compactionWindowHours(p.ttlSeconds)}} AND default_time_to_live = ${p.ttlSeconds} AND gc_grace_seconds = 10800`;
const ttl = (p: SchemaParams): string => `default_time_to_live = ${p.ttlSeconds}`;
const comment = (s: string): string => `comment = '${s.replace(/'/g, "''")}'`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'spans, name lists, search indices, dependencies, sampling, leases',
    statements: (p) => [
      // getTraces: all spans of a trace in one partition, paged in span-ID order. span_hash tells apart different
      // spans that share a span ID (and makes an identical span written twice one row).
      `CREATE TABLE IF NOT EXISTS spans (tenant text, trace_id blob, span_id blob, span_hash bigint, parent_id blob, service text, start_ns bigint, end_ns bigint, span blob,
        PRIMARY KEY ((tenant, trace_id), span_id, span_hash))
        WITH ${comment('getTraces / findTraces: the spans of a trace (OTLP TracesData of one span each)')} AND ${twcs(p)}`,
      // getServices: one small partition per tenant, read whole and sorted (shard is always 0: the partition key
      // is composite so that the default tenant '' is a valid key, and can be spread later)
      `CREATE TABLE IF NOT EXISTS services (tenant text, shard int, service text, PRIMARY KEY ((tenant, shard), service))
        WITH ${comment('getServices: every service name of a tenant')} AND ${ttl(p)}`,
      // getOperations: a service's operations, optionally of one span kind (clustering prefix)
      `CREATE TABLE IF NOT EXISTS operations (tenant text, service text, span_kind text, operation text, PRIMARY KEY ((tenant, service), span_kind, operation))
        WITH ${comment('getOperations: operations of a service with their span kind')} AND ${ttl(p)}`,
      // findTraceIds by service (and start time): newest first in hour partitions
      `CREATE TABLE IF NOT EXISTS span_by_service (tenant text, service text, bucket int, start_ns bigint, trace_id blob, span_id blob,
        PRIMARY KEY ((tenant, service, bucket), start_ns, trace_id, span_id)) WITH CLUSTERING ORDER BY (start_ns DESC, trace_id ASC, span_id ASC)
        AND ${comment('findTraceIds by service and start time (hour buckets)')} AND ${twcs(p)}`,
      // findTraceIds by service and operation (and start time)
      `CREATE TABLE IF NOT EXISTS span_by_operation (tenant text, service text, operation text, bucket int, start_ns bigint, trace_id blob, span_id blob,
        PRIMARY KEY ((tenant, service, operation, bucket), start_ns, trace_id, span_id)) WITH CLUSTERING ORDER BY (start_ns DESC, trace_id ASC, span_id ASC)
        AND ${comment('findTraceIds by service, operation and start time (hour buckets)')} AND ${twcs(p)}`,
      // findTraceIds by duration range, newest first: a partition holds the spans of one hour whose durations are of
      // one decimal class (span-index.ts durationClass); a search merges the classes its range covers and filters
      // the edge classes on duration_ns (clustering by duration would find the shortest spans, not the newest)
      `CREATE TABLE IF NOT EXISTS span_by_duration_class (tenant text, service text, operation text, bucket int, class int, start_ns bigint, trace_id blob, span_id blob, duration_ns bigint,
        PRIMARY KEY ((tenant, service, operation, bucket, class), start_ns, trace_id, span_id)) WITH CLUSTERING ORDER BY (start_ns DESC, trace_id ASC, span_id ASC)
        AND ${comment("findTraceIds by duration range, newest first, per service (operation '') or service+operation (hour buckets, duration classes)")} AND ${twcs(p)}`,
      // findTraceIds by attribute: key = value as a string (span, scope, resource, event and link attributes)
      `CREATE TABLE IF NOT EXISTS span_by_attribute (tenant text, service text, key text, value text, bucket int, start_ns bigint, trace_id blob, span_id blob,
        PRIMARY KEY ((tenant, service, key, value, bucket), start_ns, trace_id, span_id)) WITH CLUSTERING ORDER BY (start_ns DESC, trace_id ASC, span_id ASC)
        AND ${comment('findTraceIds by an attribute value of a service (hour buckets)')} AND ${twcs(p)}`,
      // getDependencies: the traces with a span starting in an hour, in TRACE_LIST_SHARDS partitions per hour (their
      // spans are then read for the edges)
      `CREATE TABLE IF NOT EXISTS traces_by_hour (tenant text, hour int, shard int, trace_id blob, PRIMARY KEY ((tenant, hour, shard), trace_id))
        WITH ${comment('getDependencies: traces with a span starting in an hour (sharded by trace ID)')} AND ${twcs(p)}`,
      // getDependencies: links written by the dependencies job, by day and time
      `CREATE TABLE IF NOT EXISTS dependencies (tenant text, day int, ts bigint, parent text, child text, call_count bigint, source text,
        PRIMARY KEY ((tenant, day), ts, parent, child)) WITH ${comment('getDependencies: links written by the dependencies job')} AND ${twcs(p)}`,
      // getThroughput: adaptive sampling throughput by day and time
      `CREATE TABLE IF NOT EXISTS sampling_throughput (day int, at bigint, service text, operation text, count bigint, probabilities list<double>,
        PRIMARY KEY ((day), at, service, operation)) WITH ${comment('getThroughput: per-operation throughput by time')} AND ${twcs(p)}`,
      // getLatestProbabilities: one partition, newest first, read with LIMIT 1 (written about once a minute)
      `CREATE TABLE IF NOT EXISTS sampling_probabilities (scope int, at bigint, hostname text, probabilities text, qps text,
        PRIMARY KEY ((scope), at, hostname)) WITH CLUSTERING ORDER BY (at DESC, hostname ASC)
        AND ${comment('getLatestProbabilities: newest first (scope is always 0)')} AND ${twcs(p)}`,
      // the TraceStore this keyspace belongs to ("<namespace>/<name>"), claimed by the operator's check with a
      // lightweight transaction: a second TraceStore on the keyspace is refused, and cleanup drops only its owner's
      `CREATE TABLE IF NOT EXISTS store_owner (id int PRIMARY KEY, owner text, since timestamp)
        WITH ${comment('the TraceStore that owns this keyspace (id is always 0)')}`,
      // Lock: a lease per resource, taken and renewed with lightweight transactions (compare-and-set on holder and
      // expiry); the row's TTL only cleans up, the expiry column decides
      `CREATE TABLE IF NOT EXISTS leases (resource text PRIMARY KEY, holder text, expires_ms bigint)
        WITH ${comment('Lock: the holder of a resource and when its lease ends (LWT)')}`,
    ],
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Statements that set the retention on existing tables (idempotent; no data is rewritten). */
export function retentionStatements(p: SchemaParams): string[] {
  return retentionSettings(p).map((r) => r.cql);
}

/** Per table, the default TTL and TWCS window (hours; time-bucketed tables only) the retention asks for, and its ALTER. */
export function retentionSettings(p: SchemaParams): { table: string; ttlSeconds: number; windowHours?: number; cql: string }[] {
  const windowHours = p.windowHours ?? compactionWindowHours(p.ttlSeconds);
  return [
    ...TIMED_TABLES.map((t) => ({ table: t, ttlSeconds: p.ttlSeconds, windowHours, cql: `ALTER TABLE ${t} WITH ${twcs(p)}` })),
    ...NAME_TABLES.map((t) => ({ table: t, ttlSeconds: p.ttlSeconds, cql: `ALTER TABLE ${t} WITH ${ttl(p)}` })),
  ];
}

export type Replication = { class: 'SimpleStrategy'; replicationFactor: number } | { class: 'NetworkTopologyStrategy'; dataCenters: Record<string, number> };

const IDENT = /^[a-z][a-z0-9_]{0,47}$/;

const RESERVED: ReadonlySet<string> = new Set(CQL_RESERVED);

/**
 * A keyspace name of our own, else an error naming it: a name Cassandra accepts unquoted, not a reserved word, and
 * not one of Cassandra's system keyspaces (system, system_auth, system_schema, ...: every name starting with system).
 */
export function checkKeyspace(name: string): string {
  if (!IDENT.test(name)) throw new StorageError('InvalidArgument', `keyspace ${JSON.stringify(name)}: expected a lowercase letter, then up to 47 lowercase letters, digits or underscores`);
  if (name.startsWith('system')) throw new StorageError('InvalidArgument', `keyspace ${JSON.stringify(name)}: names starting with "system" are Cassandra's own keyspaces`);
  if (RESERVED.has(name)) throw new StorageError('InvalidArgument', `keyspace ${JSON.stringify(name)}: a reserved word of CQL`);
  return name;
}

/** Every table the migrations create, and schema_migrations: what a keyspace of ours holds. */
export const OUR_TABLES: ReadonlySet<string> = new Set([
  'schema_migrations',
  ...MIGRATIONS.flatMap((m) => m.statements({ ttlSeconds: 0 }).map((st) => /^CREATE TABLE IF NOT EXISTS (\w+)/.exec(st)?.[1] ?? '')).filter(Boolean),
]);

/** the columns of our schema_migrations table (another tool's table of that name has others) */
export const MIGRATIONS_COLUMNS = ['applied_at', 'description', 'version'] as const;

/**
 * Whether a keyspace is ours, from its tables and the columns of its schema_migrations table: empty, or only tables
 * our migrations make, with a schema_migrations of our shape (golang-migrate, for one, names its table the same).
 * Otherwise the reason it is not, naming a few of its tables.
 */
export function foreignKeyspace(keyspace: string, tables: readonly string[], migrationColumns: readonly string[]): string | undefined {
  if (tables.length === 0) return undefined;
  const others = tables.filter((t) => !OUR_TABLES.has(t));
  const ourShape = MIGRATIONS_COLUMNS.every((c) => migrationColumns.includes(c)) && migrationColumns.length === MIGRATIONS_COLUMNS.length;
  if (others.length === 0 && tables.includes('schema_migrations') && ourShape) return undefined;
  const shown = (others.length ? others : tables).slice(0, 5);
  const more = (others.length ? others : tables).length > 5 ? ', ...' : '';
  const why = others.length ? `holds tables not made by this store (${shown.join(', ')}${more})` : `holds a schema_migrations table of another tool`;
  return `keyspace ${JSON.stringify(keyspace)}: ${why}: choose another keyspace`;
}

/** Refuses to adopt a keyspace that is not ours (see foreignKeyspace): provisioning would mix our tables into it. */
export function checkAdoptable(keyspace: string, tables: readonly string[], migrationColumns: readonly string[] = MIGRATIONS_COLUMNS): void {
  const why = foreignKeyspace(keyspace, tables, migrationColumns);
  if (why) throw new StorageError('InvalidArgument', why);
}

export function createKeyspace(keyspace: string, r: Replication): string {
  const repl =
    r.class === 'SimpleStrategy'
      ? `{'class': 'SimpleStrategy', 'replication_factor': ${r.replicationFactor}}`
      : `{'class': 'NetworkTopologyStrategy', ${Object.entries(r.dataCenters)
          .map(([dc, n]) => `'${dc.replace(/'/g, "''")}': ${n}`)
          .join(', ')}}`;
  return `CREATE KEYSPACE IF NOT EXISTS ${checkKeyspace(keyspace)} WITH replication = ${repl}`;
}

export const MIGRATIONS_TABLE = 'CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, description text, applied_at timestamp)';
