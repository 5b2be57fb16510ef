// The operator process: ops endpoints, leader election, informers and controllers, and graceful shutdown.
import type { OperatorPluginTable } from '../api/backend-plugin.js';
import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { V1PersistentVolumeClaim, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { SamplingPolicy } from '../api/samplingpolicy.js';
import type { TraceStore } from '../api/tracestore.js';
import { MANAGED_SELECTOR, POD_NAMESPACE_ENV, SECRET_ALLOW_SELECTOR } from '../api/contract.js';
import { KubeClient } from '../kube/client.js';
import { EventRecorder } from '../kube/events.js';
import { type Cache, Informer, type KubeObject, NamespacedInformers } from '../kube/informer.js';
import { DEFAULT_LEASE, LeaderElector, type LeaderElectionOptions } from '../kube/leader.js';
import { OperatorMetrics } from '../kube/metrics.js';
import { serveOps } from '../kube/probes.js';
import type { OperatorSettings } from '../reconcilers/tracestore/desired.js';
import { Controller } from './controller.js';
import { SamplingPolicyController, type SamplingInformers } from './samplingpolicy.js';
import { TraceStoreController, type TraceStoreInformers, childCaches } from './tracestore.js';
import { PERSISTENTVOLUMECLAIMS, PODS, SAMPLING_POLICIES, SECRETS, TRACESTORES } from '../kube/resources.js';

/** The watched namespaces of `--namespace a,b` / WATCH_NAMESPACE; undefined = all. */
export function watchedNamespaces(v: string | undefined): string[] | undefined {
  const list = [...new Set((v ?? '').split(',').map((s) => s.trim()).filter(Boolean))];
  for (const ns of list) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(ns) || ns.length > 63) throw new Error(`--namespace: "${ns}" is not a namespace name`);
  }
  return list.length ? list : undefined;
}

/** The runtime ships in the operator's own image; config/install sets JSO_RUNTIME_IMAGE to the same reference. */
export const DEFAULT_RUNTIME_IMAGE = 'jaeger-storage-operator:0.1.0';

export interface OperatorOptions {
  kubeconfig?: string;
  /**
   * the namespaces to watch, comma-separated (one informer per namespace and resource, so a namespaced Role in
   * each is enough); all namespaces when empty
   */
  namespace?: string;
  workers: number;
  opsHost: string;
  opsPort: number;
  runtimeImage: string;
  leaderElection: LeaderElectionOptions & { enabled: boolean };
  /** called when leadership is lost (default: exit so the pod restarts, like controller-runtime) */
  onLostLeadership?: () => void;
  /** the backend plug-ins (src/storage/plugins.ts), from the composition root */
  plugins: OperatorPluginTable;
  /** how long a data volume's claim may stay Pending before Ready says VolumePending (default 60s) */
  volumePendingGraceMs?: number;
}

function podNamespace(): string {
  const ns = process.env[POD_NAMESPACE_ENV];
  if (ns) return ns;
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return 'default';
  }
}

export function defaultOperatorOptions(plugins: OperatorPluginTable): OperatorOptions {
  return {
    namespace: process.env.WATCH_NAMESPACE || undefined,
    workers: 4,
    opsHost: '0.0.0.0',
    opsPort: 8080,
    runtimeImage: process.env.JSO_RUNTIME_IMAGE || DEFAULT_RUNTIME_IMAGE,
    plugins,
    leaderElection: {
      enabled: true,
      namespace: podNamespace(),
      name: 'jaeger-storage-operator-leader',
      identity: `${process.env.HOSTNAME || hostname()}_${process.pid}`,
      ...DEFAULT_LEASE,
    },
  };
}

export class Operator {
  readonly metrics = new OperatorMetrics();
  readonly client: KubeClient;
  readonly informers: TraceStoreInformers & Pick<SamplingInformers, 'policies' | 'pods'>;
  /** the watched namespaces; undefined = all */
  readonly namespaces: string[] | undefined;
  readonly controller: Controller;
  readonly samplingController: Controller;
  private elector?: LeaderElector;
  private server?: Server & { port: number };
  private started = false;
  private stopping = false;
  private electionDone?: Promise<void>;

