// The storage contract suite against a real Cassandra 5 node (Maven Central jars on the JVM, loopback), then the
// schema itself: versioned migrations recorded once, a retention change applied to existing tables without losing
// data, and what a read returns (one resource object per resource, not one per span).
import cassandra from 'cassandra-driver';
import { type ResourceSpans, SpanKind, StatusCode, type TraceChunk, type TraceQuery, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { compactionWindowHours, LATEST_VERSION, TIMED_TABLES } from '../../src/storage/cassandra/schema.js';
import { CassandraConnection } from '../../src/storage/cassandra/connection.js';
import { CassandraBackend, type CassandraBackendConfig } from '../../src/storage/cassandra/store.js';
import { ABORT_CHUNK_SPANS, runAbortCases, runInFlightAbortCase } from '../../src/storage/testing/abort.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';
import { CASSANDRA_DC, type RunningCassandra, startCassandra } from '../env/cassandra.js';
import { sharedServer } from '../env/server-process.js';
import { waitFor } from '../helpers.js';

// driver sessions are closed before the node stops (an open session keeps jest from exiting)
const { shared, release } = sharedServer(() => startCassandra());

const config = (s: RunningCassandra, keyspace: string, extra: Partial<CassandraBackendConfig> = {}): CassandraBackendConfig => ({
  contactPoints: [`${s.host}:${s.port}`],
  localDataCenter: CASSANDRA_DC,
  keyspace,
  readConsistency: 'ONE',
  writeConsistency: 'ONE',
  ...extra,
});

beforeAll(async () => {
  await shared();
}, 300_000);
afterAll(release);

runStorageContract('cassandra', async () => {
  const s = await shared();
  return { backend: new CassandraBackend(config(s, 'contract')), capabilities: { tenancy: true }, close: release };
});

runAbortCases('cassandra', async () => {
  const s = await shared();
  return { backend: new CassandraBackend(config(s, 'abort', { chunkSpans: ABORT_CHUNK_SPANS })), close: release };
});

runInFlightAbortCase('cassandra', async () => {
  const s = await shared();
  return { backend: new CassandraBackend(config(s, 'abort_flight')), close: release };
});

describe('cassandra schema', () => {
  let s: RunningCassandra;
  let admin: cassandra.Client;
  const backends: CassandraBackend[] = [];
  const open = async (retention: string): Promise<CassandraBackend> => {
    const b = new CassandraBackend(config(s, 'schema_checks', { retention }));
    backends.push(b);
    await b.provision();
    return b;
  };
  const tableOptions = async (table: string): Promise<{ ttl: number; window: string; comment: string }> => {
    const row = (await admin.execute('SELECT default_time_to_live, compaction, comment FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?', ['schema_checks', table], { prepare: true })).first();
    const compaction = row.get('compaction') as Record<string, string>;
    return { ttl: row.get('default_time_to_live') as number, window: compaction.compaction_window_size ?? '', comment: row.get('comment') as string };
  };
  const chunks = async (it: AsyncIterable<TraceChunk[]>): Promise<TraceChunk[]> => {
    const out: TraceChunk[] = [];
    for await (const b of it) out.push(...b);
    return out;
  };
  const traceId = 'feed0000000000000000000000000001';
  const batch = (): ResourceSpans[] => {
    const now = BigInt(Date.now()) * 1_000_000n;
    const spans = Array.from({ length: 20 }, (_, i) => newSpan({ traceId, spanId: (i + 1).toString(16).padStart(16, '0'), name: `op-${i % 3}`, kind: SpanKind.Server, startTimeUnixNano: now, endTimeUnixNano: now + 1000n }));
    return [serviceBatch('schema-a', spans.slice(0, 10)), serviceBatch('schema-b', spans.slice(10))];
  };

  beforeAll(async () => {
    s = await shared();
    admin = new cassandra.Client({ contactPoints: [`${s.host}:${s.port}`], localDataCenter: CASSANDRA_DC });
    await admin.connect();
  }, 120_000);
  afterAll(async () => {
    for (const b of backends) await b.close();
    await admin?.shutdown();
    await release();
  });

  it('records each migration once and sets the TTL and compaction windows from the retention', async () => {
    const b = await open('2d');
    expect(b.schemaVersion).toBe(LATEST_VERSION);
    for (const t of TIMED_TABLES) {
      const o = await tableOptions(t);
      expect({ t, ttl: o.ttl, window: o.window }).toEqual({ t, ttl: 2 * 86_400, window: String(compactionWindowHours(2 * 86_400)) });
      expect(o.comment).not.toBe('');
    }
    expect((await tableOptions('leases')).ttl).toBe(0);
    await b.traceWriter().writeTraces(batch());
    // a second provision applies nothing twice
    await open('2d');
    const versions = await admin.execute('SELECT version FROM schema_checks.schema_migrations');
    expect(versions.rows.map((r) => r.get('version') as number)).toEqual([LATEST_VERSION]);
  }, 120_000);

  it('applies a retention change to the existing tables and keeps the data', async () => {
    const b = await open('30d');
    expect((await tableOptions('spans')).ttl).toBe(30 * 86_400);
    expect((await tableOptions('services')).ttl).toBe(30 * 86_400);
    expect((await tableOptions('span_by_service')).window).toBe(String(compactionWindowHours(30 * 86_400)));
    const got = await chunks(b.traceReader().getTraces([{ traceId }]));
    expect(got.flatMap((c) => c.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)))).toHaveLength(20);
  }, 120_000);

  it('refuses to provision a keyspace that holds tables of something else', async () => {
    await admin.execute("CREATE KEYSPACE IF NOT EXISTS foreign_app WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
    await admin.execute('CREATE TABLE IF NOT EXISTS foreign_app.users (id int PRIMARY KEY, name text)');
    // not among `backends`: the next case reads through the last of those
    const b = new CassandraBackend(config(s, 'foreign_app'));
    try {
      await expect(b.provision()).rejects.toThrow(/keyspace "foreign_app": holds tables not made by this store \(users\)/);
    } finally {
      await b.close();
    }
    const tables = await admin.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', ['foreign_app'], { prepare: true });
    expect(tables.rows.map((r) => r.get('table_name') as string)).toEqual(['users']);
  }, 120_000);

  it('lists a trace under each hour it has spans in, spread over the shards, and counts its edges once across midnight', async () => {
    const b = backends[backends.length - 1]!;
    const midnight = (BigInt(Date.now()) / 86_400_000n) * 86_400_000n * 1_000_000n - 86_400_000_000_000n;
    const id = 'dd000000000000000000000000000001';
    const parent = newSpan({ traceId: id, spanId: '00000000000000d1', name: 'late', startTimeUnixNano: midnight - 30_000_000_000n, endTimeUnixNano: midnight + 60_000_000_000n });
    const child = newSpan({ traceId: id, spanId: '00000000000000d2', parentSpanId: '00000000000000d1', name: 'early', startTimeUnixNano: midnight + 30_000_000_000n, endTimeUnixNano: midnight + 40_000_000_000n });
    await b.traceWriter().writeTraces([serviceBatch('midnight-a', [parent]), serviceBatch('midnight-b', [child])]);
    const window = { start: midnight - 86_400_000_000_000n, end: midnight + 86_400_000_000_000n };
    expect(await b.dependencyReader().getDependencies(window)).toEqual([{ parent: 'midnight-a', child: 'midnight-b', callCount: 1 }]);
    const listed = await admin.execute('SELECT hour, shard FROM schema_checks.traces_by_hour WHERE trace_id = ? ALLOW FILTERING', [Buffer.from(id, 'hex')], { prepare: true });
    expect(listed.rows.map((r) => r.get('hour') as number).sort()).toEqual([Number(midnight / 3_600_000_000_000n) - 1, Number(midnight / 3_600_000_000_000n)]);

    const many = Array.from({ length: 64 }, (_, i) => newSpan({ traceId: (0xe000 + i).toString(16).padStart(32, '0'), spanId: '00000000000000e1', name: 'spread', startTimeUnixNano: midnight, endTimeUnixNano: midnight + 1000n }));
    await b.traceWriter().writeTraces([serviceBatch('spread', many)]);
    const shards = await admin.execute('SELECT shard FROM schema_checks.traces_by_hour WHERE tenant = ? AND hour = ? AND shard IN ? ', ['', Number(midnight / 3_600_000_000_000n), Array.from({ length: 16 }, (_, i) => i)], { prepare: true });
    expect(new Set(shards.rows.map((r) => r.get('shard') as number)).size).toBe(16);
  });

  it('returns one ResourceSpans per resource and one ScopeSpans per scope, not one per span', async () => {
    const b = backends[backends.length - 1]!;
    const [chunk] = await chunks(b.traceReader().getTraces([{ traceId }]));
    expect(chunk!.resourceSpans).toHaveLength(2);
    expect(chunk!.resourceSpans.map((rs) => rs.scopeSpans.length)).toEqual([1, 1]);
    expect(chunk!.resourceSpans.map((rs) => rs.scopeSpans[0]!.spans.length)).toEqual([10, 10]);
  });
});

