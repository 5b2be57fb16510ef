// The OTLP load shared by the ingest benchmarks: pre-encoded OTLP/gRPC requests (20 spans per trace, 10
// attributes per span, 1,000 spans per request, 8 requests in flight), our runtime and the Jaeger v2 binary as
// separate processes on loopback, and the measurements taken from them. BENCH_SPANS and BENCH_BACKEND set the size
// and the backend; BENCH_GETS and BENCH_FINDS the number of get-trace and find queries timed (300 and 100);
// BENCH_RANDOM_TRACE_IDS=1 makes trace IDs random-looking instead of counting up (B-tree stores fill pages less).
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { startJaeger } from '../test/env/jaeger.js';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { freePort } from '../src/local/controlplane.js';
import type { ResourceSpans, Span } from '../src/storage/api/index.js';
import { benchSpan } from './span-shape.js';
import { encodeTracesProto } from '../src/otlp/otlp-proto.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SPANS = Number(process.env.BENCH_SPANS ?? 400_000);
export const BACKEND = (process.env.BENCH_BACKEND ?? 'memory') as 'memory' | 'embedded';
export const PER_TRACE = 20;
export const PER_REQUEST = 1000;
export const IN_FLIGHT = 8;
export const TRACES = Math.floor(SPANS / PER_TRACE);
/**
 * Traces each server takes before the timed load (BENCH_SERVER_WARMUP, a fraction of the load, default 0.1; 0 for
 * none): distinct traces, after the load's, so that both servers are measured running, as they serve, and not
 * while our runtime's JIT is still compiling its first requests.
 */
export const WARMUP_TRACES = Math.floor(TRACES * Number(process.env.BENCH_SERVER_WARMUP ?? 0.1));
const GETS = Number(process.env.BENCH_GETS ?? 300);
const FINDS = Number(process.env.BENCH_FINDS ?? 100);

const RANDOM_TRACE_IDS = process.env.BENCH_RANDOM_TRACE_IDS === '1';
/** Trace i's ID: counting up by default; with BENCH_RANDOM_TRACE_IDS=1 random-looking, as tracers make them. */
export const traceId = (i: number, prefix = 'b0a7') =>
  RANDOM_TRACE_IDS ? createHash('sha1').update(`${prefix === 'b0a7' ? '' : prefix}trace ${i}`).digest('hex').slice(0, 32) : `${prefix}${i.toString(16).padStart(28, '0')}`;
export const spanId = (i: number, j: number) => `${(i + 1).toString(16).padStart(8, '0')}${(j + 1).toString(16).padStart(8, '0')}`;

/** The request holding traces first.. (up to `end`, exclusive), their IDs starting with `prefix` (4 hex digits). */
export function request(first: number, base: bigint, end = TRACES, prefix = 'b0a7'): Buffer {
  const rs: ResourceSpans[] = [];
  for (let i = first; i < first + PER_REQUEST / PER_TRACE && i < end; i++) {
    const start = base + BigInt(i) * 100_000n;
    const spans: Span[] = Array.from({ length: PER_TRACE }, (_, j) => {
      const at = start + BigInt(j) * 1000n;
      return benchSpan({ i, j, traceId: traceId(i, prefix), spanId: spanId(i, j), parentSpanId: j ? spanId(i, 0) : '', name: `op-${(i + j) % 10}`, start: at, end: at + BigInt(10_000 + ((i * 7 + j) % 50_000)), ratioOffset: 0.05 });
    });
    rs.push({ resource: { attributes: [{ key: 'service.name', value: `service-${i % 20}` }], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 'bench', version: '1', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }] });
  }
  return encodeTracesProto(rs);
}

export interface Target {
  name: string;
  proc: ChildProcess;
  otlpGrpc: number;
  queryHttp: number;
  /** the server's Prometheus metrics (ours: always; Jaeger: when started with `metrics`) */
  metricsUrl?: string;
  /** where the runtime keeps its data, for a persistent backend */
  dataDir?: string;
  /** ours: the jaeger.storage.v2 remote-storage port */
  remoteStorage?: number;
}

