// A full disk under the embedded backend: a runtime whose data directory sits on a 20 MiB tmpfs takes OTLP until
// the disk is full. It must then refuse new spans (429 / RESOURCE_EXHAUSTED, with a message saying the disk is
// full), say so in its metric and readiness detail, keep every span it acknowledged, and resume by itself once
// space is freed. Needs root to mount the tmpfs (as CI runs); fails loudly otherwise.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { type Span, newSpan, serviceBatch, serviceOf } from '../../src/storage/api/index.js';
import { encodeTracesProto } from '../../src/storage/api/otlp-proto.js';
import { loopbackRuntimeConfig, sumMetric } from '../helpers.js';

const mnt = mkdtempSync(join(tmpdir(), 'jso-small-disk-'));
let rt: RunningRuntime | undefined;

beforeAll(() => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mnt]);
  } catch (e) {
    throw new Error(`the full-disk test mounts a 20 MiB tmpfs and needs root (CI runs as root): ${e instanceof Error ? e.message : String(e)}`);
  }
});
afterAll(async () => {
  await rt?.stop();
  execFileSync('umount', ['-l', mnt]); // lazily: a store that failed may still hold its files open
  rmSync(mnt, { recursive: true, force: true });
});

let n = 0;
const sent: string[] = [];
function body(): { bytes: Buffer; traceId: string } {
  n++;
  const traceId = `d15c${n.toString(16).padStart(28, '0')}`;
  const now = BigInt(Date.now()) * 1_000_000n;
  const spans: Span[] = Array.from({ length: 50 }, (_, j) =>
    newSpan({ traceId, spanId: (j + 1).toString(16).padStart(16, '0'), name: `op-${j % 3}`, startTimeUnixNano: now, endTimeUnixNano: now + 10n, attributes: [{ key: 'payload', value: 'z'.repeat(300) }] }),
  );
  sent.push(traceId);
  // a new resource in every request: a commit that failed must not leave it cached as stored
  return { bytes: encodeTracesProto([serviceBatch(`disk-filler-${n}`, spans)]), traceId };
}

it('refuses new spans when the disk is full, keeps what it acknowledged, and resumes when space is freed', async () => {
  writeFileSync(join(mnt, 'filler'), Buffer.alloc(4 * 1024 * 1024, 1)); // freed later
  rt = await startRuntime(loopbackRuntimeConfig({ backend: { embedded: {} }, dataDir: join(mnt, 'data'), ingest: { ackTimeoutMs: 3_000 } }), pino({ level: 'silent' }));
  const url = `http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`;
  const acked: string[] = [];
  let refusal: { status: number; text: string } | undefined;
  for (let i = 0; i < 2_000 && !refusal; i++) {
    const b = body();
    const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: new Uint8Array(b.bytes) });
    const text = Buffer.from(await r.arrayBuffer()).toString('latin1');
    if (r.status === 200) acked.push(b.traceId);
    else if (r.status === 429) refusal = { status: r.status, text };
    else expect([503]).toContain(r.status); // taken, not committed in time: not acknowledged, the client retries
  }
  expect(refusal).toBeDefined();
  expect(refusal!.text).toMatch(/disk is full/);
  expect(acked.length).toBeGreaterThan(10);

  // gRPC says RESOURCE_EXHAUSTED with the same reason
  const client = new grpc.Client(`127.0.0.1:${rt.ports.otlpGrpc}`, grpc.credentials.createInsecure());
  const err = await new Promise<grpc.ServiceError | null>((resolve) =>
    client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (x: Buffer) => x, (x: Buffer) => x, body().bytes, (e) => resolve(e)),
  );
  client.close();
  expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  expect(err?.details).toMatch(/disk is full/);

  const metrics = await rt.registry.metrics();
  expect(sumMetric(metrics, 'jso_runtime_backend_full')).toBe(1);
  const ready = await fetch(`http://127.0.0.1:${rt.ports.admin}/readyz`);
  expect(await ready.text()).toMatch(/out of space/);

  // every acknowledged span is there
  const reader = rt.backend.traceReader();
  for (const id of acked) {
    let spans = 0;
    for await (const b of reader.getTraces([{ traceId: id }])) for (const c of b) for (const rs of c.resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
    expect(spans).toBe(50);
  }

  // free space: the retried write goes through and new spans are taken again
  rmSync(join(mnt, 'filler'));
  const deadline = Date.now() + 30_000;
  let resumed = false;
  while (!resumed && Date.now() < deadline) {
    const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: new Uint8Array(body().bytes) });
    await r.arrayBuffer();
    if (r.status === 200) resumed = true;
    else await new Promise((res) => setTimeout(res, 250));
  }
  expect(resumed).toBe(true);
  expect(sumMetric(await rt.registry.metrics(), 'jso_runtime_backend_full')).toBe(0);
  // whatever was stored, including batches retried across the full disk, reads back with its own resource
  await rt.pipeline.idle();
  let checked = 0;
  for (const id of sent) {
    for await (const b of reader.getTraces([{ traceId: id }])) {
      for (const c of b) {
        for (const rs of c.resourceSpans) {
          expect(serviceOf(rs.resource)).toBe(`disk-filler-${Number.parseInt(id.slice(4), 16)}`);
          checked++;
        }
      }
    }
  }
  expect(checked).toBeGreaterThan(acked.length);
}, 120_000);
