// What every builder reads: the TraceStore with its defaults, the operator's settings, the rendered runtime config
// and its hash, what the backend needs in the pod, and the names, labels and owner shared by all children.
import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import type { OperatorBackendPlugin, OperatorPluginTable } from '../../../api/backend-plugin.js';
import { API_VERSION } from '../../../api/common.js';
import { LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, LABEL_PART_OF, MANAGED_BY, RUNTIME_APP } from '../../../api/contract.js';
import { withDefaults } from '../../../api/crds.js';
import type { RuntimeConfig } from '../../../api/runtime-config.js';
import type { BackendType, TraceStore, TraceStoreSpec } from '../../../api/tracestore.js';
import { type BackendPod, type SecretUse, backendPod } from '../backend-pod.js';
import { canonicalYaml, hashOf, pluginFor, renderRuntimeConfig } from './config.js';

export interface OperatorSettings {
  runtimeImage: string;
  /** the backend plug-ins (src/storage/plugins.ts), handed in by the composition root */
  plugins: OperatorPluginTable;
  /** how long a data volume's claim may stay Pending before Ready says VolumePending (default 60s) */
  volumePendingGraceMs?: number;
}

export interface BuildContext {
  readonly ts: TraceStore;
  /** the spec with its defaults applied, as the API server stores it */
  readonly spec: TraceStoreSpec;
  readonly backend: BackendType;
  /** the plug-in serving the backend */
  readonly plugin: OperatorBackendPlugin;
  readonly settings: OperatorSettings;
  readonly config: RuntimeConfig;
  /** the config as the ConfigMap carries it (canonical YAML) */
  readonly configYaml: string;
  readonly configHash: string;
  readonly namespace: string;
  /** the name of the runtime's Deployment, Service, ServiceAccount, Role, RoleBinding and NetworkPolicy */
  readonly name: string;
  readonly owner: V1OwnerReference[];
  /** what the backend needs in the pod (credentials and CA by reference only) */
  readonly backendPod: BackendPod;
  /** the versions of the referenced backend Secrets: carried by the pod template so pods restart on a change */
  readonly secretsVersion?: string;
  /** likewise for the Secrets of the query front (spec.query) */
  readonly querySecretsVersion?: string;
}

export interface BuildOptions {
  secretsVersion?: string;
  querySecretsVersion?: string;
  /** the Secret references (by field) the pods get; a refused Secret is not referenced by the pod at all */
  use?: SecretUse;
}

export const runtimeName = (ts: TraceStore): string => `${ts.metadata.name}-runtime`;
export const configMapName = (ts: TraceStore, hash: string): string => `${runtimeName(ts)}-${hash}`;

export function selectorLabels(ts: TraceStore): Record<string, string> {
  return { [LABEL_NAME]: RUNTIME_APP, [LABEL_INSTANCE]: ts.metadata.name };
}

export function commonLabels(ts: TraceStore, component: string): Record<string, string> {
  return { ...selectorLabels(ts), [LABEL_COMPONENT]: component, [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_PART_OF]: 'jaeger' };
}

export function ownerRef(ts: TraceStore): V1OwnerReference {
  return { apiVersion: API_VERSION, kind: 'TraceStore', name: ts.metadata.name, uid: ts.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** Metadata of a child named after the runtime, with the labels of `component`. */
export function runtimeMeta(ctx: BuildContext, component = 'runtime'): V1ObjectMeta {
  return { name: ctx.name, namespace: ctx.namespace, labels: commonLabels(ctx.ts, component), ownerReferences: ctx.owner };
}

export function buildContext(ts: TraceStore, settings: OperatorSettings, o: BuildOptions = {}): BuildContext {
  const spec = withDefaults('TraceStore', ts.spec);
  const plugin = pluginFor(spec, settings.plugins);
  const config = renderRuntimeConfig(ts, settings.plugins);
  const configYaml = canonicalYaml(config);
  return {
    ts,
    spec,
    backend: plugin.type,
    plugin,
    settings,
    config,
    configYaml,
    configHash: hashOf(configYaml),
    namespace: ts.metadata.namespace ?? 'default',
    name: runtimeName(ts),
    owner: [ownerRef(ts)],
    backendPod: backendPod(spec, plugin, o.use ?? new Set()),
    ...(o.secretsVersion ? { secretsVersion: o.secretsVersion } : {}),
    ...(o.querySecretsVersion ? { querySecretsVersion: o.querySecretsVersion } : {}),
  };
}
