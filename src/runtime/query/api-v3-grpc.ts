// Jaeger api_v3 over gRPC: jaeger.api_v3.QueryService (GetTrace, FindTraces, FindTraceSummaries, GetServices,
// GetOperations, GetDependencies) and jaeger.api_v3.Capabilities, the form Jaeger's own tools and gRPC clients use.
// FindSpans is not served (UNIMPLEMENTED; capabilities say span_search false). Same semantics as the HTTP/JSON form (./api-v3-http.ts): an unknown
// trace is NOT_FOUND, a malformed trace ID or a search without its time window is INVALID_ARGUMENT naming the field,
// searches return at most 100 traces unless search_depth says otherwise. Traces stream as OTLP TracesData messages,
// each under gRPC's default 4 MiB receive limit (a large trace is split across messages).
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { type DependencyReader, InvalidArgumentError, type TraceQuery, type TraceReader, normalizeTraceId, searchCapabilities, traceSummaries } from '../../storage/api/index.js';
import { addHealthService, catalogHandlers, encodedBatches, messageStreamHandler, method, traceStreamHandler, unary } from '../grpc-util.js';
import type { Tenancy } from '../tenancy.js';
import { decodeApiV3DependenciesRequest, decodeFindTracesRequest, decodeGetTraceRequest, encodeDependenciesResponse, encodeFindTraceSummariesResponse, encodeGetCapabilitiesResponse } from './api-v3-codec.js';

export const QUERY_SERVICE = 'jaeger.api_v3.QueryService';
export const CAPABILITIES_SERVICE = 'jaeger.api_v3.Capabilities';

/** the search of a FindTracesRequest (or FindTraceSummariesRequest, `paged`): start_time_min and start_time_max are required */
function findQuery(req: Buffer, paged = false): TraceQuery {
  const q = decodeFindTracesRequest(req, paged);
  if (!q || q.startTimeMin === undefined) throw new InvalidArgumentError('query.start_time_min', 'is required, as is query.start_time_max');
  if (q.startTimeMax === undefined) throw new InvalidArgumentError('query.start_time_max', 'is required, as is query.start_time_min');
  return q;
}

/** Adds the query and capabilities services; every call reads as the tenant its metadata names (see ../tenancy.ts). */
export function addApiV3GrpcServices(server: grpc.Server, reader: TraceReader, deps: DependencyReader, tenancy: Tenancy, log: Logger, ready: () => boolean): void {
  const P = `/${QUERY_SERVICE}/`;
  server.addService(
    {
      GetTrace: method(`${P}GetTrace`, true),
      FindTraces: method(`${P}FindTraces`, true),
      GetServices: method(`${P}GetServices`),
      GetOperations: method(`${P}GetOperations`),
      FindTraceSummaries: method(`${P}FindTraceSummaries`, true),
      GetDependencies: method(`${P}GetDependencies`),
    },
    {
      GetTrace: traceStreamHandler(log, tenancy, (req, ctx) => {
        const p = decodeGetTraceRequest(req);
        const traceId = normalizeTraceId(p.traceId, 'trace_id');
        return { chunks: reader.getTraces([{ ...p, traceId }], ctx), notFound: `trace ${traceId} not found` };
      }),
      FindTraces: traceStreamHandler(log, tenancy, (req, ctx) => ({ chunks: reader.findTraces(findQuery(req), ctx) })),
      ...catalogHandlers(reader, tenancy, log, { serviceRequired: true }),
      FindTraceSummaries: messageStreamHandler(log, tenancy, (req, ctx) => ({ messages: encodedBatches(traceSummaries(reader, findQuery(req, true), ctx), encodeFindTraceSummariesResponse) })),
      GetDependencies: unary(log, tenancy, async (req, ctx) => encodeDependenciesResponse(await deps.getDependencies(decodeApiV3DependenciesRequest(req), ctx))),
    },
  );
  server.addService(
    { GetCapabilities: method(`/${CAPABILITIES_SERVICE}/GetCapabilities`) },
    { GetCapabilities: unary(log, tenancy, async (_req, ctx) => encodeGetCapabilitiesResponse(await searchCapabilities(reader, ctx))) },
  );
  addHealthService(server, [QUERY_SERVICE, CAPABILITIES_SERVICE], ready, log);
}
