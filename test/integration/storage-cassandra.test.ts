// The storage contract suite against a real Cassandra 5 node (Maven Central jars on the JVM, loopback).
import { CassandraBackend } from '../../src/storage/cassandra/store.js';
import { runStorageContract } from '../../src/storage/testing/contract.js';
import { CASSANDRA_DC, type RunningCassandra, startCassandra } from '../env/cassandra.js';

let server: RunningCassandra | undefined;

runStorageContract('cassandra', async () => {
  server = await startCassandra();
  const backend = new CassandraBackend({ contactPoints: [`${server.host}:${server.port}`], localDataCenter: CASSANDRA_DC, keyspace: 'contract', readConsistency: 'ONE', writeConsistency: 'ONE' });
  return {
    backend,
    // the suite closes the backend (and its driver session) first, then the node
    close: async () => {
      await server?.stop();
      server = undefined;
    },
  };
});
