// Messages of jaeger.storage.v2 (proto/storage/v2/trace_storage.proto and dependency_storage.proto of jaeger-idl),
// decoded from and encoded to the storage API's types. Messages it shares with api_v3 are in ../grpc-codec.ts.
import { DEFAULT_SEARCH_DEPTH, type DependencyLink, InvalidArgumentError, MAX_SEARCH_DEPTH, type FoundTraceId, type GetTraceParams, type TimeRange, type TraceQuery } from '../../storage/api/index.js';
import { keyValue } from '../../otlp/otlp-proto.js';
import { type Reader, Writer } from '../../otlp/proto-wire.js';
import { decodeFindRequest, getTraceParams, reader, sub, timestamp, writeTimestamp } from '../grpc-codec.js';

/** the bytes of a length-delimited field as hex */
function hexBytes(r: Reader, end: number): string {
  const e = r.len(end);
  const hex = r.buf.toString('hex', r.pos, e);
  r.pos = e;
  return hex;
}

/** GetTracesRequest { repeated GetTraceParams query = 1 } */
export function decodeGetTracesRequest(buf: Buffer): GetTraceParams[] {
  const r = reader(buf, 'GetTracesRequest');
  const out: GetTraceParams[] = [];
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 0x0a) {
      if (out.length >= MAX_SEARCH_DEPTH) throw new InvalidArgumentError('query', `at most ${MAX_SEARCH_DEPTH} traces per GetTraces request`);
      const prefix = `query[${out.length}].`;
      out.push(sub(r, buf.length, (q, end) => getTraceParams(q, end, hexBytes, prefix)));
    }
    else r.skip(tag, buf.length);
  }
  return out;
}

/** FindTracesRequest and FindTraceIDsRequest: { TraceQueryParameters query = 1 }, attributes as KeyValue */
export const decodeStorageFindRequest = (buf: Buffer): TraceQuery => decodeFindRequest(buf, keyValue) ?? { searchDepth: DEFAULT_SEARCH_DEPTH };

/** GetDependenciesRequest { Timestamp start_time = 1; Timestamp end_time = 2 }: unset start is the epoch, unset end now */
export function decodeGetDependenciesRequest(buf: Buffer): TimeRange {
  const r = reader(buf, 'GetDependenciesRequest');
  const out: TimeRange = { start: 0n, end: BigInt(Date.now()) * 1_000_000n };
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 0x0a) out.start = sub(r, buf.length, timestamp('start_time')) ?? 0n;
    else if (tag === 0x12) out.end = sub(r, buf.length, timestamp('end_time')) ?? out.end;
    else r.skip(tag, buf.length);
  }
  if (out.start > out.end) throw new InvalidArgumentError('start_time', 'is after end_time: the time range is inverted');
  return out;
}

export const encodeFindTraceIdsResponse = (ids: FoundTraceId[]): Buffer => {
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

export const encodeGetDependenciesResponse = (deps: DependencyLink[]): Buffer => {
  const w = new Writer();
  for (const d of deps) w.message(1, (m) => m.string(1, d.parent).string(2, d.child).uint(3, d.callCount).string(4, d.source ?? ''));
  return w.finish();
};
