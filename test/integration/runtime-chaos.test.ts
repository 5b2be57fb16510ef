// The acknowledgement contract under kill -9: a runtime process on the embedded backend takes sustained OTLP/HTTP
// ingest from 8 concurrent senders and is killed with SIGKILL at a random moment, five times, restarting on the
// same data directory. Every span it answered 200 for must be readable at the end, whole.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ResourceSpans, type Span, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { EmbeddedBackend } from '../../src/storage/embedded/store.js';
import { Rng } from '../env/fuzz.js';
import { startRuntimeProcess, writeRuntimeConfig } from '../env/runtime-process.js';

const SPANS = 20;
const traceId = (i: number) => `cafe${i.toString(16).padStart(28, '0')}`;

function request(i: number, now: bigint): ResourceSpans[] {
  const spans: Span[] = [];
  for (let j = 0; j < SPANS; j++) {
    spans.push(
      newSpan({
        traceId: traceId(i),
        spanId: (j + 1).toString(16).padStart(16, '0'),
        parentSpanId: j ? '0000000000000001' : '',
        name: `op-${j % 4}`,
        startTimeUnixNano: now + BigInt(j) * 1000n,
        endTimeUnixNano: now + BigInt(j) * 1000n + 700n,
        attributes: [{ key: 'request', value: BigInt(i) }, { key: 'payload', value: 'p'.repeat(100) }],
      }),
    );
  }
  return [serviceBatch('chaos', spans)];
}


it('loses no acknowledged span over five kill -9 cycles under sustained ingest (embedded)', async () => {
  const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
  process.stderr.write(`chaos seed ${seed} (CHAOS_SEED=${seed} repeats it)\n`);
  const rng = new Rng(seed);
  const dir = mkdtempSync(join(tmpdir(), 'jso-chaos-'));
  const config = writeRuntimeConfig(join(dir, 'runtime.yaml'), { backend: { embedded: {} }, dataDir: join(dir, 'data') });
  const now = BigInt(Date.now()) * 1_000_000n;
  const acked: number[] = [];
  let next = 0;
  let failures = 0;
  try {
    for (let cycle = 0; cycle < 5; cycle++) {
      const rt = await startRuntimeProcess(config);
      const killAt = Date.now() + 1_500 + rng.next() * 2_000;
      let dead = false;
      const senders = Array.from({ length: 8 }, async () => {
        while (!dead && Date.now() < killAt + 5_000) {
          const i = next++;
          try {
            const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: new Uint8Array(encodeTracesProto(request(i, now))) });
            const body = Buffer.from(await r.arrayBuffer());
            if (r.status === 200 && body.length === 0) acked.push(i);
          } catch {
            failures++; // the connection died with the process: not acknowledged
          }
        }
      });
      await new Promise((r) => setTimeout(r, killAt - Date.now()));
      rt.proc.kill('SIGKILL');
      dead = true;
      await rt.exited;
      await Promise.all(senders);
      process.stderr.write(`chaos cycle ${cycle}: ${acked.length} requests acknowledged so far, ${failures} cut off by the kill\n`);
    }
    expect(acked.length).toBeGreaterThan(200);
    const store = new EmbeddedBackend({ path: join(dir, 'data') });
    try {
      let missing = 0;
      for (const i of acked) {
        let n = 0;
        for await (const b of store.traceReader().getTraces([{ traceId: traceId(i) }])) for (const c of b) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
        if (n !== SPANS) missing++;
      }
      process.stderr.write(`chaos: ${acked.length * SPANS} acknowledged spans, ${missing} requests incomplete after 5 kill -9 cycles\n`);
      expect(missing).toBe(0);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 240_000);
