// Our runtime and the Jaeger v2 binary (v1.76.0) writing to the same database server, fed the same OTLP/gRPC load as
// bench:ingest, one after the other: an OpenSearch 2.19.6 node (Maven Central jars on the JVM), an Elasticsearch node
// (its integration-test distribution, plain HTTP) or a Cassandra 5 node (test/env/cassandra.ts), on loopback. Write
// throughput is spans per second until every span is stored and readable, so that both sides pay for the same work:
// Jaeger acknowledges a span once it is queued for its exporter, we once the database acknowledged its rows. For the
// search servers that is their _count after a refresh; for Cassandra the last trace whole through the query API, then
// COUNT(*) of the span table. CPU is the user+system time of the writer's process and, next to it, of the server's
// processes, from the start of the load until all is stored. Then get-trace and find latency through each one's
// api_v3 HTTP API. Each peer writes under names of its own per round (index prefix, keyspace): Jaeger creates its
// Cassandra keyspace itself (`schema.create`), as ours does at start; a Cassandra keyspace is dropped after its run.
//
// ClickHouse: the ClickHouse 26.7 engine behind the test server's HTTP interface (test/env/clickhouse.ts; one engine
// session, statements one at a time, so both peers' statements queue in one line). Each peer gets a database of its
// own per round, dropped after its run: ours is provisioned as the operator's check does it (versioned migrations),
// Jaeger's is created empty and Jaeger creates its tables in it (`create_schema`), writing through clickhouse-go over
// HTTP (`protocol: http`, Native format). Stored is count() of each side's spans table once the last trace is whole
// through the query API; the server's CPU is the front's process (the engine runs inside it). Jaeger v2.13's ClickHouse
// reader has no trace search (FindTraces panics: "not implemented"), so Jaeger's find latency is n/a.
//
// An unrecorded warm-up load through each (a fresh JVM writes several times slower until its JIT has warmed up), then
// BENCH_ROUNDS rounds (default 2), alternating who goes first; ratios are the medians of the rounds' ratios.
//
// Jaeger's Cassandra writer stores one span at a time, each span's statements (its row, then service, operation,
// duration and one per tag index row) one after another, behind the batch processor's single exporter: on a shared
// 2-core machine that is tens of spans per second, so bench:cassandra sends 10,000 spans by default and its warm-up a
// quarter of them. The node syncs its commit log before acknowledging a write, as the test node does
// (BENCH_COMMITLOG_SYNC=periodic: Cassandra's default, synced every 10 s).
//
//   npm run bench:opensearch                       100,000 spans (node dist/bench/search.js opensearch)
//   npm run bench:elasticsearch                    100,000 spans (node dist/bench/search.js elasticsearch)
//   npm run bench:cassandra                        10,000 spans (node dist/bench/search.js cassandra)
//   npm run bench:clickhouse-e2e                   100,000 spans (node dist/bench/search.js clickhouse)
//   BENCH_SPANS=400000 BENCH_ROUNDS=3 npm run bench:elasticsearch
//   BENCH_SMOKE=1 BENCH_SPANS=2000 BENCH_GETS=30 BENCH_FINDS=10 npm run bench:elasticsearch   one round, no
//                                                  warm-up: checks that it runs; its figures mean nothing
//   BENCH_CPU_PROF=/tmp/prof npm run bench:cassandra   our runtime writes a V8 CPU profile per run into that directory
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import cassandra from 'cassandra-driver';
import { ClickHouseBackend } from '../src/storage/clickhouse/store.js';
import { CASSANDRA_DC, startCassandra } from '../test/env/cassandra.js';
import { startClickHouse } from '../test/env/clickhouse.js';
import { startElasticsearch } from '../test/env/elasticsearch.js';
import { startJaeger } from '../test/env/jaeger.js';
import { startOpenSearch } from '../test/env/opensearch.js';
import { procStat, sleep } from '../test/env/server-process.js';
import { PER_REQUEST, PER_TRACE, SPANS, TRACES, type Target, load, median, pct, queries, request, startOurs, traceId } from './otlp-load.js';

