// The storage runtime process. This version serves its ops surface (/metrics, /healthz, /readyz) on the admin
// port and validates its configuration; the OTLP receivers and query APIs plug in here.
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { backendTypeOf } from '../api/tracestore.js';
import { serveOps } from '../kube/probes.js';
import type { RuntimeConfig } from './config.js';

export interface RunningRuntime {
  adminPort: number;
  stop(): Promise<void>;
}

function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i) || '0.0.0.0';
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(addr.slice(i + 1)) };
}

export async function startRuntime(cfg: RuntimeConfig, log: Logger): Promise<RunningRuntime> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const backend = backendTypeOf(cfg.backend) ?? 'unknown';
  new Gauge({ name: 'jso_runtime_info', help: 'Runtime build and backend', labelNames: ['backend'] as const, registers: [registry] }).set({ backend }, 1);
  let stopping = false;
  const admin = splitHostPort(cfg.listen?.admin ?? '0.0.0.0:8888');
  const server: Server & { port: number } = await serveOps(admin.host, admin.port, registry, {
    healthz: () => ({ ok: true }),
    readyz: () => (stopping ? { ok: false, detail: 'shutting down' } : { ok: true }),
  });
  log.info({ adminPort: server.port, backend, traceStore: cfg.traceStore }, 'runtime started');
  return {
    adminPort: server.port,
    async stop() {
      stopping = true;
      await new Promise<void>((r) => server.close(() => r()));
      log.info('runtime stopped');
    },
  };
}
