// Policy compilation (precedence, conflicts, validation), ingest rules, served strategies and adaptive steps.
import type { SamplingPolicy, SamplingPolicySpec } from '../../src/api/samplingpolicy.js';
import { calculate, nextProbability } from '../../src/sampling/adaptive.js';
import { RATIO_ATTRIBUTE, applyIngestRules, keepTrace, strategyFor } from '../../src/sampling/evaluate.js';
import { compilePolicies, enforcedToString, parseEnforced } from '../../src/sampling/policy.js';
import { policyStatus, podReport } from '../../src/reconcilers/samplingpolicy/status.js';
import { newSpan, serviceBatch, type ResourceSpans } from '../../src/storage/api/index.js';
import { randomBytes } from 'node:crypto';

const policy = (name: string, spec: Omit<SamplingPolicySpec, 'targetRef'>, created = '2026-01-01T00:00:00Z', generation = 1): SamplingPolicy => ({
  apiVersion: 'storage.jaegertracing.io/v1alpha1',
  kind: 'SamplingPolicy',
  metadata: { name, namespace: 'ns', creationTimestamp: created, generation },
  spec: { targetRef: { name: 'store' }, ...spec },
});
const fallback = { type: 'probabilistic' as const, value: 0.001 };

describe('compilePolicies', () => {
  it('lets the higher priority own a field and the older policy win a same-priority contradiction', () => {
    const a = policy('a', { default: { type: 'probabilistic', value: 0.5 }, services: [{ name: 'cart', default: { type: 'probabilistic', value: 0.2 } }] });
    const b = policy('b', { priority: 10, services: [{ name: 'cart', default: { type: 'probabilistic', value: 0.9 } }] }, '2026-02-01T00:00:00Z');
    const c = policy('c', { default: { type: 'probabilistic', value: 0.7 } }, '2026-03-01T00:00:00Z');
    const { compiled, verdicts } = compilePolicies([c, b, a]);
    expect(compiled.services.get('cart')?.strategy?.value).toBe(0.9);
    expect(compiled.defaultStrategy?.value).toBe(0.5);
    expect(verdicts.get('a')).toMatchObject({ accepted: true, message: expect.stringContaining('spec.services[name=cart] (by "b", priority 10)') });
    expect(verdicts.get('c')).toMatchObject({ accepted: false, reason: 'Conflict', message: expect.stringContaining('spec.default contradicts SamplingPolicy "a"') });
    expect(compiled.enforced).toEqual([
      { name: 'a', generation: 1 },
      { name: 'b', generation: 1 },
    ]);
  });

  it('does not call equal settings a conflict, and unions blocklists', () => {
    const a = policy('a', { default: { type: 'probabilistic', value: 0.5 }, blocklist: { services: ['x'] } });
    const b = policy('b', { default: { type: 'probabilistic', value: 0.5 }, blocklist: { services: ['y'], operations: [{ service: 'z', name: '/health' }] } }, '2026-02-01T00:00:00Z');
    const { compiled, verdicts } = compilePolicies([a, b]);
    expect([...verdicts.values()].every((v) => v.accepted)).toBe(true);
    expect([...compiled.blockedServices].sort()).toEqual(['x', 'y']);
    expect(compiled.blockedOperations.get('z')).toEqual(new Set(['/health']));
    expect(compiled.ingestNoop).toBe(false);
  });

  it('rejects invalid policies with the field named, and ignores them', () => {
    const bad = policy('bad', { services: [{ name: '', default: { type: 'probabilistic', value: 1.5 } }] });
    const dup = policy('dup', { downsampling: { ratio: 0.5, overrides: [{ service: 's', ratio: 0.1 }, { service: 's', ratio: 0.2 }] } });
    const both = policy('both', { adaptive: { enabled: true, targetSamplesPerSecond: 1, include: ['a'], exclude: ['a'] } });
    const { compiled, verdicts } = compilePolicies([bad, dup, both]);
    expect(verdicts.get('bad')).toMatchObject({ accepted: false, reason: 'InvalidSpec' });
    expect(verdicts.get('bad')!.message).toMatch(/spec\.services\[0\]\.name/);
    expect(verdicts.get('bad')!.message).toMatch(/spec\.services\[0\]\.default\.value/);
    expect(verdicts.get('dup')!.message).toMatch(/spec\.downsampling\.overrides\[1\]/);
    expect(verdicts.get('both')!.message).toMatch(/spec\.adaptive\.include\[0\]/);
    expect(compiled.enforced).toEqual([]);
    expect(compiled.ingestNoop).toBe(true);
  });

  it('round-trips the enforced report', () => {
    const { compiled } = compilePolicies([policy('p1', {}, undefined, 3), policy('p2', {}, undefined, 7)]);
    expect(enforcedToString(compiled)).toBe('p1=3,p2=7');
    expect(parseEnforced('p1=3,p2=7')).toEqual(new Map([['p1', 3], ['p2', 7]]));
  });
});

