// Fuzzing of the query side: a runtime in this process (loopback, free ports) on the memory, the embedded and the
// ClickHouse backend (the test engine, test/env/clickhouse.ts: every search becomes SQL) holds a known set of traces; thousands of seeded, generated hostile requests then go to every query route
// -- classic HTTP API, api_v3 over HTTP and gRPC, jaeger.storage.v2 remote storage, remote sampling over HTTP and
// gRPC, gRPC health: malformed paths (//, /\, //[, //:99999, percent junk), bad, huge and negative numbers, times
// and durations, huge and deep attribute JSON, wrong methods, random bytes and hostile protobuf as gRPC messages.
//
// Asserted: the runtime keeps answering; no answer is 5xx / INTERNAL / UNKNOWN; every 4xx and every gRPC error
// carries a message; afterwards the known traces read back byte for byte as before.
// Documented exception: a request that the HTTP parser itself refuses (an unknown method, a byte it does not allow,
// headers over Node's 16 KiB limit) is answered 400 or 431 by the listener's clientError handler with the reason
// phrase only and no body (hardenServer in src/runtime/http-guard.ts).
//
// Reproduce a run with QUERY_FUZZ_SEED=<seed printed by the test>; QUERY_FUZZ_COUNT sets the HTTP requests per
// backend (the gRPC calls are three quarters of it). Each backend stops at its deadline whatever the count.
import { Rng, pool } from '../env/fuzz.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { Writer } from '../../src/otlp/proto-wire.js';
import { QUEUE_TRACE, SHOP_TRACE, loadFixtures, searchTraceId } from '../../src/storage/testing/fixtures.js';
import { loopbackRuntimeConfig, waitFor } from '../helpers.js';
import { startClickHouse } from '../env/clickhouse.js';
import { sharedServer } from '../env/server-process.js';

const SEED = Number(process.env.QUERY_FUZZ_SEED ?? 0x5eed_2026) >>> 0;
const HTTP_COUNT = Number(process.env.QUERY_FUZZ_COUNT ?? 4000);
const GRPC_COUNT = Math.ceil(HTTP_COUNT * 0.75);
const DEADLINE_MS = 100_000;
const CONCURRENCY = 8;


// ---- hostile values ----
const NUMBERS = ['', '0', '-0', '-1', '1', '20', '10000', '10001', '100000', '2147483648', '4294967296', '1099511627776', '9007199254740993', '9223372036854775807', '9223372036854775808', '18446744073709551616', '-9223372036854775809', '9'.repeat(400), '1e309', '1e3', '0x10', '1.5', 'NaN', 'Infinity', '-Infinity', ' 5', '5 ', '+5', '٣', '%', '%zz', 'null', '[]', '{}'];
const DURATIONS = ['1h', '0s', '1.5s', '-1s', '2562047h', '2562048h', '99999999999999999999h', '1.5.5s', 'ms', '1', '1d', '999999d', '10us', '10µs', 'h1', `${'1'.repeat(60)}ns`];
const TIMES = ['2026-01-01T00:00:00Z', '0000-01-01T00:00:00Z', '0001-01-01T00:00:00Z', '1677-09-21T00:12:43Z', '1677-09-21T00:12:42Z', '2262-04-11T23:47:16.854775807Z', '2262-04-11T23:47:16.854775808Z', '9999-12-31T23:59:59.999999999Z', '2026-02-30T00:00:00Z', '2026-13-45T99:99:99+99:99', 'now', '1700000000'];
const PATH_JUNK = ['', '/', '//', '/\\', '//[', '//:99999', '/..', '/../..', '/%', '/%zz', '/%00', '/%ff%fe', '/%2e%2e', '/%2F', '/%E0%A4%A', '/%u0041', '/a%', '/;', '/?', '/#', '/..%2f..%2f'];

