// A stock Jaeger v2 (grpc storage backend) on our runtime with the ClickHouse backend (the engine behind
// test/env/clickhouse.ts): the cases of jaeger-remote-storage-cases.ts.
import { startClickHouse } from '../env/clickhouse.js';
import { sharedServer } from '../env/server-process.js';
import { runJaegerRemoteStorageCases } from './jaeger-remote-storage-cases.js';

const { shared, release } = sharedServer(() => startClickHouse());

runJaegerRemoteStorageCases('clickhouse', async () => {
  const s = await shared();
  return { backend: { clickhouse: { endpoints: [s.url], database: 'jaeger_remote_storage' } }, close: release };
});
