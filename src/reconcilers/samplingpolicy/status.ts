// Status of the SamplingPolicies that target one TraceStore, from the compiled verdicts and the generations the
// runtime pods report. Pure.
import type { SamplingPolicy, SamplingPolicyStatus } from '../../api/samplingpolicy.js';
import { type Verdict, parseEnforced } from '../../sampling/policy.js';
import { type ConditionInput, mergeConditions } from '../conditions.js';

export interface RuntimePod {
  name: string;
  /** the runtime's report: policy name -> generation enforced */
  enforced: Map<string, number>;
}

export const podReport = (name: string, annotation: string | undefined): RuntimePod => ({ name, enforced: parseEnforced(annotation) });

export function policyStatus(p: SamplingPolicy, verdict: Verdict | undefined, targetExists: boolean, pods: RuntimePod[], now: Date): SamplingPolicyStatus {
  const generation = p.metadata.generation ?? 0;
  const target = p.spec?.targetRef?.name ?? '';
  let accepted: ConditionInput;
  if (verdict && !verdict.accepted) accepted = { type: 'Accepted', status: 'False', reason: verdict.reason, message: verdict.message };
  else if (!targetExists) {
    accepted = { type: 'Accepted', status: 'False', reason: 'TargetNotFound', message: `spec.targetRef.name: TraceStore "${target}" does not exist in namespace ${p.metadata.namespace}: create it or fix the name` };
  } else accepted = { type: 'Accepted', status: 'True', reason: 'Accepted', message: verdict?.message ?? 'accepted' };

  const counts = new Map<number, number>();
  for (const pod of pods) {
    const g = pod.enforced.get(p.metadata.name);
    if (g !== undefined) counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  const runtimes = [...counts.entries()].sort(([a], [b]) => b - a).map(([g, n]) => ({ generation: g, replicas: n }));
  const current = counts.get(generation) ?? 0;

  let propagated: ConditionInput;
  if (accepted.status !== 'True') propagated = { type: 'Propagated', status: 'False', reason: 'NotAccepted', message: `the policy is not enforced: Accepted is False (${accepted.reason}): ${accepted.message}` };
  else if (!pods.length) propagated = { type: 'Propagated', status: 'False', reason: 'NoRuntimes', message: `no runtime pod of TraceStore "${target}" is running` };
  else if (current < pods.length) {
    propagated = { type: 'Propagated', status: 'False', reason: 'Pending', message: `${current} of ${pods.length} runtime pods enforce generation ${generation}` };
  } else propagated = { type: 'Propagated', status: 'True', reason: 'Enforced', message: `all ${pods.length} runtime pods enforce generation ${generation}` };

  return {
    observedGeneration: generation,
    conditions: mergeConditions(p.status?.conditions, [accepted, propagated], generation, now),
    ...(runtimes.length ? { runtimes } : {}),
  };
}
