// Every benchmark once at a tiny size, each as its own process the way `npm run bench:*` runs it after the build:
// it must exit 0 and print its figures. The values are not checked (on a shared machine they mean nothing here);
// the benchmarks that need a cluster use the one of this test run, in a namespace of their own.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, kubeconfig } from '../helpers.js';

interface BenchRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

/** A number as the benchmarks print it: 1,234 or 12.5 or -3 */
const NUM = String.raw`-?[\d,]+(?:\.\d+)?`;

/** Signals the benchmark's whole process group: what it started (runtimes, Jaeger, OpenSearch) goes with it. */
function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

function runBench(script: string, env: Record<string, string>, timeoutMs: number, nodeArgs: string[] = [], args: string[] = []): Promise<BenchRun> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeArgs, join(ROOT, 'dist/bench', script), ...args], {
      cwd: ROOT,
      // NODE_OPTIONS of the test runner (--experimental-vm-modules) is not the benchmarks' business
      env: { ...process.env, NODE_OPTIONS: '', KUBECONFIG: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
    // bounded: SIGTERM at the deadline, SIGKILL if it does not go
    const term = setTimeout(() => {
      out += `\n[bench-smoke] ${script} still running after ${timeoutMs} ms: SIGTERM\n`;
      signalGroup(proc.pid, 'SIGTERM');
    }, timeoutMs);
    const kill = setTimeout(() => signalGroup(proc.pid, 'SIGKILL'), timeoutMs + 15_000);
    proc.on('error', reject);
    // anything it left behind goes at its exit; 'close' then follows once every holder of its output is gone
    proc.on('exit', () => signalGroup(proc.pid, 'SIGKILL'));
    proc.on('close', (code, signal) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ code, signal, out });
    });
  });
}

/** Fails with the benchmark's output when it did not exit 0 or a figure line is missing. */
function expectFigures(script: string, run: BenchRun, figures: RegExp[]): void {
  const tail = run.out.split('\n').slice(-60).join('\n');
  if (run.code !== 0) throw new Error(`${script} exited with ${run.code ?? run.signal}; its output:\n${tail}`);
  const missing = figures.filter((f) => !f.test(run.out));
  if (missing.length) throw new Error(`${script} did not print ${missing.map(String).join(', ')}; its output:\n${tail}`);
}

const re = (s: string) => new RegExp(s.replaceAll('#', NUM));

/** the figures of `node dist/bench/search.js <kind>`: each peer's line and the ratios */
function expectSearchFigures(kind: string, run: BenchRun): void {
  expectFigures(`search ${kind}`, run, [
    re(String.raw`ours \(${kind}\)\s+# spans/s until all readable \(# s\), CPU # s \(server # s\); get-trace p50 # ms p99 # ms; find p50 # ms p99 # ms`),
    re(String.raw`jaeger \(${kind}\)\s+# spans/s until all readable \(# s\), CPU # s \(server # s\); get-trace p50 # ms`),
    re(String.raw`ratio ours/jaeger, medians of 1 round\(s\): write #x \(higher is better\); CPU #x, server CPU #x, get-trace p50 #x, get-trace p99 #x, find p50 #x, find p99 #x`),
  ]);
}

