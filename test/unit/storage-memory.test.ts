import { parseRuntimeConfig } from '../../src/api/runtime-config.js';
import { type ResourceSpans, type Span, newSpan } from '../../src/storage/api/index.js';
import { containerMemoryLimit, defaultMaxBytes } from '../../src/storage/memory/limits.js';
import { MemoryBackend, type MemoryConfig } from '../../src/storage/memory/store.js';
import { backendSection, openBackend } from '../../src/storage/plugins.js';
import { ABORT_CHUNK_SPANS, runAbortCases } from '../../src/storage/testing/abort.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';

runStorageContract('memory', async () => ({
  backend: new MemoryBackend({ maxTraces: 100_000 }),
  capabilities: { findWithoutServiceName: true, tenancy: true },
}));

runAbortCases('memory', async () => ({ backend: new MemoryBackend({ maxTraces: 1_000, maxSpansPerChunk: ABORT_CHUNK_SPANS }) }));

const traceId = (i: number) => (i + 1).toString(16).padStart(32, '0');
const span = (t: number, s: number, name = 'op'): Span => newSpan({ traceId: traceId(t), spanId: (s + 1).toString(16).padStart(16, '0'), name, startTimeUnixNano: 1_000n + BigInt(t), endTimeUnixNano: 2_000n + BigInt(t) });
const batch = (service: string, spans: Span[]): ResourceSpans[] => [
  { resource: { attributes: [{ key: 'service.name', value: service }], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 's', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans }] },
];
async function spanCount(m: MemoryBackend, t: number, tenant?: string): Promise<number> {
  let n = 0;
  for await (const b of m.traceReader().getTraces([{ traceId: traceId(t) }], { tenant })) for (const c of b) for (const r of c.resourceSpans) for (const s of r.scopeSpans) n += s.spans.length;
  return n;
}
const store = (c: Partial<MemoryConfig>) => new MemoryBackend({ maxTraces: 1_000_000, ...c });

describe('memory backend bounds', () => {
  it('refuses a batch that would take a trace beyond maxSpansPerTrace, before storing any of it, and counts refused single spans', async () => {
    const m = store({ maxSpansPerTrace: 100 });
    for (let k = 0; k < 9; k++) await m.traceWriter().writeTraces(batch('a', Array.from({ length: 10 }, (_, i) => span(1, k * 10 + i))));
    // 95 + 10 > 100: nothing of the batch is stored, so the runtime can isolate the spans that fit
    await m.traceWriter().writeTraces(batch('a', Array.from({ length: 5 }, (_, i) => span(1, 90 + i))));
    await expect(m.traceWriter().writeTraces(batch('a', Array.from({ length: 10 }, (_, i) => span(1, 200 + i))))).rejects.toThrow(/traceId: trace .* more than memory.maxSpansPerTrace \(100\)/);
    expect(await spanCount(m, 1)).toBe(95);
    for (let i = 0; i < 10; i++) await m.traceWriter().writeTraces(batch('a', [span(1, 300 + i)])).catch(() => undefined);
    expect(await spanCount(m, 1)).toBe(100);
    expect(m.stats()).toMatchObject({ spans: 100, spansRefused: 5, traces: 1 });
  });

  it('keeps the estimated bytes under maxBytes by evicting the oldest traces, across tenants', async () => {
    const maxBytes = 200_000;
    const m = store({ maxBytes });
    for (let t = 1; t <= 2_000; t++) await m.traceWriter().writeTraces(batch('a', [span(t, 0), span(t, 1)]), { tenant: t % 2 ? 'x' : 'y' });
    const st = m.stats();
    expect(st.bytes).toBeLessThanOrEqual(maxBytes);
    expect(st.bytes).toBeGreaterThan(maxBytes * 0.9);
    expect(st.tracesEvictedMaxBytes).toBe(2_000 - st.traces);
    expect(st.spans).toBe(2 * st.traces);
    // the newest are kept, the oldest gone
    expect(await spanCount(m, 2_000, 'y')).toBe(2);
    expect(await spanCount(m, 1_999, 'x')).toBe(2);
    expect(await spanCount(m, 2, 'y')).toBe(0);
  });

  it('still evicts by maxTraces per tenant and counts it', async () => {
    const m = store({ maxTraces: 10 });
    for (let t = 1; t <= 25; t++) await m.traceWriter().writeTraces(batch('a', [span(t, 0)]));
    expect(m.stats()).toMatchObject({ traces: 10, tracesEvictedMaxTraces: 15, tracesEvictedMaxBytes: 0 });
  });

  it('bounds the services/operations index; spans past a bound are stored and searchable, not indexed', async () => {
    const m = store({ maxServices: 3, maxOperationsPerService: 5, maxOperations: 8 });
    for (let t = 0; t < 100; t++) await m.traceWriter().writeTraces(batch(`svc-${t % 10}`, [span(t, 0, `op-${t}`)]));
    expect(await m.traceReader().getServices()).toHaveLength(3);
    let ops = 0;
    for (const s of await m.traceReader().getServices()) ops += (await m.traceReader().getOperations({ service: s })).length;
    expect(ops).toBe(8);
    const st = m.stats();
    expect(st.servicesNotIndexed).toBe(70);
    expect(st.operationsNotIndexed).toBe(22);
    let found = 0;
    for await (const b of m.traceReader().findTraceIds({ serviceName: 'svc-9', searchDepth: 100 })) found += b.length;
    expect(found).toBe(10);
  });

  it('rejects a search depth above 10,000 even with more traces stored', async () => {
    const m = store({});
    await expect(async () => {
      for await (const _ of m.traceReader().findTraceIds({ searchDepth: 100_000 })) void _;
    }).rejects.toThrow(/searchDepth: must be an integer from 1 to 10000/);
  });

  it('rejects bounds that are not positive integers, naming the field', () => {
    expect(() => store({ maxBytes: 0 })).toThrow(/memory.maxBytes/);
    expect(() => store({ maxSpansPerTrace: 1.5 })).toThrow(/memory.maxSpansPerTrace/);
  });
});

