// Side by side on this machine: our runtime and the Jaeger v2 binary (v1.76.0 = Jaeger v2.13.0), each a separate
// process listening on loopback, warmed with 10% more traces of their own (BENCH_SERVER_WARMUP), then fed the same pre-encoded OTLP/gRPC requests (20 spans per trace, 10 attributes
// per span, 1,000 spans per request, 8 requests in flight). Reports ingest spans/s, the time until the last trace
// is readable, api_v3 get-trace and find latency (p50/p99), and RSS; then the ratio ours / Jaeger, the median over
// rounds of fresh pairs that alternate who goes first.
// Then a load we did not write: telemetrygen, paced, against a fresh instance of each (bench/telemetrygen.ts);
// BENCH_TELEMETRYGEN=0 skips it.
//
//   npm run bench:ingest                       memory backends, 400,000 spans, 3 rounds (BENCH_ROUNDS)
//   BENCH_SPANS=1000000 BENCH_BACKEND=embedded npm run bench:ingest     our embedded store vs Jaeger's Badger
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND, IN_FLIGHT, PER_REQUEST, PER_TRACE, SPANS, TRACES, type Target, WARMUP_TRACES, diskBytes, load, median, queries, request, rssMiB, startOurs, startPeer } from './otlp-load.js';
import { type TgenResult, describeTelemetrygen, runTelemetrygen, telemetrygenBinary, tgenLine, tgenRatio } from './telemetrygen.js';

const ONLY_OURS = Boolean(process.env.BENCH_ONLY_OURS);
const TELEMETRYGEN = process.env.BENCH_TELEMETRYGEN !== '0';
/**
 * Rounds of the pre-encoded load, each a fresh pair of servers, alternating who goes first: on a shared 2-core
 * machine one run of each varies by +-10-20%, so the ratio is the median of the rounds' ratios.
 */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));

interface Result {
  name: string;
  spansPerS: number;
  readableS: number;
  rss: number;
  q: Awaited<ReturnType<typeof queries>>;
  diskPerSpan?: number;
}

/**
 * One server under the pre-encoded load: ingest, readability, queries, RSS, and its disk after a clean stop. It first
 * takes `warm` (traces of its own, untimed).
 */
async function measure(start: (dir: string) => Promise<Target>, dir: string, bodies: Buffer[], warm: Buffer[], base: bigint): Promise<Result> {
  mkdirSync(dir, { recursive: true });
  const t = await start(dir);
  let r: Result;
  try {
    if (warm.length) await load(t, warm, { lastTraceWhole: false });
    const { ackS, readableS } = await load(t, bodies);
    const rss = rssMiB(t.proc.pid!);
    const q = await queries(t, base);
    r = { name: t.name, spansPerS: SPANS / ackS, readableS, rss, q };
    console.log(
      `${t.name.padEnd(17)} ${Math.round(SPANS / ackS).toLocaleString('en').padStart(9)} spans/s acked, all readable after ${readableS.toFixed(1)} s, RSS ${rss.toFixed(0)} MiB; ` +
        `get-trace p50 ${q.get50.toFixed(2)} ms p99 ${q.get99.toFixed(2)} ms; find p50 ${q.find50.toFixed(2)} ms p99 ${q.find99.toFixed(2)} ms`,
    );
  } finally {
    t.proc.kill('SIGTERM');
    await new Promise((res) => t.proc.once('exit', res));
  }
  // after a clean stop, so what each store holds only in memory is flushed too
  if (t.dataDir) {
    const bytes = diskBytes(t.dataDir);
    // the warm-up's spans are stored too
    const stored = SPANS + WARMUP_TRACES * PER_TRACE;
    r.diskPerSpan = bytes / stored;
    console.log(`${t.name.padEnd(17)} on disk ${(bytes / 1048576).toFixed(1)} MiB, ${(bytes / stored).toFixed(0)} bytes per span`);
  }
  return r;
}

