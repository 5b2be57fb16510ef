// A stock Jaeger v2 (the binary, v1.76.0 = Jaeger v2.13.0) configured with the `grpc` storage backend pointing
// at our runtime: spans sent to Jaeger's own OTLP receiver are stored by us, and Jaeger's query APIs answer from
// us (traces, services, operations, find by tags and by duration), including a trace above gRPC's 4 MiB limit.
import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { type ResourceSpans, type Span, SpanKind, newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { SHOP_TRACE, loadFixtures } from '../../src/storage/testing/fixtures.js';
import { type RunningJaeger, startJaeger } from '../env/jaeger.js';
import { loopbackRuntimeConfig, waitFor } from '../helpers.js';

let rt: RunningRuntime;
let jaeger: RunningJaeger;

beforeAll(async () => {
  rt = await startRuntime(
    loopbackRuntimeConfig({
      backend: { memory: { maxTraces: 10_000 } },
      ingest: { batchAgeMs: 20 },
    }),
    pino({ level: 'silent' }),
  );
  const ep = `127.0.0.1:${rt.ports.remoteStorage}`;
  jaeger = await startJaeger(`        grpc:
          endpoint: ${ep}
          tls:
            insecure: true
          writer:
            endpoint: ${ep}
            tls:
              insecure: true`);
}, 120_000);

afterAll(async () => {
  await jaeger?.stop();
  await rt?.stop();
});

const jq = async <T>(path: string): Promise<T> => {
  const r = await fetch(`http://127.0.0.1:${jaeger.queryHttp}${path}`);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
};

interface V3Traces {
  result: { resourceSpans: { resource: { attributes: { key: string; value: Record<string, unknown> }[] }; scopeSpans: { spans: { spanId: string; name: string; attributes: { key: string; value: Record<string, unknown> }[] }[] }[] }[] };
}
const v3Spans = (t: V3Traces) => t.result.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));

async function ourSpanCount(traceId: string): Promise<number> {
  let n = 0;
  for await (const b of rt.backend.traceReader().getTraces([{ traceId }])) for (const c of b) for (const r of c.resourceSpans) for (const s of r.scopeSpans) n += s.spans.length;
  return n;
}

async function sendToJaeger(traces: ResourceSpans[]): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${jaeger.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(encodeTracesJson(traces)) });
  expect(r.status).toBe(200);
}

it('stores what Jaeger receives and answers Jaeger get-trace through us', async () => {
  const fx = loadFixtures(BigInt(Date.now()) * 1_000_000n + 3n * 3600n * 1_000_000_000n); // shop trace at about now
  await sendToJaeger(fx.batches.find((b) => b.name === 'shop')!.traces);
  await waitFor('the shop trace stored by our runtime', async () => (await ourSpanCount(SHOP_TRACE)) === 6, 20_000);
  const t = await jq<V3Traces>(`/api/v3/traces/${SHOP_TRACE}`);
  const spans = v3Spans(t);
  expect(spans).toHaveLength(6);
  const root = spans.find((s) => s.spanId === 'eee19b7ec3c1b174')!;
  const a = Object.fromEntries(root.attributes.map((x) => [x.key, x.value]));
  expect(a['http.response.status_code']).toEqual({ intValue: '200' });
  expect(a['http.server.duration_ratio']).toEqual({ doubleValue: 0.25 });
  expect(a['request.user']).toEqual({ kvlistValue: { values: [{ key: 'tier', value: { stringValue: 'gold' } }, { key: 'id', value: { intValue: '42' } }] } });
}, 60_000);

it('answers Jaeger services and operations through us', async () => {
  const services = await jq<{ services: string[] }>('/api/v3/services');
  expect(services.services).toEqual(expect.arrayContaining(['shop-frontend', 'shop-checkout', 'shop-payment', 'shop-db']));
  const ops = await jq<{ operations: { name: string; spanKind: string }[] }>('/api/v3/operations?service=shop-payment');
  expect(ops.operations).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'Charge', spanKind: 'server' }), expect.objectContaining({ name: 'SELECT accounts', spanKind: 'client' })]));
});

it('finds traces through us by tags and by duration (Jaeger classic search API)', async () => {
  interface Classic {
    data: { traceID: string }[];
  }
  const tags = encodeURIComponent(JSON.stringify({ 'exception.type': 'CardDeclined' }));
  const byTag = await jq<Classic>(`/api/traces?service=shop-payment&tags=${tags}&lookback=6h&limit=20`);
  expect(byTag.data.map((d) => d.traceID)).toEqual([SHOP_TRACE]);
  const none = await jq<Classic>(`/api/traces?service=shop-payment&tags=${encodeURIComponent(JSON.stringify({ 'exception.type': 'Timeout' }))}&lookback=6h&limit=20`);
  expect(none.data).toEqual([]);
  const slow = await jq<Classic>(`/api/traces?service=shop-frontend&minDuration=200ms&lookback=6h&limit=20`);
  expect(slow.data.map((d) => d.traceID)).toEqual([SHOP_TRACE]);
  const tooSlow = await jq<Classic>(`/api/traces?service=shop-frontend&minDuration=300ms&lookback=6h&limit=20`);
  expect(tooSlow.data).toEqual([]);
}, 60_000);

it('returns a trace larger than the 4 MiB gRPC message limit whole, in several messages', async () => {
  const traceId = 'b16b16b16b16b16b16b16b16b16b16ff';
  const now = BigInt(Date.now()) * 1_000_000n;
  const blob = 'x'.repeat(5000); // 1,000-span chunks of ~5 MB: each must be split to stay under 4 MiB
  const spans: Span[] = Array.from({ length: 2500 }, (_, i) =>
    newSpan({
      traceId,
      spanId: (i + 1).toString(16).padStart(16, '0'),
      parentSpanId: i ? '0000000000000001' : '',
      name: `step ${i % 7}`,
      kind: i ? SpanKind.Internal : SpanKind.Server,
      startTimeUnixNano: now + BigInt(i) * 1000n,
      endTimeUnixNano: now + BigInt(i) * 1000n + 500n,
      attributes: [{ key: 'payload', value: blob }],
    }),
  );
  // send in parts, as SDKs do
  for (let i = 0; i < spans.length; i += 250) {
    await sendToJaeger([serviceBatch('huge', spans.slice(i, i + 250), { name: 's' })]);
  }
  await waitFor('the big trace stored by our runtime', async () => (await ourSpanCount(traceId)) === spans.length, 60_000, 200);
  const t = await jq<V3Traces>(`/api/v3/traces/${traceId}`);
  const got = v3Spans(t);
  expect(got).toHaveLength(spans.length);
  expect(new Set(got.map((s) => s.spanId)).size).toBe(spans.length);
}, 120_000);
