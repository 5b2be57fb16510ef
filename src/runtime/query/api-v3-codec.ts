// Request messages of jaeger.api_v3.QueryService (proto/api_v3/query_service.proto of jaeger-idl). Its replies are
// OTLP TracesData and the GetServices / GetOperations responses it shares with jaeger.storage.v2 (../grpc-codec.ts).
import type { GetTraceParams, TraceQuery } from '../../storage/api/index.js';
import type { Reader } from '../../otlp/proto-wire.js';
import { decodeFindRequest, getTraceParams, reader } from '../grpc-codec.js';

/** GetTraceRequest { string trace_id = 1 (hex); Timestamp start_time = 2; Timestamp end_time = 3; bool raw_traces = 4 } */
export const decodeGetTraceRequest = (buf: Buffer): GetTraceParams => getTraceParams(reader(buf, 'GetTraceRequest'), buf.length, (r, end) => r.string(end));

/** an entry of map<string, string>: { string key = 1; string value = 2 } */
function stringEntry(r: Reader, end: number): { key: string; value: string } {
  const out = { key: '', value: '' };
  while (r.pos < end) {
    const tag = r.varint();
    if (tag === 0x0a) out.key = r.string(end);
    else if (tag === 0x12) out.value = r.string(end);
    else r.skip(tag, end);
  }
  return out;
}

/** FindTracesRequest { TraceQueryParameters query = 1 }; null when the query is unset */
export const decodeFindTracesRequest = (buf: Buffer): TraceQuery | null => decodeFindRequest(buf, stringEntry);
