// Query input at the edge: every number, time and duration of the classic and api_v3 HTTP parameters and of the
// gRPC requests (api_v3, jaeger.storage.v2) is parsed against its range; bad input is an InvalidArgumentError
// naming the parameter (HTTP 400 / INVALID_ARGUMENT), never a crash, a 500 or a silent truncation.
import { decodeFindTracesRequest, decodeGetTraceRequest } from '../../src/runtime/query/api-v3-codec.js';
import { parseDuration, parseEpoch, parseIntParam, parseTime, parseUnits, pathSegment, traceIdOfPath } from '../../src/runtime/query/params.js';
import { decodeGetDependenciesRequest, decodeGetTracesRequest, decodeStorageFindRequest } from '../../src/runtime/remote-storage/codec.js';
import { DEFAULT_SEARCH_DEPTH, InvalidArgumentError, MAX_NS, MAX_SEARCH_DEPTH, checkOperationQuery, checkTraceQuery } from '../../src/storage/api/index.js';
import { Writer } from '../../src/otlp/proto-wire.js';

/** the InvalidArgumentError `fn` throws (fails when it throws something else or nothing) */
function invalid(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError');
}

describe('HTTP parameters', () => {
  it('names a malformed percent-escape in a path segment instead of throwing URIError', () => {
    for (const raw of ['%', '%zz', 'a%2', '%E0%A4%A']) expect(invalid(() => pathSegment(raw, 'traceID')).field).toBe('traceID');
    expect(pathSegment('a%20b', 'service')).toBe('a b');
  });

  it('refuses times beyond int64 nanoseconds with the valid range (endTs of 400 nines)', () => {
    const e = invalid(() => parseEpoch('9'.repeat(400), 'endTs', 1_000_000n, 'milliseconds'));
    expect(e.field).toBe('endTs');
    expect(e.message).toMatch(/from 0 to 9223372036854/);
    expect(invalid(() => parseEpoch('9223372036855', 'endTs', 1_000_000n, 'milliseconds')).message).toMatch(/out of range.*9223372036854/);
    expect(parseEpoch('9223372036854', 'endTs', 1_000_000n, 'milliseconds')).toBe(9223372036854n * 1_000_000n);
    for (const bad of ['-1', '1e3', '0x10', 'NaN', '', ' ', '1.5']) expect(invalid(() => parseEpoch(bad, 'end', 1_000n, 'microseconds')).field).toBe('end');
    expect(invalid(() => parseUnits('99999999999999999999', 'lookback', 1_000_000n, 'milliseconds')).field).toBe('lookback');
  });

  it('bounds durations to what int64 nanoseconds hold', () => {
    expect(parseDuration('1.5s', 'minDuration')).toBe(1_500_000_000n);
    expect(parseDuration('2562047h', 'minDuration')).toBe(2562047n * 3_600_000_000_000n);
    for (const bad of ['2562048h', '999999999999999999999h', '-1s', '1', 'NaNs', '1e9s', 'h', `${'9'.repeat(100)}ns`]) {
      expect(invalid(() => parseDuration(bad, 'minDuration')).field).toBe('minDuration');
    }
  });

  it('bounds whole numbers to the range given and says which', () => {
    expect(parseIntParam('10000', 'limit', 1, MAX_SEARCH_DEPTH)).toBe(10_000);
    for (const bad of ['0', '10001', '99999999999999999999999', '-5', '2.5', 'ten', '']) {
      const e = invalid(() => parseIntParam(bad, 'limit', 1, MAX_SEARCH_DEPTH));
      expect(e.field).toBe('limit');
      expect(e.message).toContain(`1 to ${MAX_SEARCH_DEPTH}`);
    }
  });

  it('refuses RFC 3339 times outside the int64 nanosecond range', () => {
    expect(parseTime('2262-04-11T23:47:16.854775807Z', 't')).toBe(MAX_NS);
    for (const bad of ['2262-04-11T23:47:16.854775808Z', '9999-12-31T23:59:59Z', '2026-13-45T99:99:99Z', 'now', `${'2'.repeat(100)}`]) expect(invalid(() => parseTime(bad, 'query.start_time_min')).field).toBe('query.start_time_min');
  });
});

