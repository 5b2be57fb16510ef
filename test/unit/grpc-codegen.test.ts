// The cold-path gRPC codecs are generated from proto/ (src/gen): the committed code is what the generator makes of
// the committed .proto files, and every request and response the runtime reads or writes has the same bytes as the
// tag-by-tag encoding it replaced (written out below with the wire writer), or, where that encoding wrote proto3
// zero values the generated code leaves out, the same message.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DescMessage, create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { FindTracesRequestSchema as V3FindTracesRequestSchema, GetTraceRequestSchema } from '../../src/gen/api_v3/query_service_pb.js';
import { SamplingStrategyParametersSchema, SamplingStrategyResponseSchema } from '../../src/gen/api_v2/sampling_pb.js';
import { GetDependenciesRequestSchema } from '../../src/gen/storage/v2/dependency_storage_pb.js';
import { FindTracesRequestSchema, GetOperationsRequestSchema, GetTracesRequestSchema } from '../../src/gen/storage/v2/trace_storage_pb.js';
import { HealthCheckRequestSchema } from '../../src/gen/grpc/health/v1/health_pb.js';
import { Writer } from '../../src/otlp/proto-wire.js';
import { decodeFindTracesRequest, decodeGetTraceRequest } from '../../src/runtime/query/api-v3-codec.js';
import { decodeGetDependenciesRequest, decodeGetTracesRequest, decodeStorageFindRequest, encodeFindTraceIdsResponse, encodeGetDependenciesResponse } from '../../src/runtime/remote-storage/codec.js';
import { decodeGetOperationsRequest, decodeHealthRequest, encodeGetOperationsResponse, encodeGetServicesResponse, encodeHealthResponse } from '../../src/runtime/grpc-codec.js';
import { decodeStrategyParameters, encodeStrategyResponse } from '../../src/runtime/sampling/endpoints.js';
import type { SamplingStrategyResponse } from '../../src/sampling/evaluate.js';
import { type DependencyLink, type FoundTraceId, InvalidArgumentError, type Operation } from '../../src/storage/api/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}

