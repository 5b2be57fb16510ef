// The storage runtime: OTLP in (gRPC and HTTP), Jaeger queries out (api_v3 and the classic API over HTTP, api_v3
// over gRPC, and the jaeger.storage.v2 remote-storage API for a stock Jaeger), remote sampling fed by
// SamplingPolicies, on the backend named in its configuration; /metrics, /healthz and /readyz on the admin port.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { serveOps } from '../kube/probes.js';
import { type BackendFactory, InvalidArgumentError, type StorageContext, StorageError } from '../storage/api/index.js';
import { backendSection, openBackend, supportsTenancy, tenancyBackends } from '../storage/plugins.js';
import { MemoryBackend } from '../storage/memory/store.js';
import { registerMemoryMetrics } from './memory-metrics.js';
import { DEFAULT_PIPELINE, IngestPipeline } from './pipeline.js';
import { startGrpcServer } from './grpc-util.js';
import { guarded, hardenServer, requestUrl } from './http-guard.js';
import { ListenerSecurity } from './listener-security.js';
import { addApiV3GrpcServices } from './query/api-v3-grpc.js';
import { handleApiV3, sendError } from './query/api-v3-http.js';
import { handleClassic, sendClassicError } from './query/classic-http.js';
import { ByteBudget } from './receivers/budget.js';
import { addOtlpTraceService } from './receivers/otlp-grpc.js';
import { addRemoteStorageServices } from './remote-storage/service.js';
import { startHttpReceiver } from './receivers/otlp-http.js';
import { addSamplingManager, startSamplingHttp } from './sampling/endpoints.js';
import { SamplingRuntime } from './sampling/runtime.js';
import { ConfigError, type RuntimeConfig } from '../api/runtime-config.js';
import { Tenancy, TenantError } from './tenancy.js';

export interface RunningRuntime {
  ports: { admin: number; otlpHttp: number; otlpGrpc: number; queryHttp: number; queryGrpc: number; remoteStorage: number; samplingHttp: number; samplingGrpc: number };
  backend: BackendFactory;
  sampling: SamplingRuntime;
  pipeline: IngestPipeline;
  registry: Registry;
  stop(): Promise<void>;
}

function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: (addr.slice(0, i) || '0.0.0.0').replace(/^\[(.*)\]$/, '$1'), port: Number(addr.slice(i + 1)) };
}

const closeHttp = (s: Server): Promise<void> =>
  new Promise((r) => {
    s.close(() => r());
    s.closeIdleConnections();
  });

const shutdownGrpc = (s: grpc.Server): Promise<void> => new Promise((r) => s.tryShutdown(() => r()));

/** Runs one shutdown step; past `ms` it is forced (when it can be) and shutdown goes on without it. */
async function withDeadline(name: string, ms: number, run: () => Promise<unknown>, force: (() => void) | undefined, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  try {
    const r = await Promise.race([run().then(() => 'done' as const), late]);
    if (r === 'late') {
      log.warn({ step: name, afterMs: ms }, force ? 'shutdown step overran its deadline: forcing it' : 'shutdown step overran its deadline: going on without it');
      force?.();
    }
  } catch (e) {
    log.warn({ step: name, err: e instanceof Error ? e.message : String(e) }, 'shutdown step failed');
    force?.();
  } finally {
    clearTimeout(timer);
  }
}

