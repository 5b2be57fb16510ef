// Grants the runtime's Role to its ServiceAccount.
import type { V1RoleBinding } from '@kubernetes/client-node';
import { type BuildContext, runtimeMeta } from './context.js';

export function roleBinding(ctx: BuildContext): V1RoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: runtimeMeta(ctx),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: ctx.name },
    subjects: [{ kind: 'ServiceAccount', name: ctx.name, namespace: ctx.namespace }],
  };
}
