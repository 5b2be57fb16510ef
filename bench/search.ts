// Our runtime and the Jaeger v2 binary (v1.76.0) writing to the same search server, fed the same OTLP/gRPC load as
// bench:ingest: an OpenSearch 2.19.6 node (Maven Central jars on the JVM) or an Elasticsearch node (its
// integration-test distribution, plain HTTP), on loopback. Write throughput is spans per second until every span is
// indexed and searchable (_count after a refresh), so that both sides pay for the same work: Jaeger acknowledges a
// span once it is queued for its bulk processor, we once its bulk item succeeded. CPU is the user+system time of the
// writer's process (and, next to it, of the server's processes) from the start of the load until all is indexed.
// Then get-trace and find latency through each one's api_v3 HTTP API.
//
//   npm run bench:opensearch                       100,000 spans (node dist/bench/search.js opensearch)
//   npm run bench:elasticsearch                    100,000 spans (node dist/bench/search.js elasticsearch)
//   BENCH_SPANS=400000 npm run bench:elasticsearch
//   BENCH_SMOKE=1 BENCH_SPANS=2000 BENCH_GETS=30 BENCH_FINDS=10 npm run bench:elasticsearch   one round each, no
//                                                  warm-up: checks that it runs; its figures mean nothing
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startElasticsearch } from '../test/env/elasticsearch.js';
import { startJaeger } from '../test/env/jaeger.js';
import { startOpenSearch } from '../test/env/opensearch.js';
import { procStat, sleep } from '../test/env/server-process.js';
import { PER_REQUEST, PER_TRACE, SPANS, TRACES, type Target, load, queries, request, startOurs } from './otlp-load.js';

