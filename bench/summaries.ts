// What one search of Jaeger UI's search page costs, over the same spans in ClickHouse (the chdb engine behind the
// test server, test/env/clickhouse.ts). Jaeger UI up to v2.18 loads the traces a search finds whole (classic
// /api/traces?limit=20); from v2.19 it loads their summaries (/api/v3/trace-summaries). Timed side by side:
//   - Jaeger v2.13 (the binary) as the query front over our runtime's remote storage: /api/traces, what such a UI
//     calls (Jaeger v2.13 has no summaries);
//   - our runtime's own /api/traces, the same search;
//   - our runtime's /api/v3/trace-summaries, the summaries the engine computes (one statement, eight columns);
//   - in process, the same summaries two ways: the backend's own (findTraceSummaries) and the shared rules over the
//     found traces (summarizeTraces(findTraces)), which every backend without its own uses.
// Each search: one of the 20 services, the whole load's time window, 20 traces (BENCH_DEPTH), BENCH_FINDS of them
// (default 50) per side, after 5 untimed ones. The load is bench:ingest's (20 spans per trace, 10 attributes each).
//
//   npm run bench:summaries                        200,000 spans (node dist/bench/summaries.js)
//   BENCH_SPANS=1000000 npm run bench:summaries
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TraceQuery, type TraceSummary, summarizeTraces } from '../src/storage/api/index.js';
import { ClickHouseBackend } from '../src/storage/clickhouse/store.js';
import { startClickHouse } from '../test/env/clickhouse.js';
import { startJaeger } from '../test/env/jaeger.js';
import { PER_REQUEST, PER_TRACE, SPANS, TRACES, load, pct, request, startOurs } from './otlp-load.js';

const FINDS = Number(process.env.BENCH_FINDS ?? 50);
const DEPTH = Number(process.env.BENCH_DEPTH ?? 20);
const SERVICES = 20;

async function timed(what: string, run: (k: number) => Promise<number>): Promise<number[]> {
  for (let k = 0; k < 5; k++) await run(k);
  const out: number[] = [];
  for (let k = 0; k < FINDS; k++) {
    const t0 = performance.now();
    const n = await run(k);
    out.push(performance.now() - t0);
    if (n < Math.min(DEPTH, TRACES / SERVICES)) throw new Error(`${what}: search ${k} found ${n} traces, fewer than ${DEPTH}`);
  }
  return out;
}

async function json(url: string): Promise<unknown> {
  const r = await fetch(url);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${url}: ${r.status} ${text.slice(0, 200)}`);
  return JSON.parse(text);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'jso-bench-summaries-'));
  const ch = await startClickHouse();
  const database = 'bench_summaries';
  const stops: (() => Promise<unknown>)[] = [async () => ch.stop()];
  try {
    const b = new ClickHouseBackend({ endpoints: [ch.url], database, username: ch.username, password: ch.password });
    await b.provision();
    stops.unshift(() => b.close());
    const ours = await startOurs(dir, { backend: { clickhouse: { endpoints: [ch.url], database } } }, 'ours (clickhouse)');
    stops.unshift(async () => ours.proc.kill('SIGTERM'));
    const base = BigInt(Date.now() - 600_000) * 1_000_000n;
    const bodies: Buffer[] = [];
    for (let i = 0; i < TRACES; i += PER_REQUEST / PER_TRACE) bodies.push(request(i, base));
    process.stderr.write(`loading ${SPANS} spans (${TRACES} traces) into ClickHouse through our runtime...\n`);
    const { readableS } = await load(ours, bodies);
    process.stderr.write(`  stored and readable in ${readableS.toFixed(1)} s\n`);
    const jaeger = await startJaeger(`        grpc:\n          endpoint: 127.0.0.1:${ours.remoteStorage}\n          tls:\n            insecure: true\n          writer:\n            endpoint: 127.0.0.1:${ours.remoteStorage}\n            tls:\n              insecure: true`);
    stops.unshift(() => jaeger.stop());

    const startUs = base / 1000n - 1_000_000n;
    const endUs = base / 1000n + 3_600_000_000n;
    const iso = (us: bigint) => new Date(Number(us / 1000n)).toISOString();
    const service = (k: number) => `service-${(k * 7) % SERVICES}`;
    const classic = (port: number) => async (k: number) => ((await json(`http://127.0.0.1:${port}/api/traces?service=${service(k)}&limit=${DEPTH}&start=${startUs}&end=${endUs}`)) as { data: unknown[] }).data.length;
    const sides: [string, number[]][] = [];
    sides.push(['Jaeger v2.13 front over our runtime: /api/traces (whole traces)', await timed('jaeger', classic(jaeger.queryHttp))]);
    sides.push(['ours: /api/traces (whole traces)', await timed('ours classic', classic(ours.queryHttp))]);
    sides.push([
      'ours: /api/v3/trace-summaries',
      await timed('ours summaries', async (k) => ((await json(`http://127.0.0.1:${ours.queryHttp}/api/v3/trace-summaries?query.service_name=${service(k)}&query.num_traces=${DEPTH}&query.start_time_min=${iso(startUs)}&query.start_time_max=${iso(endUs)}`)) as { summaries: unknown[] }).summaries.length),
    ]);
    const reader = b.traceReader();
    const q = (k: number): TraceQuery => ({ serviceName: service(k), searchDepth: DEPTH, startTimeMin: startUs * 1000n, startTimeMax: endUs * 1000n });
    const count = async (it: AsyncIterable<TraceSummary[]>) => {
      let n = 0;
      for await (const x of it) n += x.length;
      return n;
    };
    sides.push(['in process: findTraceSummaries (the engine computes)', await timed('native', (k) => count(reader.findTraceSummaries(q(k))))]);
    sides.push(['in process: summarizeTraces(findTraces) (shared rules)', await timed('fallback', (k) => count(summarizeTraces(reader.findTraces(q(k)))))]);

    const fmt = (x: number) => x.toFixed(1);
    console.log(`\nsearch page cost, ${SPANS} spans in ClickHouse (${TRACES} traces of ${PER_TRACE} spans, ${SERVICES} services), ${DEPTH} traces per search, ${FINDS} searches per side`);
    console.log('| side | p50 ms | p99 ms |\n|---|---|---|');
    for (const [name, xs] of sides) console.log(`| ${name} | ${fmt(pct(xs, 0.5))} | ${fmt(pct(xs, 0.99))} |`);
    const p50 = (i: number) => pct(sides[i]![1], 0.5);
    console.log(`\nratios (p50, lower is better): our summaries / Jaeger front's whole traces ${(p50(2) / p50(0)).toFixed(2)}x, our summaries / our whole traces ${(p50(2) / p50(1)).toFixed(2)}x, our whole traces / Jaeger front's ${(p50(1) / p50(0)).toFixed(2)}x, engine summaries / shared rules ${(p50(3) / p50(4)).toFixed(2)}x`);
  } finally {
    for (const s of stops) await s().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
