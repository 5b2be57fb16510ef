// The memory backend as a plug-in: traces live in the runtime process (one writer), tenants are kept apart, nothing
// outside the pod to check, provision or clean up. The store module is loaded only when a memory backend opens.
import type { BackendSpec } from '../../api/backend-plugin.js';
import type { BackendPlugin } from '../api/plugin.js';
import { type MemoryRuntimeConfig, memoryConfigSchema } from './config.js';
import { MEMORY_DEFAULTS, defaultMaxBytes } from './limits.js';

export const memoryPlugin: BackendPlugin<'memory', MemoryRuntimeConfig> = {
  type: 'memory',
  traits: { singleWriter: true, externalState: false, tenancy: true, provisions: [] },
  configSchema: memoryConfigSchema,
  // the TraceStore's maxTraces; the other bounds are the runtime's own (defaults, or written by hand)
  runtimeSection: (spec: BackendSpec<'memory'>): MemoryRuntimeConfig => (spec.maxTraces !== undefined ? { maxTraces: spec.maxTraces } : {}),
  secretReferences: () => [],
  async open(config) {
    const { MemoryBackend } = await import('./store.js');
    const maxBytes = config.maxBytes ?? defaultMaxBytes();
    return new MemoryBackend({
      maxTraces: config.maxTraces ?? MEMORY_DEFAULTS.maxTraces,
      ...(maxBytes !== undefined ? { maxBytes } : {}),
      maxSpansPerTrace: config.maxSpansPerTrace ?? MEMORY_DEFAULTS.maxSpansPerTrace,
      maxServices: config.maxServices ?? MEMORY_DEFAULTS.maxServices,
      maxOperationsPerService: config.maxOperationsPerService ?? MEMORY_DEFAULTS.maxOperationsPerService,
      maxOperations: config.maxOperations ?? MEMORY_DEFAULTS.maxOperations,
    });
  },
};
