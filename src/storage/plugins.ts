// The one place backends register. The runtime builds its backend from the `backend` section of its config, and
// learns here whether the backend keeps tenants apart (StorageContext.tenant): only those may run with tenancy on.
import { type BackendType, TENANCY_BACKENDS } from '../api/tracestore.js';
import { RuntimeConfig } from '../api/runtime-config.js';
import { type BackendFactory, StorageError } from './api/index.js';
import { EmbeddedBackend } from './embedded/store.js';
import { SearchBackend } from './elasticsearch/store.js';
import { searchBackendConfig } from './elasticsearch/config.js';
import { MemoryBackend } from './memory/store.js';
import { MEMORY_DEFAULTS, defaultMaxBytes } from './memory/limits.js';

type Make = (cfg: RuntimeConfig) => BackendFactory;

/** Whether the backend keeps tenants apart (the list is TENANCY_BACKENDS, next to the schema that enforces it). */
export const supportsTenancy = (type: BackendType): boolean => TENANCY_BACKENDS.includes(type);

const REGISTRY: Partial<Record<BackendType, Make>> = {
  memory: (cfg) => {
    const m = cfg.backend.memory ?? {};
    const maxBytes = m.maxBytes ?? defaultMaxBytes();
    return new MemoryBackend({
      maxTraces: m.maxTraces ?? MEMORY_DEFAULTS.maxTraces,
      ...(maxBytes !== undefined ? { maxBytes } : {}),
      maxSpansPerTrace: m.maxSpansPerTrace ?? MEMORY_DEFAULTS.maxSpansPerTrace,
      maxServices: m.maxServices ?? MEMORY_DEFAULTS.maxServices,
      maxOperationsPerService: m.maxOperationsPerService ?? MEMORY_DEFAULTS.maxOperationsPerService,
      maxOperations: m.maxOperations ?? MEMORY_DEFAULTS.maxOperations,
    });
  },
  embedded: (cfg) => new EmbeddedBackend({ path: cfg.dataDir ?? '/var/lib/jaeger-storage' }),
  opensearch: (cfg) => new SearchBackend('opensearch', searchBackendConfig(cfg.backend.opensearch!, cfg.retention)),
  elasticsearch: (cfg) => new SearchBackend('elasticsearch', searchBackendConfig(cfg.backend.elasticsearch!, cfg.retention)),
};

export function createBackend(type: BackendType, cfg: RuntimeConfig): BackendFactory {
  const make = REGISTRY[type];
  if (!make) throw new StorageError('Unimplemented', `the ${type} backend is not available in this version (available: ${Object.keys(REGISTRY).join(', ')})`);
  return make(cfg);
}

export const availableBackends = (): BackendType[] => Object.keys(REGISTRY) as BackendType[];