function deepJson(rng: Rng): string {
  // mostly under the 16 KiB header limit once percent-encoded; now and then over it
  return rng.chance(0.5) ? `${'['.repeat(1 + rng.int(2500))}${']'.repeat(rng.int(2500))}` : `${'{"a":'.repeat(1 + rng.int(600))}1${'}'.repeat(rng.int(600))}`;
}

function hugeAttributeJson(rng: Rng): string {
  const n = rng.int(400);
  const o: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) o[`k${i}`] = rng.pick(['v', 1, true, null, { x: 1 }, [1], 'x'.repeat(rng.int(20))]);
  if (rng.chance(0.2)) o.__proto__ = 'p';
  if (rng.chance(0.2)) o[''] = 'empty key';
  return JSON.stringify(o);
}

function value(rng: Rng, kind: 'number' | 'duration' | 'time' | 'json' | 'text'): string {
  if (rng.chance(0.1)) return rng.pick(PATH_JUNK);
  if (rng.chance(0.05)) return rng.bytes(rng.int(20)).toString('latin1');
  switch (kind) {
    case 'number':
      return rng.chance(0.2) ? String(rng.int(10 ** (1 + rng.int(15))) * (rng.chance(0.2) ? -1 : 1)) : rng.pick(NUMBERS);
    case 'duration':
      return rng.pick(DURATIONS);
    case 'time':
      return rng.pick(TIMES);
    case 'json':
      return rng.pick([() => deepJson(rng), () => hugeAttributeJson(rng), () => '{"http.status_code":"500"}', () => '{', () => '"x"', () => 'null', () => '[1,2]', () => '{"a":1e999}'])();
    case 'text':
      return rng.pick(['shop-payment', 'x', '', ' ', 'a'.repeat(rng.int(3000)), 'ü', '\u0000', SHOP_TRACE, '%']);
  }
}

/** query parameters of each route, with the kind of value each takes */
type Params = Record<string, 'number' | 'duration' | 'time' | 'json' | 'text'>;
const CLASSIC_SEARCH: Params = { service: 'text', operation: 'text', tags: 'json', tag: 'text', start: 'number', end: 'number', lookback: 'duration', minDuration: 'duration', maxDuration: 'duration', limit: 'number', traceID: 'text' };
const V3_SEARCH: Params = {
  'query.service_name': 'text',
  'query.operation_name': 'text',
  'query.start_time_min': 'time',
  'query.start_time_max': 'time',
  'query.duration_min': 'duration',
  'query.duration_max': 'duration',
  'query.search_depth': 'number',
  'query.num_traces': 'number',
  'query.attributes': 'json',
  'query.attributes[http.status_code]': 'text',
};
const ROUTES: { path: (rng: Rng) => string; params: Params }[] = [
  { path: () => '/api/services', params: {} },
  { path: (r) => `/api/services/${r.pick(['shop-payment', '%', '%zz', '', 'a%2', encodeURIComponent('a/b')])}/operations`, params: {} },
  { path: () => '/api/operations', params: { service: 'text', spanKind: 'text', span_kind: 'text' } },
  { path: (r) => `/api/traces/${r.pick([SHOP_TRACE, '%', '%zz', 'zz', '0', 'f'.repeat(33), 'F'.repeat(32), '%41%42'])}`, params: {} },
  { path: () => '/api/traces', params: CLASSIC_SEARCH },
  { path: () => '/api/dependencies', params: { endTs: 'number', lookback: 'number' } },
  { path: () => '/api/metrics/latencies', params: { service: 'text' } },
  { path: () => '/api/v3/services', params: {} },
  { path: () => '/api/v3/operations', params: { service: 'text', span_kind: 'text' } },
  { path: (r) => `/api/v3/traces/${r.pick([SHOP_TRACE, '%', '%zz', 'xyz', '', '%00'])}`, params: { start_time: 'time', end_time: 'time' } },
  { path: () => '/api/v3/traces', params: V3_SEARCH },
];
const SAMPLING_ROUTES = ['/sampling', '/api/sampling', '/', '/sampling/x', '/api'];
const METHODS = [...Array<string>(16).fill('GET'), 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];

