// OTLP/HTTP receiver: POST /v1/traces with application/x-protobuf or application/json, optionally gzip.
// Answers, once the spans are durable, 200 with ExportTraceServiceResponse (partial_success when spans were
// rejected); 400 for a request it cannot decode, 413 when too large, 415 for other media types, 429 with
// Retry-After when the queue is full, the backend is out of space or too many bytes are in flight, 503 with
// Retry-After when the spans were not committed in time. Bodies are read under a deadline and a shared byte budget.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGunzip } from 'node:zlib';
import type { ByteBudget } from './budget.js';
import type { StorageContext } from '../../storage/api/index.js';
import { encodeExportResponse, encodeRpcStatus } from '../../otlp/otlp-proto.js';
import { guarded, hardenServer, httpServerOptions } from '../http-guard.js';
import { TenantError } from '../tenancy.js';
import type { HttpServerFactory } from '../listener-security.js';
import { type ReceiverDeps, ingest } from './ingest.js';

export interface HttpReceiverOptions {
  host: string;
  port: number;
  /** largest accepted body, after decompression */
  maxBodyBytes: number;
  /** the whole request must arrive within this, ms */
  requestTimeoutMs: number;
  /** an idle keep-alive connection is closed after this, ms */
  idleTimeoutMs: number;
  /** creates the server (TLS and auth of the ingest group, see listener-security.ts); node:http when unset */
  createServer?: HttpServerFactory;
}


const GRPC_INVALID_ARGUMENT = 3;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_UNAVAILABLE = 14;
const GRPC_UNAUTHENTICATED = 16;

class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Reads the body, decompressing gzip, taking every byte it holds (compressed and inflated) from the budget.
 * `held` reports how many bytes were taken, so the caller gives them back once the request is answered.
 */
function readBody(req: IncomingMessage, limit: number, budget: ByteBudget, held: { bytes: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const enc = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (enc !== 'identity' && enc !== 'gzip') return reject(new BodyError(415, `unsupported content-encoding "${enc}": use gzip or none`));
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new BodyError(413, `request body larger than ${limit} bytes: send smaller batches`));
    const take = (n: number): boolean => {
      if (!budget.tryTake(n)) return false;
      held.bytes += n;
      return true;
    };
    let failed = false;
    const fail = (e: BodyError) => {
      if (failed) return;
      failed = true;
      if (src !== req) src.destroy();
      req.resume(); // drain what is still coming, so the answer can be read
      reject(e);
    };
    const overloaded = () => new BodyError(429, budget.refusal());
    const src = enc === 'gzip' ? req.pipe(createGunzip()) : req;
    if (src !== req) {
      req.on('data', (c: Buffer) => {
        if (!failed && !take(c.length)) fail(overloaded());
      });
    }
    const chunks: Buffer[] = [];
    let n = 0;
    src.on('data', (c: Buffer) => {
      if (failed) return;
      n += c.length;
      if (n > limit) fail(new BodyError(413, `request body larger than ${limit} bytes after decompression: send smaller batches`));
      else if (!take(c.length)) fail(overloaded());
      else chunks.push(c);
    });
    src.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks, n));
    });
    src.on('error', (e: Error) => fail(new BodyError(400, `cannot read the request body: ${e.message}`)));
    req.on('close', () => {
      if (!req.complete) fail(new BodyError(400, 'the connection closed before the request body was complete'));
    });
  });
}

function reply(res: ServerResponse, code: number, json: boolean, body: { grpcCode?: number; message?: string; rejected?: number }, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  let payload: Buffer;
  if (code === 200) {
    payload = json
      ? Buffer.from(JSON.stringify(body.rejected || body.message ? { partialSuccess: { rejectedSpans: String(body.rejected ?? 0), errorMessage: body.message ?? '' } } : {}))
      : encodeExportResponse(body.rejected ?? 0, body.message ?? '');
  } else {
    payload = json ? Buffer.from(JSON.stringify({ code: body.grpcCode ?? 2, message: body.message ?? '' })) : encodeRpcStatus(body.grpcCode ?? 2, body.message ?? '');
  }
  res.writeHead(code, { 'Content-Type': json ? 'application/json' : 'application/x-protobuf', 'Content-Length': payload.length, ...headers });
  res.end(payload);
}