describe('trace IDs in a path', () => {
  it('takes hex first, then base64 of 16 or 8 bytes (standard or URL-safe, padded or not)', () => {
    expect(traceIdOfPath('ABC', 'trace_id')).toBe('00000000000000000000000000000abc');
    // also base64 of 8 bytes (0...01), but hex first, as Jaeger reads it
    expect(traceIdOfPath('AAAAAAAAAAE', 'trace_id')).toBe('000000000000000000000aaaaaaaaaae');
    expect(traceIdOfPath('AAAAAAAAAAE=', 'trace_id')).toBe('00000000000000000000000000000001');
    expect(traceIdOfPath('EjRWeJq83vD%2F3LqYdlQyEA', 'trace_id')).toBe('123456789abcdef0ffdcba9876543210');
    expect(traceIdOfPath('EjRWeJq83vD%2B3LqYdlQyEA%3D%3D', 'trace_id')).toBe('123456789abcdef0fedcba9876543210');
    expect(traceIdOfPath('EjRWeJq83vD-3LqYdlQyEA', 'trace_id')).toBe('123456789abcdef0fedcba9876543210');
    // 8 bytes: a 64-bit trace ID, left-padded as hex ones are
    expect(traceIdOfPath('_ty6mHZUMhA', 'trace_id')).toBe('0000000000000000fedcba9876543210');
  });

  it('refuses what is neither, naming both forms; the all-zero ID stays refused in either form', () => {
    expect(() => traceIdOfPath('0', 'trace_id')).toThrow(/all-zero/);
    for (const bad of ['EjRWeJq83vD+3LqYdlQy', 'EjRWeJq83vD+3LqYdlQyEA===', 'EjRW eJq83vD+3LqYdlQyEA', 'AAAAAAAAAAAAAAAAAAAAAA==', `${'A'.repeat(40)}`]) {
      // (all zeros in base64 decodes to the all-zero ID, refused as such)
      expect(() => traceIdOfPath(bad, 'trace_id')).toThrow(bad === 'AAAAAAAAAAAAAAAAAAAAAA==' ? /all-zero/ : /trace_id: .*hex characters, or the base64 of 16/);
    }
  });
});

describe('the shared search validation', () => {
  it('caps searchDepth at 10,000 for every backend, whatever a backend asks for', () => {
    expect(invalid(() => checkTraceQuery({ searchDepth: MAX_SEARCH_DEPTH + 1 }, 1_000_000)).message).toMatch(/searchDepth: must be an integer from 1 to 10000/);
    expect(checkTraceQuery({ searchDepth: MAX_SEARCH_DEPTH }).searchDepth).toBe(MAX_SEARCH_DEPTH);
  });

  it('refuses names longer than 16 KiB in a query', () => {
    expect(invalid(() => checkTraceQuery({ searchDepth: 1, serviceName: 'a'.repeat(16_385) })).field).toBe('serviceName');
    expect(invalid(() => checkTraceQuery({ searchDepth: 1, serviceName: 'a', operationName: 'ü'.repeat(8_193) })).field).toBe('operationName');
    expect(invalid(() => checkTraceQuery({ searchDepth: 1, attributes: { ['k'.repeat(17_000)]: 'v' } })).field).toBe('attributes');
    expect(invalid(() => checkOperationQuery({ service: 'a'.repeat(20_000) })).field).toBe('service');
    expect(checkTraceQuery({ searchDepth: 1, serviceName: 'a'.repeat(16_384), attributes: { k: 'v'.repeat(50_000) } }).serviceName).toHaveLength(16_384);
  });

  it('refuses time bounds and durations outside int64 nanoseconds', () => {
    expect(invalid(() => checkTraceQuery({ searchDepth: 1, startTimeMax: MAX_NS + 1n })).field).toBe('startTimeMax');
    expect(invalid(() => checkTraceQuery({ searchDepth: 1, durationMax: MAX_NS + 1n })).field).toBe('durationMax');
  });
});