describe('generated code', () => {
  it('src/gen is exactly what proto/ generates (run `npm run gen:proto` after changing proto/ or the generator)', () => {
    const out = mkdtempSync(join(tmpdir(), 'jso-gen-'));
    try {
      execFileSync(join(ROOT, 'node_modules/.bin/buf'), ['generate', '--template', 'proto/buf.gen.yaml', '-o', out], { cwd: ROOT, stdio: 'pipe', timeout: 60_000 });
      const fresh = join(out, 'src/gen');
      const committed = join(ROOT, 'src/gen');
      const names = (dir: string) => files(dir).map((f) => relative(dir, f)).sort();
      expect(names(committed)).toEqual(names(fresh));
      for (const f of names(fresh)) expect(`${f}\n${readFileSync(join(committed, f), 'utf8')}`).toBe(`${f}\n${readFileSync(join(fresh, f), 'utf8')}`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 90_000);
});

// ---- the hand-written encoding the generated code replaced ----

function writeTimestamp(w: Writer, field: number, ns: bigint): void {
  const seconds = ns / 1_000_000_000n;
  const nanos = Number(ns % 1_000_000_000n);
  w.message(field, (m) => {
    if (seconds) m.tag(1, 0).varint(seconds);
    if (nanos) m.tag(2, 0).varint(nanos);
  });
}

const handGetServices = (services: string[]): Buffer => {
  const w = new Writer();
  for (const s of services) w.bytes(1, Buffer.from(s, 'utf8'));
  return w.finish();
};

const handGetOperations = (ops: Operation[]): Buffer => {
  const w = new Writer();
  for (const o of ops) w.message(1, (m) => m.string(1, o.name).string(2, o.spanKind));
  return w.finish();
};

const handHealth = (serving: boolean): Buffer => new Writer().uint(1, serving ? 1 : 2).finish();

const handFindTraceIds = (ids: FoundTraceId[]): Buffer => {
  const w = new Writer();
  for (const f of ids) {
    w.message(1, (m) => {
      m.bytes(1, Buffer.from(f.traceId, 'hex'));
      if (f.start !== undefined) writeTimestamp(m, 2, f.start);
      if (f.end !== undefined) writeTimestamp(m, 3, f.end);
    });
  }
  return w.finish();
};

const handDependencies = (deps: DependencyLink[]): Buffer => {
  const w = new Writer();
  for (const d of deps) w.message(1, (m) => m.string(1, d.parent).string(2, d.child).uint(3, d.callCount).string(4, d.source ?? ''));
  return w.finish();
};

const probabilistic = (w: Writer, field: number, rate: number): Writer => w.message(field, (m) => m.double(1, rate));

function handStrategy(s: SamplingStrategyResponse): Buffer {
  const w = new Writer();
  w.uint(1, s.strategyType === 'RATE_LIMITING' ? 1 : 0);
  if (s.probabilisticSampling) probabilistic(w, 2, s.probabilisticSampling.samplingRate);
  if (s.rateLimitingSampling) {
    const n = s.rateLimitingSampling.maxTracesPerSecond;
    w.message(3, (m) => m.uint(1, n));
  }
  const o = s.operationSampling;
  if (o) {
    w.message(4, (m) => {
      m.double(1, o.defaultSamplingProbability).double(2, o.defaultLowerBoundTracesPerSecond);
      for (const op of o.perOperationStrategies) m.message(3, (x) => probabilistic(x.string(1, op.operation), 2, op.probabilisticSampling.samplingRate));
      m.double(4, o.defaultUpperBoundTracesPerSecond);
    });
  }
  return w.finish();
}

/** the same message: both decode to equal messages of `schema` */
function sameMessage(schema: DescMessage, a: Uint8Array, b: Uint8Array): void {
  const x = fromBinary(schema, a);
  const y = fromBinary(schema, b);
  expect(equals(schema, x, y)).toBe(true);
}

const T0 = 1_700_000_000_123_456_789n;
const TRACE = '0af7651916cd43dd8448eb211c80319c';

describe('responses: generated encoders against the hand-written encoding', () => {
  it('GetServicesResponse, GetOperationsResponse, HealthCheckResponse: the same bytes', () => {
    for (const s of [[], ['frontend'], ['a', '', 'ü-service', 'x'.repeat(300)]]) expect(encodeGetServicesResponse(s)).toEqual(handGetServices(s));
    for (const ops of [[], [{ name: 'GET /', spanKind: 'server' }, { name: 'q', spanKind: '' }, { name: '', spanKind: 'client' }]]) expect(encodeGetOperationsResponse(ops)).toEqual(handGetOperations(ops));
    for (const up of [true, false]) expect(encodeHealthResponse(up)).toEqual(handHealth(up));
  });

  it('FindTraceIDsResponse and GetDependenciesResponse: the same bytes', () => {
    const ids: FoundTraceId[][] = [[], [{ traceId: TRACE }, { traceId: TRACE, start: T0, end: T0 + 5_000_000_000n }, { traceId: 'ff'.repeat(16), start: 0n, end: 1_000_000_000n }, { traceId: TRACE, start: 7n }]];
    for (const i of ids) expect(encodeFindTraceIdsResponse(i)).toEqual(handFindTraceIds(i));
    const deps: DependencyLink[] = [{ parent: 'a', child: 'b', callCount: 3 }, { parent: 'b', child: 'c', callCount: 0, source: 'x' }, { parent: '', child: 'd', callCount: 2 ** 40 }];
    expect(encodeGetDependenciesResponse(deps)).toEqual(handDependencies(deps));
    expect(encodeGetDependenciesResponse([])).toEqual(handDependencies([]));
  });

  it('SamplingStrategyResponse: the same bytes, 0.0 doubles written out as before; the same message where a zero moves behind the fields after it', () => {
    const same: SamplingStrategyResponse[] = [
      { strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0.25 } },
      { strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0 } },
      { strategyType: 'RATE_LIMITING', rateLimitingSampling: { maxTracesPerSecond: 42 } },
      { strategyType: 'RATE_LIMITING', rateLimitingSampling: { maxTracesPerSecond: 0 } },
      {
        strategyType: 'PROBABILISTIC',
        probabilisticSampling: { samplingRate: 0.5 },
        operationSampling: { defaultSamplingProbability: 0.5, defaultLowerBoundTracesPerSecond: 0.1, defaultUpperBoundTracesPerSecond: 0, perOperationStrategies: [{ operation: 'GET /a', probabilisticSampling: { samplingRate: 1 } }, { operation: 'b', probabilisticSampling: { samplingRate: 0 } }] },
      },
    ];
    for (const s of same) expect(encodeStrategyResponse(s).toString('hex')).toBe(handStrategy(s).toString('hex'));
    // a zero before a set field is written after the known fields: every field is there, with the same value
    const moved: SamplingStrategyResponse = { strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 1 }, operationSampling: { defaultSamplingProbability: 0, defaultLowerBoundTracesPerSecond: 0, defaultUpperBoundTracesPerSecond: 5, perOperationStrategies: [{ operation: 'op', probabilisticSampling: { samplingRate: 0 } }] } };
    const [mine, hand] = [encodeStrategyResponse(moved), handStrategy(moved)];
    expect(mine.length).toBe(hand.length);
    sameMessage(SamplingStrategyResponseSchema, mine, hand);
  });
});

