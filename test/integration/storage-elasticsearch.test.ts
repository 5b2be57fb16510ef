// The storage contract suite against real Elasticsearch nodes (Elasticsearch's own integration-test distribution,
// loopback) through the Elastic client, for every pinned major (9 and 8), in the daily and rollover layouts; then
// cancellation; then the contract once more with the security module on (HTTPS with a CA, Basic auth) as a user
// holding only the role the README documents (jaeger_storage). This distribution has no ILM and no data streams: rollover and retention fall to the runtime, and
// the dataStream layout is refused at provisioning with a message naming the fix.
import { SearchBackend } from '../../src/storage/elasticsearch/store.js';
import { ABORT_CHUNK_SPANS, runAbortCases } from '../../src/storage/testing/abort.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';
import { ES_USERS, type RunningElasticsearch, elasticsearchVersions, startElasticsearch } from '../env/elasticsearch.js';

for (const version of elasticsearchVersions()) {
  describe(`elasticsearch ${version}`, () => {
    // one node per version, shared by its suites; started before them, stopped after them
    let server: RunningElasticsearch | undefined;
    beforeAll(async () => {
      server = await startElasticsearch({ version });
    }, 300_000);
    afterAll(async () => server?.stop());
    const url = (): string => {
      if (!server) throw new Error(`Elasticsearch ${version} did not start`);
      return server.url;
    };

    it('is identified as Elasticsearch through its node info (this distribution answers GET / with 405)', async () => {
      expect((await server!.call('GET', '/')).status).toBe(405);
      const b = new SearchBackend('elasticsearch', { endpoints: [url()], indexPrefix: 'ident', layout: 'daily', shards: 1, replicas: 0 });
      try {
        expect(await b.client.connect()).toEqual({ distribution: 'elasticsearch', version, major: Number(version.split('.')[0]) });
      } finally {
        await b.close();
      }
    });

    for (const layout of ['daily', 'rollover'] as const) {
      runStorageContract(`elasticsearch ${version} (${layout})`, async () => {
        const backend = new SearchBackend('elasticsearch', { endpoints: [url()], indexPrefix: `contract-${layout}`, layout, shards: 1, replicas: 0, pageSize: 10_000 });
        return { backend, refresh: () => backend.refresh(), capabilities: { findWithoutServiceName: true }, close: async () => undefined };
      });
    }

    it('provisions composable templates and refuses the dataStream layout where the server has no data streams', async () => {
      const daily = new SearchBackend('elasticsearch', { endpoints: [url()], indexPrefix: 'tmpl', layout: 'daily', shards: 1, replicas: 0 });
      const stream = new SearchBackend('elasticsearch', { endpoints: [url()], indexPrefix: 'stream', layout: 'dataStream', shards: 1, replicas: 0 });
      try {
        await daily.provision();
        expect((await server!.call('GET', '/_index_template/tmpl-jaeger-span')).status).toBe(200);
        expect((await server!.call('GET', '/_template/tmpl-jaeger-span')).status).toBe(404);
        await expect(stream.provision()).rejects.toMatchObject({ code: 'Unimplemented', message: expect.stringMatching(/has no data streams .*use layout daily or rollover/) });
      } finally {
        await daily.close();
        await stream.close();
      }
    });

    runAbortCases(`elasticsearch ${version}`, async () => {
      const backend = new SearchBackend('elasticsearch', { endpoints: [url()], indexPrefix: 'abort', layout: 'daily', shards: 1, replicas: 0, chunkSpans: ABORT_CHUNK_SPANS });
      return { backend, refresh: () => backend.refresh(), close: async () => undefined };
    });
  });
}

describe('elasticsearch with security', () => {
  let server: RunningElasticsearch | undefined;
  beforeAll(async () => {
    server = await startElasticsearch({ secure: true });
  }, 300_000);
  afterAll(async () => server?.stop());
  const secured = (user: { username: string; password: string }, indexPrefix: string) => {
    if (!server?.ca) throw new Error('the secure Elasticsearch node did not start');
    return new SearchBackend('elasticsearch', { endpoints: [server.url], ...user, ca: server.ca, indexPrefix, layout: 'rollover', shards: 1, replicas: 0, retention: '7d' });
  };

  // provisioning, writes, reads, purge and housekeeping, all with the documented least privileges
  runStorageContract('elasticsearch with security, as a user with the jaeger_storage role', async () => {
    const backend = secured(ES_USERS.storage, 'least');
    return { backend, refresh: () => backend.refresh(), capabilities: { findWithoutServiceName: true }, close: async () => undefined };
  });

  it('runs housekeeping with the jaeger_storage role', async () => {
    const b = secured(ES_USERS.storage, 'least');
    try {
      await b.provision();
      expect(await b.maintain()).toEqual([]);
    } finally {
      await b.close();
    }
  });

  it('says which privileges a user lacks, that a wrong password is wrong, and what to do about TLS', async () => {
    const viewer = secured(ES_USERS.viewer, 'viewer');
    const wrong = secured({ username: ES_USERS.admin.username, password: 'not-the-password' }, 'wrong');
    const untrusted = new SearchBackend('elasticsearch', { endpoints: [server!.url], ...ES_USERS.admin, indexPrefix: 'untrusted', layout: 'daily', shards: 1, replicas: 0 });
    const plain = new SearchBackend('elasticsearch', { endpoints: [server!.url.replace('https:', 'http:')], ...ES_USERS.admin, indexPrefix: 'plain', layout: 'daily', shards: 1, replicas: 0 });
    try {
      await expect(viewer.provision()).rejects.toMatchObject({ name: 'AuthError', message: expect.stringMatching(/denied GET \/_nodes\/_local \(403, action cluster:monitor\/nodes\/info, granted by the cluster privileges monitor, manage, all\): give the user the privileges listed in the README/) });
      await expect(wrong.provision()).rejects.toMatchObject({ name: 'AuthError', message: expect.stringMatching(/refused the credentials \(401\)/) });
      // the node's certificate is not trusted without its CA
      await expect(untrusted.provision()).rejects.toMatchObject({ code: 'Unavailable', message: expect.stringMatching(/cannot verify the TLS certificate of .*set tls\.caSecretRef to a Secret holding the CA/) });
      await expect(plain.provision()).rejects.toMatchObject({ code: 'Unavailable', message: expect.stringMatching(/closed the connection .*if the server speaks HTTPS, use https:\/\/ endpoints/) });
    } finally {
      await viewer.close();
      await wrong.close();
      await untrusted.close();
      await plain.close();
    }
  });
});
