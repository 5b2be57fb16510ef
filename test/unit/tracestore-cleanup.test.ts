// deletionPolicy Delete: the finalizer's cleanup with a fake plug-in and a client that records what it applies.
import { pino } from 'pino';
import type { CheckRequest, OperatorBackendPlugin } from '../../src/api/backend-plugin.js';
import { DELETE_DATA_FINALIZER, SECRET_ALLOW_LABEL } from '../../src/api/contract.js';
import type { TraceStore } from '../../src/api/tracestore.js';
import { DataCleanup, GIVE_UP_MS, SECRET_GONE_GIVE_UP_MS } from '../../src/controllers/tracestore-cleanup.js';
import type { KubeClient } from '../../src/kube/client.js';
import type { EventRecorder } from '../../src/kube/events.js';
import type { SecretLookup } from '../../src/reconcilers/tracestore/secrets.js';

type Plugin = OperatorBackendPlugin<'opensearch'>;

function fakePlugin(cleanup: (req: CheckRequest<'opensearch'>) => Promise<void>): Plugin & { calls: CheckRequest<'opensearch'>[] } {
  const calls: CheckRequest<'opensearch'>[] = [];
  return {
    calls,
    type: 'opensearch',
    traits: { singleWriter: false, externalState: true, tenancy: false, provisions: [] },
    runtimeSection: (s) => s,
    secretReferences: (s) => (s.credentialsSecretRef ? [{ field: 'spec.backend.opensearch.credentialsSecretRef', name: s.credentialsSecretRef.name, keys: ['username', 'password'] }] : []),
    secretPolicy: (s) => (s.credentialsSecretRef && s.endpoints.some((e) => e.startsWith('http://')) && !s.allowPlaintextCredentials ? { status: 'False', reason: 'InsecureCredentials', message: 'credentials over http' } : undefined),
    dataKey: (s) => JSON.stringify([s.endpoints, s.indexPrefix ?? '']),
    cleanup: (req) => (calls.push(req), cleanup(req)),
  };
}

const NOW = Date.parse('2026-11-30T12:00:00Z');
const store = (o: { name?: string; uid?: string; endpoints?: string[]; prefix?: string; cred?: string; deletedAgoMs?: number; policy?: 'Delete' | 'Retain' } = {}): TraceStore => ({
  apiVersion: 'storage.jaegertracing.io/v1alpha1',
  kind: 'TraceStore',
  metadata: {
    name: o.name ?? 's',
    namespace: 'ns',
    uid: o.uid ?? 'u1',
    finalizers: [DELETE_DATA_FINALIZER],
    ...(o.deletedAgoMs !== undefined ? { deletionTimestamp: new Date(NOW - o.deletedAgoMs).toISOString() } : {}),
  },
  spec: {
    backend: { opensearch: { endpoints: o.endpoints ?? ['https://os:9200'], ...(o.prefix !== undefined ? { indexPrefix: o.prefix } : {}), ...(o.cred ? { credentialsSecretRef: { name: o.cred } } : {}) } },
    deletionPolicy: o.policy ?? 'Delete',
  },
});

