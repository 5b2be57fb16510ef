// The search client's cancellation without a server: a request whose signal already aborted rejects with the
// signal's reason before anything is sent (no connection attempt, no Unavailable error that would be retried).
import { createServer } from 'node:http';
import { SearchBackend } from '../../src/storage/elasticsearch/store.js';
import { SearchClient, privilegeHint } from '../../src/storage/elasticsearch/client.js';

// nothing listens on port 1 of loopback: a request that went out would fail as unreachable
const NOWHERE = ['http://127.0.0.1:1'];

describe('search client cancellation', () => {
  it('rejects a request whose signal already aborted with its reason, sending nothing', async () => {
    const client = new SearchClient({ endpoints: NOWHERE, requestTimeoutMs: 1_000 });
    const reason = new Error('the caller went away');
    try {
      await expect(client.request('GET', '/', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      expect(client.info).toBeUndefined();
    } finally {
      await client.close();
    }
  });

  it('rejects reads of the backend with the reason of an aborted signal', async () => {
    const backend = new SearchBackend('opensearch', { endpoints: NOWHERE, indexPrefix: 'x', layout: 'daily', shards: 1, replicas: 0, requestTimeoutMs: 1_000 });
    const reason = new Error('the caller went away');
    const signal = AbortSignal.abort(reason);
    try {
      await expect(backend.traceReader().getServices({ signal })).rejects.toBe(reason);
      await expect(backend.dependencyReader().getDependencies({ start: 0n, end: 1n }, { signal })).rejects.toBe(reason);
      const chunks = (async () => {
        for await (const _ of backend.traceReader().getTraces([{ traceId: 'ab' }], { signal })) void _;
      })();
      await expect(chunks).rejects.toBe(reason);
    } finally {
      await backend.close();
    }
  });
});

describe('privilegeHint', () => {
  it("takes the action and the granting privileges from Elasticsearch's 403 reason, and nothing else", () => {
    const reason =
      'action [indices:admin/create] is unauthorized for user [viewer] with effective roles [viewer] on indices [p-jaeger-span-2026-11-30], this action is granted by the index privileges [create_index,manage,all]';
    expect(privilegeHint(reason)).toBe(', action indices:admin/create, granted by the index privileges create_index, manage, all');
    expect(privilegeHint('granted by the cluster privileges [monitor,manage,all]')).toBe(', granted by the cluster privileges monitor, manage, all');
    // anything else a server says stays out
    expect(privilegeHint('action [<script>alert(1)</script>] granted by the cluster privileges [x y]')).toBe('');
    expect(privilegeHint('no such thing')).toBe('');
  });
});

describe('server identification', () => {
  it('takes an endpoint that answers 404 to GET / and to the node info, without a product header, for a wrong host or path', async () => {
    // what an ingress default backend or a wrong path prefix answers: an in-process listener on loopback
    const server = createServer((_req, res) => res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const client = new SearchClient({ endpoints: [`http://127.0.0.1:${(server.address() as { port: number }).port}/elastic`], requestTimeoutMs: 2_000 });
    try {
      await expect(client.connect()).rejects.toMatchObject({ name: 'UnavailableError', message: expect.stringMatching(/GET \/ and GET \/_nodes\/_local at .* answered 404 and 404: check the endpoint's host and path/) });
    } finally {
      await client.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
