// spec.query: the stock Jaeger v2 query front the operator renders (ConfigMap, Deployment, Service, Ingress), its
// configuration, how it reaches a secured runtime, its place in the NetworkPolicy, and its status.
import { parse } from 'yaml';
import type { V1ConfigMap, V1Deployment, V1Ingress, V1Service } from '@kubernetes/client-node';
import { validateSpec } from '../../src/api/crds.js';
import { LABEL_NAME, QUERY_TOKEN_ENV, RUNTIME_APP } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { build, buildContext, endpointsFor } from '../../src/reconcilers/tracestore/desired.js';
import { computeStatus } from '../../src/reconcilers/tracestore/status.js';
import type { NetworkPolicy } from '../../src/reconcilers/tracestore/builders/networkpolicy.js';
import { PLUGINS } from '../../src/storage/plugins.js';

const ts = (spec: Partial<TraceStore['spec']> = {}): TraceStore => ({
  apiVersion: 'storage.jaegertracing.io/v1alpha1',
  kind: 'TraceStore',
  metadata: { name: 'demo', namespace: 'obs', uid: 'u-1', generation: 3 },
  spec: { backend: { memory: { maxTraces: 10 } }, ...spec },
});
const settings = { runtimeImage: 'img:1', plugins: PLUGINS };
const children = (t: TraceStore, o: { querySecretsVersion?: string } = {}) => build(buildContext(t, settings, o));
const child = <T>(t: TraceStore, kind: string, name = 'demo-query', o: { querySecretsVersion?: string } = {}): T | undefined => children(t, o).find((d) => d.kind === kind && d.object.metadata.name === name)?.object as T | undefined;
const config = (t: TraceStore) => parse(child<V1ConfigMap>(t, 'ConfigMap')!.data!['config.yaml']!) as { extensions: Record<string, Record<string, unknown>>; service: { pipelines: unknown } };
const storage = (t: TraceStore) => (config(t).extensions.jaeger_storage as { backends: { runtime: { grpc: Record<string, unknown> } } }).backends.runtime.grpc;