describe('strategyFor', () => {
  it('applies per-operation > adaptive > service > policy default > fallback, and serves 0 for blocked', () => {
    const { compiled } = compilePolicies([
      policy('p', {
        default: { type: 'probabilistic', value: 0.3 },
        services: [{ name: 'cart', default: { type: 'probabilistic', value: 0.6 }, operations: [{ name: 'checkout', probability: 1 }] }, { name: 'rl', default: { type: 'rateLimiting', value: 5 } }],
        blocklist: { services: ['noisy'], operations: [{ service: 'cart', name: '/health' }] },
        adaptive: { enabled: true, targetSamplesPerSecond: 1 },
      }),
    ]);
    const adaptive = { cart: { checkout: 0.01, list: 0.05 } };
    const cart = strategyFor(compiled, 'cart', { fallback, adaptive });
    expect(cart.probabilisticSampling?.samplingRate).toBe(0.6);
    expect(cart.operationSampling?.defaultSamplingProbability).toBe(0.6);
    expect(cart.operationSampling?.perOperationStrategies).toEqual([
      { operation: '/health', probabilisticSampling: { samplingRate: 0 } },
      { operation: 'checkout', probabilisticSampling: { samplingRate: 1 } },
      { operation: 'list', probabilisticSampling: { samplingRate: 0.05 } },
    ]);
    expect(strategyFor(compiled, 'other', { fallback })).toEqual({ strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0.3 } });
    expect(strategyFor(compiled, 'noisy', { fallback })).toEqual({ strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0 } });
    expect(strategyFor(compiled, 'rl', { fallback })).toEqual({ strategyType: 'RATE_LIMITING', rateLimitingSampling: { maxTracesPerSecond: 5 } });
    expect(strategyFor(compilePolicies([]).compiled, 'x', { fallback })).toEqual({ strategyType: 'PROBABILISTIC', probabilisticSampling: { samplingRate: 0.001 } });
  });
});

function batch(service: string, traces: number, spansPerTrace: number, op = 'op'): ResourceSpans {
  const spans = [];
  for (let t = 0; t < traces; t++) {
    const traceId = randomBytes(16).toString('hex');
    for (let s = 0; s < spansPerTrace; s++) spans.push(newSpan({ traceId, spanId: randomBytes(8).toString('hex'), name: op, startTimeUnixNano: 1n, endTimeUnixNano: 2n }));
  }
  return serviceBatch(service, spans);
}

describe('applyIngestRules', () => {
  it('drops blocked services and operations and keeps whole traces at the configured ratio', () => {
    const { compiled } = compilePolicies([
      policy('p', { blocklist: { services: ['noisy'], operations: [{ service: 'api', name: '/health' }] }, downsampling: { ratio: 0.25, overrides: [{ service: 'vip', ratio: 1 }] } }),
    ]);
    const input = [batch('noisy', 10, 2), batch('api', 10, 1, '/health'), batch('api', 4000, 3), batch('vip', 100, 2)];
    const r = applyIngestRules(compiled, input);
    expect(r.blocked).toBe(30);
    const api = r.traces.find((rs) => rs.resource.attributes.some((a) => a.value === 'api'))!;
    const kept = api.scopeSpans.flatMap((s) => s.spans);
    const byTrace = new Map<string, number>();
    for (const s of kept) byTrace.set(s.traceId, (byTrace.get(s.traceId) ?? 0) + 1);
    expect([...byTrace.values()].every((n) => n === 3)).toBe(true); // whole traces
    const fraction = byTrace.size / 4000;
    expect(fraction).toBeGreaterThan(0.25 - 4 * Math.sqrt((0.25 * 0.75) / 4000));
    expect(fraction).toBeLessThan(0.25 + 4 * Math.sqrt((0.25 * 0.75) / 4000));
    expect(kept.every((s) => s.attributes.some((a) => a.key === RATIO_ATTRIBUTE && a.value === 0.25))).toBe(true);
    const vip = r.traces.find((rs) => rs.resource.attributes.some((a) => a.value === 'vip'))!;
    expect(vip.scopeSpans[0]!.spans).toHaveLength(200);
    expect(vip.scopeSpans[0]!.spans[0]!.attributes.some((a) => a.key === RATIO_ATTRIBUTE)).toBe(false);
    expect(r.kept + r.blocked + r.downsampled).toBe(20 + 10 + 12000 + 200);
  });

  it('decides by trace ID alone, and monotonically in the ratio', () => {
    const ids = Array.from({ length: 2000 }, () => randomBytes(16).toString('hex'));
    for (const id of ids) {
      expect(keepTrace(id, 0.3)).toBe(keepTrace(id, 0.3));
      if (keepTrace(id, 0.1)) expect(keepTrace(id, 0.3)).toBe(true);
    }
  });

  it('leaves the batch untouched without ingest rules', () => {
    const input = [batch('api', 5, 2)];
    const r = applyIngestRules(compilePolicies([policy('p', { default: { type: 'probabilistic', value: 0.1 } })]).compiled, input);
    expect(r.traces).toBe(input);
    expect(r.kept).toBe(10);
  });
});

