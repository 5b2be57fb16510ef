// The runtime's sampling subsystem: the policy in force (from the Kubernetes watch, or none), the ingest stage
// that enforces its rules, adaptive sampling, and the strategies served on 5778/5779.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { KubeClient } from '../../kube/client.js';
import { AdaptiveSampler, DEFAULT_ADAPTIVE } from '../../sampling/adaptive.js';
import { type SamplingStrategyResponse, applyIngestRules, strategyFor } from '../../sampling/evaluate.js';
import { type CompiledSampling, EMPTY_SAMPLING, compilePolicies } from '../../sampling/policy.js';
import { API_VERSION } from '../../api/common.js';
import type { StaticSamplingPolicy } from '../../api/samplingpolicy.js';
import type { BackendFactory, ResourceSpans } from '../../storage/api/index.js';
import { ConfigError, type RuntimeConfig } from '../../api/runtime-config.js';
import type { IngestStage } from '../consumer.js';
import { PolicyWatcher } from './watcher.js';
import { POD_NAME_ENV } from '../../api/contract.js';

/** Compiles the policies of the configuration file; a rejected one fails the start with its reason. */
export function compileStatic(policies: StaticSamplingPolicy[]): CompiledSampling {
  const { compiled, verdicts } = compilePolicies(
    policies.map((p) => ({ apiVersion: API_VERSION, kind: 'SamplingPolicy', metadata: { name: p.name, generation: 1 }, spec: { targetRef: { name: 'config' }, ...p.rules } })),
  );
  const bad = policies.map((p, i) => ({ i, p, v: verdicts.get(p.name) })).filter((x) => !x.v?.accepted);
  if (bad.length) {
    throw new ConfigError(
      'config',
      bad.map(({ i, v }) => ({ field: `config.sampling.policies[${i}]`, message: `${v?.reason}: ${(v?.message ?? '').replace(/spec\./g, 'rules.')}` })),
    );
  }
  return compiled;
}

/**
 * The ingest stage of the sampling policy: enforces blocklist and downsampling and feeds adaptive sampling. The
 * runtime swaps `rules` in one assignment when the policies change; a request sees one set of rules throughout.
 */
export class SamplingStage implements IngestStage {
  readonly name = 'sampling';

  constructor(
    public rules: CompiledSampling,
    private readonly dropped: Counter<'reason'>,
    private readonly adaptive: AdaptiveSampler,
  ) {}

  process(traces: ResourceSpans[], spans: number): { traces: ResourceSpans[]; kept: number } {
    const c = this.rules;
    if (c.ingestNoop && !c.adaptive) return { traces, kept: spans };
    const r = applyIngestRules(c, traces);
    if (r.blocked) this.dropped.inc({ reason: 'blocklist' }, r.blocked);
    if (r.downsampled) this.dropped.inc({ reason: 'downsampling' }, r.downsampled);
    if (c.adaptive) this.adaptive.observe(r.traces);
    return r;
  }
}

/** How long startWatching() waits for the first list of policies before serving with none. */
const FIRST_SYNC_MS = 10_000;

export class SamplingRuntime {
  readonly watcher?: PolicyWatcher;
  readonly adaptive: AdaptiveSampler;
  /** the ingest stage; its rules follow the policies in force */
  readonly stage: SamplingStage;
  private readonly client?: KubeClient;
  private readonly fallback: { type: 'probabilistic'; value: number };

  constructor(cfg: RuntimeConfig, backend: BackendFactory, registry: Registry, log: Logger) {
    const s = cfg.sampling ?? {};
    this.fallback = { type: 'probabilistic', value: s.defaultProbability ?? 0.001 };
    const dropped = new Counter({ name: 'jso_runtime_spans_dropped_total', help: 'Spans dropped on purpose by the sampling policy', labelNames: ['reason'] as const, registers: [registry] });
    const enforced = new Gauge({ name: 'jso_runtime_sampling_policies', help: 'SamplingPolicies in force', registers: [registry] });
    const swaps = new Counter({ name: 'jso_runtime_sampling_policy_swaps_total', help: 'Times a recompiled sampling policy was put in force', registers: [registry] });
    const staticPolicy = s.policies?.length && !s.watchPolicies ? compileStatic(s.policies) : EMPTY_SAMPLING;
    if (s.watchPolicies) {
      const ts = cfg.traceStore;
      if (!ts?.name) throw new Error('config.sampling.watchPolicies needs config.traceStore.name (and namespace)');
      this.client = KubeClient.load(s.kubeconfig, { userAgent: `jaeger-storage-runtime/${ts.name}` });
      const podName = s.podName ?? process.env[POD_NAME_ENV];
      this.watcher = new PolicyWatcher(this.client, { namespace: ts.namespace ?? 'default', traceStore: ts.name, podName }, log.child({ subsystem: 'sampling' }));
      this.watcher.onChange((c) => {
        this.stage.rules = c;
        enforced.set(c.enforced.length);
        swaps.inc();
      });
    }
    this.adaptive = new AdaptiveSampler(
      backend.samplingStore(),
      backend.lock(),
      () => this.policy,
      { ...DEFAULT_ADAPTIVE, intervalMs: s.adaptiveIntervalMs ?? DEFAULT_ADAPTIVE.intervalMs, hostname: s.podName ?? process.env[POD_NAME_ENV] ?? `${hostname()}-${process.pid}` },
      log.child({ subsystem: 'adaptive-sampling' }),
    );
    this.stage = new SamplingStage(staticPolicy, dropped, this.adaptive);
  }

  get policy(): CompiledSampling {
    return this.stage.rules;
  }

  strategy(service: string): SamplingStrategyResponse {
    return strategyFor(this.policy, service, { fallback: this.fallback, adaptive: this.adaptive.probabilities });
  }

  /** Tells the operator (through the report Lease) that the backend is out of space, or no longer is. */
  reportBackendFull(message: string | undefined): void {
    this.watcher?.reportBackendFull(message);
  }

  /** Starts following the SamplingPolicies (when configured to); waits a bounded time for the first list. */
  async startWatching(log: Logger): Promise<void> {
    if (!this.watcher) return;
    const synced = await Promise.race([this.watcher.start().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), FIRST_SYNC_MS).unref())]);
    if (!synced) log.warn('sampling policies not listed yet (Kubernetes API unreachable?): serving the default strategy until they are');
  }

  async stopWatching(): Promise<void> {
    await this.watcher?.stop();
    this.client?.close();
  }
}