describe('query front objects', () => {
  it('are not built unless spec.query.enabled', () => {
    for (const t of [ts(), ts({ query: { enabled: false, ingress: { host: 'a.example.com' } } })]) expect(children(t).filter((d) => d.object.metadata.name === 'demo-query')).toEqual([]);
  });

  it('run the stock Jaeger image on its own labels, which the runtime Service does not select', () => {
    const d = child<V1Deployment>(ts({ query: { enabled: true } }), 'Deployment')!;
    const c = d.spec!.template.spec!.containers[0]!;
    expect(c.image).toBe('jaegertracing/jaeger:2.13.0');
    expect(c.args).toEqual(['--config', '/etc/jaeger/config.yaml']);
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/status', port: 'health' });
    expect(d.spec!.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'jaeger-storage-query', 'app.kubernetes.io/instance': 'demo' });
    expect(d.spec!.template.metadata!.labels![LABEL_NAME]).not.toBe(RUNTIME_APP);
    expect(d.spec!.template.spec!.automountServiceAccountToken).toBe(false);
    expect(c.env).toBeUndefined();
    const custom = child<V1Deployment>(ts({ query: { enabled: true, image: 'jaegertracing/jaeger:2.19.0', replicas: 3, resources: { limits: { memory: '256Mi' } } } }), 'Deployment')!;
    expect([custom.spec!.replicas, custom.spec!.template.spec!.containers[0]!.image, custom.spec!.template.spec!.containers[0]!.resources]).toEqual([3, 'jaegertracing/jaeger:2.19.0', { limits: { memory: '256Mi' } }]);
  });

  it('read through the runtime Service with no pipeline of their own, under the base path', () => {
    const c = config(ts({ query: { enabled: true, basePath: '/jaeger' } }));
    expect(storage(ts({ query: { enabled: true } }))).toEqual({ endpoint: 'demo-runtime.obs.svc:17271', tls: { insecure: true }, writer: { endpoint: 'demo-runtime.obs.svc:17271', tls: { insecure: true } } });
    expect(c.service.pipelines).toEqual({ traces: { receivers: ['nop'], exporters: ['nop'] } });
    expect(c.extensions.jaeger_query).toMatchObject({ base_path: '/jaeger', storage: { traces: 'runtime' }, http: { endpoint: '0.0.0.0:16686' } });
    expect(config(ts({ query: { enabled: true } })).extensions.jaeger_query!.base_path).toBeUndefined();
  });

  it('roll when the configuration changes', () => {
    const hash = (t: TraceStore) => child<V1Deployment>(t, 'Deployment')!.spec!.template.metadata!.annotations!['storage.jaegertracing.io/config-hash'];
    expect(hash(ts({ query: { enabled: true } }))).toBe(hash(ts({ query: { enabled: true } })));
    expect(hash(ts({ query: { enabled: true, basePath: '/x' } }))).not.toBe(hash(ts({ query: { enabled: true } })));
  });

  it('verify a TLS runtime with the ca.crt of its Secret, present their own client certificate under mTLS, and send the token only by env reference', () => {
    const secured = ts({
      runtime: { security: { remoteStorage: { tls: { secretRef: { name: 'rs-tls' }, requireClientCert: true }, auth: { tokenSecretRef: { name: 'rs-tokens' } } } } },
      query: { enabled: true, remoteStorageToken: { secretRef: { name: 'ui-token', key: 'tok' } }, remoteStorageClientTls: { secretRef: { name: 'ui-client' } } },
    });
    expect(storage(secured)).toMatchObject({
      tls: { ca_file: '/etc/jaeger-remote-storage-tls/ca.crt', cert_file: '/etc/jaeger-remote-storage-client-tls/tls.crt', key_file: '/etc/jaeger-remote-storage-client-tls/tls.key', server_name_override: 'demo-runtime.obs.svc' },
      headers: { authorization: `Bearer \${env:${QUERY_TOKEN_ENV}}` },
    });
    const d = child<V1Deployment>(secured, 'Deployment', 'demo-query', { querySecretsVersion: 'ui-token@7' })!;
    const pod = d.spec!.template.spec!;
    expect(pod.containers[0]!.env).toEqual([{ name: QUERY_TOKEN_ENV, valueFrom: { secretKeyRef: { name: 'ui-token', key: 'tok' } } }]);
    // of the runtime's Secret only its CA: the runtime's key never reaches the front
    expect(pod.volumes!.filter((v) => v.secret).map((v) => v.secret)).toEqual([
      { secretName: 'rs-tls', items: [{ key: 'ca.crt', path: 'ca.crt' }], defaultMode: 0o440 },
      { secretName: 'ui-client', items: ['tls.crt', 'tls.key'].map((k) => ({ key: k, path: k })), defaultMode: 0o440 },
    ]);
    expect(d.spec!.template.metadata!.annotations!['storage.jaegertracing.io/secrets-version']).toBeDefined();
    // the runtime is not changed by the front: its Secret volume is what it was
    const runtimePod = (t: TraceStore) => (children(t).find((x) => x.kind === 'Deployment' && x.object.metadata.name === 'demo-runtime')!.object as V1Deployment).spec!.template;
    expect(runtimePod(secured)).toEqual(runtimePod({ ...secured, spec: { ...secured.spec, query: { enabled: false } } }));
  });

  it('leave a store without spec.query exactly as it was', () => {
    const plain = ts({ runtime: { networkPolicy: { enabled: true } } });
    const off = ts({ runtime: { networkPolicy: { enabled: true } }, query: { enabled: false } });
    expect(children(off).map((d) => d.object)).toEqual(children(plain).map((d) => d.object));
  });

  it('are refused by validation when the runtime asks for a token and the front has none', () => {
    const errs = validateSpec('TraceStore', { backend: { memory: {} }, runtime: { security: { remoteStorage: { auth: { tokenSecretRef: { name: 't' } } } } }, query: { enabled: true } });
    expect(errs).toEqual([expect.objectContaining({ field: 'spec.query.remoteStorageToken', message: expect.stringMatching(/remoteStorageToken is required/) })]);
    expect(validateSpec('TraceStore', { backend: { memory: {} }, query: { enabled: true, basePath: 'jaeger/' } })).toEqual([expect.objectContaining({ field: 'spec.query.basePath' })]);
    expect(validateSpec('TraceStore', { backend: { memory: {} }, query: { enabled: true, ingress: { host: 'Bad Host' } } })).toEqual([expect.objectContaining({ field: 'spec.query.ingress.host' })]);
    for (const basePath of ['/..', '/a/./b', '/.hidden']) expect(validateSpec('TraceStore', { backend: { memory: {} }, query: { enabled: true, basePath } })).toEqual([expect.objectContaining({ field: 'spec.query.basePath' })]);
    expect(validateSpec('TraceStore', { backend: { memory: {} }, runtime: { security: { remoteStorage: { tls: { secretRef: { name: 't' }, requireClientCert: true } } } }, query: { enabled: true } })).toEqual([
      expect.objectContaining({ field: 'spec.query.remoteStorageClientTls', message: expect.stringMatching(/remoteStorageClientTls is required/) }),
    ]);
    expect(validateSpec('TraceStore', { backend: { memory: {} }, tenancy: { enabled: true }, query: { enabled: true } })).toEqual([expect.objectContaining({ field: 'spec.query.enabled', message: expect.stringMatching(/spec.tenancy.enabled/) })]);
  });

  it('have a Service of the asked type and an Ingress with host, class, TLS and base path', () => {
    const t = ts({ query: { enabled: true, serviceType: 'LoadBalancer', basePath: '/jaeger', ingress: { host: 'jaeger.example.com', className: 'nginx', annotations: { 'a/b': 'c' }, tls: { secretName: 'jaeger-cert' } } } });
    const svc = child<V1Service>(t, 'Service')!;
    expect(svc.spec!.type).toBe('LoadBalancer');
    expect(svc.spec!.ports!.map((p) => [p.name, p.port])).toEqual([['query-http', 16686], ['query-grpc', 16685]]);
    const ing = child<V1Ingress>(t, 'Ingress')!;
    expect(ing.metadata!.annotations).toEqual({ 'a/b': 'c', 'storage.jaegertracing.io/applied-hash': expect.stringMatching(/^[0-9a-f]{10}$/) });
    // a field dropped from the spec changes the applied hash, so the Ingress is applied again without it
    const without = child<V1Ingress>(ts({ query: { enabled: true, serviceType: 'LoadBalancer', basePath: '/jaeger', ingress: { host: 'jaeger.example.com', className: 'nginx', annotations: { 'a/b': 'c' } } } }), 'Ingress')!;
    expect(without.spec!.tls).toBeUndefined();
    expect(without.metadata!.annotations!['storage.jaegertracing.io/applied-hash']).not.toBe(ing.metadata!.annotations!['storage.jaegertracing.io/applied-hash']);
    expect(ing.spec).toEqual({
      ingressClassName: 'nginx',
      rules: [{ host: 'jaeger.example.com', http: { paths: [{ path: '/jaeger', pathType: 'Prefix', backend: { service: { name: 'demo-query', port: { name: 'query-http' } } } }] } }],
      tls: [{ hosts: ['jaeger.example.com'], secretName: 'jaeger-cert' }],
    });
    expect(endpointsFor(t)).toMatchObject({ ui: 'http://demo-query.obs.svc:16686/jaeger/', uiExternal: 'https://jaeger.example.com/jaeger/' });
    expect(endpointsFor(ts())).not.toHaveProperty('ui');
  });

  it('are admitted to remote storage by the NetworkPolicy that names its peers, and fenced like the runtime\'s query group', () => {
    const t = ts({ runtime: { networkPolicy: { enabled: true, remoteStorage: { from: [{ namespaceSelector: { matchLabels: { team: 'x' } } }] }, query: { from: [{ podSelector: { matchLabels: { role: 'viewer' } } }] } } }, query: { enabled: true } });
    const np = children(t).find((d) => d.kind === 'NetworkPolicy')!.object as unknown as NetworkPolicy;
    const own = child<NetworkPolicy>(t, 'NetworkPolicy')!;
    expect(own.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'jaeger-storage-query', 'app.kubernetes.io/instance': 'demo' } },
      policyTypes: ['Ingress'],
      ingress: [{ ports: [{ protocol: 'TCP', port: 16686 }, { protocol: 'TCP', port: 16685 }], from: [{ podSelector: { matchLabels: { role: 'viewer' } } }] }, { ports: [{ protocol: 'TCP', port: 13133 }] }],
    });
    expect(child(ts({ query: { enabled: true } }), 'NetworkPolicy')).toBeUndefined();
    expect(np.spec.ingress.find((r) => r.ports.some((p) => p.port === 17271))!.from).toEqual([{ namespaceSelector: { matchLabels: { team: 'x' } } }, { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'jaeger-storage-query', 'app.kubernetes.io/instance': 'demo' } } }]);
  });
});

