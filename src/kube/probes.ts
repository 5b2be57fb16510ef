// HTTP endpoints for Prometheus and kubelet probes.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Probes {
  healthz: () => { ok: boolean; detail?: string };
  readyz: () => { ok: boolean; detail?: string };
}

/** Serves /metrics, /healthz and /readyz on `host:port` (port 0 picks a free one). */
export function serveOps(host: string, port: number, registry: Registry, probes: Probes): Promise<Server & { port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const probe = path === '/healthz' ? probes.healthz : path === '/readyz' ? probes.readyz : undefined;
    if (probe) {
      const r = probe();
      res.writeHead(r.ok ? 200 : 503, { 'Content-Type': 'text/plain' });
      return res.end(r.ok ? (r.detail ? `ok, but ${r.detail}\n` : 'ok\n') : `not ready: ${r.detail ?? ''}\n`);
    }
    if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(text);
        })
        .catch((e: unknown) => {
          res.writeHead(500);
          res.end(String(e));
        });
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found: try /metrics, /healthz or /readyz\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const s = server as Server & { port: number };
      s.port = (server.address() as AddressInfo).port;
      resolve(s);
    });
  });
}