// protobuf builders for the requests
const ts = (w: Writer, field: number, seconds: bigint, nanos = 0n) => w.message(field, (m) => m.tag(1, 0).varint(seconds).tag(2, 0).varint(nanos));
const findRequest = (fill: (q: Writer) => void): Buffer => new Writer().message(1, fill).finish();
const validWindow = (q: Writer) => {
  ts(q, 4, 1_700_000_000n);
  ts(q, 5, 1_700_000_100n);
};

describe('gRPC requests', () => {
  it('refuses a search_depth beyond int32 / the cap instead of truncating it to the default', () => {
    for (const d of [2n ** 40n, BigInt(MAX_SEARCH_DEPTH + 1), -1n]) {
      const buf = findRequest((q) => {
        validWindow(q);
        q.tag(8, 0).varint(d);
      });
      for (const decode of [decodeFindTracesRequest, decodeStorageFindRequest]) {
        const e = invalid(() => decode(buf));
        expect(e.field).toBe('query.search_depth');
        expect(e.message).toContain(`1 to ${MAX_SEARCH_DEPTH}`);
      }
    }
    // 0 is proto3's unset: the default
    const zero = findRequest((q) => {
      validWindow(q);
      q.tag(8, 0).varint(0);
    });
    expect(decodeFindTracesRequest(zero)?.searchDepth).toBe(DEFAULT_SEARCH_DEPTH);
  });

  it('refuses timestamps and durations outside their protobuf or int64 range, naming the field', () => {
    const cases: [(q: Writer) => void, string][] = [
      [(q) => ts(q, 4, 2n ** 62n), 'query.start_time_min'],
      [(q) => ts(q, 5, 253402300799n), 'query.start_time_max'], // year 9999: valid protobuf, beyond int64 ns
      [(q) => ts(q, 4, 1n, 2_000_000_000n), 'query.start_time_min'],
      [(q) => ts(q, 4, 1n, -1n), 'query.start_time_min'],
      [(q) => ts(q, 6, -5n), 'query.duration_min'],
      [(q) => ts(q, 7, 10n ** 15n), 'query.duration_max'],
      [
        (q) => {
          ts(q, 4, 200n);
          ts(q, 5, 100n);
        },
        'query.start_time_min',
      ],
    ];
    for (const [fill, field] of cases) {
      expect(invalid(() => decodeFindTracesRequest(findRequest(fill))).field).toBe(field);
      expect(invalid(() => decodeStorageFindRequest(findRequest(fill))).field).toBe(field);
    }
  });

  it('keeps Go zero time as unset', () => {
    const q = decodeStorageFindRequest(findRequest((w) => ts(w, 4, -62135596800n)));
    expect(q.startTimeMin).toBeUndefined();
  });

  it('checks the time windows of GetTrace, GetTraces and GetDependencies', () => {
    const getTrace = new Writer().string(1, 'ab').message(2, (m) => m.tag(1, 0).varint(2n ** 50n)).finish();
    expect(invalid(() => decodeGetTraceRequest(getTrace)).field).toBe('start_time');
    const getTraces = new Writer().message(1, (m) => ts(m.bytes(1, Buffer.alloc(16, 1)), 3, -(2n ** 60n))).finish();
    expect(invalid(() => decodeGetTracesRequest(getTraces)).field).toBe('query[0].end_time');
    const deps = new Writer();
    ts(deps, 1, 200n);
    ts(deps, 2, 100n);
    expect(invalid(() => decodeGetDependenciesRequest(deps.finish())).field).toBe('start_time');
  });

  it('answers random bytes with InvalidArgumentError only', () => {
    // seeded xorshift; no Math.random
    let s = 0x9e3779b9;
    const next = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), s >>> 0);
    for (let i = 0; i < 5000; i++) {
      const buf = Buffer.alloc(next() % 64);
      for (let j = 0; j < buf.length; j++) buf[j] = next() & 0xff;
      for (const decode of [decodeFindTracesRequest, decodeStorageFindRequest, decodeGetTraceRequest, decodeGetTracesRequest, decodeGetDependenciesRequest] as ((b: Buffer) => unknown)[]) {
        try {
          decode(buf);
        } catch (e) {
          if (!(e instanceof InvalidArgumentError)) throw new Error(`${decode.name}(${buf.toString('hex')}) threw ${String(e)}`);
        }
      }
    }
  });
});
