// Our runtime and the Jaeger v2 binary (v1.76.0) writing to the same OpenSearch node (2.19.6, Maven Central jars on
// the JVM, loopback), fed the same OTLP/gRPC load as bench:ingest. Write throughput is spans per second until every
// span is indexed and searchable (OpenSearch _count after a refresh), so that both sides pay for the same work;
// then get-trace and find latency through each one's api_v3 HTTP API.
//
//   npm run bench:opensearch                       100,000 spans
//   BENCH_SPANS=400000 npm run bench:opensearch
//   BENCH_SMOKE=1 BENCH_SPANS=2000 BENCH_GETS=30 BENCH_FINDS=10 npm run bench:opensearch   one round each, no warm-up:
//                                                  checks that it runs; its figures mean nothing
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startJaeger } from '../test/env/jaeger.js';
import { startOpenSearch } from '../test/env/opensearch.js';
import { PER_REQUEST, PER_TRACE, SPANS, TRACES, type Target, load, queries, request, startOurs } from './otlp-load.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SMOKE = process.env.BENCH_SMOKE === '1';
const HEAP = SMOKE ? '512m' : '1g';

async function main(): Promise<void> {
  const os = await startOpenSearch({ heap: HEAP });
  const base = BigInt(Date.now() - 600_000) * 1_000_000n;
  const bodies: Buffer[] = [];
  for (let i = 0; i < TRACES; i += PER_REQUEST / PER_TRACE) bodies.push(request(i, base));
  const dir = mkdtempSync(join(tmpdir(), 'jso-bench-os-'));
  const count = async (pattern: string): Promise<number> => {
    await fetch(`${os.url}/${pattern}/_refresh?ignore_unavailable=true&allow_no_indices=true`, { method: 'POST' });
    const r = await fetch(`${os.url}/${pattern}/_count?ignore_unavailable=true&allow_no_indices=true`);
    return ((await r.json()) as { count?: number }).count ?? 0;
  };
  console.log(`opensearch benchmark: ${SPANS.toLocaleString('en')} spans over OTLP/gRPC into OpenSearch 2.19.6 (1 shard, 0 replicas, heap ${HEAP})${SMOKE ? ', smoke run: one round, no warm-up' : ''}`);
  const results: { name: string; spansPerS: number; q: Awaited<ReturnType<typeof queries>> }[] = [];
  type Run = [string, string, () => Promise<{ t: Target; stop: () => Promise<void> }>];
  const ours = (round: number): Run => [
    'ours',
    `obench${round}-jaeger-span-*`,
    async () => {
      const t = await startOurs(dir, { backend: { opensearch: { endpoints: [os.url], indexPrefix: `obench${round}`, layout: 'daily', shards: 1, replicas: 0 } } }, 'ours (opensearch)');
      return { t, stop: async () => (t.proc.kill('SIGTERM'), await new Promise((r) => t.proc.once('exit', r))) };
    },
  ];
  const jaeger = (round: number): Run => [
    'jaeger',
    `jbench${round}-jaeger-span-*`,
    async () => {
      const idx = '{ shards: 1, replicas: 0 }';
      const j = await startJaeger(
        `        opensearch:\n          server_urls: [${os.url}]\n          indices:\n            index_prefix: jbench${round}\n            spans: ${idx}\n            services: ${idx}\n            dependencies: ${idx}\n            sampling: ${idx}`,
      );
      return { t: { name: 'jaeger (opensearch)', proc: j.proc, otlpGrpc: j.otlpGrpc, queryHttp: j.queryHttp }, stop: () => j.stop() };
    },
  ];
  // a fresh JVM indexes several times slower until its JIT has warmed up: one unrecorded warm-up load, then ABBA
  const runs: Run[] = SMOKE ? [ours(1), jaeger(1)] : [jaeger(0), ours(1), jaeger(1), jaeger(2), ours(2)];
  try {
    for (const [, pattern, start] of runs) {
      const { t, stop } = await start();
      try {
        const t0 = performance.now();
        await load(t, bodies, { lastTraceWhole: false });
        let n = 0;
        for (let k = 0; k < 3000 && (n = await count(pattern)) < SPANS; k++) await sleep(100);
        const s = (performance.now() - t0) / 1000;
        if (n < SPANS) throw new Error(`${t.name}: only ${n} of ${SPANS} spans indexed`);
        const q = await queries(t, base);
        if (pattern.startsWith('jbench0')) {
          console.log(`warm-up load (not counted): ${Math.round(SPANS / s).toLocaleString('en')} spans/s`);
          continue;
        }
        results.push({ name: t.name, spansPerS: SPANS / s, q });
        console.log(
          `${t.name.padEnd(20)} ${Math.round(SPANS / s).toLocaleString('en').padStart(8)} spans/s until all indexed (${s.toFixed(1)} s); get-trace p50 ${q.get50.toFixed(2)} ms p99 ${q.get99.toFixed(2)} ms; find p50 ${q.find50.toFixed(2)} ms p99 ${q.find99.toFixed(2)} ms`,
        );
      } finally {
        await stop();
      }
    }
  } finally {
    await os.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const mean = (name: string, f: (r: (typeof results)[0]) => number) => {
    const xs = results.filter((r) => r.name.startsWith(name)).map(f);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const ratio = (f: (r: (typeof results)[0]) => number) => (mean('ours', f) / mean('jaeger', f)).toFixed(2);
  console.log(`ratio ours/jaeger, means of the ${SMOKE ? 'one round' : 'two rounds'}: write ${ratio((r) => r.spansPerS)}x (higher is better), get-trace p50 ${ratio((r) => r.q.get50)}x, find p50 ${ratio((r) => r.q.find50)}x (lower is better)`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
