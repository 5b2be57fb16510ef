// The operator <-> runtime <-> user contract that both sides import: label and annotation names and the names of
// objects one side creates and the other reads. Changing a value here is a breaking change for running clusters.
import { createHash } from 'node:crypto';
import { GROUP } from './common.js';

/** A Secret is usable by TraceStores only with this label set to "true" (the operator caches only such Secrets). */
export const SECRET_ALLOW_LABEL = `${GROUP}/allow`;
/** Label selector of the operator's Secret informer. */
export const SECRET_ALLOW_SELECTOR = `${SECRET_ALLOW_LABEL}=true`;
/** Optional: comma-separated TraceStore names (same namespace) that may use the Secret; absent = any. */
export const SECRET_ALLOWED_TRACESTORES_ANNOTATION = `${GROUP}/allowed-tracestores`;

/**
 * Each TraceStore has one Lease, created and owned by the operator, on which its runtime pods report what they
 * enforce. The runtime may only get and patch this Lease (Role with resourceNames).
 */
export const runtimeReportLeaseName = (traceStore: string): string => `${traceStore}-runtime-report`;
/** Each runtime pod writes `name=generation,...` under the annotation `<prefix><its pod name>` of that Lease. */
export const REPORT_ANNOTATION_PREFIX = `sampling.${GROUP}/`;
/** The name part of a pod's annotation keys: a qualified name of at most 63 characters (generated pod names fit). */
function podKey(podName: string): string {
  return /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(podName)
    ? podName
    : `${podName.slice(0, 52).replace(/[^-A-Za-z0-9_.]/g, '-').replace(/^[^A-Za-z0-9]+/, 'p')}-${createHash('sha256').update(podName).digest('hex').slice(0, 10)}`;
}
export function reportAnnotation(podName: string): string {
  return `${REPORT_ANNOTATION_PREFIX}${podKey(podName)}`;
}
/**
 * A runtime pod whose backend refuses writes for lack of space (the embedded store's disk is full) says so under
 * `<prefix><its pod name>` of the same Lease, the value being the backend's message; the key is removed when
 * writes succeed again. The operator turns it into Ready=False, reason BackendFull.
 */
export const BACKEND_REPORT_ANNOTATION_PREFIX = `backend.${GROUP}/`;
export function backendReportAnnotation(podName: string): string {
  return `${BACKEND_REPORT_ANNOTATION_PREFIX}${podKey(podName)}`;
}

/**
 * Set on a TraceStore whose spec.deletionPolicy is Delete and whose backend keeps data outside the cluster: the
 * operator drops that data (the backend plug-in's cleanup) before it lets the TraceStore go.
 */
export const DELETE_DATA_FINALIZER = `${GROUP}/delete-data`;
