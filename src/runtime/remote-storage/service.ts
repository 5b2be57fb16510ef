// The Jaeger remote-storage gRPC API (jaeger.storage.v2 TraceReader and DependencyReader), so that a stock
// Jaeger v2 with a `grpc` storage backend reads through this runtime; writes arrive as OTLP TraceService/Export on
// the same port. FindTraceSummaries is not served (UNIMPLEMENTED: Jaeger then falls back to FindTraces).
// Replies stay under gRPC's default 4 MiB message limit: a trace larger than that goes out in several messages.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { type DependencyReader, InvalidArgumentError, type ResourceSpans, StorageError, type TraceChunk, type TraceReader } from '../../storage/api/index.js';
import { encodeTracesProto } from '../../storage/api/otlp-proto.js';
import {
  decodeFindRequest,
  decodeGetDependenciesRequest,
  decodeGetOperationsRequest,
  decodeGetTracesRequest,
  decodeHealthRequest,
  encodeFindTraceIdsResponse,
  encodeGetDependenciesResponse,
  encodeGetOperationsResponse,
  encodeGetServicesResponse,
  encodeHealthResponse,
} from './codec.js';

const raw = (b: Buffer): Buffer => b;
const method = (path: string, responseStream = false): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: false,
  responseStream,
  requestSerialize: raw,
  requestDeserialize: raw,
  responseSerialize: raw,
  responseDeserialize: raw,
});

/** largest reply message: below gRPC's default 4 MiB receive limit */
export const MAX_REPLY_BYTES = 3.5 * 1024 * 1024;

export function toGrpcError(e: unknown, log: Logger): grpc.ServiceError {
  const err = new Error(e instanceof Error ? e.message : String(e)) as grpc.ServiceError;
  if (e instanceof InvalidArgumentError) err.code = grpc.status.INVALID_ARGUMENT;
  else if (e instanceof StorageError && e.code === 'Unavailable') err.code = grpc.status.UNAVAILABLE;
  else if (e instanceof StorageError && e.code === 'Unimplemented') err.code = grpc.status.UNIMPLEMENTED;
  else {
    err.code = grpc.status.INTERNAL;
    log.error({ err: err.message }, 'remote storage request failed');
  }
  err.details = err.message;
  return err;
}

/** Encodes a chunk as one or more TracesData messages, each under MAX_REPLY_BYTES. */
export function encodeChunk(resourceSpans: ResourceSpans[], limit = MAX_REPLY_BYTES): Buffer[] {
  const bytes = encodeTracesProto(resourceSpans);
  if (bytes.length <= limit) return [bytes];
  // split by spans, keeping resource and scope with each half
  const flat: { rs: ResourceSpans; ss: ResourceSpans['scopeSpans'][number]; i: number }[] = [];
  for (const rs of resourceSpans) for (const ss of rs.scopeSpans) for (let i = 0; i < ss.spans.length; i++) flat.push({ rs, ss, i });
  if (flat.length < 2) return [bytes]; // one enormous span: send it, the client decides
  const half = Math.ceil(flat.length / 2);
  const rebuild = (part: typeof flat): ResourceSpans[] => {
    const out: ResourceSpans[] = [];
    for (const { rs, ss, i } of part) {
      let r = out.find((x) => x.resource === rs.resource);
      if (!r) out.push((r = { resource: rs.resource, schemaUrl: rs.schemaUrl, scopeSpans: [] }));
      let s = r.scopeSpans.find((x) => x.scope === ss.scope);
      if (!s) r.scopeSpans.push((s = { scope: ss.scope, schemaUrl: ss.schemaUrl, spans: [] }));
      s.spans.push(ss.spans[i]!);
    }
    return out;
  };
  return [...encodeChunk(rebuild(flat.slice(0, half)), limit), ...encodeChunk(rebuild(flat.slice(half)), limit)];
}

async function stream(call: grpc.ServerWritableStream<Buffer, Buffer>, iter: AsyncIterable<TraceChunk[]>, log: Logger): Promise<void> {
  try {
    for await (const batch of iter) {
      for (const c of batch) {
        for (const msg of encodeChunk(c.resourceSpans)) {
          if (call.cancelled) return;
          if (!call.write(msg)) await new Promise((r) => call.once('drain', r));
        }
      }
    }
    call.end();
  } catch (e) {
    call.emit('error', toGrpcError(e, log));
  }
}

function unary(log: Logger, fn: (req: Buffer) => Promise<Buffer>) {
  return (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    fn(call.request).then(
      (b) => cb(null, b),
      (e: unknown) => cb(toGrpcError(e, log)),
    );
  };
}

export function addRemoteStorageServices(server: grpc.Server, reader: TraceReader, deps: DependencyReader, log: Logger, ready: () => boolean): void {
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
      GetTraces: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        let params;
        try {
          params = decodeGetTracesRequest(call.request);
        } catch (e) {
          return call.emit('error', toGrpcError(e, log));
        }
        void stream(call, reader.getTraces(params), log);
      },
      GetServices: unary(log, async () => encodeGetServicesResponse(await reader.getServices())),
      GetOperations: unary(log, async (req) => {
        const q = decodeGetOperationsRequest(req);
        return encodeGetOperationsResponse(await reader.getOperations({ service: q.service, spanKind: q.spanKind }));
      }),
      FindTraces: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        let q;
        try {
          q = decodeFindRequest(call.request);
        } catch (e) {
          return call.emit('error', toGrpcError(e, log));
        }
        void stream(call, reader.findTraces(q), log);
      },
      FindTraceIDs: unary(log, async (req) => {
        const found = [];
        for await (const b of reader.findTraceIds(decodeFindRequest(req))) found.push(...b);
        return encodeFindTraceIdsResponse(found);
      }),
    },
  );
  server.addService(
    { GetDependencies: method('/jaeger.storage.v2.DependencyReader/GetDependencies') },
    { GetDependencies: unary(log, async (req) => encodeGetDependenciesResponse(await deps.getDependencies(decodeGetDependenciesRequest(req)))) },
  );
  const KNOWN = new Set(['', 'jaeger.storage.v2.TraceReader', 'jaeger.storage.v2.DependencyReader', 'jaeger.storage.v2.TraceWriter', 'opentelemetry.proto.collector.trace.v1.TraceService']);
  server.addService(
    { Check: method('/grpc.health.v1.Health/Check') },
    {
      Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        let service;
        try {
          service = decodeHealthRequest(call.request);
        } catch (e) {
          return cb(toGrpcError(e, log));
        }
        if (!KNOWN.has(service)) return cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${service}` });
        cb(null, encodeHealthResponse(ready()));
      },
    },
  );
}
