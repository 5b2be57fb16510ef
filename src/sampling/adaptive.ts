// Adaptive sampling: per-operation probabilities computed from observed root-span throughput toward
// spec.adaptive.targetSamplesPerSecond.
//
// Every replica counts the root spans it stores per (service, operation) and writes them to the backend's
// SamplingStore each interval. One replica at a time, the holder of the "sampling_store_leader" lock, reads
// everybody's throughput of the last interval, computes new probabilities and writes them; every replica then
// reads the latest probabilities and serves them. Rules per operation, with qps the observed sampled rate:
//   |qps - target| <= tolerance * target -> keep p;   qps = 0 -> 2p;   otherwise p * target / qps, at most 2p;
//   clamped to [minProbability, 1].
import type { Logger } from 'pino';
import { type Lock, type ResourceSpans, type SamplingStore, type ServiceOperationValues, type Throughput, serviceOf } from '../storage/api/index.js';
import { adaptiveApplies } from './evaluate.js';
import type { CompiledSampling } from './policy.js';

export const LEADER_RESOURCE = 'sampling_store_leader';

export interface AdaptiveOptions {
  /** how often counts are flushed and probabilities recomputed */
  intervalMs: number;
  /** probability of an operation seen for the first time */
  initialProbability: number;
  minProbability: number;
  deltaTolerance: number;
  /** identity in the lock and in stored probabilities */
  hostname: string;
}

export const DEFAULT_ADAPTIVE: Omit<AdaptiveOptions, 'hostname'> = { intervalMs: 60_000, initialProbability: 0.001, minProbability: 1e-5, deltaTolerance: 0.3 };

/** One calculation step for one operation (pure). */
export function nextProbability(current: number, qps: number, target: number, o: Pick<AdaptiveOptions, 'minProbability' | 'deltaTolerance'>): number {
  let p: number;
  if (Math.abs(qps - target) <= o.deltaTolerance * target) p = current;
  else if (qps === 0) p = current * 2;
  else p = Math.min(current * 2, (current * target) / qps);
  return Math.min(1, Math.max(o.minProbability, p));
}

/** New probabilities from the throughput of one window (pure). */
export function calculate(
  throughput: Throughput[],
  windowSeconds: number,
  previous: ServiceOperationValues,
  target: number,
  o: Pick<AdaptiveOptions, 'minProbability' | 'deltaTolerance' | 'initialProbability'>,
): { probabilities: ServiceOperationValues; qps: ServiceOperationValues } {
  const counts = new Map<string, Map<string, number>>();
  for (const t of throughput) {
    let m = counts.get(t.service);
    if (!m) counts.set(t.service, (m = new Map()));
    m.set(t.operation, (m.get(t.operation) ?? 0) + t.count);
  }
  // operations known before but silent in this window count as qps 0
  for (const [svc, ops] of Object.entries(previous)) {
    let m = counts.get(svc);
    if (!m) counts.set(svc, (m = new Map()));
    for (const op of Object.keys(ops)) if (!m.has(op)) m.set(op, 0);
  }
  const probabilities: ServiceOperationValues = {};
  const qps: ServiceOperationValues = {};
  for (const [svc, ops] of counts) {
    probabilities[svc] = {};
    qps[svc] = {};
    for (const [op, n] of ops) {
      const rate = n / windowSeconds;
      qps[svc][op] = rate;
      probabilities[svc][op] = nextProbability(previous[svc]?.[op] ?? o.initialProbability, rate, target, o);
    }
  }
  return { probabilities, qps };
}

export class AdaptiveSampler {
  private counts = new Map<string, Map<string, number>>();
  private latest: ServiceOperationValues = {};
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private lastTick = Date.now();
  /** number of calculations this replica made as leader */
  calculations = 0;

  constructor(
    private readonly store: SamplingStore,
    private readonly lock: Lock,
    private readonly policy: () => CompiledSampling,
    private readonly o: AdaptiveOptions,
    private readonly log: Logger,
  ) {}

  /** Counts root spans of the services adaptive sampling covers (called on the ingest path). */
  observe(traces: ResourceSpans[]): void {
    const c = this.policy();
    if (!c.adaptive) return;
    for (const rs of traces) {
      const service = serviceOf(rs.resource);
      if (!adaptiveApplies(c, service)) continue;
      let m: Map<string, number> | undefined;
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          if (span.parentSpanId) continue;
          if (!m) {
            m = this.counts.get(service);
            if (!m) this.counts.set(service, (m = new Map()));
          }
          m.set(span.name, (m.get(span.name) ?? 0) + 1);
        }
      }
    }
  }

  /** probabilities to serve */
  get probabilities(): ServiceOperationValues {
    return this.latest;
  }

  start(): void {
    const loop = (): void => {
      this.timer = setTimeout(() => {
        this.running = this.tick()
          .catch((e: unknown) => this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'adaptive sampling step failed; retrying next interval'))
          .finally(() => {
            this.running = undefined;
            if (this.timer) loop();
          });
      }, this.o.intervalMs);
      this.timer.unref();
    };
    loop();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.lock.forfeit(LEADER_RESOURCE, this.o.hostname).catch(() => false);
  }

  /** One interval: flush counts, compute if leader, load the latest probabilities. */
  async tick(now = Date.now()): Promise<void> {
    const c = this.policy();
    const counts = this.counts;
    this.counts = new Map();
    const windowMs = Math.max(1, now - this.lastTick);
    this.lastTick = now;
    const nowNs = BigInt(now) * 1_000_000n;
    if (!c.adaptive) return;
    const flush: Throughput[] = [];
    for (const [service, ops] of counts) {
      for (const [operation, count] of ops) flush.push({ service, operation, count, probabilities: [this.latest[service]?.[operation] ?? this.o.initialProbability] });
    }
    if (flush.length) await this.store.insertThroughput(nowNs, flush);
    if (await this.lock.acquire(LEADER_RESOURCE, this.o.hostname, this.o.intervalMs * 3)) {
      const since = nowNs - BigInt(windowMs) * 1_000_000n;
      const seen = (await this.store.getThroughput({ start: since, end: nowNs + 1n })).filter((t) => t.at > since);
      const previous = await this.store.getLatestProbabilities();
      const { probabilities, qps } = calculate(seen, windowMs / 1000, previous, c.adaptive.targetSamplesPerSecond, this.o);
      await this.store.insertProbabilitiesAndQps(this.o.hostname, nowNs, probabilities, qps);
      this.calculations++;
    }
    this.latest = await this.store.getLatestProbabilities();
  }
}