/** Bytes the files under `path` take on disk (allocated blocks: preallocated, sparse files count what they use). */
export function diskBytes(path: string): number {
  let n = 0;
  for (const e of readdirSync(path, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(join(e.parentPath, e.name)).blocks * 512;
  return n;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitHttp(url: string, what: string, proc: ChildProcess, log: () => string): Promise<void> {
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

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function startOurs(dir: string, extra: Record<string, unknown> = {}, name = `ours (${BACKEND})`): Promise<Target> {
  const [g, h, q, a] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const others = [await freePort(), await freePort(), await freePort(), await freePort()];
  const cfg = {
    apiVersion: 'storage.jaegertracing.io/v1alpha1',
    kind: 'RuntimeConfig',
    backend: BACKEND === 'memory' ? { memory: { maxTraces: TRACES + WARMUP_TRACES + 1000 } } : { embedded: {} },
    dataDir: join(dir, 'ours'),
    listen: { otlpGrpc: `127.0.0.1:${g}`, otlpHttp: `127.0.0.1:${h}`, queryHttp: `127.0.0.1:${q}`, admin: `127.0.0.1:${a}`, queryGrpc: `127.0.0.1:${others[0]}`, remoteStorage: `127.0.0.1:${others[1]}`, samplingHttp: `127.0.0.1:${others[2]}`, samplingGrpc: `127.0.0.1:${others[3]}` },
    log: { level: 'warn' },
    // threads that decode OTLP/protobuf beside the main thread (unset: the runtime's default for this machine)
    ...(process.env.BENCH_DECODE_THREADS ? { ingest: { decodeThreads: Number(process.env.BENCH_DECODE_THREADS) } } : {}),
    ...extra,
  };
  const file = join(dir, `ours-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(cfg));
  const proc = spawn(process.execPath, [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), join(ROOT, 'dist/src/cli.js'), 'runtime', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  try {
    await waitHttp(`http://127.0.0.1:${a}/readyz`, 'our runtime', proc, () => err);
  } catch (e) {
    // a runtime that never became ready would outlive the benchmark
    proc.kill('SIGKILL');
    throw e;
  }
  return { name, proc, otlpGrpc: g, queryHttp: q, remoteStorage: others[1], metricsUrl: `http://127.0.0.1:${a}/metrics`, ...(BACKEND === 'embedded' ? { dataDir: cfg.dataDir } : {}) };
}

export async function startPeer(dir: string, o: { metrics?: boolean } = {}): Promise<Target> {
  const storage =
    BACKEND === 'memory'
      ? `        memory:\n          max_traces: ${TRACES + WARMUP_TRACES + 1000}`
      : `        badger:\n          directories:\n            keys: ${join(dir, 'badger')}\n            values: ${join(dir, 'badger')}\n          ephemeral: false\n          ttl:\n            spans: 48h`;
  const j = await startJaeger(storage, { metrics: o.metrics });
  return { name: BACKEND === 'memory' ? 'jaeger (memory)' : 'jaeger (badger)', proc: j.proc, otlpGrpc: j.otlpGrpc, queryHttp: j.queryHttp, ...(j.metricsHttp ? { metricsUrl: `http://127.0.0.1:${j.metricsHttp}/metrics` } : {}), ...(BACKEND === 'embedded' ? { dataDir: join(dir, 'badger') } : {}) };
}

const raw = (b: Buffer) => b;

/**
 * Sends the requests (IN_FLIGHT at a time), then, unless `lastTraceWhole` is false, waits until the last and the first
 * trace can be fetched whole: polled every `pollMs` (default 10) for up to `readableWithinMs` (default 60 s).
 */
export async function load(t: Target, bodies: Buffer[], o: { lastTraceWhole?: boolean; pollMs?: number; readableWithinMs?: number } = {}): Promise<{ ackS: number; readableS: number }> {
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
  // readable: the last and the first trace of the load can be fetched whole (Jaeger acknowledges before it stores,
  // and its exporter queue's consumers may store a later request before an earlier one)
  const whole = async (id: string): Promise<boolean> => {
    const r = await fetch(`http://127.0.0.1:${t.queryHttp}/api/v3/traces/${id}`);
    const body = await r.text();
    return r.status === 200 && (body.match(/"spanId"/g) ?? []).length >= PER_TRACE;
  };
  const until = performance.now() + (o.readableWithinMs ?? 60_000);
  const pending = [traceId(TRACES - 1), traceId(0)];
  while (o.lastTraceWhole !== false && pending.length && performance.now() < until) {
    if (await whole(pending[0]!)) pending.shift();
    else await sleep(o.pollMs ?? 10);
  }
  const readableS = (performance.now() - t0) / 1000;
  client.close();
  if (retries) process.stderr.write(`  ${t.name}: ${retries} RESOURCE_EXHAUSTED retries\n`);
  return { ackS, readableS };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

export async function queries(t: Target, base: bigint): Promise<{ get50: number; get99: number; find50: number; find99: number }> {
  const get: number[] = [];
  for (let k = 0; k < GETS; k++) {
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
  for (let k = 0; k < FINDS; k++) {
    const url = `http://127.0.0.1:${t.queryHttp}/api/v3/traces?query.service_name=service-${k % 20}&query.operation_name=op-${k % 10}&query.start_time_min=${min}&query.start_time_max=${max}&query.num_traces=20`;
    const t0 = performance.now();
    const r = await fetch(url);
    await r.text();
    find.push(performance.now() - t0);
    if (r.status !== 200) throw new Error(`${t.name}: find ${r.status}`);
  }
  return { get50: pct(get, 0.5), get99: pct(get, 0.99), find50: pct(find, 0.5), find99: pct(find, 0.99) };
}