// ---- requests: a client's hand-written bytes equal the generated encoding and decode to the same values ----

/** a Timestamp or Duration as a proto3 encoder writes it: zero fields left out */
const ts = (w: Writer, field: number, seconds: bigint, nanos = 0n): Writer =>
  w.message(field, (m) => {
    if (seconds) m.tag(1, 0).varint(seconds);
    if (nanos) m.tag(2, 0).varint(nanos);
  });

describe('requests: hand-written bytes, generated encoding and the runtime decoders agree', () => {
  it('api_v3 GetTraceRequest and FindTracesRequest', () => {
    const get = ts(ts(new Writer().string(1, TRACE), 2, 1_700_000_000n, 5n), 3, 1_700_000_100n).tag(4, 0).varint(1).finish();
    expect(Buffer.from(toBinary(GetTraceRequestSchema, create(GetTraceRequestSchema, { traceId: TRACE, startTime: { seconds: 1_700_000_000n, nanos: 5 }, endTime: { seconds: 1_700_000_100n }, rawTraces: true })))).toEqual(get);
    expect(decodeGetTraceRequest(get)).toEqual({ traceId: TRACE, start: 1_700_000_000_000_000_005n, end: 1_700_000_100_000_000_000n });

    const find = new Writer()
      .message(1, (q) => {
        q.string(1, 'svc').string(2, 'op');
        q.message(3, (e) => e.string(1, 'http.status_code').string(2, '200'));
        q.message(3, (e) => e.string(1, 'error').string(2, 'true'));
        ts(q, 4, 1_700_000_000n);
        ts(q, 5, 1_700_000_100n, 7n);
        ts(q, 6, 1n, 500n);
        ts(q, 7, 2n);
        q.tag(8, 0).varint(20);
        q.tag(9, 0).varint(1);
      })
      .finish();
    const gen = create(V3FindTracesRequestSchema, {
      query: { serviceName: 'svc', operationName: 'op', attributes: { 'http.status_code': '200', error: 'true' }, startTimeMin: { seconds: 1_700_000_000n }, startTimeMax: { seconds: 1_700_000_100n, nanos: 7 }, durationMin: { seconds: 1n, nanos: 500 }, durationMax: { seconds: 2n }, searchDepth: 20, rawTraces: true },
    });
    expect(Buffer.from(toBinary(V3FindTracesRequestSchema, gen))).toEqual(find);
    expect(decodeFindTracesRequest(find)).toEqual({ serviceName: 'svc', operationName: 'op', attributes: { 'http.status_code': '200', error: 'true' }, startTimeMin: 1_700_000_000_000_000_000n, startTimeMax: 1_700_000_100_000_000_007n, durationMin: 1_000_000_500n, durationMax: 2_000_000_000n, searchDepth: 20 });
    expect(decodeFindTracesRequest(Buffer.alloc(0))).toBeNull();
  });

  it('storage v2 GetTracesRequest, FindTracesRequest (every AnyValue kind), GetDependenciesRequest', () => {
    const id = Buffer.from(TRACE, 'hex');
    const gets = new Writer().message(1, (p) => ts(p.bytes(1, id), 2, 1_700_000_000n)).message(1, (p) => p.bytes(1, id)).finish();
    expect(Buffer.from(toBinary(GetTracesRequestSchema, create(GetTracesRequestSchema, { query: [{ traceId: id, startTime: { seconds: 1_700_000_000n } }, { traceId: id }] })))).toEqual(gets);
    expect(decodeGetTracesRequest(gets)).toEqual([{ traceId: TRACE, start: 1_700_000_000_000_000_000n }, { traceId: TRACE }]);

    const find = new Writer()
      .message(1, (q) => {
        q.string(1, 'svc');
        q.message(3, (kv) => kv.string(1, 's').message(2, (v) => v.string(1, 'x')));
        q.message(3, (kv) => kv.string(1, 'b').message(2, (v) => v.tag(2, 0).varint(1)));
        q.message(3, (kv) => kv.string(1, 'i').message(2, (v) => v.tag(3, 0).varint(-5n)));
        q.message(3, (kv) => kv.string(1, 'd').message(2, (v) => v.double(4, 1.5)));
        q.message(3, (kv) => kv.string(1, 'a').message(2, (v) => v.message(5, (a) => a.message(1, (x) => x.string(1, 'y')))));
        q.message(3, (kv) => kv.string(1, 'k').message(2, (v) => v.message(6, (l) => l.message(1, (e) => e.string(1, 'n').message(2, (x) => x.tag(3, 0).varint(2))))));
        q.message(3, (kv) => kv.string(1, 'y').message(2, (v) => v.bytes(7, Buffer.from([1, 2]))));
        ts(q, 4, 1_700_000_000n);
        ts(q, 5, 1_700_000_100n);
      })
      .finish();
    const gen = create(FindTracesRequestSchema, {
      query: {
        serviceName: 'svc',
        attributes: [
          { key: 's', value: { value: { case: 'stringValue', value: 'x' } } },
          { key: 'b', value: { value: { case: 'boolValue', value: true } } },
          { key: 'i', value: { value: { case: 'intValue', value: -5n } } },
          { key: 'd', value: { value: { case: 'doubleValue', value: 1.5 } } },
          { key: 'a', value: { value: { case: 'arrayValue', value: { values: [{ value: { case: 'stringValue', value: 'y' } }] } } } },
          { key: 'k', value: { value: { case: 'kvlistValue', value: { values: [{ key: 'n', value: { value: { case: 'intValue', value: 2n } } }] } } } },
          { key: 'y', value: { value: { case: 'bytesValue', value: new Uint8Array([1, 2]) } } },
        ],
        startTimeMin: { seconds: 1_700_000_000n },
        startTimeMax: { seconds: 1_700_000_100n },
      },
    });
    expect(Buffer.from(toBinary(FindTracesRequestSchema, gen))).toEqual(find);
    expect(decodeStorageFindRequest(find)).toEqual({
      serviceName: 'svc',
      attributes: { s: 'x', b: true, i: -5n, d: 1.5, a: { array: ['y'] }, k: { kvlist: [{ key: 'n', value: 2n }] }, y: new Uint8Array([1, 2]) },
      startTimeMin: 1_700_000_000_000_000_000n,
      startTimeMax: 1_700_000_100_000_000_000n,
      searchDepth: 100,
    });

    const deps = ts(ts(new Writer(), 1, 100n), 2, 200n, 9n).finish();
    expect(Buffer.from(toBinary(GetDependenciesRequestSchema, create(GetDependenciesRequestSchema, { startTime: { seconds: 100n }, endTime: { seconds: 200n, nanos: 9 } })))).toEqual(deps);
    expect(decodeGetDependenciesRequest(deps)).toEqual({ start: 100_000_000_000n, end: 200_000_000_009n });
  });

  it('GetOperationsRequest, HealthCheckRequest, SamplingStrategyParameters', () => {
    const ops = new Writer().string(1, 'svc').string(2, 'server').finish();
    expect(Buffer.from(toBinary(GetOperationsRequestSchema, create(GetOperationsRequestSchema, { service: 'svc', spanKind: 'server' })))).toEqual(ops);
    expect(decodeGetOperationsRequest(ops)).toEqual({ service: 'svc', spanKind: 'server' });
    const health = new Writer().string(1, 'jaeger.api_v3.QueryService').finish();
    expect(Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: 'jaeger.api_v3.QueryService' })))).toEqual(health);
    expect(decodeHealthRequest(health)).toBe('jaeger.api_v3.QueryService');
    expect(decodeHealthRequest(Buffer.alloc(0))).toBe('');
    const params = new Writer().string(1, 'frontend').finish();
    expect(Buffer.from(toBinary(SamplingStrategyParametersSchema, create(SamplingStrategyParametersSchema, { serviceName: 'frontend' })))).toEqual(params);
    expect(decodeStrategyParameters(params)).toBe('frontend');
  });

  it('refuses what the hand-written decoder refused (fields past their sub-message, int32 wider than 32 bits, bad wire data) and invalid UTF-8', () => {
    const fail = (fn: () => unknown, field: string, text: RegExp) => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).field).toBe(field);
      expect((err as InvalidArgumentError).message).toMatch(text);
    };
    // a Timestamp whose length says 2 bytes but whose seconds varint runs on into the parent
    const past = Buffer.from([0x12, 0x02, 0x08, 0x80, 0x01]);
    fail(() => decodeGetTraceRequest(Buffer.concat([new Writer().string(1, TRACE).finish(), past])), 'GetTraceRequest', /malformed protobuf/);
    // 2^32 + 5 would be 5 to a 32-bit reader: refused, not read as a valid depth
    fail(() => decodeFindTracesRequest(new Writer().message(1, (q) => q.tag(8, 0).varint(2n ** 32n + 5n)).finish()), 'query.search_depth', /got 4294967301/);
    fail(() => decodeStorageFindRequest(new Writer().message(1, (q) => ts(q, 4, 1n, 2n ** 32n + 5n)).finish()), 'query.start_time_min', /nanos 4294967301/);
    // truncation, an unknown wire type, invalid UTF-8 in a string
    fail(() => decodeGetTracesRequest(Buffer.from([0x0a, 0x05, 0x0a])), 'GetTracesRequest', /malformed protobuf/);
    fail(() => decodeGetOperationsRequest(Buffer.from([0x0f])), 'GetOperationsRequest', /malformed protobuf/);
    fail(() => decodeStrategyParameters(Buffer.from([0x0a, 0x02, 0xc3, 0x28])), 'SamplingStrategyParameters', /malformed protobuf/);
    // unknown fields are skipped, as before
    expect(decodeHealthRequest(new Writer().string(1, 's').tag(9, 0).varint(1).string(10, 'x').finish())).toBe('s');
  });
});