/** `v` without the characters a raw request target cannot carry (space, controls, non-ASCII, '#') */
const urlSafe = (v: string): string => [...v].filter((c) => c.charCodeAt(0) > 0x20 && c.charCodeAt(0) < 0x7f && c !== '#').join('');

function query(rng: Rng, params: Params): string {
  const names = Object.keys(params);
  const parts: string[] = [];
  const n = rng.int(6);
  for (let i = 0; i < n; i++) {
    const name = names.length && rng.chance(0.9) ? rng.pick(names) : rng.pick(['x', '', '%', 'limit', 'query.search_depth', 'service']);
    const v = value(rng, params[name] ?? 'text');
    parts.push(`${rng.chance(0.9) ? encodeURIComponent(name) : name}=${rng.chance(0.85) ? encodeURIComponent(v) : urlSafe(v)}`);
  }
  return parts.length ? `?${parts.join('&')}` : rng.pick(['', '?', '?&&', '?=']);
}

function requestTarget(rng: Rng, sampling: boolean): string {
  const base = sampling ? rng.pick(SAMPLING_ROUTES) + query(rng, { service: 'text' }) : (() => {
    const r = rng.pick(ROUTES);
    return r.path(rng) + query(rng, r.params);
  })();
  if (rng.chance(0.15)) return rng.pick(PATH_JUNK) + base;
  if (rng.chance(0.05)) return rng.pick(PATH_JUNK);
  if (rng.chance(0.05)) return `${base}${'/'.repeat(rng.int(4))}`;
  return base;
}

interface HttpAnswer {
  status: number;
  reason: string;
  body: string;
}

