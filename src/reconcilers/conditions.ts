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
