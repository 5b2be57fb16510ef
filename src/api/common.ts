import { arr, enumOf, int, obj, str, type Infer, type Node } from './schema.js';

export const GROUP = 'storage.jaegertracing.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const DURATION_PATTERN = '^([0-9]+(ms|s|m|h|d|w))+$';
export const DURATION_HINT = 'a duration such as 30s, 15m, 12h, 7d or 2w';

export const duration = (description: string, def?: string): Node<string> =>
  str({ description, pattern: DURATION_PATTERN, patternHint: DURATION_HINT, maxLength: 32, ...(def ? { default: def } : {}) });

const UNIT_SECONDS: Record<string, number> = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 };

/** Whole seconds of a duration such as 1d12h (ms parts count by whole seconds); undefined when not a duration. */
export function durationSeconds(v: string): number | undefined {
  if (!new RegExp(DURATION_PATTERN).test(v)) return undefined;
  let total = 0;
  for (const m of v.matchAll(/([0-9]+)(ms|s|m|h|d|w)/g)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? Math.trunc(n / 1000) : n * UNIT_SECONDS[m[2]!]!;
  }
  return total;
}

/**
 * A duration bounded to [min, max] (given as durations such as 1m and 36500d). The CEL rule sums the parts in
 * seconds (lists library `sum()`); numbers of more than 11 digits are refused first so the sum cannot overflow.
 */
/** A CEL expression for the whole seconds of the duration string `expr` (its numbers must be checked short first). */
export const durationSecondsCel = (expr: string): string =>
  `${expr}.findAll('[0-9]+(ms|s|m|h|d|w)').map(x, x.endsWith('ms') ? int(x.substring(0, x.size() - 2)) / 1000 : ` +
  "int(x.substring(0, x.size() - 1)) * (x.endsWith('w') ? 604800 : x.endsWith('d') ? 86400 : x.endsWith('h') ? 3600 : x.endsWith('m') ? 60 : 1)).sum()";

export function boundedDuration(description: string, min: string, max: string, maxHint: string): Node<string> {
  const lo = durationSeconds(min)!;
  const hi = durationSeconds(max)!;
  const seconds = durationSecondsCel('self');
  return str({
    description: `${description} (from ${min} to ${maxHint})`,
    pattern: DURATION_PATTERN,
    patternHint: DURATION_HINT,
    maxLength: 32,
    rules: [
      {
        rule: `self.findAll('[0-9]+').all(n, n.size() <= 11) && ${seconds} >= ${lo} && ${seconds} <= ${hi}`,
        message: `must be at least ${min} and at most ${maxHint}`,
        check: (v) => {
          if ([...v.matchAll(/[0-9]+/g)].some((n) => n[0].length > 11)) return false;
          const s = durationSeconds(v);
          return s !== undefined && s >= lo && s <= hi;
        },
      },
    ],
  });
}

/** A Secret key: what the API server allows as a key of Secret data. */
export const secretKey = (description: string, def: string): Node<string> =>
  str({ description, default: def, minLength: 1, maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$', patternHint: 'a Secret key: letters, digits, "-", "_" and "."' });

/** A DNS-1123 name of an object in the same namespace. */
export const objectName = (description: string): Node<string> =>
  str({
    description,
    minLength: 1,
    maxLength: 253,
    pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
    patternHint: 'a Kubernetes object name: lowercase letters, digits, "-" and "."',
  });

export const localObjectRef = (description: string) => obj({ name: objectName(`${description}: name of an object in the same namespace`) }, ['name'], { description });

export const secretKeyRef = (description: string, defaultKey: string) =>
  obj(
    {
      name: objectName('name of the Secret, in the namespace of this resource'),
      key: secretKey('key inside the Secret', defaultKey),
    },
    ['name'],
    { description },
  );

/** metav1.Condition, as in k8s.io/apimachinery. */
export const condition = obj(
  {
    type: str({ description: 'condition type, CamelCase', maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' }),
    status: enumOf(['True', 'False', 'Unknown'] as const, { description: 'True, False or Unknown' }),
    observedGeneration: int({ minimum: 0, description: 'the .metadata.generation this condition was set for' }),
    lastTransitionTime: str({ format: 'date-time', description: 'when the status last changed' }),
    reason: str({ minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$', description: 'CamelCase reason' }),
    message: str({ maxLength: 32768, description: 'human-readable details, naming the fix where there is one' }),
  },
  ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
);
export type Condition = Infer<typeof condition>;

export const conditions = arr(condition, { listType: 'map', listMapKeys: ['type'], maxItems: 16, description: 'standard conditions; Ready summarises them' });

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface Resource<Spec, Status> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}
