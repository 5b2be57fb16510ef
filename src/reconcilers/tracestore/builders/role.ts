// The runtime follows its SamplingPolicies and reports what it enforces on its TraceStore's report Lease: it may
// read and patch that one Lease and nothing else it could use against other pods.
import type { V1Role } from '@kubernetes/client-node';
import { runtimeReportLeaseName } from '../../../api/contract.js';
import { type BuildContext, runtimeMeta } from './context.js';

export function role(ctx: BuildContext): V1Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: runtimeMeta(ctx),
    rules: [
      { apiGroups: ['storage.jaegertracing.io'], resources: ['samplingpolicies'], verbs: ['list', 'watch'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [runtimeReportLeaseName(ctx.ts.metadata.name)], verbs: ['get', 'patch'] },
    ],
  };
}
