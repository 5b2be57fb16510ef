// Compiles the SamplingPolicies that target one TraceStore into one immutable rule set. The operator (for
// status) and every runtime (for enforcement) run this same pure function over the same objects, so they agree
// on which policy wins without talking to each other.
//
// Precedence:
//  - the blocklist is the union of every accepted policy: a blocked service or operation is dropped at ingest
//    and served probability 0, whatever else any policy says;
//  - every other field (spec.default, each spec.services[name], spec.downsampling, spec.adaptive) is owned by
//    the policy with the highest spec.priority that sets it;
//  - two policies of the same priority that set the same field to different values contradict each other: the
//    older one (creationTimestamp, then name) wins and the newer is rejected as a whole (Accepted=False,
//    reason Conflict), so adding a policy never silently changes what an existing one enforces;
//  - for a served strategy: per-operation probability > adaptive value > service default > policy default >
//    the runtime's default.
import { validateSpec } from '../api/crds.js';
import type { FieldError } from '../api/schema.js';
import type { SamplingPolicy, SamplingPolicySpec } from '../api/samplingpolicy.js';

export type StrategySpec = NonNullable<SamplingPolicySpec['default']>;

export interface ServiceRules {
  strategy?: StrategySpec;
  operations: Map<string, number>;
}

export interface CompiledSampling {
  /** the policies enforced, with the generation of each, sorted by name */
  enforced: { name: string; generation: number }[];
  defaultStrategy?: StrategySpec;
  services: Map<string, ServiceRules>;
  blockedServices: Set<string>;
  blockedOperations: Map<string, Set<string>>;
  downsampling?: {
    ratio: number;
    /** only these services; all when undefined */
    services?: Set<string>;
    /** overrides per service: a whole-service ratio and per-operation ratios */
    overrides: Map<string, { ratio?: number; operations: Map<string, number> }>;
  };
  adaptive?: { targetSamplesPerSecond: number; include?: Set<string>; exclude: Set<string> };
  /** true when nothing needs evaluating on the ingest path */
  ingestNoop: boolean;
}

export type VerdictReason = 'Accepted' | 'InvalidSpec' | 'Conflict';

export interface Verdict {
  accepted: boolean;
  reason: VerdictReason;
  message: string;
}

export const EMPTY_SAMPLING: CompiledSampling = Object.freeze({
  enforced: [],
  services: new Map(),
  blockedServices: new Set(),
  blockedOperations: new Map(),
  ingestNoop: true,
}) as CompiledSampling;

const overrideKey = (service: string, operation = ''): string => `${service}\u0000${operation}`;

/** JSON with sorted keys and sorted map-like lists: equal meaning, equal text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) {
    const items = v.map(canonical);
    return `[${items.sort().join(',')}]`;
  }
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Checks that the OpenAPI schema cannot express; also run at reconcile on top of the schema and CEL rules. */
export function validatePolicy(spec: unknown): FieldError[] {
  const errors = validateSpec('SamplingPolicy', spec);
  if (errors.length) return errors;
  const s = spec as SamplingPolicySpec;
  const seen = new Set<string>();
  (s.downsampling?.overrides ?? []).forEach((o, i) => {
    const k = overrideKey(o.service, o.operation);
    if (seen.has(k)) {
      errors.push({ field: `spec.downsampling.overrides[${i}]`, message: `duplicates the override of service "${o.service}"${o.operation ? ` operation "${o.operation}"` : ''}: keep one entry per service and operation` });
    }
    seen.add(k);
  });
  const exclude = new Set(s.adaptive?.exclude ?? []);
  (s.adaptive?.include ?? []).forEach((name, i) => {
    if (exclude.has(name)) errors.push({ field: `spec.adaptive.include[${i}]`, message: `service "${name}" is both included and excluded: remove it from one of the lists` });
  });
  return errors;
}

const creation = (p: SamplingPolicy): string => p.metadata.creationTimestamp ?? '';

