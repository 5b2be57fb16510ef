import { arr, enumOf, int, obj, str, type Infer, type Node } from './schema.js';

export const GROUP = 'storage.jaegertracing.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const DURATION_PATTERN = '^([0-9]+(ms|s|m|h|d|w))+$';
export const DURATION_HINT = 'a duration such as 30s, 15m, 12h, 7d or 2w';

export const duration = (description: string, def?: string): Node<string> =>
  str({ description, pattern: DURATION_PATTERN, patternHint: DURATION_HINT, maxLength: 32, ...(def ? { default: def } : {}) });

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
      key: str({ description: 'key inside the Secret', minLength: 1, maxLength: 253, default: defaultKey }),
    },
    ['name'],
    { description },
  );

/** metav1.Condition, as in k8s.io/apimachinery. */
export const condition = obj(
  {
    type: str({ description: 'condition type, CamelCase', maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' }),
    status: enumOf(['True', 'False', 'Unknown'] as const),
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
