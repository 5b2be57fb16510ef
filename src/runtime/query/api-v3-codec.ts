// Request messages of jaeger.api_v3.QueryService (proto/api_v3/query_service.proto of jaeger-idl), decoded with the
// code generated from it. Its replies are OTLP TracesData (already encoded by the storage layer, sent as they are)
// and the GetServices / GetOperations responses it shares with jaeger.storage.v2 (../grpc-codec.ts).
import type { GetTraceParams, TraceQuery } from '../../storage/api/index.js';
import { FindTracesRequestSchema, GetTraceRequestSchema, TraceQueryParametersSchema } from '../../gen/api_v3/query_service_pb.js';
import { type EntryLimit, MAX_QUERY_ATTRIBUTES, decode, traceParams, traceQuery } from '../grpc-codec.js';

/** GetTraceRequest { string trace_id = 1 (hex); Timestamp start_time = 2; Timestamp end_time = 3; bool raw_traces = 4 } */
export function decodeGetTraceRequest(buf: Buffer): GetTraceParams {
  const m = decode(GetTraceRequestSchema, buf, 'GetTraceRequest');
  return traceParams(m, m.traceId);
}

const ATTRIBUTES_LIMIT: EntryLimit[] = [{ field: TraceQueryParametersSchema.field.attributes, max: MAX_QUERY_ATTRIBUTES, name: 'query.attributes', what: 'attributes per query' }];

/** FindTracesRequest { TraceQueryParameters query = 1 }, attributes a map<string, string>; null when the query is unset */
export function decodeFindTracesRequest(buf: Buffer): TraceQuery | null {
  const { query } = decode(FindTracesRequestSchema, buf, 'FindTracesRequest', ATTRIBUTES_LIMIT);
  if (!query) return null;
  const attributes: Record<string, string> = {};
  let any = false;
  for (const [k, v] of Object.entries(query.attributes)) {
    attributes[k] = v;
    any = true;
  }
  return traceQuery(query, any ? attributes : undefined);
}
