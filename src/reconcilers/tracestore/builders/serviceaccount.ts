// The runtime's own identity: its token is mounted by the pod spec only (automount off on the account).
import type { V1ServiceAccount } from '@kubernetes/client-node';
import { type BuildContext, runtimeMeta } from './context.js';

export function serviceAccount(ctx: BuildContext): V1ServiceAccount {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: runtimeMeta(ctx), automountServiceAccountToken: false };
}
