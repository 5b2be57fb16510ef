// Messages of jaeger.storage.v2 (proto/storage/v2/trace_storage.proto and dependency_storage.proto of jaeger-idl),
// through the code generated from them, to and from the storage API's types. GetTraces and FindTraces reply with
// OTLP TracesData already encoded by the storage layer, sent as they are. Messages it shares with api_v3 are in
// ../grpc-codec.ts.
import { type AttrValue, type DependencyLink, type FoundTraceId, type GetTraceParams, InvalidArgumentError, type KeyValue, MAX_SEARCH_DEPTH, MAX_VALUE_DEPTH, type TimeRange, type TraceQuery, type TraceSummary, type SearchCapabilities, DEFAULT_SEARCH_DEPTH } from '../../storage/api/index.js';
import { GetDependenciesRequestSchema, GetDependenciesResponseSchema } from '../../gen/storage/v2/dependency_storage_pb.js';
import { type AnyValue, FindTraceIDsResponseSchema, FindTraceSummariesResponseSchema, FindTracesRequestSchema, GetTracesRequestSchema, TraceQueryParametersSchema } from '../../gen/storage/v2/trace_storage_pb.js';
import { GetCapabilitiesResponseSchema } from '../../gen/storage/v2/capabilities_pb.js';
import { type EntryLimit, MAX_QUERY_ATTRIBUTES, decode, encode, timestampNs, toTimestamp, traceParams, traceQuery } from '../grpc-codec.js';

const TRACES_LIMIT: EntryLimit[] = [{ field: GetTracesRequestSchema.field.query, max: MAX_SEARCH_DEPTH, name: 'query', what: 'traces per GetTraces request' }];

/** GetTracesRequest { repeated GetTraceParams query = 1 }, GetTraceParams { bytes trace_id = 1; Timestamp start_time = 2; Timestamp end_time = 3 } */
export function decodeGetTracesRequest(buf: Buffer): GetTraceParams[] {
  const { query } = decode(GetTracesRequestSchema, buf, 'GetTracesRequest', TRACES_LIMIT);
  if (query.length > MAX_SEARCH_DEPTH) throw new InvalidArgumentError('query', `at most ${MAX_SEARCH_DEPTH} traces per GetTraces request`);
  return query.map((p, i) => traceParams(p, Buffer.from(p.traceId.buffer, p.traceId.byteOffset, p.traceId.byteLength).toString('hex'), `query[${i}].`));
}

/** an AnyValue as the storage API's value; values nested deeper than MAX_VALUE_DEPTH are null, as in OTLP ingest */
function attrValue(v: AnyValue | undefined, depth: number): AttrValue {
  if (!v || depth >= MAX_VALUE_DEPTH) return null;
  const o = v.value;
  switch (o.case) {
    case 'stringValue':
    case 'boolValue':
    case 'intValue':
    case 'doubleValue':
      return o.value;
    case 'bytesValue':
      return new Uint8Array(o.value);
    case 'arrayValue':
      return { array: o.value.values.map((x) => attrValue(x, depth + 1)) };
    case 'kvlistValue':
      return { kvlist: o.value.values.map((kv): KeyValue => ({ key: kv.key, value: attrValue(kv.value, depth + 1) })) };
    default:
      return null;
  }
}

const ATTRIBUTES_LIMIT: EntryLimit[] = [{ field: TraceQueryParametersSchema.field.attributes, max: MAX_QUERY_ATTRIBUTES, name: 'query.attributes', what: 'attributes per query, nested array and kvlist values included' }];

/**
 * FindTracesRequest, FindTraceIDsRequest and FindTraceSummariesRequest: { TraceQueryParameters query = 1 }, attributes
 * as KeyValue. `paged`: the call may carry pagination (FindTraceIDs, FindTraceSummaries).
 */
export function decodeStorageFindRequest(buf: Buffer, paged = false): TraceQuery {
  const { query } = decode(FindTracesRequestSchema, buf, 'FindTracesRequest', ATTRIBUTES_LIMIT);
  if (!query) return { searchDepth: DEFAULT_SEARCH_DEPTH };
  let attributes: Record<string, AttrValue> | undefined;
  for (const kv of query.attributes) (attributes ??= {})[kv.key] = attrValue(kv.value, 0);
  return traceQuery(query, attributes, paged);
}

/** GetDependenciesRequest { Timestamp start_time = 1; Timestamp end_time = 2 }: unset start is the epoch, unset end now */
export function decodeGetDependenciesRequest(buf: Buffer): TimeRange {
  const m = decode(GetDependenciesRequestSchema, buf, 'GetDependenciesRequest');
  const out: TimeRange = { start: timestampNs(m.startTime, 'start_time') ?? 0n, end: timestampNs(m.endTime, 'end_time') ?? BigInt(Date.now()) * 1_000_000n };
  if (out.start > out.end) throw new InvalidArgumentError('start_time', 'is after end_time: the time range is inverted');
  return out;
}

/** FindTraceIDsResponse { repeated FoundTraceID trace_ids = 1 }, FoundTraceID { bytes trace_id = 1; Timestamp start = 2; Timestamp end = 3 } */
export const encodeFindTraceIdsResponse = (ids: FoundTraceId[]): Buffer =>
  encode(FindTraceIDsResponseSchema, {
    traceIds: ids.map((f) => ({
      traceId: Buffer.from(f.traceId, 'hex'),
      ...(f.start !== undefined && { start: toTimestamp(f.start) }),
      ...(f.end !== undefined && { end: toTimestamp(f.end) }),
    })),
  });

/** GetDependenciesResponse { repeated Dependency dependencies = 1 }, Dependency { string parent = 1; string child = 2; uint64 call_count = 3; string source = 4 } */
export const encodeGetDependenciesResponse = (deps: DependencyLink[]): Buffer =>
  encode(GetDependenciesResponseSchema, { dependencies: deps.map((d) => ({ parent: d.parent, child: d.child, callCount: BigInt(d.callCount), source: d.source ?? '' })) });

/** FindTraceSummariesResponse { repeated TraceSummary summaries = 1; string next_page_token = 2 }, 16-byte trace IDs */
export const encodeFindTraceSummariesResponse = (summaries: readonly TraceSummary[]): Buffer =>
  encode(FindTraceSummariesResponseSchema, { summaries: summaries.map((s) => ({ ...s, traceId: Buffer.from(s.traceId, 'hex') })) });

/** GetCapabilitiesResponse { SearchCapabilities search = 1 } */
export const encodeGetCapabilitiesResponse = (c: SearchCapabilities): Buffer => encode(GetCapabilitiesResponseSchema, { search: { ...c } });
