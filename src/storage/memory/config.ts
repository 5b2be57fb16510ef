// The memory backend's section of the runtime config: the TraceStore's `maxTraces` plus the runtime's own memory
// bounds, which the operator does not render (maxBytes then follows the container's memory limit).
import { type Infer, int, obj } from '../../api/schema.js';
import { MEMORY_DEFAULTS as MD } from './limits.js';

export const memoryConfigSchema = obj(
  {
    maxTraces: int({ description: 'traces kept per tenant; the oldest are evicted first', minimum: 1, maximum: 100_000_000, default: MD.maxTraces }),
    maxBytes: int({ description: 'estimated heap bytes of stored spans (all tenants); above it the oldest traces are evicted. Unset: half the container memory limit (cgroup), or no byte bound without one', minimum: 1_048_576, maximum: Number.MAX_SAFE_INTEGER }),
    maxSpansPerTrace: int({ description: 'spans kept per trace; further spans are refused and counted', minimum: 1, maximum: 100_000_000, default: MD.maxSpansPerTrace }),
    maxServices: int({ description: 'services in the services/operations index per tenant; spans of further services are stored, not indexed', minimum: 1, maximum: 10_000_000, default: MD.maxServices }),
    maxOperationsPerService: int({ description: 'operations indexed per service', minimum: 1, maximum: 10_000_000, default: MD.maxOperationsPerService }),
    maxOperations: int({ description: 'operations indexed per tenant, all services together', minimum: 1, maximum: 100_000_000, default: MD.maxOperations }),
  },
  [],
  { description: 'in-process store; data is lost when the runtime restarts' },
);

export type MemoryRuntimeConfig = Infer<typeof memoryConfigSchema>;
