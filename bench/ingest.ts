// Side by side on this machine: our runtime and the Jaeger v2 binary (v1.76.0 = Jaeger v2.13.0), each a separate
// process listening on loopback, fed the same pre-encoded OTLP/gRPC requests (20 spans per trace, 10 attributes
// per span, 1,000 spans per request, 8 requests in flight). Reports ingest spans/s, the time until the last trace
// is readable, api_v3 get-trace and find latency (p50/p99), and RSS; then the ratio ours / Jaeger.
// Then a load we did not write: telemetrygen, paced, against a fresh instance of each (bench/telemetrygen.ts);
// BENCH_TELEMETRYGEN=0 skips it.
//
//   npm run bench:ingest                       memory backends, 400,000 spans
//   BENCH_SPANS=1000000 BENCH_BACKEND=embedded npm run bench:ingest     our embedded store vs Jaeger's Badger
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND, IN_FLIGHT, PER_REQUEST, PER_TRACE, SPANS, TRACES, diskBytes, load, queries, request, rssMiB, startOurs, startPeer } from './otlp-load.js';
import { type TgenResult, describeTelemetrygen, runTelemetrygen, telemetrygenBinary, tgenLine, tgenRatio } from './telemetrygen.js';

const ONLY_OURS = Boolean(process.env.BENCH_ONLY_OURS);
const TELEMETRYGEN = process.env.BENCH_TELEMETRYGEN !== '0';

async function main(): Promise<void> {
  const base = BigInt(Date.now() - 600_000) * 1_000_000n;
  const bodies: Buffer[] = [];
  for (let i = 0; i < TRACES; i += PER_REQUEST / PER_TRACE) bodies.push(request(i, base));
  // a missing binary fails before any load runs, with the command that builds it
  const tgenBin = TELEMETRYGEN ? telemetrygenBinary() : '';
  const dir = mkdtempSync(join(tmpdir(), 'jso-bench-ingest-'));
  console.log(`ingest benchmark: ${SPANS.toLocaleString('en')} spans over OTLP/gRPC (${bodies.length} requests of ${PER_REQUEST} spans, ${IN_FLIGHT} in flight), backend ${BACKEND}`);
  const results: { name: string; spansPerS: number; readableS: number; rss: number; q: Awaited<ReturnType<typeof queries>>; diskPerSpan?: number }[] = [];
  try {
    for (const start of ONLY_OURS ? [startOurs] : [startOurs, startPeer]) {
      const t = await start(dir);
      try {
        const { ackS, readableS } = await load(t, bodies);
        const rss = rssMiB(t.proc.pid!);
        const q = await queries(t, base);
        results.push({ name: t.name, spansPerS: SPANS / ackS, readableS, rss, q });
        console.log(
          `${t.name.padEnd(17)} ${Math.round(SPANS / ackS).toLocaleString('en').padStart(9)} spans/s acked, all readable after ${readableS.toFixed(1)} s, RSS ${rss.toFixed(0)} MiB; ` +
            `get-trace p50 ${q.get50.toFixed(2)} ms p99 ${q.get99.toFixed(2)} ms; find p50 ${q.find50.toFixed(2)} ms p99 ${q.find99.toFixed(2)} ms`,
        );
      } finally {
        t.proc.kill('SIGTERM');
        await new Promise((r) => t.proc.once('exit', r));
      }
      // after a clean stop, so what each store holds only in memory is flushed too
      if (t.dataDir) {
        const bytes = diskBytes(t.dataDir);
        const last = results[results.length - 1];
        if (last?.name === t.name) last.diskPerSpan = bytes / SPANS;
        console.log(`${t.name.padEnd(17)} on disk ${(bytes / 1048576).toFixed(1)} MiB, ${(bytes / SPANS).toFixed(0)} bytes per span`);
      }
    }
    if (results.length === 2) {
      const [o, j] = results as [(typeof results)[0], (typeof results)[0]];
      console.log(
        `ratio ours/jaeger: ingest ${(o.spansPerS / j.spansPerS).toFixed(2)}x, time-to-readable ${(o.readableS / j.readableS).toFixed(2)}x (lower is better), ` +
          `RSS ${(o.rss / j.rss).toFixed(2)}x, ${o.diskPerSpan && j.diskPerSpan ? `disk per span ${(o.diskPerSpan / j.diskPerSpan).toFixed(2)}x, ` : ''}get-trace p50 ${(o.q.get50 / j.q.get50).toFixed(2)}x, find p50 ${(o.q.find50 / j.q.find50).toFixed(2)}x (latency: lower is better)`,
      );
    }
    if (TELEMETRYGEN) await telemetrygenPhase(join(dir, 'telemetrygen'), tgenBin);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fresh instances (their own data directories), so the pre-encoded load's traces do not weigh on this one. */
async function telemetrygenPhase(dir: string, bin: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  console.log(`telemetrygen: ${describeTelemetrygen(bin)}, backend ${BACKEND}`);
  const results: TgenResult[] = [];
  for (const start of ONLY_OURS ? [startOurs] : [startOurs, (d: string) => startPeer(d, { metrics: true })]) {
    const t = await start(dir);
    try {
      const r = await runTelemetrygen(t, bin);
      results.push(r);
      console.log(tgenLine(r));
    } finally {
      t.proc.kill('SIGTERM');
      await new Promise((r) => t.proc.once('exit', r));
    }
  }
  if (results.length === 2) console.log(tgenRatio(results[0]!, results[1]!));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