/** A raw HTTP/1.1 exchange over a loopback socket, so the request target reaches the server as written. */
function rawHttp(port: number, method: string, target: string, body?: Buffer): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer within 10 s to ${method} ${target.slice(0, 200)}`));
    }, 10_000);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${method} ${target.slice(0, 200)}: ${e.message}`));
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3}) ?([^\r\n]*)\r\n/.exec(text);
      if (!m) return reject(new Error(`${method} ${target.slice(0, 200)}: no HTTP status line in ${JSON.stringify(text.slice(0, 200))}`));
      const i = text.indexOf('\r\n\r\n');
      resolve({ status: Number(m[1]), reason: m[2]!, body: i < 0 ? '' : text.slice(i + 4) });
    });
    const head = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${body ? `Content-Length: ${body.length}\r\nContent-Type: application/json\r\n` : ''}\r\n`;
    // the write side stays open (Connection: close ends the exchange): Node's HTTP server drops a request whose
    // client half-closes before the answer is ready, which is every answer of a backend that answers asynchronously
    sock.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1'));
  });
}

// ---- gRPC ----
const raw = (b: Buffer): Buffer => b;
const V3 = '/jaeger.api_v3.QueryService/';
const TR = '/jaeger.storage.v2.TraceReader/';
const GRPC_METHODS: { port: 'queryGrpc' | 'remoteStorage' | 'samplingGrpc'; path: string; stream: boolean }[] = [
  { port: 'queryGrpc', path: `${V3}GetTrace`, stream: true },
  { port: 'queryGrpc', path: `${V3}FindTraces`, stream: true },
  { port: 'queryGrpc', path: `${V3}GetServices`, stream: false },
  { port: 'queryGrpc', path: `${V3}GetOperations`, stream: false },
  { port: 'queryGrpc', path: '/grpc.health.v1.Health/Check', stream: false },
  { port: 'queryGrpc', path: `${V3}NoSuchMethod`, stream: false },
  { port: 'remoteStorage', path: `${TR}GetTraces`, stream: true },
  { port: 'remoteStorage', path: `${TR}FindTraces`, stream: true },
  { port: 'remoteStorage', path: `${TR}FindTraceIDs`, stream: false },
  { port: 'remoteStorage', path: `${TR}GetServices`, stream: false },
  { port: 'remoteStorage', path: `${TR}GetOperations`, stream: false },
  { port: 'remoteStorage', path: `${TR}FindTraceSummaries`, stream: true },
  { port: 'remoteStorage', path: '/jaeger.storage.v2.DependencyReader/GetDependencies', stream: false },
  { port: 'samplingGrpc', path: '/jaeger.api_v2.SamplingManager/GetSamplingStrategy', stream: false },
];

const BIG_INTS = [0n, 1n, -1n, 100n, 10_000n, 10_001n, 2n ** 31n, 2n ** 32n, 2n ** 40n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 253402300799n, 253402300800n, -62135596800n, -62135596801n, 315576000001n];

function hostileTimestamp(rng: Rng, w: Writer, field: number): void {
  w.message(field, (m) => {
    if (rng.chance(0.8)) m.tag(1, 0).varint(rng.chance(0.5) ? rng.pick(BIG_INTS) : BigInt(1_700_000_000 + rng.int(100_000_000)));
    if (rng.chance(0.5)) m.tag(2, 0).varint(rng.pick([0n, 1n, 999_999_999n, 1_000_000_000n, -1n, 2n ** 40n]));
    if (rng.chance(0.1)) m.tag(3, 2).varint(3).raw(Buffer.from('abc'));
  });
}

function hostileQuery(rng: Rng, storageV2: boolean): Buffer {
  return new Writer()
    .message(1, (q) => {
      if (rng.chance(0.7)) q.string(1, value(rng, 'text'));
      if (rng.chance(0.3)) q.string(2, value(rng, 'text'));
      const attrs = rng.chance(0.3) ? rng.int(rng.chance(0.1) ? 3000 : 20) : 0;
      for (let i = 0; i < attrs; i++) {
        q.message(3, (kv) => {
          kv.string(1, rng.chance(0.05) ? '' : `k${i}`);
          if (storageV2) kv.message(2, (v) => (rng.chance(0.5) ? v.string(1, 'v') : v.tag(3, 0).varint(rng.pick(BIG_INTS))));
          else kv.string(2, 'v');
        });
      }
      if (rng.chance(0.8)) hostileTimestamp(rng, q, 4);
      if (rng.chance(0.8)) hostileTimestamp(rng, q, 5);
      if (rng.chance(0.3)) hostileTimestamp(rng, q, 6);
      if (rng.chance(0.3)) hostileTimestamp(rng, q, 7);
      if (rng.chance(0.5)) q.tag(8, 0).varint(rng.pick(BIG_INTS));
    })
    .finish();
}

function grpcMessage(rng: Rng, path: string): Buffer {
  const r = rng.next();
  if (r < 0.3) return rng.bytes(rng.int(rng.chance(0.1) ? 4096 : 64));
  if (r < 0.35) return Buffer.alloc(0);
  let msg: Buffer;
  if (path.endsWith('FindTraces') || path.endsWith('FindTraceIDs')) msg = hostileQuery(rng, path.startsWith(TR));
  else if (path.endsWith('GetTraces')) {
    const w = new Writer();
    for (let i = rng.int(rng.chance(0.05) ? 20_000 : 5); i > 0; i--) w.message(1, (p) => {
      p.bytes(1, rng.chance(0.7) ? Buffer.from(SHOP_TRACE, 'hex') : rng.bytes(rng.int(40)));
      if (rng.chance(0.5)) hostileTimestamp(rng, p, 2);
      if (rng.chance(0.5)) hostileTimestamp(rng, p, 3);
    });
    msg = w.finish();
  } else if (path.endsWith('GetTrace')) {
    const w = new Writer().string(1, rng.pick([SHOP_TRACE, '', 'zz', '%', '0'.repeat(32), 'f'.repeat(64)]));
    if (rng.chance(0.5)) hostileTimestamp(rng, w, 2);
    if (rng.chance(0.5)) hostileTimestamp(rng, w, 3);
    msg = w.finish();
  } else if (path.endsWith('GetDependencies')) {
    const w = new Writer();
    if (rng.chance(0.7)) hostileTimestamp(rng, w, 1);
    if (rng.chance(0.7)) hostileTimestamp(rng, w, 2);
    msg = w.finish();
  } else msg = new Writer().string(1, value(rng, 'text')).string(2, value(rng, 'text')).finish();
  // sometimes cut short, or with a byte flipped
  if (msg.length && rng.chance(0.15)) return msg.subarray(0, rng.int(msg.length));
  if (msg.length && rng.chance(0.1)) msg[rng.int(msg.length)] = rng.int(256);
  return msg;
}

/** statuses a hostile request may get; INTERNAL, UNKNOWN, DATA_LOSS and DEADLINE_EXCEEDED are failures */
const GRPC_OK = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.UNIMPLEMENTED, grpc.status.OUT_OF_RANGE, grpc.status.FAILED_PRECONDITION, grpc.status.RESOURCE_EXHAUSTED]);

function grpcCall(client: grpc.Client, path: string, stream: boolean, msg: Buffer): Promise<{ code: number; details: string }> {
  const opts = { deadline: Date.now() + 10_000 };
  return new Promise((resolve) => {
    if (!stream) {
      client.makeUnaryRequest(path, raw, raw, msg, new grpc.Metadata(), opts, (e: grpc.ServiceError | null) => resolve(e ? { code: e.code, details: e.details } : { code: grpc.status.OK, details: '' }));
      return;
    }
    const call = client.makeServerStreamRequest(path, raw, raw, msg, new grpc.Metadata(), opts);
    call.on('data', () => undefined);
    call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
    call.on('end', () => resolve({ code: grpc.status.OK, details: '' }));
  });
}

// ---- the known traces ----
const KNOWN = [SHOP_TRACE, QUEUE_TRACE, ...Array.from({ length: 30 }, (_, i) => searchTraceId(i))];

async function readKnown(rt: RunningRuntime): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const id of KNOWN) {
    const r = await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/v3/traces/${id}`);
    out[id] = `${r.status} ${await r.text()}`;
  }
  return out;
}

