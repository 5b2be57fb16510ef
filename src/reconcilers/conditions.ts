import type { Condition } from '../api/common.js';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * Merges `next` into `current` as metav1 conditions: lastTransitionTime moves only when the status flips, and
 * every condition carries the generation it was computed for. Order follows `next`, then untouched old ones.
 */
export function mergeConditions(current: Condition[] | undefined, next: ConditionInput[], generation: number, now: Date): Condition[] {
  const byType = new Map((current ?? []).map((c) => [c.type, c]));
  const out: Condition[] = next.map((n) => {
    const old = byType.get(n.type);
    byType.delete(n.type);
    return {
      type: n.type,
      status: n.status,
      reason: n.reason,
      message: n.message.slice(0, 32768),
      observedGeneration: generation,
      lastTransitionTime: old && old.status === n.status ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
  });
  return [...out, ...byType.values()];
}

export const findCondition = (list: Condition[] | undefined, type: string): Condition | undefined => list?.find((c) => c.type === type);

/**
 * Reasons of a False condition that say work is under way and settles by itself (a rollout, a first check, pods
 * starting, a deliberate scale to zero). Every other reason of a False condition needs a user's fix.
 */
export const PROGRESS_REASONS: ReadonlySet<string> = new Set(['DeploymentMissing', 'StatefulSetMissing', 'VolumeProvisioning', 'RolloutInProgress', 'PodsNotReady', 'ScaledToZero', 'Checking', 'Pending', 'NoRuntimes']);

export type EventSeverity = 'Normal' | 'Warning';

/**
 * The one severity rule for events: a False condition with a failure reason is a Warning (so
 * `kubectl get events --field-selector type=Warning` lists what needs fixing); progress and success are Normal.
 */
export const severityOf = (c: Pick<ConditionInput, 'status' | 'reason'>): EventSeverity => (c.status === 'False' && !PROGRESS_REASONS.has(c.reason) ? 'Warning' : 'Normal');

/**
 * The condition that sums up an object among `types` (in order): the first that is not True, else the last. A
 * TraceStore's is Ready; a SamplingPolicy's is Accepted while it is not accepted, then Propagated.
 */
export function summaryCondition<C extends ConditionInput>(list: readonly C[] | undefined, types: readonly string[]): C | undefined {
  const found = types.map((t) => list?.find((c) => c.type === t)).filter((c): c is C => c !== undefined);
  return found.find((c) => c.status !== 'True') ?? found.at(-1);
}

export interface ConditionEvent {
  type: EventSeverity;
  reason: string;
  message: string;
}

/** The event for a change of the summary condition (status or reason), or none when it did not change. */
export function conditionEvent(before: Pick<ConditionInput, 'status' | 'reason'> | undefined, after: ConditionInput | undefined): ConditionEvent | undefined {
  if (!after || (before?.status === after.status && before?.reason === after.reason)) return undefined;
  return { type: severityOf(after), reason: after.reason, message: after.message };
}
