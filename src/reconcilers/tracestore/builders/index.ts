// The children of a TraceStore: one builder per kind, each a pure function of the build context, and build()
// returning the desired objects in apply order, each tagged with its resource. The controller applies them in one
// loop and prunes owned objects of these kinds that are no longer desired.
import type { V1ConfigMap, V1Deployment, V1Ingress, V1Lease, V1Role, V1RoleBinding, V1Service, V1ServiceAccount, V1StatefulSet } from '@kubernetes/client-node';
import type { ObjectMeta } from '../../../api/common.js';
import { CONFIGMAPS, DEPLOYMENTS, INGRESSES, LEASES, NETWORKPOLICIES, type ResourceRef, ROLEBINDINGS, ROLES, SERVICEACCOUNTS, SERVICES, STATEFULSETS } from '../../../api/resources.js';
import { configMap } from './configmap.js';
import type { BuildContext } from './context.js';
import { reportLease } from './lease.js';
import { type NetworkPolicy, networkPolicy, queryNetworkPolicy } from './networkpolicy.js';
import { queryConfigMap, queryDeployment, queryIngress, queryService } from './query.js';
import { role } from './role.js';
import { roleBinding } from './rolebinding.js';
import { service } from './service.js';
import { serviceAccount } from './serviceaccount.js';
import { statefulSet, workload } from './workload.js';

/** Each kind of child with its object type. */
export interface ChildObjects {
  ConfigMap: V1ConfigMap;
  ServiceAccount: V1ServiceAccount;
  Role: V1Role;
  RoleBinding: V1RoleBinding;
  Lease: V1Lease;
  Deployment: V1Deployment;
  StatefulSet: V1StatefulSet;
  Service: V1Service;
  NetworkPolicy: NetworkPolicy;
  Ingress: V1Ingress;
}
export type ChildKind = keyof ChildObjects;

export interface ChildBuilder<K extends ChildKind = ChildKind> {
  readonly kind: K;
  readonly ref: ResourceRef;
  /** undefined: no object of this kind is wanted (an owned one is pruned) */
  readonly build: (ctx: BuildContext) => ChildObjects[K] | undefined;
  /** named by content, so never updated: applied only when absent */
  readonly immutable?: boolean;
  /** superseded objects may still be in use by pods of the previous rollout: pruned only once it is over */
  readonly pruneAfterRollout?: boolean;
}

function builder<K extends ChildKind>(kind: K, ref: ResourceRef, build: ChildBuilder<K>['build'], o: Pick<ChildBuilder, 'immutable' | 'pruneAfterRollout'> = {}): ChildBuilder<K> {
  if (ref.kind !== kind) throw new Error(`builder of ${kind} tagged with the resource of ${ref.kind}`);
  return { kind, ref, build, ...o };
}

/**
 * Apply order: the config and the runtime's identity and permissions exist before the pods that use them; the query
 * front (spec.query) after the runtime it reads from. A kind may have several builders (the runtime's and the query
 * front's Deployment): each object has its own name.
 */
export const CHILD_BUILDERS: readonly ChildBuilder[] = [
  builder('ConfigMap', CONFIGMAPS, configMap, { immutable: true, pruneAfterRollout: true }),
  builder('ServiceAccount', SERVICEACCOUNTS, serviceAccount),
  builder('Role', ROLES, role),
  builder('RoleBinding', ROLEBINDINGS, roleBinding),
  builder('Lease', LEASES, reportLease),
  // one of the two, by whether the backend keeps data on a volume of the pod
  builder('Deployment', DEPLOYMENTS, workload),
  builder('StatefulSet', STATEFULSETS, statefulSet),
  builder('Service', SERVICES, service),
  builder('NetworkPolicy', NETWORKPOLICIES, networkPolicy),
  builder('ConfigMap', CONFIGMAPS, queryConfigMap),
  builder('Deployment', DEPLOYMENTS, queryDeployment),
  builder('Service', SERVICES, queryService),
  builder('Ingress', INGRESSES, queryIngress),
  builder('NetworkPolicy', NETWORKPOLICIES, queryNetworkPolicy),
];

/** Each kind of child once, with its resource; pruned after the rollout when any of its builders says so. */
export const CHILD_KINDS: readonly Pick<ChildBuilder, 'kind' | 'ref' | 'pruneAfterRollout'>[] = [...new Set(CHILD_BUILDERS.map((b) => b.kind))].map((kind) => {
  const of = CHILD_BUILDERS.filter((b) => b.kind === kind);
  return { kind, ref: of[0]!.ref, pruneAfterRollout: of.some((b) => b.pruneAfterRollout) };
});

/** An object as the controller applies it: kind, resource, metadata with name and namespace. */
export interface ChildObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta & { namespace: string };
}

export interface DesiredChild {
  readonly kind: ChildKind;
  readonly ref: ResourceRef;
  readonly object: ChildObject;
  readonly immutable: boolean;
}

/** The desired children of a TraceStore, in apply order. */
export function build(ctx: BuildContext): DesiredChild[] {
  const out: DesiredChild[] = [];
  for (const b of CHILD_BUILDERS) {
    const o = b.build(ctx);
    if (!o) continue;
    if (!o.metadata?.name || !o.metadata.namespace || !o.apiVersion || o.kind !== b.kind) throw new Error(`the ${b.kind} builder returned an object without kind, name or namespace`);
    out.push({ kind: b.kind, ref: b.ref, object: o as ChildObject, immutable: !!b.immutable });
  }
  return out;
}
