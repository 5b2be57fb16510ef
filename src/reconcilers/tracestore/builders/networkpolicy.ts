// spec.runtime.networkPolicy: the policy admitting each listener group from its peers (none when not enabled).
import type { V1LabelSelector, V1ObjectMeta } from '@kubernetes/client-node';
import { GROUP_PORTS, QUERY_PORTS } from '../../../api/contract.js';
import { DEFAULT_PORTS } from '../../../api/runtime-config.js';
import { LISTENER_GROUPS, type TraceStore } from '../../../api/tracestore.js';
import { type BuildContext, runtimeMeta, selectorLabels } from './context.js';
import { queryLabels, queryName, querySelector } from './query.js';

/** A NetworkPolicy in its JSON form (the client-node model names the `from` field `_from`). */
export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1';
  kind: 'NetworkPolicy';
  metadata: V1ObjectMeta;
  spec: {
    podSelector: V1LabelSelector;
    policyTypes: string[];
    ingress: { ports: { protocol: string; port: number }[]; from?: NetworkPolicyPeer[] }[];
  };
}
export type NetworkPolicyPeer = NonNullable<NonNullable<NonNullable<TraceStore['spec']['runtime']>['networkPolicy']>['ingest']>['from'][number];

export function networkPolicy(ctx: BuildContext): NetworkPolicy | undefined {
  const np = ctx.spec.runtime?.networkPolicy;
  if (!np?.enabled) return undefined;
  const port = (k: keyof typeof DEFAULT_PORTS) => ({ protocol: 'TCP', port: DEFAULT_PORTS[k] });
  // the query front of spec.query reads through remote storage, whoever else may
  const front: NetworkPolicyPeer[] = ctx.spec.query?.enabled ? [{ podSelector: { matchLabels: querySelector(ctx.ts) } }] : [];
  const rules: NetworkPolicy['spec']['ingress'] = LISTENER_GROUPS.map((g) => ({
    ports: GROUP_PORTS[g].map(port),
    // a group without peers: pods of this namespace only (an empty podSelector here selects this namespace's pods)
    from: np[g]?.from ? [...np[g].from, ...(g === 'remoteStorage' ? front : [])] : [{ podSelector: {} }],
  }));
  // probes and Prometheus reach the admin port from anywhere (kubelet traffic comes from the node)
  rules.push({ ports: [port('admin')] });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: runtimeMeta(ctx),
    spec: { podSelector: { matchLabels: selectorLabels(ctx.ts) }, policyTypes: ['Ingress'], ingress: rules },
  };
}

/**
 * With spec.runtime.networkPolicy enabled, the query front (spec.query) is fenced like the runtime's query group: its
 * UI and APIs (16686, 16685) admit the peers of networkPolicy.query (this namespace's pods when none), its health
 * port (13133) anyone. The front has no authentication of its own: this is what keeps it as closed as the runtime.
 */
export function queryNetworkPolicy(ctx: BuildContext): NetworkPolicy | undefined {
  const np = ctx.spec.runtime?.networkPolicy;
  if (!np?.enabled || ctx.spec.query?.enabled !== true) return undefined;
  const port = (p: number) => ({ protocol: 'TCP', port: p });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: queryName(ctx.ts), namespace: ctx.namespace, labels: queryLabels(ctx.ts), ownerReferences: ctx.owner },
    spec: {
      podSelector: { matchLabels: querySelector(ctx.ts) },
      policyTypes: ['Ingress'],
      ingress: [{ ports: [port(QUERY_PORTS.http), port(QUERY_PORTS.grpc)], from: np.query?.from ?? [{ podSelector: {} }] }, { ports: [port(QUERY_PORTS.health)] }],
    },
  };
}
