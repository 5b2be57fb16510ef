// What the operator asks of a backend plug-in. Each `src/storage/<backend>/` folder exports one plug-in (this
// operator-facing half plus the runtime half of storage/api/plugin.ts); the composition roots hand the table of
// src/storage/plugins.ts to the operator, so the operator side loads no database client and names no backend.
import type { CelRuleSpec } from './schema.js';
import { BACKEND_TYPES, type BackendType, type TraceStoreSpec } from './tracestore.js';

/** The `spec.backend.<type>` section of a TraceStore. */
export type BackendSpec<T extends BackendType = BackendType> = NonNullable<TraceStoreSpec['backend'][T]>;

export interface BackendTraits {
  /** data lives in the runtime pod itself: one replica, Recreate rollouts */
  singleWriter: boolean;
  /** data lives outside the objects the operator owns (a finalizer runs `cleanup` when deletionPolicy is Delete) */
  externalState: boolean;
  /** keeps tenants apart (StorageContext.tenant): only these may run with spec.tenancy.enabled */
  tenancy: boolean;
  /** what the operator's check creates in the backend, for messages and docs (e.g. ['index templates', 'ISM policy']) */
  provisions: readonly string[];
  /** set when the operator cannot deploy this backend yet (the runtime still opens it: local mode, --config): why */
  notDeployable?: string;
}

/** A condition the plug-in reports; the operator adds the type (BackendReachable, SchemaReady). */
export interface CheckCondition {
  status: 'True' | 'False' | 'Unknown';
  /** CamelCase reason, e.g. Connected, AuthenticationFailed, Provisioned */
  reason: string;
  /** names the fix; remote text only through the redaction helpers of api/redact.ts */
  message: string;
}

/**
 * A Secret the backend spec references, declared once: the operator checks that the TraceStore may use it, reads it
 * for `check`, hands it to the runtime pods (env from secretKeyRef and/or a Secret volume) and rolls the pods when
 * it changes.
 */
export interface SecretReference {
  /** the spec field that names it, e.g. spec.backend.opensearch.credentialsSecretRef */
  field: string;
  name: string;
  /** keys that must exist */
  keys: string[];
  /** environment variables of the runtime container, each from one key */
  env?: { name: string; key: string }[];
  /** the Secret mounted read-only as files at this path */
  mountPath?: string;
}

/** The runtime pod as the backend needs it, besides its Secrets. */
export interface PodNeeds {
  /** extra volumes, e.g. a PersistentVolumeClaim for the embedded store */
  volumes?: { name: string; mountPath: string; emptyDir?: { sizeLimit?: string }; persistentVolumeClaim?: { claimName: string } }[];
  /**
   * one persistent volume per pod for the backend's data, mounted at the runtime config's dataDir: the runtime then
   * runs as a StatefulSet whose volumeClaimTemplate requests it (the claim outlives pod restarts and rollouts)
   */
  dataVolume?: DataVolume;
}

export interface DataVolume {
  mountPath: string;
  /** the requested storage, a quantity (e.g. 10Gi) */
  size: string;
  /** unset: the cluster's default storage class */
  storageClassName?: string;
}

export interface CheckRequest<T extends BackendType = BackendType> {
  spec: BackendSpec<T>;
  retention?: string;
  /** the values of each SecretReference (by field, then key), read by the operator from the referenced Secrets */
  secrets: Record<string, Record<string, string>>;
  /** the TraceStore the check or cleanup is for, "<namespace>/<name>": a backend may record it to refuse sharing */
  owner?: string;
  signal?: AbortSignal;
}

export interface CheckResult {
  reachable: CheckCondition;
  schema: CheckCondition;
  /** provisioned schema version, shown in status.schemaVersion */
  schemaVersion?: string;
}

