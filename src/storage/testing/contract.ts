// The backend contract suite: one set of cases, written from the storage API's semantics, that every backend
// runs unchanged. A backend's test file calls runStorageContract with a function that opens the backend.
//
//   runStorageContract('memory', async () => ({ backend: new MemoryBackend({ maxTraces: 100_000 }) }));
import { type BackendFactory, type FoundTraceId, InvalidArgumentError, type SearchCapabilities, type TraceSummary, searchCapabilities, summarizeTraces, traceSummaries, type ResourceSpans, type Span, SpanKind, type TraceChunk, type TraceQuery, newSpan, serviceBatch } from '../api/index.js';
import { encodeAttributes } from '../../otlp/otlp-json.js';
import {
  BASE,
  BIG_SPANS,
  BIG_TRACE,
  DAILY_DAYS,
  type Fixtures,
  NS_PER_DAY,
  NS_PER_MS,
  NS_PER_S,
  QUEUE_TRACE,
  SEARCH_TRACES,
  SHOP_TRACE,
  ROOTLESS_TRACE,
  SUMMARY_START,
  SUMMARY_TRACE,
  dailyTraceId,
  loadFixtures,
  searchTraceId,
} from './fixtures.js';

export interface ContractCapabilities {
  /** find works without a service name */
  findWithoutServiceName?: boolean;
  /** separate tenants see separate data */
  tenancy?: boolean;
  /** false: the backend cannot purge, so the suite starts from the (empty) store as it is */
  purge?: boolean;
  /**
   * what searchCapabilities must report when it is not what the cases show (a remote reports its own): by default,
   * withoutServiceName as findWithoutServiceName and sameSpanConjunction true (the same-span cases pass)
   */
  reports?: SearchCapabilities;
}

export interface ContractOptions {
  /**
   * Cases (by their full name inside the suite, e.g. "dependencies adds written dependency links") the backend
   * cannot pass because of what it is, each with the reason: they are reported as skipped, not run.
   */
  unsupported?: Record<string, string>;
}

export interface ContractSubject {
  backend: BackendFactory;
  /** makes written data searchable (for backends that index asynchronously) */
  refresh?: () => Promise<void>;
  capabilities?: ContractCapabilities;
  close?: () => Promise<void>;
}

interface Collected {
  chunks: TraceChunk[];
  spans: Map<string, FlatSpan[]>;
  order: string[];
}

/** A span with its resource and scope, in a form that compares across backends. */
export interface FlatSpan {
  service: string;
  resource: unknown;
  scope: unknown;
  span: Span;
}

async function collect(iter: AsyncIterable<TraceChunk[]>): Promise<Collected> {
  const out: Collected = { chunks: [], spans: new Map(), order: [] };
  const finished = new Set<string>();
  let current: string | undefined;
  for await (const batch of iter) {
    for (const c of batch) {
      // chunk contract: never empty, one trace per chunk, a trace's chunks are consecutive
      const n = c.resourceSpans.reduce((a, rs) => a + rs.scopeSpans.reduce((b, ss) => b + ss.spans.length, 0), 0);
      if (n === 0) throw new Error(`empty chunk for trace ${c.traceId}`);
      if (c.traceId !== current) {
        if (finished.has(c.traceId)) throw new Error(`chunks of trace ${c.traceId} are not consecutive`);
        if (current) finished.add(current);
        current = c.traceId;
        out.order.push(c.traceId);
      }
      out.chunks.push(c);
      const list = out.spans.get(c.traceId) ?? [];
      for (const rs of c.resourceSpans)
        for (const ss of rs.scopeSpans)
          for (const s of ss.spans) {
            if (s.traceId !== c.traceId) throw new Error(`chunk of ${c.traceId} holds a span of ${s.traceId}`);
            list.push(flat(rs, ss.scope, s));
          }
      out.spans.set(c.traceId, list);
    }
  }
  return out;
}

async function summaries(iter: AsyncIterable<TraceSummary[]>): Promise<TraceSummary[]> {
  const out: TraceSummary[] = [];
  for await (const b of iter) out.push(...b);
  return out;
}

async function ids(iter: AsyncIterable<FoundTraceId[]>): Promise<FoundTraceId[]> {
  const out: FoundTraceId[] = [];
  for await (const b of iter) out.push(...b);
  return out;
}

const flat = (rs: ResourceSpans, scope: ResourceSpans['scopeSpans'][number]['scope'], span: Span): FlatSpan => ({
  service: String(rs.resource.attributes.find((a) => a.key === 'service.name')?.value ?? ''),
  resource: encodeAttributes(rs.resource.attributes),
  scope: { name: scope.name, version: scope.version, attributes: encodeAttributes(scope.attributes) },
  span,
});

function flatten(traces: ResourceSpans[], traceId?: string): FlatSpan[] {
  const out: FlatSpan[] = [];
  for (const rs of traces) for (const ss of rs.scopeSpans) for (const s of ss.spans) if (!traceId || s.traceId === traceId) out.push(flat(rs, ss.scope, s));
  return out;
}

