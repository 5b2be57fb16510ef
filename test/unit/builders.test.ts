// The builders of a TraceStore's children: build() lists one object per kind, each tagged with its resource and
// controlled by the TraceStore, and they are the objects desiredRuntime() names.
import { apiVersionOf } from '../../src/api/resources.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { CHILD_BUILDERS, build, buildContext, desiredRuntime } from '../../src/reconcilers/tracestore/desired.js';
import { PLUGINS } from '../../src/storage/plugins.js';

const ts = (spec: Partial<TraceStore['spec']> = {}): TraceStore => ({
  apiVersion: 'storage.jaegertracing.io/v1alpha1',
  kind: 'TraceStore',
  metadata: { name: 'demo', namespace: 'obs', uid: 'u-1', generation: 1 },
  spec: { backend: { memory: { maxTraces: 10 } }, ...spec },
});
const settings = { runtimeImage: 'img:1', plugins: PLUGINS };
const withPolicy = () => ts({ runtime: { networkPolicy: { enabled: true } }, query: { enabled: true, ingress: { host: 'jaeger.example.com' } } });

describe('build()', () => {
  it('returns one object per builder kind, each tagged with its resource and owned by the TraceStore', () => {
    const out = build(buildContext(withPolicy(), settings));
    // the runtime is a Deployment or, for a backend with a data volume, a StatefulSet
    const embedded = build(buildContext(ts({ backend: { embedded: {} }, runtime: { networkPolicy: { enabled: true } }, query: { enabled: true, ingress: { host: 'jaeger.example.com' } } }), settings));
    expect(out.map((d) => d.kind)).toEqual(CHILD_BUILDERS.map((b) => b.kind).filter((k) => k !== 'StatefulSet'));
    // the query front's Deployment stays: only the runtime's is a StatefulSet there
    const cm = embedded[0]!.object.metadata.name;
    expect(embedded.map((d) => `${d.kind}/${d.object.metadata.name}`)).toEqual([
      `ConfigMap/${cm}`, 'ServiceAccount/demo-runtime', 'Role/demo-runtime', 'RoleBinding/demo-runtime', 'Lease/demo-runtime-report', 'StatefulSet/demo-runtime', 'Service/demo-runtime', 'NetworkPolicy/demo-runtime',
      'ConfigMap/demo-query', 'Deployment/demo-query', 'Service/demo-query', 'Ingress/demo-query', 'NetworkPolicy/demo-query',
    ]);
    expect(new Set(out.map((d) => d.kind)).size).toBe(9);
    expect(new Set(out.map((d) => `${d.kind}/${d.object.metadata.name}`)).size).toBe(out.length);
    for (const d of [...out, ...embedded]) {
      expect(d.object.kind).toBe(d.kind);
      expect(d.ref.kind).toBe(d.kind);
      expect(d.object.apiVersion).toBe(apiVersionOf(d.ref));
      expect(d.object.metadata.namespace).toBe('obs');
      expect(d.object.metadata.ownerReferences).toEqual([{ apiVersion: 'storage.jaegertracing.io/v1alpha1', kind: 'TraceStore', name: 'demo', uid: 'u-1', controller: true, blockOwnerDeletion: true }]);
    }
    // only the content-named ConfigMap is create-only
    expect(out.filter((d) => d.immutable).map((d) => d.kind)).toEqual(['ConfigMap']);
    expect(embedded.filter((d) => d.immutable).map((d) => d.kind)).toEqual(['ConfigMap']);
  });

  it('leaves out the NetworkPolicy unless spec.runtime.networkPolicy is enabled', () => {
    expect(build(buildContext(ts(), settings)).map((d) => d.kind)).not.toContain('NetworkPolicy');
    expect(build(buildContext(ts({ runtime: { networkPolicy: { enabled: false } } }), settings)).map((d) => d.kind)).not.toContain('NetworkPolicy');
  });

  it('builds the same objects desiredRuntime() names', () => {
    const store = withPolicy();
    const use = new Set<string>();
    const byKind = Object.fromEntries(build(buildContext(store, settings, { secretsVersion: 's@1', use })).filter((d) => d.object.metadata.name !== 'demo-query').map((d) => [d.kind, d.object]));
    const d = desiredRuntime(store, settings, 's@1', use);
    expect(byKind).toEqual({
      ConfigMap: d.configMap,
      ServiceAccount: d.serviceAccount,
      Role: d.role,
      RoleBinding: d.roleBinding,
      Lease: d.reportLease,
      Deployment: d.deployment,
      Service: d.service,
      NetworkPolicy: d.networkPolicy,
    });
  });

  it('refuses a spec without a backend', () => {
    expect(() => buildContext({ ...ts(), spec: {} as TraceStore['spec'] }, settings)).toThrow(/exactly one backend/);
  });
});
