// Rollover and retention done by the runtime where no server policy does them (OpenSearch without ISM,
// Elasticsearch without ILM): daily indices past the retention are deleted, rollover write targets and data streams
// roll over after maxAge, and no write index is ever deleted; data stays readable through the read alias.
import { newSpan, serviceBatch } from '../../src/storage/api/index.js';
import { SearchBackend } from '../../src/storage/elasticsearch/store.js';
import { startElasticsearch } from '../env/elasticsearch.js';
import { startOpenSearch } from '../env/opensearch.js';

interface Server {
  url: string;
  stop(): Promise<void>;
}

const DAY = 86_400_000_000_000n;
const span = (traceId: string, at: bigint) => serviceBatch('maint', [newSpan({ traceId, spanId: '00000000000000a1', name: 'op', startTimeUnixNano: at, endTimeUnixNano: at + 1000n })]);
const indices = async (os: Server, pattern: string): Promise<string[]> =>
  ((await (await fetch(`${os.url}/_cat/indices/${pattern}?format=json&h=index&expand_wildcards=all`)).json()) as { index: string }[]).map((r) => r.index).sort();
const traceCount = async (b: SearchBackend, ids: string[]) => {
  let n = 0;
  for await (const chunk of b.traceReader().getTraces(ids.map((traceId) => ({ traceId })))) n += chunk.length;
  return n;
};

const PRODUCTS = [
  { type: 'opensearch', start: () => startOpenSearch(), dataStreams: true },
  { type: 'elasticsearch', start: () => startElasticsearch(), dataStreams: false },
] as const;

describe.each(PRODUCTS)('index maintenance by the runtime: $type', ({ type, start, dataStreams }) => {
  let os: Server;
  beforeAll(async () => {
    os = await start();
  }, 120_000);
  afterAll(async () => os?.stop());

  it('deletes daily indices older than the retention and keeps the rest', async () => {
    const b = new SearchBackend(type, { endpoints: [os.url], indexPrefix: 'ret', layout: 'daily', shards: 1, replicas: 0, retention: '7d' });
    await b.provision();
    expect(b.provisioned?.lifecycle).toBe('runtime');
    const now = BigInt(Date.now()) * 1_000_000n;
    await b.traceWriter().writeTraces([span('0000000000000000000000000000000a', now - 10n * DAY)]);
    await b.traceWriter().writeTraces([span('0000000000000000000000000000000b', now)]);
    const before = await indices(os, 'ret-jaeger-span-*');
    expect(before).toHaveLength(2);
    const done = await b.maintain();
    expect(done).toEqual(expect.arrayContaining([`deleted ${before[0]}`]));
    expect(await indices(os, 'ret-jaeger-span-*')).toEqual([before[1]]);
    await b.refresh();
    expect(await traceCount(b, ['0000000000000000000000000000000a', '0000000000000000000000000000000b'])).toBe(1);
    await b.close();
  });

  it('rolls rollover aliases over after maxAge and keeps reading through the read alias', async () => {
    const b = new SearchBackend(type, { endpoints: [os.url], indexPrefix: 'roll', layout: 'rollover', shards: 1, replicas: 0, rolloverMaxAge: '1s' });
    await b.provision();
    expect(b.provisioned?.lifecycle).toBe('runtime');
    const now = BigInt(Date.now()) * 1_000_000n;
    await b.traceWriter().writeTraces([span('0000000000000000000000000000000c', now)]);
    await new Promise((r) => setTimeout(r, 1500));
    const done = await b.maintain();
    expect(done).toEqual(expect.arrayContaining(['rolled roll-jaeger-span-write over to roll-jaeger-span-000002']));
    await b.traceWriter().writeTraces([span('0000000000000000000000000000000d', now)]);
    expect(await indices(os, 'roll-jaeger-span-0*')).toEqual(['roll-jaeger-span-000001', 'roll-jaeger-span-000002']);
    await b.refresh();
    expect(await traceCount(b, ['0000000000000000000000000000000c', '0000000000000000000000000000000d'])).toBe(2);
    await b.close();
  });

  // Elasticsearch here has no data streams: its refusal of that layout is in storage-elasticsearch.test.ts
  if (dataStreams)
    it('rolls a data stream over and deletes old backing indices, never the write index', async () => {
    const b = new SearchBackend(type, { endpoints: [os.url], indexPrefix: 'dsret', layout: 'dataStream', shards: 1, replicas: 0, rolloverMaxAge: '1s', retention: '2s' });
    await b.provision();
    const now = BigInt(Date.now()) * 1_000_000n;
    await b.traceWriter().writeTraces([span('0000000000000000000000000000000e', now)]);
    await new Promise((r) => setTimeout(r, 2500));
    await b.maintain(); // rolls over; the first backing index is now old enough to go
    const backing = await indices(os, '.ds-dsret.jaeger.spans-*');
    expect(backing).toHaveLength(1);
    expect(backing[0]).toMatch(/-000002$/);
    await b.traceWriter().writeTraces([span('0000000000000000000000000000000f', now)]);
    await new Promise((r) => setTimeout(r, 2500));
    const done = await b.maintain();
    expect(done.some((d) => d.startsWith('rolled dsret.jaeger.spans'))).toBe(true);
    // the write index of the moment survives, whatever its age
    expect((await indices(os, '.ds-dsret.jaeger.spans-*')).some((i) => i.endsWith('-000003'))).toBe(true);
    await b.close();
  });
});