describe('adaptive sampling steps', () => {
  const o = { minProbability: 1e-5, deltaTolerance: 0.3, initialProbability: 0.001 };
  it('moves toward the target, at most doubling, clamped', () => {
    expect(nextProbability(0.1, 1.1, 1, o)).toBe(0.1); // within tolerance
    expect(nextProbability(0.1, 0, 1, o)).toBe(0.2);
    expect(nextProbability(0.1, 10, 1, o)).toBeCloseTo(0.01);
    expect(nextProbability(0.1, 0.01, 1, o)).toBe(0.2); // capped at 2x
    expect(nextProbability(0.8, 0.01, 1, o)).toBe(1);
    expect(nextProbability(1e-5, 1000, 1, o)).toBe(1e-5);
  });
  it('computes per operation from a window of throughput', () => {
    const r = calculate(
      [
        { service: 's', operation: 'hot', count: 600, probabilities: [0.5] },
        { service: 's', operation: 'hot', count: 400, probabilities: [0.5] },
        { service: 's', operation: 'cold', count: 1, probabilities: [0.001] },
      ],
      10,
      { s: { hot: 0.5, cold: 0.001, gone: 0.2 } },
      1,
      o,
    );
    expect(r.qps.s).toEqual({ hot: 100, cold: 0.1, gone: 0 });
    expect(r.probabilities.s!.hot).toBeCloseTo(0.005);
    expect(r.probabilities.s!.cold).toBeCloseTo(0.002);
    expect(r.probabilities.s!.gone).toBeCloseTo(0.4);
  });
});

describe('SamplingPolicy status', () => {
  const now = new Date('2026-05-01T00:00:00Z');
  it('counts runtime pods per enforced generation', () => {
    const p = policy('p', {}, undefined, 4);
    const s = policyStatus(p, { accepted: true, reason: 'Accepted', message: 'accepted' }, true, [podReport('a', 'p=4'), podReport('b', 'p=3,q=1')], now);
    expect(s.runtimes).toEqual([
      { generation: 4, replicas: 1 },
      { generation: 3, replicas: 1 },
    ]);
    expect(s.conditions?.find((c) => c.type === 'Propagated')).toMatchObject({ status: 'False', reason: 'Pending', message: '1 of 2 runtime pods enforce generation 4' });
    const done = policyStatus(p, { accepted: true, reason: 'Accepted', message: 'accepted' }, true, [podReport('a', 'p=4'), podReport('b', 'p=4')], now);
    expect(done.conditions?.find((c) => c.type === 'Propagated')).toMatchObject({ status: 'True', reason: 'Enforced' });
    expect(done.observedGeneration).toBe(4);
  });
  it('reports a missing target and rejected policies', () => {
    const p = policy('p', {});
    expect(policyStatus(p, { accepted: true, reason: 'Accepted', message: '' }, false, [], now).conditions?.[0]).toMatchObject({ status: 'False', reason: 'TargetNotFound', message: expect.stringContaining('spec.targetRef.name') });
    const rejected = policyStatus(p, { accepted: false, reason: 'Conflict', message: 'spec.default contradicts' }, true, [podReport('a', '')], now);
    expect(rejected.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Accepted', 'False', 'Conflict'],
      ['Propagated', 'False', 'NotAccepted'],
    ]);
  });
});

describe('static policies in the runtime configuration', () => {
  it('compiles them, and fails the start naming the policy when one is rejected', async () => {
    const { compileStatic } = await import('../../src/runtime/sampling/runtime.js');
    const c = compileStatic([{ name: 'base', rules: { blocklist: { services: ['noisy'] } } }]);
    expect(c.blockedServices.has('noisy')).toBe(true);
    expect(() =>
      compileStatic([
        { name: 'a', rules: { default: { type: 'probabilistic', value: 0.1 } } },
        { name: 'b', rules: { default: { type: 'probabilistic', value: 0.2 } } },
      ]),
    ).toThrow(/config\.sampling\.policies\[1\]: Conflict: rules\.default contradicts SamplingPolicy "a"/);
  });
});

describe('config/samples', () => {
  it('the SamplingPolicy samples are valid and work together without conflicts', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { parse } = await import('yaml');
    const { ROOT } = await import('../root.js');
    const dir = join(ROOT, 'config/samples');
    const samples = readdirSync(dir)
      .filter((f) => f.startsWith('samplingpolicy-'))
      .map((f) => parse(readFileSync(join(dir, f), 'utf8')) as SamplingPolicy);
    expect(samples.length).toBeGreaterThanOrEqual(4);
    const { compiled, verdicts } = compilePolicies(samples);
    expect([...verdicts.entries()].filter(([, v]) => !v.accepted)).toEqual([]);
    expect(compiled.adaptive?.targetSamplesPerSecond).toBe(5);
    expect(compiled.downsampling?.ratio).toBe(0.2);
    expect(strategyFor(compiled, 'load-generator', { fallback }).probabilisticSampling?.samplingRate).toBe(0);
  });
});