export async function startRuntime(cfg: RuntimeConfig, log: Logger): Promise<RunningRuntime> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { type } = backendSection(cfg); // the backend section, validated by its plug-in's config schema
  const tenancy = new Tenancy(cfg.tenancy);
  if (tenancy.enabled && !supportsTenancy(type)) {
    throw new ConfigError('config', [{ field: 'config.tenancy.enabled', message: `the ${type} backend does not keep tenants apart: turn tenancy off or use a backend that supports it (${tenancyBackends().join(', ')})` }]);
  }
  new Gauge({ name: 'jso_runtime_info', help: 'Runtime build and backend', labelNames: ['backend'] as const, registers: [registry] }).set({ backend: type }, 1);
  const received = new Counter({ name: 'jso_runtime_requests_total', help: 'OTLP export requests by transport and outcome', labelNames: ['transport', 'outcome'] as const, registers: [registry] });
  const metrics = {
    written: new Counter({ name: 'jso_runtime_spans_written_total', help: 'Spans written to the backend', registers: [registry] }),
    refused: new Counter({ name: 'jso_runtime_spans_refused_total', help: 'Spans refused (queue full) or dropped (invalid)', labelNames: ['reason'] as const, registers: [registry] }),
    queued: new Gauge({ name: 'jso_runtime_queue_spans', help: 'Spans accepted and not yet written', registers: [registry] }),
    writeSeconds: new Histogram({ name: 'jso_runtime_batch_write_seconds', help: 'Backend write latency per batch', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] }),
    writeErrors: new Counter({ name: 'jso_runtime_write_errors_total', help: 'Failed backend writes (retried)', registers: [registry] }),
    deadLettered: new Counter({ name: 'jso_runtime_spans_dead_lettered_total', help: 'Spans the backend kept failing after retries and isolation: logged with their IDs and reported to their client as rejected', registers: [registry] }),
    backendFull: new Gauge({ name: 'jso_runtime_backend_full', help: '1 while the backend is out of space and new spans are refused', registers: [registry] }),
  };

  const backend = await openBackend(cfg);
  const memory = backend instanceof MemoryBackend ? backend : undefined; // not narrowing `backend` itself
  if (memory) registerMemoryMetrics(registry, memory);
  try {
    await backend.provision();
  } catch (e) {
    // a backend outside the pod may be down at start: serve, stay unready, and provision on the next housekeeping
    if (!backend.ping || !(e instanceof StorageError) || e.code !== 'Unavailable') throw e;
    log.warn({ err: e.message }, 'backend not provisioned yet; retrying');
  }
  const ingestCfg = cfg.ingest ?? {};
  const pipeline = new IngestPipeline(backend.traceWriter(), { ...DEFAULT_PIPELINE, ...ingestCfg }, metrics, log.child({ subsystem: 'pipeline' }));
  const maxBytes = ingestCfg.maxRequestBytes ?? 16 * 1024 * 1024;
  const budget = new ByteBudget(ingestCfg.maxInflightBytes ?? 128 * 1024 * 1024);
  new Gauge({ name: 'jso_runtime_inflight_request_bytes', help: 'OTLP request bytes held in memory (reading, decoding, waiting for the commit)', registers: [registry], collect() { this.set(budget.inUse); } });
  const receiverLog = log.child({ subsystem: 'receiver' });
  const receiver = { pipeline, received, budget, tenancy, options: { ackTimeoutMs: ingestCfg.ackTimeoutMs ?? 10_000 }, log: receiverLog };
  const idleTimeoutMs = ingestCfg.idleTimeoutMs ?? 120_000;
  const listen = cfg.listen!;
  // TLS and bearer auth per listener group (none configured: plaintext and open, as before)
  const security = new ListenerSecurity(cfg.security, log);
  const sampling = new SamplingRuntime(cfg, backend, registry, log);
  await sampling.start(log);
  pipeline.stage = sampling.stage;
  pipeline.onBackendFull = (msg) => sampling.reportBackendFull(msg);
  const strategies = (service: string) => sampling.strategy(service);
  const sh = splitHostPort(listen.samplingHttp!);
  const samplingHttp = await startSamplingHttp(sh.host, sh.port, strategies, log, security.http('sampling'));
  const sg = splitHostPort(listen.samplingGrpc!);
  const samplingGrpc = await startGrpcServer(sg.host, sg.port, 1024 * 1024, (s) => addSamplingManager(s, strategies), log, 'remote sampling (gRPC)', { credentials: security.grpc('sampling') });

  const otlpHttp = await startHttpReceiver(receiver, { ...splitHostPort(listen.otlpHttp!), maxBodyBytes: maxBytes, requestTimeoutMs: ingestCfg.requestTimeoutMs ?? 30_000, idleTimeoutMs, createServer: security.http('ingest') });
  const g = splitHostPort(listen.otlpGrpc!);
  const otlpGrpc: { server: grpc.Server; port: number } = await startGrpcServer(g.host, g.port, maxBytes, (s) => addOtlpTraceService(s, receiver), log, 'OTLP/gRPC receiver', { idleTimeoutMs, credentials: security.grpc('ingest') });

  const reader = backend.traceReader();
  let stopping = false;
  const rsAddr = splitHostPort(listen.remoteStorage!);
  const remote = await startGrpcServer(
    rsAddr.host,
    rsAddr.port,
    maxBytes,
    (s) => {
      addRemoteStorageServices(s, reader, backend.dependencyReader(), tenancy, log.child({ subsystem: 'remote-storage' }), () => !stopping);
      addOtlpTraceService(s, receiver); // writes from Jaeger's grpc backend
    },
    log,
    'remote storage (jaeger.storage.v2)',
    { idleTimeoutMs, credentials: security.grpc('remoteStorage') },
  );
  const qgAddr = splitHostPort(listen.queryGrpc!);
  // requests are small; 1 MiB leaves room for long attribute filters
  const queryGrpc = await startGrpcServer(qgAddr.host, qgAddr.port, 1024 * 1024, (s) => addApiV3GrpcServices(s, reader, tenancy, log.child({ subsystem: 'query-grpc' }), () => !stopping), log, 'query (jaeger.api_v3 gRPC)', { credentials: security.grpc('query') });

  const queryLog = log.child({ subsystem: 'query-http' });
  const query = security.http('query')(
    {},
    guarded('query', queryLog, (req, res) => {
      const url = requestUrl(req);
      if (!url) return sendError(res, 400, `request target ${JSON.stringify((req.url ?? '').slice(0, 100))} is not a URL path: the query APIs are under /api/ and /api/v3/`);
      const classic = !url.pathname.startsWith('/api/v3/');
      const fail = classic ? sendClassicError : sendError;
      let ctx: StorageContext;
      try {
        ctx = tenancy.http(req);
      } catch (e) {
        if (e instanceof TenantError) return fail(res, 401, e.message);
        throw e;
      }
      return (async () => (await handleApiV3(reader, req, res, url, ctx)) || (await handleClassic(reader, backend.dependencyReader(), req, res, url, ctx)))()
        .then((handled) => {
          if (!handled) sendError(res, 404, `no such route ${url.pathname}: the query APIs are under /api/ and /api/v3/`);
        })
        .catch((e: unknown) => {
          if (res.headersSent) throw e;
          if (e instanceof InvalidArgumentError) return fail(res, 400, e.message);
          if (e instanceof StorageError && e.code === 'Unavailable') return fail(res, 503, e.message);
          queryLog.error({ err: e instanceof Error ? e.message : String(e), path: url.pathname }, 'query failed');
          fail(res, 500, 'internal error');
        });
    }),
  );
  hardenServer(query, queryLog, 'query');
  const qa = splitHostPort(listen.queryHttp!);
  await new Promise<void>((resolve, reject) => {
    query.once('error', reject);
    query.listen(qa.port, qa.host, () => resolve());
  });
  const queryPort = (query.address() as AddressInfo).port;

  // backends outside the pod: readiness follows a periodic ping; housekeeping runs on an interval
  let backendProblem: string | undefined;
  const ping = async () => {
    try {
      await backend.ping?.();
      backendProblem = undefined;
    } catch (e) {
      backendProblem = e instanceof Error ? e.message : String(e);
    }
  };
  const timers: NodeJS.Timeout[] = [];
  if (backend.ping) {
    void ping();
    timers.push(setInterval(() => void ping(), 10_000));
  }
  if (backend.maintain) {
    const maintain = () => backend.maintain!().catch((e: unknown) => log.warn({ err: e instanceof Error ? e.message : String(e) }, 'backend housekeeping failed; retrying next interval'));
    void maintain();
    timers.push(setInterval(() => void maintain(), cfg.backendMaintenanceMs ?? 300_000));
  }
  for (const t of timers) t.unref();
  const admin = splitHostPort(listen.admin ?? '0.0.0.0:8888');
  const ops = await serveOps(admin.host, admin.port, registry, {
    healthz: () => ({ ok: true }),
    readyz: () => (stopping ? { ok: false, detail: 'shutting down' } : backendProblem ? { ok: false, detail: `backend unreachable: ${backendProblem}` } : { ok: true, detail: pipeline.backendFull ? `backend out of space, refusing spans: ${pipeline.backendFull}` : undefined }),
  });
  const ports = { admin: ops.port, otlpHttp: otlpHttp.port, otlpGrpc: otlpGrpc.port, queryHttp: queryPort, queryGrpc: queryGrpc.port, remoteStorage: remote.port, samplingHttp: samplingHttp.port, samplingGrpc: samplingGrpc.port };
  log.info({ backend: type, traceStore: cfg.traceStore, ports }, 'runtime started');

  return {
    ports,
    backend,
    sampling,
    pipeline,
    registry,
    async stop() {
      if (stopping) return;
      stopping = true;
      for (const t of timers) clearInterval(t);
      // every step has a deadline, then is forced: a stuck client or backend must not keep the process alive
      const step = (name: string, ms: number, run: () => Promise<unknown>, force?: () => void) => withDeadline(name, ms, run, force, log);
      // stop taking data, write everything accepted, then close the rest
      await Promise.all([
        step('close OTLP/HTTP', 5_000, () => closeHttp(otlpHttp), () => otlpHttp.closeAllConnections()),
        step('close OTLP/gRPC', 5_000, () => shutdownGrpc(otlpGrpc.server), () => otlpGrpc.server.forceShutdown()),
        step('close remote storage', 5_000, () => shutdownGrpc(remote.server), () => remote.server.forceShutdown()),
      ]);
      await step('drain the ingest queue', 15_000, () => pipeline.drain());
      await Promise.all([
        step('close sampling HTTP', 2_000, () => closeHttp(samplingHttp), () => samplingHttp.closeAllConnections()),
        step('close sampling gRPC', 2_000, () => shutdownGrpc(samplingGrpc.server), () => samplingGrpc.server.forceShutdown()),
        step('stop sampling', 2_000, () => sampling.stop()),
        step('close query HTTP', 2_000, () => closeHttp(query), () => query.closeAllConnections()),
        step('close query gRPC', 2_000, () => shutdownGrpc(queryGrpc.server), () => queryGrpc.server.forceShutdown()),
      ]);
      await step('close ops', 1_000, () => closeHttp(ops), () => ops.closeAllConnections());
      await step('close the backend', 5_000, () => backend.close());
      security.close();
      log.info('runtime stopped');
    },
  };
}
