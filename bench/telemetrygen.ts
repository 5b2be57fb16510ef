// A load generator we did not write: OpenTelemetry's telemetrygen (built by test/env/build-telemetrygen.sh) sends
// traces over OTLP/gRPC to a runtime, paced, with the same settings for every runtime. Its SDK drops spans silently
// when its batch queue overflows, so everything is counted on the server: spans received and stored (from the
// server's Prometheus metrics), wall time until the last span is stored, and the server's CPU time and RSS.
//
// BENCH_TGEN_WORKERS (20), BENCH_TGEN_RATE (spans/s per worker, 1,000), BENCH_TGEN_TRACES (traces per worker, 3,000)
// and BENCH_TGEN_CHILD_SPANS (9) set the load; each trace is one parent span and its children. The defaults ask for
// 20,000 spans/s for 30 s: many workers at a modest rate, since one worker's pacing tops out near 1,700 spans/s, and
// below the rate (about 30,000 spans/s here) where the SDK's one export stream falls behind and drops.
// BENCH_TGEN_PROCS (1) runs that many telemetrygen processes side by side, each with its own queue and stream.
import { type ChildProcess, spawn } from 'node:child_process';
import { procStat, sleep } from '../test/env/server-process.js';
import { telemetrygenBinary } from '../test/env/telemetrygen.js';
export { telemetrygenBinary };
import { type Target, rssMiB } from './otlp-load.js';