/** Comparable JSON of spans: every field, attributes with their types, sorted by span ID. */
function comparable(spans: FlatSpan[]): unknown[] {
  return [...spans]
    .sort((a, b) => a.span.spanId.localeCompare(b.span.spanId) || a.span.startTimeUnixNano.toString().localeCompare(b.span.startTimeUnixNano.toString()))
    .map((f) => ({
      resource: f.resource,
      scope: f.scope,
      span: {
        ...f.span,
        startTimeUnixNano: f.span.startTimeUnixNano.toString(),
        endTimeUnixNano: f.span.endTimeUnixNano.toString(),
        attributes: encodeAttributes(f.span.attributes),
        events: f.span.events.map((e) => ({ ...e, timeUnixNano: e.timeUnixNano.toString(), attributes: encodeAttributes(e.attributes) })),
        links: f.span.links.map((l) => ({ ...l, attributes: encodeAttributes(l.attributes) })),
      },
    }));
}

const sorted = (xs: string[]): string[] => [...xs].sort();

export function runStorageContract(name: string, open: () => Promise<ContractSubject>, o: ContractOptions = {}): void {
  const unsupported = new Map(Object.entries(o.unsupported ?? {}));
  const groups: string[] = [];
  const describe = (group: string, fn: () => void): void =>
    globalThis.describe(group, () => {
      groups.push(group);
      fn();
      groups.pop();
    });
  const it = (title: string, fn: () => Promise<void>, timeout?: number): void => {
    const full = [...groups.slice(1), title].join(' ');
    const why = unsupported.get(full);
    if (why === undefined) globalThis.it(title, fn, timeout);
    else {
      unsupported.delete(full);
      globalThis.it.skip(`${title} (unsupported: ${why})`, fn);
    }
  };
  describe(`storage contract: ${name}`, () => {
    let subject: ContractSubject;
    let fx: Fixtures;
    let reference: Fixtures; // an untouched copy of what was written, to compare against
    let b: BackendFactory;
    const t = (authored: bigint) => fx.at(authored);
    const find = (q: Partial<TraceQuery>) => ids(b.traceReader().findTraceIds({ searchDepth: 1000, ...q }));
    const findIds = async (q: Partial<TraceQuery>) => sorted((await find(q)).map((x) => x.traceId));
    const searchWindow = () => ({ startTimeMin: t(BASE), startTimeMax: t(BASE + 3600n * NS_PER_S) });

    beforeAll(async () => {
      subject = await open();
      b = subject.backend;
      await b.provision();
      if (subject.capabilities?.purge !== false) await b.purger().purge();
      const now = BigInt(Date.now()) * NS_PER_MS;
      fx = loadFixtures(now);
      reference = loadFixtures(now);
      for (const batch of fx.batches) await b.traceWriter().writeTraces(batch.traces);
      await subject.refresh?.();
    }, 300_000);

    afterAll(async () => {
      await b?.close();
      await subject?.close?.();
    });

    const refSpans = (traceId: string) => reference.batches.flatMap((x) => flatten(x.traces, traceId));

    describe('services and operations', () => {
      it('lists every service that wrote spans', async () => {
        const services = await b.traceReader().getServices();
        for (const s of ['shop-frontend', 'shop-checkout', 'shop-payment', 'shop-db', 'mail-producer', 'mail-consumer', 'daily-service', 'search-service', 'search-backend', 'big-importer', 'big-worker']) {
          expect(services).toContain(s);
        }
      });
      it('lists each service once', async () => {
        const services = await b.traceReader().getServices();
        expect(new Set(services).size).toBe(services.length);
      });
      it('lists operations with their span kinds', async () => {
        const ops = await b.traceReader().getOperations({ service: 'shop-checkout' });
        expect(ops).toEqual(expect.arrayContaining([{ name: 'PlaceOrder', spanKind: 'server' }, { name: 'Charge', spanKind: 'client' }]));
        expect(ops).toHaveLength(2);
      });
      it('filters operations by span kind', async () => {
        expect(await b.traceReader().getOperations({ service: 'shop-payment', spanKind: 'server' })).toEqual([{ name: 'Charge', spanKind: 'server' }]);
        expect(await b.traceReader().getOperations({ service: 'shop-payment', spanKind: 'client' })).toEqual([{ name: 'SELECT accounts', spanKind: 'client' }]);
      });
      it('leaves out operations of other kinds', async () => {
        const ops = await b.traceReader().getOperations({ service: 'shop-checkout', spanKind: 'server' });
        expect(ops.map((o) => o.name)).toEqual(['PlaceOrder']);
      });
      it('reports internal, producer, consumer and unspecified kinds', async () => {
        const ops = await b.traceReader().getOperations({ service: 'mail-producer' });
        expect(ops).toEqual(expect.arrayContaining([{ name: 'send welcome', spanKind: 'producer' }, { name: 'render template', spanKind: 'internal' }, { name: 'housekeeping', spanKind: '' }]));
        expect(await b.traceReader().getOperations({ service: 'mail-consumer' })).toEqual([{ name: 'process welcome', spanKind: 'consumer' }]);
      });
      it('answers an unknown service with no operations', async () => {
        expect(await b.traceReader().getOperations({ service: 'no-such-service' })).toEqual([]);
      });
      it('answers a kind the service never used with no operations', async () => {
        expect(await b.traceReader().getOperations({ service: 'shop-db', spanKind: 'producer' })).toEqual([]);
      });
    });

    describe('get traces', () => {
      const get = (traceId: string, extra: { start?: bigint; end?: bigint } = {}) => collect(b.traceReader().getTraces([{ traceId, ...extra }]));

      it('returns a trace intact: attributes of every type, events, links, status, resource and scope', async () => {
        const got = await get(SHOP_TRACE);
        expect(comparable(got.spans.get(SHOP_TRACE) ?? [])).toEqual(comparable(refSpans(SHOP_TRACE)));
      });
      it('keeps int64, double, bool, bytes, array, kvlist and empty values typed', async () => {
        const root = (await get(SHOP_TRACE)).spans.get(SHOP_TRACE)!.find((f) => f.span.spanId === 'eee19b7ec3c1b174')!.span;
        const v = (k: string) => root.attributes.find((a) => a.key === k)?.value;
        expect(v('http.response.status_code')).toBe(200n);
        expect(v('http.server.duration_ratio')).toBe(0.25);
        expect(v('cache.hit')).toBe(false);
        expect(Buffer.from(v('request.digest') as Uint8Array).toString('hex')).toBe('deadbeef');
        expect(v('request.tags')).toEqual({ array: ['mobile', 7n] });
        expect(v('request.user')).toEqual({ kvlist: [{ key: 'tier', value: 'gold' }, { key: 'id', value: 42n }] });
        expect(v('request.empty')).toBeNull();
      });
      it('keeps span IDs, parent IDs, trace state and flags', async () => {
        const spans = (await get(SHOP_TRACE)).spans.get(SHOP_TRACE)!;
        const root = spans.find((f) => f.span.spanId === 'eee19b7ec3c1b174')!.span;
        expect(root).toMatchObject({ parentSpanId: '', traceState: 'vendor=abc', flags: 257, kind: SpanKind.Server });
        expect(spans.find((f) => f.span.spanId === '0a1b2c3d4e5f6071')!.span.parentSpanId).toBe('eee19b7ec3c1b174');
      });
      it('keeps nanosecond timestamps exactly', async () => {
        const root = (await get(SHOP_TRACE)).spans.get(SHOP_TRACE)!.find((f) => f.span.spanId === 'eee19b7ec3c1b174')!.span;
        expect(root.startTimeUnixNano).toBe(t(1767225600000000000n));
        expect(root.endTimeUnixNano - root.startTimeUnixNano).toBe(250n * NS_PER_MS);
      });
      it('returns several traces in one call', async () => {
        const got = await collect(b.traceReader().getTraces([{ traceId: SHOP_TRACE }, { traceId: QUEUE_TRACE }]));
        expect(sorted([...got.spans.keys()])).toEqual(sorted([SHOP_TRACE, QUEUE_TRACE]));
      });
      it('yields nothing, and no error, for an unknown trace ID', async () => {
        const got = await get('0123456789abcdef0123456789abcdef');
        expect(got.chunks).toEqual([]);
      });
      it('returns the known traces of a mixed request', async () => {
        const got = await collect(b.traceReader().getTraces([{ traceId: '0123456789abcdef0123456789abcdef' }, { traceId: SHOP_TRACE }]));
        expect([...got.spans.keys()]).toEqual([SHOP_TRACE]);
      });
      it('returns a trace once when asked for it twice', async () => {
        const got = await collect(b.traceReader().getTraces([{ traceId: SHOP_TRACE }, { traceId: SHOP_TRACE }]));
        expect(got.order).toEqual([SHOP_TRACE]);
        expect(got.spans.get(SHOP_TRACE)).toHaveLength(6);
      });
      it('accepts upper-case and short trace IDs (left-padded)', async () => {
        expect((await get(SHOP_TRACE.toUpperCase())).spans.get(SHOP_TRACE)).toHaveLength(6);
        const short = dailyTraceId(0).replace(/^0+/, '');
        expect(short.length).toBeLessThan(32);
        const padded = await collect(b.traceReader().getTraces([{ traceId: short }]));
        expect(padded.spans.get(dailyTraceId(0))?.length).toBe(2);
      });
      it('returns the whole trace when the time bounds cover it', async () => {
        const got = await get(SHOP_TRACE, { start: t(BASE - NS_PER_S), end: t(BASE + NS_PER_S) });
        expect(got.spans.get(SHOP_TRACE)).toHaveLength(6);
      });
      it('returns the whole trace when only part of it lies inside the bounds', async () => {
        const got = await get(SHOP_TRACE, { start: t(BASE + 30n * NS_PER_MS), end: t(BASE + NS_PER_S) });
        expect(got.spans.get(SHOP_TRACE)).toHaveLength(6);
      });
      it('returns nothing or the whole trace when the bounds miss it', async () => {
        const got = await get(SHOP_TRACE, { start: t(BASE - 2n * NS_PER_DAY), end: t(BASE - NS_PER_DAY) });
        expect([0, 6]).toContain(got.spans.get(SHOP_TRACE)?.length ?? 0);
      });
      it('joins a trace written in separate batches', async () => {
        const spans = (await get(QUEUE_TRACE)).spans.get(QUEUE_TRACE)!;
        expect(sorted(spans.map((f) => f.service))).toEqual(['mail-consumer', 'mail-producer', 'mail-producer', 'mail-producer']);
        expect(comparable(spans)).toEqual(comparable(refSpans(QUEUE_TRACE)));
      });
      it(`streams a trace of ${BIG_SPANS} spans in several consecutive chunks with every span`, async () => {
        const got = await get(BIG_TRACE);
        expect(got.chunks.length).toBeGreaterThan(1);
        const spans = got.spans.get(BIG_TRACE)!;
        expect(spans).toHaveLength(BIG_SPANS);
        expect(new Set(spans.map((f) => f.span.spanId)).size).toBe(BIG_SPANS);
      });
      it('keeps the services of a big trace apart', async () => {
        const spans = (await get(BIG_TRACE)).spans.get(BIG_TRACE)!;
        expect(spans.filter((f) => f.service === 'big-importer')).toHaveLength(1000);
        expect(spans.filter((f) => f.service === 'big-worker')).toHaveLength(BIG_SPANS - 1000);
      });
      it('rejects an invalid trace ID naming it', async () => {
        await expect(collect(b.traceReader().getTraces([{ traceId: SHOP_TRACE }, { traceId: 'not-hex' }]))).rejects.toThrow(/traceIds\[1\].*not a trace ID/);
        await expect(collect(b.traceReader().getTraces([{ traceId: '0'.repeat(32) }]))).rejects.toBeInstanceOf(InvalidArgumentError);
        await expect(collect(b.traceReader().getTraces([{ traceId: 'f'.repeat(33) }]))).rejects.toBeInstanceOf(InvalidArgumentError);
      });
      it('rejects inverted time bounds', async () => {
        await expect(get(SHOP_TRACE, { start: t(BASE + NS_PER_S), end: t(BASE) })).rejects.toThrow(/inverted/);
      });
    });

    describe('find traces', () => {
      it('finds by service', async () => {
        expect(await findIds({ serviceName: 'shop-payment' })).toEqual([SHOP_TRACE]);
        expect(await findIds({ serviceName: 'search-service', ...searchWindow() })).toHaveLength(SEARCH_TRACES);
      });
      it('finds by service and operation', async () => {
        expect(await findIds({ serviceName: 'shop-payment', operationName: 'Charge' })).toEqual([SHOP_TRACE]);
        expect(await findIds({ serviceName: 'shop-payment', operationName: 'PlaceOrder' })).toEqual([]);
      });
      it('matches service and operation on the same span', async () => {
        // PlaceOrder exists, but in shop-checkout, not in shop-frontend
        expect(await findIds({ serviceName: 'shop-frontend', operationName: 'PlaceOrder' })).toEqual([]);
      });
      it('finds by a string span attribute', async () => {
        expect(await findIds({ serviceName: 'shop-checkout', attributes: { 'order.currency': 'EUR' } })).toEqual([SHOP_TRACE]);
      });
      it('finds by an int attribute', async () => {
        expect(await findIds({ serviceName: 'search-service', attributes: { idx: 7n } })).toEqual([searchTraceId(7)]);
      });
      it('finds by an int attribute given as a string', async () => {
        expect(await findIds({ serviceName: 'search-service', attributes: { idx: '7' } })).toEqual([searchTraceId(7)]);
      });
      it('finds by a double attribute', async () => {
        expect(await findIds({ serviceName: 'search-service', attributes: { weight: 2.5 } })).toEqual([searchTraceId(5)]);
      });
      it('finds by a bool attribute', async () => {
        const want = Array.from({ length: SEARCH_TRACES }, (_, i) => i).filter((i) => i % 5 === 0).map(searchTraceId);
        expect(await findIds({ serviceName: 'search-service', attributes: { flagged: true } })).toEqual(sorted(want));
      });
      it('finds by a resource attribute', async () => {
        expect(await findIds({ serviceName: 'shop-payment', attributes: { 'k8s.pod.name': 'payment-7d9f' } })).toEqual([SHOP_TRACE]);
      });
      it('finds by a resource.-prefixed key', async () => {
        expect(await findIds({ serviceName: 'shop-frontend', attributes: { 'resource.deployment.environment': 'prod' } })).toEqual([SHOP_TRACE]);
        expect(await findIds({ serviceName: 'shop-frontend', attributes: { 'resource.deployment.environment': 'dev' } })).toEqual([]);
      });
      it('finds by a scope attribute and by scope.name / scope.version', async () => {
        expect(await findIds({ serviceName: 'shop-frontend', attributes: { 'scope.owner': 'web-team' } })).toEqual([SHOP_TRACE]);
        expect(await findIds({ serviceName: 'shop-db', attributes: { 'scope.name': 'postgres-tracer' } })).toEqual([SHOP_TRACE]);
        expect(await findIds({ serviceName: 'shop-frontend', attributes: { 'scope.version': '1.2.3' } })).toEqual([SHOP_TRACE]);
      });
      it('finds by an event attribute', async () => {
        expect(await findIds({ serviceName: 'shop-payment', attributes: { 'exception.type': 'CardDeclined' } })).toEqual([SHOP_TRACE]);
      });
      it('finds by a link attribute', async () => {
        expect(await findIds({ serviceName: 'shop-frontend', attributes: { 'link.reason': 'retry-of' } })).toEqual([SHOP_TRACE]);
      });
      it('finds by span.kind', async () => {
        expect(await findIds({ serviceName: 'mail-consumer', attributes: { 'span.kind': 'consumer' } })).toEqual([QUEUE_TRACE]);
        expect(await findIds({ serviceName: 'mail-consumer', attributes: { 'span.kind': 'server' } })).toEqual([]);
      });
      it('finds by span.status', async () => {
        expect(await findIds({ serviceName: 'shop-payment', attributes: { 'span.status': 'error' } })).toEqual([SHOP_TRACE]);
        expect(await findIds({ serviceName: 'shop-frontend', attributes: { 'span.status': 'ok' } })).toEqual([SHOP_TRACE]);
        expect(await findIds({ serviceName: 'shop-db', attributes: { 'span.status': 'ok' } })).toEqual([]);
      });
      it('finds by error=true and error=false', async () => {
        const errors = Array.from({ length: SEARCH_TRACES }, (_, i) => i).filter((i) => i % 3 === 0).map(searchTraceId);
        expect(await findIds({ serviceName: 'search-service', attributes: { error: true } })).toEqual(sorted(errors));
        expect(await findIds({ serviceName: 'search-service', attributes: { error: 'false' } })).toHaveLength(SEARCH_TRACES - errors.length);
      });
      it('requires every attribute on one span', async () => {
        expect(await findIds({ serviceName: 'search-service', attributes: { parity: 'odd', idx: 3n } })).toEqual([searchTraceId(3)]);
        expect(await findIds({ serviceName: 'search-service', attributes: { parity: 'even', idx: 3n } })).toEqual([]);
      });
      it('does not join attributes found on different spans', async () => {
        // order.currency is on PlaceOrder, payment.provider on Charge: no single span has both
        expect(await findIds({ serviceName: 'shop-checkout', attributes: { 'order.currency': 'EUR', 'payment.provider': 'acme-pay' } })).toEqual([]);
      });
      it('finds by minimum duration', async () => {
        const got = await findIds({ serviceName: 'search-service', operationName: 'search', durationMin: 25n * NS_PER_MS });
        expect(got).toEqual(sorted([24, 25, 26, 27, 28, 29].map(searchTraceId)));
      });
      it('finds by maximum duration', async () => {
        expect(await findIds({ serviceName: 'search-service', operationName: 'search', durationMax: 2n * NS_PER_MS })).toEqual(sorted([0, 1].map(searchTraceId)));
      });
      it('finds by a duration range, both ends inclusive', async () => {
        expect(await findIds({ serviceName: 'search-service', durationMin: 10n * NS_PER_MS, durationMax: 12n * NS_PER_MS })).toEqual(sorted([9, 10, 11].map(searchTraceId)));
      });
      it('finds by a start time range', async () => {
        const got = await findIds({ serviceName: 'search-service', startTimeMin: t(BASE + 1800n * NS_PER_S + 10n * NS_PER_S), startTimeMax: t(BASE + 1800n * NS_PER_S + 12n * NS_PER_S + 500_000_000n) });
        expect(got).toEqual(sorted([10, 11, 12].map(searchTraceId)));
      });
      it('includes spans starting exactly at either edge of the range', async () => {
        const at = t(BASE + 1800n * NS_PER_S + 20n * NS_PER_S);
        expect(await findIds({ serviceName: 'search-service', operationName: 'search', startTimeMin: at, startTimeMax: at })).toEqual([searchTraceId(20)]);
      });
      it('excludes spans one nanosecond outside the range', async () => {
        const at = t(BASE + 1800n * NS_PER_S + 20n * NS_PER_S);
        expect(await findIds({ serviceName: 'search-service', operationName: 'search', startTimeMin: at + 1n, startTimeMax: at + 999_999_999n })).toEqual([]);
        expect(await findIds({ serviceName: 'search-service', operationName: 'search', startTimeMin: at - 999_999_999n, startTimeMax: at - 1n })).toEqual([]);
      });
      it('selects one day out of traces spread over several days', async () => {
        for (let day = 0; day < DAILY_DAYS; day++) {
          const dayStart = t(BASE - BigInt(DAILY_DAYS - 1 - day) * NS_PER_DAY);
          expect(await findIds({ serviceName: 'daily-service', startTimeMin: dayStart, startTimeMax: dayStart + NS_PER_DAY - 1n })).toEqual([dailyTraceId(day)]);
        }
        expect(await findIds({ serviceName: 'daily-service', startTimeMin: t(BASE - 10n * NS_PER_DAY), startTimeMax: t(BASE + NS_PER_DAY) })).toHaveLength(DAILY_DAYS);
      });
      it('limits the results to searchDepth', async () => {
        expect(await find({ serviceName: 'search-service', searchDepth: 5 })).toHaveLength(5);
        expect(await find({ serviceName: 'search-service', searchDepth: 1 })).toHaveLength(1);
      });
      it('combines service, operation, attributes, duration and time', async () => {
        const got = await findIds({
          serviceName: 'search-service',
          operationName: 'search',
          attributes: { parity: 'even', error: false },
          durationMin: 10n * NS_PER_MS,
          durationMax: 20n * NS_PER_MS,
          ...searchWindow(),
        });
        // even i with duration (i+1) ms in [10, 20] and i % 3 != 0
        expect(got).toEqual(sorted([10, 14, 16].map(searchTraceId)));
      });
      it('answers a query that matches nothing with nothing', async () => {
        expect(await find({ serviceName: 'search-service', attributes: { parity: 'prime' } })).toEqual([]);
        expect(await find({ serviceName: 'no-such-service' })).toEqual([]);
      });
      it('gives time hints with found trace IDs', async () => {
        const [hit] = await find({ serviceName: 'shop-db' });
        expect(hit?.traceId).toBe(SHOP_TRACE);
        if (hit?.start !== undefined) expect(hit.start).toBeLessThanOrEqual(t(BASE));
        if (hit?.end !== undefined) expect(hit.end).toBeGreaterThanOrEqual(t(BASE + 250n * NS_PER_MS));
      });
      it('returns whole traces from findTraces, not only the matching spans', async () => {
        const got = await collect(b.traceReader().findTraces({ serviceName: 'shop-db', searchDepth: 10 }));
        expect([...got.spans.keys()]).toEqual([SHOP_TRACE]);
        expect(got.spans.get(SHOP_TRACE)).toHaveLength(6);
      });
      it('returns the same traces from findTraces as from findTraceIds', async () => {
        const q = { serviceName: 'search-service', attributes: { parity: 'odd' }, searchDepth: 100 };
        const got = await collect(b.traceReader().findTraces(q));
        expect(sorted([...got.spans.keys()])).toEqual(await findIds(q));
      });
      it('streams a big trace found by findTraces in consecutive chunks', async () => {
        const got = await collect(b.traceReader().findTraces({ serviceName: 'big-importer', searchDepth: 10 }));
        expect(got.spans.get(BIG_TRACE)).toHaveLength(BIG_SPANS);
      });
      it('finds without a service name where supported, and otherwise says a service name is required', async () => {
        const q = { attributes: { 'exception.type': 'CardDeclined' } };
        if (subject.capabilities?.findWithoutServiceName) expect(await findIds(q)).toEqual([SHOP_TRACE]);
        else await expect(find(q)).rejects.toBeInstanceOf(InvalidArgumentError);
      });
    });

    describe('trace summaries', () => {
      const window = () => ({ startTimeMin: t(BASE), startTimeMax: t(BASE + 3600n * NS_PER_S) });
      const summaryOf = async (traceId: string, q: Partial<TraceQuery> = { serviceName: 'sum-back' }) =>
        (await summaries(traceSummaries(b.traceReader(), { searchDepth: 10, ...window(), ...q }))).find((x) => x.traceId === traceId);
      const S = () => t(SUMMARY_START);
      it('summarises every field of a trace whose root was written after its children', async () => {
        expect(await summaryOf(SUMMARY_TRACE)).toEqual({
          traceId: SUMMARY_TRACE,
          rootServiceName: 'sum-front',
          rootOperationName: 'checkout',
          minStartTimeUnixNano: S() - 5n * NS_PER_MS,
          maxEndTimeUnixNano: S() + 205n * NS_PER_MS,
          spanCount: 6,
          errorSpanCount: 2,
          orphanSpanCount: 2,
          services: [
            { name: 'sum-back', spanCount: 3, errorSpanCount: 1 },
            { name: 'sum-db', spanCount: 2, errorSpanCount: 1 },
            { name: 'sum-front', spanCount: 1, errorSpanCount: 0 },
          ],
        });
      });
      it('counts the whole trace, not only the spans that matched', async () => {
        expect(await summaryOf(SUMMARY_TRACE, { serviceName: 'sum-db', operationName: 'query' })).toMatchObject({ spanCount: 6, rootServiceName: 'sum-front' });
      });
      it('names the earliest orphan as the root of a trace without a parentless span', async () => {
        expect(await summaryOf(ROOTLESS_TRACE)).toEqual({
          traceId: ROOTLESS_TRACE,
          rootServiceName: 'sum-db',
          rootOperationName: 'tick',
          minStartTimeUnixNano: S() + 999n * NS_PER_MS,
          maxEndTimeUnixNano: S() + 1001n * NS_PER_MS,
          spanCount: 2,
          errorSpanCount: 0,
          orphanSpanCount: 2,
          services: [
            { name: 'sum-back', spanCount: 1, errorSpanCount: 0 },
            { name: 'sum-db', spanCount: 1, errorSpanCount: 0 },
          ],
        });
      });
      it('summarises the traces findTraces returns, as the shared rules compute them', async () => {
        const q = { serviceName: 'search-service', ...window(), searchDepth: 7 };
        const byId = (xs: TraceSummary[]) => [...xs].sort((a, c) => a.traceId.localeCompare(c.traceId));
        const got = await summaries(traceSummaries(b.traceReader(), q));
        const reference = await summaries(summarizeTraces(b.traceReader().findTraces(q)));
        expect(got).toHaveLength(7);
        expect(byId(got)).toEqual(byId(reference));
        expect(got.every((x) => x.rootOperationName === 'search' && x.spanCount === 2 && x.orphanSpanCount === 0)).toBe(true);
      });
      it('summarises a big trace streamed in many chunks once', async () => {
        const got = await summaries(traceSummaries(b.traceReader(), { serviceName: 'big-worker', searchDepth: 10 }));
        expect(got.map((x) => [x.traceId, x.spanCount, x.rootOperationName])).toEqual([[BIG_TRACE, BIG_SPANS, 'bulk import']]);
      });
      it('counts a span written twice (a retried batch) once', async () => {
        const again = loadFixtures(fx.shift + BASE + 3n * 3600n * NS_PER_S).batches.find((x) => x.name === 'summary-root')!.traces;
        expect(again[0]!.scopeSpans[0]!.spans[0]!.startTimeUnixNano).toBe(S());
        // with a span of another trace, so that no backend drops the batch as a whole as already written
        const other = serviceBatch('sum-other', [newSpan({ traceId: '5a11a11a0000000000000000000000ff', spanId: '5a11a11a000000ff', name: 'x', kind: SpanKind.Internal, startTimeUnixNano: S(), endTimeUnixNano: S() + 1n })]);
        await b.traceWriter().writeTraces([...again, other]);
        await subject.refresh?.();
        expect(await summaryOf(SUMMARY_TRACE)).toMatchObject({ spanCount: 6, services: expect.arrayContaining([{ name: 'sum-front', spanCount: 1, errorSpanCount: 0 }]) });
      });
      it('answers a search that matches nothing with no summaries', async () => {
        expect(await summaries(traceSummaries(b.traceReader(), { serviceName: 'no-such-service', searchDepth: 10 }))).toEqual([]);
      });
      it('reports what its search serves', async () => {
        const want = subject.capabilities?.reports ?? { withoutServiceName: !!subject.capabilities?.findWithoutServiceName, sameSpanConjunction: true };
        expect(await searchCapabilities(b.traceReader())).toEqual(want);
      });
    });

    describe('bad queries', () => {
      it('rejects an inverted time range', async () => {
        await expect(find({ serviceName: 'x', startTimeMin: t(BASE + NS_PER_S), startTimeMax: t(BASE) })).rejects.toThrow(/startTimeMin.*inverted/);
      });
      it('rejects negative durations', async () => {
        await expect(find({ serviceName: 'x', durationMin: -1n })).rejects.toThrow(/durationMin: must not be negative/);
        await expect(find({ serviceName: 'x', durationMax: -5n })).rejects.toThrow(/durationMax: must not be negative/);
      });
      it('rejects a minimum duration above the maximum', async () => {
        await expect(find({ serviceName: 'x', durationMin: 10n, durationMax: 5n })).rejects.toThrow(/durationMin: must not exceed durationMax/);
      });
      it('rejects absurd search depths', async () => {
        for (const searchDepth of [0, -1, 1.5, 1e9, 10_001, NaN]) await expect(find({ serviceName: 'x', searchDepth })).rejects.toThrow(/searchDepth: must be an integer/);
      });
      it('rejects time bounds and durations beyond int64 nanoseconds', async () => {
        await expect(find({ serviceName: 'x', startTimeMax: 2n ** 63n })).rejects.toThrow(/startTimeMax: is out of range/);
        await expect(find({ serviceName: 'x', startTimeMin: -(2n ** 63n) - 1n })).rejects.toThrow(/startTimeMin: is out of range/);
        await expect(find({ serviceName: 'x', durationMax: 2n ** 64n })).rejects.toThrow(/durationMax: is too long/);
      });
      it('rejects an empty attribute key', async () => {
        await expect(find({ serviceName: 'x', attributes: { '': 'v' } })).rejects.toBeInstanceOf(InvalidArgumentError);
      });
    });

    describe('writes', () => {
      const one = (traceId: string, spanId: string, extra: Partial<Span> = {}): ResourceSpans[] => [
        serviceBatch('write-checks', [newSpan({ traceId, spanId, name: 'w', kind: SpanKind.Internal, startTimeUnixNano: t(BASE), endTimeUnixNano: t(BASE + NS_PER_MS), ...extra })]),
      ];
      const good = 'c0ffee00000000000000000000000001';

      it('rejects a batch with an invalid trace ID and writes none of it', async () => {
        const batch = [...one(good, 'c0ffee0000000001'), ...one('XYZ', 'c0ffee0000000002')];
        await expect(b.traceWriter().writeTraces(batch)).rejects.toThrow(/resourceSpans\[1\].scopeSpans\[0\].spans\[0\].traceId/);
        await subject.refresh?.();
        expect((await collect(b.traceReader().getTraces([{ traceId: good }]))).chunks).toEqual([]);
      });
      it('rejects an invalid span ID', async () => {
        await expect(b.traceWriter().writeTraces(one(good, '123'))).rejects.toThrow(/spanId/);
      });
      it('rejects a span that ends before it starts', async () => {
        await expect(b.traceWriter().writeTraces(one(good, 'c0ffee0000000003', { endTimeUnixNano: t(BASE) - 1n }))).rejects.toThrow(/endTimeUnixNano/);
      });
      it('stores a span written twice without losing it', async () => {
        const id = 'c0ffee00000000000000000000000002';
        await b.traceWriter().writeTraces(one(id, 'c0ffee0000000004'));
        await b.traceWriter().writeTraces(one(id, 'c0ffee0000000004'));
        await subject.refresh?.();
        const spans = (await collect(b.traceReader().getTraces([{ traceId: id }]))).spans.get(id)!;
        expect(spans.length).toBeGreaterThanOrEqual(1);
        expect(new Set(spans.map((f) => f.span.spanId))).toEqual(new Set(['c0ffee0000000004']));
      });
    });

    describe('dependencies', () => {
      const all = () => b.dependencyReader().getDependencies({ start: t(BASE - 10n * NS_PER_DAY), end: t(BASE + NS_PER_DAY) });

      it('derives parent -> child service edges with call counts', async () => {
        const deps = await all();
        const edge = (parent: string, child: string) => deps.find((d) => d.parent === parent && d.child === child)?.callCount;
        expect(edge('shop-frontend', 'shop-checkout')).toBe(1);
        expect(edge('shop-checkout', 'shop-payment')).toBe(1);
        expect(edge('shop-payment', 'shop-db')).toBe(1);
        expect(edge('mail-producer', 'mail-consumer')).toBe(1);
        expect(edge('search-service', 'search-backend')).toBe(SEARCH_TRACES);
      });
      it('has no edge from a service to itself', async () => {
        expect((await all()).filter((d) => d.parent === d.child)).toEqual([]);
      });
      it('leaves out traces outside the window', async () => {
        const deps = await b.dependencyReader().getDependencies({ start: t(BASE - 10n * NS_PER_DAY), end: t(BASE - 5n * NS_PER_DAY) });
        expect(deps).toEqual([]);
      });
      it('adds written dependency links', async () => {
        const at = t(BASE - 7n * NS_PER_DAY);
        await b.dependencyWriter().writeDependencies(at, [{ parent: 'batch-a', child: 'batch-b', callCount: 42 }]);
        const deps = await b.dependencyReader().getDependencies({ start: at - NS_PER_S, end: at + NS_PER_S });
        expect(deps).toEqual([expect.objectContaining({ parent: 'batch-a', child: 'batch-b', callCount: 42 })]);
      });
      it('rejects an inverted window', async () => {
        await expect(b.dependencyReader().getDependencies({ start: t(BASE), end: t(BASE) - 1n })).rejects.toThrow(/inverted/);
      });
    });

    describe('sampling store', () => {
      const s = () => b.samplingStore();
      const T0 = BASE - 20n * NS_PER_DAY; // far from other data

      it('returns throughput inserted within the window', async () => {
        await s().insertThroughput(T0, [{ service: 'svc', operation: 'op', count: 12, probabilities: [0.5] }]);
        await s().insertThroughput(T0 + 60n * NS_PER_S, [{ service: 'svc', operation: 'op', count: 3, probabilities: [0.25] }]);
        const got = await s().getThroughput({ start: T0, end: T0 + 60n * NS_PER_S });
        expect(got.map((x) => x.count).sort((a, c) => a - c)).toEqual([3, 12]);
      });
      it('leaves out throughput outside the window', async () => {
        const got = await s().getThroughput({ start: T0 + NS_PER_S, end: T0 + 59n * NS_PER_S });
        expect(got).toEqual([]);
      });
      it('returns the latest probabilities', async () => {
        await s().insertProbabilitiesAndQps('host-a', T0, { svc: { op: 0.1 } }, { svc: { op: 5 } });
        await s().insertProbabilitiesAndQps('host-a', T0 + NS_PER_S, { svc: { op: 0.2 } }, { svc: { op: 6 } });
        expect(await s().getLatestProbabilities()).toEqual({ svc: { op: 0.2 } });
      });
      it('lets one holder take a lock and refuses a second', async () => {
        expect(await b.lock().acquire('adaptive', 'replica-1', 10_000)).toBe(true);
        expect(await b.lock().acquire('adaptive', 'replica-2', 10_000)).toBe(false);
      });
      it('renews a lock for its holder', async () => {
        expect(await b.lock().acquire('adaptive', 'replica-1', 10_000)).toBe(true);
      });
      it('releases a lock on forfeit, only for its holder', async () => {
        expect(await b.lock().forfeit('adaptive', 'replica-2')).toBe(false);
        expect(await b.lock().forfeit('adaptive', 'replica-1')).toBe(true);
        expect(await b.lock().acquire('adaptive', 'replica-2', 10_000)).toBe(true);
        await b.lock().forfeit('adaptive', 'replica-2');
      });
      it('hands an expired lock to the next holder', async () => {
        // a TTL well above one request's time on a loaded machine, so the second try surely comes before it expires
        expect(await b.lock().acquire('expiring', 'replica-1', 1000)).toBe(true);
        expect(await b.lock().acquire('expiring', 'replica-2', 1000)).toBe(false);
        await new Promise((r) => setTimeout(r, 1300));
        expect(await b.lock().acquire('expiring', 'replica-2', 1000)).toBe(true);
      });
      it('never lets two concurrent contenders hold a lock at once', async () => {
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => b.lock().acquire('contended', `replica-${i}`, 10_000)));
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('tenancy', () => {
      it('keeps tenants apart', async () => {
        if (!subject.capabilities?.tenancy) return;
        const other = { tenant: 'tenant-b' };
        expect(await b.traceReader().getServices(other)).toEqual([]);
        expect((await collect(b.traceReader().getTraces([{ traceId: SHOP_TRACE }], other))).chunks).toEqual([]);
        const fresh = loadFixtures().batches.find((x) => x.name === 'shop')!.traces;
        await b.traceWriter().writeTraces(fresh, other);
        await subject.refresh?.();
        expect(await b.traceReader().getServices(other)).toEqual(sorted(['shop-frontend', 'shop-checkout', 'shop-payment', 'shop-db']));
      });
    });

    describe('purge', () => {
      it('deletes every trace and service', async () => {
        await b.purger().purge();
        await subject.refresh?.();
        expect(await b.traceReader().getServices()).toEqual([]);
        expect((await collect(b.traceReader().getTraces([{ traceId: SHOP_TRACE }, { traceId: BIG_TRACE }]))).chunks).toEqual([]);
        expect(await find({ serviceName: 'search-service' })).toEqual([]);
      });
    });

    // a listed case that names nothing in the suite is a typo that would silently run nothing
    globalThis.it('lists only cases that exist as unsupported', () => {
      expect([...unsupported.keys()]).toEqual([]);
    });
  });
}
