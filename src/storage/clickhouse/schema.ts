// The ClickHouse schema as pure functions of the settings: versioned migrations (DDL rendered for one server or for
// a cluster), and the retention clauses. Each table is shaped by the queries that read it:
//  - spans: one row per span, sorted by (service, hour of the start, trace_id, start_ns) in partitions of days (or
//    hours) of start time. A search with a service and a time window reads the parts of the window and, in them,
//    the hours of its service. The spans of one trace in one service and hour are neighbours, so GetTrace reads a
//    granule or two per service and hour of the trace (the bloom filter on trace_id drops the other services'
//    granules), not one per operation as with the operation in the key; and trace IDs, times and attributes
//    compress better next to their trace's. The operation is a bloom filter: a search by operation reads the
//    service's hours, skipping only granules without that name (a rare one is cheap, a common one is not). Attributes are typed (str/int/dbl/bool maps, other values as OTLP/JSON) so a search on an
//    int or a bool compares numbers, not strings; bloom filters on the map keys and string values skip granules
//    without the attribute.
//  - trace_times: per trace ID its first start and its last end (max of end times, not of start times), filled by a
//    materialized view and sorted by trace ID: GetTrace reads the window of the trace here and then only the
//    partitions of that window in spans.
//  - operations: service, span kind and full operation name, filled by a materialized view, sorted for
//    GetServices / GetOperations; names are never shortened or merged.
//  - attribute_keys (version 2): which attribute keys each service wrote, at which level and of which type,
//    filled by a materialized view: lets a search ask only the typed column an attribute lives in.
//  - version 3 gives the int, double, bool and other maps plain String keys (LowCardinality stays on the string
//    maps, which hold most keys).
//  - dependencies (links written by a job), throughput and probabilities (adaptive sampling), leases (locks),
//    store_owner (which TraceStore uses the database) and schema_migrations.
// Retention is a TTL on every time-keyed table; with ttl_only_drop_parts whole parts (day partitions) are dropped.
import { InvalidArgumentError } from '../api/errors.js';

export interface SchemaParams {
  database: string;
  /** cluster name: DDL ON CLUSTER, Replicated* engines, Distributed tables over `<table>_local` (empty: one server) */
  cluster?: string;
  /** partitions of the spans table */
  partitionBy?: 'day' | 'hour';
  /** retention in seconds; 0: keep forever */
  ttlSeconds: number;
}

