// The classic HTTP API (Jaeger UI, Grafana) answers like Jaeger itself: the same fixtures are sent to our runtime
// and to the Jaeger v2 binary (memory storage), and the answers are compared field by field.


import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { QUEUE_TRACE, SHOP_TRACE, loadFixtures } from '../../src/storage/testing/fixtures.js';
import { type RunningJaeger, startJaeger } from '../env/jaeger.js';
import { loopbackRuntimeConfig, waitFor } from '../helpers.js';

let rt: RunningRuntime;
let jaeger: RunningJaeger;
const ours = (p: string) => `http://127.0.0.1:${rt.ports.queryHttp}${p}`;
const theirs = (p: string) => `http://127.0.0.1:${jaeger.queryHttp}${p}`;
const json = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};

interface JT {
  traceID: string;
  spans: { spanID: string; processID: string; tags: { key: string }[]; logs: { fields: { key: string }[] }[] }[];
  processes: Record<string, { serviceName: string; tags: { key: string }[] }>;
}
/** process IDs are local names: replace them by the process, sort everything order does not matter for */
function normalize(t: JT): unknown {
  const byKey = <T extends { key: string }>(xs: T[]) => [...xs].sort((a, b) => a.key.localeCompare(b.key));
  return [...t.spans]
    .sort((a, b) => a.spanID.localeCompare(b.spanID))
    .map(({ processID, ...s }) => ({ ...s, tags: byKey(s.tags), logs: s.logs.map((l) => ({ ...l, fields: byKey(l.fields) })), process: { ...t.processes[processID]!, tags: byKey(t.processes[processID]!.tags) } }));
}

beforeAll(async () => {
  rt = await startRuntime(
    loopbackRuntimeConfig({
      backend: { memory: {} },
      ingest: { batchAgeMs: 10 },
    }),
    pino({ level: 'silent' }),
  );
  jaeger = await startJaeger('        memory:\n          max_traces: 1000');
  // recent data, so that searches with the default lookback find it
  const fx = loadFixtures(BigInt(Date.now()) * 1_000_000n + 3n * 3600n * 1_000_000_000n - 60n * 60n * 1_000_000_000n * 2n);
  for (const b of fx.batches.filter((x) => ['shop', 'queue', 'queue-consumer'].includes(x.name))) {
    const body = JSON.stringify(encodeTracesJson(b.traces));
    for (const port of [rt.ports.otlpHttp, jaeger.otlpHttp]) {
      const r = await fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      expect(r.status).toBe(200);
    }
  }
  const spans = async (url: string) => ((await json(url)).body.data as JT[] | null)?.[0]?.spans.length ?? 0;
  for (const url of [ours, theirs]) await waitFor('queue trace complete', async () => (await spans(url(`/api/traces/${QUEUE_TRACE}`))) === 4, 20_000);
}, 120_000);

afterAll(async () => {
  await jaeger?.stop();
  await rt?.stop();
});

it.each([SHOP_TRACE, QUEUE_TRACE])('GET /api/traces/%s answers like Jaeger', async (id) => {
  const [a, b] = [await json(ours(`/api/traces/${id}`)), await json(theirs(`/api/traces/${id}`))];
  expect(a.status).toBe(200);
  expect(Object.keys(a.body).sort()).toEqual(Object.keys(b.body).sort());
  const [ta, tb] = [(a.body.data as JT[])[0]!, (b.body.data as JT[])[0]!];
  expect(ta.traceID).toBe(tb.traceID);
  expect(normalize(ta)).toEqual(normalize(tb));
});

it('lists services and operations like Jaeger', async () => {
  const sorted = (x: unknown) => [...(x as string[])].sort();
  expect(sorted((await json(ours('/api/services'))).body.data)).toEqual(sorted((await json(theirs('/api/services'))).body.data));
  for (const s of ['shop-payment', 'mail-producer']) {
    expect(sorted((await json(ours(`/api/services/${s}/operations`))).body.data)).toEqual(sorted((await json(theirs(`/api/services/${s}/operations`))).body.data));
    const opsKinds = (x: unknown) => (x as { name: string; spanKind: string }[]).map((o) => `${o.name}|${o.spanKind}`).sort();
    expect(opsKinds((await json(ours(`/api/operations?service=${s}`))).body.data)).toEqual(opsKinds((await json(theirs(`/api/operations?service=${s}`))).body.data));
  }
});

it('searches by service, tags and duration like Jaeger', async () => {
  const ids = (x: unknown) => (x as JT[]).map((t) => t.traceID).sort();
  for (const q of [
    'service=shop-payment&lookback=6h',
    `service=shop-payment&tags=${encodeURIComponent('{"exception.type":"CardDeclined"}')}&lookback=6h`,
    `service=shop-payment&tags=${encodeURIComponent('{"exception.type":"Timeout"}')}&lookback=6h`,
    'service=mail-consumer&minDuration=500ms&lookback=6h',
    'service=mail-consumer&maxDuration=10ms&lookback=6h',
    'service=shop-checkout&operation=PlaceOrder&lookback=6h',
    'service=shop-payment&tag=db.system:postgresql&lookback=6h',
  ]) {
    const [a, b] = [await json(ours(`/api/traces?${q}`)), await json(theirs(`/api/traces?${q}`))];
    expect({ q, ids: ids(a.body.data) }).toEqual({ q, ids: ids(b.body.data) });
  }
});

it('finds by span.kind, the tag Jaeger UI shows on every span', async () => {
  // A deliberate difference: Jaeger v2.13's memory store answers no trace for span.kind (checked with server,
  // Server, SERVER and SPAN_KIND_SERVER); we match the value the UI displays.
  const r = await json(ours('/api/traces?service=shop-db&tag=span.kind:server&lookback=6h'));
  expect((r.body.data as JT[]).map((t) => t.traceID)).toEqual([SHOP_TRACE]);
  expect((await json(ours('/api/traces?service=shop-db&tag=span.kind:client&lookback=6h'))).body.data).toEqual([]);
});

it('answers bad parameters with 400 in the classic error envelope', async () => {
  const r = await json(ours('/api/traces?service=x&minDuration=soon'));
  expect(r.status).toBe(400);
  expect(r.body).toMatchObject({ data: null, errors: [{ code: 400, msg: expect.stringContaining('minDuration') }] });
  expect((await json(ours('/api/traces?lookback=1h'))).status).toBe(400);
  expect((await json(ours('/api/traces/00000000000000000000000000000abc'))).status).toBe(404);
});

it('reports dependencies derived from the stored spans', async () => {
  const deps = (await json(ours(`/api/dependencies?endTs=${Date.now() + 3_600_000}&lookback=${86_400_000}`))).body.data as { parent: string; child: string; callCount: number }[];
  expect(deps).toEqual(expect.arrayContaining([{ parent: 'shop-frontend', child: 'shop-checkout', callCount: 1 }, { parent: 'mail-producer', child: 'mail-consumer', callCount: 1 }]));
});

