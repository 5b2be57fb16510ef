// The one severity rule for events: a False condition with a failure reason is a Warning; progress and success are
// Normal. Pure.
import { PROGRESS_REASONS, conditionEvent, severityOf, summaryCondition, type ConditionInput } from '../../src/reconcilers/conditions.js';
import { policyStatus, podReport } from '../../src/reconcilers/samplingpolicy/status.js';
import { computeStatus } from '../../src/reconcilers/tracestore/status.js';
import type { SamplingPolicy } from '../../src/api/samplingpolicy.js';
import type { TraceStore } from '../../src/api/tracestore.js';

const c = (status: ConditionInput['status'], reason: string, type = 'Ready'): ConditionInput => ({ type, status, reason, message: `${reason} message` });

describe('severity of a condition', () => {
  it.each(['Unreachable', 'SecretNotFound', 'AuthenticationFailed', 'UnsupportedVersion', 'ProvisioningFailed', 'InsecureCredentials', 'SecretNotAllowed', 'Conflict', 'TargetNotFound', 'InvalidSpec', 'BackendNotSupported', 'BackendFull', 'ReplicaFailure', 'ProgressDeadlineExceeded', 'SomeNewFailure'])(
    'False with %s is a Warning',
    (reason) => expect(severityOf(c('False', reason))).toBe('Warning'),
  );
  it.each([...PROGRESS_REASONS])('False with %s (work under way) is Normal', (reason) => expect(severityOf(c('False', reason))).toBe('Normal'));
  it('True and Unknown are Normal whatever the reason', () => {
    expect(severityOf(c('True', 'Ready'))).toBe('Normal');
    expect(severityOf(c('Unknown', 'Unreachable'))).toBe('Normal');
  });
});

describe('events on transitions of the summary condition', () => {
  it('records a change of status or reason, once', () => {
    expect(conditionEvent(undefined, c('False', 'Unreachable'))).toEqual({ type: 'Warning', reason: 'Unreachable', message: 'Unreachable message' });
    expect(conditionEvent(c('False', 'Unreachable'), c('False', 'Unreachable'))).toBeUndefined();
    expect(conditionEvent(c('False', 'Unreachable'), c('False', 'AuthenticationFailed'))?.type).toBe('Warning');
    expect(conditionEvent(c('False', 'AuthenticationFailed'), c('True', 'Ready'))).toMatchObject({ type: 'Normal', reason: 'Ready' });
    expect(conditionEvent(c('True', 'Ready'), undefined)).toBeUndefined();
  });
  it('sums up by the first condition that is not True, else the last', () => {
    const list = [c('True', 'Accepted', 'Accepted'), c('False', 'Pending', 'Propagated')];
    expect(summaryCondition(list, ['Accepted', 'Propagated'])?.reason).toBe('Pending');
    expect(summaryCondition([c('False', 'Conflict', 'Accepted'), c('False', 'NotAccepted', 'Propagated')], ['Accepted', 'Propagated'])?.reason).toBe('Conflict');
    expect(summaryCondition([c('True', 'Accepted', 'Accepted'), c('True', 'Enforced', 'Propagated')], ['Accepted', 'Propagated'])?.reason).toBe('Enforced');
    expect(summaryCondition(undefined, ['Ready'])).toBeUndefined();
  });
});

const now = new Date('2026-01-01T00:00:00Z');

describe('SamplingPolicy failures are Warnings', () => {
  const policy: SamplingPolicy = { apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'SamplingPolicy', metadata: { name: 'p', namespace: 'ns', generation: 1 }, spec: { targetRef: { name: 'store' } } };
  const summary = (s: ReturnType<typeof policyStatus>) => conditionEvent(undefined, summaryCondition(s.conditions, ['Accepted', 'Propagated']));
  it('Conflict and TargetNotFound are Warnings; pending propagation and Enforced are Normal', () => {
    expect(summary(policyStatus(policy, { accepted: false, reason: 'Conflict', message: 'spec.default contradicts q' }, true, [], now))).toMatchObject({ type: 'Warning', reason: 'Conflict' });
    expect(summary(policyStatus(policy, undefined, false, [], now))).toMatchObject({ type: 'Warning', reason: 'TargetNotFound' });
    expect(summary(policyStatus(policy, undefined, true, [podReport('a', '')], now))).toMatchObject({ type: 'Normal', reason: 'Pending' });
    expect(summary(policyStatus(policy, undefined, true, [], now))).toMatchObject({ type: 'Normal', reason: 'NoRuntimes' });
    expect(summary(policyStatus(policy, undefined, true, [podReport('a', 'p=1')], now))).toMatchObject({ type: 'Normal', reason: 'Enforced' });
  });
  it('Propagated=False NotAccepted names the Accepted reason in its message (kubectl get sp -o wide)', () => {
    const s = policyStatus(policy, { accepted: false, reason: 'Conflict', message: 'spec.default contradicts q' }, true, [], now);
    expect(s.conditions?.find((x) => x.type === 'Propagated')?.message).toContain('Accepted is False (Conflict): spec.default contradicts q');
  });
});

describe('TraceStore failures are Warnings', () => {
  const ts: TraceStore = { apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'TraceStore', metadata: { name: 's', namespace: 'ns', generation: 1 }, spec: { backend: { opensearch: { endpoints: ['http://os:9200'] } } } };
  const ready = (external: { reachable: ConditionInput; schema: ConditionInput }) =>
    conditionEvent(undefined, computeStatus(ts, { backend: 'opensearch', external }, now).conditions?.find((x) => x.type === 'Ready'));
  it.each(['Unreachable', 'AuthenticationFailed', 'SecretNotFound', 'UnsupportedVersion'])('a backend %s makes Ready False and a Warning', (reason) => {
    expect(ready({ reachable: c('False', reason, 'BackendReachable'), schema: c('Unknown', 'Pending', 'SchemaReady') })).toMatchObject({ type: 'Warning', reason });
  });
  it('a first check under way is Normal', () => {
    expect(ready({ reachable: c('Unknown', 'Checking', 'BackendReachable'), schema: c('Unknown', 'Pending', 'SchemaReady') })).toMatchObject({ type: 'Normal', reason: 'Checking' });
  });
});