const SMOKE = process.env.BENCH_SMOKE === '1';
const HEAP = SMOKE ? '512m' : '1g';
const ROUNDS = SMOKE ? 1 : Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
const KINDS = ['opensearch', 'elasticsearch', 'cassandra', 'clickhouse'] as const;
type Kind = (typeof KINDS)[number];
const KIND: Kind = KINDS.find((k) => k === process.argv[2]) ?? usage();
function usage(): never {
  console.error(`usage: node dist/bench/search.js ${KINDS.join('|')}`);
  process.exit(2);
}
/** /proc/<pid>/stat counts CPU time in clock ticks, 100 per second on Linux */
const TICKS_PER_S = 100;

/** user+system CPU seconds of a process and, with `tree`, of all its live descendants */
function cpuSeconds(pid: number | undefined, tree = false): number {
  if (pid === undefined) return NaN;
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const e of tree ? readdirSync('/proc').filter((d) => /^\d+$/.test(d)) : [String(pid)]) {
    const st = procStat(Number(e)); // undefined: gone meanwhile
    if (st) stats.set(Number(e), st);
  }
  let ticks = 0;
  const todo = [pid];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    ticks += stats.get(p)?.ticks ?? 0;
    if (tree) for (const [c, s] of stats) if (s.ppid === p) todo.push(c);
  }
  return ticks / TICKS_PER_S;
}

type Peer = 'ours' | 'jaeger';

/** A database server both peers write to, and where each peer's data of a round lives in it. */
interface Server {
  label: string;
  /** how it is set up, for the heading */
  setup: string;
  /** the process whose tree is the server */
  pid: () => number | undefined;
  /** the `backend` section of our runtime's config for a round */
  oursBackend: (round: number) => Record<string, unknown>;
  /** the storage section of the Jaeger config for a round (indented for `backends.store:`) */
  jaegerYaml: (round: number) => string;
  /** spans stored by a peer in a round, as the server counts them (0 while it cannot tell yet) */
  stored: (peer: Peer, round: number) => Promise<number>;
  /** wait for the last trace to be whole through the peer's query API before counting (counting is costly) */
  lastTraceFirst: boolean;
  /** how often `stored` is asked until all is stored */
  countEveryMs: number;
  /** the share of the load the warm-up sends through each peer */
  warmUpShare: number;
  /** removes a peer's data of a round once it has been measured */
  drop?: (peer: Peer, round: number) => Promise<void>;
  /** sets up a peer's place of a round before the peer starts */
  prepare?: (peer: Peer, round: number) => Promise<void>;
  /** the peer's query API cannot search traces: its find latency is not measured */
  noFind?: Peer;
  stop: () => Promise<void>;
}

const idx = '{ shards: 1, replicas: 0 }';
const jaegerIndices = (prefix: string) => `          indices:\n            index_prefix: ${prefix}\n            spans: ${idx}\n            services: ${idx}\n            dependencies: ${idx}\n            sampling: ${idx}`;
const prefix = (peer: Peer, round: number) => `${peer === 'ours' ? 'o' : 'j'}bench${round}`;

/** OpenSearch and Elasticsearch: per peer and round an index prefix, counted with _count after a refresh */
function searchServer(o: { url: string; label: string; pid: () => number | undefined; stop: () => Promise<void>; jaegerYaml: (prefix: string) => string }): Server {
  return {
    ...o,
    setup: `1 shard, 0 replicas, heap ${HEAP}`,
    oursBackend: (round) => ({ [KIND]: { endpoints: [o.url], indexPrefix: prefix('ours', round), layout: 'daily', shards: 1, replicas: 0 } }),
    jaegerYaml: (round) => o.jaegerYaml(prefix('jaeger', round)),
    lastTraceFirst: false,
    countEveryMs: 100,
    warmUpShare: 1,
    stored: async (peer, round) => {
      const pattern = `${prefix(peer, round)}-jaeger-span-*`;
      await fetch(`${o.url}/${pattern}/_refresh?ignore_unavailable=true&allow_no_indices=true`, { method: 'POST' });
      const r = await fetch(`${o.url}/${pattern}/_count?ignore_unavailable=true&allow_no_indices=true`);
      return ((await r.json()) as { count?: number }).count ?? 0;
    },
  };
}

/**
 * Cassandra: per peer and round a keyspace (replication factor 1), read and written at LOCAL_ONE by both (Jaeger's
 * default consistency; on one node the same as LOCAL_QUORUM), counted with COUNT(*) of the span table.
 */
