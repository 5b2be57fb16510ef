// The storage contract suite through the grpc backend against a remote storage we did not write: the Jaeger v2
// binary with its memory store, exposed by its remote_storage extension (jaeger.storage.v2) and written through
// its OTLP receiver (without a batch processor, so an Export is acknowledged once stored). Then TLS and a bearer
// token against our own runtime's secured remote-storage server (the remote_storage extension of this Jaeger has
// neither), and the operator's check.
import { pino } from 'pino';
import { BACKEND_TOKEN_ENV } from '../../src/api/backend-plugin.js';
import { encodeTracesJson } from '../../src/otlp/otlp-json.js';
import { type RunningRuntime, startRuntime } from '../../src/runtime/server.js';
import { LEAST_CAPABLE, StorageError } from '../../src/storage/api/index.js';
import { runGrpcCheck } from '../../src/storage/grpc/check.js';
import { grpcBackendConfig } from '../../src/storage/grpc/config.js';
import { GrpcBackend } from '../../src/storage/grpc/store.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';
import { SHOP_TRACE, loadFixtures } from '../../src/storage/testing/fixtures.js';
import { type RunningJaeger, startJaeger } from '../env/jaeger.js';
import { type TestPki, loopbackRuntimeConfig, startSecuredRemoteStorage, testPki, waitFor } from '../helpers.js';
import { freePort as closedPort } from '../../src/local/controlplane.js';

describe('grpc backend against Jaeger v2 remote_storage (memory)', () => {
  let jaeger: RunningJaeger | undefined;
  beforeAll(async () => {
    jaeger = await startJaeger('        memory:\n          max_traces: 100000', { remoteStorage: true, batch: false });
  }, 120_000);
  afterAll(async () => jaeger?.stop());
  const open = (): GrpcBackend => {
    if (!jaeger?.remoteStorage) throw new Error('Jaeger did not start');
    return new GrpcBackend({ endpoint: `127.0.0.1:${jaeger.remoteStorage}`, writerEndpoint: `127.0.0.1:${jaeger.otlpGrpc}`, timeoutMs: 20_000 });
  };

  runStorageContract('grpc -> jaeger v2 memory', async () => ({ backend: open(), capabilities: { findWithoutServiceName: true, purge: false, reports: LEAST_CAPABLE } }), {
    unsupported: {
      'dependencies adds written dependency links': 'jaeger.storage.v2 has no dependency writer (Unimplemented)',
      'purge deletes every trace and service': 'jaeger.storage.v2 has no purge (Unimplemented)',
      // what this remote (Jaeger v2.13's memory store) matches: span and event attributes only, no special keys
      'find traces finds by a resource.-prefixed key': 'the remote does not match resource.-prefixed keys',
      'find traces finds by a scope attribute and by scope.name / scope.version': 'the remote matches neither scope attributes nor scope.name / scope.version',
      'find traces finds by a link attribute': 'the remote does not match link attributes',
      'find traces finds by span.kind': 'the remote does not match the span.kind key',
      'find traces finds by span.status': 'the remote does not match the span.status key',
    },
  });

  it('says Unimplemented for dependency writes and purge', async () => {
    const b = open();
    try {
      await expect(b.dependencyWriter().writeDependencies(1n, [])).rejects.toMatchObject({ code: 'Unimplemented' });
      await expect(b.purger().purge()).rejects.toMatchObject({ code: 'Unimplemented' });
    } finally {
      await b.close();
    }
  });

  it('serves our runtime from the remote: OTLP ingested by us is stored there and our query API reads it back', async () => {
    const remote = `127.0.0.1:${jaeger!.remoteStorage}`;
    const rt = await startRuntime(loopbackRuntimeConfig({ backend: { grpc: { endpoint: remote, writerEndpoint: `127.0.0.1:${jaeger!.otlpGrpc}` } }, ingest: { batchAgeMs: 20 } }), pino({ level: 'silent' }));
    try {
      const traces = loadFixtures(BigInt(Date.now()) * 1_000_000n).batches.find((x) => x.name === 'shop')!.traces;
      for (const rs of traces) rs.resource.attributes = rs.resource.attributes.map((a) => (a.key === 'service.name' ? { key: a.key, value: `rt-${String(a.value)}` } : a));
      const r = await fetch(`http://127.0.0.1:${rt.ports.otlpHttp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(encodeTracesJson(traces)) });
      expect(r.status).toBe(200);
      // stored in the remote: Jaeger's own query API lists the services
      await waitFor('the services in Jaeger', async () => {
        const j = (await (await fetch(`http://127.0.0.1:${jaeger!.queryHttp}/api/v3/services`)).json()) as { services: string[] };
        return j.services.includes('rt-shop-frontend');
      });
      const q = (await (await fetch(`http://127.0.0.1:${rt.ports.queryHttp}/api/v3/services`)).json()) as { services: string[] };
      expect(q.services).toContain('rt-shop-frontend');
    } finally {
      await rt.stop();
    }
  }, 60_000);

  it('reports a remote that does not answer as Unavailable, which the ingest pipeline retries', async () => {
    const b = new GrpcBackend({ endpoint: `127.0.0.1:${await closedPort()}`, timeoutMs: 2_000 });
    try {
      const shop = loadFixtures().batches.find((x) => x.name === 'shop')!.traces;
      await expect(b.traceWriter().writeTraces(shop)).rejects.toMatchObject({ code: 'Unavailable' });
      await expect(b.traceReader().getServices()).rejects.toMatchObject({ code: 'Unavailable' });
    } finally {
      await b.close();
    }
    const r = await runGrpcCheck({ endpoint: `127.0.0.1:${await closedPort()}`, timeout: '2s' }, {});
    expect(r.reachable).toMatchObject({ status: 'False', reason: 'Unreachable' });
  });

  it('reports the remote reachable through the check', async () => {
    const r = await runGrpcCheck({ endpoint: `127.0.0.1:${jaeger!.remoteStorage}` }, {});
    expect(r.reachable).toMatchObject({ status: 'True', reason: 'Connected' });
  });
});

