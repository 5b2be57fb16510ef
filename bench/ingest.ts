// Side by side on this machine: our runtime and the Jaeger v2 binary (v1.76.0 = Jaeger v2.13.0), each a separate
// process listening on loopback, fed the same pre-encoded OTLP/gRPC requests (20 spans per trace, 10 attributes
// per span, 1,000 spans per request, 8 requests in flight). Reports ingest spans/s, the time until the last trace
// is readable, api_v3 get-trace and find latency (p50/p99), and RSS; then the ratio ours / Jaeger.
//
//   npm run bench:ingest                       memory backends, 400,000 spans
//   BENCH_SPANS=1000000 BENCH_BACKEND=embedded npm run bench:ingest     our embedded store vs Jaeger's Badger
import { type ChildProcess, spawn } from 'node:child_process';
import { startJaeger } from '../test/env/jaeger.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { freePort } from '../src/local/controlplane.js';
import { type ResourceSpans, type Span, SpanKind, StatusCode } from '../src/storage/api/index.js';
import { encodeTracesProto } from '../src/storage/api/otlp-proto.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SPANS = Number(process.env.BENCH_SPANS ?? 400_000);
const BACKEND = (process.env.BENCH_BACKEND ?? 'memory') as 'memory' | 'embedded';
const PER_TRACE = 20;
const PER_REQUEST = 1000;
const IN_FLIGHT = 8;
const TRACES = Math.floor(SPANS / PER_TRACE);

const traceId = (i: number) => `b0a7${i.toString(16).padStart(28, '0')}`;
const spanId = (i: number, j: number) => `${(i + 1).toString(16).padStart(8, '0')}${(j + 1).toString(16).padStart(8, '0')}`;

function request(first: number, base: bigint): Buffer {
  const rs: ResourceSpans[] = [];
  for (let i = first; i < first + PER_REQUEST / PER_TRACE && i < TRACES; i++) {
    const start = base + BigInt(i) * 100_000n;
    const spans: Span[] = Array.from({ length: PER_TRACE }, (_, j) => ({
      traceId: traceId(i),
      spanId: spanId(i, j),
      traceState: '',
      parentSpanId: j ? spanId(i, 0) : '',
      flags: 1,
      name: `op-${(i + j) % 10}`,
      kind: j ? SpanKind.Client : SpanKind.Server,
      startTimeUnixNano: start + BigInt(j) * 1000n,
      endTimeUnixNano: start + BigInt(j) * 1000n + BigInt(10_000 + ((i * 7 + j) % 50_000)),
      attributes: [
        { key: 'http.request.method', value: j % 2 ? 'GET' : 'POST' },
        { key: 'http.response.status_code', value: BigInt(200 + (j % 3) * 100) },
        { key: 'url.path', value: `/api/v1/items/${i % 1000}` },
        { key: 'user.id', value: `user-${i % 5000}` },
        { key: 'tenant', value: `tenant-${i % 20}` },
        { key: 'retry', value: j % 7 === 0 },
        { key: 'ratio', value: (j % 10) / 10 + 0.05 },
        { key: 'region', value: 'eu-west-1' },
        { key: 'component', value: 'bench' },
        { key: 'seq', value: BigInt(j) },
      ],
      droppedAttributesCount: 0,
      events: [],
      droppedEventsCount: 0,
      links: [],
      droppedLinksCount: 0,
      status: { code: j === 3 && i % 10 === 0 ? StatusCode.Error : StatusCode.Unset, message: '' },
    }));
    rs.push({ resource: { attributes: [{ key: 'service.name', value: `service-${i % 20}` }], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 'bench', version: '1', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }] });
  }
  return encodeTracesProto(rs);
}