async function cassandraServer(): Promise<Server> {
  const sync = process.env.BENCH_COMMITLOG_SYNC === 'periodic' ? 'periodic' : 'batch';
  const c = await startCassandra({ heap: HEAP, commitlogSync: sync });
  const admin = new cassandra.Client({ contactPoints: [`${c.host}:${c.port}`], localDataCenter: CASSANDRA_DC, socketOptions: { readTimeout: 120_000 } });
  const version = String((await admin.execute('SELECT release_version FROM system.local')).first()?.get('release_version') ?? '5');
  const keyspace = (peer: Peer, round: number) => `bench_${peer}_r${round}`;
  return {
    label: `Cassandra ${version}`,
    setup: `one node, replication factor 1, ${sync === 'batch' ? 'commit log synced before each write is acknowledged' : 'commit log synced every 10 s'}, consistency LOCAL_ONE, heap ${HEAP}`,
    pid: () => c.proc.pid,
    oursBackend: (round) => ({ cassandra: { endpoints: [`${c.host}:${c.port}`], keyspace: keyspace('ours', round), datacenter: CASSANDRA_DC, consistency: { read: 'LOCAL_ONE', write: 'LOCAL_ONE' } } }),
    jaegerYaml: (round) =>
      `        cassandra:\n          schema:\n            keyspace: ${keyspace('jaeger', round)}\n            create: true\n            replication_factor: 1\n` +
      `          connection:\n            servers: [${c.host}]\n            port: ${c.port}\n            local_dc: ${CASSANDRA_DC}\n            tls:\n              insecure: true\n` +
      `          query:\n            consistency: LOCAL_ONE`,
    lastTraceFirst: true,
    countEveryMs: 1000,
    // Jaeger writes about as fast with a warm node as with a cold one (see the header): a share warms the node's JIT
    warmUpShare: 0.25,
    stored: async (peer, round) => {
      const rs = await admin.execute(`SELECT COUNT(*) FROM ${keyspace(peer, round)}.${peer === 'ours' ? 'spans' : 'traces'}`);
      return Number(rs.first()?.get(0) ?? 0);
    },
    drop: async (peer, round) => void (await admin.execute(`DROP KEYSPACE IF EXISTS ${keyspace(peer, round)}`)),
    stop: async () => {
      await admin.shutdown();
      await c.stop();
    },
  };
}

/**
 * ClickHouse: per peer and round a database on the test server; ours provisioned as the operator's check does, Jaeger's
 * created empty (Jaeger creates its tables); counted with count() of the spans table (`spans` on both sides).
 */
