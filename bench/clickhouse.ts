// ClickHouse storage, ours next to the OpenTelemetry collector's clickhouseexporter schema (otel_traces and its
// trace-ID time table), on one ClickHouse engine (chdb 26.7 behind the test HTTP front, test/env/clickhouse.ts),
// loaded with the same spans and asked for the same answers, one after the other:
//  - insert: BENCH_SPANS spans (default 1,000,000) in traces of 20 spans over 20 services, spread over the last
//    6 hours, with random-looking trace IDs and the ten attributes of bench/span-shape.ts; ours through our trace
//    writer fed as the runtime feeds it (batches of 5,000 spans, as many at once as the backend asks the runtime
//    for, joined by the writer into inserts of up to 50,000 rows), otel_traces as
//    JSONEachRow inserts of 8,192 rows (the collector's batch size) from the same client, attributes as strings as
//    the exporter stores them. Spans per second until the last insert is acknowledged; CPU of this process (row
//    encoding and HTTP) and of the engine.
//  - disk: bytes on disk per span after OPTIMIZE FINAL (all tables of each side), and the compression ratio of the
//    spans table (uncompressed / compressed bytes).
//  - get-trace (BENCH_GETS, default 200 random traces): ours through the trace reader (trace_times, then the spans of
//    the trace's window, decoded to spans); otel: its trace-ID table for the window, then the trace's rows (the
//    query Grafana's ClickHouse plugin makes), decoded from JSON.
//  - search by service (BENCH_FINDS, default 100): the 20 most recent traces of a service in the last hour; search by
//    operation: the same with one of its 10 span names; search by attribute: the service's 20 most recent traces of
//    the 6 hours with user.id = one of the service's 250 users (of 5,000; each in TRACES / 5,000 traces, all found:
//    a search that finds nothing would only measure how fast the bloom filters rule a service out). Ours through the trace reader (trace IDs with their whole
//    trace's time range), otel with the equivalent SQL (ORDER BY the latest start, LIMIT 20).
// The engine runs one statement at a time (it is one session), so the latencies are of one query on an idle engine.
// Jaeger's published figures (4 cores, 10M spans) are printed next to ours; per-core insert rates divide by the cores
// each had (os.availableParallelism() here).
//
//   npm run bench:clickhouse                         1,000,000 spans
//   BENCH_SPANS=10000000 npm run bench:clickhouse    Jaeger's 10M
//   BENCH_SMOKE=1 BENCH_SPANS=20000 BENCH_GETS=20 BENCH_FINDS=10 npm run bench:clickhouse   checks that it runs
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { type ResourceSpans, type Span, attrToString } from '../src/storage/api/index.js';
import { DEFAULT_PIPELINE } from '../src/runtime/pipeline.js';
import { ClickHouseBackend } from '../src/storage/clickhouse/store.js';
import { startClickHouse } from '../test/env/clickhouse.js';
import { procStat } from '../test/env/server-process.js';
import { benchSpan } from './span-shape.js';

const SPANS = Number(process.env.BENCH_SPANS ?? 1_000_000);
const GETS = Number(process.env.BENCH_GETS ?? 200);
const FINDS = Number(process.env.BENCH_FINDS ?? 100);
const PER_TRACE = 20;
const SERVICES = 20;
const TRACES = Math.floor(SPANS / PER_TRACE);
const BATCH_SPANS = DEFAULT_PIPELINE.batchSpans;
const OTEL_BATCH = 8192;
const WINDOW_NS = 6n * 3_600_000_000_000n;
const NOW = BigInt(Date.now()) * 1_000_000n;
const T0 = NOW - WINDOW_NS;
const CORES = availableParallelism();
const JAEGER = { cores: 4, insert: 52_129, compression: 8.6, get: 101, service: 37, attribute: 1_769 };

const traceId = (i: number): string => createHash('sha1').update(`trace ${i}`).digest('hex').slice(0, 32);
const spanId = (i: number, j: number): string => createHash('sha1').update(`span ${i} ${j}`).digest('hex').slice(0, 16);
const traceStart = (i: number): bigint => T0 + (WINDOW_NS * BigInt(i)) / BigInt(TRACES);