interface Target {
  name: string;
  proc: ChildProcess;
  otlpGrpc: number;
  queryHttp: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitHttp(url: string, what: string, proc: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`${what} exited: ${log()}`);
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`${what} did not start: ${log()}`);
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function startOurs(dir: string): Promise<Target> {
  const [g, h, q, a] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const others = [await freePort(), await freePort(), await freePort(), await freePort()];
  const cfg = {
    apiVersion: 'storage.jaegertracing.io/v1alpha1',
    kind: 'RuntimeConfig',
    backend: BACKEND === 'memory' ? { memory: { maxTraces: TRACES + 1000 } } : { embedded: {} },
    dataDir: join(dir, 'ours'),
    listen: { otlpGrpc: `127.0.0.1:${g}`, otlpHttp: `127.0.0.1:${h}`, queryHttp: `127.0.0.1:${q}`, admin: `127.0.0.1:${a}`, queryGrpc: `127.0.0.1:${others[0]}`, remoteStorage: `127.0.0.1:${others[1]}`, samplingHttp: `127.0.0.1:${others[2]}`, samplingGrpc: `127.0.0.1:${others[3]}` },
    log: { level: 'warn' },
  };
  const file = join(dir, 'ours.json');
  writeFileSync(file, JSON.stringify(cfg));
  const proc = spawn(process.execPath, [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), join(ROOT, 'dist/src/cli.js'), 'runtime', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  await waitHttp(`http://127.0.0.1:${a}/readyz`, 'our runtime', proc, () => err);
  return { name: `ours (${BACKEND})`, proc, otlpGrpc: g, queryHttp: q };
}

async function startPeer(dir: string): Promise<Target> {
  const storage =
    BACKEND === 'memory'
      ? `        memory:\n          max_traces: ${TRACES + 1000}`
      : `        badger:\n          directories:\n            keys: ${join(dir, 'badger')}\n            values: ${join(dir, 'badger')}\n          ephemeral: false\n          ttl:\n            spans: 48h`;
  const j = await startJaeger(storage);
  return { name: BACKEND === 'memory' ? 'jaeger (memory)' : 'jaeger (badger)', proc: j.proc, otlpGrpc: j.otlpGrpc, queryHttp: j.queryHttp };
}

const raw = (b: Buffer) => b;

async function load(t: Target, bodies: Buffer[]): Promise<{ ackS: number; readableS: number }> {
  const client = new grpc.Client(`127.0.0.1:${t.otlpGrpc}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 << 20 });
  const send = (b: Buffer) =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', raw, raw, b, (e) => (e ? reject(e) : resolve())),
    );
  const t0 = performance.now();
  let next = 0;
  let retries = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < bodies.length; i = next++) {
        for (let attempt = 0; ; attempt++) {
          try {
            await send(bodies[i]!);
            break;
          } catch (e) {
            if ((e as { code?: number }).code !== grpc.status.RESOURCE_EXHAUSTED && (e as { code?: number }).code !== grpc.status.UNAVAILABLE) throw e;
            if (attempt > 200) throw e;
            retries++;
            await sleep(5);
          }
        }
      }
    }),
  );
  const ackS = (performance.now() - t0) / 1000;
  // readable: the last trace of the load can be fetched whole
  const last = traceId(TRACES - 1);
  for (let i = 0; i < 6000; i++) {
    const r = await fetch(`http://127.0.0.1:${t.queryHttp}/api/v3/traces/${last}`);
    const body = await r.text();
    if (r.status === 200 && (body.match(/"spanId"/g) ?? []).length >= PER_TRACE) break;
    await sleep(10);
  }
  const readableS = (performance.now() - t0) / 1000;
  client.close();
  if (retries) process.stderr.write(`  ${t.name}: ${retries} RESOURCE_EXHAUSTED retries\n`);
  return { ackS, readableS };
}

const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function queries(t: Target, base: bigint): Promise<{ get50: number; get99: number; find50: number; find99: number }> {
  const get: number[] = [];
  for (let k = 0; k < 300; k++) {
    const id = traceId((k * 7919) % TRACES);
    const t0 = performance.now();
    const r = await fetch(`http://127.0.0.1:${t.queryHttp}/api/v3/traces/${id}`);
    const text = await r.text();
    get.push(performance.now() - t0);
    if (r.status !== 200 || (text.match(/"spanId"/g) ?? []).length !== PER_TRACE) throw new Error(`${t.name}: trace ${id} incomplete (${r.status})`);
  }
  const find: number[] = [];
  const min = new Date(Number(base / 1_000_000n) - 1000).toISOString();
  const max = new Date(Number(base / 1_000_000n) + 3_600_000).toISOString();
  for (let k = 0; k < 100; k++) {
    const url = `http://127.0.0.1:${t.queryHttp}/api/v3/traces?query.service_name=service-${k % 20}&query.operation_name=op-${k % 10}&query.start_time_min=${min}&query.start_time_max=${max}&query.num_traces=20`;
    const t0 = performance.now();
    const r = await fetch(url);
    await r.text();
    find.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`${t.name}: find ${r.status}`);
  }
  return { get50: pct(get, 0.5), get99: pct(get, 0.99), find50: pct(find, 0.5), find99: pct(find, 0.99) };
}

async function main(): Promise<void> {
  const base = BigInt(Date.now() - 600_000) * 1_000_000n;
  const bodies: Buffer[] = [];
  for (let i = 0; i < TRACES; i += PER_REQUEST / PER_TRACE) bodies.push(request(i, base));
  const dir = mkdtempSync(join(tmpdir(), 'jso-bench-ingest-'));
  console.log(`ingest benchmark: ${SPANS.toLocaleString('en')} spans over OTLP/gRPC (${bodies.length} requests of ${PER_REQUEST} spans, ${IN_FLIGHT} in flight), backend ${BACKEND}`);
  const results: { name: string; spansPerS: number; readableS: number; rss: number; q: Awaited<ReturnType<typeof queries>> }[] = [];
  try {
    for (const start of process.env.BENCH_ONLY_OURS ? [startOurs] : [startOurs, startPeer]) {
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
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (results.length < 2) return;
  const [o, j] = results as [(typeof results)[0], (typeof results)[0]];
  console.log(
    `ratio ours/jaeger: ingest ${(o.spansPerS / j.spansPerS).toFixed(2)}x, time-to-readable ${(o.readableS / j.readableS).toFixed(2)}x (lower is better), ` +
      `RSS ${(o.rss / j.rss).toFixed(2)}x, get-trace p50 ${(o.q.get50 / j.q.get50).toFixed(2)}x, find p50 ${(o.q.find50 / j.q.find50).toFixed(2)}x (latency: lower is better)`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
