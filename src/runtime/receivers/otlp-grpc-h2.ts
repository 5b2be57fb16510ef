// The OTLP/gRPC listener, served on node:http2 directly: it has one unary method
// (opentelemetry.proto.collector.trace.v1.TraceService/Export; any other path is UNIMPLEMENTED), so the gRPC framing
// it needs is small, and handling it here costs about a tenth less CPU per export than grpc-js's server (call and
// interceptor objects, a stream decoder that concatenates the message out of its frames) -- bench:ingest.
// What it does:
//  - a message is read into one buffer of its own as its frames arrive: its declared length is checked against
//    maxRequestBytes before anything is buffered, the bytes that arrive are taken from the shared byte budget
//    (RESOURCE_EXHAUSTED with a RetryInfo beyond it), and it must arrive whole within requestTimeoutMs;
//  - grpc-encoding identity, gzip and deflate, inflated within maxRequestBytes and the budget;
//  - the same TLS (and reloads), bearer tokens and tenancy metadata as the other gRPC listeners, and the same
//    answers as the grpc-js receiver (otlp-grpc.ts), which still serves Export on the remote-storage port;
//  - HTTP/2 windows of 1 MiB per stream and 4 MiB per connection, at most 100 streams per connection, a connection
//    without calls for idleTimeoutMs closed (GOAWAY), and every stream and session error caught.
import { type Http2SecureServer, type Http2Server, type Http2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream, constants } from 'node:http2';
import { createGunzip, createInflate } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import type { StorageContext } from '../../storage/api/index.js';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../grpc-util.js';
import type { Http2Listener } from '../listener-security.js';
import { TenantError } from '../tenancy.js';
import { type ReceiverDeps, ingest } from './ingest.js';
import { EXPORT_PATH, exhausted, exportAnswer } from './otlp-grpc.js';

export interface H2ReceiverOptions {
  host: string;
  port: number;
  maxRequestBytes: number;
  /** a connection without calls for this long is closed */
  idleTimeoutMs: number;
  /** a request message must arrive whole within this */
  requestTimeoutMs: number;
  listener: Http2Listener;
  maxConcurrentStreams?: number;
}

export interface H2Receiver {
  readonly port: number;
  /** stops accepting connections, asks open ones to finish (GOAWAY) and resolves once they have */
  close(): Promise<void>;
  /** ends every connection at once */
  force(): void;
}

const ACCEPTED_ENCODINGS = 'identity,deflate,gzip';
const noop = (): void => undefined;

/** grpc-message: percent-encoded UTF-8, printable ASCII other than '%' kept */
function grpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Answers a call with a status alone (trailers-only) and stops reading what the client still sends. */
function sendStatus(stream: ServerHttp2Stream, status: Partial<grpc.StatusObject>): void {
  if (stream.destroyed || stream.headersSent) return;
  const headers: OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-status': String(status.code ?? grpc.status.UNKNOWN) };
  if (status.details) headers['grpc-message'] = grpcMessage(status.details);
  const details = status.metadata?.get('grpc-status-details-bin')[0];
  if (Buffer.isBuffer(details)) headers['grpc-status-details-bin'] = details.toString('base64').replace(/=+$/, '');
  try {
    stream.respond(headers, { endStream: true });
  } catch {
    stream.destroy();
    return;
  }
  stopReading(stream);
}

/**
 * A client answered before it sent its whole request normally stops sending; one that goes on is cut off with
 * RST_STREAM(NO_ERROR) a second later, once the answer has surely left (a reset sent at once could overtake it).
 */