/** the spans of traces [first, first + n) as batches of one resource (service) per trace */
function traces(first: number, n: number): ResourceSpans[] {
  const out: ResourceSpans[] = [];
  for (let i = first; i < first + n && i < TRACES; i++) {
    const start = traceStart(i);
    const spans: Span[] = Array.from({ length: PER_TRACE }, (_, j) => {
      const at = start + BigInt(j) * 1_000_000n;
      return benchSpan({ i, j, traceId: traceId(i), spanId: spanId(i, j), parentSpanId: j ? spanId(i, 0) : '', name: `op-${(i + j) % 10}`, start: at, end: at + BigInt(1_000_000 + ((i * 7 + j) % 50) * 1_000_000), ratioOffset: 0.05 });
    });
    out.push({ resource: { attributes: [{ key: 'service.name', value: `service-${i % SERVICES}` }, { key: 'host.name', value: `host-${i % 50}` }], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 'bench', version: '1', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }] });
  }
  return out;
}

const OTEL_DDL = (db: string): string[] => [
  `CREATE DATABASE IF NOT EXISTS ${db}`,
  `CREATE TABLE ${db}.otel_traces (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (Timestamp DateTime64(9), Name LowCardinality(String), Attributes Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    Links Nested (TraceId String, SpanId String, TraceState String, Attributes Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
  ) ENGINE = MergeTree PARTITION BY toDate(Timestamp) ORDER BY (ServiceName, SpanName, toDateTime(Timestamp)) SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`,
  `CREATE TABLE ${db}.otel_traces_trace_id_ts (TraceId String CODEC(ZSTD(1)), Start DateTime CODEC(Delta, ZSTD(1)), End DateTime CODEC(Delta, ZSTD(1)), INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1)
   ENGINE = MergeTree PARTITION BY toDate(Start) ORDER BY (TraceId, Start) SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1`,
  `CREATE MATERIALIZED VIEW ${db}.otel_traces_trace_id_ts_mv TO ${db}.otel_traces_trace_id_ts AS SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End FROM ${db}.otel_traces WHERE TraceId != '' GROUP BY TraceId`,
];