describe('QueryAvailable', () => {
  const deployment = (ready: number, hash: string): V1Deployment => ({
    metadata: { generation: 1 },
    spec: { replicas: 1, selector: {}, template: { metadata: { annotations: { 'storage.jaegertracing.io/config-hash': hash } } } },
    status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: ready, readyReplicas: ready },
  });
  const runtime = deployment(1, 'rt');
  const status = (t: TraceStore, q?: V1Deployment) => computeStatus(t, { backend: 'memory', configHash: 'rt', deployment: runtime, ...(t.spec.query?.enabled ? { query: { ...(q ? { deployment: q } : {}), configHash: 'q' } } : {}) }, new Date());
  const cond = (s: ReturnType<typeof status>, type: string) => s.conditions!.find((c) => c.type === type);

  it('holds Ready back until the front is available, naming the front', () => {
    const t = ts({ query: { enabled: true } });
    expect(cond(status(t), 'QueryAvailable')).toMatchObject({ status: 'False', reason: 'DeploymentMissing', message: 'the query front Deployment is being created' });
    const starting = status(t, deployment(0, 'q'));
    expect(cond(starting, 'Ready')).toMatchObject({ status: 'False', reason: 'PodsNotReady', message: '0 of 1 query front pods are available' });
    expect(cond(status(t, deployment(1, 'q')), 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(status(t, deployment(1, 'old')), 'QueryAvailable')).toMatchObject({ status: 'False', reason: 'RolloutInProgress' });
  });

  it('is gone once spec.query is turned off, and a front scaled to zero does not hold Ready back', () => {
    const on = ts({ query: { enabled: true } });
    const before = status(on, deployment(1, 'q'));
    const off: TraceStore = { ...ts(), status: before };
    expect(cond(status(off), 'QueryAvailable')).toBeUndefined();
    const zero = { ...deployment(0, 'q'), spec: { ...deployment(0, 'q').spec!, replicas: 0 } };
    expect(cond(status(on, zero), 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(status(on, zero), 'QueryAvailable')).toMatchObject({ status: 'True', reason: 'ScaledToZero' });
  });
});
