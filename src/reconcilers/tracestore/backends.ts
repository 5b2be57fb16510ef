import type { BackendType } from '../../api/tracestore.js';

export interface BackendTraits {
  /** served by this operator version; others are reported as BackendNotSupported */
  supported: boolean;
  /** data lives in the runtime pod itself: one replica, Recreate rollouts */
  singleWriter: boolean;
  /** data lives outside the cluster objects we own (needs a finalizer when deletionPolicy is Delete) */
  externalState: boolean;
}

/** What the operator knows about each backend type: the one table to extend when a backend lands. */
export const BACKENDS: Record<BackendType, BackendTraits> = {
  memory: { supported: true, singleWriter: true, externalState: false },
  embedded: { supported: false, singleWriter: true, externalState: false },
  elasticsearch: { supported: true, singleWriter: false, externalState: true },
  opensearch: { supported: true, singleWriter: false, externalState: true },
  cassandra: { supported: false, singleWriter: false, externalState: true },
  clickhouse: { supported: false, singleWriter: false, externalState: true },
  grpc: { supported: false, singleWriter: false, externalState: false },
};
