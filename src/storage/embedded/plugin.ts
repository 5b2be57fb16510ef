// The embedded backend as a plug-in: an LMDB database in the runtime pod (one writer, Recreate rollouts), nothing
// outside the pod to check or clean up. lmdb is loaded only when an embedded backend opens.
import type { BackendSpec } from '../../api/backend-plugin.js';
import { type Infer, obj, quantity, str } from '../../api/schema.js';
import type { BackendPlugin } from '../api/plugin.js';

/** Where the runtime keeps the database unless its config says otherwise (runtime config `dataDir`). */
export const EMBEDDED_DATA_DIR = '/var/lib/jaeger-storage';

/** The section as the operator renders it: the volume's size and class, which the runtime itself does not read. */
export const embeddedConfigSchema = obj(
  {
    size: quantity({ description: 'size of the data volume' }),
    storageClassName: str({ description: 'storage class of the data volume', maxLength: 253 }),
  },
  [],
  { description: 'embedded key-value store in dataDir' },
);

export type EmbeddedRuntimeConfig = Infer<typeof embeddedConfigSchema>;

export const embeddedPlugin: BackendPlugin<'embedded', EmbeddedRuntimeConfig> = {
  type: 'embedded',
  traits: { singleWriter: true, externalState: false, tenancy: false, provisions: [] },
  configSchema: embeddedConfigSchema,
  runtimeSection: (spec: BackendSpec<'embedded'>): EmbeddedRuntimeConfig => ({
    ...(spec.size !== undefined ? { size: spec.size } : {}),
    ...(spec.storageClassName !== undefined ? { storageClassName: spec.storageClassName } : {}),
  }),
  secretReferences: () => [],
  // A writable volume at the data directory (the root filesystem is read-only). It survives container restarts,
  // not the pod's replacement: a PersistentVolumeClaim needs a claim named after the TraceStore, beyond the spec.
  podNeeds: (spec) => ({ volumes: [{ name: 'embedded-data', mountPath: EMBEDDED_DATA_DIR, emptyDir: spec.size !== undefined ? { sizeLimit: spec.size } : {} }] }),
  async open(_config, ctx) {
    const { EmbeddedBackend } = await import('./store.js');
    return new EmbeddedBackend({ path: ctx.dataDir });
  },
};
