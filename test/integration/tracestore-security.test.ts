// spec.runtime.security and spec.runtime.networkPolicy through the operator (issue #10), against the real API
// server: the Secrets are mounted as volumes (never env), the runtime configuration names the files, the
// endpoints say https/grpcs, the NetworkPolicy admits each listener group from its peers; a Secret that did not
// opt in leaves the runtime undeployed with Ready=False SecretNotAllowed.
import { readFileSync } from 'node:fs';
import type { V1ConfigMap, V1Deployment } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { CONFIG_FILE, SECRET_ALLOW_LABEL } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import type { Operator } from '../../src/controllers/manager.js';
import { type KubeClient, isNotFound, resourcePath } from '../../src/kube/client.js';
import { type NetworkPolicy, configMapName } from '../../src/reconcilers/tracestore/desired.js';
import { parseRuntimeConfig } from '../../src/api/runtime-config.js';
import { type TestPki, applyStore, conditionOf, createNamespace, getStore, memoryStore, startInProcessOperator, testClient, testPki, waitFor, waitReady } from '../helpers.js';

let client: KubeClient;
let ns: string;
let op: Operator;
let pki: TestPki;

const SECRETS = { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true };
const putSecret = (name: string, data: Record<string, string>, opts: { labelled?: boolean; type?: string } = {}) =>
  client.apply(
    resourcePath(SECRETS, ns, name),
    { apiVersion: 'v1', kind: 'Secret', type: opts.type ?? 'Opaque', metadata: { name, namespace: ns, labels: opts.labelled === false ? {} : { [SECRET_ALLOW_LABEL]: 'true' } }, stringData: data },
    'jso-test',
  );

const get = async <T>(path: string): Promise<T | undefined> => {
  try {
    return await client.get<T>(path);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
};
const deployment = (name: string) => get<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/${name}-runtime`);
const networkPolicy = (name: string) => get<NetworkPolicy>(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${name}-runtime`);

beforeAll(async () => {
  client = testClient();
  ns = await createNamespace(client, 'security');
  op = await startInProcessOperator(ns);
  pki = testPki();
  const tls = { 'tls.crt': readFileSync(pki.certFile, 'utf8'), 'tls.key': readFileSync(pki.keyFile, 'utf8') };
  await putSecret('runtime-tls', { ...tls, 'ca.crt': pki.ca }, { type: 'kubernetes.io/tls' });
  await putSecret('runtime-tls-no-ca', tls, { type: 'kubernetes.io/tls' });
  await putSecret('ingest-tokens', { tokens: 'token-a\ntoken-b\n' });
  await putSecret('unlabelled-tls', tls, { labelled: false, type: 'kubernetes.io/tls' });
}, 60_000);
afterAll(async () => {
  await op?.stop();
  client?.close();
});

function secureStore(name: string, runtime: NonNullable<TraceStore['spec']['runtime']>): TraceStore {
  const ts = memoryStore(name, ns);
  return { ...ts, spec: { ...ts.spec, runtime } };
}

const SECURITY: NonNullable<TraceStore['spec']['runtime']>['security'] = {
  ingest: { tls: { secretRef: { name: 'runtime-tls' } }, auth: { tokenSecretRef: { name: 'ingest-tokens', key: 'tokens' } } },
  query: { tls: { secretRef: { name: 'runtime-tls' }, requireClientCert: true } },
  remoteStorage: { auth: { tokenSecretRef: { name: 'ingest-tokens', key: 'tokens' } } },
};

