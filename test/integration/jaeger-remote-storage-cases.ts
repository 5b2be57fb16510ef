// The cases of a stock Jaeger v2 (the binary, v1.76.0 = Jaeger v2.13.0) configured with the `grpc` storage backend
// pointing at our runtime: spans sent to Jaeger's own OTLP receiver are stored by us, and Jaeger's query APIs answer
// from us (traces, services, operations, find by tags and by duration), including a trace above gRPC's 4 MiB limit.
// Each test file runs them with one backend of the runtime (`backend` is the runtime config's backend section).
import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { type ResourceSpans, type Span, serviceBatch } from '../../src/storage/api/index.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { SHOP_TRACE, loadFixtures, stepSpans } from '../../src/storage/testing/fixtures.js';
import { type RunningJaeger, startJaeger } from '../env/jaeger.js';
import { loopbackRuntimeConfig, waitFor } from '../helpers.js';

export interface RemoteStorageBackend {
  /** the runtime config's `backend` section */
  backend: Record<string, unknown>;
  /** called once the runtime has stopped */
  close?: () => Promise<void>;
}

interface V3Traces {
  result: { resourceSpans: { resource: { attributes: { key: string; value: Record<string, unknown> }[] }; scopeSpans: { spans: { spanId: string; name: string; attributes: { key: string; value: Record<string, unknown> }[] }[] }[] }[] };
}
const v3Spans = (t: V3Traces) => t.result.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));

export function runJaegerRemoteStorageCases(name: string, open: () => Promise<RemoteStorageBackend>): void {
  describe(`stock Jaeger v2 on our remote storage: ${name}`, () => {
    let rt: RunningRuntime | undefined;
    let jaeger: RunningJaeger | undefined;
    let close: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const b = await open();
      close = b.close;
      rt = await startRuntime(loopbackRuntimeConfig({ backend: b.backend, ingest: { batchAgeMs: 20 } }), pino({ level: 'silent' }));
      const ep = `127.0.0.1:${rt.ports.remoteStorage}`;
      jaeger = await startJaeger(`        grpc:
          endpoint: ${ep}
          tls:
            insecure: true
          writer:
            endpoint: ${ep}
            tls:
              insecure: true`);
    }, 300_000);

    afterAll(async () => {
      await jaeger?.stop();
      await rt?.stop();
      await close?.();
    });

    const jq = async <T>(path: string): Promise<T> => {
      const r = await fetch(`http://127.0.0.1:${jaeger!.queryHttp}${path}`);
      const text = await r.text();
      if (r.status !== 200) throw new Error(`${path}: ${r.status} ${text.slice(0, 500)}`);
      return JSON.parse(text) as T;
    };

    async function ourSpanCount(traceId: string): Promise<number> {
      let n = 0;
      for await (const b of rt!.backend.traceReader().getTraces([{ traceId }])) for (const c of b) for (const r of c.resourceSpans) for (const s of r.scopeSpans) n += s.spans.length;
      return n;
    }

    async function sendToJaeger(traces: ResourceSpans[]): Promise<void> {
      const r = await fetch(`http://127.0.0.1:${jaeger!.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(encodeTracesJson(traces)) });
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
      const clients = await jq<{ operations: { name: string; spanKind: string }[] }>('/api/v3/operations?service=shop-payment&span_kind=client');
      expect(clients.operations.map((o) => o.name)).toEqual(['SELECT accounts']);
    });

    it('answers Jaeger dependencies through us', async () => {
      const deps = await jq<{ data: { parent: string; child: string; callCount: number }[] }>(`/api/dependencies?endTs=${Date.now() + 6 * 3_600_000}&lookback=${86_400_000}`);
      expect(deps.data).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ parent: 'shop-frontend', child: 'shop-checkout', callCount: 1 }),
          expect.objectContaining({ parent: 'shop-checkout', child: 'shop-payment', callCount: 1 }),
          expect.objectContaining({ parent: 'shop-payment', child: 'shop-db', callCount: 1 }),
        ]),
      );
    });

    it('finds traces through us by tags and by duration (Jaeger classic search API)', async () => {
      interface Classic {
        data: { traceID: string }[];
      }
      const find = async (q: string): Promise<string[]> => (await jq<Classic>(`/api/traces?${q}&lookback=6h&limit=20`)).data.map((d) => d.traceID);
      const tags = (t: Record<string, string>): string => `tags=${encodeURIComponent(JSON.stringify(t))}`;
      expect(await find(`service=shop-payment&${tags({ 'exception.type': 'CardDeclined' })}`)).toEqual([SHOP_TRACE]);
      expect(await find(`service=shop-payment&${tags({ 'exception.type': 'Timeout' })}`)).toEqual([]);
      expect(await find('service=shop-frontend&minDuration=200ms')).toEqual([SHOP_TRACE]);
      expect(await find('service=shop-frontend&minDuration=300ms')).toEqual([]);
      // the keys Jaeger gives a meaning of their own (span status and kind)
      expect(await find(`service=shop-payment&${tags({ error: 'true' })}`)).toEqual([SHOP_TRACE]);
      expect(await find(`service=shop-payment&${tags({ 'span.kind': 'server' })}`)).toEqual([SHOP_TRACE]);
      expect(await find(`service=shop-db&${tags({ 'span.status': 'ok' })}`)).toEqual([]);
      expect(await find(`service=shop-checkout&${tags({ 'span.kind': 'client', 'scope.name': 'io.opentelemetry.grpc', 'scope.version': '2.0.0' })}`)).toEqual([SHOP_TRACE]);
      expect(await find(`service=shop-checkout&${tags({ 'span.kind': 'client', 'scope.version': '1.2.3' })}`)).toEqual([]);
      expect(await find('service=shop-payment&operation=Charge&minDuration=100ms&maxDuration=110ms')).toEqual([SHOP_TRACE]);
      expect(await find('service=shop-payment&operation=Charge&minDuration=111ms')).toEqual([]);
      // api_v3 search
      const now = Date.now();
      const v3 = new URLSearchParams({
        'query.service_name': 'shop-payment',
        'query.attributes': JSON.stringify({ error: 'true' }),
        'query.start_time_min': new Date(now - 6 * 3_600_000).toISOString(),
        'query.start_time_max': new Date(now + 6 * 3_600_000).toISOString(),
      });
      expect(new Set(v3Spans(await jq<V3Traces>(`/api/v3/traces?${v3.toString()}`)).map((s) => s.spanId)).size).toBe(6);
    }, 60_000);

    it('returns a trace larger than the 4 MiB gRPC message limit whole, in several messages', async () => {
      const traceId = 'b16b16b16b16b16b16b16b16b16b16ff';
      const now = BigInt(Date.now()) * 1_000_000n;
      const blob = 'x'.repeat(5000); // 1,000-span chunks of ~5 MB: each must be split to stay under 4 MiB
      const spans: Span[] = stepSpans(traceId, 2500, now, () => [{ key: 'payload', value: blob }]);
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
  });
}
