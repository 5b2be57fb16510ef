// The query HTTP listener: api_v3 (/api/v3/*) and the classic API (/api/*) on one port. Each request reads as
// its tenant, with a signal that aborts when the client goes away, so an abandoned search stops pulling from the
// backend.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { type DependencyReader, InvalidArgumentError, type StorageContext, StorageError, type TraceReader } from '../../storage/api/index.js';
import { ClientGoneError, httpSignal } from '../cancel.js';
import { type Handler, guarded, hardenServer, requestUrl } from '../http-guard.js';
import type { HttpServerFactory } from '../listener-security.js';
import { type Tenancy, TenantError } from '../tenancy.js';
import { handleApiV3, sendError } from './api-v3-http.js';
import { handleClassic, sendClassicError } from './classic-http.js';

export interface QueryHttpDeps {
  reader: TraceReader;
  deps: DependencyReader;
  tenancy: Tenancy;
  log: Logger;
}

export function queryHandler(d: QueryHttpDeps): Handler {
  return guarded('query', d.log, (req, res) => {
    const url = requestUrl(req);
    if (!url) return sendError(res, 400, `request target ${JSON.stringify((req.url ?? '').slice(0, 100))} is not a URL path: the query APIs are under /api/ and /api/v3/`);
    const classic = !url.pathname.startsWith('/api/v3/');
    const fail = classic ? sendClassicError : sendError;
    let ctx: StorageContext;
    try {
      ctx = { ...d.tenancy.http(req), signal: httpSignal(req, res) };
    } catch (e) {
      if (e instanceof TenantError) return fail(res, 401, e.message);
      throw e;
    }
    return (async () => (await handleApiV3(d.reader, d.deps, req, res, url, ctx)) || (await handleClassic(d.reader, d.deps, req, res, url, ctx)))()
      .then((handled) => {
        if (!handled) sendError(res, 404, `no such route ${url.pathname}: the query APIs are under /api/ and /api/v3/`);
      })
      .catch((e: unknown) => {
        // nobody is left to answer
        if (e instanceof ClientGoneError || ctx.signal?.aborted) return;
        if (res.headersSent) throw e;
        if (e instanceof InvalidArgumentError) return fail(res, 400, e.message);
        if (e instanceof StorageError && e.code === 'Unavailable') return fail(res, 503, e.message);
        // e.g. dependencies of a remote storage that has none: said as such, as gRPC says UNIMPLEMENTED
        if (e instanceof StorageError && e.code === 'Unimplemented') return fail(res, 501, e.message);
        d.log.error({ err: e instanceof Error ? e.message : String(e), path: url.pathname }, 'query failed');
        fail(res, 500, 'internal error');
      });
  });
}

/** Creates and binds the query HTTP listener. */
export async function startQueryHttp(host: string, port: number, d: QueryHttpDeps, create: HttpServerFactory = createServer): Promise<Server & { port: number }> {
  const server = create({}, queryHandler(d));
  hardenServer(server, d.log, 'query');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}
