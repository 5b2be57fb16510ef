// Storage benchmark for the memory and embedded backends, in process:
//   write throughput (spans/s on one core), getTraces and findTraceIds latency (p50/p99), and bytes per stored
//   span (RSS growth for memory, database size for embedded).
// Load: traces of 20 spans, 10 attributes per span, 20 services x 10 operations, written in batches of 50 traces.
// The memory store runs twice: with spans decoded in full (as the OTLP/JSON receiver and in-process callers give
// them) and lazily decoded from OTLP/protobuf (as the OTLP/protobuf receivers give them); for memory, the heap and
// array-buffer growth per span are printed too.
//
//   node --expose-gc dist/bench/storage.js            (npm run bench:storage)
//   BENCH_SPANS=200000 node --expose-gc dist/bench/storage.js
//   BENCH_STORAGE=memory npm run bench:storage           (one backend: memory or embedded)
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackendFactory, ResourceSpans, Span } from '../src/storage/api/index.js';
import { benchSpan } from './span-shape.js';
import { EmbeddedBackend } from '../src/storage/embedded/store.js';
import { MemoryBackend } from '../src/storage/memory/store.js';
import { decodeTracesProto, encodeTracesProto } from '../src/otlp/otlp-proto.js';

const SPANS = Number(process.env.BENCH_SPANS ?? 1_000_000);
const SPANS_PER_TRACE = 20;
const TRACES_PER_BATCH = 50;
const TRACES = Math.floor(SPANS / SPANS_PER_TRACE);
const SERVICES = 20;
const ONLY = process.env.BENCH_STORAGE;
const OPS = 10;

const traceId = (i: number) => `be0c${i.toString(16).padStart(28, '0')}`;
const spanId = (i: number, j: number) => `${(i & 0xffffffff).toString(16).padStart(8, '0')}${(j + 1).toString(16).padStart(8, '0')}`;

function batch(first: number, base: bigint): ResourceSpans[] {
  const out: ResourceSpans[] = [];
  for (let i = first; i < first + TRACES_PER_BATCH && i < TRACES; i++) {
    const service = `service-${i % SERVICES}`;
    const start = base + BigInt(i) * 1_000_000n;
    const spans: Span[] = [];
    for (let j = 0; j < SPANS_PER_TRACE; j++) {
      const at = start + BigInt(j) * 10_000n;
      spans.push(benchSpan({ i, j, traceId: traceId(i), spanId: spanId(i, j), parentSpanId: j ? spanId(i, 0) : '', name: `op-${(i + j) % OPS}`, start: at, end: at + BigInt(1000 + ((i * 7 + j) % 5000)) * 1000n, ratioOffset: 0 }));
    }
    out.push({ resource: { attributes: [{ key: 'service.name', value: service }, { key: 'host.name', value: `host-${i % 8}` }], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 'bench', version: '1', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }] });
  }
  return out;
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const gc = (globalThis as { gc?: () => void }).gc;
const dirBytes = (d: string): number => readdirSync(d).reduce((n, f) => n + statSync(join(d, f)).size, 0);

