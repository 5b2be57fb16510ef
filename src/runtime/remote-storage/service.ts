// The Jaeger remote-storage gRPC API (jaeger.storage.v2 TraceReader and DependencyReader), so that a stock
// Jaeger v2 with a `grpc` storage backend reads through this runtime; writes arrive as OTLP TraceService/Export on
// the same port. FindTraceSummaries is not served (UNIMPLEMENTED: Jaeger then falls back to FindTraces).
// Replies stay under gRPC's default 4 MiB message limit: a trace larger than that goes out in several messages.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { type DependencyReader, type FoundTraceId, type TraceReader } from '../../storage/api/index.js';
import { addHealthService, catalogHandlers, method, traceStreamHandler, unary } from '../grpc-util.js';
import type { Tenancy } from '../tenancy.js';
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
      GetTraces: traceStreamHandler(log, (req, md) => {
        const ctx = tenancy.grpc(md);
        return { chunks: reader.getTraces(decodeGetTracesRequest(req), ctx) };
      }),
      ...catalogHandlers(reader, tenancy, log, { serviceRequired: false }),
      FindTraces: traceStreamHandler(log, (req, md) => {
        const ctx = tenancy.grpc(md);
        return { chunks: reader.findTraces(decodeStorageFindRequest(req), ctx) };
      }),
      FindTraceIDs: unary(log, async (req, md) => {
        const ctx = tenancy.grpc(md);
        const found: FoundTraceId[] = [];
        for await (const b of reader.findTraceIds(decodeStorageFindRequest(req), ctx)) found.push(...b);
        return encodeFindTraceIdsResponse(found);
      }),
    },
  );
  server.addService(
    { GetDependencies: method('/jaeger.storage.v2.DependencyReader/GetDependencies') },
    { GetDependencies: unary(log, async (req, md) => {
      const ctx = tenancy.grpc(md);
      return encodeGetDependenciesResponse(await deps.getDependencies(decodeGetDependenciesRequest(req), ctx));
    }) },
  );
  addHealthService(server, ['jaeger.storage.v2.TraceReader', 'jaeger.storage.v2.DependencyReader', 'jaeger.storage.v2.TraceWriter', 'opentelemetry.proto.collector.trace.v1.TraceService'], ready, log);
}
