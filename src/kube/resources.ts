// The resource references are declared once in api/resources.ts (plain data, no client); the kube layer and its
// callers keep importing them from here.
export * from '../api/resources.js';