describe('memory backend configuration', () => {
  it('reads the container memory limit from cgroup v2, then v1', () => {
    const files = (m: Record<string, string>) => (f: string) => {
      if (m[f] === undefined) throw new Error('ENOENT');
      return m[f]!;
    };
    expect(containerMemoryLimit(files({ '/sys/fs/cgroup/memory.max': '1073741824\n' }))).toBe(1_073_741_824);
    expect(containerMemoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' }))).toBeUndefined();
    expect(containerMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '536870912' }))).toBe(536_870_912);
    expect(containerMemoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' }))).toBeUndefined();
    expect(containerMemoryLimit(files({}))).toBeUndefined();
    expect(defaultMaxBytes(1_073_741_824)).toBe(536_870_912);
    expect(defaultMaxBytes(undefined)).toBeUndefined();
  });

  it('parses the memory section of the runtime config with its bounds and names bad fields', async () => {
    const cfg = (memory: Record<string, unknown>) => parseRuntimeConfig({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', backend: { memory } });
    // the section belongs to the memory plug-in, which validates it when the runtime opens the backend
    const section = (memory: Record<string, unknown>) => backendSection(cfg(memory)).config;
    const c = cfg({ maxBytes: 64 * 1024 * 1024, maxSpansPerTrace: 50 });
    expect(backendSection(c).config).toEqual({ maxTraces: 100_000, maxBytes: 64 * 1024 * 1024, maxSpansPerTrace: 50, maxServices: 10_000, maxOperationsPerService: 1_000, maxOperations: 100_000 });
    const b = (await openBackend(c)) as MemoryBackend;
    expect(b).toBeInstanceOf(MemoryBackend);
    expect(b.stats().maxBytes).toBe(64 * 1024 * 1024);
    expect(() => section({ maxBytes: 10 })).toThrow(/config.backend.memory.maxBytes/);
    expect(() => section({ maxSpansPerTrace: 0 })).toThrow(/config.backend.memory.maxSpansPerTrace/);
    expect(() => section({ nope: 1 })).toThrow(/config.backend.memory.nope: is not a known field/);
    await expect(openBackend(cfg({ maxTraces: 0 }))).rejects.toThrow(/config.backend.memory.maxTraces/);
    // the shared backend rules still apply
    expect(() => parseRuntimeConfig({ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'RuntimeConfig', backend: { memory: {}, embedded: {} } })).toThrow(/exactly one backend/);
  });
});
