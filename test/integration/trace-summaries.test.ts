// Trace summaries and search capabilities on every surface of the runtime: jaeger.api_v3.QueryService /
// Capabilities over gRPC and HTTP, and jaeger.storage.v2 TraceReader / Capabilities on the remote-storage port.
// The gRPC clients are built by @grpc/proto-loader from the published jaeger-idl protos (test/env/fetch-protos.sh),
// independent of the runtime's own codec. The same data must give the same summaries everywhere, equal to the
// shared rules applied to the written spans; a client of ours (the grpc backend) reads them back too.
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { type ResourceSpans, type TraceSummary, TraceSummarizer, searchCapabilities, traceSummaries } from '../../src/storage/api/index.js';
import { GrpcBackend } from '../../src/storage/grpc/store.js';
import { BASE, NS_PER_S, ROOTLESS_TRACE, SUMMARY_TRACE, loadFixtures } from '../../src/storage/testing/fixtures.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { loadService } from '../env/protos.js';
import { loopbackRuntimeConfig, waitFor } from '../helpers.js';

type UnaryMethod = (req: object, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res?: unknown) => void) => void;
type StreamMethod = (req: object, opts: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;

/** TraceSummary as proto-loader decodes it (snake_case, 64-bit integers as strings, defaults present) */
interface PSummary {
  trace_id: string | Buffer;
  root_service_name: string;
  root_operation_name: string;
  min_start_time_unix_nano: string;
  max_end_time_unix_nano: string;
  span_count: number;
  error_span_count: number;
  orphan_span_count: number;
  services: { name: string; span_count: number; error_span_count: number }[];
}

let rt: RunningRuntime;
let query: grpc.Client;
let queryCaps: grpc.Client;
let storage: grpc.Client;
let storageCaps: grpc.Client;
let fx: ReturnType<typeof loadFixtures>;
const options = { keepCase: true, longs: String, defaults: true };

beforeAll(async () => {
  rt = await startRuntime(loopbackRuntimeConfig({ backend: { memory: { maxTraces: 10_000 } }, ingest: { batchAgeMs: 20 } }), pino({ level: 'silent' }));
  const addr = (port: number) => `127.0.0.1:${port}`;
  const make = (file: string, service: string, port: number) => new (loadService(file, service, options))(addr(port), grpc.credentials.createInsecure());
  query = make('api_v3/query_service.proto', 'jaeger.api_v3.QueryService', rt.ports.queryGrpc);
  queryCaps = make('api_v3/capabilities.proto', 'jaeger.api_v3.Capabilities', rt.ports.queryGrpc);
  storage = make('storage/v2/trace_storage.proto', 'jaeger.storage.v2.TraceReader', rt.ports.remoteStorage);
  storageCaps = make('storage/v2/capabilities.proto', 'jaeger.storage.v2.Capabilities', rt.ports.remoteStorage);
  fx = loadFixtures();
  for (const name of ['summary-children', 'search', 'summary-root']) {
    const traces = fx.batches.find((b) => b.name === name)!.traces;
    const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(encodeTracesJson(traces)) });
    expect(r.status).toBe(200);
  }
  await waitFor('the summary trace with its root', async () => ((await httpSummaries(`query.service_name=sum-back&${windowParams()}`)).summaries.find((s) => s.traceId === SUMMARY_TRACE)?.spanCount === 6 ? true : undefined), 20_000, 50);
}, 60_000);

afterAll(async () => {
  for (const c of [query, queryCaps, storage, storageCaps]) c?.close();
  await rt?.stop();
});

const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 30_000 });
const startNs = () => fx.at(BASE);
const endNs = () => fx.at(BASE + 3600n * NS_PER_S);
const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();
const windowParams = () => `query.start_time_min=${iso(startNs())}&query.start_time_max=${iso(endNs())}`;
const ts = (ns: bigint) => ({ seconds: String(ns / NS_PER_S), nanos: Number(ns % NS_PER_S) });
const grpcQuery = (extra: object = {}) => ({ query: { service_name: 'sum-back', start_time_min: ts(startNs()), start_time_max: ts(endNs()), ...extra } });

function unary<T>(client: grpc.Client, name: string, req: object): Promise<T> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[name]!.bind(client);
  return new Promise((resolve, reject) => fn(req, deadline(), (e, res) => (e ? reject(e) : resolve(res as T))));
}

