// The runtime configuration of a TraceStore, in canonical form so that equal configs always hash the same.
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { API_VERSION } from '../../../api/common.js';
import { withDefaults } from '../../../api/crds.js';
import { type OperatorBackendPlugin, type OperatorPluginTable, isAvailable } from '../../../api/backend-plugin.js';
import { DEFAULT_PORTS, type RuntimeConfig } from '../../../api/runtime-config.js';
import { type BackendType, type TraceStore, backendTypeOf } from '../../../api/tracestore.js';
import { backendSpecOf } from '../backend-pod.js';
import { renderSecurity } from './security.js';

/** The plug-in serving this spec's backend; throws for a type this version does not serve (reconcile checks first). */
export function pluginFor(spec: TraceStore['spec'], plugins: OperatorPluginTable): OperatorBackendPlugin {
  const type = backendTypeOf(spec?.backend);
  if (!type) throw new Error('a validated spec with exactly one backend is needed');
  const p = plugins[type] as OperatorPluginTable[BackendType];
  if (!isAvailable(p)) throw new Error(`the ${type} backend is not in this version: ${p.notInThisVersion}`);
  return p;
}

/** The runtime configuration rendered for a TraceStore (spec defaults applied, as the API server stores them). */
export function renderRuntimeConfig(ts: TraceStore, plugins: OperatorPluginTable): RuntimeConfig {
  const spec = withDefaults('TraceStore', ts.spec);
  const plugin = pluginFor(spec, plugins);
  const listen = Object.fromEntries(Object.entries(DEFAULT_PORTS).map(([k, p]) => [k, `0.0.0.0:${p}`])) as RuntimeConfig['listen'];
  const cfg: RuntimeConfig = {
    apiVersion: API_VERSION,
    kind: 'RuntimeConfig',
    traceStore: { namespace: ts.metadata.namespace ?? 'default', name: ts.metadata.name },
    backend: { [plugin.type]: plugin.runtimeSection(backendSpecOf(spec, plugin)) } as RuntimeConfig['backend'],
    listen,
    log: { level: spec.runtime?.logLevel ?? 'info' },
    sampling: { watchPolicies: true },
  };
  // the data volume's mount is where the runtime keeps its data, whatever its own default
  const dataVolume = plugin.podNeeds?.(backendSpecOf(spec, plugin)).dataVolume;
  if (dataVolume) cfg.dataDir = dataVolume.mountPath;
  if (spec.retention) cfg.retention = spec.retention;
  const security = renderSecurity(spec);
  if (security) cfg.security = security;
  // only when set: a TraceStore without it renders (and hashes) as before
  if (spec.tenancy) cfg.tenancy = spec.tenancy;
  return cfg;
}

/** Canonical YAML (sorted keys) so equal configs always hash the same. */
export function canonicalYaml(value: unknown): string {
  return stringify(value, { sortMapEntries: true, lineWidth: 0 });
}

export const hashOf = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 10);
