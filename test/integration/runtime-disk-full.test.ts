// A full disk under the embedded backend: a runtime process (as it runs in a pod) whose data directory sits on a
// 20 MiB tmpfs takes OTLP until the disk is full. It must then refuse new spans (429 / RESOURCE_EXHAUSTED, with a
// message saying the disk is full), say so in its metric and readiness detail, keep running and keep every span it
// acknowledged, and resume by itself once space is freed. Needs root to mount the tmpfs (as CI runs); fails loudly
// otherwise.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { type Span, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { encodeTracesProto } from '../../src/otlp/otlp-proto.js';
import { type RuntimeProcess, startRuntimeProcess, writeRuntimeConfig } from '../env/runtime-process.js';
import { sumMetric } from '../helpers.js';
import { decodeRpcStatus } from '../env/rpc-status.js';

const mnt = mkdtempSync(join(tmpdir(), 'jso-small-disk-'));
const work = mkdtempSync(join(tmpdir(), 'jso-disk-full-'));
let rt: RuntimeProcess | undefined;

beforeAll(() => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mnt]);
  } catch (e) {
    throw new Error(`the full-disk test mounts a 20 MiB tmpfs and needs root (CI runs as root): ${e instanceof Error ? e.message : String(e)}`);
  }
});
afterAll(async () => {
  if (rt) {
    rt.proc.kill('SIGKILL');
    await rt.exited;
  }
  execFileSync('umount', ['-l', mnt]);
  rmSync(mnt, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
const sent: string[] = [];
function body(): { bytes: Buffer; traceId: string } {
  n++;
  const traceId = `d15c${n.toString(16).padStart(28, '0')}`;
  sent.push(traceId);
  const now = BigInt(Date.now()) * 1_000_000n;
  const spans: Span[] = Array.from({ length: 50 }, (_, j) =>
    newSpan({ traceId, spanId: (j + 1).toString(16).padStart(16, '0'), name: `op-${j % 3}`, startTimeUnixNano: now, endTimeUnixNano: now + 10n, attributes: [{ key: 'payload', value: 'z'.repeat(300) }] }),
  );
  // a new resource in every request: a commit that failed must not leave it cached as stored
  return { bytes: encodeTracesProto([serviceBatch(`disk-filler-${n}`, spans)]), traceId };
}

/** The trace's spans and services through the runtime's api_v3, or undefined when it is not there. */
async function read(port: number, traceId: string): Promise<{ spans: number; services: string[] } | undefined> {
  const r = await fetch(`http://127.0.0.1:${port}/api/v3/traces/${traceId}`);
  if (r.status === 404) return undefined;
  expect(r.status).toBe(200);
  const t = (await r.json()) as { result: { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: unknown[] }[] }[] } };
  const rss = t.result.resourceSpans;
  return { spans: rss.reduce((a, rs) => a + rs.scopeSpans.reduce((b, ss) => b + ss.spans.length, 0), 0), services: rss.map((rs) => rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '') };
}

it('refuses new spans when the disk is full, keeps what it acknowledged, and resumes when space is freed', async () => {
  writeFileSync(join(mnt, 'filler'), Buffer.alloc(4 * 1024 * 1024, 1)); // freed later
  rt = await startRuntimeProcess(writeRuntimeConfig(join(work, 'runtime.yaml'), { backend: { embedded: {} }, dataDir: join(mnt, 'data'), ingest: { ackTimeoutMs: 3_000 } }));
  const { ports } = rt;
  const url = `http://127.0.0.1:${ports.otlpHttp}/v1/traces`;
  const post = async (bytes: Buffer) => {
    const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: new Uint8Array(bytes) });
    return { status: r.status, text: Buffer.from(await r.arrayBuffer()).toString('latin1') };
  };
  const acked: string[] = [];
  let refusal: string | undefined;
  for (let i = 0; i < 2_000 && !refusal; i++) {
    const b = body();
    const r = await post(b.bytes);
    if (r.status === 200) acked.push(b.traceId);
    else if (r.status === 429) refusal = r.text;
    else expect(r.status).toBe(503); // taken, not committed in time: not acknowledged, the client retries
  }
  expect(refusal).toMatch(/disk is full/);
  expect(acked.length).toBeGreaterThan(10);

  // gRPC says RESOURCE_EXHAUSTED with the same reason
  const client = new grpc.Client(`127.0.0.1:${ports.otlpGrpc}`, grpc.credentials.createInsecure());
  const err = await new Promise<grpc.ServiceError | null>((resolve) =>
    client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (x: Buffer) => x, (x: Buffer) => x, body().bytes, (e) => resolve(e)),
  );
  client.close();
  expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  expect(err?.details).toMatch(/disk is full/);
  // with a RetryInfo: without one, OTLP exporters (Go SDK, collector) take RESOURCE_EXHAUSTED as final and drop the spans
  const details = err?.metadata.get('grpc-status-details-bin')[0];
  expect(details).toBeInstanceOf(Buffer);
  expect(decodeRpcStatus(details as Buffer)).toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, message: expect.stringMatching(/disk is full/), retryDelayMs: 1000 });

  const admin = `http://127.0.0.1:${ports.admin}`;
  expect(sumMetric(await (await fetch(`${admin}/metrics`)).text(), 'jso_runtime_backend_full')).toBe(1);
  expect(await (await fetch(`${admin}/readyz`)).text()).toMatch(/out of space/);

  // every acknowledged span is there
  for (const id of acked) expect((await read(ports.queryHttp, id))?.spans).toBe(50);

  // free space: the retried write goes through and new spans are taken again
  rmSync(join(mnt, 'filler'));
  const deadline = Date.now() + 30_000;
  let resumed = false;
  while (!resumed && Date.now() < deadline) {
    if ((await post(body().bytes)).status === 200) resumed = true;
    else await new Promise((res) => setTimeout(res, 250));
  }
  expect(resumed).toBe(true);
  expect(sumMetric(await (await fetch(`${admin}/metrics`)).text(), 'jso_runtime_backend_full')).toBe(0);
  // whatever was stored, including batches retried across the full disk, reads back whole with its own resource
  let stored = 0;
  for (const id of sent) {
    const t = await read(ports.queryHttp, id);
    if (!t) continue;
    stored++;
    expect(t.spans).toBe(50);
    expect(t.services).toEqual([`disk-filler-${Number.parseInt(id.slice(4), 16)}`]);
  }
  expect(stored).toBeGreaterThan(acked.length);
  expect(rt.proc.exitCode).toBeNull(); // still running
}, 120_000);
