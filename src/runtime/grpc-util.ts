// gRPC plumbing shared by the runtime's services: methods with raw Buffer (de)serializers (messages are encoded by
// our own codec), storage errors as gRPC statuses, trace streams split under the client's message limit,
// grpc.health.v1, and server start-up.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { InvalidArgumentError, type ResourceSpans, StorageError, type TraceChunk, type TraceReader, checkOperationQuery } from '../storage/api/index.js';
import { encodeTracesProto } from '../otlp/otlp-proto.js';
import { decodeGetOperationsRequest, decodeHealthRequest, encodeGetOperationsResponse, encodeGetServicesResponse, encodeHealthResponse } from './grpc-codec.js';
import { type Tenancy, TenantError } from './tenancy.js';

const raw = (b: Buffer): Buffer => b;

/** a method taking one message, answering one (or a stream when `responseStream`) */
export const method = (path: string, responseStream = false): grpc.MethodDefinition<Buffer, Buffer> => ({
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
  else if (e instanceof TenantError) err.code = grpc.status.UNAUTHENTICATED;
  else if (e instanceof StorageError && e.code === 'Unavailable') err.code = grpc.status.UNAVAILABLE;
  else if (e instanceof StorageError && e.code === 'Unimplemented') err.code = grpc.status.UNIMPLEMENTED;
  else {
    err.code = grpc.status.INTERNAL;
    log.error({ err: err.message }, 'gRPC request failed');
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

/** What a trace-streaming method sends: the chunks, and the NOT_FOUND message for when there are none. */
export interface TraceStream {
  chunks: AsyncIterable<TraceChunk[]>;
  /** when set, an empty result ends the call with NOT_FOUND and this message instead of OK */
  notFound?: string;
}

async function stream(call: grpc.ServerWritableStream<Buffer, Buffer>, out: TraceStream, log: Logger): Promise<void> {
  let sent = 0;
  try {
    for await (const batch of out.chunks) {
      for (const c of batch) {
        for (const msg of encodeChunk(c.resourceSpans)) {
          if (call.cancelled) return;
          sent++;
          if (!call.write(msg)) await new Promise((r) => call.once('drain', r));
        }
      }
    }
    if (!sent && out.notFound !== undefined) call.emit('error', { code: grpc.status.NOT_FOUND, details: out.notFound });
    else call.end();
  } catch (e) {
    call.emit('error', toGrpcError(e, log));
  }
}

/**
 * A server-streaming handler answering TracesData messages; `open` decodes the request and reads the tenant from
 * its metadata (its errors are statuses).
 */
export function traceStreamHandler(log: Logger, open: (req: Buffer, md: grpc.Metadata) => TraceStream) {
  return (call: grpc.ServerWritableStream<Buffer, Buffer>): void => {
    let out: TraceStream;
    try {
      out = open(call.request, call.metadata);
    } catch (e) {
      call.emit('error', toGrpcError(e, log));
      return;
    }
    void stream(call, out, log);
  };
}

/** A unary handler given the request and its metadata (the tenant); errors thrown or rejected become statuses. */
export function unary(log: Logger, fn: (req: Buffer, md: grpc.Metadata) => Promise<Buffer>) {
  return (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void => {
    fn(call.request, call.metadata).then(
      (b) => cb(null, b),
      (e: unknown) => cb(toGrpcError(e, log)),
    );
  };
}

/**
 * GetServices and GetOperations as both api_v3 and jaeger.storage.v2 define them (same messages): read as the tenant
 * the call's metadata names. `serviceRequired`: api_v3 refuses an empty service, the storage API passes it on.
 */
export function catalogHandlers(reader: TraceReader, tenancy: Tenancy, log: Logger, o: { serviceRequired: boolean }) {
  return {
    GetServices: unary(log, async (_req, md) => encodeGetServicesResponse(await reader.getServices(tenancy.grpc(md)))),
    GetOperations: unary(log, async (req, md) => {
      const ctx = tenancy.grpc(md);
      const q = decodeGetOperationsRequest(req);
      if (o.serviceRequired && !q.service) throw new InvalidArgumentError('service', 'is required');
      return encodeGetOperationsResponse(await reader.getOperations(checkOperationQuery({ service: q.service, spanKind: q.spanKind }), ctx));
    }),
  };
}

/** grpc.health.v1.Health/Check: SERVING while `ready()`, for the server as a whole ('') and each of `services`. */
export function addHealthService(server: grpc.Server, services: readonly string[], ready: () => boolean, log: Logger): void {
  const known = new Set(['', ...services]);
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
        if (!known.has(service)) return cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${service}` });
        cb(null, encodeHealthResponse(ready()));
      },
    },
  );
}

/**
 * Starts a gRPC server taking requests of up to `maxRequestBytes`. Replies are not capped here: the services keep
 * each message under MAX_REPLY_BYTES (a single span larger than that still goes out whole).
 */
export async function startGrpcServer(
  host: string,
  port: number,
  maxRequestBytes: number,
  setup: (s: grpc.Server) => void,
  log: Logger,
  name: string,
  o: { idleTimeoutMs?: number; maxConcurrentStreams?: number; credentials?: grpc.ServerCredentials } = {},
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxRequestBytes,
    // an idle connection is closed (clients reconnect on demand); one connection cannot open unbounded streams
    'grpc.max_connection_idle_ms': o.idleTimeoutMs ?? 300_000,
    'grpc.max_concurrent_streams': o.maxConcurrentStreams ?? 100,
  });
  setup(server);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, o.credentials ?? grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  log.info({ port: bound }, `${name} listening`);
  return { server, port: bound };
}
