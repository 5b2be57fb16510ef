// The OpenSearch plug-in's check and cleanup (deletionPolicy Delete) on a real node. Cleanup: a store provisioned
// and written in every layout under one index prefix is dropped entirely (indices, aliases, data stream, templates,
// lifecycle policy), twice without error, while a store under another prefix keeps its data.
import type { BackendSpec } from '../../src/api/backend-plugin.js';
import type { BackendFactory, ResourceSpans } from '../../src/storage/api/index.js';
import { newSpan } from '../../src/storage/api/index.js';
import { elasticsearchPlugin, opensearchPlugin, searchRuntimeSection } from '../../src/storage/elasticsearch/plugin.js';
import type { SearchBackend } from '../../src/storage/elasticsearch/store.js';
import { type RunningOpenSearch, startOpenSearch } from '../env/opensearch.js';

let os: RunningOpenSearch;
beforeAll(async () => {
  os = await startOpenSearch();
}, 180_000);
afterAll(async () => {
  await os?.stop();
}, 60_000);

const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
  const r = await fetch(`${os.url}${path}`, { signal: AbortSignal.timeout(15_000) });
  return { status: r.status, body: (await r.json()) as T };
};

const batch = (i: number): ResourceSpans[] => {
  const traceId = (i + 1).toString(16).padStart(32, '0');
  const start = BigInt(Date.now()) * 1_000_000n;
  const span = newSpan({ traceId, spanId: '00000000000000a1', name: 'op', startTimeUnixNano: start, endTimeUnixNano: start + 1_000_000n });
  return [{ resource: { attributes: [{ key: 'service.name', value: 'svc' }], droppedAttributesCount: 0 }, schemaUrl: '', scopeSpans: [{ scope: { name: 's', version: '', attributes: [], droppedAttributesCount: 0 }, schemaUrl: '', spans: [span] }] }];
};

async function provisionAndWrite(spec: BackendSpec<'opensearch'>, i: number): Promise<void> {
  const backend: BackendFactory = await opensearchPlugin.open(searchRuntimeSection(spec), { dataDir: '/nonexistent', env: {}, retention: '7d' });
  try {
    await backend.provision();
    await backend.traceWriter().writeTraces(batch(i));
    await (backend as SearchBackend).refresh();
  } finally {
    await backend.close();
  }
}

const indicesOf = async (prefix: string): Promise<string[]> => {
  const r = await get<{ index: string }[]>('/_cat/indices?format=json&h=index&expand_wildcards=all');
  return r.body.map((x) => x.index).filter((i) => i.startsWith(`${prefix}-`) || i.startsWith(`${prefix}.`) || i.startsWith(`.ds-${prefix}.`)).sort();
};
const templatesOf = async (prefix: string): Promise<string[]> => {
  const composable = await get<{ index_templates: { name: string }[] }>('/_index_template');
  const legacy = await get<Record<string, unknown>>('/_template');
  return [...composable.body.index_templates.map((t) => t.name), ...Object.keys(legacy.body)].filter((n) => n.startsWith(`${prefix}-`)).sort();
};

test('cleanup drops everything of its prefix in every layout and nothing of another prefix', async () => {
  const spec = (indexPrefix: string, layout: 'daily' | 'rollover' | 'dataStream'): BackendSpec<'opensearch'> => ({ endpoints: [os.url], indexPrefix, layout, shards: 1, replicas: 0 });
  let i = 0;
  for (const layout of ['daily', 'rollover', 'dataStream'] as const) await provisionAndWrite(spec('gone', layout), i++);
  await provisionAndWrite(spec('kept', 'rollover'), i++);
  await provisionAndWrite(spec('kept', 'daily'), i++);

  const goneBefore = await indicesOf('gone');
  expect(goneBefore).toEqual(expect.arrayContaining(['gone-jaeger-meta', 'gone-jaeger-sampling', 'gone-jaeger-span-000001', 'gone-jaeger-service-000001']));
  expect(goneBefore.some((x) => x.startsWith('.ds-gone.jaeger.spans'))).toBe(true);
  expect(goneBefore.some((x) => /^gone-jaeger-span-\d{4}-\d{2}-\d{2}$/.test(x))).toBe(true);
  expect((await templatesOf('gone')).length).toBeGreaterThan(0);
  const keptIndices = await indicesOf('kept');
  const keptTemplates = await templatesOf('kept');
  const keptSpans = await get<{ count: number }>('/kept-jaeger-span-*/_count');

  await opensearchPlugin.cleanup!({ spec: spec('gone', 'daily'), secrets: {} });
  expect(await indicesOf('gone')).toEqual([]);
  expect(await templatesOf('gone')).toEqual([]);
  expect((await get('/_data_stream/gone.jaeger.spans')).status).toBe(404);
  expect([400, 404]).toContain((await get('/_plugins/_ism/policies/gone-jaeger-lifecycle')).status);
  expect((await get('/_alias/gone-jaeger-span-write')).status).toBe(404);

  // idempotent: nothing left to drop is not an error
  await opensearchPlugin.cleanup!({ spec: spec('gone', 'rollover'), secrets: {} });

  expect(await indicesOf('kept')).toEqual(keptIndices);
  expect(await templatesOf('kept')).toEqual(keptTemplates);
  expect((await get<{ count: number }>('/kept-jaeger-span-*/_count')).body.count).toBe(keptSpans.body.count);
  expect(keptSpans.body.count).toBe(2);
}, 240_000);

test('check: connects, provisions and reports the schema; another product is refused before provisioning', async () => {
  const spec = { endpoints: [os.url], indexPrefix: 'checked', layout: 'rollover' as const, shards: 1, replicas: 0 };
  const ok = await opensearchPlugin.check!.run({ spec, retention: '3d', secrets: {} });
  expect(ok.reachable).toMatchObject({ status: 'True', reason: 'Connected' });
  expect(ok.reachable.message).toMatch(new RegExp(`^opensearch \\d+\\.\\d+\\.\\d+ at ${os.url}$`));
  expect(ok.schema).toMatchObject({ status: 'True', reason: 'Provisioned' });
  expect(ok.schema.message).toMatch(/^schema version 1, layout rollover, rollover and retention by (ISM|the runtime)$/);
  expect(ok.schemaVersion).toBe('1');
  expect((await get('/checked-jaeger-meta/_doc/schema')).status).toBe(200);

  const wrong = await elasticsearchPlugin.check!.run({ spec: { ...spec, indexPrefix: 'wrong' }, secrets: {} });
  expect(wrong.reachable).toMatchObject({ status: 'False', reason: 'UnsupportedVersion' });
  expect(wrong.reachable.message).toMatch(/is opensearch \d+\.\d+\.\d+, but the TraceStore says elasticsearch: use spec\.backend\.opensearch$/);
  expect(wrong.schema.status).toBe('Unknown');
  expect(await indicesOf('wrong')).toEqual([]);

  const down = await opensearchPlugin.check!.run({ spec: { endpoints: ['http://127.0.0.1:1'] }, secrets: {} });
  expect(down.reachable).toMatchObject({ status: 'False', reason: 'Unreachable' });
}, 120_000);