async function main(): Promise<void> {
  const base = BigInt(Date.now() - 600_000) * 1_000_000n;
  const bodies: Buffer[] = [];
  for (let i = 0; i < TRACES; i += PER_REQUEST / PER_TRACE) bodies.push(request(i, base));
  const warm: Buffer[] = [];
  // the period before the load's: earlier times and trace IDs that sort before its own, as time moves forward (a
  // store keyed by time or by these counting IDs that took later keys first would split pages it otherwise appends to)
  const warmBase = base - BigInt(WARMUP_TRACES) * 100_000n;
  for (let i = 0; i < WARMUP_TRACES; i += PER_REQUEST / PER_TRACE) warm.push(request(i, warmBase, WARMUP_TRACES, 'a0a7'));
  // a missing binary fails before any load runs, with the command that builds it
  const tgenBin = TELEMETRYGEN ? telemetrygenBinary() : '';
  const dir = mkdtempSync(join(tmpdir(), 'jso-bench-ingest-'));
  console.log(
    `ingest benchmark: ${SPANS.toLocaleString('en')} spans over OTLP/gRPC (${bodies.length} requests of ${PER_REQUEST} spans, ${IN_FLIGHT} in flight), backend ${BACKEND}, ${ROUNDS} round(s); ` +
      `each server first takes ${(WARMUP_TRACES * PER_TRACE).toLocaleString('en')} spans of other traces, untimed (BENCH_SERVER_WARMUP)`,
  );
  const ratios: Record<'ingest' | 'readable' | 'rss' | 'disk' | 'get' | 'find', number[]> = { ingest: [], readable: [], rss: [], disk: [], get: [], find: [] };
  try {
    // the load generator runs in this process: its first load ran 10-20% slower (JIT), whichever server took it
    console.log(`warm-up: a quarter of the load against a throwaway instance of each, not timed`);
    for (const start of ONLY_OURS ? [startOurs] : [startOurs, startPeer]) {
      mkdirSync(join(dir, 'warm-up'), { recursive: true });
      const t = await start(join(dir, 'warm-up'));
      try {
        await load(t, bodies.slice(0, Math.ceil(bodies.length / 4)), { lastTraceWhole: false });
      } finally {
        t.proc.kill('SIGTERM');
        await new Promise((res) => t.proc.once('exit', res));
      }
      rmSync(join(dir, 'warm-up'), { recursive: true, force: true });
    }
    for (let round = 0; round < ROUNDS; round++) {
      if (ROUNDS > 1) console.log(`round ${round + 1} of ${ROUNDS}${ONLY_OURS ? '' : round % 2 ? ' (jaeger first)' : ' (ours first)'}`);
      const order = ONLY_OURS ? [startOurs] : round % 2 ? [startPeer, startOurs] : [startOurs, startPeer];
      const results: Result[] = [];
      for (const [i, start] of order.entries()) results.push(await measure(start, join(dir, `round-${round}-${i}`), bodies, warm, base));
      if (ONLY_OURS) continue;
      const o = results.find((r) => r.name.startsWith('ours'))!;
      const j = results.find((r) => r.name.startsWith('jaeger'))!;
      ratios.ingest.push(o.spansPerS / j.spansPerS);
      ratios.readable.push(o.readableS / j.readableS);
      ratios.rss.push(o.rss / j.rss);
      if (o.diskPerSpan && j.diskPerSpan) ratios.disk.push(o.diskPerSpan / j.diskPerSpan);
      ratios.get.push(o.q.get50 / j.q.get50);
      ratios.find.push(o.q.find50 / j.q.find50);
      rmSync(join(dir, `round-${round}-0`), { recursive: true, force: true });
      rmSync(join(dir, `round-${round}-1`), { recursive: true, force: true });
    }
    if (ratios.ingest.length) {
      const m = (k: keyof typeof ratios): string => `${median(ratios[k]).toFixed(2)}x`;
      const each = ratios.ingest.length > 1 ? ` (rounds: ${ratios.ingest.map((x) => x.toFixed(2)).join(', ')})` : '';
      console.log(
        `ratio ours/jaeger: ingest ${m('ingest')}${each}, time-to-readable ${m('readable')} (lower is better), RSS ${m('rss')}, ` +
          `${ratios.disk.length ? `disk per span ${m('disk')}, ` : ''}get-trace p50 ${m('get')}, find p50 ${m('find')} (latency: lower is better)` +
          `${ratios.ingest.length > 1 ? `; medians of ${ratios.ingest.length} rounds` : ''}`,
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
