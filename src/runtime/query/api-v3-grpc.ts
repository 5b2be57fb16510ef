// Jaeger api_v3 over gRPC: jaeger.api_v3.QueryService (GetTrace, FindTraces, GetServices, GetOperations), the
// form Jaeger's own tools and gRPC clients use. Same semantics as the HTTP/JSON form (./api-v3-http.ts): an unknown
// trace is NOT_FOUND, a malformed trace ID or a search without its time window is INVALID_ARGUMENT naming the field,
// searches return at most 100 traces unless search_depth says otherwise. Traces stream as OTLP TracesData messages,
// each under gRPC's default 4 MiB receive limit (a large trace is split across messages).
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { InvalidArgumentError, type TraceQuery, type TraceReader, normalizeTraceId } from '../../storage/api/index.js';
import { addHealthService, catalogHandlers, method, traceStreamHandler } from '../grpc-util.js';
import type { Tenancy } from '../tenancy.js';
import { decodeFindTracesRequest, decodeGetTraceRequest } from './api-v3-codec.js';

export const QUERY_SERVICE = 'jaeger.api_v3.QueryService';

/** the search of a FindTracesRequest: start_time_min and start_time_max are required */
function findQuery(req: Buffer): TraceQuery {
  const q = decodeFindTracesRequest(req);
  if (!q || q.startTimeMin === undefined) throw new InvalidArgumentError('query.start_time_min', 'is required, as is query.start_time_max');
  if (q.startTimeMax === undefined) throw new InvalidArgumentError('query.start_time_max', 'is required, as is query.start_time_min');
  return q;
}

/** Adds the query service; every call reads as the tenant its metadata names (see ../tenancy.ts). */
export function addApiV3GrpcServices(server: grpc.Server, reader: TraceReader, tenancy: Tenancy, log: Logger, ready: () => boolean): void {
  const P = `/${QUERY_SERVICE}/`;
  server.addService(
    {
      GetTrace: method(`${P}GetTrace`, true),
      FindTraces: method(`${P}FindTraces`, true),
      GetServices: method(`${P}GetServices`),
      GetOperations: method(`${P}GetOperations`),
    },
    {
      GetTrace: traceStreamHandler(log, tenancy, (req, ctx) => {
        const p = decodeGetTraceRequest(req);
        const traceId = normalizeTraceId(p.traceId, 'trace_id');
        return { chunks: reader.getTraces([{ ...p, traceId }], ctx), notFound: `trace ${traceId} not found` };
      }),
      FindTraces: traceStreamHandler(log, tenancy, (req, ctx) => ({ chunks: reader.findTraces(findQuery(req), ctx) })),
      ...catalogHandlers(reader, tenancy, log, { serviceRequired: true }),
    },
  );
  addHealthService(server, [QUERY_SERVICE], ready, log);
}
