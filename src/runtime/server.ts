// The storage runtime: OTLP in (gRPC and HTTP), Jaeger queries out (api_v3 and the classic API over HTTP, api_v3
// over gRPC, and the jaeger.storage.v2 remote-storage API for a stock Jaeger), remote sampling fed by
// SamplingPolicies, on the backend named in its configuration; /metrics, /healthz and /readyz on the admin port.
// Its listeners and timers are the components of ./components.ts; this file assembles what they share.
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BackendFactory } from '../storage/api/index.js';
import { backendSection, openBackend, supportsTenancy, tenancyBackends } from '../storage/plugins.js';
import { MemoryBackend } from '../storage/memory/store.js';
import { registerMemoryMetrics } from './memory-metrics.js';
import { DEFAULT_PIPELINE, IngestPipeline, type PipelineMetrics } from './pipeline.js';
import { ListenerSecurity } from './listener-security.js';
import { ByteBudget } from './receivers/budget.js';
import { DecodePool, defaultDecodeThreads } from './receivers/decode-pool.js';
import type { ReceiverDeps } from './receivers/ingest.js';
import { SamplingRuntime } from './sampling/runtime.js';
import { ConfigError, type RuntimeConfig } from '../api/runtime-config.js';
import { Tenancy } from './tenancy.js';
import { startComponents, stopComponents } from './component.js';
import { COMPONENTS, type PortName, type RuntimeParts } from './components.js';

export interface RunningRuntime {
  ports: Record<PortName, number>;
  backend: BackendFactory;
  sampling: SamplingRuntime;
  pipeline: IngestPipeline;
  registry: Registry;
  stop(): Promise<void>;
}

function pipelineMetrics(registry: Registry): PipelineMetrics {
  const registers = [registry];
  return {
    written: new Counter({ name: 'jso_runtime_spans_written_total', help: 'Spans written to the backend', registers }),
    refused: new Counter({ name: 'jso_runtime_spans_refused_total', help: 'Spans refused (queue full) or dropped (invalid)', labelNames: ['reason'] as const, registers }),
    queued: new Gauge({ name: 'jso_runtime_queue_spans', help: 'Spans accepted and not yet written', registers }),
    writeSeconds: new Histogram({ name: 'jso_runtime_batch_write_seconds', help: 'Backend write latency per batch', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers }),
    writeErrors: new Counter({ name: 'jso_runtime_write_errors_total', help: 'Failed backend writes (retried)', registers }),
    deadLettered: new Counter({ name: 'jso_runtime_spans_dead_lettered_total', help: 'Spans the backend kept failing after retries and isolation: logged with their IDs and reported to their client as rejected', registers }),
    backendFull: new Gauge({ name: 'jso_runtime_backend_full', help: '1 while the backend is out of space and new spans are refused', registers }),
  };
}

/** Builds what the components share: the pipeline and its stages (sampling rules first), receivers' deps, security. */
function assemble(cfg: RuntimeConfig, log: Logger, registry: Registry, backend: BackendFactory, tenancy: Tenancy, received: Counter<'transport' | 'outcome'>): RuntimeParts {
  if (backend instanceof MemoryBackend) registerMemoryMetrics(registry, backend);
  const sampling = new SamplingRuntime(cfg, backend, registry, log);
  const ingestCfg = cfg.ingest ?? {};
  const writers = ingestCfg.writers ?? backend.ingestWriters ?? DEFAULT_PIPELINE.writers;
  const pipeline = new IngestPipeline(backend.traceWriter(), { ...DEFAULT_PIPELINE, ...ingestCfg, writers }, pipelineMetrics(registry), log.child({ subsystem: 'pipeline' }), {
    stages: [sampling.stage],
    onBackendFull: (msg) => sampling.reportBackendFull(msg),
  });
  const budget = new ByteBudget(ingestCfg.maxInflightBytes ?? 128 * 1024 * 1024);
  new Gauge({ name: 'jso_runtime_inflight_request_bytes', help: 'OTLP request bytes held in memory (reading, decoding, waiting for the commit)', registers: [registry], collect() { this.set(budget.inUse); } });
  const decoder = new DecodePool(ingestCfg.decodeThreads ?? defaultDecodeThreads(), log.child({ subsystem: 'decode' }), { minBytes: ingestCfg.decodeThreadMinBytes });
  new Gauge({ name: 'jso_runtime_decode_threads', help: 'Threads decoding OTLP/protobuf requests beside the main thread (started by the first large request; 0: the main thread decodes)', registers: [registry], collect() { this.set(decoder.running); } });
  const receiver: ReceiverDeps = { consumer: pipeline, received, budget, tenancy, options: { ackTimeoutMs: ingestCfg.ackTimeoutMs ?? 10_000 }, log: log.child({ subsystem: 'receiver' }), decoder };
  // TLS and bearer auth per listener group (none configured: plaintext and open)
  const security = new ListenerSecurity(cfg.security, log);
  return { cfg, log, registry, backend, pipeline, sampling, security, tenancy, receiver, health: { stopping: false } };
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

  // the backend, opened here and provisioned by its component, first in the table
  const backend = await openBackend(cfg);
  let parts: RuntimeParts;
  try {
    parts = assemble(cfg, log, registry, backend, tenancy, received);
  } catch (e) {
    await backend.close().catch(() => undefined);
    throw e;
  }
  const { sampling, pipeline, security, health } = parts;

  let started;
  try {
    started = await startComponents(COMPONENTS, parts, log);
  } catch (e) {
    security.close();
    throw e;
  }
  const ports = Object.fromEntries(started.filter((c) => c.port).map((c) => [c.port, c.component.port ?? 0])) as Record<PortName, number>;
  log.info({ backend: type, traceStore: cfg.traceStore, ports }, 'runtime started');

  return {
    ports,
    backend,
    sampling,
    pipeline,
    registry,
    async stop() {
      if (health.stopping) return;
      health.stopping = true;
      // stop taking data, write everything accepted, then close the rest; the backend last
      await stopComponents(started, log);
      security.close();
      log.info('runtime stopped');
    },
  };
}
