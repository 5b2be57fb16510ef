// The one table of backend plug-ins. The composition roots hand it to the operator (as its OperatorPluginTable)
// and the runtime opens its backend through it; adding a backend is its folder and one line here. Loading the
// table loads no database client: each plug-in imports its store when a backend of its type opens.
import { type NotInThisVersion, isAvailable } from '../api/backend-plugin.js';
import { ConfigError, type RuntimeConfig } from '../api/runtime-config.js';
import { applyDefaults, type FieldError } from '../api/schema.js';
import { BACKEND_TYPES, type BackendType } from '../api/tracestore.js';
import type { BackendFactory } from './api/index.js';
import type { BackendPlugin, OpenContext, PluginTable } from './api/plugin.js';
import { cassandraPlugin } from './cassandra/plugin.js';
import { clickhousePlugin } from './clickhouse/plugin.js';
import { elasticsearchPlugin, opensearchPlugin } from './elasticsearch/plugin.js';
import { EMBEDDED_DATA_DIR, embeddedPlugin } from './embedded/plugin.js';
import { grpcPlugin } from './grpc/plugin.js';
import { memoryPlugin } from './memory/plugin.js';

export const PLUGINS: PluginTable = {
  memory: memoryPlugin,
  embedded: embeddedPlugin,
  elasticsearch: elasticsearchPlugin,
  opensearch: opensearchPlugin,
  cassandra: cassandraPlugin,
  clickhouse: clickhousePlugin,
  grpc: grpcPlugin,
};

/** The plug-in of `type` if this version serves it. */
export function availablePlugin(type: BackendType, plugins: PluginTable = PLUGINS): BackendPlugin<BackendType, unknown> | undefined {
  const p: PluginTable[BackendType] | NotInThisVersion = plugins[type];
  return isAvailable(p) ? (p as BackendPlugin<BackendType, unknown>) : undefined;
}

/** Whether the backend keeps tenants apart (StorageContext.tenant), from its plug-in's traits. */
export const supportsTenancy = (type: BackendType, plugins: PluginTable = PLUGINS): boolean => availablePlugin(type, plugins)?.traits.tenancy ?? false;

/** The backend types that keep tenants apart. */
export const tenancyBackends = (plugins: PluginTable = PLUGINS): BackendType[] => BACKEND_TYPES.filter((t) => supportsTenancy(t, plugins));

export interface BackendSection {
  type: BackendType;
  plugin: BackendPlugin<BackendType, unknown>;
  /** the section, validated by the plug-in's configSchema, defaults filled */
  config: unknown;
}

/**
 * The runtime config's backend: its plug-in and its section, validated with the plug-in's configSchema. Throws
 * ConfigError naming the field (config.backend.memory.maxBytes, ...).
 */
export function backendSection(cfg: RuntimeConfig, plugins: PluginTable = PLUGINS, source = 'config'): BackendSection {
  const set = BACKEND_TYPES.filter((t) => cfg.backend[t] !== undefined && cfg.backend[t] !== null);
  const type = set[0];
  if (set.length !== 1 || type === undefined) throw new ConfigError(source, [{ field: 'config.backend', message: `exactly one backend must be set: one of ${BACKEND_TYPES.join(', ')}` }]);
  const p = plugins[type];
  if (!isAvailable(p)) {
    const available = BACKEND_TYPES.filter((t) => isAvailable(plugins[t]));
    throw new ConfigError(source, [{ field: `config.backend.${type}`, message: `the ${type} backend is not available in this version (${p.notInThisVersion}); available: ${available.join(', ')}` }]);
  }
  const plugin = p as BackendPlugin<BackendType, unknown>;
  const errors: FieldError[] = [];
  plugin.configSchema.validate(cfg.backend[type], `config.backend.${type}`, errors);
  if (errors.length) throw new ConfigError(source, errors);
  return { type, plugin, config: applyDefaults(plugin.configSchema.toOpenAPI(), cfg.backend[type]) };
}

/** Opens the backend the runtime config names (see backendSection for the validation). */
export async function openBackend(cfg: RuntimeConfig, env: NodeJS.ProcessEnv = process.env, plugins: PluginTable = PLUGINS): Promise<BackendFactory> {
  const { plugin, config } = backendSection(cfg, plugins);
  const ctx: OpenContext = { dataDir: cfg.dataDir ?? EMBEDDED_DATA_DIR, env, ...(cfg.retention ? { retention: cfg.retention } : {}) };
  return plugin.open(config, ctx);
}