export async function startHttpReceiver(d: ReceiverDeps, o: HttpReceiverOptions): Promise<Server & { port: number }> {
  const count = (outcome: string) => d.received.inc({ transport: 'http', outcome });
  const timeouts = { requestTimeoutMs: o.requestTimeoutMs, keepAliveTimeoutMs: o.idleTimeoutMs };
  const server = (o.createServer ?? createServer)(
    httpServerOptions(timeouts),
    guarded('otlp-http', d.log, async (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const ctype = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const json = ctype === 'application/json';
      if (path !== '/v1/traces') {
        req.resume();
        return reply(res, 404, json, { grpcCode: 5, message: `no such path ${path}: send traces to /v1/traces` });
      }
      if (req.method !== 'POST') {
        req.resume();
        return reply(res, 405, json, { grpcCode: 12, message: 'use POST' }, { Allow: 'POST' });
      }
      if (!json && ctype !== 'application/x-protobuf' && ctype !== 'application/protobuf') {
        req.resume();
        return reply(res, 415, false, { grpcCode: GRPC_INVALID_ARGUMENT, message: `unsupported content-type "${ctype}": use application/x-protobuf or application/json` });
      }
      let ctx: StorageContext;
      try {
        ctx = d.tenancy.http(req);
      } catch (e) {
        if (!(e instanceof TenantError)) throw e;
        req.resume();
        count('unauthenticated');
        return reply(res, 401, json, { grpcCode: GRPC_UNAUTHENTICATED, message: e.message });
      }
      const held = { bytes: 0 };
      let settled: Promise<unknown> | undefined;
      try {
        let body: Buffer;
        try {
          body = await readBody(req, o.maxBodyBytes, d.budget, held);
        } catch (e) {
          const status = e instanceof BodyError ? e.status : 400;
          count(status === 429 ? 'overloaded' : 'invalid');
          const grpcCode = status === 429 ? GRPC_RESOURCE_EXHAUSTED : GRPC_INVALID_ARGUMENT;
          // the rest of a refused body is not read: close the connection rather than leave it half-consumed
          const headers: Record<string, string> = status === 429 ? { 'Retry-After': '1', Connection: 'close' } : { Connection: 'close' };
          return reply(res, status, json, { grpcCode, message: e instanceof Error ? e.message : String(e) }, headers);
        }
        const out = await ingest(d, body, json ? 'json' : 'protobuf', ctx);
        settled = out.settled;
        count(out.kind);
        if (out.kind === 'invalid') return reply(res, 400, json, { grpcCode: GRPC_INVALID_ARGUMENT, message: out.message });
        if (out.kind === 'overloaded') return reply(res, 429, json, { grpcCode: GRPC_RESOURCE_EXHAUSTED, message: out.message }, { 'Retry-After': '1' });
        if (out.kind === 'unavailable') return reply(res, 503, json, { grpcCode: GRPC_UNAVAILABLE, message: out.message }, { 'Retry-After': '1' });
        reply(res, 200, json, { rejected: out.rejected, message: out.message });
      } finally {
        // spans still queued after a 503 keep their bytes counted until they leave
        const bytes = held.bytes;
        if (settled) void settled.finally(() => d.budget.give(bytes));
        else d.budget.give(bytes);
      }
    }),
  );
  hardenServer(server, d.log, 'otlp-http', timeouts);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const s = server as Server & { port: number };
  s.port = (server.address() as AddressInfo).port;
  d.log.info({ port: s.port }, 'OTLP/HTTP receiver listening on /v1/traces');
  return s;
}
