// OTLP/HTTP receiver: POST /v1/traces with application/x-protobuf or application/json, optionally gzip.
// Answers 200 with ExportTraceServiceResponse (partial_success when spans were rejected), 400 for a request it
// cannot decode, 413 when too large, 415 for other media types, 429 with Retry-After when the queue is full.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGunzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { encodeExportResponse, encodeRpcStatus } from '../../storage/api/otlp-proto.js';
import type { IngestPipeline } from '../pipeline.js';
import { ingest } from './ingest.js';

export interface HttpReceiverOptions {
  host: string;
  port: number;
  /** largest accepted body, after decompression */
  maxBodyBytes: number;
}

const GRPC_INVALID_ARGUMENT = 3;
const GRPC_RESOURCE_EXHAUSTED = 8;

class TooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const enc = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (enc !== 'identity' && enc !== 'gzip') return reject(new Error(`unsupported content-encoding "${enc}": use gzip or none`));
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new TooLarge());
    const src = enc === 'gzip' ? req.pipe(createGunzip()) : req;
    const chunks: Buffer[] = [];
    let n = 0;
    src.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        src.destroy();
        req.resume();
        reject(new TooLarge());
      } else chunks.push(c);
    });
    src.on('end', () => resolve(Buffer.concat(chunks)));
    src.on('error', (e: Error) => reject(new Error(`cannot read the request body: ${e.message}`)));
  });
}

function reply(res: ServerResponse, code: number, json: boolean, body: { grpcCode?: number; message?: string; rejected?: number }, headers: Record<string, string> = {}): void {
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

export async function startHttpReceiver(pipeline: IngestPipeline, o: HttpReceiverOptions, received: Counter<string>, log: Logger): Promise<Server & { port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const ctype = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const json = ctype === 'application/json';
    if (path !== '/v1/traces') return reply(res, 404, json, { grpcCode: 5, message: `no such path ${path}: send traces to /v1/traces` });
    if (req.method !== 'POST') return reply(res, 405, json, { grpcCode: 12, message: 'use POST' }, { Allow: 'POST' });
    if (!json && ctype !== 'application/x-protobuf' && ctype !== 'application/protobuf') {
      req.resume();
      return reply(res, 415, false, { grpcCode: GRPC_INVALID_ARGUMENT, message: `unsupported content-type "${ctype}": use application/x-protobuf or application/json` });
    }
    readBody(req, o.maxBodyBytes).then(
      (body) => {
        const out = ingest(pipeline, body, json ? 'json' : 'protobuf');
        if (out.kind === 'invalid') {
          received.inc({ transport: 'http', outcome: 'invalid' });
          return reply(res, 400, json, { grpcCode: GRPC_INVALID_ARGUMENT, message: out.message });
        }
        if (out.kind === 'overloaded') {
          received.inc({ transport: 'http', outcome: 'overloaded' });
          return reply(res, 429, json, { grpcCode: GRPC_RESOURCE_EXHAUSTED, message: out.message }, { 'Retry-After': '1' });
        }
        received.inc({ transport: 'http', outcome: 'accepted' });
        reply(res, 200, json, { rejected: out.rejected, message: out.message });
      },
      (e: unknown) => {
        if (e instanceof TooLarge) return reply(res, 413, json, { grpcCode: GRPC_INVALID_ARGUMENT, message: `request body larger than ${o.maxBodyBytes} bytes: send smaller batches` }, { Connection: 'close' });
        reply(res, 400, json, { grpcCode: GRPC_INVALID_ARGUMENT, message: e instanceof Error ? e.message : String(e) });
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const s = server as Server & { port: number };
  s.port = (server.address() as AddressInfo).port;
  log.info({ port: s.port }, 'OTLP/HTTP receiver listening on /v1/traces');
  return s;
}
