// Applies a compiled policy: ingest rules on decoded OTLP batches, and the strategy served to SDKs.
//
// Downsampling keeps a trace when hash(traceId) < ratio * 2^32, with hash = FNV-1a (32-bit) over the lowercase hex
// trace ID. Every replica computes the same decision for the same trace, and a trace kept at ratio r is also
// kept at every ratio above r. Kept spans carry the attribute jaeger.downsampling.ratio (double), so counts can
// be scaled back by 1/ratio.
import { type ResourceSpans, type Span, addAttribute, serviceOf } from '../storage/api/index.js';
import type { CompiledSampling, StrategySpec } from './policy.js';

export const RATIO_ATTRIBUTE = 'jaeger.downsampling.ratio';
const TWO_32 = 4294967296;

/** FNV-1a, 32-bit, over the characters of a hex string; unsigned. */
export function traceHash(traceId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < traceId.length; i++) {
    h ^= traceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export const keepTrace = (traceId: string, ratio: number): boolean => ratio >= 1 || traceHash(traceId) < ratio * TWO_32;


type Downsampling = NonNullable<CompiledSampling['downsampling']>;

/** The ratio lookup for one service's spans, resolved once per resource: operation override > service override > ratio. */
function serviceRatios(d: Downsampling, service: string): (operation: string) => number {
  const o = d.overrides.get(service);
  const base = o?.ratio ?? (d.services && !d.services.has(service) ? 1 : d.ratio);
  if (!o?.operations.size) return () => base;
  const ops = o.operations;
  return (operation) => ops.get(operation) ?? base;
}

export interface FilterResult {
  traces: ResourceSpans[];
  kept: number;
  blocked: number;
  downsampled: number;
}

/**
 * Drops blocked and downsampled spans in place (the batch is owned by the caller, freshly decoded) and tags
 * kept downsampled spans with their ratio. Empty scopes and resources are removed.
 */
export function applyIngestRules(c: CompiledSampling, traces: ResourceSpans[]): FilterResult {
  let kept = 0;
  let blocked = 0;
  let downsampled = 0;
  if (c.ingestNoop) {
    for (const rs of traces) for (const ss of rs.scopeSpans) kept += ss.spans.length;
    return { traces, kept, blocked, downsampled };
  }
  const out: ResourceSpans[] = [];
  for (const rs of traces) {
    const service = serviceOf(rs.resource);
    if (c.blockedServices.has(service)) {
      for (const ss of rs.scopeSpans) blocked += ss.spans.length;
      continue;
    }
    const blockedOps = c.blockedOperations.get(service);
    const ratioOf = c.downsampling ? serviceRatios(c.downsampling, service) : undefined;
    const scopes = [];
    for (const ss of rs.scopeSpans) {
      const spans: Span[] = [];
      // spans of one trace usually sit next to each other: hash once per run of a trace
      let lastTrace = '';
      let hash = 0;
      for (const span of ss.spans) {
        if (blockedOps?.has(span.name)) {
          blocked++;
          continue;
        }
        const ratio = ratioOf ? ratioOf(span.name) : 1;
        if (ratio < 1) {
          if (span.traceId !== lastTrace) {
            lastTrace = span.traceId;
            hash = traceHash(span.traceId);
          }
          if (hash >= ratio * TWO_32) {
            downsampled++;
            continue;
          }
          // a lazily decoded span stays encoded: tagging it must not decode its other attributes
          addAttribute(span, { key: RATIO_ATTRIBUTE, value: ratio });
        }
        spans.push(span);
      }
      kept += spans.length;
      if (spans.length) scopes.push(spans.length === ss.spans.length ? ss : { ...ss, spans });
    }
    if (scopes.length) out.push({ ...rs, scopeSpans: scopes });
  }
  return { traces: out, kept, blocked, downsampled };
}

/** jaeger.api_v2.SamplingStrategyResponse, as plain data. */
export interface SamplingStrategyResponse {
  strategyType: 'PROBABILISTIC' | 'RATE_LIMITING';
  probabilisticSampling?: { samplingRate: number };
  rateLimitingSampling?: { maxTracesPerSecond: number };
  operationSampling?: {
    defaultSamplingProbability: number;
    defaultLowerBoundTracesPerSecond: number;
    perOperationStrategies: { operation: string; probabilisticSampling: { samplingRate: number } }[];
    defaultUpperBoundTracesPerSecond: number;
  };
}

export interface StrategyContext {
  /** served when no policy sets a default (Jaeger's default is probabilistic 0.001) */
  fallback: StrategySpec;
  /** adaptive probabilities per service and operation, when adaptive sampling runs */
  adaptive?: Record<string, Record<string, number>>;
}

export function adaptiveApplies(c: CompiledSampling, service: string): boolean {
  const a = c.adaptive;
  return !!a && !a.exclude.has(service) && (!a.include || a.include.has(service));
}

/** The strategy served for `service` under the precedence documented in policy.ts. */
export function strategyFor(c: CompiledSampling, service: string, ctx: StrategyContext): SamplingStrategyResponse {
  if (c.blockedServices.has(service)) return { strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0 } };
  const rules = c.services.get(service);
  const base = rules?.strategy ?? c.defaultStrategy ?? ctx.fallback;
  const ops = new Map<string, number>();
  if (adaptiveApplies(c, service)) for (const [op, p] of Object.entries(ctx.adaptive?.[service] ?? {})) ops.set(op, p);
  for (const [op, p] of rules?.operations ?? []) ops.set(op, p);
  for (const op of c.blockedOperations.get(service) ?? []) ops.set(op, 0);

  // per-operation sampling is probabilistic: under a rate-limiting base, the nearest probabilistic default applies
  const defaultProbability = [base, c.defaultStrategy, ctx.fallback].find((x) => x?.type === 'probabilistic')?.value ?? 0.001;
  const resp: SamplingStrategyResponse =
    base.type === 'probabilistic'
      ? { strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: base.value } }
      : { strategyType: 'RATE_LIMITING', rateLimitingSampling: { maxTracesPerSecond: Math.round(base.value) } };
  if (ops.size) {
    resp.operationSampling = {
      defaultSamplingProbability: defaultProbability,
      defaultLowerBoundTracesPerSecond: 0,
      perOperationStrategies: [...ops.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([operation, samplingRate]) => ({ operation, probabilisticSampling: { samplingRate } })),
      defaultUpperBoundTracesPerSecond: 0,
    };
  }
  return resp;
}