export interface Migration {
  version: number;
  description: string;
  statements(p: SchemaParams): string[];
  /** settings of its statements */
  settings?: Record<string, number>;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** A database or cluster name usable unquoted in DDL, else InvalidArgumentError naming the field. */
export function checkIdentifier(field: string, v: string): string {
  if (!IDENT.test(v)) throw new InvalidArgumentError(field, `${JSON.stringify(v.slice(0, 80))} is not a ClickHouse identifier: use letters, digits and "_", starting with a letter or "_", at most 64 characters`);
  return v;
}

/** seconds since the epoch of the span start, as a DateTime (partition keys and TTLs need one) */
const START_SECONDS = "toDateTime(intDiv(start_ns, 1000000000), 'UTC')";
const secondsOf = (col: string): string => `toDateTime(intDiv(${col}, 1000000000), 'UTC')`;

/** the tables a query names (on a cluster these are Distributed tables over `<name>_local`) */
export const TABLES = ['spans', 'trace_times', 'operations', 'attribute_keys', 'dependencies', 'throughput', 'probabilities', 'leases', 'store_owner', 'schema_migrations'] as const;
export type TableName = (typeof TABLES)[number];

/** tables filled by a materialized view from spans (their Distributed table, on a cluster, is read only) */
const VIEWS: Record<string, TableName> = { trace_times_mv: 'trace_times', operations_mv: 'operations', attribute_keys_mv: 'attribute_keys' };

const onCluster = (p: SchemaParams): string => (p.cluster ? ` ON CLUSTER ${p.cluster}` : '');
const local = (p: SchemaParams, t: string): string => `${p.database}.${p.cluster ? `${t}_local` : t}`;

/** MergeTree engine of a table: Replicated* on a cluster (default replica path and name of the server config) */
function engine(p: SchemaParams, kind: 'MergeTree' | 'ReplacingMergeTree' | 'AggregatingMergeTree', args = ''): string {
  if (!p.cluster) return `${kind}(${args})`;
  return `Replicated${kind}('/clickhouse/tables/{shard}/${p.database}/{table}', '{replica}'${args ? `, ${args}` : ''})`;
}

/** TTL clause of a table whose rows expire `ttlSeconds` after `timeExpr` (none when the retention is forever) */
const ttl = (p: SchemaParams, timeExpr: string): string => (p.ttlSeconds > 0 ? `\nTTL ${timeExpr} + toIntervalSecond(${p.ttlSeconds})` : '');

/**
 * CREATE TABLE of `t` (local on a cluster) plus, on a cluster, its Distributed table under the plain name,
 * sharded by `shardKey` (spans by trace ID: a trace lives on one shard, so its spans join there).
 */
function table(p: SchemaParams, t: TableName, body: string, rest: string, shardKey = 'rand()'): string[] {
  const out = [`CREATE TABLE IF NOT EXISTS ${local(p, t)}${onCluster(p)}\n(\n${body}\n)\nENGINE = ${rest}`];
  if (p.cluster) out.push(`CREATE TABLE IF NOT EXISTS ${p.database}.${t}${onCluster(p)} AS ${local(p, t)} ENGINE = Distributed(${p.cluster}, ${p.database}, ${t}_local, ${shardKey})`);
  return out;
}

/** CREATE MATERIALIZED VIEW from the (local) spans table into the (local) `into` table */
const view = (p: SchemaParams, name: string, into: TableName, select: string): string =>
  `CREATE MATERIALIZED VIEW IF NOT EXISTS ${p.database}.${name}${onCluster(p)} TO ${local(p, into)}\nAS ${select.replace(/\bFROM spans\b/, `FROM ${local(p, 'spans')}`)}`;

/** value types of the typed attribute maps, in their order (attribute_keys numbers them from 1 in this order) */
const MAP_TYPES = [
  ['str', 'String'],
  ['int', 'Int64'],
  ['dbl', 'Float64'],
  ['bool', 'Bool'],
  ['other', 'String'],
] as const;

/** the typed attribute maps of spans: column, level (1 span, 2 resource), type number, value type */
const ATTRIBUTE_MAPS = (['attr', 'res'] as const).flatMap((prefix, l) => MAP_TYPES.map(([t, value], i) => ({ prefix, col: `${prefix}_${t}`, level: l + 1, type: i + 1, value })));

/** the maps whose keys are plain strings since version 3: all but the string maps */
const PLAIN_KEY_MAPS = ATTRIBUTE_MAPS.filter((m) => m.type !== 1);

/** attribute keys per service, level and type of the spans in `from`, grouped by key set before they are unrolled */
function attributeKeysByKeySet(from: string): string {
  const keySets = `SELECT service, ${ATTRIBUTE_MAPS.map((m) => `mapKeys(${m.col}) AS ${m.col}`).join(', ')}, max(${START_SECONDS}) AS seen FROM ${from} GROUP BY service, ${ATTRIBUTE_MAPS.map((m) => m.col).join(', ')}`;
  const unrolled = ATTRIBUTE_MAPS.map((m) => `arrayMap(k -> (${m.level}, k, ${m.type}), ${m.col})`).join(', ');
  return `SELECT service, a.1 AS level, a.2 AS key, a.3 AS type, max(seen) AS last_seen FROM (${keySets}) ARRAY JOIN arrayConcat(${unrolled}) AS a GROUP BY service, level, key, type`;
}
const modifyMap = (m: { col: string; value: string }): string => `MODIFY COLUMN ${m.col} Map(String, ${m.value}) CODEC(ZSTD(1))`;

/** typed attribute maps of one level (span or resource), as version 1 created them */
const attributeColumns = (prefix: 'attr' | 'res'): string =>
  [
    ...ATTRIBUTE_MAPS.filter((m) => m.prefix === prefix).map((m) => `${m.col} Map(LowCardinality(String), ${m.value}) CODEC(ZSTD(1))`),
    `${prefix}_order LowCardinality(String) CODEC(ZSTD(1))`,
  ].join(',\n  ');

export const SPAN_COLUMNS = [
  'trace_id String CODEC(ZSTD(1))',
  'span_id String CODEC(ZSTD(1))',
  'parent_span_id String CODEC(ZSTD(1))',
  'trace_state String CODEC(ZSTD(1))',
  'flags UInt32 CODEC(ZSTD(1))',
  'name LowCardinality(String) CODEC(ZSTD(1))',
  'kind UInt8 CODEC(ZSTD(1))',
  'start_ns Int64 CODEC(Delta, ZSTD(1))',
  // the duration, not the end: small numbers take a fraction of a byte per span where end times take four
  'duration_ns Int64 CODEC(T64, ZSTD(1))',
  // a span without an end time (0 in OTLP) keeps it: its duration is 0 and its end reads back as 0
  'end_unset Bool CODEC(ZSTD(1))',
  'end_ns Int64 ALIAS if(end_unset, 0, start_ns + duration_ns)',
  'status_code UInt8 CODEC(ZSTD(1))',
  'status_message String CODEC(ZSTD(1))',
  'dropped UInt32 CODEC(ZSTD(1))',
  'dropped_events UInt32 CODEC(ZSTD(1))',
  'dropped_links UInt32 CODEC(ZSTD(1))',
  attributeColumns('attr'),
  'events String CODEC(ZSTD(1))',
  'links String CODEC(ZSTD(1))',
  'service LowCardinality(String) CODEC(ZSTD(1))',
  attributeColumns('res'),
  'res_dropped UInt32 CODEC(ZSTD(1))',
  'res_schema_url LowCardinality(String) CODEC(ZSTD(1))',
  'scope_name LowCardinality(String) CODEC(ZSTD(1))',
  'scope_version LowCardinality(String) CODEC(ZSTD(1))',
  'scope_attrs String CODEC(ZSTD(1))',
  'scope_dropped UInt32 CODEC(ZSTD(1))',
  'scope_schema_url LowCardinality(String) CODEC(ZSTD(1))',
  // attributes of the scope, events and links, and span and resource values of other types, as search terms
  // (level letter, key and the string a search compares; c: scope, e: event, l: link, s: span, r: resource)
  'search_terms Array(String) CODEC(ZSTD(1))',
];

const SPAN_INDEXES = [
  'INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1',
  'INDEX idx_duration duration_ns TYPE minmax GRANULARITY 1',
  'INDEX idx_name name TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_attr_keys mapKeys(attr_str) TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_attr_values mapValues(attr_str) TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_res_values mapValues(res_str) TYPE bloom_filter(0.01) GRANULARITY 1',
  'INDEX idx_search_terms search_terms TYPE bloom_filter(0.01) GRANULARITY 1',
];

const HOUR_NS = 3_600_000_000_000;

/** partition expression of the spans table */
export const spansPartition = (by: 'day' | 'hour' = 'day'): string => (by === 'hour' ? `toStartOfHour(${START_SECONDS})` : `toDate(${START_SECONDS})`);

/** Settings of the MergeTree tables: a written part is synced to disk before the insert is acknowledged. */
const DURABLE = 'fsync_after_insert = 1, fsync_part_directory = 1';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'spans, trace time ranges, services and operations, dependencies, sampling, leases',
    statements: (p) => [
      ...table(
        p,
        'spans',
        [...SPAN_COLUMNS, ...SPAN_INDEXES].map((c) => `  ${c}`).join(',\n'),
        `${engine(p, 'MergeTree')}\nPARTITION BY ${spansPartition(p.partitionBy)}\nORDER BY (service, intDiv(start_ns, ${HOUR_NS}), trace_id, start_ns)${ttl(p, START_SECONDS)}\nSETTINGS ttl_only_drop_parts = 1, ${DURABLE}${p.cluster ? '' : ', non_replicated_deduplication_window = 1000'}`,
        'cityHash64(trace_id)',
      ),
      ...table(
        p,
        'trace_times',
        '  trace_id String CODEC(ZSTD(1)),\n  start_ns SimpleAggregateFunction(min, Int64),\n  end_ns SimpleAggregateFunction(max, Int64)',
        `${engine(p, 'AggregatingMergeTree')}\nPARTITION BY toDate(${secondsOf('start_ns')})\nORDER BY trace_id${ttl(p, secondsOf('start_ns'))}\nSETTINGS ttl_only_drop_parts = 1, ${DURABLE}`,
        'cityHash64(trace_id)',
      ),
      view(p, 'trace_times_mv', 'trace_times', 'SELECT trace_id, min(s) AS start_ns, max(e) AS end_ns FROM (SELECT trace_id, start_ns AS s, greatest(end_ns, start_ns) AS e FROM spans) GROUP BY trace_id'),
      ...table(
        p,
        'operations',
        '  service LowCardinality(String),\n  kind UInt8,\n  name String,\n  last_seen DateTime',
        `${engine(p, 'ReplacingMergeTree', 'last_seen')}\nORDER BY (service, kind, name)${ttl(p, 'last_seen')}\nSETTINGS ${DURABLE}`,
      ),
      view(p, 'operations_mv', 'operations', `SELECT service, kind, name, max(${START_SECONDS}) AS last_seen FROM spans GROUP BY service, kind, name`),
      ...table(
        p,
        'dependencies',
        '  at_ns Int64,\n  parent String,\n  child String,\n  call_count UInt64,\n  source LowCardinality(String)',
        `${engine(p, 'MergeTree')}\nORDER BY at_ns${ttl(p, secondsOf('at_ns'))}\nSETTINGS ${DURABLE}`,
      ),
      ...table(
        p,
        'throughput',
        '  at_ns Int64,\n  service String,\n  operation String,\n  count UInt64,\n  probabilities Array(Float64)',
        `${engine(p, 'MergeTree')}\nORDER BY at_ns${ttl(p, secondsOf('at_ns'))}\nSETTINGS ${DURABLE}`,
      ),
      ...table(
        p,
        'probabilities',
        '  at_ns Int64,\n  hostname String,\n  probabilities String,\n  qps String',
        `${engine(p, 'MergeTree')}\nORDER BY at_ns${ttl(p, secondsOf('at_ns'))}\nSETTINGS ${DURABLE}`,
      ),
      ...table(p, 'leases', '  resource String,\n  holder String,\n  since DateTime64(3),\n  expires DateTime64(3)', `${engine(p, 'MergeTree')}\nORDER BY (resource, since)\nTTL toDateTime(expires) + toIntervalDay(1)\nSETTINGS ${DURABLE}`),
      ...table(p, 'store_owner', '  owner String,\n  since DateTime64(3)', `${engine(p, 'MergeTree')}\nORDER BY since\nSETTINGS ${DURABLE}`),
    ],
  },
  {
    version: 2,
    description: 'attribute keys per service, level and type (filled from the spans already stored)',
    statements: (p) => {
      const keys = ATTRIBUTE_MAPS.map((m) => `arrayMap(k -> (${m.level}, k, ${m.type}), mapKeys(${m.col}))`).join(', ');
      const select = `SELECT service, a.1 AS level, a.2 AS key, a.3 AS type, max(${START_SECONDS}) AS last_seen FROM spans ARRAY JOIN arrayConcat(${keys}) AS a GROUP BY service, level, key, type`;
      return [
        ...table(
          p,
          'attribute_keys',
          '  service LowCardinality(String),\n  level UInt8,\n  key String,\n  type UInt8,\n  last_seen DateTime',
          `${engine(p, 'ReplacingMergeTree', 'last_seen')}\nORDER BY (service, level, key, type)${ttl(p, 'last_seen')}\nSETTINGS ${DURABLE}`,
        ),
        view(p, 'attribute_keys_mv', 'attribute_keys', select),
        // the spans stored before this version: their keys, once (a rerun after a failure writes them again, which
        // the ReplacingMergeTree folds). On a cluster through the Distributed tables: the spans of every shard, not
        // only of the node that provisions, since a search compares an attribute only where attribute_keys has its key.
        `INSERT INTO ${p.database}.attribute_keys ${select.replace(/\bFROM spans\b/, `FROM ${p.database}.spans`)}`,
      ];
    },
  },
  {
    version: 3,
    description: 'cheaper inserts: plain String keys in the int, double, bool and other attribute maps; attribute keys grouped by key set',
    // A few keys per span in four maps cost the engine a LowCardinality dictionary each, per insert and per merge,
    // for a fraction of a byte on disk: measured, a third of the insert CPU. The string maps hold most keys and keep
    // theirs. On a populated table the type change is a mutation that rewrites every part; the ALTERs do not wait
    // for it (alter_sync and mutations_sync 0): the metadata changes at once, and the parts are rewritten in the
    // background while reads and inserts go on (system.mutations shows the progress).
    // The attribute_keys view unrolled every key of every span before grouping; it now groups the spans by their
    // key sets first (a service writes few distinct ones) and unrolls only those.
    statements: (p) => [
      `ALTER TABLE ${local(p, 'spans')}${onCluster(p)} ${PLAIN_KEY_MAPS.map(modifyMap).join(', ')}`,
      ...(p.cluster ? [`ALTER TABLE ${p.database}.spans${onCluster(p)} ${PLAIN_KEY_MAPS.map(modifyMap).join(', ')}`] : []),
      `ALTER TABLE ${p.database}.attribute_keys_mv${onCluster(p)} MODIFY QUERY ${attributeKeysByKeySet(local(p, 'spans'))}`,
    ],
    settings: { alter_sync: 0, mutations_sync: 0 },
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** the table of applied migrations: created first, outside the versioned list */
export const migrationsTable = (p: SchemaParams): string[] =>
  table(p, 'schema_migrations', '  version UInt32,\n  description String,\n  applied_at DateTime', `${engine(p, 'MergeTree')}\nORDER BY version\nSETTINGS ${DURABLE}`);

export const createDatabase = (p: SchemaParams): string => `CREATE DATABASE IF NOT EXISTS ${p.database}${onCluster(p)}`;
export const dropDatabase = (p: SchemaParams): string => `DROP DATABASE IF EXISTS ${p.database}${onCluster(p)} SYNC`;

/** the tables whose rows expire with the retention, and the time expression of each */
export const RETENTION_TABLES: readonly { table: TableName; time: string }[] = [
  { table: 'spans', time: START_SECONDS },
  { table: 'trace_times', time: secondsOf('start_ns') },
  { table: 'operations', time: 'last_seen' },
  { table: 'attribute_keys', time: 'last_seen' },
  { table: 'dependencies', time: secondsOf('at_ns') },
  { table: 'throughput', time: secondsOf('at_ns') },
  { table: 'probabilities', time: secondsOf('at_ns') },
];

/** ALTERs that set the retention of every time-keyed table (local tables on a cluster) */
export function retentionStatements(p: SchemaParams): { table: TableName; sql: string }[] {
  return RETENTION_TABLES.map(({ table: t, time }) => ({
    table: t,
    sql: p.ttlSeconds > 0 ? `ALTER TABLE ${local(p, t)}${onCluster(p)} MODIFY TTL ${time} + toIntervalSecond(${p.ttlSeconds})` : `ALTER TABLE ${local(p, t)}${onCluster(p)} REMOVE TTL`,
  }));
}


/** names of our tables and views, as they exist on one server (local tables on a cluster) */
export function ownObjects(p: SchemaParams): string[] {
  const tables = TABLES.flatMap((t) => (p.cluster ? [`${t}_local`, t] : [t]));
  return [...tables, ...Object.keys(VIEWS)];
}
