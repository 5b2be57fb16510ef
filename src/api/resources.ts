// Every Kubernetes resource this project reads or writes, declared once, as plain references (group, version,
// kind, plural): the pure side (reconcilers, builders) tags its objects with them without loading the API client.
// RBAC manifests (config/install) and the RBAC test list the same resources.

export interface ResourceRef {
  group: string; // '' for the core group
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const res = (group: string, version: string, kind: string, plural: string, namespaced = true): ResourceRef => ({
  group,
  version,
  kind,
  plural,
  namespaced,
});

export const apiVersionOf = (r: ResourceRef): string => (r.group ? `${r.group}/${r.version}` : r.version);

export const TRACESTORES = res('storage.jaegertracing.io', 'v1alpha1', 'TraceStore', 'tracestores');
export const SAMPLING_POLICIES = res('storage.jaegertracing.io', 'v1alpha1', 'SamplingPolicy', 'samplingpolicies');
export const DEPLOYMENTS = res('apps', 'v1', 'Deployment', 'deployments');
export const STATEFULSETS = res('apps', 'v1', 'StatefulSet', 'statefulsets');
export const PERSISTENTVOLUMECLAIMS = res('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims');
export const CONFIGMAPS = res('', 'v1', 'ConfigMap', 'configmaps');
export const SERVICES = res('', 'v1', 'Service', 'services');
export const SERVICEACCOUNTS = res('', 'v1', 'ServiceAccount', 'serviceaccounts');
export const SECRETS = res('', 'v1', 'Secret', 'secrets');
export const PODS = res('', 'v1', 'Pod', 'pods');
export const EVENTS = res('', 'v1', 'Event', 'events');
export const ROLES = res('rbac.authorization.k8s.io', 'v1', 'Role', 'roles');
export const ROLEBINDINGS = res('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings');
export const NETWORKPOLICIES = res('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies');
export const INGRESSES = res('networking.k8s.io', 'v1', 'Ingress', 'ingresses');
export const LEASES = res('coordination.k8s.io', 'v1', 'Lease', 'leases');
export const CRDS = res('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions', false);