function stopReading(stream: ServerHttp2Stream): void {
  if (stream.readableEnded) return;
  const timer = setTimeout(() => {
    if (!stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
  }, 1000);
  timer.unref();
  stream.once('close', () => clearTimeout(timer));
}

/** Answers a call with its reply message and an OK status in the trailers. */
function sendReply(stream: ServerHttp2Stream, reply: Buffer): void {
  if (stream.destroyed || stream.headersSent) return;
  const frame = Buffer.allocUnsafe(5 + reply.length);
  frame[0] = 0;
  frame.writeUInt32BE(reply.length, 1);
  reply.copy(frame, 5);
  try {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-accept-encoding': ACCEPTED_ENCODINGS }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frame);
  } catch {
    stream.destroy();
  }
}

/**
 * The message inflated, each output chunk taken from the budget (`take`) as it comes, so that inflating requests
 * hold no memory the budget does not count: 'too-large' past `max` bytes, 'overloaded' when the budget is spent.
 */
function inflated(encoding: string, body: Buffer, max: number, take: (n: number) => boolean): Promise<Buffer | 'too-large' | 'overloaded'> {
  return new Promise((resolve, reject) => {
    const z = encoding === 'gzip' ? createGunzip() : createInflate();
    const chunks: Buffer[] = [];
    let n = 0;
    const stop = (why: 'too-large' | 'overloaded') => {
      z.destroy();
      resolve(why);
    };
    z.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) stop('too-large');
      else if (!take(c.length)) stop('overloaded');
      else chunks.push(c);
    });
    z.on('end', () => resolve(Buffer.concat(chunks, n)));
    z.on('error', reject);
    z.end(body);
  });
}

/** first buffer of a message; it grows (doubling, to its declared length exactly) as bytes arrive */
const FIRST_BUFFER_BYTES = 64 * 1024;

class Call {
  #header = Buffer.alloc(5);
  #headerBytes = 0;
  #message: Buffer | undefined;
  /** the declared length of the message */
  #length = 0;
  #filled = 0;
  #compressed = false;
  /** budget bytes this call holds until its spans have left the runtime */
  #held = 0;
  #over = false;
  /** inflating or ingesting: the bytes it holds are given back when that ends, not when the client leaves */
  #busy = false;
  #timer: NodeJS.Timeout;