describe('spec.runtime.security', () => {
  it('mounts the Secrets as volumes, renders the file paths, and lists https/grpcs endpoints', async () => {
    await applyStore(client, secureStore('secure', { security: SECURITY }));
    const ts = await waitReady(client, ns, 'secure');
    const dep = (await deployment('secure'))!;
    const pod = dep.spec!.template.spec!;
    const volumes = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
    expect(volumes['tls-ingest']?.secret).toMatchObject({ secretName: 'runtime-tls', items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] });
    expect(volumes['tls-query']?.secret?.items?.map((i) => i.key)).toEqual(['tls.crt', 'tls.key', 'ca.crt']);
    expect(volumes['auth-ingest']?.secret).toMatchObject({ secretName: 'ingest-tokens', items: [{ key: 'tokens', path: 'tokens' }] });
    expect(volumes['auth-remote-storage']?.secret?.secretName).toBe('ingest-tokens');
    expect(volumes['tls-sampling']).toBeUndefined();
    const mounts = Object.fromEntries((pod.containers[0]!.volumeMounts ?? []).map((m) => [m.name, m]));
    expect(mounts['tls-ingest']).toMatchObject({ mountPath: '/etc/jaeger-storage-security/ingest/tls', readOnly: true });
    expect(mounts['auth-remote-storage']).toMatchObject({ mountPath: '/etc/jaeger-storage-security/remote-storage/auth', readOnly: true });
    // never env values
    expect(JSON.stringify(pod.containers[0]!.env ?? [])).not.toMatch(/secretKeyRef/);

    const cm = (await get<V1ConfigMap>(resourcePath({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true }, ns, configMapName(ts, ts.status!.configHash!))))!;
    const cfg = parseRuntimeConfig(parse(cm.data![CONFIG_FILE]!) as unknown);
    expect(cfg.security).toEqual({
      ingest: {
        tls: { certFile: '/etc/jaeger-storage-security/ingest/tls/tls.crt', keyFile: '/etc/jaeger-storage-security/ingest/tls/tls.key' },
        auth: { bearerTokenFile: '/etc/jaeger-storage-security/ingest/auth/tokens' },
      },
      query: {
        tls: {
          certFile: '/etc/jaeger-storage-security/query/tls/tls.crt',
          keyFile: '/etc/jaeger-storage-security/query/tls/tls.key',
          clientCaFile: '/etc/jaeger-storage-security/query/tls/ca.crt',
        },
      },
      remoteStorage: { auth: { bearerTokenFile: '/etc/jaeger-storage-security/remote-storage/auth/tokens' } },
    });
    expect(cm.data![CONFIG_FILE]).not.toContain('token-a');

    const host = `secure-runtime.${ns}.svc`;
    expect(ts.status?.endpoints).toEqual({
      otlpGrpc: `grpcs://${host}:4317`,
      otlpHttp: `https://${host}:4318`,
      query: `https://${host}:16686`,
      queryGrpc: `grpcs://${host}:16685`,
      remoteStorage: `${host}:17271`,
      sampling: `http://${host}:5778`,
      samplingGrpc: `${host}:5779`,
    });
  });

  it('refuses a Secret that did not opt in: Ready=False SecretNotAllowed, no runtime; the label fixes it', async () => {
    await applyStore(client, secureStore('locked', { security: { sampling: { tls: { secretRef: { name: 'unlabelled-tls' } } } } }));
    const ts = await waitFor('locked: SecretNotAllowed', async () => {
      const t = await getStore(client, ns, 'locked');
      return conditionOf(t, 'Ready')?.reason === 'SecretNotAllowed' ? t : undefined;
    });
    const ready = conditionOf(ts, 'Ready')!;
    expect(ready.status).toBe('False');
    expect(ready.message).toContain('spec.runtime.security.sampling.tls.secretRef');
    expect(ready.message).toContain(`add the label ${SECRET_ALLOW_LABEL}: "true"`);
    // never served without the TLS the spec asks for
    expect(await deployment('locked')).toBeUndefined();
    expect(op.informers.secrets.list().map((s) => s.metadata.name)).not.toContain('unlabelled-tls');

    await putSecret('unlabelled-tls', { 'tls.crt': readFileSync(pki.certFile, 'utf8'), 'tls.key': readFileSync(pki.keyFile, 'utf8') }, { type: 'kubernetes.io/tls' });
    await waitReady(client, ns, 'locked');
    const dep = (await deployment('locked'))!;
    expect(dep.spec!.template.spec!.volumes?.find((v) => v.name === 'tls-sampling')?.secret?.secretName).toBe('unlabelled-tls');
  });

  it('says which key is missing: requireClientCert without ca.crt', async () => {
    await applyStore(client, secureStore('noca', { security: { query: { tls: { secretRef: { name: 'runtime-tls-no-ca' }, requireClientCert: true } } } }));
    const ts = await waitFor('noca: SecretKeyMissing', async () => {
      const t = await getStore(client, ns, 'noca');
      return conditionOf(t, 'Ready')?.reason === 'SecretKeyMissing' ? t : undefined;
    });
    expect(conditionOf(ts, 'Ready')!.message).toContain('ca.crt');
    expect(await deployment('noca')).toBeUndefined();
  });
});

describe('spec.runtime.networkPolicy', () => {
  it('admits each listener group from its peers, the admin port from anywhere; deleted when disabled', async () => {
    await applyStore(
      client,
      secureStore('fenced', {
        networkPolicy: {
          enabled: true,
          ingest: { from: [{ namespaceSelector: { matchLabels: { team: 'apps' } } }, { ipBlock: { cidr: '10.1.0.0/16' } }] },
          remoteStorage: { from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'jaeger' } } }] },
        },
      }),
    );
    const np = await waitFor('the NetworkPolicy', () => networkPolicy('fenced'));
    expect(np.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'TraceStore', name: 'fenced', controller: true });
    expect(np.spec?.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'jaeger-storage-runtime', 'app.kubernetes.io/instance': 'fenced' } });
    expect(np.spec?.policyTypes).toEqual(['Ingress']);
    const rules = (np.spec?.ingress ?? []).map((r) => ({ ports: (r.ports ?? []).map((p) => p.port).sort(), from: r.from }));
    expect(rules).toEqual([
      { ports: [4317, 4318], from: [{ namespaceSelector: { matchLabels: { team: 'apps' } } }, { ipBlock: { cidr: '10.1.0.0/16' } }] },
      { ports: [16685, 16686], from: [{ podSelector: {} }] },
      { ports: [17271], from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'jaeger' } } }] },
      { ports: [5778, 5779], from: [{ podSelector: {} }] },
      { ports: [8888], from: undefined },
    ]);
    await waitReady(client, ns, 'fenced');

    // a peer must be selectors or an ipBlock, not both; an empty list is refused (it would mean "everyone")
    const bad = (from: unknown[]) => applyStore(client, secureStore('fenced', { networkPolicy: { enabled: true, query: { from } } } as NonNullable<TraceStore['spec']['runtime']>));
    await expect(bad([{ podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' } }])).rejects.toThrow(/ipBlock alone/);
    await expect(bad([])).rejects.toThrow(/from/);

    await applyStore(client, secureStore('fenced', { networkPolicy: { enabled: false } }));
    await waitFor('the NetworkPolicy is deleted', async () => (await networkPolicy('fenced')) === undefined);
  });
});