const SMOKE = process.env.BENCH_SMOKE === '1';
const HEAP = SMOKE ? '512m' : '1g';
const KINDS = ['opensearch', 'elasticsearch'] as const;
const KIND: (typeof KINDS)[number] = KINDS.find((k) => k === process.argv[2]) ?? usage();
function usage(): never {
  console.error('usage: node dist/bench/search.js opensearch|elasticsearch');
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

interface Server {
  url: string;
  label: string;
  /** the process whose tree is the server */
  pid: () => number | undefined;
  /** the storage section of the Jaeger config (indented for `backends.store:`) */
  jaegerYaml: (prefix: string) => string;
  stop: () => Promise<void>;
}

const idx = '{ shards: 1, replicas: 0 }';
const jaegerIndices = (prefix: string) => `          indices:\n            index_prefix: ${prefix}\n            spans: ${idx}\n            services: ${idx}\n            dependencies: ${idx}\n            sampling: ${idx}`;

async function startServer(): Promise<Server> {
  if (KIND === 'opensearch') {
    const os = await startOpenSearch({ heap: HEAP });
    return {
      url: os.url,
      label: 'OpenSearch 2.19.6',
      pid: () => os.proc.pid,
      jaegerYaml: (prefix) => `        opensearch:\n          server_urls: [${os.url}]\n${jaegerIndices(prefix)}`,
      stop: () => os.stop(),
    };
  }
  const es = await startElasticsearch({ heap: HEAP });
  return {
    url: es.url,
    label: `Elasticsearch ${es.version}`,
    pid: () => es.proc.pid,
    // this distribution answers GET / and HEAD / with 405: Jaeger's version probe and health check use them, so the
    // major version is given and the health check is off
    jaegerYaml: (prefix) =>
      `        elasticsearch:\n          server_urls: [${es.url}]\n          version: ${es.version.split('.')[0]}\n          disable_health_check: true\n${jaegerIndices(prefix)}`,
    stop: () => es.stop(),
  };
}

interface Result {
  name: string;
  spansPerS: number;
  cpuS: number;
  serverCpuS: number;
  q: Awaited<ReturnType<typeof queries>>;
}

async function main(): Promise<void> {
  const server = await startServer();
  const base = BigInt(Date.now() - 600_000) * 1_000_000n;
  const bodies: Buffer[] = [];
  for (let i = 0; i < TRACES; i += PER_REQUEST / PER_TRACE) bodies.push(request(i, base));
  const dir = mkdtempSync(join(tmpdir(), `jso-bench-${KIND}-`));
  const count = async (pattern: string): Promise<number> => {
    await fetch(`${server.url}/${pattern}/_refresh?ignore_unavailable=true&allow_no_indices=true`, { method: 'POST' });
    const r = await fetch(`${server.url}/${pattern}/_count?ignore_unavailable=true&allow_no_indices=true`);
    return ((await r.json()) as { count?: number }).count ?? 0;
  };
  console.log(`${KIND} benchmark: ${SPANS.toLocaleString('en')} spans over OTLP/gRPC into ${server.label} (1 shard, 0 replicas, heap ${HEAP})${SMOKE ? ', smoke run: one round, no warm-up' : ''}`);
  const results: Result[] = [];
  type Run = [string, string, () => Promise<{ t: Target; stop: () => Promise<void> }>];
  const ours = (round: number): Run => [
    'ours',
    `obench${round}-jaeger-span-*`,
    async () => {
      const backend = { [KIND]: { endpoints: [server.url], indexPrefix: `obench${round}`, layout: 'daily', shards: 1, replicas: 0 } };
      const t = await startOurs(dir, { backend }, `ours (${KIND})`);
      return { t, stop: async () => (t.proc.kill('SIGTERM'), await new Promise((r) => t.proc.once('exit', r))) };
    },
  ];
  const jaeger = (round: number): Run => [
    'jaeger',
    `jbench${round}-jaeger-span-*`,
    async () => {
      const j = await startJaeger(server.jaegerYaml(`jbench${round}`));
      return { t: { name: `jaeger (${KIND})`, proc: j.proc, otlpGrpc: j.otlpGrpc, queryHttp: j.queryHttp }, stop: () => j.stop() };
    },
  ];
  // a fresh JVM indexes several times slower until its JIT has warmed up: an unrecorded warm-up load through each
  // (round 0), then ABBA
  const runs: Run[] = SMOKE ? [ours(1), jaeger(1)] : [jaeger(0), ours(0), ours(1), jaeger(1), jaeger(2), ours(2)];
  try {
    for (const [, pattern, start] of runs) {
      const { t, stop } = await start();
      try {
        const cpu0 = cpuSeconds(t.proc.pid);
        const server0 = cpuSeconds(server.pid(), true);
        const t0 = performance.now();
        await load(t, bodies, { lastTraceWhole: false });
        let n = 0;
        for (let k = 0; k < 3000 && (n = await count(pattern)) < SPANS; k++) await sleep(100);
        const s = (performance.now() - t0) / 1000;
        const cpuS = cpuSeconds(t.proc.pid) - cpu0;
        const serverCpuS = cpuSeconds(server.pid(), true) - server0;
        if (n < SPANS) throw new Error(`${t.name}: only ${n} of ${SPANS} spans indexed`);
        const q = await queries(t, base);
        if (/^.bench0-/.test(pattern)) {
          console.log(`warm-up load through ${t.name} (not counted): ${Math.round(SPANS / s).toLocaleString('en')} spans/s, CPU ${cpuS.toFixed(2)} s`);
          continue;
        }
        results.push({ name: t.name, spansPerS: SPANS / s, cpuS, serverCpuS, q });
        console.log(
          `${t.name.padEnd(22)} ${Math.round(SPANS / s).toLocaleString('en').padStart(8)} spans/s until all indexed (${s.toFixed(1)} s), CPU ${cpuS.toFixed(2)} s (server ${serverCpuS.toFixed(2)} s); get-trace p50 ${q.get50.toFixed(2)} ms p99 ${q.get99.toFixed(2)} ms; find p50 ${q.find50.toFixed(2)} ms p99 ${q.find99.toFixed(2)} ms`,
        );
      } finally {
        await stop();
      }
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const mean = (name: string, f: (r: Result) => number) => {
    const xs = results.filter((r) => r.name.startsWith(name)).map(f);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const ratio = (f: (r: Result) => number) => (mean('ours', f) / mean('jaeger', f)).toFixed(2);
  console.log(
    `ratio ours/jaeger, means of the ${SMOKE ? 'one round' : 'two rounds'}: write ${ratio((r) => r.spansPerS)}x (higher is better); CPU ${ratio((r) => r.cpuS)}x, server CPU ${ratio((r) => r.serverCpuS)}x, get-trace p50 ${ratio((r) => r.q.get50)}x p99 ${ratio((r) => r.q.get99)}x, find p50 ${ratio((r) => r.q.find50)}x p99 ${ratio((r) => r.q.find99)}x (lower is better)`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