  constructor(
    private readonly d: ReceiverDeps,
    private readonly o: H2ReceiverOptions,
    private readonly stream: ServerHttp2Stream,
    private readonly ctx: StorageContext,
    private readonly encoding: string,
  ) {
    this.#timer = setTimeout(() => this.#fail({ code: grpc.status.DEADLINE_EXCEEDED, details: `the request did not arrive whole within ${o.requestTimeoutMs} ms` }, 'timeout'), o.requestTimeoutMs);
    this.#timer.unref();
    stream.on('data', (chunk: Buffer) => this.#data(chunk));
    stream.on('end', () => void this.#end().catch((e: unknown) => this.#internal(e)));
    // a call cut off by its client gives its bytes back (once its spans, if any, have left)
    stream.on('close', () => {
      clearTimeout(this.#timer);
      if (!this.#over && !this.#busy) this.#release();
    });
  }

  #count(outcome: string): void {
    this.d.received.inc({ transport: 'grpc', outcome });
  }

  #release(): void {
    this.#over = true;
    if (this.#held) this.d.budget.give(this.#held);
    this.#held = 0;
    this.#message = undefined;
  }

  #fail(status: Partial<grpc.StatusObject>, outcome: string): void {
    if (this.#over) return;
    this.#busy = false;
    clearTimeout(this.#timer);
    this.#count(outcome);
    this.#release();
    sendStatus(this.stream, status);
  }

  #overBudget(): Partial<grpc.StatusObject> {
    return exhausted(this.d.budget.refusal());
  }

  #internal(e: unknown): void {
    this.d.log.error({ err: e instanceof Error ? (e.stack ?? e.message) : String(e) }, 'OTLP/gRPC export failed');
    this.#fail({ code: grpc.status.INTERNAL, details: 'internal error' }, 'failed');
  }

  #data(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.#over) {
      let m = this.#message;
      if (m && this.#filled === this.#length) return this.#fail({ code: grpc.status.INVALID_ARGUMENT, details: 'a unary Export call carries one message: more data followed it' }, 'invalid');
      if (!m) {
        const n = Math.min(5 - this.#headerBytes, chunk.length - at);
        chunk.copy(this.#header, this.#headerBytes, at, at + n);
        this.#headerBytes += n;
        at += n;
        if (this.#headerBytes === 5) this.#start();
        continue;
      }
      const n = Math.min(this.#length - this.#filled, chunk.length - at);
      // the budget counts what has arrived: a client cannot hold it with headers that promise bytes it never sends
      if (!this.#take(n)) return this.#fail(this.#overBudget(), 'overloaded');
      if (this.#filled + n > m.length) {
        const grown = Buffer.allocUnsafeSlow(Math.min(this.#length, Math.max(2 * m.length, this.#filled + n)));
        m.copy(grown, 0, 0, this.#filled);
        this.#message = m = grown;
      }
      chunk.copy(m, this.#filled, at, at + n);
      this.#filled += n;
      at += n;
    }
  }

  /** a message header read: its length is checked before any of its bytes are buffered */
  #start(): void {
    const flag = this.#header[0]!;
    const length = this.#header.readUInt32BE(1);
    if (flag > 1) return this.#fail({ code: grpc.status.INVALID_ARGUMENT, details: `gRPC message flag ${flag} is not 0 or 1` }, 'invalid');
    if (flag === 1 && this.encoding === 'identity') return this.#fail({ code: grpc.status.INVALID_ARGUMENT, details: 'the message is marked compressed but the call has no grpc-encoding' }, 'invalid');
    if (length > this.o.maxRequestBytes) return this.#fail({ code: grpc.status.RESOURCE_EXHAUSTED, details: `the message is ${length} bytes, more than the limit of ${this.o.maxRequestBytes}` }, 'invalid');
    this.#compressed = flag === 1;
    this.#length = length;
    // memory of its own, which ends exactly as long as the message, so that a decode thread can take it uncopied
    this.#message = Buffer.allocUnsafeSlow(Math.min(length, FIRST_BUFFER_BYTES));
    this.#filled = 0;
  }

  /** takes `n` bytes from the budget for this call */
  #take(n: number): boolean {
    if (!this.d.budget.tryTake(n)) return false;
    this.#held += n;
    return true;
  }

  async #end(): Promise<void> {
    if (this.#over) return;
    clearTimeout(this.#timer);
    const m = this.#message;
    if (!m || this.#filled < this.#length) {
      return this.#fail({ code: grpc.status.INVALID_ARGUMENT, details: m ? `the message ended after ${this.#filled} of its ${this.#length} bytes` : 'the call carries no message' }, 'invalid');
    }
    let body = m;
    this.#busy = true;
    if (this.#compressed) {
      let out: Buffer | 'too-large' | 'overloaded';
      try {
        out = await inflated(this.encoding, m, this.o.maxRequestBytes, (n) => this.#take(n));
      } catch (e) {
        return this.#fail({ code: grpc.status.INVALID_ARGUMENT, details: `the ${this.encoding} message cannot be inflated: ${e instanceof Error ? e.message : String(e)}` }, 'invalid');
      }
      if (out === 'too-large') return this.#fail({ code: grpc.status.RESOURCE_EXHAUSTED, details: `the message inflates to more than the limit of ${this.o.maxRequestBytes} bytes` }, 'invalid');
      if (out === 'overloaded') return this.#fail(this.#overBudget(), 'overloaded');
      body = out;
    }
    this.#message = undefined;
    const out = await ingest(this.d, body, 'protobuf', this.ctx);
    const a = exportAnswer(out);
    this.#over = true;
    const held = this.#held;
    this.#held = 0;
    // spans still queued after an UNAVAILABLE answer keep their bytes counted until they leave
    if (out.settled) void out.settled.finally(() => this.d.budget.give(held));
    else this.d.budget.give(held);
    this.#count(out.kind);
    if ('status' in a) sendStatus(this.stream, a.status);
    else sendReply(this.stream, a.reply);
  }
}

function onStream(d: ReceiverDeps, o: H2ReceiverOptions, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', noop);
  const answer = (status: Partial<grpc.StatusObject>, outcome: string) => {
    d.received.inc({ transport: 'grpc', outcome });
    sendStatus(stream, status);
  };
  if (headers[':method'] !== 'POST') {
    stream.respond({ ':status': 405, allow: 'POST' }, { endStream: true });
    return;
  }
  const type = headers['content-type'] ?? '';
  if (!type.startsWith('application/grpc')) {
    stream.respond({ ':status': 415, 'content-type': 'text/plain; charset=utf-8' }, { endStream: false });
    stream.end('gRPC requests have content-type application/grpc\n');
    return;
  }
  if (headers[':path'] !== EXPORT_PATH) return answer({ code: grpc.status.UNIMPLEMENTED, details: `unknown method ${String(headers[':path'])}: this port serves ${EXPORT_PATH.slice(1)}` }, 'unimplemented');
  const refusal = o.listener.refusal(headers);
  if (refusal) return answer({ code: grpc.status.UNAUTHENTICATED, details: refusal }, 'unauthenticated');
  let ctx: StorageContext;
  try {
    ctx = d.tenancy.grpc(grpc.Metadata.fromHttp2Headers(headers));
  } catch (e) {
    if (e instanceof TenantError) return answer({ code: grpc.status.UNAUTHENTICATED, details: e.message }, 'unauthenticated');
    throw e;
  }
  const encoding = String(headers['grpc-encoding'] ?? 'identity');
  if (!['identity', 'gzip', 'deflate'].includes(encoding)) {
    d.received.inc({ transport: 'grpc', outcome: 'invalid' });
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-status': String(grpc.status.UNIMPLEMENTED), 'grpc-message': grpcMessage(`grpc-encoding ${encoding} is not supported`), 'grpc-accept-encoding': ACCEPTED_ENCODINGS }, { endStream: true });
    stopReading(stream);
    return;
  }
  new Call(d, o, stream, ctx, encoding);
}

/** Closes a connection once it has had no call for `ms`. */
function closeWhenIdle(session: Http2Session, ms: number): void {
  let active = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => session.close(), ms);
    timer.unref();
  };
  arm();
  session.on('stream', (stream: ServerHttp2Stream) => {
    active++;
    clearTimeout(timer);
    stream.once('close', () => {
      if (--active === 0 && !session.closed && !session.destroyed) arm();
    });
  });
  session.once('close', () => clearTimeout(timer));
}

/** Starts the OTLP/gRPC listener. */
export async function startOtlpGrpcReceiver(d: ReceiverDeps, o: H2ReceiverOptions): Promise<H2Receiver> {
  const server: Http2Server | Http2SecureServer = o.listener.create({
    settings: { initialWindowSize: STREAM_WINDOW_BYTES, maxConcurrentStreams: o.maxConcurrentStreams ?? 100, maxHeaderListSize: 64 * 1024 },
    maxSessionMemory: 64,
  });
  const sessions = new Set<Http2Session>();
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.on('error', noop);
    session.once('close', () => sessions.delete(session));
    try {
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    } catch {
      /* gone already */
    }
    closeWhenIdle(session, o.idleTimeoutMs);
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    try {
      onStream(d, o, stream, headers);
    } catch (e) {
      // the last resort: a failure here answers this call and leaves the others alone
      d.log.error({ err: e instanceof Error ? (e.stack ?? e.message) : String(e) }, 'OTLP/gRPC call failed');
      sendStatus(stream, { code: grpc.status.INTERNAL, details: 'internal error' });
    }
  });
  server.on('sessionError', noop);
  server.on('error', (e: Error) => d.log.error({ err: e.message }, 'OTLP/gRPC listener error'));
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : o.port);
    });
  });
  d.log.info({ port }, 'OTLP/gRPC receiver listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.close();
      }),
    force: () => {
      for (const s of sessions) s.destroy();
    },
  };
}
