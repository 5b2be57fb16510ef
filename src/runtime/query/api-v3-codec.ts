// Messages of jaeger.api_v3.QueryService and Capabilities (proto/api_v3/ of jaeger-idl), through the code generated
// from them. Trace replies are OTLP TracesData (already encoded by the storage layer, sent as they are); the
// GetServices / GetOperations responses are shared with jaeger.storage.v2 (../grpc-codec.ts).
import type { DependencyLink, GetTraceParams, SearchCapabilities, TimeRange, TraceQuery, TraceSummary } from '../../storage/api/index.js';
import { InvalidArgumentError } from '../../storage/api/index.js';
import { GetCapabilitiesResponseSchema } from '../../gen/api_v3/capabilities_pb.js';
import {
  DependenciesResponseSchema,
  FindTraceSummariesResponseSchema,
  FindTracesRequestSchema,
  GetDependenciesRequestSchema,
  GetTraceRequestSchema,
  TraceQueryParametersSchema,
} from '../../gen/api_v3/query_service_pb.js';
import { type EntryLimit, MAX_QUERY_ATTRIBUTES, decode, encode, timestampNs, traceParams, traceQuery } from '../grpc-codec.js';

/** GetTraceRequest { string trace_id = 1 (hex); Timestamp start_time = 2; Timestamp end_time = 3; bool raw_traces = 4 } */
export function decodeGetTraceRequest(buf: Buffer): GetTraceParams {
  const m = decode(GetTraceRequestSchema, buf, 'GetTraceRequest');
  return traceParams(m, m.traceId);
}

const ATTRIBUTES_LIMIT: EntryLimit[] = [{ field: TraceQueryParametersSchema.field.attributes, max: MAX_QUERY_ATTRIBUTES, name: 'query.attributes', what: 'attributes per query' }];

/**
 * FindTracesRequest and FindTraceSummariesRequest { TraceQueryParameters query = 1 } (the same message), attributes a
 * map<string, string>; null when the query is unset. `paged`: the call may carry pagination (FindTraceSummaries).
 */
export function decodeFindTracesRequest(buf: Buffer, paged = false): TraceQuery | null {
  const { query } = decode(FindTracesRequestSchema, buf, 'FindTracesRequest', ATTRIBUTES_LIMIT);
  if (!query) return null;
  const attributes: Record<string, string> = {};
  let any = false;
  for (const [k, v] of Object.entries(query.attributes)) {
    attributes[k] = v;
    any = true;
  }
  return traceQuery(query, any ? attributes : undefined, paged);
}

/** FindTraceSummariesResponse { repeated TraceSummary summaries = 1; string next_page_token = 2 }, hex trace IDs */
export const encodeFindTraceSummariesResponse = (summaries: readonly TraceSummary[]): Buffer => encode(FindTraceSummariesResponseSchema, { summaries: summaries.map((s) => ({ ...s })) });

/** GetCapabilitiesResponse { SearchCapabilities search = 1 } */
export const encodeGetCapabilitiesResponse = (c: SearchCapabilities): Buffer => encode(GetCapabilitiesResponseSchema, { search: { ...c } });

/** GetDependenciesRequest { Timestamp start_time = 1; Timestamp end_time = 2 }: both required here */
export function decodeApiV3DependenciesRequest(buf: Buffer): TimeRange {
  const m = decode(GetDependenciesRequestSchema, buf, 'GetDependenciesRequest');
  const start = timestampNs(m.startTime, 'start_time');
  const end = timestampNs(m.endTime, 'end_time');
  if (start === undefined) throw new InvalidArgumentError('start_time', 'is required, as is end_time');
  if (end === undefined) throw new InvalidArgumentError('end_time', 'is required, as is start_time');
  if (start > end) throw new InvalidArgumentError('start_time', 'is after end_time: the time range is inverted');
  return { start, end };
}

/** DependenciesResponse { repeated Dependency dependencies = 1 }, Dependency { parent = 1; child = 2; uint64 call_count = 3 } */
export const encodeDependenciesResponse = (deps: readonly DependencyLink[]): Buffer =>
  encode(DependenciesResponseSchema, { dependencies: deps.map((d) => ({ parent: d.parent, child: d.child, callCount: BigInt(d.callCount) })) });
