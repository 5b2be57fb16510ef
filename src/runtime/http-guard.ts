// The last line of defence for every HTTP listener of the runtime: a request handler that throws or rejects
// answers 500 and the server keeps serving; a request target that is not a URL answers 400; malformed HTTP and
// sockets that stall are closed by bounded timeouts instead of being held open.
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

/** The request's path and query, or undefined when its target cannot be read as a URL path (e.g. `//[`). */
export function requestUrl(req: IncomingMessage): URL | undefined {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return undefined;
  try {
    // with the origin in front, a target such as '//x' stays a path instead of being read as an authority
    return new URL(`http://localhost${target}`);
  } catch {
    return undefined;
  }
}

/** Percent-decodes one path segment, or undefined for a malformed escape such as `%` or `%zz`. */
export function decodeSegment(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Answers a plain error unless a response is already under way; then the connection is cut instead. */
export function failSafe(res: ServerResponse, code: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${message}\n`;
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** Wraps a handler so that nothing it throws or rejects can end the process. */
export function guarded(name: string, log: Logger, handler: Handler): Handler {
  const onError = (res: ServerResponse, e: unknown): void => {
    log.error({ err: e instanceof Error ? (e.stack ?? e.message) : String(e), listener: name }, 'request handler failed');
    try {
      failSafe(res, 500, 'internal error');
    } catch {
      res.destroy();
    }
  };
  return (req, res) => {
    try {
      const r = handler(req, res);
      if (r && typeof r.then === 'function') r.then(undefined, (e: unknown) => onError(res, e));
    } catch (e) {
      onError(res, e);
    }
  };
}

export interface TimeoutOptions {
  /** whole request (headers and body) must arrive within this, ms */
  requestTimeoutMs?: number;
  /** headers must arrive within this, ms */
  headersTimeoutMs?: number;
  /** an idle keep-alive connection is closed after this, ms */
  keepAliveTimeoutMs?: number;
}

const timeoutsOf = (o: TimeoutOptions) => {
  const requestTimeout = o.requestTimeoutMs ?? 60_000;
  return { requestTimeout, headersTimeout: Math.min(o.headersTimeoutMs ?? 20_000, requestTimeout), keepAliveTimeout: o.keepAliveTimeoutMs ?? 65_000 };
};

/** Options for createServer: the timeouts, checked often enough that a short one takes effect on time. */
export function httpServerOptions(o: TimeoutOptions = {}): ServerOptions {
  const t = timeoutsOf(o);
  return { ...t, connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(t.headersTimeout / 4))) };
}

/**
 * Bounds how long a client may hold a connection without finishing its request, and answers malformed HTTP
 * with 400 instead of an unhandled error.
 */
export function hardenServer(server: Server, log: Logger, name: string, o: TimeoutOptions = {}): void {
  Object.assign(server, timeoutsOf(o));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
    const code = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    log.debug({ err: err.message, code: err.code, listener: name }, 'malformed or stalled HTTP request');
    socket.end(`HTTP/1.1 ${code} ${code === 408 ? 'Request Timeout' : code === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
}