async function run(name: string, backend: BackendFactory, dir?: string, inFlight = 1, lazy = false): Promise<void> {
  const base = BigInt(Date.now() - 3_600_000) * 1_000_000n;
  // lazy: each batch goes through OTLP/protobuf (not timed), as a receiver hands it over
  const make = (x: number) => (lazy ? decodeTracesProto(encodeTracesProto(batch(x, base)), { lazy: true }).traces : batch(x, base));
  gc?.();
  const mem0 = process.memoryUsage();
  const rss0 = mem0.rss;
  // only the write calls are timed; building the batches is not. `inFlight` batches are written at once, as
  // the runtime's writers do (LMDB commits concurrent transactions together).
  let writeMs = 0;
  let cpuUs = 0;
  const step = TRACES_PER_BATCH * inFlight;
  for (let i = 0; i < TRACES; i += step) {
    const bs = Array.from({ length: inFlight }, (_, k) => i + k * TRACES_PER_BATCH).filter((x) => x < TRACES).map(make);
    const t = performance.now();
    const c = process.cpuUsage();
    await Promise.all(bs.map((b) => backend.traceWriter().writeTraces(b)));
    const dc = process.cpuUsage(c);
    cpuUs += dc.user + dc.system;
    writeMs += performance.now() - t;
    if (i % 10_000 < step && i) process.stderr.write(`  ${name}: ${i * SPANS_PER_TRACE} spans written\r`);
  }
  const writeS = writeMs / 1000;
  gc?.();
  const mem1 = process.memoryUsage();
  const rss1 = mem1.rss;

  const reader = backend.traceReader();
  const get: number[] = [];
  for (let k = 0; k < 1000; k++) {
    const id = traceId((k * 7919) % TRACES);
    const t = performance.now();
    let n = 0;
    for await (const b of reader.getTraces([{ traceId: id }])) for (const c of b) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
    get.push(performance.now() - t);
    if (n !== SPANS_PER_TRACE) throw new Error(`trace ${id}: ${n} spans`);
  }
  const find: number[] = [];
  for (let k = 0; k < 200; k++) {
    const t = performance.now();
    let n = 0;
    for await (const b of reader.findTraceIds({ serviceName: `service-${k % SERVICES}`, operationName: `op-${k % OPS}`, attributes: { 'http.request.method': 'POST' }, searchDepth: 20 })) n += b.length;
    find.push(performance.now() - t);
    if (n === 0) throw new Error('find returned nothing');
  }
  const storedBytes = dir ? dirBytes(dir) : rss1 - rss0;
  const perSpan = (k: 'heapUsed' | 'arrayBuffers') => Math.round((mem1[k] - mem0[k]) / SPANS);
  const estimate =
    backend instanceof MemoryBackend ? `, heap ${perSpan('heapUsed')} + buffers ${perSpan('arrayBuffers')}, store's own estimate ${Math.round(backend.stats().bytes / SPANS)} bytes/span` : '';
  console.log(
    `${name.padEnd(9)}\n  write ${Math.round(SPANS / writeS).toLocaleString('en')} spans/s (${writeS.toFixed(1)} s wall, ${(cpuUs / 1e6).toFixed(1)} s cpu)` +
      `\n  getTraces p50 ${pct(get, 0.5).toFixed(2)} ms p99 ${pct(get, 0.99).toFixed(2)} ms` +
      `\n  findTraceIds p50 ${pct(find, 0.5).toFixed(2)} ms p99 ${pct(find, 0.99).toFixed(2)} ms` +
      // (a run after another may reuse the heap the one before freed: its RSS growth can be small or negative; the
      // heap and buffer growth are the figures to compare then)
      `\n  ${Math.round(storedBytes / SPANS)} bytes/span (${dir ? 'disk' : 'RSS growth'}${estimate})`,
  );
  await backend.close();
}

async function main(): Promise<void> {
  console.log(`storage benchmark: ${SPANS.toLocaleString('en')} spans (${TRACES.toLocaleString('en')} traces x ${SPANS_PER_TRACE} spans, 10 attributes each)${gc ? '' : ' [run with --expose-gc for RSS figures]'}`);
  if (ONLY !== 'embedded') {
    await run('memory', new MemoryBackend({ maxTraces: TRACES }));
    await run('memory, lazily decoded OTLP/protobuf', new MemoryBackend({ maxTraces: TRACES }), undefined, 1, true);
  }
  if (ONLY === 'memory') return;
  const dir = mkdtempSync(join(tmpdir(), 'jso-bench-embedded-'));
  try {
    await run('embedded', new EmbeddedBackend({ path: dir }), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const dir4 = mkdtempSync(join(tmpdir(), 'jso-bench-embedded-'));
  try {
    await run('embedded, 4 batches in flight', new EmbeddedBackend({ path: dir4 }), dir4, 4);
  } finally {
    rmSync(dir4, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