const clickhouse = sharedServer(() => startClickHouse());
/** the seed of a backend's requests: each backend gets requests of its own */
const SEEDS = { memory: 0, embedded: 0x9e3779b9, clickhouse: 0x7f4a7c15 } as const;

describe.each(['memory', 'embedded', 'clickhouse'] as const)('query fuzz on the %s backend', (backendType) => {
  let rt: RunningRuntime;
  let dir = '';
  let before: Record<string, string>;
  /** failures of one test, at most 50 kept */
  const collector = () => {
    const failures: string[] = [];
    return { failures, fail: (what: string) => void (failures.length < 50 && failures.push(what)) };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'jso-query-fuzz-'));
    const backend =
      backendType === 'memory' ? { memory: { maxTraces: 10_000 } } : backendType === 'embedded' ? { embedded: {} } : { clickhouse: { endpoints: [(await clickhouse.shared()).url], database: 'query_fuzz' } };
    rt = await startRuntime(loopbackRuntimeConfig({ backend, dataDir: dir, ingest: { batchAgeMs: 10 } }), pino({ level: 'silent' }));
    const fx = loadFixtures(BigInt(Date.now()) * 1_000_000n - 3_600_000_000_000n);
    for (const b of fx.batches.filter((x) => ['shop', 'queue', 'queue-consumer', 'search'].includes(x.name))) {
      const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(encodeTracesJson(b.traces)) });
      expect(r.status).toBe(200);
    }
    await waitFor('the known traces', async () => Object.values(await readKnown(rt)).every((v) => v.startsWith('200 ')), 30_000);
    // settled: two reads 300 ms apart agree (every queued span is written)
    before = await waitFor('the known traces to settle', async () => {
      const a = await readKnown(rt);
      await new Promise((r) => setTimeout(r, 300));
      const b = await readKnown(rt);
      return JSON.stringify(a) === JSON.stringify(b) ? b : undefined;
    }, 30_000);
    console.log(`query fuzz (${backendType}): seed ${SEED} (QUERY_FUZZ_SEED=${SEED} reproduces), ${HTTP_COUNT} HTTP requests and ${GRPC_COUNT} gRPC calls at most`);
  }, 120_000);

  afterAll(async () => {
    await rt?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (backendType === 'clickhouse') await clickhouse.release();
  });

  it('answers hostile HTTP requests on the query and sampling listeners without 5xx, each 4xx with a message', async () => {
    const rng = new Rng(SEED ^ SEEDS[backendType]);
    const { failures, fail } = collector();
    const statuses = new Map<number, number>();
    let parserRefusals = 0;
    const ran = await pool(HTTP_COUNT, CONCURRENCY, Date.now() + DEADLINE_MS, async () => {
      const sampling = rng.chance(0.15);
      const method = rng.chance(0.01) ? 'BREW' : rng.pick(METHODS);
      const target = requestTarget(rng, sampling);
      const body = method !== 'GET' && method !== 'HEAD' && rng.chance(0.5) ? rng.bytes(rng.int(2000)) : undefined;
      const port = sampling ? rt.ports.samplingHttp : rt.ports.queryHttp;
      let a: HttpAnswer;
      try {
        a = await rawHttp(port, method, target, body);
      } catch (e) {
        return fail(String(e));
      }
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      const req = `${method} ${JSON.stringify(target.slice(0, 300))} on ${sampling ? 'sampling' : 'query'}`;
      if (a.status >= 500) fail(`${req} -> ${a.status} ${a.body.slice(0, 300)}`);
      if (a.status >= 400 && a.status < 500 && method !== 'HEAD') {
        if (!a.body.trim()) {
          // documented: the HTTP parser's own refusals carry the reason phrase only
          if ((a.status === 400 && a.reason === 'Bad Request') || (a.status === 431 && a.reason === 'Request Header Fields Too Large')) parserRefusals++;
          else fail(`${req} -> ${a.status} without a message`);
        }
      }
    });
    console.log(`query fuzz (${backendType}) HTTP: ${ran} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((x, y) => x[0] - y[0])))}, ${parserRefusals} refused by the HTTP parser`);
    expect(failures).toEqual([]);
    expect(ran).toBeGreaterThan(Math.min(HTTP_COUNT, 200));
    // the answers were not all of one kind: the routes were reached
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
  }, DEADLINE_MS + 60_000);

  it('answers random bytes and hostile protobuf on every gRPC method without INTERNAL, each error with a message', async () => {
    const rng = new Rng(SEED ^ 0x5bd1e995 ^ SEEDS[backendType]);
    const { failures, fail } = collector();
    const clients = {
      queryGrpc: new grpc.Client(`127.0.0.1:${rt.ports.queryGrpc}`, grpc.credentials.createInsecure()),
      remoteStorage: new grpc.Client(`127.0.0.1:${rt.ports.remoteStorage}`, grpc.credentials.createInsecure()),
      samplingGrpc: new grpc.Client(`127.0.0.1:${rt.ports.samplingGrpc}`, grpc.credentials.createInsecure()),
    };
    const codes = new Map<string, number>();
    try {
      const ran = await pool(GRPC_COUNT, CONCURRENCY, Date.now() + DEADLINE_MS, async () => {
        const m = rng.pick(GRPC_METHODS);
        const msg = grpcMessage(rng, m.path);
        const r = await grpcCall(clients[m.port], m.path, m.stream, msg);
        const name = grpc.status[r.code] ?? String(r.code);
        codes.set(name, (codes.get(name) ?? 0) + 1);
        const req = `${m.path}(${msg.length} bytes: ${msg.subarray(0, 64).toString('hex')})`;
        if (!GRPC_OK.has(r.code)) fail(`${req} -> ${name}: ${r.details}`);
        else if (r.code !== grpc.status.OK && !r.details) fail(`${req} -> ${name} without a message`);
      });
      console.log(`query fuzz (${backendType}) gRPC: ${ran} calls, codes ${JSON.stringify(Object.fromEntries(codes))}`);
      expect(failures).toEqual([]);
      expect(ran).toBeGreaterThan(Math.min(GRPC_COUNT, 200));
      expect(codes.get('OK') ?? 0).toBeGreaterThan(0);
      expect(codes.get('INVALID_ARGUMENT') ?? 0).toBeGreaterThan(0);
    } finally {
      for (const c of Object.values(clients)) c.close();
    }
  }, DEADLINE_MS + 60_000);

  it('refuses 16 MiB of empty trace params or attributes on the remote storage port with INVALID_ARGUMENT naming the limit', async () => {
    const client = new grpc.Client(`127.0.0.1:${rt.ports.remoteStorage}`, grpc.credentials.createInsecure());
    // just under the port's 16 MiB request limit, with room for the gRPC and protobuf framing
    const size = 16 * 1024 * 1024 - 64;
    const empties = (tag: number, n: number) => Buffer.alloc(n, Buffer.from([tag, 0x00]));
    const attrs = empties(0x1a, size - 8);
    try {
      const gets = await grpcCall(client, `${TR}GetTraces`, true, empties(0x0a, size));
      expect({ code: grpc.status[gets.code], details: gets.details }).toEqual({ code: 'INVALID_ARGUMENT', details: expect.stringMatching(/query: at most 10000 traces/) });
      const find = await grpcCall(client, `${TR}FindTraces`, true, Buffer.concat([new Writer().tag(1, 2).varint(attrs.length).finish(), attrs]));
      expect({ code: grpc.status[find.code], details: find.details }).toEqual({ code: 'INVALID_ARGUMENT', details: expect.stringMatching(/query\.attributes: at most 1000 attributes/) });
    } finally {
      client.close();
    }
  });

  it('still serves, and the known traces read back exactly as before', async () => {
    for (const port of [rt.ports.queryHttp, rt.ports.samplingHttp]) {
      const a = await rawHttp(port, 'GET', port === rt.ports.queryHttp ? '/api/services' : '/sampling?service=x');
      expect(a.status).toBe(200);
    }
    expect((await fetch(`http://127.0.0.1:${rt.ports.admin}/readyz`)).status).toBe(200);
    expect(await readKnown(rt)).toEqual(before);
  });

  it('looks up names longer than an index key: a 3,000-byte service name once made the embedded store answer 500', async () => {
    for (const target of [`/api/v3/operations?service=${'a'.repeat(3000)}`, `/api/traces?service=${'a'.repeat(3000)}`, `/api/services/${'a'.repeat(3000)}/operations`]) {
      expect({ target: target.slice(0, 30), status: (await rawHttp(rt.ports.queryHttp, 'GET', target)).status }).toEqual({ target: target.slice(0, 30), status: 200 });
    }
  });

  it('answers the reported cases of #10 with 400 naming the problem', async () => {
    const get = async (target: string) => rawHttp(rt.ports.queryHttp, 'GET', target);
    for (const [target, field] of [
      ['/api/traces/%', 'traceID'],
      ['/api/v3/traces/%zz', 'trace_id'],
      ['/api/services/%/operations', 'service'],
      [`/api/dependencies?endTs=${'9'.repeat(400)}`, 'endTs'],
      ['/api/traces?service=shop-payment&limit=0', 'limit'],
      ['/api/v3/traces?query.start_time_min=2026-01-01T00:00:00Z&query.start_time_max=2026-01-02T00:00:00Z&query.search_depth=100000', 'query.search_depth'],
    ] as const) {
      const a = await get(target);
      expect({ target, status: a.status }).toEqual({ target, status: 400 });
      expect(a.body).toContain(field);
    }
    expect((await get(`/api/dependencies?endTs=${'9'.repeat(400)}`)).body).toMatch(/from 0 to 9223372036854/);
  });
});
