// The Jaeger remote-storage gRPC API (jaeger.storage.v2 TraceReader and DependencyReader), so that a stock
// Jaeger v2 with a `grpc` storage backend reads through this runtime; writes arrive as OTLP TraceService/Export on
// the same port. FindTraceSummaries is not served (UNIMPLEMENTED: Jaeger then falls back to FindTraces).
// Replies stay under gRPC's default 4 MiB message limit: a trace larger than that goes out in several messages.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { type DependencyReader, type FoundTraceId, type TraceReader } from '../../storage/api/index.js';
import { addHealthService, catalogHandlers, method, traceStreamHandler, unary } from '../grpc-util.js';
import type { Tenancy } from '../tenancy.js';
import { throwIfGone, untilAborted } from '../cancel.js';
import { decodeGetDependenciesRequest, decodeGetTracesRequest, decodeStorageFindRequest, encodeFindTraceIdsResponse, encodeGetDependenciesResponse } from './codec.js';

/** Adds the reader services; every call reads as the tenant its metadata names (see ../tenancy.ts). */
export function addRemoteStorageServices(server: grpc.Server, reader: TraceReader, deps: DependencyReader, tenancy: Tenancy, log: Logger, ready: () => boolean): void {
  const P = '/jaeger.storage.v2.TraceReader/';
  server.addService(
    {
      GetTraces: method(`${P}GetTraces`, true),
      GetServices: method(`${P}GetServices`),
      GetOperations: method(`${P}GetOperations`),
      FindTraces: method(`${P}FindTraces`, true),
      FindTraceIDs: method(`${P}FindTraceIDs`),
    },
    {
      GetTraces: traceStreamHandler(log, tenancy, (req, ctx) => ({ chunks: reader.getTraces(decodeGetTracesRequest(req), ctx) })),
      ...catalogHandlers(reader, tenancy, log, { serviceRequired: false }),
      FindTraces: traceStreamHandler(log, tenancy, (req, ctx) => ({ chunks: reader.findTraces(decodeStorageFindRequest(req), ctx) })),
      FindTraceIDs: unary(log, tenancy, async (req, ctx) => {
        const found: FoundTraceId[] = [];
        for await (const b of untilAborted(reader.findTraceIds(decodeStorageFindRequest(req), ctx), ctx.signal)) found.push(...b);
        throwIfGone(ctx.signal);
        return encodeFindTraceIdsResponse(found);
      }),
    },
  );
  server.addService(
    { GetDependencies: method('/jaeger.storage.v2.DependencyReader/GetDependencies') },
    { GetDependencies: unary(log, tenancy, async (req, ctx) => {
      return encodeGetDependenciesResponse(await deps.getDependencies(decodeGetDependenciesRequest(req), ctx));
    }) },
  );
  addHealthService(server, ['jaeger.storage.v2.TraceReader', 'jaeger.storage.v2.DependencyReader', 'jaeger.storage.v2.TraceWriter', 'opentelemetry.proto.collector.trace.v1.TraceService'], ready, log);
}
