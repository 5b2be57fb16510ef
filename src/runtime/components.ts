// The one table of the runtime's components, in start order. Each line names its shutdown tier and deadline and
// builds its component from its config section and the parts the runtime assembled (backend, pipeline, sampling,
// listener security). A new listener or timer is one line here.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { DEFAULT_PORTS, type RuntimeConfig } from '../api/runtime-config.js';
import { serveOps } from '../kube/probes.js';
import { type BackendFactory, StorageError } from '../storage/api/index.js';
import { type ComponentSpec, grpcComponent, httpComponent, intervalComponent } from './component.js';
import { startGrpcServer } from './grpc-util.js';
import type { ListenerSecurity } from './listener-security.js';
import type { IngestPipeline } from './pipeline.js';
import { addApiV3GrpcServices } from './query/api-v3-grpc.js';
import { startQueryHttp } from './query/http.js';
import type { ReceiverDeps } from './receivers/ingest.js';
import { addOtlpTraceService } from './receivers/otlp-grpc.js';
import { type H2Receiver, startOtlpGrpcReceiver } from './receivers/otlp-grpc-h2.js';
import { startHttpReceiver } from './receivers/otlp-http.js';
import { addRemoteStorageServices } from './remote-storage/service.js';
import { addSamplingManager, startSamplingHttp } from './sampling/endpoints.js';
import type { SamplingRuntime } from './sampling/runtime.js';
import type { Tenancy } from './tenancy.js';

export type PortName = keyof typeof DEFAULT_PORTS;

/** What the runtime's health answers are made of; shared by the components that set and read it. */
export interface RuntimeHealth {
  stopping: boolean;
  /** why the backend did not answer its last ping */
  backendProblem?: string;
}

/** What the component factories build from. */
export interface RuntimeParts {
  cfg: RuntimeConfig;
  log: Logger;
  registry: Registry;
  backend: BackendFactory;
  pipeline: IngestPipeline;
  sampling: SamplingRuntime;
  security: ListenerSecurity;
  tenancy: Tenancy;
  receiver: ReceiverDeps;
  health: RuntimeHealth;
}

export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: (addr.slice(0, i) || '0.0.0.0').replace(/^\[(.*)\]$/, '$1'), port: Number(addr.slice(i + 1)) };
}

const listenOn = (p: RuntimeParts, name: PortName): { host: string; port: number } => splitHostPort(p.cfg.listen?.[name] ?? `0.0.0.0:${DEFAULT_PORTS[name]}`);
const maxRequestBytes = (p: RuntimeParts): number => p.cfg.ingest?.maxRequestBytes ?? 16 * 1024 * 1024;
const idleTimeoutMs = (p: RuntimeParts): number => p.cfg.ingest?.idleTimeoutMs ?? 120_000;
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Provisions the backend; one outside the pod may be down at start: serve, stay unready, provision on housekeeping. */
async function provision(p: RuntimeParts): Promise<void> {
  try {
    await p.backend.provision();
  } catch (e) {
    if (!p.backend.ping || !(e instanceof StorageError) || e.code !== 'Unavailable') {
      // a component that fails to start is not stopped: release the backend's connections here
      await p.backend.close().catch(() => undefined);
      throw e;
    }
    p.log.warn({ err: e.message }, 'backend not provisioned yet; retrying');
  }
}

