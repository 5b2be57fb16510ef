// A sender faster than the backend: with a small ingest queue in front of the (slower) embedded backend, the
// runtime answers 429 with Retry-After; the sender retries; at the end every span it was told was accepted is
// readable. Bounded: a fixed number of batches and a deadline.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startRuntime } from '../../src/runtime/server.js';
import { loopbackRuntimeConfig } from '../helpers.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { crashBatch, crashTraceId } from '../env/embedded-writer.js';

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