describe('spec.query with a secured remote storage', () => {
  const front = (name: string) => get<V1Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/${name}-query`);
  const uiStore = (name: string, token?: string): TraceStore => {
    const ts = secureStore(name, { security: { remoteStorage: { tls: { secretRef: { name: 'runtime-tls' } }, auth: { tokenSecretRef: { name: 'ingest-tokens', key: 'tokens' } } } } });
    return { ...ts, spec: { ...ts.spec, query: { enabled: true, ...(token ? { remoteStorageToken: { secretRef: { name: token } } } : {}) } } };
  };

  it('is refused without a token by admission, held back while the token Secret is missing, and then gets it by reference only', async () => {
    await expect(applyStore(client, uiStore('ui'))).rejects.toThrow(/spec.query.remoteStorageToken is required/);
    await applyStore(client, uiStore('ui', 'ui-token'));
    const held = await waitFor('Ready=False naming the missing Secret', async () => {
      const c = conditionOf(await getStore(client, ns, 'ui'), 'Ready');
      return c?.reason === 'SecretNotFound' ? c : undefined;
    });
    expect(held.message).toContain('spec.query.remoteStorageToken.secretRef: Secret "ui-token" not found');
    expect(await front('ui')).toBeUndefined();
    expect(await deployment('ui')).toBeDefined();
    // a token that would not make a header is refused, naming the key
    await putSecret('ui-token', { token: 'token-b\n' });
    await waitFor('SecretValueInvalid', async () => conditionOf(await getStore(client, ns, 'ui'), 'QueryAvailable')?.reason === 'SecretValueInvalid');
    expect(await front('ui')).toBeUndefined();
    await putSecret('ui-token', { token: 'token-b' });
    const dep = await waitFor('the query front Deployment', () => front('ui'));
    const c = dep.spec!.template.spec!.containers[0]!;
    expect(c.env).toEqual([{ name: 'JSO_REMOTE_STORAGE_TOKEN', valueFrom: { secretKeyRef: { name: 'ui-token', key: 'token' } } }]);
    expect(dep.spec!.template.spec!.volumes!.find((v) => v.name === 'remote-storage-ca')!.secret).toMatchObject({ secretName: 'runtime-tls', items: [{ key: 'ca.crt', path: 'ca.crt' }] });
    // the runtime itself stays Ready all along: the front's Secrets hold back the front only
    expect(conditionOf(await getStore(client, ns, 'ui'), 'RuntimeAvailable')?.status).not.toBe('Unknown');
    const cm = await get<V1ConfigMap>(`/api/v1/namespaces/${ns}/configmaps/ui-query`);
    const text = cm!.data![CONFIG_FILE]!;
    expect(text).toContain('authorization: Bearer ${env:JSO_REMOTE_STORAGE_TOKEN}');
    expect(text).toContain(`endpoint: ui-runtime.${ns}.svc:17271`);
    for (const t of [text, JSON.stringify(dep), JSON.stringify((await getStore(client, ns, 'ui')).status)]) expect(t).not.toContain('token-b');
    expect((await getStore(client, ns, 'ui')).status?.endpoints?.ui).toBe(`http://ui-query.${ns}.svc:16686/`);

    // turned off: the front's objects go, and so does QueryAvailable
    await applyStore(client, { ...uiStore('ui', 'ui-token'), spec: { ...uiStore('ui', 'ui-token').spec, query: { enabled: false } } });
    await waitFor('the query front deleted', async () => (await front('ui')) === undefined && (await get(`/api/v1/namespaces/${ns}/services/ui-query`)) === undefined && (await get(`/api/v1/namespaces/${ns}/configmaps/ui-query`)) === undefined);
    await waitFor('no QueryAvailable', async () => conditionOf(await getStore(client, ns, 'ui'), 'QueryAvailable') === undefined && !(await getStore(client, ns, 'ui')).status?.endpoints?.ui);
  });
});