describe('benchmarks at a tiny size', () => {
  it('bench:ready creates TraceStores and bare Deployments and prints the ratio', async () => {
    const run = await runBench('ready-latency.js', { KUBECONFIG: kubeconfig(), BENCH_N: '2' }, 150_000);
    expectFigures('ready-latency', run, [
      re(String.raw`TraceStore apply -> Ready=True\s+median # ms\s+p90 # ms`),
      re(String.raw`peer: Deployment apply -> Available\s+median # ms`),
      re(String.raw`ratio \(TraceStore / bare Deployment\)\s+#x`),
      re(String.raw`API requests per reconcile, creating\s+#`),
      re(String.raw`API requests per reconcile, steady state\s+#`),
    ]);
  }, 180_000);

  it('bench:storage writes and reads the memory and embedded stores and prints throughput and latency', async () => {
    const run = await runBench('storage.js', { BENCH_SPANS: '2000' }, 120_000, ['--expose-gc']);
    expectFigures('storage', run, [
      /^memory/m,
      /^memory, lazily decoded OTLP\/protobuf/m,
      /^embedded\s*$/m,
      /^embedded, 4 batches in flight/m,
      re(String.raw`write # spans/s \(# s wall, # s cpu\)`),
      re(String.raw`getTraces p50 # ms p99 # ms`),
      re(String.raw`findTraceIds p50 # ms p99 # ms`),
      re(String.raw`# bytes/span \(disk`),
      re(String.raw`# bytes/span \(RSS growth`),
      re(String.raw`heap # \+ buffers #, store's own estimate # bytes/span`),
    ]);
    expect(run.out.match(/write [\d,]+ spans\/s/g)).toHaveLength(4);
  }, 150_000);

  it('bench:ingest loads our runtime and Jaeger, pre-encoded and from telemetrygen, and prints the ratios', async () => {
    const tgen = { BENCH_TGEN_WORKERS: '2', BENCH_TGEN_RATE: '500', BENCH_TGEN_TRACES: '40', BENCH_TGEN_CHILD_SPANS: '4' };
    const run = await runBench('ingest.js', { BENCH_SPANS: '2000', BENCH_GETS: '30', BENCH_FINDS: '10', BENCH_ROUNDS: '2', ...tgen }, 120_000);
    expectFigures('ingest', run, [
      re(String.raw`ours \(memory\)\s+# spans/s acked, all readable after # s, RSS # MiB; get-trace p50 # ms`),
      re(String.raw`jaeger \(memory\)\s+# spans/s acked`),
      // two rounds, each a fresh pair, the second with Jaeger first; the ratios are their medians
      re(String.raw`round 2 of 2 \(jaeger first\)`),
      re(String.raw`ratio ours/jaeger: ingest #x \(rounds: #, #\), time-to-readable #x .*; medians of 2 rounds`),
      // counted on each server: all 400 spans (2 workers x 40 traces x 5 spans) stored, none lost at this pace
      re(String.raw`ours \(memory\)\s+# spans/s stored \(400 of 400 sent, 400 received, 0 refused, 0 lost before the server, in # s\), server CPU # ms per 1,000 spans, RSS # MiB`),
      re(String.raw`jaeger \(memory\)\s+# spans/s stored \(400 of 400 sent, 400 received, 0 refused, 0 lost before the server, in # s\), server CPU # ms per 1,000 spans`),
      re(String.raw`telemetrygen ratio ours/jaeger: spans/s #x, server CPU per span #x \(lower is better\), RSS #x`),
    ]);
  }, 150_000);

  it('bench:ingest without the telemetrygen binary fails before any load, naming the command that builds it', async () => {
    const run = await runBench('ingest.js', { BENCH_SPANS: '2000', TELEMETRYGEN_VERSION: 'v0.0.0-not-built' }, 30_000);
    expect(run.code).not.toBe(0);
    expect(run.out).toContain('telemetrygen is missing');
    expect(run.out).toContain('bash test/env/build-telemetrygen.sh');
    expect(run.out).not.toContain('spans/s acked');
  }, 45_000);

  it('bench:sampling measures propagation and policy cost and prints the ratios', async () => {
    const run = await runBench('sampling.js', { KUBECONFIG: kubeconfig(), BENCH_UPDATES: '3', BENCH_SPANS: '2000' }, 150_000);
    expectFigures('sampling', run, [
      re(String.raw`propagation, API write -> both of 2 runtimes enforcing \(3 updates\): p50 # ms, p99 # ms`),
      re(String.raw`jaeger v2 file strategies .*: p50 # ms, p99 # ms`),
      re(String.raw`ratio ours/jaeger: p50 #x, p99 #x`),
      re(String.raw`ingest rules per span \(in process\): no policy # ns, 50-rule policy # ns`),
      re(String.raw`no policy # spans/s, 50-rule policy # spans/s = #x`),
    ]);
  }, 180_000);

  // the same script for both products: `node dist/bench/search.js opensearch|elasticsearch`
  it.each([
    ['opensearch', 'OpenSearch'],
    ['elasticsearch', 'Elasticsearch'],
  ])('bench:%s writes through our runtime and Jaeger into %s and prints the ratios', async (kind) => {
    const run = await runBench('search.js', { BENCH_SMOKE: '1', BENCH_SPANS: '2000', BENCH_GETS: '30', BENCH_FINDS: '10' }, 180_000, [], [kind]);
    expectSearchFigures(kind, run);
  }, 210_000);

  // Jaeger writes a few dozen spans per second into Cassandra here: a smaller load
  it('bench:cassandra writes through our runtime and Jaeger into Cassandra and prints the ratios', async () => {
    const run = await runBench('search.js', { BENCH_SMOKE: '1', BENCH_SPANS: '400', BENCH_GETS: '20', BENCH_FINDS: '10' }, 150_000, [], ['cassandra']);
    expectSearchFigures('cassandra', run);
  }, 180_000);

  // Jaeger v2.13's ClickHouse reader has no trace search: its find figures are n/a
  it('bench:clickhouse-e2e writes through our runtime and Jaeger into ClickHouse and prints the ratios', async () => {
    const run = await runBench('search.js', { BENCH_SMOKE: '1', BENCH_SPANS: '2000', BENCH_GETS: '20', BENCH_FINDS: '10' }, 180_000, [], ['clickhouse']);
    expectFigures('search clickhouse', run, [
      re(String.raw`ours \(clickhouse\)\s+# spans/s until all readable \(# s\), CPU # s \(server # s\); get-trace p50 # ms p99 # ms; find p50 # ms p99 # ms`),
      re(String.raw`jaeger \(clickhouse\)\s+# spans/s until all readable \(# s\), CPU # s \(server # s\); get-trace p50 # ms`),
      re(String.raw`ratio ours/jaeger, medians of 1 round\(s\): write #x`),
    ]);
  }, 210_000);

  it('bench:clickhouse loads ours and the clickhouseexporter schema on one engine and prints the table', async () => {
    const run = await runBench('clickhouse.js', { BENCH_SPANS: '20000', BENCH_GETS: '10', BENCH_FINDS: '5' }, 180_000);
    expectFigures('clickhouse', run, [
      re(String.raw`insert spans/s\s+#\s+#`),
      re(String.raw`bytes on disk per span\s+#\s+#`),
      re(String.raw`search by operation p50 / p99 ms\s+# / #\s+# / #`),
      re(String.raw`search by attribute p50 / p99 ms\s+# / #\s+# / #`),
      re(String.raw`ratios ours/otel: insert #x faster, disk #x, get p50 #x, service p50 #x, operation p50 #x, attribute p50 #x`),
    ]);
  }, 210_000);

  it('bench:summaries times the search page over ClickHouse through Jaeger and ours and prints the ratios', async () => {
    const run = await runBench('summaries.js', { BENCH_SPANS: '4000', BENCH_FINDS: '5', BENCH_DEPTH: '5' }, 180_000);
    expectFigures('summaries', run, [
      re(String.raw`\| Jaeger v2.13 front over our runtime: /api/traces \(whole traces\) \| # \| # \|`),
      re(String.raw`\| ours: /api/v3/trace-summaries \| # \| # \|`),
      re(String.raw`ratios \(p50, lower is better\): our summaries / Jaeger front's whole traces #x, our summaries / our whole traces #x, our whole traces / Jaeger front's #x, engine summaries / shared rules #x`),
    ]);
  }, 210_000);
});