describe('requests: refused from the bytes, before the generated decoder builds anything', () => {
  const refused = (fn: () => unknown): InvalidArgumentError => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidArgumentError);
      return e as InvalidArgumentError;
    }
    throw new Error('expected an InvalidArgumentError');
  };
  const MiB16 = 16 * 1024 * 1024;
  /** `n` bytes of `pair` repeated */
  const repeat = (pair: number[], n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += pair.length) for (let j = 0; j < pair.length; j++) b[i + j] = pair[j]!;
    return b;
  };
  /** `{ query = 1: body }`, the length prefix written out for a body of any size */
  const inQuery = (body: Buffer): Buffer => Buffer.concat([new Writer().tag(1, 2).varint(body.length).finish(), body]);
  /** heap growth while `fn` runs, in MB (loose: no forced GC) */
  const heapGrowth = (fn: () => void): number => {
    const before = process.memoryUsage().heapUsed;
    fn();
    return (process.memoryUsage().heapUsed - before) / 1e6;
  };

  it('16 MiB of empty GetTraceParams: refused at the 10,000-trace limit, naming the field', () => {
    const buf = repeat([0x0a, 0x00], MiB16);
    let e: InvalidArgumentError | undefined;
    expect(heapGrowth(() => (e = refused(() => decodeGetTracesRequest(buf))))).toBeLessThan(100);
    expect(e?.field).toBe('query');
    expect(e?.message).toMatch(/at most 10000 traces/);
    // the limit itself is accepted
    expect(decodeGetTracesRequest(repeat([0x0a, 0x00], 2 * 10_000))).toHaveLength(10_000);
  });

  it('16 MiB of empty attributes (storage v2 KeyValue, api_v3 map entries): refused at 1,000 attributes', () => {
    const buf = inQuery(repeat([0x1a, 0x00], MiB16));
    for (const decode of [decodeStorageFindRequest, decodeFindTracesRequest] as ((b: Buffer) => unknown)[]) {
      let e: InvalidArgumentError | undefined;
      expect(heapGrowth(() => (e = refused(() => decode(buf))))).toBeLessThan(100);
      expect(e?.field).toBe('query.attributes');
      expect(e?.message).toMatch(/at most 1000 attributes/);
    }
    // 1,000 attributes are accepted
    const many = (value: (e: Writer) => void) =>
      new Writer()
        .message(1, (q) => {
          for (let i = 0; i < 1000; i++) q.message(3, (e) => value(e.string(1, `k${i}`)));
        })
        .finish();
    expect(Object.keys(decodeFindTracesRequest(many((e) => e.string(2, 'v')))?.attributes ?? {})).toHaveLength(1000);
    expect(Object.keys(decodeStorageFindRequest(many((e) => e.message(2, (v) => v.string(1, 'v')))).attributes ?? {})).toHaveLength(1000);
  });

  it('storage v2 attributes count nested array and kvlist values too', () => {
    const values = (n: number, kind: 5 | 6) =>
      new Writer()
        .message(1, (q) =>
          q.message(3, (kv) =>
            kv.string(1, 'a').message(2, (v) =>
              v.message(kind, (a) => {
                for (let i = 0; i < n; i++) a.message(1, () => undefined);
              }),
            ),
          ),
        )
        .finish();
    for (const kind of [5, 6] as const) {
      expect(refused(() => decodeStorageFindRequest(values(1000, kind))).field).toBe('query.attributes');
      expect(decodeStorageFindRequest(values(999, kind)).attributes?.a).toBeDefined();
    }
  });

  it('refuses a known field sent with a wire type other than its declared one, naming the field', () => {
    // query (a message) sent as a varint: the generated decoder alone reads it as length-delimited and finds
    // search_depth 2^32 + 5 truncated to 5
    const depth = Buffer.concat([Buffer.from([0x08, 0x06, 0x40]), new Writer().varint(2n ** 32n + 5n).finish()]);
    expect(fromBinary(V3FindTracesRequestSchema, depth).query?.searchDepth).toBe(5);
    for (const decode of [decodeFindTracesRequest, decodeStorageFindRequest] as ((b: Buffer) => unknown)[]) {
      const e = refused(() => decode(depth));
      expect(e.field).toBe('FindTracesRequest');
      expect(e.message).toMatch(/FindTracesRequest\.query \(1\) sent with wire type 0/);
    }
    // search_depth (int32) sent as fixed32, a trace ID (bytes) as a varint, a map value as a varint
    expect(refused(() => decodeFindTracesRequest(new Writer().message(1, (q) => q.fixed32(8, 5)).finish())).message).toMatch(/TraceQueryParameters\.search_depth/);
    expect(refused(() => decodeGetTracesRequest(new Writer().message(1, (p) => p.tag(1, 0).varint(1)).finish())).message).toMatch(/GetTraceParams\.trace_id/);
    expect(refused(() => decodeFindTracesRequest(new Writer().message(1, (q) => q.message(3, (e) => e.string(1, 'k').tag(2, 0).varint(1))).finish())).message).toMatch(/map field .*attributes/);
  });

  it('reads each map entry within its bounds: a key running past the entry is refused', () => {
    // an attributes entry 3 bytes long whose key says 5 bytes, reaching into the two empty operation names after it
    const buf = new Writer()
      .message(1, (q) => q.raw(Buffer.from([0x1a, 0x03, 0x0a, 0x05, 0x6b, 0x12, 0x00, 0x12, 0x00])).tag(8, 0).varint(1))
      .finish();
    expect(fromBinary(V3FindTracesRequestSchema, buf).query?.attributes).toEqual({ 'k\u0012\u0000\u0012\u0000': '' });
    const e = refused(() => decodeFindTracesRequest(buf));
    expect(e.field).toBe('FindTracesRequest');
    expect(e.message).toMatch(/malformed protobuf/);
  });
});
