// The Lease on which the runtime pods report what they enforce (one annotation per pod).
import type { V1Lease } from '@kubernetes/client-node';
import { runtimeReportLeaseName } from '../../../api/contract.js';
import { type BuildContext, commonLabels } from './context.js';

export function reportLease(ctx: BuildContext): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: runtimeReportLeaseName(ctx.ts.metadata.name), namespace: ctx.namespace, labels: commonLabels(ctx.ts, 'runtime-report'), ownerReferences: ctx.owner },
  };
}