export const COMPONENTS: readonly ComponentSpec<RuntimeParts, PortName>[] = [
  // provisioned first, closed last: everything else reads or writes through it
  { name: 'backend', shutdown: 'storage', stopMs: 5_000, create: (p) => ({ start: () => provision(p), stop: () => p.backend.close() }) },
  // started with the backend; stopping it writes everything accepted once the receivers stopped taking data
  { name: 'ingest pipeline', shutdown: 'pipeline', stopMs: 15_000, create: (p) => ({ start: () => Promise.resolve(), stop: () => p.pipeline.drain() }) },
  // threads that decode OTLP/protobuf requests, started by the first large request; stopped after the receivers
  { name: 'OTLP decode threads', shutdown: 'pipeline', stopMs: 2_000, create: (p) => ({ start: () => Promise.resolve(), stop: () => p.receiver.decoder.close() }) },
  { name: 'adaptive sampling', shutdown: 'serving', stopMs: 2_000, create: (p) => ({ start: () => Promise.resolve(p.sampling.adaptive.start()), stop: () => p.sampling.adaptive.stop() }) },
  {
    name: 'sampling policy watcher',
    shutdown: 'serving',
    stopMs: 2_000,
    create: (p) => (p.sampling.watcher ? { start: () => p.sampling.startWatching(p.log), stop: () => p.sampling.stopWatching() } : undefined),
  },
  {
    name: 'remote sampling (HTTP)',
    port: 'samplingHttp',
    shutdown: 'serving',
    stopMs: 2_000,
    create: (p) => {
      const a = listenOn(p, 'samplingHttp');
      return httpComponent(() => startSamplingHttp(a.host, a.port, (service) => p.sampling.strategy(service), p.log, p.security.http('sampling')));
    },
  },
  {
    name: 'remote sampling (gRPC)',
    port: 'samplingGrpc',
    shutdown: 'serving',
    stopMs: 2_000,
    create: (p) => {
      const a = listenOn(p, 'samplingGrpc');
      const setup = (s: Parameters<typeof addSamplingManager>[0]) => addSamplingManager(s, (service) => p.sampling.strategy(service));
      return grpcComponent(() => startGrpcServer(a.host, a.port, 1024 * 1024, setup, p.log, 'remote sampling (gRPC)', { credentials: p.security.grpc('sampling') }));
    },
  },
  {
    name: 'OTLP/HTTP receiver',
    port: 'otlpHttp',
    shutdown: 'intake',
    stopMs: 5_000,
    create: (p) => {
      const ingest = p.cfg.ingest ?? {};
      const o = { ...listenOn(p, 'otlpHttp'), maxBodyBytes: maxRequestBytes(p), requestTimeoutMs: ingest.requestTimeoutMs ?? 30_000, idleTimeoutMs: idleTimeoutMs(p), createServer: p.security.http('ingest') };
      return httpComponent(() => startHttpReceiver(p.receiver, o));
    },
  },
  {
    name: 'OTLP/gRPC receiver',
    port: 'otlpGrpc',
    shutdown: 'intake',
    stopMs: 5_000,
    create: (p) => {
      const o = { ...listenOn(p, 'otlpGrpc'), maxRequestBytes: maxRequestBytes(p), idleTimeoutMs: idleTimeoutMs(p), requestTimeoutMs: p.cfg.ingest?.requestTimeoutMs ?? 30_000, listener: p.security.http2('ingest') };
      let receiver: H2Receiver | undefined;
      return {
        get port() {
          return receiver?.port;
        },
        start: async () => {
          receiver = await startOtlpGrpcReceiver(p.receiver, o);
        },
        stop: () => receiver?.close() ?? Promise.resolve(),
        force: () => receiver?.force(),
      };
    },
  },
  {
    // reads for a stock Jaeger, and its writes (OTLP Export on the same port): stops with the intake
    name: 'remote storage (jaeger.storage.v2)',
    port: 'remoteStorage',
    shutdown: 'intake',
    stopMs: 5_000,
    create: (p) => {
      const a = listenOn(p, 'remoteStorage');
      const setup = (s: Parameters<typeof addOtlpTraceService>[0]) => {
        addRemoteStorageServices(s, p.backend.traceReader(), p.backend.dependencyReader(), p.tenancy, p.log.child({ subsystem: 'remote-storage' }), () => !p.health.stopping);
        addOtlpTraceService(s, p.receiver);
      };
      const o = { idleTimeoutMs: idleTimeoutMs(p), credentials: p.security.grpc('remoteStorage') };
      return grpcComponent(() => startGrpcServer(a.host, a.port, maxRequestBytes(p), setup, p.log, 'remote storage (jaeger.storage.v2)', o));
    },
  },
  {
    name: 'query (jaeger.api_v3 gRPC)',
    port: 'queryGrpc',
    shutdown: 'serving',
    stopMs: 2_000,
    create: (p) => {
      const a = listenOn(p, 'queryGrpc');
      const setup = (s: Parameters<typeof addApiV3GrpcServices>[0]) => addApiV3GrpcServices(s, p.backend.traceReader(), p.backend.dependencyReader(), p.tenancy, p.log.child({ subsystem: 'query-grpc' }), () => !p.health.stopping);
      // requests are small; 1 MiB leaves room for long attribute filters
      return grpcComponent(() => startGrpcServer(a.host, a.port, 1024 * 1024, setup, p.log, 'query (jaeger.api_v3 gRPC)', { credentials: p.security.grpc('query') }));
    },
  },
  {
    name: 'query (HTTP: api_v3 and classic)',
    port: 'queryHttp',
    shutdown: 'serving',
    stopMs: 2_000,
    create: (p) => {
      const a = listenOn(p, 'queryHttp');
      const deps = { reader: p.backend.traceReader(), deps: p.backend.dependencyReader(), tenancy: p.tenancy, log: p.log.child({ subsystem: 'query-http' }) };
      return httpComponent(() => startQueryHttp(a.host, a.port, deps, p.security.http('query')));
    },
  },
  {
    // backends outside the pod: readiness follows a periodic ping
    name: 'backend readiness ping',
    shutdown: 'intake',
    stopMs: 1_000,
    create: (p) => {
      const ping = p.backend.ping?.bind(p.backend);
      if (!ping) return undefined;
      return intervalComponent(10_000, () => {
        ping().then(
          () => (p.health.backendProblem = undefined),
          (e: unknown) => (p.health.backendProblem = message(e)),
        );
      });
    },
  },
  {
    name: 'backend maintenance',
    shutdown: 'intake',
    stopMs: 1_000,
    create: (p) => {
      const maintain = p.backend.maintain?.bind(p.backend);
      if (!maintain) return undefined;
      return intervalComponent(p.cfg.backendMaintenanceMs ?? 300_000, () => {
        maintain().catch((e: unknown) => p.log.warn({ err: message(e) }, 'backend housekeeping failed; retrying next interval'));
      });
    },
  },
  {
    name: 'admin (metrics, healthz, readyz)',
    port: 'admin',
    shutdown: 'admin',
    stopMs: 1_000,
    create: (p) => {
      const a = listenOn(p, 'admin');
      const { health, pipeline } = p;
      const readyz = () =>
        health.stopping
          ? { ok: false, detail: 'shutting down' }
          : health.backendProblem
            ? { ok: false, detail: `backend unreachable: ${health.backendProblem}` }
            : { ok: true, detail: pipeline.backendFull ? `backend out of space, refusing spans: ${pipeline.backendFull}` : undefined };
      return httpComponent(() => serveOps(a.host, a.port, p.registry, { healthz: () => ({ ok: true }), readyz }));
    },
  },
];