async function clickhouseServer(): Promise<Server> {
  const ch = await startClickHouse();
  const admin = createClient({ url: ch.url, username: ch.username, password: ch.password });
  const version = (await (await admin.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })).json<{ v: string }>())[0]?.v ?? '?';
  const database = (peer: Peer, round: number) => `bench_${peer}_r${round}`;
  return {
    label: `ClickHouse ${version}`,
    setup: 'the chdb engine behind the HTTP test server, one session, statements one at a time; MergeTree tables',
    pid: () => ch.proc.pid,
    oursBackend: (round) => ({ clickhouse: { endpoints: [ch.url], database: database('ours', round) } }),
    jaegerYaml: (round) =>
      `        clickhouse:\n          protocol: http\n          addresses: [127.0.0.1:${ch.port}]\n          database: ${database('jaeger', round)}\n          create_schema: true` +
      (ch.password ? `\n          auth:\n            basic:\n              username: ${ch.username}\n              password: "${ch.password}"` : ''),
    lastTraceFirst: true,
    countEveryMs: 500,
    warmUpShare: 0.25,
    noFind: 'jaeger',
    prepare: async (peer, round) => {
      if (peer === 'jaeger') {
        await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${database(peer, round)}` });
        return;
      }
      const b = new ClickHouseBackend({ endpoints: [ch.url], database: database(peer, round), username: ch.username, password: ch.password });
      try {
        await b.provision();
      } finally {
        await b.close();
      }
    },
    stored: async (peer, round) => {
      try {
        const rows = await (await admin.query({ query: `SELECT count() AS n FROM ${database(peer, round)}.spans`, format: 'JSONEachRow' })).json<{ n: string | number }>();
        return Number(rows[0]?.n ?? 0);
      } catch {
        return 0;
      }
    },
    drop: async (peer, round) => void (await admin.command({ query: `DROP DATABASE IF EXISTS ${database(peer, round)} SYNC` })),
    stop: async () => {
      await admin.close();
      await ch.stop();
    },
  };
}

/** get-trace latency only, as queries() takes it, for a peer whose query API cannot search (find is NaN) */
async function getsOnly(t: Target): Promise<Awaited<ReturnType<typeof queries>>> {
  const get: number[] = [];
  for (let k = 0; k < Number(process.env.BENCH_GETS ?? 300); k++) {
    const id = traceId((k * 7919) % TRACES);
    const t0 = performance.now();
    const r = await fetch(`http://127.0.0.1:${t.queryHttp}/api/v3/traces/${id}`);
    const text = await r.text();
    get.push(performance.now() - t0);
    if (r.status !== 200 || (text.match(/"spanId"/g) ?? []).length !== PER_TRACE) throw new Error(`${t.name}: trace ${id} incomplete (${r.status})`);
  }
  return { get50: pct(get, 0.5), get99: pct(get, 0.99), find50: NaN, find99: NaN };
}

async function startServer(): Promise<Server> {
  if (KIND === 'cassandra') return cassandraServer();
  if (KIND === 'clickhouse') return clickhouseServer();
  if (KIND === 'opensearch') {
    const os = await startOpenSearch({ heap: HEAP });
    return searchServer({ url: os.url, label: 'OpenSearch 2.19.6', pid: () => os.proc.pid, stop: () => os.stop(), jaegerYaml: (p) => `        opensearch:\n          server_urls: [${os.url}]\n${jaegerIndices(p)}` });
  }
  const es = await startElasticsearch({ heap: HEAP });
  return searchServer({
    url: es.url,
    label: `Elasticsearch ${es.version}`,
    pid: () => es.proc.pid,
    stop: () => es.stop(),
    // this distribution answers GET / and HEAD / with 405: Jaeger's version probe and health check use them, so the
    // major version is given and the health check is off
    jaegerYaml: (p) => `        elasticsearch:\n          server_urls: [${es.url}]\n          version: ${es.version.split('.')[0]}\n          disable_health_check: true\n${jaegerIndices(p)}`,
  });
}

/** a figure with `digits` decimals; n/a for one not measured */
const fixed = (x: number, digits = 2): string => (Number.isNaN(x) ? 'n/a' : x.toFixed(digits));

interface Result {
  peer: Peer;
  spansPerS: number;
  cpuS: number;
  serverCpuS: number;
  q: Awaited<ReturnType<typeof queries>>;
}

const FIGURES: [string, (r: Result) => number][] = [
  ['write', (r) => r.spansPerS],
  ['CPU', (r) => r.cpuS],
  ['server CPU', (r) => r.serverCpuS],
  ['get-trace p50', (r) => r.q.get50],
  ['get-trace p99', (r) => r.q.get99],
  ['find p50', (r) => r.q.find50],
  ['find p99', (r) => r.q.find99],
];

async function main(): Promise<void> {
  const server = await startServer();
  const base = BigInt(Date.now() - 600_000) * 1_000_000n;
  const bodies: Buffer[] = [];
  for (let i = 0; i < TRACES; i += PER_REQUEST / PER_TRACE) bodies.push(request(i, base));
  const dir = mkdtempSync(join(tmpdir(), `jso-bench-${KIND}-`));
  console.log(`${KIND} benchmark: ${SPANS.toLocaleString('en')} spans over OTLP/gRPC into ${server.label} (${server.setup}), ${SMOKE ? 'smoke run: one round, no warm-up' : `${ROUNDS} round(s) after a warm-up`}`);
  const start = async (peer: Peer, round: number): Promise<{ t: Target; stop: () => Promise<void> }> => {
    await server.prepare?.(peer, round);
    if (peer === 'ours') {
      const t = await startOurs(dir, { backend: server.oursBackend(round) }, `ours (${KIND})`);
      return { t, stop: async () => (t.proc.kill('SIGTERM'), await new Promise((r) => t.proc.once('exit', r))) };
    }
    const j = await startJaeger(server.jaegerYaml(round));
    return { t: { name: `jaeger (${KIND})`, proc: j.proc, otlpGrpc: j.otlpGrpc, queryHttp: j.queryHttp }, stop: () => j.stop() };
  };
  /** one peer's run: the load (all of it, or its first requests for a warm-up) until all is stored, then the queries */
  const run = async (peer: Peer, round: number, reqs = bodies): Promise<Result | undefined> => {
    const spans = Math.min(SPANS, reqs.length * PER_REQUEST);
    const whole = reqs.length === bodies.length;
    const { t, stop } = await start(peer, round);
    try {
      const cpu0 = cpuSeconds(t.proc.pid);
      const server0 = cpuSeconds(server.pid(), true);
      const t0 = performance.now();
      // polled at 5 per second: each poll is a query the peer and the server pay for while writing
      await load(t, reqs, { lastTraceWhole: whole && server.lastTraceFirst, pollMs: 200, readableWithinMs: 600_000 });
      let n = 0;
      for (const until = performance.now() + 600_000; (n = await server.stored(peer, round)) < spans && performance.now() < until; ) await sleep(server.countEveryMs);
      const s = (performance.now() - t0) / 1000;
      const cpuS = cpuSeconds(t.proc.pid) - cpu0;
      const serverCpuS = cpuSeconds(server.pid(), true) - server0;
      if (n < spans) throw new Error(`${t.name}: only ${n} of ${spans} spans stored`);
      const written = `${t.name.padEnd(22)} ${Math.round(spans / s).toLocaleString('en').padStart(8)} spans/s until all readable (${s.toFixed(1)} s), CPU ${cpuS.toFixed(2)} s (server ${serverCpuS.toFixed(2)} s)`;
      if (!whole) {
        console.log(`warm-up (not counted), ${spans.toLocaleString('en')} spans: ${written}`);
        return undefined;
      }
      const q = server.noFind === peer ? await getsOnly(t) : await queries(t, base);
      console.log(`${round ? '' : 'warm-up (not counted): '}${written}; get-trace p50 ${q.get50.toFixed(2)} ms p99 ${q.get99.toFixed(2)} ms; ${Number.isNaN(q.find50) ? 'find n/a (no trace search in its query API)' : `find p50 ${q.find50.toFixed(2)} ms p99 ${q.find99.toFixed(2)} ms`}`);
      return { peer, spansPerS: spans / s, cpuS, serverCpuS, q };
    } finally {
      await stop();
      await server.drop?.(peer, round);
    }
  };
  const rounds: Record<Peer, Result>[] = [];
  try {
    if (!SMOKE) for (const peer of ['jaeger', 'ours'] as const) await run(peer, 0, bodies.slice(0, Math.ceil(bodies.length * server.warmUpShare)));
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Peer[] = round % 2 ? ['ours', 'jaeger'] : ['jaeger', 'ours'];
      if (ROUNDS > 1) console.log(`round ${round} of ${ROUNDS} (${order[0]} first)`);
      const r: Partial<Record<Peer, Result>> = {};
      for (const peer of order) r[peer] = await run(peer, round);
      rounds.push(r as Record<Peer, Result>);
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const rs = (f: (r: Result) => number) => rounds.map((r) => f(r.ours) / f(r.jaeger));
  const peerMedians = (peer: Peer) => FIGURES.map(([name, f]) => `${name} ${fixed(median(rounds.map((r) => f(r[peer]))), name === 'write' ? 0 : 2)}`).join(', ');
  if (rounds.length > 1) for (const peer of ['ours', 'jaeger'] as const) console.log(`${peer} medians: ${peerMedians(peer)} (spans/s, s, ms)`);
  const each = (f: (r: Result) => number) => (rounds.length > 1 ? ` (rounds: ${rs(f).map((x) => fixed(x)).join(', ')})` : '');
  const ratio = (i: number) => {
    const x = median(rs(FIGURES[i]![1]));
    return `${FIGURES[i]![0]} ${Number.isNaN(x) ? 'n/a' : `${x.toFixed(2)}x`}`;
  };
  console.log(
    `ratio ours/jaeger, medians of ${rounds.length} round(s): ${ratio(0)}${each(FIGURES[0]![1])} (higher is better); ${ratio(1)}${each(FIGURES[1]![1])}, ${FIGURES.slice(2)
      .map((_, i) => ratio(i + 2))
      .join(', ')} (lower is better)`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
