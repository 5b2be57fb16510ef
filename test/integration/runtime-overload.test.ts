// A sender faster than the backend: with a small ingest queue in front of the (slower) embedded backend, the
// runtime answers 429 with Retry-After; the sender retries; at the end every span it was told was accepted is
// readable. Bounded: a fixed number of batches and a deadline.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startRuntime } from '../../src/runtime/server.js';
import { loopbackRuntimeConfig } from '../helpers.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { crashBatch, crashTraceId } from '../env/embedded-writer.js';
import { telemetrygenBinary } from '../env/telemetrygen.js';
import { EmbeddedTraceWriter } from '../../src/storage/embedded/writer.js';

it('refuses with 429 when the queue is full and loses nothing it accepted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'jso-overload-'));
  const cfg = loopbackRuntimeConfig({
    backend: { embedded: {} },
    dataDir: dir,
    ingest: { maxQueuedSpans: 500, batchSpans: 250, batchAgeMs: 5, writers: 1 },
  });
  const rt = await startRuntime(cfg, pino({ level: 'silent' }));
  const BATCHES = 300; // 50 spans each
  const now = BigInt(Date.now()) * 1_000_000n;
  const bodies = Array.from({ length: BATCHES }, (_, i) => encodeTracesProto(crashBatch(i, now)));
  let refusals = 0;
  let retryAfterSeen = false;
  const accepted = new Set<number>();
  const deadline = Date.now() + 120_000;
  try {
    // 16 concurrent senders, each retrying its batch after a 429
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < BATCHES; i = next++) {
          for (;;) {
            if (Date.now() > deadline) throw new Error('overload test ran out of time');
            const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: new Uint8Array(bodies[i]!) });
            await r.arrayBuffer();
            if (r.status === 200) {
              accepted.add(i);
              break;
            }
            expect(r.status).toBe(429);
            refusals++;
            if (r.headers.get('retry-after') === '1') retryAfterSeen = true;
            await new Promise((res) => setTimeout(res, 20)); // shorter than Retry-After, to keep the test quick
          }
        }
      }),
    );
    expect(refusals).toBeGreaterThan(0);
    expect(retryAfterSeen).toBe(true);
    expect(accepted.size).toBe(BATCHES);
    await rt.pipeline.drain();
    const reader = rt.backend.traceReader();
    for (const i of accepted) {
      let spans = 0;
      for await (const b of reader.getTraces([{ traceId: crashTraceId(i) }])) for (const c of b) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
      expect(spans).toBe(50);
    }
    const metrics = await rt.registry.metrics();
    expect(metrics).toMatch(/jso_runtime_spans_refused_total\{reason="queue_full"\} [1-9]/);
    process.stderr.write(`overload: ${refusals} refusals (429) for ${BATCHES} batches; all ${BATCHES * 50} accepted spans readable\n`);
  } finally {
    await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);

// The same overload from an OTLP exporter we did not write: telemetrygen (the OpenTelemetry Go SDK). Go exporters,
// like the collector's, retry RESOURCE_EXHAUSTED only when its status carries a google.rpc.RetryInfo and drop the
// batch otherwise; so every span must still arrive although the runtime keeps refusing. Whether three processes'
// exports overlap is up to the scheduler, so the backend is made slow where it counts: its first write waits until
// the runtime has refused something (a disk that stalls; at most 8 s, inside the exporters' 10 s timeout).
it('a Go OTLP exporter refused with RESOURCE_EXHAUSTED retries, and every span it sent is stored', async () => {
  const bin = telemetrygenBinary();
  const dir = mkdtempSync(join(tmpdir(), 'jso-overload-tgen-'));
  const cfg = loopbackRuntimeConfig({
    backend: { embedded: {} },
    dataDir: dir,
    ingest: { maxQueuedSpans: 100, batchSpans: 100, batchAgeMs: 5, writers: 1 },
  });
  const rt = await startRuntime(cfg, pino({ level: 'silent' }));
  const refusedSoFar = async () => Number(/jso_runtime_spans_refused_total\{reason="queue_full"\} (\d+)/.exec(await rt.registry.metrics())?.[1] ?? 0);
  const write = EmbeddedTraceWriter.prototype.writeTraces;
  let stalled = false;
  EmbeddedTraceWriter.prototype.writeTraces = async function (this: EmbeddedTraceWriter, ...args: Parameters<typeof write>) {
    if (!stalled) {
      stalled = true;
      for (const until = Date.now() + 8_000; Date.now() < until && (await refusedSoFar()) === 0; ) await new Promise((r) => setTimeout(r, 20));
    }
    return write.apply(this, args);
  };
  const PROCS = 3;
  const WORKERS = 2;
  const TRACES = 40; // per worker, 10 spans each: 2,400 spans, far below each SDK's own queue of 2,048 per process
  const gens: ChildProcess[] = [];
  try {
    const runs = Array.from({ length: PROCS }, (_, p) => {
      const args = ['traces', '--otlp-insecure', '--otlp-endpoint', `127.0.0.1:${rt.ports.otlpGrpc}`, '--workers', String(WORKERS), '--traces', String(TRACES), '--child-spans', '9', '--rate', '400', '--batch-size', '200', '--service', `tgen-${p}`];
      const gen = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      gens.push(gen);
      let err = '';
      gen.stderr?.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-20_000)));
      return new Promise<string>((resolve, reject) => {
        gen.once('error', reject);
        gen.once('exit', (code) => (code === 0 ? resolve(err) : reject(new Error(`telemetrygen exited ${code}: ${err.slice(-2000)}`))));
      });
    });
    const logs = await Promise.race([Promise.all(runs), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('telemetrygen did not finish in 150 s')), 150_000))]);
    await rt.pipeline.drain();
    const metrics = await rt.registry.metrics();
    const refused = /jso_runtime_spans_refused_total\{reason="queue_full"\} (\d+)/.exec(metrics);
    expect(Number(refused?.[1] ?? 0)).toBeGreaterThan(0); // the runtime did push back
    // the exporters' own account first: a batch they gave up on names why
    expect(logs.join('\n')).not.toMatch(/dropped|permanent|non-retryable|failed to (upload|export)|traces export|context deadline|max elapsed/i);
    const written = /jso_runtime_spans_written_total (\d+)/.exec(metrics);
    expect(Number(written?.[1])).toBe(PROCS * WORKERS * TRACES * 10);
  } finally {
    for (const g of gens) if (g.exitCode === null) g.kill('SIGKILL');
    EmbeddedTraceWriter.prototype.writeTraces = write;
    await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 200_000);
