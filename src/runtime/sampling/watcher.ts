// Follows the SamplingPolicies that target this runtime's TraceStore through the Kubernetes API (list+watch that
// restarts itself; no mounted ConfigMap, which would lag by a kubelet sync period), compiles them and swaps the
// result in one assignment. When the API is unreachable the last compiled policy stays in force; the informer
// relists on reconnection and the diff brings the runtime up to date.
//
// The runtime reports what it enforces ("name=generation,...") on its TraceStore's report Lease, under an
// annotation keyed by its own pod name (JSON merge patch: replicas touch only their own key). The operator creates
// that Lease and reads it to fill SamplingPolicy status.runtimes and the Propagated condition. The runtime's Role
// allows get and patch on that one Lease only.
import type { Logger } from 'pino';
import { backendReportAnnotation, reportAnnotation, runtimeReportLeaseName } from '../../api/contract.js';
import type { SamplingPolicy } from '../../api/samplingpolicy.js';
import { type KubeClient, resourcePath } from '../../kube/client.js';
import { Informer, type KubeObject } from '../../kube/informer.js';
import { type CompiledSampling, EMPTY_SAMPLING, compilePolicies, enforcedToString } from '../../sampling/policy.js';
import { LEASES, SAMPLING_POLICIES } from '../../kube/resources.js';


export interface WatcherOptions {
  namespace: string;
  traceStore: string;
  /** the runtime's own Pod name, the key of its report on the Lease; no report when unset */
  podName?: string;
}

export class PolicyWatcher {
  private compiled: CompiledSampling = EMPTY_SAMPLING;
  private readonly informer: Informer<SamplingPolicy & KubeObject>;
  private reported?: string;
  private backendFull?: string;
  private reporting = false;
  private reportAgain = false;
  private retry?: NodeJS.Timeout;
  private stopped = false;
  private readonly listeners: ((c: CompiledSampling) => void)[] = [];

  constructor(
    private readonly client: KubeClient,
    private readonly o: WatcherOptions,
    private readonly log: Logger,
  ) {
    this.informer = new Informer<SamplingPolicy & KubeObject>(client, SAMPLING_POLICIES, log.child({ informer: 'samplingpolicies' }), {
      namespace: o.namespace,
      maxBackoffMs: 2_000,
      onRestart: (reason) => log.info({ reason }, 'sampling policy watch restarted; enforcing the last known policies meanwhile'),
    });
    const mine = (p: SamplingPolicy) => p.spec?.targetRef?.name === o.traceStore;
    this.informer.on({
      add: (p) => mine(p) && this.recompile(),
      update: (a, b) => (mine(a) || mine(b)) && this.recompile(),
      delete: (p) => mine(p) && this.recompile(),
    });
  }

  get current(): CompiledSampling {
    return this.compiled;
  }

  onChange(fn: (c: CompiledSampling) => void): void {
    this.listeners.push(fn);
  }

  async start(): Promise<void> {
    this.informer.start();
    await this.informer.waitForSync();
    this.recompile();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer.stop();
  }

  private recompile(): void {
    const mine = this.informer.list().filter((p) => p.spec?.targetRef?.name === this.o.traceStore);
    const { compiled, verdicts } = compilePolicies(mine);
    const before = enforcedToString(this.compiled);
    this.compiled = compiled;
    const after = enforcedToString(compiled);
    if (before !== after) {
      const rejected = [...verdicts].filter(([, v]) => !v.accepted).map(([name, v]) => ({ name, reason: v.reason }));
      this.log.info({ enforced: after || '(none)', rejected }, 'sampling policy in force');
    }
    for (const l of this.listeners) l(compiled);
    this.report();
  }

  /** Reports that the backend refuses writes for lack of space (a message), or that it takes them again (undefined). */
  reportBackendFull(message: string | undefined): void {
    this.backendFull = message?.slice(0, 1024);
    this.report();
  }

  /** Patches this pod's annotations on the report Lease; coalesces bursts and retries until the API answers (and the Lease exists). */
  private report(): void {
    if (!this.o.podName || this.stopped) return;
    if (this.reporting) {
      this.reportAgain = true;
      return;
    }
    const enforced = enforcedToString(this.compiled);
    const value = `${enforced}\u0000${this.backendFull ?? ''}`;
    if (value === this.reported) return;
    this.reporting = true;
    const lease = runtimeReportLeaseName(this.o.traceStore);
    const path = resourcePath(LEASES, this.o.namespace, lease);
    // null removes the key (merge patch)
    const annotations = { [reportAnnotation(this.o.podName)]: enforced, [backendReportAnnotation(this.o.podName)]: this.backendFull ?? null };
    this.client
      .request('PATCH', path, { body: { metadata: { annotations } }, contentType: 'application/merge-patch+json', timeoutMs: 5_000 })
      .then(
        () => {
          this.reported = value;
        },
        (e: unknown) => {
          this.log.warn({ err: e instanceof Error ? e.message : String(e), pod: this.o.podName, lease }, 'cannot report the enforced sampling policy; retrying');
          clearTimeout(this.retry);
          this.retry = setTimeout(() => this.report(), 1_000);
          this.retry.unref();
        },
      )
      .finally(() => {
        this.reporting = false;
        if (this.reportAgain) {
          this.reportAgain = false;
          this.report();
        }
      });
  }
}