describe('sessions: cassandra', () => {
  it('closes a session whose connection is still being opened (nothing stays open to keep the process alive)', async () => {
    const s = await shared();
    try {
      const conn = new CassandraConnection(config(s, 'contract'));
      const query = conn.exec('SELECT release_version FROM system.local', []).then(
        () => 'answered',
        () => 'refused',
      );
      await conn.close();
      await query;
      expect(conn.client.getState().getConnectedHosts()).toEqual([]);
    } finally {
      await release();
    }
  }, 60_000);
});

describe('failed connects: cassandra', () => {
  it('leaves no connection or timer behind when no node is in the configured datacenter', async () => {
    const s = await shared();
    const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const before = sockets();
    for (let i = 0; i < 5; i++) {
      const b = new CassandraBackend(config(s, 'nowhere', { localDataCenter: 'dc-mars' }));
      await expect(b.serverVersion()).rejects.toThrow(/only found hosts in data centers: \[datacenter1\]/);
      await b.close();
    }
    // sockets close asynchronously
    await waitFor('sockets closed', async () => sockets() <= before, 10_000, 100);
  }, 60_000);
  afterAll(release);
});

describe('durability: cassandra', () => {
  it('keeps every acknowledged span when the node is killed (kill -9) during sustained writes and restarted', async () => {
    const s = await shared();
    const backend = new CassandraBackend(config(s, 'durability', { maxTries: 1 }));
    // Hosts the driver replaced while the node was away (their pools must not go on reconnecting)
    const replaced: { pool: { isClosing(): boolean; hasScheduledNewConnection(): boolean } }[] = [];
    (backend as unknown as { conn: CassandraConnection }).conn.client.on('hostRemove', (h: (typeof replaced)[number]) => replaced.push(h));
    try {
      await backend.provision();
      const SPANS = 50;
      const traceOf = (i: number): string => `d0ab1e${(i + 1).toString(16).padStart(26, '0')}`;
      const batch = (i: number): ResourceSpans[] => {
        const now = BigInt(Date.now()) * 1_000_000n;
        return [serviceBatch('durability', Array.from({ length: SPANS }, (_, k) => newSpan({ traceId: traceOf(i), spanId: (k + 1).toString(16).padStart(16, '0'), name: 'write', startTimeUnixNano: now, endTimeUnixNano: now + 1000n })))];
      };
      const acknowledged: number[] = [];
      let refused = 0;
      let restarted = false;
      let afterRestart = 0;
      const t0 = Date.now();
      const writes = (async () => {
        // bounded: until 20 batches went through after the restart, at most 3000 batches or 150 s
        for (let i = 0; i < 3000 && afterRestart < 20 && Date.now() - t0 < 150_000; i++) {
          try {
            await backend.traceWriter().writeTraces(batch(i));
            acknowledged.push(i);
            if (restarted) afterRestart++;
          } catch {
            refused++;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      })();
      // kill while batches are being written (bounded: the writes may end first, or stall)
      let writing = true;
      void writes.finally(() => (writing = false));
      for (const t = Date.now(); acknowledged.length < 20 && writing && Date.now() - t < 60_000; ) await new Promise((r) => setTimeout(r, 50));
      expect(acknowledged.length).toBeGreaterThanOrEqual(20);
      await s.restart(true);
      restarted = true;
      await writes;
      expect(afterRestart).toBe(20);
      expect(refused).toBeGreaterThan(0);
      const missing: string[] = [];
      for (const i of acknowledged) {
        let n = 0;
        for await (const chunks of backend.traceReader().getTraces([{ traceId: traceOf(i) }])) for (const c of chunks) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
        if (n !== SPANS) missing.push(`${traceOf(i)}: ${n} of ${SPANS} spans`);
      }
      expect({ acknowledged: acknowledged.length, missing }).toEqual({ acknowledged: acknowledged.length, missing: [] });
      await backend.close();
      expect(replaced.map((h) => ({ closing: h.pool.isClosing(), reconnecting: h.pool.hasScheduledNewConnection() }))).toEqual(replaced.map(() => ({ closing: true, reconnecting: false })));
    } finally {
      await backend.close();
      await release();
    }
  }, 240_000);
});

describe('reads: cassandra', () => {
  let backend: CassandraBackend;
  /** the statements run through the backend's connection since the last reset */
  let statements: string[] = [];
  const HOUR = 3_600_000_000_000n;
  // the start of an hour bucket two hours ago: every span of a case lies in it
  const hour = ((BigInt(Date.now()) * 1_000_000n) / HOUR - 2n) * HOUR;
  const window = { startTimeMin: hour, startTimeMax: hour + HOUR - 1n };
  const tid = (prefix: string, i: number): string => `${prefix}${(i + 1).toString(16).padStart(32 - prefix.length, '0')}`;
  const findIds = async (q: Partial<TraceQuery>): Promise<string[]> => {
    const out: string[] = [];
    for await (const b of backend.traceReader().findTraceIds({ searchDepth: 20, ...window, ...q })) out.push(...b.map((x) => x.traceId));
    return out;
  };

  beforeAll(async () => {
    const s = await shared();
    backend = new CassandraBackend(config(s, 'reads'));
    await backend.provision();
    const conn = (backend as unknown as { conn: CassandraConnection }).conn;
    const exec = conn.exec.bind(conn);
    conn.exec = (cql, params, o) => {
      statements.push(cql);
      return exec(cql, params, o);
    };
  }, 120_000);
  afterAll(async () => {
    await backend?.close();
    await release();
  });

  it("finds by Jaeger's special keys (error, span.kind, span.status, scope) through an index, not by reading every span of the service", async () => {
    // 200 one-span traces of a service; one has an error, is a client span and comes from another scope
    const spans = Array.from({ length: 200 }, (_, i) =>
      newSpan({ traceId: tid('5bec1a1', i), spanId: '00000000000000a1', name: 'work', kind: SpanKind.Server, startTimeUnixNano: hour + BigInt(i) * 1_000_000_000n, endTimeUnixNano: hour + BigInt(i) * 1_000_000_000n + 1000n, status: { code: StatusCode.Ok, message: '' } }),
    );
    const odd = newSpan({ traceId: tid('5bec1a1', 500), spanId: '00000000000000a2', name: 'call', kind: SpanKind.Client, startTimeUnixNano: hour + 5n, endTimeUnixNano: hour + 10n, status: { code: StatusCode.Error, message: 'failed' } });
    await backend.traceWriter().writeTraces([serviceBatch('special', spans, { name: 'lib-main', version: '1.0' }), serviceBatch('special', [odd], { name: 'lib-odd', version: '9.9' })]);
    const cases: [Record<string, string>, string[]][] = [
      [{ error: 'true' }, [odd.traceId]],
      [{ 'span.status': 'error' }, [odd.traceId]],
      [{ 'span.status': 'STATUS_CODE_ERROR' }, [odd.traceId]],
      [{ 'span.kind': 'client' }, [odd.traceId]],
      [{ 'span.kind': 'SPAN_KIND_CLIENT' }, [odd.traceId]],
      [{ 'scope.name': 'lib-odd' }, [odd.traceId]],
      [{ 'scope.version': '9.9' }, [odd.traceId]],
      [{ 'scope.name': 'lib-odd', 'span.kind': 'server' }, []],
      [{ 'span.kind': 'producer' }, []],
    ];
    for (const [attributes, want] of cases) {
      statements = [];
      expect({ attributes, found: await findIds({ serviceName: 'special', attributes }) }).toEqual({ attributes, found: want });
      const spanReads = statements.filter((s) => s.includes('FROM ks.spans')).length;
      expect({ attributes, spanReads, scans: statements.filter((s) => s.includes('ks.span_by_service')).length }).toEqual({ attributes, spanReads: Math.min(spanReads, 2), scans: 0 });
    }
    // the other value of a key Jaeger gives two: every span but one (no index: found by reading the service's spans)
    expect((await findIds({ serviceName: 'special', attributes: { error: 'false' }, searchDepth: 3 })).length).toBe(3);
  }, 120_000);

  it('reads only about as many spans as a checked search needs', async () => {
    // 300 one-span traces with the attribute, and one trace of 100 spans with it
    const at = (i: number): bigint => hour + BigInt(i) * 1_000_000_000n;
    const gold = [{ key: 'tier', value: 'gold' }];
    const one = Array.from({ length: 300 }, (_, i) => newSpan({ traceId: tid('901d', i), spanId: '00000000000000b1', name: 'buy', startTimeUnixNano: at(i), endTimeUnixNano: at(i) + 1000n, attributes: gold }));
    const wide = Array.from({ length: 100 }, (_, i) => newSpan({ traceId: tid('901d', 999), spanId: (i + 1).toString(16).padStart(16, '0'), name: 'part', startTimeUnixNano: at(400), endTimeUnixNano: at(400) + 1000n, attributes: gold }));
    await backend.traceWriter().writeTraces([serviceBatch('checked', one), serviceBatch('wide', wide)]);
    const spanReads = async (q: Partial<TraceQuery>): Promise<{ found: number; spanReads: number }> => {
      statements = [];
      const found = (await findIds(q)).length;
      return { found, spanReads: statements.filter((x) => x.includes('FROM ks.spans')).length };
    };
    // an attribute search is checked span by span (the index also holds resource, scope, event and link attributes)
    const few = await spanReads({ serviceName: 'checked', attributes: { tier: 'gold' }, searchDepth: 5 });
    expect(few.found).toBe(5);
    expect(few.spanReads).toBeLessThanOrEqual(16);
    const first = await spanReads({ serviceName: 'wide', attributes: { tier: 'gold' }, searchDepth: 1 });
    expect(first).toEqual({ found: 1, spanReads: 4 });
    expect((await spanReads({ serviceName: 'checked', attributes: { tier: 'gold' }, searchDepth: 300 })).found).toBe(300);
  }, 120_000);

  it('finds the newest traces of a duration range first, whatever their durations', async () => {
    // trace i starts i seconds into the hour and lasts i+1 ms: the newest are the longest
    const spans = Array.from({ length: 30 }, (_, i) =>
      newSpan({ traceId: tid('d0a7', i), spanId: '00000000000000d1', name: i % 2 ? 'odd' : 'even', kind: SpanKind.Server, startTimeUnixNano: hour + BigInt(i) * 1_000_000_000n, endTimeUnixNano: hour + BigInt(i) * 1_000_000_000n + BigInt(i + 1) * 1_000_000n }),
    );
    await backend.traceWriter().writeTraces([serviceBatch('durations', spans)]);
    const ids = (...i: number[]): string[] => i.map((n) => tid('d0a7', n)).sort();
    const sorted = async (q: Partial<TraceQuery>): Promise<string[]> => (await findIds({ serviceName: 'durations', ...q })).sort();
    expect(await sorted({ durationMin: 1_000_000n, searchDepth: 5 })).toEqual(ids(29, 28, 27, 26, 25));
    expect(await sorted({ durationMax: 10_000_000n, searchDepth: 3 })).toEqual(ids(9, 8, 7));
    expect(await sorted({ durationMin: 5_000_000n, durationMax: 20_000_000n, searchDepth: 4 })).toEqual(ids(19, 18, 17, 16));
    expect(await sorted({ operationName: 'even', durationMin: 2_000_000n, searchDepth: 2 })).toEqual(ids(28, 26));
    // nothing lasts longer than the newest
    expect(await sorted({ durationMin: 30_000_001n, searchDepth: 5 })).toEqual([]);
  }, 120_000);

  it('reads a trace of big spans back whole in chunks of bounded size', async () => {
    const traceId = 'b16c0ffee0000000000000000000b16c';
    const payload = 'p'.repeat(100 * 1024);
    const N = 600;
    for (let i = 0; i < N; i += 50) {
      await backend
        .traceWriter()
        .writeTraces([serviceBatch('bigspans', Array.from({ length: 50 }, (_, k) => newSpan({ traceId, spanId: (i + k + 1).toString(16).padStart(16, '0'), name: 'big', startTimeUnixNano: hour, endTimeUnixNano: hour + 1n, attributes: [{ key: 'payload', value: payload }] })))]);
    }
    const sizes: number[] = [];
    const ids = new Set<string>();
    for await (const b of backend.traceReader().getTraces([{ traceId }])) {
      for (const c of b) {
        let spans = 0;
        for (const rs of c.resourceSpans) {
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) ids.add(s.spanId);
            spans += ss.spans.length;
          }
        }
        sizes.push(spans);
      }
    }
    expect(ids.size).toBe(N);
    // at most about 4 MiB of spans per chunk (40 spans of 100 KiB)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(41);
  }, 180_000);
});

describe('readiness: cassandra', () => {
  it('provisions on the first ping when it was not provisioned (a runtime started while Cassandra was down)', async () => {
    const s = await shared();
    const b = new CassandraBackend(config(s, 'late_ping'));
    try {
      expect(b.schemaVersion).toBeUndefined();
      await b.ping();
      expect(b.schemaVersion).toBe(LATEST_VERSION);
      const now = BigInt(Date.now()) * 1_000_000n;
      const traceId = '0000000000000000000000000000beef';
      await b.traceWriter().writeTraces([serviceBatch('late', [newSpan({ traceId, spanId: '00000000000000a1', name: 'op', startTimeUnixNano: now - 1_000_000n, endTimeUnixNano: now })])]);
      let spans = 0;
      for await (const batch of b.traceReader().getTraces([{ traceId }])) for (const c of batch) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
      expect(spans).toBe(1);
    } finally {
      await b.close();
    }
  }, 120_000);
});
