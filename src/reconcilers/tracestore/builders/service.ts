// The runtime Service: every listener by name, gRPC ones marked as such for meshes and gateways.
import type { V1Service } from '@kubernetes/client-node';
import { PORT_NAMES } from '../../../api/contract.js';
import { DEFAULT_PORTS } from '../../../api/runtime-config.js';
import { type BuildContext, runtimeMeta, selectorLabels } from './context.js';

export function service(ctx: BuildContext): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: runtimeMeta(ctx),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(ctx.ts),
      ports: (Object.keys(DEFAULT_PORTS) as (keyof typeof DEFAULT_PORTS)[]).map((k) => ({
        name: PORT_NAMES[k],
        port: DEFAULT_PORTS[k],
        targetPort: PORT_NAMES[k],
        protocol: 'TCP',
        ...(k.endsWith('Grpc') || k === 'remoteStorage' ? { appProtocol: 'grpc' } : {}),
      })),
    },
  };
}