function streamed<T>(client: grpc.Client, name: string, req: object): Promise<{ messages: T[]; error?: grpc.ServiceError }> {
  const call = (client as unknown as Record<string, StreamMethod>)[name]!.call(client, req, deadline());
  const messages: T[] = [];
  return new Promise((resolve) => {
    call.on('data', (m: T) => messages.push(m));
    call.on('error', (error: grpc.ServiceError) => resolve({ messages, error }));
    call.on('end', () => resolve({ messages }));
  });
}

interface JsonSummary {
  traceId: string;
  spanCount: number;
  [k: string]: unknown;
}
async function httpSummaries(params: string): Promise<{ summaries: JsonSummary[]; status: number; body: unknown }> {
  const r = await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/v3/trace-summaries?${params}`);
  const body = (await r.json()) as { summaries?: JsonSummary[] };
  return { summaries: body.summaries ?? [], status: r.status, body };
}

/** one comparable form for the storage API's, proto-loader's and the HTTP JSON summaries */
const fromApi = (s: TraceSummary) => ({ ...s, minStartTimeUnixNano: String(s.minStartTimeUnixNano), maxEndTimeUnixNano: String(s.maxEndTimeUnixNano) });
const fromProto = (s: PSummary) => ({
  traceId: typeof s.trace_id === 'string' ? s.trace_id : s.trace_id.toString('hex'),
  rootServiceName: s.root_service_name,
  rootOperationName: s.root_operation_name,
  minStartTimeUnixNano: s.min_start_time_unix_nano,
  maxEndTimeUnixNano: s.max_end_time_unix_nano,
  spanCount: s.span_count,
  errorSpanCount: s.error_span_count,
  orphanSpanCount: s.orphan_span_count,
  services: s.services.map((x) => ({ name: x.name, spanCount: x.span_count, errorSpanCount: x.error_span_count })),
});
const byId = <T extends { traceId: string }>(xs: T[]) => [...xs].sort((a, b) => a.traceId.localeCompare(b.traceId));

/** what the shared rules make of the spans written (fx was only encoded, never handed to a store) */
function expected(): TraceSummary[] {
  const written: ResourceSpans[] = ['summary-children', 'summary-root'].flatMap((n) => fx.batches.find((b) => b.name === n)!.traces);
  return [SUMMARY_TRACE, ROOTLESS_TRACE].map((id) => {
    const s = new TraceSummarizer(id);
    s.add(written.map((rs) => ({ ...rs, scopeSpans: rs.scopeSpans.map((ss) => ({ ...ss, spans: ss.spans.filter((x) => x.traceId === id) })) })));
    return s.summary();
  });
}

describe('trace summaries', () => {
  it('are the same over api_v3 gRPC, api_v3 HTTP and remote storage, and as the shared rules give them', async () => {
    const grpcV3 = await streamed<{ summaries: PSummary[] }>(query, 'FindTraceSummaries', grpcQuery());
    expect(grpcV3.error).toBeUndefined();
    const remote = await streamed<{ summaries: PSummary[] }>(storage, 'FindTraceSummaries', grpcQuery());
    expect(remote.error).toBeUndefined();
    const http = await httpSummaries(`query.service_name=sum-back&${windowParams()}`);
    expect(http.status).toBe(200);
    const want = byId(expected().map(fromApi));
    expect(want.find((x) => x.traceId === SUMMARY_TRACE)).toMatchObject({ rootServiceName: 'sum-front', rootOperationName: 'checkout', spanCount: 6, errorSpanCount: 2, orphanSpanCount: 2 });
    expect(byId(grpcV3.messages.flatMap((m) => m.summaries).map(fromProto))).toEqual(want);
    expect(byId(remote.messages.flatMap((m) => m.summaries).map(fromProto))).toEqual(want);
    expect(byId(http.summaries)).toEqual(want);
  });

  it('serve one page of page_size and no continuation token; refuse a page token, a page with search_depth, and a filter', async () => {
    const page = await streamed<{ summaries: PSummary[]; next_page_token: string }>(query, 'FindTraceSummaries', grpcQuery({ pagination: { page_size: 1 } }));
    expect(page.error).toBeUndefined();
    expect(page.messages.flatMap((m) => m.summaries)).toHaveLength(1);
    expect(page.messages.every((m) => m.next_page_token === '')).toBe(true);
    for (const [client, name] of [
      [query, 'api_v3'],
      [storage, 'storage v2'],
    ] as const) {
      const token = await streamed(client, 'FindTraceSummaries', grpcQuery({ pagination: { page_size: 5, page_token: 'abc' } }));
      expect([name, token.error?.code, token.error?.details]).toEqual([name, grpc.status.INVALID_ARGUMENT, expect.stringMatching(/^query\.pagination\.page_token: .*does not paginate/)]);
      const both = await streamed(client, 'FindTraceSummaries', grpcQuery({ pagination: { page_size: 5 }, search_depth: 3 }));
      expect([name, both.error?.code, both.error?.details]).toEqual([name, grpc.status.INVALID_ARGUMENT, expect.stringMatching(/^query\.pagination: .*search_depth/)]);
      const filter = await streamed(client, 'FindTraceSummaries', grpcQuery({ filter: { op: 'eq', args: [{ attr: { key: 'http.status_code' } }, { scalar: { value: '500' } }] } }));
      expect([name, filter.error?.code, filter.error?.details]).toEqual([name, grpc.status.INVALID_ARGUMENT, expect.stringMatching(/^query\.filter: structured filters are not served/)]);
      const traces = await streamed(client, 'FindTraces', grpcQuery({ pagination: { page_size: 5 } }));
      expect([name, traces.error?.code, traces.error?.details]).toEqual([name, grpc.status.INVALID_ARGUMENT, expect.stringMatching(/^query\.pagination: is not accepted by FindTraces/)]);
    }
    const http = await httpSummaries(`query.service_name=sum-back&${windowParams()}&query.pagination.pageSize=1`);
    expect([http.status, http.summaries.length]).toEqual([200, 1]);
    const bad = await httpSummaries(`query.service_name=sum-back&${windowParams()}&query.pagination.pageToken=x`);
    expect([bad.status, bad.body]).toEqual([400, { error: { httpCode: 400, message: expect.stringMatching(/^query\.pagination\.page_token: /) } }]);
    // over HTTP as over gRPC: a page of 0 is refused, a depth of 0 is "unset", a depth beside a page is refused, a
    // search of traces takes no page, and any spelling of a structured filter is refused rather than ignored
    const refusals: [string, RegExp][] = [
      ['query.pagination.page_size=0', /^query\.pagination\.page_size: /],
      ['query.pagination.page_size=2&query.search_depth=3', /^query\.pagination: .*search_depth/],
      ['query.filter.op=eq', /^query\.filter: structured filters are not served/],
    ];
    for (const [extra, message] of refusals) {
      const r = await httpSummaries(`query.service_name=sum-back&${windowParams()}&${extra}`);
      expect([extra, r.status, (r.body as { error?: { message?: string } }).error?.message]).toEqual([extra, 400, expect.stringMatching(message)]);
    }
    expect((await httpSummaries(`query.service_name=sum-back&${windowParams()}&query.pagination.page_size=1&query.search_depth=0`)).summaries).toHaveLength(1);
    const traces = await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/v3/traces?query.service_name=sum-back&${windowParams()}&query.pagination.page_size=1`);
    expect([traces.status, ((await traces.json()) as { error: { message: string } }).error.message]).toEqual([400, expect.stringMatching(/^query\.pagination: is not accepted by \/api\/v3\/traces/)]);
  });

  it('are served for a POST of the request as proto3 JSON, as for GET', async () => {
    const post = (path: string, body: string) => fetch(`http://127.0.0.1:${rt.ports.queryHttp}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const query = { serviceName: 'sum-back', startTimeMin: iso(startNs()), start_time_max: iso(endNs()), searchDepth: 10 };
    const r = await post('/api/v3/trace-summaries', JSON.stringify({ query }));
    expect(r.status).toBe(200);
    expect(byId(((await r.json()) as { summaries: JsonSummary[] }).summaries)).toEqual(byId((await httpSummaries(`query.service_name=sum-back&${windowParams()}`)).summaries));
    const t = await post('/api/v3/traces', JSON.stringify({ query: { ...query, durationMin: '0.04s' } }));
    expect(t.status).toBe(200);
    const spans = ((await t.json()) as { result: { resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[] } }).result.resourceSpans.flatMap((x) => x.scopeSpans.flatMap((y) => y.spans.map((z) => z.name)));
    expect(spans).toContain('late callback');
    const bad: [string, RegExp][] = [
      ['{"query": ', /^body: is not JSON/],
      ['{"q": {}}', /^query: is required/],
      [JSON.stringify({ query: { ...query, serviceName: { nested: 1 } } }), /^query\.serviceName: must be a string/],
      [JSON.stringify({ query: { ...query, filter: { op: 'eq' } } }), /^query\.filter: structured filters are not served/],
      [JSON.stringify({ query, pad: 'x'.repeat(300_000) }), /^body: is larger than/],
      // an unknown field is refused, not ignored (a misspelt predicate would widen the answer)
      [JSON.stringify({ query: { ...query, service: 'sum-db' } }), /^query\.service: is not a field of the query/],
      [JSON.stringify({ query: { ...query, searchDepth: undefined, pagination: {} } }), /^query\.pagination\.page_size: is required/],
    ];
    for (const [body, message] of bad) {
      const b = await post('/api/v3/trace-summaries', body);
      expect([b.status, ((await b.json()) as { error: { message: string } }).error.message]).toEqual([400, expect.stringMatching(message)]);
    }
    expect((await post('/api/v3/services', '{}')).status).toBe(405);
  });

  it('FindSpans is UNIMPLEMENTED, as the capabilities say', async () => {
    const r = await streamed(query, 'FindSpans', { query: { start_time_min: ts(startNs()), start_time_max: ts(endNs()) } });
    expect(r.error?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('reach a jaeger.storage.v2 client (the grpc backend) natively', async () => {
    const backend = new GrpcBackend({ endpoint: `127.0.0.1:${rt.ports.remoteStorage}`, timeoutMs: 10_000 });
    try {
      const got: TraceSummary[] = [];
      for await (const b of traceSummaries(backend.traceReader(), { serviceName: 'sum-db', startTimeMin: startNs(), startTimeMax: endNs(), searchDepth: 10 })) got.push(...b);
      expect(byId(got).map(fromApi)).toEqual(byId((await streamed<{ summaries: PSummary[] }>(storage, 'FindTraceSummaries', grpcQuery({ service_name: 'sum-db' }))).messages.flatMap((m) => m.summaries).map(fromProto)));
      expect(got.map((s) => s.traceId).sort()).toEqual([SUMMARY_TRACE, ROOTLESS_TRACE].sort());
      expect(await searchCapabilities(backend.traceReader())).toEqual({ withoutServiceName: true, sameSpanConjunction: true });
    } finally {
      await backend.close();
    }
  });
});

describe('capabilities', () => {
  const full = { without_service_name: true, same_span_conjunction: true, paginated: false, span_search: false, span_sorting: false };
  it('are reported on api_v3 gRPC, remote storage and HTTP, the same and truthful for the backend', async () => {
    const v3 = await unary<{ search: typeof full }>(queryCaps, 'GetCapabilities', {});
    const st = await unary<{ search: typeof full }>(storageCaps, 'GetCapabilities', {});
    expect(v3.search).toMatchObject(full);
    expect(st.search).toMatchObject(full);
    const r = await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/v3/capabilities`);
    expect(await r.json()).toEqual({ search: { withoutServiceName: true, sameSpanConjunction: true, filter: { levels: [], operators: [] }, paginated: false, spanSearch: false, spanSorting: false } });
  });
});

