// gRPC plumbing shared by the runtime's services: methods with raw Buffer (de)serializers (messages are encoded by
// our own codec), storage errors as gRPC statuses, trace streams split under the client's message limit,
// grpc.health.v1, and server start-up.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { InvalidArgumentError, type ResourceSpans, type StorageContext, StorageError, type TraceChunk, type TraceReader, checkOperationQuery } from '../storage/api/index.js';
import { encodeTracesProto } from '../otlp/otlp-proto.js';
import { decodeGetOperationsRequest, decodeHealthRequest, encodeGetOperationsResponse, encodeGetServicesResponse, encodeHealthResponse } from './grpc-codec.js';
import { type Tenancy, TenantError } from './tenancy.js';
import { ClientGoneError, grpcSignal, untilAborted } from './cancel.js';

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
  else if (e instanceof ClientGoneError) err.code = grpc.status.CANCELLED;
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

async function stream(call: grpc.ServerWritableStream<Buffer, Buffer>, out: MessageStream, signal: AbortSignal, log: Logger): Promise<void> {
  let sent = 0;
  // a cancelled call never drains: stop waiting for it
  const drained = () =>
    new Promise<void>((r) => {
      const done = () => {
        call.off('drain', done);
        signal.removeEventListener('abort', done);
        r();
      };
      call.once('drain', done);
      signal.addEventListener('abort', done, { once: true });
    });
  try {
    for await (const batch of untilAborted(out.messages, signal)) {
      for (const msg of batch) {
        if (signal.aborted) return;
        sent++;
        if (!call.write(msg)) await drained();
      }
    }
    if (signal.aborted) return;
    if (!sent && out.notFound !== undefined) call.emit('error', { code: grpc.status.NOT_FOUND, details: out.notFound });
    else call.end();
  } catch (e) {
    if (!signal.aborted) call.emit('error', toGrpcError(e, log));
  }
}

/** What a server-streaming method sends: encoded messages, and the NOT_FOUND message for when there are none. */
export interface MessageStream {
  messages: AsyncIterable<Buffer[]>;
  notFound?: string;
}

/** one chunk encoded at a time: a big batch is not held encoded twice, and cancellation is seen between chunks */
async function* traceMessages(chunks: AsyncIterable<TraceChunk[]>): AsyncGenerator<Buffer[]> {
  for await (const batch of chunks) for (const c of batch) yield encodeChunk(c.resourceSpans);
}

/**
 * A server-streaming handler answering TracesData messages. `open` decodes the request; its context carries the
 * tenant of the call's metadata and a signal that aborts when the call is cancelled (its errors are statuses).
 */
export function traceStreamHandler(log: Logger, tenancy: Tenancy, open: (req: Buffer, ctx: StorageContext) => TraceStream) {
  return messageStreamHandler(log, tenancy, (req, ctx) => {
    const t = open(req, ctx);
    return { messages: traceMessages(t.chunks), ...(t.notFound !== undefined && { notFound: t.notFound }) };
  });
}

/** A server-streaming handler answering the messages `open` encodes (see traceStreamHandler). */
export function messageStreamHandler(log: Logger, tenancy: Tenancy, open: (req: Buffer, ctx: StorageContext) => MessageStream) {
  return (call: grpc.ServerWritableStream<Buffer, Buffer>): void => {
    const signal = grpcSignal(call);
    let out: MessageStream;
    try {
      out = open(call.request, { ...tenancy.grpc(call.metadata), signal });
    } catch (e) {
      call.emit('error', toGrpcError(e, log));
      return;
    }
    void stream(call, out, signal, log);
  };
}

/** each batch of `batches` encoded by `enc` into messages under the reply limit (encodeBounded) */
export async function* encodedBatches<T>(batches: AsyncIterable<T[]>, enc: (items: T[]) => Buffer): AsyncGenerator<Buffer[]> {
  for await (const b of batches) yield encodeBounded(b, enc);
}

/**
 * `items` encoded by `enc` into messages under `limit` bytes each: halved until they fit (one item is sent as it is).
 */
export function encodeBounded<T>(items: T[], enc: (items: T[]) => Buffer, limit = MAX_REPLY_BYTES): Buffer[] {
  if (!items.length) return [];
  const b = enc(items);
  if (b.length <= limit || items.length === 1) return [b];
  const half = items.length >> 1;
  return [...encodeBounded(items.slice(0, half), enc, limit), ...encodeBounded(items.slice(half), enc, limit)];
}

/**
 * A unary handler given the request and its context (the tenant of its metadata, a signal aborting when the call is
 * cancelled); errors thrown or rejected become statuses.
 */
export function unary(log: Logger, tenancy: Tenancy, fn: (req: Buffer, ctx: StorageContext) => Promise<Buffer>) {
  return (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void => {
    const run = async () => fn(call.request, { ...tenancy.grpc(call.metadata), signal: grpcSignal(call) });
    run().then(
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
    GetServices: unary(log, tenancy, async (_req, ctx) => encodeGetServicesResponse(await reader.getServices(ctx))),
    GetOperations: unary(log, tenancy, async (req, ctx) => {
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

/** The HTTP/2 receive window of each stream and of each connection the gRPC servers advertise. */
export const STREAM_WINDOW_BYTES = 1 << 20;
export const CONNECTION_WINDOW_BYTES = 4 << 20;

interface WindowedServer {
  updateSettings(s: { initialWindowSize: number }): void;
  on(event: 'session', l: (s: { setLocalWindowSize(n: number): void }) => void): void;
}
const isWindowed = (x: unknown): x is WindowedServer =>
  typeof x === 'object' && x !== null && typeof (x as Partial<WindowedServer>).updateSettings === 'function' && typeof (x as Partial<WindowedServer>).on === 'function';

/**
 * Node's HTTP/2 windows are 64 KiB per stream and per connection: a client sending export requests of a few hundred
 * KiB must wait for a window update every 64 KiB, and while the runtime decodes one request those updates wait too,
 * so under load both sides idle (the Go servers widen their windows as a connection proves fast). grpc-js has no
 * option for the server side, so the windows are set on the HTTP/2 servers it made (a field it keeps to itself).
 * Bytes received are still bounded: by these windows per connection, and by the ingest budget once a message is in.
 * Returns false when that field is not there (another grpc-js).
 */
export function widenReceiveWindows(server: grpc.Server): boolean {
  const servers: unknown = Reflect.get(server, 'http2Servers');
  if (!(servers instanceof Map) || servers.size === 0) return false;
  for (const h of servers.keys()) {
    if (!isWindowed(h)) return false;
    h.updateSettings({ initialWindowSize: STREAM_WINDOW_BYTES });
    h.on('session', (session) => {
      // a throw here would be uncaught: a session that cannot take the window keeps Node's
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        /* gone already */
      }
    });
  }
  return true;
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
  if (!widenReceiveWindows(server)) log.warn(`${name}: cannot enlarge its HTTP/2 receive windows; large requests arrive more slowly`);
  log.info({ port: bound }, `${name} listening`);
  return { server, port: bound };
}
