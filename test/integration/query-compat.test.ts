// What Jaeger's query API accepts beyond the basics, on a runtime over the memory backend: trace IDs in the path as
// base64 (standard or URL-safe, padded or not) besides hex, and api_v3 search parameters by their camelCase names,
// which win over the older snake_case spellings when a request carries both.
import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { loopbackRuntimeConfig, waitFor } from '../helpers.js';

let rt: RunningRuntime;
const TRACE = '123456789abcdef0fedcba9876543210';
const OTHER = '00000000000000000000000000000abc';
const now = BigInt(Date.now()) * 1_000_000n;

beforeAll(async () => {
  rt = await startRuntime(loopbackRuntimeConfig({ backend: { memory: { maxTraces: 1_000 } }, ingest: { batchAgeMs: 10 } }), pino({ level: 'silent' }));
  const batch = [
    serviceBatch('compat-a', [newSpan({ traceId: TRACE, spanId: '00000000000000a1', name: 'op-a', startTimeUnixNano: now - 1_000_000n, endTimeUnixNano: now })]),
    serviceBatch('compat-b', [newSpan({ traceId: OTHER, spanId: '00000000000000b1', name: 'op-b', startTimeUnixNano: now - 1_000_000n, endTimeUnixNano: now })]),
  ];
  const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(encodeTracesJson(batch)) });
  expect(r.status).toBe(200);
  await waitFor('the traces', async () => (await q(`/api/v3/traces/${TRACE}`)).status === 200, 10_000);
});
afterAll(async () => rt?.stop());

const q = (path: string) => fetch(`http://127.0.0.1:${rt.ports.queryHttp}${path}`);
const traceIdsOf = (body: unknown): string[] => {
  const rs = (body as { result?: { resourceSpans?: { scopeSpans: { spans: { traceId: string }[] }[] }[] } }).result?.resourceSpans ?? [];
  return [...new Set(rs.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((x) => x.traceId))))];
};

describe('trace IDs in the path', () => {
  // the bytes 12 34 56 78 9a bc de f0 fe dc ba 98 76 54 32 10 in base64
  const std = 'EjRWeJq83vD+3LqYdlQyEA==';
  it.each([
    ['standard, padded, "+" escaped', encodeURIComponent(std)],
    ['standard, unpadded', encodeURIComponent(std.replace(/=+$/, ''))],
    ['URL-safe, padded', std.replace(/\+/g, '-').replace(/\//g, '_')],
    ['URL-safe, unpadded', std.replace(/\+/g, '-').replace(/=+$/, '')],
  ])('takes base64 (%s) on /api/v3/traces and /api/traces', async (_what, id) => {
    const v3 = await q(`/api/v3/traces/${id}`);
    expect(v3.status).toBe(200);
    expect(traceIdsOf(await v3.json())).toEqual([TRACE]);
    const classic = await q(`/api/traces/${id}`);
    expect(classic.status).toBe(200);
    expect(((await classic.json()) as { data: { traceID: string }[] }).data.map((t) => t.traceID)).toEqual([TRACE]);
  });

  it('reads an ID that is both hex and base64 as hex, and refuses what is neither, naming both forms', async () => {
    // "abc" is hex (and would be base64 of two bytes): the hex trace
    expect(traceIdsOf(await (await q('/api/v3/traces/abc')).json())).toEqual([OTHER]);
    for (const bad of ['EjRWeJq83vD+3LqYdlQy', 'not-a-trace-id!', 'EjRWeJq83vD%2B3LqYdlQyEA%3D%3D%3D']) {
      const r = await q(`/api/v3/traces/${bad}`);
      expect({ bad, status: r.status }).toEqual({ bad, status: 400 });
      expect(await r.text()).toMatch(/trace_id.*hex characters, or the base64 of 16/);
    }
  });
});

describe('api_v3 search parameters', () => {
  const window = `startTimeMin=${new Date(Number(now / 1_000_000n) - 60_000).toISOString()}&startTimeMax=${new Date(Number(now / 1_000_000n) + 60_000).toISOString()}`;
  const search = async (params: string): Promise<string[]> => {
    const r = await q(`/api/v3/traces?${params}`);
    expect(r.status).toBe(200);
    return traceIdsOf(await r.json());
  };

  it('reads camelCase names, and snake_case ones when alone', async () => {
    expect(await search(`query.serviceName=compat-a&query.${window.replace('&', '&query.')}`)).toEqual([TRACE]);
    expect(await search(`query.service_name=compat-b&query.start_time_min=${encodeURIComponent(new Date(Number(now / 1_000_000n) - 60_000).toISOString())}&query.start_time_max=${encodeURIComponent(new Date(Number(now / 1_000_000n) + 60_000).toISOString())}`)).toEqual([OTHER]);
  });

  it('prefers the camelCase name when both spellings are given, as Jaeger does', async () => {
    expect(await search(`query.service_name=compat-b&query.serviceName=compat-a&query.${window.replace('&', '&query.')}`)).toEqual([TRACE]);
    expect(await search(`query.serviceName=compat-a&query.operation_name=op-b&query.operationName=op-a&query.${window.replace('&', '&query.')}`)).toEqual([TRACE]);
  });
});