/** The operator-facing half of a backend plug-in. Everything but `check` and `cleanup` is pure. */
export interface OperatorBackendPlugin<T extends BackendType = BackendType> {
  readonly type: T;
  readonly traits: BackendTraits;
  /** the runtime config's `backend.<type>` section for this spec: never a secret value */
  runtimeSection(spec: BackendSpec<T>): unknown;
  /** the Secrets the spec references, with how the pods receive them */
  secretReferences(spec: BackendSpec<T>): SecretReference[];
  /** a reason not to hand the Secrets to anyone (e.g. credentials over plain http) as BackendReachable=False */
  secretPolicy?(spec: BackendSpec<T>): CheckCondition | undefined;
  podNeeds?(spec: BackendSpec<T>): PodNeeds;
  /** backends outside the pods: connect, provision, report (run off the reconcile path, with retries) */
  check?: {
    /** the schema version this operator provisions: a new one triggers a new check */
    schemaVersion: number;
    /** where it connects, for "connecting to …" messages (no credentials) */
    describe(spec: BackendSpec<T>): string;
    run(req: CheckRequest<T>): Promise<CheckResult>;
  };
  /**
   * deletionPolicy Delete: drop what this TraceStore stored (indices, tables, keyspace); idempotent; stops at
   * req.signal. Returns why it kept the data instead (e.g. it belongs to someone else), if it did.
   */
  cleanup?(req: CheckRequest<T>): Promise<void | { kept: string }>;
  /**
   * Names the data a store keeps in its backend (e.g. endpoints and index prefix): two TraceStores with the same
   * key share their data, so deleting one of them must not drop it.
   */
  dataKey?(spec: BackendSpec<T>): string;
}

/** A backend type the CRD knows that this version cannot serve: reconciled to Ready=False, BackendNotSupported. */
export interface NotInThisVersion<T extends BackendType = BackendType> {
  readonly type: T;
  readonly notInThisVersion: string;
}

export type OperatorPluginTable = { [T in BackendType]: OperatorBackendPlugin<T> | NotInThisVersion<T> };

export const isAvailable = <T extends BackendType>(p: OperatorBackendPlugin<T> | NotInThisVersion<T>): p is OperatorBackendPlugin<T> => !('notInThisVersion' in p);

/** Per backend type, why this operator cannot deploy it (undefined: it can). */
export type BackendAvailability = { readonly [T in BackendType]: string | undefined };

/** What the operator can deploy, derived from the plug-in table: a new plug-in lifts its type's rejection. */
export function backendAvailability(plugins: OperatorPluginTable): BackendAvailability {
  const why = (t: BackendType): string | undefined => {
    const p = plugins[t] as OperatorBackendPlugin | NotInThisVersion;
    return isAvailable(p) ? p.traits.notDeployable : p.notInThisVersion;
  };
  return Object.fromEntries(BACKEND_TYPES.map((t) => [t, why(t)])) as unknown as BackendAvailability;
}

export const deployableBackends = (a: BackendAvailability): BackendType[] => BACKEND_TYPES.filter((t) => a[t] === undefined);

/** "spec.backend.memory, spec.backend.opensearch": the choices a message offers. */
export const backendChoices = (a: BackendAvailability): string => deployableBackends(a).map((t) => `spec.backend.${t}`).join(', ');

/** The message for a backend type this operator cannot deploy; the same at admission and in Ready. */
export const notAvailableMessage = (type: BackendType, a: BackendAvailability): string =>
  `spec.backend.${type} is not available in this version (${a[type] ?? 'not deployable'}); available backends: ${backendChoices(a)}`;

/** CEL rules on spec.backend that refuse at admission every type the operator cannot deploy. */
export function backendAvailabilityRules(a: BackendAvailability): CelRuleSpec[] {
  return BACKEND_TYPES.filter((t) => a[t] !== undefined).map((t) => ({ rule: `!has(self.${t})`, message: notAvailableMessage(t, a), fieldPath: `.${t}`, reason: 'FieldValueForbidden' }));
}

/** How the runtime pods receive a backend's credentials (env from secretKeyRef) and its CA (a Secret volume). */
export const BACKEND_USERNAME_ENV = 'JSO_BACKEND_USERNAME';
export const BACKEND_PASSWORD_ENV = 'JSO_BACKEND_PASSWORD';
export const BACKEND_CA_DIR = '/etc/jaeger-storage/backend-ca';
/** Where the runtime looks for the CA instead of BACKEND_CA_DIR, when set (a runtime outside a container). */
export const BACKEND_CA_DIR_ENV = 'JSO_BACKEND_CA_DIR';
/** A backend's bearer token (env from secretKeyRef), for backends that authenticate by token. */
export const BACKEND_TOKEN_ENV = 'JSO_BACKEND_TOKEN';
