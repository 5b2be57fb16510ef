// The embedded backend as a plug-in: an LMDB database on a persistent volume of the runtime pod (one writer: the
// operator runs it as a one-replica StatefulSet with a volumeClaimTemplate), nothing outside the pod to check or
// clean up. lmdb is loaded only when an embedded backend opens.
import { parseDurationMs } from '../api/duration.js';
import type { BackendSpec } from '../../api/backend-plugin.js';
import { type Infer, obj, quantity, str } from '../../api/schema.js';
import type { BackendPlugin } from '../api/plugin.js';

/** Where the runtime keeps the database unless its config says otherwise (runtime config `dataDir`). */
export const EMBEDDED_DATA_DIR = '/var/lib/jaeger-storage';

/** The data volume's size when the spec gives none (the CRD defaults spec.backend.embedded.size to the same). */
export const DEFAULT_EMBEDDED_SIZE = '10Gi';

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
  traits: {
    singleWriter: true,
    externalState: false,
    tenancy: false,
    provisions: [],
  },
  configSchema: embeddedConfigSchema,
  runtimeSection: (spec: BackendSpec<'embedded'>): EmbeddedRuntimeConfig => ({
    ...(spec.size !== undefined ? { size: spec.size } : {}),
    ...(spec.storageClassName !== undefined ? { storageClassName: spec.storageClassName } : {}),
  }),
  secretReferences: () => [],
  podNeeds: (spec) => ({
    dataVolume: { mountPath: EMBEDDED_DATA_DIR, size: spec.size ?? DEFAULT_EMBEDDED_SIZE, ...(spec.storageClassName ? { storageClassName: spec.storageClassName } : {}) },
  }),
  async open(_config, ctx) {
    const { EmbeddedBackend } = await import('./store.js');
    return new EmbeddedBackend({ path: ctx.dataDir, ...(ctx.retention ? { retentionMs: parseDurationMs(ctx.retention) } : {}) });
  },
};
