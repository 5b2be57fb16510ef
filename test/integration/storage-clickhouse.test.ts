// The storage contract suite against the ClickHouse engine (chdb behind the test HTTP front, so the backend's HTTP
// client path is the real one), then what is easy to get wrong on ClickHouse: the most recent traces for a search
// limit (an ORDER BY with the LIMIT), error=true and error=false, the end time of a trace whose last span starts
// early and ends late, operations that differ only late in their names, a migration of a populated database, a
// retention change, and acknowledged spans surviving kill -9 of the server.
import { createClient } from '@clickhouse/client';
import { type AttrValue, type KeyValue, type ResourceSpans, SpanKind, StatusCode, type TraceChunk, type TraceSummary, checkTraceQuery, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { ClickHouseBackend, type ClickHouseBackendConfig } from '../../src/storage/clickhouse/store.js';
import { LATEST_VERSION } from '../../src/storage/clickhouse/schema.js';
import { findTraceIdsSql, getTracesSql, searchOf } from '../../src/storage/clickhouse/reader.js';
import { ABORT_CHUNK_SPANS, runAbortCases, runInFlightAbortCase } from '../../src/storage/testing/abort.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';
import { type ClickHouseServer, startClickHouse } from '../env/clickhouse.js';
import { sharedServer } from '../env/server-process.js';

const { shared, release } = sharedServer(() => startClickHouse());

const config = (s: ClickHouseServer, database: string, extra: Partial<ClickHouseBackendConfig> = {}): ClickHouseBackendConfig => ({ endpoints: [s.url], database, ...extra });

beforeAll(async () => {
  await shared();
}, 300_000);
afterAll(release);

runStorageContract('clickhouse', async () => {
  const s = await shared();
  return { backend: new ClickHouseBackend(config(s, 'contract')), capabilities: { findWithoutServiceName: true }, close: release };
});

runAbortCases('clickhouse', async () => {
  const s = await shared();
  return { backend: new ClickHouseBackend(config(s, 'abort', { chunkSpans: ABORT_CHUNK_SPANS })), close: release };
});

runInFlightAbortCase('clickhouse', async () => {
  const s = await shared();
  return { backend: new ClickHouseBackend(config(s, 'abort_flight')), close: release };
});

const MS = 1_000_000n;
const spanId = (i: number): string => (i + 1).toString(16).padStart(16, '0');
const traceId = (prefix: string, i: number): string => `${prefix}${i.toString(16).padStart(32 - prefix.length, '0')}`;

async function chunks(it: AsyncIterable<TraceChunk[]>): Promise<TraceChunk[]> {
  const out: TraceChunk[] = [];
  for await (const b of it) out.push(...b);
  return out;
}
const spansOf = (cs: TraceChunk[]) => cs.flatMap((c) => c.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
async function ids(it: AsyncIterable<{ traceId: string; start?: bigint; end?: bigint }[]>): Promise<{ traceId: string; start?: bigint; end?: bigint }[]> {
  const out: { traceId: string; start?: bigint; end?: bigint }[] = [];
  for await (const b of it) out.push(...b);
  return out;
}

describe('clickhouse: what other ClickHouse stores get wrong', () => {
  let b: ClickHouseBackend;
  const now = BigInt(Date.now() - 3_600_000) * MS;

  beforeAll(async () => {
    const s = await shared();
    b = new ClickHouseBackend(config(s, 'pitfalls'));
    await b.provision();
    await b.purger().purge();
    // 30 traces one second apart, written newest first and in three batches, so neither insertion order nor the
    // order of parts gives the answer
    const batches: ResourceSpans[][] = [[], [], []];
    for (let i = 29; i >= 0; i--) {
      const start = now + BigInt(i) * 1000n * MS;
      batches[i % 3]!.push(serviceBatch('ordering', [newSpan({ traceId: traceId('a0', i), spanId: spanId(0), name: 'tick', kind: SpanKind.Server, startTimeUnixNano: start, endTimeUnixNano: start + MS })]));
    }
    for (const batch of batches) await b.traceWriter().writeTraces(batch);
    // error and ok and unset spans
    const status = (i: number, code: StatusCode) =>
      serviceBatch('statuses', [newSpan({ traceId: traceId('b0', i), spanId: spanId(0), name: 'call', startTimeUnixNano: now, endTimeUnixNano: now + MS, status: { code, message: code === StatusCode.Error ? 'boom' : '' } })]);
    await b.traceWriter().writeTraces([status(1, StatusCode.Error), status(2, StatusCode.Ok), status(3, StatusCode.Unset), status(4, StatusCode.Error)]);
    // a trace whose last-starting span ends before an earlier span does
    const long = traceId('c0', 1);
    await b.traceWriter().writeTraces([
      serviceBatch('timing', [
        newSpan({ traceId: long, spanId: spanId(0), name: 'root', startTimeUnixNano: now, endTimeUnixNano: now + 10_000n * MS }),
        newSpan({ traceId: long, spanId: spanId(1), parentSpanId: spanId(0), name: 'late-short', startTimeUnixNano: now + 100n * MS, endTimeUnixNano: now + 200n * MS }),
      ]),
    ]);
    // operations whose names differ only after a long common prefix, and in kind
    const prefix = `GET /api/v1/${'segment/'.repeat(40)}`;
    await b.traceWriter().writeTraces([
      serviceBatch('naming', [
        newSpan({ traceId: traceId('d0', 1), spanId: spanId(0), name: `${prefix}users`, kind: SpanKind.Server, startTimeUnixNano: now, endTimeUnixNano: now + MS }),
        newSpan({ traceId: traceId('d0', 1), spanId: spanId(1), name: `${prefix}orders`, kind: SpanKind.Server, startTimeUnixNano: now, endTimeUnixNano: now + MS }),
        newSpan({ traceId: traceId('d0', 1), spanId: spanId(2), name: `${prefix}users`, kind: SpanKind.Client, startTimeUnixNano: now, endTimeUnixNano: now + MS }),
      ]),
    ]);
  }, 120_000);
  afterAll(async () => {
    await b?.close();
    await release();
  });

  it('returns the most recent traces for a search limit, newest first', async () => {
    const got = await ids(b.traceReader().findTraceIds({ serviceName: 'ordering', searchDepth: 5 }));
    expect(got.map((f) => f.traceId)).toEqual([29, 28, 27, 26, 25].map((i) => traceId('a0', i)));
    const window = await ids(b.traceReader().findTraceIds({ serviceName: 'ordering', searchDepth: 3, startTimeMin: now, startTimeMax: now + 10_000n * MS }));
    expect(window.map((f) => f.traceId)).toEqual([10, 9, 8].map((i) => traceId('a0', i)));
  });

  it('finds by error=true and by error=false', async () => {
    const find = async (error: boolean) => (await ids(b.traceReader().findTraceIds({ serviceName: 'statuses', searchDepth: 10, attributes: { error } }))).map((f) => f.traceId).sort();
    expect(await find(true)).toEqual([traceId('b0', 1), traceId('b0', 4)]);
    expect(await find(false)).toEqual([traceId('b0', 2), traceId('b0', 3)]);
    const byStatus = await ids(b.traceReader().findTraceIds({ serviceName: 'statuses', searchDepth: 10, attributes: { 'span.status': 'ok' } }));
    expect(byStatus.map((f) => f.traceId)).toEqual([traceId('b0', 2)]);
  });

  it('matches a value equal to its type default only where the key is there', async () => {
    // trace 1 carries the keys with default values ('', 0, 0.0 as 0, false), trace 2 with others, trace 3 none
    const attrs: KeyValue[][] = [
      [{ key: 'k', value: '' }, { key: 'n', value: 0n }, { key: 'x', value: 0 }, { key: 'f', value: false }],
      [{ key: 'k', value: 'v' }, { key: 'n', value: 5n }, { key: 'x', value: 2.5 }, { key: 'f', value: true }],
      [],
    ];
    const start = now + 100_000n * MS;
    await b.traceWriter().writeTraces([serviceBatch('defaults', attrs.map((attributes, i) => newSpan({ traceId: traceId('c5', i + 1), spanId: spanId(0), name: 'op', startTimeUnixNano: start, endTimeUnixNano: start + MS, attributes })))]);
    const find = async (attributes: Record<string, string>) => (await ids(b.traceReader().findTraceIds({ serviceName: 'defaults', searchDepth: 10, attributes }))).map((f) => f.traceId).sort();
    for (const q of [{ k: '' }, { n: '0' }, { x: '0' }, { f: 'false' }] as Record<string, string>[]) expect(await find(q)).toEqual([traceId('c5', 1)]);
    for (const q of [{ k: 'v' }, { n: '5' }, { x: '2.5' }, { f: 'true' }] as Record<string, string>[]) expect(await find(q)).toEqual([traceId('c5', 2)]);
  });

  it('keeps the real end of a trace whose last span starts early and ends late', async () => {
    const s = await shared();
    const admin = createClient({ url: s.url });
    const rs = await admin.query({ query: `SELECT toString(max(end_ns)) FROM pitfalls.trace_times WHERE trace_id = '${traceId('c0', 1)}'`, format: 'JSONCompactEachRow' });
    expect((await rs.json<[string]>())[0]?.[0]).toBe(String(now + 10_000n * MS));
    await admin.close();
    await release();
    const spans = spansOf(await chunks(b.traceReader().getTraces([{ traceId: traceId('c0', 1) }])));
    expect(spans.map((s) => s.name).sort()).toEqual(['late-short', 'root']);
    // a search for spans that run long finds the trace by its long span, not by the late one
    const long = await ids(b.traceReader().findTraceIds({ serviceName: 'timing', durationMin: 5_000n * MS, searchDepth: 10 }));
    expect(long.map((f) => f.traceId)).toEqual([traceId('c0', 1)]);
  });

  it('keeps OTLP times from 2^63 on (fixed64, past the year 2262) exactly, as the other backends do', async () => {
    const top = 2n ** 64n - 1n;
    const half = 2n ** 63n;
    const cases = [
      [half - 1n, half + 5n],
      [half, half],
      [top - 1n, top],
      [5n, top],
    ] as const;
    const spans = cases.map(([start, end], i) => newSpan({ traceId: traceId('c7', i), spanId: spanId(0), name: 'far', startTimeUnixNano: start, endTimeUnixNano: end }));
    await b.traceWriter().writeTraces([serviceBatch('far-future', spans)]);
    for (const [i, [start, end]] of cases.entries()) {
      const got = spansOf(await chunks(b.traceReader().getTraces([{ traceId: traceId('c7', i) }])));
      expect(got.map((x) => [x.startTimeUnixNano, x.endTimeUnixNano])).toEqual([[start, end]]);
    }
    // and so do the summaries the engine computes: unsigned, as the shared rules compare them
    const got: TraceSummary[] = [];
    for await (const batch of b.traceReader().findTraceSummaries({ serviceName: 'far-future', searchDepth: 10 })) got.push(...batch);
    expect(got.map((x) => [x.traceId, x.minStartTimeUnixNano, x.maxEndTimeUnixNano]).sort((x, y) => String(x[0]).localeCompare(String(y[0])))).toEqual(cases.map(([start, end], i) => [traceId('c7', i), start, end]));
  });

  it('keeps operations apart that differ only late in their names, and by kind', async () => {
    const ops = await b.traceReader().getOperations({ service: 'naming' });
    const prefix = `GET /api/v1/${'segment/'.repeat(40)}`;
    expect(ops).toEqual([
      { name: `${prefix}orders`, spanKind: 'server' },
      { name: `${prefix}users`, spanKind: 'client' },
      { name: `${prefix}users`, spanKind: 'server' },
    ]);
    expect(await b.traceReader().getOperations({ service: 'naming', spanKind: 'client' })).toEqual([{ name: `${prefix}users`, spanKind: 'client' }]);
  });
});

describe('clickhouse schema', () => {
  let s: ClickHouseServer;
  const backends: ClickHouseBackend[] = [];
  const open = (database: string, extra: Partial<ClickHouseBackendConfig> = {}): ClickHouseBackend => {
    const b = new ClickHouseBackend(config(s, database, extra));
    backends.push(b);
    return b;
  };
  const admin = () => createClient({ url: s.url });
  const scalar = async (sql: string, params: Record<string, unknown> = {}): Promise<string> => {
    const c = admin();
    try {
      const rs = await c.query({ query: sql, format: 'JSONCompactEachRow', query_params: params });
      return String(((await rs.json<unknown[]>())[0] as unknown[] | undefined)?.[0] ?? '');
    } finally {
      await c.close();
    }
  };
  const now = BigInt(Date.now() - 60_000) * MS;
  const batch = (service: string, n: number, base = 0): ResourceSpans[] => [
    serviceBatch(
      service,
      Array.from({ length: n }, (_, i) =>
        newSpan({
          traceId: traceId('e0', base + Math.floor(i / 10)),
          spanId: spanId(i),
          name: `op-${i % 4}`,
          kind: SpanKind.Server,
          startTimeUnixNano: now + BigInt(i) * MS,
          endTimeUnixNano: now + BigInt(i) * MS + 500n,
          attributes: [
            { key: 'http.status_code', value: BigInt(200 + (i % 3)) },
            { key: 'customer', value: `c-${i % 7}` },
            { key: 'retry', value: i % 2 === 0 },
          ],
        }),
      ),
    ),
  ];

  beforeAll(async () => {
    s = await shared();
  }, 120_000);
  afterAll(async () => {
    for (const b of backends) await b.close();
    await release();
  });

  it('migrates a populated database from version 1 to the latest without losing a span', async () => {
    const v1 = open('migrating');
    await v1.provision(1);
    expect(v1.provisioned?.version).toBe(1);
    await v1.traceWriter().writeTraces(batch('migrated', 200));
    expect(await scalar("SELECT count() FROM system.tables WHERE database = 'migrating' AND name = 'attribute_keys'")).toBe('0');

    const latest = open('migrating');
    await latest.provision();
    expect(latest.provisioned).toEqual({ version: LATEST_VERSION, applied: [2, 3], retentionChanged: [] });
    expect(await scalar("SELECT type FROM system.columns WHERE database = 'migrating' AND table = 'spans' AND name = 'attr_int'")).toBe('Map(String, Int64)');
    expect(await scalar('SELECT count() FROM migrating.spans')).toBe('200');
    // the new table holds the keys of the spans written before it existed
    expect(await scalar("SELECT groupArray(key) FROM (SELECT DISTINCT key FROM migrating.attribute_keys WHERE service = 'migrated' AND level = 1 ORDER BY key)")).toBe('customer,http.status_code,retry');
    const found = await ids(latest.traceReader().findTraceIds({ serviceName: 'migrated', attributes: { 'http.status_code': 201n }, searchDepth: 100 }));
    expect(found).toHaveLength(20);
    const spans = spansOf(await chunks(latest.traceReader().getTraces(Array.from({ length: 20 }, (_, i) => ({ traceId: traceId('e0', i) })))));
    expect(spans).toHaveLength(200);
    // spans written after the migration reach attribute_keys through the changed view, with their types
    await latest.traceWriter().writeTraces(batch('after', 10, 100));
    expect(await scalar("SELECT arrayStringConcat(groupArray(concat(toString(level), ':', key, ':', toString(type))), ',') FROM (SELECT DISTINCT level, key, type FROM migrating.attribute_keys WHERE service = 'after' ORDER BY level, key)")).toBe('1:customer:1,1:http.status_code:2,1:retry:4,2:service.name:1');
    // and a third provision applies nothing
    const again = open('migrating');
    await again.provision();
    expect(again.provisioned?.applied).toEqual([]);
    expect(await scalar('SELECT groupArray(version) FROM (SELECT version FROM migrating.schema_migrations ORDER BY version)')).toBe('1,2,3');
  }, 120_000);

  it('reads only the partition of the window of a trace for GetTrace, in one statement', async () => {
    const b = open('windowed');
    await b.provision();
    const DAY = 86_400_000n * MS;
    // trace 0 three days ago, traces 1..9 today: two day partitions
    const spans = Array.from({ length: 10 }, (_, i) => newSpan({ traceId: traceId('f0', i), spanId: spanId(i), name: 'op', startTimeUnixNano: now - (i === 0 ? 3n * DAY : 0n), endTimeUnixNano: now - (i === 0 ? 3n * DAY : 0n) + MS }));
    await b.traceWriter().writeTraces([serviceBatch('windowed', spans)]);
    expect(await scalar("SELECT uniqExact(partition) FROM system.parts WHERE database = 'windowed' AND table = 'spans' AND active")).toBe('2');
    const plan = (id: string) => scalar(`SELECT arrayStringConcat(groupArray(explain), '\\n') FROM (EXPLAIN indexes = 1 ${getTracesSql('windowed').replace(/\{ids:Array\(String\)\}/g, `['${id}']`)})`);
    // the old trace: the window is a constant by the time parts are chosen, so one part of two is read
    expect(await plan(traceId('f0', 0))).toMatch(/Min-Max(?:(?!Partition|PrimaryKey|Skip)[\s\S])*?Parts: 1\/2/);
    expect(spansOf(await chunks(b.traceReader().getTraces([{ traceId: traceId('f0', 0) }])))).toHaveLength(1);
    // an unknown ID reads no part at all
    expect(await plan(traceId('f0', 99))).toMatch(/Min-Max(?:(?!Partition|PrimaryKey|Skip)[\s\S])*?Parts: 0\/2/);
    expect(await chunks(b.traceReader().getTraces([{ traceId: traceId('f0', 99) }]))).toEqual([]);
  });

  it('compares a searched attribute only in the typed maps its key was stored in, so the other maps are not read', async () => {
    const b = open('kinds');
    await b.provision();
    // customer: a string of spans; http.status_code: an int of spans; service.name: a string of resources
    await b.traceWriter().writeTraces(batch('kinds', 40));
    const filter = async (attributes: Record<string, string>): Promise<string> => {
      const where = searchOf('kinds', checkTraceQuery({ serviceName: 'kinds', searchDepth: 10, attributes }));
      const plan = await scalar(`SELECT arrayStringConcat(groupArray(explain), '\\n') FROM (EXPLAIN actions = 1 ${findTraceIdsSql('kinds', where)})`, { ...where.params, depth: 10 });
      return plan.split('\n').find((l) => /(Prewhere|Filter) filter column/.test(l)) ?? plan;
    };
    const customer = await filter({ customer: 'c-3' });
    expect(customer).toContain('attr_str');
    expect(customer).not.toMatch(/res_str|attr_int|res_int/);
    // '201' could be a string or an int: only the int map, where the key is
    const status = await filter({ 'http.status_code': '201' });
    expect(status).toContain('attr_int');
    expect(status).not.toMatch(/attr_str|res_str|res_int/);
    const service = await filter({ 'service.name': 'kinds' });
    expect(service).toContain('res_str');
    expect(service).not.toContain('attr_str');
    // a key never stored: only the search terms are compared (their bloom filter rules the granules out)
    expect(await filter({ nowhere: 'x' })).not.toMatch(/attr_|res_/);
    // and the answers are those of every backend
    const found = async (attributes: Record<string, string>) => (await ids(b.traceReader().findTraceIds({ serviceName: 'kinds', searchDepth: 10, attributes }))).length;
    expect(await found({ customer: 'c-3' })).toBe(4);
    expect(await found({ 'http.status_code': '201' })).toBe(4);
    expect(await found({ 'service.name': 'kinds' })).toBe(4);
    expect(await found({ 'resource.service.name': 'kinds', customer: 'c-3' })).toBe(4);
    expect(await found({ nowhere: 'x' })).toBe(0);
    // one key stored with several types and at both levels, across services: a search without a service reads the
    // kinds of every service, and each typed map still answers for its own values
    const kinds = (service: string, key: string, values: AttrValue[], resource: AttrValue[] = []): ResourceSpans => {
      const spans = values.map((value, i) => newSpan({ traceId: traceId(`9${service.length}`, i), spanId: spanId(i), name: 'op', startTimeUnixNano: now + BigInt(i) * MS, endTimeUnixNano: now + BigInt(i) * MS + MS, attributes: [{ key, value }] }));
      const batch = serviceBatch(service, spans);
      batch.resource.attributes.push(...resource.map((value) => ({ key, value })));
      return batch;
    };
    await b.traceWriter().writeTraces([kinds('mixed-a', 'm', [7n, true, 2.5, 0n]), kinds('mixed-bb', 'm', ['7', 'false'], ['res'])]);
    const anywhere = async (attributes: Record<string, string>) =>
      (await ids(b.traceReader().findTraceIds({ searchDepth: 20, attributes }))).map((f) => f.traceId).sort();
    expect(await anywhere({ m: '7' })).toEqual([traceId('97', 0), traceId('98', 0)]);
    expect(await anywhere({ m: 'true' })).toEqual([traceId('97', 1)]);
    expect(await anywhere({ m: 'false' })).toEqual([traceId('98', 1)]);
    expect(await anywhere({ m: '2.5' })).toEqual([traceId('97', 2)]);
    expect(await anywhere({ m: '0' })).toEqual([traceId('97', 3)]);
    expect(await anywhere({ m: 'res' })).toEqual([traceId('98', 0), traceId('98', 1)]);
    expect(await anywhere({ 'resource.m': 'res' })).toEqual([traceId('98', 0), traceId('98', 1)]);
    expect(await anywhere({ 'resource.m': '7' })).toEqual([]);
  });

  it('sets the TTL from the retention and changes it on existing tables', async () => {
    const b = open('retained', { retention: '2d' });
    await b.provision();
    expect(await scalar("SELECT create_table_query FROM system.tables WHERE database = 'retained' AND name = 'spans'")).toContain(`toIntervalSecond(${2 * 86_400})`);
    await b.traceWriter().writeTraces(batch('kept', 30));
    const longer = open('retained', { retention: '30d' });
    await longer.provision();
    expect(longer.provisioned?.retentionChanged).toContain('spans');
    expect(await scalar("SELECT create_table_query FROM system.tables WHERE database = 'retained' AND name = 'spans'")).toContain(`toIntervalSecond(${30 * 86_400})`);
    expect(await scalar('SELECT count() FROM retained.spans')).toBe('30');
  }, 120_000);

  it('refuses a database holding tables of something else', async () => {
    const c = admin();
    await c.command({ query: 'CREATE DATABASE IF NOT EXISTS foreign_db' });
    await c.command({ query: 'CREATE TABLE IF NOT EXISTS foreign_db.invoices (id UInt64) ENGINE = MergeTree ORDER BY id' });
    await c.close();
    await expect(open('foreign_db').provision()).rejects.toThrow(/database: database foreign_db holds tables of something else \(invoices\)/);
    expect(await open('foreign_db').dropDatabase()).toMatch(/holds tables of something else/);
  });

  it('drops its own database on cleanup, and not one another TraceStore claimed', async () => {
    const b = open('owned');
    await b.provision();
    expect(await b.claim('ns/first')).toBe('ns/first');
    expect(await b.claim('ns/second')).toBe('ns/first');
    expect(await b.dropDatabase('ns/second')).toBe('database owned belongs to TraceStore ns/first');
    // a table someone added next to ours keeps the database
    const c = admin();
    await c.command({ query: 'CREATE TABLE owned.notes (id UInt64) ENGINE = MergeTree ORDER BY id' });
    expect(await b.dropDatabase('ns/first')).toBe('database owned also holds tables that are not ours (notes)');
    await c.command({ query: 'DROP TABLE owned.notes' });
    await c.close();
    expect(await b.dropDatabase('ns/first')).toBeUndefined();
    expect(await scalar("SELECT count() FROM system.databases WHERE name = 'owned'")).toBe('0');
  });

  it('keeps acknowledged spans when the server is killed (kill -9) and restarted', async () => {
    const b = open('durable');
    await b.provision();
    await b.traceWriter().writeTraces(batch('durable', 500, 100));
    await s.kill();
    await s.restart();
    const after = open('durable');
    const spans = spansOf(await chunks(after.traceReader().getTraces(Array.from({ length: 50 }, (_, i) => ({ traceId: traceId('e0', 100 + i) })))));
    expect(spans).toHaveLength(500);
  }, 120_000);
});