const int = (name: string, dflt: number): number => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer, not ${process.env[name]}`);
  return v;
};

export const TGEN = {
  /** telemetrygen processes: each has its own SDK queue and export stream */
  procs: Math.max(1, int('BENCH_TGEN_PROCS', 1)),
  workers: int('BENCH_TGEN_WORKERS', 20),
  /** spans per second per worker: never 0, the SDK would then drop most spans in its queue */
  rate: Math.max(1, int('BENCH_TGEN_RATE', 1000)),
  tracesPerWorker: int('BENCH_TGEN_TRACES', 3000),
  childSpans: int('BENCH_TGEN_CHILD_SPANS', 9),
  /** spans per export request, and the SDK's queue that holds them until sent */
  batchSize: 512,
};
/** span attributes of every span, on top of the two telemetrygen sets itself */
const ATTRIBUTES = ['http.request.method="GET"', 'http.response.status_code=200', 'url.path="/api/v1/orders"', 'server.address="orders.internal"', 'app.tenant="bench"'];
export const TGEN_SPANS = TGEN.procs * TGEN.workers * TGEN.tracesPerWorker * (1 + TGEN.childSpans);

/** /proc/<pid>/stat counts CPU time in clock ticks, 100 per second on Linux */
const TICKS_PER_S = 100;

export function describeTelemetrygen(bin: string): string {
  return (
    `${TGEN_SPANS.toLocaleString('en')} spans from telemetrygen ${/telemetrygen-([^/]+)\/telemetrygen$/.exec(bin)?.[1] ?? ''} over OTLP/gRPC ` +
    `(${TGEN.procs > 1 ? `${TGEN.procs} processes x ` : ''}${TGEN.workers} workers x ${TGEN.tracesPerWorker.toLocaleString('en')} traces of ${1 + TGEN.childSpans} spans, ${TGEN.rate.toLocaleString('en')} spans/s per worker, ` +
    `${ATTRIBUTES.length + 2} attributes per span, batches of ${TGEN.batchSize})`
  );
}

/** Sum of the samples of a Prometheus metric whose name is `name` (any labels); the collector adds `_total` to counters. */
export function metricSum(text: string, names: string[]): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && names.includes(m[1]!)) sum += Number(m[2]);
  }
  return sum;
}

interface Counts {
  /** spans the server took from the wire: accepted or refused */
  received: number;
  refused: number;
  stored: number;
}

/** Our runtime: written, refused and dead-lettered spans; Jaeger: its OTLP receiver's and storage exporter's counters. */
export function countsFrom(text: string): Counts {
  if (text.includes('jso_runtime_spans_written_total')) {
    const stored = metricSum(text, ['jso_runtime_spans_written_total']);
    const refused = metricSum(text, ['jso_runtime_spans_refused_total', 'jso_runtime_spans_dead_lettered_total']);
    const queued = metricSum(text, ['jso_runtime_queue_spans']);
    return { received: stored + refused + queued, refused, stored };
  }
  const accepted = metricSum(text, ['otelcol_receiver_accepted_spans_total', 'otelcol_receiver_accepted_spans']);
  const refused = metricSum(text, ['otelcol_receiver_refused_spans_total', 'otelcol_receiver_refused_spans', 'otelcol_receiver_failed_spans_total', 'otelcol_receiver_failed_spans']);
  const stored = metricSum(text, ['otelcol_exporter_sent_spans_total', 'otelcol_exporter_sent_spans']);
  return { received: accepted + refused, refused, stored };
}

async function counts(t: Target): Promise<Counts> {
  if (!t.metricsUrl) throw new Error(`${t.name}: started without a metrics endpoint`);
  const r = await fetch(t.metricsUrl);
  if (r.status !== 200) throw new Error(`${t.name}: ${t.metricsUrl} answered ${r.status}`);
  return countsFrom(await r.text());
}

export interface TgenResult {
  name: string;
  sent: number;
  received: number;
  refused: number;
  stored: number;
  wallS: number;
  cpuS: number;
  rss: number;
}

function waitExit(proc: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
    }, ms);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Runs telemetrygen against `t` and measures the server. Bounded: telemetrygen gets its paced time plus a minute. */
export async function runTelemetrygen(t: Target, bin = telemetrygenBinary()): Promise<TgenResult> {
  const pid = t.proc.pid!;
  const before = await counts(t);
  const ticks0 = procStat(pid)?.ticks ?? NaN;
  const args = [
    'traces',
    '--otlp-insecure',
    '--otlp-endpoint', `127.0.0.1:${t.otlpGrpc}`,
    '--workers', String(TGEN.workers),
    '--rate', String(TGEN.rate),
    '--traces', String(TGEN.tracesPerWorker),
    '--child-spans', String(TGEN.childSpans),
    '--batch-size', String(TGEN.batchSize),
    '--service', 'telemetrygen',
    ...ATTRIBUTES.flatMap((a) => ['--telemetry-attributes', a]),
  ];
  const t0 = performance.now();
  const pacedMs = ((TGEN.tracesPerWorker * (1 + TGEN.childSpans)) / TGEN.rate) * 1000;
  const runs = Array.from({ length: TGEN.procs }, async () => {
    const gen = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    gen.stderr?.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-8000)));
    const code = await waitExit(gen, pacedMs + 60_000);
    if (code !== 0) throw new Error(`${t.name}: telemetrygen exited with ${code ?? 'SIGKILL (too slow)'}: ${bin} ${args.join(' ')}\n${log.split('\n').slice(-10).join('\n')}`);
  });
  await Promise.all(runs);
  // the server may still be writing what it acknowledged: wait (bounded) until its stored count stops moving
  let now = await counts(t);
  let storedAt = performance.now();
  for (let i = 0, still = 0; i < 300 && still < 5 && now.stored - before.stored < TGEN_SPANS; i++) {
    await sleep(100);
    const next = await counts(t);
    if (next.stored !== now.stored) {
      storedAt = performance.now();
      still = 0;
    } else still++;
    now = next;
  }
  const cpuS = ((procStat(pid)?.ticks ?? NaN) - ticks0) / TICKS_PER_S;
  return {
    name: t.name,
    sent: TGEN_SPANS,
    received: now.received - before.received,
    refused: now.refused - before.refused,
    stored: now.stored - before.stored,
    wallS: (storedAt - t0) / 1000,
    cpuS,
    rss: rssMiB(pid),
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');

export function tgenLine(r: TgenResult): string {
  const lost = r.sent - r.received;
  return (
    `${r.name.padEnd(17)} ${fmt(r.stored / r.wallS).padStart(9)} spans/s stored (${fmt(r.stored)} of ${fmt(r.sent)} sent, ${fmt(r.received)} received, ${fmt(r.refused)} refused, ` +
    `${fmt(lost)} lost before the server, in ${r.wallS.toFixed(1)} s), server CPU ${((r.cpuS * 1000 * 1000) / Math.max(1, r.stored)).toFixed(1)} ms per 1,000 spans, RSS ${r.rss.toFixed(0)} MiB`
  );
}

export function tgenRatio(o: TgenResult, j: TgenResult): string {
  // /proc counts in clock ticks: a tiny run may use less than one, which must not divide by zero
  const cpu = (r: TgenResult) => Math.max(r.cpuS, 1 / TICKS_PER_S) / Math.max(1, r.stored);
  return `telemetrygen ratio ours/jaeger: spans/s ${(o.stored / o.wallS / (j.stored / j.wallS)).toFixed(2)}x, server CPU per span ${(cpu(o) / cpu(j)).toFixed(2)}x (lower is better), RSS ${(o.rss / j.rss).toFixed(2)}x`;
}