  constructor(
    private readonly o: OperatorOptions,
    private readonly log: Logger,
  ) {
    this.client = KubeClient.load(o.kubeconfig, { userAgent: `jaeger-storage-operator/${o.leaderElection.identity}`, requestCounter: this.metrics.apiRequests });
    this.namespaces = watchedNamespaces(o.namespace);
    const one = <T extends KubeObject>(r: typeof TRACESTORES, namespace: string | undefined, selector?: string): Informer<T> =>
      new Informer<T>(this.client, r, log.child({ informer: r.plural, ...(namespace ? { namespace } : {}) }), {
        namespace,
        labelSelector: selector,
        onRestart: (reason) => this.metrics.informerRestarts.inc({ resource: r.plural, reason }),
      });
    const namespaces = this.namespaces;
    const mk = <T extends KubeObject>(r: typeof TRACESTORES, selector?: string): Cache<T> =>
      !namespaces || namespaces.length === 1
        ? one<T>(r, namespaces?.[0], selector)
        : new NamespacedInformers<T>(r, new Map(namespaces.map((ns) => [ns, one<T>(r, ns, selector)])));
    this.informers = {
      traceStores: mk<TraceStore & KubeObject>(TRACESTORES),
      // one informer per kind of child the builders produce, limited to the objects this operator manages
      children: childCaches((r) => mk(r, MANAGED_SELECTOR)),
      // only Secrets that opted in: the operator never caches (or watches) the others
      secrets: mk<V1Secret & KubeObject>(SECRETS, SECRET_ALLOW_SELECTOR),
      policies: mk<SamplingPolicy & KubeObject>(SAMPLING_POLICIES),
      pods: mk<V1Pod & KubeObject>(PODS, MANAGED_SELECTOR),
      // the data volumes' claims, labelled as managed by their StatefulSet's volumeClaimTemplate
      volumes: mk<V1PersistentVolumeClaim & KubeObject>(PERSISTENTVOLUMECLAIMS, MANAGED_SELECTOR),
    };
    const settings: OperatorSettings = { runtimeImage: o.runtimeImage, plugins: o.plugins, ...(o.volumePendingGraceMs !== undefined ? { volumePendingGraceMs: o.volumePendingGraceMs } : {}) };
    const events = new EventRecorder(this.client, 'jaeger-storage-operator', log);
    const ts = new TraceStoreController(this.client, this.informers, settings, events, log.child({ controller: 'tracestore' }));
    this.controller = new Controller('tracestore', (k) => ts.reconcile(k), { workers: o.workers }, this.metrics, log.child({ controller: 'tracestore' }));
    ts.watch((k) => this.controller.enqueue(k));
    const sp = new SamplingPolicyController(this.client, { policies: this.informers.policies, pods: this.informers.pods, traceStores: this.informers.traceStores, leases: this.informers.children.Lease }, events, log.child({ controller: 'samplingpolicy' }));
    this.samplingController = new Controller('samplingpolicy', (k) => sp.reconcile(k), { workers: 2 }, this.metrics, log.child({ controller: 'samplingpolicy' }));
    sp.watch((k) => this.samplingController.enqueue(k));
  }

  get opsPort(): number | undefined {
    return this.server?.port;
  }

  get isLeader(): boolean {
    return this.elector ? this.elector.isLeader : this.started;
  }

  private allInformers(): Cache<KubeObject>[] {
    const { children, ...others } = this.informers;
    return [...Object.values(others), ...Object.values(children)] as Cache<KubeObject>[];
  }

  async start(): Promise<void> {
    this.server = await serveOps(this.o.opsHost, this.o.opsPort, this.metrics.registry, {
      healthz: () => ({ ok: !this.stopping }),
      // a standby replica is ready (it serves probes and waits for the lease); a leader once its caches synced
      readyz: () => {
        if (this.stopping) return { ok: false, detail: 'shutting down' };
        if (!this.started) return { ok: true };
        const pending = this.allInformers().filter((i) => !i.hasSynced).map((i) => i.resource.plural);
        return pending.length ? { ok: false, detail: `caches not synced: ${pending.join(', ')}` } : { ok: true };
      },
    });
    this.log.info({ port: this.server.port, host: this.o.opsHost, apiServer: this.client.serverUrl, namespaces: this.namespaces ?? '(all)' }, 'ops server listening: /metrics /healthz /readyz');
    if (!this.o.leaderElection.enabled) return this.startControllers();
    this.elector = new LeaderElector(this.client, this.o.leaderElection, this.log.child({ subsystem: 'leader-election' }));
    this.electionDone = this.elector.run(
      () => {
        this.metrics.leader.set(1);
        void this.startControllers();
      },
      () => {
        this.metrics.leader.set(0);
        (this.o.onLostLeadership ?? (() => process.exit(1)))();
      },
    );
  }

  private async startControllers(): Promise<void> {
    if (this.stopping) return;
    this.started = true;
    for (const i of this.allInformers()) i.start();
    await Promise.all(this.allInformers().map((i) => i.waitForSync()));
    if (this.stopping) return;
    this.log.info('caches synced: starting workers');
    this.controller.start();
    this.samplingController.start();
  }

  /** Graceful: finish in-flight reconciles, stop watches, release the lease. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.all([this.controller.stop(), this.samplingController.stop()]);
    await Promise.all(this.allInformers().map((i) => i.stop()));
    await this.elector?.stop();
    await this.electionDone;
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.client.close();
    this.log.info('operator stopped');
  }
}