describe('api_v3 dependencies', () => {
  it('answer over gRPC and HTTP alike, and refuse a missing time range naming the field', async () => {
    // the window of the written fixtures: the summary trace links sum-front -> sum-back -> sum-db
    const [from, to] = [startNs(), endNs()];
    const g = await unary<{ dependencies: { parent: string; child: string; call_count: string }[] }>(query, 'GetDependencies', { start_time: ts(from), end_time: ts(to) });
    const links = g.dependencies.map((d) => ({ parent: d.parent, child: d.child, callCount: d.call_count })).sort((a, b) => `${a.parent}/${a.child}`.localeCompare(`${b.parent}/${b.child}`));
    expect(links).toEqual(expect.arrayContaining([{ parent: 'sum-front', child: 'sum-back', callCount: '1' }, { parent: 'sum-back', child: 'sum-db', callCount: '1' }]));
    await expect(unary(query, 'GetDependencies', {})).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/^start_time: is required/) });
    const h = await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/v3/dependencies?start_time=${iso(from)}&end_time=${iso(to)}`);
    expect(h.status).toBe(200);
    const viaHttp = ((await h.json()) as { dependencies: typeof links }).dependencies.sort((a, b) => `${a.parent}/${a.child}`.localeCompare(`${b.parent}/${b.child}`));
    expect(viaHttp).toEqual(links);
    const bad = await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/v3/dependencies?start_time=${iso(from)}`);
    expect([bad.status, ((await bad.json()) as { error: { message: string } }).error.message]).toEqual([400, expect.stringMatching(/^end_time: is required/)]);
  });
});
