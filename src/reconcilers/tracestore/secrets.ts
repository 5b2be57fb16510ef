// Which referenced Secrets a TraceStore may use, and whether its credentials may be sent. Pure: the controller
// looks the Secrets up (cache of opted-in Secrets, then metadata only) and acts on the verdicts.
import { SECRET_ALLOW_LABEL, SECRET_ALLOWED_TRACESTORES_ANNOTATION } from '../../api/contract.js';
import type { ObjectMeta } from '../../api/common.js';
import type { TraceStore } from '../../api/tracestore.js';
import type { ConditionInput } from '../conditions.js';

/** What the controller found for a referenced Secret. */
export type SecretLookup =
  /** in the operator's cache, which holds only Secrets labelled SECRET_ALLOW_LABEL=true */
  | { found: 'optedIn'; metadata: ObjectMeta }
  /** exists, but without the label (read as metadata only) */
  | { found: 'notOptedIn' }
  | { found: 'missing' };

const problem = (reason: string, message: string): ConditionInput => ({ type: 'BackendReachable', status: 'False', reason, message });

/** The TraceStores a Secret admits through its annotation, or undefined (= every TraceStore of its namespace). */
export function allowedTraceStores(meta: ObjectMeta): string[] | undefined {
  const v = meta.annotations?.[SECRET_ALLOWED_TRACESTORES_ANNOTATION];
  if (v === undefined) return undefined;
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * undefined when `ts` may use the Secret; otherwise the BackendReachable condition saying why not and what to do.
 * `field` is the spec field that references it (e.g. spec.backend.opensearch.credentialsSecretRef).
 */
export function secretProblem(ts: TraceStore, field: string, name: string, lookup: SecretLookup): ConditionInput | undefined {
  const ns = ts.metadata.namespace ?? 'default';
  if (lookup.found === 'missing') return problem('SecretNotFound', `${field}: Secret "${name}" not found in namespace ${ns}: create it with the label ${SECRET_ALLOW_LABEL}: "true"`);
  if (lookup.found === 'notOptedIn' || lookup.metadata.labels?.[SECRET_ALLOW_LABEL] !== 'true') {
    return problem(
      'SecretNotAllowed',
      `${field}: Secret "${name}" has not opted in to be used by TraceStores: add the label ${SECRET_ALLOW_LABEL}: "true" (kubectl label secret ${name} -n ${ns} ${SECRET_ALLOW_LABEL}=true)`,
    );
  }
  const allowed = allowedTraceStores(lookup.metadata);
  if (allowed && !allowed.includes(ts.metadata.name)) {
    return problem(
      'SecretNotAllowed',
      `${field}: Secret "${name}" admits only the TraceStores listed in its annotation ${SECRET_ALLOWED_TRACESTORES_ANNOTATION} (${allowed.join(', ') || 'none'}): add "${ts.metadata.name}" to it`,
    );
  }
  return undefined;
}
