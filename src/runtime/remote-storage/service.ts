// The Jaeger remote-storage gRPC API (jaeger.storage.v2 TraceReader, DependencyReader and Capabilities), so that a
// stock Jaeger v2 with a `grpc` storage backend reads through this runtime; writes arrive as OTLP
// TraceService/Export on the same port. FindTraceSummaries streams summaries; FindSpans is not served
// (UNIMPLEMENTED, as the capabilities say: span_search false).
// Replies stay under gRPC's default 4 MiB message limit: a trace larger than that goes out in several messages.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { type DependencyReader, type FoundTraceId, type TraceReader, searchCapabilities, traceSummaries } from '../../storage/api/index.js';
import { addHealthService, catalogHandlers, encodedBatches, messageStreamHandler, method, traceStreamHandler, unary } from '../grpc-util.js';
import type { Tenancy } from '../tenancy.js';
import { throwIfGone, untilAborted } from '../cancel.js';
import {
  decodeGetDependenciesRequest,
  decodeGetTracesRequest,
  decodeStorageFindRequest,
  encodeFindTraceIdsResponse,
  encodeFindTraceSummariesResponse,
  encodeGetCapabilitiesResponse,
  encodeGetDependenciesResponse,
} from './codec.js';


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
      FindTraceSummaries: method(`${P}FindTraceSummaries`, true),
    },
    {
      GetTraces: traceStreamHandler(log, tenancy, (req, ctx) => ({ chunks: reader.getTraces(decodeGetTracesRequest(req), ctx) })),
      ...catalogHandlers(reader, tenancy, log, { serviceRequired: false }),
      FindTraces: traceStreamHandler(log, tenancy, (req, ctx) => ({ chunks: reader.findTraces(decodeStorageFindRequest(req), ctx) })),
      FindTraceIDs: unary(log, tenancy, async (req, ctx) => {
        const found: FoundTraceId[] = [];
        for await (const b of untilAborted(reader.findTraceIds(decodeStorageFindRequest(req, true), ctx), ctx.signal)) found.push(...b);
        throwIfGone(ctx.signal);
        return encodeFindTraceIdsResponse(found);
      }),
      FindTraceSummaries: messageStreamHandler(log, tenancy, (req, ctx) => ({ messages: encodedBatches(traceSummaries(reader, decodeStorageFindRequest(req, true), ctx), encodeFindTraceSummariesResponse) })),
    },
  );
  server.addService(
    { GetCapabilities: method('/jaeger.storage.v2.Capabilities/GetCapabilities') },
    { GetCapabilities: unary(log, tenancy, async (_req, ctx) => encodeGetCapabilitiesResponse(await searchCapabilities(reader, ctx))) },
  );
  server.addService(
    { GetDependencies: method('/jaeger.storage.v2.DependencyReader/GetDependencies') },
    { GetDependencies: unary(log, tenancy, async (req, ctx) => {
      return encodeGetDependenciesResponse(await deps.getDependencies(decodeGetDependenciesRequest(req), ctx));
    }) },
  );
  addHealthService(server, ['jaeger.storage.v2.TraceReader', 'jaeger.storage.v2.DependencyReader', 'jaeger.storage.v2.Capabilities', 'jaeger.storage.v2.TraceWriter', 'opentelemetry.proto.collector.trace.v1.TraceService'], ready, log);
}
