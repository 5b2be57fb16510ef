// The runtime config, in a ConfigMap named by its content hash: immutable, so a changed spec makes a new one and
// the pod template's reference to it rolls the pods.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { ANNOTATION_CONFIG_HASH, CONFIG_FILE } from '../../../api/contract.js';
import { type BuildContext, commonLabels, configMapName } from './context.js';

export function configMap(ctx: BuildContext): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: configMapName(ctx.ts, ctx.configHash),
      namespace: ctx.namespace,
      labels: { ...commonLabels(ctx.ts, 'runtime-config'), [ANNOTATION_CONFIG_HASH]: ctx.configHash },
      ownerReferences: ctx.owner,
    },
    immutable: true,
    data: { [CONFIG_FILE]: ctx.configYaml },
  };
}