function setup(others: TraceStore[] = [], secrets: Record<string, Record<string, string>> = {}) {
  const applied: { finalizers: string[] }[] = [];
  const events: { type: string; reason: string; message: string }[] = [];
  const enqueued: string[] = [];
  const client = { apply: async (_p: string, obj: { metadata: { finalizers: string[] } }) => (applied.push({ finalizers: obj.metadata.finalizers }), obj) } as unknown as KubeClient;
  const recorder = { record: (_o: unknown, type: string, reason: string, message: string) => events.push({ type, reason, message }) } as unknown as EventRecorder;
  const lookup = async (_ts: TraceStore, name: string): Promise<SecretLookup> => (secrets[name] ? { found: 'optedIn', metadata: { name, labels: { [SECRET_ALLOW_LABEL]: 'true' } } } : { found: 'missing' });
  const c = new DataCleanup({
    client,
    events: recorder,
    lookupSecret: lookup,
    secretOf: (_ts, name) => (secrets[name] ? { metadata: { name }, stringData: secrets[name] } : undefined),
    traceStores: () => others,
    enqueue: (k) => enqueued.push(k),
    log: pino({ level: 'silent' }),
    now: () => NOW,
  });
  return { c, applied, events, enqueued };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('deletionPolicy Delete', () => {
  it('drops the data off the reconcile path, with the Secret values and a deadline, then removes the finalizer', async () => {
    let finish!: () => void;
    const plugin = fakePlugin(() => new Promise<void>((r) => (finish = r)));
    const t = setup([], { creds: { username: 'u', password: 'p' } });
    const ts = store({ cred: 'creds', deletedAgoMs: 1000 });
    expect(await t.c.finalize(ts, plugin)).toBeGreaterThan(0); // running: look again later
    expect(await t.c.finalize(ts, plugin)).toBeGreaterThan(0);
    expect(plugin.calls).toHaveLength(1);
    expect(plugin.calls[0]!.secrets).toEqual({ 'spec.backend.opensearch.credentialsSecretRef': { username: 'u', password: 'p' } });
    expect(plugin.calls[0]!.signal).toBeInstanceOf(AbortSignal);
    expect(t.applied).toEqual([]);
    finish();
    await settle();
    expect(t.enqueued).toEqual(['ns/s']);
    expect(await t.c.finalize(ts, plugin)).toBeUndefined();
    expect(t.applied).toEqual([{ finalizers: [] }]);
    expect(t.events.map((e) => e.reason)).toEqual(['DataDeleted']);
  });

  it('never sends credentials the plug-in refuses (plain http) and says how to give up', async () => {
    const plugin = fakePlugin(async () => undefined);
    const t = setup([], { creds: { username: 'u', password: 'p' } });
    expect(await t.c.finalize(store({ cred: 'creds', endpoints: ['http://os:9200'], deletedAgoMs: 1000 }), plugin)).toBeGreaterThan(0);
    expect(plugin.calls).toEqual([]);
    expect(t.events[0]).toMatchObject({ type: 'Warning', reason: 'CleanupFailed', message: expect.stringContaining('kubectl patch tracestore s -n ns') });
  });

  it('gives up, keeping the data, a minute after a referenced Secret is gone (namespace deletion)', async () => {
    const plugin = fakePlugin(async () => undefined);
    const t = setup();
    expect(await t.c.finalize(store({ cred: 'creds', deletedAgoMs: 1000 }), plugin)).toBeGreaterThan(0);
    expect(t.applied).toEqual([]);
    expect(await t.c.finalize(store({ cred: 'creds', deletedAgoMs: SECRET_GONE_GIVE_UP_MS + 1 }), plugin)).toBeUndefined();
    expect(t.applied).toEqual([{ finalizers: [] }]);
    expect(t.events.at(-1)).toMatchObject({ type: 'Warning', reason: 'DataKept' });
    expect(plugin.calls).toEqual([]);
  });

  it('retries a backend that fails, and gives up after GIVE_UP_MS with a Warning', async () => {
    const plugin = fakePlugin(async () => {
      throw new Error('cannot reach https://admin:pw@os:9200');
    });
    const t = setup();
    expect(await t.c.finalize(store({ deletedAgoMs: 1000 }), plugin)).toBeGreaterThan(0);
    await settle();
    expect(await t.c.finalize(store({ deletedAgoMs: 2000 }), plugin)).toBeGreaterThan(0); // retried
    await settle();
    expect(plugin.calls).toHaveLength(2);
    expect(t.events.find((e) => e.reason === 'CleanupFailed')?.message).not.toContain('admin:pw');
    expect(await t.c.finalize(store({ deletedAgoMs: GIVE_UP_MS + 1 }), plugin)).toBeUndefined();
    expect(t.events.at(-1)).toMatchObject({ reason: 'DataKept', message: expect.stringContaining('gave up') });
  });

  it('keeps data another TraceStore uses (same cluster and prefix), in any namespace', async () => {
    const plugin = fakePlugin(async () => undefined);
    const t = setup([store({ name: 'twin', uid: 'u2', policy: 'Retain' })]);
    expect(await t.c.finalize(store({ deletedAgoMs: 1000 }), plugin)).toBeUndefined();
    expect(plugin.calls).toEqual([]);
    expect(t.events).toEqual([expect.objectContaining({ reason: 'DataKept', message: expect.stringContaining('ns/twin uses the same data') })]);
    // a different prefix is other data
    const u = setup([store({ name: 'other', uid: 'u3', prefix: 'other' })]);
    await u.c.finalize(store({ deletedAgoMs: 1000 }), plugin);
    expect(plugin.calls).toHaveLength(1);
  });

  it('sync sets the finalizer for Delete and removes it for Retain, writing nothing when it matches', async () => {
    const plugin = fakePlugin(async () => undefined);
    const t = setup();
    await t.c.sync(store(), plugin); // already has it
    expect(t.applied).toEqual([]);
    await t.c.sync(store({ policy: 'Retain' }), plugin);
    expect(t.applied).toEqual([{ finalizers: [] }]);
    const bare = store();
    bare.metadata.finalizers = [];
    await t.c.sync(bare, plugin);
    expect(t.applied.at(-1)).toEqual({ finalizers: [DELETE_DATA_FINALIZER] });
  });
});