describe('grpc backend with TLS and a bearer token (our runtime as the remote)', () => {
  let rt: RunningRuntime;
  let pki: TestPki;
  beforeAll(async () => {
    pki = testPki();
    rt = await startSecuredRemoteStorage(pki, 'remote-token');
  }, 60_000);
  afterAll(async () => rt?.stop());

  const config = (caDir: string) => ({ endpoint: `127.0.0.1:${rt.ports.remoteStorage}`, tls: { enabled: true, caSecretRef: { name: 'ca', key: 'ca.crt' }, serverName: 'localhost' }, tokenSecretRef: { name: 'token' }, timeout: '5s', caDir });

  it('writes and reads over TLS with the CA and token the runtime gets from its Secrets', async () => {
    const c = config(pki.dir);
    const b = new GrpcBackend(grpcBackendConfig(c, { [BACKEND_TOKEN_ENV]: 'remote-token' }, c.caDir));
    try {
      const shop = loadFixtures(BigInt(Date.now()) * 1_000_000n).batches.find((x) => x.name === 'shop')!.traces;
      await b.traceWriter().writeTraces(shop);
      let spans = 0;
      for await (const batch of b.traceReader().getTraces([{ traceId: SHOP_TRACE }])) for (const ch of batch) for (const rs of ch.resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
      expect(spans).toBe(6);
      expect(await b.traceReader().getServices()).toContain('shop-frontend');
    } finally {
      await b.close();
    }
  });

  it('is refused with a wrong token, and the check says AuthenticationFailed', async () => {
    const c = config(pki.dir);
    const b = new GrpcBackend(grpcBackendConfig(c, { [BACKEND_TOKEN_ENV]: 'wrong' }, c.caDir));
    try {
      const err: unknown = await b.traceReader().getServices().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).not.toContain('wrong');
    } finally {
      await b.close();
    }
    const r = await runGrpcCheck({ endpoint: c.endpoint, tls: c.tls }, { token: 'wrong', ca: pki.ca });
    expect(r.reachable).toMatchObject({ status: 'False', reason: 'AuthenticationFailed' });
    const ok = await runGrpcCheck({ endpoint: c.endpoint, tls: c.tls }, { token: 'remote-token', ca: pki.ca });
    expect(ok.reachable).toMatchObject({ status: 'True', reason: 'Connected' });
  });

  it('refuses to start without the token the config references', () => {
    const c = config(pki.dir);
    expect(() => grpcBackendConfig(c, {}, c.caDir)).toThrow(/JSO_BACKEND_TOKEN/);
  });
});