/** Order of authority: higher priority first, then older, then by name. */
export function byAuthority(a: SamplingPolicy, b: SamplingPolicy): number {
  const pa = a.spec?.priority ?? 0;
  const pb = b.spec?.priority ?? 0;
  if (pa !== pb) return pb - pa;
  const ca = creation(a);
  const cb = creation(b);
  if (ca !== cb) return ca < cb ? -1 : 1;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

interface Claim {
  owner: string;
  priority: number;
  value: string;
}

function claimsOf(spec: SamplingPolicySpec): [string, unknown][] {
  const out: [string, unknown][] = [];
  if (spec.default) out.push(['spec.default', spec.default]);
  for (const s of spec.services ?? []) out.push([`spec.services[name=${s.name}]`, s]);
  if (spec.downsampling) out.push(['spec.downsampling', spec.downsampling]);
  if (spec.adaptive?.enabled) out.push(['spec.adaptive', spec.adaptive]);
  return out;
}

/**
 * Compiles the policies that target one TraceStore. Returns what to enforce and a verdict per policy name.
 * Policies being deleted are ignored.
 */
export function compilePolicies(policies: SamplingPolicy[]): { compiled: CompiledSampling; verdicts: Map<string, Verdict> } {
  const verdicts = new Map<string, Verdict>();
  const claims = new Map<string, Claim>();
  const accepted: SamplingPolicy[] = [];
  const ordered = policies.filter((p) => !p.metadata.deletionTimestamp).sort(byAuthority);

  for (const p of ordered) {
    const name = p.metadata.name;
    const errors = validatePolicy(p.spec);
    if (errors.length) {
      verdicts.set(name, { accepted: false, reason: 'InvalidSpec', message: errors.map((e) => `${e.field}: ${e.message}`).join('; ') });
      continue;
    }
    const spec = p.spec!;
    const priority = spec.priority ?? 0;
    const mine = claimsOf(spec).map(([k, v]) => [k, canonical(v)] as const);
    const conflicts: string[] = [];
    const shadowed: string[] = [];
    for (const [k, v] of mine) {
      const c = claims.get(k);
      if (!c) continue;
      if (c.priority > priority) shadowed.push(`${k} (by "${c.owner}", priority ${c.priority})`);
      else if (c.value !== v) conflicts.push(`${k} contradicts SamplingPolicy "${c.owner}" of the same priority ${priority}`);
    }
    if (conflicts.length) {
      verdicts.set(name, {
        accepted: false,
        reason: 'Conflict',
        message: `${conflicts.join('; ')}: the older policy wins; raise spec.priority on the one that should win or remove the entry`,
      });
      continue;
    }
    for (const [k, v] of mine) if (!claims.has(k)) claims.set(k, { owner: name, priority, value: v });
    accepted.push(p);
    verdicts.set(name, {
      accepted: true,
      reason: 'Accepted',
      message: shadowed.length ? `accepted; overridden by higher priority policies for ${shadowed.join(', ')}` : 'accepted',
    });
  }
  return { compiled: build(accepted, claims), verdicts };
}

function build(accepted: SamplingPolicy[], claims: Map<string, Claim>): CompiledSampling {
  const owns = (p: SamplingPolicy, key: string): boolean => claims.get(key)?.owner === p.metadata.name;
  const out: CompiledSampling = {
    enforced: accepted.map((p) => ({ name: p.metadata.name, generation: p.metadata.generation ?? 0 })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    services: new Map(),
    blockedServices: new Set(),
    blockedOperations: new Map(),
    ingestNoop: true,
  };
  for (const p of accepted) {
    const s = p.spec!;
    if (s.default && owns(p, 'spec.default')) out.defaultStrategy = { ...s.default };
    for (const svc of s.services ?? []) {
      if (!owns(p, `spec.services[name=${svc.name}]`)) continue;
      out.services.set(svc.name, { strategy: svc.default ? { ...svc.default } : undefined, operations: new Map((svc.operations ?? []).map((o) => [o.name, o.probability])) });
    }
    for (const b of s.blocklist?.services ?? []) out.blockedServices.add(b);
    for (const b of s.blocklist?.operations ?? []) {
      let set = out.blockedOperations.get(b.service);
      if (!set) out.blockedOperations.set(b.service, (set = new Set()));
      set.add(b.name);
    }
    if (s.downsampling && owns(p, 'spec.downsampling')) {
      const d = s.downsampling;
      const overrides = new Map<string, { ratio?: number; operations: Map<string, number> }>();
      for (const o of d.overrides ?? []) {
        let e = overrides.get(o.service);
        if (!e) overrides.set(o.service, (e = { operations: new Map() }));
        if (o.operation === undefined) e.ratio = o.ratio;
        else e.operations.set(o.operation, o.ratio);
      }
      out.downsampling = {
        ratio: d.ratio,
        services: d.services?.length ? new Set(d.services) : undefined,
        overrides,
      };
    }
    if (s.adaptive?.enabled && s.adaptive.targetSamplesPerSecond !== undefined && owns(p, 'spec.adaptive')) {
      out.adaptive = {
        targetSamplesPerSecond: s.adaptive.targetSamplesPerSecond,
        include: s.adaptive.include?.length ? new Set(s.adaptive.include) : undefined,
        exclude: new Set(s.adaptive.exclude ?? []),
      };
    }
  }
  out.ingestNoop = !out.blockedServices.size && !out.blockedOperations.size && !out.downsampling;
  return out;
}

/** The enforced set as a compact string, e.g. "a=3,b=1" (reported by runtimes, read by the operator). */
export const enforcedToString = (c: CompiledSampling): string => c.enforced.map((e) => `${e.name}=${e.generation}`).join(',');

export function parseEnforced(s: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of (s ?? '').split(',')) {
    const i = part.lastIndexOf('=');
    if (i > 0) out.set(part.slice(0, i), Number(part.slice(i + 1)));
  }
  return out;
}
