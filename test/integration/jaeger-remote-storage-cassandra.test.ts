// A stock Jaeger v2 (grpc storage backend) on our runtime with the Cassandra backend (a node from
// test/env/cassandra.ts): the cases of jaeger-remote-storage-cases.ts.
import { CASSANDRA_DC, startCassandra } from '../env/cassandra.js';
import { sharedServer } from '../env/server-process.js';
import { runJaegerRemoteStorageCases } from './jaeger-remote-storage-cases.js';

const { shared, release } = sharedServer(() => startCassandra());

runJaegerRemoteStorageCases('cassandra', async () => {
  const s = await shared();
  return { backend: { cassandra: { endpoints: [`${s.host}:${s.port}`], keyspace: 'jaeger_remote_storage', datacenter: CASSANDRA_DC } }, close: release };
});