const KIND_NAMES = ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'];
const STATUS = ['Unset', 'Ok', 'Error'];
const ts = (ns: bigint): string => `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
const strMap = (attrs: readonly { key: string; value: Parameters<typeof attrToString>[0] }[]): Record<string, string> => Object.fromEntries(attrs.map((a) => [a.key, attrToString(a.value)]));

/** otel_traces rows of a batch, as the exporter fills them (attribute values as strings) */
function otelRows(batch: ResourceSpans[]): string[] {
  const out: string[] = [];
  for (const rs of batch) {
    const res = strMap(rs.resource.attributes);
    const service = res['service.name'] ?? '';
    for (const ss of rs.scopeSpans)
      for (const s of ss.spans)
        out.push(
          JSON.stringify({
            Timestamp: ts(s.startTimeUnixNano),
            TraceId: s.traceId,
            SpanId: s.spanId,
            ParentSpanId: s.parentSpanId,
            TraceState: s.traceState,
            SpanName: s.name,
            SpanKind: KIND_NAMES[s.kind],
            ServiceName: service,
            ResourceAttributes: res,
            ScopeName: ss.scope.name,
            ScopeVersion: ss.scope.version,
            SpanAttributes: strMap(s.attributes),
            Duration: (s.endTimeUnixNano - s.startTimeUnixNano).toString(),
            StatusCode: STATUS[s.status.code],
            StatusMessage: s.status.message,
            'Events.Timestamp': [],
            'Events.Name': [],
            'Events.Attributes': [],
            'Links.TraceId': [],
            'Links.SpanId': [],
            'Links.TraceState': [],
            'Links.Attributes': [],
          }),
        );
  }
  return out;
}

const cpuTicks = (pid: number): number => procStat(pid)?.ticks ?? NaN;
const pct = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

interface Side {
  name: string;
  insertS: number;
  cpuSelfS: number;
  cpuEngineS: number;
  bytesPerSpan: number;
  compression: number;
  get: number[];
  service: number[];
  operation: number[];
  attribute: number[];
}

async function timed(n: number, run: (k: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const t = performance.now();
    await run(k);
    out.push(performance.now() - t);
  }
  return out;
}

async function sqlRows<T>(c: ClickHouseClient, query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await c.query({ query, query_params: params, format: 'JSONCompactEachRow' });
  return rs.json<T>();
}

async function disk(c: ClickHouseClient, db: string, spansTable: string): Promise<{ bytesPerSpan: number; compression: number }> {
  for (const [t] of await sqlRows<[string]>(c, "SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'", { db })) await c.command({ query: `OPTIMIZE TABLE ${db}.${t} FINAL` });
  const [[bytes]] = (await sqlRows<[string]>(c, 'SELECT sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active', { db })) as [[string]];
  const [[plain, packed]] = (await sqlRows<[string, string]>(c, 'SELECT sum(data_uncompressed_bytes), sum(data_compressed_bytes) FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active', { db, t: spansTable })) as [[string, string]];
  return { bytesPerSpan: Number(bytes) / SPANS, compression: Number(plain) / Number(packed) };
}

/** the queries' parameters, the same for both sides */
const getIds = Array.from({ length: GETS }, (_, k) => traceId((k * 7919) % TRACES));
const lastHour = { min: NOW - 3_600_000_000_000n, max: NOW };
/** traces a search by service finds at least: 20, or all of a service's last hour on a small load */
const WANT = Math.min(20, Math.floor(TRACES / 6 / SERVICES) - 1);
const services = Array.from({ length: FINDS }, (_, k) => `service-${k % SERVICES}`);
/** a user of the service searched (user i % 5000 is in the traces i, which are in service i % SERVICES) */
const users = Array.from({ length: FINDS }, (_, k) => `user-${((k * 37) % (5000 / SERVICES)) * SERVICES + (k % SERVICES)}`);
/** traces a search by attribute finds: all of the user's */
const USER_TRACES = Math.min(20, Math.floor(TRACES / 5000));
const operations = Array.from({ length: FINDS }, (_, k) => `op-${(k * 3) % 10}`);

async function ours(c: ClickHouseClient, url: string, enginePid: number): Promise<Side> {
  const b = new ClickHouseBackend({ endpoints: [url], database: 'bench_ours' });
  await b.provision();
  const w = b.traceWriter();
  const self0 = process.cpuUsage();
  const eng0 = cpuTicks(enginePid);
  const t0 = performance.now();
  let next = 0;
  const per = BATCH_SPANS / PER_TRACE;
  await Promise.all(
    Array.from({ length: b.ingestWriters }, async () => {
      while (next < TRACES) {
        const first = next;
        next += per;
        await w.writeTraces(traces(first, per));
      }
    }),
  );
  const insertS = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const cpuEngineS = (cpuTicks(enginePid) - eng0) / 100;
  const d = await disk(c, 'bench_ours', 'spans');
  const r = b.traceReader();
  const get = await timed(GETS, async (k) => {
    let n = 0;
    for await (const chunk of r.getTraces([{ traceId: getIds[k]! }])) for (const t of chunk) for (const rs of t.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
    if (n !== PER_TRACE) throw new Error(`ours: trace ${getIds[k]} has ${n} spans, not ${PER_TRACE}`);
  });
  const find = async (q: Parameters<typeof r.findTraceIds>[0]): Promise<number> => {
    let n = 0;
    for await (const ids of r.findTraceIds(q)) n += ids.length;
    return n;
  };
  const service = await timed(FINDS, async (k) => {
    if ((await find({ serviceName: services[k]!, startTimeMin: lastHour.min, startTimeMax: lastHour.max, searchDepth: 20 })) < WANT) throw new Error(`ours: search by service found fewer than ${WANT} traces`);
  });
  const operation = await timed(FINDS, async (k) => {
    if ((await find({ serviceName: services[k]!, operationName: operations[k]!, startTimeMin: lastHour.min, startTimeMax: lastHour.max, searchDepth: 20 })) < WANT) throw new Error(`ours: search by operation found fewer than ${WANT} traces`);
  });
  const attribute = await timed(FINDS, async (k) => {
    if ((await find({ serviceName: services[k]!, attributes: { 'user.id': users[k]! }, startTimeMin: T0, startTimeMax: NOW, searchDepth: 20 })) < USER_TRACES) throw new Error(`ours: search by attribute found fewer than ${USER_TRACES} traces`);
  });
  await b.close();
  return { name: 'ours', insertS, cpuSelfS: (self.user + self.system) / 1e6, cpuEngineS, ...d, get, service, operation, attribute };
}

async function otel(c: ClickHouseClient, enginePid: number): Promise<Side> {
  const db = 'bench_otel';
  for (const q of OTEL_DDL(db)) await c.command({ query: q });
  const self0 = process.cpuUsage();
  const eng0 = cpuTicks(enginePid);
  const t0 = performance.now();
  const per = Math.floor(OTEL_BATCH / PER_TRACE);
  let next = 0;
  // the exporter sends one batch at a time per queue consumer; the front runs one statement at a time anyway
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (next < TRACES) {
        const first = next;
        next += per;
        const body = otelRows(traces(first, per)).join('\n');
        const r = await c.exec({ query: `INSERT INTO ${db}.otel_traces FORMAT JSONEachRow`, values: Readable.from([Buffer.from(body)], { objectMode: false }), clickhouse_settings: { date_time_input_format: 'best_effort' } });
        r.stream.resume();
        await new Promise((res, rej) => r.stream.once('end', res).once('error', rej));
      }
    }),
  );
  const insertS = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const cpuEngineS = (cpuTicks(enginePid) - eng0) / 100;
  const d = await disk(c, db, 'otel_traces');
  const get = await timed(GETS, async (k) => {
    const id = getIds[k]!;
    const [[start, end]] = (await sqlRows<[string, string]>(c, `SELECT min(Start), max(End) FROM ${db}.otel_traces_trace_id_ts WHERE TraceId = {id:String}`, { id })) as [[string, string]];
    const rows = await sqlRows<unknown[]>(c, `SELECT * FROM ${db}.otel_traces WHERE TraceId = {id:String} AND Timestamp >= {s:DateTime} AND Timestamp <= {e:DateTime} + 1 ORDER BY Timestamp`, { id, s: start, e: end });
    if (rows.length !== PER_TRACE) throw new Error(`otel: trace ${id} has ${rows.length} spans, not ${PER_TRACE}`);
  });
  const search = (extra: string) => `SELECT TraceId FROM ${db}.otel_traces WHERE ServiceName = {svc:String} AND Timestamp >= fromUnixTimestamp64Nano({min:Int64}) AND Timestamp <= fromUnixTimestamp64Nano({max:Int64})${extra} GROUP BY TraceId ORDER BY max(Timestamp) DESC LIMIT 20`;
  const service = await timed(FINDS, async (k) => {
    const rows = await sqlRows<[string]>(c, search(''), { svc: services[k], min: lastHour.min.toString(), max: lastHour.max.toString() });
    if (rows.length < WANT) throw new Error(`otel: search by service found fewer than ${WANT} traces`);
  });
  const operation = await timed(FINDS, async (k) => {
    const rows = await sqlRows<[string]>(c, search(' AND SpanName = {op:String}'), { svc: services[k], op: operations[k], min: lastHour.min.toString(), max: lastHour.max.toString() });
    if (rows.length < WANT) throw new Error(`otel: search by operation found fewer than ${WANT} traces`);
  });
  const attribute = await timed(FINDS, async (k) => {
    const rows = await sqlRows<[string]>(c, search(" AND SpanAttributes['user.id'] = {user:String}"), { svc: services[k], user: users[k], min: T0.toString(), max: NOW.toString() });
    if (rows.length < USER_TRACES) throw new Error(`otel: search by attribute found fewer than ${USER_TRACES} traces`);
  });
  return { name: 'otel_traces (clickhouseexporter schema)', insertS, cpuSelfS: (self.user + self.system) / 1e6, cpuEngineS, ...d, get, service, operation, attribute };
}

async function main(): Promise<void> {
  console.log(`bench:clickhouse: ${fmt(SPANS)} spans (${fmt(TRACES)} traces of ${PER_TRACE}), ${GETS} get-trace, ${FINDS} searches of each kind; ${CORES} cores`);
  const server = await startClickHouse();
  const c = createClient({ url: server.url, request_timeout: 600_000, log: { level: ClickHouseLogLevel.ERROR } });
  try {
    const [version] = (await sqlRows<[string]>(c, 'SELECT version()'))[0]!;
    console.log(`engine: ClickHouse ${version} (chdb) behind the test HTTP front at ${server.url}`);
    const sides = [await ours(c, server.url, server.proc.pid!), await otel(c, server.proc.pid!)];
    const rows: [string, (s: Side) => string][] = [
      ['insert spans/s', (s) => fmt(SPANS / s.insertS)],
      ['insert spans/s per core', (s) => fmt(SPANS / s.insertS / CORES)],
      ['CPU s: client / engine', (s) => `${fmt(s.cpuSelfS, 1)} / ${fmt(s.cpuEngineS, 1)}`],
      ['bytes on disk per span', (s) => fmt(s.bytesPerSpan, 1)],
      ['compression (spans table)', (s) => `${fmt(s.compression, 1)}x`],
      ['get-trace p50 / p99 ms', (s) => `${fmt(pct(s.get, 0.5), 1)} / ${fmt(pct(s.get, 0.99), 1)}`],
      ['search by service p50 / p99 ms', (s) => `${fmt(pct(s.service, 0.5), 1)} / ${fmt(pct(s.service, 0.99), 1)}`],
      ['search by operation p50 / p99 ms', (s) => `${fmt(pct(s.operation, 0.5), 1)} / ${fmt(pct(s.operation, 0.99), 1)}`],
      ['search by attribute p50 / p99 ms', (s) => `${fmt(pct(s.attribute, 0.5), 1)} / ${fmt(pct(s.attribute, 0.99), 1)}`],
    ];
    const jaeger = [fmt(JAEGER.insert), fmt(JAEGER.insert / JAEGER.cores), '', '', `${JAEGER.compression}x`, `${JAEGER.get} (avg)`, `${JAEGER.service} (avg)`, '', `${fmt(JAEGER.attribute)} (avg)`];
    const w = [34, 22, 40, 30];
    console.log(['figure', 'ours', sides[1]!.name, 'Jaeger v2 published (4 cores, 10M)'].map((h, i) => h.padEnd(w[i]!)).join(''));
    rows.forEach(([label, f], i) => console.log([label, f(sides[0]!), f(sides[1]!), jaeger[i]!].map((h, k) => h.padEnd(w[k]!)).join('')));
    const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
    console.log(
      `ratios ours/otel: insert ${ratio(sides[1]!.insertS, sides[0]!.insertS)} faster, disk ${ratio(sides[0]!.bytesPerSpan, sides[1]!.bytesPerSpan)}, get p50 ${ratio(pct(sides[0]!.get, 0.5), pct(sides[1]!.get, 0.5))}, service p50 ${ratio(pct(sides[0]!.service, 0.5), pct(sides[1]!.service, 0.5))}, operation p50 ${ratio(pct(sides[0]!.operation, 0.5), pct(sides[1]!.operation, 0.5))}, attribute p50 ${ratio(pct(sides[0]!.attribute, 0.5), pct(sides[1]!.attribute, 0.5))} (latency ratios: lower is better)`,
    );
  } finally {
    await c.close();
    await server.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
